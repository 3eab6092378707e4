//! The registry service: blobs, uploads, manifests, tags, referrers and the catalog.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use portcullis_oci::manifest::{parse_manifest, ManifestError, MAX_MANIFEST_SIZE};
use portcullis_oci::{ByteRange, ContentRange, Digest, Reference, RepoName, Tag};
use portcullis_storage::meta::now_millis;
use portcullis_storage::{
    BlobStore, ByteStream, ImageRecord, ManifestRecord, ManifestRef, MetaStore, PutManifestError,
    TagWrite,
};

use crate::repository::RepositorySettings;

use crate::uploads::UploadLocks;

pub mod expiry;
pub mod gc;
pub mod preview;
mod uploads;
use crate::{Error, Result};

/// Minimum age of a staged file without a session row before the reaper discards it. Far
/// longer than the gap between writing the file and its row in `start_upload`, even on a
/// loaded machine or a slow store.
pub const ORPHAN_MIN_AGE_MS: i64 = 3_600_000;

/// Knobs of the registry service.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Largest page a tags or catalog listing returns, whatever `n` asks for.
    pub max_page: u32,
    /// Soft quotas (ECR's adjustable service quotas).
    pub max_repositories: u64,
    pub max_images_per_repository: u64,
    pub max_tags_per_image: u64,
    /// Open upload sessions one principal may hold (anonymous callers share one count).
    pub max_uploads_per_principal: u64,
    /// Open upload sessions in the whole registry.
    pub max_uploads: u64,
    /// Largest blob an upload may produce, in bytes.
    pub max_blob_bytes: u64,
    /// Blob GETs are answered with a presigned URL of the object store valid this long,
    /// where the blob store can make one (`[storage] redirect`); `None` streams every blob
    /// through the node.
    pub redirect_ttl: Option<std::time::Duration>,
    /// How long a claim on an upload session holds against requests through other nodes
    /// without being renewed. A request renews its claim every third of this while it
    /// streams, so this bounds how long a node that died mid-chunk keeps the session.
    pub append_lease_ms: i64,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            max_page: 10_000,
            max_repositories: 10_000,
            max_images_per_repository: 10_000,
            max_tags_per_image: 1_000,
            max_uploads_per_principal: 100,
            max_uploads: 10_000,
            max_blob_bytes: 10 * 1024 * 1024 * 1024,
            append_lease_ms: 30_000,
            redirect_ttl: None,
        }
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
    pub media_type: String,
    /// The manifest was new to the repository.
    pub created: bool,
    /// Where the tag pointed before this push (None: the tag is new, or no tag was pushed).
    pub previous_tag_target: Option<Digest>,
}

/// One image of a repository as the ECR listings describe it.
#[derive(Debug, Clone)]
pub struct ImageDetail {
    pub digest: Digest,
    pub tags: Vec<String>,
    pub media_type: String,
    /// The config's media type (ECR's `artifactMediaType`).
    pub config_media_type: Option<String>,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    /// Config plus layers for an image; the largest child for an index.
    pub size: u64,
    /// Unix milliseconds.
    pub pushed_at: i64,
    pub last_pulled_at: Option<i64>,
}

/// What deleting one image id did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageDeletion {
    /// Removed: the digest, and the tag when a tag was named.
    Deleted {
        digest: Digest,
        tag: Option<String>,
    },
    NotFound,
    /// An index still lists the image as one of its manifests.
    ReferencedByIndex,
    /// Both a tag and a digest were given and the tag points elsewhere.
    TagDoesNotMatchDigest,
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
    /// When each image's last pull was recorded, so pulls write at most once a minute; keyed by
    /// a hash of (repository, digest) so that a pull allocates nothing here (a collision only
    /// skips one approximate timestamp).
    pulls: std::sync::Mutex<std::collections::HashMap<u64, i64>>,
    pull_keys: std::collections::hash_map::RandomState,
}

/// How often a pull of the same image is written down (`lastRecordedPullTime` is approximate in
/// ECR too); a pull-heavy workload must not turn into a write per request.
const PULL_RECORD_INTERVAL_MS: i64 = 60_000;
/// The smallest UploadLayerPart part other than the last.
pub const MIN_LAYER_PART: u64 = 5 * 1024 * 1024;
/// The most UploadLayerPart parts one upload takes.
pub const MAX_LAYER_PARTS: u32 = 4_200;

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
            pulls: Default::default(),
            pull_keys: Default::default(),
        }
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// Readiness: the metadata store answers and the blob store takes writes. The error names
    /// which one failed.
    pub async fn check_ready(&self) -> std::result::Result<(), String> {
        self.meta
            .check()
            .await
            .map_err(|e| format!("metadata store ({}): {e}", self.meta.backend()))?;
        self.blobs
            .check()
            .await
            .map_err(|e| format!("blob store ({}): {e}", self.blobs.backend()))
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
        // Counted as they leave, so the figure is what was served, not what was asked for.
        let stream = read
            .stream
            .inspect(|chunk| {
                if let Ok(chunk) = chunk {
                    metrics::counter!("portcullis_blob_bytes_served_total")
                        .increment(chunk.len() as u64);
                }
            })
            .boxed();
        Ok(BlobBody {
            size,
            range,
            len: read.len,
            stream,
        })
    }

    /// Where a client fetches a blob of the repository from the object store directly, when
    /// redirects are on and the blob store can presign a URL; `None` means stream it. The
    /// repository's link is checked first, so a URL is never made for a blob the repository
    /// does not hold.
    pub async fn blob_redirect(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<Option<url::Url>> {
        let Some(ttl) = self.options.redirect_ttl else {
            return Ok(None);
        };
        self.stat_blob(repo, digest).await?;
        let url = self.blobs.presigned_get(digest, ttl).await?;
        if url.is_some() {
            metrics::counter!("portcullis_blob_redirects_total").increment(1);
        }
        Ok(url)
    }

    /// Unlinks a blob from the repository; its bytes stay until garbage collection.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        if self.meta.unlink_blob(repo.as_str(), digest).await? {
            Ok(())
        } else {
            Err(Error::BlobUnknown(digest.clone()))
        }
    }

    // ---- manifests ----

    /// Stores a manifest under a tag or its digest (`PUT /v2/<name>/manifests/<reference>`).
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<ManifestOutcome> {
        match reference {
            Reference::Tag(t) => {
                self.put_image(repo, Some(t), None, content_type, content)
                    .await
            }
            Reference::Digest(d) => {
                self.put_image(repo, None, Some(d), content_type, content)
                    .await
            }
        }
    }

    /// Stores a manifest, optionally tagged, optionally checked against an expected digest.
    /// The repository must exist; an immutable tag is never moved to another digest.
    pub async fn put_image(
        &self,
        repo: &RepoName,
        tag: Option<&Tag>,
        expected: Option<&Digest>,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<ManifestOutcome> {
        let parsed = parse_manifest(&content, content_type).map_err(|e| match e {
            ManifestError::TooLarge(_) => Error::ManifestTooLarge(e.to_string()),
            other => Error::ManifestInvalid(other.to_string()),
        })?;
        let digest = match expected {
            Some(d) => {
                let actual = Digest::of(d.algorithm(), &content);
                if &actual != d {
                    return Err(Error::DigestInvalid(format!(
                        "manifest content has digest `{actual}`, not `{d}`"
                    )));
                }
                actual
            }
            None => Digest::sha256_of(&content),
        };
        let Some(repository) = self.meta.repository(repo.as_str()).await? else {
            return Err(Error::NameUnknown(repo.to_string()));
        };
        let settings = RepositorySettings::from_stored(repository.settings.as_deref());
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
        self.check_image_quotas(repo, &digest, tag).await?;
        let tag_write = tag.map(|t| TagWrite {
            name: t.as_str(),
            immutable: settings.tag_is_immutable(t.as_str()),
        });
        let outcome = self
            .meta
            .put_manifest(repo.as_str(), &record, &refs, tag_write)
            .await
            .map_err(|e| match e {
                PutManifestError::Missing(d) => Error::ManifestBlobUnknown(d),
                PutManifestError::TagImmutable { tag, .. } => Error::TagImmutable {
                    repository: repo.to_string(),
                    tag,
                },
                PutManifestError::NameUnknown(_) => Error::NameUnknown(repo.to_string()),
                PutManifestError::Store(s) => Error::Storage(s),
            })?;
        Ok(ManifestOutcome {
            digest,
            subject,
            media_type: parsed.media_type,
            created: outcome.created,
            previous_tag_target: outcome.previous_tag_target,
        })
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

    /// Refuses a push that would take the repository over its image quota or the image over
    /// its tag quota (checked before the write; a race can overshoot by the pushes in flight).
    async fn check_image_quotas(
        &self,
        repo: &RepoName,
        digest: &Digest,
        tag: Option<&Tag>,
    ) -> Result<()> {
        let exists = self.meta.manifest(repo.as_str(), digest).await?.is_some();
        if !exists
            && self.meta.image_count(repo.as_str()).await? >= self.options.max_images_per_repository
        {
            return Err(Error::QuotaExceeded(format!(
                "repository `{repo}` holds {} images, its quota",
                self.options.max_images_per_repository
            )));
        }
        if let (true, Some(tag)) = (exists, tag) {
            let tags = self.meta.tags_of(repo.as_str(), digest).await?;
            if !tags.iter().any(|t| t == tag.as_str())
                && tags.len() as u64 >= self.options.max_tags_per_image
            {
                return Err(Error::QuotaExceeded(format!(
                    "image `{digest}` has {} tags, its quota",
                    self.options.max_tags_per_image
                )));
            }
        }
        Ok(())
    }

    /// Notes a pull of an image for `lastRecordedPullTime`, at most once a minute per image
    /// and without making the pull wait for the write.
    pub fn record_pull(&self, repo: &RepoName, digest: &Digest) {
        let now = now_millis();
        {
            use std::hash::BuildHasher;
            let key = self.pull_keys.hash_one((repo.as_str(), digest));
            let mut pulls = self.pulls.lock().unwrap_or_else(|e| e.into_inner());
            match pulls.get(&key) {
                Some(at) if now - at < PULL_RECORD_INTERVAL_MS => return,
                _ => {}
            }
            if pulls.len() > 100_000 {
                pulls.clear();
            }
            pulls.insert(key, now);
        }
        let meta = self.meta.clone();
        let repo = repo.to_string();
        let digest = digest.clone();
        tokio::spawn(async move {
            if let Err(e) = meta.record_pull(&repo, &digest, now).await {
                tracing::warn!(error = %e, "recording a pull failed");
            }
        });
    }

    /// Every image of the repository, oldest push first, with its size and tags.
    pub async fn images(&self, repo: &RepoName) -> Result<Vec<ImageDetail>> {
        if !self.meta.repository_exists(repo.as_str()).await? {
            return Err(Error::NameUnknown(repo.to_string()));
        }
        let records = self.meta.images(repo.as_str()).await?;
        let own_sizes: std::collections::HashMap<Digest, u64> = records
            .iter()
            .map(|r| (r.manifest.digest.clone(), image_own_size(r)))
            .collect();
        Ok(records
            .into_iter()
            .map(|r| {
                let parsed = parse_manifest(&r.manifest.content, Some(&r.manifest.media_type)).ok();
                let size = match &parsed {
                    Some(p) if !p.manifests.is_empty() => p
                        .manifests
                        .iter()
                        .map(|c| own_sizes.get(&c.digest).copied().unwrap_or(c.size))
                        .max()
                        .unwrap_or(0),
                    _ => own_sizes
                        .get(&r.manifest.digest)
                        .copied()
                        .unwrap_or_default(),
                };
                ImageDetail {
                    digest: r.manifest.digest,
                    tags: r.tags,
                    media_type: r.manifest.media_type,
                    config_media_type: parsed
                        .as_ref()
                        .and_then(|p| p.config.as_ref())
                        .map(|c| c.media_type.clone()),
                    artifact_type: r.manifest.artifact_type,
                    subject: r.manifest.subject,
                    size,
                    pushed_at: r.manifest.created_at,
                    last_pulled_at: r.last_pulled_at,
                }
            })
            .collect())
    }

    /// Deletes one image id the way ECR's BatchDeleteImage does: a tag alone removes that tag
    /// (and the image with its last tag), a digest removes the image with all its tags.
    pub async fn delete_image(
        &self,
        repo: &RepoName,
        tag: Option<&Tag>,
        digest: Option<&Digest>,
    ) -> Result<ImageDeletion> {
        let target = match (tag, digest) {
            (Some(t), _) => match self.meta.manifest_by_tag(repo.as_str(), t.as_str()).await? {
                None => return Ok(ImageDeletion::NotFound),
                Some(m) => {
                    if digest.is_some_and(|d| d != &m.digest) {
                        return Ok(ImageDeletion::TagDoesNotMatchDigest);
                    }
                    m.digest
                }
            },
            (None, Some(d)) => match self.meta.manifest(repo.as_str(), d).await? {
                None => return Ok(ImageDeletion::NotFound),
                Some(m) => m.digest,
            },
            (None, None) => return Ok(ImageDeletion::NotFound),
        };
        let referenced = !self
            .meta
            .manifest_parents(repo.as_str(), &target)
            .await?
            .is_empty();
        if let (Some(t), None) = (tag, digest) {
            let remaining = self.meta.tags_of(repo.as_str(), &target).await?;
            if remaining.len() > 1 || referenced {
                // Other tags (or an index) keep the image; only the tag goes.
                self.meta.delete_tag(repo.as_str(), t.as_str()).await?;
                return Ok(ImageDeletion::Deleted {
                    digest: target,
                    tag: Some(t.to_string()),
                });
            }
        } else if referenced {
            return Ok(ImageDeletion::ReferencedByIndex);
        }
        self.meta.delete_manifest(repo.as_str(), &target).await?;
        Ok(ImageDeletion::Deleted {
            digest: target,
            tag: tag.map(Tag::to_string),
        })
    }

    /// Whether an image of the repository uses the blob (as config or layer).
    pub async fn blob_in_use(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        Ok(self.meta.blob_referenced(repo.as_str(), digest).await?)
    }

    /// Tags of one image.
    pub async fn tags_of(&self, repo: &RepoName, digest: &Digest) -> Result<Vec<String>> {
        Ok(self.meta.tags_of(repo.as_str(), digest).await?)
    }

    // ---- layers through the ECR API ----

    /// Appends one UploadLayerPart part covering bytes `first..=last` of the layer.
    pub async fn upload_part(
        &self,
        repo: &RepoName,
        id: &str,
        principal: &str,
        first: u64,
        last: u64,
        part: Bytes,
    ) -> Result<u64> {
        self.check_upload(repo, id, principal).await?;
        let parts = self.meta.upload_parts(id).await?;
        if parts.parts >= MAX_LAYER_PARTS {
            return Err(Error::UploadTooManyParts(MAX_LAYER_PARTS));
        }
        let len = part.len() as u64;
        if last < first || last - first + 1 != len {
            return Err(Error::UploadInvalid(format!(
                "the part covers bytes {first} to {last} but holds {len} bytes"
            )));
        }
        let range = ContentRange {
            start: first,
            end: last,
        };
        let body: ByteStream = Box::pin(futures::stream::once(async move { Ok(part) }));
        let total = self
            .patch_upload(repo, id, principal, Some(range), Some(len), body)
            .await?;
        self.meta
            .record_upload_part(id, len, MIN_LAYER_PART)
            .await?;
        Ok(total)
    }

    /// Finishes an upload fed by UploadLayerPart: every part but the last must have had the
    /// minimum size, and a layer the repository already holds is refused.
    pub async fn complete_layer_upload(
        &self,
        repo: &RepoName,
        id: &str,
        principal: &str,
        digest: &Digest,
    ) -> Result<u64> {
        self.check_upload(repo, id, principal).await?;
        let parts = self.meta.upload_parts(id).await?;
        if parts.parts == 0 {
            return Err(Error::UploadEmpty);
        }
        if parts.undersized_part {
            return Err(Error::UploadPartTooSmall);
        }
        if self.meta.blob_link(repo.as_str(), digest).await?.is_some() {
            self.discard_upload(id).await?;
            return Err(Error::LayerAlreadyExists(digest.clone()));
        }
        self.finish_upload(repo, id, principal, digest, None, None, None)
            .await
    }

    /// Whether the repository exists.
    pub async fn repository_exists(&self, repo: &str) -> Result<bool> {
        Ok(self.meta.repository_exists(repo).await?)
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

/// Config plus layers of an image manifest, from the sizes its descriptors declare (the
/// registry verified them against the stored blobs when the manifest was pushed).
fn image_own_size(record: &ImageRecord) -> u64 {
    match parse_manifest(&record.manifest.content, Some(&record.manifest.media_type)) {
        Ok(p) => p.config.iter().chain(p.layers.iter()).map(|d| d.size).sum(),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_oci::Hasher;
    use portcullis_storage::{BeginAppend, DeleteRepository, NewRepository, UploadProgress};

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

    /// A staged file whose session row is not written yet (the window inside `start_upload`)
    /// must survive a reaper run; only the minimum age makes an orphan reapable.
    #[tokio::test]
    async fn reaper_spares_young_orphan_staging_files() {
        use portcullis_storage::blob::fs::FsBlobStore;
        use portcullis_storage::meta::sqlite::SqliteMetaStore;
        const ID: &str = "0b3f6f5e-8c1d-4f4e-9a57-3c2d1e0f9a11";
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(FsBlobStore::open(dir.path(), false).unwrap());
        let meta = Arc::new(
            SqliteMetaStore::open(&dir.path().join("meta.db"))
                .await
                .unwrap(),
        );
        let registry = Registry::new(blobs.clone(), meta, RegistryOptions::default());
        blobs.create_upload(ID).await.unwrap();

        assert_eq!(registry.reap_uploads(3_600_000).await.unwrap(), 0);
        assert_eq!(blobs.upload_len(ID, None).await.unwrap(), Some(0));

        // Listed as old once the cut-off passes its mtime: what a run an hour later sees.
        let later = now_millis() + ORPHAN_MIN_AGE_MS + 1_000;
        assert_eq!(blobs.list_uploads(later).await.unwrap(), vec![ID]);
    }

    pub(super) async fn registry_with(
        dir: &tempfile::TempDir,
        options: RegistryOptions,
    ) -> (Registry, Arc<dyn BlobStore>, Arc<dyn MetaStore>) {
        use portcullis_storage::blob::fs::FsBlobStore;
        use portcullis_storage::meta::sqlite::SqliteMetaStore;
        let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(dir.path(), false).unwrap());
        let meta: Arc<dyn MetaStore> = Arc::new(
            SqliteMetaStore::open(&dir.path().join("meta.db"))
                .await
                .unwrap(),
        );
        let registry = Registry::new(blobs.clone(), meta.clone(), options);
        (registry, blobs, meta)
    }

    pub(super) fn bytes_body(data: &'static [u8]) -> ByteStream {
        Box::pin(futures::stream::once(async move {
            Ok(Bytes::from_static(data))
        }))
    }

    /// Deleting a repository ends its sessions with their staged bytes; the old session can
    /// neither append nor complete, and nothing re-creates the repository.
    #[tokio::test]
    async fn deleting_a_repository_ends_its_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, blobs, meta) = registry_with(&dir, RegistryOptions::default()).await;
        let repo: RepoName = "team/app".parse().unwrap();
        meta.create_repository(repo.as_str(), &NewRepository::default())
            .await
            .unwrap();
        let id = registry.start_upload(&repo, "arn:p").await.unwrap();
        registry
            .patch_upload(&repo, &id, "arn:p", None, None, bytes_body(b"abc"))
            .await
            .unwrap();
        let outcome = registry
            .delete_repository(repo.as_str(), true)
            .await
            .unwrap();
        let DeleteRepository::Deleted { ended_uploads } = outcome else {
            panic!("not deleted: {outcome:?}");
        };
        let ended: Vec<&str> = ended_uploads.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ended, [id.as_str()]);
        assert!(
            ended_uploads[0].backend_state.is_some(),
            "the state goes to the backend's abort"
        );
        assert_eq!(blobs.upload_len(&id, None).await.unwrap(), None);
        assert!(matches!(
            registry
                .patch_upload(&repo, &id, "arn:p", None, None, bytes_body(b"def"))
                .await,
            Err(Error::UploadUnknown(_))
        ));
        let digest = Digest::sha256_of(b"abc");
        assert!(matches!(
            registry
                .finish_upload(&repo, &id, "arn:p", &digest, None, None, None)
                .await,
            Err(Error::UploadUnknown(_))
        ));
        assert!(matches!(
            registry.start_upload(&repo, "arn:p").await,
            Err(Error::NameUnknown(_))
        ));
        assert!(!meta.repository_exists(repo.as_str()).await.unwrap());
    }

    #[tokio::test]
    async fn blobs_over_the_size_limit_are_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let options = RegistryOptions {
            max_blob_bytes: 4,
            ..RegistryOptions::default()
        };
        let (registry, blobs, meta) = registry_with(&dir, options).await;
        let repo: RepoName = "r".parse().unwrap();
        meta.create_repository("r", &NewRepository::default())
            .await
            .unwrap();
        // Announced too large: refused before reading.
        let id = registry.start_upload(&repo, "p").await.unwrap();
        assert!(matches!(
            registry
                .patch_upload(&repo, &id, "p", None, Some(5), bytes_body(b"x"))
                .await,
            Err(Error::BlobTooLarge { max: 4 })
        ));
        assert_eq!(blobs.upload_len(&id, None).await.unwrap(), None);
        assert_eq!(meta.upload(&id).await.unwrap(), None);
        // Streamed too large across two chunks.
        let id = registry.start_upload(&repo, "p").await.unwrap();
        registry
            .patch_upload(&repo, &id, "p", None, None, bytes_body(b"abc"))
            .await
            .unwrap();
        assert!(matches!(
            registry
                .patch_upload(&repo, &id, "p", None, None, bytes_body(b"de"))
                .await,
            Err(Error::BlobTooLarge { max: 4 })
        ));
        assert_eq!(meta.upload(&id).await.unwrap(), None);
        let digest = Digest::sha256_of(b"abcde");
        assert!(matches!(
            registry
                .upload_whole(&repo, &digest, None, bytes_body(b"abcde"), "p")
                .await,
            Err(Error::BlobTooLarge { max: 4 })
        ));
        assert_eq!(meta.blob_link("r", &digest).await.unwrap(), None);
    }

    /// Two nodes on one store: the chunks of a push may land on either, the hash continues
    /// from the recorded state, and a claim held by one keeps the other out.
    #[tokio::test]
    async fn an_upload_moves_between_nodes_and_one_appends_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (a, blobs, meta) = registry_with(&dir, RegistryOptions::default()).await;
        let b = Registry::new(blobs.clone(), meta.clone(), RegistryOptions::default());
        let repo: RepoName = "r".parse().unwrap();
        meta.create_repository("r", &NewRepository::default())
            .await
            .unwrap();
        let id = a.start_upload(&repo, "p").await.unwrap();
        a.patch_upload(&repo, &id, "p", None, None, bytes_body(b"abc"))
            .await
            .unwrap();
        assert_eq!(
            b.patch_upload(&repo, &id, "p", None, None, bytes_body(b"def"))
                .await
                .unwrap(),
            6
        );
        let progress = meta.upload_progress(&id).await.unwrap().unwrap();
        assert_eq!(progress.offset, 6);
        let resumed = Hasher::restore(
            portcullis_oci::Algorithm::Sha256,
            progress.hash_state.as_deref().unwrap(),
        )
        .unwrap();
        assert_eq!(resumed.finalize(), Digest::sha256_of(b"abcdef"));

        // A claim another node holds (mid-append, or dead before its lease ran out).
        assert!(matches!(
            meta.begin_append(&id, 6, 60_000).await.unwrap(),
            BeginAppend::Claimed(_)
        ));
        assert!(matches!(
            a.patch_upload(&repo, &id, "p", None, None, bytes_body(b"g"))
                .await,
            Err(Error::UploadInvalid(_))
        ));
        let release = UploadProgress {
            offset: 6,
            hash_state: None,
            backend_state: None,
        };
        assert!(meta.finish_append(&id, 6, &release).await.unwrap());
        assert_eq!(a.upload_status(&repo, &id, "p").await.unwrap(), 6);
        let digest = Digest::sha256_of(b"abcdefg");
        assert_eq!(
            a.finish_upload(&repo, &id, "p", &digest, None, None, Some(bytes_body(b"g")))
                .await
                .unwrap(),
            7
        );
        assert_eq!(meta.blob_link("r", &digest).await.unwrap(), Some(7));
    }

    /// Appends straight to the blob store from the recorded state, without recording the
    /// result: what a node killed between the two leaves.
    async fn append_unrecorded(
        meta: &dyn MetaStore,
        blobs: &dyn BlobStore,
        id: &str,
        offset: u64,
        data: &'static [u8],
    ) {
        let progress = meta.upload_progress(id).await.unwrap().unwrap();
        assert_eq!(progress.offset, offset);
        blobs
            .append_upload(
                id,
                offset,
                progress.backend_state.as_deref(),
                bytes_body(data),
            )
            .await
            .unwrap();
    }

    /// Bytes a failed append left past the recorded offset are not part of the blob.
    #[tokio::test]
    async fn unrecorded_bytes_never_reach_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, blobs, meta) = registry_with(&dir, RegistryOptions::default()).await;
        let repo: RepoName = "r".parse().unwrap();
        meta.create_repository("r", &NewRepository::default())
            .await
            .unwrap();
        let id = registry.start_upload(&repo, "p").await.unwrap();
        // A first append that was never recorded.
        append_unrecorded(&*meta, &*blobs, &id, 0, b"early").await;
        assert_eq!(registry.upload_status(&repo, &id, "p").await.unwrap(), 0);
        registry
            .patch_upload(&repo, &id, "p", None, None, bytes_body(b"abc"))
            .await
            .unwrap();
        // What a node killed after writing, before recording, leaves.
        append_unrecorded(&*meta, &*blobs, &id, 3, b"junk").await;
        assert_eq!(registry.upload_status(&repo, &id, "p").await.unwrap(), 3);
        let digest = Digest::sha256_of(b"abc");
        assert_eq!(
            registry
                .finish_upload(&repo, &id, "p", &digest, None, None, None)
                .await
                .unwrap(),
            3
        );
        let read = blobs.read(&digest, None).await.unwrap().unwrap();
        assert_eq!(read.len, 3);
    }

    /// A chunk that streams for longer than a lease keeps its claim (it is renewed), and a
    /// claim nobody renews (its node died) lets another node in after one lease.
    #[tokio::test]
    async fn claims_are_renewed_while_a_chunk_streams_and_expire_when_not() {
        let dir = tempfile::tempdir().unwrap();
        let options = RegistryOptions {
            append_lease_ms: 90,
            ..RegistryOptions::default()
        };
        let (a, blobs, meta) = registry_with(&dir, options.clone()).await;
        let b = Registry::new(blobs, meta.clone(), options);
        let repo: RepoName = "r".parse().unwrap();
        meta.create_repository("r", &NewRepository::default())
            .await
            .unwrap();
        let id = a.start_upload(&repo, "p").await.unwrap();
        let slow: ByteStream = Box::pin(futures::stream::unfold(0, |i| async move {
            if i == 3 {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(120)).await;
            Some((Ok(Bytes::from_static(b"ab")), i + 1))
        }));
        let streaming = a.patch_upload(&repo, &id, "p", None, None, slow);
        let intruder = async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            b.patch_upload(&repo, &id, "p", None, None, bytes_body(b"x"))
                .await
        };
        let (streamed, intruded) = tokio::join!(streaming, intruder);
        assert_eq!(streamed.unwrap(), 6);
        assert!(
            matches!(intruded, Err(Error::UploadInvalid(_))),
            "{intruded:?}"
        );
        // A claim left behind (a node killed mid-chunk) expires after one lease.
        assert!(matches!(
            meta.begin_append(&id, 6, 90).await.unwrap(),
            BeginAppend::Claimed(_)
        ));
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        assert_eq!(
            b.patch_upload(&repo, &id, "p", None, None, bytes_body(b"cd"))
                .await
                .unwrap(),
            8
        );
    }
}
