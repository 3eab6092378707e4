//! Request bodies as byte streams, with an idle timeout so that a client that stops sending
//! mid-body cannot hold a request (and its upload lock) forever.

use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use portcullis_storage::ByteStream;

pub fn body_stream(body: Body, idle: Duration) -> ByteStream {
    let data = body.into_data_stream();
    futures::stream::unfold(Some(data), move |state| async move {
        let mut data = state?;
        match tokio::time::timeout(idle, data.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(data))),
            Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no body data for {} s", idle.as_secs()),
                )),
                None,
            )),
        }
    })
    .boxed()
}
