//! Connections reused as Go's HTTP client (docker, containerd) reuses them, over raw sockets:
//! a request whose body the server answers without reading (a 401 to an unauthenticated PATCH,
//! a 404 for an unknown upload), sent with its body a moment after its headers, and then the
//! next request down the same connection. Every answer must arrive, and the connection must
//! either carry the next request or say `Connection: close` before it ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use portcullis_testkit::{basic_auth, TestServer};

/// One HTTP/1.1 response read off a connection.
struct Answer {
    status: u16,
    close: bool,
}

/// Reads one response (headers and a Content-Length body) from `reader`.
fn read_answer(reader: &mut BufReader<TcpStream>) -> std::io::Result<Answer> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the connection ended without a response",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (mut length, mut close) = (0usize, false);
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "connection" => close = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Answer { status, close })
}

fn connect(server: &TestServer) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let reader = BufReader::new(stream.try_clone().expect("clone"));
    (stream, reader)
}

/// Sends headers, waits, then sends the body: as a client streaming from a slow source.
fn send_delayed(stream: &mut TcpStream, head: &str, body: &[u8], delay: Duration) {
    stream.write_all(head.as_bytes()).expect("headers");
    stream.flush().expect("flush");
    std::thread::sleep(delay);
    stream.write_all(body).expect("body");
}

#[test]
fn answers_sent_before_the_body_is_read_keep_the_connection_usable() {
    let server = TestServer::start();
    let host = server.host();
    let auth = basic_auth("AWS", &server.admin_password());
    let body = vec![b'x'; 4096];
    let requests = [
        // Unauthenticated: refused before anything reads the body.
        format!(
            "PATCH /v2/ka/app/blobs/uploads/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
        format!(
            "PUT /v2/ka/app/manifests/v1 HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
        format!(
            "POST /v2/ka/app/blobs/uploads/ HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
        // Authenticated, for an upload that does not exist: 404 before the body.
        format!(
            "PATCH /v2/ka/app/blobs/uploads/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
    ];
    let follow_up = format!("GET /v2/ HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n\r\n");
    let (mut stream, mut reader) = connect(&server);
    let mut reconnects = 0;
    for round in 0..25 {
        for (i, head) in requests.iter().enumerate() {
            let delay = Duration::from_millis(if round % 2 == 0 { 30 } else { 0 });
            send_delayed(&mut stream, head, &body, delay);
            let first = read_answer(&mut reader)
                .unwrap_or_else(|e| panic!("round {round}, request {i}: {e}"));
            assert!(
                [401, 404].contains(&first.status),
                "round {round}, request {i}: {}",
                first.status
            );
            if first.close {
                // Allowed, as long as it is said; the client then opens a new connection.
                reconnects += 1;
                (stream, reader) = connect(&server);
            }
            stream
                .write_all(follow_up.as_bytes())
                .expect("second request");
            let second = read_answer(&mut reader).unwrap_or_else(|e| {
                panic!("round {round}, request {i}: the reused connection failed: {e}")
            });
            assert_eq!(second.status, 200, "round {round}, request {i}");
            if second.close {
                (stream, reader) = connect(&server);
            }
        }
    }
    assert_eq!(
        reconnects, 0,
        "small unread bodies are read so that the connection stays open"
    );
}

#[test]
fn a_large_unread_body_ends_the_connection_with_connection_close() {
    let server = TestServer::start();
    let host = server.host();
    let body = vec![b'x'; 8 * 1024 * 1024];
    let (mut stream, mut reader) = connect(&server);
    let head = format!(
        "PATCH /v2/ka/big/blobs/uploads/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("headers");
    // The client keeps writing while the server answers; the server must not wait for it all.
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    let answer = read_answer(&mut reader).expect("the answer arrives");
    assert_eq!(answer.status, 401);
    assert!(
        answer.close,
        "a body too large to drain is announced as the end of the connection"
    );
    drop(stream);
    drop(reader);
    let _ = sender.join();
}
