//! Fuzz bodies: each takes arbitrary bytes and panics when an invariant breaks. The cargo-fuzz
//! target `fuzz/fuzz_targets/sigv4_parse.rs` calls them, and so does an ordinary test over the
//! seed corpus in `crates/auth/tests/corpus/sigv4/`, so the checks run on stable too.

use http::header::{HeaderValue, AUTHORIZATION};
use http::HeaderMap;

use super::canonical::percent_decode;
use super::{
    parse, presign, sign, verify, AuthForm, SignedRequestParts, SigningParams, EMPTY_SHA256,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Reads `data` as lines: `Authorization` value, raw query, raw path, `X-Amz-Date`, then the
/// value of a signed header `x-fuzz`. Checks that:
/// - `parse` never panics, and a parsed header-form auth renders to an `Authorization` value
///   that parses back to the same auth;
/// - `verify` never panics on whatever `parse` accepted;
/// - a request with this path, query and header, signed by `sign` (and by `presign`), verifies.
#[expect(
    clippy::panic,
    reason = "a fuzz body reports a broken invariant by panicking"
)]
pub fn sigv4_parse(data: &[u8]) {
    let mut lines = data.split(|&b| b == b'\n');
    let authorization = lines.next().unwrap_or_default();
    let raw_query = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let raw_path = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let amz_date = lines.next().unwrap_or_default();
    let extra = lines.next().unwrap_or_default();

    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:5000"));
    if let Ok(v) = HeaderValue::from_bytes(amz_date) {
        headers.insert("x-amz-date", v);
    }
    let extra = HeaderValue::from_bytes(extra).ok();
    if let Some(v) = &extra {
        headers.insert("x-fuzz", v.clone());
    }
    let mut with_auth = headers.clone();
    if let Ok(v) = HeaderValue::from_bytes(authorization) {
        with_auth.insert(AUTHORIZATION, v);
    }

    let parts = SignedRequestParts::new("POST", &raw_path, &raw_query, &with_auth);
    if let Ok(Some(auth)) = parse(&parts) {
        let _ = verify(
            &auth,
            &parts,
            Some(EMPTY_SHA256),
            SECRET,
            auth.timestamp_unix(),
            "ecr",
        );
        let _ = verify(&auth, &parts, None, SECRET, 0, "ecr");
        if auth.form() == AuthForm::Header {
            let Some(rendered) = auth.authorization_header() else {
                panic!("a header-form auth must render an Authorization value");
            };
            let Ok(value) = HeaderValue::from_str(&rendered) else {
                panic!("rendered Authorization `{rendered}` is not a header value");
            };
            let mut again = with_auth.clone();
            again.insert(AUTHORIZATION, value);
            let reparsed = parse(&SignedRequestParts::new(
                "POST", &raw_path, &raw_query, &again,
            ));
            if reparsed != Ok(Some(auth.clone())) {
                panic!("`{rendered}` parsed to {reparsed:?}, not {auth:?}");
            }
        }
    }

    // Sign-then-verify over whatever path, query and header value the input holds, unless the
    // query already has an X-Amz-* parameter: those are SigV4's own (a repeated
    // X-Amz-Security-Token, say, is refused as ambiguous), so such a query is not ours to sign.
    let has_amz_param = raw_query
        .split('&')
        .any(|p| percent_decode(p.split('=').next().unwrap_or_default()).starts_with(b"X-Amz-"));
    if has_amz_param {
        return;
    }
    let params = SigningParams {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: SECRET,
        session_token: None,
        region: "us-east-1",
        service: "ecr",
        time_unix: 1_705_320_000,
    };
    let mut signed = headers.clone();
    signed.remove("x-amz-date");
    if sign(
        &params,
        "POST",
        &raw_path,
        &raw_query,
        &mut signed,
        EMPTY_SHA256,
    )
    .is_ok()
    {
        let parts = SignedRequestParts::new("POST", &raw_path, &raw_query, &signed);
        let result = parse(&parts).and_then(|auth| {
            let auth = auth.ok_or(super::SigV4Error::MissingAuthenticationToken)?;
            verify(
                &auth,
                &parts,
                Some(EMPTY_SHA256),
                SECRET,
                params.time_unix,
                "ecr",
            )
        });
        if let Err(e) = result {
            panic!("signed request (path `{raw_path}`, query `{raw_query}`) failed: {e}");
        }
    }
    let mut presign_headers = headers.clone();
    presign_headers.remove("x-amz-date");
    let query = presign(
        &params,
        "GET",
        &raw_path,
        &raw_query,
        &presign_headers,
        60,
        EMPTY_SHA256,
    );
    let parts = SignedRequestParts::new("GET", &raw_path, &query, &presign_headers);
    let result = parse(&parts).and_then(|auth| {
        let auth = auth.ok_or(super::SigV4Error::MissingAuthenticationToken)?;
        verify(
            &auth,
            &parts,
            Some(EMPTY_SHA256),
            SECRET,
            params.time_unix,
            "ecr",
        )
    });
    if let Err(e) = result {
        panic!("presigned request (path `{raw_path}`, query `{query}`) failed: {e}");
    }
}
