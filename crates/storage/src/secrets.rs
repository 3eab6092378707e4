//! The secrets seam: Secrets Manager's secrets, their versions with staging labels, and their
//! tags. Values arrive and leave sealed (the core service seals them, bound to the secret's ARN
//! and the version's id); the store never sees a plaintext.
//!
//! A version's id is the `ClientRequestToken` of the request that made it, which is what makes
//! retries idempotent: a second request with the same token meets the version the first made.
//! A staging label is on at most one version of a secret (the tables' keys hold that), and the
//! store moves labels as Secrets Manager does ([`SecretStore::put_secret_version`]).

use async_trait::async_trait;

use crate::Result;

/// The label of a secret's current version.
pub const CURRENT: &str = "AWSCURRENT";
/// The label the version that loses [`CURRENT`] gets.
pub const PREVIOUS: &str = "AWSPREVIOUS";
/// Versions without a label ("deprecated") are kept until a secret has more versions than
/// this, as Secrets Manager does; the oldest of them go first.
pub const MAX_VERSIONS: usize = 100;

/// How a value was given: `SecretString` or `SecretBinary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    String,
    Binary,
}

impl ValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::String => "string",
            ValueKind::Binary => "binary",
        }
    }

    pub fn parse(s: &str) -> Option<ValueKind> {
        match s {
            "string" => Some(ValueKind::String),
            "binary" => Some(ValueKind::Binary),
            _ => None,
        }
    }
}

/// A secret without its values. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub last_changed_at: i64,
    /// When DeleteSecret scheduled it for deletion; `None` while it is not.
    pub deleted_at: Option<i64>,
    /// When it is deleted for good (the end of the recovery window).
    pub deletion_date: Option<i64>,
    /// In key order.
    pub tags: Vec<(String, String)>,
    /// The versions that carry a label, oldest first, with their labels in label order.
    pub versions: Vec<VersionStages>,
}

/// A version's id with the labels on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionStages {
    pub version_id: String,
    pub stages: Vec<String>,
    pub created_at: i64,
}

/// One version with its sealed value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretVersionRecord {
    pub version_id: String,
    pub kind: ValueKind,
    pub sealed: Vec<u8>,
    /// Its labels now, in label order (none: deprecated).
    pub stages: Vec<String>,
    pub created_at: i64,
}

impl std::fmt::Debug for SecretVersionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVersionRecord")
            .field("version_id", &self.version_id)
            .field("kind", &self.kind)
            .field("sealed", &format_args!("{} bytes", self.sealed.len()))
            .field("stages", &self.stages)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A version to add.
#[derive(Clone, PartialEq, Eq)]
pub struct NewVersion {
    pub version_id: String,
    pub kind: ValueKind,
    pub sealed: Vec<u8>,
    /// The labels it takes from whichever versions hold them.
    pub stages: Vec<String>,
    pub created_at: i64,
}

impl std::fmt::Debug for NewVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The sealed bytes stay out of every log line, even at TRACE.
        f.debug_struct("NewVersion")
            .field("version_id", &self.version_id)
            .field("kind", &self.kind)
            .field("sealed", &format_args!("<{} bytes>", self.sealed.len()))
            .field("stages", &self.stages)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A secret to create, with its first version if it was given a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSecret {
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub tags: Vec<(String, String)>,
    pub created_at: i64,
    pub version: Option<NewVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateSecret {
    Created,
    /// A secret of that name exists (perhaps scheduled for deletion): it is left as it was.
    NameTaken(SecretRecord),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutVersion {
    /// Added; the version now carries these labels.
    Added {
        stages: Vec<String>,
    },
    /// The secret already has a version with that id: nothing changed.
    Exists(SecretVersionRecord),
    NotFound,
    /// The secret is scheduled for deletion and takes no new value.
    ScheduledForDeletion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagSecret {
    Tagged,
    NotFound,
    ScheduledForDeletion,
    /// The tags would be more than the limit: none was written.
    TooMany,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleDeletion {
    Scheduled,
    NotFound,
    AlreadyScheduled,
}

#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// Creates the secret (with its tags and first version, labelled as `version.stages`
    /// says), unless one of that name exists. Secrets whose deletion date is at or before
    /// `now` are deleted for good first, so their names are free again.
    async fn create_secret(&self, secret: &NewSecret, now: i64) -> Result<CreateSecret>;

    async fn secret_by_arn(&self, arn: &str) -> Result<Option<SecretRecord>>;
    async fn secret_by_name(&self, name: &str) -> Result<Option<SecretRecord>>;

    /// Up to `limit` secrets whose names come after `after`, in byte order of names.
    async fn list_secrets(&self, after: Option<&str>, limit: usize) -> Result<Vec<SecretRecord>>;

    /// One version with its sealed value.
    async fn secret_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> Result<Option<SecretVersionRecord>>;

    /// Adds a version in one transaction: each of its labels leaves the version that had it;
    /// when it takes [`CURRENT`] from another version, that version gets [`PREVIOUS`] (unless
    /// the new one takes that too); a secret without a current version makes the new one
    /// current whatever labels it asked for. Deprecated versions beyond [`MAX_VERSIONS`] go.
    /// The secret's last change is the version's creation.
    async fn put_secret_version(&self, arn: &str, version: &NewVersion) -> Result<PutVersion>;

    /// Adds or overwrites tags (a change to the secret at `at`), refusing to go over `max`
    /// tags in all.
    async fn tag_secret(
        &self,
        arn: &str,
        tags: &[(String, String)],
        max: usize,
        at: i64,
    ) -> Result<TagSecret>;

    /// Marks the secret deleted at `at`, to be deleted for good at `deletion_date`.
    async fn schedule_secret_deletion(
        &self,
        arn: &str,
        at: i64,
        deletion_date: i64,
    ) -> Result<ScheduleDeletion>;

    /// Deletes the secret with its versions and tags now; `false` when there was none.
    async fn delete_secret(&self, arn: &str) -> Result<bool>;
}

/// `(version id, label, version's creation)` rows, ordered by version then label, as the
/// versions they describe.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn group_stages(rows: Vec<(String, String, i64)>) -> Vec<VersionStages> {
    let mut out: Vec<VersionStages> = Vec::new();
    for (version_id, stage, created_at) in rows {
        match out.last_mut() {
            Some(last) if last.version_id == version_id => last.stages.push(stage),
            _ => out.push(VersionStages {
                version_id,
                stages: vec![stage],
                created_at,
            }),
        }
    }
    out
}

/// The labels a new version ends with: those it asked for, once each, in label order, and
/// [`CURRENT`] too when the secret has no current version yet.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn new_version_stages(asked: &[String], has_current: bool) -> Vec<String> {
    let mut stages: Vec<String> = asked.to_vec();
    if !has_current {
        stages.push(CURRENT.to_owned());
    }
    stages.sort();
    stages.dedup();
    stages
}
