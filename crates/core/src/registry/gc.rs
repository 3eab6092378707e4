//! Online garbage collection of blobs.
//!
//! Safe by construction, not by timing: a blob is deleted only once the metadata store has
//! marked it (`begin_blob_deletes`), which it does only for a blob no manifest anywhere
//! references and that has been unreferenced for longer than the grace delay, in the same
//! transaction that removes its repository links. A manifest put that references the blob
//! updates the same row first, so one of the two sees the other: the put answers
//! `MANIFEST_BLOB_UNKNOWN` (the client uploads the blob again) or the mark skips the blob. An
//! upload claims the row before writing the bytes, and no claim is granted on a marked row, so
//! a collector never deletes bytes an upload is committing. The grace delay covers what no
//! manifest references yet: a layer pushed a moment before its manifest.
//!
//! Bytes go after their row is marked, and the row after its bytes: a collector that dies in
//! between leaves marked rows, which the next round finishes. Bytes in the store that no row
//! knows (a crash between commit and record, or stored before the blob table) are adopted as
//! unreferenced, and collected after the grace delay like any other.

use std::time::{Duration, Instant};

use futures::StreamExt;
use portcullis_oci::Digest;
use portcullis_storage::meta::now_millis;
use portcullis_storage::GcBlob;

use super::Registry;
use crate::audit::{registry_identity, rfc3339, AuditEvent, AuditLog};
use crate::Result;

/// A mark older than this belongs to a collector that died: the next round finishes it.
const STALE_MARK_MS: i64 = 10 * 60 * 1000;
/// Blobs decided on and deleted per batch (S3 deletes a thousand per request).
const BATCH: u32 = 1000;

#[derive(Debug, Clone)]
pub struct GcOptions {
    /// How long a blob stays unreferenced before it may be deleted.
    pub grace: Duration,
    /// The most blobs one round deletes, so a round never runs for long.
    pub max_blobs_per_round: u64,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: Duration::from_secs(3600),
            max_blobs_per_round: 100_000,
        }
    }
}

/// What one round did (or, dry, would do).
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    pub dry_run: bool,
    /// Blobs deleted (dry: that would be).
    pub blobs: Vec<GcBlob>,
    pub bytes: u64,
    /// Blobs found in the store without a row, now recorded as unreferenced.
    pub adopted: u64,
    /// Deletions a dead collector left half done, finished now.
    pub resumed: u64,
    /// Blobs whose bytes could not be deleted this round (kept marked; retried next round).
    pub failed: u64,
    pub duration_ms: u64,
}

impl GcReport {
    /// One line for logs and the CLI.
    pub fn summary(&self) -> String {
        format!(
            "{} {} blobs ({} bytes){}{}{} in {} ms",
            if self.dry_run {
                "would delete"
            } else {
                "deleted"
            },
            self.blobs.len(),
            self.bytes,
            if self.adopted > 0 {
                format!(", adopted {} stray blobs", self.adopted)
            } else {
                String::new()
            },
            if self.resumed > 0 {
                format!(", finished {} interrupted deletions", self.resumed)
            } else {
                String::new()
            },
            if self.failed > 0 {
                format!(", {} deletions failed (retried next round)", self.failed)
            } else {
                String::new()
            },
            self.duration_ms
        )
    }
}

impl Registry {
    /// One round of garbage collection. `dry_run` changes nothing and reports what a round
    /// would delete now.
    pub async fn collect_garbage(
        &self,
        options: &GcOptions,
        dry_run: bool,
        audit: &AuditLog,
    ) -> Result<GcReport> {
        let started = Instant::now();
        let mut report = GcReport {
            dry_run,
            ..GcReport::default()
        };
        if !dry_run {
            self.finish_interrupted(&mut report, audit).await?;
            report.adopted = self.adopt_stray_blobs().await?;
        }
        let grace = i64::try_from(options.grace.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_millis().saturating_sub(grace);
        let mut after: Option<Digest> = None;
        while (report.blobs.len() as u64) < options.max_blobs_per_round {
            let room = options.max_blobs_per_round - report.blobs.len() as u64;
            let page = self
                .meta
                .gc_candidates(cutoff, after.as_ref(), BATCH.min(room as u32))
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.digest.clone());
            if dry_run {
                report.bytes += page.iter().map(|b| b.size).sum::<u64>();
                report.blobs.extend(page);
                continue;
            }
            let digests: Vec<Digest> = page.into_iter().map(|b| b.digest).collect();
            let marked = self.meta.begin_blob_deletes(&digests, cutoff).await?;
            self.delete_marked(marked, &mut report, audit).await?;
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        if !dry_run {
            metrics::counter!("portcullis_gc_blobs_deleted_total")
                .increment(report.blobs.len() as u64);
            metrics::counter!("portcullis_gc_bytes_reclaimed_total").increment(report.bytes);
            metrics::counter!("portcullis_gc_rounds_total").increment(1);
            metrics::histogram!("portcullis_gc_round_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        Ok(report)
    }

    /// Deletes the bytes of marked blobs, then their rows; audits each.
    async fn delete_marked(
        &self,
        marked: Vec<GcBlob>,
        report: &mut GcReport,
        audit: &AuditLog,
    ) -> Result<()> {
        if marked.is_empty() {
            return Ok(());
        }
        let digests: Vec<Digest> = marked.iter().map(|b| b.digest.clone()).collect();
        let results = self.blobs.delete_many(&digests).await;
        let mut gone = Vec::with_capacity(marked.len());
        for (blob, result) in marked.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    audit.record(&deletion_event(&blob))?;
                    report.bytes += blob.size;
                    gone.push(blob);
                }
                Err(e) => {
                    tracing::warn!(digest = %blob.digest, error = %e, "deleting a collected blob failed; retried next round");
                    report.failed += 1;
                }
            }
        }
        let done: Vec<Digest> = gone.iter().map(|b| b.digest.clone()).collect();
        self.meta.finish_blob_deletes(&done).await?;
        report.blobs.extend(gone);
        Ok(())
    }

    /// Finishes the deletions a collector left half done (it died between marking and
    /// dropping the rows).
    async fn finish_interrupted(&self, report: &mut GcReport, audit: &AuditLog) -> Result<()> {
        loop {
            let stale = self
                .meta
                .unfinished_blob_deletes(now_millis() - STALE_MARK_MS, BATCH)
                .await?;
            if stale.is_empty() {
                return Ok(());
            }
            let before = report.blobs.len();
            let failed = report.failed;
            self.delete_marked(stale, report, audit).await?;
            report.resumed += (report.blobs.len() - before) as u64;
            if report.failed > failed {
                // What failed stays marked and would be listed again: leave it for next round.
                return Ok(());
            }
        }
    }

    /// Records the committed blobs no row knows, unreferenced from now.
    async fn adopt_stray_blobs(&self) -> Result<u64> {
        let mut listed = self.blobs.list_blobs().chunks(BATCH as usize);
        let mut adopted = 0;
        while let Some(chunk) = listed.next().await {
            let mut found = Vec::with_capacity(chunk.len());
            for item in chunk {
                match item {
                    Ok((digest, size)) => found.push(GcBlob { digest, size }),
                    Err(portcullis_storage::Error::Unsupported { backend, .. }) => {
                        tracing::debug!(
                            backend,
                            "this blob store cannot be listed: no stray blobs are adopted"
                        );
                        return Ok(adopted);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            adopted += self.meta.adopt_blobs(&found).await?;
        }
        if adopted > 0 {
            tracing::info!(adopted, "recorded blobs found in the store without a row (collected after the grace delay unless referenced)");
        }
        Ok(adopted)
    }
}

fn deletion_event(blob: &GcBlob) -> AuditEvent {
    AuditEvent {
        event_time: rfc3339(now_millis() / 1000),
        event_name: "DeleteBlob".into(),
        event_source: "gc.portcullis".into(),
        user_identity: registry_identity(),
        source_ip_address: "portcullis".into(),
        reference: Some(blob.digest.to_string()),
        decision: "Allow".into(),
        request_id: Some(uuid::Uuid::new_v4().to_string()),
        ..AuditEvent::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use portcullis_oci::{Reference, RepoName, Tag};
    use portcullis_storage::NewRepository;

    use super::*;
    use crate::registry::tests::{bytes_body, registry_with};
    use crate::RegistryOptions;

    const NOW: GcOptions = GcOptions {
        grace: Duration::ZERO,
        max_blobs_per_round: 100_000,
    };

    /// Uploads `data` as a blob of `repo` through the upload API, as a push does.
    async fn push_blob(registry: &Registry, repo: &RepoName, data: &'static [u8]) -> Digest {
        let digest = Digest::sha256_of(data);
        let id = registry.start_upload(repo, "arn:p").await.unwrap();
        registry
            .finish_upload(
                repo,
                &id,
                "arn:p",
                &digest,
                None,
                None,
                Some(bytes_body(data)),
            )
            .await
            .unwrap();
        digest
    }

    fn manifest_of(config: &Digest, layer: &Digest) -> Bytes {
        Bytes::from(
            serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config.to_string(), "size": 2},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": layer.to_string(), "size": 5}],
            })
            .to_string(),
        )
    }

    async fn setup() -> (
        tempfile::TempDir,
        Registry,
        Arc<dyn portcullis_storage::BlobStore>,
        RepoName,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (registry, blobs, meta) = registry_with(&dir, RegistryOptions::default()).await;
        let repo: RepoName = "team/app".parse().unwrap();
        meta.create_repository(repo.as_str(), &NewRepository::default())
            .await
            .unwrap();
        (dir, registry, blobs, repo)
    }

    #[tokio::test]
    async fn a_deleted_image_is_collected_after_the_grace_delay_and_a_dry_run_deletes_nothing() {
        let (dir, registry, blobs, repo) = setup().await;
        let config = push_blob(&registry, &repo, b"{}").await;
        let layer = push_blob(&registry, &repo, b"layer").await;
        let tag: Tag = "v1".parse().unwrap();
        let put = registry
            .put_manifest(
                &repo,
                &Reference::Tag(tag.clone()),
                None,
                manifest_of(&config, &layer),
            )
            .await
            .unwrap();
        let audit_path = dir.path().join("audit.log");
        let audit = AuditLog::to_writer(Box::new(std::fs::File::create(&audit_path).unwrap()));

        let report = registry.collect_garbage(&NOW, false, &audit).await.unwrap();
        assert!(report.blobs.is_empty(), "{report:?}");
        registry
            .delete_manifest(&repo, &Reference::Digest(put.digest.clone()))
            .await
            .unwrap();
        // Gone from the repository at once...
        assert!(matches!(
            registry.stat_blob(&repo, &layer).await,
            Err(crate::Error::BlobUnknown(_))
        ));
        // ...and the bytes after the grace delay.
        let waiting = GcOptions {
            grace: Duration::from_secs(3600),
            ..NOW
        };
        let report = registry
            .collect_garbage(&waiting, false, &audit)
            .await
            .unwrap();
        assert!(report.blobs.is_empty());
        let dry = registry.collect_garbage(&NOW, true, &audit).await.unwrap();
        assert_eq!(dry.blobs.len(), 2);
        assert_eq!(dry.bytes, 7);
        assert!(
            blobs.stat(&layer).await.unwrap().is_some(),
            "a dry run deletes nothing"
        );

        let report = registry.collect_garbage(&NOW, false, &audit).await.unwrap();
        assert_eq!(report.blobs.len(), 2, "{report:?}");
        assert_eq!(report.bytes, 7);
        assert_eq!(blobs.stat(&layer).await.unwrap(), None);
        assert_eq!(blobs.stat(&config).await.unwrap(), None);
        assert_eq!(registry.meta.blob_row(&layer).await.unwrap(), None);
        let log = std::fs::read_to_string(&audit_path).unwrap();
        assert_eq!(log.lines().count(), 2);
        assert!(log.contains(&layer.to_string()) && log.contains("\"DeleteBlob\""));
        let again = registry.collect_garbage(&NOW, false, &audit).await.unwrap();
        assert!(again.blobs.is_empty());

        // The same bytes pushed again are an ordinary new blob.
        push_blob(&registry, &repo, b"layer").await;
        assert_eq!(registry.stat_blob(&repo, &layer).await.unwrap(), 5);
    }

    /// A put racing a collection with no grace at all: whichever wins, a stored manifest's
    /// blobs are all readable, and a lost put says which blob to upload again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_put_racing_a_collection_never_references_deleted_bytes() {
        let (_dir, registry, blobs, repo) = setup().await;
        let registry = Arc::new(registry);
        let audit = Arc::new(AuditLog::disabled());
        let config = push_blob(&registry, &repo, b"{}").await;
        for round in 0..30 {
            let layer_bytes: &'static [u8] =
                Box::leak(format!("layer {round}").into_bytes().into());
            let layer = push_blob(&registry, &repo, layer_bytes).await;
            let manifest = manifest_of(&config, &layer);
            let collector = {
                let (registry, audit) = (registry.clone(), audit.clone());
                tokio::spawn(async move { registry.collect_garbage(&NOW, false, &audit).await })
            };
            let put = registry
                .put_manifest(
                    &repo,
                    &Reference::Tag("latest".parse().unwrap()),
                    None,
                    manifest,
                )
                .await;
            collector.await.unwrap().unwrap();
            match put {
                Ok(_) => {
                    for d in [&config, &layer] {
                        assert!(
                            blobs.stat(d).await.unwrap().is_some(),
                            "round {round}: a stored manifest references deleted bytes"
                        );
                    }
                }
                Err(crate::Error::ManifestBlobUnknown(d)) => {
                    assert!(d == layer || d == config, "round {round}");
                    if d == config {
                        push_blob(&registry, &repo, b"{}").await;
                    }
                }
                Err(e) => panic!("round {round}: {e}"),
            }
        }
    }

    #[tokio::test]
    async fn stray_bytes_in_the_store_are_adopted_then_collected() {
        let (dir, registry, blobs, _repo) = setup().await;
        let stray = Digest::sha256_of(b"stray");
        let path = portcullis_storage::layout::blob_path(dir.path(), &stray);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"stray").unwrap();
        let audit = AuditLog::disabled();
        let waiting = GcOptions {
            grace: Duration::from_secs(3600),
            ..NOW
        };
        let report = registry
            .collect_garbage(&waiting, false, &audit)
            .await
            .unwrap();
        assert_eq!(report.adopted, 1);
        assert!(report.blobs.is_empty(), "adopted blobs get the grace delay");
        let report = registry.collect_garbage(&NOW, false, &audit).await.unwrap();
        assert_eq!(report.blobs.len(), 1);
        assert_eq!(blobs.stat(&stray).await.unwrap(), None);
    }
}
