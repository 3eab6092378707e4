//! Fixtures for the black-box tests: pseudo-random blobs, a thin blocking client that pushes blobs
//! (monolithic, single POST, chunked) and manifests, builders for OCI and Docker manifests and
//! indexes, and assertions on the spec's JSON error body.
//!
//! Everything here talks to the server over HTTP only, so that a test reads like the wire
//! exchange the OCI Distribution Specification describes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::TestServer;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The digest of the two bytes `{}`, the OCI empty descriptor's content.
pub const EMPTY_JSON_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// Every error code the spec defines (plus the legacy `TAG_INVALID` and `RANGE_INVALID` the
/// contract adds); any `code` a server sends must be one of them.
pub const ERROR_CODES: &[&str] = &[
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "MANIFEST_UNVERIFIED",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "TAG_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
    "RANGE_INVALID",
];

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A splitmix64 generator: fast and good enough for test content, and seeded per call so that
/// parallel tests never produce the same blob by accident.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Rng::from_seed(nanos ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9e37))
    }

    pub fn from_seed(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

impl Default for Rng {
    fn default() -> Self {
        Rng::new()
    }
}

pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    Rng::new().fill(&mut v);
    v
}

/// A repository name that is valid per the spec's grammar and unique within this process.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{:08x}", Rng::new().next_u64() as u32)
}

/// Content with its digest and the media type it is referenced with.
#[derive(Debug, Clone)]
pub struct Blob {
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
}

impl Blob {
    pub fn new(bytes: impl Into<Vec<u8>>, media_type: &str) -> Blob {
        let bytes = bytes.into();
        Blob {
            digest: sha256_digest(&bytes),
            bytes,
            media_type: media_type.to_owned(),
        }
    }

    pub fn random(len: usize, media_type: &str) -> Blob {
        Blob::new(random_bytes(len), media_type)
    }

    /// A minimal but plausible image config with a random label so each is distinct.
    pub fn config(media_type: &str) -> Blob {
        let v = json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Labels": { "nonce": format!("{:016x}", Rng::new().next_u64()) } },
            "rootfs": { "type": "layers", "diff_ids": [] },
        });
        Blob::new(serde_json::to_vec(&v).expect("json"), media_type)
    }

    /// The OCI empty descriptor's content, `{}`.
    pub fn empty_json() -> Blob {
        Blob::new(b"{}".to_vec(), OCI_EMPTY)
    }

    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    pub fn descriptor(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len() })
    }
}

/// An OCI image manifest referencing `config` and `layers`.
pub fn oci_manifest(config: &Blob, layers: &[&Blob]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": layers.iter().map(|l| l.descriptor()).collect::<Vec<_>>(),
    })
}

/// A Docker schema 2 manifest referencing `config` and `layers`.
pub fn docker_manifest(config: &Blob, layers: &[&Blob]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config.descriptor(),
        "layers": layers.iter().map(|l| l.descriptor()).collect::<Vec<_>>(),
    })
}

/// An index (`OCI_INDEX`) or manifest list (`DOCKER_MANIFEST_LIST`) over manifests given as
/// `Blob`s whose `media_type` is the manifest's own; each gets a distinct platform.
pub fn index_of(media_type: &str, manifests: &[&Blob]) -> Value {
    let archs = ["amd64", "arm64", "riscv64", "s390x", "ppc64le", "386"];
    let entries: Vec<Value> = manifests
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut d = m.descriptor();
            d["platform"] = json!({ "architecture": archs[i % archs.len()], "os": "linux" });
            d
        })
        .collect();
    json!({ "schemaVersion": 2, "mediaType": media_type, "manifests": entries })
}

/// The bytes a test pushes for a manifest value; tests keep these bytes, since the registry must
/// store and serve exactly them.
pub fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("json")
}

/// Percent-encodes a query value: everything outside the unreserved set, so that `+` in media
/// types and `:` in digests arrive as sent.
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Appends `key=value` to a location that may already carry a query string.
pub fn with_query(location: &str, key: &str, value: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}{key}={}", encode_query(value))
}

/// A response header as a string, if present and valid UTF-8.
pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// How long a [`Registry`] request may take unless a test says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The `code`s of a spec error body, or `None` when the body is not one.
pub fn error_codes(body: &[u8]) -> Option<Vec<String>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let errors = v.get("errors")?.as_array()?;
    errors
        .iter()
        .map(|e| e.get("code").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Asserts the status and that the body is the spec's error JSON holding `code`: a non-empty
/// `errors` array whose every code is upper-case letters and underscores, with a string
/// `message` when one is present.
#[track_caller]
pub fn assert_error(resp: Response, status: u16, code: &str) {
    assert_error_in(resp, &[status], &[code]);
}

/// As [`assert_error`], accepting any of `statuses` and any of `codes` where the spec leaves a
/// choice (e.g. 413 or 400 for an oversized manifest).
#[track_caller]
pub fn assert_error_in(resp: Response, statuses: &[u16], codes: &[&str]) {
    let got = resp.status().as_u16();
    let url = resp.url().to_string();
    let body = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    assert!(
        statuses.contains(&got),
        "{url}: status {got}, expected one of {statuses:?}; body: {text}"
    );
    check_error_body(&url, &body, codes);
}

#[track_caller]
fn check_error_body(url: &str, body: &[u8], codes: &[&str]) {
    let text = String::from_utf8_lossy(body);
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{url}: error body is not JSON ({e}): {text}"));
    let errors = v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{url}: no `errors` array: {text}"));
    assert!(!errors.is_empty(), "{url}: empty `errors`: {text}");
    for e in errors {
        let c = e["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{url}: error without a string `code`: {text}"));
        assert!(
            !c.is_empty() && c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
            "{url}: code {c:?} is not upper-case letters and underscores"
        );
        if let Some(m) = e.get("message") {
            assert!(m.is_string(), "{url}: `message` is not a string: {text}");
        }
    }
    let found: Vec<&str> = errors.iter().filter_map(|e| e["code"].as_str()).collect();
    assert!(
        found.iter().any(|c| codes.contains(c)),
        "{url}: codes {found:?}, expected one of {codes:?}; body: {text}"
    );
}

/// A blocking client bound to one server and one identity. It never follows redirects, so that
/// tests see the status and `Location` the server sends.
#[derive(Clone)]
pub struct Registry {
    pub base: String,
    pub client: Client,
    /// The `Authorization` value sent with every request, if any.
    auth: Option<String>,
}

impl Registry {
    /// A client that authenticates as the server's bootstrap administrator (full access), as
    /// every ordinary registry client does after `docker login`.
    pub fn new(server: &TestServer) -> Registry {
        Registry::with_auth(&server.base_url, &server.admin_basic_auth())
    }

    /// A client that sends no credentials, for tests of what anonymous callers get.
    pub fn anonymous(server: &TestServer) -> Registry {
        Registry::build(&server.base_url, None, Some(DEFAULT_TIMEOUT))
    }

    /// A client that sends `Authorization: <header>` (e.g. from [`crate::basic_auth`] or
    /// `Bearer <token>`) with every request.
    pub fn with_auth(base_url: &str, header: &str) -> Registry {
        Registry::build(base_url, Some(header.to_owned()), Some(DEFAULT_TIMEOUT))
    }

    /// The same base URL and identity with another overall request timeout (`None`: none).
    pub fn with_timeout(&self, timeout: Option<Duration>) -> Registry {
        Registry::build(&self.base, self.auth.clone(), timeout)
    }

    fn build(base_url: &str, auth: Option<String>, timeout: Option<Duration>) -> Registry {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(a) = &auth {
            let mut value = reqwest::header::HeaderValue::from_str(a).expect("Authorization value");
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let mut b = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .pool_max_idle_per_host(4)
            .connect_timeout(Duration::from_secs(10));
        b = match timeout {
            Some(t) => b.timeout(t),
            None => b.timeout(None),
        };
        Registry {
            base: base_url.trim_end_matches('/').to_owned(),
            client: b.build().expect("reqwest client"),
            auth,
        }
    }

    /// The `Authorization` value this client sends, for raw-socket requests made on its behalf.
    pub fn auth_header(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    /// An absolute URL for a path (`/v2/...`) or a `Location` the server returned, which may be
    /// relative or absolute.
    pub fn url(&self, path_or_location: &str) -> String {
        if path_or_location.starts_with("http://") || path_or_location.starts_with("https://") {
            path_or_location.to_owned()
        } else if path_or_location.starts_with('/') {
            format!("{}{path_or_location}", self.base)
        } else {
            format!("{}/{path_or_location}", self.base)
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn head(&self, path: &str) -> RequestBuilder {
        self.request(Method::HEAD, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// `POST /v2/<repo>/blobs/uploads/`, asserting 202 and a `Location`; returns the location.
    #[track_caller]
    pub fn start_upload(&self, repo: &str) -> String {
        let resp = self
            .post(&format!("/v2/{repo}/blobs/uploads/"))
            .header("Content-Length", "0")
            .send()
            .expect("POST upload");
        assert_eq!(
            resp.status().as_u16(),
            202,
            "POST /v2/{repo}/blobs/uploads/"
        );
        header(&resp, "Location").expect("upload Location")
    }

    /// POST then PUT with the whole body; asserts 201 and returns the digest.
    #[track_caller]
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let loc = self.start_upload(repo);
        let resp = self
            .put(&with_query(&loc, "digest", &digest))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .expect("PUT upload");
        let status = resp.status().as_u16();
        assert_eq!(
            status,
            201,
            "PUT {loc}: {}",
            resp.text().unwrap_or_default()
        );
        digest
    }

    /// A single `POST ?digest=`; asserts 201 and returns the digest.
    #[track_caller]
    pub fn push_blob_single_post(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let resp = self
            .post(&with_query(
                &format!("/v2/{repo}/blobs/uploads/"),
                "digest",
                &digest,
            ))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .expect("POST ?digest=");
        let status = resp.status().as_u16();
        assert_eq!(
            status,
            201,
            "POST ?digest=: {}",
            resp.text().unwrap_or_default()
        );
        digest
    }

    /// POST, PATCH chunks of `chunk` bytes with `Content-Range`, then PUT `?digest=` with no body;
    /// asserts each status and the `Range` after each chunk, returns the digest.
    #[track_caller]
    pub fn push_blob_chunked(&self, repo: &str, bytes: &[u8], chunk: usize) -> String {
        let digest = sha256_digest(bytes);
        let mut loc = self.start_upload(repo);
        let mut offset = 0;
        for part in bytes.chunks(chunk.max(1)) {
            let end = offset + part.len() - 1;
            let resp = self.patch_chunk(&loc, offset, part);
            assert_eq!(resp.status().as_u16(), 202, "PATCH {offset}-{end}");
            assert_eq!(
                header(&resp, "Range").as_deref(),
                Some(&*format!("0-{end}"))
            );
            loc = header(&resp, "Location").expect("PATCH Location");
            offset += part.len();
        }
        let resp = self
            .put(&with_query(&loc, "digest", &digest))
            .header("Content-Length", "0")
            .send()
            .expect("PUT close");
        let status = resp.status().as_u16();
        assert_eq!(
            status,
            201,
            "PUT close: {}",
            resp.text().unwrap_or_default()
        );
        digest
    }

    /// One PATCH carrying `part` at `offset`.
    pub fn patch_chunk(&self, location: &str, offset: usize, part: &[u8]) -> Response {
        let end = (offset + part.len()).saturating_sub(1);
        self.patch(location)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{offset}-{end}"))
            .body(part.to_vec())
            .send()
            .expect("PATCH")
    }

    pub fn push(&self, repo: &str, blob: &Blob) -> String {
        self.push_blob(repo, &blob.bytes)
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with `Content-Type: media_type`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Response {
        self.put(&format!("/v2/{repo}/manifests/{reference}"))
            .header("Content-Type", media_type)
            .body(bytes.to_vec())
            .send()
            .expect("PUT manifest")
    }

    /// As [`Registry::put_manifest`], asserting 201; returns the manifest's digest.
    #[track_caller]
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let resp = self.put_manifest(repo, reference, media_type, bytes);
        let status = resp.status().as_u16();
        assert_eq!(
            status,
            201,
            "PUT /v2/{repo}/manifests/{reference}: {}",
            resp.text().unwrap_or_default()
        );
        sha256_digest(bytes)
    }

    /// Pushes a config, `layers` random layers of `layer_size` bytes and an OCI manifest tagged
    /// `tag`.
    #[track_caller]
    pub fn push_image(&self, repo: &str, tag: &str, layers: usize, layer_size: usize) -> Image {
        let config = Blob::config(OCI_CONFIG);
        self.push(repo, &config);
        let layers: Vec<Blob> = (0..layers)
            .map(|_| Blob::random(layer_size, OCI_LAYER))
            .collect();
        for l in &layers {
            self.push(repo, l);
        }
        let refs: Vec<&Blob> = layers.iter().collect();
        let manifest = Blob::new(to_bytes(&oci_manifest(&config, &refs)), OCI_MANIFEST);
        self.push_manifest(repo, tag, OCI_MANIFEST, &manifest.bytes);
        Image {
            config,
            layers,
            manifest,
        }
    }

    /// GET a blob, returning (status, body).
    pub fn get_blob(&self, repo: &str, digest: &str) -> (u16, Vec<u8>) {
        let resp = self
            .get(&format!("/v2/{repo}/blobs/{digest}"))
            .send()
            .expect("GET blob");
        let status = resp.status().as_u16();
        (status, resp.bytes().map(|b| b.to_vec()).unwrap_or_default())
    }

    /// The tags of `repo`, all pages.
    #[track_caller]
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let resp = self
            .get(&format!("/v2/{repo}/tags/list"))
            .send()
            .expect("GET tags");
        assert_eq!(resp.status().as_u16(), 200, "tags/list of {repo}");
        let v: Value = resp.json().expect("tags json");
        v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What [`Registry::push_image`] pushed.
#[derive(Debug, Clone)]
pub struct Image {
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub manifest: Blob,
}

/// Sends raw bytes on a fresh connection and reads the answer until the server closes it or
/// `timeout` passes; for tests that need byte-level control.
pub fn raw_exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(timeout)).expect("timeout");
    s.write_all(request).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

/// The status code of a raw HTTP/1.x response, if it starts with a status line.
pub fn raw_status(response: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(response.get(..12.min(response.len()))?).ok()?;
    let mut parts = text.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// The server's resident set size in KiB, from `/proc/<pid>/status`.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The head of a raw HTTP/1.1 request (request line, `Host`, the given headers, blank line), for
/// tests that stream or cut the body themselves.
pub fn raw_request_head(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, String)],
) -> String {
    let mut s = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s
}

/// Every file under `DIR/blobs/sha256/` whose name is a sha256 hex, with whether its content
/// hashes to its name: committed blobs must never be partial.
pub fn committed_blob_files(data_dir: &std::path::Path) -> Vec<(std::path::PathBuf, bool)> {
    let root = data_dir.join("blobs").join("sha256");
    let mut out = Vec::new();
    let Ok(prefixes) = std::fs::read_dir(&root) else {
        return out;
    };
    for prefix in prefixes.flatten() {
        let Ok(files) = std::fs::read_dir(prefix.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let ok = hash_file(&f.path()).map(|h| h == name).unwrap_or(false);
            out.push((f.path(), ok));
        }
    }
    out
}

fn hash_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
