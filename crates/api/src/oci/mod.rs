//! The OCI distribution API: one dispatcher that classifies the path, then thin handlers, one
//! file per family, each calling one registry method.

mod blobs;
pub mod error;
mod listings;
mod manifests;
mod uploads;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::classify::{classify, OciEndpoint};
use crate::AppState;
pub use error::{OciCode, OciError};

pub type OciResult = Result<Response, OciError>;

/// Everything a handler may read from the request.
pub struct OciRequest {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: HashMap<String, String>,
}

impl OciRequest {
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }
}

fn parse_query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Serves every `/v2/...` request.
pub async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let rest = uri.path().strip_prefix("/v2").unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let req = OciRequest {
        method,
        headers,
        query: parse_query(&uri),
    };
    let result = match classify(rest) {
        Ok(endpoint) => {
            let operation = endpoint.operation();
            let res = route(&state, endpoint, req, body).await;
            let status = match &res {
                Ok(r) => r.status(),
                Err(e) => e.status,
            };
            metrics::counter!(
                "portcullis_http_requests_total",
                "api" => "oci",
                "operation" => operation,
                "status" => status.as_str().to_owned()
            )
            .increment(1);
            res
        }
        Err(e) => Err(OciError::from(e)),
    };
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

fn method_not_allowed(method: &Method) -> OciError {
    OciError::new(
        OciCode::Unsupported,
        format!("method `{method}` is not supported here"),
    )
}

async fn route(state: &AppState, endpoint: OciEndpoint, req: OciRequest, body: Body) -> OciResult {
    let registry = &state.registry;
    match (endpoint, req.method.clone()) {
        (OciEndpoint::Base, Method::GET | Method::HEAD) => {
            Ok((StatusCode::OK, axum::Json(serde_json::json!({}))).into_response())
        }
        (OciEndpoint::Catalog, Method::GET) => listings::catalog(registry, &req).await,
        (OciEndpoint::Tags { name }, Method::GET) => listings::tags(registry, &name, &req).await,
        (OciEndpoint::Referrers { name, digest }, Method::GET) => {
            listings::referrers(registry, &name, &digest, &req).await
        }
        (OciEndpoint::Manifest { name, reference }, Method::GET | Method::HEAD) => {
            manifests::get(registry, &name, &reference, &req).await
        }
        (OciEndpoint::Manifest { name, reference }, Method::PUT) => {
            manifests::put(registry, &name, &reference, &req, body).await
        }
        (OciEndpoint::Manifest { name, reference }, Method::DELETE) => {
            manifests::delete(registry, &name, &reference).await
        }
        (OciEndpoint::Blob { name, digest }, Method::GET | Method::HEAD) => {
            blobs::get(registry, &name, &digest, &req).await
        }
        (OciEndpoint::Blob { name, digest }, Method::DELETE) => {
            blobs::delete(registry, &name, &digest).await
        }
        (OciEndpoint::UploadStart { name }, Method::POST) => {
            uploads::start(state, &name, &req, body).await
        }
        (OciEndpoint::Upload { name, id }, Method::GET) => {
            uploads::status(registry, &name, &id).await
        }
        (OciEndpoint::Upload { name, id }, Method::PATCH) => {
            uploads::patch(state, &name, &id, &req, body).await
        }
        (OciEndpoint::Upload { name, id }, Method::PUT) => {
            uploads::finish(state, &name, &id, &req, body).await
        }
        (OciEndpoint::Upload { name, id }, Method::DELETE) => {
            uploads::cancel(registry, &name, &id).await
        }
        (_, method) => Err(method_not_allowed(&method)),
    }
}

/// Builds a header value from text we produced (digests, paths, numbers).
pub(crate) fn hv(s: impl AsRef<str>) -> HeaderValue {
    HeaderValue::from_str(s.as_ref()).unwrap_or_else(|_| HeaderValue::from_static(""))
}
