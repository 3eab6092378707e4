//! Every ECR and IAM operation the server serves is decided before it acts (issue 10: one
//! operation enum per protocol, no route without an authorization decision), black box:
//! `operations_decided.py` calls each one, with valid input, as a user who holds no permission,
//! and each must be refused with the protocol's AccessDenied; the audit log then holds a denial
//! for each of them, named as CloudTrail names it (`CreateUser`, not `iam:CreateUser`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use portcullis_testkit::scenario::audit_lines;
use portcullis_testkit::{TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};

#[test]
fn every_operation_is_refused_to_a_user_without_permissions_and_audited() {
    let server = TestServer::start();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/operations_decided.py"))
        .arg(&server.base_url)
        .arg(&root)
        .env("AWS_ACCESS_KEY_ID", ADMIN_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET_ACCESS_KEY)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("python3 with boto3 (scripts/install-test-deps.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "ALL OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let denied: BTreeSet<(String, String)> = audit_lines(server.data_dir())
        .iter()
        .filter(|e| e["decision"] == "deny" && e["userIdentity"]["userName"] == "nobody")
        .map(|e| {
            (
                e["eventSource"].as_str().unwrap_or_default().to_owned(),
                e["eventName"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("ok   ") else {
            continue;
        };
        let (service, operation) = rest.split_once(' ').expect("`ok   <service> <operation>`");
        let source = format!("{service}.amazonaws.com");
        assert!(
            denied.contains(&(source.clone(), operation.to_owned())),
            "no audited denial of {operation} from {source}; denials: {denied:?}"
        );
    }
}
