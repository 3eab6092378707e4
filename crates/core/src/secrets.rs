//! Secrets Manager's secrets, as the API serves them (docs/secrets.md): named values with
//! versions, staging labels, tags and a scheduled deletion.
//!
//! Values are sealed here, before the store sees them, under the master key and bound to the
//! secret's ARN, the version's id and the value's kind, so a sealed value moved to another row
//! of the database does not open. A plaintext lives only in [`SecretValue`], whose `Debug` shows
//! nothing, and is compared with another only in constant time.
//!
//! A secret scheduled for deletion is kept (DescribeSecret shows it, its name stays taken) but
//! takes no reads or writes of its value; once its deletion date passes it is treated as gone,
//! and the next creation deletes it for good.

use std::sync::Arc;

use portcullis_storage::meta::now_millis;
use portcullis_storage::secrets::{
    CreateSecret, NewSecret, NewVersion, PutVersion, ScheduleDeletion, SecretRecord, TagSecret,
};
use portcullis_storage::SecretStore;
use rand::Rng;
use subtle::ConstantTimeEq;

pub use portcullis_storage::secrets::{ValueKind, CURRENT, PREVIOUS};

use crate::iam::IamOptions;
use crate::sealing::{MasterKey, Sealer, Secret, SecretBytes};

/// Tags a secret may have.
pub const MAX_TAGS: usize = 50;
/// The recovery window of a DeleteSecret that names none, in days.
pub const DEFAULT_RECOVERY_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;
/// Records read per store call while listing with filters.
const LIST_PAGE: usize = 100;

/// A secret's value, as given: `SecretString` or `SecretBinary`.
#[derive(Debug, Clone)]
pub enum SecretValue {
    String(Secret),
    Binary(SecretBytes),
}

impl SecretValue {
    pub fn kind(&self) -> ValueKind {
        match self {
            SecretValue::String(_) => ValueKind::String,
            SecretValue::Binary(_) => ValueKind::Binary,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            SecretValue::String(s) => s.expose().as_bytes(),
            SecretValue::Binary(b) => b.expose(),
        }
    }

    /// Same kind and same bytes, compared in constant time (for a given length).
    pub fn same_as(&self, other: &SecretValue) -> bool {
        self.kind() == other.kind() && bool::from(self.bytes().ct_eq(other.bytes()))
    }
}

/// A secret without its values. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub last_changed_at: i64,
    /// When DeleteSecret was called, while the secret waits for its deletion date.
    pub deleted_at: Option<i64>,
    pub deletion_date: Option<i64>,
    pub tags: Vec<(String, String)>,
    /// `(version id, labels)` of the versions that carry a label, oldest first.
    pub versions: Vec<(String, Vec<String>)>,
}

impl SecretInfo {
    fn from_record(r: SecretRecord) -> Self {
        SecretInfo {
            arn: r.arn,
            name: r.name,
            description: r.description,
            created_at: r.created_at,
            last_changed_at: r.last_changed_at,
            deleted_at: r.deleted_at,
            deletion_date: r.deletion_date,
            tags: r.tags,
            versions: r
                .versions
                .into_iter()
                .map(|v| (v.version_id, v.stages))
                .collect(),
        }
    }

    pub fn scheduled_for_deletion(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Past its deletion date: as good as deleted.
    fn expired(&self, now: i64) -> bool {
        self.deletion_date.is_some_and(|d| d <= now)
    }

    /// The version that carries `stage`.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.as_str())
    }
}

/// One version of a secret with its value opened.
#[derive(Debug, Clone)]
pub struct SecretVersion {
    pub arn: String,
    pub name: String,
    pub version_id: String,
    pub value: SecretValue,
    pub stages: Vec<String>,
    pub created_at: i64,
}

/// A CreateSecret, its input checked.
#[derive(Debug, Clone)]
pub struct NewSecretSpec {
    pub name: String,
    pub description: Option<String>,
    pub tags: Vec<(String, String)>,
    pub value: Option<SecretValue>,
    /// `ClientRequestToken`: the first version's id (only with a value).
    pub token: Option<String>,
}

/// What CreateSecret answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub arn: String,
    pub name: String,
    pub version_id: Option<String>,
}

/// What PutSecretValue answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub arn: String,
    pub name: String,
    pub version_id: String,
    pub stages: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// `ForceDeleteWithoutRecovery`: gone now.
    Now,
    /// Scheduled, this many days ahead.
    After { days: i64 },
}

/// What DeleteSecret answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub arn: String,
    pub name: String,
    /// Unix milliseconds.
    pub deletion_date: i64,
}

/// ListSecrets' filter keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKey {
    Description,
    Name,
    TagKey,
    TagValue,
    PrimaryRegion,
    OwningService,
    All,
}

impl FilterKey {
    pub const NAMES: [&'static str; 7] = [
        "description",
        "name",
        "tag-key",
        "tag-value",
        "primary-region",
        "owning-service",
        "all",
    ];

    pub fn parse(s: &str) -> Option<FilterKey> {
        Some(match s {
            "description" => FilterKey::Description,
            "name" => FilterKey::Name,
            "tag-key" => FilterKey::TagKey,
            "tag-value" => FilterKey::TagValue,
            "primary-region" => FilterKey::PrimaryRegion,
            "owning-service" => FilterKey::OwningService,
            "all" => FilterKey::All,
            _ => return None,
        })
    }
}

/// One ListSecrets filter: a secret matches when any value matches (a value starting with `!`
/// matches when it does not), and matches a list of filters when it matches each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub key: FilterKey,
    pub values: Vec<String>,
}

impl Filter {
    /// As Secrets Manager documents them: prefix matches, case-sensitive but for
    /// `description` and `all` (`all` looks at the name, the description and the tags).
    /// Secrets here have no owning service and no replicas, and their region is the server's.
    fn matches(&self, s: &SecretInfo, region: &str) -> bool {
        let (fields, case_sensitive): (Vec<&str>, bool) = match self.key {
            FilterKey::Name => (vec![&s.name], true),
            FilterKey::Description => (s.description.iter().map(String::as_str).collect(), false),
            FilterKey::TagKey => (s.tags.iter().map(|(k, _)| k.as_str()).collect(), true),
            FilterKey::TagValue => (s.tags.iter().map(|(_, v)| v.as_str()).collect(), true),
            FilterKey::PrimaryRegion => (vec![region], true),
            FilterKey::OwningService => (Vec::new(), true),
            FilterKey::All => {
                let mut all = vec![s.name.as_str()];
                all.extend(s.description.as_deref());
                for (k, v) in &s.tags {
                    all.push(k);
                    all.push(v);
                }
                (all, false)
            }
        };
        let starts = |field: &str, prefix: &str| {
            if case_sensitive {
                field.starts_with(prefix)
            } else {
                field.to_lowercase().starts_with(&prefix.to_lowercase())
            }
        };
        self.values.iter().any(|v| match v.strip_prefix('!') {
            Some(not) => !fields.iter().any(|f| starts(f, not)),
            None => fields.iter().any(|f| starts(f, v)),
        })
    }
}

/// The service's refusals, each one Secrets Manager's.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("Secrets Manager can't find the specified secret.")]
    NotFound,
    #[error("Secrets Manager can't find the specified secret value for staging label: {0}")]
    NoVersionWithStage(String),
    #[error("Secrets Manager can't find the specified secret value for VersionId: {0}")]
    NoSuchVersion(String),
    #[error("You provided a VersionStage that is not associated to the provided VersionId.")]
    StageNotOnVersion,
    #[error("The operation failed because the secret {0} already exists.")]
    Exists(String),
    #[error(
        "You can't use ClientRequestToken {token} because that value is already in use for a \
         version of secret {arn}."
    )]
    TokenInUse { token: String, arn: String },
    #[error("You can't perform this operation on the secret because it was marked for deletion.")]
    ScheduledForDeletion,
    #[error("You tried to perform the operation on a secret that's currently marked deleted.")]
    AlreadyScheduled,
    #[error(
        "You can't create this secret because a secret with this name is already scheduled \
         for deletion."
    )]
    NameScheduledForDeletion,
    #[error("The request would give the secret more than {MAX_TAGS} tags.")]
    TooManyTags,
    /// A stored value does not open with this master key (or was moved to another row).
    #[error("Secrets Manager can't decrypt the protected secret text using the master key.")]
    Decryption,
    #[error(transparent)]
    Core(#[from] crate::Error),
}

impl From<portcullis_storage::Error> for SecretsError {
    fn from(e: portcullis_storage::Error) -> Self {
        SecretsError::Core(crate::Error::Storage(e))
    }
}

type Result<T, E = SecretsError> = std::result::Result<T, E>;

pub struct Secrets {
    store: Arc<dyn SecretStore>,
    sealer: Sealer,
    options: IamOptions,
}

/// What a sealed value is bound to: its secret, its version and its kind.
fn context(arn: &str, version_id: &str, kind: ValueKind) -> Vec<u8> {
    format!("secretsmanager\0{arn}\0{version_id}\0{}", kind.as_str()).into_bytes()
}

impl Secrets {
    pub fn new(store: Arc<dyn SecretStore>, master: &MasterKey, options: IamOptions) -> Self {
        Secrets {
            store,
            sealer: Sealer::new(master),
            options,
        }
    }

    pub fn options(&self) -> &IamOptions {
        &self.options
    }

    /// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:`.
    pub fn arn_prefix(&self) -> String {
        format!(
            "arn:aws:secretsmanager:{}:{}:secret:",
            self.options.region, self.options.account_id
        )
    }

    /// A fresh ARN for a secret named `name`: AWS's `-` and six random characters after it, so
    /// a secret created again under the same name is another resource to policies.
    pub fn new_arn(&self, name: &str) -> String {
        let suffix: String = rand::thread_rng()
            .sample_iter(rand::distributions::Alphanumeric)
            .take(6)
            .map(char::from)
            .collect();
        format!("{}{name}-{suffix}", self.arn_prefix())
    }

    /// The resource a request for `secret_id` is authorized on when no secret answers to it:
    /// the ARN as given, or the ARN of the name without a suffix. Either is decided as for an
    /// existing secret, so a caller who may not read a secret cannot learn whether it exists.
    /// An ARN outside this registry's secrets (an IAM user's, say) is not decided as that
    /// resource: its tags would answer conditions meant for secrets. It is decided as a name
    /// under the secrets' prefix, where nothing answers to it.
    pub fn requested_arn(&self, secret_id: &str) -> String {
        if secret_id.starts_with(&self.arn_prefix()) {
            secret_id.to_owned()
        } else {
            format!("{}{secret_id}", self.arn_prefix())
        }
    }

    /// The secret `secret_id` names: by name, by its ARN, or by its ARN without the random
    /// suffix (a partial ARN). Secrets past their deletion date are gone.
    pub async fn resolve(&self, secret_id: &str) -> Result<Option<SecretInfo>> {
        let record = if secret_id.starts_with("arn:") {
            match self.store.secret_by_arn(secret_id).await? {
                Some(r) => Some(r),
                None => match secret_id.strip_prefix(&self.arn_prefix()) {
                    Some(name) if !name.is_empty() => self.store.secret_by_name(name).await?,
                    _ => None,
                },
            }
        } else {
            self.store.secret_by_name(secret_id).await?
        };
        let now = now_millis();
        Ok(record
            .map(SecretInfo::from_record)
            .filter(|s| !s.expired(now)))
    }

    fn seal(&self, arn: &str, version_id: &str, value: &SecretValue) -> Result<Vec<u8>> {
        Ok(self
            .sealer
            .seal(value.bytes(), &context(arn, version_id, value.kind()))?)
    }

    fn open(
        &self,
        arn: &str,
        version_id: &str,
        kind: ValueKind,
        sealed: &[u8],
    ) -> Result<SecretValue> {
        let ctx = context(arn, version_id, kind);
        let opened = match kind {
            ValueKind::String => self
                .sealer
                .open_string(sealed, &ctx)
                .map(SecretValue::String),
            ValueKind::Binary => self.sealer.open(sealed, &ctx).map(SecretValue::Binary),
        };
        opened.map_err(|e| {
            tracing::error!(secret = %arn, version = %version_id, error = %e, "a secret value does not open");
            SecretsError::Decryption
        })
    }

    /// Creates a secret under `arn` (from [`Secrets::new_arn`], which the caller authorized).
    /// A retry (the same name, token and value) answers what the first request did when
    /// `may_compare` (the caller may read the existing secret); otherwise a taken name is
    /// [`SecretsError::Exists`] whatever the value.
    pub async fn create(
        &self,
        arn: &str,
        may_compare: bool,
        spec: NewSecretSpec,
    ) -> Result<Created> {
        let now = now_millis();
        let version = match &spec.value {
            None => None,
            Some(value) => {
                let version_id = spec
                    .token
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                Some(NewVersion {
                    sealed: self.seal(arn, &version_id, value)?,
                    version_id,
                    kind: value.kind(),
                    stages: vec![CURRENT.to_owned()],
                    created_at: now,
                })
            }
        };
        let new = NewSecret {
            arn: arn.to_owned(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            tags: spec.tags.clone(),
            created_at: now,
            version,
        };
        match self.store.create_secret(&new, now).await? {
            CreateSecret::Created => Ok(Created {
                arn: new.arn,
                name: new.name,
                version_id: new.version.map(|v| v.version_id),
            }),
            CreateSecret::NameTaken(existing) => {
                if existing.deleted_at.is_some() {
                    return Err(SecretsError::NameScheduledForDeletion);
                }
                if let (true, Some(token), Some(value)) = (may_compare, &spec.token, &spec.value) {
                    if let Some(v) = self.store.secret_version(&existing.arn, token).await? {
                        let stored = self.open(&existing.arn, token, v.kind, &v.sealed)?;
                        if stored.same_as(value) {
                            return Ok(Created {
                                arn: existing.arn,
                                name: existing.name,
                                version_id: Some(token.clone()),
                            });
                        }
                        return Err(SecretsError::TokenInUse {
                            token: token.clone(),
                            arn: existing.arn,
                        });
                    }
                }
                Err(SecretsError::Exists(existing.name))
            }
        }
    }

    /// Adds a version labelled `stages` (default: [`CURRENT`]). A retry with the same token
    /// and value changes nothing and answers as the first request did.
    pub async fn put_value(
        &self,
        secret: &SecretInfo,
        token: Option<&str>,
        value: &SecretValue,
        stages: Option<Vec<String>>,
    ) -> Result<Stored> {
        if secret.scheduled_for_deletion() {
            return Err(SecretsError::ScheduledForDeletion);
        }
        let version_id = token.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let version = NewVersion {
            sealed: self.seal(&secret.arn, &version_id, value)?,
            version_id: version_id.clone(),
            kind: value.kind(),
            stages: stages.unwrap_or_else(|| vec![CURRENT.to_owned()]),
            created_at: now_millis(),
        };
        let stages = match self.store.put_secret_version(&secret.arn, &version).await? {
            PutVersion::Added { stages } => stages,
            PutVersion::Exists(v) => {
                let stored = self.open(&secret.arn, &version_id, v.kind, &v.sealed)?;
                if !stored.same_as(value) {
                    return Err(SecretsError::TokenInUse {
                        token: version_id,
                        arn: secret.arn.clone(),
                    });
                }
                v.stages
            }
            PutVersion::NotFound => return Err(SecretsError::NotFound),
            PutVersion::ScheduledForDeletion => return Err(SecretsError::ScheduledForDeletion),
        };
        Ok(Stored {
            arn: secret.arn.clone(),
            name: secret.name.clone(),
            version_id,
            stages,
        })
    }

    /// The value of the version `version_id` names, or of the one labelled `stage` (default
    /// [`CURRENT`]); with both, the version must carry the label.
    pub async fn get_value(
        &self,
        secret: &SecretInfo,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<SecretVersion> {
        if secret.scheduled_for_deletion() {
            return Err(SecretsError::ScheduledForDeletion);
        }
        let (id, by_stage) = match version_id {
            Some(id) => (id.to_owned(), None),
            None => {
                let stage = stage.unwrap_or(CURRENT);
                let id = secret
                    .version_with(stage)
                    .ok_or_else(|| SecretsError::NoVersionWithStage(stage.to_owned()))?;
                (id.to_owned(), Some(stage))
            }
        };
        let Some(v) = self.store.secret_version(&secret.arn, &id).await? else {
            return Err(match by_stage {
                Some(stage) => SecretsError::NoVersionWithStage(stage.to_owned()),
                None => SecretsError::NoSuchVersion(id),
            });
        };
        if let (Some(_), Some(stage)) = (version_id, stage) {
            if !v.stages.iter().any(|s| s == stage) {
                return Err(SecretsError::StageNotOnVersion);
            }
        }
        let value = self.open(&secret.arn, &id, v.kind, &v.sealed)?;
        Ok(SecretVersion {
            arn: secret.arn.clone(),
            name: secret.name.clone(),
            version_id: id,
            value,
            stages: v.stages,
            created_at: v.created_at,
        })
    }

    pub async fn delete(&self, secret: &SecretInfo, how: Deletion) -> Result<Deleted> {
        let now = now_millis();
        let deleted = |deletion_date| Deleted {
            arn: secret.arn.clone(),
            name: secret.name.clone(),
            deletion_date,
        };
        match how {
            Deletion::Now => {
                if self.store.delete_secret(&secret.arn).await? {
                    Ok(deleted(now))
                } else {
                    Err(SecretsError::NotFound)
                }
            }
            Deletion::After { days } => {
                let date = now.saturating_add(days.saturating_mul(DAY_MS));
                match self
                    .store
                    .schedule_secret_deletion(&secret.arn, now, date)
                    .await?
                {
                    ScheduleDeletion::Scheduled => Ok(deleted(date)),
                    ScheduleDeletion::AlreadyScheduled => Err(SecretsError::AlreadyScheduled),
                    ScheduleDeletion::NotFound => Err(SecretsError::NotFound),
                }
            }
        }
    }

    /// Adds or overwrites tags.
    pub async fn tag(&self, secret: &SecretInfo, tags: &[(String, String)]) -> Result<()> {
        match self
            .store
            .tag_secret(&secret.arn, tags, MAX_TAGS, now_millis())
            .await?
        {
            TagSecret::Tagged => Ok(()),
            TagSecret::NotFound => Err(SecretsError::NotFound),
            TagSecret::ScheduledForDeletion => Err(SecretsError::ScheduledForDeletion),
            TagSecret::TooMany => Err(SecretsError::TooManyTags),
        }
    }

    /// Up to `limit` secrets after the name `after` that match every filter, in byte order of
    /// names, and the name to continue after when there may be more. Secrets scheduled for
    /// deletion only with `include_planned_deletion`.
    pub async fn list(
        &self,
        after: Option<&str>,
        limit: usize,
        include_planned_deletion: bool,
        filters: &[Filter],
    ) -> Result<(Vec<SecretInfo>, Option<String>)> {
        let now = now_millis();
        let mut cursor = after.map(str::to_owned);
        let mut out = Vec::new();
        loop {
            let page = self
                .store
                .list_secrets(cursor.as_deref(), LIST_PAGE)
                .await?;
            let exhausted = page.len() < LIST_PAGE;
            for record in page {
                cursor = Some(record.name.clone());
                let s = SecretInfo::from_record(record);
                if s.expired(now)
                    || (s.scheduled_for_deletion() && !include_planned_deletion)
                    || !filters.iter().all(|f| f.matches(&s, &self.options.region))
                {
                    continue;
                }
                if out.len() == limit {
                    let next = out.last().map(|s: &SecretInfo| s.name.clone());
                    return Ok((out, next));
                }
                out.push(s);
            }
            if exhausted {
                return Ok((out, None));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_storage::meta::sqlite::SqliteMetaStore;

    async fn secrets() -> (tempfile::TempDir, Arc<SqliteMetaStore>, Secrets) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteMetaStore::open(&dir.path().join("m.sqlite"))
                .await
                .unwrap(),
        );
        let options = IamOptions {
            account_id: "111122223333".into(),
            region: "ap-northeast-1".into(),
        };
        let s = Secrets::new(store.clone(), &MasterKey::generate(), options);
        (dir, store, s)
    }

    fn text(s: &str) -> SecretValue {
        SecretValue::String(Secret::new(s))
    }

    fn spec(name: &str, value: Option<SecretValue>, token: Option<&str>) -> NewSecretSpec {
        NewSecretSpec {
            name: name.into(),
            description: None,
            tags: vec![("team".into(), "ci".into())],
            value,
            token: token.map(str::to_owned),
        }
    }

    const TOKEN: &str = "00000000-0000-4000-8000-000000000001";

    #[tokio::test]
    async fn arns_carry_a_random_suffix_and_resolve_whole_or_partial() {
        let (_dir, _store, s) = secrets().await;
        let arn = s.new_arn("ecr-pullthroughcache/hub");
        let (head, suffix) = arn.rsplit_once('-').unwrap();
        assert_eq!(
            head,
            "arn:aws:secretsmanager:ap-northeast-1:111122223333:secret:ecr-pullthroughcache/hub"
        );
        assert_eq!(suffix.len(), 6);
        assert!(suffix.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(arn, s.new_arn("ecr-pullthroughcache/hub"));

        s.create(&arn, true, spec("ecr-pullthroughcache/hub", None, None))
            .await
            .unwrap();
        for id in [arn.as_str(), "ecr-pullthroughcache/hub", head] {
            assert_eq!(s.resolve(id).await.unwrap().unwrap().arn, arn, "{id}");
        }
        let other = format!("{head}-zzzzzz");
        assert!(s.resolve(&other).await.unwrap().is_none());
        assert!(s.resolve("ecr-pullthroughcache").await.unwrap().is_none());
        assert_eq!(s.requested_arn("x"), format!("{}x", s.arn_prefix()));
        assert_eq!(s.requested_arn(&other), other);
        let user = "arn:aws:iam::123456789012:user/alice";
        assert_eq!(s.requested_arn(user), format!("{}{user}", s.arn_prefix()));
    }

    #[tokio::test]
    async fn values_are_sealed_rotate_and_retries_are_idempotent() {
        let (_dir, store, s) = secrets().await;
        let arn = s.new_arn("db");
        let created = s
            .create(&arn, true, spec("db", Some(text("hunter2")), Some(TOKEN)))
            .await
            .unwrap();
        assert_eq!(created.version_id.as_deref(), Some(TOKEN));
        // The store holds no plaintext, and the value does not open on another row.
        let stored = store.secret_version(&arn, TOKEN).await.unwrap().unwrap();
        assert!(!stored.sealed.windows(7).any(|w| w == b"hunter2"));
        assert!(s
            .open(&arn, "other", ValueKind::String, &stored.sealed)
            .is_err());
        assert!(s
            .open(&arn, TOKEN, ValueKind::Binary, &stored.sealed)
            .is_err());

        // A retry of the creation answers the same; another value under the token is refused.
        let again = s
            .create(
                &s.new_arn("db"),
                true,
                spec("db", Some(text("hunter2")), Some(TOKEN)),
            )
            .await
            .unwrap();
        assert_eq!(again, created);
        assert!(matches!(
            s.create(
                &s.new_arn("db"),
                true,
                spec("db", Some(text("other")), Some(TOKEN))
            )
            .await,
            Err(SecretsError::TokenInUse { .. })
        ));
        // A caller who may not read the secret learns nothing about its value from a retry.
        assert!(matches!(
            s.create(&s.new_arn("db"), false, spec("db", Some(text("hunter2")), Some(TOKEN)))
                .await,
            Err(SecretsError::Exists(n)) if n == "db"
        ));
        assert!(matches!(
            s.create(&s.new_arn("db"), false, spec("db", Some(text("other")), Some(TOKEN)))
                .await,
            Err(SecretsError::Exists(n)) if n == "db"
        ));
        assert!(matches!(
            s.create(&s.new_arn("db"), true, spec("db", Some(text("hunter2")), None))
                .await,
            Err(SecretsError::Exists(n)) if n == "db"
        ));

        let secret = s.resolve("db").await.unwrap().unwrap();
        let got = s.get_value(&secret, None, None).await.unwrap();
        assert!(got.value.same_as(&text("hunter2")));
        assert_eq!(got.stages, [CURRENT]);
        assert!(
            !format!("{got:?}").contains("hunter2"),
            "Debug shows no value"
        );

        let put = s
            .put_value(&secret, None, &text("correct horse"), None)
            .await
            .unwrap();
        assert_eq!(put.stages, [CURRENT]);
        let secret = s.resolve("db").await.unwrap().unwrap();
        assert_eq!(secret.version_with(PREVIOUS), Some(TOKEN));
        assert!(s
            .get_value(&secret, None, Some(PREVIOUS))
            .await
            .unwrap()
            .value
            .same_as(&text("hunter2")));
        assert!(s
            .get_value(&secret, None, None)
            .await
            .unwrap()
            .value
            .same_as(&text("correct horse")));
        assert!(matches!(
            s.get_value(&secret, Some(TOKEN), Some(CURRENT)).await,
            Err(SecretsError::StageNotOnVersion)
        ));
        assert!(matches!(
            s.get_value(&secret, None, Some("AWSPENDING")).await,
            Err(SecretsError::NoVersionWithStage(st)) if st == "AWSPENDING"
        ));
        assert!(matches!(
            s.get_value(&secret, Some("nope"), None).await,
            Err(SecretsError::NoSuchVersion(_))
        ));
        // A retried put changes nothing; a different value under its token is refused.
        let retried = s
            .put_value(&secret, Some(&put.version_id), &text("correct horse"), None)
            .await
            .unwrap();
        assert_eq!(retried, put);
        assert!(matches!(
            s.put_value(&secret, Some(&put.version_id), &text("x"), None)
                .await,
            Err(SecretsError::TokenInUse { .. })
        ));
        let binary = SecretValue::Binary(SecretBytes::new(b"correct horse".to_vec()));
        assert!(
            matches!(
                s.put_value(&secret, Some(&put.version_id), &binary, None)
                    .await,
                Err(SecretsError::TokenInUse { .. })
            ),
            "the same bytes as binary are another value"
        );
    }

    #[tokio::test]
    async fn deletion_is_scheduled_and_refuses_values() {
        let (_dir, _store, s) = secrets().await;
        let arn = s.new_arn("old");
        s.create(&arn, true, spec("old", Some(text("v")), None))
            .await
            .unwrap();
        let secret = s.resolve("old").await.unwrap().unwrap();
        let deleted = s
            .delete(&secret, Deletion::After { days: 7 })
            .await
            .unwrap();
        let secret = s.resolve("old").await.unwrap().unwrap();
        let at = secret.deleted_at.unwrap();
        assert_eq!(deleted.deletion_date, at + 7 * DAY_MS);
        assert!(matches!(
            s.get_value(&secret, None, None).await,
            Err(SecretsError::ScheduledForDeletion)
        ));
        assert!(matches!(
            s.put_value(&secret, None, &text("w"), None).await,
            Err(SecretsError::ScheduledForDeletion)
        ));
        assert!(matches!(
            s.delete(&secret, Deletion::After { days: 7 }).await,
            Err(SecretsError::AlreadyScheduled)
        ));
        assert!(matches!(
            s.create(&s.new_arn("old"), true, spec("old", None, None))
                .await,
            Err(SecretsError::NameScheduledForDeletion)
        ));
        assert!(s.list(None, 10, false, &[]).await.unwrap().0.is_empty());
        assert_eq!(s.list(None, 10, true, &[]).await.unwrap().0.len(), 1);
        s.delete(&secret, Deletion::Now).await.unwrap();
        assert!(s.resolve("old").await.unwrap().is_none());
        assert!(matches!(
            s.delete(&secret, Deletion::Now).await,
            Err(SecretsError::NotFound)
        ));
        s.create(&s.new_arn("old"), true, spec("old", None, None))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn listing_pages_and_filters() {
        let (_dir, _store, s) = secrets().await;
        for name in ["a", "b/x", "b/y", "c"] {
            let mut sp = spec(name, None, None);
            sp.description = Some(format!("The {name} Secret"));
            s.create(&s.new_arn(name), true, sp).await.unwrap();
        }
        let names = |v: Vec<SecretInfo>| v.into_iter().map(|s| s.name).collect::<Vec<_>>();
        let (page, next) = s.list(None, 2, false, &[]).await.unwrap();
        assert_eq!(names(page), ["a", "b/x"]);
        let (page, next) = s.list(next.as_deref(), 2, false, &[]).await.unwrap();
        assert_eq!(names(page), ["b/y", "c"]);
        assert_eq!(next, None);
        let f = |key, values: &[&str]| Filter {
            key,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        };
        let by = |filters: Vec<Filter>| {
            let s = &s;
            async move { names(s.list(None, 10, false, &filters).await.unwrap().0) }
        };
        assert_eq!(by(vec![f(FilterKey::Name, &["b/"])]).await, ["b/x", "b/y"]);
        assert_eq!(
            by(vec![f(FilterKey::Name, &["B/"])]).await,
            Vec::<String>::new()
        );
        assert_eq!(by(vec![f(FilterKey::Name, &["!b/"])]).await, ["a", "c"]);
        assert_eq!(
            by(vec![f(FilterKey::Name, &["a", "c"])]).await,
            ["a", "c"],
            "values of one filter: any"
        );
        assert_eq!(
            by(vec![
                f(FilterKey::Name, &["b/"]),
                f(FilterKey::Description, &["the b/y"])
            ])
            .await,
            ["b/y"],
            "filters: all; descriptions case-insensitive"
        );
        assert_eq!(by(vec![f(FilterKey::TagKey, &["te"])]).await.len(), 4);
        assert_eq!(by(vec![f(FilterKey::TagValue, &["CI"])]).await.len(), 0);
        assert_eq!(by(vec![f(FilterKey::All, &["CI"])]).await.len(), 4);
        assert_eq!(
            by(vec![f(FilterKey::PrimaryRegion, &["ap-"])]).await.len(),
            4
        );
        assert_eq!(
            by(vec![f(FilterKey::OwningService, &["ecr"])]).await.len(),
            0
        );
        let (page, next) = s
            .list(None, 1, false, &[f(FilterKey::Name, &["b/"])])
            .await
            .unwrap();
        assert_eq!(
            (names(page), next.as_deref()),
            (vec!["b/x".to_owned()], Some("b/x"))
        );
    }

    #[tokio::test]
    async fn tags_stay_within_the_limit() {
        let (_dir, _store, s) = secrets().await;
        s.create(&s.new_arn("t"), true, spec("t", None, None))
            .await
            .unwrap();
        let secret = s.resolve("t").await.unwrap().unwrap();
        let many: Vec<_> = (0..MAX_TAGS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        assert!(matches!(
            s.tag(&secret, &many).await,
            Err(SecretsError::TooManyTags)
        ));
        s.tag(&secret, &many[1..]).await.unwrap();
        assert_eq!(s.resolve("t").await.unwrap().unwrap().tags.len(), MAX_TAGS);
    }
}
