//! Lifecycle policy previews on PostgreSQL: one row per repository, replaced whole.

use sqlx::Row;

use super::postgres::{lock_repository, Hold, PgMetaStore};
use super::LifecyclePreviewRecord;
use crate::Result;

impl PgMetaStore {
    pub(super) async fn put_lifecycle_preview_once(
        &self,
        repo: &str,
        created_at: i64,
        preview: &LifecyclePreviewRecord,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        // Held shared, the row waits out a deletion in flight (then the repository is gone and
        // nothing is written) instead of racing it to a foreign-key failure.
        let Some(id) = lock_repository(&mut tx, repo, Hold::Shared).await? else {
            return Ok(false);
        };
        let same: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM repositories WHERE id = $1 AND created_at = $2")
                .bind(id)
                .bind(created_at)
                .fetch_optional(&mut *tx)
                .await?;
        if same.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO lifecycle_previews (repository_id, policy, results, evaluated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (repository_id) DO UPDATE SET policy = excluded.policy,
                 results = excluded.results, evaluated_at = excluded.evaluated_at",
        )
        .bind(id)
        .bind(&preview.policy)
        .bind(&preview.results)
        .bind(preview.evaluated_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn lifecycle_preview_impl(
        &self,
        repo: &str,
    ) -> Result<Option<LifecyclePreviewRecord>> {
        let row = sqlx::query(
            "SELECT p.policy, p.results, p.evaluated_at FROM lifecycle_previews p
             JOIN repositories r ON r.id = p.repository_id WHERE r.name = $1",
        )
        .bind(repo)
        .fetch_optional(self.pool())
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
