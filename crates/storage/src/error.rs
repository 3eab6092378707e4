use thiserror::Error;

use crate::blob::Appended;

#[derive(Debug, Error)]
pub enum Error {
    #[error("i/o error on {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The request body failed during an append. What arrived before the failure is staged:
    /// `appended` is what a successful append would have returned for it (the length the
    /// client resumes from, and the upload state to persist), so the caller records it before
    /// reporting the failure.
    #[error("the request body failed after the upload reached {} bytes: {source}", appended.len)]
    BodyAfter {
        appended: Appended,
        source: std::io::Error,
    },
    #[error("upload `{0}` is unknown")]
    UploadUnknown(String),
    #[error("upload `{id}` is at offset {actual}, not {expected}")]
    UploadOffset {
        id: String,
        expected: u64,
        actual: u64,
    },
    /// The per-upload state the caller passed is missing or not one this backend wrote.
    #[error("upload `{id}` has no usable backend state: {reason}")]
    UploadState { id: String, reason: String },
    /// The backend cannot do this by design (S3 cannot read back a multipart upload in
    /// progress); the caller takes another way.
    #[error("the {backend} blob store cannot {what}")]
    Unsupported {
        backend: &'static str,
        what: &'static str,
    },
    /// A request to the object store failed. `what` names the operation and key.
    #[error("object store error on {what}: {source}")]
    ObjectStore {
        what: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The blob store's configuration was refused when opening it.
    #[error("blob store configuration: {0}")]
    Config(String),
    #[error("metadata database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e.to_string())
    }
}
