//! `GET /v2/<name>/tags/list`, `GET /v2/_catalog` and `GET /v2/<name>/referrers/<digest>`

use axum::http::header;
use axum::response::{IntoResponse, Response};
use portcullis_core::Registry;
use portcullis_oci::{media_types, Digest, RepoName, Tag};
use serde_json::json;

use portcullis_auth::{Caller, Facts, Target};

use super::{hv, OciCode, OciError, OciRequest, OciResult};
use crate::AppState;

fn page_size(req: &OciRequest) -> Result<Option<u32>, OciError> {
    req.query("n")
        .map(|n| {
            n.parse::<u32>().map_err(|_| {
                OciError::new(
                    OciCode::Unsupported,
                    format!("`n` must be a non-negative integer, got `{n}`"),
                )
                .with_status(axum::http::StatusCode::BAD_REQUEST)
            })
        })
        .transpose()
}

/// Adds `Link: <path?n=N&last=LAST>; rel="next"` when the page is full, so clients ask again.
fn with_next_link(mut resp: Response, path: &str, n: Option<u32>, items: &[String]) -> Response {
    if let (Some(n), Some(last)) = (n, items.last()) {
        if n > 0 && items.len() as u32 >= n {
            let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
            resp.headers_mut().insert(
                header::LINK,
                hv(format!("<{path}?n={n}&last={last}>; rel=\"next\"")),
            );
        }
    }
    resp
}

pub async fn tags(registry: &Registry, name: &RepoName, req: &OciRequest) -> OciResult {
    let n = page_size(req)?;
    let last = req
        .query("last")
        .map(|l| l.parse::<Tag>())
        .transpose()
        .map_err(|e| OciError::new(OciCode::TagInvalid, e.to_string()))?;
    let tags = registry.list_tags(name, n, last.as_ref()).await?;
    let resp = axum::Json(json!({ "name": name.as_str(), "tags": tags })).into_response();
    Ok(with_next_link(
        resp,
        &format!("/v2/{name}/tags/list"),
        n,
        &tags,
    ))
}

/// Lists only the repositories the caller may describe (`ecr:DescribeRepositories` per
/// repository); a caller who may see none gets an empty list, never a 403.
pub async fn catalog(
    state: &AppState,
    req: &OciRequest,
    caller: &Caller,
    facts: &Facts,
) -> OciResult {
    let n = page_size(req)?;
    let want = n.unwrap_or(u32::MAX);
    let mut repos = Vec::new();
    let mut cursor = req.query("last").map(str::to_owned);
    'pages: while (repos.len() as u32) < want {
        let page = state.registry.catalog(n, cursor.as_deref()).await?;
        let full = n.is_some_and(|n| page.len() as u32 >= n);
        for name in page {
            cursor = Some(name.clone());
            let target = Target::Repository(name.clone());
            let outcome = crate::access::check(
                state,
                caller,
                facts,
                "registry",
                "ecr:DescribeRepositories",
                &target,
                None,
                &[],
            )
            .await?;
            if outcome.allowed() {
                repos.push(name);
                if repos.len() as u32 >= want {
                    break 'pages;
                }
            }
        }
        if !full {
            break;
        }
    }
    let resp = axum::Json(json!({ "repositories": repos })).into_response();
    Ok(with_next_link(resp, "/v2/_catalog", n, &repos))
}

pub async fn referrers(
    registry: &Registry,
    name: &RepoName,
    digest: &Digest,
    req: &OciRequest,
) -> OciResult {
    let artifact_type = req.query("artifactType");
    let found = registry.referrers(name, digest, artifact_type).await?;
    let manifests: Vec<serde_json::Value> = found
        .into_iter()
        .map(|r| {
            let mut d = json!({ "mediaType": r.media_type, "digest": r.digest, "size": r.size });
            if let Some(t) = r.artifact_type {
                d["artifactType"] = json!(t);
            }
            if let Some(a) = r.annotations {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": manifests,
    });
    let mut resp = axum::Json(index).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, hv(media_types::OCI_INDEX));
    if artifact_type.is_some() {
        resp.headers_mut()
            .insert("OCI-Filters-Applied", hv("artifactType"));
    }
    Ok(resp)
}
