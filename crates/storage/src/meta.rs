//! The metadata seam: repositories, manifests, tags, blob links, upload sessions, referrers.
//!
//! Repositories are addressed by name; every method is one transaction, so concurrent writers
//! see each other's changes whole or not at all.

#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_iam;

use async_trait::async_trait;
use bytes::Bytes;
use portcullis_oci::Digest;

use crate::{Error, Result};

/// A stored manifest with what the registry derived from it at push time.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    /// The `annotations` object as JSON text, for the referrers API.
    pub annotations: Option<String>,
    pub content: Bytes,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Something a manifest needs to exist in its repository before it may be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    Blob(Digest),
    Manifest(Digest),
}

/// A manifest whose `subject` is the digest asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferrerRecord {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: String,
    pub repository: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A repository with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRecord {
    pub name: String,
    pub created_at: i64,
    /// The repository policy document, if one is set.
    pub policy: Option<String>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteRepository {
    Deleted,
    NotFound,
    /// The repository still holds images and `force` was not given.
    NotEmpty,
}

#[derive(Debug, thiserror::Error)]
pub enum PutManifestError {
    #[error("manifest references `{0}`, which is not in the repository")]
    Missing(Digest),
    #[error(transparent)]
    Store(#[from] Error),
}

#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    fn backend(&self) -> &'static str;

    async fn repository_exists(&self, repo: &str) -> Result<bool>;
    /// Creates the repository if absent.
    async fn ensure_repository(&self, repo: &str) -> Result<()>;
    /// Repository names in lexical order after `last`, at most `limit`.
    async fn list_repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>>;

    /// Creates a repository with tags; `false` when it exists already.
    async fn create_repository(&self, repo: &str, tags: &[(String, String)]) -> Result<bool>;
    async fn repository(&self, repo: &str) -> Result<Option<RepositoryRecord>>;
    /// Repositories in lexical order after `last`, at most `limit`, with their settings.
    async fn repository_records(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RepositoryRecord>>;
    /// Deletes a repository; with `force` even when it holds images.
    async fn delete_repository(&self, repo: &str, force: bool) -> Result<DeleteRepository>;
    /// Sets or clears the repository policy; `false` when the repository does not exist.
    async fn set_repository_policy(&self, repo: &str, policy: Option<&str>) -> Result<bool>;
    /// A registry-wide setting (`registry_policy`, account settings).
    async fn registry_setting(&self, name: &str) -> Result<Option<String>>;
    /// Sets or clears a registry-wide setting; returns whether a value was there before.
    async fn set_registry_setting(&self, name: &str, value: Option<&str>) -> Result<bool>;

    /// Makes a committed blob visible in a repository (creating the repository).
    async fn link_blob(&self, repo: &str, digest: &Digest, size: u64) -> Result<()>;
    /// Size of a blob linked into the repository.
    async fn blob_link(&self, repo: &str, digest: &Digest) -> Result<Option<u64>>;
    async fn unlink_blob(&self, repo: &str, digest: &Digest) -> Result<bool>;

    /// Stores a manifest (and points `tag` at it) after checking, in the same transaction,
    /// that everything in `refs` exists in the repository.
    async fn put_manifest(
        &self,
        repo: &str,
        manifest: &ManifestRecord,
        refs: &[ManifestRef],
        tag: Option<&str>,
    ) -> Result<(), PutManifestError>;
    async fn manifest(&self, repo: &str, digest: &Digest) -> Result<Option<ManifestRecord>>;
    async fn manifest_by_tag(&self, repo: &str, tag: &str) -> Result<Option<ManifestRecord>>;
    /// Deletes a manifest and every tag pointing at it.
    async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<bool>;
    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool>;
    /// Tags in lexical order after `last`, at most `limit`.
    async fn list_tags(&self, repo: &str, last: Option<&str>, limit: u32) -> Result<Vec<String>>;
    /// Manifests whose subject is `subject`, ordered by digest.
    async fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<ReferrerRecord>>;

    async fn create_upload(&self, id: &str, repo: &str) -> Result<()>;
    async fn upload(&self, id: &str) -> Result<Option<UploadRecord>>;
    async fn touch_upload(&self, id: &str) -> Result<()>;
    async fn delete_upload(&self, id: &str) -> Result<()>;
    /// Uploads not touched since `before` (unix milliseconds).
    async fn stale_uploads(&self, before: i64) -> Result<Vec<UploadRecord>>;
}

/// Unix milliseconds now.
pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}
