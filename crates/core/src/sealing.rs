//! Secrets at rest: AES-256-GCM under the master key, for every service that keeps one (IAM's
//! access-key secrets, Secrets Manager's values). One type seals and opens, so that the format
//! and the handling of the key live in one place, and plaintext only ever travels in types whose
//! `Debug` shows nothing.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext || tag (16 bytes)`, with a fresh random
//! nonce per value. The `context` given to [`Sealer::seal`] is authenticated (GCM's associated
//! data) but not stored: [`Sealer::open`] must be given the same, so a sealed value copied onto
//! another row (another secret's, another version's) does not open there. Access keys were sealed
//! before contexts existed and use the empty one, which is what plain GCM encryption is.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::Rng;

use crate::{Error, Result};

const NONCE_LEN: usize = 12;

/// A 256-bit key that seals secrets at rest (AES-256-GCM) and from which other keys derive.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey(bytes)
    }

    pub fn generate() -> Self {
        MasterKey(rand::thread_rng().gen())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Secret bytes whose `Debug` never shows them (a value of Secrets Manager's `SecretBinary`, a
/// value just opened).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes({} bytes: ***)", self.0.len())
    }
}

/// Seals and opens values under the master key.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    pub fn new(master: &MasterKey) -> Self {
        Sealer {
            cipher: Aes256Gcm::new(master.as_bytes().into()),
        }
    }

    /// `plaintext` sealed, bound to `context` (see the module's documentation).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        let nonce: [u8; NONCE_LEN] = rand::thread_rng().gen();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| Error::Sealing("encryption failed".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// The plaintext of a value [`Sealer::seal`] sealed with this key and `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<SecretBytes> {
        let (nonce, body) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or_else(|| Error::Sealing("sealed secret is truncated".into()))?;
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .map(SecretBytes)
            .map_err(|_| {
                Error::Sealing("a stored secret does not open with this master key".into())
            })
    }

    /// [`Sealer::open`] for a value that was a string.
    pub fn open_string(&self, sealed: &[u8], context: &[u8]) -> Result<Secret> {
        let SecretBytes(plain) = self.open(sealed, context)?;
        String::from_utf8(plain)
            .map(Secret)
            .map_err(|_| Error::Sealing("a stored secret is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_open_with_their_key_and_context_only() {
        let sealer = Sealer::new(&MasterKey::generate());
        let sealed = sealer.seal(b"hello", b"row-1").unwrap();
        assert_eq!(sealer.open(&sealed, b"row-1").unwrap().expose(), b"hello");
        assert!(
            !sealed.windows(5).any(|w| w == b"hello"),
            "the plaintext is not in the sealed bytes"
        );
        assert!(
            sealer.open(&sealed, b"row-2").is_err(),
            "another context does not open it"
        );
        let other = Sealer::new(&MasterKey::from_bytes([7; 32]));
        assert!(
            other.open(&sealed, b"row-1").is_err(),
            "another key does not"
        );
        assert!(sealer.open(&sealed[..11], b"row-1").is_err(), "truncated");
        let mut flipped = sealed.clone();
        if let Some(last) = flipped.last_mut() {
            *last ^= 1;
        }
        assert!(sealer.open(&flipped, b"row-1").is_err(), "tampered");
    }

    #[test]
    fn each_seal_has_its_own_nonce() {
        let sealer = Sealer::new(&MasterKey::generate());
        let a = sealer.seal(b"same", b"").unwrap();
        let b = sealer.seal(b"same", b"").unwrap();
        assert_ne!(a, b);
        assert_eq!(sealer.open_string(&b, b"").unwrap().expose(), "same");
    }

    /// Access keys sealed before this module (plain GCM, no associated data) still open.
    #[test]
    fn the_empty_context_is_plain_gcm() {
        let key = MasterKey::from_bytes([3; 32]);
        let cipher = Aes256Gcm::new(key.as_bytes().into());
        let nonce = [9u8; NONCE_LEN];
        let old = [
            nonce.as_slice(),
            &cipher
                .encrypt(Nonce::from_slice(&nonce), b"legacy".as_slice())
                .unwrap(),
        ]
        .concat();
        assert_eq!(
            Sealer::new(&key).open_string(&old, b"").unwrap().expose(),
            "legacy"
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!(
            "{:?} {:?} {:?} {:?}",
            Secret::new("s3cret-value"),
            SecretBytes::new(b"s3cret-value".to_vec()),
            MasterKey::from_bytes([65; 32]),
            Sealer::new(&MasterKey::from_bytes([65; 32]))
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("AAAA"), "{shown}");
    }
}
