//! The blob table in SQLite: claims, references and what garbage collection reads and marks.
//! Every write runs on the one writer connection, so the check-then-write steps here are
//! serial by construction.

use std::str::FromStr;

use portcullis_oci::Digest;
use sqlx::Row;

use super::now_millis;
use super::sqlite::{SqliteMetaStore, BEGIN_WRITE};
use super::{BlobRow, GcBlob, MountBlob};
use crate::{Error, Result};

fn digest_of(s: String) -> Result<Digest> {
    Digest::from_str(&s).map_err(|e| Error::Corrupt(format!("stored digest: {e}")))
}

fn gc_blob(row: &sqlx::sqlite::SqliteRow) -> Result<GcBlob> {
    Ok(GcBlob {
        digest: digest_of(row.try_get("digest")?)?,
        size: row.try_get::<i64, _>("size")? as u64,
    })
}

/// Creates the blob's row, unreferenced from now, when there is none.
pub(super) async fn ensure_row(
    tx: &mut sqlx::SqliteConnection,
    digest: &Digest,
    size: u64,
) -> Result<()> {
    let now = now_millis();
    sqlx::query(
        "INSERT INTO blobs (digest, size, created_at, unreferenced_since) VALUES (?, ?, ?, ?)
         ON CONFLICT(digest) DO NOTHING",
    )
    .bind(digest.to_string())
    .bind(size as i64)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks a blob referenced (a manifest put that lists it); `false` when it has no row or a
/// collector is deleting it.
pub(super) async fn reference(tx: &mut sqlx::SqliteConnection, digest: &Digest) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE blobs SET unreferenced_since = NULL WHERE digest = ? AND deleting_since IS NULL",
    )
    .bind(digest.to_string())
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// After references to `digests` went: those that no manifest anywhere references any more
/// are unreferenced from now.
pub(super) async fn dereference(tx: &mut sqlx::SqliteConnection, digests: &[String]) -> Result<()> {
    let now = now_millis();
    for d in digests {
        sqlx::query(
            "UPDATE blobs SET unreferenced_since = ? WHERE digest = ? AND unreferenced_since IS NULL
             AND NOT EXISTS (SELECT 1 FROM manifest_references
                             WHERE child_kind = 'blob' AND child_digest = ?)",
        )
        .bind(now)
        .bind(d)
        .bind(d)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Whether the claim `claim` on `digest` still holds (checked in the linking transaction).
pub(super) async fn claim_holds(
    tx: &mut sqlx::SqliteConnection,
    digest: &Digest,
    claim: i64,
) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM blobs WHERE id = ? AND digest = ? AND deleting_since IS NULL",
    )
    .bind(claim)
    .bind(digest.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    Ok(found.is_some())
}

impl SqliteMetaStore {
    pub(super) async fn mount_blob_impl(
        &self,
        from: &str,
        repo: &str,
        digest: &Digest,
    ) -> Result<MountBlob> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        let d = digest.to_string();
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id
             WHERE r.name = ? AND b.digest = ? AND b.orphaned_at IS NULL",
        )
        .bind(from)
        .bind(&d)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(size) = size else {
            return Ok(MountBlob::SourceMissing);
        };
        let target: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(target) = target else {
            return Ok(MountBlob::NameUnknown);
        };
        let now = now_millis();
        sqlx::query(
            "INSERT INTO repository_blobs (repository_id, digest, size, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(repository_id, digest) DO UPDATE SET orphaned_at = NULL",
        )
        .bind(target)
        .bind(&d)
        .bind(size)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        ensure_row(&mut tx, digest, size as u64).await?;
        // A mount is usually followed by the manifest that references the blob: give it the
        // whole grace delay.
        sqlx::query(
            "UPDATE blobs SET unreferenced_since = ? WHERE digest = ? AND unreferenced_since IS NOT NULL",
        )
        .bind(now)
        .bind(&d)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(MountBlob::Mounted { size: size as u64 })
    }

    pub(super) async fn claim_blob_impl(&self, digest: &Digest, size: u64) -> Result<Option<i64>> {
        let now = now_millis();
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO blobs (digest, size, created_at, unreferenced_since) VALUES (?, ?, ?, ?)
             ON CONFLICT(digest) DO UPDATE SET unreferenced_since =
                 CASE WHEN blobs.unreferenced_since IS NULL THEN NULL
                      ELSE excluded.unreferenced_since END
             WHERE blobs.deleting_since IS NULL
             RETURNING id",
        )
        .bind(digest.to_string())
        .bind(size as i64)
        .bind(now)
        .bind(now)
        .fetch_optional(self.writer())
        .await?;
        Ok(id)
    }

    pub(super) async fn blob_row_impl(&self, digest: &Digest) -> Result<Option<BlobRow>> {
        let row = sqlx::query(
            "SELECT size, created_at, unreferenced_since, deleting_since FROM blobs WHERE digest = ?",
        )
        .bind(digest.to_string())
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            Ok(BlobRow {
                size: r.try_get::<i64, _>("size")? as u64,
                created_at: r.try_get("created_at")?,
                unreferenced_since: r.try_get("unreferenced_since")?,
                deleting_since: r.try_get("deleting_since")?,
            })
        })
        .transpose()
    }

    pub(super) async fn gc_candidates_impl(
        &self,
        before: i64,
        after: Option<&Digest>,
        limit: u32,
    ) -> Result<Vec<GcBlob>> {
        sqlx::query(
            "SELECT digest, size FROM blobs
             WHERE unreferenced_since < ? AND deleting_since IS NULL AND digest > ?
             ORDER BY digest LIMIT ?",
        )
        .bind(before)
        .bind(after.map(Digest::to_string).unwrap_or_default())
        .bind(limit as i64)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(gc_blob)
        .collect()
    }

    pub(super) async fn begin_blob_deletes_impl(
        &self,
        digests: &[Digest],
        before: i64,
    ) -> Result<Vec<GcBlob>> {
        let now = now_millis();
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        let mut marked = Vec::new();
        for digest in digests {
            let d = digest.to_string();
            let size: Option<i64> = sqlx::query_scalar(
                "UPDATE blobs SET deleting_since = ?
                 WHERE digest = ? AND deleting_since IS NULL AND unreferenced_since < ?
                 AND NOT EXISTS (SELECT 1 FROM manifest_references
                                 WHERE child_kind = 'blob' AND child_digest = ?)
                 RETURNING size",
            )
            .bind(now)
            .bind(&d)
            .bind(before)
            .bind(&d)
            .fetch_optional(&mut *tx)
            .await?;
            match size {
                Some(size) => {
                    sqlx::query("DELETE FROM repository_blobs WHERE digest = ?")
                        .bind(&d)
                        .execute(&mut *tx)
                        .await?;
                    marked.push(GcBlob {
                        digest: digest.clone(),
                        size: size as u64,
                    });
                }
                // Referenced after all (a mark that raced with a put): referenced it stays.
                None => {
                    sqlx::query(
                        "UPDATE blobs SET unreferenced_since = NULL WHERE digest = ?
                         AND EXISTS (SELECT 1 FROM manifest_references
                                     WHERE child_kind = 'blob' AND child_digest = ?)",
                    )
                    .bind(&d)
                    .bind(&d)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(marked)
    }

    pub(super) async fn finish_blob_deletes_impl(&self, digests: &[Digest]) -> Result<()> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        for d in digests {
            sqlx::query("DELETE FROM blobs WHERE digest = ? AND deleting_since IS NOT NULL")
                .bind(d.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn unfinished_blob_deletes_impl(
        &self,
        before: i64,
        limit: u32,
    ) -> Result<Vec<GcBlob>> {
        sqlx::query(
            "SELECT digest, size FROM blobs WHERE deleting_since < ? ORDER BY digest LIMIT ?",
        )
        .bind(before)
        .bind(limit as i64)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(gc_blob)
        .collect()
    }

    pub(super) async fn adopt_blobs_impl(&self, found: &[GcBlob]) -> Result<u64> {
        let now = now_millis();
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        let mut adopted = 0;
        for b in found {
            adopted += sqlx::query(
                "INSERT INTO blobs (digest, size, created_at, unreferenced_since) VALUES (?, ?, ?, ?)
                 ON CONFLICT(digest) DO NOTHING",
            )
            .bind(b.digest.to_string())
            .bind(b.size as i64)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(adopted)
    }
}
