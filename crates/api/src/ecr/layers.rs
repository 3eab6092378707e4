//! Layer operations: the ECR API's own way to push blobs (InitiateLayerUpload, UploadLayerPart,
//! CompleteLayerUpload), to check them (BatchCheckLayerAvailability) and to fetch them
//! (GetDownloadUrlForLayer). Uploads are the registry's upload sessions, so a layer pushed here
//! is a blob the registry API serves, and the other way round.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use portcullis_core::registry::MIN_LAYER_PART;
use portcullis_core::Error as CoreError;
use portcullis_oci::Digest;
use serde_json::{json, Value};

use super::input;
use super::ops::{repository_error as core_error, require_repository as repository};
use super::{EcrContext, EcrError};
use crate::oci::{
    DOWNLOAD_CREDENTIAL, DOWNLOAD_EXPIRES, DOWNLOAD_SIGNATURE, DOWNLOAD_URL_TTL_SECS,
};
use crate::AppState;

/// The largest part UploadLayerPart takes (the model's blob limit).
const MAX_PART: usize = 20 * 1024 * 1024;

fn upload_id(input: &Value) -> Result<&str, EcrError> {
    let id = input::req_str(input, "uploadId")?;
    if uuid::Uuid::try_parse(id).is_err() || id.len() != 36 {
        return Err(EcrError::invalid(
            "Invalid parameter at 'uploadId' failed to satisfy constraint: 'Member must satisfy regular expression pattern: [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'",
        ));
    }
    Ok(id)
}

fn layer_digest(s: &str, member: &str) -> Result<Digest, EcrError> {
    s.parse::<Digest>().map_err(|e| {
        EcrError::invalid(format!(
            "Invalid parameter at '{member}' failed to satisfy constraint: {e}"
        ))
    })
}

pub async fn batch_check(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = repository(state, ctx, input).await?;
    let digests = input::req_string_list(input, "layerDigests", 1, 100, 0..=1000)?;
    let mut layers = Vec::new();
    let mut failures = Vec::new();
    for text in digests {
        if text.is_empty() {
            failures.push(json!({
                "layerDigest": text,
                "failureCode": "MissingLayerDigest",
                "failureReason": "The layer digest is empty",
            }));
            continue;
        }
        let Ok(digest) = text.parse::<Digest>() else {
            failures.push(json!({
                "layerDigest": text,
                "failureCode": "InvalidLayerDigest",
                "failureReason": "Invalid layer digest: it must be <algorithm>:<hex>",
            }));
            continue;
        };
        match state.registry.stat_blob(&repo, &digest).await {
            Ok(size) => layers.push(json!({
                "layerDigest": digest.to_string(),
                "layerAvailability": "AVAILABLE",
                "layerSize": size,
            })),
            Err(CoreError::BlobUnknown(_)) => layers.push(json!({
                "layerDigest": digest.to_string(),
                "layerAvailability": "UNAVAILABLE",
            })),
            Err(e) => return Err(core_error(state, &repo, e)),
        }
    }
    Ok(json!({ "layers": layers, "failures": failures }))
}

pub async fn initiate(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = repository(state, ctx, input).await?;
    let id = state
        .registry
        .start_upload(&repo, crate::oci::upload_principal(&ctx.caller))
        .await
        .map_err(|e| core_error(state, &repo, e))?;
    Ok(json!({ "uploadId": id, "partSize": MIN_LAYER_PART }))
}

fn offset(input: &Value, member: &str) -> Result<u64, EcrError> {
    match input.get(member) {
        Some(Value::Number(n)) => n.as_u64().filter(|v| *v <= i64::MAX as u64).ok_or_else(|| {
            EcrError::invalid(format!(
                "Invalid parameter at '{member}' failed to satisfy constraint: 'Member must be a long between 0 and 9223372036854775807'"
            ))
        }),
        _ => Err(EcrError::invalid(format!(
            "Invalid parameter at '{member}' failed to satisfy constraint: 'Member must not be null'"
        ))),
    }
}

pub async fn upload_part(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = repository(state, ctx, input).await?;
    let id = upload_id(input)?;
    let principal = crate::oci::upload_principal(&ctx.caller);
    let first = offset(input, "partFirstByte")?;
    let last = offset(input, "partLastByte")?;
    let blob = input::req_str(input, "layerPartBlob")?;
    let part = STANDARD.decode(blob).map_err(|_| {
        EcrError::invalid("Invalid parameter at 'layerPartBlob': the blob is not valid base64")
    })?;
    if part.is_empty() || part.len() > MAX_PART {
        return Err(EcrError::invalid(format!(
            "Invalid parameter at 'layerPartBlob' failed to satisfy constraint: 'Member must have length between 1 and {MAX_PART}'"
        )));
    }
    let account = state.iam.options().account_id.clone();
    let invalid_part = |message: String, last_valid: i64| {
        EcrError::new("InvalidLayerPartException", message)
            .with_member("registryId", json!(account))
            .with_member("repositoryName", json!(repo.as_str()))
            .with_member("uploadId", json!(id))
            .with_member("lastValidByteReceived", json!(last_valid))
    };
    match state
        .registry
        .upload_part(&repo, id, principal, first, last, Bytes::from(part))
        .await
    {
        Ok(total) => Ok(json!({
            "registryId": account,
            "repositoryName": repo.as_str(),
            "uploadId": id,
            "lastByteReceived": total.saturating_sub(1),
        })),
        Err(CoreError::UploadOutOfOrder { actual, .. }) => Err(invalid_part(
            format!(
                "The part starts at byte {first}, but the upload has {actual} bytes: the next part must start at byte {actual}"
            ),
            actual as i64 - 1,
        )),
        Err(CoreError::UploadInvalid(m)) => {
            let received = state
                .registry
                .upload_status(&repo, id, principal)
                .await
                .unwrap_or(0);
            Err(invalid_part(m, received as i64 - 1))
        }
        Err(e) => Err(core_error(state, &repo, e)),
    }
}

pub async fn complete(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = repository(state, ctx, input).await?;
    let id = upload_id(input)?;
    let digests = input::req_string_list(input, "layerDigests", 1, 100, 1..=usize::MAX)?;
    if digests.len() != 1 {
        return Err(EcrError::invalid(
            "Invalid parameter at 'layerDigests': an upload holds exactly one layer, so give one digest",
        ));
    }
    let digest = layer_digest(digests[0], "layerDigests")?;
    state
        .registry
        .complete_layer_upload(
            &repo,
            id,
            crate::oci::upload_principal(&ctx.caller),
            &digest,
        )
        .await
        .map_err(|e| core_error(state, &repo, e))?;
    Ok(json!({
        "registryId": state.iam.options().account_id,
        "repositoryName": repo.as_str(),
        "uploadId": id,
        "layerDigest": digest.to_string(),
    }))
}

pub async fn download_url(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = repository(state, ctx, input).await?;
    let digest = layer_digest(input::req_str(input, "layerDigest")?, "layerDigest")?;
    let layers_not_found = || {
        EcrError::new(
            "LayersNotFoundException",
            format!(
                "The layer with digest '{digest}' does not exist in the repository with name '{repo}' in the registry with id '{}'",
                state.iam.options().account_id
            ),
        )
    };
    match state.registry.stat_blob(&repo, &digest).await {
        Ok(_) => {}
        Err(CoreError::BlobUnknown(_)) => return Err(layers_not_found()),
        Err(e) => return Err(core_error(state, &repo, e)),
    }
    if !state
        .registry
        .blob_in_use(&repo, &digest)
        .await
        .map_err(|e| core_error(state, &repo, e))?
    {
        return Err(EcrError::new(
            "LayerInaccessibleException",
            format!("The layer '{digest}' is not associated with an image in the repository, and may be cleaned up at any time"),
        ));
    }
    // With redirects on, the object store's presigned URL, as ECR hands out S3's: it leaves
    // the registry's network conditions behind (docs/deployment.md says how to close that).
    if let Some(url) = state
        .registry
        .blob_redirect(&repo, &digest)
        .await
        .map_err(|e| core_error(state, &repo, e))?
    {
        return Ok(json!({ "downloadUrl": url.to_string(), "layerDigest": digest.to_string() }));
    }
    // The URL names the key that asked for it: every download is authorized again as that
    // key's principal, with the download request's own network facts.
    let Some(access_key_id) = ctx.caller.access_key_id() else {
        return Err(EcrError::server());
    };
    let expires = ctx.facts.now_unix + DOWNLOAD_URL_TTL_SECS;
    let signature =
        state
            .tokens
            .sign_download(repo.as_str(), &digest.to_string(), access_key_id, expires);
    let key: String = form_urlencoded::byte_serialize(access_key_id.as_bytes()).collect();
    let url = format!(
        "{}/v2/{}/blobs/{}?{DOWNLOAD_CREDENTIAL}={key}&{DOWNLOAD_EXPIRES}={expires}&{DOWNLOAD_SIGNATURE}={signature}",
        ctx.public_url, repo, digest
    );
    Ok(json!({ "downloadUrl": url, "layerDigest": digest.to_string() }))
}
