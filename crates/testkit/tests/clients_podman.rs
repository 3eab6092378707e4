//! podman against the real server: build FROM scratch, push (OCI and Docker schema 2), pull, and
//! manifest lists (`podman manifest create/add/push --all`). podman runs without a daemon on the
//! vfs storage driver in a private graph root, and nothing is pulled from the internet.
//!
//! Needs podman (`scripts/install-test-deps.sh`); run with
//! `cargo test -p portcullis-testkit --test clients_podman`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use portcullis_testkit::clients::{
    require, sha256, ClientEnv, HttpResponse, MediaTypes, ALL_MANIFEST_TYPES,
};
use portcullis_testkit::TestServer;
use serde_json::Value;

fn setup() -> (TestServer, ClientEnv) {
    require("podman");
    let server = TestServer::start();
    let env = ClientEnv::for_server(&server).expect("client env");
    env.login("podman").expect("podman login");
    (server, env)
}

/// A build context with one file and a `FROM scratch` Containerfile that copies it.
fn context(env: &ClientEnv, name: &str, text: &str) -> PathBuf {
    let dir = env.work_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), text).unwrap();
    std::fs::write(
        dir.join("Containerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .unwrap();
    dir
}

fn digest_file(env: &ClientEnv, name: &str) -> PathBuf {
    env.work_dir().join(format!("{name}.digest"))
}

fn manifest(env: &ClientEnv, server: &TestServer, repo: &str, reference: &str) -> HttpResponse {
    env.http_get(
        &format!("{}/v2/{repo}/manifests/{reference}", server.base_url),
        &ALL_MANIFEST_TYPES,
    )
    .unwrap()
}

#[test]
fn build_from_scratch_push_and_pull() {
    let (server, env) = setup();
    let ctx = context(&env, "ctx", "hello from podman\n");
    let image = env.reference("podman/hello:v1");
    let built = env
        .podman(&[
            "build",
            "--no-cache",
            "-q",
            "-t",
            &image,
            ctx.to_str().unwrap(),
        ])
        .unwrap();
    let image_id = built.lines().last().unwrap().trim().to_owned();

    let df = digest_file(&env, "oci");
    env.podman(&[
        "push",
        "--tls-verify=false",
        "--digestfile",
        df.to_str().unwrap(),
        &image,
    ])
    .unwrap();
    let pushed = std::fs::read_to_string(&df).unwrap();
    let resp = manifest(&env, &server, "podman/hello", "v1");
    assert_eq!(resp.status, 200);
    assert_eq!(sha256(&resp.body), pushed);
    assert_eq!(resp.header("docker-content-digest"), Some(pushed.as_str()));
    assert_eq!(resp.header("content-type"), Some(MediaTypes::OCI.manifest));

    // The same image as Docker schema 2.
    let docker_image = env.reference("podman/hello:v1-docker");
    env.podman(&["tag", &image, &docker_image]).unwrap();
    let df2 = digest_file(&env, "v2s2");
    env.podman(&[
        "push",
        "--tls-verify=false",
        "--format",
        "v2s2",
        "--digestfile",
        df2.to_str().unwrap(),
        &docker_image,
    ])
    .unwrap();
    let pushed2 = std::fs::read_to_string(&df2).unwrap();
    let resp = manifest(&env, &server, "podman/hello", "v1-docker");
    assert_eq!(resp.status, 200);
    assert_eq!(sha256(&resp.body), pushed2);
    assert_eq!(
        resp.header("content-type"),
        Some(MediaTypes::DOCKER.manifest)
    );

    // Forget the local images, pull them back, and find the same image and file.
    env.podman(&["rmi", "--force", &image, &docker_image])
        .unwrap();
    let pulled = env
        .podman(&["pull", "-q", "--tls-verify=false", &image])
        .unwrap();
    assert_eq!(
        pulled.trim(),
        image_id,
        "pulled image differs from the built one"
    );
    let digest = env
        .podman(&["image", "inspect", "--format", "{{.Digest}}", &image])
        .unwrap();
    assert_eq!(digest.trim(), pushed);
    env.podman(&["pull", "-q", "--tls-verify=false", &docker_image])
        .unwrap();

    let saved = env.work_dir().join("saved");
    env.podman(&[
        "save",
        "--uncompressed",
        "--format",
        "oci-dir",
        "-o",
        saved.to_str().unwrap(),
        &image,
    ])
    .unwrap();
    let found = std::fs::read_dir(saved.join("blobs/sha256"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .any(|blob| contains(&blob, b"hello from podman\n"));
    assert!(found, "the pulled image's layer lacks hello.txt");
}

#[test]
fn manifest_list_create_add_push_all() {
    let (server, env) = setup();
    let mut locals = Vec::new();
    for arch in ["amd64", "arm64"] {
        let ctx = context(&env, arch, &format!("podman for {arch}\n"));
        let local = format!("localhost/podman-{arch}:latest");
        env.podman(&[
            "build",
            "--no-cache",
            "-q",
            "--arch",
            arch,
            "-t",
            &local,
            ctx.to_str().unwrap(),
        ])
        .unwrap();
        locals.push(local);
    }
    let list = "localhost/podman-list:latest";
    env.podman(&["manifest", "create", list]).unwrap();
    for local in &locals {
        env.podman(&[
            "manifest",
            "add",
            list,
            &format!("containers-storage:{local}"),
        ])
        .unwrap();
    }
    let df = digest_file(&env, "list");
    env.podman(&[
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        "--digestfile",
        df.to_str().unwrap(),
        list,
        &env.docker_ref("podman/multi:v1"),
    ])
    .unwrap();
    let pushed = std::fs::read_to_string(&df).unwrap();

    let resp = manifest(&env, &server, "podman/multi", "v1");
    assert_eq!(resp.status, 200);
    assert_eq!(sha256(&resp.body), pushed);
    let index: Value = serde_json::from_slice(&resp.body).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    let archs: BTreeSet<&str> = entries
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, BTreeSet::from(["amd64", "arm64"]));
    for entry in entries {
        let child = manifest(
            &env,
            &server,
            "podman/multi",
            entry["digest"].as_str().unwrap(),
        );
        assert_eq!(child.status, 200, "{entry}");
        assert_eq!(sha256(&child.body), entry["digest"].as_str().unwrap());
    }

    // Pulling the list for one platform picks that platform's image.
    let remote = env.reference("podman/multi:v1");
    env.podman(&[
        "pull",
        "-q",
        "--tls-verify=false",
        "--arch",
        "arm64",
        &remote,
    ])
    .unwrap();
    let arch = env
        .podman(&["image", "inspect", "--format", "{{.Architecture}}", &remote])
        .unwrap();
    assert_eq!(arch.trim(), "arm64");

    // A list built from images already in the registry, pushed to another repository: the
    // blobs come from the registry itself (cross-repository mounts or re-uploads).
    let list2 = "localhost/podman-list2:latest";
    env.podman(&["manifest", "create", list2]).unwrap();
    env.podman(&[
        "manifest",
        "add",
        "--all",
        "--tls-verify=false",
        list2,
        &env.docker_ref("podman/multi:v1"),
    ])
    .unwrap();
    let df2 = digest_file(&env, "list2");
    env.podman(&[
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        "--digestfile",
        df2.to_str().unwrap(),
        list2,
        &env.docker_ref("podman/team/copy:v2"),
    ])
    .unwrap();
    let pushed2 = std::fs::read_to_string(&df2).unwrap();
    let resp = manifest(&env, &server, "podman/team/copy", "v2");
    assert_eq!(resp.status, 200);
    assert_eq!(sha256(&resp.body), pushed2);
    for entry in entries {
        let child = manifest(
            &env,
            &server,
            "podman/team/copy",
            entry["digest"].as_str().unwrap(),
        );
        assert_eq!(child.status, 200, "{entry}");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `podman login` refuses a wrong password, a push works with `--creds` alone and after a
/// login, and `podman logout` makes the registry refuse it again.
#[test]
fn login_creds_and_logout() {
    require("podman");
    let server = TestServer::start();
    let env = ClientEnv::for_server(&server).expect("client env");
    let ctx = context(&env, "ctx", "hello from a logged-in podman\n");
    let image = env.reference("podman/login:v1");
    env.podman(&[
        "build",
        "--no-cache",
        "-q",
        "-t",
        &image,
        ctx.to_str().unwrap(),
    ])
    .unwrap();
    let push = |extra: &[&str]| {
        let mut args = vec!["push", "--tls-verify=false"];
        args.extend_from_slice(extra);
        args.push(&image);
        env.output("podman", &args).unwrap()
    };

    assert!(!push(&[]).status.success(), "an anonymous push succeeded");
    let wrong = env
        .output_with(
            "podman",
            &[
                "login",
                "--tls-verify=false",
                "--username",
                "AWS",
                "--password-stdin",
                env.registry(),
            ],
            Some(b"not-a-token"),
            &[],
        )
        .unwrap();
    assert!(
        !wrong.status.success(),
        "podman login took a wrong password"
    );

    let with_creds = push(&["--creds", &env.creds().unwrap()]);
    assert!(with_creds.status.success(), "{}", with_creds.stderr);

    env.login("podman").unwrap();
    let logged_in = push(&[]);
    assert!(logged_in.status.success(), "{}", logged_in.stderr);
    assert_eq!(manifest(&env, &server, "podman/login", "v1").status, 200);

    env.podman(&["logout", env.registry()]).unwrap();
    assert!(!push(&[]).status.success(), "a push after logout succeeded");
}
