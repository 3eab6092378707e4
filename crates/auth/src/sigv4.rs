//! AWS Signature Version 4 verification.
//!
//! Pure functions over the parts of an HTTP request: no I/O, no async, and no clock (the caller
//! passes `now`). The flow for one request is
//!
//! 1. [`parse`] finds the SigV4 auth in the `Authorization` header or in the presigned query
//!    (`X-Amz-Algorithm=AWS4-HMAC-SHA256&...`) and returns a [`SigV4Auth`], or `None` when the
//!    request carries no SigV4 auth at all (the caller then tries Basic/Bearer or answers
//!    [`SigV4Error::MissingAuthenticationToken`]);
//! 2. [`check_rules`] holds the request to what the service demands beyond a matching
//!    signature ([`ServiceRules`]: header auth only, the body and every `x-amz-*` header and
//!    `content-type` signed, the scope's service and region the server's);
//! 3. the caller looks up [`SigV4Auth::access_key_id`] (unknown key:
//!    [`SigV4Error::UnrecognizedClient`]) and, with a session token, checks it
//!    ([`SigV4Error::ExpiredToken`]);
//! 4. [`verify`] (or [`verify_with_key`] with a cached [`SigningKey`]) rebuilds the canonical
//!    request exactly as AWS's signers do for non-S3 services, checks the clock, the scope and
//!    the payload hash, and compares the signature in constant time.
//!
//! Every failure is a [`SigV4Error`], whose [`SigV4Error::aws_code_for`] gives the error name the
//! AWS SDKs expect for the JSON protocol (ECR) or the query protocol (IAM, STS).
//!
//! [`sign`] and [`presign`] are a small signer for clients and tests; the server never calls them.
//!
//! Canonicalization follows botocore's `SigV4Auth` (the reference the differential test runs
//! against) and AWS's published signing test suite:
//! - the path as received (already percent-encoded once by the client) has its dot segments and
//!   empty segments removed, then is percent-encoded again, keeping `/`; so `%2F` signs as
//!   `%252F` (the double encoding AWS uses for every service but S3);
//! - each query parameter is percent-decoded then re-encoded with the RFC 3986 unreserved set,
//!   the pairs sorted by encoded key then encoded value, `=` kept for empty values;
//! - signed header values are trimmed, inner runs of spaces and tabs collapse to one space, and
//!   repeated headers are joined with `,` in the order received.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod canonical;
mod error;
pub mod fuzzing;
mod parse;
mod rules;
mod sign;
mod time_fmt;
mod verify;

pub use canonical::{canonical_request, string_to_sign, uri_encode};
pub use error::{Protocol, SigV4Error};
pub use parse::{parse, AuthForm, CredentialScope, SigV4Auth, SignedRequestParts};
pub use rules::{check_rules, ServiceRules};
pub use sign::{presign, sign, SigningParams};
pub use verify::{signing_key, verify, verify_with_key, SigningKey};

/// The only algorithm this module accepts (SigV4a's `AWS4-ECDSA-P256-SHA256` is refused).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The payload hash a client sends when it does not sign the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Hex SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How far the request time may be from the server's clock, both ways (AWS: 15 minutes).
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// The longest lifetime a presigned request may claim in `X-Amz-Expires` (one week).
pub const MAX_PRESIGNED_EXPIRES_SECS: u32 = 604_800;

/// Lowercase hex SHA-256 of `body`, the form `verify` takes.
pub fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}
