//! The blob table on PostgreSQL: claims, references and what garbage collection reads and
//! marks, with several nodes writing at once under READ COMMITTED.
//!
//! A collector and a writer meet on the blob's `blobs` row. A manifest put updates the row
//! before it adds its reference ([`reference`]), a claim upserts it, and a completed upload or
//! a mount locks it before adding a link; a collector marks a row with one UPDATE whose
//! predicate is on the row itself (`begin_blob_deletes`) and drops the blob's links in the
//! same transaction. Whichever of the two waits for the other's lock sees the row as the
//! other left it: a put after a mark finds `deleting_since` set, a mark after a put finds
//! `unreferenced_since` NULL.
//!
//! That holds only while `unreferenced_since` is NULL whenever a reference exists, because a
//! statement re-checking a row it waited for re-reads that row only: its subqueries on other
//! tables (`NOT EXISTS (... manifest_references ...)`) still see the snapshot the statement
//! started with. So whatever sets `unreferenced_since` from such a subquery ([`dereference`],
//! the repair in `begin_blob_deletes`) locks the rows in one statement and decides in the
//! next, whose snapshot includes every put the lock waited for.

use portcullis_oci::Digest;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::now_millis;
use super::postgres::{
    digest_col, insert_blob_link, lock_repository, signed, unsigned, Hold, PgMetaStore,
};
use super::{BlobRow, GcBlob, MountBlob};
use crate::Result;

fn gc_blob(row: &PgRow) -> Result<GcBlob> {
    Ok(GcBlob {
        digest: digest_col(row.try_get("digest")?)?,
        size: unsigned(row.try_get("size")?, "blob size")?,
    })
}

/// Creates the blob's row, unreferenced from now, when there is none.
pub(super) async fn ensure_row(tx: &mut PgConnection, digest: &Digest, size: u64) -> Result<()> {
    let now = now_millis();
    sqlx::query(
        "INSERT INTO blobs (digest, size, created_at, unreferenced_since) VALUES ($1, $2, $3, $3)
         ON CONFLICT (digest) DO NOTHING",
    )
    .bind(digest.to_string())
    .bind(signed(size))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks a blob referenced (a manifest put that lists it); `false` when it has no row or a
/// collector is deleting it. Runs before the reference is inserted: this update is what a
/// collector's mark waits for or finds.
pub(super) async fn reference(tx: &mut PgConnection, digest: &Digest) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE blobs SET unreferenced_since = NULL WHERE digest = $1 AND deleting_since IS NULL",
    )
    .bind(digest.to_string())
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// After references to `digests` went: those that no manifest anywhere references any more
/// are unreferenced from now.
pub(super) async fn dereference(tx: &mut PgConnection, digests: &[String]) -> Result<()> {
    if digests.is_empty() {
        return Ok(());
    }
    // Lock first, decide in the next statement: a put in another repository that updated one
    // of these rows and has not committed yet is waited for here, and its reference is then
    // in the snapshot of the update below. Deciding in one statement would re-check the row
    // after the wait but not the references, and leave a referenced blob unreferenced: one a
    // collector may delete. Sorted, so that two of these lock in one order.
    sqlx::query("SELECT 1 FROM blobs WHERE digest = ANY($1) ORDER BY digest FOR UPDATE")
        .bind(digests)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE blobs SET unreferenced_since = $1
         WHERE digest = ANY($2) AND unreferenced_since IS NULL
         AND NOT EXISTS (SELECT 1 FROM manifest_references x
                         WHERE x.child_kind = 'blob' AND x.child_digest = blobs.digest)",
    )
    .bind(now_millis())
    .bind(digests)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Whether the claim `claim` on `digest` still holds, checked in the linking transaction.
/// `FOR SHARE` keeps a collector from marking the row until that transaction ends, and makes
/// this wait for a mark in progress: a link is never added after the mark dropped the links.
pub(super) async fn claim_holds(
    tx: &mut PgConnection,
    digest: &Digest,
    claim: i64,
) -> Result<bool> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM blobs WHERE id = $1 AND digest = $2 AND deleting_since IS NULL FOR SHARE",
    )
    .bind(claim)
    .bind(digest.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    Ok(found.is_some())
}

/// The transaction bodies of the blob-table methods (run again on a transient failure).
impl PgMetaStore {
    pub(super) async fn mount_blob_once(
        &self,
        from: &str,
        repo: &str,
        digest: &Digest,
    ) -> Result<MountBlob> {
        let mut tx = self.pool().begin().await?;
        let d = digest.to_string();
        // Held like a link's, so that the target is not deleted under the mount.
        let target = lock_repository(&mut tx, repo, Hold::Shared).await?;
        // The blob row before the source's link: a collector marks the row and drops the
        // links in one transaction, so once the row is ours the link check (a later
        // statement) sees both or neither.
        let deleting: Option<Option<i64>> =
            sqlx::query_scalar("SELECT deleting_since FROM blobs WHERE digest = $1 FOR UPDATE")
                .bind(&d)
                .fetch_optional(&mut *tx)
                .await?;
        if matches!(deleting, Some(Some(_))) {
            return Ok(MountBlob::SourceMissing);
        }
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id
             WHERE r.name = $1 AND b.digest = $2 AND b.orphaned_at IS NULL",
        )
        .bind(from)
        .bind(&d)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(size) = size else {
            return Ok(MountBlob::SourceMissing);
        };
        let size = unsigned(size, "blob size")?;
        let Some(target) = target else {
            return Ok(MountBlob::NameUnknown);
        };
        insert_blob_link(&mut tx, target, digest, size).await?;
        ensure_row(&mut tx, digest, size).await?;
        // A mount is usually followed by the manifest that references the blob: give it the
        // whole grace delay.
        sqlx::query(
            "UPDATE blobs SET unreferenced_since = $1
             WHERE digest = $2 AND unreferenced_since IS NOT NULL",
        )
        .bind(now_millis())
        .bind(&d)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(MountBlob::Mounted { size })
    }

    pub(super) async fn claim_blob_once(&self, digest: &Digest, size: u64) -> Result<Option<i64>> {
        // One statement: on a conflict it locks the row and evaluates the WHERE on the row as
        // a collector's mark (or a finished delete, then it inserts anew) left it.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO blobs (digest, size, created_at, unreferenced_since)
             VALUES ($1, $2, $3, $3)
             ON CONFLICT (digest) DO UPDATE SET unreferenced_since =
                 CASE WHEN blobs.unreferenced_since IS NULL THEN NULL
                      ELSE excluded.unreferenced_since END
             WHERE blobs.deleting_since IS NULL
             RETURNING id",
        )
        .bind(digest.to_string())
        .bind(signed(size))
        .bind(now_millis())
        .fetch_optional(self.pool())
        .await?;
        Ok(id)
    }

    pub(super) async fn blob_row_impl(&self, digest: &Digest) -> Result<Option<BlobRow>> {
        let row = sqlx::query(
            "SELECT size, created_at, unreferenced_since, deleting_since FROM blobs
             WHERE digest = $1",
        )
        .bind(digest.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(BlobRow {
                size: unsigned(r.try_get("size")?, "blob size")?,
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
             WHERE unreferenced_since < $1 AND deleting_since IS NULL AND digest > $2
             ORDER BY digest LIMIT $3",
        )
        .bind(before)
        .bind(after.map(Digest::to_string).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(gc_blob)
        .collect()
    }

    pub(super) async fn begin_blob_deletes_once(
        &self,
        digests: &[Digest],
        before: i64,
    ) -> Result<Vec<GcBlob>> {
        let now = now_millis();
        let mut tx = self.pool().begin().await?;
        let mut marked = Vec::new();
        for digest in digests {
            let d = digest.to_string();
            // The predicate that decides is on the row: a put that updated it first has set
            // `unreferenced_since` to NULL, which the re-check after the wait sees. The
            // NOT EXISTS only covers references that did not come through a put's update.
            let size: Option<i64> = sqlx::query_scalar(
                "UPDATE blobs SET deleting_since = $1
                 WHERE digest = $2 AND deleting_since IS NULL AND unreferenced_since < $3
                 AND NOT EXISTS (SELECT 1 FROM manifest_references
                                 WHERE child_kind = 'blob' AND child_digest = $2)
                 RETURNING size",
            )
            .bind(now)
            .bind(&d)
            .bind(before)
            .fetch_optional(&mut *tx)
            .await?;
            match size {
                Some(size) => {
                    // A later statement than the mark: it also sees the links added by
                    // transactions the mark waited for (a completed upload, a mount).
                    sqlx::query("DELETE FROM repository_blobs WHERE digest = $1")
                        .bind(&d)
                        .execute(&mut *tx)
                        .await?;
                    marked.push(GcBlob {
                        digest: digest.clone(),
                        size: unsigned(size, "blob size")?,
                    });
                }
                // Referenced after all: referenced it stays. Locked before deciding, as in
                // `dereference`, so a delete of the last reference that this waits for is
                // seen rather than overwritten.
                None => {
                    sqlx::query(
                        "SELECT 1 FROM blobs WHERE digest = $1 AND unreferenced_since IS NOT NULL
                         FOR UPDATE",
                    )
                    .bind(&d)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE blobs SET unreferenced_since = NULL
                         WHERE digest = $1 AND unreferenced_since IS NOT NULL
                         AND EXISTS (SELECT 1 FROM manifest_references
                                     WHERE child_kind = 'blob' AND child_digest = $1)",
                    )
                    .bind(&d)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(marked)
    }

    pub(super) async fn finish_blob_deletes_once(&self, digests: &[Digest]) -> Result<()> {
        let digests: Vec<String> = digests.iter().map(Digest::to_string).collect();
        sqlx::query("DELETE FROM blobs WHERE digest = ANY($1) AND deleting_since IS NOT NULL")
            .bind(&digests)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub(super) async fn unfinished_blob_deletes_impl(
        &self,
        before: i64,
        limit: u32,
    ) -> Result<Vec<GcBlob>> {
        sqlx::query(
            "SELECT digest, size FROM blobs WHERE deleting_since < $1 ORDER BY digest LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(gc_blob)
        .collect()
    }

    pub(super) async fn adopt_blobs_once(&self, found: &[GcBlob]) -> Result<u64> {
        let digests: Vec<String> = found.iter().map(|b| b.digest.to_string()).collect();
        let sizes: Vec<i64> = found.iter().map(|b| signed(b.size)).collect();
        let adopted = sqlx::query(
            "INSERT INTO blobs (digest, size, created_at, unreferenced_since)
             SELECT f.digest, f.size, $3, $3 FROM UNNEST($1::text[], $2::bigint[]) AS f(digest, size)
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&digests)
        .bind(&sizes)
        .bind(now_millis())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(adopted)
    }
}

/// Interleavings the contract suite's races reach only by luck, forced here: a transaction of
/// raw statements (the ones a put or a collector's mark runs) holds its row locks while the
/// method under test starts, and commits once that method waits for them.
#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use portcullis_oci::Digest;

    use super::super::postgres::tests::TestDb;
    use super::*;
    use crate::meta::{
        CompleteUpload, MetaStore, NewRepository, PutManifestError, SchemaMode, UploadLimits,
    };
    use crate::{ManifestRecord, ManifestRef};

    async fn store(db: &TestDb, repos: &[&str]) -> Arc<PgMetaStore> {
        let store = Arc::new(
            PgMetaStore::connect_with(db.options.clone(), SchemaMode::Upgrade)
                .await
                .expect("connect"),
        );
        for r in repos {
            assert!(store
                .create_repository(r, &NewRepository::default())
                .await
                .expect("create"));
        }
        store
    }

    /// Whether `task` came to wait for a lock before finishing (within a few seconds).
    async fn waits_for_a_lock<T>(store: &PgMetaStore, task: &tokio::task::JoinHandle<T>) -> bool {
        for _ in 0..500 {
            if task.is_finished() {
                return false;
            }
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(store.pool())
            .await
            .expect("activity");
            if waiting > 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// What `begin_blob_deletes` does to a blob it marks, left uncommitted.
    async fn mark(tx: &mut PgConnection, digest: &Digest) {
        sqlx::query("UPDATE blobs SET deleting_since = $1 WHERE digest = $2")
            .bind(now_millis())
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await
            .expect("mark");
        sqlx::query("DELETE FROM repository_blobs WHERE digest = $1")
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await
            .expect("unlink");
    }

    /// What `put_manifest` does to store `m` in `repo` referencing `blob`, left uncommitted.
    async fn put(tx: &mut PgConnection, repo: &str, m: &ManifestRecord, blob: &Digest) {
        assert!(reference(&mut *tx, blob).await.expect("reference"));
        sqlx::query(
            "INSERT INTO manifests (repository_id, digest, media_type, size, content, created_at)
             SELECT id, $1, $2, $3, $4, 1 FROM repositories WHERE name = $5",
        )
        .bind(m.digest.to_string())
        .bind(&m.media_type)
        .bind(signed(m.content.len() as u64))
        .bind(m.content.as_ref())
        .bind(repo)
        .execute(&mut *tx)
        .await
        .expect("manifest");
        sqlx::query(
            "INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, child_kind)
             SELECT id, $1, $2, 'blob' FROM repositories WHERE name = $3",
        )
        .bind(m.digest.to_string())
        .bind(blob.to_string())
        .bind(repo)
        .execute(&mut *tx)
        .await
        .expect("reference");
    }

    fn image(name: &str) -> ManifestRecord {
        let content = Bytes::from(format!("{{\"image\":\"{name}\"}}"));
        ManifestRecord {
            digest: Digest::sha256_of(&content),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: None,
            subject: None,
            annotations: None,
            content,
            created_at: 1,
        }
    }

    /// A collector's mark while a put of a manifest referencing the blob is uncommitted: the
    /// mark waits, re-checks the row the put updated, and skips the blob.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_mark_waiting_for_a_put_skips_the_blob() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let store = store(&db, &["r"]).await;
        let layer = Digest::sha256_of(b"pushed");
        assert!(store.link_blob("r", &layer, 5).await.expect("link"));
        let mut pushing = store.pool().begin().await.expect("begin");
        put(&mut pushing, "r", &image("pushed"), &layer).await;
        let marking = tokio::spawn({
            let store = store.clone();
            let layer = layer.clone();
            async move {
                store
                    .begin_blob_deletes(&[layer], now_millis() + 1_000)
                    .await
            }
        });
        assert!(
            waits_for_a_lock(&store, &marking).await,
            "the mark waits for the put"
        );
        pushing.commit().await.expect("commit");
        assert!(marking.await.expect("task").expect("mark").is_empty());
        assert_eq!(store.blob_link("r", &layer).await.expect("link"), Some(5));
        let row = store.blob_row(&layer).await.expect("row").expect("a row");
        assert_eq!(row.deleting_since, None);
    }

    /// A put while a collector's mark of a blob it lists is uncommitted: the put passes the
    /// link check on its snapshot, waits at the blob's row and finds the blob missing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_put_waiting_for_a_mark_finds_the_blob_missing() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let store = store(&db, &["r"]).await;
        let layer = Digest::sha256_of(b"collected");
        assert!(store.link_blob("r", &layer, 5).await.expect("link"));
        let mut collector = store.pool().begin().await.expect("begin");
        mark(&mut collector, &layer).await;
        let pushing = tokio::spawn({
            let store = store.clone();
            let layer = layer.clone();
            async move {
                store
                    .put_manifest("r", &image("late"), &[ManifestRef::Blob(layer)], None)
                    .await
            }
        });
        assert!(
            waits_for_a_lock(&store, &pushing).await,
            "the put waits for the mark"
        );
        collector.commit().await.expect("commit");
        assert!(matches!(
            pushing.await.expect("task"),
            Err(PutManifestError::Missing(d)) if d == layer
        ));
        assert_eq!(store.image_count("r").await.expect("count"), 0);
    }

    /// A delete of the last reference in one repository while a put in another has updated
    /// the blob's row but not committed: the blob ends referenced, not collectable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delete_waiting_for_a_put_sees_its_reference() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let store = store(&db, &["a", "b"]).await;
        let layer = Digest::sha256_of(b"shared layer");
        for r in ["a", "b"] {
            assert!(store.link_blob(r, &layer, 5).await.expect("link"));
        }
        let old = image("old");
        store
            .put_manifest("a", &old, &[ManifestRef::Blob(layer.clone())], None)
            .await
            .expect("put");

        let mut pushing = store.pool().begin().await.expect("begin");
        put(&mut pushing, "b", &image("new"), &layer).await;
        let deleting = tokio::spawn({
            let store = store.clone();
            let digest = old.digest.clone();
            async move { store.delete_manifest("a", &digest).await }
        });
        assert!(
            waits_for_a_lock(&store, &deleting).await,
            "the delete waits for the put"
        );
        pushing.commit().await.expect("commit");
        assert!(deleting.await.expect("task").expect("delete"));

        let row = store.blob_row(&layer).await.expect("row").expect("a row");
        assert_eq!(row.unreferenced_since, None, "b's manifest references it");
        assert!(store
            .gc_candidates(now_millis() + 1_000, None, 10)
            .await
            .expect("candidates")
            .is_empty());
    }

    /// An upload completing while a collector's mark of its blob is uncommitted: it waits
    /// for the mark and links nothing, rather than link a blob whose bytes are going.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_completion_waits_for_a_mark_in_progress() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let store = store(&db, &["r"]).await;
        let layer = Digest::sha256_of(b"slow upload");
        let claim = store
            .claim_blob(&layer, 7)
            .await
            .expect("claim")
            .expect("free");
        let roomy = UploadLimits {
            per_principal: 10,
            total: 10,
        };
        store
            .create_upload("u", "r", "p", roomy, None)
            .await
            .expect("session");

        let mut collector = store.pool().begin().await.expect("begin");
        mark(&mut collector, &layer).await;
        let completing = tokio::spawn({
            let store = store.clone();
            let layer = layer.clone();
            async move { store.complete_upload("u", "r", &layer, 7, claim).await }
        });
        assert!(
            waits_for_a_lock(&store, &completing).await,
            "the completion waits for the mark"
        );
        collector.commit().await.expect("commit");
        assert_eq!(
            completing.await.expect("task").expect("complete"),
            CompleteUpload::ClaimLost
        );
        assert_eq!(store.blob_link("r", &layer).await.expect("link"), None);
        assert!(store.upload("u").await.expect("get").is_some());
    }

    /// A mount while a collector's mark of the blob is uncommitted: it waits and finds the
    /// source gone, rather than link the blob into the target after the mark dropped links.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_mount_waits_for_a_mark_in_progress() {
        let Some(db) = TestDb::create().await else {
            return;
        };
        let store = store(&db, &["from", "to"]).await;
        let layer = Digest::sha256_of(b"mounted");
        assert!(store.link_blob("from", &layer, 3).await.expect("link"));

        let mut collector = store.pool().begin().await.expect("begin");
        mark(&mut collector, &layer).await;
        let mounting = tokio::spawn({
            let store = store.clone();
            let layer = layer.clone();
            async move { store.mount_blob("from", "to", &layer).await }
        });
        assert!(
            waits_for_a_lock(&store, &mounting).await,
            "the mount waits for the mark"
        );
        collector.commit().await.expect("commit");
        assert_eq!(
            mounting.await.expect("task").expect("mount"),
            MountBlob::SourceMissing
        );
        assert_eq!(store.blob_link("to", &layer).await.expect("link"), None);
    }
}
