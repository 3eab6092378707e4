//! Metadata on PostgreSQL, shared by every registry node that points at the same database.
//!
//! Isolation: every transaction runs at READ COMMITTED, set on each connection rather than
//! left to the server's default, because the locking below relies on each statement taking a
//! fresh snapshot once the lock it waited for is granted. Check-then-write methods serialize
//! on a row lock instead of on a stronger isolation level:
//!
//! - writes to one repository's content (manifests, tags, resource tags, deletion) take
//!   `SELECT ... FOR UPDATE` on its `repositories` row; writes that only need the repository
//!   to stay (blob links, new upload sessions) take `FOR SHARE`, which still excludes the
//!   former;
//! - creations are `INSERT ... ON CONFLICT DO NOTHING`, so exactly one node wins a race;
//! - opening an upload session takes a transaction advisory lock, because its limits count
//!   sessions across the whole registry;
//! - what references or links a blob and what garbage collection marks meet on the blob's
//!   `blobs` row (see `postgres_blobs`).
//!
//! Lock order, to keep deadlocks rare: the repository row, then upload rows, then `blobs`
//! rows, then the `iam_generation` row (bumped by triggers). Deadlocks and serialization
//! failures that still happen (IAM writes meet on the generation row; puts and collections
//! lock several `blobs` rows in the order their manifests list them) are retried here a few
//! times before [`Error::Retryable`] reaches the caller.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use portcullis_oci::Digest;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};

use super::{
    now_millis, postgres_blobs, refused_append, BeginAppend, BlobRow, CompleteUpload, CreateUpload,
    DeleteRepository, DocumentKind, DocumentRecord, GcBlob, ImageRecord, LifecyclePreviewRecord,
    ManifestRecord, ManifestRef, MetaStore, MountBlob, NewRepository, PutManifestError,
    PutManifestOutcome, ReferrerRecord, RepositoryRecord, SchemaMode, TagRepository, TagWrite,
    UploadLimits, UploadParts, UploadProgress, UploadRecord,
};
use crate::{EndedUpload, Error, Result};

/// A pool per node: enough for parallel pushes, small enough that a few nodes stay under the
/// server's default `max_connections` (100).
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a free connection before failing (rather than queueing
/// without bound behind a stuck database).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening the store waits for the server to answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Runs of a transaction the database aborted for concurrency, before giving up.
pub(crate) const ATTEMPTS: u32 = 5;
/// The advisory lock key that serializes opening upload sessions ("portupld").
const UPLOAD_CREATION_LOCK: i64 = 0x706f_7274_7570_6c64;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Runs `$body` (an expression giving a future, evaluated afresh each time) again while it
/// fails transiently (see [`Transient`]), up to [`ATTEMPTS`] runs.
macro_rules! retrying {
    ($body:expr) => {{
        let mut attempt = 1u32;
        loop {
            let outcome = $body.await;
            if attempt < $crate::meta::postgres::ATTEMPTS
                && $crate::meta::postgres::is_transient(&outcome)
            {
                $crate::meta::postgres::backoff(attempt).await;
                attempt += 1;
                continue;
            }
            break outcome;
        }
    }};
}
pub(crate) use retrying;

/// An error after which the whole transaction may be run again.
pub(crate) trait Transient {
    fn transient(&self) -> bool;
}

impl Transient for Error {
    fn transient(&self) -> bool {
        self.is_retryable()
    }
}

impl Transient for PutManifestError {
    fn transient(&self) -> bool {
        self.is_retryable()
    }
}

pub(crate) fn is_transient<T, E: Transient>(outcome: &Result<T, E>) -> bool {
    matches!(outcome, Err(e) if e.transient())
}

/// Waits a little longer after each failed run, with jitter so that two nodes that collided
/// do not collide again in lockstep.
pub(crate) async fn backoff(attempt: u32) {
    use std::hash::BuildHasher;
    let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt) % 10;
    let ms = (5u64 << attempt.min(6)) + jitter;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

pub struct PgMetaStore {
    pool: PgPool,
}

impl PgMetaStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with
    /// libpq's query parameters such as `sslmode`), doing `schema` about pending migrations.
    pub async fn connect(url: &str, schema: SchemaMode) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::Database(format!("invalid PostgreSQL url: {e}")))?;
        Self::connect_with(options, schema).await
    }

    /// [`PgMetaStore::connect`] with options built in code.
    pub async fn connect_with(options: PgConnectOptions, schema: SchemaMode) -> Result<Self> {
        let options = options
            .application_name("portcullis")
            // Backslash-escaped: the startup `options` string splits on spaces.
            .options([("default_transaction_isolation", r"read\ committed")]);
        let connecting = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options);
        let pool = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| {
                Error::Unavailable(format!(
                    "PostgreSQL did not answer within {}s",
                    CONNECT_TIMEOUT.as_secs()
                ))
            })??;
        match schema {
            // sqlx holds an advisory lock while migrating, so nodes starting together apply
            // each migration once.
            SchemaMode::Upgrade => run_migrations(&pool).await?,
            SchemaMode::Require => {
                let pending = pending_migrations(&pool).await?;
                if !pending.is_empty() {
                    return Err(Error::Database(format!(
                        "the schema is behind this version (pending migrations: {}); run `portcullis migrate`",
                        pending.join(", ")
                    )));
                }
            }
            SchemaMode::AsIs => {}
        }
        Ok(PgMetaStore { pool })
    }

    /// Applies pending migrations; returns the ones applied (`0001 registry`).
    pub async fn migrate(&self) -> Result<Vec<String>> {
        let pending = pending_migrations(&self.pool).await?;
        run_migrations(&self.pool).await?;
        Ok(pending)
    }

    /// Migrations of this version the database has not applied, as `<version> <description>`.
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        pending_migrations(&self.pool).await
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

async fn run_migrations(pool: &PgPool) -> Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| Error::Database(format!("migration failed: {e}")))
}

async fn pending_migrations(pool: &PgPool) -> Result<Vec<String>> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(pool)
        .await?;
    let applied: Vec<i64> = if table.is_some() {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?
    } else {
        Vec::new()
    };
    Ok(MIGRATOR
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("{:04} {}", m.version, m.description))
        .collect())
}

pub(super) fn digest_col(s: String) -> Result<Digest> {
    Digest::from_str(&s).map_err(|e| Error::Corrupt(format!("stored digest: {e}")))
}

/// Sizes and counters are BIGINT; a negative one can only come from outside the registry.
pub(super) fn unsigned(n: i64, what: &str) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::Corrupt(format!("negative {what}: {n}")))
}

/// Sizes and offsets the registry hands in; none reaches 2^63 bytes.
pub(super) fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn manifest_from_row(row: &PgRow) -> Result<ManifestRecord> {
    let subject: Option<String> = row.try_get("subject")?;
    Ok(ManifestRecord {
        digest: digest_col(row.try_get("digest")?)?,
        media_type: row.try_get("media_type")?,
        artifact_type: row.try_get("artifact_type")?,
        subject: subject.map(digest_col).transpose()?,
        annotations: row.try_get("annotations")?,
        content: Bytes::from(row.try_get::<Vec<u8>, _>("content")?),
        created_at: row.try_get("created_at")?,
    })
}

const MANIFEST_COLUMNS: &str =
    "m.digest, m.media_type, m.artifact_type, m.subject, m.annotations, m.content, m.created_at";

/// How a transaction holds its repository row until it ends.
#[derive(Clone, Copy)]
pub(super) enum Hold {
    /// Excludes every other writer of the repository (content changes, deletion).
    Exclusive,
    /// Keeps the repository from being deleted or its content changed, alongside other
    /// shared holders (blob links, new sessions).
    Shared,
}

pub(super) async fn lock_repository(
    tx: &mut PgConnection,
    repo: &str,
    hold: Hold,
) -> Result<Option<i64>> {
    let sql = match hold {
        Hold::Exclusive => "SELECT id FROM repositories WHERE name = $1 FOR UPDATE",
        Hold::Shared => "SELECT id FROM repositories WHERE name = $1 FOR SHARE",
    };
    Ok(sqlx::query_scalar(sql)
        .bind(repo)
        .fetch_optional(&mut *tx)
        .await?)
}

pub(super) async fn insert_blob_link(
    tx: &mut PgConnection,
    repository_id: i64,
    digest: &Digest,
    size: u64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO repository_blobs (repository_id, digest, size, created_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (repository_id, digest) DO UPDATE SET orphaned_at = NULL",
    )
    .bind(repository_id)
    .bind(digest.to_string())
    .bind(signed(size))
    .bind(now_millis())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn upsert_repository_tag(
    tx: &mut PgConnection,
    repository_id: i64,
    key: &str,
    value: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO repository_tags (repository_id, key, value) VALUES ($1, $2, $3)
         ON CONFLICT (repository_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(repository_id)
    .bind(key)
    .bind(value)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A repository's document columns, the only ones [`PgMetaStore::set_repository_column`]
/// writes (named here so that no caller-provided text reaches the SQL).
#[derive(Clone, Copy)]
enum RepositoryColumn {
    Policy,
    Settings,
    LifecyclePolicy,
}

#[async_trait]
impl MetaStore for PgMetaStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn check(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // ---- reads: single statements, each on its own snapshot ----

    async fn repository_exists(&self, repo: &str) -> Result<bool> {
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM repositories WHERE name = $1)")
                .bind(repo)
                .fetch_one(&self.pool)
                .await?;
        Ok(found)
    }

    async fn repository_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM repositories")
            .fetch_one(&self.pool)
            .await?;
        unsigned(n, "count")
    }

    async fn image_count(&self, repo: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1",
        )
        .bind(repo)
        .fetch_one(&self.pool)
        .await?;
        unsigned(n, "count")
    }

    async fn list_repositories(&self, last: Option<&str>, n: u32) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar(
            "SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(last.unwrap_or(""))
        .bind(i64::from(n))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    // ---- repositories: READ COMMITTED; creation by ON CONFLICT, changes under the row lock ----

    async fn create_repository(&self, repo: &str, new: &NewRepository) -> Result<bool> {
        retrying!(self.create_repository_once(repo, new))
    }

    async fn set_repository_settings(&self, repo: &str, settings: &str) -> Result<bool> {
        retrying!(self.set_repository_column(repo, RepositoryColumn::Settings, Some(settings)))
    }

    async fn set_lifecycle_policy(&self, repo: &str, policy: Option<&str>) -> Result<bool> {
        retrying!(self.set_repository_column(repo, RepositoryColumn::LifecyclePolicy, policy))
    }

    async fn set_lifecycle_evaluated_at(&self, repo: &str, at: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE repositories SET lifecycle_evaluated_at = $1 WHERE name = $2")
                .bind(at)
                .bind(repo)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_lifecycle_preview(
        &self,
        repo: &str,
        created_at: i64,
        preview: &LifecyclePreviewRecord,
    ) -> Result<bool> {
        retrying!(self.put_lifecycle_preview_once(repo, created_at, preview))
    }

    async fn lifecycle_preview(&self, repo: &str) -> Result<Option<LifecyclePreviewRecord>> {
        self.lifecycle_preview_impl(repo).await
    }

    async fn tag_repository(
        &self,
        repo: &str,
        tags: &[(String, String)],
        max: usize,
    ) -> Result<TagRepository> {
        retrying!(self.tag_repository_once(repo, tags, max))
    }

    async fn untag_repository(&self, repo: &str, keys: &[String]) -> Result<bool> {
        retrying!(self.untag_repository_once(repo, keys))
    }

    async fn create_document(
        &self,
        kind: DocumentKind,
        prefix: &str,
        document: &str,
    ) -> Result<bool> {
        let now = now_millis();
        let sql = format!(
            "INSERT INTO {} (prefix, document, created_at, updated_at)
             VALUES ($1, $2, $3, $3) ON CONFLICT (prefix) DO NOTHING",
            kind.table()
        );
        let done = sqlx::query(&sql)
            .bind(prefix)
            .bind(document)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn update_document(
        &self,
        kind: DocumentKind,
        prefix: &str,
        document: &str,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE {} SET document = $1, updated_at = $2 WHERE prefix = $3",
            kind.table()
        );
        let done = sqlx::query(&sql)
            .bind(document)
            .bind(now_millis())
            .bind(prefix)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn document(&self, kind: DocumentKind, prefix: &str) -> Result<Option<DocumentRecord>> {
        let sql = format!(
            "SELECT prefix, document, created_at, updated_at FROM {} WHERE prefix = $1",
            kind.table()
        );
        let row = sqlx::query(&sql)
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    async fn documents(&self, kind: DocumentKind) -> Result<Vec<DocumentRecord>> {
        let sql = format!(
            "SELECT prefix, document, created_at, updated_at FROM {} ORDER BY prefix",
            kind.table()
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(document_from_row).collect()
    }

    async fn delete_document(
        &self,
        kind: DocumentKind,
        prefix: &str,
    ) -> Result<Option<DocumentRecord>> {
        let sql = format!(
            "DELETE FROM {} WHERE prefix = $1 RETURNING prefix, document, created_at, updated_at",
            kind.table()
        );
        let row = sqlx::query(&sql)
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    async fn repository(&self, repo: &str) -> Result<Option<RepositoryRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories r WHERE r.name = $1"
        ))
        .bind(repo)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(repository_from_row).transpose()
    }

    async fn repository_records(
        &self,
        last: Option<&str>,
        n: u32,
    ) -> Result<Vec<RepositoryRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories r
             WHERE r.name > $1 ORDER BY r.name LIMIT $2"
        ))
        .bind(last.unwrap_or(""))
        .bind(i64::from(n))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(repository_from_row).collect()
    }

    async fn delete_repository(&self, repo: &str, force: bool) -> Result<DeleteRepository> {
        retrying!(self.delete_repository_once(repo, force))
    }

    async fn set_repository_policy(&self, repo: &str, policy: Option<&str>) -> Result<bool> {
        retrying!(self.set_repository_column(repo, RepositoryColumn::Policy, policy))
    }

    async fn registry_setting(&self, name: &str) -> Result<Option<String>> {
        let v = sqlx::query_scalar("SELECT value FROM registry_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(v)
    }

    // READ COMMITTED; whether a value was there is decided by the statement that writes it,
    // so two nodes setting one name both get a true answer.
    async fn set_registry_setting(&self, name: &str, value: Option<&str>) -> Result<bool> {
        retrying!(self.set_registry_setting_once(name, value))
    }

    // ---- blobs and manifests: READ COMMITTED under the repository row lock ----

    async fn link_blob(&self, repo: &str, digest: &Digest, size: u64) -> Result<bool> {
        retrying!(self.link_blob_once(repo, digest, size))
    }

    async fn mount_blob(&self, from: &str, repo: &str, digest: &Digest) -> Result<MountBlob> {
        retrying!(self.mount_blob_once(from, repo, digest))
    }

    async fn claim_blob(&self, digest: &Digest, size: u64) -> Result<Option<i64>> {
        retrying!(self.claim_blob_once(digest, size))
    }

    async fn blob_row(&self, digest: &Digest) -> Result<Option<BlobRow>> {
        self.blob_row_impl(digest).await
    }

    async fn gc_candidates(
        &self,
        before: i64,
        after: Option<&Digest>,
        limit: u32,
    ) -> Result<Vec<GcBlob>> {
        self.gc_candidates_impl(before, after, limit).await
    }

    async fn begin_blob_deletes(&self, digests: &[Digest], before: i64) -> Result<Vec<GcBlob>> {
        retrying!(self.begin_blob_deletes_once(digests, before))
    }

    async fn finish_blob_deletes(&self, digests: &[Digest]) -> Result<()> {
        retrying!(self.finish_blob_deletes_once(digests))
    }

    async fn unfinished_blob_deletes(&self, before: i64, limit: u32) -> Result<Vec<GcBlob>> {
        self.unfinished_blob_deletes_impl(before, limit).await
    }

    async fn adopt_blobs(&self, found: &[GcBlob]) -> Result<u64> {
        retrying!(self.adopt_blobs_once(found))
    }

    async fn blob_link(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id
             WHERE r.name = $1 AND b.digest = $2 AND b.orphaned_at IS NULL",
        )
        .bind(repo)
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?;
        size.map(|s| unsigned(s, "blob size")).transpose()
    }

    async fn unlink_blob(&self, repo: &str, digest: &Digest) -> Result<bool> {
        retrying!(self.unlink_blob_once(repo, digest))
    }

    async fn put_manifest(
        &self,
        repo: &str,
        manifest: &ManifestRecord,
        refs: &[ManifestRef],
        tag: Option<TagWrite<'_>>,
    ) -> Result<PutManifestOutcome, PutManifestError> {
        retrying!(self.put_manifest_once(repo, manifest, refs, tag))
    }

    async fn manifest(&self, repo: &str, digest: &Digest) -> Result<Option<ManifestRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.digest = $2"
        ))
        .bind(repo)
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(manifest_from_row).transpose()
    }

    async fn manifest_by_tag(&self, repo: &str, tag: &str) -> Result<Option<ManifestRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {MANIFEST_COLUMNS} FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
             WHERE r.name = $1 AND t.name = $2"
        ))
        .bind(repo)
        .bind(tag)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(manifest_from_row).transpose()
    }

    async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<bool> {
        retrying!(self.delete_manifest_once(repo, digest))
    }

    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool> {
        retrying!(self.delete_tag_once(repo, tag))
    }

    async fn images(&self, repo: &str) -> Result<Vec<ImageRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MANIFEST_COLUMNS}, m.last_pulled_at,
                ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = m.repository_id
                      AND t.manifest_digest = m.digest ORDER BY t.name) AS tag_names
             FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 ORDER BY m.created_at, m.digest"
        ))
        .bind(repo)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ImageRecord {
                    manifest: manifest_from_row(row)?,
                    tags: row.try_get("tag_names")?,
                    last_pulled_at: row.try_get("last_pulled_at")?,
                })
            })
            .collect()
    }

    async fn tags_of(&self, repo: &str, digest: &Digest) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
             WHERE r.name = $1 AND t.manifest_digest = $2 ORDER BY t.name",
        )
        .bind(repo)
        .bind(digest.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn manifest_parents(&self, repo: &str, digest: &Digest) -> Result<Vec<Digest>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT x.manifest_digest FROM manifest_references x
             JOIN repositories r ON r.id = x.repository_id
             WHERE r.name = $1 AND x.child_digest = $2 AND x.child_kind = 'manifest'
             ORDER BY x.manifest_digest",
        )
        .bind(repo)
        .bind(digest.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(digest_col).collect()
    }

    async fn blob_referenced(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let found: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM manifest_references x
                JOIN repositories r ON r.id = x.repository_id
                WHERE r.name = $1 AND x.child_digest = $2 AND x.child_kind = 'blob')",
        )
        .bind(repo)
        .bind(digest.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(found)
    }

    async fn record_pull(&self, repo: &str, digest: &Digest, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE manifests SET last_pulled_at = $1 WHERE digest = $2
             AND repository_id = (SELECT id FROM repositories WHERE name = $3)",
        )
        .bind(at)
        .bind(digest.to_string())
        .bind(repo)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_tags(&self, repo: &str, last: Option<&str>, n: u32) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
             WHERE r.name = $1 AND t.name > $2 ORDER BY t.name LIMIT $3",
        )
        .bind(repo)
        .bind(last.unwrap_or(""))
        .bind(i64::from(n))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<ReferrerRecord>> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations
             FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.subject = $2 ORDER BY m.digest",
        )
        .bind(repo)
        .bind(subject.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ReferrerRecord {
                    digest: digest_col(row.try_get("digest")?)?,
                    media_type: row.try_get("media_type")?,
                    size: unsigned(row.try_get("size")?, "manifest size")?,
                    artifact_type: row.try_get("artifact_type")?,
                    annotations: row.try_get("annotations")?,
                })
            })
            .collect()
    }

    // ---- upload sessions: READ COMMITTED; single-row writes are atomic statements ----

    async fn create_upload(
        &self,
        id: &str,
        repo: &str,
        principal: &str,
        limits: UploadLimits,
        backend_state: Option<&str>,
    ) -> Result<CreateUpload> {
        retrying!(self.create_upload_once(id, repo, principal, limits, backend_state))
    }

    async fn upload(&self, id: &str) -> Result<Option<UploadRecord>> {
        let row = sqlx::query(
            "SELECT id, repository, principal, created_at, updated_at FROM uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    async fn touch_upload(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE uploads SET updated_at = $1 WHERE id = $2")
            .bind(now_millis())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn complete_upload(
        &self,
        id: &str,
        repo: &str,
        digest: &Digest,
        size: u64,
        claim: i64,
    ) -> Result<CompleteUpload> {
        retrying!(self.complete_upload_once(id, repo, digest, size, claim))
    }

    async fn record_upload_part(&self, id: &str, size: u64, min_part: u64) -> Result<UploadParts> {
        // One statement: the row lock orders two parts of one upload arriving on two nodes.
        let row = sqlx::query(
            "UPDATE uploads SET
                undersized_part = undersized_part
                    OR (last_part_size IS NOT NULL AND last_part_size < $1),
                parts = parts + 1, last_part_size = $2, updated_at = $3
             WHERE id = $4 RETURNING parts, last_part_size, undersized_part",
        )
        .bind(signed(min_part))
        .bind(signed(size))
        .bind(now_millis())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => parts_from_row(&r),
            None => Ok(UploadParts::default()),
        }
    }

    async fn upload_parts(&self, id: &str) -> Result<UploadParts> {
        let row =
            sqlx::query("SELECT parts, last_part_size, undersized_part FROM uploads WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(r) => parts_from_row(&r),
            None => Ok(UploadParts::default()),
        }
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn stale_uploads(&self, before: i64) -> Result<Vec<UploadRecord>> {
        let rows = sqlx::query(
            "SELECT id, repository, principal, created_at, updated_at FROM uploads
             WHERE updated_at < $1 ORDER BY id",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(upload_from_row).collect()
    }

    async fn begin_append(&self, id: &str, offset: u64, lease_ms: i64) -> Result<BeginAppend> {
        // The claim's age is measured on the database's clock, the one clock every node
        // shares; updated_at stays on the callers' clock, as stale_uploads compares it.
        let claimed = sqlx::query(&format!(
            "UPDATE uploads SET claimed_at = {DB_NOW_MS}, updated_at = $1
             WHERE id = $2 AND upload_offset = $3
               AND (claimed_at IS NULL OR {DB_NOW_MS} - claimed_at >= $4)
             RETURNING upload_offset, hash_state, backend_state"
        ))
        .bind(now_millis())
        .bind(id)
        .bind(signed(offset))
        .bind(lease_ms)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = claimed {
            return Ok(BeginAppend::Claimed(progress_from_row(&row)?));
        }
        let stored = sqlx::query(&format!(
            "SELECT upload_offset, claimed_at, {DB_NOW_MS} AS now FROM uploads WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(stored) = stored else {
            return Ok(BeginAppend::Unknown);
        };
        let now: i64 = stored.try_get("now")?;
        let at = unsigned(stored.try_get("upload_offset")?, "upload offset")?;
        Ok(refused_append(
            Some((at, stored.try_get("claimed_at")?)),
            offset,
            now,
            lease_ms,
        ))
    }

    async fn finish_append(
        &self,
        id: &str,
        from_offset: u64,
        progress: &UploadProgress,
    ) -> Result<bool> {
        let done = if progress.offset == from_offset {
            sqlx::query(
                "UPDATE uploads SET claimed_at = NULL, updated_at = $1
                 WHERE id = $2 AND upload_offset = $3",
            )
            .bind(now_millis())
            .bind(id)
            .bind(signed(from_offset))
            .execute(&self.pool)
            .await?
        } else {
            sqlx::query(
                "UPDATE uploads SET upload_offset = $1, hash_state = $2, backend_state = $3,
                    claimed_at = NULL, updated_at = $4
                 WHERE id = $5 AND upload_offset = $6",
            )
            .bind(signed(progress.offset))
            .bind(progress.hash_state.as_deref())
            .bind(progress.backend_state.as_deref())
            .bind(now_millis())
            .bind(id)
            .bind(signed(from_offset))
            .execute(&self.pool)
            .await?
        };
        Ok(done.rows_affected() > 0)
    }

    async fn renew_append(&self, id: &str, offset: u64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET claimed_at = $1, updated_at = $1 WHERE id = $2 AND upload_offset = $3 AND claimed_at IS NOT NULL",
        )
        .bind(now_millis())
        .bind(id)
        .bind(offset as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upload_progress(&self, id: &str) -> Result<Option<UploadProgress>> {
        let row = sqlx::query(
            "SELECT upload_offset, hash_state, backend_state FROM uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(progress_from_row).transpose()
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let now = now_millis();
        // A single upsert: the row lock taken on conflict serializes two nodes asking at once,
        // and the WHERE is evaluated against the row as the winner left it.
        let granted = sqlx::query(
            "INSERT INTO worker_leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
             WHERE worker_leases.holder = EXCLUDED.holder OR worker_leases.expires_at <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(granted.rows_affected() > 0)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM worker_leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Unix milliseconds on the database server's clock.
const DB_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

const REPOSITORY_COLUMNS: &str = "r.name, r.created_at, r.policy, r.settings, r.lifecycle_policy,
    r.lifecycle_evaluated_at,
    ARRAY(SELECT t.key FROM repository_tags t WHERE t.repository_id = r.id ORDER BY t.key)
        AS tag_keys,
    ARRAY(SELECT t.value FROM repository_tags t WHERE t.repository_id = r.id ORDER BY t.key)
        AS tag_values";

/// The transaction bodies the trait methods run (again, on a transient failure).
impl PgMetaStore {
    async fn create_repository_once(&self, repo: &str, new: &NewRepository) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // A second node inserting the same name waits for this transaction and then does
        // nothing: exactly one creation wins.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO repositories (name, created_at, settings, policy, lifecycle_policy)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(repo)
        .bind(now_millis())
        .bind(&new.settings)
        .bind(&new.policy)
        .bind(&new.lifecycle_policy)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        for (k, v) in &new.tags {
            upsert_repository_tag(&mut tx, id, k, v).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn set_repository_column(
        &self,
        repo: &str,
        column: RepositoryColumn,
        value: Option<&str>,
    ) -> Result<bool> {
        let sql = match column {
            RepositoryColumn::Policy => "UPDATE repositories SET policy = $1 WHERE name = $2",
            RepositoryColumn::Settings => "UPDATE repositories SET settings = $1 WHERE name = $2",
            RepositoryColumn::LifecyclePolicy => {
                "UPDATE repositories SET lifecycle_policy = $1 WHERE name = $2"
            }
        };
        let done = sqlx::query(sql)
            .bind(value)
            .bind(repo)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn tag_repository_once(
        &self,
        repo: &str,
        tags: &[(String, String)],
        max: usize,
    ) -> Result<TagRepository> {
        let mut tx = self.pool.begin().await?;
        // The row lock makes the count below final: no other node adds tags meanwhile.
        let Some(id) = lock_repository(&mut tx, repo, Hold::Exclusive).await? else {
            return Ok(TagRepository::NotFound);
        };
        for (k, v) in tags {
            upsert_repository_tag(&mut tx, id, k, v).await?;
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM repository_tags WHERE repository_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if usize::try_from(count).map_or(true, |n| n > max) {
            // Dropping the transaction rolls every upsert back.
            return Ok(TagRepository::TooMany);
        }
        tx.commit().await?;
        Ok(TagRepository::Done)
    }

    async fn untag_repository_once(&self, repo: &str, keys: &[String]) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(id) = lock_repository(&mut tx, repo, Hold::Exclusive).await? else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM repository_tags WHERE repository_id = $1 AND key = ANY($2)")
            .bind(id)
            .bind(keys)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_repository_once(&self, repo: &str, force: bool) -> Result<DeleteRepository> {
        let mut tx = self.pool.begin().await?;
        // Holding the row exclusively waits out every session creation, blob link and push in
        // flight on it, and keeps new ones out until the rows are gone.
        let Some(id) = lock_repository(&mut tx, repo, Hold::Exclusive).await? else {
            return Ok(DeleteRepository::NotFound);
        };
        let images: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM manifests WHERE repository_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if images > 0 && !force {
            return Ok(DeleteRepository::NotEmpty);
        }
        let ended_uploads =
            sqlx::query("DELETE FROM uploads WHERE repository = $1 RETURNING id, backend_state")
                .bind(repo)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| -> Result<EndedUpload> {
                    Ok(EndedUpload {
                        id: row.try_get("id")?,
                        backend_state: row.try_get("backend_state")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
        let referenced: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT child_digest FROM manifest_references
             WHERE repository_id = $1 AND child_kind = 'blob'",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM tags WHERE repository_id = $1",
            "DELETE FROM manifest_references WHERE repository_id = $1",
            "DELETE FROM manifests WHERE repository_id = $1",
            "DELETE FROM repository_blobs WHERE repository_id = $1",
            "DELETE FROM repository_tags WHERE repository_id = $1",
            "DELETE FROM lifecycle_previews WHERE repository_id = $1",
            "DELETE FROM repositories WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        postgres_blobs::dereference(&mut tx, &referenced).await?;
        tx.commit().await?;
        Ok(DeleteRepository::Deleted { ended_uploads })
    }

    async fn set_registry_setting_once(&self, name: &str, value: Option<&str>) -> Result<bool> {
        let Some(value) = value else {
            let done = sqlx::query("DELETE FROM registry_settings WHERE name = $1")
                .bind(name)
                .execute(&self.pool)
                .await?;
            return Ok(done.rows_affected() > 0);
        };
        // Update first: it answers "there was a value" exactly. When there was none, the
        // insert decides; losing its race to another node means there is one now, which the
        // next round overwrites.
        loop {
            let updated = sqlx::query("UPDATE registry_settings SET value = $1 WHERE name = $2")
                .bind(value)
                .bind(name)
                .execute(&self.pool)
                .await?;
            if updated.rows_affected() > 0 {
                return Ok(true);
            }
            let inserted = sqlx::query(
                "INSERT INTO registry_settings (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
            if inserted.rows_affected() > 0 {
                return Ok(false);
            }
        }
    }

    async fn link_blob_once(&self, repo: &str, digest: &Digest, size: u64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(id) = lock_repository(&mut tx, repo, Hold::Shared).await? else {
            return Ok(false);
        };
        insert_blob_link(&mut tx, id, digest, size).await?;
        postgres_blobs::ensure_row(&mut tx, digest, size).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn unlink_blob_once(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Shared is enough against other links; it still waits for a push that may be
        // checking this very blob, so the push's check and its insert see the same links.
        let Some(id) = lock_repository(&mut tx, repo, Hold::Shared).await? else {
            return Ok(false);
        };
        let done =
            sqlx::query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
                .bind(id)
                .bind(digest.to_string())
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_manifest_once(
        &self,
        repo: &str,
        m: &ManifestRecord,
        refs: &[ManifestRef],
        tag: Option<TagWrite<'_>>,
    ) -> Result<PutManifestOutcome, PutManifestError> {
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        // Exclusive: two nodes moving one tag run one after the other, and the second reads
        // the tag the first wrote (READ COMMITTED takes a new snapshot per statement), so
        // neither the previous target nor an immutable tag's check can be stale.
        let Some(id) = lock_repository(&mut tx, repo, Hold::Exclusive).await? else {
            return Err(PutManifestError::NameUnknown(repo.to_owned()));
        };
        let digest = m.digest.to_string();
        // Blob rows are locked in digest order, as deletes lock them, so two transactions
        // never wait for each other in a cycle.
        let mut refs: Vec<&ManifestRef> = refs.iter().collect();
        refs.sort_by_key(|r| match r {
            ManifestRef::Blob(d) | ManifestRef::Manifest(d) => d.to_string(),
        });
        for &r in &refs {
            let (sql, d) = match r {
                ManifestRef::Blob(d) => (
                    "SELECT EXISTS (SELECT 1 FROM repository_blobs
                        WHERE repository_id = $1 AND digest = $2)",
                    d,
                ),
                ManifestRef::Manifest(d) => (
                    "SELECT EXISTS (SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2)",
                    d,
                ),
            };
            let found: bool = sqlx::query_scalar(sql)
                .bind(id)
                .bind(d.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(Error::from)?;
            if !found {
                return Err(PutManifestError::Missing(d.clone()));
            }
            // A blob a collector has begun to delete is missing already; the update also takes
            // the row lock a collector's mark needs, so the two are ordered (see
            // postgres_blobs). A link orphaned by a manifest delete is the repository's again
            // once a manifest lists it.
            if let ManifestRef::Blob(d) = r {
                if !postgres_blobs::reference(&mut tx, d).await? {
                    return Err(PutManifestError::Missing(d.clone()));
                }
                sqlx::query(
                    "UPDATE repository_blobs SET orphaned_at = NULL
                     WHERE repository_id = $1 AND digest = $2 AND orphaned_at IS NOT NULL",
                )
                .bind(id)
                .bind(d.to_string())
                .execute(&mut *tx)
                .await
                .map_err(Error::from)?;
            }
        }
        let previous_tag_target = match tag {
            None => None,
            Some(t) => {
                let current: Option<String> = sqlx::query_scalar(
                    "SELECT manifest_digest FROM tags WHERE repository_id = $1 AND name = $2",
                )
                .bind(id)
                .bind(t.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::from)?;
                let current = current.map(digest_col).transpose()?;
                if let Some(current) = &current {
                    if t.immutable && current != &m.digest {
                        return Err(PutManifestError::TagImmutable {
                            tag: t.name.to_owned(),
                            current: current.clone(),
                        });
                    }
                }
                current
            }
        };
        let inserted = sqlx::query(
            "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject,
                annotations, size, content, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (repository_id, digest) DO NOTHING",
        )
        .bind(id)
        .bind(&digest)
        .bind(&m.media_type)
        .bind(&m.artifact_type)
        .bind(m.subject.as_ref().map(Digest::to_string))
        .bind(&m.annotations)
        .bind(signed(m.content.len() as u64))
        .bind(m.content.as_ref())
        .bind(m.created_at)
        .execute(&mut *tx)
        .await
        .map_err(Error::from)?;
        let created = inserted.rows_affected() > 0;
        for r in refs {
            let (kind, d) = match r {
                ManifestRef::Blob(d) => ("blob", d),
                ManifestRef::Manifest(d) => ("manifest", d),
            };
            sqlx::query(
                "INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, child_kind)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&digest)
            .bind(d.to_string())
            .bind(kind)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        }
        if let Some(tag) = tag {
            sqlx::query(
                "INSERT INTO tags (repository_id, name, manifest_digest, updated_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (repository_id, name)
                 DO UPDATE SET manifest_digest = excluded.manifest_digest,
                               updated_at = excluded.updated_at",
            )
            .bind(id)
            .bind(tag.name)
            .bind(&digest)
            .bind(now_millis())
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        }
        tx.commit().await.map_err(Error::from)?;
        Ok(PutManifestOutcome {
            created,
            previous_tag_target,
        })
    }

    async fn delete_manifest_once(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(id) = lock_repository(&mut tx, repo, Hold::Exclusive).await? else {
            return Ok(false);
        };
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2)",
        )
        .bind(id)
        .bind(digest.to_string())
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            return Ok(false);
        }
        // The manifest, then its referrers (signatures, SBOMs), theirs, and so on.
        let mut doomed = vec![digest.to_string()];
        let mut blobs: Vec<String> = Vec::new();
        while let Some(d) = doomed.pop() {
            let referrers: Vec<String> = sqlx::query_scalar(
                "SELECT digest FROM manifests WHERE repository_id = $1 AND subject = $2",
            )
            .bind(id)
            .bind(&d)
            .fetch_all(&mut *tx)
            .await?;
            doomed.extend(referrers.into_iter().filter(|r| r != &d));
            blobs.extend(
                sqlx::query_scalar::<_, String>(
                    "SELECT child_digest FROM manifest_references
                     WHERE repository_id = $1 AND manifest_digest = $2 AND child_kind = 'blob'",
                )
                .bind(id)
                .bind(&d)
                .fetch_all(&mut *tx)
                .await?,
            );
            for sql in [
                "DELETE FROM tags WHERE repository_id = $1 AND manifest_digest = $2",
                "DELETE FROM manifest_references WHERE repository_id = $1 AND manifest_digest = $2",
                "DELETE FROM manifests WHERE repository_id = $1 AND digest = $2",
            ] {
                sqlx::query(sql).bind(id).bind(&d).execute(&mut *tx).await?;
            }
        }
        blobs.sort();
        blobs.dedup();
        // The repository no longer reaches what only the deleted manifests referenced. Under
        // the exclusive repository lock, no push into it can be referencing them meanwhile.
        sqlx::query(
            "UPDATE repository_blobs b SET orphaned_at = $1
             WHERE b.repository_id = $2 AND b.digest = ANY($3) AND b.orphaned_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM manifest_references x
                             WHERE x.repository_id = $2 AND x.child_kind = 'blob'
                               AND x.child_digest = b.digest)",
        )
        .bind(now_millis())
        .bind(id)
        .bind(&blobs)
        .execute(&mut *tx)
        .await?;
        postgres_blobs::dereference(&mut tx, &blobs).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_tag_once(&self, repo: &str, tag: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Under the push lock, so that a push's "previous tag target" is never a tag deleted
        // while it ran.
        let Some(id) = lock_repository(&mut tx, repo, Hold::Exclusive).await? else {
            return Ok(false);
        };
        let done = sqlx::query("DELETE FROM tags WHERE repository_id = $1 AND name = $2")
            .bind(id)
            .bind(tag)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_upload_once(
        &self,
        id: &str,
        repo: &str,
        principal: &str,
        limits: UploadLimits,
        backend_state: Option<&str>,
    ) -> Result<CreateUpload> {
        let mut tx = self.pool.begin().await?;
        if lock_repository(&mut tx, repo, Hold::Shared)
            .await?
            .is_none()
        {
            return Ok(CreateUpload::NameUnknown);
        }
        // The limits count every session of the registry: no row lock covers rows that do not
        // exist yet, so sessions are opened one at a time, on all nodes, until commit.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(UPLOAD_CREATION_LOCK)
            .execute(&mut *tx)
            .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads")
            .fetch_one(&mut *tx)
            .await?;
        if unsigned(total, "count")? >= limits.total {
            return Ok(CreateUpload::TotalLimit);
        }
        let mine: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE principal = $1")
            .bind(principal)
            .fetch_one(&mut *tx)
            .await?;
        if unsigned(mine, "count")? >= limits.per_principal {
            return Ok(CreateUpload::PrincipalLimit);
        }
        let now = now_millis();
        sqlx::query(
            "INSERT INTO uploads (id, repository, principal, created_at, updated_at, backend_state)
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(id)
        .bind(repo)
        .bind(principal)
        .bind(now)
        .bind(backend_state)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CreateUpload::Created)
    }

    async fn complete_upload_once(
        &self,
        id: &str,
        repo: &str,
        digest: &Digest,
        size: u64,
        claim: i64,
    ) -> Result<CompleteUpload> {
        let mut tx = self.pool.begin().await?;
        // The repository row before the session row, in the order delete_repository takes
        // them, so the two never wait on each other in a cycle; the blob row last, as
        // delete_repository takes it too.
        let repository_id = lock_repository(&mut tx, repo, Hold::Shared).await?;
        let ended = sqlx::query("DELETE FROM uploads WHERE id = $1 AND repository = $2")
            .bind(id)
            .bind(repo)
            .execute(&mut *tx)
            .await?;
        // A lost claim is answered first, whatever else is wrong, as SQLite answers it; the
        // session delete above is rolled back with the transaction.
        if !postgres_blobs::claim_holds(&mut tx, digest, claim).await? {
            return Ok(CompleteUpload::ClaimLost);
        }
        if ended.rows_affected() == 0 {
            return Ok(CompleteUpload::UploadUnknown);
        }
        let Some(repository_id) = repository_id else {
            return Ok(CompleteUpload::NameUnknown);
        };
        insert_blob_link(&mut tx, repository_id, digest, size).await?;
        tx.commit().await?;
        Ok(CompleteUpload::Linked)
    }
}

fn repository_from_row(row: &PgRow) -> Result<RepositoryRecord> {
    let keys: Vec<String> = row.try_get("tag_keys")?;
    let values: Vec<String> = row.try_get("tag_values")?;
    Ok(RepositoryRecord {
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        policy: row.try_get("policy")?,
        tags: keys.into_iter().zip(values).collect(),
        settings: row.try_get("settings")?,
        lifecycle_policy: row.try_get("lifecycle_policy")?,
        lifecycle_evaluated_at: row.try_get("lifecycle_evaluated_at")?,
    })
}

fn document_from_row(r: &PgRow) -> Result<DocumentRecord> {
    Ok(DocumentRecord {
        prefix: r.try_get("prefix")?,
        document: r.try_get("document")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn parts_from_row(r: &PgRow) -> Result<UploadParts> {
    let parts = unsigned(r.try_get("parts")?, "part count")?;
    Ok(UploadParts {
        parts: u32::try_from(parts).unwrap_or(u32::MAX),
        last_part_size: r
            .try_get::<Option<i64>, _>("last_part_size")?
            .map(|s| unsigned(s, "part size"))
            .transpose()?,
        undersized_part: r.try_get("undersized_part")?,
    })
}

fn progress_from_row(r: &PgRow) -> Result<UploadProgress> {
    Ok(UploadProgress {
        offset: unsigned(r.try_get("upload_offset")?, "upload offset")?,
        hash_state: r.try_get("hash_state")?,
        backend_state: r.try_get("backend_state")?,
    })
}

fn upload_from_row(r: &PgRow) -> Result<UploadRecord> {
    Ok(UploadRecord {
        id: r.try_get("id")?,
        repository: r.try_get("repository")?,
        principal: r.try_get("principal")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testsuite::meta::Open;

    /// A superuser URL of a server the tests may create databases on.
    const URL_VAR: &str = "PORTCULLIS_TEST_POSTGRES_URL";

    /// A database of its own for one test, dropped (with any connection left) at the end.
    pub(crate) struct TestDb {
        admin: PgConnectOptions,
        name: String,
        pub(crate) options: PgConnectOptions,
    }

    impl TestDb {
        /// `None`, with a note, when no server is configured.
        pub(crate) async fn create() -> Option<TestDb> {
            let Ok(url) = std::env::var(URL_VAR) else {
                eprintln!("skipped: set {URL_VAR} to a PostgreSQL superuser URL to run this test");
                return None;
            };
            let admin = PgConnectOptions::from_str(&url).expect("the test URL parses");
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::ConnectOptions::connect(&admin)
                .await
                .expect("connect to the test server");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create the test database");
            let options = admin.clone().database(&name);
            Some(TestDb {
                admin,
                name,
                options,
            })
        }

        pub(crate) fn opener(&self) -> Open<PgMetaStore> {
            let options = self.options.clone();
            Arc::new(move || {
                let options = options.clone();
                Box::pin(async move {
                    Arc::new(
                        PgMetaStore::connect_with(options, SchemaMode::Upgrade)
                            .await
                            .expect("connect"),
                    )
                })
            })
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let admin = self.admin.clone();
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            // Drop cannot await, and the test's runtime may be shutting down: a thread of its
            // own with a runtime of its own.
            let dropped = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let mut conn = sqlx::ConnectOptions::connect(&admin).await?;
                    sqlx::query(&sql).execute(&mut conn).await.map(|_| ())
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop test database {}", self.name);
            }
        }
    }

    /// The metadata contract, on a fresh database per case; a second handle is a second pool,
    /// as a second node has.
    mod contract {
        use super::TestDb;

        crate::meta_store_suite!(async {
            let db = TestDb::create().await?;
            Some((db.opener(), db))
        });
        crate::secret_store_suite!(async {
            let db = TestDb::create().await?;
            Some((db.opener(), db))
        });
    }

    #[tokio::test]
    async fn schema_modes_and_migrations() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let fresh = PgMetaStore::connect_with(db.options.clone(), SchemaMode::AsIs)
            .await
            .expect("as is");
        assert_eq!(
            fresh.pending_migrations().await.expect("pending"),
            [
                "0001 registry",
                "0002 worker leases",
                "0003 blobs",
                "0004 lifecycle previews",
                "0005 secrets",
                "0006 pull through cache rules"
            ]
        );
        let refused = PgMetaStore::connect_with(db.options.clone(), SchemaMode::Require).await;
        assert!(
            matches!(&refused, Err(Error::Database(m)) if m.contains("0001 registry")),
            "{:?}",
            refused.err()
        );
        assert_eq!(
            fresh.migrate().await.expect("migrate"),
            [
                "0001 registry",
                "0002 worker leases",
                "0003 blobs",
                "0004 lifecycle previews",
                "0005 secrets",
                "0006 pull through cache rules"
            ]
        );
        assert!(fresh.migrate().await.expect("again").is_empty());
        let store = PgMetaStore::connect_with(db.options.clone(), SchemaMode::Require)
            .await
            .expect("require");
        assert_eq!(store.backend(), "postgres");
        store.check().await.expect("check");
    }

    #[tokio::test]
    async fn a_bad_url_is_a_database_error() {
        let refused = PgMetaStore::connect("postgres://u@h:notaport/db", SchemaMode::AsIs).await;
        assert!(
            matches!(refused, Err(Error::Database(_))),
            "{:?}",
            refused.err()
        );
        // A server that does not answer is a different failure: a node may wait for it.
        let away = PgMetaStore::connect("postgres://u@127.0.0.1:1/db", SchemaMode::AsIs).await;
        assert!(
            matches!(away, Err(Error::Unavailable(_))),
            "{:?}",
            away.err()
        );
    }

    /// Deadlocks are retried: two transactions locking two repositories in opposite order,
    /// through the store's retry loop, both finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deadlocks_are_retried() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let store = Arc::new(
            PgMetaStore::connect_with(db.options.clone(), SchemaMode::Upgrade)
                .await
                .expect("connect"),
        );
        for r in ["x", "y"] {
            store
                .create_repository(r, &NewRepository::default())
                .await
                .expect("create");
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let cross = |first: &'static str, second: &'static str| {
            let store = store.clone();
            let barrier = barrier.clone();
            let runs = runs.clone();
            tokio::spawn(async move {
                retrying!(async {
                    let run = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut tx = store.pool().begin().await?;
                    lock_repository(&mut tx, first, Hold::Exclusive).await?;
                    if run < 2 {
                        barrier.wait().await;
                    }
                    lock_repository(&mut tx, second, Hold::Exclusive).await?;
                    tx.commit().await?;
                    Ok::<_, Error>(())
                })
            })
        };
        let a = cross("x", "y");
        let b = cross("y", "x");
        a.await.expect("task").expect("first finishes");
        b.await.expect("task").expect("second finishes");
        assert!(
            runs.load(std::sync::atomic::Ordering::SeqCst) >= 3,
            "one was run again"
        );
    }
}
