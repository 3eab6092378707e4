//! Blob uploads: sessions, chunked appends, completion and the reaper.
//!
//! The metadata store is the one record of an upload's progress, so that any node can take
//! the next request of a push: the offset, the running hash after it (SHA-256 saved between
//! requests, so a push is hashed once, while it streams) and the blob backend's own state (S3's
//! multipart upload and parts). An append claims the session at its offset first
//! (`begin_append`, a compare-and-set with a lease), which keeps two nodes from appending at
//! once; the per-process lock only makes requests on one node wait for each other instead of
//! being refused.

use futures::StreamExt;
use portcullis_oci::{Algorithm, ContentRange, Digest, Hasher, RepoName};
use portcullis_storage::blob::Appended;
use portcullis_storage::meta::now_millis;
use portcullis_storage::{
    BeginAppend, ByteStream, CompleteUpload, CreateUpload, DeleteRepository, MountBlob,
    UploadLimits, UploadProgress,
};

use super::{Registry, ORPHAN_MIN_AGE_MS};
use crate::uploads::{capped, hashing};
use crate::{Error, Result};

impl Registry {
    /// Opens an upload session on an existing repository for `principal` (an ARN, or
    /// [`portcullis_storage::ANONYMOUS_PRINCIPAL`]), within the session limits.
    pub async fn start_upload(&self, repo: &RepoName, principal: &str) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let state = self.blobs.create_upload(&id).await?;
        let limits = UploadLimits {
            per_principal: self.options.max_uploads_per_principal,
            total: self.options.max_uploads,
        };
        let created = self
            .meta
            .create_upload(&id, repo.as_str(), principal, limits, state.as_deref())
            .await;
        let refused = match created {
            Ok(CreateUpload::Created) => return Ok(id),
            Ok(CreateUpload::NameUnknown) => Error::NameUnknown(repo.to_string()),
            Ok(CreateUpload::PrincipalLimit) => Error::TooManyUploads(format!(
                "`{principal}` has {} upload sessions open, the most one principal may have (`[limits] max_uploads_per_principal`): finish or cancel some first",
                limits.per_principal
            )),
            Ok(CreateUpload::TotalLimit) => Error::TooManyUploads(format!(
                "the registry has {} upload sessions open, the most it allows (`[limits] max_uploads`): try again later",
                limits.total
            )),
            Err(e) => e.into(),
        };
        self.blobs.abort_upload(&id, state.as_deref()).await?;
        Err(refused)
    }

    /// Links a blob of `from` into `repo` when `from` holds it; opens an upload otherwise.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: Option<&RepoName>,
        principal: &str,
    ) -> Result<super::MountOutcome> {
        if let Some(from) = from {
            // The bytes are checked first; the link in `from` is checked again in the linking
            // transaction, which a collector's removal of it cannot interleave with.
            if self.meta.blob_link(from.as_str(), digest).await?.is_some()
                && self.blobs.stat(digest).await?.is_some()
            {
                match self
                    .meta
                    .mount_blob(from.as_str(), repo.as_str(), digest)
                    .await?
                {
                    MountBlob::Mounted { size } => {
                        return Ok(super::MountOutcome::Mounted { size })
                    }
                    MountBlob::NameUnknown => return Err(Error::NameUnknown(repo.to_string())),
                    MountBlob::SourceMissing => {}
                }
            }
        }
        Ok(super::MountOutcome::Upload {
            id: self.start_upload(repo, principal).await?,
        })
    }

    /// The session exists, belongs to `repo` and was opened by `principal`: an upload id is
    /// not a capability, so another principal (even one allowed to push to the repository)
    /// can neither read, append to, finish nor cancel it. Every anonymous caller is one
    /// principal. Sessions from before the column have no owner and are no one's.
    pub(super) async fn check_upload(
        &self,
        repo: &RepoName,
        id: &str,
        principal: &str,
    ) -> Result<()> {
        match self.meta.upload(id).await? {
            Some(u)
                if u.repository == repo.as_str() && u.principal.as_deref() == Some(principal) =>
            {
                Ok(())
            }
            _ => Err(Error::UploadUnknown(id.to_owned())),
        }
    }

    /// The recorded progress of a session. A session opened before progress was recorded
    /// (an upgrade mid-push) has offset 0 and no state at all, while its staged bytes are on
    /// the filesystem: their length is recorded as its offset once, and it goes on from there.
    async fn progress(&self, id: &str) -> Result<UploadProgress> {
        let mut progress = self
            .meta
            .upload_progress(id)
            .await?
            .ok_or_else(|| Error::UploadUnknown(id.to_owned()))?;
        if progress.offset == 0 && progress.hash_state.is_none() && progress.backend_state.is_none()
        {
            if let Ok(Some(len)) = self.blobs.upload_len(id, None).await {
                let adopted = UploadProgress {
                    offset: len,
                    hash_state: None,
                    backend_state: None,
                };
                if len > 0 && self.meta.finish_append(id, 0, &adopted).await? {
                    progress.offset = len;
                }
            }
        }
        Ok(progress)
    }

    /// Claims the session at `offset` for one append or the commit.
    async fn claim(&self, id: &str, offset: u64, start: u64) -> Result<UploadProgress> {
        match self
            .meta
            .begin_append(id, offset, self.options.append_lease_ms)
            .await?
        {
            BeginAppend::Claimed(progress) => Ok(progress),
            BeginAppend::Offset(actual) => Err(Error::UploadOutOfOrder { start, actual }),
            BeginAppend::Busy => Err(Error::UploadInvalid(format!(
                "another request is writing to upload `{id}`; send its chunks one at a time"
            ))),
            BeginAppend::Unknown => Err(Error::UploadUnknown(id.to_owned())),
        }
    }

    /// Runs `work` while renewing the claim at `offset` every third of a lease, so a claim
    /// lasts as long as its request and a node that dies lets go within one lease.
    async fn renewing<T>(
        &self,
        id: &str,
        offset: u64,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let every = std::time::Duration::from_millis(
            u64::try_from(self.options.append_lease_ms / 3)
                .unwrap_or(1)
                .max(1),
        );
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = tick.tick() => match self.meta.renew_append(id, offset).await {
                    Ok(true) => {}
                    // The session ended or moved on; the work finds out when it records.
                    Ok(false) => {}
                    Err(e) => tracing::warn!(upload = %id, error = %e, "renewing an upload claim failed"),
                },
            }
        }
    }

    /// Releases a claim without recording progress.
    async fn release(&self, id: &str, offset: u64) {
        let same = UploadProgress {
            offset,
            hash_state: None,
            backend_state: None,
        };
        if let Err(e) = self.meta.finish_append(id, offset, &same).await {
            // The lease ends the claim anyway.
            tracing::warn!(upload = %id, error = %e, "releasing an upload claim failed");
        }
    }

    /// Bytes received so far by an upload.
    pub async fn upload_status(&self, repo: &RepoName, id: &str, principal: &str) -> Result<u64> {
        self.check_upload(repo, id, principal).await?;
        Ok(self.progress(id).await?.offset)
    }

    /// Appends a chunk. With a `Content-Range`, the chunk must start where the upload ends.
    /// `length` is the chunk's announced size (`Content-Length`), if any. A chunk that takes
    /// the blob past `max_blob_bytes`, announced or streamed, discards the session; reading
    /// stops at the first byte over.
    pub async fn patch_upload(
        &self,
        repo: &RepoName,
        id: &str,
        principal: &str,
        range: Option<ContentRange>,
        length: Option<u64>,
        body: ByteStream,
    ) -> Result<u64> {
        self.check_upload(repo, id, principal).await?;
        let session = self.uploads.session(id);
        let _serial = session.lock().await;
        let offset = self.progress(id).await?.offset;
        let start = range.map_or(offset, |r| r.start);
        if start != offset {
            return Err(Error::UploadOutOfOrder {
                start,
                actual: offset,
            });
        }
        let max = self.options.max_blob_bytes;
        let announced_end = range
            .map(|r| r.end.saturating_add(1))
            .into_iter()
            .chain(length.map(|l| offset.saturating_add(l)))
            .max();
        if announced_end.is_some_and(|end| end > max) {
            self.discard_upload(id).await?;
            return Err(Error::BlobTooLarge { max });
        }
        let claimed = self.claim(id, offset, start).await?;
        let backend_state = claimed.backend_state;
        let hasher = resume_hash(offset, claimed.hash_state.as_deref());
        let (body, over_limit) = capped(body, max.saturating_sub(offset));
        let (body, hashed) = match hasher {
            Some(hasher) => {
                let (body, hashed) = hashing(body, hasher);
                (body, Some(hashed))
            }
            None => (body, None),
        };
        let result = self
            .renewing(
                id,
                offset,
                self.blobs
                    .append_upload(id, offset, backend_state.as_deref(), body),
            )
            .await;
        // What to record: a success, or what a failed body staged before it failed.
        let (appended, failure) = match result {
            Ok(appended) => (appended, None),
            Err(portcullis_storage::Error::BodyAfter { appended, source }) => {
                (appended, Some(Error::BodyInterrupted(source)))
            }
            Err(e) => {
                self.release(id, offset).await;
                return Err(match e {
                    portcullis_storage::Error::UploadUnknown(id) => Error::UploadUnknown(id),
                    e => e.into(),
                });
            }
        };
        if over_limit.load(std::sync::atomic::Ordering::SeqCst) {
            self.discard_upload(id).await?;
            return Err(Error::BlobTooLarge { max });
        }
        let hash_state = hashed.and_then(|h| {
            let (hasher, len) = &*h.lock().unwrap_or_else(|e| e.into_inner());
            // Only a hash of exactly the staged bytes is worth keeping.
            (offset + len == appended.len)
                .then(|| hasher.save())
                .flatten()
        });
        let Appended { len, state } = appended;
        let progress = UploadProgress {
            offset: len,
            hash_state,
            backend_state: state,
        };
        if !self.meta.finish_append(id, offset, &progress).await? {
            if self.meta.upload(id).await?.is_none() {
                // The session ended while this chunk streamed (its repository was deleted,
                // or it was reaped): what was staged goes with it.
                self.discard_upload(id).await?;
                return Err(Error::UploadUnknown(id.to_owned()));
            }
            // Another request took the session after this one's lease ran out and moved it
            // on; its record stands and this chunk is not part of the upload.
            return Err(Error::UploadInvalid(format!(
                "upload `{id}` moved on while this chunk streamed; ask for its offset and resume"
            )));
        }
        if let Some(failure) = failure {
            return Err(failure);
        }
        if let Some(r) = range {
            if len - offset != r.len() {
                return Err(Error::UploadInvalid(format!(
                    "Content-Range announced {} bytes but the body held {}",
                    r.len(),
                    len - offset
                )));
            }
        }
        Ok(len)
    }

    /// Completes an upload: appends the last chunk if any, verifies the digest, and makes the
    /// blob visible in the repository. A digest mismatch discards the upload.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &str,
        principal: &str,
        digest: &Digest,
        range: Option<ContentRange>,
        length: Option<u64>,
        body: Option<ByteStream>,
    ) -> Result<u64> {
        if let Some(body) = body {
            self.patch_upload(repo, id, principal, range, length, body)
                .await?;
        } else {
            self.check_upload(repo, id, principal).await?;
        }
        let session = self.uploads.session(id);
        let serial = session.lock().await;
        let len = self.progress(id).await?.offset;
        let claimed = self.claim(id, len, len).await?;
        let backend_state = claimed.backend_state;
        let staged = self.digest_of_staged(
            id,
            len,
            digest.algorithm(),
            &claimed.hash_state,
            &backend_state,
        );
        let actual = match self.renewing(id, len, staged).await {
            Ok(actual) => actual,
            Err(e) => {
                self.release(id, len).await;
                return Err(e);
            }
        };
        if &actual != digest {
            self.discard_upload(id).await?;
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        // The blob's row is claimed before its bytes are written, so a collector cannot be
        // deleting the bytes this commit writes (see `claim_blob`).
        let blob_claim = match self.claim_blob(digest, len).await {
            Ok(c) => c,
            Err(e) => {
                self.release(id, len).await;
                return Err(e);
            }
        };
        let size = match self
            .renewing(
                id,
                len,
                self.blobs
                    .commit_upload(id, backend_state.as_deref(), digest),
            )
            .await
        {
            Ok(size) => size,
            Err(e) => {
                self.release(id, len).await;
                return Err(match e {
                    portcullis_storage::Error::UploadUnknown(id) => Error::UploadUnknown(id),
                    e => e.into(),
                });
            }
        };
        // Checked in the linking transaction, not before: a repository deleted since the
        // session was checked has ended the session, and the blob must not land in the name
        // (nor in a repository created again under it). The committed bytes stay unlinked,
        // invisible, until garbage collection.
        let outcome = self
            .meta
            .complete_upload(id, repo.as_str(), digest, size, blob_claim)
            .await?;
        drop(serial);
        self.uploads.forget(id);
        match outcome {
            CompleteUpload::Linked => Ok(size),
            CompleteUpload::UploadUnknown => Err(Error::UploadUnknown(id.to_owned())),
            CompleteUpload::NameUnknown => {
                self.meta.delete_upload(id).await?;
                Err(Error::NameUnknown(repo.to_string()))
            }
            // The upload outlasted the grace delay and a collector took the blob meanwhile:
            // its staged bytes are committed (and being deleted), so the session cannot be
            // finished again. The client uploads anew.
            CompleteUpload::ClaimLost => {
                self.meta.delete_upload(id).await?;
                Err(Error::BlobCollecting(digest.clone()))
            }
        }
    }

    /// Claims the blob row of `digest` for a commit, waiting out a collector that is deleting
    /// it (its deletes take moments); a claim still refused after that is
    /// [`Error::BlobCollecting`], which clients retry.
    pub(crate) async fn claim_blob(&self, digest: &Digest, size: u64) -> Result<i64> {
        for attempt in 0..40 {
            if let Some(claim) = self.meta.claim_blob(digest, size).await? {
                return Ok(claim);
            }
            if attempt == 0 {
                tracing::debug!(%digest, "waiting for the collector deleting this blob");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(Error::BlobCollecting(digest.clone()))
    }

    /// The digest of the `len` staged bytes: from the saved hash when it is of the digest's
    /// algorithm, else by reading them back (which S3 can only do for uploads under a part).
    async fn digest_of_staged(
        &self,
        id: &str,
        len: u64,
        algorithm: Algorithm,
        hash_state: &Option<Vec<u8>>,
        backend_state: &Option<String>,
    ) -> Result<Digest> {
        if let Some(hasher) = resume_hash(len, hash_state.as_deref()) {
            if hasher.algorithm() == algorithm {
                return Ok(hasher.finalize());
            }
        }
        let mut hasher = Hasher::new(algorithm);
        let mut staged = match self.blobs.read_upload(id, backend_state.as_deref()).await {
            Ok(staged) => staged,
            Err(portcullis_storage::Error::Unsupported { backend, .. }) => {
                return Err(Error::Unsupported(format!(
                    "the {backend} blob store cannot verify a {} digest of an upload this large; push it with a sha256 digest",
                    algorithm.name()
                )))
            }
            Err(portcullis_storage::Error::UploadUnknown(id)) => return Err(Error::UploadUnknown(id)),
            Err(e) => return Err(e.into()),
        };
        while let Some(chunk) = staged.next().await {
            let chunk = chunk.map_err(|e| portcullis_storage::Error::io("upload", e))?;
            hasher.update(&chunk);
        }
        Ok(hasher.finalize())
    }

    /// A whole blob in one request (`POST ...?digest=`).
    pub async fn upload_whole(
        &self,
        repo: &RepoName,
        digest: &Digest,
        length: Option<u64>,
        body: ByteStream,
        principal: &str,
    ) -> Result<u64> {
        if length.is_some_and(|l| l > self.options.max_blob_bytes) {
            return Err(Error::BlobTooLarge {
                max: self.options.max_blob_bytes,
            });
        }
        let id = self.start_upload(repo, principal).await?;
        let result = self
            .finish_upload(repo, &id, principal, digest, None, length, Some(body))
            .await;
        if result.is_err() {
            self.discard_upload(&id).await?;
        }
        result
    }

    pub async fn cancel_upload(&self, repo: &RepoName, id: &str, principal: &str) -> Result<()> {
        self.check_upload(repo, id, principal).await?;
        let session = self.uploads.session(id);
        let _serial = session.lock().await;
        self.discard_upload(id).await
    }

    pub(super) async fn discard_upload(&self, id: &str) -> Result<()> {
        let state = self
            .meta
            .upload_progress(id)
            .await?
            .and_then(|p| p.backend_state);
        self.blobs.abort_upload(id, state.as_deref()).await?;
        self.meta.delete_upload(id).await?;
        self.uploads.forget(id);
        Ok(())
    }

    /// Deletes a repository (with `force`, also one that holds images) and ends its upload
    /// sessions: their rows go in the same transaction as the repository, so a request on one
    /// of them fails from then on, and their staged bytes are removed here. A request still
    /// streaming into one of them is not waited for; it finds its session gone when it ends.
    pub async fn delete_repository(&self, repo: &str, force: bool) -> Result<DeleteRepository> {
        let outcome = self.meta.delete_repository(repo, force).await?;
        if let DeleteRepository::Deleted { ended_uploads } = &outcome {
            for ended in ended_uploads {
                let id = &ended.id;
                self.uploads.forget(id);
                if let Err(e) = self
                    .blobs
                    .abort_upload(id, ended.backend_state.as_deref())
                    .await
                {
                    // The delete has happened; an orphan staged file is the reaper's.
                    tracing::warn!(upload = %id, error = %e, "removing a staged upload of a deleted repository failed");
                }
            }
            if !ended_uploads.is_empty() {
                tracing::info!(repository = %repo, sessions = ended_uploads.len(), "ended the upload sessions of a deleted repository");
            }
        }
        Ok(outcome)
    }

    /// Discards uploads idle for longer than `max_idle_ms`, and staged files no session owns
    /// (left by a crash between creating the file and recording the session) once they are
    /// older than [`ORPHAN_MIN_AGE_MS`]: a younger one may belong to a `start_upload` that has
    /// written its file but not yet its row.
    pub async fn reap_uploads(&self, max_idle_ms: i64) -> Result<usize> {
        let mut reaped = 0;
        for upload in self.meta.stale_uploads(now_millis() - max_idle_ms).await? {
            let session = self.uploads.session(&upload.id);
            let _serial = session.lock().await;
            self.discard_upload(&upload.id).await?;
            reaped += 1;
        }
        for id in self
            .blobs
            .list_uploads(now_millis() - ORPHAN_MIN_AGE_MS)
            .await?
        {
            if self.meta.upload(&id).await?.is_none() {
                self.blobs.abort_upload(&id, None).await?;
                reaped += 1;
            }
        }
        Ok(reaped)
    }
}

/// A hasher that continues after `offset` bytes: a new one at the start, else the saved state
/// (`None` when there is none, or it is not one this build can restore).
fn resume_hash(offset: u64, saved: Option<&[u8]>) -> Option<Hasher> {
    if offset == 0 {
        return Some(Hasher::new(Algorithm::Sha256));
    }
    saved.and_then(|s| Hasher::restore(Algorithm::Sha256, s))
}
