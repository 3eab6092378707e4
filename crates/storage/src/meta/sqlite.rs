//! Metadata in SQLite (WAL mode): one writer connection, a pool of read-only readers.
//!
//! Writes go through a single connection so that SQLite never has to arbitrate between
//! writers (no SQLITE_BUSY under concurrent pushes); reads run in parallel on the readers and see
//! the last committed state thanks to WAL.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use portcullis_oci::Digest;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{
    now_millis, refused_append, sqlite_blobs, BeginAppend, BlobRow, CompleteUpload, CreateUpload,
    DeleteRepository, DocumentKind, DocumentRecord, GcBlob, ImageRecord, LifecyclePreviewRecord,
    ManifestRecord, ManifestRef, MetaStore, MountBlob, NewRepository, PutManifestError,
    PutManifestOutcome, ReferrerRecord, RepositoryRecord, SchemaMode, TagRepository, TagWrite,
    UploadLimits, UploadParts, UploadProgress, UploadRecord,
};
use crate::{EndedUpload, Error, Result};

pub struct SqliteMetaStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Write transactions take the write lock when they begin. A deferred one would start as a
/// reader and fail with SQLITE_BUSY_SNAPSHOT, without waiting, when another connection to the
/// file (an offline command, a second handle) commits before it upgrades; IMMEDIATE waits its
/// turn under the busy timeout instead.
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

impl SqliteMetaStore {
    /// Opens (creating) the database file and runs pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, SchemaMode::Upgrade).await
    }

    /// Opens (creating) the database file, doing `schema` about pending migrations.
    pub async fn open_with(path: &Path, schema: SchemaMode) -> Result<Self> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode loses no committed transaction on a process crash; only a power
            // loss can drop the last transactions, never corrupt the file.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(base.clone().create_if_missing(true))
            .await?;
        if schema == SchemaMode::Upgrade {
            MIGRATOR
                .run(&writer)
                .await
                .map_err(|e| Error::Database(format!("migration failed: {e}")))?;
        } else if schema == SchemaMode::Require {
            let pending = pending_migrations(&writer).await?;
            if !pending.is_empty() {
                return Err(Error::Database(format!(
                    "the schema is behind this version (pending migrations: {}); run `portcullis migrate`",
                    pending.join(", ")
                )));
            }
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(base.read_only(true))
            .await?;
        Ok(SqliteMetaStore { writer, reader })
    }

    /// Releases every append claim and worker lease, for the one node an embedded database
    /// serves, as it starts: what a process killed mid-append (or holding the reaper's lease)
    /// left would otherwise stand until its lease ran out. Returns how many were released.
    pub async fn release_claims(&self) -> Result<u64> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let claims =
            sqlx::query("UPDATE uploads SET claimed_at = NULL WHERE claimed_at IS NOT NULL")
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let leases = sqlx::query("DELETE FROM worker_leases")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // A collector killed mid-round left these: no one else can be finishing them, so the
        // next round may at once (rather than once the marks look stale).
        let marks = sqlx::query("UPDATE blobs SET deleting_since = 0 WHERE deleting_since > 0")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(claims + leases + marks)
    }

    /// Applies pending migrations; returns the ones applied (`0005 iam generation`).
    pub async fn migrate(&self) -> Result<Vec<String>> {
        let pending = pending_migrations(&self.writer).await?;
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|e| Error::Database(format!("migration failed: {e}")))?;
        Ok(pending)
    }
}

/// Migrations of this version the database has not applied, as `<version> <description>`.
async fn pending_migrations(pool: &SqlitePool) -> Result<Vec<String>> {
    let table: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
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

fn digest_col(s: String) -> Result<Digest> {
    Digest::from_str(&s).map_err(|e| Error::Corrupt(format!("stored digest: {e}")))
}

fn manifest_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ManifestRecord> {
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

fn limit(n: u32) -> i64 {
    i64::from(n)
}

const MANIFEST_COLUMNS: &str =
    "m.digest, m.media_type, m.artifact_type, m.subject, m.annotations, m.content, m.created_at";

async fn repository_id_tx(tx: &mut sqlx::SqliteConnection, repo: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo)
            .fetch_optional(&mut *tx)
            .await?,
    )
}

async fn insert_blob_link_tx(
    tx: &mut sqlx::SqliteConnection,
    repository_id: i64,
    digest: &Digest,
    size: u64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO repository_blobs (repository_id, digest, size, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(repository_id, digest) DO UPDATE SET orphaned_at = NULL",
    )
    .bind(repository_id)
    .bind(digest.to_string())
    .bind(size as i64)
    .bind(now_millis())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn upsert_repository_tag(
    tx: &mut sqlx::SqliteConnection,
    repository_id: i64,
    key: &str,
    value: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO repository_tags (repository_id, key, value) VALUES (?, ?, ?)
         ON CONFLICT(repository_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(repository_id)
    .bind(key)
    .bind(value)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A repository's document columns, the only ones [`SqliteMetaStore::set_repository_column`]
/// writes (named here so that no caller-provided text reaches the SQL).
#[derive(Clone, Copy)]
enum RepositoryColumn {
    Policy,
    Settings,
    LifecyclePolicy,
}

#[async_trait]
impl MetaStore for SqliteMetaStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn check(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn repository_exists(&self, repo: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo)
            .fetch_optional(&self.reader)
            .await?;
        Ok(found.is_some())
    }

    async fn repository_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM repositories")
            .fetch_one(&self.reader)
            .await?;
        Ok(n as u64)
    }

    async fn image_count(&self, repo: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = ?",
        )
        .bind(repo)
        .fetch_one(&self.reader)
        .await?;
        Ok(n as u64)
    }

    async fn list_repositories(&self, last: Option<&str>, n: u32) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar(
            "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?",
        )
        .bind(last.unwrap_or(""))
        .bind(limit(n))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows)
    }

    async fn create_repository(&self, repo: &str, new: &NewRepository) -> Result<bool> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let done = sqlx::query(
            "INSERT INTO repositories (name, created_at, settings, policy, lifecycle_policy)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
        )
        .bind(repo)
        .bind(now_millis())
        .bind(&new.settings)
        .bind(&new.policy)
        .bind(&new.lifecycle_policy)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let id = done.last_insert_rowid();
        for (k, v) in &new.tags {
            upsert_repository_tag(&mut tx, id, k, v).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn set_repository_settings(&self, repo: &str, settings: &str) -> Result<bool> {
        self.set_repository_column(repo, RepositoryColumn::Settings, Some(settings))
            .await
    }

    async fn set_lifecycle_policy(&self, repo: &str, policy: Option<&str>) -> Result<bool> {
        self.set_repository_column(repo, RepositoryColumn::LifecyclePolicy, policy)
            .await
    }

    async fn set_lifecycle_evaluated_at(&self, repo: &str, at: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE repositories SET lifecycle_evaluated_at = ? WHERE name = ?")
            .bind(at)
            .bind(repo)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_lifecycle_preview(
        &self,
        repo: &str,
        created_at: i64,
        preview: &LifecyclePreviewRecord,
    ) -> Result<bool> {
        self.put_lifecycle_preview_impl(repo, created_at, preview)
            .await
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
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let Some(id) = repository_id_tx(&mut tx, repo).await? else {
            return Ok(TagRepository::NotFound);
        };
        for (k, v) in tags {
            upsert_repository_tag(&mut tx, id, k, v).await?;
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM repository_tags WHERE repository_id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if count as usize > max {
            // Dropping the transaction rolls every insert back.
            return Ok(TagRepository::TooMany);
        }
        tx.commit().await?;
        Ok(TagRepository::Done)
    }

    async fn untag_repository(&self, repo: &str, keys: &[String]) -> Result<bool> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let Some(id) = repository_id_tx(&mut tx, repo).await? else {
            return Ok(false);
        };
        for k in keys {
            sqlx::query("DELETE FROM repository_tags WHERE repository_id = ? AND key = ?")
                .bind(id)
                .bind(k)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
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
             VALUES (?1, ?2, ?3, ?3) ON CONFLICT (prefix) DO NOTHING",
            kind.table()
        );
        let done = sqlx::query(&sql)
            .bind(prefix)
            .bind(document)
            .bind(now)
            .execute(&self.writer)
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
            "UPDATE {} SET document = ?1, updated_at = ?2 WHERE prefix = ?3",
            kind.table()
        );
        let done = sqlx::query(&sql)
            .bind(document)
            .bind(now_millis())
            .bind(prefix)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn document(&self, kind: DocumentKind, prefix: &str) -> Result<Option<DocumentRecord>> {
        let sql = format!(
            "SELECT prefix, document, created_at, updated_at FROM {} WHERE prefix = ?1",
            kind.table()
        );
        let row = sqlx::query(&sql)
            .bind(prefix)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    async fn documents(&self, kind: DocumentKind) -> Result<Vec<DocumentRecord>> {
        let sql = format!(
            "SELECT prefix, document, created_at, updated_at FROM {} ORDER BY prefix",
            kind.table()
        );
        let rows = sqlx::query(&sql).fetch_all(&self.reader).await?;
        rows.iter().map(document_from_row).collect()
    }

    async fn delete_document(
        &self,
        kind: DocumentKind,
        prefix: &str,
    ) -> Result<Option<DocumentRecord>> {
        let sql = format!(
            "DELETE FROM {} WHERE prefix = ?1 RETURNING prefix, document, created_at, updated_at",
            kind.table()
        );
        let row = sqlx::query(&sql)
            .bind(prefix)
            .fetch_optional(&self.writer)
            .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    async fn repository(&self, repo: &str) -> Result<Option<RepositoryRecord>> {
        let row =
            sqlx::query("SELECT id, name, created_at, policy, settings, lifecycle_policy, lifecycle_evaluated_at
             FROM repositories WHERE name = ?")
                .bind(repo)
                .fetch_optional(&self.reader)
                .await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(self.repository_from_row(&row).await?)),
        }
    }

    async fn repository_records(
        &self,
        last: Option<&str>,
        n: u32,
    ) -> Result<Vec<RepositoryRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, policy, settings, lifecycle_policy, lifecycle_evaluated_at
             FROM repositories WHERE name > ? ORDER BY name LIMIT ?",
        )
        .bind(last.unwrap_or(""))
        .bind(limit(n))
        .fetch_all(&self.reader)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.repository_from_row(row).await?);
        }
        Ok(out)
    }

    async fn delete_repository(&self, repo: &str, force: bool) -> Result<DeleteRepository> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(id) = id else {
            return Ok(DeleteRepository::NotFound);
        };
        let images: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM manifests WHERE repository_id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if images > 0 && !force {
            return Ok(DeleteRepository::NotEmpty);
        }
        let ended_uploads =
            sqlx::query("DELETE FROM uploads WHERE repository = ? RETURNING id, backend_state")
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
             WHERE repository_id = ? AND child_kind = 'blob'",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM tags WHERE repository_id = ?",
            "DELETE FROM manifest_references WHERE repository_id = ?",
            "DELETE FROM manifests WHERE repository_id = ?",
            "DELETE FROM repository_blobs WHERE repository_id = ?",
            "DELETE FROM repository_tags WHERE repository_id = ?",
            "DELETE FROM lifecycle_previews WHERE repository_id = ?",
            "DELETE FROM repositories WHERE id = ?",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        sqlite_blobs::dereference(&mut tx, &referenced).await?;
        tx.commit().await?;
        Ok(DeleteRepository::Deleted { ended_uploads })
    }

    async fn set_repository_policy(&self, repo: &str, policy: Option<&str>) -> Result<bool> {
        self.set_repository_column(repo, RepositoryColumn::Policy, policy)
            .await
    }

    async fn registry_setting(&self, name: &str) -> Result<Option<String>> {
        let v = sqlx::query_scalar("SELECT value FROM registry_settings WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        Ok(v)
    }

    async fn set_registry_setting(&self, name: &str, value: Option<&str>) -> Result<bool> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let existed: Option<String> =
            sqlx::query_scalar("SELECT value FROM registry_settings WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        match value {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO registry_settings (name, value) VALUES (?, ?)
                     ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                )
                .bind(name)
                .bind(v)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM registry_settings WHERE name = ?")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(existed.is_some())
    }

    async fn link_blob(&self, repo: &str, digest: &Digest, size: u64) -> Result<bool> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let Some(id) = repository_id_tx(&mut tx, repo).await? else {
            return Ok(false);
        };
        insert_blob_link_tx(&mut tx, id, digest, size).await?;
        sqlite_blobs::ensure_row(&mut tx, digest, size).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn mount_blob(&self, from: &str, repo: &str, digest: &Digest) -> Result<MountBlob> {
        self.mount_blob_impl(from, repo, digest).await
    }

    async fn claim_blob(&self, digest: &Digest, size: u64) -> Result<Option<i64>> {
        self.claim_blob_impl(digest, size).await
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
        self.begin_blob_deletes_impl(digests, before).await
    }

    async fn finish_blob_deletes(&self, digests: &[Digest]) -> Result<()> {
        self.finish_blob_deletes_impl(digests).await
    }

    async fn unfinished_blob_deletes(&self, before: i64, limit: u32) -> Result<Vec<GcBlob>> {
        self.unfinished_blob_deletes_impl(before, limit).await
    }

    async fn adopt_blobs(&self, found: &[GcBlob]) -> Result<u64> {
        self.adopt_blobs_impl(found).await
    }

    async fn blob_link(&self, repo: &str, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id
             WHERE r.name = ? AND b.digest = ? AND b.orphaned_at IS NULL",
        )
        .bind(repo)
        .bind(digest.to_string())
        .fetch_optional(&self.reader)
        .await?;
        Ok(size.map(|s| s as u64))
    }

    async fn unlink_blob(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM repository_blobs WHERE digest = ?
             AND repository_id = (SELECT id FROM repositories WHERE name = ?)",
        )
        .bind(digest.to_string())
        .bind(repo)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_manifest(
        &self,
        repo: &str,
        m: &ManifestRecord,
        refs: &[ManifestRef],
        tag: Option<TagWrite<'_>>,
    ) -> Result<PutManifestOutcome, PutManifestError> {
        let mut tx = self
            .writer
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(Error::from)?;
        let Some(id) = repository_id_tx(&mut tx, repo).await? else {
            return Err(PutManifestError::NameUnknown(repo.to_owned()));
        };
        let digest = m.digest.to_string();
        for r in refs {
            let (sql, d) = match r {
                ManifestRef::Blob(d) => (
                    "SELECT 1 FROM repository_blobs WHERE repository_id = ? AND digest = ?",
                    d,
                ),
                ManifestRef::Manifest(d) => (
                    "SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?",
                    d,
                ),
            };
            let found: Option<i64> = sqlx::query_scalar(sql)
                .bind(id)
                .bind(d.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::from)?;
            if found.is_none() {
                return Err(PutManifestError::Missing(d.clone()));
            }
            // A blob a collector has begun to delete is missing already. A link orphaned by
            // a manifest delete is the repository's again once a manifest lists it.
            if let ManifestRef::Blob(d) = r {
                if !sqlite_blobs::reference(&mut tx, d).await? {
                    return Err(PutManifestError::Missing(d.clone()));
                }
                sqlx::query(
                    "UPDATE repository_blobs SET orphaned_at = NULL
                     WHERE repository_id = ? AND digest = ? AND orphaned_at IS NOT NULL",
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
                    "SELECT manifest_digest FROM tags WHERE repository_id = ? AND name = ?",
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(repository_id, digest) DO NOTHING",
        )
        .bind(id)
        .bind(&digest)
        .bind(&m.media_type)
        .bind(&m.artifact_type)
        .bind(m.subject.as_ref().map(Digest::to_string))
        .bind(&m.annotations)
        .bind(m.content.len() as i64)
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
                 VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
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
                "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT(repository_id, name)
                 DO UPDATE SET manifest_digest = excluded.manifest_digest, updated_at = excluded.updated_at",
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

    async fn manifest(&self, repo: &str, digest: &Digest) -> Result<Option<ManifestRecord>> {
        let sql = format!(
            "SELECT {MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = ? AND m.digest = ?"
        );
        let row = sqlx::query(&sql)
            .bind(repo)
            .bind(digest.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(manifest_from_row).transpose()
    }

    async fn manifest_by_tag(&self, repo: &str, tag: &str) -> Result<Option<ManifestRecord>> {
        let sql = format!(
            "SELECT {MANIFEST_COLUMNS} FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
             WHERE r.name = ? AND t.name = ?"
        );
        let row = sqlx::query(&sql)
            .bind(repo)
            .bind(tag)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(manifest_from_row).transpose()
    }

    async fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(id) = id else { return Ok(false) };
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?")
                .bind(id)
                .bind(digest.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Ok(false);
        }
        // The manifest, then its referrers (signatures, SBOMs), theirs, and so on.
        let mut doomed = vec![digest.to_string()];
        let mut blobs: Vec<String> = Vec::new();
        while let Some(d) = doomed.pop() {
            let referrers: Vec<String> = sqlx::query_scalar(
                "SELECT digest FROM manifests WHERE repository_id = ? AND subject = ?",
            )
            .bind(id)
            .bind(&d)
            .fetch_all(&mut *tx)
            .await?;
            doomed.extend(referrers.into_iter().filter(|r| r != &d));
            blobs.extend(
                sqlx::query_scalar::<_, String>(
                    "SELECT child_digest FROM manifest_references
                     WHERE repository_id = ? AND manifest_digest = ? AND child_kind = 'blob'",
                )
                .bind(id)
                .bind(&d)
                .fetch_all(&mut *tx)
                .await?,
            );
            for sql in [
                "DELETE FROM tags WHERE repository_id = ? AND manifest_digest = ?",
                "DELETE FROM manifest_references WHERE repository_id = ? AND manifest_digest = ?",
            ] {
                sqlx::query(sql).bind(id).bind(&d).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM manifests WHERE repository_id = ? AND digest = ?")
                .bind(id)
                .bind(&d)
                .execute(&mut *tx)
                .await?;
        }
        blobs.sort();
        blobs.dedup();
        // The repository no longer reaches what only the deleted manifests referenced.
        let now = now_millis();
        for b in &blobs {
            sqlx::query(
                "UPDATE repository_blobs SET orphaned_at = ?
                 WHERE repository_id = ? AND digest = ? AND orphaned_at IS NULL
                 AND NOT EXISTS (SELECT 1 FROM manifest_references
                                 WHERE repository_id = ? AND child_kind = 'blob' AND child_digest = ?)",
            )
            .bind(now)
            .bind(id)
            .bind(b)
            .bind(id)
            .bind(b)
            .execute(&mut *tx)
            .await?;
        }
        sqlite_blobs::dereference(&mut tx, &blobs).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM tags WHERE name = ? AND repository_id = (SELECT id FROM repositories WHERE name = ?)",
        )
        .bind(tag)
        .bind(repo)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_tags(&self, repo: &str, last: Option<&str>, n: u32) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
             WHERE r.name = ? AND t.name > ? ORDER BY t.name LIMIT ?",
        )
        .bind(repo)
        .bind(last.unwrap_or(""))
        .bind(limit(n))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows)
    }

    async fn images(&self, repo: &str) -> Result<Vec<ImageRecord>> {
        let sql = format!(
            "SELECT {MANIFEST_COLUMNS}, m.last_pulled_at,
                (SELECT group_concat(name, char(10)) FROM
                    (SELECT t.name FROM tags t WHERE t.repository_id = m.repository_id
                     AND t.manifest_digest = m.digest ORDER BY t.name)) AS tag_names
             FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = ? ORDER BY m.created_at, m.digest"
        );
        let rows = sqlx::query(&sql).bind(repo).fetch_all(&self.reader).await?;
        rows.iter()
            .map(|row| {
                let tags: Option<String> = row.try_get("tag_names")?;
                Ok(ImageRecord {
                    manifest: manifest_from_row(row)?,
                    tags: tags
                        .map(|t| t.split('\n').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    last_pulled_at: row.try_get("last_pulled_at")?,
                })
            })
            .collect()
    }

    async fn tags_of(&self, repo: &str, digest: &Digest) -> Result<Vec<String>> {
        let rows = sqlx::query_scalar(
            "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
             WHERE r.name = ? AND t.manifest_digest = ? ORDER BY t.name",
        )
        .bind(repo)
        .bind(digest.to_string())
        .fetch_all(&self.reader)
        .await?;
        Ok(rows)
    }

    async fn manifest_parents(&self, repo: &str, digest: &Digest) -> Result<Vec<Digest>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT x.manifest_digest FROM manifest_references x
             JOIN repositories r ON r.id = x.repository_id
             WHERE r.name = ? AND x.child_digest = ? AND x.child_kind = 'manifest'
             ORDER BY x.manifest_digest",
        )
        .bind(repo)
        .bind(digest.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(digest_col).collect()
    }

    async fn blob_referenced(&self, repo: &str, digest: &Digest) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM manifest_references x JOIN repositories r ON r.id = x.repository_id
             WHERE r.name = ? AND x.child_digest = ? AND x.child_kind = 'blob' LIMIT 1",
        )
        .bind(repo)
        .bind(digest.to_string())
        .fetch_optional(&self.reader)
        .await?;
        Ok(found.is_some())
    }

    async fn record_pull(&self, repo: &str, digest: &Digest, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE manifests SET last_pulled_at = ? WHERE digest = ?
             AND repository_id = (SELECT id FROM repositories WHERE name = ?)",
        )
        .bind(at)
        .bind(digest.to_string())
        .bind(repo)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<ReferrerRecord>> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations
             FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = ? AND m.subject = ? ORDER BY m.digest",
        )
        .bind(repo)
        .bind(subject.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ReferrerRecord {
                    digest: digest_col(row.try_get("digest")?)?,
                    media_type: row.try_get("media_type")?,
                    size: row.try_get::<i64, _>("size")? as u64,
                    artifact_type: row.try_get("artifact_type")?,
                    annotations: row.try_get("annotations")?,
                })
            })
            .collect()
    }

    async fn create_upload(
        &self,
        id: &str,
        repo: &str,
        principal: &str,
        limits: UploadLimits,
        backend_state: Option<&str>,
    ) -> Result<CreateUpload> {
        // One writer connection: no other session can be recorded between the counts and the
        // insert, so the limits hold exactly under concurrent starts.
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        if repository_id_tx(&mut tx, repo).await?.is_none() {
            return Ok(CreateUpload::NameUnknown);
        }
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads")
            .fetch_one(&mut *tx)
            .await?;
        if total as u64 >= limits.total {
            return Ok(CreateUpload::TotalLimit);
        }
        let mine: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE principal = ?")
            .bind(principal)
            .fetch_one(&mut *tx)
            .await?;
        if mine as u64 >= limits.per_principal {
            return Ok(CreateUpload::PrincipalLimit);
        }
        let now = now_millis();
        sqlx::query(
            "INSERT INTO uploads (id, repository, principal, created_at, updated_at, backend_state)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(repo)
        .bind(principal)
        .bind(now)
        .bind(now)
        .bind(backend_state)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CreateUpload::Created)
    }

    async fn upload(&self, id: &str) -> Result<Option<UploadRecord>> {
        let row = sqlx::query(
            "SELECT id, repository, principal, created_at, updated_at FROM uploads WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| upload_from_row(&r)).transpose()
    }

    async fn touch_upload(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE uploads SET updated_at = ? WHERE id = ?")
            .bind(now_millis())
            .bind(id)
            .execute(&self.writer)
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
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        if !sqlite_blobs::claim_holds(&mut tx, digest, claim).await? {
            return Ok(CompleteUpload::ClaimLost);
        }
        let ended = sqlx::query("DELETE FROM uploads WHERE id = ? AND repository = ?")
            .bind(id)
            .bind(repo)
            .execute(&mut *tx)
            .await?;
        if ended.rows_affected() == 0 {
            return Ok(CompleteUpload::UploadUnknown);
        }
        let Some(repository_id) = repository_id_tx(&mut tx, repo).await? else {
            return Ok(CompleteUpload::NameUnknown);
        };
        insert_blob_link_tx(&mut tx, repository_id, digest, size).await?;
        tx.commit().await?;
        Ok(CompleteUpload::Linked)
    }

    async fn record_upload_part(&self, id: &str, size: u64, min_part: u64) -> Result<UploadParts> {
        let row = sqlx::query(
            "UPDATE uploads SET
                undersized_part = CASE WHEN last_part_size IS NOT NULL AND last_part_size < ?
                                       THEN 1 ELSE undersized_part END,
                parts = parts + 1, last_part_size = ?, updated_at = ?
             WHERE id = ? RETURNING parts, last_part_size, undersized_part",
        )
        .bind(min_part as i64)
        .bind(size as i64)
        .bind(now_millis())
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        match row {
            Some(r) => parts_from_row(&r),
            None => Ok(UploadParts::default()),
        }
    }

    async fn upload_parts(&self, id: &str) -> Result<UploadParts> {
        let row =
            sqlx::query("SELECT parts, last_part_size, undersized_part FROM uploads WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
        match row {
            Some(r) => parts_from_row(&r),
            None => Ok(UploadParts::default()),
        }
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM uploads WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn stale_uploads(&self, before: i64) -> Result<Vec<UploadRecord>> {
        let rows = sqlx::query(
            "SELECT id, repository, principal, created_at, updated_at FROM uploads
             WHERE updated_at < ? ORDER BY id",
        )
        .bind(before)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(upload_from_row).collect()
    }

    async fn begin_append(&self, id: &str, offset: u64, lease_ms: i64) -> Result<BeginAppend> {
        let now = now_millis();
        let claimed = sqlx::query(
            "UPDATE uploads SET claimed_at = ?1, updated_at = ?1
             WHERE id = ?2 AND upload_offset = ?3 AND (claimed_at IS NULL OR ?1 - claimed_at >= ?4)
             RETURNING upload_offset, hash_state, backend_state",
        )
        .bind(now)
        .bind(id)
        .bind(offset as i64)
        .bind(lease_ms)
        .fetch_optional(&self.writer)
        .await?;
        if let Some(row) = claimed {
            return Ok(BeginAppend::Claimed(progress_from_row(&row)?));
        }
        let stored = sqlx::query("SELECT upload_offset, claimed_at FROM uploads WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        let stored = stored
            .map(|r| -> Result<(u64, Option<i64>)> {
                Ok((
                    r.try_get::<i64, _>("upload_offset")? as u64,
                    r.try_get("claimed_at")?,
                ))
            })
            .transpose()?;
        Ok(refused_append(stored, offset, now, lease_ms))
    }

    async fn finish_append(
        &self,
        id: &str,
        from_offset: u64,
        progress: &UploadProgress,
    ) -> Result<bool> {
        let done = if progress.offset == from_offset {
            sqlx::query(
                "UPDATE uploads SET claimed_at = NULL, updated_at = ?
                 WHERE id = ? AND upload_offset = ?",
            )
            .bind(now_millis())
            .bind(id)
            .bind(from_offset as i64)
            .execute(&self.writer)
            .await?
        } else {
            sqlx::query(
                "UPDATE uploads SET upload_offset = ?, hash_state = ?, backend_state = ?,
                    claimed_at = NULL, updated_at = ?
                 WHERE id = ? AND upload_offset = ?",
            )
            .bind(progress.offset as i64)
            .bind(progress.hash_state.as_deref())
            .bind(progress.backend_state.as_deref())
            .bind(now_millis())
            .bind(id)
            .bind(from_offset as i64)
            .execute(&self.writer)
            .await?
        };
        Ok(done.rows_affected() > 0)
    }

    async fn renew_append(&self, id: &str, offset: u64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET claimed_at = ?1, updated_at = ?1 WHERE id = ?2 AND upload_offset = ?3 AND claimed_at IS NOT NULL",
        )
        .bind(now_millis())
        .bind(id)
        .bind(offset as i64)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upload_progress(&self, id: &str) -> Result<Option<UploadProgress>> {
        let row = sqlx::query(
            "SELECT upload_offset, hash_state, backend_state FROM uploads WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(progress_from_row).transpose()
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool> {
        let now = now_millis();
        let granted = sqlx::query(
            "INSERT INTO worker_leases (name, holder, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE worker_leases.holder = excluded.holder OR worker_leases.expires_at <= ?4",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(granted.rows_affected() > 0)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM worker_leases WHERE name = ? AND holder = ?")
            .bind(name)
            .bind(holder)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

impl SqliteMetaStore {
    async fn set_repository_column(
        &self,
        repo: &str,
        column: RepositoryColumn,
        value: Option<&str>,
    ) -> Result<bool> {
        let sql = match column {
            RepositoryColumn::Policy => "UPDATE repositories SET policy = ? WHERE name = ?",
            RepositoryColumn::Settings => "UPDATE repositories SET settings = ? WHERE name = ?",
            RepositoryColumn::LifecyclePolicy => {
                "UPDATE repositories SET lifecycle_policy = ? WHERE name = ?"
            }
        };
        let done = sqlx::query(sql)
            .bind(value)
            .bind(repo)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn repository_from_row(&self, row: &sqlx::sqlite::SqliteRow) -> Result<RepositoryRecord> {
        let id: i64 = row.try_get("id")?;
        let tags = sqlx::query_as::<_, (String, String)>(
            "SELECT key, value FROM repository_tags WHERE repository_id = ? ORDER BY key",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        Ok(RepositoryRecord {
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
            policy: row.try_get("policy")?,
            tags,
            settings: row.try_get("settings")?,
            lifecycle_policy: row.try_get("lifecycle_policy")?,
            lifecycle_evaluated_at: row.try_get("lifecycle_evaluated_at")?,
        })
    }
}

fn document_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<DocumentRecord> {
    Ok(DocumentRecord {
        prefix: r.try_get("prefix")?,
        document: r.try_get("document")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn parts_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<UploadParts> {
    Ok(UploadParts {
        parts: r.try_get::<i64, _>("parts")? as u32,
        last_part_size: r
            .try_get::<Option<i64>, _>("last_part_size")?
            .map(|s| s as u64),
        undersized_part: r.try_get::<i64, _>("undersized_part")? != 0,
    })
}

fn progress_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<UploadProgress> {
    Ok(UploadProgress {
        offset: r.try_get::<i64, _>("upload_offset")? as u64,
        hash_state: r.try_get("hash_state")?,
        backend_state: r.try_get("backend_state")?,
    })
}

fn upload_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<UploadRecord> {
    Ok(UploadRecord {
        id: r.try_get("id")?,
        repository: r.try_get("repository")?,
        principal: r.try_get("principal")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metadata contract, on a fresh database file per case; a second handle is a second
    /// store (its own writer) on the same file.
    mod contract {
        use std::sync::Arc;

        use crate::meta::sqlite::SqliteMetaStore;
        use crate::testsuite::meta::Open;

        crate::meta_store_suite!(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("m.sqlite");
            let open: Open<SqliteMetaStore> = Arc::new(move || {
                let path = path.clone();
                Box::pin(async move { Arc::new(SqliteMetaStore::open(&path).await.expect("open")) })
            });
            Some((open, dir))
        });

        crate::secret_store_suite!(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("m.sqlite");
            let open: Open<SqliteMetaStore> = Arc::new(move || {
                let path = path.clone();
                Box::pin(async move { Arc::new(SqliteMetaStore::open(&path).await.expect("open")) })
            });
            Some((open, dir))
        });
    }

    fn record(content: &'static [u8], subject: Option<Digest>) -> ManifestRecord {
        ManifestRecord {
            digest: Digest::sha256_of(content),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: Some("application/x-test".into()),
            subject,
            annotations: None,
            content: Bytes::from_static(content),
            created_at: 1,
        }
    }

    async fn store_with(dir: &tempfile::TempDir, repos: &[&str]) -> SqliteMetaStore {
        let store = SqliteMetaStore::open(&dir.path().join("m.sqlite"))
            .await
            .unwrap();
        for r in repos {
            assert!(store
                .create_repository(r, &NewRepository::default())
                .await
                .unwrap());
        }
        store
    }

    const ROOMY: UploadLimits = UploadLimits {
        per_principal: 100,
        total: 100,
    };

    #[tokio::test]
    async fn manifests_need_their_blobs_and_tags_follow_pushes() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(&dir, &["a/b"]).await;
        let layer = Digest::sha256_of(b"layer");
        let m1 = record(b"one", None);
        let refs = [ManifestRef::Blob(layer.clone())];
        assert!(matches!(
            store.put_manifest("a/b", &m1, &refs, Some(TagWrite { name: "latest", immutable: false })).await,
            Err(PutManifestError::Missing(d)) if d == layer
        ));
        assert!(store.link_blob("a/b", &layer, 5).await.unwrap());
        assert_eq!(store.blob_link("a/b", &layer).await.unwrap(), Some(5));
        assert_eq!(store.blob_link("other", &layer).await.unwrap(), None);
        store
            .put_manifest(
                "a/b",
                &m1,
                &refs,
                Some(TagWrite {
                    name: "latest",
                    immutable: false,
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .manifest_by_tag("a/b", "latest")
                .await
                .unwrap()
                .unwrap(),
            m1
        );
        let m2 = record(b"two", Some(m1.digest.clone()));
        store
            .put_manifest(
                "a/b",
                &m2,
                &[],
                Some(TagWrite {
                    name: "latest",
                    immutable: false,
                }),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .manifest_by_tag("a/b", "latest")
                .await
                .unwrap()
                .unwrap()
                .digest,
            m2.digest
        );
        let refs = store.referrers("a/b", &m1.digest).await.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].digest, m2.digest);
        assert!(store.delete_manifest("a/b", &m2.digest).await.unwrap());
        assert_eq!(store.manifest_by_tag("a/b", "latest").await.unwrap(), None);
        assert_eq!(
            store.list_tags("a/b", None, 10).await.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(store.list_repositories(None, 10).await.unwrap(), ["a/b"]);
    }

    #[tokio::test]
    async fn pagination_is_lexical() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(&dir, &["r"]).await;
        let m = record(b"x", None);
        for t in ["b", "a", "c", "aa"] {
            store
                .put_manifest(
                    "r",
                    &m,
                    &[],
                    Some(TagWrite {
                        name: t,
                        immutable: false,
                    }),
                )
                .await
                .unwrap();
        }
        assert_eq!(store.list_tags("r", None, 2).await.unwrap(), ["a", "aa"]);
        assert_eq!(
            store.list_tags("r", Some("aa"), 10).await.unwrap(),
            ["b", "c"]
        );
    }

    #[tokio::test]
    async fn immutable_tags_images_templates_and_parts() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(&dir, &["r"]).await;
        let fixed = |name| {
            Some(TagWrite {
                name,
                immutable: true,
            })
        };
        let m1 = record(b"one", None);
        let m2 = record(b"two", None);
        let first = store
            .put_manifest("r", &m1, &[], fixed("v1"))
            .await
            .unwrap();
        assert!(first.created);
        assert_eq!(first.previous_tag_target, None);
        let again = store
            .put_manifest("r", &m1, &[], fixed("v1"))
            .await
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.previous_tag_target, Some(m1.digest.clone()));
        assert!(matches!(
            store.put_manifest("r", &m2, &[], fixed("v1")).await,
            Err(PutManifestError::TagImmutable { current, .. }) if current == m1.digest
        ));
        // The refused push left nothing behind.
        assert_eq!(store.manifest("r", &m2.digest).await.unwrap(), None);
        store.put_manifest("r", &m2, &[], None).await.unwrap();
        let images = store.images("r").await.unwrap();
        assert_eq!(images.len(), 2);
        let tagged = images
            .iter()
            .find(|i| i.manifest.digest == m1.digest)
            .unwrap();
        assert_eq!(tagged.tags, ["v1"]);
        assert!(images
            .iter()
            .any(|i| i.manifest.digest == m2.digest && i.tags.is_empty()));

        // The migration seeds the ROOT template.
        let seeded = store
            .documents(DocumentKind::CreationTemplate)
            .await
            .unwrap();
        assert_eq!(seeded.len(), 1);
        assert_eq!(seeded[0].prefix, "ROOT");
        assert!(store
            .create_document(DocumentKind::CreationTemplate, "team", "{}")
            .await
            .unwrap());
        assert!(!store
            .create_document(DocumentKind::CreationTemplate, "team", "{}")
            .await
            .unwrap());
        assert!(store
            .update_document(DocumentKind::CreationTemplate, "team", "{\"a\":1}")
            .await
            .unwrap());
        assert_eq!(
            store
                .document(DocumentKind::CreationTemplate, "team")
                .await
                .unwrap()
                .unwrap()
                .document,
            "{\"a\":1}"
        );
        assert!(store
            .delete_document(DocumentKind::CreationTemplate, "team")
            .await
            .unwrap()
            .is_some());
        assert!(store
            .delete_document(DocumentKind::CreationTemplate, "team")
            .await
            .unwrap()
            .is_none());

        assert_eq!(
            store
                .create_upload("u1", "r", "p", ROOMY, None)
                .await
                .unwrap(),
            CreateUpload::Created
        );
        let mib = 1024 * 1024;
        store
            .record_upload_part("u1", 6 * mib, 5 * mib)
            .await
            .unwrap();
        let p = store
            .record_upload_part("u1", 2 * mib, 5 * mib)
            .await
            .unwrap();
        assert_eq!((p.parts, p.undersized_part), (2, false));
        let p = store
            .record_upload_part("u1", 6 * mib, 5 * mib)
            .await
            .unwrap();
        assert_eq!((p.parts, p.undersized_part), (3, true));
        assert_eq!(store.upload_parts("u1").await.unwrap(), p);

        assert!(store
            .create_repository("t", &NewRepository::default())
            .await
            .unwrap());
        let kv = |k: &str| (k.to_owned(), "v".to_owned());
        assert_eq!(
            store
                .tag_repository("t", &[kv("a"), kv("b")], 2)
                .await
                .unwrap(),
            TagRepository::Done
        );
        assert_eq!(
            store.tag_repository("t", &[kv("c")], 2).await.unwrap(),
            TagRepository::TooMany
        );
        assert_eq!(store.repository("t").await.unwrap().unwrap().tags.len(), 2);
        assert!(store
            .untag_repository("t", &["a".to_owned()])
            .await
            .unwrap());
        assert_eq!(
            store.tag_repository("nope", &[kv("c")], 2).await.unwrap(),
            TagRepository::NotFound
        );
    }

    /// No write creates a repository: blob links, manifests and sessions on a missing name are
    /// refused and leave nothing behind.
    #[tokio::test]
    async fn writes_never_create_repositories() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(&dir, &[]).await;
        let layer = Digest::sha256_of(b"layer");
        assert!(!store.link_blob("ghost", &layer, 5).await.unwrap());
        assert!(matches!(
            store.put_manifest("ghost", &record(b"m", None), &[], None).await,
            Err(PutManifestError::NameUnknown(n)) if n == "ghost"
        ));
        assert_eq!(
            store
                .create_upload("u", "ghost", "p", ROOMY, None)
                .await
                .unwrap(),
            CreateUpload::NameUnknown
        );
        assert!(!store.repository_exists("ghost").await.unwrap());
        assert_eq!(store.upload("u").await.unwrap(), None);
    }

    /// Deleting a repository ends its sessions in the same transaction: the session can
    /// neither be completed nor touched afterwards, even once the name exists again.
    #[tokio::test]
    async fn deleting_a_repository_ends_its_upload_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(&dir, &["r", "other"]).await;
        for (id, repo) in [("u1", "r"), ("u2", "r"), ("u3", "other")] {
            store
                .create_upload(id, repo, "p", ROOMY, None)
                .await
                .unwrap();
        }
        let outcome = store.delete_repository("r", true).await.unwrap();
        let DeleteRepository::Deleted { ended_uploads } = outcome else {
            panic!("not deleted: {outcome:?}");
        };
        let mut ended: Vec<String> = ended_uploads.into_iter().map(|u| u.id).collect();
        ended.sort();
        assert_eq!(ended, ["u1", "u2"]);
        assert_eq!(store.upload("u1").await.unwrap(), None);
        assert!(!store.touch_upload("u1").await.unwrap());
        assert!(store.touch_upload("u3").await.unwrap());
        store
            .create_repository("r", &NewRepository::default())
            .await
            .unwrap();
        let layer = Digest::sha256_of(b"layer");
        let claim = store.claim_blob(&layer, 5).await.unwrap().unwrap();
        assert_eq!(
            store
                .complete_upload("u1", "r", &layer, 5, claim)
                .await
                .unwrap(),
            CompleteUpload::UploadUnknown
        );
        assert_eq!(store.blob_link("r", &layer).await.unwrap(), None);
        assert_eq!(
            store
                .complete_upload("u3", "other", &layer, 5, claim)
                .await
                .unwrap(),
            CompleteUpload::Linked
        );
        assert_eq!(store.blob_link("other", &layer).await.unwrap(), Some(5));
        assert_eq!(store.upload("u3").await.unwrap(), None);
    }

    #[tokio::test]
    async fn upload_limits_count_per_principal_and_in_total() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(&dir, &["r"]).await;
        let limits = UploadLimits {
            per_principal: 2,
            total: 3,
        };
        let create = |id: &'static str, who: &'static str| {
            let store = &store;
            async move {
                store
                    .create_upload(id, "r", who, limits, None)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(create("a1", "alice").await, CreateUpload::Created);
        assert_eq!(create("a2", "alice").await, CreateUpload::Created);
        assert_eq!(create("a3", "alice").await, CreateUpload::PrincipalLimit);
        assert_eq!(create("b1", "bob").await, CreateUpload::Created);
        assert_eq!(create("b2", "bob").await, CreateUpload::TotalLimit);
        store.delete_upload("a1").await.unwrap();
        assert_eq!(create("b2", "bob").await, CreateUpload::Created);
        assert_eq!(
            store
                .upload("b2")
                .await
                .unwrap()
                .unwrap()
                .principal
                .as_deref(),
            Some("bob")
        );
    }
}
