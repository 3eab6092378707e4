//! The identity seam: users, groups, roles, access keys and identity policies (IAM-compatible).
//! Access-key secrets arrive and leave sealed: sealing is the core service's job.

use async_trait::async_trait;

use crate::Result;

/// Who an inline policy, tag or attachment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    Group,
    Role,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Group => "group",
            PrincipalKind::Role => "role",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub name: String,
    /// The stable unique id (`AIDA...`), as IAM's `UserId`.
    pub user_id: String,
    pub path: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub user_name: String,
    /// The secret access key, encrypted by the core service.
    pub secret_sealed: Vec<u8>,
    pub active: bool,
    pub created_at: i64,
}

/// A policy document together with a stable id naming where it comes from (for explanations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPolicy {
    pub id: String,
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub name: String,
    /// `AGPA...`, as IAM's `GroupId`.
    pub group_id: String,
    pub path: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRecord {
    pub name: String,
    /// `AROA...`, as IAM's `RoleId`.
    pub role_id: String,
    pub path: String,
    /// The trust policy, as given.
    pub assume_role_policy: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub created_at: i64,
}

/// A customer managed policy; its documents are versions (`v1`, `v2`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicyRecord {
    pub arn: String,
    pub name: String,
    /// `ANPA...`, as IAM's `PolicyId`.
    pub policy_id: String,
    pub path: String,
    pub description: Option<String>,
    pub default_version: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersionRecord {
    pub policy_arn: String,
    pub version_id: String,
    pub document: String,
    pub created_at: i64,
}

/// What a stored policy document governs, which decides how it is parsed and what a document
/// that no longer parses puts at risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOrigin {
    /// An inline policy of a user, group or role, or a managed policy version.
    Identity,
    /// The policy of this repository.
    Repository(String),
    /// The registry policy.
    Registry,
    /// The trust policy of a role.
    RoleTrust,
}

/// A policy document as stored, with a stable id naming where it lives (`user/alice/push`,
/// `arn:aws:iam::...:policy/ci version v2`, `repository/app`, `registry`, `role/builder trust
/// policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicyDocument {
    pub id: String,
    pub origin: PolicyOrigin,
    pub document: String,
}

#[async_trait]
pub trait IamStore: Send + Sync + 'static {
    /// The IAM generation: a counter the store bumps in the same transaction as every change
    /// to identities, keys, policies, repository tags and settings, whoever makes the change
    /// (this process, an offline command, another node). Caches compare it before trusting
    /// an entry, so it must be cheap: one indexed row.
    async fn iam_generation(&self) -> Result<u64>;

    /// Every stored policy document (identity, managed versions, repository, registry, role
    /// trust), for `portcullis doctor` and the start-up check.
    async fn stored_policies(&self) -> Result<Vec<StoredPolicyDocument>>;

    async fn user_count(&self) -> Result<u64>;
    /// `false` when a user of that name exists.
    async fn create_user(&self, user: &UserRecord) -> Result<bool>;
    async fn user(&self, name: &str) -> Result<Option<UserRecord>>;
    async fn list_users(&self) -> Result<Vec<UserRecord>>;
    /// Deletes a user with its keys, inline policies, attachments, tags and memberships.
    async fn delete_user(&self, name: &str) -> Result<bool>;

    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<()>;
    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>>;
    async fn access_keys_of(&self, user: &str) -> Result<Vec<AccessKeyRecord>>;
    async fn set_access_key_active(&self, access_key_id: &str, active: bool) -> Result<bool>;
    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool>;

    async fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
        document: &str,
    ) -> Result<()>;
    async fn inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
    ) -> Result<Option<String>>;
    async fn inline_policy_names(&self, kind: PrincipalKind, owner: &str) -> Result<Vec<String>>;
    async fn delete_inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
    ) -> Result<bool>;

    async fn principal_tags(
        &self,
        kind: PrincipalKind,
        owner: &str,
    ) -> Result<Vec<(String, String)>>;

    /// Every identity policy that applies to a user: its inline policies and attached managed
    /// policies (default version), and those of the groups it belongs to.
    async fn user_identity_policies(&self, user: &str) -> Result<Vec<NamedPolicy>>;

    // ---- groups ----

    /// `false` when a group of that name exists.
    async fn create_group(&self, group: &GroupRecord) -> Result<bool>;
    async fn group(&self, name: &str) -> Result<Option<GroupRecord>>;
    async fn list_groups(&self) -> Result<Vec<GroupRecord>>;
    /// Deletes a group with its inline policies, attachments and memberships.
    async fn delete_group(&self, name: &str) -> Result<bool>;
    /// `false` when the user already is a member.
    async fn add_group_member(&self, group: &str, user: &str) -> Result<bool>;
    async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool>;
    async fn groups_of_user(&self, user: &str) -> Result<Vec<GroupRecord>>;
    async fn group_members(&self, group: &str) -> Result<Vec<UserRecord>>;

    // ---- roles ----

    /// `false` when a role of that name exists.
    async fn create_role(&self, role: &RoleRecord) -> Result<bool>;
    async fn role(&self, name: &str) -> Result<Option<RoleRecord>>;
    async fn list_roles(&self) -> Result<Vec<RoleRecord>>;
    /// Deletes a role with its inline policies, attachments and tags.
    async fn delete_role(&self, name: &str) -> Result<bool>;

    // ---- managed policies ----

    /// Creates the policy with its first version (the record's `default_version`); `false`
    /// when a policy with that ARN exists.
    async fn create_managed_policy(
        &self,
        policy: &ManagedPolicyRecord,
        document: &str,
    ) -> Result<bool>;
    async fn managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicyRecord>>;
    async fn list_managed_policies(&self) -> Result<Vec<ManagedPolicyRecord>>;
    async fn policy_version(&self, arn: &str, version: &str)
        -> Result<Option<PolicyVersionRecord>>;
    async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersionRecord>>;
    /// Deletes a policy with its versions; attachments must be gone first.
    async fn delete_managed_policy(&self, arn: &str) -> Result<bool>;
    /// `false` when already attached.
    async fn attach_policy(&self, kind: PrincipalKind, owner: &str, arn: &str) -> Result<bool>;
    async fn detach_policy(&self, kind: PrincipalKind, owner: &str, arn: &str) -> Result<bool>;
    /// `(policy name, policy ARN)` of the managed policies attached to a principal.
    async fn attached_policies(
        &self,
        kind: PrincipalKind,
        owner: &str,
    ) -> Result<Vec<(String, String)>>;
    async fn policy_attachment_count(&self, arn: &str) -> Result<u64>;

    // ---- tags ----

    /// Adds or overwrites tags.
    async fn put_principal_tags(
        &self,
        kind: PrincipalKind,
        owner: &str,
        tags: &[(String, String)],
    ) -> Result<()>;
    async fn remove_principal_tags(
        &self,
        kind: PrincipalKind,
        owner: &str,
        keys: &[String],
    ) -> Result<()>;
}
