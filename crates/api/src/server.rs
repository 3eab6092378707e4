//! Serving a router on TCP listeners: HTTP/1.1 with a header timeout (so a slow client cannot
//! hold a connection), optionally behind TLS and a PROXY protocol header (see [`crate::listener`]),
//! and a graceful shutdown that stops accepting and lets in-flight requests finish within a
//! grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::listener::{client_ip, Accepted, ConnectionInfo, Endpoint, ListenerSpec, SourceIp};
use crate::{unread, Limits};

/// Serves `app` on every listener until `shutdown` resolves, then drains connections.
///
/// Logs `listening on http://ADDR` (or `https://`) for each listener before accepting, and
/// fails before serving anything when a TLS listener's certificate or key cannot be loaded.
pub async fn serve(
    listeners: Vec<(TcpListener, ListenerSpec)>,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut bound = Vec::new();
    for (listener, spec) in listeners {
        let local = listener.local_addr()?;
        let endpoint = Endpoint::new(&spec, local).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("listener `{}`: {e}", spec.address),
            )
        })?;
        bound.push((listener, Arc::new(endpoint)));
    }
    for (_, endpoint) in &bound {
        let scheme = endpoint.scheme();
        match (&endpoint.endpoint_id, &endpoint.vpc_id) {
            (None, None) => tracing::info!("listening on {scheme}://{}", endpoint.local),
            (endpoint_id, vpc_id) => tracing::info!(
                endpoint_id = endpoint_id.as_deref().unwrap_or("-"),
                vpc_id = vpc_id.as_deref().unwrap_or("-"),
                "listening on {scheme}://{}",
                endpoint.local
            ),
        }
    }

    let graceful = Arc::new(GracefulShutdown::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accept_loops = Vec::new();
    for (listener, endpoint) in bound {
        let app = app.clone();
        let limits = limits.clone();
        let graceful = graceful.clone();
        let mut stop = stop_rx.clone();
        let conn_stop = stop_rx.clone();
        accept_loops.push(tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = stop.changed() => break,
                };
                let _ = stream.set_nodelay(true);
                let connection = Connection {
                    endpoint: endpoint.clone(),
                    app: app.clone(),
                    limits: limits.clone(),
                    watcher: graceful.watcher(),
                    stop: conn_stop.clone(),
                };
                tokio::spawn(connection.run(stream, peer));
            }
        }));
    }
    shutdown.await;
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    let _ = stop_tx.send(true);
    for l in accept_loops {
        let _ = l.await;
    }
    let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period elapsed with requests still in flight");
    }
    Ok(())
}

/// One accepted TCP connection, from its PROXY header and TLS handshake to its last request.
struct Connection {
    endpoint: Arc<Endpoint>,
    app: Router,
    limits: Limits,
    /// Held from accept on, so shutdown also waits for (or cuts) connections still in their
    /// prelude.
    watcher: Watcher,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let prelude = self
            .endpoint
            .accept(stream, peer, self.limits.header_timeout);
        let accepted = tokio::select! {
            accepted = prelude => accepted,
            // Nothing has been asked yet, so nothing is lost by closing now.
            _ = self.stop.wait_for(|stopping| *stopping) => return,
        };
        let (io, info) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection closed before its first request");
                return;
            }
        };
        match io {
            Accepted::Plain(io) => self.serve_http(io, peer, info).await,
            Accepted::Tls(io) => self.serve_http(io, peer, info).await,
        }
    }

    async fn serve_http<S>(self, io: S, peer: SocketAddr, info: ConnectionInfo)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let app = self.app;
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let source_ip = client_ip(&info, req.headers());
            tracing::debug!(
                source_ip = %source_ip,
                secure = info.secure,
                endpoint_id = ?info.endpoint_id.as_deref(),
                vpc_id = ?info.vpc_id.as_deref(),
                peer = %info.peer,
                method = %req.method(),
                path = %req.uri().path(),
                "request context"
            );
            let ext = req.extensions_mut();
            ext.insert(ConnectInfo(peer));
            ext.insert(info.clone());
            ext.insert(SourceIp(source_ip));
            let expect_continue = req
                .headers()
                .get(http::header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
            let (parts, body) = req.into_parts();
            let (body, leftover) = unread::Shared::new(body);
            let req = hyper::Request::from_parts(parts, axum::body::Body::new(body));
            let app = app.clone();
            async move {
                let response = app.oneshot(req).await?;
                Ok::<_, std::convert::Infallible>(leftover.settle(expect_continue, response).await)
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .keep_alive(true);
        let conn = builder.serve_connection(TokioIo::new(io), service);
        if let Err(e) = self.watcher.watch(conn).await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}
