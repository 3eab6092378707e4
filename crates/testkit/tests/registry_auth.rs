//! Authentication of the registry API, black box: what a caller gets with no credentials, with a
//! registry token in Basic (`docker login --username AWS`) or Bearer form, with tokens that are
//! tampered with, expired or come from another server, and through the `GET /v2/token` flow and
//! `aws ecr get-login-password`.

use std::process::Command;

use base64::Engine as _;
use portcullis_testkit::clients::require;
use portcullis_testkit::fixtures::*;
use portcullis_testkit::{
    basic_auth, ServerOptions, TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY,
};
use reqwest::blocking::Response;
use serde_json::Value;

/// The challenge the registry must send: Basic, as ECR's, naming the registry and the service.
fn expected_challenge(server: &TestServer) -> String {
    format!(
        "Basic realm=\"http://{}/\",service=\"ecr.amazonaws.com\"",
        server.host()
    )
}

/// Asserts a 401 with the registry's challenge and an `UNAUTHORIZED` error body.
#[track_caller]
fn assert_challenged(server: &TestServer, resp: Response) {
    assert_eq!(
        header(&resp, "WWW-Authenticate").as_deref(),
        Some(&*expected_challenge(server)),
        "{}: status {}",
        resp.url(),
        resp.status()
    );
    assert_error(resp, 401, "UNAUTHORIZED");
}

/// `GET /v2/` with `Authorization: <auth>`.
fn v2_with(server: &TestServer, auth: &str) -> Response {
    Registry::with_auth(&server.base_url, auth)
        .get("/v2/")
        .send()
        .expect("GET /v2/")
}

/// A registry password from the ECR API, as `aws ecr get-login-password` prints it.
fn aws_login_password(server: &TestServer) -> String {
    require("aws");
    let out = Command::new("aws")
        .args([
            "ecr",
            "get-login-password",
            "--endpoint-url",
            &server.base_url,
        ])
        .env("AWS_ACCESS_KEY_ID", ADMIN_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("run aws");
    assert!(
        out.status.success(),
        "aws ecr get-login-password failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn v2_without_credentials_is_401_with_the_ecr_challenge() {
    let server = TestServer::start();
    let anonymous = Registry::anonymous(&server);
    assert_challenged(&server, anonymous.get("/v2/").send().unwrap());

    let resp = anonymous.head("/v2/").send().unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(
        header(&resp, "WWW-Authenticate").as_deref(),
        Some(&*expected_challenge(&server))
    );
}

/// The challenge names the host the client used, so that docker stores its credentials under
/// the name it will look them up by.
#[test]
fn the_challenge_realm_is_the_public_url_not_the_host_header() {
    // Unset, the public URL is the listener's own address: a forged Host changes nothing.
    let server = TestServer::start();
    let resp = Registry::anonymous(&server)
        .get("/v2/")
        .header("Host", "evil.example:80")
        .send()
        .unwrap();
    assert_eq!(
        header(&resp, "WWW-Authenticate").as_deref(),
        Some(&*format!(
            "Basic realm=\"{}/\",service=\"ecr.amazonaws.com\"",
            server.base_url
        ))
    );
    assert_error(resp, 401, "UNAUTHORIZED");

    // Configured, it is used as given (without a trailing slash of its own).
    let server = TestServer::start_with(ServerOptions {
        env: vec![(
            "PORTCULLIS_PUBLIC_URL".into(),
            "https://registry.example.com/".into(),
        )],
        ..Default::default()
    });
    let resp = Registry::anonymous(&server).get("/v2/").send().unwrap();
    assert_eq!(
        header(&resp, "WWW-Authenticate").as_deref(),
        Some("Basic realm=\"https://registry.example.com/\",service=\"ecr.amazonaws.com\"")
    );
}

#[test]
fn a_valid_token_in_basic_auth_opens_v2_whatever_the_user_name() {
    let server = TestServer::start();
    let password = server.admin_password();
    // `docker login --username AWS`, what ECR documents; the user name is not checked.
    for user in ["AWS", "admin", "anyone"] {
        let resp = v2_with(&server, &basic_auth(user, &password));
        assert_eq!(resp.status().as_u16(), 200, "user name {user:?}");
        assert!(header(&resp, "WWW-Authenticate").is_none());
        assert_eq!(resp.json::<Value>().unwrap(), serde_json::json!({}));
    }
    // The scheme name is case-insensitive (RFC 9110).
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    let resp = v2_with(&server, &format!("basic {encoded}"));
    assert_eq!(resp.status().as_u16(), 200);
}

#[test]
fn bearer_works_like_basic() {
    let server = TestServer::start();
    let password = server.admin_password();
    let bearer = Registry::with_auth(&server.base_url, &format!("Bearer {password}"));
    let basic = Registry::with_auth(&server.base_url, &basic_auth("AWS", &password));
    assert_eq!(bearer.get("/v2/").send().unwrap().status().as_u16(), 200);

    // A push with one scheme is readable with the other.
    let image = bearer.push_image("auth/bearer", "v1", 1, 4096);
    let (status, body) = basic.get_blob("auth/bearer", &image.layers[0].digest);
    assert_eq!(status, 200);
    assert_eq!(body, image.layers[0].bytes);
    assert_eq!(bearer.tags("auth/bearer"), vec!["v1".to_owned()]);

    // A bad Bearer token is refused exactly as a bad Basic one.
    let mut tampered = password.clone();
    tampered.push('x');
    assert_challenged(&server, v2_with(&server, &format!("Bearer {tampered}")));
}

/// Every way a token can be broken is a 401 with the challenge, on `/v2/` and on a repository
/// the real token may read.
#[test]
fn tampered_and_malformed_credentials_are_401() {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    let image = reg.push_image("auth/tamper", "v1", 1, 512);
    let password = server.admin_password();
    let (head, sig) = password.rsplit_once('.').expect("a token with a signature");
    let (prefix, claims) = head.split_once('.').expect("a token with claims");

    // The claims re-encoded with another access key and a far expiry: well-formed, unsigned.
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .expect("base64url claims");
    let mut forged: Value = serde_json::from_slice(&decoded).expect("JSON claims");
    if let Some(obj) = forged.as_object_mut() {
        for v in obj.values_mut() {
            if let Some(n) = v.as_i64() {
                *v = Value::from(n + 10 * 365 * 86400);
            }
        }
    }
    let forged_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&forged).unwrap());
    let flipped_sig: String = {
        let mut c: Vec<char> = sig.chars().collect();
        c[0] = if c[0] == 'A' { 'B' } else { 'A' };
        c.into_iter().collect()
    };

    let bad_passwords = [
        format!("{prefix}.{forged_claims}.{sig}"),
        format!("{prefix}.{claims}.{flipped_sig}"),
        format!("{head}."),
        head.to_owned(),
        format!("{password}x"),
        password[..password.len() - 1].to_owned(),
        password.to_uppercase(),
        String::new(),
        "not-a-token".to_owned(),
        ADMIN_SECRET_ACCESS_KEY.to_owned(),
    ];
    let mut headers: Vec<String> = bad_passwords
        .iter()
        .flat_map(|p| [basic_auth("AWS", p), format!("Bearer {p}")])
        .collect();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    headers.extend([
        // Basic without a colon, not base64, or not UTF-8.
        format!("Basic {}", b64(&password)),
        "Basic !!!not base64!!!".to_owned(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode([0x41, 0x3a, 0xff, 0xfe])
        ),
        // Schemes the registry does not speak.
        format!("Digest username=\"AWS\", response=\"{password}\""),
        format!("AWS4-HMAC-SHA256 Credential={ADMIN_ACCESS_KEY_ID}/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=00"),
        "Bearer".to_owned(),
        "Basic".to_owned(),
    ]);

    for auth in &headers {
        assert_challenged(&server, v2_with(&server, auth));
        let r = Registry::with_auth(&server.base_url, auth);
        assert_challenged(
            &server,
            r.get(&format!("/v2/auth/tamper/blobs/{}", image.layers[0].digest))
                .send()
                .unwrap(),
        );
        assert_challenged(
            &server,
            r.put("/v2/auth/tamper/manifests/evil")
                .header("Content-Type", OCI_MANIFEST)
                .body(image.manifest.bytes.clone())
                .send()
                .unwrap(),
        );
    }
    assert_eq!(reg.tags("auth/tamper"), vec!["v1".to_owned()]);
    // The real token still works after all that.
    assert_eq!(
        v2_with(&server, &basic_auth("AWS", &password))
            .status()
            .as_u16(),
        200
    );
}

/// Each server signs with its own master key, so a token is worth nothing elsewhere, even for
/// the same access key id.
#[test]
fn a_token_from_another_server_is_401() {
    let a = TestServer::start();
    let b = TestServer::start();
    let from_a = a.admin_password();
    assert_eq!(
        v2_with(&a, &basic_auth("AWS", &from_a)).status().as_u16(),
        200
    );
    assert_challenged(&b, v2_with(&b, &basic_auth("AWS", &from_a)));
    assert_challenged(&b, v2_with(&b, &format!("Bearer {from_a}")));
    // And the other way round.
    let from_b = b.admin_password();
    assert_challenged(&a, v2_with(&a, &basic_auth("AWS", &from_b)));
}

/// An expired token is refused; `portcullis token issue --ttl-secs` with a negative lifetime makes
/// one without waiting 12 hours.
#[test]
fn an_expired_token_is_401() {
    let server = TestServer::start();
    let out = server
        .command()
        .args([
            "token",
            "issue",
            "--user",
            "admin",
            "--ttl-secs",
            "-60",
            "--data-dir",
        ])
        .arg(server.data_dir())
        .output()
        .expect("run portcullis token issue");
    assert!(
        out.status.success(),
        "portcullis token issue --ttl-secs -60: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expired = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    for auth in [basic_auth("AWS", &expired), format!("Bearer {expired}")] {
        let resp = v2_with(&server, &auth);
        assert_eq!(resp.status().as_u16(), 401);
        assert_eq!(
            header(&resp, "WWW-Authenticate").as_deref(),
            Some(&*expected_challenge(&server))
        );
        let body: Value = resp.json().unwrap();
        assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("expired"), "message {message:?}");
    }
    // An expired token cannot be swapped for a fresh one at the token endpoint either.
    assert_challenged(
        &server,
        Registry::with_auth(&server.base_url, &basic_auth("AWS", &expired))
            .get("/v2/token")
            .send()
            .unwrap(),
    );
}

/// Tokens survive a restart: the master key is kept with the data.
#[test]
fn a_token_still_works_after_a_restart() {
    let mut server = TestServer::start();
    let password = server.admin_password();
    assert_eq!(
        v2_with(&server, &basic_auth("AWS", &password))
            .status()
            .as_u16(),
        200
    );
    server.restart();
    assert_eq!(
        v2_with(&server, &basic_auth("AWS", &password))
            .status()
            .as_u16(),
        200
    );
}

/// The token endpoint of the registry token flow: Basic in, a Bearer token out, which then
/// works on its own.
#[test]
fn token_endpoint_hands_out_a_bearer_token() {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    reg.push_image("auth/flow", "v1", 1, 1024);

    for path in [
        "/v2/token",
        "/v2/token?service=ecr.amazonaws.com&scope=repository:auth/flow:pull,push",
    ] {
        let resp = reg.get(path).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert!(
            header(&resp, "Content-Type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "{path}"
        );
        let v: Value = resp.json().unwrap();
        let token = v["token"].as_str().expect("token");
        assert!(!token.is_empty());
        assert_eq!(v["access_token"].as_str(), Some(token), "{v}");
        let expires_in = v["expires_in"].as_i64().expect("expires_in");
        assert!(
            (60..=12 * 3600).contains(&expires_in),
            "expires_in {expires_in}"
        );
        let issued_at = v["issued_at"].as_str().expect("issued_at");
        assert!(
            issued_at.len() >= 20 && issued_at.as_bytes()[10] == b'T' && issued_at.ends_with('Z'),
            "issued_at {issued_at:?} is not RFC 3339 UTC"
        );

        let bearer = Registry::with_auth(&server.base_url, &format!("Bearer {token}"));
        assert_eq!(bearer.get("/v2/").send().unwrap().status().as_u16(), 200);
        assert_eq!(bearer.tags("auth/flow"), vec!["v1".to_owned()]);
        // The token is a registry password too, as docker may send it back either way.
        let basic = Registry::with_auth(&server.base_url, &basic_auth("AWS", token));
        assert_eq!(basic.get("/v2/").send().unwrap().status().as_u16(), 200);
    }

    // No credentials, or bad ones: the token endpoint challenges like `/v2/`.
    assert_challenged(
        &server,
        Registry::anonymous(&server)
            .get("/v2/token")
            .send()
            .unwrap(),
    );
    assert_challenged(
        &server,
        Registry::with_auth(&server.base_url, &basic_auth("AWS", "wrong"))
            .get("/v2/token")
            .send()
            .unwrap(),
    );
}

/// `aws ecr get-login-password` (the ECR API, SigV4) gives a password the registry takes in
/// Basic auth with user `AWS`, as `docker login` sends it, and in Bearer form.
#[test]
fn the_password_from_aws_ecr_get_login_password_works_with_user_aws() {
    let server = TestServer::start();
    let password = aws_login_password(&server);
    assert!(!password.contains(':'), "docker login cannot take a `:`");
    let reg = Registry::with_auth(&server.base_url, &basic_auth("AWS", &password));
    assert_eq!(reg.get("/v2/").send().unwrap().status().as_u16(), 200);
    let image = reg.push_image("auth/aws", "v1", 1, 2048);
    let bearer = Registry::with_auth(&server.base_url, &format!("Bearer {password}"));
    let (status, body) = bearer.get_blob("auth/aws", &image.layers[0].digest);
    assert_eq!(status, 200);
    assert_eq!(body, image.layers[0].bytes);
}

/// `aws ecr get-login-password` with a wrong secret is refused by the ECR API, so no password
/// comes out of it.
#[test]
fn aws_ecr_get_login_password_with_a_wrong_secret_fails() {
    require("aws");
    let server = TestServer::start();
    let out = Command::new("aws")
        .args([
            "ecr",
            "get-login-password",
            "--endpoint-url",
            &server.base_url,
        ])
        .env("AWS_ACCESS_KEY_ID", ADMIN_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("run aws");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "printed a password anyway");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("InvalidSignatureException"), "{stderr}");
}
