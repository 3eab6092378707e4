//! skopeo against the real server: copy to and from the registry, inspect, delete, list-tags,
//! sync, and a multi-arch index that must round-trip byte for byte. The images are OCI layouts
//! built by the test itself, so nothing comes from the network.
//!
//! Needs skopeo (`scripts/install-test-deps.sh`); run with
//! `cargo test -p portcullis-testkit --test clients_skopeo`.

use std::collections::BTreeSet;
use std::path::Path;

use portcullis_testkit::clients::{
    require, sha256, BuiltManifest, ClientEnv, MediaTypes, OciLayout, ALL_MANIFEST_TYPES,
};
use portcullis_testkit::TestServer;
use serde_json::Value;

fn setup() -> (TestServer, ClientEnv) {
    require("skopeo");
    let server = TestServer::start();
    let env = ClientEnv::for_server(&server).expect("client env");
    env.login("skopeo").expect("skopeo login");
    (server, env)
}

/// A layout in the env's work dir holding one small linux/amd64 image tagged `v1`.
fn single_image(env: &ClientEnv, dir: &str, text: &str) -> (OciLayout, BuiltManifest) {
    let mut layout = OciLayout::create(&env.work_dir().join(dir)).unwrap();
    let image = layout
        .add_image(
            MediaTypes::OCI,
            "linux",
            "amd64",
            &[("hello.txt", text.as_bytes())],
        )
        .unwrap();
    layout.tag("v1", &image).unwrap();
    (layout, image)
}

/// `skopeo copy` into the registry; returns the digest skopeo reports for what it pushed.
fn push(env: &ClientEnv, src: &str, dest_repo_tag: &str, extra: &[&str]) -> String {
    let digest_file = env.work_dir().join(format!(
        "digest-{}",
        dest_repo_tag.replace(['/', ':', '@'], "_")
    ));
    let digest_path = digest_file.to_str().unwrap();
    let dest = env.docker_ref(dest_repo_tag);
    let mut args = vec![
        "copy",
        "--dest-tls-verify=false",
        "--digestfile",
        digest_path,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[src, &dest]);
    env.skopeo(&args).unwrap();
    std::fs::read_to_string(&digest_file).unwrap()
}

fn inspect_raw(env: &ClientEnv, repo_ref: &str) -> Vec<u8> {
    env.skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &env.docker_ref(repo_ref),
    ])
    .unwrap()
    .into_bytes()
}

fn list_tags(env: &ClientEnv, repo: &str) -> BTreeSet<String> {
    let out = env
        .skopeo(&["list-tags", "--tls-verify=false", &env.docker_ref(repo)])
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Repository"], format!("{}/{repo}", env.registry()));
    v["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

/// The manifest digest a layout's `index.json` names `reference`.
fn layout_ref_digest(dir: &Path, reference: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == reference)
        .unwrap_or_else(|| panic!("no `{reference}` in {}", dir.display()))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn copy_to_and_from_the_registry() {
    let (_server, env) = setup();
    let (layout, image) = single_image(&env, "src", "hello from skopeo\n");

    let pushed = push(&env, &layout.transport_ref("v1"), "skopeo/copy:v1", &[]);
    assert_eq!(
        pushed, image.digest,
        "skopeo must push the manifest unchanged"
    );

    // Back into a fresh OCI layout: the same manifest, config and layer bytes.
    let back_dir = env.work_dir().join("back");
    env.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &env.docker_ref("skopeo/copy:v1"),
        &format!("oci:{}:v1", back_dir.display()),
    ])
    .unwrap();
    let back = OciLayout::open(&back_dir);
    assert_eq!(layout_ref_digest(&back_dir, "v1"), image.digest);
    assert_eq!(back.blob(&image.digest).unwrap(), image.bytes);
    for blob in &image.children {
        assert_eq!(
            back.blob(blob).unwrap(),
            layout.blob(blob).unwrap(),
            "{blob}"
        );
    }

    // Into a `dir:` copy, then from that `dir:` into another repository.
    let dir = env.work_dir().join("as-dir");
    env.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &env.docker_ref("skopeo/copy:v1"),
        &format!("dir:{}", dir.display()),
    ])
    .unwrap();
    assert_eq!(
        std::fs::read(dir.join("manifest.json")).unwrap(),
        image.bytes
    );
    for blob in &image.children {
        let hex = blob.strip_prefix("sha256:").unwrap();
        assert_eq!(
            std::fs::read(dir.join(hex)).unwrap(),
            layout.blob(blob).unwrap()
        );
    }
    let again = push(
        &env,
        &format!("dir:{}", dir.display()),
        "skopeo/team/from-dir:latest",
        &[],
    );
    assert_eq!(again, image.digest);
    assert_eq!(
        inspect_raw(&env, "skopeo/team/from-dir:latest"),
        image.bytes
    );

    // Registry to registry, across repositories (blobs may be mounted rather than uploaded).
    env.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &env.docker_ref("skopeo/copy:v1"),
        &env.docker_ref("skopeo/other:copied"),
    ])
    .unwrap();
    assert_eq!(inspect_raw(&env, "skopeo/other:copied"), image.bytes);
}

/// Without a login skopeo is refused; `--dest-creds`/`--creds AWS:<password>` work for one
/// command; `skopeo login` refuses a wrong password and `logout` forgets the right one.
#[test]
fn credentials_by_flag_login_and_logout() {
    require("skopeo");
    let server = TestServer::start();
    let env = ClientEnv::for_server(&server).expect("client env");
    let (layout, image) = single_image(&env, "src", "hello from an authenticated skopeo\n");
    let src = layout.transport_ref("v1");
    let dest = env.docker_ref("skopeo/creds:v1");
    let copy = |extra: &[&str]| {
        let mut args = vec!["copy", "--dest-tls-verify=false"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&src, &dest]);
        env.output("skopeo", &args).unwrap()
    };

    let anonymous = copy(&[]);
    assert!(!anonymous.status.success(), "an anonymous push succeeded");
    assert!(
        anonymous.stderr.contains("401")
            || anonymous.stderr.to_lowercase().contains("unauthorized")
            || anonymous.stderr.contains("authentication required"),
        "{}",
        anonymous.stderr
    );

    let wrong = copy(&["--dest-creds", "AWS:not-a-token"]);
    assert!(
        !wrong.status.success(),
        "a push with a wrong password succeeded"
    );

    let creds = env.creds().unwrap();
    let ok = copy(&["--dest-creds", &creds]);
    assert!(ok.status.success(), "{}", ok.stderr);
    let raw = env
        .skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--raw",
            "--creds",
            &creds,
            &dest,
        ])
        .unwrap();
    assert_eq!(raw.as_bytes(), image.bytes.as_slice());

    let failed_login = env
        .output_with(
            "skopeo",
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
        !failed_login.status.success(),
        "skopeo login took a wrong password"
    );

    env.login("skopeo").unwrap();
    assert_eq!(inspect_raw(&env, "skopeo/creds:v1"), image.bytes);
    env.skopeo(&["logout", env.registry()]).unwrap();
    let after = env
        .output("skopeo", &["inspect", "--tls-verify=false", "--raw", &dest])
        .unwrap();
    assert!(!after.status.success(), "inspect worked after logout");
}

#[test]
fn copy_a_layer_of_many_mebibytes() {
    let (server, env) = setup();
    // Incompressible-looking bytes, so the layer stays large whatever a client might try.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let big: Vec<u8> = (0..24 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut layout = OciLayout::create(&env.work_dir().join("src")).unwrap();
    let image = layout
        .add_image(MediaTypes::OCI, "linux", "amd64", &[("big.bin", &big)])
        .unwrap();
    layout.tag("v1", &image).unwrap();

    let pushed = push(&env, &layout.transport_ref("v1"), "skopeo/big:v1", &[]);
    assert_eq!(pushed, image.digest);
    let layer = &image.children[1];
    let resp = env
        .http_get(
            &format!("{}/v2/skopeo/big/blobs/{layer}", server.base_url),
            &[],
        )
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(sha256(&resp.body), *layer);

    let back_dir = env.work_dir().join("back");
    env.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &env.docker_ref("skopeo/big:v1"),
        &format!("oci:{}:v1", back_dir.display()),
    ])
    .unwrap();
    let back = OciLayout::open(&back_dir);
    assert!(back.blob(layer).unwrap() == layout.blob(layer).unwrap());
}

#[test]
fn inspect_reports_the_pushed_digest() {
    let (server, env) = setup();
    let (layout, image) = single_image(&env, "src", "inspect me\n");
    let pushed = push(
        &env,
        &layout.transport_ref("v1"),
        "skopeo/team/app/api:v1",
        &[],
    );

    let out = env
        .skopeo(&[
            "inspect",
            "--tls-verify=false",
            &env.docker_ref("skopeo/team/app/api:v1"),
        ])
        .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Digest"], pushed);
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Layers"][0], image.children[1]);
    assert_eq!(v["RepoTags"], serde_json::json!(["v1"]));

    // `--raw` is the stored manifest itself: its digest is the pushed digest.
    let raw = inspect_raw(&env, "skopeo/team/app/api:v1");
    assert_eq!(sha256(&raw), pushed);
    assert_eq!(raw, image.bytes);
    let by_digest = inspect_raw(&env, &format!("skopeo/team/app/api@{pushed}"));
    assert_eq!(by_digest, image.bytes);

    let config = env
        .skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--config",
            "--raw",
            &env.docker_ref("skopeo/team/app/api:v1"),
        ])
        .unwrap();
    assert_eq!(
        config.as_bytes(),
        layout.blob(&image.children[0]).unwrap().as_slice()
    );

    // A manifest converted on the way (OCI to Docker schema 2): the registry stores what skopeo
    // sent, so `--raw` still hashes to the digest skopeo reports.
    let converted = push(
        &env,
        &layout.transport_ref("v1"),
        "skopeo/team/app/api:v1-docker",
        &["--format", "v2s2"],
    );
    assert_ne!(converted, pushed);
    let raw = inspect_raw(&env, "skopeo/team/app/api:v1-docker");
    assert_eq!(sha256(&raw), converted);
    let v: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["mediaType"], MediaTypes::DOCKER.manifest);

    // The same bytes over plain HTTP, with the digest header.
    let resp = env
        .http_get(
            &format!("{}/v2/skopeo/team/app/api/manifests/v1", server.base_url),
            &ALL_MANIFEST_TYPES,
        )
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, image.bytes);
    assert_eq!(resp.header("docker-content-digest"), Some(pushed.as_str()));
    assert_eq!(resp.header("content-type"), Some(MediaTypes::OCI.manifest));
}

#[test]
fn delete_removes_the_manifest() {
    let (server, env) = setup();
    let (layout_a, a) = single_image(&env, "a", "image a\n");
    let (layout_b, b) = single_image(&env, "b", "image b\n");
    push(&env, &layout_a.transport_ref("v1"), "skopeo/del:a", &[]);
    push(&env, &layout_b.transport_ref("v1"), "skopeo/del:b", &[]);
    assert_eq!(list_tags(&env, "skopeo/del"), set(&["a", "b"]));

    env.skopeo(&[
        "delete",
        "--tls-verify=false",
        &env.docker_ref("skopeo/del:a"),
    ])
    .unwrap();

    let gone = env
        .output(
            "skopeo",
            &[
                "inspect",
                "--tls-verify=false",
                "--raw",
                &env.docker_ref("skopeo/del:a"),
            ],
        )
        .unwrap();
    assert!(!gone.status.success(), "deleted tag still resolves");
    assert!(
        gone.stderr.to_lowercase().contains("manifest unknown"),
        "expected a MANIFEST_UNKNOWN error, got: {}",
        gone.stderr
    );
    let resp = env
        .http_get(
            &format!("{}/v2/skopeo/del/manifests/{}", server.base_url, a.digest),
            &ALL_MANIFEST_TYPES,
        )
        .unwrap();
    assert_eq!(resp.status, 404, "deleted manifest still served by digest");

    assert_eq!(inspect_raw(&env, "skopeo/del:b"), b.bytes);
    assert_eq!(list_tags(&env, "skopeo/del"), set(&["b"]));
}

#[test]
fn list_tags_returns_every_tag() {
    let (_server, env) = setup();
    let (layout, image) = single_image(&env, "src", "tags\n");
    let tags = ["v1", "v2", "latest", "1.0.0", "release-2024_01", "a.b-c_d"];
    push(&env, &layout.transport_ref("v1"), "skopeo/tags:v1", &[]);
    for tag in &tags[1..] {
        env.skopeo(&[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &env.docker_ref("skopeo/tags:v1"),
            &env.docker_ref(&format!("skopeo/tags:{tag}")),
        ])
        .unwrap();
    }
    assert_eq!(list_tags(&env, "skopeo/tags"), set(&tags));
    for tag in tags {
        assert_eq!(
            sha256(&inspect_raw(&env, &format!("skopeo/tags:{tag}"))),
            image.digest
        );
    }

    let missing = env
        .output(
            "skopeo",
            &[
                "list-tags",
                "--tls-verify=false",
                &env.docker_ref("skopeo/never-pushed"),
            ],
        )
        .unwrap();
    assert!(
        !missing.status.success(),
        "list-tags of an unknown repository succeeded: {}",
        missing.stdout
    );
}

#[test]
fn sync_mirrors_every_tag() {
    let (_server, env) = setup();
    let mut layout = OciLayout::create(&env.work_dir().join("src")).unwrap();
    let one = layout
        .add_image(MediaTypes::OCI, "linux", "amd64", &[("one.txt", b"one\n")])
        .unwrap();
    let arm = layout
        .add_image(MediaTypes::OCI, "linux", "arm64", &[("arm.txt", b"arm\n")])
        .unwrap();
    let index = layout.add_index(MediaTypes::OCI, &[&one, &arm]).unwrap();
    layout.tag("one", &one).unwrap();
    layout.tag("multi", &index).unwrap();
    push(&env, &layout.transport_ref("one"), "sync/src:one", &[]);
    push(
        &env,
        &layout.transport_ref("multi"),
        "sync/src:multi",
        &["--all", "--preserve-digests"],
    );

    // Registry to registry: `HOST/mirror` receives `src` with every tag.
    env.skopeo(&[
        "sync",
        "--all",
        "--preserve-digests",
        "--src",
        "docker",
        "--dest",
        "docker",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &env.reference("sync/src"),
        &env.reference("mirror"),
    ])
    .unwrap();
    assert_eq!(list_tags(&env, "mirror/src"), set(&["one", "multi"]));
    assert_eq!(inspect_raw(&env, "mirror/src:one"), one.bytes);
    assert_eq!(inspect_raw(&env, "mirror/src:multi"), index.bytes);
    assert_eq!(
        inspect_raw(&env, &format!("mirror/src@{}", arm.digest)),
        arm.bytes
    );

    // Registry to directories, then the directories back into a new registry repository.
    let out = env.work_dir().join("synced");
    env.skopeo(&[
        "sync",
        "--src",
        "docker",
        "--dest",
        "dir",
        "--src-tls-verify=false",
        &env.reference("sync/src"),
        out.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(
        std::fs::read(out.join("src:one/manifest.json")).unwrap(),
        one.bytes
    );
    env.skopeo(&[
        "sync",
        "--src",
        "dir",
        "--dest",
        "docker",
        "--dest-tls-verify=false",
        out.join("src:one").to_str().unwrap(),
        &env.reference("fromdir"),
    ])
    .unwrap();
    assert_eq!(inspect_raw(&env, "fromdir/src:one"), one.bytes);
}

/// Pushes `index` with `--all`, then checks the registry serves the index and each child
/// byte for byte, and that pulling everything back yields the very same blobs.
fn round_trip(env: &ClientEnv, server: &TestServer, types: MediaTypes, repo: &str) {
    let mut layout = OciLayout::create(&env.work_dir().join(format!("src-{repo}"))).unwrap();
    let mut images = Vec::new();
    for arch in ["amd64", "arm64", "s390x", "ppc64le"] {
        let text = format!("built for {arch}\n");
        images.push(
            layout
                .add_image(types, "linux", arch, &[("arch.txt", text.as_bytes())])
                .unwrap(),
        );
    }
    let index = layout
        .add_index(types, &images.iter().collect::<Vec<_>>())
        .unwrap();
    // skopeo's `oci:` source takes only OCI media types, so Docker lists travel as `dir:`.
    let oci = types.index == MediaTypes::OCI.index;
    let src = if oci {
        layout.tag("multi", &index).unwrap();
        layout.transport_ref("multi")
    } else {
        let dir = env.work_dir().join(format!("src-dir-{repo}"));
        layout.export_dir(&index, &dir).unwrap();
        format!("dir:{}", dir.display())
    };

    let dest = format!("skopeo/{repo}:multi");
    let pushed = push(env, &src, &dest, &["--all", "--preserve-digests"]);
    assert_eq!(pushed, index.digest);

    let raw = inspect_raw(env, &dest);
    assert_eq!(raw, index.bytes, "index bytes changed on the way through");
    assert_eq!(sha256(&raw), pushed);
    let resp = env
        .http_get(
            &format!("{}/v2/skopeo/{repo}/manifests/multi", server.base_url),
            &ALL_MANIFEST_TYPES,
        )
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, index.bytes);
    assert_eq!(resp.header("content-type"), Some(types.index));
    assert_eq!(
        resp.header("docker-content-digest"),
        Some(index.digest.as_str())
    );
    for image in &images {
        let child = inspect_raw(env, &format!("skopeo/{repo}@{}", image.digest));
        assert_eq!(child, image.bytes);
    }

    let back_dir = env.work_dir().join(format!("back-{repo}"));
    let back_ref = if oci {
        format!("oci:{}:multi", back_dir.display())
    } else {
        format!("dir:{}", back_dir.display())
    };
    env.skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &env.docker_ref(&dest),
        &back_ref,
    ])
    .unwrap();
    // Both layouts name blobs by their hex digest; `dir:` keeps manifests apart.
    let read_back = |digest: &str, is_manifest: bool| -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let path = match (oci, is_manifest) {
            (true, _) => back_dir.join("blobs/sha256").join(hex),
            (false, true) if digest == index.digest => back_dir.join("manifest.json"),
            (false, true) => back_dir.join(format!("{hex}.manifest.json")),
            (false, false) => back_dir.join(hex),
        };
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    if oci {
        assert_eq!(layout_ref_digest(&back_dir, "multi"), index.digest);
    }
    assert_eq!(read_back(&index.digest, true), index.bytes);
    for image in &images {
        assert_eq!(read_back(&image.digest, true), image.bytes);
        for blob in &image.children {
            assert_eq!(read_back(blob, false), layout.blob(blob).unwrap());
        }
    }

    // Registry to registry, into a nested repository.
    let copy = format!("skopeo/copies/{repo}:multi");
    env.skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &env.docker_ref(&dest),
        &env.docker_ref(&copy),
    ])
    .unwrap();
    assert_eq!(inspect_raw(env, &copy), index.bytes);
}

#[test]
fn multi_arch_oci_index_round_trips_byte_for_byte() {
    let (server, env) = setup();
    round_trip(&env, &server, MediaTypes::OCI, "oci-index");
}

#[test]
fn multi_arch_docker_manifest_list_round_trips_byte_for_byte() {
    let (server, env) = setup();
    round_trip(&env, &server, MediaTypes::DOCKER, "docker-list");
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
