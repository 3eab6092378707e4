//! Authentication and authorization of one request.
//!
//! - [`sigv4`]: AWS Signature Version 4, pure: parse the `Authorization` header or presigned
//!   query, rebuild the canonical request exactly as AWS does, verify against a secret.
//! - [`token`]: the registry tokens GetAuthorizationToken issues and `/v2/` accepts.
//! - [`oidc`]: web identity tokens verified against their provider's published keys, pure.
//! - [`authorize`]: one decision, from the caller, the action, the target and the facts of
//!   the request, with the explanation the 403 and the audit log carry.
//!
//! The crate knows HTTP only through the `http` types; it never sees axum, SQL or storage.

pub mod authorize;
pub mod oidc;
pub mod sigv4;
pub mod token;

pub use authorize::{authorize, Caller, Facts, Outcome, Target};
pub use token::{DownloadGrant, TokenClaims, TokenError, TokenSigner, TOKEN_TTL_SECS};
