//! Lifecycle policies that run: what a new user tried (a stored `imageCountMoreThan 1` never
//! expired anything and `lastEvaluatedAt` stayed 0), through the aws CLI and `portcullis
//! lifecycle run`, against a running server.

use portcullis_testkit::fixtures::Registry;
use portcullis_testkit::scenario::{admin, audit_lines, aws, start};
use portcullis_testkit::{TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};
use serde_json::Value;

fn lifecycle(server: &TestServer, args: &[&str]) -> (i32, String) {
    let config = server
        .data_dir()
        .parent()
        .expect("data dir has a parent")
        .join("portcullis.toml");
    let out = server
        .command()
        .args(["lifecycle", "run"])
        .args(args)
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .expect("portcullis lifecycle run");
    assert!(
        out.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn tags_left(server: &TestServer, repo: &str) -> Vec<String> {
    let out: Value = serde_json::from_str(&admin(
        server,
        &["ecr", "describe-images", "--repository-name", repo],
    ))
    .expect("json");
    let mut tags: Vec<String> = out["imageDetails"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| {
            d["imageTags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();
    tags.sort();
    tags
}

fn last_evaluated(server: &TestServer, repo: &str) -> f64 {
    let out: Value = serde_json::from_str(&admin(
        server,
        &["ecr", "get-lifecycle-policy", "--repository-name", repo],
    ))
    .expect("json");
    out["lastEvaluatedAt"].as_f64().unwrap_or(-1.0)
}

#[test]
fn a_count_rule_keeps_the_newest_and_records_its_evaluation() {
    let server = start("");
    let reg = Registry::new(&server);
    for tag in ["v1", "v2", "v3"] {
        reg.push_image("team/app", tag, 1, 512);
        // Push times are in milliseconds: keep them apart so "newest" is well defined.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    reg.push_image("team/app", "latest", 1, 512);
    let policy = r#"{"rules":[
        {"rulePriority":1,"description":"keep the newest release","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
        {"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"expire"}}
    ]}"#;
    admin(
        &server,
        &[
            "ecr",
            "put-lifecycle-policy",
            "--repository-name",
            "team/app",
            "--lifecycle-policy-text",
            policy,
        ],
    );
    assert_eq!(last_evaluated(&server, "team/app"), 0.0);

    let (code, out) = lifecycle(&server, &["--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("would expire 2 images in 1 repositories"),
        "{out}"
    );
    assert!(
        out.contains("(v1) by rule 1") && out.contains("(v2) by rule 1"),
        "{out}"
    );
    assert_eq!(tags_left(&server, "team/app"), ["latest", "v1", "v2", "v3"]);
    assert_eq!(
        last_evaluated(&server, "team/app"),
        0.0,
        "a dry run records nothing"
    );

    let (code, out) = lifecycle(&server, &["--repository", "team/app"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("expired 2 images"), "{out}");
    assert_eq!(tags_left(&server, "team/app"), ["latest", "v3"]);
    assert!(last_evaluated(&server, "team/app") > 1.7e9);
    let expiries: Vec<Value> = audit_lines(server.data_dir())
        .into_iter()
        .filter(|e| e["eventName"] == "PolicyExecutionEvent")
        .collect();
    assert_eq!(expiries.len(), 2);
    assert!(expiries
        .iter()
        .all(|e| e["repository"] == "team/app" && e["userIdentity"]["type"] == "AWSService"));

    // Nothing more to do: a second run expires nothing.
    let (_, out) = lifecycle(&server, &[]);
    assert!(out.contains("expired 0 images"), "{out}");
    let (code, _) = lifecycle(&server, &["--repository", "nope"]);
    assert_ne!(code, 0);
}

#[test]
fn rules_that_cannot_run_are_refused_not_ignored() {
    let server = start("");
    Registry::new(&server).push_image("team/app", "v1", 1, 64);
    let transition = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}}]}"#;
    let err = aws(
        &server.base_url,
        (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY),
        &[
            "ecr",
            "put-lifecycle-policy",
            "--repository-name",
            "team/app",
            "--lifecycle-policy-text",
            transition,
        ],
    )
    .expect_err("a transition rule is refused");
    assert!(
        err.contains("InvalidParameterException") && err.contains("not available"),
        "{err}"
    );
}

/// No manual step: a server whose lifecycle interval is short applies a stored policy itself.
#[test]
fn the_schedule_applies_policies_on_its_own() {
    let server = start("[lifecycle]\ninterval_seconds = 1\n");
    let reg = Registry::new(&server);
    for tag in ["v1", "v2", "v3"] {
        reg.push_image("team/app", tag, 1, 256);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let policy = r#"{"rules":[{"rulePriority":1,"description":"newest two","selection":{"tagStatus":"tagged","tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}"#;
    admin(
        &server,
        &[
            "ecr",
            "put-lifecycle-policy",
            "--repository-name",
            "team/app",
            "--lifecycle-policy-text",
            policy,
        ],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while tags_left(&server, "team/app") != ["v2", "v3"] && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(
        tags_left(&server, "team/app"),
        ["v2", "v3"],
        "{}",
        server.logs()
    );
    assert!(last_evaluated(&server, "team/app") > 1.7e9);
}
