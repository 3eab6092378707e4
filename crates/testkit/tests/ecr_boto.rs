//! The whole ECR API through boto3 (`ecr_boto.py`): every implemented operation with its named
//! errors and pagination, each raw response checked strictly against botocore's model, every other
//! operation answering "not available", and a layer pushed through the API then pulled over `/v2/`.
//! Also checks that the README's compatibility table matches `EcrOperation` (`scripts/ecr-compat.py`).

use std::path::Path;
use std::process::{Command, Output};

use portcullis_testkit::scenario::assert_script_passes;
use portcullis_testkit::TestServer;

fn report(what: &str, out: &Output) -> String {
    format!(
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_operation_through_boto3_matches_the_model() {
    let server = TestServer::start();
    assert_script_passes(&server, "ecr_boto.py");
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
