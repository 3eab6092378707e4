//! buildah against the real server: build FROM scratch (a Containerfile, and `buildah from
//! scratch` + `copy` + `commit` straight into the registry), push, pull, and manifest lists
//! (`buildah manifest create/add/push --all`). vfs storage in a private graph root, no daemon,
//! nothing from the internet.
//!
//! Needs buildah (`scripts/install-test-deps.sh`); run with
//! `cargo test -p portcullis-testkit --test clients_buildah`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use portcullis_testkit::clients::{
    require, sha256, ClientEnv, HttpResponse, MediaTypes, ALL_MANIFEST_TYPES,
};
use portcullis_testkit::TestServer;
use serde_json::Value;

fn setup() -> (TestServer, ClientEnv) {
    require("buildah");
    let server = TestServer::start();
    let env = ClientEnv::for_server(&server).expect("client env");
    env.login("buildah").expect("buildah login");
    (server, env)
}

fn manifest(env: &ClientEnv, server: &TestServer, repo: &str, reference: &str) -> HttpResponse {
    env.http_get(
        &format!("{}/v2/{repo}/manifests/{reference}", server.base_url),
        &ALL_MANIFEST_TYPES,
    )
    .unwrap()
}

fn digest_file(env: &ClientEnv, name: &str) -> PathBuf {
    env.work_dir().join(format!("{name}.digest"))
}

#[test]
fn build_from_scratch_push_and_pull() {
    let (server, env) = setup();
    let ctx = env.work_dir().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello from buildah\n").unwrap();
    std::fs::write(
        ctx.join("Containerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .unwrap();
    let image = env.reference("buildah/hello:v1");
    let built = env
        .buildah(&[
            "build",
            "--no-cache",
            "-q",
            "-t",
            &image,
            ctx.to_str().unwrap(),
        ])
        .unwrap();
    let image_id = built.lines().last().unwrap().trim().to_owned();

    let df = digest_file(&env, "push");
    env.buildah(&[
        "push",
        "--tls-verify=false",
        "--digestfile",
        df.to_str().unwrap(),
        &image,
    ])
    .unwrap();
    let pushed = std::fs::read_to_string(&df).unwrap();
    let resp = manifest(&env, &server, "buildah/hello", "v1");
    assert_eq!(resp.status, 200);
    assert_eq!(sha256(&resp.body), pushed);
    assert_eq!(resp.header("content-type"), Some(MediaTypes::OCI.manifest));

    env.buildah(&["rmi", "--force", &image]).unwrap();
    let pulled = env
        .buildah(&["pull", "-q", "--tls-verify=false", &image])
        .unwrap();
    assert_eq!(
        pulled.trim(),
        image_id,
        "pulled image differs from the built one"
    );
    let digest = env
        .buildah(&[
            "inspect",
            "--type",
            "image",
            "--format",
            "{{.FromImageDigest}}",
            &image,
        ])
        .unwrap();
    assert_eq!(digest.trim(), pushed);
}

#[test]
fn from_scratch_commit_straight_to_the_registry() {
    let (server, env) = setup();
    let file = env.work_dir().join("data.txt");
    std::fs::write(&file, "committed by buildah\n").unwrap();
    let ctr = env.buildah(&["from", "scratch"]).unwrap();
    let ctr = ctr.trim();
    env.buildah(&["copy", ctr, file.to_str().unwrap(), "/data.txt"])
        .unwrap();
    env.buildah(&["config", "--arch", "arm64", "--os", "linux", ctr])
        .unwrap();
    env.buildah(&[
        "commit",
        "-q",
        "--format",
        "docker",
        "--tls-verify=false",
        ctr,
        &env.docker_ref("buildah/committed:v1"),
    ])
    .unwrap();
    env.buildah(&["rm", ctr]).unwrap();

    let resp = manifest(&env, &server, "buildah/committed", "v1");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some(MediaTypes::DOCKER.manifest)
    );
    let digest = resp.header("docker-content-digest").unwrap().to_owned();
    assert_eq!(sha256(&resp.body), digest);

    env.buildah(&[
        "pull",
        "-q",
        "--tls-verify=false",
        &env.reference("buildah/committed:v1"),
    ])
    .unwrap();
    let arch = env
        .buildah(&[
            "inspect",
            "--type",
            "image",
            "--format",
            "{{.OCIv1.Architecture}}",
            &env.reference("buildah/committed:v1"),
        ])
        .unwrap();
    assert_eq!(arch.trim(), "arm64");
}

#[test]
fn manifest_list_create_add_push_all() {
    let (server, env) = setup();
    let list = "localhost/buildah-list:latest";
    env.buildah(&["manifest", "create", list]).unwrap();
    for arch in ["amd64", "arm64", "riscv64"] {
        let file = env.work_dir().join(format!("{arch}.txt"));
        std::fs::write(&file, format!("buildah for {arch}\n")).unwrap();
        let ctr = env.buildah(&["from", "scratch"]).unwrap();
        let ctr = ctr.trim();
        env.buildah(&["copy", ctr, file.to_str().unwrap(), "/arch.txt"])
            .unwrap();
        env.buildah(&["config", "--arch", arch, "--os", "linux", ctr])
            .unwrap();
        let local = format!("localhost/buildah-{arch}:latest");
        env.buildah(&["commit", "-q", ctr, &local]).unwrap();
        env.buildah(&["rm", ctr]).unwrap();
        env.buildah(&[
            "manifest",
            "add",
            list,
            &format!("containers-storage:{local}"),
        ])
        .unwrap();
    }
    let df = digest_file(&env, "list");
    env.buildah(&[
        "manifest",
        "push",
        "--all",
        "--tls-verify=false",
        "--digestfile",
        df.to_str().unwrap(),
        list,
        &env.docker_ref("buildah/multi:v1"),
    ])
    .unwrap();
    let pushed = std::fs::read_to_string(&df).unwrap();

    let resp = manifest(&env, &server, "buildah/multi", "v1");
    assert_eq!(resp.status, 200);
    assert_eq!(sha256(&resp.body), pushed);
    let index: Value = serde_json::from_slice(&resp.body).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    let archs: BTreeSet<&str> = entries
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, BTreeSet::from(["amd64", "arm64", "riscv64"]));
    for entry in entries {
        let digest = entry["digest"].as_str().unwrap();
        let child = manifest(&env, &server, "buildah/multi", digest);
        assert_eq!(child.status, 200, "{entry}");
        assert_eq!(sha256(&child.body), digest);
    }

    let remote = env.reference("buildah/multi:v1");
    env.buildah(&[
        "pull",
        "-q",
        "--tls-verify=false",
        "--arch",
        "riscv64",
        &remote,
    ])
    .unwrap();
    let arch = env
        .buildah(&[
            "inspect",
            "--type",
            "image",
            "--format",
            "{{.OCIv1.Architecture}}",
            &remote,
        ])
        .unwrap();
    assert_eq!(arch.trim(), "riscv64");
}
