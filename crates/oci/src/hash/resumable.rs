//! SHA-256 whose running state can be saved and restored, so that an upload continued on
//! another node (or after a restart) carries on hashing where the previous request stopped,
//! instead of reading every staged byte back. The `sha2` crate keeps its state private; its
//! `compress256` (the same SHA-NI / AVX code its hasher uses) is public, so only the block
//! buffering and the final padding are written here.

// Every index below is bounded by the block size: `buf_len` stays under 64 by construction and
// `restore` checks the saved length before it slices.
#![allow(clippy::indexing_slicing)]

use sha2::digest::generic_array::GenericArray;

const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
/// Blocks handed to `compress256` per call: big enough that the call and the copy into aligned
/// blocks cost little next to the hashing itself.
const BATCH: usize = 16;
const FORMAT: u8 = 1;
/// Saved form: format byte, 8 state words, total length, buffered bytes (under one block).
const SAVED_MIN: usize = 1 + 32 + 8;

type Block = GenericArray<u8, sha2::digest::consts::U64>;

#[derive(Clone)]
pub struct Sha256 {
    state: [u32; 8],
    /// Bytes hashed so far, buffered ones included.
    len: u64,
    buf: [u8; 64],
    buf_len: usize,
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256 {
            state: H0,
            len: 0,
            buf: [0; 64],
            buf_len: 0,
        }
    }
}

impl Sha256 {
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.buf_len > 0 {
            let take = (64 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < 64 {
                return;
            }
            let block = *Block::from_slice(&self.buf);
            sha2::compress256(&mut self.state, std::slice::from_ref(&block));
            self.buf_len = 0;
        }
        let mut blocks = [Block::default(); BATCH];
        let mut batches = data.chunks_exact(64 * BATCH);
        for batch in &mut batches {
            for (dst, src) in blocks.iter_mut().zip(batch.chunks_exact(64)) {
                dst.copy_from_slice(src);
            }
            sha2::compress256(&mut self.state, &blocks);
        }
        let rest = batches.remainder();
        let whole = rest.len() / 64;
        for (dst, src) in blocks.iter_mut().zip(rest.chunks_exact(64)) {
            dst.copy_from_slice(src);
        }
        sha2::compress256(&mut self.state, &blocks[..whole]);
        let tail = &rest[whole * 64..];
        self.buf[..tail.len()].copy_from_slice(tail);
        self.buf_len = tail.len();
    }

    pub fn finalize(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        let mut pad = [0u8; 128];
        pad[..self.buf_len].copy_from_slice(&self.buf[..self.buf_len]);
        pad[self.buf_len] = 0x80;
        let total = if self.buf_len < 56 { 64 } else { 128 };
        pad[total - 8..total].copy_from_slice(&bits.to_be_bytes());
        let blocks = [
            *Block::from_slice(&pad[..64]),
            *Block::from_slice(&pad[64..]),
        ];
        sha2::compress256(&mut self.state, &blocks[..total / 64]);
        let mut out = [0u8; 32];
        for (dst, word) in out.chunks_exact_mut(4).zip(self.state) {
            dst.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn save(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SAVED_MIN + self.buf_len);
        out.push(FORMAT);
        for word in self.state {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(&self.len.to_be_bytes());
        out.extend_from_slice(&self.buf[..self.buf_len]);
        out
    }

    /// The hasher `save` described; `None` for anything that is not such a state (the caller
    /// then re-derives the digest from the bytes).
    pub fn restore(saved: &[u8]) -> Option<Self> {
        if saved.len() < SAVED_MIN || saved.len() >= SAVED_MIN + 64 || saved[0] != FORMAT {
            return None;
        }
        let mut state = [0u32; 8];
        for (word, bytes) in state.iter_mut().zip(saved[1..33].chunks_exact(4)) {
            *word = u32::from_be_bytes(bytes.try_into().ok()?);
        }
        let len = u64::from_be_bytes(saved[33..41].try_into().ok()?);
        let buffered = &saved[SAVED_MIN..];
        if len % 64 != buffered.len() as u64 {
            return None;
        }
        let mut buf = [0u8; 64];
        buf[..buffered.len()].copy_from_slice(buffered);
        Some(Sha256 {
            state,
            len,
            buf,
            buf_len: buffered.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha2::Digest as _;

    fn reference(data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }

    #[test]
    fn known_answers() {
        assert_eq!(Sha256::default().finalize(), reference(b""));
        for n in [1usize, 55, 56, 63, 64, 65, 119, 120, 4095, 4096 * 64 + 17] {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
            let mut h = Sha256::default();
            h.update(&data);
            assert_eq!(h.finalize(), reference(&data), "length {n}");
        }
    }

    #[test]
    fn restore_refuses_garbage() {
        assert!(Sha256::restore(b"").is_none());
        assert!(Sha256::restore(&[2; 41]).is_none());
        let mut saved = Sha256::default().save();
        saved.push(0); // one buffered byte, but a length of 0
        assert!(Sha256::restore(&saved).is_none());
    }

    proptest! {
        /// Any split of any input, saved and restored at every split point, gives sha2's digest.
        #[test]
        fn saved_and_restored_anywhere(data in proptest::collection::vec(any::<u8>(), 0..20_000),
                                       cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            points.sort_unstable();
            let mut h = Sha256::default();
            let mut at = 0;
            for p in points {
                h.update(&data[at..p]);
                h = Sha256::restore(&h.save()).expect("own state restores");
                at = p;
            }
            h.update(&data[at..]);
            prop_assert_eq!(h.len(), data.len() as u64);
            prop_assert_eq!(h.finalize(), reference(&data));
        }
    }
}
