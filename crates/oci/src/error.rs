use thiserror::Error;

/// Why a piece of OCI input was refused. Messages are lowercase and quote the input in backticks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("invalid repository name `{0}`: {1}")]
    NameInvalid(String, &'static str),
    #[error("invalid tag `{0}`: tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    TagInvalid(String),
    #[error("invalid digest `{0}`: {1}")]
    DigestInvalid(String, &'static str),
    #[error("unsupported digest algorithm `{0}`")]
    DigestUnsupported(String),
    #[error("invalid range `{0}`")]
    RangeInvalid(String),
}
