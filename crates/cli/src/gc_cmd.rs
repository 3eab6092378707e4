//! `portcullis gc`: one garbage collection round, now, from the command line.

use std::sync::Arc;

use anyhow::Context;
use portcullis_core::worker::{GarbageCollector, Worker, Workers};
use portcullis_core::{AuditLog, Registry, RegistryOptions};
use portcullis_storage::SchemaMode;

use crate::offline::DataArgs;

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// List what a round would delete now, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Override `[gc] grace_minutes` for this round: blobs unreferenced for less are kept.
    #[arg(long, value_name = "MINUTES")]
    grace_minutes: Option<u64>,
    #[command(flatten)]
    data: DataArgs,
}

/// Runs one round; returns the exit code (1 when some deletions failed or another node holds
/// the collector's lease).
pub async fn run(args: GcArgs) -> anyhow::Result<i32> {
    let mut config = crate::offline::load_config(&args.data)?;
    if let Some(g) = args.grace_minutes {
        config.gc.grace_minutes = g;
        config.gc.grace_seconds = None;
    }
    let blobs = crate::backends::open_blobs(&config).await?;
    let metadata = crate::backends::open_metadata(&config, false, SchemaMode::Require).await?;
    let registry = Arc::new(Registry::new(
        blobs,
        metadata.meta.clone(),
        RegistryOptions::default(),
    ));
    let audit = Arc::new(if args.dry_run {
        AuditLog::disabled()
    } else {
        crate::keys::audit_log(&config)?
    });
    let options = config.gc.options();
    eprintln!(
        "{} blobs unreferenced for more than {} s...",
        if args.dry_run {
            "looking for"
        } else {
            "collecting"
        },
        config.gc.grace().as_secs()
    );
    let report = if args.dry_run {
        // Reads only: no lease needed, and a running collector is not in the way.
        registry
            .collect_garbage(&options, true, &audit)
            .await
            .context("dry run")?
    } else {
        // Under the same lease as the servers' collectors, so one round runs at a time.
        let workers = Workers::new(
            metadata.meta.clone(),
            format!(
                "gc-cli-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
        );
        let collector = GarbageCollector {
            registry: registry.clone(),
            options: options.clone(),
            audit: audit.clone(),
            interval: config.gc.interval(),
        };
        if !workers.acquire(&collector).await? {
            eprintln!("another node is collecting now (it holds the `gc` lease); try again later");
            return Ok(1);
        }
        let report = registry.collect_garbage(&options, false, &audit).await;
        workers.release(&[collector.name()]).await;
        report.context("collecting")?
    };
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for b in &report.blobs {
        println!("{verb} {} ({} bytes)", b.digest, b.size);
    }
    println!("{}", report.summary());
    Ok(if report.failed > 0 { 1 } else { 0 })
}
