//! The OCI data model, pure: no I/O, no async.
//!
//! Everything the registry accepts from the wire is parsed here first: repository names, tags,
//! digests and references follow the grammars of the OCI Distribution Specification v1.1,
//! manifests are classified and checked before any storage is touched, and the `Content-Range`
//! and `Range` headers are parsed into checked byte ranges. Digests are computed by a streaming
//! [`Hasher`] so that no caller needs a whole blob in memory.

// Input-derived data must never bring the process down: every failure is an `Error` value.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod digest;
pub mod error;
pub mod fuzzing;
pub mod hash;
pub mod manifest;
pub mod media_types;
pub mod name;
pub mod range;

pub use digest::{Algorithm, Digest};
pub use error::Error;
pub use hash::Hasher;
pub use manifest::{Descriptor, ManifestKind, ParsedManifest};
pub use name::{Reference, RepoName, Tag};
pub use range::{ByteRange, ContentRange};
