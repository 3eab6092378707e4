//! Opens the engines the configuration names: the blob store (`[storage]`) and the metadata
//! store (`[metadata]`), for `serve`, the offline commands and `migrate`.

use std::sync::Arc;

use anyhow::{bail, Context};
use portcullis_storage::blob::fs::FsBlobStore;
use portcullis_storage::blob::s3::S3BlobStore;
use portcullis_storage::layout::META_DB;
use portcullis_storage::meta::postgres::PgMetaStore;
use portcullis_storage::meta::sqlite::SqliteMetaStore;
use portcullis_storage::{BlobStore, IamStore, MetaStore, SchemaMode, SecretStore};

use crate::config::{Config, StorageBackend};

/// The metadata store, as the seams the core uses (one engine implements them all).
pub struct Metadata {
    pub meta: Arc<dyn MetaStore>,
    pub iam: Arc<dyn IamStore>,
    pub secrets: Arc<dyn SecretStore>,
    /// How to apply this version's schema migrations to it.
    migrator: Migrator,
}

enum Migrator {
    Sqlite(Arc<SqliteMetaStore>),
    Postgres(Arc<PgMetaStore>),
}

impl Metadata {
    /// Applies pending schema migrations; returns the ones applied.
    pub async fn migrate(&self) -> anyhow::Result<Vec<String>> {
        match &self.migrator {
            Migrator::Sqlite(store) => store.migrate().await.context("migrating SQLite"),
            Migrator::Postgres(store) => store.migrate().await.context("migrating PostgreSQL"),
        }
    }

    /// Readies the store for the node that serves from it. On the embedded database that
    /// node is the only one, so append claims and worker leases left by a killed predecessor
    /// are released; on a shared database they may be another node's, and their lease ends
    /// them.
    pub async fn prepare_to_serve(&self) -> anyhow::Result<()> {
        if let Migrator::Sqlite(store) = &self.migrator {
            let released = store
                .release_claims()
                .await
                .context("releasing the claims of the previous run")?;
            if released > 0 {
                tracing::info!(
                    released,
                    "released the upload claims and worker leases of the previous run"
                );
            }
        }
        Ok(())
    }

    /// Where the metadata lives, for messages (a database URL without its password).
    pub fn describe(config: &Config) -> String {
        match config.metadata.resolved_url() {
            Ok(Some(url)) => crate::config::url_without_password(&url),
            _ => config.data_dir.join(META_DB).display().to_string(),
        }
    }
}

/// Which engines serve: refuses a configuration that cannot work before anything connects.
pub fn check(config: &Config) -> anyhow::Result<()> {
    config
        .storage
        .check()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    config
        .metadata
        .check()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    config
        .gc
        .check()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    config
        .lifecycle
        .check()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    Ok(())
}

/// Opens the metadata store. `create`: a missing embedded database is created (serve,
/// migrate); otherwise it must exist (offline commands).
pub async fn open_metadata(
    config: &Config,
    create: bool,
    schema: SchemaMode,
) -> anyhow::Result<Metadata> {
    check(config)?;
    if let Some(url) = config.metadata.resolved_url().map_err(anyhow::Error::msg)? {
        let shown = crate::config::url_without_password(&url);
        let wait = if create {
            std::time::Duration::from_secs(config.metadata.connect_wait_secs)
        } else {
            std::time::Duration::ZERO
        };
        let store = Arc::new(connect_postgres(&url, &shown, schema, wait).await?);
        return Ok(Metadata {
            meta: store.clone(),
            iam: store.clone(),
            secrets: store.clone(),
            migrator: Migrator::Postgres(store),
        });
    }
    let db = config.data_dir.join(META_DB);
    if !create && !db.exists() {
        bail!(
            "`{}` holds no registry (no {META_DB})",
            config.data_dir.display()
        );
    }
    let store = Arc::new(
        SqliteMetaStore::open_with(&db, schema)
            .await
            .with_context(|| format!("opening the metadata database `{}`", db.display()))?,
    );
    Ok(Metadata {
        meta: store.clone(),
        iam: store.clone(),
        secrets: store.clone(),
        migrator: Migrator::Sqlite(store),
    })
}

/// Connects to PostgreSQL, waiting up to `wait` for a server that does not answer yet (a node
/// started before its database, or while it restarts): meanwhile nothing listens, so a load
/// balancer keeps the node out of its pool. Other errors (a wrong password, a schema behind
/// this version) fail at once.
async fn connect_postgres(
    url: &str,
    shown: &str,
    schema: SchemaMode,
    wait: std::time::Duration,
) -> anyhow::Result<PgMetaStore> {
    let until = std::time::Instant::now() + wait;
    let mut pause = std::time::Duration::from_millis(250);
    loop {
        match PgMetaStore::connect(url, schema).await {
            Ok(store) => return Ok(store),
            Err(portcullis_storage::Error::Unavailable(why))
                if std::time::Instant::now() + pause < until =>
            {
                tracing::warn!(database = %shown, error = %why, "waiting for the database");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("opening the metadata database `{shown}`"))
            }
        }
    }
}

/// Opens the blob store.
pub async fn open_blobs(config: &Config) -> anyhow::Result<Arc<dyn BlobStore>> {
    check(config)?;
    match config.storage.backend {
        StorageBackend::Filesystem => {
            let blobs = FsBlobStore::open(&config.data_dir, config.storage.fsync)
                .context("opening the blob store")?;
            Ok(Arc::new(blobs))
        }
        StorageBackend::S3 => {
            let s3 = &config.storage.s3;
            let settings = portcullis_storage::blob::s3::S3Config {
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
                bucket: s3.bucket.clone(),
                prefix: s3.prefix.clone(),
                path_style: s3.path_style,
                access_key_id: s3.access_key_id.clone(),
                secret_access_key: s3.resolved_secret().map_err(anyhow::Error::msg)?,
                redirect_endpoint: s3.redirect_endpoint.clone(),
            };
            let blobs = S3BlobStore::open(&settings)
                .with_context(|| format!("opening the S3 bucket `{}`", s3.bucket))?;
            Ok(Arc::new(blobs))
        }
    }
}
