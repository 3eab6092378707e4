//! The ECR control-plane API: AWS JSON 1.1 on `POST /` with
//! `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>`, signed with SigV4
//! (signing name `ecr`). Each operation is authorized by the `ecr:` action of its name.

mod admin;
mod cache_rules;
mod error;
mod images;
mod input;
mod layers;
mod ops;

use axum::body::Body;
use axum::extract::State;

use axum::response::Response;
use portcullis_auth::sigv4::Protocol;
use portcullis_auth::{Caller, Facts};

pub use error::EcrError;
pub use ops::{EcrOperation, NOT_YET};

use crate::access::{self, SignedAuthFailure};
use crate::operation::Decided;
use crate::AppState;

const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";
/// Largest request body: UploadLayerPart carries up to 20 MiB, base64-encoded.
const MAX_BODY: usize = 30 * 1024 * 1024;

/// What every operation handler gets.
pub struct EcrContext {
    pub caller: Caller,
    pub facts: Facts,
    /// `scheme://host[:port]` of the registry (configured, or as the client reached us).
    pub public_url: String,
    /// `host[:port]`, for repository URIs.
    pub host: String,
    pub request_id: String,
    /// The operation `X-Amz-Target` names; handlers authorize this one.
    pub operation: EcrOperation,
    pub decided: Decided,
}

/// Serves `POST /` requests that carry an `X-Amz-Target` of the ECR API.
pub async fn dispatch(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let facts = access::facts(&parts);
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .map(str::to_owned);
    let result = match operation {
        None => Err(EcrError::new(
            "UnknownOperationException",
            "the X-Amz-Target header does not name an ECR operation",
        )),
        Some(op) => handle(&state, &parts, body, facts, &op, &request_id).await,
    };
    access::json_response(result, &request_id)
}

async fn handle(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    facts: Facts,
    operation: &str,
    request_id: &str,
) -> Result<serde_json::Value, EcrError> {
    let (caller, bytes) = authenticate(state, parts, body, &facts).await?;
    let operation = EcrOperation::parse(operation).ok_or_else(|| ops::not_served(operation))?;
    let public_url = state.public_url(&parts.headers, facts.secure);
    let host = public_url
        .split_once("://")
        .map(|(_, h)| h.to_owned())
        .unwrap_or_else(|| public_url.clone());
    let ctx = EcrContext {
        caller,
        facts,
        public_url,
        host,
        request_id: request_id.to_owned(),
        operation,
        decided: Decided::default(),
    };
    let input: serde_json::Value = if bytes.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            EcrError::new(
                "SerializationException",
                format!("the request body is not JSON: {e}"),
            )
        })?
    };
    if !input.is_object() {
        return Err(EcrError::new(
            "SerializationException",
            "the request body must be a JSON object",
        ));
    }
    let result = match ops::run(state, &ctx, &input).await {
        // An answer no decision stood behind would be a route without authorization: refuse it.
        Ok(_) if !ctx.decided.get() => {
            tracing::error!(
                operation = operation.name(),
                "an ECR operation answered without an authorization decision; refused"
            );
            Err(EcrError::server())
        }
        other => other,
    };
    metrics::counter!(
        "portcullis_http_requests_total",
        "api" => "ecr",
        "operation" => operation.name(),
        "status" => if result.is_ok() { "200" } else { "400" }
    )
    .increment(1);
    result
}

/// Verifies the SigV4 signature (signing name `ecr`) and resolves the caller.
async fn authenticate(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    facts: &Facts,
) -> Result<(Caller, bytes::Bytes), EcrError> {
    access::authenticate_signed(
        state,
        parts,
        body,
        MAX_BODY,
        facts,
        "ecr",
        Protocol::Json,
        "ecr.amazonaws.com",
    )
    .await
    .map_err(|f| match f {
        SignedAuthFailure::SigV4(e) => EcrError::from(e),
        SignedAuthFailure::Internal => EcrError::server(),
        SignedAuthFailure::Body => {
            EcrError::invalid("the request body is too large or was cut off")
        }
    })
}
