//! The server's memory stays flat while a large blob streams through it: a blob generated on the
//! fly (never held in memory here either) is pushed with one streaming PATCH and pulled back
//! streaming and hashing, while the server's VmRSS is sampled from `/proc/<pid>/status`.
//!
//! Size: 2 GiB, or `PORTCULLIS_MEMORY_TEST_BYTES` when set (for a quick local run). A debug build
//! of the server moves 2 GiB in and out in about 30 s on the 2-core machine, so no release build
//! is needed. Growth must stay under 32 MiB.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use portcullis_testkit::fixtures::*;
use portcullis_testkit::TestServer;
use reqwest::blocking::Body;
use sha2::{Digest as _, Sha256};

const MIB: u64 = 1024 * 1024;
const MAX_GROWTH_KIB: u64 = 32 * 1024;

fn blob_size() -> u64 {
    match std::env::var("PORTCULLIS_MEMORY_TEST_BYTES") {
        Ok(v) => v
            .parse()
            .expect("PORTCULLIS_MEMORY_TEST_BYTES is a byte count"),
        Err(_) => 2048 * MIB,
    }
}

/// Produces `len` pseudo-random bytes from a 1 MiB block whose first 8 bytes are stamped with the
/// block number, hashing them as they go out, so that neither side holds the blob.
struct Generator {
    block: Vec<u8>,
    pos: u64,
    len: u64,
    hasher: Arc<Mutex<Option<Sha256>>>,
}

impl Generator {
    fn new(len: u64, hasher: Arc<Mutex<Option<Sha256>>>) -> Generator {
        let mut block = vec![0u8; MIB as usize];
        Rng::new().fill(&mut block);
        Generator {
            block,
            pos: 0,
            len,
            hasher,
        }
    }
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len {
            return Ok(0);
        }
        let in_block = (self.pos % MIB) as usize;
        if in_block == 0 {
            let n = self.pos / MIB;
            self.block[..8].copy_from_slice(&n.to_le_bytes());
        }
        let n = buf
            .len()
            .min(MIB as usize - in_block)
            .min((self.len - self.pos) as usize);
        buf[..n].copy_from_slice(&self.block[in_block..in_block + n]);
        if let Some(h) = self.hasher.lock().unwrap().as_mut() {
            h.update(&buf[..n]);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Samples the server's RSS every 50 ms until stopped; returns the maximum seen (KiB).
fn sampler(pid: u32, stop: Arc<AtomicBool>, max: Arc<AtomicU64>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            if let Some(rss) = vm_rss_kib(pid) {
                max.fetch_max(rss, Ordering::SeqCst);
            }
            thread::sleep(Duration::from_millis(50));
        }
    })
}

#[test]
fn push_and_pull_a_large_blob_in_flat_memory() {
    let size = blob_size();
    let server = TestServer::start();
    let pid = server.pid().expect("server pid");
    let reg = Registry::new(&server).with_timeout(None);
    let repo = "memory/large";

    // Warm up every path once (connection pools, lazily built state) before the baseline.
    let warm = random_bytes(2 * MIB as usize);
    let d = reg.push_blob_chunked(repo, &warm, MIB as usize);
    let (status, _) = reg.get_blob(repo, &d);
    assert_eq!(status, 200);
    thread::sleep(Duration::from_millis(200));
    let baseline = vm_rss_kib(pid).expect("VmRSS");

    let stop = Arc::new(AtomicBool::new(false));
    let max = Arc::new(AtomicU64::new(baseline));
    let sampling = sampler(pid, stop.clone(), max.clone());

    // Push: one streaming PATCH of the whole blob, then PUT with the digest computed on the way.
    let t = Instant::now();
    let hasher = Arc::new(Mutex::new(Some(Sha256::new())));
    let loc = reg.start_upload(repo);
    let resp = reg
        .patch(&loc)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", format!("0-{}", size - 1))
        .body(Body::sized(Generator::new(size, hasher.clone()), size))
        .send()
        .expect("streaming PATCH");
    assert_eq!(resp.status().as_u16(), 202);
    assert_eq!(
        header(&resp, "Range").as_deref(),
        Some(&*format!("0-{}", size - 1))
    );
    let loc = header(&resp, "Location").expect("Location");
    let digest = format!(
        "sha256:{}",
        hex::encode(hasher.lock().unwrap().take().expect("hasher").finalize())
    );
    let resp = reg
        .put(&with_query(&loc, "digest", &digest))
        .header("Content-Length", "0")
        .send()
        .expect("PUT");
    assert_eq!(resp.status().as_u16(), 201);
    let push_time = t.elapsed();
    let after_push = max.load(Ordering::SeqCst);

    // Pull: stream and hash.
    let t = Instant::now();
    let mut resp = reg
        .get(&format!("/v2/{repo}/blobs/{digest}"))
        .send()
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        header(&resp, "Content-Length").as_deref(),
        Some(&*size.to_string())
    );
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = resp.read(&mut buf).expect("read body");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    let pull_time = t.elapsed();
    stop.store(true, Ordering::SeqCst);
    sampling.join().unwrap();
    assert_eq!(total, size);
    assert_eq!(format!("sha256:{}", hex::encode(h.finalize())), digest);

    let peak = max.load(Ordering::SeqCst);
    let mib_s = |d: Duration| size as f64 / MIB as f64 / d.as_secs_f64();
    eprintln!(
        "memory: {} MiB blob; server VmRSS baseline {baseline} KiB, peak during push {after_push} \
         KiB, peak overall {peak} KiB (growth {} KiB); push {:.1?} ({:.0} MiB/s), pull {:.1?} \
         ({:.0} MiB/s)",
        size / MIB,
        peak.saturating_sub(baseline),
        push_time,
        mib_s(push_time),
        pull_time,
        mib_s(pull_time),
    );
    assert!(
        peak.saturating_sub(baseline) < MAX_GROWTH_KIB,
        "server RSS grew by {} KiB (baseline {baseline} KiB, peak {peak} KiB)",
        peak.saturating_sub(baseline)
    );
}
