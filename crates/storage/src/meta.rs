//! The metadata seam: repositories, manifests, tags, blob links, upload sessions, referrers.
//!
//! Repositories are addressed by name; every method is one transaction, so concurrent writers
//! see each other's changes whole or not at all.

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
mod postgres_blobs;
#[cfg(feature = "postgres")]
mod postgres_iam;
#[cfg(feature = "postgres")]
mod postgres_previews;
#[cfg(feature = "postgres")]
mod postgres_secrets;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_blobs;
#[cfg(feature = "sqlite")]
mod sqlite_iam;
#[cfg(feature = "sqlite")]
mod sqlite_previews;
#[cfg(feature = "sqlite")]
mod sqlite_secrets;

use async_trait::async_trait;
use bytes::Bytes;
use portcullis_oci::Digest;

use crate::{Error, Result};

/// What opening a metadata store does about a schema behind this version's migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaMode {
    /// Apply them (`serve` with `migrate_on_start`).
    Upgrade,
    /// Refuse to open, naming them (`serve` without `migrate_on_start`, offline commands).
    Require,
    /// Open as it is, for `portcullis migrate` to list and apply them.
    AsIs,
}

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
    /// Who opened the session: an ARN, or [`ANONYMOUS_PRINCIPAL`]; `None` for sessions older
    /// than the column.
    pub principal: Option<String>,
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
    /// The core service's settings document (tag mutability, encryption, scanning), as JSON;
    /// `None` for repositories created before settings existed, which have the defaults.
    pub settings: Option<String>,
    pub lifecycle_policy: Option<String>,
    /// Unix milliseconds of the last lifecycle evaluation.
    pub lifecycle_evaluated_at: Option<i64>,
}

/// Everything a repository is created with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRepository {
    pub tags: Vec<(String, String)>,
    pub settings: Option<String>,
    pub policy: Option<String>,
    pub lifecycle_policy: Option<String>,
}

/// One image (manifest) of a repository with its tags, for the ECR listings.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    pub manifest: ManifestRecord,
    /// Tags pointing at this image, in lexical order.
    pub tags: Vec<String>,
    /// Unix milliseconds of the last recorded pull.
    pub last_pulled_at: Option<i64>,
}

/// A repository's last lifecycle policy preview: the policy text evaluated, when, and what it
/// expires (the core service's JSON document, kept whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePreviewRecord {
    pub policy: String,
    pub results: String,
    /// Unix milliseconds.
    pub evaluated_at: i64,
}

/// The registry-wide documents kept by repository prefix: each kind its own table, the same
/// operations on all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Repository creation templates (the schema seeds `ROOT`).
    CreationTemplate,
    /// Pull-through cache rules.
    PullThroughCacheRule,
}

impl DocumentKind {
    /// The table: a fixed name per kind, never input.
    pub fn table(self) -> &'static str {
        match self {
            DocumentKind::CreationTemplate => "creation_templates",
            DocumentKind::PullThroughCacheRule => "pull_through_cache_rules",
        }
    }
}

/// A document of a [`DocumentKind`]: its prefix and the core service's JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    pub prefix: String,
    pub document: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How a tag may be written by a manifest push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagWrite<'a> {
    pub name: &'a str,
    /// An immutable tag may be created, or re-pointed at the digest it already has, never moved.
    pub immutable: bool,
}

/// What a manifest push changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutManifestOutcome {
    /// The manifest was not in the repository before.
    pub created: bool,
    /// Where the tag pointed before (None: it did not exist).
    pub previous_tag_target: Option<Digest>,
}

/// What a resource-tagging call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRepository {
    Done,
    NotFound,
    /// The result would exceed the per-repository limit; nothing was changed.
    TooMany,
}

/// Progress of an upload fed part by part (ECR's UploadLayerPart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadParts {
    pub parts: u32,
    pub last_part_size: Option<u64>,
    /// A part other than the last was smaller than the minimum.
    pub undersized_part: bool,
}

/// The principal recorded for upload sessions opened without credentials: all of them share
/// one bucket of `max_uploads_per_principal`.
pub const ANONYMOUS_PRINCIPAL: &str = "anonymous";

/// Caps on open upload sessions, checked in the transaction that records a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    pub per_principal: u64,
    pub total: u64,
}

/// What recording a new upload session did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateUpload {
    Created,
    /// The repository does not exist (never created, or deleted meanwhile).
    NameUnknown,
    /// The principal has `per_principal` sessions open already.
    PrincipalLimit,
    /// The registry has `total` sessions open already.
    TotalLimit,
}

/// What completing an upload session did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteUpload {
    /// The blob is linked into the repository and the session is gone.
    Linked,
    /// The session no longer exists (cancelled, reaped, or ended by deleting its repository).
    UploadUnknown,
    /// The repository does not exist.
    NameUnknown,
    /// The claim on the blob is gone: a collector deleted the blob after the claim was taken
    /// (possible only with a grace delay shorter than the upload took). Nothing was linked and
    /// the session is kept; committing again claims anew.
    ClaimLost,
}

/// A blob as garbage collection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcBlob {
    pub digest: Digest,
    pub size: u64,
}

/// A blob's row in the blob table, for diagnostics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRow {
    pub size: u64,
    pub created_at: i64,
    /// `None` while a manifest references the blob.
    pub unreferenced_since: Option<i64>,
    /// Set once a collector has begun deleting it.
    pub deleting_since: Option<i64>,
}

/// What mounting a blob from another repository did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountBlob {
    Mounted {
        size: u64,
    },
    /// The source repository does not hold the blob (or no longer: a collector took it).
    SourceMissing,
    /// The target repository does not exist.
    NameUnknown,
}

/// An upload session a repository delete ended, with the blob backend's state for it, so the
/// caller can discard what the backend staged (an S3 multipart upload can only be aborted by
/// its id, which is in that state).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndedUpload {
    pub id: String,
    pub backend_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteRepository {
    /// Deleted, with the upload sessions that were open on it (their rows are gone with the
    /// repository; the caller discards their staged bytes).
    Deleted {
        ended_uploads: Vec<EndedUpload>,
    },
    NotFound,
    /// The repository still holds images and `force` was not given.
    NotEmpty,
}

/// Where an upload session stands, kept with its row so that any node can continue it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadProgress {
    /// Bytes accepted so far.
    pub offset: u64,
    /// The running hash state after `offset` bytes (opaque to the store).
    pub hash_state: Option<Vec<u8>>,
    /// The blob backend's opaque upload state (S3: multipart id and parts), as text.
    pub backend_state: Option<String>,
}

/// What claiming an upload session for one append found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginAppend {
    /// The caller holds the append until `finish_append` or the lease ends.
    Claimed(UploadProgress),
    /// The session is at another offset.
    Offset(u64),
    /// Another request (on any node) holds an unexpired claim.
    Busy,
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum PutManifestError {
    #[error("manifest references `{0}`, which is not in the repository")]
    Missing(Digest),
    #[error("tag `{tag}` is immutable and points at `{current}`")]
    TagImmutable { tag: String, current: Digest },
    /// The repository does not exist: a manifest push never creates one.
    #[error("repository `{0}` is unknown")]
    NameUnknown(String),
    #[error(transparent)]
    Store(#[from] Error),
}

#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    fn backend(&self) -> &'static str;

    /// Whether the database answers, for readiness checks.
    async fn check(&self) -> Result<()>;

    async fn repository_exists(&self, repo: &str) -> Result<bool>;
    async fn repository_count(&self) -> Result<u64>;
    /// Images (manifests) stored in the repository.
    async fn image_count(&self, repo: &str) -> Result<u64>;
    /// Repository names in lexical order after `last`, at most `limit`.
    async fn list_repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>>;

    /// Creates a repository with its tags and settings; `false` when it exists already.
    async fn create_repository(&self, repo: &str, new: &NewRepository) -> Result<bool>;
    /// Replaces the settings document; `false` when the repository does not exist.
    async fn set_repository_settings(&self, repo: &str, settings: &str) -> Result<bool>;
    /// Sets or clears the lifecycle policy; `false` when the repository does not exist.
    async fn set_lifecycle_policy(&self, repo: &str, policy: Option<&str>) -> Result<bool>;
    /// Records when the repository's lifecycle policy was last evaluated (unix ms); `false`
    /// when the repository does not exist. Bookkeeping: it does not bump the IAM generation.
    async fn set_lifecycle_evaluated_at(&self, repo: &str, at: i64) -> Result<bool>;
    /// Replaces the repository's lifecycle policy preview; `false` when the repository does not
    /// exist, or is not the one created at `created_at` (the preview was computed from a
    /// repository since deleted and created again). Bookkeeping, like
    /// [`Self::set_lifecycle_evaluated_at`]. The preview goes with the repository.
    async fn put_lifecycle_preview(
        &self,
        repo: &str,
        created_at: i64,
        preview: &LifecyclePreviewRecord,
    ) -> Result<bool>;
    /// The repository's lifecycle policy preview; `None` when it has none (or does not exist).
    async fn lifecycle_preview(&self, repo: &str) -> Result<Option<LifecyclePreviewRecord>>;
    /// Adds or overwrites resource tags, refusing to go over `max` tags in all.
    async fn tag_repository(
        &self,
        repo: &str,
        tags: &[(String, String)],
        max: usize,
    ) -> Result<TagRepository>;
    /// Removes resource tags by key (absent keys are ignored); `false` when no such repository.
    async fn untag_repository(&self, repo: &str, keys: &[String]) -> Result<bool>;

    /// Creates a document; `false` when one of that kind with that prefix exists.
    async fn create_document(
        &self,
        kind: DocumentKind,
        prefix: &str,
        document: &str,
    ) -> Result<bool>;
    /// Replaces a document; `false` when there is none of that kind with that prefix.
    async fn update_document(
        &self,
        kind: DocumentKind,
        prefix: &str,
        document: &str,
    ) -> Result<bool>;
    async fn document(&self, kind: DocumentKind, prefix: &str) -> Result<Option<DocumentRecord>>;
    /// Every document of a kind, ordered by prefix.
    async fn documents(&self, kind: DocumentKind) -> Result<Vec<DocumentRecord>>;
    /// Deletes a document and returns what it was.
    async fn delete_document(
        &self,
        kind: DocumentKind,
        prefix: &str,
    ) -> Result<Option<DocumentRecord>>;
    async fn repository(&self, repo: &str) -> Result<Option<RepositoryRecord>>;
    /// Repositories in lexical order after `last`, at most `limit`, with their settings.
    async fn repository_records(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RepositoryRecord>>;
    /// Deletes a repository; with `force` even when it holds images. Its upload sessions end
    /// in the same transaction, so none of them can write into the name afterwards.
    async fn delete_repository(&self, repo: &str, force: bool) -> Result<DeleteRepository>;
    /// Sets or clears the repository policy; `false` when the repository does not exist.
    async fn set_repository_policy(&self, repo: &str, policy: Option<&str>) -> Result<bool>;
    /// A registry-wide setting (`registry_policy`, account settings).
    async fn registry_setting(&self, name: &str) -> Result<Option<String>>;
    /// Sets or clears a registry-wide setting; returns whether a value was there before.
    async fn set_registry_setting(&self, name: &str, value: Option<&str>) -> Result<bool>;

    /// Makes a committed blob visible in a repository; `false` (and nothing written) when the
    /// repository does not exist: no write creates a repository implicitly. The blob's row is
    /// created (unreferenced from now) when there is none. For blobs whose bytes are known to
    /// be in the store; uploads go through [`Self::claim_blob`] and [`Self::complete_upload`],
    /// mounts through [`Self::mount_blob`].
    async fn link_blob(&self, repo: &str, digest: &Digest, size: u64) -> Result<bool>;
    /// Links a blob that `from` holds into `repo`, in one transaction with the check that
    /// `from` still links it, and restarts its grace delay if no manifest references it.
    async fn mount_blob(&self, from: &str, repo: &str, digest: &Digest) -> Result<MountBlob>;

    /// Claims the blob row of `digest` before its bytes are written: created when absent,
    /// its grace delay restarted when unreferenced. The claim (the row's id) is what
    /// [`Self::complete_upload`] needs. `None` while a collector is deleting the blob: its
    /// bytes may still go, so they must not be written now (retry shortly).
    async fn claim_blob(&self, digest: &Digest, size: u64) -> Result<Option<i64>>;
    /// The blob's row, if any.
    async fn blob_row(&self, digest: &Digest) -> Result<Option<BlobRow>>;
    /// Up to `limit` blobs unreferenced since before `before` (unix ms) and not being deleted,
    /// by digest after `after`: what a collection round may delete.
    async fn gc_candidates(
        &self,
        before: i64,
        after: Option<&Digest>,
        limit: u32,
    ) -> Result<Vec<GcBlob>>;
    /// Marks the blobs among `digests` that are still unreferenced since before `before` as
    /// being deleted and removes their repository links, in one transaction; returns the ones
    /// marked. A manifest put that references one of them either committed first (then the
    /// blob is referenced and skipped) or fails with a missing blob.
    async fn begin_blob_deletes(&self, digests: &[Digest], before: i64) -> Result<Vec<GcBlob>>;
    /// Drops the rows of blobs whose bytes are gone (marked by [`Self::begin_blob_deletes`]).
    async fn finish_blob_deletes(&self, digests: &[Digest]) -> Result<()>;
    /// Blobs marked for deletion before `before` whose collector did not finish (it died).
    async fn unfinished_blob_deletes(&self, before: i64, limit: u32) -> Result<Vec<GcBlob>>;
    /// Records rows, unreferenced from now, for blobs found in the store that no row knows
    /// (bytes left by a crash, or stored before the blob table existed); returns how many.
    async fn adopt_blobs(&self, found: &[GcBlob]) -> Result<u64>;
    /// Size of a blob linked into the repository.
    async fn blob_link(&self, repo: &str, digest: &Digest) -> Result<Option<u64>>;
    async fn unlink_blob(&self, repo: &str, digest: &Digest) -> Result<bool>;

    /// Stores a manifest (and points `tag` at it) after checking, in the same transaction,
    /// that the repository and everything in `refs` exist in it.
    async fn put_manifest(
        &self,
        repo: &str,
        manifest: &ManifestRecord,
        refs: &[ManifestRef],
        tag: Option<TagWrite<'_>>,
    ) -> Result<PutManifestOutcome, PutManifestError>;
    async fn manifest(&self, repo: &str, digest: &Digest) -> Result<Option<ManifestRecord>>;
    async fn manifest_by_tag(&self, repo: &str, tag: &str) -> Result<Option<ManifestRecord>>;
    /// Deletes a manifest, every tag pointing at it and its referrers (manifests whose subject
    /// it is, recursively), and unlinks from the repository the blobs no remaining manifest of
    /// it references; a blob no manifest anywhere references becomes unreferenced from now.
    async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<bool>;
    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool>;
    /// Every image of the repository with its tags, oldest push first.
    async fn images(&self, repo: &str) -> Result<Vec<ImageRecord>>;
    /// Tags pointing at one image.
    async fn tags_of(&self, repo: &str, digest: &Digest) -> Result<Vec<String>>;
    /// Index manifests of the repository that list `digest` as a child.
    async fn manifest_parents(&self, repo: &str, digest: &Digest) -> Result<Vec<Digest>>;
    /// Whether some manifest of the repository lists the blob as its config or a layer.
    async fn blob_referenced(&self, repo: &str, digest: &Digest) -> Result<bool>;
    /// Records that an image was pulled at `at` (unix milliseconds).
    async fn record_pull(&self, repo: &str, digest: &Digest, at: i64) -> Result<()>;
    /// Tags in lexical order after `last`, at most `limit`.
    async fn list_tags(&self, repo: &str, last: Option<&str>, limit: u32) -> Result<Vec<String>>;
    /// Manifests whose subject is `subject`, ordered by digest.
    async fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<ReferrerRecord>>;

    /// Records a session opened by `principal` on an existing repository, in one transaction
    /// with the checks that the repository exists and that `limits` leave room for it.
    /// Opens a session at offset 0 with the blob backend's initial upload state, if it has one.
    async fn create_upload(
        &self,
        id: &str,
        repo: &str,
        principal: &str,
        limits: UploadLimits,
        backend_state: Option<&str>,
    ) -> Result<CreateUpload>;
    async fn upload(&self, id: &str) -> Result<Option<UploadRecord>>;
    /// Marks the session active now; `false` when it no longer exists.
    async fn touch_upload(&self, id: &str) -> Result<bool>;
    /// Links the committed blob into the session's repository and ends the session, in one
    /// transaction that first checks that both still exist and that `claim` (from
    /// [`Self::claim_blob`], taken before the bytes were written) still holds.
    async fn complete_upload(
        &self,
        id: &str,
        repo: &str,
        digest: &Digest,
        size: u64,
        claim: i64,
    ) -> Result<CompleteUpload>;
    /// Records a part of `size` bytes; a previous part under `min_part` marks the upload.
    async fn record_upload_part(&self, id: &str, size: u64, min_part: u64) -> Result<UploadParts>;
    async fn upload_parts(&self, id: &str) -> Result<UploadParts>;
    async fn delete_upload(&self, id: &str) -> Result<()>;
    /// Uploads not touched since `before` (unix milliseconds).
    async fn stale_uploads(&self, before: i64) -> Result<Vec<UploadRecord>>;

    /// Claims the session for one append at `offset`: succeeds only when the stored offset is
    /// `offset` and no other claim younger than `lease_ms` is held. Compare-and-set in one
    /// statement so two nodes cannot append at once. Also touches updated_at.
    async fn begin_append(&self, id: &str, offset: u64, lease_ms: i64) -> Result<BeginAppend>;
    /// Records the new progress and releases the claim, if the session still exists and is
    /// still at `from_offset`; `false` otherwise. `progress.offset` may equal `from_offset`
    /// (nothing stored) to just release: the stored states are then kept as they are.
    async fn finish_append(
        &self,
        id: &str,
        from_offset: u64,
        progress: &UploadProgress,
    ) -> Result<bool>;
    /// Renews a claim taken by `begin_append` at `offset` (an append that streams for longer
    /// than a lease); `false` when the session is gone, moved on or not claimed.
    async fn renew_append(&self, id: &str, offset: u64) -> Result<bool>;
    async fn upload_progress(&self, id: &str) -> Result<Option<UploadProgress>>;

    /// Takes or renews the lease on background work `name` for `holder` until `ttl_ms` from
    /// now: granted when no one holds it, its holder's lease has expired, or `holder` already
    /// holds it. One statement, so two nodes asking at once cannot both be granted.
    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool>;
    /// Gives the lease up if `holder` holds it (a node shutting down), so another node need not
    /// wait for it to expire.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
}

impl PutManifestError {
    /// Whether running the same push again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PutManifestError::Store(e) if e.is_retryable())
    }
}

/// How to classify a claim that the compare-and-set did not take, from the row as it is now.
/// `None` for the row means the session is gone.
pub(crate) fn refused_append(
    stored: Option<(u64, Option<i64>)>,
    offset: u64,
    now: i64,
    lease_ms: i64,
) -> BeginAppend {
    match stored {
        None => BeginAppend::Unknown,
        Some((at, _)) if at != offset => BeginAppend::Offset(at),
        Some((_, Some(claimed_at))) if now.saturating_sub(claimed_at) < lease_ms => {
            BeginAppend::Busy
        }
        // The claim ended between the two statements: report it as busy rather than claim
        // outside the compare-and-set; the caller retries.
        Some(_) => BeginAppend::Busy,
    }
}

/// Unix milliseconds now.
pub fn now_millis() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}
