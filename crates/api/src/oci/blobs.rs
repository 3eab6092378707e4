//! `GET|HEAD|DELETE /v2/<name>/blobs/<digest>`

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_core::Registry;
use portcullis_oci::{ByteRange, Digest, RepoName};

use super::{hv, OciRequest, OciResult};

pub async fn get(
    registry: &Registry,
    name: &RepoName,
    digest: &Digest,
    req: &OciRequest,
) -> OciResult {
    if req.method == Method::HEAD {
        let size = registry.stat_blob(name, digest).await?;
        let mut resp = StatusCode::OK.into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_LENGTH, hv(size.to_string()));
        h.insert(header::CONTENT_TYPE, hv("application/octet-stream"));
        h.insert(header::ACCEPT_RANGES, hv("bytes"));
        h.insert("Docker-Content-Digest", hv(digest.to_string()));
        return Ok(resp);
    }
    if let Some(url) = registry.blob_redirect(name, digest).await? {
        // Authorized above for this request; the URL then lets the client fetch the blob from
        // the object store (a Range header goes along to it).
        let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
        let h = resp.headers_mut();
        h.insert(header::LOCATION, hv(url.as_str()));
        h.insert("Docker-Content-Digest", hv(digest.to_string()));
        h.insert(header::CACHE_CONTROL, hv("no-store"));
        return Ok(resp);
    }
    // RFC 9110: a Range header that cannot be parsed (or asks for several ranges) is ignored,
    // and the whole blob is served.
    let range = req
        .header(header::RANGE)
        .and_then(|r| ByteRange::parse(r).ok());
    let blob = registry.get_blob(name, digest, range).await?;
    let status = if blob.range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut resp = Response::new(Body::from_stream(blob.stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, hv(blob.len.to_string()));
    h.insert(header::CONTENT_TYPE, hv("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, hv("bytes"));
    h.insert("Docker-Content-Digest", hv(digest.to_string()));
    if let Some((start, end)) = blob.range {
        h.insert(
            header::CONTENT_RANGE,
            hv(format!("bytes {start}-{end}/{}", blob.size)),
        );
    }
    Ok(resp)
}

pub async fn delete(registry: &Registry, name: &RepoName, digest: &Digest) -> OciResult {
    registry.delete_blob(name, digest).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
