//! The docker CLI (no engine) against the real server: `docker login` with a password from
//! `aws ecr get-login-password`, as ECR users log in, `docker manifest inspect`, and `docker manifest create` + `push` of a list whose images live in other
//! repositories. The images are built as OCI layouts and pushed with skopeo, since the CLI alone
//! cannot push an image.
//!
//! Two behaviours of the CLI shape these tests. For an insecure registry it tries HTTPS first
//! and falls back to plain HTTP only when the port answers the TLS ClientHello with an HTTP/1.x
//! status line (Go's net/http then reports "server gave HTTP response to HTTPS client"). And
//! `docker manifest push` into another repository mounts every blob from the image's own
//! repository and fails unless the mount answers 201.
//!
//! Needs docker, skopeo and the aws CLI (`scripts/install-test-deps.sh`); run with
//! `cargo test -p portcullis-testkit --test clients_docker`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use portcullis_testkit::clients::{
    require, sha256, BuiltManifest, ClientEnv, MediaTypes, OciLayout, ALL_MANIFEST_TYPES,
};
use portcullis_testkit::{TestServer, ADMIN_ACCESS_KEY_ID, ADMIN_SECRET_ACCESS_KEY};
use serde_json::Value;

fn setup() -> (TestServer, ClientEnv) {
    require("docker");
    require("skopeo");
    let server = TestServer::start();
    let env = ClientEnv::for_server(&server).expect("client env");
    env.login("skopeo").expect("skopeo login");
    env.docker_login().expect("docker login");
    (server, env)
}

/// The docker config dir argument every raw `docker` invocation here passes.
fn config_arg(env: &ClientEnv) -> String {
    env.docker_config_dir().to_str().unwrap().to_owned()
}

/// What docker stored for the registry in its config file.
fn stored_auth(env: &ClientEnv) -> Value {
    let config: Value = serde_json::from_slice(
        &std::fs::read(env.docker_config_dir().join("config.json")).unwrap(),
    )
    .unwrap();
    config["auths"][env.registry()].clone()
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

/// What ECR's documentation tells docker users to do: `aws ecr get-login-password | docker
/// login --username AWS --password-stdin`. The password it stores then works for pulls, a wrong
/// password is refused, and `docker logout` forgets it.
#[test]
fn login_with_a_token_from_aws_ecr_get_login_password() {
    require("aws");
    let server = TestServer::start();
    let env = ClientEnv::for_server(&server).expect("client env");
    env.login("skopeo").expect("skopeo login");
    seed(&env, "docker/login", &["amd64"]);
    let config = config_arg(&env);
    let inspect = |env: &ClientEnv| {
        env.output(
            "docker",
            &[
                "--config",
                &config,
                "manifest",
                "inspect",
                "--insecure",
                &env.reference("docker/login-amd64:v1"),
            ],
        )
        .unwrap()
    };

    // Not logged in: the registry challenges and docker gives up.
    let anonymous = inspect(&env);
    assert!(
        !anonymous.status.success(),
        "an anonymous pull succeeded: {}",
        anonymous.stdout
    );
    assert!(
        anonymous.stderr.to_lowercase().contains("unauthorized")
            || anonymous.stderr.contains("401")
            || anonymous.stderr.contains("no basic auth credentials"),
        "{}",
        anonymous.stderr
    );

    // A wrong password is refused and nothing is stored.
    let wrong = env
        .output_with(
            "docker",
            &[
                "--config",
                &config,
                "login",
                "--username",
                "AWS",
                "--password-stdin",
                env.registry(),
            ],
            Some(format!("{}x", env.password().unwrap()).as_bytes()),
            &[],
        )
        .unwrap();
    assert!(
        !wrong.status.success(),
        "docker login accepted a wrong password: {}",
        wrong.stdout
    );
    assert!(stored_auth(&env).is_null(), "stored after a failed login");

    // The password from `aws ecr get-login-password`, piped into `docker login`.
    let login = env
        .aws_ecr_docker_login(
            &server.base_url,
            ADMIN_ACCESS_KEY_ID,
            ADMIN_SECRET_ACCESS_KEY,
        )
        .unwrap();
    assert!(
        login.status.success(),
        "aws ecr get-login-password | docker login failed ({}):\n{}\n{}",
        login.status,
        login.stdout,
        login.stderr
    );
    assert!(login.stdout.contains("Login Succeeded"), "{}", login.stdout);
    let stored = stored_auth(&env);
    assert!(
        stored.is_object(),
        "docker stored no credentials for {}",
        env.registry()
    );
    let pulled = inspect(&env);
    assert!(pulled.status.success(), "{}", pulled.stderr);

    env.docker(&["logout", env.registry()]).unwrap();
    assert!(stored_auth(&env).is_null(), "still stored after logout");
    assert!(!inspect(&env).status.success(), "pulled after logout");
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
                &config_arg(&env),
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

    let resp = env
        .http_get(
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
        let resp = env
            .http_get(
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
            let resp = env
                .http_get(
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
