//! The audit trail holds or the request fails, and logs at every level keep secrets out, black
//! box: an audit log that cannot be written (`/dev/full` takes the open and fails every write)
//! refuses the requests whose decisions it would have recorded, unless `[audit] fail_open`; a
//! server at TRACE prints no token, secret key, signature or Authorization header.

use portcullis_testkit::scenario::*;
use portcullis_testkit::{
    basic_auth, ServerOptions, TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY,
};
use serde_json::Value;

fn admin_key() -> (&'static str, &'static str) {
    (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)
}

#[test]
fn an_unwritable_audit_log_fails_requests_closed() {
    if !std::path::Path::new("/dev/full").exists() {
        panic!("this test needs /dev/full (every Linux has it)");
    }
    let server = start("[audit]\npath = \"/dev/full\"\n");
    let root = Client2::new(
        &server.base_url,
        None,
        Some(basic_auth("AWS", &server.admin_password())),
    );
    let (status, body) = root.get("/v2/any/thing/manifests/v1");
    assert_eq!(
        status, 500,
        "a decision that cannot be audited is not made: {body}"
    );
    assert_eq!(code_of(&body), "UNKNOWN", "{body}");
    let (status, _) = root.push_blob("any/thing", b"data");
    assert_eq!(status, 500, "nor is a push");
    let refused = aws(
        &server.base_url,
        admin_key(),
        &["ecr", "get-authorization-token"],
    )
    .expect_err("the ECR API refuses too");
    assert!(refused.contains("ServerException"), "{refused}");
    let refused =
        aws(&server.base_url, admin_key(), &["iam", "list-users"]).expect_err("and the IAM API");
    assert!(refused.contains("ServiceFailure"), "{refused}");
    let logs = server.wait_for_log(|l| l.contains("audit log write failed"));
    assert!(
        logs.contains("audit log write failed"),
        "the operator is told why:\n{logs}"
    );
}

#[test]
fn fail_open_serves_when_the_audit_log_cannot_be_written() {
    let server = start("[audit]\npath = \"/dev/full\"\nfail_open = true\n");
    let root = Client2::new(
        &server.base_url,
        None,
        Some(basic_auth("AWS", &server.admin_password())),
    );
    assert_eq!(root.push_image("open/app", "v1").0, 201);
    assert_eq!(root.get("/v2/open/app/manifests/v1").0, 200);
    let listed = aws(
        &server.base_url,
        admin_key(),
        &["ecr", "describe-repositories"],
    )
    .expect("served");
    assert!(listed.contains("open/app"), "{listed}");
    assert!(server
        .wait_for_log(|l| l.contains("audit log write failed"))
        .contains("audit log write failed"));
}

#[test]
fn trace_logs_carry_no_secrets() {
    let server = TestServer::start_with(ServerOptions {
        // The scenario's aws CLI signs for its account and region, which the server checks.
        env: vec![
            ("RUST_LOG".into(), "trace".into()),
            ("PORTCULLIS_AUTH__REGION".into(), REGION.into()),
            ("PORTCULLIS_AUTH__ACCOUNT_ID".into(), ACCOUNT.into()),
        ],
        ..ServerOptions::default()
    });
    let password = server.admin_password();
    let root = Client2::new(&server.base_url, None, Some(basic_auth("AWS", &password)));
    assert_eq!(root.push_image("secret/app", "v1").0, 201);
    let (_, manifest) = root.get("/v2/secret/app/manifests/v1");
    let manifest: Value = serde_json::from_str(&manifest).expect("manifest");
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer");
    let (status, _) = root.get("/v2/token?service=ecr.amazonaws.com");
    assert_eq!(status, 200);
    let bearer = Client2::new(&server.base_url, None, Some(format!("Bearer {password}")));
    assert_eq!(bearer.get("/v2/").0, 200);
    let url: Value = serde_json::from_str(
        &aws(
            &server.base_url,
            admin_key(),
            &[
                "ecr",
                "get-download-url-for-layer",
                "--repository-name",
                "secret/app",
                "--layer-digest",
                layer,
            ],
        )
        .expect("download URL"),
    )
    .expect("JSON");
    let url = url["downloadUrl"].as_str().expect("url");
    assert_eq!(Client2::new(&server.base_url, None, None).get(url).0, 200);
    aws(&server.base_url, admin_key(), &["iam", "list-users"]).expect("signed IAM call");

    let signature = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("X-Portcullis-Signature="))
        .expect("the URL is signed");
    let logs = server.wait_for_log(|l| l.contains("secret/app"));
    assert!(
        logs.contains("secret/app"),
        "requests are logged at TRACE:\n{logs}"
    );
    for (what, secret) in [
        ("the registry token", password.as_str()),
        ("the secret access key", ADMIN_SECRET_ACCESS_KEY),
        ("the download URL's signature", signature),
        (
            "a Basic Authorization header",
            &basic_auth("AWS", &password)[6..],
        ),
        (
            "a SigV4 Authorization header",
            "AWS4-HMAC-SHA256 Credential=",
        ),
    ] {
        assert!(!logs.contains(secret), "{what} is in the log");
    }
}
