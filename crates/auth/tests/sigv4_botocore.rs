//! Differential test against botocore, the signer behind the AWS CLI and boto3.
//!
//! `botocore_sign.py` signs a few hundred generated requests (every method, paths with escapes,
//! dot segments and sub-delims, queries with repeated keys, empty values and unicode, headers
//! with odd spacing and several values, bodies, session tokens, UNSIGNED-PAYLOAD, presigned
//! URLs) for the services ecr, iam and sts. Each must verify with our `verify`, and must fail
//! after a one-byte change to its signature, body, each signed header, path or query.

use std::process::Command;

use http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_auth::sigv4::{self, AuthForm, SigV4Error, SignedRequestParts};
use serde_json::Value;

#[derive(Clone)]
struct Case {
    id: u64,
    service: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    secret: String,
    akid: String,
    token: Option<String>,
    now: i64,
    presigned: bool,
}

fn botocore_cases(count: u32, seed: u32) -> Vec<Case> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/botocore_sign.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(count.to_string())
        .arg(seed.to_string())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): install Python 3 and run `pip install botocore`")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("MISSING_BOTOCORE"),
        "botocore is not installed: run `pip install botocore`"
    );
    assert!(
        output.status.success(),
        "botocore_sign.py failed (run `pip install botocore`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: Value = serde_json::from_str(&stdout).expect("botocore_sign.py prints JSON");
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            id: c["id"].as_u64().unwrap(),
            service: c["service"].as_str().unwrap().to_owned(),
            method: c["method"].as_str().unwrap().to_owned(),
            path: c["path"].as_str().unwrap().to_owned(),
            query: c["query"].as_str().unwrap().to_owned(),
            headers: c["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().unwrap().to_owned(),
                        h[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
            body: hex::decode(c["body_hex"].as_str().unwrap()).unwrap(),
            secret: c["secret"].as_str().unwrap().to_owned(),
            akid: c["akid"].as_str().unwrap().to_owned(),
            token: c["token"].as_str().map(str::to_owned),
            now: c["now"].as_i64().unwrap(),
            presigned: c["form"] == "presigned",
        })
        .collect()
}

fn header_map(case: &Case) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in &case.headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// Parses and verifies `case` as the server would; `now` is the signing time.
fn check(case: &Case) -> Result<(), SigV4Error> {
    let headers = header_map(case);
    let parts = SignedRequestParts::new(&case.method, &case.path, &case.query, &headers);
    let auth = sigv4::parse(&parts)?.ok_or(SigV4Error::MissingAuthenticationToken)?;
    let body_hash = sigv4::sha256_hex(&case.body);
    sigv4::verify(
        &auth,
        &parts,
        Some(&body_hash),
        &case.secret,
        case.now,
        &case.service,
    )
}

/// Changes one character of `s` at a position chosen by `pick` (an alphanumeric one, replaced
/// by another alphanumeric so the result stays a valid header or URL); `None` when there is
/// no alphanumeric.
fn mutate(s: &str, pick: usize) -> Option<String> {
    let positions: Vec<usize> = s
        .char_indices()
        .filter(|(_, c)| c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .collect();
    let &at = positions.get(pick % positions.len().max(1))?;
    let old = s.as_bytes()[at];
    let new = match old {
        b'z' => b'a',
        b'Z' => b'A',
        b'9' => b'0',
        c => c + 1,
    };
    let mut bytes = s.as_bytes().to_vec();
    bytes[at] = new;
    Some(String::from_utf8(bytes).unwrap())
}

fn signed_header_names(case: &Case) -> Vec<String> {
    let headers = header_map(case);
    let parts = SignedRequestParts::new(&case.method, &case.path, &case.query, &headers);
    let auth = sigv4::parse(&parts).unwrap().unwrap();
    assert_eq!(auth.form() != AuthForm::Header, case.presigned);
    auth.signed_headers().to_vec()
}

/// Every one-byte change to a signed element, each labelled for the failure message.
fn mutations(case: &Case) -> Vec<(String, Case)> {
    let mut out = Vec::new();
    let seed = usize::try_from(case.id).unwrap();

    // The signature, in the header or in the query.
    let mut m = case.clone();
    if case.presigned {
        let (rest, sig) = case.query.rsplit_once("X-Amz-Signature=").unwrap();
        m.query = format!("{rest}X-Amz-Signature={}", mutate(sig, seed).unwrap());
    } else {
        for (name, value) in &mut m.headers {
            if name.eq_ignore_ascii_case("authorization") {
                let (rest, sig) = value.rsplit_once("Signature=").unwrap();
                *value = format!("{rest}Signature={}", mutate(sig, seed).unwrap());
            }
        }
    }
    out.push(("signature".to_owned(), m));

    // The body: unless botocore declared it unsigned, one changed byte (or one added byte).
    let unsigned = case
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("x-amz-content-sha256") && v == "UNSIGNED-PAYLOAD");
    if !unsigned {
        let mut m = case.clone();
        match m.body.get_mut(seed % case.body.len().max(1)) {
            Some(b) => *b ^= 1,
            None => m.body.push(b'x'),
        }
        out.push(("body".to_owned(), m));
    }

    // Each signed header: one byte of its (first) value, or a value where it was empty.
    for signed in signed_header_names(case) {
        let mut m = case.clone();
        let (_, value) = m
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&signed))
            .unwrap();
        *value = mutate(value, seed).unwrap_or_else(|| format!("{value}x"));
        out.push((format!("header {signed}"), m));
    }

    // The path: one more byte at the end always changes the canonical URI. A changed byte
    // inside does too, unless a `..` segment removes it (AWS signs the normalized path), so
    // that one is tried only on paths without dot segments.
    let mut m = case.clone();
    m.path.push('x');
    out.push(("path (appended)".to_owned(), m));
    if !case.path.split('/').any(|s| s == "." || s == "..") {
        if let Some(path) = mutate(&case.path, seed) {
            let mut m = case.clone();
            m.path = path;
            out.push(("path".to_owned(), m));
        }
    }

    // The query: a changed byte in a parameter that is not auth, or an added parameter.
    let mut m = case.clone();
    let pairs: Vec<&str> = case.query.split('&').filter(|p| !p.is_empty()).collect();
    let own: Vec<usize> = (0..pairs.len())
        .filter(|&i| !pairs[i].starts_with("X-Amz-"))
        .collect();
    m.query = match own.get(seed % own.len().max(1)) {
        Some(&i) => {
            let mut pairs: Vec<String> = pairs.iter().map(|p| (*p).to_owned()).collect();
            pairs[i] = mutate(&pairs[i], seed).unwrap_or_else(|| format!("{}x", pairs[i]));
            pairs.join("&")
        }
        None if case.query.is_empty() => "x=1".to_owned(),
        None => format!("{}&x=1", case.query),
    };
    out.push(("query".to_owned(), m));
    out
}

#[test]
fn botocore_signed_requests_verify_and_mutations_fail() {
    // SIGV4_BOTOCORE_CASES=<count>[,<seed>] runs a larger or different batch.
    let (count, seed) = std::env::var("SIGV4_BOTOCORE_CASES")
        .ok()
        .and_then(|v| {
            let (c, s) = v.split_once(',').unwrap_or((&v, "5"));
            Some((c.parse().ok()?, s.parse().ok()?))
        })
        .unwrap_or((400, 5));
    let cases = botocore_cases(count, seed);
    assert_eq!(cases.len(), usize::try_from(count).unwrap());
    let mut presigned = 0;
    let mut rejected = 0;
    for case in &cases {
        if let Err(e) = check(case) {
            panic!(
                "case {} ({} {} ?{}) signed by botocore for {} did not verify: {e}",
                case.id, case.method, case.path, case.query, case.service
            );
        }
        // The caller's view: the key and token it must look up.
        let headers = header_map(case);
        let parts = SignedRequestParts::new(&case.method, &case.path, &case.query, &headers);
        let auth = sigv4::parse(&parts).unwrap().unwrap();
        assert_eq!(auth.access_key_id(), case.akid);
        assert_eq!(
            auth.session_token(),
            case.token.as_deref(),
            "case {}",
            case.id
        );
        presigned += usize::from(case.presigned);

        for (what, mutated) in mutations(case) {
            assert!(
                check(&mutated).is_err(),
                "case {}: verify accepted a changed {what} ({} {} ?{})",
                case.id,
                mutated.method,
                mutated.path,
                mutated.query
            );
            rejected += 1;
        }
    }
    assert!(
        presigned > cases.len() / 8,
        "too few presigned cases: {presigned}"
    );
    assert!(rejected > cases.len() * 5, "too few mutations: {rejected}");
    eprintln!(
        "{} botocore requests verified ({presigned} presigned), {rejected} mutations rejected",
        cases.len()
    );
}

#[test]
fn botocore_requests_fail_outside_their_time_window() {
    for case in botocore_cases(60, 11) {
        let expires = if case.presigned {
            let auth_headers = header_map(&case);
            let parts =
                SignedRequestParts::new(&case.method, &case.path, &case.query, &auth_headers);
            i64::from(
                sigv4::parse(&parts)
                    .unwrap()
                    .unwrap()
                    .presigned_expires_secs()
                    .unwrap(),
            )
        } else {
            sigv4::MAX_CLOCK_SKEW_SECS
        };
        for (now, ok) in [
            (case.now - 900, true),
            (case.now + expires, true),
            (case.now - 901, false),
            (case.now + expires + 1, false),
        ] {
            let shifted = Case {
                now,
                ..case.clone()
            };
            assert_eq!(check(&shifted).is_ok(), ok, "case {} at now {now}", case.id);
        }
    }
}
