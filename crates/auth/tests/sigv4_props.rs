//! Properties of SigV4: what our signer signs, our verifier accepts; any single change to a
//! signed element is refused; parsing never panics, whatever the header or query holds.

use http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_auth::sigv4::{
    self, fuzzing, presign, sign, uri_encode, SigV4Error, SignedRequestParts, SigningParams,
};
use proptest::prelude::*;

const NOW: i64 = 1_705_320_000;

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    token: Option<String>,
    secret: String,
    service: &'static str,
    time: i64,
    presigned: bool,
}

fn path() -> impl Strategy<Value = String> {
    // Segments as a client sends them: unreserved characters, escapes of any byte, sub-delims
    // and dot segments.
    let segment = prop_oneof![
        "[A-Za-z0-9._~-]{0,8}",
        any::<Vec<u8>>().prop_map(|b| uri_encode(&b, false)),
        Just(".".to_owned()),
        Just("..".to_owned()),
        "[!$&'()*+,;=:@]{1,3}",
    ];
    (prop::collection::vec(segment, 0..5), any::<bool>())
        .prop_map(|(s, slash)| format!("/{}{}", s.join("/"), if slash { "/" } else { "" }))
}

fn query() -> impl Strategy<Value = String> {
    let text = prop_oneof!["[a-zA-Z0-9 ]{0,6}", "\\PC{0,4}", Just(String::new())];
    prop::collection::vec((text.clone(), text, any::<bool>()), 0..5).prop_map(|pairs| {
        pairs
            .into_iter()
            .filter(|(k, _, _)| !k.is_empty())
            .map(|(k, v, with_eq)| {
                let k = uri_encode(k.as_bytes(), false);
                if v.is_empty() && !with_eq {
                    k
                } else {
                    format!("{k}={}", uri_encode(v.as_bytes(), false))
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("x-custom".to_owned()),
        Just("x-multi".to_owned()),
        Just("content-type".to_owned()),
        "x-[a-z0-9-]{1,10}",
    ];
    let value = "[ \t]{0,2}[!-~]{0,6}([ \t]{1,3}[!-~]{1,6}){0,2}[ \t]{0,2}";
    prop::collection::vec((name, value), 0..5)
}

fn req() -> impl Strategy<Value = Req> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD"]),
        path(),
        query(),
        headers(),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::option::of("[A-Za-z0-9+/=]{1,40}"),
        "[!-~]{1,40}",
        prop::sample::select(vec!["ecr", "iam", "sts"]),
        0i64..4_000_000_000,
        any::<bool>(),
    )
        .prop_map(
            |(method, path, query, headers, body, token, secret, service, time, presigned)| Req {
                method: method.to_owned(),
                path,
                query,
                headers,
                body,
                token,
                secret,
                service,
                time,
                presigned,
            },
        )
}

/// The request as it goes on the wire once signed: path, query, headers.
fn signed(r: &Req) -> (String, HeaderMap) {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("127.0.0.1:5000"));
    for (k, v) in &r.headers {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let params = SigningParams {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: &r.secret,
        session_token: r.token.as_deref(),
        region: "us-west-2",
        service: r.service,
        time_unix: r.time,
    };
    let hash = sigv4::sha256_hex(&r.body);
    if r.presigned {
        let q = presign(&params, &r.method, &r.path, &r.query, &h, 900, &hash);
        (q, h)
    } else {
        sign(&params, &r.method, &r.path, &r.query, &mut h, &hash).unwrap();
        (r.query.clone(), h)
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per signed element, mutated one at a time"
)]
fn check(
    method: &str,
    path: &str,
    query: &str,
    h: &HeaderMap,
    body: &[u8],
    secret: &str,
    service: &str,
    now: i64,
) -> Result<(), SigV4Error> {
    let parts = SignedRequestParts::new(method, path, query, h);
    let auth = sigv4::parse(&parts)?.ok_or(SigV4Error::MissingAuthenticationToken)?;
    sigv4::verify(
        &auth,
        &parts,
        Some(&sigv4::sha256_hex(body)),
        secret,
        now,
        service,
    )
}

#[derive(Debug, Clone)]
enum Mutation {
    Method,
    PathAppend,
    QueryAdd,
    Body(usize),
    Header(usize),
    Signature(usize),
    Secret,
    Service,
    Late,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Method),
        Just(Mutation::PathAppend),
        Just(Mutation::QueryAdd),
        any::<usize>().prop_map(Mutation::Body),
        any::<usize>().prop_map(Mutation::Header),
        (0usize..64).prop_map(Mutation::Signature),
        Just(Mutation::Secret),
        Just(Mutation::Service),
        Just(Mutation::Late),
    ]
}

fn flip_hex(c: u8) -> u8 {
    if c == b'0' {
        b'1'
    } else {
        b'0'
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sign_then_verify_round_trips(r in req()) {
        let (q, h) = signed(&r);
        let result = check(&r.method, &r.path, &q, &h, &r.body, &r.secret, r.service, r.time);
        prop_assert_eq!(result, Ok(()));
        let parts = SignedRequestParts::new(&r.method, &r.path, &q, &h);
        let auth = sigv4::parse(&parts).unwrap().unwrap();
        prop_assert_eq!(auth.session_token(), r.token.as_deref());
        prop_assert_eq!(auth.timestamp_unix(), r.time);
    }

    #[test]
    fn any_single_change_is_refused(r in req(), m in mutation()) {
        let (mut q, mut h) = signed(&r);
        let (mut method, mut path, mut body) = (r.method.clone(), r.path.clone(), r.body.clone());
        let (mut secret, mut service, mut now) = (r.secret.clone(), r.service, r.time);
        match m {
            Mutation::Method => method = if method == "GET" { "PUT".into() } else { "GET".into() },
            Mutation::PathAppend => path.push('x'),
            Mutation::QueryAdd => q = if q.is_empty() { "x=1".into() } else { format!("x=1&{q}") },
            Mutation::Body(i) => match body.get_mut(i % r.body.len().max(1)) {
                Some(b) => *b ^= 0x20,
                None => body.push(0),
            },
            Mutation::Header(i) => {
                // Any signed header but host (x-amz-date too: its change moves the clock).
                let names: Vec<HeaderName> = h
                    .keys()
                    .filter(|k| k.as_str() != "authorization")
                    .cloned()
                    .collect();
                let name = &names[i % names.len()];
                let old = h.get(name).unwrap().to_str().unwrap().to_owned();
                h.insert(name.clone(), HeaderValue::from_str(&format!("{old}z")).unwrap());
            }
            Mutation::Signature(i) => {
                if r.presigned {
                    let (rest, sig) = q.rsplit_once("X-Amz-Signature=").unwrap();
                    let mut sig = sig.as_bytes().to_vec();
                    sig[i] = flip_hex(sig[i]);
                    q = format!("{rest}X-Amz-Signature={}", String::from_utf8(sig).unwrap());
                } else {
                    let a = h.get("authorization").unwrap().to_str().unwrap().to_owned();
                    let mut a = a.into_bytes();
                    let at = a.len() - 64 + i;
                    a[at] = flip_hex(a[at]);
                    h.insert("authorization", HeaderValue::from_bytes(&a).unwrap());
                }
            }
            Mutation::Secret => secret.push('x'),
            Mutation::Service => service = if service == "ecr" { "iam" } else { "ecr" },
            // Past the skew window (header form) and past X-Amz-Expires=900 (presigned).
            Mutation::Late => now += 901,
        }
        let result = check(&method, &path, &q, &h, &body, &secret, service, now);
        prop_assert!(result.is_err(), "{:?} accepted", m);
    }

    #[test]
    fn parse_never_panics_on_any_authorization(value in "[ -~]{0,200}", query in "[ -~]{0,120}") {
        let mut h = HeaderMap::new();
        h.insert("x-amz-date", HeaderValue::from_static("20240115T120000Z"));
        h.insert("authorization", HeaderValue::from_str(&value).unwrap());
        let parts = SignedRequestParts::new("GET", "/", &query, &h);
        if let Ok(Some(auth)) = sigv4::parse(&parts) {
            let _ = sigv4::verify(&auth, &parts, None, "s", NOW, "ecr");
        }
    }

    #[test]
    fn parse_never_panics_on_sigv4_shaped_authorization(
        parts in prop::collection::vec(
            prop_oneof![
                "Credential=[A-Za-z0-9/_=-]{0,60}",
                "SignedHeaders=[a-z;-]{0,30}",
                "Signature=[0-9a-f=]{0,70}",
                "[A-Za-z]{0,8}=?[ -~]{0,10}",
            ],
            0..6,
        ),
        sep in prop::sample::select(vec![", ", ",", " ", "  ,  "]),
    ) {
        fuzzing::sigv4_parse(format!("AWS4-HMAC-SHA256 {}\n\n/\n20240115T120000Z", parts.join(sep)).as_bytes());
    }

    #[test]
    fn fuzz_body_holds_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..300)) {
        fuzzing::sigv4_parse(&data);
    }
}
