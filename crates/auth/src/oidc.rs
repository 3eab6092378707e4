//! Web identity tokens (OIDC ID tokens, as CI systems mint them): verified against the keys of
//! the provider registered for their issuer, for `AssumeRoleWithWebIdentity`. Pure: fetching
//! the provider's JWKS is the caller's, so this module can be property-tested and fuzzed.
//!
//! Only RS256 and ES256 are accepted: `none` and the HMAC algorithms would let anyone who knows
//! (or guesses) a client id mint tokens, so they are refused before any key is looked at. The
//! signature is checked by `jsonwebtoken`; the time, issuer and audience checks are done here,
//! against an injected clock, so a small configurable skew applies the same way to all three
//! time claims.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// Why a token was refused. [`OidcError::sts_code`] names the STS error an SDK expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("the web identity token is malformed: {0}")]
    Malformed(String),
    #[error(
        "the web identity token is signed with {0}, which is not accepted (RS256 or ES256 only)"
    )]
    UnsupportedAlgorithm(String),
    #[error("the web identity token names key `{0}`, which the provider does not publish")]
    UnknownKey(String),
    #[error("the web identity token's signature does not verify")]
    BadSignature,
    #[error("the web identity token has expired")]
    Expired,
    #[error("the web identity token is not valid yet")]
    NotYetValid,
    #[error("the web identity token was issued in the future")]
    IssuedInFuture,
    #[error("the web identity token's issuer `{0}` is not the provider's")]
    WrongIssuer(String),
    #[error("the web identity token's audience is not a client id of the provider")]
    WrongAudience,
}

impl OidcError {
    /// The STS error code for this refusal, as `AssumeRoleWithWebIdentity` answers it.
    pub fn sts_code(&self) -> &'static str {
        match self {
            OidcError::Expired => "ExpiredTokenException",
            OidcError::WrongAudience => "IDPRejectedClaim",
            _ => "InvalidIdentityToken",
        }
    }
}

/// What a token is checked against.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The provider's URL, exactly as registered (`https://token.actions.githubusercontent.com`).
    pub issuer: &'a str,
    /// The provider's client ids; the token's `aud` must name one.
    pub client_ids: &'a [String],
    /// Unix seconds now.
    pub now: i64,
    /// Seconds of clock difference tolerated on `exp`, `nbf` and `iat`.
    pub skew: i64,
}

/// A verified token's claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub claims: Map<String, Value>,
    /// The key that signed it.
    pub kid: Option<String>,
}

impl Verified {
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// The audiences (`aud` is a string or a list of strings).
    pub fn audiences(&self) -> Vec<&str> {
        string_or_list(self.claims.get("aud"))
    }
}

fn string_or_list(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The key id and algorithm a token's header names, before any key is fetched: an unknown
/// `kid` may mean the provider rotated its keys, which the caller refetches for.
pub fn header(token: &str) -> Result<(Option<String>, Algorithm), OidcError> {
    let h = jsonwebtoken::decode_header(token).map_err(|e| OidcError::Malformed(e.to_string()))?;
    match h.alg {
        Algorithm::RS256 | Algorithm::ES256 => Ok((h.kid, h.alg)),
        other => Err(OidcError::UnsupportedAlgorithm(format!("{other:?}"))),
    }
}

/// Verifies `token` against the provider's published `keys` and what is `expected` of it.
pub fn verify(token: &str, keys: &JwkSet, expected: &Expected<'_>) -> Result<Verified, OidcError> {
    // `alg: none` fails to parse as a jsonwebtoken header at all; the HMAC ones are refused
    // here, whatever keys the set holds.
    if token_alg_is_none(token) {
        return Err(OidcError::UnsupportedAlgorithm("none".into()));
    }
    let (kid, alg) = header(token)?;
    let jwk = match &kid {
        Some(k) => keys
            .find(k)
            .ok_or_else(|| OidcError::UnknownKey(k.clone()))?,
        // Without a kid, only a set of one key is unambiguous.
        None if keys.keys.len() == 1 => &keys.keys[0],
        None => return Err(OidcError::UnknownKey("(none given)".into())),
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| OidcError::Malformed(format!("key: {e}")))?;
    let mut validation = Validation::new(alg);
    // Checked below against the injected clock and the provider's settings.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(
        |e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => OidcError::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                OidcError::UnsupportedAlgorithm(format!("{alg:?} with this key"))
            }
            _ => OidcError::Malformed(e.to_string()),
        },
    )?;
    let claims = data.claims;
    let time = |name: &str| -> Result<Option<i64>, OidcError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| OidcError::Malformed(format!("`{name}` is not a number"))),
        }
    };
    let exp = time("exp")?.ok_or_else(|| OidcError::Malformed("`exp` is required".into()))?;
    if expected.now >= exp.saturating_add(expected.skew) {
        return Err(OidcError::Expired);
    }
    if let Some(nbf) = time("nbf")? {
        if expected.now < nbf.saturating_sub(expected.skew) {
            return Err(OidcError::NotYetValid);
        }
    }
    if let Some(iat) = time("iat")? {
        if iat > expected.now.saturating_add(expected.skew) {
            return Err(OidcError::IssuedInFuture);
        }
    }
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iss.trim_end_matches('/') != expected.issuer.trim_end_matches('/') {
        return Err(OidcError::WrongIssuer(iss.to_owned()));
    }
    let verified = Verified { claims, kid };
    if !verified
        .audiences()
        .iter()
        .any(|a| expected.client_ids.iter().any(|c| c == a))
    {
        return Err(OidcError::WrongAudience);
    }
    Ok(verified)
}

fn token_alg_is_none(token: &str) -> bool {
    use base64::Engine;
    let Some(head) = token.split('.').next() else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head) else {
        return false;
    };
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_owned))
        .is_some_and(|a| a.eq_ignore_ascii_case("none"))
}

/// A provider URL as IAM names the provider and its condition keys: without its scheme and
/// trailing slash (`https://token.actions.githubusercontent.com/` ->
/// `token.actions.githubusercontent.com`, `http://127.0.0.1:8080` -> `127.0.0.1:8080`).
pub fn provider_name(url: &str) -> &str {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.trim_end_matches('/')
}

/// The condition keys a verified token sets, named as IAM names them: the provider's name, a
/// colon, the claim (`token.actions.githubusercontent.com:sub`). IAM's documented OIDC keys:
/// `aud`, `azp`, `amr`, `email`, `sub`. With an `azp` claim, `aud` carries it, as IAM does.
pub fn condition_keys(provider_url: &str, token: &Verified) -> Vec<(String, Vec<String>)> {
    let name = provider_name(provider_url);
    let mut out = Vec::new();
    for claim in ["sub", "amr", "email", "azp"] {
        let values: Vec<String> = string_or_list(token.claims.get(claim))
            .into_iter()
            .map(str::to_owned)
            .collect();
        if !values.is_empty() {
            out.push((format!("{name}:{claim}"), values));
        }
    }
    let aud: Vec<String> = match token.claims.get("azp").and_then(Value::as_str) {
        Some(azp) => vec![azp.to_owned()],
        None => token.audiences().into_iter().map(str::to_owned).collect(),
    };
    if !aud.is_empty() {
        out.push((format!("{name}:aud"), aud));
    }
    out
}

/// The fuzz target's body (`fuzz/fuzz_targets/oidc_token.rs`), also run over its seed corpus
/// by `tests/oidc_corpus.rs`: untrusted bytes as a token, and as a key set, never panic, and a
/// token never verifies against keys it was not signed with.
pub fn check_untrusted(data: &[u8]) {
    const KEYS: &str = include_str!("oidc/testdata/jwks.json");
    let Ok(keys) = serde_json::from_str::<JwkSet>(KEYS) else {
        return;
    };
    let expected = Expected {
        issuer: "http://127.0.0.1:8080",
        client_ids: &[],
        now: 1_800_000_000,
        skew: 60,
    };
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = header(text);
        // No client id is registered, so nothing may verify, whatever the bytes.
        assert!(verify(text, &keys, &expected).is_err());
    }
    if let Ok(set) = serde_json::from_slice::<JwkSet>(data) {
        for k in &set.keys {
            let _ = DecodingKey::from_jwk(k);
        }
    }
}

#[cfg(test)]
mod tests;
