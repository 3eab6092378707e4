//! Checking a parsed [`SigV4Auth`] against the request and a secret.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::canonical::{canonical_request, canonical_request_without_token, string_to_sign};
use super::error::SigV4Error;
use super::parse::{AuthForm, SigV4Auth, SignedRequestParts};
use super::time_fmt::format_amz_date;
use super::{EMPTY_SHA256, MAX_CLOCK_SKEW_SECS, UNSIGNED_PAYLOAD};

type HmacSha256 = Hmac<Sha256>;

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().into()
        }
        // HMAC takes keys of any length (long ones are hashed first), so this arm is never
        // taken; it exists only because the trait's constructor is fallible in general.
        Err(_) => [0; 32],
    }
}

/// The key that signs every request of one secret, date, region and service.
///
/// It changes once a day per credential, so callers may cache it keyed on
/// `(access key id, scope)` and call [`verify_with_key`]. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    /// The raw key (the `kSigning` of the spec).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Hex signature of `string_to_sign` under this key.
    pub fn sign(&self, string_to_sign: &str) -> String {
        hex::encode(hmac_sha256(&self.0, string_to_sign.as_bytes()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
/// `date` is the scope's `yyyymmdd`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> SigningKey {
    let mut secret = Vec::with_capacity(4 + secret_access_key.len());
    secret.extend_from_slice(b"AWS4");
    secret.extend_from_slice(secret_access_key.as_bytes());
    let k_date = hmac_sha256(&secret, date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    SigningKey(hmac_sha256(&k_service, b"aws4_request"))
}

/// Verifies `auth` (from [`super::parse`] on the same `parts`) with the credential's secret.
///
/// - `body_sha256_hex`: lowercase hex SHA-256 of the body received ([`super::sha256_hex`]).
///   It may be `None` when the client sent `x-amz-content-sha256`: the signature then covers
///   that claim, and a caller that streams the body must compare the claim with the body's
///   hash when it has read it ([`SigV4Auth::check_body_hash`]). Without the header the
///   signature covers the body itself, and `None` fails with [`SigV4Error::BodyHashRequired`]
///   (except for a presigned request, checked against `UNSIGNED-PAYLOAD`).
/// - `now_unix`: the server clock.
/// - `expected_service`: the signing name this endpoint answers to (`ecr`, `iam`, `sts`).
///
/// Checks, in order: the scope's service and date, that `host` is signed, the clock (15
/// minutes either way for the header form; `X-Amz-Date + X-Amz-Expires` and 15 minutes into
/// the future for the presigned form), the signature (constant time), and the claimed payload
/// hash against the body's. The access key and session token are the caller's to check.
pub fn verify(
    auth: &SigV4Auth,
    parts: &SignedRequestParts<'_>,
    body_sha256_hex: Option<&str>,
    secret_access_key: &str,
    now_unix: i64,
    expected_service: &str,
) -> Result<(), SigV4Error> {
    check_claims(auth, now_unix, expected_service)?;
    let scope = auth.scope();
    let key = signing_key(
        secret_access_key,
        scope.date(),
        scope.region(),
        scope.service(),
    );
    check_signature(auth, parts, body_sha256_hex, &key)
}

/// [`verify`] with a signing key the caller cached. The key must be
/// `signing_key(secret, auth.scope().date(), auth.scope().region(), auth.scope().service())`.
pub fn verify_with_key(
    auth: &SigV4Auth,
    parts: &SignedRequestParts<'_>,
    body_sha256_hex: Option<&str>,
    key: &SigningKey,
    now_unix: i64,
    expected_service: &str,
) -> Result<(), SigV4Error> {
    check_claims(auth, now_unix, expected_service)?;
    check_signature(auth, parts, body_sha256_hex, key)
}

/// Everything that needs no secret: scope, signed `host`, clock.
fn check_claims(auth: &SigV4Auth, now: i64, expected_service: &str) -> Result<(), SigV4Error> {
    let scope = auth.scope();
    if scope.service() != expected_service {
        return Err(SigV4Error::InvalidScope(format!(
            "Credential should be scoped to correct service: '{expected_service}'. "
        )));
    }
    let request_date = auth.amz_date().get(..8).unwrap_or_default();
    if scope.date() != request_date {
        return Err(SigV4Error::InvalidScope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{}' != '{request_date}', from '{}'.",
            scope.date(),
            auth.amz_date()
        )));
    }
    if !auth
        .signed_headers()
        .iter()
        .any(|h| h.eq_ignore_ascii_case("host"))
    {
        return Err(SigV4Error::Incomplete(
            "'Host' must be a signed header.".to_owned(),
        ));
    }

    let ts = auth.timestamp_unix();
    if ts > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
        return Err(SigV4Error::SignatureNotYetCurrent {
            request_time: auth.amz_date().to_owned(),
            latest: format_amz_date(now.saturating_add(MAX_CLOCK_SKEW_SECS)),
            now: format_amz_date(now),
        });
    }
    match auth.form() {
        AuthForm::Header => {
            if ts < now.saturating_sub(MAX_CLOCK_SKEW_SECS) {
                return Err(SigV4Error::SignatureExpired {
                    request_time: auth.amz_date().to_owned(),
                    earliest: format_amz_date(now.saturating_sub(MAX_CLOCK_SKEW_SECS)),
                    now: format_amz_date(now),
                });
            }
        }
        AuthForm::Presigned { expires_secs } => {
            if now > ts.saturating_add(i64::from(expires_secs)) {
                return Err(SigV4Error::PresignedExpired);
            }
        }
    }
    Ok(())
}

fn check_signature(
    auth: &SigV4Auth,
    parts: &SignedRequestParts<'_>,
    body: Option<&str>,
    key: &SigningKey,
) -> Result<(), SigV4Error> {
    // The payload line of the canonical request. At most two candidates: a non-S3 presigned
    // request is signed over the body's hash by botocore and the CRT signers, but over
    // UNSIGNED-PAYLOAD by S3-style presigners; the latter is only believed for an empty or
    // unknown body, so that a presigned URL cannot carry a body its signer never saw.
    let candidates: [Option<&str>; 2] = match (auth.content_sha256(), auth.form(), body) {
        (Some(claimed), _, _) => [Some(claimed), None],
        (None, AuthForm::Header, Some(body)) => [Some(body), None],
        (None, AuthForm::Header, None) => return Err(SigV4Error::BodyHashRequired),
        (None, AuthForm::Presigned { .. }, Some(body)) if body == EMPTY_SHA256 => {
            [Some(body), Some(UNSIGNED_PAYLOAD)]
        }
        (None, AuthForm::Presigned { .. }, Some(body)) => [Some(body), None],
        (None, AuthForm::Presigned { .. }, None) => [Some(UNSIGNED_PAYLOAD), None],
    };
    let matches = |creq: &[u8]| {
        let expected = key.sign(&string_to_sign(auth, creq));
        bool::from(expected.as_bytes().ct_eq(auth.signature().as_bytes()))
    };
    // A presigned query may carry a session token its signer added after signing (the CRT's
    // "omit session token" mode). Accepting that unsigned token gives nothing away: the caller
    // still checks the token against the access key, as it does for an unsigned header token.
    let token_in_query = matches!(auth.form(), AuthForm::Presigned { .. })
        && parts.raw_query.contains("X-Amz-Security-Token");
    let matched = candidates.iter().flatten().any(|payload_hash| {
        matches(&canonical_request(auth, parts, payload_hash))
            || token_in_query
                && matches(&canonical_request_without_token(auth, parts, payload_hash))
    });
    if !matched {
        return Err(SigV4Error::SignatureMismatch);
    }

    // The signature is good; now hold the client to the payload hash it signed.
    match body {
        Some(body) => auth.check_body_hash(body),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_matches_spec_vector() {
        // ecr-api.md 3.3.
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20240115",
            "us-east-1",
            "ecr",
        );
        assert_eq!(
            hex::encode(key.as_bytes()),
            "17db6c3c8936cbb5ddb27a77e8333a6d6cac1db5ef78ec7ed673a699d2e60db9"
        );
        assert_eq!(format!("{key:?}"), "SigningKey(***)");
    }
}
