//! `portcullis serve`: wires the embedded default backends under the data dir, then serves.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use portcullis_api::{AppState, Limits};
use portcullis_auth::TokenSigner;
use portcullis_core::worker::{
    GarbageCollector, LifecycleRunner, Round, UploadReaper, Worker, Workers,
};
use portcullis_core::{
    Generation, Iam, IamOptions, Registry, RegistryOptions, Repositories, Secrets,
};
use portcullis_storage::SchemaMode;
use tokio::net::TcpListener;

use crate::config::Config;

pub async fn run(config: Config) -> anyhow::Result<()> {
    tracing::info!(config = %serde_json::to_string(&config)?, "effective configuration");
    // Listener mistakes (a bad CIDR, an unreadable key) are found before anything is touched.
    let listener_specs = config
        .listener_specs()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    for spec in &listener_specs {
        if let Some(files) = &spec.tls {
            portcullis_api::listener::load_tls(files)
                .with_context(|| format!("listener `{}`", spec.address))?;
        }
    }
    // Every listener is bound before the data dir is touched, so a start that fails (a port in
    // use) leaves nothing behind, above all not a one-time admin key printed to no one.
    let mut listeners = Vec::new();
    for spec in listener_specs {
        let listener = TcpListener::bind(&spec.address)
            .await
            .with_context(|| format!("binding `{}`", spec.address))?;
        listeners.push((listener, spec));
    }
    if let Some(addr) = &config.metrics.listen {
        crate::telemetry::serve_metrics(addr).await?;
    }
    crate::backends::check(&config)?;
    crate::doctor::secure_data_dir(
        &config.data_dir,
        config.metadata.resolved_url().ok().flatten().is_none(),
    )?;
    let blobs = crate::backends::open_blobs(&config).await?;
    let schema = if config.metadata.migrate_on_start {
        SchemaMode::Upgrade
    } else {
        SchemaMode::Require
    };
    let metadata = crate::backends::open_metadata(&config, true, schema).await?;
    metadata.prepare_to_serve().await?;
    let registry = Arc::new(Registry::new(
        blobs,
        metadata.meta.clone(),
        RegistryOptions {
            max_repositories: config.quotas.repositories,
            max_images_per_repository: config.quotas.images_per_repository,
            max_tags_per_image: config.quotas.tags_per_image,
            max_uploads_per_principal: config.limits.max_uploads_per_principal,
            max_uploads: config.limits.max_uploads,
            max_blob_bytes: config.limits.max_blob_bytes,
            redirect_ttl: config
                .storage
                .redirect
                .then(|| Duration::from_secs(config.storage.redirect_ttl_secs)),
            ..RegistryOptions::default()
        },
    ));
    let master = crate::keys::master_key(&config)?;
    let generation = Generation::new(metadata.iam.clone());
    let repositories = Arc::new(Repositories::new(
        metadata.meta.clone(),
        registry.clone(),
        generation.clone(),
        IamOptions {
            account_id: config.auth.account_id.clone(),
            region: config.auth.region.clone(),
        },
    ));
    let iam = Arc::new(Iam::new(
        metadata.iam.clone(),
        generation,
        master.clone(),
        IamOptions {
            account_id: config.auth.account_id.clone(),
            region: config.auth.region.clone(),
        },
    ));
    let secrets = Arc::new(Secrets::new(
        metadata.secrets.clone(),
        &master,
        IamOptions {
            account_id: config.auth.account_id.clone(),
            region: config.auth.region.clone(),
        },
    ));
    crate::keys::bootstrap(&iam).await?;
    crate::doctor::log_broken_policies(&iam).await?;
    let tokens = Arc::new(TokenSigner::from_master(master.as_bytes()));
    let audit = Arc::new(crate::keys::audit_log(&config)?);

    // Background work runs on one node of a deployment at a time, under a lease in the
    // metadata store; this process's name for holding it.
    let workers = Arc::new(Workers::new(
        metadata.meta.clone(),
        format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
    ));
    // Staged files without a session are what a crash between the two writes leaves behind:
    // a round before serving clears them (unless another node holds the reaper's lease).
    let reaper: Arc<dyn Worker> = Arc::new(UploadReaper {
        registry: registry.clone(),
        max_idle_ms: (config.uploads.max_idle_hours * 3_600_000) as i64,
        interval: Duration::from_secs(3600),
    });
    if let Round::Ran(Some(done)) = workers
        .round(reaper.as_ref())
        .await
        .context("checking staged uploads")?
    {
        tracing::info!(worker = reaper.name(), "{done}");
    }
    let reaper_task = workers.spawn(reaper.clone());
    let collector: Option<Arc<dyn Worker>> = config.gc.enabled.then(|| {
        Arc::new(GarbageCollector {
            registry: registry.clone(),
            options: config.gc.options(),
            audit: audit.clone(),
            interval: config.gc.interval(),
        }) as Arc<dyn Worker>
    });
    let collector_task = collector.clone().map(|c| workers.spawn(c));
    if collector.is_none() {
        tracing::warn!("[gc] enabled = false: blobs no manifest references are kept forever");
    }
    let lifecycle: Option<Arc<dyn Worker>> = config.lifecycle.enabled.then(|| {
        Arc::new(LifecycleRunner {
            registry: registry.clone(),
            audit: audit.clone(),
            interval: config.lifecycle.interval(),
        }) as Arc<dyn Worker>
    });
    let lifecycle_task = lifecycle.clone().map(|l| workers.spawn(l));

    let limits = Limits {
        header_timeout: Duration::from_secs(config.limits.header_timeout_secs),
        body_idle_timeout: Duration::from_secs(config.limits.body_idle_timeout_secs),
        upload_request_timeout: Duration::from_secs(config.limits.upload_request_timeout_secs),
        shutdown_grace: Duration::from_secs(config.limits.shutdown_grace_secs),
    };
    let public_url = public_url(&config, &listeners)?;
    match &public_url {
        Some(url) => tracing::info!(public_url = %url, "repository URIs and download URLs use this address"),
        None => tracing::warn!(
            "the first listener has no specific address: repository URIs follow each request's Host header; set public_url"
        ),
    }
    let app = portcullis_api::router(AppState {
        registry,
        iam,
        repositories,
        secrets,
        tokens,
        audit,
        limits: limits.clone(),
        public_url,
        anonymous_access: config.auth.anonymous_access,
    })
    .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(crate::redact::span));
    portcullis_api::server::serve(listeners, app, limits, shutdown_signal()).await?;
    reaper_task.abort();
    let mut leases = vec![reaper.name()];
    for (task, worker) in [(collector_task, &collector), (lifecycle_task, &lifecycle)] {
        if let (Some(task), Some(w)) = (task, worker) {
            task.abort();
            leases.push(w.name());
        }
    }
    workers.release(&leases).await;
    tracing::info!("stopped");
    Ok(())
}

/// The configured public URL, else the first listener's bound address when it is a specific one
/// (port 0 resolved), else `None` (each request's Host header decides).
fn public_url(
    config: &Config,
    listeners: &[(TcpListener, portcullis_api::listener::ListenerSpec)],
) -> anyhow::Result<Option<String>> {
    if let Some(url) = &config.public_url {
        let trimmed = url.trim_end_matches('/');
        let authority = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"));
        anyhow::ensure!(
            authority.is_some_and(|a| !a.is_empty() && !a.contains(['/', '?', '#', ' '])),
            "public_url `{url}` must be http://host[:port] or https://host[:port], with no path"
        );
        return Ok(Some(trimmed.to_owned()));
    }
    let Some((listener, spec)) = listeners.first() else {
        return Ok(None);
    };
    let addr = listener.local_addr().context("reading the bound address")?;
    if addr.ip().is_unspecified() {
        return Ok(None);
    }
    let scheme = if spec.tls.is_some() { "https" } else { "http" };
    Ok(Some(format!("{scheme}://{addr}")))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
