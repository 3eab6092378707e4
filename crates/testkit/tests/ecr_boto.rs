//! The whole ECR API through boto3 (`ecr_boto.py`): every implemented operation with its named
//! errors and pagination, each raw response checked strictly against botocore's model, every other
//! operation answering "not available", and a layer pushed through the API then pulled over `/v2/`.
//! Also checks that the README's compatibility table matches `EcrOperation` (`scripts/ecr-compat.py`).

use std::path::Path;
use std::process::{Command, Output};

use portcullis_testkit::{TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};

fn report(what: &str, out: &Output) -> String {
    format!(
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn every_operation_through_boto3_matches_the_model() {
    let server = TestServer::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ecr_boto.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&server.base_url)
        .env("AWS_ACCESS_KEY_ID", ADMIN_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET_ACCESS_KEY)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("python3 with boto3 (scripts/install-test-deps.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "ALL OK"),
        "{}\nserver log (last 200 lines):\n{}",
        report("ecr_boto.py", &out),
        tail(&server.logs(), 200)
    );
}

#[test]
fn readme_compatibility_table_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg(root.join("scripts/ecr-compat.py"))
        .arg("--check")
        .output()
        .expect("python3 with botocore (scripts/install-test-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        report("ecr-compat.py --check", &out)
    );
}
