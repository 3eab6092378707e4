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
    /// A write collided with a row that already exists, where the method had no answer for
    /// that case (its expected conflicts are part of its result instead).
    #[error("metadata conflict: {0}")]
    Conflict(String),
    /// The database gave up on the transaction because of concurrent ones (serialization
    /// failure, deadlock, a locked SQLite file); running it again may well succeed.
    #[error("metadata database busy, retry: {0}")]
    Retryable(String),
    /// The database server could not be reached (refused, timed out, connection lost): a
    /// node may wait for it, unlike a refusal such as a wrong password.
    #[error("metadata database unreachable: {0}")]
    Unavailable(String),
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

impl Error {
    /// Whether running the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Retryable(_))
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.kind() == sqlx::error::ErrorKind::UniqueViolation {
                return Error::Conflict(db.message().to_owned());
            }
            if let Some(code) = db.code() {
                if is_transient_code(&code) {
                    return Error::Retryable(db.message().to_owned());
                }
            }
        }
        if matches!(
            e,
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
        ) {
            return Error::Unavailable(e.to_string());
        }
        Error::Database(e.to_string())
    }
}

/// SQLSTATEs 40001 (serialization failure) and 40P01 (deadlock detected) from PostgreSQL;
/// from SQLite, whose codes are numbers, SQLITE_BUSY and SQLITE_LOCKED with every extended
/// code (the primary code is the low byte).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn is_transient_code(code: &str) -> bool {
    match code {
        "40001" | "40P01" => true,
        _ => code
            .parse::<i64>()
            .is_ok_and(|n| code.len() <= 4 && matches!(n & 0xff, 5 | 6)),
    }
}

#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
mod tests {
    use super::is_transient_code;

    #[test]
    fn transient_codes_are_serialization_deadlock_and_busy() {
        for code in ["40001", "40P01", "5", "517", "261", "6", "262"] {
            assert!(is_transient_code(code), "{code}");
        }
        // 23505 is a unique violation, 2067 SQLite's unique constraint, 1 a generic error.
        for code in ["23505", "2067", "1", "19", "42P01", "08006"] {
            assert!(!is_transient_code(code), "{code}");
        }
    }
}
