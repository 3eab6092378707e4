//! IAM's error format, in one place: `<ErrorResponse><Error><Type>Sender</Type><Code>...</Code>
//! <Message>...</Message></Error><RequestId>...</RequestId></ErrorResponse>`, with the status and
//! fault type botocore's IAM model gives each code.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_auth::sigv4::{Protocol, SigV4Error};
use portcullis_core::iam::IamError as CoreIamError;
use portcullis_core::Error as CoreError;

use super::xml;

/// `code → (status, fault type)`: the model's `error.httpStatusCode` and `senderFault`, plus the
/// common query-protocol errors (authentication, unknown action, validation).
const CODES: &[(&str, u16, &str)] = &[
    ("NoSuchEntity", 404, "Sender"),
    ("EntityAlreadyExists", 409, "Sender"),
    ("MalformedPolicyDocument", 400, "Sender"),
    ("DeleteConflict", 409, "Sender"),
    ("LimitExceeded", 409, "Sender"),
    ("InvalidInput", 400, "Sender"),
    ("ValidationError", 400, "Sender"),
    ("InvalidAction", 400, "Sender"),
    ("MissingAction", 400, "Sender"),
    ("MissingParameter", 400, "Sender"),
    ("InvalidParameterValue", 400, "Sender"),
    ("AccessDenied", 403, "Sender"),
    ("InvalidClientTokenId", 403, "Sender"),
    ("SignatureDoesNotMatch", 403, "Sender"),
    ("IncompleteSignature", 400, "Sender"),
    ("MissingAuthenticationToken", 403, "Sender"),
    ("ExpiredToken", 403, "Sender"),
    ("PolicyEvaluation", 500, "Receiver"),
    ("ServiceFailure", 500, "Receiver"),
    ("InternalFailure", 500, "Receiver"),
];

#[derive(Debug)]
pub struct IamError {
    pub code: &'static str,
    pub message: String,
    /// Set for errors whose status is not the table's (SigV4 errors keep their own).
    status: Option<StatusCode>,
    pub request_id: String,
}

impl IamError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        IamError {
            code,
            message: message.into(),
            status: None,
            request_id: String::new(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", message)
    }

    pub fn server() -> Self {
        Self::new("ServiceFailure", "internal error")
    }

    pub fn with_request_id(mut self, id: &str) -> Self {
        self.request_id = id.to_owned();
        self
    }

    fn entry(&self) -> (StatusCode, &'static str) {
        let (status, fault) = CODES
            .iter()
            .find(|(c, _, _)| *c == self.code)
            .map(|(_, s, f)| (*s, *f))
            .unwrap_or((400, "Sender"));
        (
            self.status
                .unwrap_or(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)),
            fault,
        )
    }

    pub fn status(&self) -> StatusCode {
        self.entry().0
    }
}

impl From<SigV4Error> for IamError {
    fn from(e: SigV4Error) -> Self {
        IamError {
            code: e.aws_code_for(Protocol::Query),
            message: e.to_string(),
            status: StatusCode::from_u16(e.http_status_for(Protocol::Query)).ok(),
            request_id: String::new(),
        }
    }
}

impl From<CoreError> for IamError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NoSuchEntity(m) => IamError::new("NoSuchEntity", m),
            CoreError::EntityAlreadyExists(m) => IamError::new("EntityAlreadyExists", m),
            CoreError::MalformedPolicy(m) => IamError::new("MalformedPolicyDocument", m),
            other => {
                tracing::error!(error = %other, "iam operation failed");
                IamError::server()
            }
        }
    }
}

impl From<CoreIamError> for IamError {
    fn from(e: CoreIamError) -> Self {
        match e {
            CoreIamError::DeleteConflict(m) => IamError::new("DeleteConflict", m),
            CoreIamError::LimitExceeded(m) => IamError::new("LimitExceeded", m),
            CoreIamError::Core(c) => c.into(),
        }
    }
}

impl IntoResponse for IamError {
    fn into_response(self) -> Response {
        let (status, fault) = self.entry();
        let body = xml::error_document(fault, self.code, &self.message, &self.request_id);
        let mut resp = (status, body).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            resp.headers_mut().insert("x-amzn-RequestId", v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_model() {
        assert_eq!(IamError::new("NoSuchEntity", "").status(), 404);
        assert_eq!(IamError::new("EntityAlreadyExists", "").status(), 409);
        assert_eq!(IamError::new("DeleteConflict", "").status(), 409);
        assert_eq!(IamError::new("MalformedPolicyDocument", "").status(), 400);
        assert_eq!(IamError::from(SigV4Error::SignatureMismatch).status(), 403);
        assert_eq!(
            IamError::from(SigV4Error::UnrecognizedClient).code,
            "InvalidClientTokenId"
        );
        assert_eq!(IamError::server().entry().1, "Receiver");
    }
}
