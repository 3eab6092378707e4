//! Repositories as the ECR API, the OCI handlers and authorization see them: settings, resource
//! tags, policies, lifecycle policy text, creation templates, account settings (BLOB_MOUNTING
//! among them) and the repository quota, in domain types.
//!
//! This service owns the cache of parsed repositories and of the registry policy that every
//! authorization reads. Every change made here empties it (through the [`Generation`] shared
//! with [`crate::Iam`]), so no caller has to remember to; a change made by another node or an
//! offline command bumps the stored generation in the same transaction and is seen within
//! [`crate::generation`]'s window.

use std::collections::HashMap;
use std::sync::Arc;

use portcullis_oci::RepoName;
use portcullis_policy::PolicyKind;
use portcullis_storage::{
    DeleteRepository, DocumentKind, DocumentRecord, MetaStore, NewRepository, RepositoryRecord,
    TagRepository,
};

use crate::generation::{Generation, GenerationCache};
use crate::iam::{parse_policy, ResourcePolicy};
use crate::repository::{choose_template, CreationTemplate, RepositorySettings};
use crate::{Error, IamOptions, Registry, Result};

pub mod cache_rules;

/// The registry-setting name under which the registry policy is stored.
const REGISTRY_POLICY: &str = "registry_policy";
/// Resource tags one repository may carry (ECR's TooManyTagsException limit).
pub const MAX_RESOURCE_TAGS: usize = 50;
/// Creation templates one registry may hold.
pub const MAX_TEMPLATES: usize = 1000;

/// A repository with its settings and its parsed policy.
#[derive(Debug, Clone)]
pub struct Repository {
    pub name: String,
    pub arn: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub settings: RepositorySettings,
    /// Resource tags, by key.
    pub tags: Vec<(String, String)>,
    /// The repository policy as it was set.
    pub policy_text: Option<String>,
    /// The same policy as authorization uses it.
    pub policy: ResourcePolicy,
    pub lifecycle_policy: Option<String>,
    /// Unix milliseconds of the last lifecycle evaluation.
    pub lifecycle_evaluated_at: Option<i64>,
}

/// What a repository is created with (CreateRepository, or a creation template).
#[derive(Debug, Clone, Default)]
pub struct RepositorySpec {
    pub tags: Vec<(String, String)>,
    pub settings: RepositorySettings,
    /// Validated before anything is stored.
    pub policy: Option<String>,
    pub lifecycle_policy: Option<String>,
}

/// What tagging a repository did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagging {
    Done,
    NotFound,
    /// The result would pass [`MAX_RESOURCE_TAGS`]; nothing was changed.
    TooMany,
}

/// What deleting a repository did.
#[derive(Debug, Clone)]
pub enum Deletion {
    /// Deleted; the repository as it was.
    Deleted(Arc<Repository>),
    NotFound,
    /// It still holds images and `force` was not given.
    NotEmpty,
}

/// A repository creation template with its prefix and timestamps (unix milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub prefix: String,
    pub template: CreationTemplate,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What creating a template did.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateCreation {
    Created(Box<Template>),
    /// A template with this prefix exists.
    Exists,
    /// The registry holds [`MAX_TEMPLATES`] already.
    TooMany,
}

/// The account settings ECR's model lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountSetting {
    BasicScanTypeVersion,
    RegistryPolicyScope,
    /// `DISABLED`: a cross-repository mount becomes an ordinary upload.
    BlobMounting,
}

impl AccountSetting {
    pub const ALL: [AccountSetting; 3] = [
        AccountSetting::BasicScanTypeVersion,
        AccountSetting::RegistryPolicyScope,
        AccountSetting::BlobMounting,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AccountSetting::BasicScanTypeVersion => "BASIC_SCAN_TYPE_VERSION",
            AccountSetting::RegistryPolicyScope => "REGISTRY_POLICY_SCOPE",
            AccountSetting::BlobMounting => "BLOB_MOUNTING",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The value of a setting never set.
    pub fn default_value(self) -> &'static str {
        match self {
            AccountSetting::BasicScanTypeVersion => "AWS_NATIVE",
            AccountSetting::RegistryPolicyScope => "V2",
            // Portcullis has always mounted blobs across repositories (docker manifest push
            // needs it).
            AccountSetting::BlobMounting => "ENABLED",
        }
    }

    /// The values the setting takes.
    pub fn values(self) -> &'static [&'static str] {
        match self {
            AccountSetting::BasicScanTypeVersion => &["AWS_NATIVE"],
            AccountSetting::RegistryPolicyScope => &["V2"],
            AccountSetting::BlobMounting => &["ENABLED", "DISABLED"],
        }
    }

    fn key(self) -> String {
        format!("account_setting/{}", self.name())
    }
}

/// Parsed repositories and the registry policy, valid for one generation.
#[derive(Default)]
struct Caches {
    /// Only repositories that exist: a cached absence would outlive a creation that raced with
    /// the lookup that filled it.
    repositories: HashMap<String, Arc<Repository>>,
    registry_policy: Option<ResourcePolicy>,
}

pub struct Repositories {
    meta: Arc<dyn MetaStore>,
    /// Deletes go through the registry, which ends the repository's upload sessions.
    registry: Arc<Registry>,
    options: IamOptions,
    generation: Arc<Generation>,
    caches: GenerationCache<Caches>,
}

impl Repositories {
    /// `generation` is the one [`crate::Iam`] uses ([`crate::Iam::generation`]).
    pub fn new(
        meta: Arc<dyn MetaStore>,
        registry: Arc<Registry>,
        generation: Arc<Generation>,
        options: IamOptions,
    ) -> Self {
        Repositories {
            meta,
            registry,
            options,
            generation,
            caches: GenerationCache::default(),
        }
    }

    pub fn account_id(&self) -> &str {
        &self.options.account_id
    }

    pub fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:ecr:{}:{}:repository/{name}",
            self.options.region, self.options.account_id
        )
    }

    fn changed(&self) {
        self.generation.bump();
    }

    fn repository_of(&self, record: RepositoryRecord) -> Repository {
        let policy = ResourcePolicy::parse(
            format!("repository/{}", record.name),
            record.policy.as_deref(),
            PolicyKind::Repository,
        );
        Repository {
            arn: self.arn(&record.name),
            settings: RepositorySettings::from_stored(record.settings.as_deref()),
            name: record.name,
            created_at: record.created_at,
            tags: record.tags,
            policy_text: record.policy,
            policy,
            lifecycle_policy: record.lifecycle_policy,
            lifecycle_evaluated_at: record.lifecycle_evaluated_at,
        }
    }

    // ---- reading ----

    /// The repository; `None` when it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Arc<Repository>>> {
        let generation = self.generation.current().await?;
        if let Some(r) = self
            .caches
            .at(generation, |c| c.repositories.get(name).cloned())
            .flatten()
        {
            return Ok(Some(r));
        }
        let Some(record) = self.meta.repository(name).await? else {
            return Ok(None);
        };
        let repo = Arc::new(self.repository_of(record));
        self.caches.at(generation, |c| {
            c.repositories.insert(name.to_owned(), repo.clone())
        });
        Ok(Some(repo))
    }

    /// The lifecycle policy and when it was last evaluated, read from the store rather than
    /// the cache: evaluations are bookkeeping that empties no cache.
    pub async fn lifecycle_state(
        &self,
        name: &str,
    ) -> Result<Option<(Option<String>, Option<i64>)>> {
        Ok(self
            .meta
            .repository(name)
            .await?
            .map(|r| (r.lifecycle_policy, r.lifecycle_evaluated_at)))
    }

    /// Up to `limit` repositories after `last`, by name.
    pub async fn list(&self, last: Option<&str>, limit: u32) -> Result<Vec<Repository>> {
        Ok(self
            .meta
            .repository_records(last, limit)
            .await?
            .into_iter()
            .map(|r| self.repository_of(r))
            .collect())
    }

    // ---- creating and deleting ----

    /// Refuses to create a repository beyond the registry's repository quota.
    async fn check_quota(&self) -> Result<()> {
        let max = self.registry.options().max_repositories;
        if self.meta.repository_count().await? >= max {
            return Err(Error::QuotaExceeded(format!(
                "the registry holds {max} repositories, its quota"
            )));
        }
        Ok(())
    }

    /// Creates a repository (CreateRepository): its policy is validated and the quota checked
    /// first. `None` when it exists.
    pub async fn create(
        &self,
        name: &str,
        spec: &RepositorySpec,
    ) -> Result<Option<Arc<Repository>>> {
        if let Some(d) = &spec.policy {
            parse_policy(d, PolicyKind::Repository)?;
        }
        self.check_quota().await?;
        let created = self
            .meta
            .create_repository(name, &stored_spec(spec))
            .await?;
        self.changed();
        if !created {
            return Ok(None);
        }
        self.get(name).await
    }

    /// Creates a missing repository from the creation template that covers its name and
    /// applies to pushes. `Ok(false)` when it existed; `NameUnknown` when no template covers it.
    pub async fn create_on_push(&self, repo: &RepoName) -> Result<bool> {
        if self.meta.repository_exists(repo.as_str()).await? {
            return Ok(false);
        }
        let templates: Vec<(String, CreationTemplate)> = self
            .templates()
            .await?
            .into_iter()
            .map(|t| (t.prefix, t.template))
            .collect();
        let Some((prefix, template)) =
            choose_template(&templates, repo.as_str(), CreationTemplate::CREATE_ON_PUSH)
        else {
            return Err(Error::NameUnknown(repo.to_string()));
        };
        self.check_quota().await?;
        let spec = RepositorySpec {
            tags: template
                .resource_tags
                .iter()
                .map(|t| (t.key.clone(), t.value.clone()))
                .collect(),
            settings: template.settings(),
            policy: template.repository_policy.clone(),
            lifecycle_policy: template.lifecycle_policy.clone(),
        };
        let created = self
            .meta
            .create_repository(repo.as_str(), &stored_spec(&spec))
            .await?;
        self.changed();
        if created {
            tracing::info!(repository = %repo, template = %prefix, "repository created on push");
        }
        Ok(created)
    }

    /// Deletes a repository (with `force`, also one that holds images), ending its upload
    /// sessions.
    pub async fn delete(&self, name: &str, force: bool) -> Result<Deletion> {
        let Some(before) = self.get(name).await? else {
            return Ok(Deletion::NotFound);
        };
        let outcome = self.registry.delete_repository(name, force).await;
        self.changed();
        Ok(match outcome? {
            DeleteRepository::Deleted { .. } => Deletion::Deleted(before),
            DeleteRepository::NotFound => Deletion::NotFound,
            DeleteRepository::NotEmpty => Deletion::NotEmpty,
        })
    }

    // ---- settings, tags, policies ----

    /// Changes a repository's settings with `edit`; the new settings, or `None` when the
    /// repository does not exist.
    pub async fn update_settings(
        &self,
        name: &str,
        edit: impl FnOnce(&mut RepositorySettings),
    ) -> Result<Option<RepositorySettings>> {
        let Some(record) = self.meta.repository(name).await? else {
            return Ok(None);
        };
        let mut settings = RepositorySettings::from_stored(record.settings.as_deref());
        edit(&mut settings);
        let done = self
            .meta
            .set_repository_settings(name, &settings.to_stored())
            .await?;
        self.changed();
        Ok(done.then_some(settings))
    }

    /// Sets or clears the lifecycle policy (checked by the caller with
    /// [`crate::lifecycle::parse`], whose error it words); `false` when the repository does
    /// not exist.
    pub async fn set_lifecycle_policy(&self, name: &str, policy: Option<&str>) -> Result<bool> {
        if let Some(text) = policy {
            crate::lifecycle::parse(text).map_err(|e| Error::Unsupported(e.to_string()))?;
        }
        let done = self.meta.set_lifecycle_policy(name, policy).await?;
        self.changed();
        Ok(done)
    }

    /// Adds or overwrites resource tags, at most [`MAX_RESOURCE_TAGS`] in all.
    pub async fn tag(&self, name: &str, tags: &[(String, String)]) -> Result<Tagging> {
        let outcome = self
            .meta
            .tag_repository(name, tags, MAX_RESOURCE_TAGS)
            .await?;
        self.changed();
        Ok(match outcome {
            TagRepository::Done => Tagging::Done,
            TagRepository::NotFound => Tagging::NotFound,
            TagRepository::TooMany => Tagging::TooMany,
        })
    }

    /// Removes resource tags; `false` when the repository does not exist.
    pub async fn untag(&self, name: &str, keys: &[String]) -> Result<bool> {
        let done = self.meta.untag_repository(name, keys).await?;
        self.changed();
        Ok(done)
    }

    /// Sets (after validating it) or clears a repository policy; `false` when the repository
    /// does not exist.
    pub async fn set_policy(&self, name: &str, document: Option<&str>) -> Result<bool> {
        if let Some(d) = document {
            parse_policy(d, PolicyKind::Repository)?;
        }
        let done = self.meta.set_repository_policy(name, document).await?;
        self.changed();
        Ok(done)
    }

    // ---- the registry ----

    /// The registry policy as authorization uses it.
    pub async fn registry_policy(&self) -> Result<ResourcePolicy> {
        let generation = self.generation.current().await?;
        if let Some(p) = self
            .caches
            .at(generation, |c| c.registry_policy.clone())
            .flatten()
        {
            return Ok(p);
        }
        let text = self.meta.registry_setting(REGISTRY_POLICY).await?;
        let policy =
            ResourcePolicy::parse("registry".to_owned(), text.as_deref(), PolicyKind::Registry);
        self.caches
            .at(generation, |c| c.registry_policy = Some(policy.clone()));
        Ok(policy)
    }

    /// The registry policy as it was set.
    pub async fn registry_policy_text(&self) -> Result<Option<String>> {
        Ok(self.meta.registry_setting(REGISTRY_POLICY).await?)
    }

    /// Sets (after validating it) or clears the registry policy; returns whether one was set.
    pub async fn set_registry_policy(&self, document: Option<&str>) -> Result<bool> {
        if let Some(d) = document {
            parse_policy(d, PolicyKind::Registry)?;
        }
        let existed = self
            .meta
            .set_registry_setting(REGISTRY_POLICY, document)
            .await?;
        self.changed();
        Ok(existed)
    }

    /// The current value of an account setting (its default when never set).
    pub async fn account_setting(&self, setting: AccountSetting) -> Result<String> {
        Ok(self
            .meta
            .registry_setting(&setting.key())
            .await?
            .unwrap_or_else(|| setting.default_value().to_owned()))
    }

    /// Sets an account setting to one of its [`AccountSetting::values`].
    pub async fn set_account_setting(&self, setting: AccountSetting, value: &str) -> Result<()> {
        if !setting.values().contains(&value) {
            return Err(Error::Unsupported(format!(
                "'{value}' is not a value of {}",
                setting.name()
            )));
        }
        self.meta
            .set_registry_setting(&setting.key(), Some(value))
            .await?;
        Ok(())
    }

    /// Whether a cross-repository mount may be answered with a mount (`BLOB_MOUNTING`).
    pub async fn blob_mounting_enabled(&self) -> Result<bool> {
        Ok(self.account_setting(AccountSetting::BlobMounting).await? != "DISABLED")
    }

    // ---- creation templates ----

    /// Every creation template, ordered by prefix.
    pub async fn templates(&self) -> Result<Vec<Template>> {
        Ok(self
            .meta
            .documents(DocumentKind::CreationTemplate)
            .await?
            .into_iter()
            .map(template_of)
            .collect())
    }

    pub async fn template(&self, prefix: &str) -> Result<Option<Template>> {
        Ok(self
            .meta
            .document(DocumentKind::CreationTemplate, prefix)
            .await?
            .map(template_of))
    }

    pub async fn create_template(
        &self,
        prefix: &str,
        template: &CreationTemplate,
    ) -> Result<TemplateCreation> {
        if self
            .meta
            .documents(DocumentKind::CreationTemplate)
            .await?
            .len()
            >= MAX_TEMPLATES
        {
            return Ok(TemplateCreation::TooMany);
        }
        if !self
            .meta
            .create_document(
                DocumentKind::CreationTemplate,
                prefix,
                &template.to_stored(),
            )
            .await?
        {
            return Ok(TemplateCreation::Exists);
        }
        Ok(match self.template(prefix).await? {
            Some(t) => TemplateCreation::Created(Box::new(t)),
            // Deleted by another request between the two statements.
            None => TemplateCreation::Exists,
        })
    }

    /// The updated template; `None` when there is no template with this prefix.
    pub async fn update_template(
        &self,
        prefix: &str,
        template: &CreationTemplate,
    ) -> Result<Option<Template>> {
        if !self
            .meta
            .update_document(
                DocumentKind::CreationTemplate,
                prefix,
                &template.to_stored(),
            )
            .await?
        {
            return Ok(None);
        }
        self.template(prefix).await
    }

    /// The deleted template; `None` when there was none with this prefix.
    pub async fn delete_template(&self, prefix: &str) -> Result<Option<Template>> {
        Ok(self
            .meta
            .delete_document(DocumentKind::CreationTemplate, prefix)
            .await?
            .map(template_of))
    }
}

fn stored_spec(spec: &RepositorySpec) -> NewRepository {
    NewRepository {
        tags: spec.tags.clone(),
        settings: Some(spec.settings.to_stored()),
        policy: spec.policy.clone(),
        lifecycle_policy: spec.lifecycle_policy.clone(),
    }
}

/// A stored template. A document that no longer parses reads as the defaults: still listed,
/// updated or deleted by its prefix, and applied to nothing (its `appliedFor` is empty).
fn template_of(r: DocumentRecord) -> Template {
    Template {
        template: CreationTemplate::from_stored(&r.document).unwrap_or_default(),
        prefix: r.prefix,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generation::GENERATION_MAX_AGE;
    use crate::repository::ResourceTag;
    use crate::RegistryOptions;
    use portcullis_storage::blob::fs::FsBlobStore;
    use portcullis_storage::meta::sqlite::SqliteMetaStore;

    /// A service over the database in `dir`, as one node (or an offline command) has it.
    async fn service(dir: &std::path::Path, max_repositories: u64) -> Repositories {
        let blobs = Arc::new(FsBlobStore::open(dir, false).unwrap());
        let meta = Arc::new(SqliteMetaStore::open(&dir.join("meta.db")).await.unwrap());
        let registry = Arc::new(Registry::new(
            blobs,
            meta.clone(),
            RegistryOptions {
                max_repositories,
                ..RegistryOptions::default()
            },
        ));
        let options = IamOptions {
            account_id: "111122223333".into(),
            region: "eu-west-3".into(),
        };
        Repositories::new(meta.clone(), registry, Generation::new(meta), options)
    }

    const ALLOW_PULL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#;

    #[tokio::test]
    async fn changes_through_the_service_are_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let repos = service(dir.path(), 10).await;
        let spec = RepositorySpec {
            tags: vec![("team".into(), "a".into())],
            ..Default::default()
        };
        let created = repos.create("app", &spec).await.unwrap().unwrap();
        assert_eq!(
            created.arn,
            "arn:aws:ecr:eu-west-3:111122223333:repository/app"
        );
        assert!(matches!(created.policy, ResourcePolicy::Absent));
        assert!(repos.create("app", &spec).await.unwrap().is_none());
        // Cached now; each change below must be visible on the next read with no pause.
        repos.get("app").await.unwrap().unwrap();
        repos.set_policy("app", Some(ALLOW_PULL)).await.unwrap();
        let r = repos.get("app").await.unwrap().unwrap();
        assert!(matches!(r.policy, ResourcePolicy::Parsed(_)));
        assert_eq!(r.policy_text.as_deref(), Some(ALLOW_PULL));
        assert_eq!(
            repos
                .tag("app", &[("env".into(), "prod".into())])
                .await
                .unwrap(),
            Tagging::Done
        );
        assert_eq!(repos.get("app").await.unwrap().unwrap().tags.len(), 2);
        let many: Vec<_> = (0..MAX_RESOURCE_TAGS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        assert_eq!(repos.tag("app", &many).await.unwrap(), Tagging::TooMany);
        let settings = repos
            .update_settings("app", |s| s.scan_on_push = true)
            .await
            .unwrap()
            .unwrap();
        assert!(settings.scan_on_push);
        assert!(
            repos
                .get("app")
                .await
                .unwrap()
                .unwrap()
                .settings
                .scan_on_push
        );
        assert!(repos
            .update_settings("nope", |_| ())
            .await
            .unwrap()
            .is_none());
        assert!(matches!(
            repos.set_policy("app", Some("{}")).await.unwrap_err(),
            Error::MalformedPolicy(_)
        ));
        repos.set_registry_policy(Some(ALLOW_PULL)).await.unwrap();
        assert!(matches!(
            repos.registry_policy().await.unwrap(),
            ResourcePolicy::Parsed(_)
        ));
        repos.set_registry_policy(None).await.unwrap();
        assert!(matches!(
            repos.registry_policy().await.unwrap(),
            ResourcePolicy::Absent
        ));
        match repos.delete("app", false).await.unwrap() {
            Deletion::Deleted(r) => assert_eq!(r.name, "app"),
            other => panic!("{other:?}"),
        }
        assert!(repos.get("app").await.unwrap().is_none());
        assert!(matches!(
            repos.delete("app", false).await.unwrap(),
            Deletion::NotFound
        ));
    }

    #[tokio::test]
    async fn a_change_made_by_another_node_reaches_the_cached_repository() {
        let dir = tempfile::tempdir().unwrap();
        let one = service(dir.path(), 10).await;
        let other = service(dir.path(), 10).await;
        one.create("app", &RepositorySpec::default()).await.unwrap();
        assert!(matches!(
            one.get("app").await.unwrap().unwrap().policy,
            ResourcePolicy::Absent
        ));
        other.set_policy("app", Some(ALLOW_PULL)).await.unwrap();
        other.set_registry_policy(Some(ALLOW_PULL)).await.unwrap();
        tokio::time::sleep(GENERATION_MAX_AGE * 2).await;
        assert!(matches!(
            one.get("app").await.unwrap().unwrap().policy,
            ResourcePolicy::Parsed(_)
        ));
        assert!(matches!(
            one.registry_policy().await.unwrap(),
            ResourcePolicy::Parsed(_)
        ));
    }

    #[tokio::test]
    async fn a_stored_policy_that_does_not_parse_is_broken_not_absent() {
        let dir = tempfile::tempdir().unwrap();
        let repos = service(dir.path(), 10).await;
        repos
            .create("app", &RepositorySpec::default())
            .await
            .unwrap();
        // What an older version could have stored, bypassing validation.
        repos
            .meta
            .set_repository_policy("app", Some(r#"{"Statement":[{"Effect":"Maybe"}]}"#))
            .await
            .unwrap();
        tokio::time::sleep(GENERATION_MAX_AGE * 2).await;
        let r = repos.get("app").await.unwrap().unwrap();
        assert!(
            matches!(&r.policy, ResourcePolicy::Broken(b) if b.id == "repository/app"),
            "{:?}",
            r.policy
        );
    }

    #[tokio::test]
    async fn create_on_push_follows_templates_and_the_quota() {
        let dir = tempfile::tempdir().unwrap();
        let repos = service(dir.path(), 2).await;
        let name: RepoName = "team/app".parse().unwrap();
        // A new registry creates any repository on push, through its seeded ROOT template.
        assert!(repos
            .delete_template(CreationTemplate::ROOT)
            .await
            .unwrap()
            .is_some());
        assert!(matches!(
            repos.create_on_push(&name).await.unwrap_err(),
            Error::NameUnknown(_)
        ));
        let template = CreationTemplate {
            applied_for: vec![CreationTemplate::CREATE_ON_PUSH.to_owned()],
            resource_tags: vec![ResourceTag {
                key: "from".into(),
                value: "template".into(),
            }],
            repository_policy: Some(ALLOW_PULL.into()),
            ..Default::default()
        };
        assert!(matches!(
            repos.create_template("team", &template).await.unwrap(),
            TemplateCreation::Created(t) if t.prefix == "team"
        ));
        assert_eq!(
            repos.create_template("team", &template).await.unwrap(),
            TemplateCreation::Exists
        );
        // A document stored by hand that no longer parses: listed, applied to nothing.
        repos
            .meta
            .create_document(DocumentKind::CreationTemplate, "ops", "not json")
            .await
            .unwrap();
        let listed = repos.templates().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].template.applied_for.is_empty());
        assert!(matches!(
            repos
                .create_on_push(&"ops/x".parse().unwrap())
                .await
                .unwrap_err(),
            Error::NameUnknown(_)
        ));

        assert!(repos.create_on_push(&name).await.unwrap());
        assert!(!repos.create_on_push(&name).await.unwrap());
        let r = repos.get("team/app").await.unwrap().unwrap();
        assert_eq!(r.tags, [("from".to_owned(), "template".to_owned())]);
        assert!(matches!(r.policy, ResourcePolicy::Parsed(_)));
        repos
            .create("two", &RepositorySpec::default())
            .await
            .unwrap();
        assert!(matches!(
            repos
                .create_on_push(&"team/three".parse().unwrap())
                .await
                .unwrap_err(),
            Error::QuotaExceeded(_)
        ));
        assert!(matches!(
            repos
                .create("three", &RepositorySpec::default())
                .await
                .unwrap_err(),
            Error::QuotaExceeded(_)
        ));
        assert!(repos.delete_template("team").await.unwrap().is_some());
        assert!(repos.delete_template("team").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn account_settings_have_defaults_and_only_their_values() {
        let dir = tempfile::tempdir().unwrap();
        let repos = service(dir.path(), 10).await;
        assert!(repos.blob_mounting_enabled().await.unwrap());
        for s in AccountSetting::ALL {
            assert_eq!(AccountSetting::parse(s.name()), Some(s));
            assert_eq!(repos.account_setting(s).await.unwrap(), s.default_value());
        }
        repos
            .set_account_setting(AccountSetting::BlobMounting, "DISABLED")
            .await
            .unwrap();
        assert!(!repos.blob_mounting_enabled().await.unwrap());
        assert!(repos
            .set_account_setting(AccountSetting::BlobMounting, "MAYBE")
            .await
            .is_err());
        assert_eq!(
            repos
                .account_setting(AccountSetting::BlobMounting)
                .await
                .unwrap(),
            "DISABLED"
        );
    }
}
