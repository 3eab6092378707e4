//! ECR's error format, in one place: `{"__type": "<ErrorName>", "message": "..."}` with the
//! status the model gives (400 for every modelled error but ServerException).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_auth::sigv4::{Protocol, SigV4Error};
use portcullis_core::Error as CoreError;
use serde_json::json;

#[derive(Debug)]
pub struct EcrError {
    pub kind: &'static str,
    pub message: String,
    pub status: StatusCode,
    /// Members some errors carry besides the message (InvalidLayerPartException's offsets).
    pub members: serde_json::Map<String, serde_json::Value>,
}

impl EcrError {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        EcrError {
            kind,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
            members: Default::default(),
        }
    }

    pub fn with_member(mut self, name: &str, value: serde_json::Value) -> Self {
        self.members.insert(name.to_owned(), value);
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    pub fn server() -> Self {
        EcrError {
            kind: "ServerException",
            message: "internal error".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
            members: Default::default(),
        }
    }
}

impl From<SigV4Error> for EcrError {
    fn from(e: SigV4Error) -> Self {
        EcrError {
            kind: e.aws_code_for(Protocol::Json),
            message: e.to_string(),
            status: StatusCode::from_u16(e.http_status_for(Protocol::Json))
                .unwrap_or(StatusCode::BAD_REQUEST),
            members: Default::default(),
        }
    }
}

impl From<CoreError> for EcrError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::MalformedPolicy(m) => EcrError::invalid(format!(
                "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid policy provided': {m}"
            )),
            CoreError::NameUnknown(name) => EcrError::new(
                "RepositoryNotFoundException",
                format!("The repository with name '{name}' does not exist in the registry"),
            ),
            CoreError::TagImmutable { .. } => {
                EcrError::new("ImageTagAlreadyExistsException", e.to_string())
            }
            CoreError::UploadUnknown(id) => EcrError::new(
                "UploadNotFoundException",
                format!("The upload with id '{id}' does not exist in the repository"),
            ),
            CoreError::UploadEmpty => EcrError::new(
                "EmptyUploadException",
                "The specified layer upload does not contain any layer parts",
            ),
            CoreError::UploadPartTooSmall => {
                EcrError::new("LayerPartTooSmallException", e.to_string())
            }
            CoreError::QuotaExceeded(_) => EcrError::new("LimitExceededException", e.to_string()),
            CoreError::UploadTooManyParts(_)
            | CoreError::TooManyUploads(_)
            | CoreError::BlobTooLarge { .. } => {
                EcrError::new("LimitExceededException", e.to_string())
            }
            CoreError::LayerAlreadyExists(_) => EcrError::new(
                "LayerAlreadyExistsException",
                "The image layer already exists in the associated repository",
            ),
            CoreError::DigestMismatch { expected, actual } => EcrError::new(
                "InvalidLayerException",
                format!("The layer's content has digest '{actual}', not the '{expected}' given"),
            ),
            other => {
                tracing::error!(error = %other, "ecr operation failed");
                EcrError::server()
            }
        }
    }
}

impl IntoResponse for EcrError {
    fn into_response(self) -> Response {
        let mut body = json!({ "__type": self.kind, "message": self.message });
        for (k, v) in self.members {
            body[k] = v;
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        resp
    }
}
