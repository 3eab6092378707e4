//! Every way SigV4 authentication fails, and the AWS error each becomes on the wire.
//!
//! The messages of the variants that an SDK or a user will recognise are AWS's own, verbatim
//! (the clock-skew wording in particular is what people search for). The rest are ours.

/// The wire protocol the error is answered in: AWS names the same failure differently in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// AWS JSON 1.0/1.1 (ECR): `{"__type": "InvalidSignatureException", ...}`.
    Json,
    /// AWS query protocol with XML errors (IAM, STS): `<Code>SignatureDoesNotMatch</Code>`.
    Query,
}

/// Why a request is not authenticated by SigV4.
///
/// The doc comment of each variant names the AWS error code it becomes in the JSON protocol,
/// then in the query protocol (see [`SigV4Error::aws_code_for`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// `IncompleteSignatureException` / `IncompleteSignature`: the auth is malformed or a part is
    /// missing (credential, signed headers, signature, date). The message says which.
    #[error("{0}")]
    Incomplete(String),

    /// `MissingAuthenticationTokenException` / `MissingAuthenticationToken`: the request carries
    /// no credentials at all. [`super::parse`] returns `Ok(None)` for such a request; the caller
    /// turns that into this variant when the endpoint needs authentication.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,

    /// `InvalidSignatureException` / `SignatureDoesNotMatch`: the signature does not match.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. \
         Consult the service documentation for details."
    )]
    SignatureMismatch,

    /// `InvalidSignatureException` / `SignatureDoesNotMatch`: the credential scope names another
    /// service, or its date is not the request's date. The message is AWS's.
    #[error("{0}")]
    InvalidScope(String),

    /// `InvalidSignatureException` / `SignatureDoesNotMatch`: the request time is more than 15
    /// minutes before the server's clock.
    #[error("Signature expired: {request_time} is now earlier than {earliest} ({now} - 15 min.)")]
    SignatureExpired {
        /// The request's `X-Amz-Date`, as `yyyymmddThhmmssZ`.
        request_time: String,
        /// `now - 15 min`.
        earliest: String,
        /// The server's clock.
        now: String,
    },

    /// `InvalidSignatureException` / `SignatureDoesNotMatch`: the request time is more than 15
    /// minutes after the server's clock.
    #[error(
        "Signature not yet current: {request_time} is still later than {latest} ({now} + 15 min.)"
    )]
    SignatureNotYetCurrent {
        /// The request's `X-Amz-Date`, as `yyyymmddThhmmssZ`.
        request_time: String,
        /// `now + 15 min`.
        latest: String,
        /// The server's clock.
        now: String,
    },

    /// `AccessDeniedException` / `AccessDenied`: a presigned request used after
    /// `X-Amz-Date + X-Amz-Expires`.
    #[error("Request has expired")]
    PresignedExpired,

    /// `InvalidSignatureException` / `SignatureDoesNotMatch`: the signed
    /// `x-amz-content-sha256` is not the hash of the body received.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    PayloadHashMismatch,

    /// `UnrecognizedClientException` / `InvalidClientTokenId`: the access key id (or the session
    /// token) is unknown. Decided by the caller after its lookup.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,

    /// `ExpiredTokenException` / `ExpiredToken`: the session token has expired. Decided by the
    /// caller after its lookup.
    #[error("The security token included in the request is expired")]
    ExpiredToken,

    /// `IncompleteSignatureException` / `IncompleteSignature`: the request is presigned
    /// (query-string auth) and the API takes the `Authorization` header only.
    #[error(
        "this API does not accept query-string (presigned) authentication: \
         sign the request in the Authorization header"
    )]
    PresignedNotAccepted,

    /// `IncompleteSignatureException` / `IncompleteSignature`: headers that must be signed
    /// (every `x-amz-*`, `content-type`) are present but not among `SignedHeaders`; the message
    /// (S3's wording) names them.
    #[error("There were headers present in the request which were not signed: {0}")]
    HeadersNotSigned(String),

    /// `InvalidSignatureException` / `SignatureDoesNotMatch`: `x-amz-content-sha256` declares
    /// the body unsigned (`UNSIGNED-PAYLOAD`, `STREAMING-*`), which only S3 accepts.
    #[error(
        "x-amz-content-sha256 `{0}` leaves the body unsigned, which only S3 accepts: \
         sign the SHA-256 of the body"
    )]
    UnsignedPayload(String),

    /// `InternalFailure`: the caller did not give the body hash that this request's signature
    /// covers (no `x-amz-content-sha256` to rely on). A bug in the caller, never the client's.
    #[error("the body hash is needed to verify this signature and was not given")]
    BodyHashRequired,
}

impl SigV4Error {
    /// The AWS error code in the JSON protocol (ECR's `__type`).
    pub fn aws_code(&self) -> &'static str {
        self.aws_code_for(Protocol::Json)
    }

    /// The AWS error code for `protocol`: `__type` for JSON, `<Code>` for query/XML.
    pub fn aws_code_for(&self, protocol: Protocol) -> &'static str {
        use Protocol::{Json, Query};
        match (self, protocol) {
            (
                Self::Incomplete(_) | Self::PresignedNotAccepted | Self::HeadersNotSigned(_),
                Json,
            ) => "IncompleteSignatureException",
            (
                Self::Incomplete(_) | Self::PresignedNotAccepted | Self::HeadersNotSigned(_),
                Query,
            ) => "IncompleteSignature",
            (Self::MissingAuthenticationToken, Json) => "MissingAuthenticationTokenException",
            (Self::MissingAuthenticationToken, Query) => "MissingAuthenticationToken",
            (
                Self::SignatureMismatch
                | Self::InvalidScope(_)
                | Self::SignatureExpired { .. }
                | Self::SignatureNotYetCurrent { .. }
                | Self::PayloadHashMismatch
                | Self::UnsignedPayload(_),
                Json,
            ) => "InvalidSignatureException",
            (
                Self::SignatureMismatch
                | Self::InvalidScope(_)
                | Self::SignatureExpired { .. }
                | Self::SignatureNotYetCurrent { .. }
                | Self::PayloadHashMismatch
                | Self::UnsignedPayload(_),
                Query,
            ) => "SignatureDoesNotMatch",
            (Self::PresignedExpired, Json) => "AccessDeniedException",
            (Self::PresignedExpired, Query) => "AccessDenied",
            (Self::UnrecognizedClient, Json) => "UnrecognizedClientException",
            (Self::UnrecognizedClient, Query) => "InvalidClientTokenId",
            (Self::ExpiredToken, Json) => "ExpiredTokenException",
            (Self::ExpiredToken, Query) => "ExpiredToken",
            (Self::BodyHashRequired, _) => "InternalFailure",
        }
    }

    /// The HTTP status for `protocol`.
    ///
    /// JSON services (ECR) answer every authentication error with 400, as ECR does; the query
    /// services (IAM, STS) use 403 for the credential and signature errors and 400 for a
    /// malformed signature, as their "Common Errors" pages list.
    pub fn http_status_for(&self, protocol: Protocol) -> u16 {
        match (self, protocol) {
            (Self::BodyHashRequired, _) => 500,
            (_, Protocol::Json)
            | (
                Self::Incomplete(_) | Self::PresignedNotAccepted | Self::HeadersNotSigned(_),
                Protocol::Query,
            ) => 400,
            (_, Protocol::Query) => 403,
        }
    }

    /// Whether the fault is the client's (4xx) rather than the caller's.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::BodyHashRequired)
    }
}
