//! Request bodies as byte streams, bounded in time twice: an idle timeout, so that a client
//! that stops sending mid-body cannot hold a request (and its upload lock) forever, and an
//! overall deadline, so that one that keeps trickling a byte now and then cannot either.

use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use portcullis_core::ByteStream;
use tokio::time::Instant;

/// The body as a stream that fails after `idle` without data, or once `deadline` has passed
/// since this call (made when the request's handler starts).
pub fn body_stream(body: Body, idle: Duration, deadline: Duration) -> ByteStream {
    let data = body.into_data_stream();
    let ends = Instant::now() + deadline;
    futures::stream::unfold(Some(data), move |state| async move {
        let mut data = state?;
        let left = ends.saturating_duration_since(Instant::now());
        let wait = idle.min(left);
        match tokio::time::timeout(wait, data.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(data))),
            Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => {
                let message = if wait < idle {
                    format!(
                        "the request passed its {} s deadline (`[limits] upload_request_timeout_secs`) before its body ended",
                        deadline.as_secs()
                    )
                } else {
                    format!("no body data for {} s", idle.as_secs())
                };
                Some((
                    Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message)),
                    None,
                ))
            }
        }
    })
    .boxed()
}
