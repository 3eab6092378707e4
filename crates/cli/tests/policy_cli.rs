//! `portcullis policy validate` and `portcullis policy simulate`, run as the real binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const R: &str = "arn:aws:ecr:ap-northeast-1:111122223333:repository/";

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }
    fn file(&self, name: &str, body: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ci_push() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
  {{"Sid":"GetToken","Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}},
  {{"Sid":"PushOneRepo","Effect":"Allow","Action":["ecr:BatchCheckLayerAvailability","ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:PutImage"],"Resource":"{R}web-api"}}]}}"#
    )
}

const PERIMETER: &str = r#"{"Version":"2012-10-17","Id":"WebApiPerimeter","Statement":[
  {"Sid":"DenyUnlessOfficeIpOrVpce","Effect":"Deny","Principal":"*","Action":"ecr:*",
   "Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-0a1b2c3d4e5f67890"},
     "NotIpAddress":{"aws:SourceIp":"198.51.100.7/32"},
     "BoolIfExists":{"aws:PrincipalIsAWSService":"false"}}},
  {"Sid":"AllowInspectorScan","Effect":"Allow","Principal":{"Service":"inspector2.amazonaws.com"},
   "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}"#;

#[test]
fn simulate_prints_one_line_per_action_and_resource() {
    let d = Dir::new();
    let pol = d.file("ci-push.json", &ci_push());
    let web = format!("{R}web-api");
    let other = format!("{R}other");
    let out = run(&[
        "policy",
        "simulate",
        "--policy",
        p(&pol),
        "--action",
        "ecr:PutImage",
        "--action",
        "ecr:BatchGetImage",
        "--resource",
        &web,
        "--resource",
        &other,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let l = lines(&out);
    assert_eq!(l.len(), 4);
    assert_eq!(l[0]["EvalActionName"], "ecr:PutImage");
    assert_eq!(l[0]["EvalResourceName"], web.as_str());
    assert_eq!(l[0]["EvalDecision"], "allowed");
    let m = &l[0]["MatchedStatements"][0];
    assert_eq!(m["SourcePolicyId"], p(&pol));
    assert_eq!(m["SourcePolicyType"], "identity");
    assert_eq!(m["Sid"], "PushOneRepo");
    assert_eq!(m["Index"], 1);
    assert_eq!(l[0]["MissingContextValues"], serde_json::json!([]));
    assert_eq!(l[1]["EvalResourceName"], other.as_str());
    assert_eq!(l[1]["EvalDecision"], "implicitDeny");
    assert_eq!(l[2]["EvalDecision"], "implicitDeny");
    assert_eq!(l[3]["EvalDecision"], "implicitDeny");
    assert_eq!(l[3]["MatchedStatements"], serde_json::json!([]));
}

#[test]
fn simulate_token_needs_star() {
    let d = Dir::new();
    let pol = d.file("ci-push.json", &ci_push());
    let out = run(&[
        "policy",
        "simulate",
        "--policy",
        p(&pol),
        "--action",
        "ecr:GetAuthorizationToken",
        "--resource",
        "*",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lines(&out)[0]["EvalDecision"], "allowed");
}

#[test]
fn simulate_with_repository_policy_and_context() {
    let d = Dir::new();
    let dev = d.file(
        "dev.json",
        &format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"ecr:*","Resource":"{R}*"}}}}"#),
    );
    let rp = d.file("perimeter.json", PERIMETER);
    let web = format!("{R}web-api");
    let base = [
        "policy",
        "simulate",
        "--policy",
        p(&dev),
        "--resource-policy",
        p(&rp),
        "--caller-arn",
        "arn:aws:iam::111122223333:user/dev",
        "--action",
        "ecr:BatchGetImage",
        "--resource",
        &web,
    ];
    let mut args = base.to_vec();
    args.extend(["--context", "aws:SourceIp=ip:192.0.2.9", "--explain"]);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let l = &lines(&out)[0];
    assert_eq!(l["EvalDecision"], "explicitDeny");
    assert_eq!(l["MatchedStatements"][0]["SourcePolicyType"], "resource");
    assert_eq!(l["MatchedStatements"][0]["Sid"], "DenyUnlessOfficeIpOrVpce");
    assert_eq!(
        l["Explanation"],
        "with an explicit deny in a resource-based policy"
    );
    // The office address passes the perimeter; the endpoint key is reported as missing.
    let mut args = base.to_vec();
    args.extend(["--context", "aws:SourceIp=ip:198.51.100.7"]);
    let l = &lines(&run(&args))[0];
    assert_eq!(l["EvalDecision"], "allowed");
    assert_eq!(
        l["MissingContextValues"],
        serde_json::json!(["aws:SourceVpce"])
    );
}

#[test]
fn simulate_service_and_anonymous_callers() {
    let d = Dir::new();
    let rp = d.file("perimeter.json", PERIMETER);
    let web = format!("{R}web-api");
    let svc = run(&[
        "policy",
        "simulate",
        "--resource-policy",
        p(&rp),
        "--caller-arn",
        "service:inspector2.amazonaws.com",
        "--action",
        "ecr:BatchGetImage",
        "--resource",
        &web,
        "--context",
        "aws:SourceIp=ip:192.0.2.9",
    ]);
    assert_eq!(lines(&svc)[0]["EvalDecision"], "allowed");
    let anon = run(&[
        "policy",
        "simulate",
        "--resource-policy",
        p(&rp),
        "--caller-arn",
        "anonymous",
        "--action",
        "ecr:BatchGetImage",
        "--resource",
        &web,
        "--context",
        "aws:SourceIp=ip:198.51.100.7",
    ]);
    assert_eq!(lines(&anon)[0]["EvalDecision"], "implicitDeny");
}

#[test]
fn simulate_list_context() {
    let d = Dir::new();
    let pol = d.file(
        "tags.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:CreateRepository","Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}}}"#,
    );
    let res = format!("{R}new");
    let ok = run(&[
        "policy",
        "simulate",
        "--policy",
        p(&pol),
        "--action",
        "ecr:CreateRepository",
        "--resource",
        &res,
        "--context",
        "aws:TagKeys=stringList:team,env",
    ]);
    assert_eq!(lines(&ok)[0]["EvalDecision"], "allowed");
    let no = run(&[
        "policy",
        "simulate",
        "--policy",
        p(&pol),
        "--action",
        "ecr:CreateRepository",
        "--resource",
        &res,
        "--context",
        "aws:TagKeys=stringList:team,owner",
    ]);
    assert_eq!(lines(&no)[0]["EvalDecision"], "implicitDeny");
}

#[test]
fn simulate_bad_input_exits_2() {
    let d = Dir::new();
    let pol = d.file("ci-push.json", &ci_push());
    let bad = d.file("bad.json", r#"{"Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"nope"}}}]}"#);
    let web = format!("{R}web-api");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--policy", "/nonexistent/policy.json"], "cannot read"),
        (
            vec!["--policy", p(&bad)],
            "Statement[0].Condition.IpAddress.aws:SourceIp",
        ),
        (
            vec!["--policy", p(&pol), "--context", "aws:SourceIp"],
            "KEY=TYPE:VALUE",
        ),
        (
            vec![
                "--policy",
                p(&pol),
                "--context",
                "aws:SourceIp=ip:not-an-ip",
            ],
            "not a valid ip",
        ),
        (
            vec!["--policy", p(&pol), "--context", "k=color:red"],
            "unknown context type",
        ),
        (
            vec!["--policy", p(&pol), "--caller-arn", "bob"],
            "invalid caller",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec![
            "policy",
            "simulate",
            "--action",
            "ecr:PutImage",
            "--resource",
            &web,
        ];
        args.extend(extra.iter().copied());
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn validate_reports_paths_and_exit_codes() {
    let d = Dir::new();
    let good = d.file("good.json", &ci_push());
    let warn = d.file(
        "warn.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"ecr:DeleteRepository","Resource":"*",
            "Condition":{"IpAddress":{"aws:username":"203.0.113.0/24"}}}}"#,
    );
    let bad = d.file(
        "bad.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"},
            {"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"x"}}}]}"#,
    );
    let out = run(&["policy", "validate", p(&good)]);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["policy", "validate", p(&warn)]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: Statement: Allow with NotAction"),
        "{text}"
    );
    assert!(text.contains("warning: Statement.Condition.IpAddress.aws:username: operator `IpAddress` expects an IP address key"), "{text}");
    let out = run(&["policy", "validate", p(&good), p(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("error: Statement[1].Condition.IpAddress.aws:SourceIp: invalid value `x` for `IpAddress`"), "{text}");
    let out = run(&["policy", "validate", "--json", p(&bad)]);
    let l = lines(&out);
    assert_eq!(l[0]["severity"], "error");
    assert_eq!(
        l[0]["path"],
        "Statement[1].Condition.IpAddress.aws:SourceIp"
    );
    let out = run(&["policy", "validate", "/nonexistent.json"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn validate_detects_kind_from_principal() {
    let d = Dir::new();
    let rp = d.file("perimeter.json", PERIMETER);
    assert_eq!(run(&["policy", "validate", p(&rp)]).status.code(), Some(0));
    let out = run(&["policy", "validate", "--kind", "identity", p(&rp)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("Principal is not allowed in identity-based policies"));
}

#[test]
fn help_teaches_with_examples() {
    let out = run(&["policy", "simulate", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Examples:"));
    assert!(text.contains("stringList"));
    let out = run(&["policy", "validate", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Examples:"));
}
