//! Background work that one node of a deployment does at a time: the upload reaper now, and
//! later garbage collection and lifecycle rules. Every node runs a [`Worker`] on a timer, but
//! only the node that holds the work's lease in the metadata store acts; the others skip the
//! round. A node keeps the lease by renewing it each round, so the work stays on one node
//! until that node stops, and goes to another within one lease after it dies.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use portcullis_storage::MetaStore;

use crate::Result;

#[async_trait]
pub trait Worker: Send + Sync {
    /// The lease's name, the same on every node (`upload-reaper`).
    fn name(&self) -> &'static str;
    /// Time between rounds.
    fn interval(&self) -> Duration;
    /// One round; returns what it did, for the log (`None`: nothing worth a line).
    async fn run_once(&self) -> Result<Option<String>>;
}

/// Runs workers under leases held in the metadata store, as `holder` (unique per process).
pub struct Workers {
    meta: Arc<dyn MetaStore>,
    holder: String,
}

/// What one round came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Round {
    /// This node held the lease and ran the work.
    Ran(Option<String>),
    /// Another node holds the lease.
    Skipped,
}

impl Workers {
    pub fn new(meta: Arc<dyn MetaStore>, holder: impl Into<String>) -> Workers {
        Workers {
            meta,
            holder: holder.into(),
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// A lease outlives two rounds, so a holder that is a little late to renew keeps it, and a
    /// dead holder's work moves on within two intervals.
    fn lease_ms(worker: &dyn Worker) -> i64 {
        i64::try_from(worker.interval().as_millis().saturating_mul(2)).unwrap_or(i64::MAX)
    }

    /// Takes or renews the lease on `worker`'s work; `false` when another holder has it.
    pub async fn acquire(&self, worker: &dyn Worker) -> Result<bool> {
        Ok(self
            .meta
            .acquire_lease(worker.name(), &self.holder, Self::lease_ms(worker))
            .await?)
    }

    /// One round now: takes or renews the lease, then runs the work if it holds it.
    pub async fn round(&self, worker: &dyn Worker) -> Result<Round> {
        if !self.acquire(worker).await? {
            return Ok(Round::Skipped);
        }
        Ok(Round::Ran(worker.run_once().await?))
    }

    /// Runs `worker` every interval until the task is dropped, logging what each round did.
    /// The first round is one interval from now (the caller runs a round at start if it wants
    /// one before serving).
    pub fn spawn(self: &Arc<Self>, worker: Arc<dyn Worker>) -> tokio::task::JoinHandle<()> {
        let workers = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(worker.interval());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match workers.round(worker.as_ref()).await {
                    Ok(Round::Ran(Some(done))) => {
                        tracing::info!(worker = worker.name(), "{done}")
                    }
                    Ok(Round::Ran(None)) => {}
                    Ok(Round::Skipped) => {
                        tracing::debug!(worker = worker.name(), "another node holds the lease")
                    }
                    Err(e) => {
                        tracing::warn!(worker = worker.name(), error = %e, "worker round failed")
                    }
                }
            }
        })
    }

    /// Gives up the leases of `names` (shutdown), so another node takes the work at once.
    pub async fn release(&self, names: &[&str]) {
        for name in names {
            if let Err(e) = self.meta.release_lease(name, &self.holder).await {
                tracing::warn!(worker = name, error = %e, "releasing a worker lease failed");
            }
        }
    }
}

/// The upload reaper as a worker: discards sessions idle for longer than `max_idle_ms`.
pub struct UploadReaper {
    pub registry: Arc<crate::Registry>,
    pub max_idle_ms: i64,
    pub interval: Duration,
}

#[async_trait]
impl Worker for UploadReaper {
    fn name(&self) -> &'static str {
        "upload-reaper"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn run_once(&self) -> Result<Option<String>> {
        let reaped = self.registry.reap_uploads(self.max_idle_ms).await?;
        Ok((reaped > 0).then(|| format!("discarded {reaped} abandoned uploads")))
    }
}

/// Garbage collection as a worker: one round every interval on the lease holder.
pub struct GarbageCollector {
    pub registry: Arc<crate::Registry>,
    pub options: crate::registry::gc::GcOptions,
    pub audit: Arc<crate::AuditLog>,
    pub interval: Duration,
}

#[async_trait]
impl Worker for GarbageCollector {
    fn name(&self) -> &'static str {
        "gc"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn run_once(&self) -> Result<Option<String>> {
        let report = self
            .registry
            .collect_garbage(&self.options, false, &self.audit)
            .await?;
        let busy = !report.blobs.is_empty() || report.adopted > 0 || report.failed > 0;
        Ok(busy.then(|| report.summary()))
    }
}

/// Lifecycle policies as a worker: every repository's rules, every interval, on the lease
/// holder.
pub struct LifecycleRunner {
    pub registry: Arc<crate::Registry>,
    pub audit: Arc<crate::AuditLog>,
    pub interval: Duration,
}

#[async_trait]
impl Worker for LifecycleRunner {
    fn name(&self) -> &'static str {
        "lifecycle"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn run_once(&self) -> Result<Option<String>> {
        let report = self
            .registry
            .run_lifecycle(
                None,
                false,
                portcullis_storage::meta::now_millis(),
                &self.audit,
            )
            .await?;
        let busy = !report.expired.is_empty() || !report.broken.is_empty();
        Ok(busy.then(|| report.summary()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use portcullis_storage::meta::sqlite::SqliteMetaStore;

    use super::*;

    struct Counting(AtomicUsize);

    #[async_trait]
    impl Worker for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn interval(&self) -> Duration {
            Duration::from_secs(60)
        }
        async fn run_once(&self) -> Result<Option<String>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        }
    }

    /// Two nodes on one store: only the lease holder runs the work, round after round, and
    /// the other takes over once the holder lets go.
    #[tokio::test]
    async fn one_node_runs_the_work() {
        let dir = tempfile::tempdir().unwrap();
        let meta: Arc<dyn MetaStore> = Arc::new(
            SqliteMetaStore::open(&dir.path().join("meta.db"))
                .await
                .unwrap(),
        );
        let a = Workers::new(meta.clone(), "node-a");
        let b = Workers::new(meta, "node-b");
        let work = Counting(AtomicUsize::new(0));
        assert_eq!(a.round(&work).await.unwrap(), Round::Ran(None));
        assert_eq!(b.round(&work).await.unwrap(), Round::Skipped);
        assert_eq!(a.round(&work).await.unwrap(), Round::Ran(None));
        assert_eq!(work.0.load(Ordering::SeqCst), 2);
        a.release(&["counting"]).await;
        assert_eq!(b.round(&work).await.unwrap(), Round::Ran(None));
        assert_eq!(a.round(&work).await.unwrap(), Round::Skipped);
    }
}
