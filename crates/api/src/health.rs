//! Health endpoints for load balancers and orchestrators, outside the registry APIs: no
//! credentials, no audit event (they decide nothing and reveal only up/down and which backend
//! is failing, never an address or a secret).
//!
//! - `GET|HEAD /healthz`: liveness, 200 while the process serves HTTP.
//! - `GET|HEAD /readyz`: readiness, 200 when the metadata store answers and the blob store takes
//!   writes within [`READY_TIMEOUT`], else 503 with the reason, so a node whose database is down
//!   leaves the pool until it recovers.
//!
//! Any other method is 405, as everywhere.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Longer than a healthy database takes, shorter than a load balancer's check interval.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn live(method: Method) -> Response {
    answer(&method, StatusCode::OK, "ok\n")
}

pub async fn ready(State(state): State<AppState>, method: Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return not_allowed();
    }
    let result = tokio::time::timeout(READY_TIMEOUT, state.registry.check_ready()).await;
    let (status, body) = match result {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".to_owned()),
        Ok(Err(why)) => {
            tracing::warn!(reason = %why, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {}\n", backend_of(&why)),
            )
        }
        Err(_) => {
            tracing::warn!("not ready: the readiness check timed out");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the readiness check timed out\n".to_owned(),
            )
        }
    };
    answer(&method, status, &body)
}

/// Only the failing part's name goes on the wire; the full error (which may carry a host
/// name or path) goes to the log.
fn backend_of(why: &str) -> &str {
    why.split_once(':').map_or("backend", |(what, _)| what)
}

fn answer(method: &Method, status: StatusCode, body: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return not_allowed();
    }
    let mut resp = (status, body.to_owned()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn not_allowed() -> Response {
    let mut resp = (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_failing_part_is_named() {
        assert_eq!(
            backend_of("metadata store (postgres): connection refused at 10.0.0.5:5432"),
            "metadata store (postgres)"
        );
        assert_eq!(backend_of("no colon"), "backend");
    }
}
