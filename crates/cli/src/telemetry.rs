//! Logs (tracing) and Prometheus metrics.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Logs go to stderr; `RUST_LOG` overrides the configured level.
pub fn init_logging(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            // Colour codes only for a person at a terminal: not in files, pipes or journald.
            .with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// Installs the Prometheus recorder and serves `/metrics` on its own listener, apart from the
/// registry's, so it can stay private.
pub async fn serve_metrics(addr: &str) -> anyhow::Result<()> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding metrics listener `{addr}`"))?;
    tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics listener failed");
        }
    });
    Ok(())
}
