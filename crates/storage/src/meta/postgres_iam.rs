//! [`IamStore`] on the PostgreSQL metadata database.
//!
//! Every write is one READ COMMITTED transaction (or one statement) and is run again on a
//! deadlock: the IAM generation triggers make all IAM writes, on every node, update one row,
//! so two writes that lock their own rows first can meet there in opposite orders. Creations
//! are `INSERT ... ON CONFLICT DO NOTHING`, so exactly one node wins a race.

use async_trait::async_trait;
use sqlx::Row;

use sqlx::postgres::PgRow;

use super::postgres::{retrying, PgMetaStore};
use crate::iam::{
    AccessKeyRecord, GroupRecord, IamStore, ManagedPolicyRecord, NamedPolicy, PolicyOrigin,
    PolicyVersionRecord, PrincipalKind, RoleRecord, StoredPolicyDocument, UserRecord,
};
use crate::Result;

fn key_from_row(r: &PgRow) -> Result<AccessKeyRecord> {
    Ok(AccessKeyRecord {
        access_key_id: r.try_get("access_key_id")?,
        user_name: r.try_get("user_name")?,
        secret_sealed: r.try_get("secret_sealed")?,
        active: r.try_get::<String, _>("status")? == "Active",
        created_at: r.try_get("created_at")?,
    })
}

fn user_from_row(r: &PgRow) -> Result<UserRecord> {
    Ok(UserRecord {
        name: r.try_get("name")?,
        user_id: r.try_get("user_id")?,
        path: r.try_get("path")?,
        created_at: r.try_get("created_at")?,
    })
}

fn group_from_row(r: &PgRow) -> Result<GroupRecord> {
    Ok(GroupRecord {
        name: r.try_get("name")?,
        group_id: r.try_get("group_id")?,
        path: r.try_get("path")?,
        created_at: r.try_get("created_at")?,
    })
}

fn role_from_row(r: &PgRow) -> Result<RoleRecord> {
    Ok(RoleRecord {
        name: r.try_get("name")?,
        role_id: r.try_get("role_id")?,
        path: r.try_get("path")?,
        assume_role_policy: r.try_get("assume_role_policy")?,
        description: r.try_get("description")?,
        max_session_duration: r.try_get("max_session_duration")?,
        created_at: r.try_get("created_at")?,
    })
}

fn managed_from_row(r: &PgRow) -> Result<ManagedPolicyRecord> {
    Ok(ManagedPolicyRecord {
        arn: r.try_get("arn")?,
        name: r.try_get("name")?,
        policy_id: r.try_get("policy_id")?,
        path: r.try_get("path")?,
        description: r.try_get("description")?,
        default_version: r.try_get("default_version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn version_from_row(r: &PgRow) -> Result<PolicyVersionRecord> {
    Ok(PolicyVersionRecord {
        policy_arn: r.try_get("policy_arn")?,
        version_id: r.try_get("version_id")?,
        document: r.try_get("document")?,
        created_at: r.try_get("created_at")?,
    })
}

const ROLE_COLUMNS: &str =
    "name, role_id, path, assume_role_policy, description, max_session_duration, created_at";
const MANAGED_COLUMNS: &str =
    "arn, name, policy_id, path, description, default_version, created_at, updated_at";

#[async_trait]
impl IamStore for PgMetaStore {
    async fn iam_generation(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT generation FROM iam_generation WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(n as u64)
    }

    async fn stored_policies(&self) -> Result<Vec<StoredPolicyDocument>> {
        let mut out = Vec::new();
        let identity = sqlx::query(
            "SELECT kind || '/' || owner || '/' || policy_name AS id, document
               FROM iam_inline_policies
             UNION ALL
             SELECT policy_arn || ' version ' || version_id, document FROM iam_policy_versions
             ORDER BY 1",
        )
        .fetch_all(self.pool())
        .await?;
        for r in &identity {
            out.push(StoredPolicyDocument {
                id: r.try_get("id")?,
                origin: PolicyOrigin::Identity,
                document: r.try_get("document")?,
            });
        }
        let repos = sqlx::query(
            "SELECT name, policy FROM repositories WHERE policy IS NOT NULL ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        for r in &repos {
            let name: String = r.try_get("name")?;
            out.push(StoredPolicyDocument {
                id: format!("repository/{name}"),
                origin: PolicyOrigin::Repository(name),
                document: r.try_get("policy")?,
            });
        }
        let registry: Option<String> = sqlx::query_scalar(
            "SELECT value FROM registry_settings WHERE name = 'registry_policy'",
        )
        .fetch_optional(self.pool())
        .await?;
        if let Some(document) = registry {
            out.push(StoredPolicyDocument {
                id: "registry".to_owned(),
                origin: PolicyOrigin::Registry,
                document,
            });
        }
        let roles = sqlx::query("SELECT name, assume_role_policy FROM iam_roles ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        for r in &roles {
            let name: String = r.try_get("name")?;
            out.push(StoredPolicyDocument {
                id: format!("role/{name} trust policy"),
                origin: PolicyOrigin::RoleTrust,
                document: r.try_get("assume_role_policy")?,
            });
        }
        Ok(out)
    }

    async fn user_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM iam_users")
            .fetch_one(self.pool())
            .await?;
        Ok(n as u64)
    }

    async fn create_user(&self, user: &UserRecord) -> Result<bool> {
        retrying!(async {
            let done = sqlx::query(
                "INSERT INTO iam_users (name, user_id, path, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT(name) DO NOTHING",
            )
            .bind(&user.name)
            .bind(&user.user_id)
            .bind(&user.path)
            .bind(user.created_at)
            .execute(self.pool())
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let row =
            sqlx::query("SELECT name, user_id, path, created_at FROM iam_users WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let rows =
            sqlx::query("SELECT name, user_id, path, created_at FROM iam_users ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn delete_user(&self, name: &str) -> Result<bool> {
        retrying!(async {
            let mut tx = self.pool().begin().await?;
            for sql in [
                "DELETE FROM iam_inline_policies WHERE kind = 'user' AND owner = $1",
                "DELETE FROM iam_policy_attachments WHERE kind = 'user' AND owner = $1",
                "DELETE FROM iam_principal_tags WHERE kind = 'user' AND owner = $1",
                "DELETE FROM iam_access_keys WHERE user_name = $1",
                "DELETE FROM iam_group_members WHERE user_name = $1",
            ] {
                sqlx::query(sql).bind(name).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM iam_users WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<()> {
        retrying!(async {
            sqlx::query(
            "INSERT INTO iam_access_keys (access_key_id, user_name, secret_sealed, status, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.access_key_id)
        .bind(&key.user_name)
        .bind(&key.secret_sealed)
        .bind(if key.active { "Active" } else { "Inactive" })
        .bind(key.created_at)
        .execute(self.pool())
        .await?;
            Ok(())
        })
    }

    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        let row = sqlx::query(
            "SELECT access_key_id, user_name, secret_sealed, status, created_at
             FROM iam_access_keys WHERE access_key_id = $1",
        )
        .bind(access_key_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn access_keys_of(&self, user: &str) -> Result<Vec<AccessKeyRecord>> {
        let rows = sqlx::query(
            "SELECT access_key_id, user_name, secret_sealed, status, created_at
             FROM iam_access_keys WHERE user_name = $1 ORDER BY created_at, access_key_id",
        )
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn set_access_key_active(&self, access_key_id: &str, active: bool) -> Result<bool> {
        retrying!(async {
            let done =
                sqlx::query("UPDATE iam_access_keys SET status = $1 WHERE access_key_id = $2")
                    .bind(if active { "Active" } else { "Inactive" })
                    .bind(access_key_id)
                    .execute(self.pool())
                    .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool> {
        retrying!(async {
            let done = sqlx::query("DELETE FROM iam_access_keys WHERE access_key_id = $1")
                .bind(access_key_id)
                .execute(self.pool())
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
        document: &str,
    ) -> Result<()> {
        retrying!(async {
            sqlx::query(
            "INSERT INTO iam_inline_policies (kind, owner, policy_name, document) VALUES ($1, $2, $3, $4)
             ON CONFLICT(kind, owner, policy_name) DO UPDATE SET document = excluded.document",
        )
        .bind(kind.as_str())
        .bind(owner)
        .bind(name)
        .bind(document)
        .execute(self.pool())
        .await?;
            Ok(())
        })
    }

    async fn inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
    ) -> Result<Option<String>> {
        let doc = sqlx::query_scalar(
            "SELECT document FROM iam_inline_policies WHERE kind = $1 AND owner = $2 AND policy_name = $3",
        )
        .bind(kind.as_str())
        .bind(owner)
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(doc)
    }

    async fn inline_policy_names(&self, kind: PrincipalKind, owner: &str) -> Result<Vec<String>> {
        let names = sqlx::query_scalar(
            "SELECT policy_name FROM iam_inline_policies WHERE kind = $1 AND owner = $2 ORDER BY policy_name",
        )
        .bind(kind.as_str())
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        Ok(names)
    }

    async fn delete_inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
    ) -> Result<bool> {
        retrying!(async {
            let done = sqlx::query(
            "DELETE FROM iam_inline_policies WHERE kind = $1 AND owner = $2 AND policy_name = $3",
        )
        .bind(kind.as_str())
        .bind(owner)
        .bind(name)
        .execute(self.pool())
        .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn principal_tags(
        &self,
        kind: PrincipalKind,
        owner: &str,
    ) -> Result<Vec<(String, String)>> {
        let tags = sqlx::query_as(
            "SELECT key, value FROM iam_principal_tags WHERE kind = $1 AND owner = $2 ORDER BY key",
        )
        .bind(kind.as_str())
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        Ok(tags)
    }

    async fn user_identity_policies(&self, user: &str) -> Result<Vec<NamedPolicy>> {
        // One read: inline and attached policies of the user and of each of its groups.
        let rows = sqlx::query(
            "SELECT 'user/' || owner || '/' || policy_name AS id, document
               FROM iam_inline_policies WHERE kind = 'user' AND owner = $1
             UNION ALL
             SELECT 'group/' || owner || '/' || policy_name, document
               FROM iam_inline_policies
              WHERE kind = 'group'
                AND owner IN (SELECT group_name FROM iam_group_members WHERE user_name = $1)
             UNION ALL
             SELECT p.arn, v.document
               FROM iam_policy_attachments a
               JOIN iam_managed_policies p ON p.arn = a.policy_arn
               JOIN iam_policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version
              WHERE (a.kind = 'user' AND a.owner = $1)
                 OR (a.kind = 'group'
                     AND a.owner IN (SELECT group_name FROM iam_group_members WHERE user_name = $1))
             ORDER BY 1",
        )
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NamedPolicy {
                    id: r.try_get("id")?,
                    document: r.try_get("document")?,
                })
            })
            .collect()
    }

    async fn create_group(&self, group: &GroupRecord) -> Result<bool> {
        retrying!(async {
            let done = sqlx::query(
                "INSERT INTO iam_groups (name, group_id, path, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT(name) DO NOTHING",
            )
            .bind(&group.name)
            .bind(&group.group_id)
            .bind(&group.path)
            .bind(group.created_at)
            .execute(self.pool())
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn group(&self, name: &str) -> Result<Option<GroupRecord>> {
        let row =
            sqlx::query("SELECT name, group_id, path, created_at FROM iam_groups WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(group_from_row).transpose()
    }

    async fn list_groups(&self) -> Result<Vec<GroupRecord>> {
        let rows =
            sqlx::query("SELECT name, group_id, path, created_at FROM iam_groups ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(group_from_row).collect()
    }

    async fn delete_group(&self, name: &str) -> Result<bool> {
        retrying!(async {
            let mut tx = self.pool().begin().await?;
            for sql in [
                "DELETE FROM iam_inline_policies WHERE kind = 'group' AND owner = $1",
                "DELETE FROM iam_policy_attachments WHERE kind = 'group' AND owner = $1",
                "DELETE FROM iam_principal_tags WHERE kind = 'group' AND owner = $1",
                "DELETE FROM iam_group_members WHERE group_name = $1",
            ] {
                sqlx::query(sql).bind(name).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM iam_groups WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn add_group_member(&self, group: &str, user: &str) -> Result<bool> {
        retrying!(async {
            let done = sqlx::query(
                "INSERT INTO iam_group_members (group_name, user_name) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            )
            .bind(group)
            .bind(user)
            .execute(self.pool())
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool> {
        retrying!(async {
            let done = sqlx::query(
                "DELETE FROM iam_group_members WHERE group_name = $1 AND user_name = $2",
            )
            .bind(group)
            .bind(user)
            .execute(self.pool())
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn groups_of_user(&self, user: &str) -> Result<Vec<GroupRecord>> {
        let rows = sqlx::query(
            "SELECT g.name, g.group_id, g.path, g.created_at FROM iam_groups g
               JOIN iam_group_members m ON m.group_name = g.name
              WHERE m.user_name = $1 ORDER BY g.name",
        )
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(group_from_row).collect()
    }

    async fn group_members(&self, group: &str) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query(
            "SELECT u.name, u.user_id, u.path, u.created_at FROM iam_users u
               JOIN iam_group_members m ON m.user_name = u.name
              WHERE m.group_name = $1 ORDER BY u.name",
        )
        .bind(group)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn create_role(&self, role: &RoleRecord) -> Result<bool> {
        retrying!(async {
            let done = sqlx::query(
                "INSERT INTO iam_roles (name, role_id, path, assume_role_policy, description,
                                    max_session_duration, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(name) DO NOTHING",
            )
            .bind(&role.name)
            .bind(&role.role_id)
            .bind(&role.path)
            .bind(&role.assume_role_policy)
            .bind(&role.description)
            .bind(role.max_session_duration)
            .bind(role.created_at)
            .execute(self.pool())
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn role(&self, name: &str) -> Result<Option<RoleRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM iam_roles WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(role_from_row).transpose()
    }

    async fn list_roles(&self) -> Result<Vec<RoleRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM iam_roles ORDER BY name"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(role_from_row).collect()
    }

    async fn delete_role(&self, name: &str) -> Result<bool> {
        retrying!(async {
            let mut tx = self.pool().begin().await?;
            for sql in [
                "DELETE FROM iam_inline_policies WHERE kind = 'role' AND owner = $1",
                "DELETE FROM iam_policy_attachments WHERE kind = 'role' AND owner = $1",
                "DELETE FROM iam_principal_tags WHERE kind = 'role' AND owner = $1",
            ] {
                sqlx::query(sql).bind(name).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM iam_roles WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn create_managed_policy(
        &self,
        policy: &ManagedPolicyRecord,
        document: &str,
    ) -> Result<bool> {
        retrying!(async {
            let mut tx = self.pool().begin().await?;
            let done = sqlx::query(&format!(
            "INSERT INTO iam_managed_policies ({MANAGED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT(arn) DO NOTHING"
        ))
        .bind(&policy.arn)
        .bind(&policy.name)
        .bind(&policy.policy_id)
        .bind(&policy.path)
        .bind(&policy.description)
        .bind(&policy.default_version)
        .bind(policy.created_at)
        .bind(policy.updated_at)
        .execute(&mut *tx)
        .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO iam_policy_versions (policy_arn, version_id, document, created_at)
             VALUES ($1, $2, $3, $4)",
            )
            .bind(&policy.arn)
            .bind(&policy.default_version)
            .bind(document)
            .bind(policy.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicyRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {MANAGED_COLUMNS} FROM iam_managed_policies WHERE arn = $1"
        ))
        .bind(arn)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(managed_from_row).transpose()
    }

    async fn list_managed_policies(&self) -> Result<Vec<ManagedPolicyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MANAGED_COLUMNS} FROM iam_managed_policies ORDER BY name"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(managed_from_row).collect()
    }

    async fn policy_version(
        &self,
        arn: &str,
        version: &str,
    ) -> Result<Option<PolicyVersionRecord>> {
        let row = sqlx::query(
            "SELECT policy_arn, version_id, document, created_at FROM iam_policy_versions
              WHERE policy_arn = $1 AND version_id = $2",
        )
        .bind(arn)
        .bind(version)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersionRecord>> {
        let rows = sqlx::query(
            "SELECT policy_arn, version_id, document, created_at FROM iam_policy_versions
              WHERE policy_arn = $1 ORDER BY created_at, version_id",
        )
        .bind(arn)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    async fn delete_managed_policy(&self, arn: &str) -> Result<bool> {
        retrying!(async {
            let mut tx = self.pool().begin().await?;
            sqlx::query("DELETE FROM iam_policy_versions WHERE policy_arn = $1")
                .bind(arn)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM iam_managed_policies WHERE arn = $1")
                .bind(arn)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn attach_policy(&self, kind: PrincipalKind, owner: &str, arn: &str) -> Result<bool> {
        retrying!(async {
            let done = sqlx::query(
                "INSERT INTO iam_policy_attachments (kind, owner, policy_arn) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            )
            .bind(kind.as_str())
            .bind(owner)
            .bind(arn)
            .execute(self.pool())
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn detach_policy(&self, kind: PrincipalKind, owner: &str, arn: &str) -> Result<bool> {
        retrying!(async {
            let done = sqlx::query(
            "DELETE FROM iam_policy_attachments WHERE kind = $1 AND owner = $2 AND policy_arn = $3",
        )
        .bind(kind.as_str())
        .bind(owner)
        .bind(arn)
        .execute(self.pool())
        .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn attached_policies(
        &self,
        kind: PrincipalKind,
        owner: &str,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query_as(
            "SELECT p.name, p.arn FROM iam_policy_attachments a
               JOIN iam_managed_policies p ON p.arn = a.policy_arn
              WHERE a.kind = $1 AND a.owner = $2 ORDER BY p.name",
        )
        .bind(kind.as_str())
        .bind(owner)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    async fn policy_attachment_count(&self, arn: &str) -> Result<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM iam_policy_attachments WHERE policy_arn = $1")
                .bind(arn)
                .fetch_one(self.pool())
                .await?;
        Ok(n as u64)
    }

    async fn put_principal_tags(
        &self,
        kind: PrincipalKind,
        owner: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        retrying!(async {
            let mut tx = self.pool().begin().await?;
            for (k, v) in tags {
                sqlx::query(
                "INSERT INTO iam_principal_tags (kind, owner, key, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT(kind, owner, key) DO UPDATE SET value = excluded.value",
            )
            .bind(kind.as_str())
            .bind(owner)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn remove_principal_tags(
        &self,
        kind: PrincipalKind,
        owner: &str,
        keys: &[String],
    ) -> Result<()> {
        retrying!(async {
            let mut tx = self.pool().begin().await?;
            for k in keys {
                sqlx::query(
                    "DELETE FROM iam_principal_tags WHERE kind = $1 AND owner = $2 AND key = $3",
                )
                .bind(kind.as_str())
                .bind(owner)
                .bind(k)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}
