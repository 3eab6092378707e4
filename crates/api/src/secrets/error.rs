//! Secrets Manager's error format, in one place: `{"__type": "<ErrorName>", "message": "..."}`,
//! 400 for the modelled client errors, 403 for an authorization denial, 500 for
//! `InternalServiceError`. No message ever carries a secret value.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_auth::sigv4::{Protocol, SigV4Error};
use portcullis_core::Error as CoreError;
use portcullis_core::SecretsError;
use serde_json::json;

#[derive(Debug)]
pub struct SecretsManagerError {
    pub kind: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl SecretsManagerError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        SecretsManagerError {
            kind,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// A value outside the model's constraints (length, type, enum, a missing member).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// A value the model allows that Secrets Manager refuses (a name's characters, a
    /// recovery window, two values at once).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    /// A request that does not fit the secret's state.
    pub fn request(message: impl Into<String>) -> Self {
        Self::new("InvalidRequestException", message)
    }

    pub fn not_found() -> Self {
        SecretsError::NotFound.into()
    }

    pub fn denied(message: impl Into<String>) -> Self {
        SecretsManagerError {
            kind: "AccessDeniedException",
            message: message.into(),
            // Secrets Manager answers a refusal with 400, as its other client errors; SDKs and
            // tools that sort errors by status expect that.
            status: StatusCode::BAD_REQUEST,
        }
    }

    pub fn server() -> Self {
        SecretsManagerError {
            kind: "InternalServiceError",
            message: "internal error".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<SigV4Error> for SecretsManagerError {
    fn from(e: SigV4Error) -> Self {
        SecretsManagerError {
            kind: e.aws_code_for(Protocol::Json),
            message: e.to_string(),
            status: StatusCode::from_u16(e.http_status_for(Protocol::Json))
                .unwrap_or(StatusCode::BAD_REQUEST),
        }
    }
}

impl From<SecretsError> for SecretsManagerError {
    fn from(e: SecretsError) -> Self {
        let kind = match &e {
            SecretsError::NotFound
            | SecretsError::NoVersionWithStage(_)
            | SecretsError::NoSuchVersion(_) => "ResourceNotFoundException",
            SecretsError::Exists(_) | SecretsError::TokenInUse { .. } => "ResourceExistsException",
            SecretsError::StageNotOnVersion
            | SecretsError::ScheduledForDeletion
            | SecretsError::AlreadyScheduled
            | SecretsError::NameScheduledForDeletion => "InvalidRequestException",
            SecretsError::TooManyTags => "InvalidParameterException",
            SecretsError::Decryption => "DecryptionFailure",
            SecretsError::Core(_) => {
                tracing::error!(error = %e, "secrets manager operation failed");
                return Self::server();
            }
        };
        Self::new(kind, e.to_string())
    }
}

impl From<CoreError> for SecretsManagerError {
    fn from(e: CoreError) -> Self {
        SecretsError::Core(e).into()
    }
}

impl IntoResponse for SecretsManagerError {
    fn into_response(self) -> Response {
        let body = json!({ "__type": self.kind, "message": self.message });
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        resp
    }
}
