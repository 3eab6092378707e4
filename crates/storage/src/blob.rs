//! The blob seam: immutable content-addressed blobs plus the upload staging area.

pub mod fs;
#[cfg(feature = "s3")]
pub mod s3;

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

/// What an upload holds after an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Bytes staged in all.
    pub len: u64,
    /// The backend's new state for the upload, to persist in place of the one passed in
    /// (`None`: the backend keeps none).
    pub state: Option<String>,
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

    /// Creates an empty staging area for upload `id`. Returns the backend's initial state for
    /// it, which the caller persists with the session and passes to every later call on the
    /// upload (`None`: the backend keeps none; the filesystem's is the recorded length).
    async fn create_upload(&self, id: &str) -> Result<Option<String>>;

    /// Bytes staged so far, `None` when the upload does not exist. `state` is the one last
    /// persisted for the upload.
    async fn upload_len(&self, id: &str, state: Option<&str>) -> Result<Option<u64>>;

    /// Appends `body` to the upload, which must currently hold exactly `offset` bytes (the
    /// caller serializes appends per upload, and passes the state it persisted last).
    ///
    /// On success the caller persists [`Appended::state`] in place of `state`. On a body error
    /// the bytes received before it stay staged, so the client can resume from the reported
    /// offset: the error is then [`Error::BodyAfter`](crate::Error::BodyAfter), whose
    /// `appended` holds the new length and the state to persist, exactly as a success would.
    /// On any other error nothing needs persisting: the upload is as `state` describes it.
    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        state: Option<&str>,
        body: ByteStream,
    ) -> Result<Appended>;

    /// Streams what the upload holds, to re-derive its digest (after a restart, say). A backend
    /// that cannot read back what it staged answers
    /// [`Error::Unsupported`](crate::Error::Unsupported).
    async fn read_upload(&self, id: &str, state: Option<&str>) -> Result<ByteStream>;

    /// Atomically makes the upload's content the blob `digest` (which the caller has verified)
    /// and removes the staging area. Returns the blob size. A blob already stored under
    /// `digest` may be kept: content addressing says it holds the same bytes.
    async fn commit_upload(&self, id: &str, state: Option<&str>, digest: &Digest) -> Result<u64>;

    /// Discards an upload; absent uploads are fine. `state` may be `None` even for a backend
    /// that keeps state (an orphan found by [`list_uploads`](Self::list_uploads)): what it
    /// names is then left to the backend's own expiry.
    async fn abort_upload(&self, id: &str, state: Option<&str>) -> Result<()>;

    /// Ids of the staged uploads last written before `modified_before_ms` (Unix ms), for the
    /// reaper and the start-up check. Younger files are left out: `start_upload` writes the
    /// staging object before its session row, so a young file without a row may be in flight.
    async fn list_uploads(&self, modified_before_ms: i64) -> Result<Vec<String>>;

    /// Every committed blob with its size, in no particular order: what garbage collection's
    /// consistency sweep compares with the blob table (bytes a crash left without a row).
    /// Streamed, so a store of millions of blobs is never listed into memory at once.
    fn list_blobs(&self) -> BoxStream<'_, Result<(Digest, u64)>> {
        Box::pin(futures::stream::once(async {
            Err(crate::Error::Unsupported {
                backend: self.backend(),
                what: "listing committed blobs",
            })
        }))
    }

    /// Removes committed blobs, as many per request as the backend allows (S3's DeleteObjects
    /// takes a thousand): one result per digest, in order; an absent blob is a success.
    async fn delete_many(&self, digests: &[Digest]) -> Vec<Result<()>> {
        let mut out = Vec::with_capacity(digests.len());
        for d in digests {
            out.push(self.delete(d).await.map(|_| ()));
        }
        out
    }

    /// A presigned GET URL for the committed blob `digest`, valid for `expires`, when the
    /// backend has them: the API can then redirect pulls to the storage instead of streaming
    /// them itself. `None` when the backend has no such URLs.
    async fn presigned_get(
        &self,
        digest: &Digest,
        expires: std::time::Duration,
    ) -> Result<Option<url::Url>> {
        let _ = (digest, expires);
        Ok(None)
    }
}
