//! [`IamStore`] on the SQLite metadata database.

use async_trait::async_trait;
use sqlx::Row;

use super::sqlite::{SqliteMetaStore, BEGIN_WRITE};
use crate::iam::{
    AccessKeyRecord, GroupRecord, IamStore, ManagedPolicyRecord, NamedPolicy, PolicyOrigin,
    PolicyVersionRecord, PrincipalKind, RoleRecord, StoredPolicyDocument, UserRecord,
};
use crate::Result;

fn key_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<AccessKeyRecord> {
    Ok(AccessKeyRecord {
        access_key_id: r.try_get("access_key_id")?,
        user_name: r.try_get("user_name")?,
        secret_sealed: r.try_get("secret_sealed")?,
        active: r.try_get::<String, _>("status")? == "Active",
        created_at: r.try_get("created_at")?,
    })
}

fn user_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<UserRecord> {
    Ok(UserRecord {
        name: r.try_get("name")?,
        user_id: r.try_get("user_id")?,
        path: r.try_get("path")?,
        created_at: r.try_get("created_at")?,
    })
}

fn group_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<GroupRecord> {
    Ok(GroupRecord {
        name: r.try_get("name")?,
        group_id: r.try_get("group_id")?,
        path: r.try_get("path")?,
        created_at: r.try_get("created_at")?,
    })
}

fn role_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<RoleRecord> {
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

fn managed_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ManagedPolicyRecord> {
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

fn version_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<PolicyVersionRecord> {
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
impl IamStore for SqliteMetaStore {
    async fn iam_generation(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT generation FROM iam_generation WHERE id = 1")
            .fetch_one(self.reader())
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
        .fetch_all(self.reader())
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
        .fetch_all(self.reader())
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
        .fetch_optional(self.reader())
        .await?;
        if let Some(document) = registry {
            out.push(StoredPolicyDocument {
                id: "registry".to_owned(),
                origin: PolicyOrigin::Registry,
                document,
            });
        }
        let roles = sqlx::query("SELECT name, assume_role_policy FROM iam_roles ORDER BY name")
            .fetch_all(self.reader())
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
            .fetch_one(self.reader())
            .await?;
        Ok(n as u64)
    }

    async fn create_user(&self, user: &UserRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO iam_users (name, user_id, path, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(name) DO NOTHING",
        )
        .bind(&user.name)
        .bind(&user.user_id)
        .bind(&user.path)
        .bind(user.created_at)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let row =
            sqlx::query("SELECT name, user_id, path, created_at FROM iam_users WHERE name = ?")
                .bind(name)
                .fetch_optional(self.reader())
                .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let rows =
            sqlx::query("SELECT name, user_id, path, created_at FROM iam_users ORDER BY name")
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn delete_user(&self, name: &str) -> Result<bool> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        for sql in [
            "DELETE FROM iam_inline_policies WHERE kind = 'user' AND owner = ?",
            "DELETE FROM iam_policy_attachments WHERE kind = 'user' AND owner = ?",
            "DELETE FROM iam_principal_tags WHERE kind = 'user' AND owner = ?",
            "DELETE FROM iam_access_keys WHERE user_name = ?",
            "DELETE FROM iam_group_members WHERE user_name = ?",
        ] {
            sqlx::query(sql).bind(name).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM iam_users WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO iam_access_keys (access_key_id, user_name, secret_sealed, status, created_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&key.access_key_id)
        .bind(&key.user_name)
        .bind(&key.secret_sealed)
        .bind(if key.active { "Active" } else { "Inactive" })
        .bind(key.created_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>> {
        let row = sqlx::query(
            "SELECT access_key_id, user_name, secret_sealed, status, created_at
             FROM iam_access_keys WHERE access_key_id = ?",
        )
        .bind(access_key_id)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn access_keys_of(&self, user: &str) -> Result<Vec<AccessKeyRecord>> {
        let rows = sqlx::query(
            "SELECT access_key_id, user_name, secret_sealed, status, created_at
             FROM iam_access_keys WHERE user_name = ? ORDER BY created_at, access_key_id",
        )
        .bind(user)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn set_access_key_active(&self, access_key_id: &str, active: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE iam_access_keys SET status = ? WHERE access_key_id = ?")
            .bind(if active { "Active" } else { "Inactive" })
            .bind(access_key_id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM iam_access_keys WHERE access_key_id = ?")
            .bind(access_key_id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
        document: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO iam_inline_policies (kind, owner, policy_name, document) VALUES (?, ?, ?, ?)
             ON CONFLICT(kind, owner, policy_name) DO UPDATE SET document = excluded.document",
        )
        .bind(kind.as_str())
        .bind(owner)
        .bind(name)
        .bind(document)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    async fn inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
    ) -> Result<Option<String>> {
        let doc = sqlx::query_scalar(
            "SELECT document FROM iam_inline_policies WHERE kind = ? AND owner = ? AND policy_name = ?",
        )
        .bind(kind.as_str())
        .bind(owner)
        .bind(name)
        .fetch_optional(self.reader())
        .await?;
        Ok(doc)
    }

    async fn inline_policy_names(&self, kind: PrincipalKind, owner: &str) -> Result<Vec<String>> {
        let names = sqlx::query_scalar(
            "SELECT policy_name FROM iam_inline_policies WHERE kind = ? AND owner = ? ORDER BY policy_name",
        )
        .bind(kind.as_str())
        .bind(owner)
        .fetch_all(self.reader())
        .await?;
        Ok(names)
    }

    async fn delete_inline_policy(
        &self,
        kind: PrincipalKind,
        owner: &str,
        name: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM iam_inline_policies WHERE kind = ? AND owner = ? AND policy_name = ?",
        )
        .bind(kind.as_str())
        .bind(owner)
        .bind(name)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn principal_tags(
        &self,
        kind: PrincipalKind,
        owner: &str,
    ) -> Result<Vec<(String, String)>> {
        let tags = sqlx::query_as(
            "SELECT key, value FROM iam_principal_tags WHERE kind = ? AND owner = ? ORDER BY key",
        )
        .bind(kind.as_str())
        .bind(owner)
        .fetch_all(self.reader())
        .await?;
        Ok(tags)
    }

    async fn user_identity_policies(&self, user: &str) -> Result<Vec<NamedPolicy>> {
        // One read: inline and attached policies of the user and of each of its groups.
        let rows = sqlx::query(
            "SELECT 'user/' || owner || '/' || policy_name AS id, document
               FROM iam_inline_policies WHERE kind = 'user' AND owner = ?1
             UNION ALL
             SELECT 'group/' || owner || '/' || policy_name, document
               FROM iam_inline_policies
              WHERE kind = 'group'
                AND owner IN (SELECT group_name FROM iam_group_members WHERE user_name = ?1)
             UNION ALL
             SELECT p.arn, v.document
               FROM iam_policy_attachments a
               JOIN iam_managed_policies p ON p.arn = a.policy_arn
               JOIN iam_policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version
              WHERE (a.kind = 'user' AND a.owner = ?1)
                 OR (a.kind = 'group'
                     AND a.owner IN (SELECT group_name FROM iam_group_members WHERE user_name = ?1))
             ORDER BY 1",
        )
        .bind(user)
        .fetch_all(self.reader())
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
        let done = sqlx::query(
            "INSERT INTO iam_groups (name, group_id, path, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(name) DO NOTHING",
        )
        .bind(&group.name)
        .bind(&group.group_id)
        .bind(&group.path)
        .bind(group.created_at)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn group(&self, name: &str) -> Result<Option<GroupRecord>> {
        let row =
            sqlx::query("SELECT name, group_id, path, created_at FROM iam_groups WHERE name = ?")
                .bind(name)
                .fetch_optional(self.reader())
                .await?;
        row.as_ref().map(group_from_row).transpose()
    }

    async fn list_groups(&self) -> Result<Vec<GroupRecord>> {
        let rows =
            sqlx::query("SELECT name, group_id, path, created_at FROM iam_groups ORDER BY name")
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(group_from_row).collect()
    }

    async fn delete_group(&self, name: &str) -> Result<bool> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        for sql in [
            "DELETE FROM iam_inline_policies WHERE kind = 'group' AND owner = ?",
            "DELETE FROM iam_policy_attachments WHERE kind = 'group' AND owner = ?",
            "DELETE FROM iam_principal_tags WHERE kind = 'group' AND owner = ?",
            "DELETE FROM iam_group_members WHERE group_name = ?",
        ] {
            sqlx::query(sql).bind(name).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM iam_groups WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn add_group_member(&self, group: &str, user: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO iam_group_members (group_name, user_name) VALUES (?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(group)
        .bind(user)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM iam_group_members WHERE group_name = ? AND user_name = ?")
                .bind(group)
                .bind(user)
                .execute(self.writer())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn groups_of_user(&self, user: &str) -> Result<Vec<GroupRecord>> {
        let rows = sqlx::query(
            "SELECT g.name, g.group_id, g.path, g.created_at FROM iam_groups g
               JOIN iam_group_members m ON m.group_name = g.name
              WHERE m.user_name = ? ORDER BY g.name",
        )
        .bind(user)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(group_from_row).collect()
    }

    async fn group_members(&self, group: &str) -> Result<Vec<UserRecord>> {
        let rows = sqlx::query(
            "SELECT u.name, u.user_id, u.path, u.created_at FROM iam_users u
               JOIN iam_group_members m ON m.user_name = u.name
              WHERE m.group_name = ? ORDER BY u.name",
        )
        .bind(group)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn create_role(&self, role: &RoleRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO iam_roles (name, role_id, path, assume_role_policy, description,
                                    max_session_duration, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
        )
        .bind(&role.name)
        .bind(&role.role_id)
        .bind(&role.path)
        .bind(&role.assume_role_policy)
        .bind(&role.description)
        .bind(role.max_session_duration)
        .bind(role.created_at)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn role(&self, name: &str) -> Result<Option<RoleRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM iam_roles WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(role_from_row).transpose()
    }

    async fn list_roles(&self) -> Result<Vec<RoleRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {ROLE_COLUMNS} FROM iam_roles ORDER BY name"
        ))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(role_from_row).collect()
    }

    async fn delete_role(&self, name: &str) -> Result<bool> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        for sql in [
            "DELETE FROM iam_inline_policies WHERE kind = 'role' AND owner = ?",
            "DELETE FROM iam_policy_attachments WHERE kind = 'role' AND owner = ?",
            "DELETE FROM iam_principal_tags WHERE kind = 'role' AND owner = ?",
        ] {
            sqlx::query(sql).bind(name).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM iam_roles WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_managed_policy(
        &self,
        policy: &ManagedPolicyRecord,
        document: &str,
    ) -> Result<bool> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        let done = sqlx::query(&format!(
            "INSERT INTO iam_managed_policies ({MANAGED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
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
             VALUES (?, ?, ?, ?)",
        )
        .bind(&policy.arn)
        .bind(&policy.default_version)
        .bind(document)
        .bind(policy.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn managed_policy(&self, arn: &str) -> Result<Option<ManagedPolicyRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {MANAGED_COLUMNS} FROM iam_managed_policies WHERE arn = ?"
        ))
        .bind(arn)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(managed_from_row).transpose()
    }

    async fn list_managed_policies(&self) -> Result<Vec<ManagedPolicyRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MANAGED_COLUMNS} FROM iam_managed_policies ORDER BY name"
        ))
        .fetch_all(self.reader())
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
              WHERE policy_arn = ? AND version_id = ?",
        )
        .bind(arn)
        .bind(version)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersionRecord>> {
        let rows = sqlx::query(
            "SELECT policy_arn, version_id, document, created_at FROM iam_policy_versions
              WHERE policy_arn = ? ORDER BY created_at, version_id",
        )
        .bind(arn)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    async fn delete_managed_policy(&self, arn: &str) -> Result<bool> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        sqlx::query("DELETE FROM iam_policy_versions WHERE policy_arn = ?")
            .bind(arn)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM iam_managed_policies WHERE arn = ?")
            .bind(arn)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn attach_policy(&self, kind: PrincipalKind, owner: &str, arn: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO iam_policy_attachments (kind, owner, policy_arn) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(kind.as_str())
        .bind(owner)
        .bind(arn)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn detach_policy(&self, kind: PrincipalKind, owner: &str, arn: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM iam_policy_attachments WHERE kind = ? AND owner = ? AND policy_arn = ?",
        )
        .bind(kind.as_str())
        .bind(owner)
        .bind(arn)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn attached_policies(
        &self,
        kind: PrincipalKind,
        owner: &str,
    ) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query_as(
            "SELECT p.name, p.arn FROM iam_policy_attachments a
               JOIN iam_managed_policies p ON p.arn = a.policy_arn
              WHERE a.kind = ? AND a.owner = ? ORDER BY p.name",
        )
        .bind(kind.as_str())
        .bind(owner)
        .fetch_all(self.reader())
        .await?;
        Ok(rows)
    }

    async fn policy_attachment_count(&self, arn: &str) -> Result<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM iam_policy_attachments WHERE policy_arn = ?")
                .bind(arn)
                .fetch_one(self.reader())
                .await?;
        Ok(n as u64)
    }

    async fn put_principal_tags(
        &self,
        kind: PrincipalKind,
        owner: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        for (k, v) in tags {
            sqlx::query(
                "INSERT INTO iam_principal_tags (kind, owner, key, value) VALUES (?, ?, ?, ?)
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
    }

    async fn remove_principal_tags(
        &self,
        kind: PrincipalKind,
        owner: &str,
        keys: &[String],
    ) -> Result<()> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        for k in keys {
            sqlx::query("DELETE FROM iam_principal_tags WHERE kind = ? AND owner = ? AND key = ?")
                .bind(kind.as_str())
                .bind(owner)
                .bind(k)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn users_keys_and_identity_policies() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetaStore::open(&dir.path().join("m.sqlite"))
            .await
            .unwrap();
        assert_eq!(store.user_count().await.unwrap(), 0);
        let alice = UserRecord {
            name: "alice".into(),
            user_id: "AIDAALICE".into(),
            path: "/".into(),
            created_at: 1,
        };
        assert!(store.create_user(&alice).await.unwrap());
        assert!(!store.create_user(&alice).await.unwrap());
        let key = AccessKeyRecord {
            access_key_id: "AKIAEXAMPLE".into(),
            user_name: "alice".into(),
            secret_sealed: vec![1, 2, 3],
            active: true,
            created_at: 2,
        };
        store.create_access_key(&key).await.unwrap();
        assert_eq!(
            store.access_key("AKIAEXAMPLE").await.unwrap(),
            Some(key.clone())
        );
        assert!(store
            .set_access_key_active("AKIAEXAMPLE", false)
            .await
            .unwrap());
        assert!(
            !store
                .access_key("AKIAEXAMPLE")
                .await
                .unwrap()
                .unwrap()
                .active
        );

        store
            .put_inline_policy(PrincipalKind::User, "alice", "p1", "{}")
            .await
            .unwrap();
        store
            .put_inline_policy(PrincipalKind::Group, "devs", "g1", "{\"g\":1}")
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO iam_groups (name, group_id, created_at) VALUES ('devs', 'AGPA1', 0)",
        )
        .execute(store.writer())
        .await
        .unwrap();
        let ids = |ps: Vec<NamedPolicy>| ps.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.user_identity_policies("alice").await.unwrap()),
            ["user/alice/p1"]
        );
        sqlx::query(
            "INSERT INTO iam_group_members (group_name, user_name) VALUES ('devs', 'alice')",
        )
        .execute(store.writer())
        .await
        .unwrap();
        assert_eq!(
            ids(store.user_identity_policies("alice").await.unwrap()),
            ["group/devs/g1", "user/alice/p1"]
        );
        assert!(store.delete_user("alice").await.unwrap());
        assert_eq!(store.access_key("AKIAEXAMPLE").await.unwrap(), None);
        assert!(store
            .user_identity_policies("alice")
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn groups_roles_managed_policies_attachments_and_tags() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetaStore::open(&dir.path().join("m.sqlite"))
            .await
            .unwrap();
        let user = UserRecord {
            name: "u".into(),
            user_id: "AIDAU".into(),
            path: "/".into(),
            created_at: 1,
        };
        store.create_user(&user).await.unwrap();
        let group = GroupRecord {
            name: "g".into(),
            group_id: "AGPAG".into(),
            path: "/".into(),
            created_at: 1,
        };
        assert!(store.create_group(&group).await.unwrap());
        assert!(!store.create_group(&group).await.unwrap());
        assert!(store.add_group_member("g", "u").await.unwrap());
        assert!(!store.add_group_member("g", "u").await.unwrap());
        assert_eq!(
            store.groups_of_user("u").await.unwrap(),
            std::slice::from_ref(&group)
        );
        assert_eq!(
            store.group_members("g").await.unwrap(),
            std::slice::from_ref(&user)
        );

        let role = RoleRecord {
            name: "r".into(),
            role_id: "AROAR".into(),
            path: "/x/".into(),
            assume_role_policy: "{}".into(),
            description: Some("d".into()),
            max_session_duration: 3600,
            created_at: 2,
        };
        assert!(store.create_role(&role).await.unwrap());
        assert_eq!(store.role("r").await.unwrap(), Some(role.clone()));
        assert_eq!(store.list_roles().await.unwrap(), [role]);

        let policy = ManagedPolicyRecord {
            arn: "arn:aws:iam::111122223333:policy/p".into(),
            name: "p".into(),
            policy_id: "ANPAP".into(),
            path: "/".into(),
            description: None,
            default_version: "v1".into(),
            created_at: 3,
            updated_at: 3,
        };
        assert!(store
            .create_managed_policy(&policy, "{\"m\":1}")
            .await
            .unwrap());
        assert!(!store.create_managed_policy(&policy, "{}").await.unwrap());
        assert_eq!(
            store
                .policy_version(&policy.arn, "v1")
                .await
                .unwrap()
                .unwrap()
                .document,
            "{\"m\":1}"
        );
        assert!(store
            .attach_policy(PrincipalKind::Group, "g", &policy.arn)
            .await
            .unwrap());
        assert!(store
            .attach_policy(PrincipalKind::Role, "r", &policy.arn)
            .await
            .unwrap());
        assert_eq!(store.policy_attachment_count(&policy.arn).await.unwrap(), 2);
        assert_eq!(
            store
                .attached_policies(PrincipalKind::Group, "g")
                .await
                .unwrap(),
            [("p".to_owned(), policy.arn.clone())]
        );
        // The user gets its group's attached policy.
        let ids: Vec<String> = store
            .user_identity_policies("u")
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, std::slice::from_ref(&policy.arn));

        store
            .put_principal_tags(
                PrincipalKind::User,
                "u",
                &[("a".into(), "1".into()), ("b".into(), "2".into())],
            )
            .await
            .unwrap();
        store
            .put_principal_tags(PrincipalKind::User, "u", &[("a".into(), "3".into())])
            .await
            .unwrap();
        store
            .remove_principal_tags(PrincipalKind::User, "u", &["b".into()])
            .await
            .unwrap();
        assert_eq!(
            store
                .principal_tags(PrincipalKind::User, "u")
                .await
                .unwrap(),
            [("a".to_owned(), "3".to_owned())]
        );

        assert!(store.delete_role("r").await.unwrap());
        assert!(store.delete_group("g").await.unwrap());
        assert_eq!(store.policy_attachment_count(&policy.arn).await.unwrap(), 0);
        assert!(store.groups_of_user("u").await.unwrap().is_empty());
        assert!(store.delete_managed_policy(&policy.arn).await.unwrap());
        assert!(store.policy_versions(&policy.arn).await.unwrap().is_empty());
    }
}
