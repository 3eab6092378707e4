//! `POST /v2/<name>/blobs/uploads/` (start, single-request upload, mount) and
//! `GET|PATCH|PUT|DELETE /v2/<name>/blobs/uploads/<id>`

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_core::{MountOutcome, Registry};
use portcullis_oci::{ContentRange, Digest, RepoName};

use portcullis_auth::{Caller, Facts, Target};

use super::{has_body, hv, OciCode, OciError, OciRequest, OciResult};
use crate::access;
use crate::body::body_stream;
use crate::AppState;

fn upload_location(name: &RepoName, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// 202 with where the upload stands: `Range` is inclusive, and `0-0` for an empty upload, as
/// Distribution answers.
fn in_progress(status: StatusCode, name: &RepoName, id: &str, len: u64) -> Response {
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, hv(upload_location(name, id)));
    h.insert(header::RANGE, hv(format!("0-{}", len.saturating_sub(1))));
    h.insert(header::CONTENT_LENGTH, hv("0"));
    h.insert("Docker-Upload-UUID", hv(id));
    resp
}

fn created(name: &RepoName, digest: &Digest) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    h.insert(header::LOCATION, hv(format!("/v2/{name}/blobs/{digest}")));
    h.insert(header::CONTENT_LENGTH, hv("0"));
    h.insert("Docker-Content-Digest", hv(digest.to_string()));
    resp
}

fn digest_param(req: &OciRequest, key: &str) -> Result<Option<Digest>, OciError> {
    req.query(key)
        .map(|d| {
            d.parse().map_err(|e: portcullis_oci::Error| {
                OciError::new(OciCode::DigestInvalid, e.to_string())
            })
        })
        .transpose()
}

fn content_range(req: &OciRequest) -> Result<Option<ContentRange>, OciError> {
    req.header(header::CONTENT_RANGE)
        .map(|r| {
            ContentRange::parse(r).map_err(|e| OciError::new(OciCode::RangeInvalid, e.to_string()))
        })
        .transpose()
}

/// Who an upload session is counted against: the caller's ARN, or the one bucket all
/// anonymous callers share.
pub(crate) fn upload_principal(caller: &Caller) -> &str {
    caller.arn().unwrap_or(portcullis_core::ANONYMOUS_PRINCIPAL)
}

fn content_length(req: &OciRequest) -> Option<u64> {
    req.header(header::CONTENT_LENGTH)
        .and_then(|l| l.trim().parse::<u64>().ok())
}

/// The request body, failing when it pauses too long or outlives the upload deadline.
fn upload_body(state: &AppState, body: Body) -> portcullis_core::ByteStream {
    body_stream(
        body,
        state.limits.body_idle_timeout,
        state.limits.upload_request_timeout,
    )
}

/// A chunk whose `Content-Length` contradicts its `Content-Range` is refused before a byte of
/// it is staged.
fn check_length(req: &OciRequest, range: Option<ContentRange>) -> Result<(), OciError> {
    let length = content_length(req);
    match (range, length) {
        (Some(r), Some(l)) if r.len() != l => Err(OciError::new(
            OciCode::BlobUploadInvalid,
            format!(
                "Content-Range `{}-{}` covers {} bytes but Content-Length is {l}",
                r.start,
                r.end,
                r.len()
            ),
        )),
        _ => Ok(()),
    }
}

pub async fn start(
    state: &AppState,
    name: &RepoName,
    req: &OciRequest,
    body: Body,
    caller: &Caller,
    facts: &Facts,
) -> OciResult {
    let registry = &state.registry;
    if let Some(digest) = digest_param(req, "mount")? {
        let mut from = req
            .query("from")
            .map(|f| f.parse::<RepoName>())
            .transpose()
            .map_err(|e| OciError::new(OciCode::NameInvalid, e.to_string()))?;
        // With BLOB_MOUNTING disabled (an ECR account setting) every mount becomes an upload.
        if from.is_some()
            && !state
                .repositories
                .blob_mounting_enabled()
                .await
                .unwrap_or(true)
        {
            from = None;
        }
        // Mounting reads the source: without pull rights there, fall back to a plain upload
        // session, which reveals nothing about what the source holds.
        if let Some(source) = &from {
            let target = Target::Repository(source.to_string());
            let outcome = access::check(
                state,
                caller,
                facts,
                "registry",
                "ecr:GetDownloadUrlForLayer",
                &target,
                Some(digest.to_string()),
                &[],
            )
            .await?;
            if !outcome.allowed() {
                from = None;
            }
        }
        return match registry
            .mount_blob(name, &digest, from.as_ref(), upload_principal(caller))
            .await?
        {
            MountOutcome::Mounted { .. } => Ok(created(name, &digest)),
            MountOutcome::Upload { id } => Ok(in_progress(StatusCode::ACCEPTED, name, &id, 0)),
        };
    }
    if let Some(digest) = digest_param(req, "digest")? {
        let length = content_length(req);
        let body = upload_body(state, body);
        registry
            .upload_whole(name, &digest, length, body, upload_principal(caller))
            .await?;
        return Ok(created(name, &digest));
    }
    let id = registry
        .start_upload(name, upload_principal(caller))
        .await?;
    Ok(in_progress(StatusCode::ACCEPTED, name, &id, 0))
}

pub async fn status(registry: &Registry, name: &RepoName, id: &str, caller: &Caller) -> OciResult {
    let len = registry
        .upload_status(name, id, upload_principal(caller))
        .await?;
    Ok(in_progress(StatusCode::NO_CONTENT, name, id, len))
}

pub async fn patch(
    state: &AppState,
    name: &RepoName,
    id: &str,
    caller: &Caller,
    req: &OciRequest,
    body: Body,
) -> OciResult {
    let range = content_range(req)?;
    check_length(req, range)?;
    let length = content_length(req);
    let body = upload_body(state, body);
    let len = state
        .registry
        .patch_upload(name, id, upload_principal(caller), range, length, body)
        .await?;
    Ok(in_progress(StatusCode::ACCEPTED, name, id, len))
}

pub async fn finish(
    state: &AppState,
    name: &RepoName,
    id: &str,
    caller: &Caller,
    req: &OciRequest,
    body: Body,
) -> OciResult {
    let digest = digest_param(req, "digest")?.ok_or_else(|| {
        OciError::new(
            OciCode::DigestInvalid,
            "the `digest` query parameter is required",
        )
    })?;
    let range = content_range(req)?;
    check_length(req, range)?;
    let length = content_length(req);
    let body = has_body(&req.headers).then(|| upload_body(state, body));
    state
        .registry
        .finish_upload(
            name,
            id,
            upload_principal(caller),
            &digest,
            range,
            length,
            body,
        )
        .await?;
    Ok(created(name, &digest))
}

pub async fn cancel(registry: &Registry, name: &RepoName, id: &str, caller: &Caller) -> OciResult {
    registry
        .cancel_upload(name, id, upload_principal(caller))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
