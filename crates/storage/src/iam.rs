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

#[async_trait]
pub trait IamStore: Send + Sync + 'static {
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
}
