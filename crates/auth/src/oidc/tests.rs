//! Tokens signed here with keys generated for these tests (testdata/, never used elsewhere).

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use super::*;

const RSA_1: &str = include_str!("testdata/rsa-1.pem");
const RSA_2: &str = include_str!("testdata/rsa-2.pem");
const EC_1: &str = include_str!("testdata/ec-1.pem");
const ISSUER: &str = "http://127.0.0.1:8080";
const NOW: i64 = 1_800_000_000;

fn keys() -> JwkSet {
    serde_json::from_str(include_str!("testdata/jwks.json")).unwrap()
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "repo:team/app:ref:refs/heads/main",
        "aud": "sts.amazonaws.com",
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 300,
    })
}

fn sign(alg: Algorithm, kid: Option<&str>, pem: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    };
    encode(&header, claims, &key).unwrap()
}

fn expected(client_ids: &[String]) -> Expected<'_> {
    Expected {
        issuer: ISSUER,
        client_ids,
        now: NOW,
        skew: 60,
    }
}

fn ids() -> Vec<String> {
    vec!["sts.amazonaws.com".into()]
}

#[test]
fn rs256_and_es256_tokens_of_the_provider_verify() {
    let ids = ids();
    for (alg, kid, pem) in [
        (Algorithm::RS256, "rsa-1", RSA_1),
        (Algorithm::ES256, "ec-1", EC_1),
    ] {
        let token = sign(alg, Some(kid), pem, &claims());
        let v = verify(&token, &keys(), &expected(&ids)).unwrap();
        assert_eq!(v.subject(), Some("repo:team/app:ref:refs/heads/main"));
        assert_eq!(v.kid.as_deref(), Some(kid));
    }
}

#[test]
fn every_refusal_says_why_with_the_sts_code_an_sdk_expects() {
    let ids = ids();
    let e = expected(&ids);
    let mut expired = claims();
    expired["exp"] = json!(NOW - 61);
    let mut early = claims();
    early["nbf"] = json!(NOW + 120);
    let mut future = claims();
    future["iat"] = json!(NOW + 120);
    let mut other_issuer = claims();
    other_issuer["iss"] = json!("https://elsewhere.example");
    let mut other_aud = claims();
    other_aud["aud"] = json!(["something-else"]);
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let cases: Vec<(String, OidcError, &str)> = vec![
        (
            sign(Algorithm::RS256, Some("rsa-1"), RSA_1, &expired),
            OidcError::Expired,
            "ExpiredTokenException",
        ),
        (
            sign(Algorithm::RS256, Some("rsa-1"), RSA_1, &early),
            OidcError::NotYetValid,
            "InvalidIdentityToken",
        ),
        (
            sign(Algorithm::RS256, Some("rsa-1"), RSA_1, &future),
            OidcError::IssuedInFuture,
            "InvalidIdentityToken",
        ),
        (
            sign(Algorithm::RS256, Some("rsa-1"), RSA_1, &other_issuer),
            OidcError::WrongIssuer("https://elsewhere.example".into()),
            "InvalidIdentityToken",
        ),
        (
            sign(Algorithm::RS256, Some("rsa-1"), RSA_1, &other_aud),
            OidcError::WrongAudience,
            "IDPRejectedClaim",
        ),
        (
            sign(Algorithm::RS256, Some("rsa-1"), RSA_1, &no_exp),
            OidcError::Malformed("`exp` is required".into()),
            "InvalidIdentityToken",
        ),
        // Signed by a key the provider does not publish, under a published kid.
        (
            sign(Algorithm::RS256, Some("rsa-1"), RSA_2, &claims()),
            OidcError::BadSignature,
            "InvalidIdentityToken",
        ),
        (
            sign(Algorithm::RS256, Some("rsa-2"), RSA_2, &claims()),
            OidcError::UnknownKey("rsa-2".into()),
            "InvalidIdentityToken",
        ),
    ];
    for (token, error, code) in cases {
        let got = verify(&token, &keys(), &e).unwrap_err();
        assert_eq!(got, error);
        assert_eq!(got.sts_code(), code);
    }
    // Within the skew, the time claims still pass.
    let mut late = claims();
    late["exp"] = json!(NOW - 30);
    assert!(verify(
        &sign(Algorithm::RS256, Some("rsa-1"), RSA_1, &late),
        &keys(),
        &e
    )
    .is_ok());
}

#[test]
fn none_and_hmac_are_refused_whatever_the_keys() {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "rsa-1"})),
        b64(&claims())
    );
    let ids = ids();
    assert_eq!(
        verify(&unsigned, &keys(), &expected(&ids)).unwrap_err(),
        OidcError::UnsupportedAlgorithm("none".into())
    );
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let hmac = encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(b"sts.amazonaws.com"),
    )
    .unwrap();
    assert!(matches!(
        verify(&hmac, &keys(), &expected(&ids)).unwrap_err(),
        OidcError::UnsupportedAlgorithm(_)
    ));
    // An RS256 header over an EC key is not a way in either.
    let confused = sign(Algorithm::RS256, Some("ec-1"), RSA_1, &claims());
    assert!(verify(&confused, &keys(), &expected(&ids)).is_err());
}

#[test]
fn without_a_kid_only_a_single_key_set_is_used() {
    let ids = ids();
    let token = sign(Algorithm::RS256, None, RSA_1, &claims());
    assert_eq!(
        verify(&token, &keys(), &expected(&ids)).unwrap_err(),
        OidcError::UnknownKey("(none given)".into())
    );
    let one: Jwk = keys().keys[0].clone();
    let single = JwkSet { keys: vec![one] };
    assert!(verify(&token, &single, &expected(&ids)).is_ok());
}

#[test]
fn condition_keys_are_named_after_the_provider() {
    let ids = ids();
    let mut c = claims();
    c["amr"] = json!(["pwd", "mfa"]);
    let v = verify(
        &sign(Algorithm::ES256, Some("ec-1"), EC_1, &c),
        &keys(),
        &expected(&ids),
    )
    .unwrap();
    let keys = condition_keys("http://127.0.0.1:8080/", &v);
    assert!(keys.contains(&(
        "127.0.0.1:8080:sub".into(),
        vec!["repo:team/app:ref:refs/heads/main".into()]
    )));
    assert!(keys.contains(&(
        "127.0.0.1:8080:aud".into(),
        vec!["sts.amazonaws.com".into()]
    )));
    assert!(keys.contains(&(
        "127.0.0.1:8080:amr".into(),
        vec!["pwd".into(), "mfa".into()]
    )));
    assert_eq!(
        provider_name("https://token.actions.githubusercontent.com"),
        "token.actions.githubusercontent.com"
    );
}

proptest::proptest! {
    /// Arbitrary text never panics and never verifies.
    #[test]
    fn arbitrary_tokens_are_refused(text in ".{0,300}") {
        let ids = ids();
        proptest::prop_assert!(verify(&text, &keys(), &expected(&ids)).is_err());
    }

    /// Flipping any one character of a good token's payload or signature breaks it.
    #[test]
    fn a_tampered_token_is_refused(at in 0usize..400, with in proptest::char::range('A', 'z')) {
        let ids = ids();
        let token = sign(Algorithm::RS256, Some("rsa-1"), RSA_1, &claims());
        let start = token.find('.').unwrap() + 1;
        let at = start + at % (token.len() - start);
        let mut bytes = token.clone().into_bytes();
        if bytes[at] == b'.' || bytes[at] == with as u8 {
            return Ok(());
        }
        bytes[at] = with as u8;
        let tampered = String::from_utf8(bytes).unwrap();
        proptest::prop_assert!(verify(&tampered, &keys(), &expected(&ids)).is_err());
    }
}
