//! The first ECR operations, driven by the real aws CLI: repositories, repository and registry
//! policies, and GetAuthorizationToken, with their named errors; responses are parsed by
//! botocore, so a shape it does not understand fails the command.

use std::process::Command;

use portcullis_testkit::{TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};
use serde_json::{json, Value};

fn aws(server: &TestServer, args: &[&str]) -> Result<Value, String> {
    let out = Command::new("aws")
        .args(args)
        .args(["--endpoint-url", &server.base_url, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", ADMIN_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("the aws CLI is installed (scripts/install-test-deps.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        Ok(if stdout.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&stdout).expect("JSON output")
        })
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ok(server: &TestServer, args: &[&str]) -> Value {
    aws(server, args).unwrap_or_else(|e| panic!("aws {args:?}: {e}"))
}

fn err(server: &TestServer, args: &[&str], code: &str) {
    let e = aws(server, args).expect_err("the call must fail");
    assert!(
        e.contains(&format!("({code})")),
        "expected {code} from {args:?}: {e}"
    );
}

#[test]
fn repositories_create_describe_delete() {
    let server = TestServer::start();
    let created = ok(
        &server,
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            "team/app",
            "--tags",
            "Key=team,Value=platform",
        ],
    );
    let repo = &created["repository"];
    assert_eq!(repo["repositoryName"], "team/app");
    assert_eq!(
        repo["repositoryArn"],
        "arn:aws:ecr:us-east-1:123456789012:repository/team/app"
    );
    assert_eq!(repo["registryId"], "123456789012");
    assert_eq!(repo["repositoryUri"], format!("{}/team/app", server.host()));
    err(
        &server,
        &["ecr", "create-repository", "--repository-name", "team/app"],
        "RepositoryAlreadyExistsException",
    );
    err(
        &server,
        &["ecr", "create-repository", "--repository-name", "Bad_Name"],
        "InvalidParameterException",
    );
    err(
        &server,
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            "xy",
            "--registry-id",
            "999999999999",
        ],
        "InvalidParameterException",
    );

    for name in ["a1", "b2", "c3", "d4"] {
        ok(
            &server,
            &["ecr", "create-repository", "--repository-name", name],
        );
    }
    let all = ok(&server, &["ecr", "describe-repositories"]);
    let names: Vec<&str> = all["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["repositoryName"].as_str())
        .collect();
    assert_eq!(names, ["a1", "b2", "c3", "d4", "team/app"]);
    // Server-side pages of two, followed by the CLI until the end.
    let paged = ok(
        &server,
        &["ecr", "describe-repositories", "--page-size", "2"],
    );
    assert_eq!(paged["repositories"].as_array().unwrap().len(), 5);
    let first = ok(
        &server,
        &["ecr", "describe-repositories", "--max-items", "2"],
    );
    assert_eq!(first["repositories"].as_array().unwrap().len(), 2);
    assert!(first["NextToken"].is_string(), "{first}");
    let one = ok(
        &server,
        &["ecr", "describe-repositories", "--repository-names", "c3"],
    );
    assert_eq!(one["repositories"][0]["repositoryName"], "c3");
    err(
        &server,
        &["ecr", "describe-repositories", "--repository-names", "nope"],
        "RepositoryNotFoundException",
    );

    // A repository with an image needs --force.
    let reg = portcullis_testkit::fixtures::Registry::new(&server);
    let config =
        portcullis_testkit::fixtures::Blob::config(portcullis_testkit::fixtures::OCI_CONFIG);
    reg.push_blob("a1", &config.bytes);
    let manifest = portcullis_testkit::fixtures::oci_manifest(&config, &[]);
    let resp = reg
        .put("/v2/a1/manifests/v1")
        .header("Content-Type", portcullis_testkit::fixtures::OCI_MANIFEST)
        .body(portcullis_testkit::fixtures::to_bytes(&manifest))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    err(
        &server,
        &["ecr", "delete-repository", "--repository-name", "a1"],
        "RepositoryNotEmptyException",
    );
    let deleted = ok(
        &server,
        &[
            "ecr",
            "delete-repository",
            "--repository-name",
            "a1",
            "--force",
        ],
    );
    assert_eq!(deleted["repository"]["repositoryName"], "a1");
    err(
        &server,
        &["ecr", "delete-repository", "--repository-name", "a1"],
        "RepositoryNotFoundException",
    );
    assert_eq!(
        reg.get("/v2/a1/manifests/v1")
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[test]
fn repository_and_registry_policies() {
    let server = TestServer::start();
    ok(
        &server,
        &["ecr", "create-repository", "--repository-name", "svc"],
    );
    err(
        &server,
        &["ecr", "get-repository-policy", "--repository-name", "svc"],
        "RepositoryPolicyNotFoundException",
    );
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Pull", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:user/ci"}, "Action": "ecr:BatchGetImage"}]})
    .to_string();
    let set = ok(
        &server,
        &[
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "svc",
            "--policy-text",
            &policy,
        ],
    );
    assert_eq!(set["policyText"], policy.as_str());
    assert_eq!(set["repositoryName"], "svc");
    let got = ok(
        &server,
        &["ecr", "get-repository-policy", "--repository-name", "svc"],
    );
    assert_eq!(got["policyText"], policy.as_str());
    err(
        &server,
        &[
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "svc",
            "--policy-text",
            "{\"Statement\": 1}",
        ],
        "InvalidParameterException",
    );
    err(
        &server,
        &[
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "ghost",
            "--policy-text",
            &policy,
        ],
        "RepositoryNotFoundException",
    );
    let deleted = ok(
        &server,
        &[
            "ecr",
            "delete-repository-policy",
            "--repository-name",
            "svc",
        ],
    );
    assert_eq!(deleted["policyText"], policy.as_str());
    err(
        &server,
        &[
            "ecr",
            "delete-repository-policy",
            "--repository-name",
            "svc",
        ],
        "RepositoryPolicyNotFoundException",
    );

    err(
        &server,
        &["ecr", "get-registry-policy"],
        "RegistryPolicyNotFoundException",
    );
    let registry =
        json!({"Version": "2012-10-17", "Statement": [{"Sid": "Replicate", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "ecr:BatchGetImage",
        "Resource": "arn:aws:ecr:us-east-1:123456789012:repository/*"}]})
        .to_string();
    let put = ok(
        &server,
        &["ecr", "put-registry-policy", "--policy-text", &registry],
    );
    assert_eq!(put["registryId"], "123456789012");
    assert_eq!(
        ok(&server, &["ecr", "get-registry-policy"])["policyText"],
        registry.as_str()
    );
    assert_eq!(
        ok(&server, &["ecr", "delete-registry-policy"])["policyText"],
        registry.as_str()
    );
    err(
        &server,
        &["ecr", "delete-registry-policy"],
        "RegistryPolicyNotFoundException",
    );
}

#[test]
fn authorization_token_shape_and_login_password() {
    let server = TestServer::start();
    let token = ok(&server, &["ecr", "get-authorization-token"]);
    let data = &token["authorizationData"][0];
    assert_eq!(data["proxyEndpoint"], server.base_url.as_str());
    let expires = data["expiresAt"]
        .as_str()
        .or_else(|| data["expiresAt"].as_f64().map(|_| "n"));
    assert!(expires.is_some(), "{token}");
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data["authorizationToken"].as_str().unwrap())
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    let (user, password) = decoded.split_once(':').unwrap();
    assert_eq!(user, "AWS");
    assert!(
        !password.contains(':'),
        "get-login-password splits on the colon"
    );
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/v2/", server.base_url))
        .header(
            "Authorization",
            portcullis_testkit::basic_auth("AWS", password),
        )
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // An operation that is not there yet answers one of its modelled errors, saying so.
    let e = aws(&server, &["ecr", "get-registry-scanning-configuration"])
        .expect_err("scanning is not implemented yet");
    assert!(e.contains("(InvalidParameterException)"), "{e}");
    assert!(e.contains("not available in Portcullis yet"), "{e}");
}

#[test]
fn soft_quotas_refuse_with_limit_exceeded_and_denied() {
    use portcullis_testkit::fixtures::{oci_manifest, to_bytes, Blob, Registry};
    use portcullis_testkit::ServerOptions;
    let quota = |k: &str, v: &str| (format!("PORTCULLIS_QUOTAS__{k}"), v.to_owned());
    let server = TestServer::start_with(ServerOptions {
        env: vec![
            quota("REPOSITORIES", "2"),
            quota("IMAGES_PER_REPOSITORY", "1"),
            quota("TAGS_PER_IMAGE", "1"),
        ],
        ..Default::default()
    });
    ok(
        &server,
        &["ecr", "create-repository", "--repository-name", "q/one"],
    );
    ok(
        &server,
        &["ecr", "create-repository", "--repository-name", "q/two"],
    );
    err(
        &server,
        &["ecr", "create-repository", "--repository-name", "q/three"],
        "LimitExceededException",
    );
    // Create-on-push counts too: the push is refused and nothing is created.
    let registry = Registry::new(&server);
    let resp = registry
        .post("/v2/q/three/blobs/uploads/")
        .header("Content-Length", "0")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().unwrap().contains("DENIED"));

    let config = Blob::config("application/vnd.oci.image.config.v1+json");
    registry.push_blob("q/one", &config.bytes);
    let first = to_bytes(&oci_manifest(&config, &[]));
    let layer = Blob::random(64, "application/vnd.oci.image.layer.v1.tar");
    registry.push_blob("q/one", &layer.bytes);
    let second = to_bytes(&oci_manifest(&config, &[&layer]));
    let put = |reference: &str, body: &[u8]| {
        registry
            .put(&format!("/v2/q/one/manifests/{reference}"))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(body.to_vec())
            .send()
            .unwrap()
    };
    assert_eq!(put("v1", &first).status().as_u16(), 201);
    // The same image again is no new image; a second tag on it is over the tag quota.
    assert_eq!(put("v1", &first).status().as_u16(), 201);
    let resp = put("v2", &first);
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().unwrap().contains("quota"));
    // A second image is over the image quota, on both paths.
    let resp = put("other", &second);
    assert_eq!(resp.status().as_u16(), 403);
    let text = String::from_utf8(second).unwrap();
    err(
        &server,
        &[
            "ecr",
            "put-image",
            "--repository-name",
            "q/one",
            "--image-tag",
            "other",
            "--image-manifest",
            &text,
        ],
        "LimitExceededException",
    );
    let listed = ok(
        &server,
        &["ecr", "list-images", "--repository-name", "q/one"],
    );
    assert_eq!(listed["imageIds"].as_array().unwrap().len(), 1, "{listed}");
}

#[test]
fn a_policy_that_locks_the_caller_out_needs_force() {
    let server = TestServer::start();
    ok(
        &server,
        &["ecr", "create-repository", "--repository-name", "locked"],
    );
    let lockout = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "NoMoreChanges", "Effect": "Deny", "Principal": "*",
         "Action": "ecr:SetRepositoryPolicy", "Resource": "*"}
    ]})
    .to_string();
    let set = |force: bool| {
        let mut args = vec![
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "locked",
            "--policy-text",
            &lockout,
        ];
        if force {
            args.push("--force");
        }
        aws(&server, &args)
    };
    let e = set(false).expect_err("the lock-out needs force");
    assert!(e.contains("(InvalidParameterException)"), "{e}");
    assert!(e.contains("force"), "{e}");
    err(
        &server,
        &[
            "ecr",
            "get-repository-policy",
            "--repository-name",
            "locked",
        ],
        "RepositoryPolicyNotFoundException",
    );
    set(true).expect("with force the policy is set");
    // Now even the administrator cannot set another one, as the policy says.
    let e = set(true).expect_err("locked out");
    assert!(e.contains("(AccessDeniedException)"), "{e}");
    assert!(
        e.contains("NoMoreChanges") || e.contains("explicit deny"),
        "{e}"
    );
    // Deleting it is a different action, still allowed.
    ok(
        &server,
        &[
            "ecr",
            "delete-repository-policy",
            "--repository-name",
            "locked",
        ],
    );
}
