//! Input validation of the ECR API against botocore's model (`ecr_inputs.py`): for every
//! implemented operation, requests that each break one constraint of one input member (required,
//! type, length, pattern, enum, range, list size, nested members too) must be refused with HTTP 400,
//! a modelled InvalidParameterException/ValidationException (or the tag errors the model names)
//! and a message naming the member; malformed bodies and unknown targets are refused as well.

use std::path::Path;
use std::process::Command;

use portcullis_testkit::{TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The script's summary (counts, skips, every failure), which it prints after the per-case
/// lines; those run to a thousand and would bury it.
fn summary(stdout: &str) -> String {
    match stdout.find("\n== summary") {
        Some(at) => stdout[at + 1..].to_owned(),
        None => tail(stdout, 150),
    }
}

#[test]
fn every_input_constraint_of_the_model_is_enforced() {
    let server = TestServer::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ecr_inputs.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&server.base_url)
        .env("AWS_ACCESS_KEY_ID", ADMIN_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET_ACCESS_KEY)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("python3 with botocore (scripts/install-test-deps.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "ALL OK"),
        "ecr_inputs.py failed ({}):\n{}\n{}\nserver log (last 100 lines):\n{}",
        out.status,
        summary(&stdout),
        String::from_utf8_lossy(&out.stderr),
        tail(&server.logs(), 100)
    );
}
