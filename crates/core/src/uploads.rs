//! Per-session upload state: a lock that serializes the requests of one upload, and the
//! running hash of what was appended so far, so that a chunked push is hashed once, while it
//! streams. The state is only a cache: after a restart (or a failed append) the digest is
//! re-derived from the staged bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use portcullis_oci::{Algorithm, Hasher};
use portcullis_storage::ByteStream;

#[derive(Default)]
pub struct UploadState {
    /// The hash of the first `hashed_len` staged bytes, when known.
    pub hasher: Option<Hasher>,
    pub hashed_len: u64,
}

impl UploadState {
    /// A hasher that can continue from `offset`, if the cached state covers exactly that prefix.
    pub fn take_hasher_at(&mut self, offset: u64) -> Option<Hasher> {
        if offset == 0 {
            return Some(Hasher::new(Algorithm::Sha256));
        }
        match self.hasher.take() {
            Some(h) if self.hashed_len == offset => Some(h),
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct UploadLocks {
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<UploadState>>>>,
}

impl UploadLocks {
    pub fn session(&self, id: &str) -> Arc<tokio::sync::Mutex<UploadState>> {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(id.to_owned()).or_default().clone()
    }

    pub fn forget(&self, id: &str) {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id);
    }
}

/// Feeds every chunk of `body` to `hasher` as it passes; the hasher is read back through the
/// returned handle once the stream has been consumed.
pub fn hashing(body: ByteStream, hasher: Hasher) -> (ByteStream, Arc<Mutex<Hasher>>) {
    let shared = Arc::new(Mutex::new(hasher));
    let inner = shared.clone();
    let stream = body
        .map(move |item: std::io::Result<Bytes>| {
            if let Ok(chunk) = &item {
                inner
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .update(chunk);
            }
            item
        })
        .boxed();
    (stream, shared)
}
