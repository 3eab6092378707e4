//! Lifecycle policy previews in SQLite: one row per repository, replaced whole.

use sqlx::Row;

use super::sqlite::SqliteMetaStore;
use super::LifecyclePreviewRecord;
use crate::Result;

impl SqliteMetaStore {
    pub(super) async fn put_lifecycle_preview_impl(
        &self,
        repo: &str,
        created_at: i64,
        preview: &LifecyclePreviewRecord,
    ) -> Result<bool> {
        // One statement on the one writer: the repository cannot go between finding its id
        // and writing the row.
        let done = sqlx::query(
            "INSERT INTO lifecycle_previews (repository_id, policy, results, evaluated_at)
             SELECT id, ?, ?, ? FROM repositories WHERE name = ? AND created_at = ?
             ON CONFLICT(repository_id) DO UPDATE SET policy = excluded.policy,
                 results = excluded.results, evaluated_at = excluded.evaluated_at",
        )
        .bind(&preview.policy)
        .bind(&preview.results)
        .bind(preview.evaluated_at)
        .bind(repo)
        .bind(created_at)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn lifecycle_preview_impl(
        &self,
        repo: &str,
    ) -> Result<Option<LifecyclePreviewRecord>> {
        let row = sqlx::query(
            "SELECT p.policy, p.results, p.evaluated_at FROM lifecycle_previews p
             JOIN repositories r ON r.id = p.repository_id WHERE r.name = ?",
        )
        .bind(repo)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| -> Result<LifecyclePreviewRecord> {
            Ok(LifecyclePreviewRecord {
                policy: r.try_get("policy")?,
                results: r.try_get("results")?,
                evaluated_at: r.try_get("evaluated_at")?,
            })
        })
        .transpose()
    }
}
