//! Helpers of the upload flow: a per-process lock per session (requests of one upload on one
//! node wait for each other), hashing while a body streams, and the size cap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use portcullis_oci::Hasher;
use portcullis_storage::ByteStream;

/// Held while a request works on the session; the progress itself is in the metadata store.
#[derive(Default)]
pub struct UploadState;

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

/// Feeds every chunk of `body` to `hasher` as it passes; the hasher, and how many bytes it
/// saw, are read back through the returned handle once the stream has been consumed.
pub fn hashing(body: ByteStream, hasher: Hasher) -> (ByteStream, Arc<Mutex<(Hasher, u64)>>) {
    let shared = Arc::new(Mutex::new((hasher, 0u64)));
    let inner = shared.clone();
    let stream = body
        .map(move |item: std::io::Result<Bytes>| {
            if let Ok(chunk) = &item {
                let mut seen = inner.lock().unwrap_or_else(|e| e.into_inner());
                seen.0.update(chunk);
                seen.1 += chunk.len() as u64;
            }
            item
        })
        .boxed();
    (stream, shared)
}

/// Passes `body` on while it holds at most `allowed` bytes. The chunk that would pass the cap
/// is not passed on: the stream ends with an error there, so no more of the body is read, and
/// the returned flag tells that error from a failure of the body itself.
pub fn capped(body: ByteStream, allowed: u64) -> (ByteStream, Arc<AtomicBool>) {
    let tripped = Arc::new(AtomicBool::new(false));
    let flag = tripped.clone();
    let stream = futures::stream::unfold((Some(body), 0u64), move |(state, seen)| {
        let flag = flag.clone();
        async move {
            let mut body = state?;
            match body.next().await? {
                Ok(chunk) => {
                    let seen = seen.saturating_add(chunk.len() as u64);
                    if seen > allowed {
                        flag.store(true, Ordering::SeqCst);
                        let e = std::io::Error::new(
                            std::io::ErrorKind::FileTooLarge,
                            "the blob passes the size limit",
                        );
                        return Some((Err(e), (None, seen)));
                    }
                    Some((Ok(chunk), (Some(body), seen)))
                }
                Err(e) => Some((Err(e), (None, seen))),
            }
        }
    })
    .boxed();
    (stream, tripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(sizes: &[usize]) -> ByteStream {
        let items: Vec<std::io::Result<Bytes>> = sizes
            .iter()
            .map(|n| Ok(Bytes::from(vec![b'x'; *n])))
            .collect();
        futures::stream::iter(items).boxed()
    }

    #[tokio::test]
    async fn capped_passes_bodies_within_the_cap() {
        let (s, tripped) = capped(chunks(&[3, 4]), 7);
        let got: Vec<_> = s.collect().await;
        assert!(got.iter().all(Result::is_ok));
        assert!(!tripped.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn capped_stops_at_the_chunk_that_passes_the_cap() {
        let polled = Arc::new(AtomicBool::new(false));
        let seen = polled.clone();
        let body = chunks(&[3, 5])
            .chain(futures::stream::once(async move {
                seen.store(true, Ordering::SeqCst);
                Ok(Bytes::from_static(b"never"))
            }))
            .boxed();
        let (s, tripped) = capped(body, 7);
        let got: Vec<_> = s.collect().await;
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok() && got[1].is_err());
        assert!(tripped.load(Ordering::SeqCst));
        assert!(!polled.load(Ordering::SeqCst), "read past the cap");
    }
}
