use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("i/o error on {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the request body failed: {0}")]
    Body(std::io::Error),
    #[error("upload `{0}` is unknown")]
    UploadUnknown(String),
    #[error("upload `{id}` is at offset {actual}, not {expected}")]
    UploadOffset {
        id: String,
        expected: u64,
        actual: u64,
    },
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
