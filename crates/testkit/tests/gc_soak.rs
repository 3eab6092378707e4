//! Garbage collection under load, against the real server: clients push images sharing layers
//! into several repositories, delete some and retag others, while the server collects every two
//! seconds with a grace of three. Every image pushed and not deleted must pull whole with every
//! digest verified, and the only push failures allowed are the retryable ones (a manifest whose
//! blob was collected first: MANIFEST_BLOB_UNKNOWN; an upload of a blob being collected: 429).
//! Then everything is deleted and the store empties.
//!
//! `PORTCULLIS_GC_SOAK_SECS` sets the load's duration (default 180 s: several minutes of load).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portcullis_testkit::fixtures::{
    committed_blob_files, oci_manifest, sha256_digest, to_bytes, Blob, Registry, Rng,
};
use portcullis_testkit::scenario::{admin, start};
use portcullis_testkit::TestServer;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const REPOS: [&str; 3] = ["soak/a", "soak/b", "soak/c"];

/// What a push attempt came to.
enum Push {
    Done,
    /// Failed in a way clients retry (the blob was collected, or is being collected).
    Retry(String),
    Failed(String),
}

fn upload(reg: &Registry, repo: &str, blob: &Blob) -> Push {
    let head = match reg
        .head(&format!("/v2/{repo}/blobs/{}", blob.digest))
        .send()
    {
        Ok(r) => r.status().as_u16(),
        Err(e) => return Push::Failed(format!("HEAD: {e}")),
    };
    if head == 200 {
        return Push::Done;
    }
    let resp = reg
        .post(&format!("/v2/{repo}/blobs/uploads/?digest={}", blob.digest))
        .header("Content-Type", "application/octet-stream")
        .body(blob.bytes.clone())
        .send();
    match resp {
        Ok(r) if r.status().as_u16() == 201 => Push::Done,
        Ok(r) if r.status().as_u16() == 429 => Push::Retry("429 on upload".into()),
        Ok(r) => Push::Failed(format!(
            "upload {}: {} {}",
            blob.digest,
            r.status(),
            r.text().unwrap_or_default()
        )),
        Err(e) => Push::Failed(format!("upload: {e}")),
    }
}

fn put_manifest(reg: &Registry, repo: &str, tag: &str, manifest: &[u8]) -> Push {
    let resp = reg.put_manifest(repo, tag, OCI_MANIFEST, manifest);
    let status = resp.status().as_u16();
    let body = resp.text().unwrap_or_default();
    match status {
        201 => Push::Done,
        400 if body.contains("MANIFEST_BLOB_UNKNOWN") => Push::Retry(body),
        _ => Push::Failed(format!("PUT manifest {repo}:{tag}: {status} {body}")),
    }
}

/// One image as a client pushes it: blobs first (skipping those the repository has), then
/// the manifest; the whole push again on a retryable failure.
fn push_image(
    reg: &Registry,
    repo: &str,
    tag: &str,
    blobs: &[&Blob],
    manifest: &[u8],
    pause: Option<Duration>,
    retries: &AtomicUsize,
) -> Result<(), String> {
    for attempt in 0..20 {
        let mut outcome = Push::Done;
        for b in blobs {
            outcome = upload(reg, repo, b);
            if !matches!(outcome, Push::Done) {
                break;
            }
        }
        if matches!(outcome, Push::Done) {
            // A slow client: past the grace delay between its layers and its manifest, the
            // collector may take the layers first.
            if let (0, Some(p)) = (attempt, pause) {
                std::thread::sleep(p);
            }
            outcome = put_manifest(reg, repo, tag, manifest);
        }
        match outcome {
            Push::Done => return Ok(()),
            Push::Retry(_) => {
                retries.fetch_add(1, Ordering::Relaxed);
            }
            Push::Failed(e) => return Err(e),
        }
    }
    Err(format!("{repo}:{tag}: still retryable after 20 attempts"))
}

/// Blobs the store holds: files on the embedded default, objects under the deployment's key
/// prefix on S3.
fn stored_blobs(server: &TestServer) -> usize {
    let env: HashMap<String, String> = server.deployment_env().into_iter().collect();
    let Some(prefix) = env.get("PORTCULLIS_STORAGE__S3__PREFIX") else {
        return committed_blob_files(server.data_dir()).len();
    };
    let out = std::process::Command::new("aws")
        .args(["s3", "ls", "--recursive"])
        .arg(format!(
            "s3://{}/{prefix}blobs/",
            env["PORTCULLIS_STORAGE__S3__BUCKET"]
        ))
        .args(["--endpoint-url", &env["PORTCULLIS_STORAGE__S3__ENDPOINT"]])
        .env(
            "AWS_ACCESS_KEY_ID",
            &env["PORTCULLIS_STORAGE__S3__ACCESS_KEY_ID"],
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            &env["PORTCULLIS_STORAGE__S3__SECRET_ACCESS_KEY"],
        )
        .env("AWS_DEFAULT_REGION", &env["PORTCULLIS_STORAGE__S3__REGION"])
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("aws s3 ls");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[derive(Clone)]
struct Image {
    repo: &'static str,
    tags: Vec<String>,
    manifest: Vec<u8>,
    blobs: Vec<Blob>,
}

#[test]
fn pushes_deletes_and_retags_under_a_busy_collector_lose_nothing() {
    let secs: u64 = std::env::var("PORTCULLIS_GC_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let server = start("[gc]\ninterval_seconds = 2\ngrace_seconds = 3\n");
    let setup = Registry::new(&server);
    for r in REPOS {
        setup.push_image(r, "seed", 1, 64);
    }
    // Layers every client draws from, so collection of one repository's blob races pushes
    // of the same blob elsewhere.
    let pool: Vec<Blob> = (0..8).map(|_| Blob::random(4096, OCI_LAYER)).collect();
    let live: Mutex<Vec<Image>> = Mutex::new(Vec::new());
    let retries = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let (pushed, deleted, retagged) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let until = Instant::now() + Duration::from_secs(secs);
    std::thread::scope(|s| {
        for client in 0..4 {
            let (server, pool, live, retries, failures) =
                (&server, &pool, &live, &retries, &failures);
            let (pushed, deleted, retagged) = (&pushed, &deleted, &retagged);
            s.spawn(move || {
                let reg = Registry::new(server);
                let mut rng = Rng::from_seed(client as u64 + 1);
                let mut mine: Vec<Image> = Vec::new();
                let mut n = 0;
                while Instant::now() < until {
                    n += 1;
                    let roll = rng.next_u64() % 20;
                    if roll < 12 || roll == 19 || mine.is_empty() {
                        let repo = REPOS[(rng.next_u64() % 3) as usize];
                        let config = Blob::config(OCI_CONFIG);
                        let a = &pool[(rng.next_u64() % 8) as usize];
                        let b = &pool[(rng.next_u64() % 8) as usize];
                        let layers: Vec<&Blob> = if a.digest == b.digest {
                            vec![a]
                        } else {
                            vec![a, b]
                        };
                        let manifest = to_bytes(&oci_manifest(&config, &layers));
                        let tag = format!("c{client}-{n}");
                        let mut blobs = vec![&config];
                        blobs.extend(layers.iter().copied());
                        let pause = (roll == 19).then(|| Duration::from_secs(6));
                        match push_image(&reg, repo, &tag, &blobs, &manifest, pause, retries) {
                            Ok(()) => {
                                pushed.fetch_add(1, Ordering::Relaxed);
                                mine.push(Image {
                                    repo,
                                    tags: vec![tag],
                                    manifest,
                                    blobs: blobs.into_iter().cloned().collect(),
                                });
                            }
                            Err(e) => failures.lock().unwrap().push(e),
                        }
                    } else if roll < 16 {
                        let victim = mine.swap_remove((rng.next_u64() as usize) % mine.len());
                        let digest = sha256_digest(&victim.manifest);
                        let status = reg
                            .delete(&format!("/v2/{}/manifests/{digest}", victim.repo))
                            .send()
                            .map(|r| r.status().as_u16());
                        match status {
                            Ok(202) => {
                                deleted.fetch_add(1, Ordering::Relaxed);
                            }
                            other => failures
                                .lock()
                                .unwrap()
                                .push(format!("DELETE {}@{digest}: {other:?}", victim.repo)),
                        }
                    } else {
                        let i = (rng.next_u64() as usize) % mine.len();
                        let tag = format!("c{client}-{n}-again");
                        let image = &mut mine[i];
                        // The manifest exists, so its blobs are referenced: a retag never
                        // loses to the collector.
                        match put_manifest(&reg, image.repo, &tag, &image.manifest) {
                            Push::Done => {
                                image.tags.push(tag);
                                retagged.fetch_add(1, Ordering::Relaxed);
                            }
                            Push::Retry(e) | Push::Failed(e) => {
                                failures.lock().unwrap().push(format!("retag: {e}"))
                            }
                        }
                    }
                }
                live.lock().unwrap().extend(mine);
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "non-retryable failures: {failures:#?}");
    let live = live.into_inner().unwrap();
    println!(
        "soak: {secs} s, {} pushed, {} deleted, {} retagged, {} retried pushes, {} images live",
        pushed.load(Ordering::Relaxed),
        deleted.load(Ordering::Relaxed),
        retagged.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed),
        live.len()
    );
    assert!(pushed.load(Ordering::Relaxed) > 20, "the load ran");
    assert!(
        retries.load(Ordering::Relaxed) > 0,
        "no push ever raced the collector: the soak proves nothing"
    );

    // Past a few more collections, everything still alive pulls whole.
    std::thread::sleep(Duration::from_secs(7));
    let reg = Registry::new(&server);
    for image in &live {
        let digest = sha256_digest(&image.manifest);
        for tag in &image.tags {
            let resp = reg
                .get(&format!("/v2/{}/manifests/{tag}", image.repo))
                .header("Accept", OCI_MANIFEST)
                .send()
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200, "{}:{tag}", image.repo);
            assert_eq!(sha256_digest(&resp.bytes().unwrap()), digest);
        }
        for b in &image.blobs {
            let (status, body) = reg.get_blob(image.repo, &b.digest);
            assert_eq!(status, 200, "{}@{} of a live image", image.repo, b.digest);
            assert_eq!(
                sha256_digest(&body),
                b.digest,
                "{}@{}",
                image.repo,
                b.digest
            );
        }
    }
    assert!(
        !server.logs().contains("worker round failed"),
        "{}",
        server.logs()
    );

    // Everything deleted: the store empties once the grace delay has passed.
    for r in REPOS {
        admin(
            &server,
            &[
                "ecr",
                "delete-repository",
                "--repository-name",
                r,
                "--force",
            ],
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut left = stored_blobs(&server);
    while left > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        left = stored_blobs(&server);
    }
    assert_eq!(
        left, 0,
        "blobs left after everything was deleted and collected"
    );
}
