//! Offline commands that work on the data directory directly, for operators (and tests) when
//! the API is not the way in: issuing a registry token, listing users, resetting the bootstrap
//! key. SQLite in WAL mode lets them run while the server is up.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Subcommand;
use portcullis_auth::TokenSigner;
use portcullis_core::{Generation, Iam, IamOptions, Registry, RegistryOptions, Repositories};
use portcullis_storage::{MetaStore, SchemaMode};

use crate::config::{self, Config};

/// Where the data lives: the same flags and configuration as `serve`.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Directory of the registry's state. [default: ./portcullis-data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file (for `data_dir` and `auth.master_key`).
    #[arg(long, value_name = "FILE", env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a 12-hour registry password for a user (what `aws ecr get-login-password` prints),
    /// made with the user's first active access key.
    ///
    /// Example: portcullis token issue --user admin | docker login --username AWS
    /// --password-stdin 127.0.0.1:5000
    Issue {
        /// The IAM user the token acts as.
        #[arg(long, default_value = "admin")]
        user: String,
        /// Lifetime in seconds, at most 12 hours (negative values make an already expired
        /// token, for testing clients).
        #[arg(long, default_value_t = 43200, allow_negative_numbers = true)]
        ttl_secs: i64,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List the IAM users and their access keys (ids and status only).
    ListUsers {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Give user `admin` a new access key (printed once) and deactivate its others: the way
    /// back in when the bootstrap secret is lost. A running server refuses the old keys (and
    /// their registry tokens) at once: the change bumps the stored IAM generation.
    ResetBootstrapKey {
        #[command(flatten)]
        data: DataArgs,
    },
}

pub(crate) async fn open(data: &DataArgs) -> anyhow::Result<(Config, Iam)> {
    let (config, iam, _) = open_metadata(data).await?;
    Ok((config, iam))
}

/// [`open`], with the repository service (for commands that change repository or registry
/// policies): it opens the blob store too, without touching it.
pub(crate) async fn open_with_repositories(
    data: &DataArgs,
) -> anyhow::Result<(Config, Iam, Repositories)> {
    let (config, iam, meta) = open_metadata(data).await?;
    let blobs = crate::backends::open_blobs(&config).await?;
    let registry = Arc::new(Registry::new(
        blobs,
        meta.clone(),
        RegistryOptions {
            max_repositories: config.quotas.repositories,
            ..RegistryOptions::default()
        },
    ));
    let repositories = Repositories::new(
        meta,
        registry,
        iam.generation().clone(),
        iam.options().clone(),
    );
    Ok((config, iam, repositories))
}

/// The configuration an offline command works on: the file, the environment, `--data-dir`.
pub(crate) fn load_config(data: &DataArgs) -> anyhow::Result<Config> {
    let overrides = config::Overrides {
        data_dir: data.data_dir.clone(),
        ..Default::default()
    };
    Ok(config::load(data.config.as_deref(), &overrides)?)
}

async fn open_metadata(data: &DataArgs) -> anyhow::Result<(Config, Iam, Arc<dyn MetaStore>)> {
    let config = load_config(data)?;
    // Offline commands never upgrade a schema behind the server's back.
    let metadata = crate::backends::open_metadata(&config, false, SchemaMode::Require).await?;
    let master = crate::keys::master_key(&config)?;
    let options = IamOptions {
        account_id: config.auth.account_id.clone(),
        region: config.auth.region.clone(),
    };
    let generation = Generation::new(metadata.iam.clone());
    let iam = Iam::new(metadata.iam, generation, master, options);
    Ok((config, iam, metadata.meta))
}

pub async fn token(cmd: TokenCommand) -> anyhow::Result<i32> {
    match cmd {
        TokenCommand::Issue {
            user,
            ttl_secs,
            data,
        } => {
            if ttl_secs > portcullis_auth::TOKEN_TTL_SECS {
                bail!(
                    "--ttl-secs is at most {} (12 hours)",
                    portcullis_auth::TOKEN_TTL_SECS
                );
            }
            let (_, iam) = open(&data).await?;
            let key = iam
                .access_keys_of(&user)
                .await?
                .into_iter()
                .find(|k| k.active)
                .with_context(|| format!("user `{user}` has no active access key"))?;
            let signer = TokenSigner::from_master(iam.master_key().as_bytes());
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let nonce = uuid::Uuid::new_v4().simple().to_string();
            let (token, _) = signer.issue_with_ttl(&key.access_key_id, now, ttl_secs, &nonce);
            println!("{token}");
            Ok(0)
        }
    }
}

pub async fn admin(cmd: AdminCommand) -> anyhow::Result<i32> {
    match cmd {
        AdminCommand::ListUsers { data } => {
            let (_, iam) = open(&data).await?;
            for user in iam.list_users().await? {
                let keys = iam.access_keys_of(&user.name).await?;
                let keys: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        format!(
                            "{}({})",
                            k.access_key_id,
                            if k.active { "Active" } else { "Inactive" }
                        )
                    })
                    .collect();
                println!("{}\t{}\t{}", user.name, iam.user_arn(&user), keys.join(" "));
            }
            Ok(0)
        }
        AdminCommand::ResetBootstrapKey { data } => {
            let (_, iam) = open(&data).await?;
            let old = iam.access_keys_of("admin").await?;
            let new = iam
                .create_access_key_with("admin", crate::keys::bootstrap_key_from_env()?)
                .await?;
            for k in old.iter().filter(|k| k.active) {
                iam.set_access_key_active(&k.access_key_id, false).await?;
            }
            println!("aws_access_key_id     = {}", new.access_key_id);
            println!("aws_secret_access_key = {}", new.secret_access_key.expose());
            Ok(0)
        }
    }
}

/// `portcullis migrate`: brings the metadata store's schema up to this version.
pub async fn migrate(data: DataArgs) -> anyhow::Result<i32> {
    let overrides = config::Overrides {
        data_dir: data.data_dir.clone(),
        ..Default::default()
    };
    let config = config::load(data.config.as_deref(), &overrides)?;
    crate::backends::check(&config)?;
    if config.metadata.resolved_url().ok().flatten().is_none() {
        crate::doctor::secure_data_dir(
            &config.data_dir,
            config.metadata.resolved_url().ok().flatten().is_none(),
        )?;
    }
    let metadata = crate::backends::open_metadata(&config, true, SchemaMode::AsIs).await?;
    let applied = metadata.migrate().await?;
    let place = crate::backends::Metadata::describe(&config);
    if applied.is_empty() {
        println!("{place}: the schema is up to date");
    } else {
        for m in &applied {
            println!("{place}: applied {m}");
        }
    }
    Ok(0)
}
