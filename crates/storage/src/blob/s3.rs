//! Blobs in an S3-compatible bucket (AWS S3, Garage, MinIO), through `object_store`.
//!
//! Keys under the configured prefix:
//!
//! ```text
//! <prefix>blobs/<alg>/<hex>                 committed blobs, only ever written whole
//! <prefix>uploads/<id>/created              the upload exists (written by create_upload)
//! <prefix>uploads/<id>/tail-<start>-<uuid>  staged bytes that do not fill a part yet, in order
//! <prefix>uploads/<id>/data                 the upload's multipart upload, completed at commit
//! <prefix>ready/<uuid>                      readiness probes, removed at once
//! ```
//!
//! An upload keeps its progress in the state the caller persists (see [`BlobStore`]), not on
//! the node that took the last request, so consecutive appends may land on different nodes.
//! The state is JSON: the length, the multipart upload's id and its parts (number, ETag,
//! size), the tail pieces (name, length) and the pieces an append has made obsolete.
//!
//! S3 wants every part but the last to hold at least 5 MiB, while clients send chunks of any
//! size. Bytes that arrive short of a whole part are stored as a small tail piece; an append
//! that reaches [`PART_SIZE`] reads the pieces back and sends them, with the new bytes, as the
//! next part. Each append stores only what it received (one new piece), so many small chunks
//! cost linear, not quadratic, traffic; at most [`MAX_TAIL_PIECES`] pieces are kept before
//! they are merged. An append holds at most one part in memory.
//!
//! Pieces are never deleted by the append that replaces them: the caller may fail to persist
//! the new state (a crash between the append and the metadata write) and resume from the old
//! one, which still names them. The new state lists them as superseded instead, and the next
//! append deletes them, since being passed that state means it was persisted. Commit and abort
//! remove everything under `uploads/<id>/`.
//!
//! `object_store` cannot list the bucket's multipart uploads, so a multipart upload whose id
//! never reached a persisted state (a node killed in the append that created it) is not found
//! by [`list_uploads`](BlobStore::list_uploads): give the bucket a lifecycle rule that aborts
//! incomplete multipart uploads after a day (AWS and Garage both have
//! `AbortIncompleteMultipartUpload`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use portcullis_oci::Digest;
use serde::{Deserialize, Serialize};

use super::{Appended, BlobRead, BlobStore, ByteStream};
use crate::layout::valid_upload_id;
use crate::{Error, Result};

/// Bytes per multipart part (all but the last). Above S3's 5 MiB minimum so that fewer, larger
/// requests carry a push, and small enough to hold one per append in flight. With S3's limit of
/// 10,000 parts, one upload holds at most 78 GiB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's limit on the parts of one multipart upload.
const MAX_PARTS: usize = 10_000;
/// Tail pieces kept before an append merges them into one: bounds the state's size and the
/// requests a part flush makes when a client sends tiny chunks.
pub const MAX_TAIL_PIECES: usize = 32;
/// Bounds every request but streamed reads; a part of [`PART_SIZE`] fits easily.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys per DeleteObjects request: S3's limit.
const DELETE_BATCH: usize = 1000;
/// DeleteObjects requests [`BlobStore::delete_many`] keeps in flight.
const DELETE_BATCHES_IN_FLIGHT: usize = 4;
const MARKER: &str = "created";
const STAGED: &str = "data";
const BACKEND: &str = "s3";

/// Where the bucket is and how to reach it. Plain data: the binary fills it from its
/// configuration (secrets read from files or the environment).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Config {
    /// The S3 API's base URL (`http://127.0.0.1:3900`); `None` means AWS's endpoint for
    /// `region`. With virtual-hosted addressing (`path_style` off) a custom endpoint must be
    /// the bucket's own host.
    pub endpoint: Option<String>,
    /// The region requests are signed for (`us-east-1`; Garage's is `garage` by default).
    pub region: String,
    pub bucket: String,
    /// Prepended to every key, as a folder: `team-a/` keeps this registry under `team-a/`. A
    /// missing final `/` is implied; empty means the bucket's root.
    pub prefix: String,
    /// Path-style addressing (`<endpoint>/<bucket>/<key>`), which Garage and MinIO need unless
    /// their DNS serves bucket names; otherwise virtual-hosted (`<bucket>.<endpoint>/<key>`).
    pub path_style: bool,
    /// Static credentials; with neither set, the instance's role is used (container or EC2
    /// metadata).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// The endpoint clients reach the bucket at, when it differs from `endpoint` (the registry
    /// talks to the store on an internal address): presigned URLs are made for this host.
    pub redirect_endpoint: Option<String>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("redirect_endpoint", &self.redirect_endpoint)
            .finish()
    }
}

pub struct S3BlobStore {
    /// Every request but streamed reads, each bounded by [`REQUEST_TIMEOUT`].
    store: AmazonS3,
    /// Streamed reads: pulling a large blob to a slow client may take longer than any fixed
    /// timeout, so only connecting is bounded.
    reader: AmazonS3,
    /// Signs presigned URLs, for `redirect_endpoint` when set; it never sends a request.
    signer: AmazonS3,
    base: Path,
    bucket: String,
}

impl fmt::Debug for S3BlobStore {
    // By hand: the clients' own Debug output would include their credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.base.as_ref())
            .finish_non_exhaustive()
    }
}

fn client(cfg: &S3Config, endpoint: Option<&str>, timeout: Option<Duration>) -> Result<AmazonS3> {
    let options = ClientOptions::new().with_connect_timeout(CONNECT_TIMEOUT);
    let options = match timeout {
        Some(t) => options.with_timeout(t),
        None => options.with_timeout_disabled(),
    };
    let mut builder = AmazonS3Builder::new()
        .with_region(&cfg.region)
        .with_bucket_name(&cfg.bucket)
        .with_virtual_hosted_style_request(!cfg.path_style)
        .with_client_options(options);
    if let Some(endpoint) = endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    match (&cfg.access_key_id, &cfg.secret_access_key) {
        (Some(id), Some(secret)) => {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        (None, None) => {}
        _ => {
            return Err(Error::Config(
                "give both an S3 access key id and its secret access key, or neither".into(),
            ))
        }
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("S3 bucket `{}`: {e}", cfg.bucket)))
}

impl S3BlobStore {
    /// Builds the clients for `cfg`. Sends no request: [`BlobStore::check`] tells whether the
    /// bucket is reachable and writable.
    pub fn open(cfg: &S3Config) -> Result<Self> {
        if cfg.bucket.is_empty() {
            return Err(Error::Config("the S3 bucket name is empty".into()));
        }
        let base = Path::parse(&cfg.prefix)
            .map_err(|e| Error::Config(format!("S3 prefix `{}`: {e}", cfg.prefix)))?;
        let endpoint = cfg.endpoint.as_deref();
        let store = client(cfg, endpoint, Some(REQUEST_TIMEOUT))?;
        let reader = client(cfg, endpoint, None)?;
        let signer = match cfg.redirect_endpoint.as_deref() {
            Some(redirect) => client(cfg, Some(redirect), Some(REQUEST_TIMEOUT))?,
            None => store.clone(),
        };
        Ok(S3BlobStore {
            store,
            reader,
            signer,
            base,
            bucket: cfg.bucket.clone(),
        })
    }

    fn key(&self, segments: &[&str]) -> Path {
        segments
            .iter()
            .fold(self.base.clone(), |path, segment| path.join(*segment))
    }

    fn blob_key(&self, digest: &Digest) -> Path {
        self.key(&["blobs", digest.algorithm().name(), digest.hex()])
    }

    /// The folder of upload `id`; ids of another form are unknown, as on the filesystem.
    fn upload_dir(&self, id: &str) -> Result<Path> {
        if valid_upload_id(id) {
            Ok(self.key(&["uploads", id]))
        } else {
            Err(Error::UploadUnknown(id.to_owned()))
        }
    }

    /// The digest whose blob [`blob_key`](Self::blob_key) puts at `key`, `None` for a key it
    /// never gives. `blobs` is `blob_key`'s folder, `<prefix>blobs`.
    fn digest_at(blobs: &Path, key: &Path) -> Option<Digest> {
        let mut parts = key.prefix_match(blobs)?;
        let (alg, hex) = (parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        // Parsing refuses what blob_key cannot have written: an unknown algorithm, hex of the
        // wrong length or case (and so any percent-encoded part).
        format!("{}:{}", alg.as_ref(), hex.as_ref()).parse().ok()
    }

    /// Deletes the blobs `digests` (at most [`DELETE_BATCH`]) with one DeleteObjects request.
    async fn delete_batch(&self, digests: &[Digest]) -> Vec<Result<()>> {
        let keys: Vec<Path> = digests.iter().map(|d| self.blob_key(d)).collect();
        let sent = futures::stream::iter(keys.clone().into_iter().map(Ok)).boxed();
        let answers: Vec<object_store::Result<Path>> =
            self.store.delete_stream(sent).collect().await;
        // DeleteObjects deletes absent keys without complaint, so a NotFound can only come
        // from elsewhere (an S3-compatible store, or a missing bucket); either way the blob
        // is not there, which is what the caller asked for.
        if answers.len() == keys.len() {
            // One answer per key, in the order sent (object_store keeps it).
            return keys
                .iter()
                .zip(answers)
                .map(|(key, answer)| match answer {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(os_error("DeleteObjects", key, e)),
                })
                .collect();
        }
        // The request itself failed (refused, timed out): object_store then yields one error
        // for the whole batch, which every key of it shares.
        let failure = answers.into_iter().find_map(Result::err);
        if let Some(object_store::Error::NotFound { .. }) = failure {
            return keys.iter().map(|_| Ok(())).collect();
        }
        let failure = Arc::new(failure.unwrap_or_else(|| {
            object_store::Error::Generic {
                store: BACKEND,
                source: format!(
                    "DeleteObjects answered for fewer than the {} keys sent",
                    keys.len()
                )
                .into(),
            }
        }));
        keys.iter()
            .map(|key| {
                Err(Error::ObjectStore {
                    what: format!("DeleteObjects `{key}`"),
                    source: Box::new(Arc::clone(&failure)),
                })
            })
            .collect()
    }

    async fn size_of(&self, key: &Path) -> Result<Option<u64>> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(os_error("HEAD", key, e)),
        }
    }

    async fn exists(&self, dir: &Path) -> Result<bool> {
        Ok(self.size_of(&dir.clone().join(MARKER)).await?.is_some())
    }

    /// The bytes of the tail `pieces`, in order; at most a part's worth.
    async fn read_pieces(&self, id: &str, dir: &Path, pieces: &[Piece]) -> Result<Vec<Bytes>> {
        let mut out = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let key = dir.clone().join(piece.name.as_str());
            let got = match self.store.get(&key).await {
                Ok(got) => got.bytes().await.map_err(|e| os_error("GET", &key, e))?,
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(Error::UploadUnknown(id.to_owned()))
                }
                Err(e) => return Err(os_error("GET", &key, e)),
            };
            if got.len() as u64 != piece.len {
                return Err(Error::Corrupt(format!(
                    "`{key}` holds {} bytes, not the {} its upload recorded",
                    got.len(),
                    piece.len
                )));
            }
            out.push(got);
        }
        Ok(out)
    }

    /// Sends the tail pieces and the first bytes of `pending` as the next whole part.
    async fn flush_part(
        &self,
        id: &str,
        dir: &Path,
        state: &mut UploadState,
        pending: &mut Pending,
    ) -> Result<()> {
        if state.parts.len() + 1 >= MAX_PARTS {
            return Err(Error::Unsupported {
                backend: BACKEND,
                what: "stage a blob of more than 10,000 parts (78 GiB)",
            });
        }
        let tail_len = state.tail_len() as usize;
        let mut payload = self.read_pieces(id, dir, &state.tail).await?;
        payload.extend(pending.take(PART_SIZE.saturating_sub(tail_len)));
        let staged = dir.clone().join(STAGED);
        let multipart = match &state.multipart {
            Some(m) => m.clone(),
            None => {
                let m = self
                    .store
                    .create_multipart(&staged)
                    .await
                    .map_err(|e| os_error("CreateMultipartUpload", &staged, e))?;
                state.multipart = Some(m.clone());
                m
            }
        };
        let part = self
            .store
            .put_part(
                &staged,
                &multipart,
                state.parts.len(),
                PutPayload::from_iter(payload),
            )
            .await
            .map_err(|e| os_error("UploadPart", &staged, e))?;
        state.parts.push(Part {
            number: state.parts.len() as u32 + 1,
            etag: part.content_id,
            size: PART_SIZE as u64,
        });
        let consumed = std::mem::take(&mut state.tail);
        state
            .superseded
            .extend(consumed.into_iter().map(|p| p.name));
        Ok(())
    }

    /// Stores `pending` (less than what would fill the part) as a new tail piece starting at
    /// `start`, first merging the pieces when there are too many.
    async fn put_piece(
        &self,
        id: &str,
        dir: &Path,
        state: &mut UploadState,
        mut pending: Pending,
        mut start: u64,
    ) -> Result<()> {
        if state.tail.len() >= MAX_TAIL_PIECES {
            let merged = self.read_pieces(id, dir, &state.tail).await?;
            start -= state.tail_len();
            for chunk in merged.into_iter().rev() {
                pending.push_front(chunk);
            }
            let consumed = std::mem::take(&mut state.tail);
            state
                .superseded
                .extend(consumed.into_iter().map(|p| p.name));
        }
        let name = format!("tail-{start:020}-{}", uuid::Uuid::new_v4().simple());
        let key = dir.clone().join(name.as_str());
        let len = pending.len as u64;
        self.store
            .put(&key, PutPayload::from_iter(pending.chunks))
            .await
            .map_err(|e| os_error("PUT", &key, e))?;
        state.tail.push(Piece { name, len });
        Ok(())
    }

    /// Deletes the objects `names` under `dir`, as housekeeping: a failure only leaves them
    /// for the commit or abort that removes the whole folder.
    async fn delete_quietly(&self, id: &str, dir: &Path, names: Vec<String>) {
        for name in names {
            let key = dir.clone().join(name.as_str());
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(upload = %id, key = %key, error = %e, "removing a superseded tail piece failed");
                }
            }
        }
    }

    /// Deletes every object under `dir`.
    async fn remove_all(&self, dir: &Path) -> Result<()> {
        let keys: Vec<Path> = self
            .store
            .list(Some(dir))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| os_error("LIST", dir, e))?;
        let keys = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
        let mut deleted = self.store.delete_stream(keys);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(os_error("DELETE", dir, e)),
            }
        }
        Ok(())
    }

    async fn abort_multipart(&self, dir: &Path, multipart: &str) -> Result<()> {
        let staged = dir.clone().join(STAGED);
        match self
            .store
            .abort_multipart(&staged, &multipart.to_owned())
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(os_error("AbortMultipartUpload", &staged, e)),
        }
    }

    /// Completes the multipart upload into the staging key, with the tail as its last part,
    /// and returns that key.
    async fn complete(
        &self,
        id: &str,
        dir: &Path,
        state: &UploadState,
        multipart: &str,
    ) -> Result<Path> {
        let staged = dir.clone().join(STAGED);
        // A commit retried after a failed copy finds the upload already completed.
        if self.size_of(&staged).await? == Some(state.len) {
            return Ok(staged);
        }
        let multipart = multipart.to_owned();
        let mut parts: Vec<PartId> = state
            .parts
            .iter()
            .map(|p| PartId {
                content_id: p.etag.clone(),
            })
            .collect();
        if !state.tail.is_empty() {
            let last = self.read_pieces(id, dir, &state.tail).await?;
            let part = self
                .store
                .put_part(
                    &staged,
                    &multipart,
                    parts.len(),
                    PutPayload::from_iter(last),
                )
                .await
                .map_err(|e| os_error("UploadPart", &staged, e))?;
            parts.push(part);
        }
        self.store
            .complete_multipart(&staged, &multipart, parts)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => Error::UploadUnknown(id.to_owned()),
                e => os_error("CompleteMultipartUpload", &staged, e),
            })?;
        match self.size_of(&staged).await? {
            Some(size) if size == state.len => Ok(staged),
            size => Err(Error::Corrupt(format!(
                "the completed upload `{staged}` holds {size:?} bytes, not the {} staged",
                state.len
            ))),
        }
    }
}

fn os_error(op: &str, key: &Path, source: object_store::Error) -> Error {
    Error::ObjectStore {
        what: format!("{op} `{key}`"),
        source: Box::new(source),
    }
}

/// An upload's progress, as kept in the state the caller persists.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadState {
    /// Bytes staged: the parts' and the tail's.
    len: u64,
    /// The multipart upload's id, created by the first whole part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    multipart: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    parts: Vec<Part>,
    /// Bytes after the last part, in order; less than a part in all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tail: Vec<Piece>,
    /// Pieces that the previous state named and this one does not: deleted by the next append.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    superseded: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Part {
    number: u32,
    etag: String,
    size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Piece {
    name: String,
    len: u64,
}

impl UploadState {
    fn tail_len(&self) -> u64 {
        self.tail.iter().map(|p| p.len).sum()
    }

    /// Reads the state the caller passed for upload `id`, refusing one this backend could not
    /// have written: it names keys, so its names are checked before any is used.
    fn parse(id: &str, state: Option<&str>) -> Result<Self> {
        let refuse = |reason: String| Error::UploadState {
            id: id.to_owned(),
            reason,
        };
        let Some(text) = state else {
            return Err(refuse(
                "none was given, and S3 uploads need the state their last call returned".into(),
            ));
        };
        let state: UploadState = serde_json::from_str(text)
            .map_err(|e| refuse(format!("not an S3 upload state: {e}")))?;
        let piece_name = |name: &str| {
            name.starts_with("tail-")
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !state
            .tail
            .iter()
            .map(|p| p.name.as_str())
            .chain(state.superseded.iter().map(String::as_str))
            .all(piece_name)
        {
            return Err(refuse("it names an object that is no tail piece".into()));
        }
        let numbered = state
            .parts
            .iter()
            .enumerate()
            .all(|(i, p)| p.number as usize == i + 1 && p.size == PART_SIZE as u64);
        if !numbered || state.multipart.is_none() != state.parts.is_empty() {
            return Err(refuse("its parts are out of order".into()));
        }
        let parts: u64 = state.parts.iter().map(|p| p.size).sum();
        if state.tail_len() >= PART_SIZE as u64 || parts + state.tail_len() != state.len {
            return Err(refuse(format!(
                "its parts and tail do not add up to its {} bytes",
                state.len
            )));
        }
        Ok(state)
    }

    fn encode(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| Error::Corrupt(format!("encoding an upload state: {e}")))
    }
}

/// Received bytes not yet stored, kept as the chunks they came in (no copy).
#[derive(Default)]
struct Pending {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Pending {
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    fn push_front(&mut self, chunk: Bytes) {
        self.len += chunk.len();
        self.chunks.push_front(chunk);
    }

    /// Removes and returns the first `n` bytes (or all there are).
    fn take(&mut self, mut n: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        while n > 0 {
            let Some(mut chunk) = self.chunks.pop_front() else {
                break;
            };
            if chunk.len() > n {
                let rest = chunk.split_off(n);
                self.chunks.push_front(rest);
            }
            n -= chunk.len();
            self.len -= chunk.len();
            out.push(chunk);
        }
        out
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check(&self) -> Result<()> {
        let probe = self.key(&["ready", &uuid::Uuid::new_v4().simple().to_string()]);
        self.store
            .put(&probe, PutPayload::from(Bytes::from_static(b"ok")))
            .await
            .map_err(|e| os_error("PUT", &probe, e))?;
        self.store
            .delete(&probe)
            .await
            .map_err(|e| os_error("DELETE", &probe, e))
    }

    async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        self.size_of(&self.blob_key(digest)).await
    }

    async fn read(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<Option<BlobRead>> {
        let key = self.blob_key(digest);
        let options = GetOptions {
            range: range.map(|(start, end)| GetRange::Bounded(start..end.saturating_add(1))),
            ..GetOptions::default()
        };
        let got = match self.reader.get_opts(&key, options).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(os_error("GET", &key, e)),
        };
        let len = got.range.end.saturating_sub(got.range.start);
        Ok(Some(BlobRead {
            len,
            stream: got.into_stream().map_err(std::io::Error::other).boxed(),
        }))
    }

    async fn delete(&self, digest: &Digest) -> Result<bool> {
        // S3 answers a DELETE alike whether the key existed or not.
        let key = self.blob_key(digest);
        if self.size_of(&key).await?.is_none() {
            return Ok(false);
        }
        match self.store.delete(&key).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(os_error("DELETE", &key, e)),
        }
    }

    async fn create_upload(&self, id: &str) -> Result<Option<String>> {
        let marker = self.upload_dir(id)?.join(MARKER);
        self.store
            .put(&marker, PutPayload::new())
            .await
            .map_err(|e| os_error("PUT", &marker, e))?;
        UploadState::default().encode().map(Some)
    }

    async fn upload_len(&self, id: &str, state: Option<&str>) -> Result<Option<u64>> {
        let dir = self.upload_dir(id)?;
        if !self.exists(&dir).await? {
            return Ok(None);
        }
        Ok(Some(UploadState::parse(id, state)?.len))
    }

    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        state: Option<&str>,
        mut body: ByteStream,
    ) -> Result<Appended> {
        let dir = self.upload_dir(id)?;
        let mut state = UploadState::parse(id, state)?;
        if !self.exists(&dir).await? {
            return Err(Error::UploadUnknown(id.to_owned()));
        }
        if state.len != offset {
            return Err(Error::UploadOffset {
                id: id.to_owned(),
                expected: offset,
                actual: state.len,
            });
        }
        // Being handed this state means it was persisted, so what it superseded is no one's.
        let obsolete = std::mem::take(&mut state.superseded);
        self.delete_quietly(id, &dir, obsolete).await;

        let mut pending = Pending::default();
        // INVARIANT: state.len counts the parts and tail pieces stored; `pending` is the rest.
        let mut body_error = None;
        while let Some(item) = body.next().await {
            match item {
                Ok(chunk) => {
                    pending.push(chunk);
                    while state.tail_len() as usize + pending.len >= PART_SIZE {
                        self.flush_part(id, &dir, &mut state, &mut pending).await?;
                        // The part took the whole tail with it.
                        state.len = state.parts.len() as u64 * PART_SIZE as u64;
                    }
                }
                Err(e) => {
                    body_error = Some(e);
                    break;
                }
            }
        }
        if pending.len > 0 {
            let start = state.len;
            let added = pending.len as u64;
            self.put_piece(id, &dir, &mut state, pending, start).await?;
            state.len += added;
        }
        let appended = Appended {
            len: state.len,
            state: Some(state.encode()?),
        };
        match body_error {
            Some(source) => Err(Error::BodyAfter { appended, source }),
            None => Ok(appended),
        }
    }

    async fn read_upload(&self, id: &str, state: Option<&str>) -> Result<ByteStream> {
        let dir = self.upload_dir(id)?;
        let state = UploadState::parse(id, state)?;
        if !self.exists(&dir).await? {
            return Err(Error::UploadUnknown(id.to_owned()));
        }
        if state.multipart.is_some() {
            return Err(Error::Unsupported {
                backend: BACKEND,
                what: "read back an upload that holds whole parts (S3 serves no multipart upload before it completes)",
            });
        }
        let keys: Vec<Path> = state
            .tail
            .iter()
            .map(|p| dir.clone().join(p.name.as_str()))
            .collect();
        let reader = self.reader.clone();
        let stream = futures::stream::iter(keys)
            .then(move |key| {
                let reader = reader.clone();
                async move { reader.get(&key).await }
            })
            .map_ok(|got| got.into_stream())
            .try_flatten()
            .map_err(std::io::Error::other);
        Ok(stream.boxed())
    }

    async fn commit_upload(&self, id: &str, state: Option<&str>, digest: &Digest) -> Result<u64> {
        let dir = self.upload_dir(id)?;
        let state = UploadState::parse(id, state)?;
        if !self.exists(&dir).await? {
            return Err(Error::UploadUnknown(id.to_owned()));
        }
        let blob = self.blob_key(digest);
        // Content addressing: a blob already there holds these very bytes (a size that differs
        // says it does not, and it is replaced).
        if self.size_of(&blob).await? != Some(state.len) {
            match (&state.multipart, state.tail.as_slice()) {
                (Some(multipart), _) => {
                    let staged = self.complete(id, &dir, &state, multipart).await?;
                    // S3 has no rename; the copy is server-side (metadata only on Garage).
                    self.store
                        .copy(&staged, &blob)
                        .await
                        .map_err(|e| os_error("COPY", &blob, e))?;
                }
                (None, []) => {
                    self.store
                        .put(&blob, PutPayload::new())
                        .await
                        .map_err(|e| os_error("PUT", &blob, e))?;
                }
                (None, [piece]) => {
                    let key = dir.clone().join(piece.name.as_str());
                    if self.size_of(&key).await? != Some(piece.len) {
                        return Err(Error::Corrupt(format!(
                            "`{key}` does not hold the {} bytes its upload recorded",
                            piece.len
                        )));
                    }
                    self.store
                        .copy(&key, &blob)
                        .await
                        .map_err(|e| os_error("COPY", &blob, e))?;
                }
                (None, pieces) => {
                    // Less than a part in all: one PUT, which S3 makes visible only whole.
                    let bytes = self.read_pieces(id, &dir, pieces).await?;
                    self.store
                        .put(&blob, PutPayload::from_iter(bytes))
                        .await
                        .map_err(|e| os_error("PUT", &blob, e))?;
                }
            }
        } else if let Some(multipart) = &state.multipart {
            if let Err(e) = self.abort_multipart(&dir, multipart).await {
                tracing::warn!(upload = %id, error = %e, "aborting the multipart upload of a blob already stored failed");
            }
        }
        // The blob is committed: staging left behind is the reaper's, not the client's problem.
        if let Err(e) = self.remove_all(&dir).await {
            tracing::warn!(upload = %id, error = %e, "removing the staging objects of a committed upload failed");
        }
        Ok(state.len)
    }

    async fn abort_upload(&self, id: &str, state: Option<&str>) -> Result<()> {
        let dir = self.upload_dir(id)?;
        if state.is_some() {
            match UploadState::parse(id, state) {
                Ok(UploadState {
                    multipart: Some(multipart),
                    ..
                }) => self.abort_multipart(&dir, &multipart).await?,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(upload = %id, error = %e, "aborting an upload whose state is unusable: its multipart upload, if any, is left to the bucket's lifecycle rule");
                }
            }
        }
        self.remove_all(&dir).await
    }

    async fn list_uploads(&self, modified_before_ms: i64) -> Result<Vec<String>> {
        let root = self.key(&["uploads"]);
        // An upload's age is that of its newest object: appends write tail pieces.
        let mut newest: HashMap<String, i64> = HashMap::new();
        let mut listing = self.store.list(Some(&root));
        while let Some(meta) = listing
            .try_next()
            .await
            .map_err(|e| os_error("LIST", &root, e))?
        {
            let Some(id) = meta
                .location
                .prefix_match(&root)
                .and_then(|mut parts| parts.next())
                .map(|part| part.as_ref().to_owned())
            else {
                continue;
            };
            let modified = meta.last_modified.timestamp_millis();
            let entry = newest.entry(id).or_insert(modified);
            *entry = (*entry).max(modified);
        }
        Ok(newest
            .into_iter()
            .filter(|(id, modified)| valid_upload_id(id) && *modified < modified_before_ms)
            .map(|(id, _)| id)
            .collect())
    }

    fn list_blobs(&self) -> BoxStream<'_, Result<(Digest, u64)>> {
        // Only whole blobs are ever written under blobs/ (staging lives under uploads/), so
        // every key there that parses is a committed blob.
        let blobs = self.key(&["blobs"]);
        self.store
            .list(Some(&blobs))
            .filter_map(move |item| {
                let blob = match item {
                    Err(e) => Some(Err(os_error("LIST", &blobs, e))),
                    Ok(meta) => match Self::digest_at(&blobs, &meta.location) {
                        Some(digest) => Some(Ok((digest, meta.size))),
                        None => {
                            tracing::warn!(key = %meta.location, "skipping an object under blobs/ that is no blob's key");
                            None
                        }
                    },
                };
                futures::future::ready(blob)
            })
            .boxed()
    }

    async fn delete_many(&self, digests: &[Digest]) -> Vec<Result<()>> {
        // Collected first: with a lazy `map` over the chunks, the compiler cannot prove the
        // trait's future Send ("implementation of `FnOnce` is not general enough").
        let requests: Vec<_> = digests
            .chunks(DELETE_BATCH)
            .map(|batch| self.delete_batch(batch))
            .collect();
        let batches: Vec<Vec<Result<()>>> = futures::stream::iter(requests)
            .buffered(DELETE_BATCHES_IN_FLIGHT)
            .collect()
            .await;
        batches.into_iter().flatten().collect()
    }

    async fn presigned_get(&self, digest: &Digest, expires: Duration) -> Result<Option<url::Url>> {
        let key = self.blob_key(digest);
        let url = self
            .signer
            .signed_url(http::Method::GET, &key, expires)
            .await
            .map_err(|e| os_error("presigning GET", &key, e))?;
        Ok(Some(url))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testsuite::blob::{body, listed, pattern, put, Upload};

    /// The Garage (or other S3) service of the test command, from `PORTCULLIS_TEST_S3_*`;
    /// `None` when it is not configured, and the S3 cases then pass without running.
    fn test_config() -> Option<S3Config> {
        let var = |name: &str| std::env::var(format!("PORTCULLIS_TEST_S3_{name}")).ok();
        let Some(endpoint) = var("ENDPOINT") else {
            eprintln!("skipped: PORTCULLIS_TEST_S3_ENDPOINT is unset, so no S3 service to test");
            return None;
        };
        Some(S3Config {
            endpoint: Some(endpoint),
            region: var("REGION").unwrap_or_else(|| "garage".into()),
            bucket: var("BUCKET").unwrap_or_else(|| "portcullis".into()),
            prefix: format!("test-{}/", uuid::Uuid::new_v4().simple()),
            path_style: true,
            access_key_id: var("ACCESS_KEY_ID"),
            secret_access_key: var("SECRET_ACCESS_KEY"),
            redirect_endpoint: None,
        })
    }

    /// Empties a case's prefix when the case ends, passed or failed.
    struct Scratch {
        store: AmazonS3,
        prefix: Path,
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let (store, prefix) = (self.store.clone(), self.prefix.clone());
            // Drop cannot await, and the case's runtime is shutting down: a thread with its own
            // runtime does the listing and deleting.
            let cleanup = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async {
                    let keys = store.list(Some(&prefix)).map_ok(|m| m.location).boxed();
                    let _ = store.delete_stream(keys).try_collect::<Vec<_>>().await;
                });
            });
            let _ = cleanup.join();
        }
    }

    async fn fixture() -> Option<(Arc<dyn BlobStore>, Arc<dyn BlobStore>, Scratch)> {
        let cfg = test_config()?;
        let store = S3BlobStore::open(&cfg).expect("open");
        let twin = S3BlobStore::open(&cfg).expect("open twin");
        store.check().await.expect("the test bucket is writable");
        let scratch = Scratch {
            store: store.store.clone(),
            prefix: store.base.clone(),
        };
        Some((Arc::new(store), Arc::new(twin), scratch))
    }

    /// The contract every blob store keeps, on a fresh prefix of the test bucket per case.
    mod contract {
        crate::blob_store_suite!(super::fixture());
    }

    /// Every key under the store's prefix, relative to it.
    async fn keys(store: &S3BlobStore) -> Vec<String> {
        let mut keys: Vec<String> = store
            .store
            .list(Some(&store.base))
            .map_ok(|m| {
                m.location
                    .prefix_match(&store.base)
                    .map(|parts| parts.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .join("/")
            })
            .try_collect()
            .await
            .expect("list");
        keys.sort();
        keys
    }

    fn offline_config() -> S3Config {
        S3Config {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: "garage".into(),
            bucket: "blobs".into(),
            prefix: "team/".into(),
            path_style: true,
            access_key_id: Some("GKexample".into()),
            secret_access_key: Some("hunter2-secret".into()),
            redirect_endpoint: None,
        }
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let cfg = offline_config();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("***") && shown.contains("GKexample"),
            "{shown}"
        );
        let store = S3BlobStore::open(&cfg).expect("open");
        let shown = format!("{store:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn half_given_credentials_are_refused() {
        let cfg = S3Config {
            secret_access_key: None,
            ..offline_config()
        };
        assert!(matches!(S3BlobStore::open(&cfg), Err(Error::Config(_))));
    }

    #[tokio::test]
    async fn presigned_urls_are_made_for_the_redirect_endpoint() {
        let cfg = S3Config {
            redirect_endpoint: Some("https://blobs.example.com".into()),
            ..offline_config()
        };
        let store = S3BlobStore::open(&cfg).expect("open");
        let digest = Digest::sha256_of(b"x");
        let url = store
            .presigned_get(&digest, Duration::from_secs(60))
            .await
            .expect("sign")
            .expect("a url");
        assert_eq!(url.host_str(), Some("blobs.example.com"));
        assert_eq!(
            url.path(),
            format!("/blobs/team/blobs/sha256/{}", digest.hex())
        );
        let query = url.query().unwrap_or_default();
        assert!(query.contains("X-Amz-Signature="), "{url}");
        assert!(query.contains("X-Amz-Expires=60"), "{url}");
        assert!(!url.as_str().contains("hunter2"));
    }

    #[test]
    fn states_this_backend_did_not_write_are_refused() {
        let refused = |state: Option<&str>| {
            matches!(
                UploadState::parse("ab", state),
                Err(Error::UploadState { .. })
            )
        };
        assert!(refused(None));
        assert!(refused(Some("")));
        assert!(refused(Some(r#"{"len":0,"future":1}"#)));
        // Lengths that do not add up, and names that would reach outside the upload's folder.
        assert!(refused(Some(
            r#"{"len":5,"tail":[{"name":"tail-0-a","len":4}]}"#
        )));
        assert!(refused(Some(
            r#"{"len":4,"tail":[{"name":"../x","len":4}]}"#
        )));
        assert!(refused(Some(
            r#"{"len":0,"superseded":["tail/../../blobs"]}"#
        )));
        assert!(refused(Some(
            r#"{"len":8388608,"parts":[{"number":1,"etag":"e","size":8388608}]}"#
        )));
        let fine = r#"{"len":8388612,"multipart":"m","parts":[{"number":1,"etag":"e","size":8388608}],"tail":[{"name":"tail-8388608-ab","len":4}]}"#;
        let state = UploadState::parse("ab", Some(fine)).expect("parse");
        assert_eq!(state.len, 8_388_612);
        let again = state.encode().expect("encode");
        assert_eq!(
            UploadState::parse("ab", Some(&again)).expect("parse"),
            state
        );
    }

    #[test]
    fn pending_bytes_split_at_part_boundaries_without_loss() {
        let mut pending = Pending::default();
        for chunk in [&b"abc"[..], b"", b"defgh", b"ij"] {
            pending.push(Bytes::copy_from_slice(chunk));
        }
        assert_eq!(pending.len, 10);
        assert_eq!(pending.take(4).concat(), b"abcd");
        assert_eq!(pending.len, 6);
        pending.push_front(Bytes::from_static(b"XY"));
        assert_eq!(pending.take(100).concat(), b"XYefghij");
        assert_eq!(pending.len, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_blob_key_never_gives_are_not_listed() {
        let Some(cfg) = test_config() else { return };
        let store = S3BlobStore::open(&cfg).expect("open");
        let _scratch = Scratch {
            store: store.store.clone(),
            prefix: store.base.clone(),
        };
        let kept = put(&store, "f1", b"kept").await;
        let hex = Digest::sha256_of(b"stray").hex().to_owned();
        let upper = hex.to_uppercase();
        let strays: [&[&str]; 7] = [
            &["blobs", "sha256", &hex, "extra"],
            &["blobs", "sha256"],
            &["blobs", &hex],
            &["blobs", "sha512", &hex],
            &["blobs", "md5", &hex],
            &["blobs", "sha256", "not-a-digest"],
            &["blobs", "sha256", &upper],
        ];
        for stray in strays {
            let key = store.key(stray);
            store
                .store
                .put(&key, PutPayload::from_static(b"stray"))
                .await
                .expect("put a stray object");
        }
        assert_eq!(listed(&store).await, [(kept, 4)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_batch_fails_every_digest_in_it() {
        let Some(cfg) = test_config() else { return };
        // A wrong secret is refused at once; an unreachable endpoint would be retried for
        // seconds first.
        let cfg = S3Config {
            secret_access_key: Some("not-the-secret".into()),
            ..cfg
        };
        let store = S3BlobStore::open(&cfg).expect("open");
        let digests: Vec<Digest> = (0..1500u32)
            .map(|i| Digest::sha256_of(&i.to_be_bytes()))
            .collect();
        let results = store.delete_many(&digests).await;
        assert_eq!(results.len(), digests.len());
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(Error::ObjectStore { .. }))),
            "{:?}",
            results.iter().find(|r| r.is_ok())
        );
        assert!(matches!(
            store.list_blobs().collect::<Vec<_>>().await.as_slice(),
            [Err(Error::ObjectStore { .. })]
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commit_leaves_only_the_blob() {
        let Some(cfg) = test_config() else { return };
        let store = S3BlobStore::open(&cfg).expect("open");
        let _scratch = Scratch {
            store: store.store.clone(),
            prefix: store.base.clone(),
        };
        let data = pattern(PART_SIZE * 2 + 100, 1);
        let mut upload = Upload::create(&store, "c0ffee").await;
        for piece in data.chunks(3 * 1024 * 1024 + 1) {
            upload.append(&store, body(&[piece])).await;
        }
        let digest = Digest::sha256_of(&data);
        upload.commit(&store, &digest).await;
        assert_eq!(
            keys(&store).await,
            [format!("blobs/sha256/{}", digest.hex())]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abort_leaves_no_object_behind() {
        let Some(cfg) = test_config() else { return };
        let store = S3BlobStore::open(&cfg).expect("open");
        let _scratch = Scratch {
            store: store.store.clone(),
            prefix: store.base.clone(),
        };
        let mut upload = Upload::create(&store, "ab0").await;
        upload
            .append(&store, body(&[&pattern(PART_SIZE + 10, 2)]))
            .await;
        upload.append(&store, body(&[b"more"])).await;
        assert!(keys(&store).await.len() >= 2, "a marker and tail pieces");
        upload.abort(&store).await;
        assert!(keys(&store).await.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn superseded_tail_pieces_go_with_the_next_append() {
        let Some(cfg) = test_config() else { return };
        let store = S3BlobStore::open(&cfg).expect("open");
        let _scratch = Scratch {
            store: store.store.clone(),
            prefix: store.base.clone(),
        };
        let mut upload = Upload::create(&store, "5e1").await;
        // Enough small appends to merge pieces, then one that fills a part.
        for i in 0..(MAX_TAIL_PIECES + 3) {
            upload.append(&store, body(&[&[i as u8; 1000]])).await;
        }
        upload.append(&store, body(&[&pattern(PART_SIZE, 3)])).await;
        upload.append(&store, body(&[b"end"])).await;
        let tails: Vec<String> = keys(&store)
            .await
            .into_iter()
            .filter(|k| k.contains("/tail-"))
            .collect();
        // The remainder of the part-sized append and the last append's piece.
        assert_eq!(tails.len(), 2, "only live pieces are left: {tails:?}");
        // Scratch empties the prefix but cannot see multipart uploads.
        upload.abort(&store).await;
    }
}
