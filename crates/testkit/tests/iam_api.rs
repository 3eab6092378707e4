//! The IAM admin API (AWS query protocol on `POST /`), black-box: the real `aws iam` CLI and
//! boto3 against the real server. Every operation's success path, pagination, each named
//! error with its status, signature failures, the protocol switch on `POST /`, and revocation
//! taking effect on the very next registry request.

use std::process::Command;

use portcullis_testkit::scenario::assert_script_passes;
use portcullis_testkit::{basic_auth, TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const ADMIN: (&str, &str) = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY);

/// Runs the real aws CLI with a key pair: stdout on success, stderr on failure.
fn aws(base_url: &str, key: (&str, &str), args: &[&str]) -> Result<String, String> {
    let out = Command::new("aws")
        .args(args)
        .args(["--endpoint-url", base_url, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("the aws CLI is installed");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn admin(server: &TestServer, args: &[&str]) -> Value {
    let out = aws(&server.base_url, ADMIN, args)
        .unwrap_or_else(|e| panic!("aws {args:?} as admin failed: {e}"));
    if out.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("aws {args:?}: {e}: {out}"))
    }
}

/// Asserts that the CLI fails with the AWS error `code`.
fn admin_fails(server: &TestServer, args: &[&str], code: &str) -> String {
    let err = aws(&server.base_url, ADMIN, args).expect_err("the call should fail");
    assert!(
        err.contains(&format!("An error occurred ({code})")),
        "aws {args:?}: expected {code}, got {err}"
    );
    err
}

const ECR_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#;

#[test]
fn users_access_keys_and_inline_policies_with_the_cli() {
    let server = TestServer::start();
    let created = admin(
        &server,
        &[
            "iam",
            "create-user",
            "--user-name",
            "alice",
            "--path",
            "/dev/",
        ],
    );
    assert_eq!(created["User"]["UserName"], "alice");
    assert_eq!(created["User"]["Path"], "/dev/");
    assert!(created["User"]["Arn"]
        .as_str()
        .unwrap()
        .ends_with(":user/dev/alice"));
    assert!(created["User"]["UserId"]
        .as_str()
        .unwrap()
        .starts_with("AIDA"));
    let got = admin(&server, &["iam", "get-user", "--user-name", "alice"]);
    assert_eq!(got["User"], created["User"]);
    // Without a name, GetUser answers for the caller.
    let me = admin(&server, &["iam", "get-user"]);
    assert_eq!(me["User"]["UserName"], "admin");
    let users = admin(&server, &["iam", "list-users"]);
    let names: Vec<&str> = users["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "alice"]);
    let dev = admin(&server, &["iam", "list-users", "--path-prefix", "/dev/"]);
    assert_eq!(dev["Users"].as_array().unwrap().len(), 1);

    let key = admin(
        &server,
        &["iam", "create-access-key", "--user-name", "alice"],
    );
    let id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = key["AccessKey"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(key["AccessKey"]["Status"], "Active");
    assert!(secret.len() >= 40);
    let keys = admin(
        &server,
        &["iam", "list-access-keys", "--user-name", "alice"],
    );
    assert_eq!(keys["AccessKeyMetadata"][0]["AccessKeyId"], id.as_str());
    assert!(
        keys["AccessKeyMetadata"][0]
            .get("SecretAccessKey")
            .is_none(),
        "the secret is shown once"
    );

    // A new user can do nothing; an inline policy grants exactly what it says.
    let alice = (id.as_str(), secret.as_str());
    let denied = aws(&server.base_url, alice, &["iam", "get-user"]).unwrap_err();
    assert!(denied.contains("(AccessDenied)"), "{denied}");
    assert!(
        denied.contains("is not authorized to perform: iam:GetUser on resource: arn:aws:iam::"),
        "{denied}"
    );
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:GetUser", "iam:ListAccessKeys"], "Resource": "arn:aws:iam::*:user/dev/${aws:username}"}
    ]})
    .to_string();
    admin(
        &server,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "self",
            "--policy-document",
            &policy,
        ],
    );
    let got = admin(
        &server,
        &[
            "iam",
            "get-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "self",
        ],
    );
    assert_eq!(
        got["PolicyDocument"],
        serde_json::from_str::<Value>(&policy).unwrap()
    );
    let names = admin(
        &server,
        &["iam", "list-user-policies", "--user-name", "alice"],
    );
    assert_eq!(names["PolicyNames"], json!(["self"]));
    let me = aws(&server.base_url, alice, &["iam", "get-user"]).expect("allowed now");
    assert!(me.contains("\"alice\""), "{me}");
    let other = aws(
        &server.base_url,
        alice,
        &["iam", "get-user", "--user-name", "admin"],
    )
    .unwrap_err();
    assert!(other.contains("(AccessDenied)"), "{other}");

    // Deactivating the key refuses it at once; reactivating restores it.
    admin(
        &server,
        &[
            "iam",
            "update-access-key",
            "--user-name",
            "alice",
            "--access-key-id",
            &id,
            "--status",
            "Inactive",
        ],
    );
    let refused = aws(&server.base_url, alice, &["iam", "get-user"]).unwrap_err();
    assert!(refused.contains("(InvalidClientTokenId)"), "{refused}");
    admin(
        &server,
        &[
            "iam",
            "update-access-key",
            "--user-name",
            "alice",
            "--access-key-id",
            &id,
            "--status",
            "Active",
        ],
    );
    aws(&server.base_url, alice, &["iam", "get-user"]).expect("active again");

    // IAM makes the caller detach before deleting.
    admin_fails(
        &server,
        &["iam", "delete-user", "--user-name", "alice"],
        "DeleteConflict",
    );
    admin(
        &server,
        &[
            "iam",
            "delete-user-policy",
            "--user-name",
            "alice",
            "--policy-name",
            "self",
        ],
    );
    admin(
        &server,
        &[
            "iam",
            "delete-access-key",
            "--user-name",
            "alice",
            "--access-key-id",
            &id,
        ],
    );
    admin(&server, &["iam", "delete-user", "--user-name", "alice"]);
    admin_fails(
        &server,
        &["iam", "get-user", "--user-name", "alice"],
        "NoSuchEntity",
    );
}

#[test]
fn groups_roles_managed_policies_and_tags_with_the_cli() {
    let server = TestServer::start();
    admin(&server, &["iam", "create-user", "--user-name", "bob"]);
    let g = admin(&server, &["iam", "create-group", "--group-name", "devs"]);
    assert!(g["Group"]["GroupId"].as_str().unwrap().starts_with("AGPA"));
    admin(
        &server,
        &[
            "iam",
            "add-user-to-group",
            "--group-name",
            "devs",
            "--user-name",
            "bob",
        ],
    );
    let got = admin(&server, &["iam", "get-group", "--group-name", "devs"]);
    assert_eq!(got["Users"][0]["UserName"], "bob");
    assert_eq!(
        admin(&server, &["iam", "list-groups"])["Groups"][0]["GroupName"],
        "devs"
    );
    admin(
        &server,
        &[
            "iam",
            "put-group-policy",
            "--group-name",
            "devs",
            "--policy-name",
            "g",
            "--policy-document",
            ECR_ALL,
        ],
    );
    assert_eq!(
        admin(
            &server,
            &[
                "iam",
                "get-group-policy",
                "--group-name",
                "devs",
                "--policy-name",
                "g"
            ]
        )["PolicyDocument"]["Statement"][0]["Action"],
        "ecr:*"
    );

    let trust = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]});
    let role = admin(
        &server,
        &[
            "iam",
            "create-role",
            "--role-name",
            "builder",
            "--assume-role-policy-document",
            &trust.to_string(),
            "--description",
            "CI builder",
            "--tags",
            "Key=team,Value=ci",
        ],
    );
    assert_eq!(role["Role"]["AssumeRolePolicyDocument"], trust);
    assert_eq!(role["Role"]["MaxSessionDuration"], 3600);
    let got = admin(&server, &["iam", "get-role", "--role-name", "builder"]);
    assert_eq!(got["Role"]["Tags"], json!([{"Key": "team", "Value": "ci"}]));
    assert_eq!(got["Role"]["Description"], "CI builder");
    assert_eq!(
        admin(&server, &["iam", "list-roles"])["Roles"][0]["RoleName"],
        "builder"
    );
    admin(
        &server,
        &[
            "iam",
            "put-role-policy",
            "--role-name",
            "builder",
            "--policy-name",
            "r",
            "--policy-document",
            ECR_ALL,
        ],
    );
    assert_eq!(
        admin(
            &server,
            &["iam", "list-role-policies", "--role-name", "builder"]
        )["PolicyNames"],
        json!(["r"])
    );

    let p = admin(
        &server,
        &[
            "iam",
            "create-policy",
            "--policy-name",
            "pull",
            "--policy-document",
            ECR_ALL,
        ],
    );
    let arn = p["Policy"]["Arn"].as_str().unwrap().to_owned();
    assert!(arn.ends_with(":policy/pull"));
    assert_eq!(p["Policy"]["DefaultVersionId"], "v1");
    let v = admin(
        &server,
        &[
            "iam",
            "get-policy-version",
            "--policy-arn",
            &arn,
            "--version-id",
            "v1",
        ],
    );
    assert_eq!(
        v["PolicyVersion"]["Document"]["Statement"][0]["Action"],
        "ecr:*"
    );
    assert_eq!(v["PolicyVersion"]["IsDefaultVersion"], true);
    for (kind, flag, name) in [
        ("user", "--user-name", "bob"),
        ("group", "--group-name", "devs"),
        ("role", "--role-name", "builder"),
    ] {
        admin(
            &server,
            &[
                "iam",
                &format!("attach-{kind}-policy"),
                flag,
                name,
                "--policy-arn",
                &arn,
            ],
        );
        let listed = admin(
            &server,
            &["iam", &format!("list-attached-{kind}-policies"), flag, name],
        );
        assert_eq!(
            listed["AttachedPolicies"],
            json!([{"PolicyName": "pull", "PolicyArn": arn}])
        );
    }
    assert_eq!(
        admin(&server, &["iam", "get-policy", "--policy-arn", &arn])["Policy"]["AttachmentCount"],
        3
    );
    assert_eq!(
        admin(&server, &["iam", "list-policies", "--scope", "Local"])["Policies"][0]["Arn"],
        arn.as_str()
    );
    admin_fails(
        &server,
        &["iam", "delete-policy", "--policy-arn", &arn],
        "DeleteConflict",
    );
    admin_fails(
        &server,
        &["iam", "delete-group", "--group-name", "devs"],
        "DeleteConflict",
    );
    admin_fails(
        &server,
        &["iam", "delete-role", "--role-name", "builder"],
        "DeleteConflict",
    );

    admin(
        &server,
        &[
            "iam",
            "tag-user",
            "--user-name",
            "bob",
            "--tags",
            "Key=env,Value=prod",
            "Key=team,Value=a",
        ],
    );
    admin(
        &server,
        &[
            "iam",
            "untag-user",
            "--user-name",
            "bob",
            "--tag-keys",
            "team",
        ],
    );
    assert_eq!(
        admin(&server, &["iam", "list-user-tags", "--user-name", "bob"])["Tags"],
        json!([{"Key": "env", "Value": "prod"}])
    );
    admin(
        &server,
        &[
            "iam",
            "tag-role",
            "--role-name",
            "builder",
            "--tags",
            "Key=env,Value=dev",
        ],
    );
    admin(
        &server,
        &[
            "iam",
            "untag-role",
            "--role-name",
            "builder",
            "--tag-keys",
            "team",
        ],
    );
    assert_eq!(
        admin(
            &server,
            &["iam", "list-role-tags", "--role-name", "builder"]
        )["Tags"],
        json!([{"Key": "env", "Value": "dev"}])
    );

    let details = admin(&server, &["iam", "get-account-authorization-details"]);
    let bob = details["UserDetailList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["UserName"] == "bob")
        .expect("bob listed");
    assert_eq!(bob["GroupList"], json!(["devs"]));
    assert_eq!(bob["AttachedManagedPolicies"][0]["PolicyArn"], arn.as_str());
    assert_eq!(
        details["GroupDetailList"][0]["GroupPolicyList"][0]["PolicyName"],
        "g"
    );
    assert_eq!(
        details["RoleDetailList"][0]["AssumeRolePolicyDocument"],
        trust
    );
    assert_eq!(
        details["Policies"][0]["PolicyVersionList"][0]["VersionId"],
        "v1"
    );

    // Tear down in IAM's order.
    for (kind, flag, name) in [
        ("user", "--user-name", "bob"),
        ("group", "--group-name", "devs"),
        ("role", "--role-name", "builder"),
    ] {
        admin(
            &server,
            &[
                "iam",
                &format!("detach-{kind}-policy"),
                flag,
                name,
                "--policy-arn",
                &arn,
            ],
        );
    }
    admin(&server, &["iam", "delete-policy", "--policy-arn", &arn]);
    admin(
        &server,
        &[
            "iam",
            "delete-group-policy",
            "--group-name",
            "devs",
            "--policy-name",
            "g",
        ],
    );
    admin(
        &server,
        &[
            "iam",
            "delete-role-policy",
            "--role-name",
            "builder",
            "--policy-name",
            "r",
        ],
    );
    admin(
        &server,
        &[
            "iam",
            "remove-user-from-group",
            "--group-name",
            "devs",
            "--user-name",
            "bob",
        ],
    );
    admin(&server, &["iam", "delete-group", "--group-name", "devs"]);
    admin(&server, &["iam", "delete-role", "--role-name", "builder"]);
    admin(&server, &["iam", "delete-user", "--user-name", "bob"]);
    admin_fails(
        &server,
        &["iam", "get-role", "--role-name", "builder"],
        "NoSuchEntity",
    );
    admin_fails(
        &server,
        &["iam", "get-group", "--group-name", "devs"],
        "NoSuchEntity",
    );
}

#[test]
fn server_side_pagination_with_the_cli() {
    let server = TestServer::start();
    for i in 0..7 {
        admin(
            &server,
            &[
                "iam",
                "create-user",
                "--user-name",
                &format!("u{i}"),
                "--path",
                "/p/",
            ],
        );
    }
    // --page-size makes the CLI send MaxItems and follow each Marker until IsTruncated is false.
    let all = admin(
        &server,
        &[
            "iam",
            "list-users",
            "--path-prefix",
            "/p/",
            "--page-size",
            "2",
        ],
    );
    let names: Vec<&str> = all["Users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["UserName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]);
    // --max-items stops early and hands back a token that resumes where it stopped.
    let first = admin(
        &server,
        &[
            "iam",
            "list-users",
            "--path-prefix",
            "/p/",
            "--page-size",
            "2",
            "--max-items",
            "3",
        ],
    );
    assert_eq!(first["Users"].as_array().unwrap().len(), 3);
    let token = first["NextToken"].as_str().expect("a NextToken").to_owned();
    let rest = admin(
        &server,
        &[
            "iam",
            "list-users",
            "--path-prefix",
            "/p/",
            "--page-size",
            "2",
            "--starting-token",
            &token,
        ],
    );
    assert_eq!(rest["Users"][0]["UserName"], "u3");
    assert_eq!(rest["Users"].as_array().unwrap().len(), 4);
    admin_fails(
        &server,
        &["iam", "list-users", "--page-size", "1001"],
        "ValidationError",
    );
}

#[test]
fn named_errors_with_the_cli() {
    let server = TestServer::start();
    admin(&server, &["iam", "create-user", "--user-name", "carol"]);
    admin_fails(
        &server,
        &["iam", "get-user", "--user-name", "nobody"],
        "NoSuchEntity",
    );
    admin_fails(
        &server,
        &["iam", "create-user", "--user-name", "carol"],
        "EntityAlreadyExists",
    );
    let err = admin_fails(
        &server,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "carol",
            "--policy-name",
            "bad",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"ecr:*","Resource":"*"}]}"#,
        ],
        "MalformedPolicyDocument",
    );
    assert!(
        err.contains("Effect"),
        "the parser's message names the element: {err}"
    );
    let err = admin_fails(
        &server,
        &["iam", "create-user", "--user-name", "bad name"],
        "ValidationError",
    );
    assert!(err.contains("[\\w+=,.@-]+"), "{err}");
    admin_fails(
        &server,
        &["iam", "create-user", "--user-name", &"x".repeat(65)],
        "ValidationError",
    );
    admin_fails(
        &server,
        &[
            "iam",
            "create-user",
            "--user-name",
            "d",
            "--path",
            "no-slashes",
        ],
        "ValidationError",
    );
    admin(
        &server,
        &["iam", "create-access-key", "--user-name", "carol"],
    );
    admin(
        &server,
        &["iam", "create-access-key", "--user-name", "carol"],
    );
    admin_fails(
        &server,
        &["iam", "create-access-key", "--user-name", "carol"],
        "LimitExceeded",
    );
    admin_fails(
        &server,
        &["iam", "delete-user", "--user-name", "carol"],
        "DeleteConflict",
    );
    admin_fails(
        &server,
        &[
            "iam",
            "get-policy",
            "--policy-arn",
            "arn:aws:iam::123456789012:policy/none",
        ],
        "NoSuchEntity",
    );
    admin_fails(
        &server,
        &[
            "iam",
            "create-role",
            "--role-name",
            "r",
            "--assume-role-policy-document",
            "{}",
        ],
        "MalformedPolicyDocument",
    );

    // Signature failures, in the query protocol's names.
    let wrong = aws(
        &server.base_url,
        (
            ADMIN_ACCESS_KEY_ID,
            "not-the-secret-0000000000000000000000000",
        ),
        &["iam", "list-users"],
    )
    .unwrap_err();
    assert!(wrong.contains("(SignatureDoesNotMatch)"), "{wrong}");
    let unknown = aws(
        &server.base_url,
        ("AKIAUNKNOWNKEY000000", "whatever"),
        &["iam", "list-users"],
    )
    .unwrap_err();
    assert!(unknown.contains("(InvalidClientTokenId)"), "{unknown}");
}

/// Statuses and fault types on the wire, and the protocol switch on `POST /`.
#[test]
fn wire_statuses_and_protocol_switch() {
    let server = TestServer::start();
    let http = reqwest::blocking::Client::new();
    // Unsigned form request: the query protocol answers, in XML.
    let resp = http
        .post(format!("{}/", server.base_url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("Action=ListUsers&Version=2010-05-08")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body = resp.text().unwrap();
    assert!(
        body.contains("<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"),
        "{body}"
    );
    assert!(
        body.contains("<Code>MissingAuthenticationToken</Code>"),
        "{body}"
    );
    assert!(body.contains("<Type>Sender</Type>"), "{body}");
    assert!(body.contains("<RequestId>"), "{body}");
    // An X-Amz-Target goes to ECR (JSON errors).
    let resp = http
        .post(format!("{}/", server.base_url))
        .header(
            "X-Amz-Target",
            "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        )
        .header("Content-Type", "application/x-amz-json-1.1")
        .body("{}")
        .send()
        .unwrap();
    let body = resp.text().unwrap();
    assert!(body.contains("__type"), "{body}");
    // Neither: an ECR-style JSON error.
    let resp = http
        .post(format!("{}/", server.base_url))
        .header("Content-Type", "text/plain")
        .body("hello")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().unwrap();
    assert!(body["__type"].is_string(), "{body}");
}

/// Every operation through boto3, each parsed response checked against botocore's output
/// shape (types and required members), with the named errors and their statuses.
#[test]
fn every_operation_matches_botocore_output_shapes() {
    let server = TestServer::start();
    assert_script_passes(&server, "iam_shapes.py");
}

/// The same decisions as `portcullis policy simulate` for the same policy and questions.
#[test]
fn simulation_matches_the_cli_simulator() {
    let server = TestServer::start();
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        {"Effect": "Deny", "Action": "ecr:DeleteRepository", "Resource": "*"}
    ]})
    .to_string();
    let resource = "arn:aws:ecr:us-east-1:123456789012:repository/app";
    let api = admin(
        &server,
        &[
            "iam",
            "simulate-custom-policy",
            "--policy-input-list",
            &policy,
            "--action-names",
            "ecr:BatchGetImage",
            "ecr:DeleteRepository",
            "ecr:PutImage",
            "--resource-arns",
            resource,
            "--context-entries",
            "ContextKeyName=aws:SourceIp,ContextKeyValues=10.1.2.3,ContextKeyType=ip",
        ],
    );
    let decisions: Vec<&str> = api["EvaluationResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["EvalDecision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["allowed", "explicitDeny", "implicitDeny"]);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.json");
    std::fs::write(&file, &policy).unwrap();
    let out = Command::new(portcullis_testkit::portcullis_bin())
        .args(["policy", "simulate", "--policy"])
        .arg(&file)
        .args([
            "--action",
            "ecr:BatchGetImage",
            "--action",
            "ecr:DeleteRepository",
            "--action",
            "ecr:PutImage",
            "--resource",
            resource,
            "--context",
            "aws:SourceIp=ip:10.1.2.3",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["EvalDecision"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(cli, decisions);

    // SimulatePrincipalPolicy reads the user's stored policies.
    admin(&server, &["iam", "create-user", "--user-name", "sim"]);
    admin(
        &server,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "sim",
            "--policy-name",
            "p",
            "--policy-document",
            &policy,
        ],
    );
    let principal = admin(
        &server,
        &[
            "iam",
            "simulate-principal-policy",
            "--policy-source-arn",
            "arn:aws:iam::123456789012:user/sim",
            "--action-names",
            "ecr:DeleteRepository",
            "ecr:PutImage",
        ],
    );
    assert_eq!(
        principal["EvaluationResults"][0]["EvalDecision"],
        "explicitDeny"
    );
    assert_eq!(
        principal["EvaluationResults"][0]["MatchedStatements"][0]["SourcePolicyId"],
        "user/sim/p"
    );
    assert_eq!(
        principal["EvaluationResults"][1]["EvalDecision"],
        "implicitDeny"
    );
}

/// Issue 5's revocation: a registry token already issued stops working on the next request
/// when its key is deactivated, and when the policy that allowed the push is deleted.
#[test]
fn revocation_takes_effect_on_the_next_registry_request() {
    let server = TestServer::start();
    let repo = "team/app";
    let repo_arn = format!("arn:aws:ecr:us-east-1:123456789012:repository/{repo}");
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Effect": "Allow", "Action": ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"], "Resource": repo_arn}
    ]})
    .to_string();
    // The repository exists: a push that created it would also need ecr:CreateRepository.
    admin(
        &server,
        &["ecr", "create-repository", "--repository-name", repo],
    );
    admin(&server, &["iam", "create-user", "--user-name", "ci"]);
    admin(
        &server,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "ci",
            "--policy-name",
            "push",
            "--policy-document",
            &policy,
        ],
    );
    let key = admin(&server, &["iam", "create-access-key", "--user-name", "ci"]);
    let id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = key["AccessKey"]["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = aws(
        &server.base_url,
        (&id, &secret),
        &["ecr", "get-login-password"],
    )
    .unwrap_or_else(|e| panic!("get-login-password as ci: {e}"));
    let auth = basic_auth("AWS", &token);
    let http = reqwest::blocking::Client::new();
    let push = |data: &[u8]| -> (u16, String) {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
        let resp = http
            .post(format!(
                "{}/v2/{repo}/blobs/uploads/?digest={digest}",
                server.base_url
            ))
            .header("Authorization", &auth)
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.text().unwrap_or_default())
    };
    assert_eq!(push(b"first layer").0, 201, "ci may push");

    admin(
        &server,
        &[
            "iam",
            "update-access-key",
            "--user-name",
            "ci",
            "--access-key-id",
            &id,
            "--status",
            "Inactive",
        ],
    );
    let (status, body) = push(b"second layer");
    assert_eq!(
        status, 401,
        "a deactivated key's token is refused at once: {body}"
    );

    admin(
        &server,
        &[
            "iam",
            "update-access-key",
            "--user-name",
            "ci",
            "--access-key-id",
            &id,
            "--status",
            "Active",
        ],
    );
    assert_eq!(push(b"third layer").0, 201, "the same token works again");

    admin(
        &server,
        &[
            "iam",
            "delete-user-policy",
            "--user-name",
            "ci",
            "--policy-name",
            "push",
        ],
    );
    let (status, body) = push(b"fourth layer");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("DENIED"), "{body}");
    assert!(
        body.contains("is not authorized to perform: ecr:"),
        "AWS-worded denial: {body}"
    );
}
