//! Known answers from AWS's SigV4 test suite (`tests/sigv4_vectors/`, see its README): each
//! signed request must parse and verify, and the canonical request, string to sign and
//! signature we rebuild must be the suite's, byte for byte.

use std::fs;
use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_auth::sigv4::{self, AuthForm, SignedRequestParts};

struct Request {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Reads a raw HTTP/1.1 request as the suite writes it: `Name:value` headers, continuation
/// lines folded into the previous value with one space, then a blank line and the body.
fn read_request(text: &str) -> Request {
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h, b),
        None => (text.trim_end_matches('\n'), ""),
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let target = rest.strip_suffix(" HTTP/1.1").unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut pairs: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = pairs.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (name, value) = line.split_once(':').unwrap();
            pairs.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4_vectors");
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn context(dir: &Path) -> (String, String, String, i64) {
    let ctx: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("context.json")).unwrap()).unwrap();
    let ts = ctx["timestamp"].as_str().unwrap();
    let now = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp();
    (
        ctx["credentials"]["secret_access_key"]
            .as_str()
            .unwrap()
            .to_owned(),
        ctx["region"].as_str().unwrap().to_owned(),
        ctx["service"].as_str().unwrap().to_owned(),
        now,
    )
}

fn check(dir: &Path, form: &str) {
    let name = format!("{}/{form}", dir.file_name().unwrap().to_string_lossy());
    let read = |file: &str| fs::read_to_string(dir.join(format!("{form}-{file}"))).unwrap();
    let (secret, region, service, now) = context(dir);
    let req = read_request(&read("signed-request.txt"));
    let parts = SignedRequestParts::new(&req.method, &req.path, &req.query, &req.headers);

    let auth = sigv4::parse(&parts)
        .unwrap_or_else(|e| panic!("{name}: parse: {e}"))
        .unwrap_or_else(|| panic!("{name}: no auth found"));
    assert_eq!(auth.scope().region(), region, "{name}");
    match (form, auth.form()) {
        ("header", AuthForm::Header) | ("query", AuthForm::Presigned { .. }) => {}
        (_, other) => panic!("{name}: parsed as {other:?}"),
    }

    let body_hash = sigv4::sha256_hex(&req.body);
    sigv4::verify(&auth, &parts, Some(&body_hash), &secret, now, &service)
        .unwrap_or_else(|e| panic!("{name}: verify: {e}"));
    let err = sigv4::verify(&auth, &parts, Some(&body_hash), "wrong", now, &service).unwrap_err();
    assert_eq!(err, sigv4::SigV4Error::SignatureMismatch, "{name}");
    if form == "query" && omits_session_token(dir) {
        // The token was added to the query after signing; `verify` allows for that, but the
        // public `canonical_request` shows the query as received.
        return;
    }

    let payload = auth.content_sha256().unwrap_or(&body_hash).to_owned();
    let creq = sigv4::canonical_request(&auth, &parts, &payload);
    assert_eq!(
        String::from_utf8(creq.clone()).unwrap(),
        read("canonical-request.txt"),
        "{name}: canonical request"
    );
    let sts = sigv4::string_to_sign(&auth, &creq);
    assert_eq!(sts, read("string-to-sign.txt"), "{name}: string to sign");
    let key = sigv4::signing_key(&secret, auth.scope().date(), &region, &service);
    assert_eq!(
        key.sign(&sts),
        read("signature.txt").trim(),
        "{name}: signature"
    );
    assert_eq!(
        auth.signature(),
        read("signature.txt").trim(),
        "{name}: sent signature"
    );
}

fn omits_session_token(dir: &Path) -> bool {
    let ctx: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("context.json")).unwrap()).unwrap();
    ctx["omit_session_token"].as_bool() == Some(true)
}

#[test]
fn aws_suite_header_form() {
    let cases = cases();
    assert!(cases.len() >= 25, "the suite is missing");
    for dir in &cases {
        check(dir, "header");
    }
}

#[test]
fn aws_suite_query_form() {
    for dir in &cases() {
        check(dir, "query");
    }
}

#[test]
fn aws_suite_session_token_is_reported_whether_signed_or_not() {
    for case in [
        "post-sts-header-before",
        "post-sts-header-after",
        "get-vanilla-with-session-token",
    ] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sigv4_vectors")
            .join(case);
        for form in ["header", "query"] {
            let req = read_request(
                &fs::read_to_string(dir.join(format!("{form}-signed-request.txt"))).unwrap(),
            );
            let parts = SignedRequestParts::new(&req.method, &req.path, &req.query, &req.headers);
            let auth = sigv4::parse(&parts).unwrap().unwrap();
            assert!(auth.session_token().is_some(), "{case}/{form}");
        }
    }
}
