//! Crash safety and concurrency. The server is killed with SIGKILL while uploads are in every
//! state (chunked sessions idle between chunks, a large PATCH streaming, monolithic bodies cut
//! half-way, images being pushed in a loop), restarted on the same data dir, and then:
//! every visible blob hashes to its digest, no tagged manifest points at a missing blob, every
//! acknowledged write is still there, and interrupted chunked uploads resume from the committed
//! offset (or are cleanly unknown). Then 16 concurrent pushes of one blob and 16 concurrent PUTs
//! of different manifests to one tag must leave exactly one intact winner.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use portcullis_testkit::fixtures::*;
use portcullis_testkit::TestServer;
use serde_json::Value;

const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// A chunked upload left idle after some acknowledged chunks.
struct IdleSession {
    repo: String,
    data: Vec<u8>,
    location: String,
    acked: usize,
}

/// A large PATCH that is streaming when the server dies.
struct StreamingPatch {
    repo: String,
    data: Vec<u8>,
    location: String,
    acked_before: usize,
    sent: Arc<AtomicUsize>,
    handle: thread::JoinHandle<()>,
}

/// A monolithic body cut half-way, by the kill or by the client hanging up; its blob must never
/// become visible.
struct CutStream {
    repo: String,
    digest: String,
    _conn: Option<TcpStream>,
}

/// A large monolithic PUT whose body is fully sent, so that the kill can land while the server
/// verifies and commits it.
struct Committing {
    repo: String,
    digest: String,
    handle: thread::JoinHandle<()>,
}

fn idle_session(reg: &Registry, repo: &str, len: usize, chunks: usize) -> IdleSession {
    let data = random_bytes(len);
    let mut location = reg.start_upload(repo);
    let chunk = len / (chunks + 1);
    let mut offset = 0;
    for _ in 0..chunks {
        let resp = reg.patch_chunk(&location, offset, &data[offset..offset + chunk]);
        assert_eq!(resp.status().as_u16(), 202);
        location = header(&resp, "Location").expect("Location");
        offset += chunk;
    }
    IdleSession {
        repo: repo.to_owned(),
        data,
        location,
        acked: offset,
    }
}

/// Starts a PATCH of everything after one acknowledged chunk, written at about 64 MiB/s so
/// that it is still streaming when the server is killed; `started` fires after 2 MiB.
fn streaming_patch(
    server: &TestServer,
    reg: &Registry,
    repo: &str,
    len: usize,
    started: mpsc::Sender<()>,
) -> StreamingPatch {
    let data = random_bytes(len);
    let first = 256 * 1024;
    let loc = reg.start_upload(repo);
    let resp = reg.patch_chunk(&loc, 0, &data[..first]);
    assert_eq!(resp.status().as_u16(), 202);
    let location = header(&resp, "Location").expect("Location");
    let sent = Arc::new(AtomicUsize::new(0));
    let head = raw_request_head(
        "PATCH",
        &location,
        &server.host(),
        &[
            (
                "Authorization",
                reg.auth_header().expect("credentials").to_owned(),
            ),
            ("Content-Type", "application/octet-stream".into()),
            ("Content-Range", format!("{first}-{}", len - 1)),
            ("Content-Length", (len - first).to_string()),
        ],
    );
    let body = data[first..].to_vec();
    let addr = server.addr;
    let counter = sent.clone();
    let handle = thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(addr) else {
            return;
        };
        if s.write_all(head.as_bytes()).is_err() {
            return;
        }
        let mut signalled = false;
        for part in body.chunks(64 * 1024) {
            if s.write_all(part).is_err() {
                return;
            }
            let n = counter.fetch_add(part.len(), Ordering::SeqCst) + part.len();
            if !signalled && n >= 2 * 1024 * 1024 {
                signalled = true;
                let _ = started.send(());
            }
            thread::sleep(Duration::from_millis(1));
        }
        let _ = started.send(());
    });
    StreamingPatch {
        repo: repo.to_owned(),
        data,
        location,
        acked_before: first,
        sent,
        handle,
    }
}

/// Opens a monolithic upload (a PUT to a session, or a single POST) and sends half its body;
/// with `hang_up` the client then closes the connection itself.
fn cut_stream(
    server: &TestServer,
    reg: &Registry,
    repo: &str,
    single_post: bool,
    hang_up: bool,
) -> CutStream {
    let data = random_bytes(512 * 1024);
    let digest = sha256_digest(&data);
    let path = if single_post {
        with_query(&format!("/v2/{repo}/blobs/uploads/"), "digest", &digest)
    } else {
        with_query(&reg.start_upload(repo), "digest", &digest)
    };
    let method = if single_post { "POST" } else { "PUT" };
    let head = raw_request_head(
        method,
        &path,
        &server.host(),
        &[
            (
                "Authorization",
                reg.auth_header().expect("credentials").to_owned(),
            ),
            ("Content-Type", "application/octet-stream".into()),
            ("Content-Length", data.len().to_string()),
        ],
    );
    let mut conn = TcpStream::connect(server.addr).expect("connect");
    conn.write_all(head.as_bytes()).expect("head");
    conn.write_all(&data[..data.len() / 2]).expect("half body");
    conn.flush().expect("flush");
    CutStream {
        repo: repo.to_owned(),
        digest,
        _conn: if hang_up { None } else { Some(conn) },
    }
}

/// Sends a whole 32 MiB monolithic PUT as fast as possible; `sent` fires when the last byte is
/// out, before the response.
fn committing_upload(
    server: &TestServer,
    reg: &Registry,
    repo: &str,
    sent: mpsc::Sender<()>,
) -> Committing {
    let data = random_bytes(32 * 1024 * 1024);
    let digest = sha256_digest(&data);
    let head = raw_request_head(
        "PUT",
        &with_query(&reg.start_upload(repo), "digest", &digest),
        &server.host(),
        &[
            (
                "Authorization",
                reg.auth_header().expect("credentials").to_owned(),
            ),
            ("Content-Type", "application/octet-stream".into()),
            ("Content-Length", data.len().to_string()),
        ],
    );
    let addr = server.addr;
    let handle = thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(addr) else {
            return;
        };
        let ok = s.write_all(head.as_bytes()).is_ok() && s.write_all(&data).is_ok();
        let _ = sent.send(());
        if ok {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut sink);
        }
    });
    Committing {
        repo: repo.to_owned(),
        digest,
        handle,
    }
}

/// Pushes small images until the server goes away; returns the (tag, manifest) pairs whose
/// manifest PUT was acknowledged with 201.
fn push_loop(reg: Registry, repo: String, stop: Arc<AtomicBool>) -> Vec<(String, Blob)> {
    let reg = reg.with_timeout(Some(Duration::from_secs(10)));
    let mut acked = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let config = Blob::config(OCI_CONFIG);
        let layer = Blob::random(32 * 1024 + i, OCI_LAYER);
        let mut ok = true;
        for b in [&config, &layer] {
            let digest = b.digest.clone();
            let r = reg
                .post(&with_query(
                    &format!("/v2/{repo}/blobs/uploads/"),
                    "digest",
                    &digest,
                ))
                .body(b.bytes.clone())
                .send();
            if !matches!(r, Ok(ref r) if r.status().as_u16() == 201) {
                ok = false;
                break;
            }
        }
        if !ok {
            break;
        }
        let m = Blob::new(to_bytes(&oci_manifest(&config, &[&layer])), OCI_MANIFEST);
        let tag = format!("loop-{i}");
        match reg
            .put(&format!("/v2/{repo}/manifests/{tag}"))
            .header("Content-Type", OCI_MANIFEST)
            .body(m.bytes.clone())
            .send()
        {
            Ok(r) if r.status().as_u16() == 201 => acked.push((tag, m)),
            _ => break,
        }
    }
    acked
}

/// Every blob and tagged manifest the registry shows is whole and self-consistent.
fn verify_repository(reg: &Registry, repo: &str) {
    let resp = reg
        .get(&format!("/v2/{repo}/tags/list"))
        .send()
        .expect("tags list");
    if resp.status().as_u16() == 404 {
        return;
    }
    assert_eq!(resp.status().as_u16(), 200, "tags list of {repo}");
    let v: Value = resp.json().unwrap();
    let tags: Vec<String> = v["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    for tag in tags {
        let resp = reg
            .get(&format!("/v2/{repo}/manifests/{tag}"))
            .header("Accept", ACCEPT_ALL)
            .send()
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            200,
            "{repo}:{tag} is listed but not served"
        );
        let dcd = header(&resp, "Docker-Content-Digest");
        let body = resp.bytes().unwrap();
        if let Some(d) = dcd {
            assert_eq!(
                d,
                sha256_digest(&body),
                "{repo}:{tag} manifest bytes are torn"
            );
        }
        let m: Value = serde_json::from_slice(&body).expect("stored manifest is JSON");
        let mut refs: Vec<(String, bool)> = Vec::new();
        if let Some(c) = m["config"]["digest"].as_str() {
            refs.push((c.to_owned(), false));
        }
        for l in m["layers"].as_array().into_iter().flatten() {
            refs.push((l["digest"].as_str().unwrap().to_owned(), false));
        }
        for c in m["manifests"].as_array().into_iter().flatten() {
            refs.push((c["digest"].as_str().unwrap().to_owned(), true));
        }
        for (digest, is_manifest) in refs {
            let kind = if is_manifest { "manifests" } else { "blobs" };
            let resp = reg
                .get(&format!("/v2/{repo}/{kind}/{digest}"))
                .header("Accept", ACCEPT_ALL)
                .send()
                .unwrap();
            assert_eq!(
                resp.status().as_u16(),
                200,
                "{repo}:{tag} points at missing {kind} {digest}"
            );
            let body = resp.bytes().unwrap();
            assert_eq!(
                sha256_digest(&body),
                digest,
                "{repo}: {digest} content is torn"
            );
        }
    }
}

/// A visible blob must hash to its digest; returns whether it is visible.
fn check_blob(reg: &Registry, repo: &str, digest: &str) -> bool {
    let resp = reg
        .head(&format!("/v2/{repo}/blobs/{digest}"))
        .send()
        .unwrap();
    match resp.status().as_u16() {
        404 => false,
        200 => {
            let (status, body) = reg.get_blob(repo, digest);
            assert_eq!(status, 200);
            assert_eq!(
                sha256_digest(&body),
                digest,
                "{repo}: blob {digest} is partial"
            );
            true
        }
        s => panic!("HEAD {repo} {digest}: {s}"),
    }
}

/// Resumes an interrupted chunked upload from the offset the server reports, or accepts a
/// clean BLOB_UPLOAD_UNKNOWN; returns whether it resumed.
fn resume(reg: &Registry, repo: &str, location: &str, data: &[u8], min: usize, max: usize) -> bool {
    let resp = reg.get(location).send().unwrap();
    if resp.status().as_u16() == 404 {
        assert_error(resp, 404, "BLOB_UPLOAD_UNKNOWN");
        return false;
    }
    assert_eq!(resp.status().as_u16(), 204, "upload status after restart");
    let range = header(&resp, "Range").expect("Range");
    let loc = header(&resp, "Location").expect("Location");
    let end: i64 = range
        .strip_prefix("0-")
        .unwrap_or_else(|| panic!("Range {range}"))
        .parse()
        .unwrap();
    let offset = (end + 1) as usize;
    assert!(
        (min..=max).contains(&offset),
        "committed offset {offset} outside [{min}, {max}]"
    );
    let digest = sha256_digest(data);
    let mut loc = loc;
    if offset < data.len() {
        let resp = reg.patch_chunk(&loc, offset, &data[offset..]);
        assert_eq!(resp.status().as_u16(), 202, "PATCH resumes at {offset}");
        assert_eq!(
            header(&resp, "Range").as_deref(),
            Some(&*format!("0-{}", data.len() - 1))
        );
        loc = header(&resp, "Location").unwrap();
    }
    let resp = reg
        .put(&with_query(&loc, "digest", &digest))
        .header("Content-Length", "0")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "PUT after resume");
    let (status, body) = reg.get_blob(repo, &digest);
    assert_eq!(status, 200);
    assert_eq!(sha256_digest(&body), digest);
    true
}

#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// Right after every upload is set up.
    Immediately,
    /// While the large PATCH is streaming.
    DuringLargePatch,
    /// While images are being pushed in a loop.
    DuringPushLoop,
    /// Just after a large monolithic body has been sent, while it is verified and committed.
    DuringCommit,
}

#[test]
fn kill9_during_uploads_then_restart_is_consistent() {
    let mut server = TestServer::start();
    let reg = Registry::new(&server);
    let base_repo = "crash/base".to_owned();
    let baseline = reg.push_image(&base_repo, "v1", 2, 100 * 1024);
    let mut all_repos = vec![base_repo.clone()];

    for (round, kill_at) in [
        KillAt::Immediately,
        KillAt::DuringLargePatch,
        KillAt::DuringPushLoop,
        KillAt::DuringCommit,
    ]
    .into_iter()
    .enumerate()
    {
        eprintln!("round {round}: kill at {kill_at:?}");
        let reg = Registry::new(&server);
        let repo = format!("crash/round{round}");
        all_repos.push(repo.clone());
        let loop_repo = format!("crash/loop{round}");
        all_repos.push(loop_repo.clone());

        let idle: Vec<IdleSession> = (0..3)
            .map(|i| idle_session(&reg, &repo, 300 * 1024 + i * 7, i + 1))
            .collect();
        let cuts: Vec<CutStream> = (0..6)
            .map(|i| cut_stream(&server, &reg, &repo, i % 2 == 1, i >= 4))
            .collect();
        // A client that hung up mid-body leaves nothing visible, even before any crash.
        thread::sleep(Duration::from_millis(100));
        for c in &cuts[4..] {
            assert!(
                !check_blob(&reg, &c.repo, &c.digest),
                "an upload abandoned mid-body is visible as {}",
                c.digest
            );
        }
        let (commit_tx, commit_rx) = mpsc::channel();
        let committing = committing_upload(&server, &reg, &repo, commit_tx);
        let (tx, rx) = mpsc::channel();
        let patch = streaming_patch(&server, &reg, &repo, 48 * 1024 * 1024, tx);
        let stop = Arc::new(AtomicBool::new(false));
        let pusher = {
            let (reg, r, s) = (reg.clone(), loop_repo.clone(), stop.clone());
            thread::spawn(move || push_loop(reg, r, s))
        };

        match kill_at {
            KillAt::Immediately => {}
            KillAt::DuringLargePatch => {
                rx.recv_timeout(Duration::from_secs(30))
                    .expect("the large PATCH started");
            }
            KillAt::DuringPushLoop => thread::sleep(Duration::from_millis(400)),
            KillAt::DuringCommit => {
                commit_rx
                    .recv_timeout(Duration::from_secs(60))
                    .expect("the large PUT was sent");
            }
        }
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        let acked_pushes = pusher.join().expect("push loop");
        patch.handle.join().expect("patch writer");
        committing.handle.join().expect("committing writer");
        let patch_sent = patch.sent.load(Ordering::SeqCst);
        eprintln!(
            "round {round}: {} images acknowledged, large PATCH sent {patch_sent} bytes",
            acked_pushes.len()
        );

        let started = Instant::now();
        server.restart();
        eprintln!("round {round}: restarted in {:?}", started.elapsed());
        let reg = Registry::new(&server);

        // Committed blob files on disk are never partial.
        for (path, ok) in committed_blob_files(server.data_dir()) {
            assert!(ok, "{} does not hash to its name", path.display());
        }

        // Cut monolithic bodies never became blobs.
        for c in &cuts {
            assert!(
                !check_blob(&reg, &c.repo, &c.digest),
                "a monolithic upload cut half-way is visible as {}",
                c.digest
            );
        }

        // The upload killed around its commit is either whole or absent.
        let committed = check_blob(&reg, &committing.repo, &committing.digest);
        eprintln!("round {round}: upload killed around its commit is visible: {committed}");

        // Acknowledged images survive, whole.
        for (tag, m) in &acked_pushes {
            let resp = reg
                .get(&format!("/v2/{loop_repo}/manifests/{tag}"))
                .header("Accept", OCI_MANIFEST)
                .send()
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200, "acknowledged {tag} lost");
            assert_eq!(&resp.bytes().unwrap()[..], &m.bytes[..]);
        }

        // Idle sessions were acknowledged chunk by chunk: they resume exactly there.
        for s in &idle {
            let resumed = resume(&reg, &s.repo, &s.location, &s.data, s.acked, s.acked);
            assert!(
                resumed,
                "an idle upload session did not survive the restart"
            );
        }
        // The PATCH killed mid-stream resumes from somewhere between what was acknowledged
        // and what was sent, or is cleanly unknown.
        let resumed = resume(
            &reg,
            &patch.repo,
            &patch.location,
            &patch.data,
            patch.acked_before,
            patch.acked_before + patch_sent,
        );
        eprintln!("round {round}: interrupted PATCH resumed: {resumed}");

        for r in &all_repos {
            verify_repository(&reg, r);
        }
        for b in [&baseline.config, &baseline.layers[0], &baseline.layers[1]] {
            assert!(
                check_blob(&reg, &base_repo, &b.digest),
                "baseline blob lost"
            );
        }
    }
    // A clean restart after all that.
    server.restart();
    let reg = Registry::new(&server);
    for r in &all_repos {
        verify_repository(&reg, r);
    }
    assert_eq!(reg.get("/v2/").send().unwrap().status().as_u16(), 200);
}

#[test]
fn sixteen_concurrent_pushes_of_the_same_blob() {
    let server = TestServer::start();
    let repo = "crash/sameblob";
    let blob = Arc::new(Blob::random(3 * 1024 * 1024 + 11, OCI_LAYER));
    let barrier = Arc::new(Barrier::new(16));
    let results = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let (blob, barrier, results) = (blob.clone(), barrier.clone(), results.clone());
            let reg = Registry::new(&server);
            thread::spawn(move || {
                barrier.wait();
                // Three shapes of upload racing each other.
                let status = match i % 3 {
                    0 => reg
                        .post(&with_query(
                            &format!("/v2/{repo}/blobs/uploads/"),
                            "digest",
                            &blob.digest,
                        ))
                        .body(blob.bytes.clone())
                        .send()
                        .map(|r| r.status().as_u16()),
                    1 => {
                        let loc = reg.start_upload(repo);
                        reg.put(&with_query(&loc, "digest", &blob.digest))
                            .body(blob.bytes.clone())
                            .send()
                            .map(|r| r.status().as_u16())
                    }
                    _ => {
                        reg.push_blob_chunked(repo, &blob.bytes, 1024 * 1024);
                        Ok(201)
                    }
                };
                results.lock().unwrap().push(status.expect("request"));
            })
        })
        .collect();
    for h in handles {
        h.join().expect("pusher");
    }
    let results = results.lock().unwrap().clone();
    assert!(results.iter().all(|s| *s == 201), "statuses {results:?}");

    let reg = Registry::new(&server);
    let (status, body) = reg.get_blob(repo, &blob.digest);
    assert_eq!(status, 200);
    assert_eq!(body.len(), blob.size());
    assert_eq!(sha256_digest(&body), blob.digest);
    for (path, ok) in committed_blob_files(server.data_dir()) {
        assert!(ok, "{} does not hash to its name", path.display());
    }
}

#[test]
fn sixteen_concurrent_manifest_puts_to_one_tag() {
    let mut server = TestServer::start();
    let reg = Registry::new(&server);
    let repo = "crash/sametag";
    let config = Blob::config(OCI_CONFIG);
    let layer = Blob::random(4096, OCI_LAYER);
    reg.push(repo, &config);
    reg.push(repo, &layer);
    let manifests: Vec<Blob> = (0..16)
        .map(|i| {
            let mut v = oci_manifest(&config, &[&layer]);
            // Different sizes too, so a torn write could not pass for another manifest.
            v["annotations"] =
                serde_json::json!({ "writer": format!("{i}:{}", "x".repeat(i * 997)) });
            Blob::new(to_bytes(&v), OCI_MANIFEST)
        })
        .collect();
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = manifests
        .iter()
        .cloned()
        .map(|m| {
            let barrier = barrier.clone();
            let reg = Registry::new(&server);
            thread::spawn(move || {
                barrier.wait();
                reg.put_manifest(repo, "race", OCI_MANIFEST, &m.bytes)
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 201), "statuses {statuses:?}");

    let check = |reg: &Registry| -> String {
        let resp = reg
            .get(&format!("/v2/{repo}/manifests/race"))
            .header("Accept", OCI_MANIFEST)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let dcd = header(&resp, "Docker-Content-Digest").expect("digest");
        let body = resp.bytes().unwrap();
        let winner = manifests
            .iter()
            .find(|m| m.digest == dcd)
            .expect("the tag resolves to one of the pushed manifests");
        assert_eq!(
            &body[..],
            &winner.bytes[..],
            "the winner's bytes are intact"
        );
        assert_eq!(reg.tags(repo), vec!["race".to_owned()]);
        // Every pushed manifest is still reachable by digest.
        for m in &manifests {
            let resp = reg
                .get(&format!("/v2/{repo}/manifests/{}", m.digest))
                .header("Accept", OCI_MANIFEST)
                .send()
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            assert_eq!(&resp.bytes().unwrap()[..], &m.bytes[..]);
        }
        dcd
    };
    let before = check(&reg);
    server.kill9();
    server.restart();
    let after = check(&Registry::new(&server));
    assert_eq!(before, after, "the winner is durable");
}
