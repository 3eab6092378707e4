//! The registry service: blobs, uploads, manifests, tags, referrers and the catalog.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use portcullis_oci::manifest::{parse_manifest, ManifestError, MAX_MANIFEST_SIZE};
use portcullis_oci::{ByteRange, ContentRange, Digest, Hasher, Reference, RepoName, Tag};
use portcullis_storage::meta::now_millis;
use portcullis_storage::{
    BlobStore, ByteStream, ManifestRecord, ManifestRef, MetaStore, PutManifestError,
};

use crate::uploads::{hashing, UploadLocks};
use crate::{Error, Result};

/// Knobs of the registry service.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Largest page a tags or catalog listing returns, whatever `n` asks for.
    pub max_page: u32,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions { max_page: 10_000 }
    }
}

/// A blob (or a range of it) ready to stream.
pub struct BlobBody {
    /// Full size of the blob.
    pub size: u64,
    /// The inclusive range served, when the request asked for one.
    pub range: Option<(u64, u64)>,
    /// Bytes in `stream`.
    pub len: u64,
    pub stream: ByteStream,
}

pub enum MountOutcome {
    Mounted {
        size: u64,
    },
    /// The blob could not be mounted; an upload session was opened instead.
    Upload {
        id: String,
    },
}

pub struct ManifestOutcome {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// One entry of a referrers response.
pub struct Referrer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<serde_json::Value>,
}

pub struct Registry {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    uploads: UploadLocks,
    options: RegistryOptions,
}

impl Registry {
    pub fn new(
        blobs: Arc<dyn BlobStore>,
        meta: Arc<dyn MetaStore>,
        options: RegistryOptions,
    ) -> Self {
        Registry {
            blobs,
            meta,
            uploads: UploadLocks::default(),
            options,
        }
    }

    // ---- blobs ----

    /// Size of a blob of the repository.
    pub async fn stat_blob(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        self.meta
            .blob_link(repo.as_str(), digest)
            .await?
            .ok_or_else(|| Error::BlobUnknown(digest.clone()))
    }

    pub async fn get_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobBody> {
        let size = self.stat_blob(repo, digest).await?;
        let range = match range {
            None => None,
            Some(r) => Some(r.resolve(size).ok_or(Error::RangeNotSatisfiable { size })?),
        };
        let read = self
            .blobs
            .read(digest, range)
            .await?
            .ok_or_else(|| Error::BlobUnknown(digest.clone()))?;
        Ok(BlobBody {
            size,
            range,
            len: read.len,
            stream: read.stream,
        })
    }

    /// Unlinks a blob from the repository; its bytes stay until garbage collection.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        if self.meta.unlink_blob(repo.as_str(), digest).await? {
            Ok(())
        } else {
            Err(Error::BlobUnknown(digest.clone()))
        }
    }

    // ---- uploads ----

    pub async fn start_upload(&self, repo: &RepoName) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        self.blobs.create_upload(&id).await?;
        self.meta.create_upload(&id, repo.as_str()).await?;
        Ok(id)
    }

    /// Links a blob of `from` into `repo` when `from` holds it; opens an upload otherwise.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: Option<&RepoName>,
    ) -> Result<MountOutcome> {
        if let Some(from) = from {
            if let Some(size) = self.meta.blob_link(from.as_str(), digest).await? {
                if self.blobs.stat(digest).await?.is_some() {
                    self.meta.link_blob(repo.as_str(), digest, size).await?;
                    return Ok(MountOutcome::Mounted { size });
                }
            }
        }
        Ok(MountOutcome::Upload {
            id: self.start_upload(repo).await?,
        })
    }

    async fn check_upload(&self, repo: &RepoName, id: &str) -> Result<()> {
        match self.meta.upload(id).await? {
            Some(u) if u.repository == repo.as_str() => Ok(()),
            _ => Err(Error::UploadUnknown(id.to_owned())),
        }
    }

    /// Bytes received so far by an upload.
    pub async fn upload_status(&self, repo: &RepoName, id: &str) -> Result<u64> {
        self.check_upload(repo, id).await?;
        self.blobs
            .upload_len(id)
            .await?
            .ok_or_else(|| Error::UploadUnknown(id.to_owned()))
    }

    /// Appends a chunk. With a `Content-Range`, the chunk must start where the upload ends.
    pub async fn patch_upload(
        &self,
        repo: &RepoName,
        id: &str,
        range: Option<ContentRange>,
        body: ByteStream,
    ) -> Result<u64> {
        self.check_upload(repo, id).await?;
        let session = self.uploads.session(id);
        let mut state = session.lock().await;
        let offset = self
            .blobs
            .upload_len(id)
            .await?
            .ok_or_else(|| Error::UploadUnknown(id.to_owned()))?;
        if let Some(r) = range {
            if r.start != offset {
                return Err(Error::UploadOutOfOrder {
                    start: r.start,
                    actual: offset,
                });
            }
        }
        let result = match state.take_hasher_at(offset) {
            Some(hasher) => {
                let (body, hasher) = hashing(body, hasher);
                let result = self.blobs.append_upload(id, offset, body).await;
                if let Ok(len) = result {
                    let h = hasher.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    state.hasher = Some(h);
                    state.hashed_len = len;
                }
                result
            }
            None => self.blobs.append_upload(id, offset, body).await,
        };
        self.meta.touch_upload(id).await?;
        match result {
            Ok(len) => {
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
            Err(portcullis_storage::Error::Body(e)) => Err(Error::BodyInterrupted(e)),
            Err(e) => Err(e.into()),
        }
    }

    /// Completes an upload: appends the last chunk if any, verifies the digest, and makes the
    /// blob visible in the repository. A digest mismatch discards the upload.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        range: Option<ContentRange>,
        body: Option<ByteStream>,
    ) -> Result<u64> {
        if let Some(body) = body {
            self.patch_upload(repo, id, range, body).await?;
        } else {
            self.check_upload(repo, id).await?;
        }
        let session = self.uploads.session(id);
        let mut state = session.lock().await;
        let len = self
            .blobs
            .upload_len(id)
            .await?
            .ok_or_else(|| Error::UploadUnknown(id.to_owned()))?;
        let cached = state
            .take_hasher_at(len)
            .filter(|h| h.algorithm() == digest.algorithm());
        let actual = match cached {
            Some(h) => h.finalize(),
            None => {
                let mut hasher = Hasher::new(digest.algorithm());
                let mut staged = self.blobs.read_upload(id).await?;
                while let Some(chunk) = staged.next().await {
                    let chunk = chunk.map_err(|e| portcullis_storage::Error::io("upload", e))?;
                    hasher.update(&chunk);
                }
                hasher.finalize()
            }
        };
        if &actual != digest {
            self.discard_upload(id).await?;
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        let size = self.blobs.commit_upload(id, digest).await?;
        self.meta.link_blob(repo.as_str(), digest, size).await?;
        self.meta.delete_upload(id).await?;
        drop(state);
        self.uploads.forget(id);
        Ok(size)
    }

    /// A whole blob in one request (`POST ...?digest=`).
    pub async fn upload_whole(
        &self,
        repo: &RepoName,
        digest: &Digest,
        body: ByteStream,
    ) -> Result<u64> {
        let id = self.start_upload(repo).await?;
        let result = self
            .finish_upload(repo, &id, digest, None, Some(body))
            .await;
        if result.is_err() {
            self.discard_upload(&id).await?;
        }
        result
    }

    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<()> {
        self.check_upload(repo, id).await?;
        let session = self.uploads.session(id);
        let _state = session.lock().await;
        self.discard_upload(id).await
    }

    async fn discard_upload(&self, id: &str) -> Result<()> {
        self.blobs.abort_upload(id).await?;
        self.meta.delete_upload(id).await?;
        self.uploads.forget(id);
        Ok(())
    }

    /// Discards uploads idle for longer than `max_idle_ms`, and staged files no session owns
    /// (left by a crash between creating the file and recording the session).
    pub async fn reap_uploads(&self, max_idle_ms: i64) -> Result<usize> {
        let mut reaped = 0;
        for upload in self.meta.stale_uploads(now_millis() - max_idle_ms).await? {
            let session = self.uploads.session(&upload.id);
            let _state = session.lock().await;
            self.discard_upload(&upload.id).await?;
            reaped += 1;
        }
        for id in self.blobs.list_uploads().await? {
            if self.meta.upload(&id).await?.is_none() {
                self.blobs.abort_upload(&id).await?;
                reaped += 1;
            }
        }
        Ok(reaped)
    }

    // ---- manifests ----

    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<ManifestOutcome> {
        let parsed = parse_manifest(&content, content_type).map_err(|e| match e {
            ManifestError::TooLarge(_) => Error::ManifestTooLarge(e.to_string()),
            other => Error::ManifestInvalid(other.to_string()),
        })?;
        let digest = match reference {
            Reference::Digest(d) => {
                let actual = Digest::of(d.algorithm(), &content);
                if &actual != d {
                    return Err(Error::DigestInvalid(format!(
                        "manifest content has digest `{actual}`, not `{d}`"
                    )));
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(&content),
        };
        let refs: Vec<ManifestRef> = parsed
            .required_blobs()
            .map(|d| ManifestRef::Blob(d.digest.clone()))
            .chain(
                parsed
                    .manifests
                    .iter()
                    .map(|d| ManifestRef::Manifest(d.digest.clone())),
            )
            .collect();
        let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
        let record = ManifestRecord {
            digest: digest.clone(),
            media_type: parsed.media_type.clone(),
            artifact_type: parsed.artifact_type.clone(),
            subject: subject.clone(),
            annotations: parsed
                .annotations
                .as_ref()
                .map(|a| serde_json::Value::Object(a.clone()).to_string()),
            content,
            created_at: now_millis(),
        };
        let tag = match reference {
            Reference::Tag(t) => Some(t.as_str()),
            Reference::Digest(_) => None,
        };
        self.meta
            .put_manifest(repo.as_str(), &record, &refs, tag)
            .await
            .map_err(|e| match e {
                PutManifestError::Missing(d) => Error::ManifestBlobUnknown(d),
                PutManifestError::Store(s) => Error::Storage(s),
            })?;
        Ok(ManifestOutcome { digest, subject })
    }

    pub async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<ManifestRecord> {
        let found = match reference {
            Reference::Tag(t) => self.meta.manifest_by_tag(repo.as_str(), t.as_str()).await?,
            Reference::Digest(d) => self.meta.manifest(repo.as_str(), d).await?,
        };
        found.ok_or_else(|| Error::ManifestUnknown(reference.to_string()))
    }

    /// Deletes a manifest (by digest, with its tags) or only a tag.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<()> {
        let deleted = match reference {
            Reference::Tag(t) => self.meta.delete_tag(repo.as_str(), t.as_str()).await?,
            Reference::Digest(d) => self.meta.delete_manifest(repo.as_str(), d).await?,
        };
        if deleted {
            Ok(())
        } else {
            Err(Error::ManifestUnknown(reference.to_string()))
        }
    }

    // ---- listings ----

    pub async fn list_tags(
        &self,
        repo: &RepoName,
        n: Option<u32>,
        last: Option<&Tag>,
    ) -> Result<Vec<String>> {
        if !self.meta.repository_exists(repo.as_str()).await? {
            return Err(Error::NameUnknown(repo.to_string()));
        }
        let n = n
            .unwrap_or(self.options.max_page)
            .min(self.options.max_page);
        if n == 0 {
            return Ok(Vec::new());
        }
        Ok(self
            .meta
            .list_tags(repo.as_str(), last.map(Tag::as_str), n)
            .await?)
    }

    pub async fn catalog(&self, n: Option<u32>, last: Option<&str>) -> Result<Vec<String>> {
        let n = n
            .unwrap_or(self.options.max_page)
            .min(self.options.max_page);
        if n == 0 {
            return Ok(Vec::new());
        }
        Ok(self.meta.list_repositories(last, n).await?)
    }

    /// Manifests whose `subject` is `digest`, optionally only those of one artifact type.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        let records = self.meta.referrers(repo.as_str(), digest).await?;
        Ok(records
            .into_iter()
            .filter(|r| artifact_type.is_none_or(|t| r.artifact_type.as_deref() == Some(t)))
            .map(|r| Referrer {
                media_type: r.media_type,
                digest: r.digest,
                size: r.size,
                artifact_type: r.artifact_type,
                annotations: r.annotations.and_then(|a| serde_json::from_str(&a).ok()),
            })
            .collect())
    }

    /// Whether a manifest of `media_type` may be served to a client that sent `accept`.
    /// No `Accept`, or one naming no manifest type at all, accepts anything: many clients
    /// send none, and refusing them would break pulls for no gain.
    pub fn acceptable(media_type: &str, accept: &[&str]) -> bool {
        let types: Vec<&str> = accept
            .iter()
            .flat_map(|h| h.split(','))
            .map(|t| t.split(';').next().unwrap_or("").trim())
            .filter(|t| !t.is_empty())
            .collect();
        let names_manifests = types
            .iter()
            .any(|t| portcullis_oci::media_types::MANIFEST_TYPES.contains(t));
        !names_manifests
            || types
                .iter()
                .any(|t| *t == media_type || *t == "*/*" || *t == "application/*")
    }

    /// Largest manifest accepted, for the edge's body limit.
    pub const MAX_MANIFEST_SIZE: usize = MAX_MANIFEST_SIZE;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_rules() {
        let oci = portcullis_oci::media_types::OCI_MANIFEST;
        let index = portcullis_oci::media_types::OCI_INDEX;
        assert!(Registry::acceptable(oci, &[]));
        assert!(Registry::acceptable(oci, &["application/json"]));
        assert!(Registry::acceptable(
            oci,
            &[&format!("{index}, {oci};q=0.5")]
        ));
        assert!(!Registry::acceptable(oci, &[index]));
        assert!(Registry::acceptable(oci, &[index, "*/*"]));
    }
}
