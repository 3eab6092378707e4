//! [`SecretStore`] on the SQLite metadata database. Writes run on the one writer connection in
//! `BEGIN IMMEDIATE` transactions, so each check-then-write here is serial by construction;
//! reads run in a read transaction, so a secret, its tags and its labels are one snapshot.

use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};

use super::sqlite::{SqliteMetaStore, BEGIN_WRITE};
use crate::secrets::{
    group_stages, new_version_stages, CreateSecret, NewSecret, NewVersion, PutVersion,
    ScheduleDeletion, SecretRecord, SecretStore, SecretVersionRecord, TagSecret, ValueKind,
    CURRENT, MAX_VERSIONS, PREVIOUS,
};
use crate::{Error, Result};

const COLUMNS: &str =
    "arn, name, description, created_at, last_changed_at, deleted_at, deletion_date";

fn kind_of(s: &str) -> Result<ValueKind> {
    ValueKind::parse(s).ok_or_else(|| Error::Corrupt(format!("secret value kind `{s}`")))
}

/// The secret of `row` with its tags and labelled versions, read on `conn`.
async fn complete(
    conn: &mut SqliteConnection,
    row: &sqlx::sqlite::SqliteRow,
) -> Result<SecretRecord> {
    let arn: String = row.try_get("arn")?;
    let tags: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM secret_tags WHERE arn = ? ORDER BY key")
            .bind(&arn)
            .fetch_all(&mut *conn)
            .await?;
    let stages: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT s.version_id, s.stage, v.created_at
           FROM secret_stages s
           JOIN secret_versions v ON v.arn = s.arn AND v.version_id = s.version_id
          WHERE s.arn = ?
          ORDER BY v.seq, s.stage",
    )
    .bind(&arn)
    .fetch_all(&mut *conn)
    .await?;
    Ok(SecretRecord {
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        last_changed_at: row.try_get("last_changed_at")?,
        deleted_at: row.try_get("deleted_at")?,
        deletion_date: row.try_get("deletion_date")?,
        tags,
        versions: group_stages(stages),
        arn,
    })
}

async fn one(
    conn: &mut SqliteConnection,
    column: &str,
    value: &str,
) -> Result<Option<SecretRecord>> {
    // `column` is one of this file's constants, never input.
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM secrets WHERE {column} = ?"))
        .bind(value)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(complete(conn, &row).await?)),
        None => Ok(None),
    }
}

/// Whether the secret exists and, if so, whether it is scheduled for deletion.
async fn state(conn: &mut SqliteConnection, arn: &str) -> Result<Option<bool>> {
    let deleted: Option<Option<i64>> =
        sqlx::query_scalar("SELECT deleted_at FROM secrets WHERE arn = ?")
            .bind(arn)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(deleted.map(|d| d.is_some()))
}

async fn set_stage(
    conn: &mut SqliteConnection,
    arn: &str,
    stage: &str,
    version: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO secret_stages (arn, stage, version_id) VALUES (?, ?, ?)
         ON CONFLICT(arn, stage) DO UPDATE SET version_id = excluded.version_id",
    )
    .bind(arn)
    .bind(stage)
    .bind(version)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_version(
    conn: &mut SqliteConnection,
    arn: &str,
    version: &NewVersion,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO secret_versions (arn, version_id, kind, sealed, created_at, seq)
         VALUES (?, ?, ?, ?, ?,
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM secret_versions WHERE arn = ?))",
    )
    .bind(arn)
    .bind(&version.version_id)
    .bind(version.kind.as_str())
    .bind(&version.sealed)
    .bind(version.created_at)
    .bind(arn)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl SecretStore for SqliteMetaStore {
    async fn create_secret(&self, secret: &NewSecret, now: i64) -> Result<CreateSecret> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        sqlx::query("DELETE FROM secrets WHERE deletion_date IS NOT NULL AND deletion_date <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if let Some(existing) = one(&mut tx, "name", &secret.name).await? {
            // The purge above stands whatever this request does.
            tx.commit().await?;
            return Ok(CreateSecret::NameTaken(existing));
        }
        sqlx::query(
            "INSERT INTO secrets (arn, name, description, created_at, last_changed_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&secret.arn)
        .bind(&secret.name)
        .bind(&secret.description)
        .bind(secret.created_at)
        .bind(secret.created_at)
        .execute(&mut *tx)
        .await?;
        for (key, value) in &secret.tags {
            sqlx::query(
                "INSERT INTO secret_tags (arn, key, value) VALUES (?, ?, ?)
                 ON CONFLICT(arn, key) DO UPDATE SET value = excluded.value",
            )
            .bind(&secret.arn)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(version) = &secret.version {
            insert_version(&mut tx, &secret.arn, version).await?;
            for stage in new_version_stages(&version.stages, false) {
                set_stage(&mut tx, &secret.arn, &stage, &version.version_id).await?;
            }
        }
        tx.commit().await?;
        Ok(CreateSecret::Created)
    }

    async fn secret_by_arn(&self, arn: &str) -> Result<Option<SecretRecord>> {
        let mut tx = self.reader().begin().await?;
        let found = one(&mut tx, "arn", arn).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn secret_by_name(&self, name: &str) -> Result<Option<SecretRecord>> {
        let mut tx = self.reader().begin().await?;
        let found = one(&mut tx, "name", name).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn list_secrets(&self, after: Option<&str>, limit: usize) -> Result<Vec<SecretRecord>> {
        let mut tx = self.reader().begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM secrets WHERE name > ? ORDER BY name LIMIT ?"
        ))
        .bind(after.unwrap_or(""))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(complete(&mut tx, row).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn secret_version(
        &self,
        arn: &str,
        version_id: &str,
    ) -> Result<Option<SecretVersionRecord>> {
        let mut tx = self.reader().begin().await?;
        let row = sqlx::query(
            "SELECT kind, sealed, created_at FROM secret_versions WHERE arn = ? AND version_id = ?",
        )
        .bind(arn)
        .bind(version_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stages: Vec<String> = sqlx::query_scalar(
            "SELECT stage FROM secret_stages WHERE arn = ? AND version_id = ? ORDER BY stage",
        )
        .bind(arn)
        .bind(version_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(SecretVersionRecord {
            version_id: version_id.to_owned(),
            kind: kind_of(&row.try_get::<String, _>("kind")?)?,
            sealed: row.try_get("sealed")?,
            stages,
            created_at: row.try_get("created_at")?,
        }))
    }

    async fn put_secret_version(&self, arn: &str, version: &NewVersion) -> Result<PutVersion> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        match state(&mut tx, arn).await? {
            None => return Ok(PutVersion::NotFound),
            Some(true) => return Ok(PutVersion::ScheduledForDeletion),
            Some(false) => {}
        }
        let existing = sqlx::query(
            "SELECT kind, sealed, created_at FROM secret_versions WHERE arn = ? AND version_id = ?",
        )
        .bind(arn)
        .bind(&version.version_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            let stages: Vec<String> = sqlx::query_scalar(
                "SELECT stage FROM secret_stages WHERE arn = ? AND version_id = ? ORDER BY stage",
            )
            .bind(arn)
            .bind(&version.version_id)
            .fetch_all(&mut *tx)
            .await?;
            return Ok(PutVersion::Exists(SecretVersionRecord {
                version_id: version.version_id.clone(),
                kind: kind_of(&row.try_get::<String, _>("kind")?)?,
                sealed: row.try_get("sealed")?,
                stages,
                created_at: row.try_get("created_at")?,
            }));
        }
        let current: Option<String> =
            sqlx::query_scalar("SELECT version_id FROM secret_stages WHERE arn = ? AND stage = ?")
                .bind(arn)
                .bind(CURRENT)
                .fetch_optional(&mut *tx)
                .await?;
        let stages = new_version_stages(&version.stages, current.is_some());
        insert_version(&mut tx, arn, version).await?;
        for stage in &stages {
            set_stage(&mut tx, arn, stage, &version.version_id).await?;
        }
        if let Some(previous) = current {
            if stages.iter().any(|s| s == CURRENT) && !stages.iter().any(|s| s == PREVIOUS) {
                set_stage(&mut tx, arn, PREVIOUS, &previous).await?;
            }
        }
        sqlx::query(
            "DELETE FROM secret_versions
              WHERE arn = ?
                AND version_id NOT IN (SELECT version_id FROM secret_stages WHERE arn = ?)
                AND version_id NOT IN (SELECT version_id FROM secret_versions WHERE arn = ?
                                        ORDER BY seq DESC LIMIT ?)",
        )
        .bind(arn)
        .bind(arn)
        .bind(arn)
        .bind(MAX_VERSIONS as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE secrets SET last_changed_at = ? WHERE arn = ?")
            .bind(version.created_at)
            .bind(arn)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(PutVersion::Added { stages })
    }

    async fn tag_secret(
        &self,
        arn: &str,
        tags: &[(String, String)],
        max: usize,
        at: i64,
    ) -> Result<TagSecret> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        match state(&mut tx, arn).await? {
            None => return Ok(TagSecret::NotFound),
            Some(true) => return Ok(TagSecret::ScheduledForDeletion),
            Some(false) => {}
        }
        let mut keys: Vec<String> = sqlx::query_scalar("SELECT key FROM secret_tags WHERE arn = ?")
            .bind(arn)
            .fetch_all(&mut *tx)
            .await?;
        keys.extend(tags.iter().map(|(k, _)| k.clone()));
        keys.sort();
        keys.dedup();
        if keys.len() > max {
            return Ok(TagSecret::TooMany);
        }
        for (key, value) in tags {
            sqlx::query(
                "INSERT INTO secret_tags (arn, key, value) VALUES (?, ?, ?)
                 ON CONFLICT(arn, key) DO UPDATE SET value = excluded.value",
            )
            .bind(arn)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE secrets SET last_changed_at = ? WHERE arn = ?")
            .bind(at)
            .bind(arn)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(TagSecret::Tagged)
    }

    async fn schedule_secret_deletion(
        &self,
        arn: &str,
        at: i64,
        deletion_date: i64,
    ) -> Result<ScheduleDeletion> {
        let mut tx = self.writer().begin_with(BEGIN_WRITE).await?;
        let outcome = match state(&mut tx, arn).await? {
            None => ScheduleDeletion::NotFound,
            Some(true) => ScheduleDeletion::AlreadyScheduled,
            Some(false) => {
                sqlx::query("UPDATE secrets SET deleted_at = ?, deletion_date = ? WHERE arn = ?")
                    .bind(at)
                    .bind(deletion_date)
                    .bind(arn)
                    .execute(&mut *tx)
                    .await?;
                ScheduleDeletion::Scheduled
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn delete_secret(&self, arn: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM secrets WHERE arn = ?")
            .bind(arn)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
