//! The change counter that every cache of decision inputs is keyed by.
//!
//! Authorization runs on every request, so principals, repositories and the registry policy
//! are cached parsed. A cache entry is trusted only while the generation it was filled at is
//! the current one: the stored IAM generation, which the metadata store bumps in the same
//! transaction as every change to what authorization reads (whoever makes it: this process, an
//! offline command such as `portcullis admin reset-bootstrap-key`, another node), plus a local
//! counter bumped by every change made through this process. [`crate::Iam`] and
//! [`crate::Repositories`] share one [`Generation`], so a change through either empties both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_storage::IamStore;

use crate::Result;

/// How long one read of the stored IAM generation is trusted (see [`Generation::current`]).
pub(crate) const GENERATION_MAX_AGE: Duration = Duration::from_millis(5);

pub struct Generation {
    store: Arc<dyn IamStore>,
    /// Bumped by every change made through this process, beside the stored generation, so a
    /// change made here is seen here even before the store has been read again.
    local: AtomicU64,
    /// When the last read of the stored generation began, and what it found.
    stored_read: Mutex<Option<(Instant, u64)>>,
}

impl Generation {
    pub fn new(store: Arc<dyn IamStore>) -> Arc<Self> {
        Arc::new(Generation {
            store,
            local: AtomicU64::new(0),
            stored_read: Mutex::new(None),
        })
    }

    /// Forgets every cached decision input; called after each change.
    pub(crate) fn bump(&self) {
        self.local.fetch_add(1, Ordering::SeqCst);
    }

    /// The generation that cached entries must carry to be trusted now. Both parts only grow,
    /// so the sum grows whenever either does.
    ///
    /// The stored value is read again once a read that began [`GENERATION_MAX_AGE`] ago is
    /// all there is. One read costs a round trip to a SQLite reader thread (80–90 µs measured
    /// in a debug build on the 2-core dev machine, as much as a cached principal lookup), and
    /// a request makes three or more lookups (principal, repository, registry policy) within a
    /// fraction of a millisecond: the window makes that one read per request, or fewer under
    /// load, while a change made elsewhere binds every request that starts 5 ms after it
    /// committed. Changes made through this process bump the local generation and bind the
    /// next lookup with no window at all.
    pub(crate) async fn current(&self) -> Result<u64> {
        let local = self.local.load(Ordering::SeqCst);
        let recent = *self.stored_read.lock().unwrap_or_else(|e| e.into_inner());
        let stored = match recent {
            Some((began, value)) if began.elapsed() < GENERATION_MAX_AGE => value,
            _ => {
                let began = Instant::now();
                let value = self.store.iam_generation().await?;
                let mut last = self.stored_read.lock().unwrap_or_else(|e| e.into_inner());
                if last.is_none_or(|(b, _)| b < began) {
                    *last = Some((began, value));
                }
                value
            }
        };
        Ok(stored.wrapping_add(local))
    }

    /// The stored IAM generation, for tests and diagnostics.
    pub async fn stored(&self) -> Result<u64> {
        Ok(self.store.iam_generation().await?)
    }
}

/// A cache whose entries hold for one generation.
pub(crate) struct GenerationCache<C> {
    inner: Mutex<(u64, C)>,
}

impl<C: Default> Default for GenerationCache<C> {
    fn default() -> Self {
        GenerationCache {
            inner: Mutex::new((0, C::default())),
        }
    }
}

impl<C: Default> GenerationCache<C> {
    /// Runs `f` on the entries of `generation` (emptying them first when they are older);
    /// `None` when a newer generation has been seen meanwhile, so that a lookup that read an
    /// older generation neither trusts nor fills the cache.
    pub(crate) fn at<R>(&self, generation: u64, f: impl FnOnce(&mut C) -> R) -> Option<R> {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if c.0 < generation {
            *c = (generation, C::default());
        }
        (c.0 == generation).then(|| f(&mut c.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Entries(Vec<u32>);

    #[test]
    fn a_newer_generation_empties_and_an_older_one_is_refused() {
        let cache = GenerationCache::<Entries>::default();
        assert_eq!(cache.at(3, |c| c.0.push(1)), Some(()));
        assert_eq!(cache.at(3, |c| c.0.clone()), Some(vec![1]));
        assert_eq!(cache.at(2, |c| c.0.push(2)), None);
        assert_eq!(cache.at(4, |c| c.0.clone()), Some(vec![]));
    }
}
