//! The blob seam: immutable content-addressed blobs plus the upload staging area.

pub mod fs;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use portcullis_oci::Digest;

use crate::Result;

/// A stream of body bytes; blobs and request bodies are never held whole in memory.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// An open blob (or a range of it) being streamed.
pub struct BlobRead {
    /// Bytes this stream yields.
    pub len: u64,
    pub stream: ByteStream,
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// A short backend name for logs and metrics labels.
    fn backend(&self) -> &'static str;

    /// Whether the store is reachable and accepts writes, for readiness checks: an error says
    /// what failed. Cheap enough to run every few seconds.
    async fn check(&self) -> Result<()>;

    /// Size of a committed blob, `None` when absent.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>>;

    /// Streams a committed blob, or the inclusive byte `range` of it (already checked by the
    /// caller against the size). `None` when absent.
    async fn read(&self, digest: &Digest, range: Option<(u64, u64)>) -> Result<Option<BlobRead>>;

    /// Removes a committed blob; `false` when it was absent.
    async fn delete(&self, digest: &Digest) -> Result<bool>;

    /// Creates an empty staging object for upload `id`.
    async fn create_upload(&self, id: &str) -> Result<()>;

    /// Bytes staged so far, `None` when the upload does not exist.
    async fn upload_len(&self, id: &str) -> Result<Option<u64>>;

    /// Appends `body` to the upload, which must currently hold exactly `offset` bytes (the
    /// caller serializes appends per upload). Returns the new length. On a body error the bytes
    /// received before it stay staged, so the client can resume from the reported offset.
    async fn append_upload(&self, id: &str, offset: u64, body: ByteStream) -> Result<u64>;

    /// Streams what the upload holds, to re-derive its digest (after a restart, say).
    async fn read_upload(&self, id: &str) -> Result<ByteStream>;

    /// Atomically makes the upload's content the blob `digest` (which the caller has verified)
    /// and removes the staging object. Returns the blob size.
    async fn commit_upload(&self, id: &str, digest: &Digest) -> Result<u64>;

    /// Discards an upload; absent uploads are fine.
    async fn abort_upload(&self, id: &str) -> Result<()>;

    /// Ids of the staged uploads last written before `modified_before_ms` (Unix ms), for the
    /// reaper and the start-up check. Younger files are left out: `start_upload` writes the
    /// staging object before its session row, so a young file without a row may be in flight.
    async fn list_uploads(&self, modified_before_ms: i64) -> Result<Vec<String>>;
}
