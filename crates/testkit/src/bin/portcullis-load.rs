//! `portcullis-load`: push and pull blobs against one or two OCI registries side by side and
//! print the figures (and the ratios of the first registry to the second) as markdown.
//!
//! Run it through `scripts/bench.sh`, which starts Portcullis and CNCF Distribution on loopback
//! and writes the result into `docs/benchmarks.md`; `portcullis-load --help` explains every knob.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use futures::StreamExt as _;
use portcullis_oci::{Algorithm, Digest, Hasher};
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION,
};
use reqwest::{Client, StatusCode, Url};
use sha2::Digest as _;

/// Blob bodies are produced in pieces of this size: big enough that per-chunk overhead is
/// negligible, small enough that a 64-way push holds only a few MiB.
const CHUNK: usize = 1 << 20;

/// Bytes at the start of every blob that make it unique (seed and size), so that no two blobs of
/// a run share a digest and no registry can short-cut a push by deduplication.
const HEADER: usize = 16;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

const LONG_ABOUT: &str = "\
Pushes and pulls blobs against one or two OCI registries in the same run and prints markdown: \
throughput per blob size and concurrency, latency percentiles for small requests, and the ratio \
of the first --target to the second.

What one run does, in order:
  1. Measures SHA-256 in this process (the sha2 crate over a 256 MiB stream of 1 MiB chunks, \
3 passes), as bytes per CPU-second of this process and as the best wall-clock pass. Target (a) \
compares single-stream push speed with the first, which is what one core can do even when \
other processes compete for the cores. Then (unless --single-blobs is 0) moves --single-size \
three times over one plain loopback TCP connection inside this process: the fastest any \
single-stream push or pull can go on this machine at that moment.
  2. Single stream: pushes --single-blobs blobs of 256 MiB one after the other with the docker \
flow, then as many with the monolithic flow, then pulls them back one at a time. Targets (a) and (b).
  3. Matrix: for every --sizes x --concurrency cell, pushes a batch of distinct blobs with \
--flow, then pulls the same blobs back, against each target in turn (the order alternates \
between cells so that neither registry always runs on a warmer page cache).
  4. Hammer: pushes a small image (config + 4 KiB layer + OCI manifest tagged `bench`), then for \
--hammer-secs each sends manifest GET by tag and blob HEAD of the layer from \
--hammer-concurrency workers. Target (c) compares requests per second at concurrency 64.
  5. Authentication overhead (only with --auth-overhead NAME=REPO): pushes the same small image \
into REPO, which the caller has made public (anonymous pull) by repository policy, then sends \
manifest GET by tag at --auth-overhead-concurrency for --auth-overhead-rounds rounds of \
--auth-overhead-secs with the target's credentials and as many without any, alternating which \
goes first, and reports authenticated / anonymous requests per second.

Credentials: --auth NAME=VALUE sends `Authorization: VALUE` on every request to target NAME; \
--basic-auth NAME=USER:PASSWORD sends HTTP Basic. For Portcullis, the password is what \
`portcullis token issue --data-dir DIR` prints and USER is `AWS`.

Push flows:
  docker      POST /v2/<name>/blobs/uploads/, one PATCH carrying the whole blob (chunked \
transfer encoding, as docker sends it), PUT <location>?digest=
  monolithic  POST /v2/<name>/blobs/uploads/, PUT <location>?digest= carrying the whole blob \
with Content-Length

Blob data is deterministic (a fixed pseudo-random 1 MiB pattern, repeated, whose first 16 \
bytes carry the blob's seed and size) and is streamed from that one shared pattern, so memory \
stays a few MiB whatever the concurrency. Digests are computed before the clock starts. \
Pulls stream the body and discard it, checking the length and Docker-Content-Digest; they hash \
the bytes only with --verify-pulls.

Batch size per cell: ceil(--bytes-per-cell / size) operations, at least concurrency x \
--min-rounds, at most --max-ops, and never more than --max-bytes-per-cell in total. When the \
byte cap leaves fewer operations than the concurrency (256 MiB at 64), the cell runs with fewer \
in flight and the output says so.

Only loopback addresses are accepted. Example:
  portcullis-load --target portcullis=http://127.0.0.1:5000 \\
                  --target distribution=http://127.0.0.1:5001";

#[derive(Parser, Debug)]
#[command(name = "portcullis-load", version, about = "OCI registry load tool: push/pull throughput and small-request rates, side by side", long_about = LONG_ABOUT)]
struct Args {
    /// A registry to measure, as NAME=URL (loopback only). Give it once, or twice to compare;
    /// ratios are first / second. NAME=URL,URL,... sends requests to several nodes of one
    /// deployment in turn.
    #[arg(long = "target", required = true, value_parser = parse_target)]
    targets: Vec<Target>,

    /// Blob sizes of the matrix (suffixes KiB, MiB, GiB).
    #[arg(long, value_delimiter = ',', default_value = "4KiB,16MiB,256MiB", value_parser = parse_size)]
    sizes: Vec<u64>,

    /// Concurrency levels of the matrix (simultaneous requests, one connection each).
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    concurrency: Vec<usize>,

    /// Push flow used by the matrix.
    #[arg(long, value_enum, default_value_t = Flow::Docker)]
    flow: Flow,

    /// Bytes each matrix cell aims to move (per direction, per target).
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    bytes_per_cell: u64,

    /// Hard cap on the bytes one matrix cell pushes per target (bounds disk use and run time).
    #[arg(long, default_value = "4GiB", value_parser = parse_size)]
    max_bytes_per_cell: u64,

    /// Every worker of a cell does at least this many operations (unless the byte cap says no).
    #[arg(long, default_value_t = 2)]
    min_rounds: u64,

    /// At most this many operations per cell (bounds the small-blob cells).
    #[arg(long, default_value_t = 2000)]
    max_ops: u64,

    /// Number of 256 MiB blobs pushed (per flow) and pulled one at a time in the single-stream
    /// test; 0 skips it.
    #[arg(long, default_value_t = 4)]
    single_blobs: u64,

    /// Size of the single-stream blobs.
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    single_size: u64,

    /// Seconds each hammer (manifest GET, blob HEAD) runs per target and concurrency; 0 skips it.
    #[arg(long, default_value_t = 10)]
    hammer_secs: u64,

    /// Concurrency levels of the hammer. Target (c) reads the row at 64.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    hammer_concurrency: Vec<usize>,

    /// Hash every pulled byte and compare with the digest (costs client CPU on the same cores).
    #[arg(long)]
    verify_pulls: bool,

    /// PID of a target's server process, as NAME=PID: the output then also shows the CPU time
    /// the server spent per GiB and per request (read from /proc), which other processes on
    /// the machine inflate much less than they inflate wall-clock rates.
    #[arg(long = "server-pid", value_parser = parse_pid)]
    server_pids: Vec<(String, u32)>,

    /// Skip the size x concurrency matrix.
    #[arg(long)]
    skip_matrix: bool,

    /// Repository prefix; each cell uses <prefix>/<cell>.
    #[arg(long, default_value = "load")]
    repo_prefix: String,

    /// Seed of the blob data; change it to push blobs the registries have not seen.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Credentials for a target, as NAME=VALUE: every request to it carries
    /// `Authorization: VALUE`.
    #[arg(long = "auth", value_parser = parse_named)]
    auths: Vec<(String, String)>,

    /// Credentials for a target, as NAME=USER:PASSWORD (HTTP Basic; for Portcullis USER is
    /// `AWS` and PASSWORD what `portcullis token issue` prints).
    #[arg(long = "basic-auth", value_parser = parse_named)]
    basic_auths: Vec<(String, String)>,

    /// Measure the cost of authentication on target NAME, as NAME=REPO: REPO must allow
    /// anonymous pull by repository policy (the tool pushes its image there with the target's
    /// credentials), and the output compares manifest GET with and without credentials.
    #[arg(long = "auth-overhead", value_parser = parse_named)]
    auth_overhead: Vec<(String, String)>,

    /// Concurrency of the authentication overhead measurement.
    #[arg(long, default_value_t = 64)]
    auth_overhead_concurrency: usize,

    /// Rounds of the authentication overhead measurement; each runs both variants once.
    #[arg(long, default_value_t = 4)]
    auth_overhead_rounds: u64,

    /// Seconds each variant runs per round of the authentication overhead measurement.
    #[arg(long, default_value_t = 5)]
    auth_overhead_secs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Flow {
    /// POST, one PATCH with the whole body (chunked), PUT ?digest=
    Docker,
    /// POST, PUT ?digest= with the whole body (Content-Length)
    Monolithic,
}

impl Flow {
    fn describe(self) -> &'static str {
        match self {
            Flow::Docker => "docker flow (POST, one PATCH with the whole body, PUT ?digest=)",
            Flow::Monolithic => "monolithic (POST, PUT ?digest= with the body)",
        }
    }
}

#[derive(Clone, Debug)]
struct Target {
    name: String,
    /// One URL, or several nodes of one deployment that requests go to in turn.
    bases: Vec<Url>,
    next: Arc<AtomicUsize>,
}

impl Target {
    /// The node the next request goes to (round robin over the target's URLs).
    fn base(&self) -> &Url {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len();
        &self.bases[i]
    }

    fn shown(&self) -> String {
        self.bases
            .iter()
            .map(Url::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn parse_target(s: &str) -> Result<Target, String> {
    let (name, urls) = s.split_once('=').ok_or("expected NAME=URL[,URL...]")?;
    let mut bases = Vec::new();
    for url in urls.split(',') {
        let base = Url::parse(url).map_err(|e| format!("bad URL `{url}`: {e}"))?;
        let loopback = match base.host_str() {
            Some("localhost") => true,
            Some(h) => h
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        };
        if !loopback {
            return Err(format!("`{url}` is not a loopback address"));
        }
        bases.push(base);
    }
    Ok(Target {
        name: name.to_string(),
        bases,
        next: Arc::new(AtomicUsize::new(0)),
    })
}

fn parse_named(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or("expected NAME=VALUE")?;
    Ok((name.to_string(), value.to_string()))
}

/// The Authorization header for a target, from --auth or --basic-auth.
fn auth_header(args: &Args, name: &str) -> anyhow::Result<Option<HeaderValue>> {
    let raw = args
        .auths
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone());
    let basic = args
        .basic_auths
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(v);
            format!("Basic {encoded}")
        });
    let value = match (raw, basic) {
        (Some(_), Some(_)) => bail!("{name}: give --auth or --basic-auth, not both"),
        (v, w) => v.or(w),
    };
    value
        .map(|v| {
            let mut h = HeaderValue::from_str(&v).with_context(|| {
                format!("{name}: the Authorization value is not a header value")
            })?;
            h.set_sensitive(true);
            Ok(h)
        })
        .transpose()
}

fn parse_pid(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s.split_once('=').ok_or("expected NAME=PID")?;
    let pid = pid.parse().map_err(|_| format!("bad PID `{pid}`"))?;
    Ok((name.to_string(), pid))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("bad size `{s}`"))?;
    let mult = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        u => return Err(format!("unknown unit `{u}` (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size `{s}` overflows"))
}

fn human_size(n: u64) -> String {
    if n >= 1 << 30 && n.trailing_zeros() >= 30 {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n.trailing_zeros() >= 20 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.trailing_zeros() >= 10 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// Deterministic blob contents: `pattern` repeated, with the first [`HEADER`] bytes replaced by
/// the blob's seed and size. Every chunk after the first is a zero-copy slice of `pattern`.
#[derive(Clone)]
struct BlobSource {
    pattern: Bytes,
}

impl BlobSource {
    fn new() -> Self {
        // splitmix64: fixed, fast, and good enough that no transport could compress it away.
        let mut state: u64 = 0x5eed_0fb1_0b00;
        let mut buf = BytesMut::with_capacity(CHUNK);
        while buf.len() < CHUNK {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            buf.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        BlobSource {
            pattern: buf.freeze(),
        }
    }

    /// The chunks of blob `seed` of `size` bytes.
    fn chunks(&self, seed: u64, size: u64) -> impl Iterator<Item = Bytes> {
        let pattern = self.pattern.clone();
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&seed.to_le_bytes());
        header[8..].copy_from_slice(&size.to_le_bytes());
        let mut offset = 0u64;
        std::iter::from_fn(move || {
            if offset >= size {
                return None;
            }
            let len = (size - offset).min(CHUNK as u64) as usize;
            let chunk = if offset == 0 {
                let mut first = BytesMut::with_capacity(len);
                let h = len.min(HEADER);
                first.extend_from_slice(&header[..h]);
                first.extend_from_slice(&pattern[h..len]);
                first.freeze()
            } else {
                pattern.slice(..len)
            };
            offset += len as u64;
            Some(chunk)
        })
    }

    fn digest(&self, seed: u64, size: u64) -> Digest {
        let mut h = Hasher::new(Algorithm::Sha256);
        for c in self.chunks(seed, size) {
            h.update(&c);
        }
        h.finalize()
    }

    fn body(&self, seed: u64, size: u64) -> reqwest::Body {
        let chunks = self.chunks(seed, size).map(Ok::<_, std::io::Error>);
        reqwest::Body::wrap_stream(futures::stream::iter(chunks))
    }

    fn bytes(&self, seed: u64, size: u64) -> Bytes {
        let mut out = BytesMut::with_capacity(size as usize);
        for c in self.chunks(seed, size) {
            out.extend_from_slice(&c);
        }
        out.freeze()
    }
}

/// A blob of this run: where it goes and what it is.
#[derive(Clone)]
struct Blob {
    seed: u64,
    size: u64,
    digest: Digest,
}

/// Digests of a batch, computed on every core before any clock starts.
fn make_blobs(src: &BlobSource, first_seed: u64, count: u64, size: u64) -> Vec<Blob> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut blobs: Vec<Blob> = Vec::with_capacity(count as usize);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (0..count)
                        .filter(|i| i % threads == t)
                        .map(|i| {
                            let seed = first_seed + i;
                            Blob {
                                seed,
                                size,
                                digest: src.digest(seed, size),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            blobs.extend(h.join().expect("digest thread panicked"));
        }
    });
    blobs.sort_by_key(|b| b.seed);
    blobs
}

#[derive(Clone)]
struct Registry {
    client: Client,
    target: Target,
    /// The server's PID when it runs on this machine, to account its CPU time.
    pid: Option<u32>,
    src: BlobSource,
    verify_pulls: bool,
}

impl Registry {
    fn url(&self, path: &str) -> anyhow::Result<Url> {
        Ok(self.target.base().join(path)?)
    }

    /// Resolves a Location header, relative (`/v2/...`) or absolute.
    fn location(&self, resp: &reqwest::Response) -> anyhow::Result<Url> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .context("response has no Location header")?
            .to_str()
            .context("Location is not ASCII")?;
        Ok(self.target.base().join(loc)?)
    }

    async fn start_upload(&self, repo: &str) -> anyhow::Result<Url> {
        let resp = self
            .client
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/"))?)
            .send()
            .await?;
        let status = resp.status();
        ensure!(
            status == StatusCode::ACCEPTED,
            "POST upload: {status} {}",
            body_text(resp).await
        );
        self.location(&resp)
    }

    async fn push(&self, repo: &str, blob: &Blob, flow: Flow) -> anyhow::Result<()> {
        let mut loc = self.start_upload(repo).await?;
        let body = self.src.body(blob.seed, blob.size);
        let put = match flow {
            Flow::Docker => {
                let resp = self
                    .client
                    .patch(loc.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(body)
                    .send()
                    .await?;
                let status = resp.status();
                ensure!(
                    status == StatusCode::ACCEPTED,
                    "PATCH: {status} {}",
                    body_text(resp).await
                );
                loc = self.location(&resp)?;
                loc.query_pairs_mut()
                    .append_pair("digest", &blob.digest.to_string());
                self.client.put(loc).header(CONTENT_LENGTH, 0)
            }
            Flow::Monolithic => {
                loc.query_pairs_mut()
                    .append_pair("digest", &blob.digest.to_string());
                self.client
                    .put(loc)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, blob.size)
                    .body(body)
            }
        };
        let resp = put.send().await?;
        let status = resp.status();
        ensure!(
            status == StatusCode::CREATED,
            "PUT ?digest=: {status} {}",
            body_text(resp).await
        );
        Ok(())
    }

    /// Pushes a small blob in one request pair whatever the flow (setup, not measured).
    async fn push_bytes(&self, repo: &str, data: Bytes) -> anyhow::Result<Digest> {
        let digest = Digest::of(Algorithm::Sha256, &data);
        let mut loc = self.start_upload(repo).await?;
        loc.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let resp = self
            .client
            .put(loc)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(data)
            .send()
            .await?;
        let status = resp.status();
        ensure!(
            status == StatusCode::CREATED,
            "PUT ?digest=: {status} {}",
            body_text(resp).await
        );
        Ok(digest)
    }

    async fn pull(&self, repo: &str, blob: &Blob) -> anyhow::Result<()> {
        let resp = self
            .client
            .get(self.url(&format!("/v2/{repo}/blobs/{}", blob.digest))?)
            .send()
            .await?;
        let status = resp.status();
        ensure!(
            status == StatusCode::OK,
            "GET blob: {status} {}",
            body_text(resp).await
        );
        if let Some(d) = resp.headers().get("docker-content-digest") {
            ensure!(
                d.as_bytes() == blob.digest.to_string().as_bytes(),
                "Docker-Content-Digest {d:?} is not {}",
                blob.digest
            );
        }
        let mut hasher = self.verify_pulls.then(|| Hasher::new(Algorithm::Sha256));
        let mut got = 0u64;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            got += chunk.len() as u64;
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
        }
        ensure!(
            got == blob.size,
            "GET blob: {got} bytes, expected {}",
            blob.size
        );
        if let Some(h) = hasher {
            let d = h.finalize();
            ensure!(
                d == blob.digest,
                "GET blob: body hashes to {d}, expected {}",
                blob.digest
            );
        }
        Ok(())
    }

    /// Cleanup between cells (not measured): best effort, registries may refuse deletes.
    async fn delete(&self, repo: &str, blob: &Blob) {
        if let Ok(url) = self.url(&format!("/v2/{repo}/blobs/{}", blob.digest)) {
            let _ = self.client.delete(url).send().await;
        }
    }

    /// Pushes config + layer + manifest tagged `bench` and returns the layer digest.
    async fn push_image(&self, repo: &str) -> anyhow::Result<Digest> {
        let config = Bytes::from_static(
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        );
        let layer = self.src.bytes(u64::MAX, 4096);
        let config_digest = self.push_bytes(repo, config.clone()).await?;
        let layer_digest = self.push_bytes(repo, layer.clone()).await?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest.to_string(), "size": layer.len()}],
        });
        let resp = self
            .client
            .put(self.url(&format!("/v2/{repo}/manifests/bench"))?)
            .header(CONTENT_TYPE, OCI_MANIFEST)
            .body(serde_json::to_vec(&manifest)?)
            .send()
            .await?;
        let status = resp.status();
        ensure!(
            status == StatusCode::CREATED,
            "PUT manifest: {status} {}",
            body_text(resp).await
        );
        Ok(layer_digest)
    }

    async fn get_manifest(&self, url: Url) -> anyhow::Result<()> {
        let resp = self
            .client
            .get(url)
            .header(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT))
            .send()
            .await?;
        let status = resp.status();
        ensure!(status == StatusCode::OK, "GET manifest: {status}");
        resp.bytes().await?;
        Ok(())
    }

    async fn head_blob(&self, url: Url) -> anyhow::Result<()> {
        let resp = self.client.head(url).send().await?;
        let status = resp.status();
        ensure!(status == StatusCode::OK, "HEAD blob: {status}");
        Ok(())
    }
}

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

async fn body_text(resp: reqwest::Response) -> String {
    let mut t = resp.text().await.unwrap_or_default();
    t.truncate(300);
    t
}

/// What a batch of operations measured.
#[derive(Default, Clone)]
struct Stats {
    ops: u64,
    bytes: u64,
    wall: Duration,
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
    /// CPU seconds the server process spent during the batch, when its PID is known.
    server_cpu: Option<f64>,
    /// CPU seconds this process (the client) spent during the batch: client and server share
    /// the cores, so a costly client slows the server it measures.
    client_cpu: Option<f64>,
}

impl Stats {
    fn mib_s(&self) -> f64 {
        self.bytes as f64 / (1 << 20) as f64 / self.wall.as_secs_f64()
    }

    fn rps(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let idx = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1;
        l[idx]
    }

    /// Server CPU seconds per GiB moved.
    fn cpu_per_gib(&self) -> Option<f64> {
        let gib = self.bytes as f64 / (1u64 << 30) as f64;
        self.server_cpu.filter(|_| gib > 0.0).map(|c| c / gib)
    }

    /// Server CPU microseconds per operation.
    fn cpu_us_per_op(&self) -> Option<f64> {
        self.server_cpu
            .filter(|_| self.ops > 0)
            .map(|c| c * 1e6 / self.ops as f64)
    }

    fn ok(&self) -> bool {
        self.errors == 0 && self.ops > 0
    }

    /// Adds another batch of the same operation: rates then cover both batches' time.
    fn absorb(&mut self, other: Stats) {
        let empty = self.wall.is_zero();
        let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (None, b) if empty => b,
            _ => None,
        };
        self.server_cpu = add(self.server_cpu, other.server_cpu);
        self.client_cpu = add(self.client_cpu, other.client_cpu);
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.wall += other.wall;
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs `ops` operations from `in_flight` workers, each taking the next index until none are
/// left, and times the whole batch.
async fn run_batch<F, Fut>(
    pid: Option<u32>,
    ops: u64,
    in_flight: usize,
    bytes_per_op: u64,
    op: F,
) -> Stats
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let errors: Arc<Mutex<(u64, Option<String>)>> = Arc::default();
    let cpu0 = pid.and_then(cpu_seconds);
    let client0 = cpu_seconds(std::process::id());
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(in_flight);
    for _ in 0..in_flight {
        let (next, errors, op) = (next.clone(), errors.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    break;
                }
                let t = Instant::now();
                match op(i).await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        let mut g = errors.lock().expect("error lock");
                        g.0 += 1;
                        g.1.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            lat
        }));
    }
    let mut latencies = Vec::with_capacity(ops as usize);
    for t in tasks {
        latencies.extend(t.await.unwrap_or_default());
    }
    let wall = start.elapsed();
    let (errors, first_error) = errors.lock().expect("error lock").clone();
    let done = latencies.len() as u64;
    Stats {
        ops: done,
        bytes: done * bytes_per_op,
        wall,
        latencies,
        errors,
        first_error,
        server_cpu: cpu_delta(pid, cpu0),
        client_cpu: cpu_delta(Some(std::process::id()), client0),
    }
}

/// Runs `op` from `workers` workers until `secs` have passed.
async fn run_for<F, Fut>(pid: Option<u32>, secs: u64, workers: usize, op: F) -> Stats
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    let errors: Arc<Mutex<(u64, Option<String>)>> = Arc::default();
    let cpu0 = pid.and_then(cpu_seconds);
    let client0 = cpu_seconds(std::process::id());
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (errors, op) = (errors.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                match op().await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        let mut g = errors.lock().expect("error lock");
                        g.0 += 1;
                        g.1.get_or_insert_with(|| format!("{e:#}"));
                        // A dead server must not turn the loop into a busy spin.
                        if g.0 > 1000 {
                            break;
                        }
                    }
                }
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap_or_default());
    }
    let wall = start.elapsed();
    let (errors, first_error) = errors.lock().expect("error lock").clone();
    Stats {
        ops: latencies.len() as u64,
        bytes: 0,
        wall,
        latencies,
        errors,
        first_error,
        server_cpu: cpu_delta(pid, cpu0),
        client_cpu: cpu_delta(Some(std::process::id()), client0),
    }
}

/// CPU seconds (user + system, all threads) process `pid` has used, from `/proc/<pid>/stat`,
/// whose times are in USER_HZ ticks, fixed at 100 per second by the Linux ABI.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; the fields after it do not.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn cpu_delta(pid: Option<u32>, before: Option<f64>) -> Option<f64> {
    Some(cpu_seconds(pid?)? - before?)
}

/// SHA-256 speed of one core, the reference of target (a).
struct ShaSpeed {
    /// Best wall-clock rate of three passes.
    wall: f64,
    /// Bytes per CPU-second of this process over the three passes (nothing else runs in it
    /// then). Other processes on the machine slow the wall-clock rate but barely this one, so
    /// this is what one core can do, and what target (a) compares with when it is known.
    per_cpu: Option<f64>,
}

impl ShaSpeed {
    fn reference(&self) -> f64 {
        self.per_cpu.unwrap_or(self.wall)
    }
}

/// The sha2 crate over `size` bytes fed in 1 MiB chunks, three times.
fn sha256_speed(src: &BlobSource, size: u64) -> ShaSpeed {
    let chunks: Vec<Bytes> = src.chunks(0, size.min(CHUNK as u64 * 4)).collect();
    let mut best = 0f64;
    let cpu0 = cpu_seconds(std::process::id());
    for _ in 0..3 {
        let start = Instant::now();
        let mut h = sha2::Sha256::new();
        let mut fed = 0u64;
        'outer: loop {
            for c in &chunks {
                if fed >= size {
                    break 'outer;
                }
                h.update(c);
                fed += c.len() as u64;
            }
        }
        std::hint::black_box(h.finalize());
        best = best.max(fed as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64());
    }
    let per_cpu = cpu_delta(Some(std::process::id()), cpu0)
        .filter(|c| *c > 0.0)
        .map(|c| 3.0 * size as f64 / (1 << 20) as f64 / c);
    ShaSpeed {
        wall: best,
        per_cpu,
    }
}

/// One plain TCP stream over loopback, from a reused 1 MiB buffer to a reader into a reused
/// 1 MiB buffer (blocking sockets, no HTTP, no disk, no hashing), `size` bytes three times:
/// the best pass in MiB/s. No single-stream push or pull can be faster on this machine at this
/// moment, whatever the server does.
fn loopback_ceiling(src: &BlobSource, size: u64) -> anyhow::Result<f64> {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut best = 0f64;
    for _ in 0..3 {
        let mut out = std::net::TcpStream::connect(addr)?;
        out.set_nodelay(true)?;
        let (mut inp, _) = listener.accept()?;
        let start = Instant::now();
        let reader = std::thread::spawn(move || -> std::io::Result<u64> {
            let mut buf = vec![0u8; CHUNK];
            let mut got = 0u64;
            loop {
                match inp.read(&mut buf)? {
                    0 => return Ok(got),
                    n => got += n as u64,
                }
            }
        });
        let mut sent = 0u64;
        while sent < size {
            let n = (size - sent).min(src.pattern.len() as u64) as usize;
            out.write_all(&src.pattern[..n])?;
            sent += n as u64;
        }
        drop(out);
        let got = reader
            .join()
            .map_err(|_| anyhow::anyhow!("loopback reader panicked"))??;
        ensure!(got == size, "loopback: {got} bytes arrived of {size}");
        best = best.max(size as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64());
    }
    Ok(best)
}

struct CellPlan {
    size: u64,
    concurrency: usize,
    ops: u64,
    in_flight: usize,
    capped: bool,
}

fn plan_cell(args: &Args, size: u64, concurrency: usize) -> CellPlan {
    let c = concurrency.max(1) as u64;
    let wanted = args
        .bytes_per_cell
        .div_ceil(size)
        .max(c * args.min_rounds)
        .min(args.max_ops.max(c));
    let cap = (args.max_bytes_per_cell / size).max(1);
    let ops = wanted.min(cap);
    let in_flight = (c.min(ops)) as usize;
    CellPlan {
        size,
        concurrency,
        ops,
        in_flight,
        capped: in_flight < concurrency,
    }
}

struct CellResult {
    plan: CellPlan,
    push: Vec<Stats>,
    pull: Vec<Stats>,
}

struct HammerResult {
    what: &'static str,
    concurrency: usize,
    stats: Vec<Stats>,
}

struct SingleResult {
    push_docker: Vec<Stats>,
    push_mono: Vec<Stats>,
    pull: Vec<Stats>,
}

fn log(msg: impl AsRef<str>) {
    eprintln!("portcullis-load: {}", msg.as_ref());
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.targets.len() > 2 {
        bail!("give one or two --target (ratios compare the first with the second)");
    }
    for s in &args.sizes {
        ensure!(*s > 0, "sizes must be positive");
    }
    for (n, _) in args
        .auths
        .iter()
        .chain(&args.basic_auths)
        .chain(&args.auth_overhead)
    {
        ensure!(
            args.targets.iter().any(|t| t.name == *n),
            "`{n}` names no --target"
        );
    }
    let src = BlobSource::new();
    let mut regs: Vec<Registry> = Vec::new();
    for t in &args.targets {
        regs.push(Registry {
            client: make_client(auth_header(&args, &t.name)?)?,
            target: t.clone(),
            pid: args
                .server_pids
                .iter()
                .find(|(n, _)| *n == t.name)
                .map(|(_, p)| *p),
            src: src.clone(),
            verify_pulls: args.verify_pulls,
        });
    }
    for r in &regs {
        let resp = r
            .client
            .get(r.url("/v2/")?)
            .send()
            .await
            .with_context(|| format!("{} is not reachable", r.target.shown()))?;
        ensure!(
            resp.status() == StatusCode::OK,
            "{}: GET /v2/ answered {}",
            r.target.name,
            resp.status()
        );
    }

    log("measuring SHA-256");
    let sha = {
        let src = src.clone();
        tokio::task::spawn_blocking(move || sha256_speed(&src, 256 << 20)).await?
    };
    log(format!("SHA-256: {:.0} MiB/s", sha.reference()));
    let ceiling = if args.single_blobs > 0 {
        let (src, size) = (src.clone(), args.single_size);
        let c = tokio::task::spawn_blocking(move || loopback_ceiling(&src, size)).await??;
        log(format!("loopback TCP, one stream: {c:.0} MiB/s"));
        Some(c)
    } else {
        None
    };

    // Seeds are spaced so that every phase and cell pushes blobs no earlier phase pushed.
    let mut next_seed = args.seed.wrapping_mul(1 << 32);

    let single = if args.single_blobs > 0 {
        Some(run_single(&args, &regs, &src, &mut next_seed).await?)
    } else {
        None
    };

    let mut cells = Vec::new();
    if !args.skip_matrix {
        let mut cell_no = 0usize;
        for &size in &args.sizes {
            for &c in &args.concurrency {
                let plan = plan_cell(&args, size, c);
                let blobs = Arc::new(make_blobs(&src, next_seed, plan.ops, size));
                next_seed += plan.ops;
                let repo = format!(
                    "{}/s{}-c{}",
                    args.repo_prefix,
                    human_size(size).replace(' ', "").to_lowercase(),
                    c
                );
                let mut push = vec![Stats::default(); regs.len()];
                let mut pull = vec![Stats::default(); regs.len()];
                let order: Vec<usize> = if cell_no & 1 == 0 {
                    (0..regs.len()).collect()
                } else {
                    (0..regs.len()).rev().collect()
                };
                for i in order {
                    let r = regs[i].clone();
                    log(format!(
                        "{}: {} x{} ({} in flight) push",
                        r.target.name,
                        human_size(size),
                        plan.ops,
                        plan.in_flight
                    ));
                    let (rr, rp, bb, flow) = (r.clone(), repo.clone(), blobs.clone(), args.flow);
                    push[i] = run_batch(r.pid, plan.ops, plan.in_flight, size, move |k| {
                        let (rr, rp, bb) = (rr.clone(), rp.clone(), bb.clone());
                        async move { rr.push(&rp, &bb[k as usize], flow).await }
                    })
                    .await;
                    report_errors(&r.target.name, "push", &push[i]);
                    log(format!("{}: pull", r.target.name));
                    let (rr, rp, bb) = (r.clone(), repo.clone(), blobs.clone());
                    pull[i] = run_batch(r.pid, plan.ops, plan.in_flight, size, move |k| {
                        let (rr, rp, bb) = (rr.clone(), rp.clone(), bb.clone());
                        async move { rr.pull(&rp, &bb[k as usize]).await }
                    })
                    .await;
                    report_errors(&r.target.name, "pull", &pull[i]);
                    for b in blobs.iter() {
                        r.delete(&repo, b).await;
                    }
                }
                cells.push(CellResult { plan, push, pull });
                cell_no += 1;
            }
        }
    }

    let mut hammers = Vec::new();
    if args.hammer_secs > 0 {
        let repo = format!("{}/image", args.repo_prefix);
        let mut layers = Vec::new();
        for r in &regs {
            layers.push(
                r.push_image(&repo)
                    .await
                    .with_context(|| format!("{}: pushing the test image", r.target.name))?,
            );
        }
        for &c in &args.hammer_concurrency {
            for what in ["manifest GET", "blob HEAD"] {
                let mut stats = Vec::new();
                for (r, layer) in regs.iter().zip(&layers) {
                    log(format!(
                        "{}: {what} x{c} for {} s",
                        r.target.name, args.hammer_secs
                    ));
                    let url = if what == "manifest GET" {
                        r.url(&format!("/v2/{repo}/manifests/bench"))?
                    } else {
                        r.url(&format!("/v2/{repo}/blobs/{layer}"))?
                    };
                    let rr = r.clone();
                    let s = run_for(r.pid, args.hammer_secs, c, move || {
                        let (rr, url) = (rr.clone(), url.clone());
                        async move {
                            if what == "manifest GET" {
                                rr.get_manifest(url).await
                            } else {
                                rr.head_blob(url).await
                            }
                        }
                    })
                    .await;
                    report_errors(&r.target.name, what, &s);
                    stats.push(s);
                }
                hammers.push(HammerResult {
                    what,
                    concurrency: c,
                    stats,
                });
            }
        }
    }

    let mut overheads = Vec::new();
    for (name, repo) in &args.auth_overhead {
        let r = regs
            .iter()
            .find(|r| r.target.name == *name)
            .context("--auth-overhead names no target")?;
        overheads.push(run_auth_overhead(&args, r, repo).await?);
    }

    print!(
        "{}",
        render(
            &args,
            &sha,
            ceiling,
            single.as_ref(),
            &cells,
            &hammers,
            &overheads
        )
    );
    Ok(())
}

/// One HTTP/1.1 client; with `auth`, every request carries that Authorization header.
fn make_client(auth: Option<HeaderValue>) -> anyhow::Result<Client> {
    let mut headers = HeaderMap::new();
    if let Some(h) = auth {
        headers.insert(AUTHORIZATION, h);
    }
    Ok(Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .pool_idle_timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()?)
}

struct OverheadResult {
    target: String,
    repo: String,
    concurrency: usize,
    authenticated: Stats,
    anonymous: Stats,
}

/// Manifest GET with credentials against the same GET without, on one server, in alternating
/// rounds so that a change in the machine's load lands on both variants alike.
async fn run_auth_overhead(
    args: &Args,
    authed: &Registry,
    repo: &str,
) -> anyhow::Result<OverheadResult> {
    let anon = Registry {
        client: make_client(None)?,
        ..authed.clone()
    };
    authed
        .push_image(repo)
        .await
        .with_context(|| format!("{}: pushing the test image to {repo}", authed.target.name))?;
    let url = authed.url(&format!("/v2/{repo}/manifests/bench"))?;
    // Fail early, with a message, when the repository is not public after all.
    anon.get_manifest(url.clone()).await.with_context(|| {
        format!(
            "{}: anonymous manifest GET on {repo} (is it public?)",
            authed.target.name
        )
    })?;
    let c = args.auth_overhead_concurrency;
    let mut totals = [Stats::default(), Stats::default()];
    for round in 0..args.auth_overhead_rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let r = if i == 0 { authed.clone() } else { anon.clone() };
            log(format!(
                "{}: auth overhead, round {}, {} manifest GET x{c} for {} s",
                r.target.name,
                round + 1,
                if i == 0 { "authenticated" } else { "anonymous" },
                args.auth_overhead_secs
            ));
            let u = url.clone();
            let s = run_for(r.pid, args.auth_overhead_secs, c, move || {
                let (rr, u) = (r.clone(), u.clone());
                async move { rr.get_manifest(u).await }
            })
            .await;
            report_errors(&authed.target.name, "auth overhead", &s);
            totals[i].absorb(s);
        }
    }
    let [authenticated, anonymous] = totals;
    Ok(OverheadResult {
        target: authed.target.name.clone(),
        repo: repo.to_string(),
        concurrency: c,
        authenticated,
        anonymous,
    })
}

async fn run_single(
    args: &Args,
    regs: &[Registry],
    src: &BlobSource,
    next_seed: &mut u64,
) -> anyhow::Result<SingleResult> {
    let n = args.single_blobs;
    let size = args.single_size;
    let docker = Arc::new(make_blobs(src, *next_seed, n, size));
    *next_seed += n;
    let mono = Arc::new(make_blobs(src, *next_seed, n, size));
    *next_seed += n;
    let repo = format!("{}/single", args.repo_prefix);
    let mut out = SingleResult {
        push_docker: Vec::new(),
        push_mono: Vec::new(),
        pull: Vec::new(),
    };
    for r in regs {
        for (flow, blobs) in [(Flow::Docker, &docker), (Flow::Monolithic, &mono)] {
            log(format!(
                "{}: single stream, {} x{n} push, {flow:?}",
                r.target.name,
                human_size(size)
            ));
            let (rr, rp, bb) = (r.clone(), repo.clone(), blobs.clone());
            let s = run_batch(r.pid, n, 1, size, move |k| {
                let (rr, rp, bb) = (rr.clone(), rp.clone(), bb.clone());
                async move { rr.push(&rp, &bb[k as usize], flow).await }
            })
            .await;
            report_errors(&r.target.name, "single push", &s);
            match flow {
                Flow::Docker => out.push_docker.push(s),
                Flow::Monolithic => out.push_mono.push(s),
            }
        }
        log(format!("{}: single stream pull", r.target.name));
        let (rr, rp, bb) = (r.clone(), repo.clone(), docker.clone());
        let s = run_batch(r.pid, n, 1, size, move |k| {
            let (rr, rp, bb) = (rr.clone(), rp.clone(), bb.clone());
            async move { rr.pull(&rp, &bb[k as usize]).await }
        })
        .await;
        report_errors(&r.target.name, "single pull", &s);
        out.pull.push(s);
        for b in docker.iter().chain(mono.iter()) {
            r.delete(&repo, b).await;
        }
    }
    Ok(out)
}

fn report_errors(target: &str, what: &str, s: &Stats) {
    if s.errors > 0 {
        log(format!(
            "{target}: {what}: {} errors, first: {}",
            s.errors,
            s.first_error.as_deref().unwrap_or("?")
        ));
    }
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1000.0;
    if m < 10.0 {
        format!("{m:.2}")
    } else {
        format!("{m:.0}")
    }
}

/// A figure with about three significant digits, so 4 KiB cells do not read as 0 MiB/s.
fn num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn cell(s: &Stats, v: f64) -> String {
    if s.ok() {
        num(v)
    } else if s.ops == 0 {
        "error".to_string()
    } else {
        format!("{} ({} errors)", num(v), s.errors)
    }
}

fn ratio(a: &Stats, b: &Stats, f: impl Fn(&Stats) -> f64) -> Option<f64> {
    (a.ok() && b.ok()).then(|| f(a) / f(b))
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".to_string(), |r| format!("{r:.2}x"))
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "**pass**",
        Some(false) => "**FAIL**",
        None => "(needs two targets)",
    }
}

fn render(
    args: &Args,
    sha_speed: &ShaSpeed,
    ceiling: Option<f64>,
    single: Option<&SingleResult>,
    cells: &[CellResult],
    hammers: &[HammerResult],
    overheads: &[OverheadResult],
) -> String {
    let names: Vec<&str> = args.targets.iter().map(|t| t.name.as_str()).collect();
    let two = names.len() == 2;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Targets: {}.",
        args.targets
            .iter()
            .map(|t| format!("{} at {}", t.name, t.shown()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if two {
        let _ = writeln!(
            o,
            "Ratios are {} / {} (above 1 means {} is faster).",
            names[0], names[1], names[0]
        );
    }
    let _ = writeln!(o);
    let sha = sha_speed.reference();
    match sha_speed.per_cpu {
        Some(c) => {
            let _ = writeln!(
                o,
                "SHA-256 of one core, in-process (sha2 crate, {} in 1 MiB chunks, 3 passes): \
                 **{c:.0} MiB per CPU-second**; best wall-clock pass {:.0} MiB/s (lower when \
                 other processes compete for the cores). Target (a) compares with the first.",
                human_size(256 << 20),
                sha_speed.wall
            );
        }
        None => {
            let _ = writeln!(
                o,
                "SHA-256 of one core, in-process (sha2 crate, {} in 1 MiB chunks, best of 3): \
                 **{sha:.0} MiB/s**.",
                human_size(256 << 20)
            );
        }
    }
    if let Some(c) = ceiling {
        let _ = writeln!(
            o,
            "\nPlain TCP over loopback, one stream, in-process (blocking sockets, {} sent from a \
             reused 1 MiB buffer and read into another, no HTTP, no disk, no hashing, best of 3): \
             **{c:.0} MiB/s**. No single-stream push or pull, of either registry, can beat it on \
             this machine at this moment.",
            human_size(args.single_size)
        );
    }
    let _ = writeln!(o);

    // Targets first: that is what the numbers are for.
    let _ = writeln!(o, "### Targets\n");
    let _ = writeln!(o, "| target | goal | {} | result |", names.join(" | "));
    let _ = writeln!(o, "|---|---|{}---|", "---:|".repeat(names.len()));
    if let Some(s) = single {
        for (label, stats) in [
            ("docker flow", &s.push_docker),
            ("monolithic POST+PUT", &s.push_mono),
        ] {
            let vals: Vec<String> = stats
                .iter()
                .map(|st| {
                    format!(
                        "{} MiB/s ({:.0}% of SHA-256)",
                        cell(st, st.mib_s()),
                        st.mib_s() / sha * 100.0
                    )
                })
                .collect();
            let pass = stats
                .first()
                .filter(|st| st.ok())
                .map(|st| st.mib_s() >= 0.8 * sha);
            let _ = writeln!(
                o,
                "| (a) single-stream push, {}, {label} | >= 80% of SHA-256 = {:.0} MiB/s | {} | {} |",
                human_size(args.single_size),
                0.8 * sha,
                vals.join(" | "),
                verdict(pass)
            );
        }
        let vals: Vec<String> = s
            .pull
            .iter()
            .map(|st| format!("{} MiB/s", cell(st, st.mib_s())))
            .collect();
        let r = if two {
            ratio(&s.pull[0], &s.pull[1], Stats::mib_s)
        } else {
            None
        };
        let _ = writeln!(
            o,
            "| (b) single-stream pull, {} | >= 2x {} | {} | {} {} |",
            human_size(args.single_size),
            names.get(1).unwrap_or(&"second target"),
            vals.join(" | "),
            fmt_ratio(r),
            verdict(r.map(|r| r >= 2.0))
        );
    }
    for h in hammers.iter().filter(|h| h.concurrency == 64) {
        let vals: Vec<String> = h
            .stats
            .iter()
            .map(|st| format!("{} req/s", cell(st, st.rps())))
            .collect();
        let r = if two {
            ratio(&h.stats[0], &h.stats[1], Stats::rps)
        } else {
            None
        };
        let _ = writeln!(
            o,
            "| (c) {} at concurrency 64 | >= 2x {} | {} | {} {} |",
            h.what,
            names.get(1).unwrap_or(&"second target"),
            vals.join(" | "),
            fmt_ratio(r),
            verdict(r.map(|r| r >= 2.0))
        );
    }
    for ov in overheads {
        let r = ratio(&ov.authenticated, &ov.anonymous, Stats::rps);
        let vals: Vec<String> = names
            .iter()
            .map(|n| {
                if *n == ov.target {
                    format!(
                        "{} req/s authenticated, {} anonymous",
                        cell(&ov.authenticated, ov.authenticated.rps()),
                        cell(&ov.anonymous, ov.anonymous.rps())
                    )
                } else {
                    "-".to_string()
                }
            })
            .collect();
        let _ = writeln!(
            o,
            "| (issue 5) manifest GET at concurrency {}, authenticated / anonymous (public repository) | >= 0.90 | {} | {} {} |",
            ov.concurrency,
            vals.join(" | "),
            r.map_or("n/a".to_string(), |r| format!("{r:.3}")),
            verdict(r.map(|r| r >= 0.9))
        );
    }
    let _ = writeln!(o);

    if let Some(s) = single {
        let _ = writeln!(
            o,
            "### Single stream, {} blobs one after the other\n",
            human_size(args.single_size)
        );
        let _ = writeln!(
            o,
            "{} blobs per flow per target. MiB/s over the whole batch; latency per blob.\n",
            args.single_blobs
        );
        let _ = writeln!(
            o,
            "| operation | target | MiB/s | p50 ms | max ms | server CPU s | MiB per server CPU-second | client CPU s |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|");
        for (label, stats) in [
            ("push, docker flow", &s.push_docker),
            ("push, monolithic", &s.push_mono),
            ("pull", &s.pull),
        ] {
            for (st, name) in stats.iter().zip(&names) {
                let cpu = st.server_cpu.map_or("-".to_string(), |c| format!("{c:.2}"));
                let eff = st
                    .cpu_per_gib()
                    .map_or("-".to_string(), |c| format!("{:.0}", 1024.0 / c));
                let client = st.client_cpu.map_or("-".to_string(), |c| format!("{c:.2}"));
                let _ = writeln!(
                    o,
                    "| {label} | {name} | {} | {} | {} | {cpu} | {eff} | {client} |",
                    cell(st, st.mib_s()),
                    ms(st.percentile(0.5)),
                    ms(st.percentile(1.0))
                );
            }
        }
        let _ = writeln!(o);
    }

    if !cells.is_empty() {
        let _ = writeln!(o, "### Push and pull throughput (MiB/s)\n");
        let _ = writeln!(
            o,
            "Push with the {}. Pulls stream the body and discard it, checking length and \
             Docker-Content-Digest; {}. Each cell pushes distinct blobs, pulls them back, then \
             deletes them (not timed).\n",
            args.flow.describe(),
            if args.verify_pulls {
                "every pulled byte is hashed and checked"
            } else {
                "pulled bytes are not hashed"
            }
        );
        let mut head = "| size | concurrency | blobs (in flight) |".to_string();
        let mut rule = "|---|---:|---:|".to_string();
        for dir in ["push", "pull"] {
            for n in &names {
                head += &format!(" {dir} {n} |");
                rule += "---:|";
            }
            if two {
                head += &format!(" {dir} ratio |");
                rule += "---:|";
            }
        }
        let _ = writeln!(o, "{head}\n{rule}");
        for c in cells {
            let p = &c.plan;
            let flight = if p.capped {
                format!("{} ({}, byte cap)", p.ops, p.in_flight)
            } else {
                format!("{} ({})", p.ops, p.in_flight)
            };
            let mut row = format!("| {} | {} | {flight} |", human_size(p.size), p.concurrency);
            for stats in [&c.push, &c.pull] {
                for st in stats {
                    row += &format!(" {} |", cell(st, st.mib_s()));
                }
                if two {
                    row += &format!(
                        " {} |",
                        fmt_ratio(ratio(&stats[0], &stats[1], Stats::mib_s))
                    );
                }
            }
            let _ = writeln!(o, "{row}");
        }
        if cells.iter().any(|c| c.plan.capped) {
            let _ = writeln!(
                o,
                "\nByte cap: a cell pushes at most {} per target, so where it allows fewer blobs \
                 than the concurrency, fewer requests are in flight than the column says (shown \
                 in brackets).",
                human_size(args.max_bytes_per_cell)
            );
        }
        let _ = writeln!(o);
        if cells
            .iter()
            .any(|c| c.push.iter().any(|s| s.server_cpu.is_some()))
        {
            let _ = writeln!(
                o,
                "Server CPU seconds per GiB moved (user + system, all threads, from /proc; lower \
                 is better; other processes on the machine inflate it much less than MiB/s, \
                 through shared caches only):\n"
            );
            let mut head = "| size | concurrency |".to_string();
            let mut rule = "|---|---:|".to_string();
            for dir in ["push", "pull"] {
                for n in &names {
                    head += &format!(" {dir} {n} |");
                    rule += "---:|";
                }
            }
            let _ = writeln!(o, "{head}\n{rule}");
            for c in cells {
                let mut row = format!("| {} | {} |", human_size(c.plan.size), c.plan.concurrency);
                for stats in [&c.push, &c.pull] {
                    for st in stats {
                        row += &format!(
                            " {} |",
                            st.cpu_per_gib()
                                .map_or("-".to_string(), |v| format!("{v:.2}"))
                        );
                    }
                }
                let _ = writeln!(o, "{row}");
            }
            let _ = writeln!(o);
        }
    }

    let small: Vec<&CellResult> = cells.iter().filter(|c| c.plan.size <= 64 << 10).collect();
    if !small.is_empty() || !hammers.is_empty() {
        let _ = writeln!(o, "### Small requests: rate and latency\n");
        let _ = writeln!(
            o,
            "req/s for blob push counts whole pushes ({} requests each); latencies in ms; CPU µs/req \
             is the server's CPU time per request (per push for pushes).\n",
            if args.flow == Flow::Docker { 3 } else { 2 }
        );
        let mut head = "| request | concurrency |".to_string();
        let mut rule = "|---|---:|".to_string();
        for n in &names {
            head += &format!(" {n} req/s | {n} p50 | {n} p99 | {n} CPU µs/req |");
            rule += "---:|---:|---:|---:|";
        }
        if two {
            head += " req/s ratio |";
            rule += "---:|";
        }
        let _ = writeln!(o, "{head}\n{rule}");
        let mut rows: Vec<(String, usize, &Vec<Stats>)> = Vec::new();
        for c in &small {
            rows.push((
                format!("push {} blob", human_size(c.plan.size)),
                c.plan.concurrency,
                &c.push,
            ));
            rows.push((
                format!("pull {} blob", human_size(c.plan.size)),
                c.plan.concurrency,
                &c.pull,
            ));
        }
        for h in hammers {
            rows.push((
                format!("{} ({} s)", h.what, args.hammer_secs),
                h.concurrency,
                &h.stats,
            ));
        }
        for (label, c, stats) in rows {
            let mut row = format!("| {label} | {c} |");
            for st in stats {
                row += &format!(
                    " {} | {} | {} | {} |",
                    cell(st, st.rps()),
                    ms(st.percentile(0.5)),
                    ms(st.percentile(0.99)),
                    st.cpu_us_per_op()
                        .map_or("-".to_string(), |v| format!("{v:.0}"))
                );
            }
            if two {
                row += &format!(" {} |", fmt_ratio(ratio(&stats[0], &stats[1], Stats::rps)));
            }
            let _ = writeln!(o, "{row}");
        }
        let _ = writeln!(o);
    }

    if !overheads.is_empty() {
        let _ = writeln!(o, "### Authentication overhead (issue 5)\n");
        let _ = writeln!(
            o,
            "Manifest GET by tag of the same image on the same server, with the target's \
             credentials (HTTP Basic with a registry token, verified and authorized on every \
             request) and without any (the repository allows anonymous pull by repository \
             policy), at concurrency {c}: {rounds} rounds of {secs} s per variant, alternating \
             which goes first; figures are totals over the rounds. Ratio = authenticated / \
             anonymous req/s.\n",
            c = args.auth_overhead_concurrency,
            rounds = args.auth_overhead_rounds,
            secs = args.auth_overhead_secs
        );
        let _ = writeln!(
            o,
            "| target | repository | variant | req/s | p50 ms | p99 ms | server CPU µs/req |"
        );
        let _ = writeln!(o, "|---|---|---|---:|---:|---:|---:|");
        for ov in overheads {
            for (variant, st) in [
                ("authenticated", &ov.authenticated),
                ("anonymous", &ov.anonymous),
            ] {
                let _ = writeln!(
                    o,
                    "| {} | {} | {variant} | {} | {} | {} | {} |",
                    ov.target,
                    ov.repo,
                    cell(st, st.rps()),
                    ms(st.percentile(0.5)),
                    ms(st.percentile(0.99)),
                    st.cpu_us_per_op()
                        .map_or("-".to_string(), |v| format!("{v:.0}"))
                );
            }
            let r = ratio(&ov.authenticated, &ov.anonymous, Stats::rps);
            let cpu = ov
                .authenticated
                .cpu_us_per_op()
                .zip(ov.anonymous.cpu_us_per_op())
                .map(|(a, b)| a / b);
            let _ = writeln!(
                o,
                "\nRatio: **{}** of the anonymous rate (target: at least 0.90); server CPU per \
                 request, authenticated / anonymous: {}.\n",
                r.map_or("n/a".to_string(), |r| format!("{r:.3}")),
                cpu.map_or("n/a".to_string(), |c| format!("{c:.2}x"))
            );
        }
    }

    let failures: Vec<String> = cells
        .iter()
        .flat_map(|c| c.push.iter().chain(&c.pull))
        .chain(
            single
                .into_iter()
                .flat_map(|s| s.push_docker.iter().chain(&s.push_mono).chain(&s.pull)),
        )
        .chain(hammers.iter().flat_map(|h| &h.stats))
        .chain(
            overheads
                .iter()
                .flat_map(|ov| [&ov.authenticated, &ov.anonymous]),
        )
        .filter_map(|s| s.first_error.clone())
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(o, "### Errors\n");
        for f in failures.iter().take(10) {
            let _ = writeln!(o, "- {f}");
        }
        let _ = writeln!(o);
    }
    o
}
