//! `portcullis lifecycle run`: apply repositories' lifecycle policies now.

use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use portcullis_core::worker::{LifecycleRunner, Worker, Workers};
use portcullis_core::{AuditLog, Registry, RegistryOptions};
use portcullis_storage::SchemaMode;

use crate::offline::DataArgs;

#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// Apply the lifecycle policy of every repository that has one (or of one repository)
    /// now, as servers do every [lifecycle] interval_hours: rules by ascending rulePriority,
    /// each image expired by at most one rule, oldest first. Prints each expired image and
    /// sets lastEvaluatedAt. Every expiry is audited. Expired images' blobs go to garbage
    /// collection after its grace delay.
    ///
    /// Example: portcullis lifecycle run --repository team/app --dry-run
    Run {
        /// Only this repository.
        #[arg(long, value_name = "NAME")]
        repository: Option<String>,
        /// List what would expire now, and change nothing (lastEvaluatedAt included).
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        data: DataArgs,
    },
}

pub async fn run(cmd: LifecycleCommand) -> anyhow::Result<i32> {
    let LifecycleCommand::Run {
        repository,
        dry_run,
        data,
    } = cmd;
    let config = crate::offline::load_config(&data)?;
    let blobs = crate::backends::open_blobs(&config).await?;
    let metadata = crate::backends::open_metadata(&config, false, SchemaMode::Require).await?;
    let registry = Arc::new(Registry::new(
        blobs,
        metadata.meta.clone(),
        RegistryOptions::default(),
    ));
    let audit = Arc::new(if dry_run {
        AuditLog::disabled()
    } else {
        crate::keys::audit_log(&config)?
    });
    let now = portcullis_storage::meta::now_millis();
    let workers = Workers::new(
        metadata.meta.clone(),
        format!(
            "lifecycle-cli-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ),
    );
    let runner = LifecycleRunner {
        registry: registry.clone(),
        audit: audit.clone(),
        interval: config.lifecycle.interval(),
    };
    // A dry run only reads; a run takes the servers' lease so one runs at a time.
    if !dry_run && !workers.acquire(&runner).await? {
        eprintln!("another node is applying lifecycle policies now (it holds the `lifecycle` lease); try again later");
        return Ok(1);
    }
    let report = registry
        .run_lifecycle(repository.as_deref(), dry_run, now, &audit)
        .await;
    if !dry_run {
        workers.release(&[runner.name()]).await;
    }
    let report = report.with_context(|| match &repository {
        Some(r) => format!("applying the lifecycle policy of `{r}`"),
        None => "applying lifecycle policies".to_owned(),
    })?;
    let verb = if report.dry_run {
        "would expire"
    } else {
        "expired"
    };
    for e in &report.expired {
        let tags = if e.tags.is_empty() {
            "untagged".to_owned()
        } else {
            e.tags.join(",")
        };
        println!(
            "{verb} {}@{} ({tags}) by rule {}",
            e.repository, e.digest, e.rule_priority
        );
    }
    println!("{}", report.summary());
    Ok(if report.broken.is_empty() { 0 } else { 1 })
}
