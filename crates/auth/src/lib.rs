//! Authentication and authorization of one request.
//!
//! - [`sigv4`]: AWS Signature Version 4, pure: parse the `Authorization` header or presigned
//!   query, rebuild the canonical request exactly as AWS does, verify against a secret.
//!
//! The crate knows HTTP only through the `http` types; it never sees axum, SQL or storage.

pub mod sigv4;
