//! What an attacker's review of the hardened registry found, each as a black-box regression
//! test of the real binary: IAM decisions that lacked the condition keys their Deny guards use
//! (`aws:ResourceTag/*`, `iam:PolicyARN`, `aws:RequestTag/*`), SimulatePrincipalPolicy
//! simulating a principal the ARN only ended in, request bodies buffered before the caller was
//! known, upload sessions usable by another principal, IAM audit events that did not say what
//! they were about, and query-protocol requests naming their operation twice.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use portcullis_testkit::scenario::{
    admin, audit_lines, aws, login_password, start, user_with_policy, Client2, ACCOUNT, REGION,
};
use portcullis_testkit::{basic_auth, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};
use serde_json::{json, Value};

fn as_user(
    server: &portcullis_testkit::TestServer,
    key: &(String, String),
    args: &[&str],
) -> Result<String, String> {
    aws(&server.base_url, (&key.0, &key.1), args)
}

fn denied(result: Result<String, String>) -> String {
    let e = result.expect_err("the call must be refused");
    assert!(e.contains("AccessDenied"), "{e}");
    e
}

#[test]
fn a_deny_on_a_resource_tag_guards_iam_users() {
    let server = start("");
    admin(
        &server,
        &[
            "iam",
            "tag-user",
            "--user-name",
            "admin",
            "--tags",
            "Key=protected,Value=true",
        ],
    );
    admin(&server, &["iam", "create-user", "--user-name", "intern"]);
    let jack = user_with_policy(
        &server,
        "jack",
        &json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "HelpdeskKeys", "Effect": "Allow",
             "Action": ["iam:CreateAccessKey", "iam:ListAccessKeys"],
             "Resource": format!("arn:aws:iam::{ACCOUNT}:user/*")},
            {"Sid": "NeverTouchProtected", "Effect": "Deny", "Action": "iam:*", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/protected": "true"}}}]}),
    );
    let e = denied(as_user(
        &server,
        &jack,
        &["iam", "create-access-key", "--user-name", "admin"],
    ));
    assert!(e.contains("explicit deny"), "{e}");
    as_user(
        &server,
        &jack,
        &["iam", "create-access-key", "--user-name", "intern"],
    )
    .expect("an untagged user is the help desk's to serve");

    // iam:ResourceTag is the IAM-specific spelling of the same key.
    let kim = user_with_policy(
        &server,
        "kim",
        &json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:ListAccessKeys", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:ListAccessKeys", "Resource": "*",
             "Condition": {"StringEquals": {"iam:ResourceTag/protected": "true"}}}]}),
    );
    denied(as_user(
        &server,
        &kim,
        &["iam", "list-access-keys", "--user-name", "admin"],
    ));
    as_user(
        &server,
        &kim,
        &["iam", "list-access-keys", "--user-name", "intern"],
    )
    .expect("untagged");

    // The audit event says whose key it was about.
    let events = audit_lines(server.data_dir());
    let refused = events
        .iter()
        .find(|e| e["eventName"] == "CreateAccessKey" && e["decision"] == "deny")
        .expect("the refusal is audited");
    assert_eq!(
        refused["resources"][0]["ARN"],
        format!("arn:aws:iam::{ACCOUNT}:user/admin"),
        "{refused}"
    );
    assert_eq!(
        refused["resources"][0]["type"], "AWS::IAM::User",
        "{refused}"
    );
}

#[test]
fn a_deny_on_the_policy_arn_guards_attachments() {
    let server = start("");
    let full = format!("arn:aws:iam::{ACCOUNT}:policy/FullAdmin");
    let reader = format!("arn:aws:iam::{ACCOUNT}:policy/Reader");
    admin(&server, &["iam", "create-policy", "--policy-name", "FullAdmin", "--policy-document",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}).to_string()]);
    admin(&server, &["iam", "create-policy", "--policy-name", "Reader", "--policy-document",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:Describe*", "Resource": "*"}]}).to_string()]);
    let hank = user_with_policy(
        &server,
        "hank",
        &json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:AttachUserPolicy", "Resource": format!("arn:aws:iam::{ACCOUNT}:user/*")},
            {"Effect": "Deny", "Action": "iam:AttachUserPolicy", "Resource": "*",
             "Condition": {"ArnEquals": {"iam:PolicyARN": full}}}]}),
    );
    denied(as_user(
        &server,
        &hank,
        &[
            "iam",
            "attach-user-policy",
            "--user-name",
            "hank",
            "--policy-arn",
            &full,
        ],
    ));
    as_user(
        &server,
        &hank,
        &[
            "iam",
            "attach-user-policy",
            "--user-name",
            "hank",
            "--policy-arn",
            &reader,
        ],
    )
    .expect("another policy may be attached");
    let attached = admin(
        &server,
        &["iam", "list-attached-user-policies", "--user-name", "hank"],
    );
    assert!(
        !attached.contains("FullAdmin") && attached.contains("Reader"),
        "{attached}"
    );
}

#[test]
fn request_tags_are_conditions_on_iam_tagging_and_create_with_tags_needs_tag_permission() {
    let server = start("");
    admin(&server, &["iam", "create-user", "--user-name", "target"]);
    let tagger = user_with_policy(
        &server,
        "tagger",
        &json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:TagUser", "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestTag/team": "a"},
                           "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}},
            {"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*"}]}),
    );
    denied(as_user(
        &server,
        &tagger,
        &[
            "iam",
            "tag-user",
            "--user-name",
            "target",
            "--tags",
            "Key=team,Value=b",
        ],
    ));
    denied(as_user(
        &server,
        &tagger,
        &[
            "iam",
            "tag-user",
            "--user-name",
            "target",
            "--tags",
            "Key=owner,Value=a",
        ],
    ));
    as_user(
        &server,
        &tagger,
        &[
            "iam",
            "tag-user",
            "--user-name",
            "target",
            "--tags",
            "Key=team,Value=a",
        ],
    )
    .expect("the allowed tag");
    // CreateUser with tags is also a TagUser, as in IAM.
    denied(as_user(
        &server,
        &tagger,
        &[
            "iam",
            "create-user",
            "--user-name",
            "u2",
            "--tags",
            "Key=team,Value=b",
        ],
    ));
    let users = admin(&server, &["iam", "list-users"]);
    assert!(!users.contains("\"u2\""), "{users}");
    as_user(
        &server,
        &tagger,
        &[
            "iam",
            "create-user",
            "--user-name",
            "u3",
            "--tags",
            "Key=team,Value=a",
        ],
    )
    .expect("created with the allowed tag");
}

#[test]
fn simulate_principal_policy_simulates_only_the_principal_the_arn_names() {
    let server = start("");
    admin(
        &server,
        &[
            "iam",
            "create-user",
            "--user-name",
            "gina",
            "--path",
            "/team-a/",
        ],
    );
    admin(&server, &["iam", "put-user-policy", "--user-name", "gina", "--policy-name", "p", "--policy-document",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy",
            "Resource": format!("arn:aws:iam::{ACCOUNT}:user/team-a/*")}]}).to_string()]);
    let key: Value = serde_json::from_str(&admin(
        &server,
        &["iam", "create-access-key", "--user-name", "gina"],
    ))
    .expect("json");
    let gina = (
        key["AccessKey"]["AccessKeyId"]
            .as_str()
            .expect("id")
            .to_owned(),
        key["AccessKey"]["SecretAccessKey"]
            .as_str()
            .expect("secret")
            .to_owned(),
    );
    let simulate = |arn: &str| {
        as_user(
            &server,
            &gina,
            &[
                "iam",
                "simulate-principal-policy",
                "--policy-source-arn",
                arn,
                "--action-names",
                "iam:CreateUser",
            ],
        )
    };
    // admin lives at `/`, so `user/team-a/admin` names no one, though gina may simulate it.
    let e =
        simulate(&format!("arn:aws:iam::{ACCOUNT}:user/team-a/admin")).expect_err("no such user");
    assert!(e.contains("NoSuchEntity"), "{e}");
    denied(simulate(&format!("arn:aws:iam::{ACCOUNT}:user/admin")));
    let e = simulate("arn:aws:iam::999999999999:user/team-a/gina").expect_err("another account");
    assert!(
        e.contains("AccessDenied") || e.contains("NoSuchEntity"),
        "{e}"
    );
    let own = simulate(&format!("arn:aws:iam::{ACCOUNT}:user/team-a/gina")).expect("her own");
    assert!(own.contains("implicitDeny"), "{own}");
}

/// Sends headers announcing a large body, then nothing, and returns how long the answer took.
fn unsigned_big_post(
    server: &portcullis_testkit::TestServer,
    target: Option<&str>,
) -> (Duration, String) {
    let mut s = TcpStream::connect(server.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: 30000000\r\n",
        server.addr
    );
    match target {
        Some(t) => head.push_str(&format!(
            "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: AmazonEC2ContainerRegistry_V20150921.{t}\r\n"
        )),
        None => head.push_str("Content-Type: application/x-www-form-urlencoded\r\n"),
    }
    head.push_str("\r\n");
    let started = Instant::now();
    s.write_all(head.as_bytes()).expect("send");
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    (
        started.elapsed(),
        String::from_utf8_lossy(&buf[..n]).into_owned(),
    )
}

#[test]
fn api_bodies_are_not_read_before_the_caller_is_known() {
    let server = start("");
    for target in [Some("DescribeRepositories"), None] {
        let (took, answer) = unsigned_big_post(&server, target);
        assert!(
            took < Duration::from_secs(5),
            "answered after {took:?}: {answer}"
        );
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
        assert!(answer.contains("MissingAuthenticationToken"), "{answer}");
    }
}

#[test]
fn an_upload_session_belongs_to_the_principal_that_opened_it() {
    let server = start("");
    let push = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
        "ecr:GetAuthorizationToken", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload", "ecr:BatchCheckLayerAvailability", "ecr:PutImage"], "Resource": "*"}]});
    admin(
        &server,
        &["ecr", "create-repository", "--repository-name", "app"],
    );
    let dave = user_with_policy(&server, "dave", &push);
    let erin = user_with_policy(&server, "erin", &push);
    let dave_c = Client2::new(
        &server.base_url,
        None,
        Some(basic_auth("AWS", &login_password(&server, &dave))),
    );
    let erin_c = Client2::new(
        &server.base_url,
        None,
        Some(basic_auth("AWS", &login_password(&server, &erin))),
    );
    let started = dave_c.send(reqwest::Method::POST, "/v2/app/blobs/uploads/", None);
    assert_eq!(started.status().as_u16(), 202);
    let location = started.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ] {
        let body = (method == reqwest::Method::PATCH).then(|| b"EVIL".to_vec());
        let r = erin_c.send(method.clone(), &location, body);
        assert_eq!(r.status().as_u16(), 404, "{method}");
        assert!(
            r.text().unwrap_or_default().contains("BLOB_UPLOAD_UNKNOWN"),
            "{method}"
        );
    }
    // The owner's session is untouched and finishes.
    let r = dave_c.send(reqwest::Method::PATCH, &location, Some(b"good".to_vec()));
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(r.headers()["range"], "0-3");
    let sep = if location.contains('?') { '&' } else { '?' };
    let digest = "sha256:770e607624d689265ca6c44884d0807d9b054d23c473c106c72be9de08b7376c";
    let r = dave_c.send(
        reqwest::Method::PUT,
        &format!("{location}{sep}digest={digest}"),
        None,
    );
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text());

    // The ECR API's upload ids are bound the same way.
    let init: Value = serde_json::from_str(
        &as_user(
            &server,
            &dave,
            &["ecr", "initiate-layer-upload", "--repository-name", "app"],
        )
        .expect("initiate"),
    )
    .expect("json");
    let id = init["uploadId"].as_str().expect("uploadId");
    let e = as_user(
        &server,
        &erin,
        &[
            "ecr",
            "upload-layer-part",
            "--repository-name",
            "app",
            "--upload-id",
            id,
            "--part-first-byte",
            "0",
            "--part-last-byte",
            "3",
            "--layer-part-blob",
            "RVZJTA==",
        ],
    )
    .expect_err("not erin's upload");
    assert!(e.contains("UploadNotFoundException"), "{e}");
}

/// Signs a raw IAM query-protocol request with botocore, as the admin, and returns the answer.
fn signed_iam(server: &portcullis_testkit::TestServer, query: &str, body: &str) -> String {
    let script = r#"
import sys, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, body, region, key, secret = sys.argv[1:6]
req = AWSRequest(method="POST", url=url, data=body.encode(),
                 headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
SigV4Auth(Credentials(key, secret), "iam", region).add_auth(req)
r = urllib.request.Request(url, data=body.encode(), headers=dict(req.headers.items()), method="POST")
try:
    print(urllib.request.urlopen(r).read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(format!("{}/{query}", server.base_url))
        .args([body, REGION, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY])
        .output()
        .expect("python3 with botocore");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn an_iam_request_names_its_operation_once() {
    let server = start("");
    let ok = signed_iam(&server, "", "Action=ListUsers&Version=2010-05-08");
    assert!(ok.contains("ListUsersResponse"), "{ok}");
    let both = signed_iam(
        &server,
        "?Action=CreateUser&UserName=qs",
        "Action=GetUser&Version=2010-05-08",
    );
    assert!(
        both.starts_with("400") && both.contains("InvalidInput"),
        "{both}"
    );
    let twice = signed_iam(
        &server,
        "",
        "Action=GetUser&Action=DeleteUser&UserName=admin&Version=2010-05-08",
    );
    assert!(
        twice.starts_with("400") && twice.contains("more than once"),
        "{twice}"
    );
    let users = admin(&server, &["iam", "list-users"]);
    assert!(
        users.contains("\"admin\"") && !users.contains("\"qs\""),
        "{users}"
    );
}
