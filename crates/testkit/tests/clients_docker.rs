//! The docker CLI (no engine) against the real server: `docker login`, `docker manifest
//! inspect`, and `docker manifest create` + `push` of a list whose images live in other
//! repositories. The images are built as OCI layouts and pushed with skopeo, since the CLI alone
//! cannot push an image.
//!
//! Two behaviours of the CLI shape these tests. For an insecure registry it tries HTTPS first
//! and falls back to plain HTTP only when the port answers the TLS ClientHello with an HTTP/1.x
//! status line (Go's net/http then reports "server gave HTTP response to HTTPS client"). And
//! `docker manifest push` into another repository mounts every blob from the image's own
//! repository and fails unless the mount answers 201.
//!
//! Needs docker and skopeo (`scripts/install-test-deps.sh`); run with
//! `cargo test -p portcullis-testkit --test clients_docker`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use portcullis_testkit::clients::{
    http_get, require, sha256, BuiltManifest, ClientEnv, MediaTypes, OciLayout, ALL_MANIFEST_TYPES,
};
use portcullis_testkit::TestServer;
use serde_json::Value;

fn setup() -> (TestServer, ClientEnv) {
    require("docker");
    require("skopeo");
    let server = TestServer::start();
    let env = ClientEnv::new(&server.host()).expect("client env");
    (server, env)
}

/// Pushes one single-platform image per architecture, each to `<repo_prefix>-<arch>:v1`, and
/// an index over them to `<repo_prefix>-<arch>:multi` of the first architecture's repository.
fn seed(env: &ClientEnv, repo_prefix: &str, archs: &[&str]) -> (Vec<BuiltManifest>, BuiltManifest) {
    let mut layout = OciLayout::create(&env.work_dir().join("seed")).unwrap();
    let mut images = Vec::new();
    for arch in archs {
        let text = format!("docker test image for {arch}\n");
        let image = layout
            .add_image(
                MediaTypes::OCI,
                "linux",
                arch,
                &[("arch.txt", text.as_bytes())],
            )
            .unwrap();
        layout.tag(arch, &image).unwrap();
        env.skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &layout.transport_ref(arch),
            &env.docker_ref(&format!("{repo_prefix}-{arch}:v1")),
        ])
        .unwrap();
        images.push(image);
    }
    let index = layout
        .add_index(MediaTypes::OCI, &images.iter().collect::<Vec<_>>())
        .unwrap();
    layout.tag("multi", &index).unwrap();
    env.skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &layout.transport_ref("multi"),
        &env.docker_ref(&format!("{repo_prefix}-{}:multi", archs[0])),
    ])
    .unwrap();
    (images, index)
}

/// A TLS ClientHello record with the cipher suites Go's client offers, as docker sends it first
/// to an insecure registry. Suite 0xc00a puts a `\n` byte in it, which is what lets a
/// line-oriented HTTP parser (Go's) see a malformed request line and answer 400.
fn client_hello() -> Vec<u8> {
    const SUITES: [u16; 17] = [
        0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc009, 0xc013, 0xc00a, 0xc014, 0x009c,
        0x009d, 0x002f, 0x0035, 0x1301, 0x1302, 0x1303,
    ];
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x42; 32]);
    body.push(0);
    body.extend_from_slice(&((SUITES.len() * 2) as u16).to_be_bytes());
    for suite in SUITES {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[0x01, 0x00]);
    body.extend_from_slice(&[0x00, 0x00]);
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&(body.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[test]
fn plain_http_port_answers_a_tls_client_hello_with_an_http_status_line() {
    let (server, _env) = setup();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&client_hello()).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    while reply.len() < 12 {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) => {
                panic!("no reply to a TLS ClientHello ({e}); docker would never fall back to HTTP")
            }
        }
    }
    assert!(
        reply.starts_with(b"HTTP/1."),
        "a TLS ClientHello must get an HTTP/1.x status line so docker falls back to HTTP; got {:?}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn login_succeeds_against_a_registry_without_auth() {
    let (_server, env) = setup();
    let out = env
        .docker(&[
            "login",
            "--username",
            "portcullis",
            "--password",
            "anything",
            env.registry(),
        ])
        .unwrap();
    assert!(out.contains("Login Succeeded"), "{out}");
    let config: Value = serde_json::from_slice(
        &std::fs::read(env.docker_config_dir().join("config.json")).unwrap(),
    )
    .unwrap();
    assert!(
        config["auths"][env.registry()].is_object(),
        "docker stored no credentials for {}: {config}",
        env.registry()
    );

    env.docker(&["logout", env.registry()]).unwrap();
    let config: Value = serde_json::from_slice(
        &std::fs::read(env.docker_config_dir().join("config.json")).unwrap(),
    )
    .unwrap();
    assert!(config["auths"][env.registry()].is_null(), "{config}");
}

#[test]
fn manifest_inspect_shows_images_and_lists() {
    let (_server, env) = setup();
    let (images, index) = seed(&env, "docker/app", &["amd64", "arm64"]);

    let out = env
        .docker(&[
            "manifest",
            "inspect",
            "--insecure",
            &env.reference("docker/app-amd64:v1"),
        ])
        .unwrap();
    let shown: Value = serde_json::from_str(&out).unwrap();
    let stored: Value = serde_json::from_slice(&images[0].bytes).unwrap();
    assert_eq!(shown, stored);

    let out = env
        .docker(&[
            "manifest",
            "inspect",
            "--insecure",
            &env.reference("docker/app-amd64:multi"),
        ])
        .unwrap();
    let shown: Value = serde_json::from_str(&out).unwrap();
    let stored: Value = serde_json::from_slice(&index.bytes).unwrap();
    assert_eq!(shown, stored);

    let out = env
        .docker(&[
            "manifest",
            "inspect",
            "--insecure",
            "--verbose",
            &env.reference("docker/app-amd64:multi"),
        ])
        .unwrap();
    let verbose: Value = serde_json::from_str(&out).unwrap();
    let digests: Vec<&str> = verbose
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Descriptor"]["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        digests,
        images.iter().map(|i| i.digest.as_str()).collect::<Vec<_>>()
    );

    let missing = env
        .output(
            "docker",
            &[
                "--config",
                env.docker_config_dir().to_str().unwrap(),
                "manifest",
                "inspect",
                "--insecure",
                &env.reference("docker/app-amd64:no-such-tag"),
            ],
        )
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        missing.stderr.contains("no such manifest"),
        "{}",
        missing.stderr
    );
}

#[test]
fn manifest_create_and_push_into_another_repository() {
    let (server, env) = setup();
    let (images, _) = seed(&env, "docker/src", &["amd64", "arm64"]);
    let list = env.reference("docker/dst:list");
    let out = env
        .docker(&[
            "manifest",
            "create",
            "--insecure",
            &list,
            &env.reference("docker/src-amd64:v1"),
            &env.reference("docker/src-arm64:v1"),
        ])
        .unwrap();
    assert!(out.contains("Created manifest list"), "{out}");
    env.docker(&[
        "manifest",
        "annotate",
        "--variant",
        "v8",
        &list,
        &env.reference("docker/src-arm64:v1"),
    ])
    .unwrap();

    let out = env
        .docker(&["manifest", "push", "--insecure", "--purge", &list])
        .unwrap();
    let printed = out.lines().last().unwrap().trim().to_owned();
    assert!(printed.starts_with("sha256:"), "{out}");

    let resp = http_get(
        &format!("{}/v2/docker/dst/manifests/list", server.base_url),
        &ALL_MANIFEST_TYPES,
    )
    .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(sha256(&resp.body), printed);
    let pushed: Value = serde_json::from_slice(&resp.body).unwrap();
    let entries = pushed["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let arm = entries
        .iter()
        .find(|e| e["platform"]["architecture"] == "arm64")
        .unwrap();
    assert_eq!(arm["platform"]["variant"], "v8");

    // Every image manifest and blob now lives in the destination repository too.
    for image in &images {
        let resp = http_get(
            &format!(
                "{}/v2/docker/dst/manifests/{}",
                server.base_url, image.digest
            ),
            &ALL_MANIFEST_TYPES,
        )
        .unwrap();
        assert_eq!(
            resp.status, 200,
            "manifest {} not in docker/dst",
            image.digest
        );
        assert_eq!(resp.body, image.bytes);
        for blob in &image.children {
            let resp = http_get(
                &format!("{}/v2/docker/dst/blobs/{blob}", server.base_url),
                &[],
            )
            .unwrap();
            assert_eq!(resp.status, 200, "blob {blob} not mounted into docker/dst");
            assert_eq!(sha256(&resp.body), *blob);
        }
    }
    assert!(
        !env.docker_config_dir()
            .join("manifests")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "--purge left the local list behind"
    );

    let out = env
        .docker(&["manifest", "inspect", "--insecure", &list])
        .unwrap();
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown, pushed);
}
