//! The OCI error format, in one place: every failure of a `/v2/` request becomes an
//! `{"errors":[{"code","message","detail"}]}` body with the status the distribution spec gives.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_core::Error as CoreError;
use serde_json::{json, Value};

use crate::classify::ClassifyError;

/// The error codes of the distribution spec (plus Distribution's RANGE_INVALID), with their
/// statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OciCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    TagInvalid,
    RangeInvalid,
    Unknown,
}

impl OciCode {
    pub fn code(self) -> &'static str {
        match self {
            OciCode::BlobUnknown => "BLOB_UNKNOWN",
            OciCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            OciCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            OciCode::DigestInvalid => "DIGEST_INVALID",
            OciCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            OciCode::ManifestInvalid => "MANIFEST_INVALID",
            OciCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            OciCode::NameInvalid => "NAME_INVALID",
            OciCode::NameUnknown => "NAME_UNKNOWN",
            OciCode::SizeInvalid => "SIZE_INVALID",
            OciCode::Unauthorized => "UNAUTHORIZED",
            OciCode::Denied => "DENIED",
            OciCode::Unsupported => "UNSUPPORTED",
            OciCode::TooManyRequests => "TOOMANYREQUESTS",
            OciCode::TagInvalid => "TAG_INVALID",
            OciCode::RangeInvalid => "RANGE_INVALID",
            OciCode::Unknown => "UNKNOWN",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            OciCode::BlobUnknown
            | OciCode::BlobUploadUnknown
            | OciCode::ManifestUnknown
            | OciCode::NameUnknown => StatusCode::NOT_FOUND,
            OciCode::Unauthorized => StatusCode::UNAUTHORIZED,
            OciCode::Denied => StatusCode::FORBIDDEN,
            OciCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            OciCode::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            OciCode::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            OciCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error response of the OCI API.
#[derive(Debug)]
pub struct OciError {
    pub code: OciCode,
    pub status: StatusCode,
    pub message: String,
    pub detail: Value,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl OciError {
    pub fn new(code: OciCode, message: impl Into<String>) -> Self {
        OciError {
            code,
            status: code.status(),
            message: message.into(),
            detail: Value::Null,
            headers: Vec::new(),
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: String) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value) {
            self.headers.push((name, v));
        }
        self
    }
}

impl From<ClassifyError> for OciError {
    fn from(e: ClassifyError) -> Self {
        match e {
            ClassifyError::NotFound => {
                OciError::new(OciCode::NameUnknown, "no such endpoint").with_detail(json!(null))
            }
            ClassifyError::MethodNotAllowed => OciError::new(
                OciCode::Unsupported,
                "this method is not supported on this endpoint",
            ),
            ClassifyError::Name(e) => OciError::new(OciCode::NameInvalid, e.to_string()),
            ClassifyError::Reference(e @ portcullis_oci::Error::TagInvalid(_)) => {
                OciError::new(OciCode::TagInvalid, e.to_string())
            }
            ClassifyError::Reference(e) => OciError::new(OciCode::DigestInvalid, e.to_string()),
        }
    }
}

impl From<CoreError> for OciError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::BlobUnknown(d) => {
                OciError::new(OciCode::BlobUnknown, message).with_detail(json!({ "digest": d }))
            }
            CoreError::UploadUnknown(_) => OciError::new(OciCode::BlobUploadUnknown, message),
            CoreError::UploadOutOfOrder { actual, .. } => {
                let err = OciError::new(OciCode::RangeInvalid, message);
                err.with_header(header::RANGE, format!("0-{}", actual.saturating_sub(1)))
            }
            CoreError::UploadInvalid(_) | CoreError::BodyInterrupted(_) => {
                OciError::new(OciCode::BlobUploadInvalid, message)
            }
            CoreError::DigestMismatch { .. } | CoreError::DigestInvalid(_) => {
                OciError::new(OciCode::DigestInvalid, message)
            }
            CoreError::ManifestUnknown(_) | CoreError::ManifestNotAcceptable(_) => {
                OciError::new(OciCode::ManifestUnknown, message)
            }
            CoreError::ManifestBlobUnknown(d) => {
                OciError::new(OciCode::ManifestBlobUnknown, message)
                    .with_detail(json!({ "digest": d }))
            }
            CoreError::ManifestInvalid(_) => OciError::new(OciCode::ManifestInvalid, message),
            CoreError::ManifestTooLarge(_) => OciError::new(OciCode::SizeInvalid, message)
                .with_status(StatusCode::PAYLOAD_TOO_LARGE),
            CoreError::NameUnknown(_) => OciError::new(OciCode::NameUnknown, message),
            CoreError::TagImmutable { .. } => OciError::new(OciCode::TagInvalid, message),
            CoreError::QuotaExceeded(_) => OciError::new(OciCode::Denied, message),
            // 429: the condition passes once sessions are finished, cancelled or reaped, and
            // clients back off and retry on it, where DENIED reads as missing permissions.
            CoreError::TooManyUploads(_) | CoreError::BlobCollecting(_) => {
                OciError::new(OciCode::TooManyRequests, message)
            }
            CoreError::BlobTooLarge { .. } => OciError::new(OciCode::SizeInvalid, message)
                .with_status(StatusCode::PAYLOAD_TOO_LARGE),
            CoreError::UploadEmpty
            | CoreError::UploadPartTooSmall
            | CoreError::UploadTooManyParts(_) => {
                OciError::new(OciCode::BlobUploadInvalid, message)
            }
            CoreError::LayerAlreadyExists(_) => OciError::new(OciCode::BlobUploadInvalid, message),
            CoreError::Unsupported(_) => OciError::new(OciCode::Unsupported, message),
            CoreError::RangeNotSatisfiable { size } => {
                OciError::new(OciCode::RangeInvalid, message)
                    .with_header(header::CONTENT_RANGE, format!("bytes */{size}"))
            }
            CoreError::EntityAlreadyExists(_)
            | CoreError::NoSuchEntity(_)
            | CoreError::MalformedPolicy(_) => {
                OciError::new(OciCode::Unsupported, message).with_status(StatusCode::BAD_REQUEST)
            }
            CoreError::Sealing(_) => {
                tracing::error!(error = %message, "secret sealing failure");
                OciError::new(OciCode::Unknown, "internal error")
            }
            CoreError::Audit(source) => {
                tracing::error!(error = %source, "refusing a request whose decision cannot be audited");
                OciError::new(OciCode::Unknown, "internal error")
            }
            CoreError::Storage(source) => {
                // 5xx: the details go to the log, never to the client.
                tracing::error!(error = %source, "storage failure");
                OciError::new(OciCode::Unknown, "internal error")
            }
        }
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = json!({
            "errors": [{ "code": self.code.code(), "message": self.message, "detail": self.detail }]
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            resp.headers_mut().insert(name, value);
        }
        resp
    }
}
