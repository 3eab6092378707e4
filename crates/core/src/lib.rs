//! The registry's domain services. Knows nothing of HTTP: the edge turns requests into calls
//! on [`Registry`] and its [`Error`]s into protocol errors.
//!
//! Rules kept here: a blob is visible in a repository only after its digest was verified; a
//! manifest is stored only when everything it references is in its repository; uploads are
//! serialized per session and resumable after a restart.

pub mod audit;
pub mod error;
pub mod generation;
pub mod iam;
pub mod lifecycle;
pub mod registry;
pub mod repositories;
pub mod repository;
pub mod sealing;
pub mod secrets;
pub mod uploads;
pub mod worker;

pub use audit::{AuditError, AuditEvent, AuditLog, AuditResource, UserIdentity};
pub use error::{Error, Result};
pub use generation::Generation;
pub use iam::{
    BrokenPolicy, Iam, IamOptions, MasterKey, PrincipalSnapshot, ResourcePolicy, Secret,
};
pub use registry::{
    BlobBody, ImageDeletion, ImageDetail, ManifestOutcome, MountOutcome, Referrer, Registry,
    RegistryOptions,
};
pub use repositories::{
    AccountSetting, Deletion, Repositories, Repository, RepositorySpec, Tagging, Template,
    TemplateCreation,
};
pub use repository::{CreationTemplate, RepositorySettings, TagMutability};
pub use secrets::{Secrets, SecretsError};

/// The stream every blob and request body is, in and out of the registry.
pub use portcullis_storage::ByteStream;
/// The principal upload sessions opened without credentials are counted against.
pub use portcullis_storage::ANONYMOUS_PRINCIPAL;

/// The identities [`Iam`] hands out. They are plain data with no behaviour, defined once where
/// they are persisted; the edge reaches them only through this crate.
pub mod identity {
    pub use portcullis_storage::iam::{
        GroupRecord, ManagedPolicyRecord, PolicyVersionRecord, RoleRecord,
    };
    pub use portcullis_storage::{AccessKeyRecord, PrincipalKind, UserRecord};
}
