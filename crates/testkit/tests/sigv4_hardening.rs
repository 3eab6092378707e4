//! SigV4 requests an attacker replays or crafts, against the real binary: an unsigned body, an
//! unsigned `X-Amz-Target` or `x-amz-*` header, presigned query auth, a credential scoped to
//! another region, and a service Portcullis does not serve. Each refusal comes with a control:
//! the same request signed properly is served, so the signer below is known to be right.
//!
//! The requests are signed here by hand, independently of the server's own SigV4 code, so that
//! the two cannot share a mistake; presigned ECR requests come from botocore.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_testkit::scenario::audit_lines;
use portcullis_testkit::{ServerOptions, TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const ECR_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
const JSON: &str = "application/x-amz-json-1.1";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut k = if key.len() > BLOCK {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(BLOCK, 0);
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// `yyyymmddThhmmssZ` of the current time.
fn amz_date_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How one request is signed: everything in `signed` (plus `host` and `x-amz-date`) is signed,
/// over `payload_hash`; `query` is the raw query (already in canonical order).
struct Signing<'a> {
    service: &'a str,
    region: &'a str,
    signed: Vec<(&'a str, String)>,
    payload_hash: String,
    query: String,
}

impl<'a> Signing<'a> {
    fn new(service: &'a str, region: &'a str, body: &[u8]) -> Self {
        Signing {
            service,
            region,
            signed: Vec::new(),
            payload_hash: sha256_hex(body),
            query: String::new(),
        }
    }

    fn header(mut self, name: &'a str, value: &str) -> Self {
        self.signed.push((name, value.to_owned()));
        self
    }

    fn iam(body: &[u8]) -> Self {
        Self::new("iam", "us-east-1", body).header("content-type", FORM)
    }

    fn ecr(operation: &str, body: &[u8]) -> Self {
        Self::new("ecr", "us-east-1", body)
            .header("content-type", JSON)
            .header("x-amz-target", &format!("{ECR_PREFIX}{operation}"))
    }

    fn scope(&self, date: &str) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            &date[..8],
            self.region,
            self.service
        )
    }

    fn signature(&self, date: &str, canonical_request: &str) -> String {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{}\n{}",
            self.scope(date),
            sha256_hex(canonical_request.as_bytes())
        );
        let mut key = hmac(
            format!("AWS4{ADMIN_SECRET_ACCESS_KEY}").as_bytes(),
            &date.as_bytes()[..8],
        );
        for part in [self.region, self.service, "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        hex::encode(hmac(&key, string_to_sign.as_bytes()))
    }

    /// The headers of the request signed in the `Authorization` header form.
    fn sign(&self, server: &TestServer) -> Vec<(String, String)> {
        let date = amz_date_now();
        let mut headers: Vec<(String, String)> = self
            .signed
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        headers.push(("host".into(), server.addr.to_string()));
        headers.push(("x-amz-date".into(), date.clone()));
        headers.sort();
        let canonical_headers: String = headers
            .iter()
            .map(|(n, v)| format!("{n}:{}\n", v.trim()))
            .collect();
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        let names = names.join(";");
        let creq = format!(
            "POST\n/\n{}\n{canonical_headers}\n{names}\n{}",
            self.query, self.payload_hash
        );
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={ADMIN_ACCESS_KEY_ID}/{}, SignedHeaders={names}, Signature={}",
            self.scope(&date),
            self.signature(&date, &creq)
        );
        headers.retain(|(n, _)| n != "host");
        headers.push(("authorization".into(), auth));
        headers
    }

    /// The query string of the request presigned (`X-Amz-*` parameters), signing `host` only.
    fn presign(&self, server: &TestServer, leading: &str) -> String {
        let date = amz_date_now();
        let credential = format!("{ADMIN_ACCESS_KEY_ID}/{}", self.scope(&date)).replace('/', "%2F");
        let query = format!(
            "{leading}X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}\
             &X-Amz-Date={date}&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
        );
        let creq = format!(
            "POST\n/\n{query}\nhost:{}\n\nhost\n{}",
            server.addr, self.payload_hash
        );
        format!("{query}&X-Amz-Signature={}", self.signature(&date, &creq))
    }
}

struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

fn send(server: &TestServer, query: &str, headers: &[(String, String)], body: &[u8]) -> Answer {
    let url = if query.is_empty() {
        format!("{}/", server.base_url)
    } else {
        format!("{}/?{query}", server.base_url)
    };
    let mut req = reqwest::blocking::Client::new()
        .post(url)
        .body(body.to_vec());
    for (n, v) in headers {
        req = req.header(n.as_str(), v.as_str());
    }
    let resp = req.send().expect("request");
    Answer {
        status: resp.status().as_u16(),
        body: resp.text().unwrap_or_default(),
    }
}

fn with(mut headers: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_owned(), value.to_owned()));
    headers
}

/// A correctly signed request, which must be served.
fn served(server: &TestServer, signing: &Signing<'_>, body: &[u8]) -> Answer {
    let a = send(server, "", &signing.sign(server), body);
    assert_eq!(
        a.status, 200,
        "a properly signed request is served: {}",
        a.body
    );
    a
}

fn user_names(server: &TestServer) -> String {
    let body = b"Action=ListUsers&Version=2010-05-08";
    served(server, &Signing::iam(body), body).body
}

fn aws(server: &TestServer, region: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("aws")
        .args(args)
        .args(["--endpoint-url", &server.base_url, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", ADMIN_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", region)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("the aws CLI is installed (scripts/install-test-deps.sh)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Item 4: a ListUsers signed with `x-amz-content-sha256: UNSIGNED-PAYLOAD` (signed) and
/// replayed with a CreateUser body creates no one; on ECR too the unsigned body is refused.
#[test]
fn unsigned_payload_is_refused_and_the_body_is_not_acted_on() {
    let server = TestServer::start();
    let list = b"Action=ListUsers&Version=2010-05-08";
    let evil = b"Action=CreateUser&UserName=mallory&Version=2010-05-08";
    let mut signing = Signing::iam(list).header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    signing.payload_hash = "UNSIGNED-PAYLOAD".into();
    let headers = signing.sign(&server);
    for body in [&list[..], &evil[..]] {
        let a = send(&server, "", &headers, body);
        assert_eq!(a.status, 403, "{}", a.body);
        assert!(
            a.body.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{}",
            a.body
        );
        assert!(a.body.contains("UNSIGNED-PAYLOAD"), "{}", a.body);
    }
    // A claimed hash is held to the body actually received.
    let claimed = Signing::iam(list).header("x-amz-content-sha256", &sha256_hex(list));
    let a = send(&server, "", &claimed.sign(&server), evil);
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(!user_names(&server).contains("mallory"));

    // The same on the JSON protocol, and with the streaming form.
    for claim in ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"] {
        let mut signing =
            Signing::ecr("DescribeRepositories", b"{}").header("x-amz-content-sha256", claim);
        signing.payload_hash = claim.into();
        let a = send(&server, "", &signing.sign(&server), b"{}");
        assert_eq!(a.status, 400, "{}", a.body);
        assert_eq!(
            a.json()["__type"],
            "InvalidSignatureException",
            "{}",
            a.body
        );
    }
    served(&server, &Signing::ecr("DescribeRepositories", b"{}"), b"{}");
}

/// Item 5: a GetRepositoryPolicy signed without `x-amz-target` cannot be replayed as
/// DeleteRepositoryPolicy; an unsigned `x-amz-foo` or `content-type` is refused likewise.
#[test]
fn unsigned_target_and_x_amz_headers_are_refused() {
    let server = TestServer::start();
    let create = br#"{"repositoryName":"guarded"}"#;
    served(&server, &Signing::ecr("CreateRepository", create), create);
    let policy = serde_json::json!({
        "repositoryName": "guarded",
        "policyText": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:BatchDeleteImage"}]}"#,
    })
    .to_string();
    served(
        &server,
        &Signing::ecr("SetRepositoryPolicy", policy.as_bytes()),
        policy.as_bytes(),
    );

    let get = br#"{"repositoryName":"guarded"}"#;
    let without_target = Signing::new("ecr", "us-east-1", get).header("content-type", JSON);
    let headers = without_target.sign(&server);
    for op in ["GetRepositoryPolicy", "DeleteRepositoryPolicy"] {
        let a = send(
            &server,
            "",
            &with(
                headers.clone(),
                "x-amz-target",
                &format!("{ECR_PREFIX}{op}"),
            ),
            get,
        );
        assert_eq!(a.status, 400, "{}", a.body);
        assert_eq!(
            a.json()["__type"],
            "IncompleteSignatureException",
            "{}",
            a.body
        );
        assert!(
            a.json()["message"]
                .as_str()
                .unwrap_or("")
                .contains("x-amz-target"),
            "the error names the header: {}",
            a.body
        );
    }
    let still = served(&server, &Signing::ecr("GetRepositoryPolicy", get), get);
    assert!(still.json()["policyText"].is_string(), "{}", still.body);

    // Any x-amz-* header, and content-type, must be signed too.
    let signed = Signing::ecr("GetRepositoryPolicy", get).sign(&server);
    let a = send(&server, "", &with(signed.clone(), "x-amz-foo", "bar"), get);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("x-amz-foo"), "{}", a.body);
    let untyped = Signing::new("ecr", "us-east-1", get)
        .header("x-amz-target", &format!("{ECR_PREFIX}GetRepositoryPolicy"))
        .sign(&server);
    let a = send(&server, "", &with(untyped, "content-type", JSON), get);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("content-type"), "{}", a.body);
    served(
        &server,
        &Signing::ecr("GetRepositoryPolicy", get).header("x-amz-foo", "bar"),
        get,
    );

    // The query protocol holds the same rule.
    let list = b"Action=ListUsers&Version=2010-05-08";
    let a = send(
        &server,
        "",
        &with(Signing::iam(list).sign(&server), "x-amz-foo", "bar"),
        list,
    );
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body.contains("<Code>IncompleteSignature</Code>"),
        "{}",
        a.body
    );
}

/// Item 5: presigned query auth is refused on the JSON and the query APIs, however fresh.
#[test]
fn presigned_query_auth_is_refused() {
    let server = TestServer::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4_cases.py");
    let out = Command::new("python3")
        .arg(script)
        .args([
            &server.base_url,
            ADMIN_ACCESS_KEY_ID,
            ADMIN_SECRET_ACCESS_KEY,
            "presigned-fresh",
        ])
        .output()
        .expect("python3 with botocore (pip install botocore)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh: Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    // sigv4_cases.py signs for ap-northeast-1; the refusal must be about the auth form.
    assert_eq!(fresh["status"], 400, "{fresh}");
    assert_eq!(
        fresh["body"]["__type"], "IncompleteSignatureException",
        "{fresh}"
    );
    assert!(
        fresh["body"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("presigned"),
        "{fresh}"
    );

    let body = b"Action=CreateUser&UserName=mallory&Version=2010-05-08";
    let query = Signing::iam(body).presign(&server, "");
    let a = send(
        &server,
        &query,
        &[("content-type".to_owned(), FORM.to_owned())],
        body,
    );
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body.contains("<Code>IncompleteSignature</Code>"),
        "{}",
        a.body
    );
    assert!(a.body.contains("presigned"), "{}", a.body);
    assert!(!user_names(&server).contains("mallory"));
}

/// Item 9: the credential scope's region must be `[auth] region`.
#[test]
fn the_scope_region_must_be_the_configured_one() {
    let server = TestServer::start();
    let list = b"Action=ListUsers&Version=2010-05-08";
    for region in ["eu-west-1", "xx-nowhere-9"] {
        let mut iam = Signing::iam(list);
        iam.region = region;
        let a = send(&server, "", &iam.sign(&server), list);
        assert_eq!(a.status, 403, "{}", a.body);
        assert!(
            a.body.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{}",
            a.body
        );
        assert!(
            a.body.contains(&format!(
                "Credential should be scoped to a valid region, not &apos;{region}&apos;."
            )) || a.body.contains(&format!(
                "Credential should be scoped to a valid region, not '{region}'."
            )),
            "{}",
            a.body
        );
        let mut ecr = Signing::ecr("DescribeRepositories", b"{}");
        ecr.region = region;
        let a = send(&server, "", &ecr.sign(&server), b"{}");
        assert_eq!(a.status, 400, "{}", a.body);
        assert_eq!(
            a.json()["__type"],
            "InvalidSignatureException",
            "{}",
            a.body
        );
        assert_eq!(
            a.json()["message"],
            format!("Credential should be scoped to a valid region, not '{region}'. ")
        );
    }
    let err = aws(&server, "eu-west-1", &["ecr", "describe-repositories"]).unwrap_err();
    assert!(err.contains("InvalidSignatureException"), "{err}");

    // Configured for eu-west-1, the server takes eu-west-1 and refuses us-east-1.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("portcullis.toml");
    std::fs::write(&config, "[auth]\nregion = \"eu-west-1\"\n").expect("write config");
    let eu = TestServer::start_with(ServerOptions {
        args: vec!["--config".into(), config.display().to_string()],
        ..ServerOptions::default()
    });
    let mut iam = Signing::iam(list);
    iam.region = "eu-west-1";
    served(&eu, &iam, list);
    let mut ecr = Signing::ecr("DescribeRepositories", b"{}");
    ecr.region = "eu-west-1";
    served(&eu, &ecr, b"{}");
    let a = send(&eu, "", &Signing::iam(list).sign(&eu), list);
    assert_eq!(a.status, 403, "{}", a.body);
    aws(&eu, "eu-west-1", &["ecr", "describe-repositories"]).expect("aws ecr in eu-west-1");
    aws(&eu, "eu-west-1", &["iam", "list-users"]).expect("aws iam in eu-west-1");
}

/// Item 16: a request signed for a service Portcullis does not serve hears that the service is
/// not available here, in its own protocol.
#[test]
fn services_that_are_not_here_say_so() {
    let server = TestServer::start();
    let err = aws(&server, "us-east-1", &["sts", "get-caller-identity"]).unwrap_err();
    assert!(err.contains("(InvalidAction)"), "{err}");
    assert!(err.contains("`sts` is not available here"), "{err}");
    assert!(!err.contains("correct service"), "{err}");

    let err = aws(&server, "us-east-1", &["kms", "list-keys"]).unwrap_err();
    assert!(err.contains("(UnknownOperationException)"), "{err}");
    assert!(err.contains("`kms` is not available here"), "{err}");
    aws(&server, "us-east-1", &["secretsmanager", "list-secrets"])
        .expect("secretsmanager is served");

    // Hand-signed for s3 on the query protocol: XML; the served APIs still work.
    let list = b"Action=ListUsers&Version=2010-05-08";
    let mut s3 = Signing::iam(list);
    s3.service = "s3";
    let a = send(&server, "", &s3.sign(&server), list);
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("<Code>InvalidAction</Code>"), "{}", a.body);
    assert!(a.body.contains("`s3` is not available here"), "{}", a.body);
    served(&server, &Signing::iam(list), list);
    aws(&server, "us-east-1", &["ecr", "describe-repositories"]).expect("ecr is served");
}

/// Item 12 (ECR part): listing repositories writes one audit event per authorization decision.
#[test]
fn describe_repositories_audits_its_decisions() {
    let server = TestServer::start();
    for name in ["listed-a", "listed-b"] {
        let body = format!(r#"{{"repositoryName":"{name}"}}"#);
        served(
            &server,
            &Signing::ecr("CreateRepository", body.as_bytes()),
            body.as_bytes(),
        );
    }
    let listed = served(&server, &Signing::ecr("DescribeRepositories", b"{}"), b"{}");
    assert_eq!(
        listed.json()["repositories"].as_array().map(Vec::len),
        Some(2)
    );
    let events = audit_lines(server.data_dir());
    let described: Vec<&str> = events
        .iter()
        .filter(|e| e["eventName"] == "DescribeRepositories" && e["decision"] == "allow")
        .filter_map(|e| e["repository"].as_str())
        .collect();
    assert_eq!(described, ["listed-a", "listed-b"], "{events:?}");
}
