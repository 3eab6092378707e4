mod resumable;

use sha2::Digest as _;

use crate::{Algorithm, Digest};

/// A streaming content hasher. SHA-256 runs on the CPU's SHA extensions when present (the
/// `sha2` crate detects them at run time), which is what lets uploads be verified at disk speed.
/// Its SHA-256 state can be saved between the requests of a chunked upload ([`Hasher::save`]).
#[derive(Clone)]
pub enum Hasher {
    Sha256(resumable::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(resumable::Sha256::default()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The running state, to continue with [`Hasher::restore`] in another request or process.
    /// `None` for SHA-512, whose uploads re-derive their digest from the staged bytes instead.
    pub fn save(&self) -> Option<Vec<u8>> {
        match self {
            Hasher::Sha256(h) => Some(h.save()),
            Hasher::Sha512(_) => None,
        }
    }

    /// A hasher continuing from a state [`Hasher::save`] gave; `None` when `saved` is not one.
    pub fn restore(algorithm: Algorithm, saved: &[u8]) -> Option<Self> {
        match algorithm {
            Algorithm::Sha256 => resumable::Sha256::restore(saved).map(Hasher::Sha256),
            Algorithm::Sha512 => None,
        }
    }

    pub fn finalize(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest::from_bytes(Algorithm::Sha256, &h.finalize()),
            Hasher::Sha512(h) => Digest::from_bytes(Algorithm::Sha512, &h.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let mut h = Hasher::new(alg);
            for chunk in data.chunks(777) {
                h.update(chunk);
            }
            assert_eq!(h.finalize(), Digest::of(alg, &data));
        }
    }
}
