//! Storage: the two seams the registry core writes through, and their backends.
//!
//! - [`BlobStore`] holds content-addressed blobs and the staging area of uploads. A blob becomes
//!   visible only by an atomic commit of a fully written upload; readers stream it in ranges.
//! - [`MetaStore`] holds everything else (repositories, manifests, tags, blob links, upload
//!   sessions, referrers) transactionally.
//!
//! Both are used as `Arc<dyn ...>`; the binary picks the backends. The embedded default is the
//! local filesystem for blobs ([`blob::fs::FsBlobStore`]) and SQLite for metadata
//! ([`meta::sqlite::SqliteMetaStore`]), both under one data directory (see [`layout`]). With the
//! `postgres` feature, [`meta::postgres::PgMetaStore`] keeps the metadata on a PostgreSQL
//! server instead, which several registry nodes can share.

pub mod blob;
pub mod error;
pub mod iam;
pub mod layout;
pub mod meta;
pub mod secrets;
#[cfg(any(test, feature = "test-util"))]
pub mod testsuite;

pub use blob::{BlobRead, BlobStore, ByteStream};
pub use error::{Error, Result};
pub use iam::{AccessKeyRecord, IamStore, NamedPolicy, PrincipalKind, UserRecord};
pub use meta::{
    BeginAppend, BlobRow, CompleteUpload, CreateUpload, DeleteRepository, DocumentKind,
    DocumentRecord, EndedUpload, GcBlob, ImageRecord, LifecyclePreviewRecord, ManifestRecord,
    ManifestRef, MetaStore, MountBlob, NewRepository, PutManifestError, PutManifestOutcome,
    ReferrerRecord, RepositoryRecord, SchemaMode, TagRepository, TagWrite, UploadLimits,
    UploadParts, UploadProgress, UploadRecord, ANONYMOUS_PRINCIPAL,
};
pub use secrets::SecretStore;
