//! Identities: users, groups, roles and their access keys, the identity policies that apply
//! to them, and the sealing of secrets at rest. Repositories and the registry policy are
//! [`crate::Repositories`]'.
//!
//! Principals are cached parsed, keyed by the shared [`Generation`] (see there), which is what
//! makes revoking a key or detaching a policy take effect on the very next request.
//!
//! A stored policy that no longer parses (stored by an older version, edited by hand) is not
//! dropped: it is kept as [`ResourcePolicy::Broken`] or in [`PrincipalSnapshot::broken`], and
//! authorization denies everything it could have denied.

use std::collections::HashMap;
use std::sync::Arc;

use portcullis_policy::{Policy, PolicyKind};
use portcullis_storage::iam::{
    GroupRecord, ManagedPolicyRecord, NamedPolicy, PolicyOrigin, PolicyVersionRecord, RoleRecord,
};
use portcullis_storage::meta::now_millis;
use portcullis_storage::{AccessKeyRecord, IamStore, PrincipalKind, UserRecord};
use rand::Rng;

use crate::generation::{Generation, GenerationCache};
use crate::sealing::Sealer;
use crate::{Error, Result};

/// Where this registry lives in ARNs.
#[derive(Debug, Clone)]
pub struct IamOptions {
    /// 12-digit account id of the registry.
    pub account_id: String,
    pub region: String,
}

/// IAM's own refusals, beside the registry's errors: IAM makes callers detach before deleting,
/// and caps some counts.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error(transparent)]
    Core(#[from] Error),
}

impl From<portcullis_storage::Error> for IamError {
    fn from(e: portcullis_storage::Error) -> Self {
        IamError::Core(Error::Storage(e))
    }
}

/// A principal with everything attached to it, as GetAccountAuthorizationDetails lists it.
#[derive(Debug, Clone)]
pub struct PrincipalDetail<R> {
    pub record: R,
    /// `(policy name, document)` of its inline policies.
    pub inline: Vec<(String, String)>,
    /// `(policy name, policy ARN)` of its attached managed policies.
    pub attached: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// Group names (users only).
    pub groups: Vec<String>,
}

/// A managed policy with its attachment count and every version.
#[derive(Debug, Clone)]
pub struct ManagedPolicyDetail {
    pub policy: ManagedPolicyRecord,
    pub attachments: u64,
    pub versions: Vec<PolicyVersionRecord>,
}

/// IAM's limit on tags per user or role.
pub const MAX_PRINCIPAL_TAGS: usize = 50;
/// IAM's limit on managed policies attached to one user, group or role.
pub const MAX_ATTACHED_POLICIES: usize = 20;
/// IAM's limit on access keys per user.
pub const MAX_ACCESS_KEYS: usize = 2;

pub use crate::sealing::{MasterKey, Secret};

/// Who an authenticated request acts as, with everything authorization needs, resolved once.
#[derive(Debug)]
pub struct PrincipalSnapshot {
    pub user: UserRecord,
    pub arn: String,
    pub tags: Vec<(String, String)>,
    /// Identity policies with their ids (`user/alice/ci-push`, a managed policy ARN, ...).
    pub policies: Vec<(String, Arc<Policy>)>,
    /// Identity policies that apply to the user but no longer parse. Any of their statements
    /// could have been a Deny, so while one is here every action of the user is denied.
    pub broken: Vec<Arc<BrokenPolicy>>,
}

/// A stored policy that does not parse: where it is and why, for the 403, the log and
/// `portcullis doctor`. The error stays out of the 403 (it may quote the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenPolicy {
    /// `repository/app`, `registry`, `user/alice/push`, a managed policy ARN, ...
    pub id: String,
    pub error: String,
}

/// A repository or registry policy as authorization sees it.
#[derive(Debug, Clone)]
pub enum ResourcePolicy {
    Absent,
    Parsed(Arc<Policy>),
    /// Fails closed: every action the policy governs is denied until it is fixed or removed.
    Broken(Arc<BrokenPolicy>),
}

impl ResourcePolicy {
    pub(crate) fn parse(id: String, text: Option<&str>, kind: PolicyKind) -> ResourcePolicy {
        let Some(text) = text else {
            return ResourcePolicy::Absent;
        };
        match Policy::parse(text, kind) {
            Ok(p) => ResourcePolicy::Parsed(Arc::new(p)),
            Err(e) => {
                tracing::error!(
                    policy = %id,
                    error = %e,
                    "stored policy does not parse: denying every action it governs until it is \
                     fixed or removed (see `portcullis doctor`)"
                );
                ResourcePolicy::Broken(Arc::new(BrokenPolicy {
                    id,
                    error: e.to_string(),
                }))
            }
        }
    }
}

/// A freshly created access key: the only moment its secret is visible.
#[derive(Debug)]
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub user_name: String,
}

/// Parsed principals, valid for one generation.
#[derive(Default)]
struct Caches {
    principals: HashMap<String, Arc<PrincipalSnapshot>>,
}

pub struct Iam {
    store: Arc<dyn IamStore>,
    sealer: Sealer,
    master: MasterKey,
    options: IamOptions,
    generation: Arc<Generation>,
    caches: GenerationCache<Caches>,
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
    /// `generation` is shared with the [`crate::Repositories`] of the same deployment.
    pub fn new(
        store: Arc<dyn IamStore>,
        generation: Arc<Generation>,
        master: MasterKey,
        options: IamOptions,
    ) -> Self {
        Iam {
            store,
            sealer: Sealer::new(&master),
            master,
            options,
            generation,
            caches: GenerationCache::default(),
        }
    }

    pub fn options(&self) -> &IamOptions {
        &self.options
    }

    pub fn master_key(&self) -> &MasterKey {
        &self.master
    }

    fn changed(&self) {
        self.generation.bump();
    }

    // ---- ARNs ----

    pub fn user_arn(&self, user: &UserRecord) -> String {
        format!(
            "arn:aws:iam::{}:user{}{}",
            self.options.account_id, user.path, user.name
        )
    }

    // ---- sealing ----

    // Access-key secrets are sealed with the empty context, as they were before `sealing`.
    fn seal(&self, plaintext: &str) -> Result<Vec<u8>> {
        self.sealer.seal(plaintext.as_bytes(), b"")
    }

    fn open(&self, sealed: &[u8]) -> Result<Secret> {
        self.sealer.open_string(sealed, b"")
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
            Error::NoSuchEntity(format!("The user with name {name} cannot be found."))
        })
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        Ok(self.store.list_users().await?)
    }

    /// Deletes a user that has nothing left attached: as IAM does, keys, inline and attached
    /// policies and group memberships must be removed first.
    pub async fn delete_user(&self, name: &str) -> Result<(), IamError> {
        self.user(name).await?;
        let mut held = Vec::new();
        if !self.store.access_keys_of(name).await?.is_empty() {
            held.push("access keys");
        }
        if !self
            .store
            .inline_policy_names(PrincipalKind::User, name)
            .await?
            .is_empty()
        {
            held.push("inline policies");
        }
        if !self
            .store
            .attached_policies(PrincipalKind::User, name)
            .await?
            .is_empty()
        {
            held.push("attached policies");
        }
        if !self.store.groups_of_user(name).await?.is_empty() {
            held.push("group memberships");
        }
        if !held.is_empty() {
            return Err(IamError::DeleteConflict(format!(
                "Cannot delete entity, must remove {} first.",
                held.join(", ")
            )));
        }
        if !self.store.delete_user(name).await? {
            return Err(
                Error::NoSuchEntity(format!("The user with name {name} cannot be found.")).into(),
            );
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
            given.unwrap_or_else(|| (random_id("AKIA", 16), Secret::new(random_secret())));
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
                "The Access Key with id {access_key_id} cannot be found."
            )));
        }
        self.changed();
        Ok(())
    }

    pub async fn delete_access_key(&self, access_key_id: &str) -> Result<()> {
        if !self.store.delete_access_key(access_key_id).await? {
            return Err(Error::NoSuchEntity(format!(
                "The Access Key with id {access_key_id} cannot be found."
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
        let generation = self.generation.current().await?;
        let cached = self
            .caches
            .at(generation, |c| c.principals.get(access_key_id).cloned())
            .flatten();
        if let Some(p) = cached {
            return Ok(Some(p));
        }
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
        let mut broken = Vec::new();
        for named in self.store.user_identity_policies(&user.name).await? {
            match Policy::parse(&named.document, PolicyKind::Identity) {
                Ok(p) => policies.push((named.id, Arc::new(p))),
                // Stored documents were validated on the way in, so this one was stored by an
                // older version or by hand. Dropping it would drop its Denies with it.
                Err(e) => {
                    tracing::error!(
                        policy = %named.id,
                        user = %user.name,
                        error = %e,
                        "stored identity policy does not parse: denying every action of the \
                         user until it is fixed or removed (see `portcullis doctor`)"
                    );
                    broken.push(Arc::new(BrokenPolicy {
                        id: named.id,
                        error: e.to_string(),
                    }));
                }
            }
        }
        let snapshot = Arc::new(PrincipalSnapshot {
            arn: self.user_arn(&user),
            user,
            tags,
            policies,
            broken,
        });
        self.caches.at(generation, |c| {
            c.principals
                .insert(access_key_id.to_owned(), snapshot.clone())
        });
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
        self.user(user).await?;
        if !self
            .store
            .delete_inline_policy(PrincipalKind::User, user, name)
            .await?
        {
            return Err(Error::NoSuchEntity(format!(
                "The user policy with name {name} cannot be found."
            )));
        }
        self.changed();
        Ok(())
    }

    // ---- diagnostics ----

    /// Every stored policy that no longer parses, with why: what `portcullis doctor` and the
    /// start-up log report. Role trust policies are checked too, though no decision uses them
    /// yet.
    pub async fn broken_policies(&self) -> Result<Vec<(PolicyOrigin, BrokenPolicy)>> {
        let mut out = Vec::new();
        for stored in self.store.stored_policies().await? {
            let kind = match &stored.origin {
                PolicyOrigin::Identity => PolicyKind::Identity,
                PolicyOrigin::Repository(_) | PolicyOrigin::RoleTrust => PolicyKind::Repository,
                PolicyOrigin::Registry => PolicyKind::Registry,
            };
            if let Err(e) = Policy::parse(&stored.document, kind) {
                out.push((
                    stored.origin,
                    BrokenPolicy {
                        id: stored.id,
                        error: e.to_string(),
                    },
                ));
            }
        }
        Ok(out)
    }

    /// The stored IAM generation, for tests and diagnostics.
    pub async fn stored_generation(&self) -> Result<u64> {
        self.generation.stored().await
    }

    /// The change counter this service's caches are keyed by, to share with
    /// [`crate::Repositories`].
    pub fn generation(&self) -> &Arc<Generation> {
        &self.generation
    }

    // ---- the IAM admin API: identities, policies, tags ----

    pub fn account_id(&self) -> &str {
        &self.options.account_id
    }

    /// `arn:aws:iam::ACCOUNT:<kind><path><name>`, as IAM builds every principal ARN.
    pub fn iam_arn(&self, kind: &str, path: &str, name: &str) -> String {
        format!(
            "arn:aws:iam::{}:{kind}{path}{name}",
            self.options.account_id
        )
    }

    /// The stored user, group or role whose ARN is exactly `arn` (account, path and name),
    /// else `None`: an ARN that only ends in a principal's name is not that principal.
    pub async fn principal_by_arn(&self, arn: &str) -> Result<Option<(PrincipalKind, String)>> {
        let prefix = format!("arn:aws:iam::{}:", self.options.account_id);
        let Some(resource) = arn.strip_prefix(&prefix) else {
            return Ok(None);
        };
        let Some((kind, rest)) = resource.split_once('/') else {
            return Ok(None);
        };
        let kind = match kind {
            "user" => PrincipalKind::User,
            "group" => PrincipalKind::Group,
            "role" => PrincipalKind::Role,
            _ => return Ok(None),
        };
        let Some(name) = rest.rsplit('/').next().filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        let path = match kind {
            PrincipalKind::User => self.store.user(name).await?.map(|u| u.path),
            PrincipalKind::Group => self.store.group(name).await?.map(|g| g.path),
            PrincipalKind::Role => self.store.role(name).await?.map(|r| r.path),
        };
        Ok(path
            .filter(|path| self.iam_arn(kind.as_str(), path, name) == arn)
            .map(|_| (kind, name.to_owned())))
    }

    /// The tags of the user or role `arn` names exactly (groups have none), for the
    /// `aws:ResourceTag/*` keys of IAM actions on it; none when it does not exist.
    pub async fn resource_tags_of_arn(&self, arn: &str) -> Result<Vec<(String, String)>> {
        match self.principal_by_arn(arn).await? {
            Some((kind @ (PrincipalKind::User | PrincipalKind::Role), name)) => {
                Ok(self.store.principal_tags(kind, &name).await?)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Accepts a new access key only while the user has fewer than IAM's two.
    pub async fn create_access_key_limited(&self, user: &str) -> Result<NewAccessKey, IamError> {
        if self.access_keys_of(user).await?.len() >= MAX_ACCESS_KEYS {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}"
            )));
        }
        Ok(self.create_access_key(user).await?)
    }

    /// The key's record when it exists and belongs to `user` (UpdateAccessKey and
    /// DeleteAccessKey name both).
    pub async fn access_key_of(&self, user: &str, access_key_id: &str) -> Result<AccessKeyRecord> {
        self.user(user).await?;
        match self.store.access_key(access_key_id).await? {
            Some(k) if k.user_name == user => Ok(k),
            _ => Err(Error::NoSuchEntity(format!(
                "The Access Key with id {access_key_id} cannot be found."
            ))),
        }
    }

    /// Fails with NoSuchEntity when the principal does not exist.
    pub async fn ensure_principal(&self, kind: PrincipalKind, name: &str) -> Result<()> {
        let exists = match kind {
            PrincipalKind::User => self.store.user(name).await?.is_some(),
            PrincipalKind::Group => self.store.group(name).await?.is_some(),
            PrincipalKind::Role => self.store.role(name).await?.is_some(),
        };
        if exists {
            Ok(())
        } else {
            let what = match kind {
                PrincipalKind::User => "user",
                PrincipalKind::Group => "group",
                PrincipalKind::Role => "role",
            };
            Err(Error::NoSuchEntity(format!(
                "The {what} with name {name} cannot be found."
            )))
        }
    }

    // inline policies of users, groups and roles

    pub async fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
        document: &str,
    ) -> Result<()> {
        self.ensure_principal(kind, owner).await?;
        parse_policy(document, PolicyKind::Identity)?;
        self.store
            .put_inline_policy(kind, owner, name, document)
            .await?;
        self.changed();
        Ok(())
    }

    pub async fn inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
    ) -> Result<String> {
        self.ensure_principal(kind, owner).await?;
        self.store
            .inline_policy(kind, owner, name)
            .await?
            .ok_or_else(|| {
                Error::NoSuchEntity(format!(
                    "The {} policy with name {name} cannot be found.",
                    kind.as_str()
                ))
            })
    }

    pub async fn inline_policy_names(
        &self,
        kind: PrincipalKind,
        owner: &str,
    ) -> Result<Vec<String>> {
        self.ensure_principal(kind, owner).await?;
        Ok(self.store.inline_policy_names(kind, owner).await?)
    }

    pub async fn delete_inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
    ) -> Result<()> {
        self.ensure_principal(kind, owner).await?;
        if !self.store.delete_inline_policy(kind, owner, name).await? {
            return Err(Error::NoSuchEntity(format!(
                "The {} policy with name {name} cannot be found.",
                kind.as_str()
            )));
        }
        self.changed();
        Ok(())
    }

    // groups

    pub async fn create_group(&self, name: &str, path: &str) -> Result<GroupRecord> {
        let group = GroupRecord {
            name: name.to_owned(),
            group_id: random_id("AGPA", 17),
            path: path.to_owned(),
            created_at: now_millis(),
        };
        if !self.store.create_group(&group).await? {
            return Err(Error::EntityAlreadyExists(format!(
                "Group with name {name} already exists."
            )));
        }
        self.changed();
        Ok(group)
    }

    pub async fn group(&self, name: &str) -> Result<GroupRecord> {
        self.store.group(name).await?.ok_or_else(|| {
            Error::NoSuchEntity(format!("The group with name {name} cannot be found."))
        })
    }

    pub async fn list_groups(&self) -> Result<Vec<GroupRecord>> {
        Ok(self.store.list_groups().await?)
    }

    pub async fn group_members(&self, name: &str) -> Result<Vec<UserRecord>> {
        self.group(name).await?;
        Ok(self.store.group_members(name).await?)
    }

    pub async fn groups_of_user(&self, user: &str) -> Result<Vec<GroupRecord>> {
        self.user(user).await?;
        Ok(self.store.groups_of_user(user).await?)
    }

    /// Deletes a group without members or policies (IAM's DeleteConflict otherwise).
    pub async fn delete_group(&self, name: &str) -> Result<(), IamError> {
        self.group(name).await?;
        let mut held = Vec::new();
        if !self.store.group_members(name).await?.is_empty() {
            held.push("users");
        }
        if !self
            .store
            .inline_policy_names(PrincipalKind::Group, name)
            .await?
            .is_empty()
        {
            held.push("inline policies");
        }
        if !self
            .store
            .attached_policies(PrincipalKind::Group, name)
            .await?
            .is_empty()
        {
            held.push("attached policies");
        }
        if !held.is_empty() {
            return Err(IamError::DeleteConflict(format!(
                "Cannot delete entity, must remove {} first.",
                held.join(", ")
            )));
        }
        self.store.delete_group(name).await?;
        self.changed();
        Ok(())
    }

    pub async fn add_user_to_group(&self, group: &str, user: &str) -> Result<()> {
        self.group(group).await?;
        self.user(user).await?;
        self.store.add_group_member(group, user).await?;
        self.changed();
        Ok(())
    }

    pub async fn remove_user_from_group(&self, group: &str, user: &str) -> Result<()> {
        self.group(group).await?;
        self.user(user).await?;
        if !self.store.remove_group_member(group, user).await? {
            return Err(Error::NoSuchEntity(format!(
                "User {user} is not in group {group}."
            )));
        }
        self.changed();
        Ok(())
    }

    // roles

    /// Creates a role after checking its trust policy (a resource-based document: it names
    /// principals and has no Resource).
    pub async fn create_role(
        &self,
        name: &str,
        path: &str,
        trust_policy: &str,
        description: Option<&str>,
        max_session_duration: i64,
    ) -> Result<RoleRecord> {
        parse_trust_policy(trust_policy)?;
        let role = RoleRecord {
            name: name.to_owned(),
            role_id: random_id("AROA", 17),
            path: path.to_owned(),
            assume_role_policy: trust_policy.to_owned(),
            description: description.map(str::to_owned),
            max_session_duration,
            created_at: now_millis(),
        };
        if !self.store.create_role(&role).await? {
            return Err(Error::EntityAlreadyExists(format!(
                "Role with name {name} already exists."
            )));
        }
        self.changed();
        Ok(role)
    }

    pub async fn role(&self, name: &str) -> Result<RoleRecord> {
        self.store.role(name).await?.ok_or_else(|| {
            Error::NoSuchEntity(format!("The role with name {name} cannot be found."))
        })
    }

    pub async fn list_roles(&self) -> Result<Vec<RoleRecord>> {
        Ok(self.store.list_roles().await?)
    }

    /// Deletes a role without policies (IAM's DeleteConflict otherwise).
    pub async fn delete_role(&self, name: &str) -> Result<(), IamError> {
        self.role(name).await?;
        let inline = self
            .store
            .inline_policy_names(PrincipalKind::Role, name)
            .await?;
        let attached = self
            .store
            .attached_policies(PrincipalKind::Role, name)
            .await?;
        if !inline.is_empty() || !attached.is_empty() {
            return Err(IamError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".to_owned(),
            ));
        }
        self.store.delete_role(name).await?;
        self.changed();
        Ok(())
    }

    // managed policies

    /// Creates a customer managed policy whose default version `v1` is `document`.
    pub async fn create_policy(
        &self,
        name: &str,
        path: &str,
        description: Option<&str>,
        document: &str,
    ) -> Result<ManagedPolicyRecord> {
        parse_policy(document, PolicyKind::Identity)?;
        let now = now_millis();
        let record = ManagedPolicyRecord {
            arn: self.iam_arn("policy", path, name),
            name: name.to_owned(),
            policy_id: random_id("ANPA", 17),
            path: path.to_owned(),
            description: description.map(str::to_owned),
            default_version: "v1".to_owned(),
            created_at: now,
            updated_at: now,
        };
        // IAM keys policies by name within the account, whatever their path.
        if self
            .store
            .list_managed_policies()
            .await?
            .iter()
            .any(|p| p.name == name)
            || !self.store.create_managed_policy(&record, document).await?
        {
            return Err(Error::EntityAlreadyExists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        self.changed();
        Ok(record)
    }

    pub async fn policy(&self, arn: &str) -> Result<ManagedPolicyRecord> {
        self.store.managed_policy(arn).await?.ok_or_else(|| {
            Error::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
        })
    }

    pub async fn list_policies(&self) -> Result<Vec<ManagedPolicyRecord>> {
        Ok(self.store.list_managed_policies().await?)
    }

    pub async fn policy_attachment_count(&self, arn: &str) -> Result<u64> {
        Ok(self.store.policy_attachment_count(arn).await?)
    }

    pub async fn policy_version(&self, arn: &str, version: &str) -> Result<PolicyVersionRecord> {
        self.policy(arn).await?;
        self.store
            .policy_version(arn, version)
            .await?
            .ok_or_else(|| {
                Error::NoSuchEntity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                ))
            })
    }

    pub async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersionRecord>> {
        Ok(self.store.policy_versions(arn).await?)
    }

    /// Deletes a policy attached nowhere (IAM's DeleteConflict otherwise).
    pub async fn delete_policy(&self, arn: &str) -> Result<(), IamError> {
        self.policy(arn).await?;
        if self.store.policy_attachment_count(arn).await? > 0 {
            return Err(IamError::DeleteConflict(
                "Cannot delete a policy attached to entities.".to_owned(),
            ));
        }
        self.store.delete_managed_policy(arn).await?;
        self.changed();
        Ok(())
    }

    pub async fn attach_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        arn: &str,
    ) -> Result<(), IamError> {
        self.ensure_principal(kind, owner).await?;
        self.policy(arn).await?;
        let attached = self.store.attached_policies(kind, owner).await?;
        if !attached.iter().any(|(_, a)| a == arn) && attached.len() >= MAX_ATTACHED_POLICIES {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for PoliciesPer{}: {MAX_ATTACHED_POLICIES}",
                capitalized(kind)
            )));
        }
        self.store.attach_policy(kind, owner, arn).await?;
        self.changed();
        Ok(())
    }

    pub async fn detach_policy(&self, kind: PrincipalKind, owner: &str, arn: &str) -> Result<()> {
        self.ensure_principal(kind, owner).await?;
        self.policy(arn).await?;
        if !self.store.detach_policy(kind, owner, arn).await? {
            return Err(Error::NoSuchEntity(format!("Policy {arn} was not found.")));
        }
        self.changed();
        Ok(())
    }

    /// `(policy name, policy ARN)` of the managed policies attached to a principal.
    pub async fn attached_policies(
        &self,
        kind: PrincipalKind,
        owner: &str,
    ) -> Result<Vec<(String, String)>> {
        self.ensure_principal(kind, owner).await?;
        Ok(self.store.attached_policies(kind, owner).await?)
    }

    // tags

    pub async fn tags(&self, kind: PrincipalKind, owner: &str) -> Result<Vec<(String, String)>> {
        self.ensure_principal(kind, owner).await?;
        Ok(self.store.principal_tags(kind, owner).await?)
    }

    /// Adds or overwrites tags, keeping to IAM's 50 per principal.
    pub async fn tag(
        &self,
        kind: PrincipalKind,
        owner: &str,
        tags: &[(String, String)],
    ) -> Result<(), IamError> {
        let current = self.tags(kind, owner).await?;
        let added = tags
            .iter()
            .filter(|(k, _)| !current.iter().any(|(c, _)| c == k))
            .count();
        if current.len() + added > MAX_PRINCIPAL_TAGS {
            return Err(IamError::LimitExceeded(format!(
                "The number of tags has reached the maximum limit of {MAX_PRINCIPAL_TAGS}."
            )));
        }
        self.store.put_principal_tags(kind, owner, tags).await?;
        self.changed();
        Ok(())
    }

    pub async fn untag(&self, kind: PrincipalKind, owner: &str, keys: &[String]) -> Result<()> {
        self.ensure_principal(kind, owner).await?;
        self.store.remove_principal_tags(kind, owner, keys).await?;
        self.changed();
        Ok(())
    }

    /// Everything attached to a principal (`name` of a user, group or role record).
    pub async fn principal_detail<R>(
        &self,
        kind: PrincipalKind,
        name: &str,
        record: R,
    ) -> Result<PrincipalDetail<R>> {
        let mut inline = Vec::new();
        for policy in self.store.inline_policy_names(kind, name).await? {
            if let Some(doc) = self.store.inline_policy(kind, name, &policy).await? {
                inline.push((policy, doc));
            }
        }
        let groups = if kind == PrincipalKind::User {
            self.store
                .groups_of_user(name)
                .await?
                .into_iter()
                .map(|g| g.name)
                .collect()
        } else {
            Vec::new()
        };
        Ok(PrincipalDetail {
            record,
            inline,
            attached: self.store.attached_policies(kind, name).await?,
            tags: self.store.principal_tags(kind, name).await?,
            groups,
        })
    }

    pub async fn managed_policy_detail(
        &self,
        policy: ManagedPolicyRecord,
    ) -> Result<ManagedPolicyDetail> {
        Ok(ManagedPolicyDetail {
            attachments: self.store.policy_attachment_count(&policy.arn).await?,
            versions: self.store.policy_versions(&policy.arn).await?,
            policy,
        })
    }

    /// The identity policies of a principal as the engine sees them: for a user its own and
    /// its groups' inline and attached policies; for a group or a role their own.
    pub async fn identity_policies(
        &self,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<Vec<NamedPolicy>> {
        self.ensure_principal(kind, name).await?;
        if kind == PrincipalKind::User {
            return Ok(self.store.user_identity_policies(name).await?);
        }
        let mut out = Vec::new();
        for policy in self.store.inline_policy_names(kind, name).await? {
            if let Some(document) = self.store.inline_policy(kind, name, &policy).await? {
                out.push(NamedPolicy {
                    id: format!("{}/{name}/{policy}", kind.as_str()),
                    document,
                });
            }
        }
        for (_, arn) in self.store.attached_policies(kind, name).await? {
            if let Some(p) = self.store.managed_policy(&arn).await? {
                if let Some(v) = self.store.policy_version(&arn, &p.default_version).await? {
                    out.push(NamedPolicy {
                        id: arn,
                        document: v.document,
                    });
                }
            }
        }
        Ok(out)
    }
}

fn capitalized(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "User",
        PrincipalKind::Group => "Group",
        PrincipalKind::Role => "Role",
    }
}

/// Checks a role trust policy: a resource-based document (principals, no resource).
pub fn parse_trust_policy(document: &str) -> Result<Policy> {
    Policy::parse(document, PolicyKind::Repository)
        .map_err(|e| Error::MalformedPolicy(e.to_string()))
}

/// Parses a policy for storage, refusing documents the engine would not accept.
pub fn parse_policy(document: &str, kind: PolicyKind) -> Result<Policy> {
    Policy::parse(document, kind).map_err(|e| Error::MalformedPolicy(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generation::GENERATION_MAX_AGE;
    use portcullis_storage::meta::sqlite::SqliteMetaStore;
    use portcullis_storage::MetaStore;

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
            Iam::new(
                store.clone(),
                Generation::new(store),
                MasterKey::generate(),
                options,
            ),
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
        let other = Sealer::new(&MasterKey::from_bytes([7u8; 32]));
        assert!(other.open(&sealed, b"").is_err());
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

    #[tokio::test]
    async fn groups_roles_managed_policies_and_delete_conflicts() {
        let (_dir, iam) = iam().await;
        let allow_iam = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::111122223333:user/*"}]}"#;
        iam.create_user("dev", "/").await.unwrap();
        iam.create_group("devs", "/").await.unwrap();
        assert!(matches!(
            iam.create_group("devs", "/").await.unwrap_err(),
            Error::EntityAlreadyExists(_)
        ));
        iam.add_user_to_group("devs", "dev").await.unwrap();
        let key = iam.create_access_key("dev").await.unwrap();
        let p = iam
            .create_policy("read-users", "/", None, allow_iam)
            .await
            .unwrap();
        assert_eq!(p.arn, "arn:aws:iam::111122223333:policy/read-users");
        iam.attach_policy(PrincipalKind::Group, "devs", &p.arn)
            .await
            .unwrap();
        let snap = iam
            .principal_for_key(&key.access_key_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(snap.policies.len(), 1);
        assert!(matches!(
            iam.delete_policy(&p.arn).await.unwrap_err(),
            IamError::DeleteConflict(_)
        ));
        assert!(matches!(
            iam.delete_group("devs").await.unwrap_err(),
            IamError::DeleteConflict(_)
        ));
        assert!(matches!(
            iam.delete_user("dev").await.unwrap_err(),
            IamError::DeleteConflict(_)
        ));
        iam.detach_policy(PrincipalKind::Group, "devs", &p.arn)
            .await
            .unwrap();
        // Detaching takes effect at once for an already resolved key.
        let snap = iam
            .principal_for_key(&key.access_key_id)
            .await
            .unwrap()
            .unwrap();
        assert!(snap.policies.is_empty());
        iam.remove_user_from_group("devs", "dev").await.unwrap();
        iam.delete_access_key(&key.access_key_id).await.unwrap();
        iam.delete_user("dev").await.unwrap();
        iam.delete_group("devs").await.unwrap();
        iam.delete_policy(&p.arn).await.unwrap();

        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        iam.create_role("builder", "/ci/", trust, Some("d"), 3600)
            .await
            .unwrap();
        assert!(matches!(
            iam.create_role("bad", "/", "{}", None, 3600)
                .await
                .unwrap_err(),
            Error::MalformedPolicy(_)
        ));
        iam.put_inline_policy(PrincipalKind::Role, "builder", "p", allow_iam)
            .await
            .unwrap();
        assert!(matches!(
            iam.delete_role("builder").await.unwrap_err(),
            IamError::DeleteConflict(_)
        ));
        assert_eq!(
            iam.identity_policies(PrincipalKind::Role, "builder")
                .await
                .unwrap()
                .len(),
            1
        );
        iam.delete_inline_policy(PrincipalKind::Role, "builder", "p")
            .await
            .unwrap();
        iam.tag(
            PrincipalKind::Role,
            "builder",
            &[("team".into(), "ci".into())],
        )
        .await
        .unwrap();
        let many: Vec<(String, String)> =
            (0..50).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(matches!(
            iam.tag(PrincipalKind::Role, "builder", &many)
                .await
                .unwrap_err(),
            IamError::LimitExceeded(_)
        ));
        iam.delete_role("builder").await.unwrap();
    }

    #[tokio::test]
    async fn a_change_made_by_another_process_reaches_the_cached_principal() {
        let (dir, iam) = iam().await;
        let key = iam.bootstrap(None).await.unwrap().unwrap();
        assert!(iam
            .principal_for_key(&key.access_key_id)
            .await
            .unwrap()
            .is_some());
        // Another `Iam` on the same database: what an offline command is.
        let other_store = Arc::new(
            SqliteMetaStore::open(&dir.path().join("m.sqlite"))
                .await
                .unwrap(),
        );
        let before = iam.stored_generation().await.unwrap();
        let other = Iam::new(
            other_store.clone(),
            Generation::new(other_store),
            iam.master_key().clone(),
            iam.options().clone(),
        );
        other
            .set_access_key_active(&key.access_key_id, false)
            .await
            .unwrap();
        assert!(iam.stored_generation().await.unwrap() > before);
        tokio::time::sleep(GENERATION_MAX_AGE * 2).await;
        assert!(iam
            .principal_for_key(&key.access_key_id)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn stored_policies_that_do_not_parse_fail_closed_and_are_listed() {
        let (dir, iam) = iam().await;
        let key = iam.bootstrap(None).await.unwrap().unwrap();
        let meta = SqliteMetaStore::open(&dir.path().join("m.sqlite"))
            .await
            .unwrap();
        meta.create_repository("app", &portcullis_storage::NewRepository::default())
            .await
            .unwrap();
        // What an older version could have stored: no longer valid JSON policy grammar.
        meta.set_repository_policy("app", Some(r#"{"Statement":[{"Effect":"Maybe"}]}"#))
            .await
            .unwrap();
        iam.store
            .put_inline_policy(PrincipalKind::User, "admin", "old", "{\"Statement\": 3}")
            .await
            .unwrap();
        tokio::time::sleep(GENERATION_MAX_AGE * 2).await;
        let p = iam
            .principal_for_key(&key.access_key_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.broken.len(), 1);
        assert_eq!(p.broken[0].id, "user/admin/old");
        let ids: Vec<String> = iam
            .broken_policies()
            .await
            .unwrap()
            .into_iter()
            .map(|(_, b)| b.id)
            .collect();
        assert_eq!(ids, ["user/admin/old", "repository/app"]);
    }
}
