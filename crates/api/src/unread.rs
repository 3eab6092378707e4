//! Request bodies a handler answered without reading.
//!
//! A 401 to an unauthenticated PATCH, or a 404 sent before the upload is looked at, leaves the
//! body in the socket. hyper then closes the connection after the response without saying so,
//! and Go's HTTP client (docker, containerd), which saw a complete keep-alive response, sends its
//! authenticated retry down the dead connection and fails with `EOF`. So the dispatcher keeps a
//! handle on the body: after the response is made, a small unread rest is read and thrown
//! away (the connection stays usable); a larger or slower one gets `Connection: close`, which
//! every client honours by opening a new connection.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{header, HeaderValue, Response};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// How much of an unread body is read to keep the connection (Go's own server reads up to
/// 256 KiB before it gives up on a connection).
pub const DRAIN_MAX_BYTES: u64 = 256 * 1024;
/// How long the drain may wait for those bytes.
pub const DRAIN_MAX_WAIT: Duration = Duration::from_secs(2);

/// A request body that the dispatcher can still reach after the handler is done with it.
pub struct Shared(Arc<Mutex<Incoming>>);

impl Shared {
    /// Splits `body` into the body the handler reads and the dispatcher's handle on it.
    pub fn new(body: Incoming) -> (Shared, Leftover) {
        let inner = Arc::new(Mutex::new(body));
        (Shared(inner.clone()), Leftover(inner))
    }
}

impl Body for Shared {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let mut body = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Pin::new(&mut *body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).size_hint()
    }
}

/// The dispatcher's handle on a request body.
pub struct Leftover(Arc<Mutex<Incoming>>);

impl Leftover {
    /// Reads what the handler left of the body, within the bounds; on `expect_continue` with
    /// nothing read, the client is still waiting for leave to send, so none is given.
    /// `true` when the connection can carry the next request.
    async fn drain(self, expect_continue: bool) -> bool {
        // The handler may still hold its half (a response that borrowed it); take it over.
        let body = match Arc::try_unwrap(self.0) {
            Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
            Err(_) => return false,
        };
        if body.is_end_stream() {
            return true;
        }
        if expect_continue {
            return false;
        }
        let read_rest = async {
            let mut body = body;
            let mut seen = 0u64;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { return false };
                if let Some(data) = frame.data_ref() {
                    seen += data.len() as u64;
                    if seen > DRAIN_MAX_BYTES {
                        return false;
                    }
                }
            }
            true
        };
        tokio::time::timeout(DRAIN_MAX_WAIT, read_rest)
            .await
            .unwrap_or(false)
    }

    /// Finishes `response`: drains the body, or tells the client the connection ends here.
    pub async fn settle<B>(self, expect_continue: bool, mut response: Response<B>) -> Response<B> {
        if !self.drain(expect_continue).await {
            metrics::counter!("portcullis_connections_closed_unread_body_total").increment(1);
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
