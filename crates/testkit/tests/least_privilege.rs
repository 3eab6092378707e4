//! Issue 5's real-world setups, end to end: identities made with the real `aws iam` CLI,
//! registry tokens from `aws ecr get-login-password`, pushes and pulls over HTTP from chosen
//! loopback source addresses and listeners. Each decision is checked on the wire (status, OCI
//! code, AWS-worded message) and in the audit log.

use std::path::Path;
use std::process::Command;

use portcullis_testkit::clients::{ClientEnv, MediaTypes, OciLayout};
use portcullis_testkit::scenario::*;
use portcullis_testkit::{basic_auth, TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};
use serde_json::{json, Value};

/// Scenario 1: the least-privilege CI push policy (spec 7a).
#[test]
fn ci_push_policy_pushes_one_repository_and_nothing_else() {
    let server = start("");
    admin(
        &server,
        &["ecr", "create-repository", "--repository-name", "web-api"],
    );
    admin(
        &server,
        &["ecr", "create-repository", "--repository-name", "other"],
    );
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "GetToken", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Sid": "PushOneRepo", "Effect": "Allow", "Action": [
                "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload", "ecr:PutImage"],
             "Resource": repo_arn("web-api")}
        ]
    });
    let key = user_with_policy(&server, "ci-pusher", &policy);
    let password = login_password(&server, &key);
    let ci = Client2::new(&server.base_url, None, Some(basic_auth("AWS", &password)));

    let (status, body) = ci.push_image("web-api", "v1.2.3");
    assert_eq!(status, 201, "push allowed: {body}");

    // The same with a real client, logged in the way ECR documents:
    // `aws ecr get-login-password | skopeo login --username AWS --password-stdin`.
    let env = ClientEnv::new(&server.host()).expect("client env");
    let login = env
        .output_with(
            "bash",
            &[
                "-c",
                &format!(
                    "set -o pipefail; aws ecr get-login-password --endpoint-url '{}' \
                     | skopeo login --tls-verify=false --username AWS --password-stdin '{}'",
                    server.base_url,
                    server.host()
                ),
            ],
            None,
            &[
                ("AWS_ACCESS_KEY_ID", &key.0),
                ("AWS_SECRET_ACCESS_KEY", &key.1),
                ("AWS_DEFAULT_REGION", REGION),
            ],
        )
        .expect("login pipeline runs");
    assert!(login.status.success(), "{login:?}");
    let mut layout = OciLayout::create(&env.work_dir().join("image")).expect("layout");
    let image = layout
        .add_image(
            MediaTypes::OCI,
            "linux",
            "amd64",
            &[("ci.txt", b"built by ci")],
        )
        .expect("image");
    layout.tag("build", &image).expect("tag");
    let dest = format!("docker://{}/web-api:skopeo", server.host());
    env.skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &layout.transport_ref("build"),
        &dest,
    ])
    .expect("skopeo pushes with the CI credentials");
    let pull = env
        .output("skopeo", &["inspect", "--tls-verify=false", "--raw", &dest])
        .expect("skopeo runs");
    assert!(!pull.status.success(), "the CI user cannot pull: {pull:?}");
    let other = format!("docker://{}/other:skopeo", server.host());
    let push = env
        .output(
            "skopeo",
            &[
                "copy",
                "--dest-tls-verify=false",
                &layout.transport_ref("build"),
                &other,
            ],
        )
        .expect("skopeo runs");
    assert!(!push.status.success(), "nor push elsewhere: {push:?}");

    assert_denied(
        ci.get("/v2/web-api/manifests/v1.2.3"),
        "ecr:BatchGetImage",
        &repo_arn("web-api"),
    );
    assert_denied(
        ci.push_image("other", "x"),
        "ecr:InitiateLayerUpload",
        &repo_arn("other"),
    );
    assert_denied(
        ci.get("/v2/other/tags/list"),
        "ecr:ListImages",
        &repo_arn("other"),
    );
    let admin_pw = server.admin_password();
    let root = Client2::new(&server.base_url, None, Some(basic_auth("AWS", &admin_pw)));
    let resp = root.send(reqwest::Method::HEAD, "/v2/web-api/manifests/v1.2.3", None);
    let digest = resp.headers()["docker-content-digest"]
        .to_str()
        .expect("digest")
        .to_owned();
    let resp = ci.send(
        reqwest::Method::DELETE,
        &format!("/v2/web-api/manifests/{digest}"),
        None,
    );
    assert_denied(
        (resp.status().as_u16(), resp.text().unwrap_or_default()),
        "ecr:BatchDeleteImage",
        &repo_arn("web-api"),
    );
    // The catalog hides what the user may not describe: empty, not 403.
    assert_eq!(
        ci.get("/v2/_catalog"),
        (200, r#"{"repositories":[]}"#.to_owned())
    );

    // The same decisions, through the ECR API: a denied operation names action and resource.
    let err = aws(
        &server.base_url,
        (&key.0, &key.1),
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "web-api",
        ],
    )
    .expect_err("describe is not granted");
    assert!(err.contains("AccessDeniedException"), "{err}");
    assert!(
        err.contains("is not authorized to perform: ecr:DescribeRepositories"),
        "{err}"
    );

    let events = audit_lines(server.data_dir());
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["userIdentity"]["userName"] == "ci-pusher")
        .collect();
    assert!(mine.iter().any(|e| e["eventName"] == "PutImage"
        && e["decision"] == "allow"
        && e["decidingStatements"][0] == "user/ci-pusher/inline#PushOneRepo"));
    assert!(mine
        .iter()
        .any(|e| e["eventName"] == "BatchGetImage" && e["decision"] == "deny"));
}

/// Scenario 2: pull-only from one source address on prefixed repositories (spec 7c shape).
#[test]
fn ip_restricted_pull_only_policy() {
    let server = start("");
    let admin_pw = server.admin_password();
    let root = Client2::new(&server.base_url, None, Some(basic_auth("AWS", &admin_pw)));
    assert_eq!(root.push_image("payments-api", "latest").0, 201);
    assert_eq!(root.push_image("payments", "latest").0, 201);
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Sid": "PullTeamReposFromOffice", "Effect": "Allow",
             "Action": ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"],
             "Resource": format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/payments-*"),
             "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.2/32", "2001:db8:1234:5678::/64"]}}}
        ]
    });
    let key = user_with_policy(&server, "dev", &policy);
    let auth = Some(basic_auth("AWS", &login_password(&server, &key)));
    let office = Client2::new(&server.base_url, Some("127.0.0.2"), auth.clone());
    let elsewhere = Client2::new(&server.base_url, Some("127.0.0.3"), auth);

    let (status, body) = office.get("/v2/payments-api/manifests/latest");
    assert_eq!(status, 200, "pull from the office address: {body}");
    assert_denied(
        elsewhere.get("/v2/payments-api/manifests/latest"),
        "ecr:BatchGetImage",
        &repo_arn("payments-api"),
    );
    assert_denied(
        office.get("/v2/payments/manifests/latest"),
        "ecr:BatchGetImage",
        &repo_arn("payments"),
    );
    assert_denied(
        office.push_image("payments-api", "new"),
        "ecr:InitiateLayerUpload",
        &repo_arn("payments-api"),
    );
    let events = audit_lines(server.data_dir());
    assert!(events.iter().any(|e| e["userIdentity"]["userName"] == "dev"
        && e["sourceIPAddress"] == "127.0.0.3"
        && e["decision"] == "deny"));
}

/// Scenario 3: a repository that refuses everything not arriving through one endpoint or
/// from one address range (spec 7b), with a service-principal statement that opens nothing.
#[test]
fn repository_perimeter_by_endpoint_or_cidr() {
    let server = start(
        "[[listeners]]\naddress = \"127.0.0.1:0\"\nendpoint_id = \"vpce-0a1b2c3d4e5f67890\"\nvpc_id = \"vpc-1a2b3c4d\"\n",
    );
    let listener = |tagged: bool| listener_url(&server, "vpce-0a1b2c3d4e5f67890", tagged);
    let endpoint_url = listener(true);
    let public_url = listener(false);
    admin(
        &server,
        &["ecr", "create-repository", "--repository-name", "web-api"],
    );
    let perimeter = json!({
        "Version": "2012-10-17",
        "Id": "WebApiPerimeter",
        "Statement": [
            {"Sid": "DenyUnlessOfficeIpOrVpce", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
             "Condition": {
                "StringNotEquals": {"aws:SourceVpce": "vpce-0a1b2c3d4e5f67890"},
                "NotIpAddress": {"aws:SourceIp": "127.0.0.5/32"},
                "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}},
            {"Sid": "AllowInspectorScan", "Effect": "Allow",
             "Principal": {"Service": "inspector2.amazonaws.com"},
             "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}
        ]
    });
    admin(
        &server,
        &[
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "web-api",
            "--policy-text",
            &perimeter.to_string(),
            // The administrator sets it from outside the perimeter, so the policy locks it out
            // of the next SetRepositoryPolicy: ECR asks for --force then, and so do we.
            "--force",
        ],
    );
    let dev_policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Effect": "Allow", "Action": "ecr:*", "Resource": format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*")}
        ]
    });
    let key = user_with_policy(&server, "dev", &dev_policy);
    let auth = Some(basic_auth("AWS", &login_password(&server, &key)));
    let via_endpoint = Client2::new(&endpoint_url, None, auth.clone());
    let public = Client2::new(&public_url, Some("127.0.0.9"), auth.clone());
    let office = Client2::new(&public_url, Some("127.0.0.5"), auth.clone());

    assert_eq!(
        via_endpoint.push_image("web-api", "v1").0,
        201,
        "push through the endpoint"
    );
    assert_eq!(
        office.get("/v2/web-api/manifests/v1").0,
        200,
        "pull from the office range"
    );
    let (status, body) = public.get("/v2/web-api/manifests/v1");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("with an explicit deny in a resource-based policy"),
        "{body}"
    );
    // Other repositories are outside the perimeter.
    assert_eq!(public.push_image("other", "v1").0, 201);
    // The service-principal statement grants nothing to anonymous callers or users.
    let anonymous = Client2::new(&endpoint_url, None, None);
    assert_eq!(anonymous.get("/v2/web-api/manifests/v1").0, 401);
    let events = audit_lines(server.data_dir());
    assert!(events
        .iter()
        .any(|e| e["vpcEndpointId"] == "vpce-0a1b2c3d4e5f67890"
            && e["eventName"] == "PutImage"
            && e["decision"] == "allow"));
    assert!(events.iter().any(|e| e["sourceIPAddress"] == "127.0.0.9"
        && e["decision"] == "deny"
        && e["decidingStatements"][0] == "repository/web-api#DenyUnlessOfficeIpOrVpce"));
}

/// A repository whose policy grants pulls to `Principal: "*"`.
fn public_tools(server: &TestServer) {
    let admin_pw = server.admin_password();
    let root = Client2::new(&server.base_url, None, Some(basic_auth("AWS", &admin_pw)));
    assert_eq!(root.push_image("public/tools", "v1").0, 201);
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "PublicPull", "Effect": "Allow", "Principal": "*",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}]
    });
    admin(
        server,
        &[
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "public/tools",
            "--policy-text",
            &policy.to_string(),
        ],
    );
}

/// Scenario 4: a repository made public by policy: anonymous pull, no anonymous push.
#[test]
fn public_repository_allows_anonymous_pull_only() {
    let server = start("anonymous_access = true\n");
    public_tools(&server);
    let anonymous = Client2::new(&server.base_url, None, None);
    let (status, manifest) = anonymous.get("/v2/public/tools/manifests/v1");
    assert_eq!(status, 200, "{manifest}");
    let manifest: Value = serde_json::from_str(&manifest).expect("manifest JSON");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer digest");
    assert_eq!(
        anonymous.get(&format!("/v2/public/tools/blobs/{layer}")).0,
        200
    );
    let (status, body) = anonymous.push_blob("public/tools", b"nope");
    assert_eq!(status, 401, "anonymous push is refused: {body}");
    assert_eq!(code_of(&body), "UNAUTHORIZED");
    assert_eq!(
        anonymous.get("/v2/public/tools/tags/list").0,
        401,
        "listing was not made public"
    );
    let resp = anonymous.send(reqwest::Method::GET, "/v2/", None);
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .expect("challenge")
        .starts_with("Bearer realm="));
}

/// Without `[auth] anonymous_access`, a `Principal: "*"` policy still needs a signed-in caller:
/// requests without credentials are refused before any policy is read.
#[test]
fn public_policy_without_anonymous_access_needs_credentials() {
    let server = start("");
    public_tools(&server);
    let anonymous = Client2::new(&server.base_url, None, None);
    let (status, body) = anonymous.get("/v2/public/tools/manifests/v1");
    assert_eq!(status, 401, "{body}");
    assert_eq!(code_of(&body), "UNAUTHORIZED");
    let resp = anonymous.send(reqwest::Method::GET, "/v2/", None);
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .expect("challenge")
        .starts_with("Basic realm="));
}

fn botocore_case(server: &TestServer, mode: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4_cases.py");
    let out = Command::new("python3")
        .arg(script)
        .args([
            &server.base_url,
            ADMIN_ACCESS_KEY_ID,
            ADMIN_SECRET_ACCESS_KEY,
            mode,
        ])
        .output()
        .expect("python3 with botocore (pip install botocore)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

/// Scenario 6: expired and tampered tokens, a wrong secret, a skewed clock and a replayed
/// presigned request are each refused with the error the clients expect, and audited.
#[test]
fn bad_tokens_and_signatures_are_refused_and_audited() {
    let server = start("");
    let expired = {
        let out = server
            .command()
            .args([
                "token",
                "issue",
                "--user",
                "admin",
                "--ttl-secs",
                "-1",
                "--data-dir",
            ])
            .arg(server.data_dir())
            .output()
            .expect("token issue");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let check_401 = |auth: String, expect: &str| {
        let client = Client2::new(&server.base_url, None, Some(auth));
        let (status, body) = client.get("/v2/_catalog");
        assert_eq!(status, 401, "{body}");
        assert_eq!(code_of(&body), "UNAUTHORIZED");
        assert!(body.contains(expect), "{expect} in {body}");
    };
    check_401(basic_auth("AWS", &expired), "expired");
    let good = server.admin_password();
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    check_401(
        basic_auth("AWS", &String::from_utf8(tampered).expect("ascii")),
        "signature",
    );
    check_401(format!("Bearer {good}x"), "authorization token");

    let err = aws(
        &server.base_url,
        (ADMIN_ACCESS_KEY_ID, "not-the-secret-at-all-0000000"),
        &["ecr", "get-login-password"],
    )
    .expect_err("a wrong secret is refused");
    assert!(err.contains("InvalidSignatureException"), "{err}");
    let err = aws(
        &server.base_url,
        ("AKIAUNKNOWNKEY000000", "whatever-secret-0000000000"),
        &["ecr", "get-login-password"],
    )
    .expect_err("an unknown key is refused");
    assert!(err.contains("UnrecognizedClientException"), "{err}");

    let skewed = botocore_case(&server, "skewed");
    assert_eq!(skewed["status"], 400, "{skewed}");
    assert_eq!(
        skewed["body"]["__type"], "InvalidSignatureException",
        "{skewed}"
    );
    assert!(
        skewed["body"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Signature expired"),
        "{skewed}"
    );
    // The ECR API takes no presigned requests (issue 10 item 5), fresh or replayed.
    for mode in ["presigned-fresh", "presigned-expired"] {
        let presigned = botocore_case(&server, mode);
        assert_eq!(presigned["status"], 400, "{presigned}");
        assert!(
            presigned["body"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("presigned"),
            "{presigned}"
        );
    }

    let events = audit_lines(server.data_dir());
    let errors: Vec<&str> = events
        .iter()
        .filter(|e| e["decision"] == "error")
        .filter_map(|e| e["errorCode"].as_str())
        .collect();
    for code in [
        "ExpiredToken",
        "InvalidToken",
        "InvalidSignatureException",
        "UnrecognizedClientException",
    ] {
        assert!(errors.contains(&code), "{code} audited; got {errors:?}");
    }
    assert!(errors.len() >= 7, "every refusal is audited: {errors:?}");

    // `portcullis audit` filters the same log.
    let filtered = server
        .command()
        .args(["audit", "--decision", "error", "--file"])
        .arg(server.data_dir().join("audit.log"))
        .output()
        .expect("portcullis audit");
    assert!(filtered.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&filtered.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    assert_eq!(lines.len(), errors.len());
    assert!(lines.iter().all(|e| e["decision"] == "error"));
    aws(
        &server.base_url,
        (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY),
        &["ecr", "get-login-password"],
    )
    .expect("the admin gets a token");
    let by_action = server
        .command()
        .args([
            "audit",
            "--action",
            "ecr:GetAuthorizationToken",
            "--decision",
            "allow",
            "--file",
        ])
        .arg(server.data_dir().join("audit.log"))
        .output()
        .expect("portcullis audit");
    let allowed = String::from_utf8_lossy(&by_action.stdout).lines().count();
    assert!(
        allowed >= 1,
        "the allowed GetAuthorizationToken was audited"
    );
}

/// Tag-based access: repository tags (ecr:ResourceTag) and principal tags (aws:PrincipalTag)
/// reach the conditions.
#[test]
fn resource_and_principal_tags_reach_conditions() {
    let server = start("");
    admin(
        &server,
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            "platform-app",
            "--tags",
            "Key=team,Value=platform",
        ],
    );
    admin(
        &server,
        &["ecr", "create-repository", "--repository-name", "other-app"],
    );
    let admin_pw = server.admin_password();
    let root = Client2::new(&server.base_url, None, Some(basic_auth("AWS", &admin_pw)));
    assert_eq!(root.push_image("platform-app", "v1").0, 201);
    assert_eq!(root.push_image("other-app", "v1").0, 201);
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*",
             "Condition": {"StringEquals": {"ecr:ResourceTag/team": "${aws:PrincipalTag/team}"}}}
        ]
    });
    let key = user_with_policy(&server, "pat", &policy);
    let auth = Some(basic_auth("AWS", &login_password(&server, &key)));
    let pat = Client2::new(&server.base_url, None, auth);
    // Without a principal tag the variable has no value, so nothing matches.
    assert_denied(
        pat.get("/v2/platform-app/manifests/v1"),
        "ecr:BatchGetImage",
        &repo_arn("platform-app"),
    );
    admin(
        &server,
        &[
            "iam",
            "tag-user",
            "--user-name",
            "pat",
            "--tags",
            "Key=team,Value=platform",
        ],
    );
    assert_eq!(
        pat.get("/v2/platform-app/manifests/v1").0,
        200,
        "tags match"
    );
    assert_denied(
        pat.get("/v2/other-app/manifests/v1"),
        "ecr:BatchGetImage",
        &repo_arn("other-app"),
    );
}

/// `portcullis admin`: the offline way back in when the bootstrap secret is lost.
#[test]
fn admin_commands_list_users_and_reset_the_bootstrap_key() {
    let mut server = start("");
    admin(&server, &["iam", "create-user", "--user-name", "ops"]);
    server.terminate();
    let run = |args: &[&str]| {
        let out = server
            .command()
            .args(args)
            .arg("--data-dir")
            .arg(server.data_dir())
            .arg("--config")
            .arg(server.data_dir().with_file_name("portcullis.toml"))
            .env_remove("PORTCULLIS_BOOTSTRAP_ACCESS_KEY_ID")
            .env_remove("PORTCULLIS_BOOTSTRAP_SECRET_ACCESS_KEY")
            .output()
            .expect("portcullis admin");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let users = run(&["admin", "list-users"]);
    assert!(
        users.contains(&format!(
            "admin\tarn:aws:iam::{ACCOUNT}:user/admin\t{ADMIN_ACCESS_KEY_ID}(Active)"
        )),
        "{users}"
    );
    assert!(users.lines().any(|l| l.starts_with("ops\t")), "{users}");
    let reset = run(&["admin", "reset-bootstrap-key"]);
    let field = |name: &str| {
        reset
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim_start_matches([' ', '=']).trim().to_owned())
            .unwrap_or_else(|| panic!("{name} in {reset}"))
    };
    let (new_id, new_secret) = (field("aws_access_key_id"), field("aws_secret_access_key"));
    server.restart();
    aws(
        &server.base_url,
        (&new_id, &new_secret),
        &["ecr", "get-login-password"],
    )
    .expect("the new key works");
    let old = aws(
        &server.base_url,
        (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY),
        &["ecr", "get-login-password"],
    )
    .expect_err("the old key was deactivated");
    assert!(old.contains("UnrecognizedClientException"), "{old}");
}
