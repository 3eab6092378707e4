//! Issue 6's user journeys, end to end with the real clients ECR users run: the aws CLI for the
//! control plane, `aws ecr get-login-password | docker login` (and `skopeo login`) for the
//! registry password, skopeo for pushes and pulls (the machine has the docker CLI but no engine,
//! so images are OCI layouts the test builds) and `docker manifest inspect` for reads. Whatever
//! the ECR API changes must show through the registry API and the other way round.
//!
//! Needs the aws CLI, skopeo and docker (`scripts/install-test-deps.sh`); run with
//! `cargo test -p portcullis-testkit --test ecr_journeys`.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use portcullis_testkit::clients::{
    require, sha256, BuiltManifest, ClientEnv, ClientOutput, MediaTypes, OciLayout,
};
use portcullis_testkit::{TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const ADMIN: (&str, &str) = (ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY);

/// The real aws CLI against `server` with one key pair; stdout parsed as JSON, or stderr.
fn aws_as(server: &TestServer, key: (&str, &str), args: &[&str]) -> Result<Value, String> {
    let out = Command::new("aws")
        .args(args)
        .args(["--endpoint-url", &server.base_url, "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("the aws CLI is installed (scripts/install-test-deps.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    if stdout.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(&stdout)
        .map_err(|e| format!("aws {args:?} printed no JSON ({e}): {stdout}"))
}

/// An aws command as the administrator that must succeed.
fn ok(server: &TestServer, args: &[&str]) -> Value {
    aws_as(server, ADMIN, args).unwrap_or_else(|e| panic!("aws {args:?} failed: {e}"))
}

/// An aws command as the administrator that must fail with `code`; returns the CLI's stderr.
fn fails(server: &TestServer, args: &[&str], code: &str) -> String {
    match aws_as(server, ADMIN, args) {
        Ok(v) => panic!("aws {args:?} must fail with {code}, but printed {v}"),
        Err(e) => {
            assert!(
                e.contains(&format!("({code})")),
                "expected {code} from aws {args:?}: {e}"
            );
            e
        }
    }
}

fn repo_arn(name: &str) -> String {
    format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}")
}

/// A client environment for `server` logged in with no helper: `aws ecr get-login-password |
/// docker login`, then the very password docker stored, given to `skopeo login`.
fn logged_in(server: &TestServer) -> ClientEnv {
    require("skopeo");
    require("docker");
    let env = ClientEnv::new(&server.host()).expect("client env");
    let login = env
        .aws_ecr_docker_login(
            &server.base_url,
            ADMIN_ACCESS_KEY_ID,
            ADMIN_SECRET_ACCESS_KEY,
        )
        .expect("login pipeline runs");
    assert!(
        login.status.success() && login.stdout.contains("Login Succeeded"),
        "aws ecr get-login-password | docker login failed: {login:?}"
    );
    let password = docker_password(&env);
    skopeo_login(&env, &password);
    env
}

/// The password `docker login` stored for the registry in this environment's config.
fn docker_password(env: &ClientEnv) -> String {
    let config: Value = serde_json::from_slice(
        &std::fs::read(env.docker_config_dir().join("config.json")).expect("docker config"),
    )
    .expect("docker config is JSON");
    let auth = config["auths"][env.registry()]["auth"]
        .as_str()
        .unwrap_or_else(|| {
            panic!(
                "docker stored no credentials for {}: {config}",
                env.registry()
            )
        });
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .expect("docker's auth is base64");
    let decoded = String::from_utf8(decoded).expect("docker's auth is UTF-8");
    let (user, password) = decoded.split_once(':').expect("user:password");
    assert_eq!(user, "AWS");
    password.to_owned()
}

fn skopeo_login(env: &ClientEnv, password: &str) {
    env.run_with_stdin(
        "skopeo",
        &[
            "login",
            "--tls-verify=false",
            "--username",
            "AWS",
            "--password-stdin",
            env.registry(),
        ],
        password.as_bytes(),
    )
    .expect("skopeo login takes the ECR password");
}

/// A layout in the env's work dir holding one small linux/amd64 image tagged `v1`.
fn image(env: &ClientEnv, dir: &str, text: &str) -> (OciLayout, BuiltManifest) {
    let mut layout = OciLayout::create(&env.work_dir().join(dir)).expect("layout");
    let image = layout
        .add_image(
            MediaTypes::OCI,
            "linux",
            "amd64",
            &[("hello.txt", text.as_bytes())],
        )
        .expect("image");
    layout.tag("v1", &image).expect("tag");
    (layout, image)
}

/// `skopeo copy oci:<layout>:v1 docker://host/<dest>`, whatever its outcome.
fn push(env: &ClientEnv, layout: &OciLayout, dest: &str) -> ClientOutput {
    env.output(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            &layout.transport_ref("v1"),
            &env.docker_ref(dest),
        ],
    )
    .expect("skopeo runs")
}

/// As [`push`], which must succeed; returns the digest skopeo reports.
fn push_ok(env: &ClientEnv, layout: &OciLayout, dest: &str) -> String {
    let digest_file = env
        .work_dir()
        .join(format!("digest-{}", dest.replace(['/', ':', '@'], "_")));
    env.skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--digestfile",
        digest_file.to_str().expect("UTF-8 path"),
        &layout.transport_ref("v1"),
        &env.docker_ref(dest),
    ])
    .unwrap_or_else(|e| panic!("push to {dest}: {e:#}"));
    std::fs::read_to_string(&digest_file).expect("skopeo wrote the digest")
}

/// A push that must fail; returns skopeo's stderr.
fn push_refused(env: &ClientEnv, layout: &OciLayout, dest: &str) -> String {
    let out = push(env, layout, dest);
    assert!(
        !out.status.success(),
        "the push to {dest} must be refused: {}",
        out.stderr
    );
    out.stderr
}

fn inspect_raw(env: &ClientEnv, reference: &str) -> ClientOutput {
    env.output(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--raw",
            &env.docker_ref(reference),
        ],
    )
    .expect("skopeo runs")
}

/// The digest of what `reference` resolves to now, from `skopeo inspect --raw`.
fn digest_of(env: &ClientEnv, reference: &str) -> String {
    let out = inspect_raw(env, reference);
    assert!(out.status.success(), "inspect {reference}: {}", out.stderr);
    sha256(out.stdout.as_bytes())
}

/// Asserts skopeo's error is the registry's TAG_INVALID for an immutable `tag` of `repo`.
/// containers/image prints an OCI error code lowercased with spaces (`tag invalid: <message>`).
fn assert_tag_invalid(stderr: &str, repo: &str, tag: &str) {
    let lower = stderr.to_lowercase();
    assert!(
        lower.contains("tag invalid") || stderr.contains("TAG_INVALID"),
        "expected TAG_INVALID: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "The image tag '{tag}' already exists in the '{repo}' repository and cannot be overwritten because the tag is immutable."
        )),
        "the message names tag and repository: {stderr}"
    );
}

/// Asserts skopeo's error is the registry's NAME_UNKNOWN.
fn assert_name_unknown(stderr: &str) {
    assert!(
        stderr.to_lowercase().contains("name unknown") || stderr.contains("NAME_UNKNOWN"),
        "expected NAME_UNKNOWN: {stderr}"
    );
}

/// Sum of config and layer sizes as the manifest states them: ECR's `imageSizeInBytes`.
fn manifest_size(manifest: &BuiltManifest) -> u64 {
    let v: Value = serde_json::from_slice(&manifest.bytes).expect("manifest JSON");
    let layers = v["layers"].as_array().expect("layers");
    v["config"]["size"].as_u64().expect("config size")
        + layers
            .iter()
            .map(|l| l["size"].as_u64().expect("layer size"))
            .sum::<u64>()
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

fn tags_of(detail: &Value) -> Vec<&str> {
    let mut tags: Vec<&str> = detail["imageTags"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    tags.sort_unstable();
    tags
}

fn describe_images(server: &TestServer, repo: &str) -> Vec<Value> {
    ok(
        server,
        &["ecr", "describe-images", "--repository-name", repo],
    )["imageDetails"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("describe-images of {repo} has imageDetails"))
}

fn list_images(server: &TestServer, repo: &str) -> Vec<Value> {
    ok(server, &["ecr", "list-images", "--repository-name", repo])["imageIds"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("list-images of {repo} has imageIds"))
}

/// The journey in one piece: create with the aws CLI, log in with the ECR password, push,
/// see the image through the API, make the tag immutable, set a policy from a file, delete by
/// digest and delete the repository.
#[test]
fn create_login_push_describe_immutable_policy_delete() {
    let server = TestServer::start();
    let created = ok(
        &server,
        &["ecr", "create-repository", "--repository-name", "team/app"],
    );
    let uri = format!("{}/team/app", server.host());
    assert_eq!(created["repository"]["repositoryUri"], uri.as_str());
    assert_eq!(created["repository"]["imageTagMutability"], "MUTABLE");
    let env = logged_in(&server);
    let (layout_a, a) = image(&env, "a", "image a\n");
    let (layout_b, b) = image(&env, "b", "image b\n");

    let before = now_secs();
    let pushed = push_ok(&env, &layout_a, "team/app:v1");
    let after = now_secs();
    assert_eq!(pushed, a.digest);
    assert_eq!(digest_of(&env, "team/app:v1"), a.digest);
    // docker, logged in by the pipeline, reads it too.
    let shown = env
        .docker(&["manifest", "inspect", "--insecure", &format!("{uri}:v1")])
        .expect("docker manifest inspect");
    assert_eq!(
        serde_json::from_str::<Value>(&shown).expect("docker prints JSON"),
        serde_json::from_slice::<Value>(&a.bytes).expect("manifest JSON")
    );

    let details = describe_images(&server, "team/app");
    assert_eq!(details.len(), 1, "{details:?}");
    let d = &details[0];
    assert_eq!(d["registryId"], ACCOUNT);
    assert_eq!(d["repositoryName"], "team/app");
    assert_eq!(d["imageDigest"], a.digest.as_str());
    assert_eq!(tags_of(d), ["v1"]);
    assert_eq!(
        d["imageSizeInBytes"].as_u64(),
        Some(manifest_size(&a)),
        "{d}"
    );
    assert_eq!(d["imageManifestMediaType"], MediaTypes::OCI.manifest);
    assert_eq!(d["artifactMediaType"], MediaTypes::OCI.config);
    // The CLI prints timestamps as they come over the wire: epoch seconds.
    let pushed_at = d["imagePushedAt"]
        .as_f64()
        .unwrap_or_else(|| panic!("imagePushedAt is epoch seconds: {d}"));
    assert!(
        pushed_at >= before.floor() - 1.0 && pushed_at <= after + 1.0,
        "imagePushedAt {pushed_at} is not within the push ({before}..{after})"
    );
    assert_eq!(
        list_images(&server, "team/app"),
        [json!({"imageDigest": a.digest, "imageTag": "v1"})]
    );

    let set = ok(
        &server,
        &[
            "ecr",
            "put-image-tag-mutability",
            "--repository-name",
            "team/app",
            "--image-tag-mutability",
            "IMMUTABLE",
        ],
    );
    assert_eq!(set["imageTagMutability"], "IMMUTABLE");
    assert_eq!(set["repositoryName"], "team/app");
    let described = ok(
        &server,
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "team/app",
        ],
    );
    assert_eq!(
        described["repositories"][0]["imageTagMutability"],
        "IMMUTABLE"
    );

    // The same digest onto the immutable tag changes nothing, so it is allowed.
    assert_eq!(push_ok(&env, &layout_a, "team/app:v1"), a.digest);
    let refused = push_refused(&env, &layout_b, "team/app:v1");
    assert_tag_invalid(&refused, "team/app", "v1");
    assert_eq!(digest_of(&env, "team/app:v1"), a.digest);
    let details = describe_images(&server, "team/app");
    let tagged: Vec<&Value> = details.iter().filter(|d| !tags_of(d).is_empty()).collect();
    assert_eq!(tagged.len(), 1, "{details:?}");
    assert_eq!(tagged[0]["imageDigest"], a.digest.as_str());
    assert_eq!(tags_of(tagged[0]), ["v1"]);

    // A CI user whose own policy grants nothing but a token: the repository policy is what
    // lets it pull.
    let ci_key = user_with_policy(
        &server,
        "ci",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}),
    );
    let ci_env = ClientEnv::new(&server.host()).expect("client env");
    skopeo_login(&ci_env, &password_of(&server, &ci_key));
    let ci_pull = || {
        ci_env
            .output(
                "skopeo",
                &[
                    "copy",
                    "--src-tls-verify=false",
                    &ci_env.docker_ref("team/app:v1"),
                    &format!("oci:{}:v1", ci_env.work_dir().join("pulled").display()),
                ],
            )
            .expect("skopeo runs")
    };
    let denied = ci_pull();
    assert!(!denied.status.success(), "ci pulled without a grant");
    assert!(
        denied
            .stderr
            .contains("is not authorized to perform: ecr:BatchGetImage"),
        "{}",
        denied.stderr
    );

    let policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "CiPull", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/ci")},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})
    .to_string();
    let policy_file = env.work_dir().join("policy.json");
    std::fs::write(&policy_file, &policy).expect("write policy");
    let file_arg = format!("file://{}", policy_file.display());
    let set = ok(
        &server,
        &[
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "team/app",
            "--policy-text",
            &file_arg,
        ],
    );
    assert_eq!(set["policyText"], policy.as_str());
    let got = ok(
        &server,
        &[
            "ecr",
            "get-repository-policy",
            "--repository-name",
            "team/app",
        ],
    );
    assert_eq!(got["policyText"], policy.as_str());
    assert_eq!(got["repositoryName"], "team/app");
    assert_eq!(got["registryId"], ACCOUNT);
    let pulled = ci_pull();
    assert!(
        pulled.status.success(),
        "the repository policy lets ci pull: {}",
        pulled.stderr
    );
    let pulled = OciLayout::open(&ci_env.work_dir().join("pulled"));
    assert!(pulled.blob(&a.digest).expect("manifest pulled") == a.bytes);
    // It grants pulls and nothing else.
    let e = aws_as(
        &server,
        (&ci_key.0, &ci_key.1),
        &["ecr", "describe-images", "--repository-name", "team/app"],
    )
    .expect_err("ci may not describe");
    assert!(e.contains("(AccessDeniedException)"), "{e}");

    let digest_id = format!("imageDigest={}", a.digest);
    let deleted = ok(
        &server,
        &[
            "ecr",
            "batch-delete-image",
            "--repository-name",
            "team/app",
            "--image-ids",
            &digest_id,
        ],
    );
    assert_eq!(deleted["failures"], json!([]), "{deleted}");
    let ids = deleted["imageIds"].as_array().expect("imageIds");
    assert!(
        !ids.is_empty() && ids.iter().all(|i| i["imageDigest"] == a.digest.as_str()),
        "{deleted}"
    );
    assert_eq!(list_images(&server, "team/app"), Vec::<Value>::new());
    let gone = inspect_raw(&env, &format!("team/app@{}", a.digest));
    assert!(!gone.status.success(), "pulled a deleted image by digest");
    assert!(
        gone.stderr.to_lowercase().contains("manifest unknown"),
        "{}",
        gone.stderr
    );
    assert!(!inspect_raw(&env, "team/app:v1").status.success());

    // With the old v1 gone, another image may take the tag; the repository is no longer empty.
    assert_eq!(push_ok(&env, &layout_b, "team/app:v1"), b.digest);
    fails(
        &server,
        &["ecr", "delete-repository", "--repository-name", "team/app"],
        "RepositoryNotEmptyException",
    );
    assert_eq!(digest_of(&env, "team/app:v1"), b.digest);
    let deleted = ok(
        &server,
        &[
            "ecr",
            "delete-repository",
            "--repository-name",
            "team/app",
            "--force",
        ],
    );
    assert_eq!(deleted["repository"]["repositoryName"], "team/app");
    fails(
        &server,
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "team/app",
        ],
        "RepositoryNotFoundException",
    );
    assert!(!inspect_raw(&env, "team/app:v1").status.success());
}

/// PutImage from the CLI of a manifest over blobs skopeo pushed, pulled back byte for byte by
/// skopeo and shown by `docker manifest inspect`; and BatchGetImage returns the exact bytes of
/// what skopeo pushed.
#[test]
fn put_image_from_the_cli_is_pullable_and_batch_get_returns_pushed_bytes() {
    let server = TestServer::start();
    ok(
        &server,
        &["ecr", "create-repository", "--repository-name", "web"],
    );
    let env = logged_in(&server);
    let (layout, pushed) = image(&env, "src", "pushed by skopeo\n");
    assert_eq!(push_ok(&env, &layout, "web:skopeo"), pushed.digest);

    // The same blobs under a manifest skopeo never saw: a new digest, put through the API only.
    let mut manifest: Value = serde_json::from_slice(&pushed.bytes).expect("manifest JSON");
    manifest["annotations"] =
        json!({"org.opencontainers.image.description": "put with aws ecr put-image"});
    let bytes = serde_json::to_vec_pretty(&manifest).expect("serialise");
    let digest = sha256(&bytes);
    assert_ne!(digest, pushed.digest);
    let manifest_file = env.work_dir().join("manifest.json");
    std::fs::write(&manifest_file, &bytes).expect("write manifest");
    let manifest_arg = format!("file://{}", manifest_file.display());
    let put = ok(
        &server,
        &[
            "ecr",
            "put-image",
            "--repository-name",
            "web",
            "--image-tag",
            "api",
            "--image-manifest",
            &manifest_arg,
        ],
    );
    let img = &put["image"];
    assert_eq!(img["imageId"]["imageDigest"], digest.as_str(), "{put}");
    assert_eq!(img["imageId"]["imageTag"], "api");
    assert_eq!(img["registryId"], ACCOUNT);
    assert_eq!(img["repositoryName"], "web");
    assert_eq!(img["imageManifestMediaType"], MediaTypes::OCI.manifest);
    assert_eq!(
        img["imageManifest"].as_str().map(str::as_bytes),
        Some(bytes.as_slice())
    );
    // Nothing would change: the same manifest and tag again.
    fails(
        &server,
        &[
            "ecr",
            "put-image",
            "--repository-name",
            "web",
            "--image-tag",
            "api",
            "--image-manifest",
            &manifest_arg,
        ],
        "ImageAlreadyExistsException",
    );

    let back_dir = env.work_dir().join("back");
    env.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &env.docker_ref("web:api"),
        &format!("oci:{}:api", back_dir.display()),
    ])
    .expect("skopeo pulls the image PutImage made");
    let back = OciLayout::open(&back_dir);
    let index: Value =
        serde_json::from_slice(&std::fs::read(back_dir.join("index.json")).expect("index.json"))
            .expect("index JSON");
    assert_eq!(index["manifests"][0]["digest"], digest.as_str(), "{index}");
    assert!(
        back.blob(&digest).expect("manifest blob") == bytes,
        "manifest bytes changed"
    );
    for blob in &pushed.children {
        assert!(
            back.blob(blob).expect("blob pulled") == layout.blob(blob).expect("blob pushed"),
            "blob {blob} changed on the way"
        );
    }
    let shown = env
        .docker(&[
            "manifest",
            "inspect",
            "--insecure",
            &env.reference("web:api"),
        ])
        .expect("docker manifest inspect");
    let shown: Value = serde_json::from_str(&shown).expect("docker prints JSON");
    assert_eq!(shown, manifest);
    // Those pulls are recorded (at most once a minute per image, so the first one is).
    let details = describe_images(&server, "web");
    let api = details
        .iter()
        .find(|d| d["imageDigest"] == digest.as_str())
        .unwrap_or_else(|| panic!("{digest} in {details:?}"));
    let pulled = api["lastRecordedPullTime"]
        .as_f64()
        .unwrap_or_else(|| panic!("lastRecordedPullTime after a pull: {api}"));
    let pushed_at = api["imagePushedAt"].as_f64().unwrap_or_default();
    assert!(pulled >= pushed_at.floor(), "{api}");

    let got = ok(
        &server,
        &[
            "ecr",
            "batch-get-image",
            "--repository-name",
            "web",
            "--image-ids",
            "imageTag=skopeo",
            "imageTag=api",
            "imageTag=nope",
        ],
    );
    let images = got["images"].as_array().expect("images");
    assert_eq!(images.len(), 2, "{got}");
    let by_tag = |tag: &str| {
        images
            .iter()
            .find(|i| i["imageId"]["imageTag"] == tag)
            .unwrap_or_else(|| panic!("{tag} in {got}"))
    };
    let skopeo_image = by_tag("skopeo");
    assert_eq!(
        skopeo_image["imageId"]["imageDigest"],
        pushed.digest.as_str()
    );
    assert_eq!(
        skopeo_image["imageManifest"].as_str().map(str::as_bytes),
        Some(pushed.bytes.as_slice()),
        "BatchGetImage must return the pushed manifest byte for byte"
    );
    assert_eq!(
        skopeo_image["imageManifestMediaType"],
        MediaTypes::OCI.manifest
    );
    assert_eq!(
        by_tag("api")["imageManifest"].as_str().map(str::as_bytes),
        Some(bytes.as_slice())
    );
    let failures = got["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{got}");
    assert_eq!(failures[0]["imageId"]["imageTag"], "nope");
    assert_eq!(failures[0]["failureCode"], "ImageNotFound");

    // By digest, accepting only the type it has.
    let digest_id = format!("imageDigest={}", pushed.digest);
    let got = ok(
        &server,
        &[
            "ecr",
            "batch-get-image",
            "--repository-name",
            "web",
            "--image-ids",
            &digest_id,
            "--accepted-media-types",
            MediaTypes::OCI.manifest,
        ],
    );
    assert_eq!(
        got["images"][0]["imageManifest"]
            .as_str()
            .map(str::as_bytes),
        Some(pushed.bytes.as_slice()),
        "{got}"
    );
}

/// IMMUTABLE_WITH_EXCLUSION with the filter `latest*`: `latest` moves, `v1` does not, on the
/// registry path and on PutImage alike.
#[test]
fn immutable_with_exclusion_lets_latest_move() {
    let server = TestServer::start();
    ok(
        &server,
        &["ecr", "create-repository", "--repository-name", "svc"],
    );
    let set = ok(
        &server,
        &[
            "ecr",
            "put-image-tag-mutability",
            "--repository-name",
            "svc",
            "--image-tag-mutability",
            "IMMUTABLE_WITH_EXCLUSION",
            "--image-tag-mutability-exclusion-filters",
            "filterType=WILDCARD,filter=latest*",
        ],
    );
    assert_eq!(set["imageTagMutability"], "IMMUTABLE_WITH_EXCLUSION");
    assert_eq!(
        set["imageTagMutabilityExclusionFilters"],
        json!([{"filterType": "WILDCARD", "filter": "latest*"}])
    );
    let repo = &ok(
        &server,
        &["ecr", "describe-repositories", "--repository-names", "svc"],
    )["repositories"][0];
    assert_eq!(repo["imageTagMutability"], "IMMUTABLE_WITH_EXCLUSION");
    assert_eq!(
        repo["imageTagMutabilityExclusionFilters"],
        json!([{"filterType": "WILDCARD", "filter": "latest*"}])
    );

    let env = logged_in(&server);
    let (layout_a, a) = image(&env, "a", "first\n");
    let (layout_b, b) = image(&env, "b", "second\n");
    for tag in ["latest", "latest-dev", "v1"] {
        push_ok(&env, &layout_a, &format!("svc:{tag}"));
    }
    assert_eq!(push_ok(&env, &layout_b, "svc:latest"), b.digest);
    assert_eq!(digest_of(&env, "svc:latest"), b.digest);
    assert_eq!(push_ok(&env, &layout_b, "svc:latest-dev"), b.digest);
    let refused = push_refused(&env, &layout_b, "svc:v1");
    assert_tag_invalid(&refused, "svc", "v1");
    assert_eq!(digest_of(&env, "svc:v1"), a.digest);

    // PutImage obeys the same rule: excluded tags move, the others answer
    // ImageTagAlreadyExistsException.
    let manifest_file = env.work_dir().join("a.json");
    std::fs::write(&manifest_file, &a.bytes).expect("write manifest");
    let manifest_arg = format!("file://{}", manifest_file.display());
    let put = |tag: &str| {
        aws_as(
            &server,
            ADMIN,
            &[
                "ecr",
                "put-image",
                "--repository-name",
                "svc",
                "--image-tag",
                tag,
                "--image-manifest",
                &manifest_arg,
            ],
        )
    };
    let moved = put("latest").unwrap_or_else(|e| panic!("latest moves back to a: {e}"));
    assert_eq!(moved["image"]["imageId"]["imageDigest"], a.digest.as_str());
    assert_eq!(digest_of(&env, "svc:latest"), a.digest);
    let manifest_file_b = env.work_dir().join("b.json");
    std::fs::write(&manifest_file_b, &b.bytes).expect("write manifest");
    let refused = aws_as(
        &server,
        ADMIN,
        &[
            "ecr",
            "put-image",
            "--repository-name",
            "svc",
            "--image-tag",
            "v1",
            "--image-manifest",
            &format!("file://{}", manifest_file_b.display()),
        ],
    )
    .expect_err("v1 is immutable");
    assert!(
        refused.contains("(ImageTagAlreadyExistsException)"),
        "{refused}"
    );
    assert_eq!(digest_of(&env, "svc:v1"), a.digest);

    // The converse: MUTABLE_WITH_EXCLUSION freezes only the tags its filters match.
    let created = ok(
        &server,
        &[
            "ecr",
            "create-repository",
            "--repository-name",
            "rel",
            "--image-tag-mutability",
            "MUTABLE_WITH_EXCLUSION",
            "--image-tag-mutability-exclusion-filters",
            "filterType=WILDCARD,filter=release-*",
        ],
    );
    assert_eq!(
        created["repository"]["imageTagMutability"],
        "MUTABLE_WITH_EXCLUSION"
    );
    push_ok(&env, &layout_a, "rel:release-1");
    push_ok(&env, &layout_a, "rel:dev");
    assert_eq!(push_ok(&env, &layout_b, "rel:dev"), b.digest);
    assert_tag_invalid(
        &push_refused(&env, &layout_b, "rel:release-1"),
        "rel",
        "release-1",
    );
    assert_eq!(digest_of(&env, "rel:release-1"), a.digest);
    // A filter with plain IMMUTABLE, or an exclusion mode without one, is refused.
    fails(
        &server,
        &[
            "ecr",
            "put-image-tag-mutability",
            "--repository-name",
            "rel",
            "--image-tag-mutability",
            "IMMUTABLE",
            "--image-tag-mutability-exclusion-filters",
            "filterType=WILDCARD,filter=x*",
        ],
        "InvalidParameterException",
    );
    fails(
        &server,
        &[
            "ecr",
            "put-image-tag-mutability",
            "--repository-name",
            "rel",
            "--image-tag-mutability",
            "IMMUTABLE_WITH_EXCLUSION",
        ],
        "InvalidParameterException",
    );
}

/// Create-on-push: without the seeded ROOT template a push to a new repository is refused with
/// NAME_UNKNOWN; a `team` template creates `team/...` repositories with its settings and no
/// others.
#[test]
fn create_on_push_follows_the_creation_templates() {
    let server = TestServer::start();
    let templates = ok(&server, &["ecr", "describe-repository-creation-templates"]);
    let all = templates["repositoryCreationTemplates"]
        .as_array()
        .expect("repositoryCreationTemplates");
    assert_eq!(
        all.len(),
        1,
        "a fresh registry has one template: {templates}"
    );
    assert_eq!(all[0]["prefix"], "ROOT");
    assert_eq!(all[0]["appliedFor"], json!(["CREATE_ON_PUSH"]));
    assert_eq!(all[0]["imageTagMutability"], "MUTABLE");
    assert_eq!(
        all[0]["encryptionConfiguration"]["encryptionType"],
        "AES256"
    );

    let env = logged_in(&server);
    let (layout, image_a) = image(&env, "a", "create on push\n");
    let (layout_b, image_b) = image(&env, "b", "another\n");
    // Out of the box, as with other registries, a push creates its repository.
    assert_eq!(push_ok(&env, &layout, "fresh/one:v1"), image_a.digest);
    let fresh = ok(
        &server,
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "fresh/one",
        ],
    );
    assert_eq!(fresh["repositories"][0]["imageTagMutability"], "MUTABLE");

    let deleted = ok(
        &server,
        &[
            "ecr",
            "delete-repository-creation-template",
            "--prefix",
            "ROOT",
        ],
    );
    assert_eq!(
        deleted["repositoryCreationTemplate"]["prefix"], "ROOT",
        "{deleted}"
    );
    assert_name_unknown(&push_refused(&env, &layout, "brand/new:v1"));
    fails(
        &server,
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "brand/new",
        ],
        "RepositoryNotFoundException",
    );
    // Existing repositories do not depend on templates.
    assert_eq!(push_ok(&env, &layout_b, "fresh/one:v2"), image_b.digest);

    let template_policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "TeamPull",
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})
    .to_string();
    let template_lifecycle = json!({"rules": [{"rulePriority": 1, "description": "drop untagged",
        "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
            "countUnit": "days", "countNumber": 14},
        "action": {"type": "expire"}}]})
    .to_string();
    let created = ok(
        &server,
        &[
            "ecr",
            "create-repository-creation-template",
            "--prefix",
            "team",
            "--applied-for",
            "CREATE_ON_PUSH",
            "--image-tag-mutability",
            "IMMUTABLE",
            "--resource-tags",
            "Key=owner,Value=team-a",
            "Key=cost-center,Value=42",
            "--repository-policy",
            &template_policy,
            "--lifecycle-policy",
            &template_lifecycle,
        ],
    );
    assert_eq!(
        created["repositoryCreationTemplate"]["prefix"], "team",
        "{created}"
    );
    assert_eq!(push_ok(&env, &layout, "team/new:v1"), image_a.digest);
    let repo = &ok(
        &server,
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "team/new",
        ],
    )["repositories"][0];
    assert_eq!(repo["imageTagMutability"], "IMMUTABLE", "{repo}");
    assert_eq!(repo["encryptionConfiguration"]["encryptionType"], "AES256");
    let tags = ok(
        &server,
        &[
            "ecr",
            "list-tags-for-resource",
            "--resource-arn",
            &repo_arn("team/new"),
        ],
    );
    let mut tags: Vec<(String, String)> = tags["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap_or_default().to_owned(),
                t["Value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            ("cost-center".to_owned(), "42".to_owned()),
            ("owner".to_owned(), "team-a".to_owned())
        ]
    );
    let policy = ok(
        &server,
        &[
            "ecr",
            "get-repository-policy",
            "--repository-name",
            "team/new",
        ],
    );
    assert_eq!(
        serde_json::from_str::<Value>(policy["policyText"].as_str().unwrap_or_default()).ok(),
        serde_json::from_str::<Value>(&template_policy).ok(),
        "{policy}"
    );
    let lifecycle = ok(
        &server,
        &[
            "ecr",
            "get-lifecycle-policy",
            "--repository-name",
            "team/new",
        ],
    );
    assert_eq!(
        serde_json::from_str::<Value>(
            lifecycle["lifecyclePolicyText"]
                .as_str()
                .unwrap_or_default()
        )
        .ok(),
        serde_json::from_str::<Value>(&template_lifecycle).ok(),
        "{lifecycle}"
    );
    // The template's mutability holds for the repository it made.
    assert_tag_invalid(
        &push_refused(&env, &layout_b, "team/new:v1"),
        "team/new",
        "v1",
    );
    // Deeper names match too, and `team` is a path prefix, not a string prefix.
    push_ok(&env, &layout, "team/a/b:v1");
    assert_name_unknown(&push_refused(&env, &layout, "teamster/x:v1"));
    assert_name_unknown(&push_refused(&env, &layout, "other/new:v1"));
    fails(
        &server,
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "other/new",
        ],
        "RepositoryNotFoundException",
    );

    // The longest matching prefix wins; a template not applied for CREATE_ON_PUSH creates
    // nothing.
    ok(
        &server,
        &[
            "ecr",
            "create-repository-creation-template",
            "--prefix",
            "team/sandbox",
            "--applied-for",
            "CREATE_ON_PUSH",
            "--image-tag-mutability",
            "MUTABLE",
        ],
    );
    ok(
        &server,
        &[
            "ecr",
            "create-repository-creation-template",
            "--prefix",
            "mirror",
            "--applied-for",
            "REPLICATION",
        ],
    );
    push_ok(&env, &layout, "team/sandbox/x:v1");
    assert_eq!(
        push_ok(&env, &layout_b, "team/sandbox/x:v1"),
        image_b.digest
    );
    let sandbox = &ok(
        &server,
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "team/sandbox/x",
        ],
    )["repositories"][0];
    assert_eq!(sandbox["imageTagMutability"], "MUTABLE", "{sandbox}");
    assert_name_unknown(&push_refused(&env, &layout, "mirror/x:v1"));

    // `docker manifest push` reaches a new repository by mounting blobs: that creates it too.
    let list = env.reference("team/lists:v1");
    env.docker(&[
        "manifest",
        "create",
        "--insecure",
        &list,
        &env.reference("team/new:v1"),
    ])
    .expect("docker manifest create");
    env.docker(&["manifest", "push", "--insecure", "--purge", &list])
        .expect("docker manifest push into a repository create-on-push makes");
    let lists = &ok(
        &server,
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "team/lists",
        ],
    )["repositories"][0];
    assert_eq!(lists["imageTagMutability"], "IMMUTABLE", "{lists}");
}

/// The registry password in a GetAuthorizationToken answer for `key`.
fn password_of(server: &TestServer, key: &(String, String)) -> String {
    let token = aws_as(
        server,
        (&key.0, &key.1),
        &["ecr", "get-authorization-token"],
    )
    .unwrap_or_else(|e| panic!("get-authorization-token: {e}"));
    let token = token["authorizationData"][0]["authorizationToken"]
        .as_str()
        .unwrap_or_else(|| panic!("authorizationToken in {token}"));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .expect("the token is base64");
    let decoded = String::from_utf8(decoded).expect("the token is UTF-8");
    let (_, password) = decoded.split_once(':').expect("AWS:<password>");
    password.to_owned()
}

/// Create-on-push is a CreateRepository: a pusher allowed to push to `deploy/*` cannot create
/// `deploy/fresh` by pushing until it is also allowed ecr:CreateRepository there.
#[test]
fn create_on_push_needs_ecr_create_repository() {
    let server = TestServer::start();
    let policy = |extra: &[&str]| {
        let mut actions = vec![
            "ecr:BatchCheckLayerAvailability",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
        ];
        actions.extend_from_slice(extra);
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Effect": "Allow", "Action": actions, "Resource": repo_arn("deploy/*")}]})
    };
    let pusher = user_with_policy(&server, "pusher", &policy(&[]));
    let creator = user_with_policy(&server, "creator", &policy(&["ecr:CreateRepository"]));
    let env = ClientEnv::new(&server.host()).expect("client env");
    let (layout, built) = image(&env, "src", "created on push\n");

    skopeo_login(&env, &password_of(&server, &pusher));
    let refused = push_refused(&env, &layout, "deploy/fresh:v1");
    assert!(
        refused.contains(&format!(
            "is not authorized to perform: ecr:CreateRepository on resource: {}",
            repo_arn("deploy/fresh")
        )),
        "{refused}"
    );
    fails(
        &server,
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "deploy/fresh",
        ],
        "RepositoryNotFoundException",
    );
    skopeo_login(&env, &password_of(&server, &creator));
    assert_eq!(push_ok(&env, &layout, "deploy/fresh:v1"), built.digest);
    // Once it exists, the pusher needs nothing more.
    skopeo_login(&env, &password_of(&server, &pusher));
    push_ok(&env, &layout, "deploy/fresh:v2");
    let details = describe_images(&server, "deploy/fresh");
    assert_eq!(details.len(), 1, "{details:?}");
    assert_eq!(tags_of(&details[0]), ["v1", "v2"]);
}

/// A multi-architecture index pushed with skopeo, seen through the API: the index is tagged
/// and sized as its largest image, the images are untagged, a child cannot be deleted while
/// the index refers to it, and PutImage of an index needs its children.
#[test]
fn multi_arch_index_through_the_api() {
    let server = TestServer::start();
    let env = logged_in(&server);
    let mut layout = OciLayout::create(&env.work_dir().join("multi")).expect("layout");
    let small = layout
        .add_image(MediaTypes::OCI, "linux", "amd64", &[("a.txt", b"small\n")])
        .expect("image");
    let big_file = vec![b'x'; 40_000];
    let big = layout
        .add_image(
            MediaTypes::OCI,
            "linux",
            "arm64",
            &[("b.bin", big_file.as_slice())],
        )
        .expect("image");
    let index = layout
        .add_index(MediaTypes::OCI, &[&small, &big])
        .expect("index");
    layout.tag("v1", &index).expect("tag");
    env.skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &layout.transport_ref("v1"),
        &env.docker_ref("multi/app:v1"),
    ])
    .expect("push the index");

    let details = describe_images(&server, "multi/app");
    assert_eq!(details.len(), 3, "{details:?}");
    let detail = |digest: &str| {
        details
            .iter()
            .find(|d| d["imageDigest"] == digest)
            .unwrap_or_else(|| panic!("{digest} in {details:?}"))
    };
    let idx = detail(&index.digest);
    assert_eq!(tags_of(idx), ["v1"]);
    assert_eq!(idx["imageManifestMediaType"], MediaTypes::OCI.index);
    assert_eq!(
        idx["imageSizeInBytes"].as_u64(),
        Some(manifest_size(&small).max(manifest_size(&big))),
        "{idx}"
    );
    for child in [&small, &big] {
        let d = detail(&child.digest);
        assert!(d.get("imageTags").is_none(), "{d}");
        assert_eq!(d["imageSizeInBytes"].as_u64(), Some(manifest_size(child)));
    }
    let untagged = ok(
        &server,
        &[
            "ecr",
            "list-images",
            "--repository-name",
            "multi/app",
            "--filter",
            "tagStatus=UNTAGGED",
        ],
    );
    let mut digests: Vec<&str> = untagged["imageIds"]
        .as_array()
        .expect("imageIds")
        .iter()
        .filter_map(|i| i["imageDigest"].as_str())
        .collect();
    digests.sort_unstable();
    let mut expected = [small.digest.as_str(), big.digest.as_str()];
    expected.sort_unstable();
    assert_eq!(digests, expected);

    let got = ok(
        &server,
        &[
            "ecr",
            "batch-get-image",
            "--repository-name",
            "multi/app",
            "--image-ids",
            "imageTag=v1",
            "--accepted-media-types",
            MediaTypes::OCI.index,
        ],
    );
    assert_eq!(
        got["images"][0]["imageManifest"]
            .as_str()
            .map(str::as_bytes),
        Some(index.bytes.as_slice()),
        "{got}"
    );

    let child_id = format!("imageDigest={}", small.digest);
    let refused = ok(
        &server,
        &[
            "ecr",
            "batch-delete-image",
            "--repository-name",
            "multi/app",
            "--image-ids",
            &child_id,
        ],
    );
    // Nothing deleted: `imageIds` (model minimum 1) is left out.
    assert_eq!(refused.get("imageIds"), None, "{refused}");
    assert_eq!(
        refused["failures"][0]["failureCode"], "ImageReferencedByManifestList",
        "{refused}"
    );
    assert_eq!(
        digest_of(&env, &format!("multi/app@{}", small.digest)),
        small.digest
    );

    // The same index into a repository that lacks its children.
    ok(
        &server,
        &["ecr", "create-repository", "--repository-name", "empty"],
    );
    let index_file = env.work_dir().join("index.json");
    std::fs::write(&index_file, &index.bytes).expect("write index");
    fails(
        &server,
        &[
            "ecr",
            "put-image",
            "--repository-name",
            "empty",
            "--image-tag",
            "v1",
            "--image-manifest",
            &format!("file://{}", index_file.display()),
        ],
        "ReferencedImagesNotFoundException",
    );
}

/// Creates an IAM user with one inline policy through the IAM API; returns its key pair.
fn user_with_policy(server: &TestServer, name: &str, policy: &Value) -> (String, String) {
    ok(server, &["iam", "create-user", "--user-name", name]);
    ok(
        server,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            name,
            "--policy-name",
            "inline",
            "--policy-document",
            &policy.to_string(),
        ],
    );
    let key = ok(server, &["iam", "create-access-key", "--user-name", name]);
    let field = |f: &str| {
        key["AccessKey"][f]
            .as_str()
            .unwrap_or_else(|| panic!("{f} in {key}"))
            .to_owned()
    };
    (field("AccessKeyId"), field("SecretAccessKey"))
}

/// A CI user allowed only to get a token and push to one repository: it pushes there with
/// skopeo after `aws ecr get-login-password | skopeo login`, and every other call is refused
/// with an error naming the action and the resource.
#[test]
fn least_privilege_pusher_pushes_one_repository_only() {
    let server = TestServer::start();
    for name in ["deploy/web", "deploy/db"] {
        ok(
            &server,
            &["ecr", "create-repository", "--repository-name", name],
        );
    }
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Token", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Sid": "PushWeb", "Effect": "Allow", "Action": [
                "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload", "ecr:PutImage"],
             "Resource": repo_arn("deploy/web")}
        ]
    });
    let key = user_with_policy(&server, "ci", &policy);
    let ci = (key.0.as_str(), key.1.as_str());

    let denied = |args: &[&str], action: &str, resource: &str| {
        let e = aws_as(&server, ci, args).expect_err("the call is not granted");
        assert!(e.contains("(AccessDeniedException)"), "{args:?}: {e}");
        assert!(
            e.contains(&format!(
                "is not authorized to perform: {action} on resource: {resource}"
            )),
            "the denial names action and resource: {e}"
        );
    };
    denied(
        &["ecr", "describe-images", "--repository-name", "deploy/db"],
        "ecr:DescribeImages",
        &repo_arn("deploy/db"),
    );
    denied(
        &["ecr", "describe-images", "--repository-name", "deploy/web"],
        "ecr:DescribeImages",
        &repo_arn("deploy/web"),
    );
    denied(
        &["ecr", "list-images", "--repository-name", "deploy/db"],
        "ecr:ListImages",
        &repo_arn("deploy/db"),
    );

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
                ("AWS_ACCESS_KEY_ID", ci.0),
                ("AWS_SECRET_ACCESS_KEY", ci.1),
                ("AWS_DEFAULT_REGION", REGION),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        )
        .expect("login pipeline runs");
    assert!(login.status.success(), "{login:?}");
    let (layout, built) = image(&env, "src", "built by ci\n");
    assert_eq!(push_ok(&env, &layout, "deploy/web:v1"), built.digest);
    let refused = push_refused(&env, &layout, "deploy/db:v1");
    assert!(
        refused.to_lowercase().contains("denied") || refused.contains("403"),
        "{refused}"
    );
    // Nor can it create a repository by pushing to it, though the ROOT template would.
    let refused = push_refused(&env, &layout, "deploy/new:v1");
    assert!(
        refused.to_lowercase().contains("denied") || refused.contains("403"),
        "{refused}"
    );

    // PutImage through the API is one of the granted push actions.
    let mut manifest: Value = serde_json::from_slice(&built.bytes).expect("manifest JSON");
    manifest["annotations"] = json!({"ci.build": "2"});
    let manifest_file = env.work_dir().join("m.json");
    std::fs::write(&manifest_file, serde_json::to_vec(&manifest).expect("JSON")).expect("write");
    let put = aws_as(
        &server,
        ci,
        &[
            "ecr",
            "put-image",
            "--repository-name",
            "deploy/web",
            "--image-tag",
            "v2",
            "--image-manifest",
            &format!("file://{}", manifest_file.display()),
        ],
    )
    .unwrap_or_else(|e| panic!("the CI user may PutImage on deploy/web: {e}"));
    assert_eq!(put["image"]["imageId"]["imageTag"], "v2");

    // The administrator sees both images.
    let mut tags: Vec<Vec<&str>> = Vec::new();
    let details = describe_images(&server, "deploy/web");
    for d in &details {
        tags.push(tags_of(d));
    }
    tags.sort();
    assert_eq!(tags, [vec!["v1"], vec!["v2"]]);
}

/// Uploads `bytes` as one layer with the aws CLI alone (InitiateLayerUpload, UploadLayerPart
/// per `part_size` bytes from `fileb://` files, CompleteLayerUpload); returns what
/// CompleteLayerUpload printed, or the CLI's error.
fn upload_layer(
    server: &TestServer,
    dir: &std::path::Path,
    repo: &str,
    bytes: &[u8],
    part_size: usize,
) -> Result<Value, String> {
    let started = ok(
        server,
        &["ecr", "initiate-layer-upload", "--repository-name", repo],
    );
    assert_eq!(started["partSize"].as_u64(), Some(5_242_880), "{started}");
    let upload_id = started["uploadId"]
        .as_str()
        .unwrap_or_else(|| panic!("uploadId in {started}"))
        .to_owned();
    for (i, part) in bytes.chunks(part_size).enumerate() {
        let first = i * part_size;
        let last = first + part.len() - 1;
        let file = dir.join(format!("{upload_id}.{i}"));
        std::fs::write(&file, part).expect("write part");
        let uploaded = ok(
            server,
            &[
                "ecr",
                "upload-layer-part",
                "--repository-name",
                repo,
                "--upload-id",
                &upload_id,
                "--part-first-byte",
                &first.to_string(),
                "--part-last-byte",
                &last.to_string(),
                "--layer-part-blob",
                &format!("fileb://{}", file.display()),
            ],
        );
        assert_eq!(uploaded["lastByteReceived"].as_u64(), Some(last as u64));
        assert_eq!(uploaded["uploadId"], upload_id.as_str());
    }
    aws_as(
        server,
        ADMIN,
        &[
            "ecr",
            "complete-layer-upload",
            "--repository-name",
            repo,
            "--upload-id",
            &upload_id,
            "--layer-digests",
            &sha256(bytes),
        ],
    )
}

/// The API-only push: layers uploaded in parts with the aws CLI and an image put with
/// PutImage, which skopeo then pulls byte for byte and docker inspects; the layer is also
/// fetchable from GetDownloadUrlForLayer's URL with no credentials, and nowhere else.
#[test]
fn layers_uploaded_with_the_cli_make_an_image_clients_pull() {
    let server = TestServer::start();
    ok(
        &server,
        &["ecr", "create-repository", "--repository-name", "api/only"],
    );
    let env = logged_in(&server);
    let parts_dir = env.work_dir().join("parts");
    std::fs::create_dir_all(&parts_dir).expect("parts dir");
    // Bytes that look random, so the layer is ~12 MB whatever anyone would compress.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let big: Vec<u8> = (0..12_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let layout = OciLayout::create(&env.work_dir().join("built")).expect("layout");
    let built = layout
        .add_image(
            MediaTypes::OCI,
            "linux",
            "amd64",
            &[("big.bin", big.as_slice())],
        )
        .expect("image");
    let config = layout.blob(&built.children[0]).expect("config");
    let layer = layout.blob(&built.children[1]).expect("layer");
    assert!(layer.len() > 2 * 5_242_880, "three parts");

    fails(
        &server,
        &[
            "ecr",
            "put-image",
            "--repository-name",
            "api/only",
            "--image-tag",
            "v1",
            "--image-manifest",
            std::str::from_utf8(&built.bytes).expect("manifest is UTF-8"),
        ],
        "LayersNotFoundException",
    );
    let done = upload_layer(&server, &parts_dir, "api/only", &layer, 5_242_880)
        .unwrap_or_else(|e| panic!("upload the layer: {e}"));
    assert_eq!(done["layerDigest"], built.children[1].as_str(), "{done}");
    upload_layer(&server, &parts_dir, "api/only", &config, 5_242_880)
        .unwrap_or_else(|e| panic!("upload the config: {e}"));
    let check = ok(
        &server,
        &[
            "ecr",
            "batch-check-layer-availability",
            "--repository-name",
            "api/only",
            "--layer-digests",
            &built.children[1],
        ],
    );
    assert_eq!(
        check["layers"][0]["layerAvailability"], "AVAILABLE",
        "{check}"
    );
    assert_eq!(
        check["layers"][0]["layerSize"].as_u64(),
        Some(layer.len() as u64)
    );
    // Not part of an image yet: no download URL.
    fails(
        &server,
        &[
            "ecr",
            "get-download-url-for-layer",
            "--repository-name",
            "api/only",
            "--layer-digest",
            &built.children[1],
        ],
        "LayerInaccessibleException",
    );

    let manifest_file = env.work_dir().join("manifest.json");
    std::fs::write(&manifest_file, &built.bytes).expect("write manifest");
    let put = ok(
        &server,
        &[
            "ecr",
            "put-image",
            "--repository-name",
            "api/only",
            "--image-tag",
            "v1",
            "--image-manifest",
            &format!("file://{}", manifest_file.display()),
        ],
    );
    assert_eq!(
        put["image"]["imageId"]["imageDigest"],
        built.digest.as_str()
    );

    let back_dir = env.work_dir().join("back");
    env.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &env.docker_ref("api/only:v1"),
        &format!("oci:{}:v1", back_dir.display()),
    ])
    .expect("skopeo pulls the API-made image");
    let back = OciLayout::open(&back_dir);
    assert!(back.blob(&built.digest).expect("manifest") == built.bytes);
    assert!(back.blob(&built.children[0]).expect("config") == config);
    assert!(back.blob(&built.children[1]).expect("layer") == layer);
    let shown = env
        .docker(&[
            "manifest",
            "inspect",
            "--insecure",
            &env.reference("api/only:v1"),
        ])
        .expect("docker manifest inspect");
    assert_eq!(
        serde_json::from_str::<Value>(&shown).expect("JSON"),
        serde_json::from_slice::<Value>(&built.bytes).expect("JSON")
    );

    let url = ok(
        &server,
        &[
            "ecr",
            "get-download-url-for-layer",
            "--repository-name",
            "api/only",
            "--layer-digest",
            &built.children[1],
        ],
    );
    assert_eq!(url["layerDigest"], built.children[1].as_str());
    let url = url["downloadUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("downloadUrl in {url}"))
        .to_owned();
    assert!(url.starts_with(&server.base_url), "{url}");
    let fetched = portcullis_testkit::clients::http_get(&url, &[], None).expect("GET");
    assert_eq!(fetched.status, 200, "{url}");
    assert!(fetched.body == layer, "the URL serves the layer");
    let mut tampered = url.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).expect("ASCII URL");
    let refused = portcullis_testkit::clients::http_get(&tampered, &[], None).expect("GET");
    assert_eq!(refused.status, 403, "{tampered}");
    // Scoped to its one blob: the same signature does not open the config.
    assert!(url.contains(&built.children[1]), "{url}");
    let other = url.replace(&built.children[1], &built.children[0]);
    let refused = portcullis_testkit::clients::http_get(&other, &[], None).expect("GET");
    assert_eq!(refused.status, 403, "{other}");

    // The errors CompleteLayerUpload owes a client that gets the parts wrong.
    let e = upload_layer(&server, &parts_dir, "api/only", &config, 5_242_880)
        .expect_err("the config is there already");
    assert!(e.contains("(LayerAlreadyExistsException)"), "{e}");
    let e = upload_layer(&server, &parts_dir, "api/only", &big[..3000], 1000)
        .expect_err("parts under 5 MiB");
    assert!(e.contains("(LayerPartTooSmallException)"), "{e}");
    let e = upload_layer(&server, &parts_dir, "api/only", &[], 1).expect_err("no parts");
    assert!(e.contains("(EmptyUploadException)"), "{e}");
}
