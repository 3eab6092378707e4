//! Finding the SigV4 auth of a request: the `Authorization` header or the presigned query.

use std::fmt;

use http::header::{AUTHORIZATION, DATE};
use http::HeaderMap;

use super::canonical::percent_decode;
use super::error::SigV4Error;
use super::time_fmt::{format_amz_date, parse_amz_date, parse_http_date};
use super::{ALGORITHM, MAX_PRESIGNED_EXPIRES_SECS, UNSIGNED_PAYLOAD};

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// The parts of a request that SigV4 signs, borrowed from wherever the caller holds them.
#[derive(Clone, Copy)]
pub struct SignedRequestParts<'a> {
    /// The method as received (`GET`, `POST`...).
    pub method: &'a str,
    /// The path as received, still percent-encoded (`/v2/team%2Fapp`), without the query.
    pub raw_path: &'a str,
    /// The query as received, without the `?`; empty when there is none.
    pub raw_query: &'a str,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The request authority when there is no `Host` header (HTTP/2 carries it in
    /// `:authority`); used for the signed `host` header only in that case.
    pub authority: Option<&'a str>,
}

impl<'a> SignedRequestParts<'a> {
    /// Parts from their pieces, with no separate authority.
    pub fn new(
        method: &'a str,
        raw_path: &'a str,
        raw_query: &'a str,
        headers: &'a HeaderMap,
    ) -> Self {
        Self {
            method,
            raw_path,
            raw_query,
            headers,
            authority: None,
        }
    }

    /// Parts of an `http` request head. `Uri::path` is the path as received, not decoded.
    pub fn from_http(parts: &'a http::request::Parts) -> Self {
        Self {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            authority: parts.uri.authority().map(|a| a.as_str()),
        }
    }
}

// Headers are left out on purpose: they hold the Authorization value and session tokens.
impl fmt::Debug for SignedRequestParts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequestParts")
            .field("method", &self.method)
            .field("raw_path", &self.raw_path)
            .field("headers", &self.headers.len())
            .finish_non_exhaustive()
    }
}

/// Where the signature was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthForm {
    /// `Authorization: AWS4-HMAC-SHA256 ...`.
    Header,
    /// `?X-Amz-Algorithm=AWS4-HMAC-SHA256&...&X-Amz-Signature=...`, valid for `expires_secs`
    /// after `X-Amz-Date`.
    Presigned {
        /// `X-Amz-Expires`, at most [`MAX_PRESIGNED_EXPIRES_SECS`].
        expires_secs: u32,
    },
}

/// The credential scope: `<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    date: String,
    region: String,
    service: String,
}

impl CredentialScope {
    /// `yyyymmdd` as the client wrote it (checked against `X-Amz-Date` by `verify`).
    pub fn date(&self) -> &str {
        &self.date
    }

    /// The region the client signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The signing name of the service (`ecr`, `iam`, `sts`).
    pub fn service(&self) -> &str {
        &self.service
    }
}

impl fmt::Display for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The SigV4 auth a request claims, not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct SigV4Auth {
    pub(crate) form: AuthForm,
    pub(crate) access_key_id: String,
    pub(crate) scope: CredentialScope,
    pub(crate) signed_headers: Vec<String>,
    pub(crate) signature: String,
    pub(crate) amz_date: String,
    pub(crate) timestamp: i64,
    pub(crate) session_token: Option<String>,
    pub(crate) content_sha256: Option<String>,
}

impl SigV4Auth {
    /// Header or presigned query.
    pub fn form(&self) -> AuthForm {
        self.form
    }

    /// The access key id of the credential (`AKIA...`/`ASIA...`), to look up.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Date, region and service of the credential.
    pub fn scope(&self) -> &CredentialScope {
        &self.scope
    }

    /// The signed header names exactly as the client listed them.
    pub fn signed_headers(&self) -> &[String] {
        &self.signed_headers
    }

    /// The signature as sent (64 lowercase hex digits from a correct client).
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The request time as it enters the string to sign: `X-Amz-Date`, or the `Date` header
    /// converted to `yyyymmddThhmmssZ`.
    pub fn amz_date(&self) -> &str {
        &self.amz_date
    }

    /// The request time in unix seconds.
    pub fn timestamp_unix(&self) -> i64 {
        self.timestamp
    }

    /// The session token (`X-Amz-Security-Token` header or query parameter) that the caller must
    /// match against the one issued with the access key. Whether it was signed does not matter:
    /// STS-issued tokens are accepted either way, as AWS does.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    /// `X-Amz-Expires` of a presigned request.
    pub fn presigned_expires_secs(&self) -> Option<u32> {
        match self.form {
            AuthForm::Presigned { expires_secs } => Some(expires_secs),
            AuthForm::Header => None,
        }
    }

    /// When a presigned request stops being valid, in unix seconds.
    pub fn expires_at_unix(&self) -> Option<i64> {
        self.presigned_expires_secs()
            .map(|e| self.timestamp.saturating_add(i64::from(e)))
    }

    /// The `x-amz-content-sha256` header, as sent.
    pub fn content_sha256(&self) -> Option<&str> {
        self.content_sha256.as_deref()
    }

    /// The payload hash the client claims to have signed: `x-amz-content-sha256`, or
    /// `UNSIGNED-PAYLOAD` for a presigned request without it (S3-style presigning), or `None`
    /// when the signature covers the body's real hash. botocore's presigner for non-S3 services
    /// signs the real body hash instead; [`super::verify`] accepts both for presigned requests.
    pub fn claimed_payload_hash(&self) -> Option<&str> {
        match (&self.content_sha256, self.form) {
            (Some(h), _) => Some(h),
            (None, AuthForm::Presigned { .. }) => Some(UNSIGNED_PAYLOAD),
            (None, AuthForm::Header) => None,
        }
    }

    /// Whether the client declared `x-amz-content-sha256: UNSIGNED-PAYLOAD`, so that a valid
    /// signature says nothing about the body. Callers that act on the body (query-protocol
    /// POSTs) may refuse such requests.
    pub fn payload_is_unsigned(&self) -> bool {
        self.content_sha256.as_deref() == Some(UNSIGNED_PAYLOAD)
    }

    /// For a caller that verified with no body hash (the body streamed after `verify`): the
    /// body read must hash to the signed `x-amz-content-sha256`, unless that is
    /// `UNSIGNED-PAYLOAD`. Without the header there is nothing to check here: `verify` already
    /// demanded the body hash.
    pub fn check_body_hash(&self, body_sha256_hex: &str) -> Result<(), SigV4Error> {
        match self.content_sha256.as_deref() {
            Some(claimed)
                if claimed != UNSIGNED_PAYLOAD
                    && !claimed.eq_ignore_ascii_case(body_sha256_hex) =>
            {
                Err(SigV4Error::PayloadHashMismatch)
            }
            _ => Ok(()),
        }
    }

    /// The `Authorization` header value this auth was parsed from, in the canonical spelling
    /// (`, ` separators). `None` for a presigned request.
    pub fn authorization_header(&self) -> Option<String> {
        match self.form {
            AuthForm::Header => Some(format!(
                "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={}",
                self.access_key_id,
                self.scope,
                self.signed_headers.join(";"),
                self.signature
            )),
            AuthForm::Presigned { .. } => None,
        }
    }
}

// The session token is a bearer credential: never print it.
impl fmt::Debug for SigV4Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Auth")
            .field("form", &self.form)
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope)
            .field("signed_headers", &self.signed_headers)
            .field("amz_date", &self.amz_date)
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .field("content_sha256", &self.content_sha256)
            .finish_non_exhaustive()
    }
}

/// Finds the SigV4 auth of a request.
///
/// Returns `Ok(None)` when the request carries none: no `Authorization` header starting with
/// `AWS4-HMAC-SHA256` and no `X-Amz-Algorithm`/`X-Amz-Credential`/`X-Amz-Signature` query
/// parameter (a `Basic` or `Bearer` header is someone else's business). Returns
/// [`SigV4Error::Incomplete`] when the auth is there but malformed, and
/// [`SigV4Error::InvalidScope`] when the credential's terminator is not `aws4_request`.
///
/// Parsing checks syntax only; [`super::verify`] checks dates, scope and signature.
pub fn parse(parts: &SignedRequestParts<'_>) -> Result<Option<SigV4Auth>, SigV4Error> {
    let mut authorizations = parts.headers.get_all(AUTHORIZATION).iter();
    let authorization = authorizations.next();
    let more_than_one = authorizations.next().is_some();
    let query_has_auth = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"]
        .iter()
        .any(|name| query_has(parts.raw_query, name));

    if let Some(value) = authorization {
        let bytes = value.as_bytes();
        if let Some(rest) = strip_algorithm(bytes) {
            if more_than_one {
                return Err(incomplete("Only one Authorization header is allowed."));
            }
            if query_has_auth {
                return Err(incomplete(
                    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter \
                     or the Authorization header should be specified",
                ));
            }
            // `strip_algorithm` matched ASCII, and a header value that is not visible ASCII
            // cannot hold a well-formed SigV4 authorization.
            let rest = std::str::from_utf8(rest)
                .map_err(|_| incomplete("Authorization header is not ASCII."))?;
            return parse_header_form(rest, parts).map(Some);
        }
        if bytes.starts_with(b"AWS4-") {
            return Err(incomplete(
                "Unsupported AWS 'algorithm': only 'AWS4-HMAC-SHA256' is supported",
            ));
        }
    }
    if query_has_auth {
        return parse_presigned(parts).map(Some);
    }
    Ok(None)
}

fn incomplete(message: impl Into<String>) -> SigV4Error {
    SigV4Error::Incomplete(message.into())
}

/// `AWS4-HMAC-SHA256` followed by whitespace or the end; what follows is returned.
fn strip_algorithm(value: &[u8]) -> Option<&[u8]> {
    let rest = value.strip_prefix(ALGORITHM.as_bytes())?;
    match rest.first() {
        None | Some(b' ' | b'\t') => Some(rest),
        Some(_) => None,
    }
}

fn parse_header_form(rest: &str, parts: &SignedRequestParts<'_>) -> Result<SigV4Auth, SigV4Error> {
    // AWS accepts the components separated by commas, spaces or both, in any order.
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for token in rest.split([',', ' ', '\t']).filter(|t| !t.is_empty()) {
        let Some((key, value)) = token.split_once('=') else {
            return Err(incomplete(format!(
                "'{token}' not a valid key=value pair (missing equal-sign) in Authorization header"
            )));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            // Unknown components are ignored, as AWS does.
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(incomplete(format!(
                "Authorization header has the '{key}' parameter more than once."
            )));
        }
    }

    let date = request_date(parts.headers)?;
    let mut missing = Vec::new();
    for (value, name) in [
        (credential, "Credential"),
        (signature, "Signature"),
        (signed_headers, "SignedHeaders"),
    ] {
        if value.is_none_or(str::is_empty) {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    if date.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .to_owned(),
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some((amz_date, timestamp))) =
        (credential, signed_headers, signature, date)
    else {
        return Err(incomplete(missing.join(" ")));
    };
    if !missing.is_empty() {
        return Err(incomplete(missing.join(" ")));
    }

    let (access_key_id, scope) = parse_credential(credential)?;
    Ok(SigV4Auth {
        form: AuthForm::Header,
        access_key_id,
        scope,
        signed_headers: parse_signed_headers(signed_headers)?,
        signature: signature.to_owned(),
        amz_date,
        timestamp,
        session_token: match header_str(parts.headers, X_AMZ_SECURITY_TOKEN)? {
            Some(token) => Some(token.to_owned()),
            None => query_param(parts.raw_query, "X-Amz-Security-Token")?,
        },
        content_sha256: header_str(parts.headers, X_AMZ_CONTENT_SHA256)?.map(str::to_owned),
    })
}

fn parse_presigned(parts: &SignedRequestParts<'_>) -> Result<SigV4Auth, SigV4Error> {
    let q = |name| query_param(parts.raw_query, name);
    let (algorithm, credential, signature, date, signed_headers, expires) = (
        q("X-Amz-Algorithm")?,
        q("X-Amz-Credential")?,
        q("X-Amz-Signature")?,
        q("X-Amz-Date")?,
        q("X-Amz-SignedHeaders")?,
        q("X-Amz-Expires")?,
    );
    let (
        Some(algorithm),
        Some(credential),
        Some(signature),
        Some(date),
        Some(signed_headers),
        Some(expires),
    ) = (
        algorithm,
        credential,
        signature,
        date,
        signed_headers,
        expires,
    )
    else {
        return Err(incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', \
             'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. \
             Re-examine the query-string parameters.",
        ));
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    if signature.is_empty() {
        return Err(incomplete("X-Amz-Signature must not be empty."));
    }
    let expires_secs = parse_expires(&expires)?;
    let timestamp = parse_amz_date(&date).ok_or_else(|| bad_amz_date(&date))?;
    let (access_key_id, scope) = parse_credential(&credential)?;
    Ok(SigV4Auth {
        form: AuthForm::Presigned { expires_secs },
        access_key_id,
        scope,
        signed_headers: parse_signed_headers(&signed_headers)?,
        signature,
        amz_date: date,
        timestamp,
        session_token: match q("X-Amz-Security-Token")? {
            Some(token) => Some(token),
            None => header_str(parts.headers, X_AMZ_SECURITY_TOKEN)?.map(str::to_owned),
        },
        content_sha256: header_str(parts.headers, X_AMZ_CONTENT_SHA256)?.map(str::to_owned),
    })
}

fn parse_expires(expires: &str) -> Result<u32, SigV4Error> {
    if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete("X-Amz-Expires should be a number"));
    }
    match expires.parse::<u32>() {
        Ok(e) if e <= MAX_PRESIGNED_EXPIRES_SECS => Ok(e),
        _ => Err(incomplete(
            "X-Amz-Expires must be less than a week (in seconds) that is, \
             the given X-Amz-Expires must be less than 604800 seconds",
        )),
    }
}

/// `AKID/yyyymmdd/region/service/aws4_request`.
fn parse_credential(credential: &str) -> Result<(String, CredentialScope), SigV4Error> {
    let elements: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = elements.as_slice() else {
        return Err(bad_credential(credential));
    };
    if [akid, date, region, service, terminator]
        .iter()
        .any(|e| e.is_empty())
    {
        return Err(bad_credential(credential));
    }
    if *terminator != "aws4_request" {
        return Err(SigV4Error::InvalidScope(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        )));
    }
    Ok((
        (*akid).to_owned(),
        CredentialScope {
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
        },
    ))
}

fn bad_credential(credential: &str) -> SigV4Error {
    incomplete(format!(
        "Credential must have exactly 5 slash-delimited elements, \
         e.g. keyid/date/region/service/term, got '{credential}'"
    ))
}

fn parse_signed_headers(list: &str) -> Result<Vec<String>, SigV4Error> {
    let names: Vec<String> = list.split(';').map(str::to_owned).collect();
    if names.iter().any(String::is_empty) {
        return Err(incomplete(format!(
            "SignedHeaders must be a ';'-separated list of header names, got '{list}'"
        )));
    }
    Ok(names)
}

fn bad_amz_date(value: &str) -> SigV4Error {
    incomplete(format!(
        "Date must be in ISO-8601 'basic format'. Got '{value}'. \
         See http://en.wikipedia.org/wiki/ISO_8601"
    ))
}

/// `X-Amz-Date`, else `Date`: the string-to-sign form and unix seconds; `None` when neither
/// header is there.
fn request_date(headers: &HeaderMap) -> Result<Option<(String, i64)>, SigV4Error> {
    if let Some(value) = header_str(headers, X_AMZ_DATE)? {
        let ts = parse_amz_date(value).ok_or_else(|| bad_amz_date(value))?;
        return Ok(Some((value.to_owned(), ts)));
    }
    if let Some(value) = header_str(headers, DATE.as_str())? {
        let ts = parse_http_date(value).ok_or_else(|| {
            incomplete(format!(
                "Date header must be an RFC 7231 IMF-fixdate. Got '{value}'."
            ))
        })?;
        return Ok(Some((format_amz_date(ts), ts)));
    }
    Ok(None)
}

/// The first value of a header, which must be visible ASCII when present.
fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, SigV4Error> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| incomplete(format!("The {name} header is not ASCII."))),
    }
}

fn query_pairs(raw_query: &str) -> impl Iterator<Item = (&str, &str)> {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

fn query_has(raw_query: &str, name: &str) -> bool {
    query_pairs(raw_query).any(|(k, _)| percent_decode(k) == name.as_bytes())
}

/// The decoded value of a query parameter; an error when it is given twice or is not UTF-8.
fn query_param(raw_query: &str, name: &str) -> Result<Option<String>, SigV4Error> {
    let mut found = None;
    for (k, v) in query_pairs(raw_query) {
        if percent_decode(k) != name.as_bytes() {
            continue;
        }
        let value = String::from_utf8(percent_decode(v))
            .map_err(|_| incomplete(format!("The {name} query parameter is not UTF-8.")))?;
        if found.replace(value).is_some() {
            return Err(incomplete(format!(
                "The {name} query parameter is given more than once."
            )));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn parse_with(h: &HeaderMap, query: &str) -> Result<Option<SigV4Auth>, SigV4Error> {
        parse(&SignedRequestParts::new("GET", "/", query, h))
    }

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKID/20240115/us-east-1/ecr/aws4_request, \
                        SignedHeaders=host;x-amz-date, Signature=abcd";

    #[test]
    fn no_auth_is_none() {
        assert_eq!(parse_with(&headers(&[]), "a=b"), Ok(None));
        let basic = headers(&[("authorization", "Basic QVdTOnBhc3M=")]);
        assert_eq!(parse_with(&basic, ""), Ok(None));
    }

    #[test]
    fn parses_header_form() {
        let h = headers(&[
            ("authorization", GOOD),
            ("x-amz-date", "20240115T120000Z"),
            ("x-amz-security-token", "TOKEN"),
        ]);
        let a = parse_with(&h, "").unwrap().unwrap();
        assert_eq!(a.access_key_id(), "AKID");
        assert_eq!(a.scope().to_string(), "20240115/us-east-1/ecr/aws4_request");
        assert_eq!(a.signed_headers(), ["host", "x-amz-date"]);
        assert_eq!(a.signature(), "abcd");
        assert_eq!(a.session_token(), Some("TOKEN"));
        assert_eq!(a.timestamp_unix(), 1_705_320_000);
        assert_eq!(a.claimed_payload_hash(), None);
        assert_eq!(
            a.authorization_header().unwrap(),
            GOOD.replace("                        ", "")
        );
        assert!(!format!("{a:?}").contains("TOKEN"));
    }

    #[test]
    fn tolerates_missing_commas_and_extra_spaces() {
        let h = headers(&[
            (
                "authorization",
                "AWS4-HMAC-SHA256   Signature=abcd SignedHeaders=host,,Credential=AKID/20240115/us-east-1/ecr/aws4_request ",
            ),
            ("x-amz-date", "20240115T120000Z"),
        ]);
        let a = parse_with(&h, "").unwrap().unwrap();
        assert_eq!(a.signed_headers(), ["host"]);
    }

    #[test]
    fn falls_back_to_date_header() {
        let h = headers(&[
            ("authorization", GOOD),
            ("date", "Mon, 15 Jan 2024 12:00:00 GMT"),
        ]);
        let a = parse_with(&h, "").unwrap().unwrap();
        assert_eq!(a.amz_date(), "20240115T120000Z");
    }

    #[test]
    fn rejects_missing_parts_with_aws_messages() {
        let h = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20240115/us-east-1/ecr/aws4_request",
        )]);
        let err = parse_with(&h, "").unwrap_err();
        assert_eq!(err.aws_code(), "IncompleteSignatureException");
        assert_eq!(
            err.to_string(),
            "Authorization header requires 'Signature' parameter. Authorization header requires \
             'SignedHeaders' parameter. Authorization header requires existence of either a \
             'X-Amz-Date' or a 'Date' header."
        );
    }

    #[test]
    fn rejects_bad_credential() {
        let h = headers(&[
            ("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240115/ecr/aws4_request, SignedHeaders=host, Signature=ab"),
            ("x-amz-date", "20240115T120000Z"),
        ]);
        assert!(matches!(parse_with(&h, ""), Err(SigV4Error::Incomplete(_))));
        let h = headers(&[
            ("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240115/us-east-1/ecr/aws5_request, SignedHeaders=host, Signature=ab"),
            ("x-amz-date", "20240115T120000Z"),
        ]);
        assert!(matches!(
            parse_with(&h, ""),
            Err(SigV4Error::InvalidScope(_))
        ));
    }

    #[test]
    fn rejects_sigv4a_and_double_auth() {
        let h = headers(&[("authorization", "AWS4-ECDSA-P256-SHA256 Credential=x")]);
        assert!(matches!(parse_with(&h, ""), Err(SigV4Error::Incomplete(_))));
        let h = headers(&[("authorization", GOOD), ("x-amz-date", "20240115T120000Z")]);
        assert!(parse_with(&h, "X-Amz-Signature=ab").is_err());
    }

    #[test]
    fn parses_presigned_form() {
        let q = "Action=ListUsers&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=AKID%2F20240115%2Fus-east-1%2Fiam%2Faws4_request\
                 &X-Amz-Date=20240115T120000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host\
                 &X-Amz-Security-Token=a%2Bb&X-Amz-Signature=abcd";
        let a = parse_with(&headers(&[]), q).unwrap().unwrap();
        assert_eq!(a.form(), AuthForm::Presigned { expires_secs: 300 });
        assert_eq!(a.session_token(), Some("a+b"));
        assert_eq!(a.expires_at_unix(), Some(1_705_320_300));
        assert_eq!(a.claimed_payload_hash(), Some(UNSIGNED_PAYLOAD));
        assert_eq!(a.authorization_header(), None);
    }

    #[test]
    fn rejects_presigned_lifetime_over_a_week() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=AKID%2F20240115%2Fus-east-1%2Fiam%2Faws4_request\
                 &X-Amz-Date=20240115T120000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host\
                 &X-Amz-Signature=abcd";
        let err = parse_with(&headers(&[]), q).unwrap_err();
        assert!(err.to_string().contains("604800"), "{err}");
    }

    #[test]
    fn rejects_presigned_with_missing_parameter() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abcd";
        let err = parse_with(&headers(&[]), q).unwrap_err();
        assert_eq!(
            err.aws_code_for(crate::sigv4::Protocol::Query),
            "IncompleteSignature"
        );
    }
}
