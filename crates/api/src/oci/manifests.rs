//! `GET|HEAD|PUT|DELETE /v2/<name>/manifests/<reference>`

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use portcullis_core::{Error as CoreError, Registry};
use portcullis_oci::{Reference, RepoName};

use super::{hv, OciCode, OciError, OciRequest, OciResult};

pub async fn get(
    registry: &Registry,
    name: &RepoName,
    reference: &Reference,
    req: &OciRequest,
) -> OciResult {
    let manifest = registry.get_manifest(name, reference).await?;
    let accept: Vec<&str> = req
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !Registry::acceptable(&manifest.media_type, &accept) {
        return Err(CoreError::ManifestNotAcceptable(format!(
            "manifest `{reference}` is a `{}`, which the Accept header does not list",
            manifest.media_type
        ))
        .into());
    }
    let len = manifest.content.len();
    let mut resp = if req.method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        registry.record_pull(name, &manifest.digest);
        Response::new(Body::from(manifest.content))
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, hv(&manifest.media_type));
    h.insert(header::CONTENT_LENGTH, hv(len.to_string()));
    h.insert("Docker-Content-Digest", hv(manifest.digest.to_string()));
    h.insert(header::ETAG, hv(format!("\"{}\"", manifest.digest)));
    Ok(resp)
}

/// Bytes of an oversized manifest read and dropped before answering 413.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

pub async fn put(
    registry: &Registry,
    name: &RepoName,
    reference: &Reference,
    req: &OciRequest,
    body: Body,
) -> OciResult {
    let max = Registry::MAX_MANIFEST_SIZE;
    let too_large = || {
        OciError::new(
            OciCode::SizeInvalid,
            format!("manifest is larger than the {max}-byte limit"),
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    };
    let declared = req
        .header(header::CONTENT_LENGTH)
        .and_then(|l| l.parse::<u64>().ok());
    if declared.is_some_and(|l| l > DRAIN_LIMIT) {
        return Err(too_large());
    }
    let content_type = req.header(header::CONTENT_TYPE).map(str::to_owned);
    let mut content = bytes::BytesMut::new();
    let mut seen: u64 = 0;
    let mut body = body.into_data_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            OciError::new(
                OciCode::ManifestInvalid,
                format!("could not read the manifest body: {e}"),
            )
        })?;
        seen += chunk.len() as u64;
        // Past the limit, keep reading (and dropping) a while so that the client gets to read
        // the 413 instead of a broken pipe.
        if seen > DRAIN_LIMIT {
            return Err(too_large());
        }
        if seen <= max as u64 {
            content.extend_from_slice(&chunk);
        }
    }
    if seen > max as u64 {
        return Err(too_large());
    }
    let content = content.freeze();
    let outcome = registry
        .put_manifest(name, reference, content_type.as_deref(), content)
        .await?;
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::LOCATION,
        hv(format!("/v2/{name}/manifests/{}", outcome.digest)),
    );
    h.insert(header::CONTENT_LENGTH, hv("0"));
    h.insert("Docker-Content-Digest", hv(outcome.digest.to_string()));
    if let Some(subject) = outcome.subject {
        h.insert("OCI-Subject", hv(subject.to_string()));
    }
    Ok(resp)
}

pub async fn delete(registry: &Registry, name: &RepoName, reference: &Reference) -> OciResult {
    registry.delete_manifest(name, reference).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
