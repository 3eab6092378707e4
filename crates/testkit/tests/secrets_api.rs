//! The Secrets Manager API (issue 14's subset, docs/secrets.md), black box against the real
//! server: every operation through the aws CLI; boto3 with each raw response checked strictly
//! against botocore's model, malformed and oversized input, idempotency and a least-privilege
//! user (`secrets_boto.py`); a user allowed one secret's GetSecretValue reads that one only; and
//! the value is nowhere in clear: not in the database files, the audit log, or a TRACE log.

use std::path::Path;
use std::process::Command;

use portcullis_testkit::scenario::assert_script_passes;
use portcullis_testkit::scenario::{self, admin, aws, user_with_policy, ACCOUNT, REGION};
use portcullis_testkit::{ServerOptions, TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};
use serde_json::{json, Value};

fn admin_key() -> (&'static str, &'static str) {
    (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY)
}

fn parsed(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("the CLI prints JSON ({e}): {out}"))
}

fn sm(server: &TestServer, args: &[&str]) -> Value {
    let mut all = vec!["secretsmanager"];
    all.extend_from_slice(args);
    let out = admin(server, &all);
    if out.is_empty() {
        Value::Null
    } else {
        parsed(&out)
    }
}

fn sm_err(server: &TestServer, key: (&str, &str), args: &[&str]) -> String {
    let mut all = vec!["secretsmanager"];
    all.extend_from_slice(args);
    aws(&server.base_url, key, &all)
        .err()
        .unwrap_or_else(|| panic!("aws {all:?} was expected to fail"))
}

fn is_secret_arn(arn: &str, name: &str) -> bool {
    let prefix = format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-");
    arn.strip_prefix(&prefix)
        .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[test]
fn every_operation_through_the_aws_cli() {
    let server = scenario::start("");
    let name = "ecr-pullthroughcache/docker-hub";
    let value = r#"{"username":"bot","accessToken":"dckr_pat_cli_round_trip"}"#;
    let created = sm(
        &server,
        &[
            "create-secret",
            "--name",
            name,
            "--description",
            "Docker Hub",
            "--secret-string",
            value,
            "--tags",
            "Key=team,Value=ci",
        ],
    );
    let arn = created["ARN"].as_str().expect("ARN").to_owned();
    assert!(is_secret_arn(&arn, name), "{arn}");
    let v1 = created["VersionId"].as_str().expect("VersionId").to_owned();

    let described = sm(&server, &["describe-secret", "--secret-id", &arn]);
    assert_eq!(described["Name"], name);
    assert_eq!(described["Description"], "Docker Hub");
    assert_eq!(described["Tags"], json!([{"Key": "team", "Value": "ci"}]));
    assert_eq!(
        described["VersionIdsToStages"],
        json!({ v1.clone(): ["AWSCURRENT"] })
    );

    let got = sm(&server, &["get-secret-value", "--secret-id", name]);
    assert_eq!(got["SecretString"], value);
    assert_eq!(got["ARN"], arn.as_str());

    let next = r#"{"username":"bot","accessToken":"dckr_pat_cli_rotated"}"#;
    let put = sm(
        &server,
        &[
            "put-secret-value",
            "--secret-id",
            name,
            "--secret-string",
            next,
        ],
    );
    assert_eq!(put["VersionStages"], json!(["AWSCURRENT"]));
    assert_eq!(
        sm(&server, &["get-secret-value", "--secret-id", name])["SecretString"],
        next
    );
    let previous = sm(
        &server,
        &[
            "get-secret-value",
            "--secret-id",
            name,
            "--version-stage",
            "AWSPREVIOUS",
        ],
    );
    assert_eq!(previous["SecretString"], value);
    assert_eq!(previous["VersionId"], v1.as_str());

    sm(
        &server,
        &[
            "tag-resource",
            "--secret-id",
            name,
            "--tags",
            "Key=tier,Value=1",
        ],
    );
    let described = sm(&server, &["describe-secret", "--secret-id", name]);
    assert_eq!(described["Tags"].as_array().map(Vec::len), Some(2));

    sm(
        &server,
        &[
            "create-secret",
            "--name",
            "other/one",
            "--secret-string",
            "x1",
        ],
    );
    let listed = sm(&server, &["list-secrets"]);
    let names: Vec<&str> = listed["SecretList"]
        .as_array()
        .expect("SecretList")
        .iter()
        .filter_map(|s| s["Name"].as_str())
        .collect();
    assert_eq!(names, [name, "other/one"]);
    let filtered = sm(
        &server,
        &[
            "list-secrets",
            "--filters",
            "Key=name,Values=ecr-pullthroughcache/",
        ],
    );
    assert_eq!(filtered["SecretList"].as_array().map(Vec::len), Some(1));

    let deleted = sm(
        &server,
        &[
            "delete-secret",
            "--secret-id",
            name,
            "--recovery-window-in-days",
            "7",
        ],
    );
    assert_eq!(deleted["ARN"], arn.as_str());
    assert!(deleted["DeletionDate"].is_number() || deleted["DeletionDate"].is_string());
    let refused = sm_err(
        &server,
        admin_key(),
        &["get-secret-value", "--secret-id", name],
    );
    assert!(refused.contains("(InvalidRequestException)"), "{refused}");
    assert!(
        sm(&server, &["describe-secret", "--secret-id", name])
            .get("DeletedDate")
            .is_some(),
        "DescribeSecret shows DeletedDate"
    );
    sm(
        &server,
        &[
            "delete-secret",
            "--secret-id",
            name,
            "--force-delete-without-recovery",
        ],
    );
    let gone = sm_err(
        &server,
        admin_key(),
        &["describe-secret", "--secret-id", name],
    );
    assert!(gone.contains("(ResourceNotFoundException)"), "{gone}");
}

#[test]
fn a_user_allowed_one_secret_reads_that_one_and_nothing_else() {
    let server = scenario::start("");
    let allowed = sm(
        &server,
        &[
            "create-secret",
            "--name",
            "team/allowed",
            "--secret-string",
            "allowed-value",
        ],
    );
    let other = sm(
        &server,
        &[
            "create-secret",
            "--name",
            "team/other",
            "--secret-string",
            "other-value",
        ],
    );
    let allowed_arn = allowed["ARN"].as_str().expect("ARN");
    let other_arn = other["ARN"].as_str().expect("ARN");
    let key = user_with_policy(
        &server,
        "reader",
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": allowed_arn}]}),
    );
    let reader = (key.0.as_str(), key.1.as_str());
    let got = parsed(
        &aws(
            &server.base_url,
            reader,
            &[
                "secretsmanager",
                "get-secret-value",
                "--secret-id",
                "team/allowed",
            ],
        )
        .expect("the reader reads its secret"),
    );
    assert_eq!(got["SecretString"], "allowed-value");

    let user = format!("arn:aws:iam::{ACCOUNT}:user/reader");
    let denied = sm_err(
        &server,
        reader,
        &["get-secret-value", "--secret-id", "team/other"],
    );
    assert!(denied.contains("(AccessDeniedException)"), "{denied}");
    assert!(
        denied.contains(&format!(
            "User: {user} is not authorized to perform: secretsmanager:GetSecretValue on resource: \
             {other_arn} because no identity-based policy allows the secretsmanager:GetSecretValue action"
        )),
        "{denied}"
    );
    let writes: [&[&str]; 6] = [
        &[
            "put-secret-value",
            "--secret-id",
            "team/allowed",
            "--secret-string",
            "overwritten",
        ],
        &[
            "create-secret",
            "--name",
            "team/new",
            "--secret-string",
            "x",
        ],
        &[
            "delete-secret",
            "--secret-id",
            "team/allowed",
            "--force-delete-without-recovery",
        ],
        &[
            "tag-resource",
            "--secret-id",
            "team/allowed",
            "--tags",
            "Key=a,Value=b",
        ],
        &["describe-secret", "--secret-id", "team/allowed"],
        &["list-secrets"],
    ];
    for args in writes {
        let e = sm_err(&server, reader, args);
        assert!(e.contains("(AccessDeniedException)"), "{args:?}: {e}");
        assert!(
            e.contains("is not authorized to perform: secretsmanager:"),
            "{e}"
        );
    }
    assert_eq!(
        sm(
            &server,
            &["get-secret-value", "--secret-id", "team/allowed"]
        )["SecretString"],
        "allowed-value",
        "nothing the reader tried changed the secret"
    );

    // Every decision is audited under Secrets Manager's event source, with the secret's ARN.
    let lines = scenario::audit_lines(server.data_dir());
    let denial = lines
        .iter()
        .find(|e| {
            e["eventSource"] == "secretsmanager.amazonaws.com"
                && e["eventName"] == "GetSecretValue"
                && e["decision"] == "deny"
        })
        .expect("the denial is audited");
    assert_eq!(denial["resources"][0]["ARN"], other_arn, "{denial}");
    assert_eq!(
        denial["resources"][0]["type"], "AWS::SecretsManager::Secret",
        "{denial}"
    );
}

#[test]
fn every_operation_through_boto3_matches_the_model() {
    let server = TestServer::start();
    assert_script_passes(&server, "secrets_boto.py");
}

/// Every file under `dir`, with the bytes of each.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn values_are_nowhere_in_clear_not_even_in_a_trace_log() {
    let server = TestServer::start_with(ServerOptions {
        env: vec![
            ("RUST_LOG".into(), "trace".into()),
            ("PORTCULLIS_AUTH__REGION".into(), REGION.into()),
            ("PORTCULLIS_AUTH__ACCOUNT_ID".into(), ACCOUNT.into()),
        ],
        ..ServerOptions::default()
    });
    let first = "first-SECRET-c0ffee-2f4e9a1b";
    let second = "second-SECRET-c0ffee-7d3a55e0";
    let binary = "binary-SECRET-c0ffee-91b2";
    let cli = |args: &[&str]| {
        let mut all = vec!["secretsmanager"];
        all.extend_from_slice(args);
        aws(&server.base_url, admin_key(), &all)
            .unwrap_or_else(|e| panic!("aws {all:?} failed: {e}"))
    };
    cli(&[
        "create-secret",
        "--name",
        "sealed/one",
        "--secret-string",
        first,
    ]);
    cli(&[
        "put-secret-value",
        "--secret-id",
        "sealed/one",
        "--secret-string",
        second,
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let blob = dir.path().join("value.bin");
    std::fs::write(&blob, binary).expect("write");
    cli(&[
        "create-secret",
        "--name",
        "sealed/binary",
        "--secret-binary",
        &format!("fileb://{}", blob.display()),
    ]);
    let got = parsed(&cli(&["get-secret-value", "--secret-id", "sealed/one"]));
    assert_eq!(got["SecretString"], second, "the value comes back whole");
    let previous = parsed(&cli(&[
        "get-secret-value",
        "--secret-id",
        "sealed/one",
        "--version-stage",
        "AWSPREVIOUS",
    ]));
    assert_eq!(previous["SecretString"], first);
    cli(&["get-secret-value", "--secret-id", "sealed/binary"]);
    // A refused request's body (a value too) is not logged either.
    let e = aws(
        &server.base_url,
        admin_key(),
        &[
            "secretsmanager",
            "create-secret",
            "--name",
            "sealed/one",
            "--secret-string",
            first,
        ],
    )
    .expect_err("the name is taken");
    assert!(e.contains("(ResourceExistsException)"), "{e}");

    let logs = server.wait_for_log(|l| l.contains("GetSecretValue") || l.contains("x-amz-target"));
    assert!(
        logs.lines().count() > 20,
        "the server logs at TRACE:\n{logs}"
    );
    for value in [first, second, binary] {
        assert!(!logs.contains(value), "a value is in the TRACE log");
        assert!(
            !logs.contains("c0ffee"),
            "part of a value is in the TRACE log"
        );
        for (path, bytes) in files(server.data_dir()) {
            assert!(
                !contains(&bytes, value.as_bytes()),
                "a value is in clear in {}",
                path.display()
            );
        }
    }
    let metadata_url = server
        .deployment_env()
        .into_iter()
        .find(|(k, _)| k == "PORTCULLIS_METADATA__URL")
        .map(|(_, v)| v);
    let db: Vec<Vec<u8>> = match metadata_url {
        // On PostgreSQL the rows are not in the data dir: a dump of the server's database is
        // what a stolen backup would hold.
        Some(url) => {
            let dump = Command::new("pg_dump")
                .arg(&url)
                .output()
                .expect("pg_dump (PostgreSQL's client) on PATH");
            assert!(dump.status.success(), "pg_dump failed");
            vec![dump.stdout]
        }
        None => files(server.data_dir())
            .into_iter()
            .filter(|(p, _)| p.to_string_lossy().contains("meta.sqlite"))
            .map(|(_, b)| b)
            .collect(),
    };
    assert!(!db.is_empty(), "the database was searched");
    for value in [first, second, binary] {
        assert!(
            db.iter().all(|b| !contains(b, value.as_bytes())),
            "a value is in clear in the database"
        );
    }
    assert!(
        db.iter().any(|b| contains(b, b"sealed/one")),
        "and it holds the secret's name, so the search did look at its rows"
    );
}

/// A retried CreateSecret compares the value with the existing secret's version: only for a
/// caller who may read that secret, or a known version id (DescribeSecret shows them) would
/// confirm guesses of its value.
#[test]
fn a_create_retry_confirms_no_value_to_a_caller_who_may_not_read_it() {
    let server = scenario::start("");
    let token = "11111111-2222-3333-4444-555555555555";
    sm(
        &server,
        &[
            "create-secret",
            "--name",
            "team/db",
            "--secret-string",
            "the-real-value",
            "--client-request-token",
            token,
        ],
    );
    let key = user_with_policy(
        &server,
        "creator",
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Action": ["secretsmanager:CreateSecret", "secretsmanager:DescribeSecret"],
            "Resource": "*"}]}),
    );
    let creator = (key.0.as_str(), key.1.as_str());
    for guess in ["the-real-value", "a-wrong-guess"] {
        let e = sm_err(
            &server,
            creator,
            &[
                "create-secret",
                "--name",
                "team/db",
                "--secret-string",
                guess,
                "--client-request-token",
                token,
            ],
        );
        assert!(
            e.contains("(ResourceExistsException)"),
            "the same answer whatever the guess ({guess}): {e}"
        );
    }
    // The admin, who may read it, gets the idempotent answer.
    let again = sm(
        &server,
        &[
            "create-secret",
            "--name",
            "team/db",
            "--secret-string",
            "the-real-value",
            "--client-request-token",
            token,
        ],
    );
    assert_eq!(again["VersionId"], token);
}
