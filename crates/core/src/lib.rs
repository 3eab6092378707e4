//! The registry's domain services. Knows nothing of HTTP: the edge turns requests into calls
//! on [`Registry`] and its [`Error`]s into protocol errors.
//!
//! Rules kept here: a blob is visible in a repository only after its digest was verified; a
//! manifest is stored only when everything it references is in its repository; uploads are
//! serialized per session and resumable after a restart.

pub mod audit;
pub mod error;
pub mod iam;
pub mod lifecycle;
pub mod registry;
pub mod repository;
pub mod uploads;
pub mod worker;

pub use audit::{AuditError, AuditEvent, AuditLog, AuditResource, UserIdentity};
pub use error::{Error, Result};
pub use iam::{
    BrokenPolicy, Iam, IamOptions, MasterKey, PrincipalSnapshot, RepositoryView, ResourcePolicy,
    Secret,
};
pub use registry::{
    BlobBody, ImageDeletion, ImageDetail, ManifestOutcome, MountOutcome, Referrer, Registry,
    RegistryOptions,
};
pub use repository::{CreationTemplate, RepositorySettings, TagMutability};
