//! Issue 10's holes in the registry API, black box: download URLs that answered any method and
//! escaped perimeters and revocations, a token endpoint that minted fresh tokens without
//! authorization, anonymous access that was always on, malformed references answered as bad
//! tags, and anonymous clients that could not pull.

use std::process::Command;

use portcullis_testkit::clients::{require, ClientEnv, MediaTypes, OciLayout};
use portcullis_testkit::scenario::*;
use portcullis_testkit::{basic_auth, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

/// Pushes `repo:v1` as the admin and returns (admin client, layer digest, layer bytes).
fn seeded(server: &TestServer, base: &str, repo: &str) -> (Client2, String, Vec<u8>) {
    let root = Client2::new(
        base,
        None,
        Some(basic_auth("AWS", &server.admin_password())),
    );
    let (status, body) = root.push_image(repo, "v1");
    assert_eq!(status, 201, "{body}");
    let (status, manifest) = root.get(&format!("/v2/{repo}/manifests/v1"));
    assert_eq!(status, 200, "{manifest}");
    let manifest: Value = serde_json::from_str(&manifest).expect("manifest JSON");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer digest")
        .to_owned();
    let (status, bytes) = root.get(&format!("/v2/{repo}/blobs/{layer}"));
    assert_eq!(status, 200);
    (root, layer, bytes.into_bytes())
}

/// `aws ecr get-download-url-for-layer` through `base` with `key`.
fn download_url(base: &str, key: (&str, &str), repo: &str, digest: &str) -> String {
    let out = aws(
        base,
        key,
        &[
            "ecr",
            "get-download-url-for-layer",
            "--repository-name",
            repo,
            "--layer-digest",
            digest,
        ],
    )
    .unwrap_or_else(|e| panic!("get-download-url-for-layer: {e}"));
    let v: Value = serde_json::from_str(&out).expect("JSON");
    v["downloadUrl"].as_str().expect("downloadUrl").to_owned()
}

/// The same URL aimed at another listener (same path and query).
fn via(url: &str, base: &str) -> String {
    let path = &url[url.find("/v2/").expect("a /v2/ URL")..];
    format!("{base}{path}")
}

#[test]
fn a_download_url_serves_get_of_its_blob_and_nothing_else() {
    let server = start("");
    let (root, layer, bytes) = seeded(&server, &server.base_url, "dl/only-get");
    let admin_key = (
        portcullis_testkit::ADMIN_ACCESS_KEY_ID,
        portcullis_testkit::ADMIN_SECRET_ACCESS_KEY,
    );
    let url = download_url(&server.base_url, admin_key, "dl/only-get", &layer);
    let anonymous = Client2::new(&server.base_url, None, None);
    for method in [
        Method::DELETE,
        Method::PUT,
        Method::PATCH,
        Method::POST,
        Method::HEAD,
    ] {
        let resp = anonymous.send(method.clone(), &url, Some(b"x".to_vec()));
        let status = resp.status().as_u16();
        assert!(
            status == 403 || status == 405,
            "{method} on a download URL answered {status}"
        );
    }
    // The blob is still there and still served, to the URL and to the owner.
    let (status, got) = anonymous.get(&url);
    assert_eq!(status, 200, "{got}");
    assert!(got.as_bytes() == bytes);
    assert_eq!(root.get(&format!("/v2/dl/only-get/blobs/{layer}")).0, 200);
    let events = audit_lines(server.data_dir());
    assert!(
        !events
            .iter()
            .any(|e| e["eventName"] == "DeleteBlob" && e["decision"] == "allow"),
        "no delete was allowed"
    );
    assert!(events
        .iter()
        .any(|e| e["eventName"] == "GetDownloadUrlForLayer"
            && e["decision"] == "deny"
            && e["errorMessage"]
                .as_str()
                .is_some_and(|m| m.contains("GET of its one blob"))));
}

#[test]
fn a_download_url_holds_the_perimeter_and_dies_with_its_key() {
    let server = start(
        "[[listeners]]\naddress = \"127.0.0.1:0\"\nendpoint_id = \"vpce-0a1b2c3d4e5f67890\"\n",
    );
    let endpoint = listener_url(&server, "vpce-0a1b2c3d4e5f67890", true);
    let outside = listener_url(&server, "vpce-0a1b2c3d4e5f67890", false);
    let (_root, layer, bytes) = seeded(&server, &outside, "perimeter/app");
    admin(
        &server,
        &[
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "perimeter/app",
            "--force",
            "--policy-text",
            &json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "OnlyThroughTheEndpoint", "Effect": "Deny", "Principal": "*",
                "Action": "ecr:*",
                "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0a1b2c3d4e5f67890"}}
            }]})
            .to_string(),
        ],
    );
    let key = user_with_policy(
        &server,
        "puller",
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            "Resource": "*"
        }]}),
    );
    let url = download_url(&endpoint, (&key.0, &key.1), "perimeter/app", &layer);
    let anonymous = Client2::new(&outside, None, None);
    let (status, body) = anonymous.get(&via(&url, &endpoint));
    assert_eq!(status, 200, "through the endpoint: {body}");
    assert!(body.as_bytes() == bytes);
    let (status, body) = anonymous.get(&via(&url, &outside));
    assert_eq!(status, 403, "outside the endpoint: {body}");
    assert_eq!(code_of(&body), "DENIED");

    // The key that obtained the URL is deleted: the URL stops working at once.
    admin(
        &server,
        &[
            "iam",
            "delete-access-key",
            "--user-name",
            "puller",
            "--access-key-id",
            &key.0,
        ],
    );
    let (status, body) = anonymous.get(&via(&url, &endpoint));
    assert_eq!(status, 403, "a revoked key's URL: {body}");
}

#[test]
fn the_token_endpoint_authorizes_and_never_extends_a_token() {
    let server = start("");
    let key = user_with_policy(
        &server,
        "ci",
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ecr:*", "Resource": "*"
        }]}),
    );
    let password = login_password(&server, &key);
    let client = Client2::new(&server.base_url, None, Some(basic_auth("AWS", &password)));
    let (status, body) = client.get("/v2/token?service=ecr.amazonaws.com");
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("token JSON");
    assert_eq!(
        answer["token"], password,
        "the endpoint hands back the token presented, not a new one"
    );
    let left = answer["expires_in"].as_i64().expect("expires_in");
    assert!(left <= 12 * 3600 && left > 12 * 3600 - 120, "{left}");

    // An explicit Deny on GetAuthorizationToken closes both doors.
    admin(
        &server,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "ci",
            "--policy-name",
            "no-tokens",
            "--policy-document",
            &json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Deny", "Action": "ecr:GetAuthorizationToken", "Resource": "*"
            }]})
            .to_string(),
        ],
    );
    let refused = aws(
        &server.base_url,
        (&key.0, &key.1),
        &["ecr", "get-authorization-token"],
    )
    .expect_err("the API refuses");
    assert!(refused.contains("AccessDenied"), "{refused}");
    for method in [Method::GET, Method::POST] {
        let resp = client.send(method.clone(), "/v2/token?service=ecr.amazonaws.com", None);
        assert_eq!(resp.status().as_u16(), 403, "{method} /v2/token");
        let body = resp.text().unwrap_or_default();
        assert_eq!(code_of(&body), "DENIED", "{body}");
        assert!(body.contains("ecr:GetAuthorizationToken"), "{body}");
    }
    let events = audit_lines(server.data_dir());
    assert!(
        events
            .iter()
            .filter(|e| e["eventName"] == "GetAuthorizationToken"
                && e["eventSource"] == "registry"
                && e["decision"] == "deny")
            .count()
            >= 2,
        "each refusal of the token endpoint is audited"
    );
}

#[test]
fn without_anonymous_access_every_route_wants_credentials() {
    let server = start("");
    let (_root, layer, _) = seeded(&server, &server.base_url, "private/app");
    // A policy that opens the repository to everyone changes nothing for anonymous callers.
    admin(
        &server,
        &[
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "private/app",
            "--policy-text",
            &json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": "*", "Action": "ecr:*"
            }]})
            .to_string(),
        ],
    );
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/v2/_catalog".into()),
        (Method::GET, "/v2/private/app/tags/list".into()),
        (Method::GET, "/v2/private/app/manifests/v1".into()),
        (Method::HEAD, "/v2/private/app/manifests/v1".into()),
        (Method::PUT, "/v2/private/app/manifests/v2".into()),
        (Method::DELETE, "/v2/private/app/manifests/v1".into()),
        (Method::GET, format!("/v2/private/app/blobs/{layer}")),
        (Method::HEAD, format!("/v2/private/app/blobs/{layer}")),
        (Method::DELETE, format!("/v2/private/app/blobs/{layer}")),
        (Method::POST, "/v2/private/app/blobs/uploads/".into()),
        (Method::GET, format!("/v2/private/app/referrers/{layer}")),
        (Method::GET, "/v2/token".into()),
    ];
    for auth in [None, Some(basic_auth("", "")), Some("Bearer ".to_owned())] {
        let anonymous = Client2::new(&server.base_url, None, auth.clone());
        for (method, path) in &routes {
            let resp = anonymous.send(method.clone(), path, None);
            assert_eq!(resp.status().as_u16(), 401, "{method} {path} with {auth:?}");
            let challenge = resp.headers()["www-authenticate"]
                .to_str()
                .expect("challenge");
            assert!(challenge.starts_with("Basic realm="), "{challenge}");
        }
    }
    assert_eq!(
        Client2::new(&server.base_url, None, None)
            .get("/v2/private/app/manifests/v1")
            .0,
        401
    );
}

#[test]
fn malformed_manifest_references_are_unknown_manifests() {
    let server = start("");
    let (root, _, _) = seeded(&server, &server.base_url, "refs/app");
    for method in [Method::GET, Method::HEAD, Method::DELETE] {
        let resp = root.send(
            method.clone(),
            "/v2/refs/app/manifests/.INVALID_MANIFEST_NAME",
            None,
        );
        assert_eq!(resp.status().as_u16(), 404, "{method}");
        if method != Method::HEAD {
            let body = resp.text().unwrap_or_default();
            assert_eq!(code_of(&body), "MANIFEST_UNKNOWN", "{method}: {body}");
        }
    }
    let resp = root
        .http
        .put(format!(
            "{}/v2/refs/app/manifests/.INVALID_MANIFEST_NAME",
            root.base
        ))
        .header("Authorization", root.auth.clone().unwrap_or_default())
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body("{}")
        .send()
        .expect("PUT");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(
        code_of(&resp.text().unwrap_or_default()),
        "TAG_INVALID",
        "an invalid tag to write stays TAG_INVALID"
    );
}

/// With anonymous access on and a public-by-policy repository, the real clients pull without
/// any credentials: skopeo and podman (containers/image sends `Basic Og==`), the docker CLI
/// (`manifest inspect`, the pull it can do without an engine; it wants a Bearer challenge) and
/// ORAS (the project's Python SDK, which runs the token flow).
#[test]
fn anonymous_clients_pull_a_public_repository() {
    require("skopeo");
    require("podman");
    require("docker");
    let server = start("anonymous_access = true\n");
    let env = ClientEnv::for_server(&server).expect("client env");
    // A real image (podman unpacks its layer), pushed with the admin's credentials given to
    // this one command only: the environment itself stays logged out.
    let mut layout = OciLayout::create(&env.work_dir().join("seed")).expect("layout");
    let image = layout
        .add_image(
            MediaTypes::OCI,
            "linux",
            "amd64",
            &[("hello.txt", b"public base image\n".as_slice())],
        )
        .expect("image");
    layout.tag("v1", &image).expect("tag");
    env.skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        &env.creds().expect("creds"),
        &layout.transport_ref("v1"),
        &env.docker_ref("public/base:v1"),
    ])
    .expect("push as the admin");
    let layer = image.children[1].clone();
    let bytes = layout.blob(&layer).expect("layer bytes");
    admin(
        &server,
        &[
            "ecr",
            "set-repository-policy",
            "--repository-name",
            "public/base",
            "--policy-text",
            &json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "PublicPull", "Effect": "Allow", "Principal": "*",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                           "ecr:BatchCheckLayerAvailability"]
            }]})
            .to_string(),
        ],
    );
    let image = env.reference("public/base:v1");
    let out = env
        .skopeo(&[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            &format!("docker://{image}"),
            &format!("oci:{}:v1", env.work_dir().join("pulled").display()),
        ])
        .expect("anonymous skopeo copy");
    let hex = layer.trim_start_matches("sha256:");
    let stored = env.work_dir().join("pulled/blobs/sha256").join(hex);
    let pulled = std::fs::read(&stored).unwrap_or_else(|e| {
        panic!(
            "skopeo stored the layer at {}: {e}; skopeo said: {out}; stored: {:?}",
            stored.display(),
            std::fs::read_dir(env.work_dir().join("pulled/blobs/sha256")).map(|d| d
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect::<Vec<_>>())
        )
    });
    assert!(pulled == bytes);
    env.podman(&["pull", "--tls-verify=false", "-q", &image])
        .expect("anonymous podman pull");
    let shown = env
        .docker(&[
            "manifest",
            "inspect",
            "--insecure",
            &env.reference("public/base:v1"),
        ])
        .expect("anonymous docker manifest inspect");
    let shown: Value = serde_json::from_str(&shown).expect("manifest JSON");
    assert_eq!(shown["layers"][0]["digest"], layer.as_str());

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oras_pull.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(server.host())
        .arg("public/base:v1")
        .arg(&layer)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "oras pull: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), layer);

    // Pushing stays closed to anonymous callers, whatever the client.
    let anonymous = Client2::new(&server.base_url, None, None);
    assert_eq!(anonymous.push_blob("public/base", b"nope").0, 401);
}
