//! Stored policies that no longer parse, black box: written straight into SQLite, as an older
//! version (or a hand edit) could have left them, while the server runs. They fail closed: a
//! broken repository policy denies everything on that repository, a broken registry policy
//! every ECR action, each with a 403 and a log line naming the policy; `portcullis doctor`
//! names them (exit 1) and `--remove-broken` removes them.

use std::process::{Command, Output};

use portcullis_testkit::clients::require;
use portcullis_testkit::fixtures::*;
use portcullis_testkit::TestServer;
use serde_json::Value;

/// A document the policy grammar refuses (`Effect` is `Allow` or `Deny`), holding a Deny that
/// a lenient reader would drop.
const BROKEN: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:*","Resource":"*"},{"Effect":"Perhaps","Action":"ecr:*"}]}"#;

/// Runs one SQL statement with parameters against the server's database, from outside.
fn sql(server: &TestServer, statement: &str, params: &[&str]) {
    require("python3");
    let script = "import sqlite3, sys\n\
                  c = sqlite3.connect(sys.argv[1], timeout=30)\n\
                  c.execute(sys.argv[2], sys.argv[3:])\n\
                  c.commit()\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(server.data_dir().join("meta.sqlite"))
        .arg(statement)
        .args(params)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn doctor(server: &TestServer, extra: &[&str]) -> Output {
    server
        .command()
        .arg("doctor")
        .args(extra)
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .expect("portcullis doctor")
}

/// Asserts a 403 DENIED whose message names `policy` as unparsable.
#[track_caller]
fn assert_fails_closed(reg: &Registry, path: &str, policy: &str) {
    let resp = reg.get(path).send().expect("GET");
    let status = resp.status().as_u16();
    let body: Value = resp.json().unwrap_or(Value::Null);
    assert_eq!(status, 403, "{path}: {body}");
    assert_eq!(body["errors"][0]["code"], "DENIED", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("`{policy}`")) && message.contains("cannot be parsed"),
        "{message}"
    );
}

#[test]
fn a_broken_repository_policy_denies_everything_on_that_repository_and_doctor_names_it() {
    let mut server = TestServer::start();
    let reg = Registry::new(&server);
    reg.push_image("app", "v1", 1, 64);
    reg.push_image("other", "v1", 1, 64);
    assert_eq!(reg.get("/v2/app/tags/list").send().unwrap().status(), 200);

    sql(
        &server,
        "UPDATE repositories SET policy = ? WHERE name = 'app'",
        &[BROKEN],
    );
    // The administrator's identity policy allows everything; the broken policy's Deny wins.
    assert_fails_closed(&reg, "/v2/app/tags/list", "repository/app");
    assert_fails_closed(&reg, "/v2/app/manifests/v1", "repository/app");
    assert_eq!(
        reg.get("/v2/other/tags/list").send().unwrap().status(),
        200,
        "other repositories are not affected"
    );
    let names_it = |l: &str| l.contains("ERROR") && l.contains("repository/app");
    let logs = server.wait_for_log(names_it);
    assert!(logs.lines().any(names_it), "{logs}");

    let out = doctor(&server, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("`repository/app` does not parse"),
        "{stdout}"
    );

    server.restart();
    let start = server.wait_for_log(names_it);
    assert!(
        start.lines().any(names_it),
        "the start-up log names it: {start}"
    );
    let reg = Registry::new(&server);
    assert_fails_closed(&reg, "/v2/app/tags/list", "repository/app");

    let out = doctor(&server, &["--remove-broken"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("removed: policy `repository/app`"),
        "{stdout}"
    );
    assert_eq!(reg.get("/v2/app/tags/list").send().unwrap().status(), 200);
    assert_eq!(doctor(&server, &[]).status.code(), Some(0));
}

#[test]
fn a_broken_registry_policy_denies_every_ecr_action() {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    reg.push_image("app", "v1", 1, 64);
    sql(
        &server,
        "INSERT INTO registry_settings (name, value) VALUES ('registry_policy', ?)",
        &[BROKEN],
    );
    assert_fails_closed(&reg, "/v2/app/tags/list", "registry");
    assert_fails_closed(&reg, "/v2/app/manifests/v1", "registry");
    let out = doctor(&server, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("`registry` does not parse"), "{stdout}");
}

#[test]
fn a_broken_identity_policy_denies_every_action_of_its_user() {
    let server = TestServer::start();
    let reg = Registry::new(&server);
    reg.push_image("app", "v1", 1, 64);
    sql(
        &server,
        "INSERT INTO iam_inline_policies (kind, owner, policy_name, document) \
         VALUES ('user', 'admin', 'legacy', ?)",
        &[BROKEN],
    );
    assert_fails_closed(&reg, "/v2/app/tags/list", "user/admin/legacy");
    let out = doctor(&server, &["--remove-broken"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(reg.get("/v2/app/tags/list").send().unwrap().status(), 200);
}
