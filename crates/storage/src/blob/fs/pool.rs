//! Read buffers that go back to a pool once the response has sent them.
//!
//! A pull hands every chunk to hyper as `Bytes`; with a fresh allocation per chunk, each MiB
//! was zero-filled and page-faulted in before the file was read into it (memset and page
//! faults were an eighth of the server's CPU on a 256 MiB pull). Buffers taken from here were
//! initialized once, when first allocated, and are reused as long as the pool keeps them.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

pub(super) struct BufferPool {
    size: usize,
    /// Buffers kept for reuse at most; more are freed, so memory stays bounded whatever the
    /// number of concurrent pulls.
    keep: usize,
    free: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    pub(super) fn new(size: usize, keep: usize) -> Arc<Self> {
        Arc::new(BufferPool {
            size,
            keep,
            free: Mutex::new(Vec::new()),
        })
    }

    /// A buffer of the pool's size; its content is whatever it last held.
    pub(super) fn take(self: &Arc<Self>) -> PooledBuf {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        PooledBuf {
            buf: reused.unwrap_or_else(|| vec![0; self.size]),
            len: 0,
            pool: self.clone(),
        }
    }

    #[cfg(test)]
    fn idle(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

pub(super) struct PooledBuf {
    buf: Vec<u8>,
    /// Bytes of `buf` that hold data once frozen.
    len: usize,
    pool: Arc<BufferPool>,
}

impl PooledBuf {
    /// The first `n` bytes (at most the pool's buffer size), to read into.
    pub(super) fn space(&mut self, n: usize) -> &mut [u8] {
        let n = n.min(self.buf.len());
        &mut self.buf[..n]
    }

    /// The first `len` bytes as `Bytes`; the buffer returns to the pool when the last clone of
    /// them is dropped.
    pub(super) fn freeze(mut self, len: usize) -> Bytes {
        self.len = len.min(self.buf.len());
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() != self.pool.size {
            return;
        }
        let mut free = self.pool.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.pool.keep {
            free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_when_the_last_clone_drops() {
        let pool = BufferPool::new(8, 2);
        let mut b = pool.take();
        b.space(3).copy_from_slice(b"abc");
        let bytes = b.freeze(3);
        let clone = bytes.slice(1..);
        assert_eq!(&bytes[..], b"abc");
        drop(bytes);
        assert_eq!(pool.idle(), 0);
        assert_eq!(&clone[..], b"bc");
        drop(clone);
        assert_eq!(pool.idle(), 1);
    }

    #[test]
    fn keeps_at_most_its_limit() {
        let pool = BufferPool::new(4, 2);
        let taken: Vec<_> = (0..5).map(|_| pool.take().freeze(4)).collect();
        drop(taken);
        assert_eq!(pool.idle(), 2);
    }

    #[test]
    fn space_never_exceeds_the_buffer() {
        let pool = BufferPool::new(4, 1);
        let mut b = pool.take();
        assert_eq!(b.space(10).len(), 4);
        assert_eq!(b.freeze(10).len(), 4);
    }
}
