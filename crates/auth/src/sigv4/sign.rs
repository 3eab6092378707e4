//! A small SigV4 signer, for clients and tests only: Portcullis's own test tooling signs its
//! requests with it. The server never signs anything; it only verifies.

use http::header::{HeaderValue, InvalidHeaderValue, AUTHORIZATION};
use http::HeaderMap;

use super::canonical::{build, string_to_sign_parts, uri_encode, CanonicalInput};
use super::time_fmt::format_amz_date;
use super::verify::signing_key;
use super::ALGORITHM;

/// Who signs, for what, and when.
#[derive(Clone, Copy)]
pub struct SigningParams<'a> {
    /// Access key id.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a str,
    /// Session token of temporary credentials.
    pub session_token: Option<&'a str>,
    /// Region of the credential scope.
    pub region: &'a str,
    /// Signing name of the service (`ecr`, `iam`, `sts`).
    pub service: &'a str,
    /// Signing time, unix seconds.
    pub time_unix: i64,
}

// Headers an intermediary may add or change, which botocore never signs.
const UNSIGNED_HEADERS: [&str; 6] = [
    "authorization",
    "user-agent",
    "expect",
    "x-amzn-trace-id",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
];

fn headers_to_sign(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| !UNSIGNED_HEADERS.contains(&k.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Signs a request in the header form, as botocore's `SigV4Auth` does: sets `X-Amz-Date` (and
/// `X-Amz-Security-Token` with a session token) in `headers`, signs every header in `headers`
/// but `User-Agent`, `Expect` and the like, sets `Authorization` and returns its value.
///
/// `headers` must hold `Host`. `raw_path` and `raw_query` are what will be sent (already
/// percent-encoded); `payload_sha256_hex` is the body's hash ([`super::sha256_hex`]) or
/// `UNSIGNED-PAYLOAD` together with an `x-amz-content-sha256: UNSIGNED-PAYLOAD` header.
///
/// For clients and tests only.
pub fn sign(
    params: &SigningParams<'_>,
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &mut HeaderMap,
    payload_sha256_hex: &str,
) -> Result<String, InvalidHeaderValue> {
    let amz_date = format_amz_date(params.time_unix);
    headers.insert("x-amz-date", HeaderValue::from_str(&amz_date)?);
    if let Some(token) = params.session_token {
        headers.insert("x-amz-security-token", HeaderValue::from_str(token)?);
    }
    let signed_headers = headers_to_sign(headers);
    let scope = scope(params, &amz_date);
    let creq = build(&CanonicalInput {
        method,
        raw_path,
        raw_query,
        drop_signature: false,
        drop_token: false,
        headers,
        authority: None,
        signed_headers: &signed_headers,
        payload_hash: payload_sha256_hex,
    });
    let signature =
        key_for(params, &amz_date).sign(&string_to_sign_parts(&amz_date, &scope, &creq));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        params.access_key_id,
        signed_headers.join(";"),
    );
    headers.insert(AUTHORIZATION, HeaderValue::from_str(&authorization)?);
    Ok(authorization)
}

/// Presigns a request: returns the query string to send (the given `raw_query` followed by the
/// `X-Amz-*` parameters and `X-Amz-Signature`). Every header in `headers` but `User-Agent`,
/// `Expect` and the like is signed, and must be sent as is; `headers` must hold `Host`.
/// `payload_sha256_hex` is the body's hash, or `UNSIGNED-PAYLOAD` for an S3-style presign.
///
/// For clients and tests only.
pub fn presign(
    params: &SigningParams<'_>,
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    expires_secs: u32,
    payload_sha256_hex: &str,
) -> String {
    let amz_date = format_amz_date(params.time_unix);
    let signed_headers = headers_to_sign(headers);
    let scope = scope(params, &amz_date);
    let mut query = String::from(raw_query);
    let mut add = |name: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&uri_encode(value.as_bytes(), false));
    };
    add("X-Amz-Algorithm", ALGORITHM);
    add(
        "X-Amz-Credential",
        &format!("{}/{scope}", params.access_key_id),
    );
    add("X-Amz-Date", &amz_date);
    add("X-Amz-Expires", &expires_secs.to_string());
    add("X-Amz-SignedHeaders", &signed_headers.join(";"));
    if let Some(token) = params.session_token {
        add("X-Amz-Security-Token", token);
    }
    let creq = build(&CanonicalInput {
        method,
        raw_path,
        raw_query: &query,
        drop_signature: true,
        drop_token: false,
        headers,
        authority: None,
        signed_headers: &signed_headers,
        payload_hash: payload_sha256_hex,
    });
    let signature =
        key_for(params, &amz_date).sign(&string_to_sign_parts(&amz_date, &scope, &creq));
    query.push_str("&X-Amz-Signature=");
    query.push_str(&signature);
    query
}

fn scope(params: &SigningParams<'_>, amz_date: &str) -> String {
    format!(
        "{}/{}/{}/aws4_request",
        amz_date.get(..8).unwrap_or_default(),
        params.region,
        params.service
    )
}

fn key_for(params: &SigningParams<'_>, amz_date: &str) -> super::SigningKey {
    signing_key(
        params.secret_access_key,
        amz_date.get(..8).unwrap_or_default(),
        params.region,
        params.service,
    )
}
