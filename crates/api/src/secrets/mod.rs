//! The Secrets Manager API subset a pull-through cache needs (docs/secrets.md): AWS JSON 1.1 on
//! `POST /` with `X-Amz-Target: secretsmanager.<Operation>`, signed with SigV4 (signing name
//! `secretsmanager`). Each operation is authorized by the `secretsmanager:` action of its name
//! on the secret's ARN. Request bodies carry secret values: they are never logged, and no
//! error message quotes one.

mod error;
mod input;
mod ops;

use axum::body::Body;
use axum::extract::State;

use axum::response::Response;
use portcullis_auth::sigv4::Protocol;
use portcullis_auth::{Caller, Facts};

pub use error::SecretsManagerError;
pub use ops::SecretsOperation;

use crate::access::{self, SignedAuthFailure};
use crate::operation::Decided;
use crate::AppState;

const TARGET_PREFIX: &str = "secretsmanager.";
const SOURCE: &str = "secretsmanager.amazonaws.com";
/// Largest request body: a 64 KiB value, escaped as JSON at worst six bytes a byte, plus tags.
const MAX_BODY: usize = 1024 * 1024;

/// What every operation handler gets.
pub struct SecretsContext {
    pub caller: Caller,
    pub facts: Facts,
    /// The operation `X-Amz-Target` names; handlers authorize this one.
    pub operation: SecretsOperation,
    pub decided: Decided,
}

/// Serves `POST /` requests signed for `secretsmanager`.
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
    let (name, result) = match operation {
        None => (
            "other",
            Err(SecretsManagerError::new(
                "UnknownOperationException",
                "the X-Amz-Target header does not name a Secrets Manager operation",
            )),
        ),
        Some(op) => handle(&state, &parts, body, facts, &op).await,
    };
    let status = match &result {
        Ok(_) => "200",
        Err(e) if e.status.is_server_error() => "500",
        Err(_) => "400",
    };
    metrics::counter!(
        "portcullis_http_requests_total",
        "api" => "secretsmanager",
        "operation" => name,
        "status" => status
    )
    .increment(1);
    access::json_response(result, &request_id)
}

async fn handle(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    facts: Facts,
    operation: &str,
) -> (&'static str, Result<serde_json::Value, SecretsManagerError>) {
    let (caller, bytes) = match authenticate(state, parts, body, &facts).await {
        Ok(v) => v,
        Err(e) => return ("other", Err(e)),
    };
    let Some(operation) = SecretsOperation::parse(operation) else {
        let served: Vec<&str> = SecretsOperation::ALL.iter().map(|o| o.name()).collect();
        return (
            "other",
            Err(SecretsManagerError::new(
                "UnknownOperationException",
                format!(
                    "`{operation}` is not a Secrets Manager operation this server serves ({})",
                    served.join(", ")
                ),
            )),
        );
    };
    let ctx = SecretsContext {
        caller,
        facts,
        operation,
        decided: Decided::default(),
    };
    let result = match parse_body(&bytes) {
        Err(e) => Err(e),
        Ok(input) => match ops::run(state, &ctx, &input).await {
            // An answer no decision stood behind would be a route without authorization.
            Ok(_) if !ctx.decided.get() => {
                tracing::error!(
                    operation = operation.name(),
                    "a Secrets Manager operation answered without an authorization decision; refused"
                );
                Err(SecretsManagerError::server())
            }
            other => other,
        },
    };
    (operation.name(), result)
}

/// The request's JSON object (an empty body is `{}`). Serde's message would quote the text it
/// choked on, which may be a secret: only its position is told.
fn parse_body(bytes: &[u8]) -> Result<serde_json::Value, SecretsManagerError> {
    if bytes.is_empty() {
        return Ok(serde_json::json!({}));
    }
    let input: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        SecretsManagerError::new(
            "SerializationException",
            format!(
                "the request body is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if !input.is_object() {
        return Err(SecretsManagerError::new(
            "SerializationException",
            "the request body must be a JSON object",
        ));
    }
    Ok(input)
}

/// Verifies the SigV4 signature (signing name `secretsmanager`) and resolves the caller.
async fn authenticate(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    facts: &Facts,
) -> Result<(Caller, bytes::Bytes), SecretsManagerError> {
    access::authenticate_signed(
        state,
        parts,
        body,
        MAX_BODY,
        facts,
        "secretsmanager",
        Protocol::Json,
        SOURCE,
    )
    .await
    .map_err(|f| match f {
        SignedAuthFailure::SigV4(e) => SecretsManagerError::from(e),
        SignedAuthFailure::Internal => SecretsManagerError::server(),
        SignedAuthFailure::Body => SecretsManagerError::validation(format!(
            "the request body is larger than {} KiB or was cut off",
            MAX_BODY / 1024
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_body;

    #[test]
    fn unparsable_bodies_are_not_quoted() {
        let e = parse_body(br#"{"SecretString": "hunter2"#).unwrap_err();
        assert_eq!(e.kind, "SerializationException");
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        let e = parse_body(br#"["hunter2"]"#).unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert!(parse_body(b"").unwrap().is_object());
    }
}
