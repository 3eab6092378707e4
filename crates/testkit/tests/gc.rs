//! Garbage collection from the outside: what a new user tried (batch-delete-image and
//! delete-repository --force left every byte on disk and every layer AVAILABLE), now with
//! `portcullis gc`, run against the server's own deployment while it serves.

use portcullis_testkit::fixtures::{committed_blob_files, Registry};
use portcullis_testkit::scenario::{admin, audit_lines, start};
use portcullis_testkit::TestServer;
use serde_json::Value;

/// `portcullis gc ARGS` against the server's deployment; (exit code, stdout).
fn gc(server: &TestServer, config_args: &[String], args: &[&str]) -> (i32, String) {
    let out = server
        .command()
        .arg("gc")
        .args(args)
        .args(config_args)
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .expect("portcullis gc");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.code().is_some(),
        "gc died: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), stdout)
}

fn config_args(server: &TestServer) -> Vec<String> {
    // The scenario's config file, so `gc` sees the same account and audit log.
    let config = server
        .data_dir()
        .parent()
        .expect("data dir has a parent")
        .join("portcullis.toml");
    vec!["--config".into(), config.display().to_string()]
}

fn layer_availability(server: &TestServer, repo: &str, digests: &[&str]) -> Vec<String> {
    let mut args = vec![
        "ecr",
        "batch-check-layer-availability",
        "--repository-name",
        repo,
        "--layer-digests",
    ];
    args.extend_from_slice(digests);
    let out: Value = serde_json::from_str(&admin(server, &args)).expect("json");
    let mut states: Vec<String> = out["layers"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|x| x["layerAvailability"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default();
    for f in out["failures"].as_array().into_iter().flatten() {
        states.push(f["failureCode"].as_str().unwrap_or("?").to_owned());
    }
    states
}

#[test]
fn deleted_images_and_repositories_lose_their_layers_at_once_and_their_bytes_to_gc() {
    let server = start("");
    let cfg = config_args(&server);
    let reg = Registry::new(&server);
    let kept = reg.push_image("team/kept", "v1", 1, 4096);
    let gone = reg.push_image("team/app", "v1", 2, 4096);
    let doomed = reg.push_image("team/doomed", "v1", 1, 4096);
    let layer = gone.layers[0].digest.clone();

    // Nothing is unreferenced yet: a dry run and a round find nothing.
    let (code, out) = gc(&server, &cfg, &["--dry-run", "--grace-minutes", "0"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("would delete 0 blobs"), "{out}");

    admin(
        &server,
        &[
            "ecr",
            "batch-delete-image",
            "--repository-name",
            "team/app",
            "--image-ids",
            "imageTag=v1",
        ],
    );
    // The repository no longer reaches the deleted image's layers, at once.
    assert_eq!(
        reg.head(&format!("/v2/team/app/blobs/{layer}"))
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        layer_availability(&server, "team/app", &[&layer]),
        ["UNAVAILABLE"]
    );
    admin(
        &server,
        &[
            "ecr",
            "delete-repository",
            "--repository-name",
            "team/doomed",
            "--force",
        ],
    );

    // Within the grace delay nothing goes; past it, exactly the unreferenced blobs do.
    let (code, out) = gc(&server, &cfg, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("deleted 0 blobs"), "{out}");
    let (code, out) = gc(&server, &cfg, &["--dry-run", "--grace-minutes", "0"]);
    assert_eq!(code, 0);
    let expected: Vec<&str> = [&gone, &doomed]
        .iter()
        .flat_map(|i| std::iter::once(&i.config).chain(i.layers.iter()))
        .map(|b| b.digest.as_str())
        .collect();
    for d in &expected {
        assert!(
            out.contains(&format!("would delete {d}")),
            "{d} missing from:\n{out}"
        );
    }
    assert!(
        out.contains(&format!("would delete {} blobs", expected.len())),
        "{out}"
    );

    let (code, out) = gc(&server, &cfg, &["--grace-minutes", "0"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("deleted {} blobs", expected.len())),
        "{out}"
    );
    if std::env::var("PORTCULLIS_TEST_BACKENDS").is_err() {
        let on_disk: Vec<String> = committed_blob_files(server.data_dir())
            .into_iter()
            .filter_map(|(p, _)| {
                p.file_name()
                    .map(|n| format!("sha256:{}", n.to_string_lossy()))
            })
            .collect();
        for d in &expected {
            assert!(!on_disk.contains(&d.to_string()), "{d} is still on disk");
        }
        for b in std::iter::once(&kept.config).chain(kept.layers.iter()) {
            assert!(
                on_disk.contains(&b.digest),
                "a referenced blob was collected"
            );
        }
    }
    // A collected blob answers as one never pushed: HEAD, GET and BatchCheckLayerAvailability.
    let never = portcullis_testkit::fixtures::sha256_digest(b"never pushed anywhere");
    for (repo, d) in [("team/app", layer.as_str()), ("team/app", never.as_str())] {
        let head = reg.head(&format!("/v2/{repo}/blobs/{d}")).send().unwrap();
        assert_eq!(head.status().as_u16(), 404, "HEAD {d}");
        let get = reg.get(&format!("/v2/{repo}/blobs/{d}")).send().unwrap();
        portcullis_testkit::fixtures::assert_error(get, 404, "BLOB_UNKNOWN");
        assert_eq!(layer_availability(&server, repo, &[d]), ["UNAVAILABLE"]);
    }
    // Every deletion is in the audit log, as the registry's own principal.
    let deletions: Vec<Value> = audit_lines(server.data_dir())
        .into_iter()
        .filter(|e| e["eventName"] == "DeleteBlob")
        .collect();
    assert_eq!(deletions.len(), expected.len());
    assert!(deletions
        .iter()
        .all(|e| e["userIdentity"]["type"] == "AWSService" && e["decision"] == "Allow"));

    // The kept image still pulls whole, and a push of the deleted bytes works again.
    for b in std::iter::once(&kept.config).chain(kept.layers.iter()) {
        let (status, body) = reg.get_blob("team/kept", &b.digest);
        assert_eq!(status, 200);
        assert_eq!(body, b.bytes);
    }
    reg.push("team/app", &gone.layers[0]);
    assert_eq!(
        layer_availability(&server, "team/app", &[&layer]),
        ["AVAILABLE"]
    );
}

#[test]
fn a_bad_gc_config_is_refused_with_its_key() {
    let server = start("");
    let bad = server.data_dir().parent().expect("parent").join("bad.toml");
    std::fs::write(&bad, "[gc]\ninterval_minutes = 0\n").expect("write");
    let out = server
        .command()
        .args(["gc", "--config"])
        .arg(&bad)
        .arg("--data-dir")
        .arg(server.data_dir())
        .output()
        .expect("portcullis gc");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[gc] interval_minutes must be at least 1"),
        "{stderr}"
    );
}

/// The bar: thousands of blobs a minute, on S3 too (batched deletes). Pushes blobs no manifest
/// references, then times one `portcullis gc` round over them; prints the rate for
/// docs/benchmarks.md.
#[test]
fn a_round_deletes_thousands_of_blobs_a_minute() {
    const BLOBS: usize = 2000;
    let server = start("");
    let cfg = config_args(&server);
    let reg = Registry::new(&server);
    for i in 0..BLOBS {
        reg.push_blob_single_post("bulk/stray", format!("stray blob {i}").as_bytes());
    }
    let started = std::time::Instant::now();
    let (code, out) = gc(&server, &cfg, &["--grace-minutes", "0"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("deleted {BLOBS} blobs")),
        "{}",
        out.lines().last().unwrap_or("")
    );
    let per_minute = BLOBS as f64 / took.as_secs_f64() * 60.0;
    println!(
        "gc: {BLOBS} blobs in {:.2} s = {per_minute:.0} blobs/min ({})",
        took.as_secs_f64(),
        std::env::var("PORTCULLIS_TEST_BACKENDS").unwrap_or_else(|_| "filesystem + SQLite".into())
    );
    assert!(per_minute > 3000.0, "{per_minute:.0} blobs/min");
}

/// `kill -9` in the middle of a collection round, on the embedded default (the strays are
/// written straight into its blob directory): nothing referenced is lost, and the next
/// round, after the restart, finishes the work.
#[test]
fn a_collector_killed_mid_round_loses_nothing_and_the_next_round_finishes() {
    if std::env::var("PORTCULLIS_TEST_BACKENDS").is_ok() {
        return;
    }
    const STRAYS: usize = 30_000;
    let mut server = start("[gc]\nenabled = false\n");
    let reg = Registry::new(&server);
    let kept = reg.push_image("team/kept", "v1", 2, 4096);
    let config = server
        .data_dir()
        .parent()
        .expect("parent")
        .join("portcullis.toml");
    // Bytes no row knows: a round adopts them, then collects them (grace 0).
    for i in 0..STRAYS {
        let bytes = format!("stray {i}");
        let digest = portcullis_testkit::fixtures::sha256_digest(bytes.as_bytes());
        let hex = &digest["sha256:".len()..];
        let dir = server.data_dir().join("blobs/sha256").join(&hex[..2]);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(hex), bytes).expect("write");
    }
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace(
            "[gc]\nenabled = false\n",
            "[gc]\ninterval_seconds = 1\ngrace_seconds = 0\n",
        ),
    )
    .expect("config");
    let referenced = 1 + kept.layers.len();
    let mut killed_mid_round = false;
    for wait_ms in [1_500u64, 2_500, 3_500, 5_000] {
        server.restart();
        std::thread::sleep(std::time::Duration::from_millis(wait_ms));
        server.kill9();
        let left = committed_blob_files(server.data_dir()).len() - referenced;
        if left > 0 && left < STRAYS {
            killed_mid_round = true;
            break;
        }
        if left == 0 {
            break;
        }
    }
    assert!(killed_mid_round, "no kill landed inside a round");
    server.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while committed_blob_files(server.data_dir()).len() > referenced
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(committed_blob_files(server.data_dir()).len(), referenced);
    // The restarted server listens on a new port.
    let reg = Registry::new(&server);
    for b in std::iter::once(&kept.config).chain(kept.layers.iter()) {
        let (status, body) = reg.get_blob("team/kept", &b.digest);
        assert_eq!(status, 200);
        assert_eq!(body, b.bytes);
    }
    // Nothing is left half done: no candidate, no mark, no stray.
    let (code, out) = gc(
        &server,
        &config_args(&server),
        &["--dry-run", "--grace-minutes", "0"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("would delete 0 blobs"), "{out}");
}
