//! Identities: users and their access keys, the policies that apply to them, repository and
//! registry policies, and the sealing of secrets at rest.
//!
//! Authorization runs on every request, so the parsed policies are cached. Every change made
//! through this service bumps a generation counter that invalidates the caches at once, which is
//! what makes revoking a key or detaching a policy take effect on the very next request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use portcullis_policy::{Policy, PolicyKind};
use portcullis_storage::meta::now_millis;
use portcullis_storage::{
    AccessKeyRecord, IamStore, MetaStore, PrincipalKind, RepositoryRecord, UserRecord,
};
use rand::Rng;

use crate::{Error, Result};

/// The registry-setting name under which the registry policy is stored.
pub const REGISTRY_POLICY: &str = "registry_policy";

/// Where this registry lives in ARNs.
#[derive(Debug, Clone)]
pub struct IamOptions {
    /// 12-digit account id of the registry.
    pub account_id: String,
    pub region: String,
}

/// A 256-bit key that seals secrets at rest (AES-256-GCM) and from which other keys derive.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MasterKey(bytes)
    }

    pub fn generate() -> Self {
        MasterKey(rand::thread_rng().gen())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// A secret string whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Who an authenticated request acts as, with everything authorization needs, resolved once.
#[derive(Debug)]
pub struct PrincipalSnapshot {
    pub user: UserRecord,
    pub arn: String,
    pub tags: Vec<(String, String)>,
    /// Identity policies with their ids (`user/alice/ci-push`, a managed policy ARN, ...).
    pub policies: Vec<(String, Arc<Policy>)>,
}

/// A freshly created access key: the only moment its secret is visible.
#[derive(Debug)]
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub user_name: String,
}

#[derive(Default)]
struct Caches {
    generation: u64,
    principals: HashMap<String, Arc<PrincipalSnapshot>>,
    repositories: HashMap<String, Option<Arc<RepositoryView>>>,
    registry_policy: Option<Option<Arc<Policy>>>,
}

/// A repository as authorization sees it.
#[derive(Debug)]
pub struct RepositoryView {
    pub record: RepositoryRecord,
    pub policy: Option<Arc<Policy>>,
}

pub struct Iam {
    store: Arc<dyn IamStore>,
    meta: Arc<dyn MetaStore>,
    cipher: Aes256Gcm,
    master: MasterKey,
    options: IamOptions,
    generation: AtomicU64,
    caches: Mutex<Caches>,
}

fn random_id(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::thread_rng();
    let body: String = (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{body}")
}

fn random_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 30] = rand::thread_rng().gen();
    // 40 characters, like AWS secret keys; `+` and `/` are fine in secrets but not in shells.
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .replace(['+', '/'], "x")
}

impl Iam {
    pub fn new(
        store: Arc<dyn IamStore>,
        meta: Arc<dyn MetaStore>,
        master: MasterKey,
        options: IamOptions,
    ) -> Self {
        let cipher = Aes256Gcm::new(master.as_bytes().into());
        Iam {
            store,
            meta,
            cipher,
            master,
            options,
            generation: AtomicU64::new(1),
            caches: Mutex::new(Caches::default()),
        }
    }

    pub fn options(&self) -> &IamOptions {
        &self.options
    }

    pub fn master_key(&self) -> &MasterKey {
        &self.master
    }

    /// Forgets every cached decision input; called after each change.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn caches(&self) -> std::sync::MutexGuard<'_, Caches> {
        let mut c = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.generation.load(Ordering::SeqCst);
        if c.generation != current {
            *c = Caches {
                generation: current,
                ..Caches::default()
            };
        }
        c
    }

    // ---- ARNs ----

    pub fn user_arn(&self, user: &UserRecord) -> String {
        format!(
            "arn:aws:iam::{}:user{}{}",
            self.options.account_id, user.path, user.name
        )
    }

    pub fn repository_arn(&self, repo: &str) -> String {
        format!(
            "arn:aws:ecr:{}:{}:repository/{repo}",
            self.options.region, self.options.account_id
        )
    }

    // ---- sealing ----

    fn seal(&self, plaintext: &str) -> Result<Vec<u8>> {
        let nonce_bytes: [u8; 12] = rand::thread_rng().gen();
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), plaintext.as_bytes())
            .map_err(|_| Error::Sealing("encryption failed".into()))?;
        Ok([nonce_bytes.as_slice(), &sealed].concat())
    }

    fn open(&self, sealed: &[u8]) -> Result<Secret> {
        let (nonce, body) = sealed
            .split_at_checked(12)
            .ok_or_else(|| Error::Sealing("sealed secret is truncated".into()))?;
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| {
                Error::Sealing("a stored secret does not open with this master key".into())
            })?;
        String::from_utf8(plain)
            .map(Secret)
            .map_err(|_| Error::Sealing("a stored secret is not UTF-8".into()))
    }

    // ---- users and keys ----

    /// Creates user `admin` with full access when no identity exists, so that a fresh
    /// registry is closed to everyone but its operator. Returns the new key, if one was made.
    pub async fn bootstrap(&self, key: Option<(String, Secret)>) -> Result<Option<NewAccessKey>> {
        if self.store.user_count().await? > 0 {
            return Ok(None);
        }
        self.create_user("admin", "/").await?;
        self.put_user_policy(
            "admin",
            "AdministratorAccess",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        )
        .await?;
        Ok(Some(self.create_access_key_with("admin", key).await?))
    }

    pub async fn create_user(&self, name: &str, path: &str) -> Result<UserRecord> {
        let user = UserRecord {
            name: name.to_owned(),
            user_id: random_id("AIDA", 17),
            path: path.to_owned(),
            created_at: now_millis(),
        };
        if !self.store.create_user(&user).await? {
            return Err(Error::EntityAlreadyExists(format!(
                "user `{name}` already exists"
            )));
        }
        self.changed();
        Ok(user)
    }

    pub async fn user(&self, name: &str) -> Result<UserRecord> {
        self.store.user(name).await?.ok_or_else(|| {
            Error::NoSuchEntity(format!("the user with name {name} cannot be found"))
        })
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        Ok(self.store.list_users().await?)
    }

    pub async fn delete_user(&self, name: &str) -> Result<()> {
        if !self.store.delete_user(name).await? {
            return Err(Error::NoSuchEntity(format!(
                "the user with name {name} cannot be found"
            )));
        }
        self.changed();
        Ok(())
    }

    pub async fn create_access_key(&self, user: &str) -> Result<NewAccessKey> {
        self.create_access_key_with(user, None).await
    }

    /// Creates a key; with `given`, uses that id and secret (the bootstrap key from the
    /// environment) instead of generating them.
    pub async fn create_access_key_with(
        &self,
        user: &str,
        given: Option<(String, Secret)>,
    ) -> Result<NewAccessKey> {
        self.user(user).await?;
        let (access_key_id, secret) =
            given.unwrap_or_else(|| (random_id("AKIA", 16), Secret(random_secret())));
        let record = AccessKeyRecord {
            access_key_id: access_key_id.clone(),
            user_name: user.to_owned(),
            secret_sealed: self.seal(secret.expose())?,
            active: true,
            created_at: now_millis(),
        };
        self.store.create_access_key(&record).await?;
        self.changed();
        Ok(NewAccessKey {
            access_key_id,
            secret_access_key: secret,
            user_name: user.to_owned(),
        })
    }

    pub async fn access_keys_of(&self, user: &str) -> Result<Vec<AccessKeyRecord>> {
        self.user(user).await?;
        Ok(self.store.access_keys_of(user).await?)
    }

    pub async fn set_access_key_active(&self, access_key_id: &str, active: bool) -> Result<()> {
        if !self
            .store
            .set_access_key_active(access_key_id, active)
            .await?
        {
            return Err(Error::NoSuchEntity(format!(
                "the access key with id {access_key_id} cannot be found"
            )));
        }
        self.changed();
        Ok(())
    }

    pub async fn delete_access_key(&self, access_key_id: &str) -> Result<()> {
        if !self.store.delete_access_key(access_key_id).await? {
            return Err(Error::NoSuchEntity(format!(
                "the access key with id {access_key_id} cannot be found"
            )));
        }
        self.changed();
        Ok(())
    }

    /// The secret of an active access key, for signature verification. `None` when the key is
    /// unknown or inactive: the caller answers both the same way.
    pub async fn active_key_secret(&self, access_key_id: &str) -> Result<Option<Secret>> {
        match self.store.access_key(access_key_id).await? {
            Some(k) if k.active => Ok(Some(self.open(&k.secret_sealed)?)),
            _ => Ok(None),
        }
    }

    /// Who an active access key acts as, with the policies that apply now.
    pub async fn principal_for_key(
        &self,
        access_key_id: &str,
    ) -> Result<Option<Arc<PrincipalSnapshot>>> {
        if let Some(p) = self.caches().principals.get(access_key_id) {
            return Ok(Some(p.clone()));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let key = match self.store.access_key(access_key_id).await? {
            Some(k) if k.active => k,
            _ => return Ok(None),
        };
        let Some(user) = self.store.user(&key.user_name).await? else {
            return Ok(None);
        };
        let tags = self
            .store
            .principal_tags(PrincipalKind::User, &user.name)
            .await?;
        let mut policies = Vec::new();
        for named in self.store.user_identity_policies(&user.name).await? {
            match Policy::parse(&named.document, PolicyKind::Identity) {
                Ok(p) => policies.push((named.id, Arc::new(p))),
                // Stored documents were validated on the way in; one that no longer parses
                // grants nothing rather than failing every request of the user.
                Err(e) => {
                    tracing::warn!(policy = %named.id, error = %e, "ignoring unparsable policy")
                }
            }
        }
        let snapshot = Arc::new(PrincipalSnapshot {
            arn: self.user_arn(&user),
            user,
            tags,
            policies,
        });
        let mut caches = self.caches();
        if caches.generation == generation {
            caches
                .principals
                .insert(access_key_id.to_owned(), snapshot.clone());
        }
        Ok(Some(snapshot))
    }

    // ---- identity policies ----

    pub async fn put_user_policy(&self, user: &str, name: &str, document: &str) -> Result<()> {
        self.user(user).await?;
        parse_policy(document, PolicyKind::Identity)?;
        self.store
            .put_inline_policy(PrincipalKind::User, user, name, document)
            .await?;
        self.changed();
        Ok(())
    }

    pub async fn delete_user_policy(&self, user: &str, name: &str) -> Result<()> {
        if !self
            .store
            .delete_inline_policy(PrincipalKind::User, user, name)
            .await?
        {
            return Err(Error::NoSuchEntity(format!(
                "the user policy with name {name} cannot be found"
            )));
        }
        self.changed();
        Ok(())
    }

    // ---- repository and registry policies ----

    /// The repository and its parsed policy; `None` when the repository does not exist.
    pub async fn repository(&self, repo: &str) -> Result<Option<Arc<RepositoryView>>> {
        if let Some(r) = self.caches().repositories.get(repo) {
            return Ok(r.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let view = match self.meta.repository(repo).await? {
            None => None,
            Some(record) => {
                let policy = match &record.policy {
                    None => None,
                    Some(text) => match Policy::parse(text, PolicyKind::Repository) {
                        Ok(p) => Some(Arc::new(p)),
                        Err(e) => {
                            tracing::warn!(repository = repo, error = %e, "ignoring unparsable repository policy");
                            None
                        }
                    },
                };
                Some(Arc::new(RepositoryView { record, policy }))
            }
        };
        let mut caches = self.caches();
        if caches.generation == generation {
            caches.repositories.insert(repo.to_owned(), view.clone());
        }
        Ok(view)
    }

    pub async fn registry_policy(&self) -> Result<Option<Arc<Policy>>> {
        if let Some(p) = &self.caches().registry_policy {
            return Ok(p.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let policy = match self.meta.registry_setting(REGISTRY_POLICY).await? {
            None => None,
            Some(text) => match Policy::parse(&text, PolicyKind::Registry) {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring unparsable registry policy");
                    None
                }
            },
        };
        let mut caches = self.caches();
        if caches.generation == generation {
            caches.registry_policy = Some(policy.clone());
        }
        Ok(policy)
    }

    /// Creates a repository explicitly (CreateRepository); `false` when it exists.
    pub async fn create_repository(&self, repo: &str, tags: &[(String, String)]) -> Result<bool> {
        let created = self.meta.create_repository(repo, tags).await?;
        self.changed();
        Ok(created)
    }

    pub async fn delete_repository(
        &self,
        repo: &str,
        force: bool,
    ) -> Result<portcullis_storage::DeleteRepository> {
        let outcome = self.meta.delete_repository(repo, force).await?;
        self.changed();
        Ok(outcome)
    }

    pub async fn repository_records(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RepositoryRecord>> {
        Ok(self.meta.repository_records(last, limit).await?)
    }

    /// Sets (after validating it) or clears a repository policy; `false` when the repository
    /// does not exist.
    pub async fn set_repository_policy(&self, repo: &str, document: Option<&str>) -> Result<bool> {
        if let Some(d) = document {
            parse_policy(d, PolicyKind::Repository)?;
        }
        let done = self.meta.set_repository_policy(repo, document).await?;
        self.changed();
        Ok(done)
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

    pub async fn registry_policy_text(&self) -> Result<Option<String>> {
        Ok(self.meta.registry_setting(REGISTRY_POLICY).await?)
    }

    /// Call after anything that changes what [`Iam::repository`] or
    /// [`Iam::registry_policy`] returns (repository creation, deletion, policies, tags).
    pub fn repositories_changed(&self) {
        self.changed();
    }
}

/// Parses a policy for storage, refusing documents the engine would not accept.
pub fn parse_policy(document: &str, kind: PolicyKind) -> Result<Policy> {
    Policy::parse(document, kind).map_err(|e| Error::MalformedPolicy(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_storage::meta::sqlite::SqliteMetaStore;

    async fn iam() -> (tempfile::TempDir, Iam) {
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
        (
            dir,
            Iam::new(store.clone(), store, MasterKey::generate(), options),
        )
    }

    #[tokio::test]
    async fn bootstrap_once_and_keys_seal_and_revoke() {
        let (_dir, iam) = iam().await;
        let given = ("AKIAEXAMPLEBOOT0001".to_owned(), Secret::new("s3cret"));
        let key = iam.bootstrap(Some(given)).await.unwrap().unwrap();
        assert_eq!(key.access_key_id, "AKIAEXAMPLEBOOT0001");
        assert!(iam.bootstrap(None).await.unwrap().is_none());
        assert_eq!(
            iam.active_key_secret("AKIAEXAMPLEBOOT0001").await.unwrap(),
            Some(Secret::new("s3cret"))
        );
        let p = iam
            .principal_for_key("AKIAEXAMPLEBOOT0001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.arn, "arn:aws:iam::111122223333:user/admin");
        assert_eq!(p.policies.len(), 1);
        iam.set_access_key_active("AKIAEXAMPLEBOOT0001", false)
            .await
            .unwrap();
        assert!(iam
            .principal_for_key("AKIAEXAMPLEBOOT0001")
            .await
            .unwrap()
            .is_none());
        assert!(iam
            .active_key_secret("AKIAEXAMPLEBOOT0001")
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn secrets_do_not_open_with_another_master_key() {
        let (_dir, iam) = iam().await;
        let sealed = iam.seal("hello").unwrap();
        assert_eq!(iam.open(&sealed).unwrap().expose(), "hello");
        let other = Aes256Gcm::new((&[7u8; 32]).into());
        let (nonce, body) = sealed.split_at(12);
        assert!(other.decrypt(Nonce::from_slice(nonce), body).is_err());
    }

    #[tokio::test]
    async fn invalid_policies_are_refused() {
        let (_dir, iam) = iam().await;
        iam.create_user("bob", "/").await.unwrap();
        let err = iam
            .put_user_policy("bob", "p", "{\"Statement\": 3}")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::MalformedPolicy(_)));
    }
}
