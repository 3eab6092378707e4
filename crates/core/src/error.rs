use portcullis_oci::Digest;
use thiserror::Error;

/// What went wrong, in the registry's own terms.
#[derive(Debug, Error)]
pub enum Error {
    #[error("blob `{0}` is unknown to this repository")]
    BlobUnknown(Digest),
    #[error("upload `{0}` is unknown")]
    UploadUnknown(String),
    #[error("upload is at offset {actual}; the chunk starts at {start}")]
    UploadOutOfOrder { start: u64, actual: u64 },
    #[error("{0}")]
    UploadInvalid(String),
    #[error("content does not match digest `{expected}`: got `{actual}`")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("{0}")]
    DigestInvalid(String),
    #[error("manifest `{0}` is unknown")]
    ManifestUnknown(String),
    #[error("manifest references `{0}`, which is not in the repository")]
    ManifestBlobUnknown(Digest),
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("{0}")]
    ManifestTooLarge(String),
    #[error("{0}")]
    ManifestNotAcceptable(String),
    #[error("repository `{0}` is unknown")]
    NameUnknown(String),
    #[error("The image tag '{tag}' already exists in the '{repository}' repository and cannot be overwritten because the tag is immutable.")]
    TagImmutable { repository: String, tag: String },
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    #[error("the upload received no data")]
    UploadEmpty,
    #[error("Layer parts must be at least 5 MiB in size.")]
    UploadPartTooSmall,
    #[error("the upload has more than {0} parts")]
    UploadTooManyParts(u32),
    /// A cap on open upload sessions (`[limits] max_uploads_per_principal`, `max_uploads`).
    #[error("{0}")]
    TooManyUploads(String),
    /// The blob would pass `[limits] max_blob_bytes`; its session is discarded.
    #[error("the blob is larger than the {max} bytes this registry accepts (`[limits] max_blob_bytes`); its upload was discarded")]
    BlobTooLarge { max: u64 },
    /// Garbage collection is deleting the blob this upload would commit; its bytes must not be
    /// written until it is done (seconds). Retryable.
    #[error("blob `{0}` is being garbage-collected: upload it again in a moment")]
    BlobCollecting(Digest),
    #[error("layer `{0}` already exists in the repository")]
    LayerAlreadyExists(Digest),
    #[error("{0}")]
    Unsupported(String),
    #[error("requested range is not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("the request body ended early: {0}")]
    BodyInterrupted(std::io::Error),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("malformed policy document: {0}")]
    MalformedPolicy(String),
    #[error("secret sealing failed: {0}")]
    Sealing(String),
    #[error(transparent)]
    Storage(#[from] portcullis_storage::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
