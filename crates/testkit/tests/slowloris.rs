//! Connection hygiene: clients that dribble their headers a byte a second are cut off by the
//! server's header timeout while everyone else is served; connections that say nothing, or stall
//! in the middle of a body, are closed too (with short timeouts set through `--config`); and
//! SIGTERM lets an in-flight blob upload finish before the server exits successfully.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use portcullis_testkit::fixtures::*;
use portcullis_testkit::{ServerOptions, TestServer};

/// The header timeout a slow client must hit; the server's may be shorter.
const HEADER_DEADLINE: Duration = Duration::from_secs(30);
/// Slack for scheduling on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(5);

#[test]
fn slow_header_clients_are_cut_off_while_others_are_served() {
    let server = TestServer::start();
    let reg = Registry::new(&server).with_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "GET /v2/ HTTP/1.1\r\nHost: {}\r\nUser-Agent: slowloris\r\nX-Padding: {}\r\n\r\n",
        server.host(),
        "p".repeat(200)
    );
    let slow_clients = 16;
    let mut conns: Vec<(TcpStream, Option<Duration>)> = (0..slow_clients)
        .map(|_| {
            let s = TcpStream::connect(server.addr).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            (s, None)
        })
        .collect();
    let started = Instant::now();
    let mut normal_served = 0;
    let mut slowest_normal = Duration::ZERO;

    for i in 0.. {
        let elapsed = started.elapsed();
        if conns.iter().all(|(_, closed)| closed.is_some()) || elapsed > HEADER_DEADLINE + SLACK {
            break;
        }
        // One more byte of the headers on every connection still open.
        let byte = request.as_bytes()[i % request.len()];
        for (s, closed) in conns.iter_mut().filter(|(_, c)| c.is_none()) {
            let mut buf = [0u8; 1024];
            let gone = match s.read(&mut buf) {
                // Closed, or answered (e.g. 408) which only comes with the cut-off.
                Ok(_) => true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    s.write_all(&[byte]).is_err()
                }
                Err(_) => true,
            };
            if gone {
                *closed = Some(elapsed);
            }
        }
        // Meanwhile a normal client is served promptly.
        let t = Instant::now();
        let resp = reg.get("/v2/").send().expect("a normal client is served");
        assert_eq!(resp.status().as_u16(), 200);
        slowest_normal = slowest_normal.max(t.elapsed());
        normal_served += 1;
        thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
    }

    let cut: Vec<Duration> = conns.iter().filter_map(|(_, c)| *c).collect();
    eprintln!(
        "slowloris: {} of {slow_clients} slow clients cut off, latest after {:?}; {normal_served} \
         normal requests served, slowest {slowest_normal:?}",
        cut.len(),
        cut.iter().max()
    );
    assert_eq!(
        cut.len(),
        slow_clients,
        "slow clients still connected after {:?}",
        HEADER_DEADLINE + SLACK
    );
    assert!(
        slowest_normal < Duration::from_secs(2),
        "normal requests waited {slowest_normal:?}"
    );
    assert!(normal_served >= 3);
}

/// A server whose header and body-idle timeouts are `secs`, set through a config file.
fn server_with_timeouts(secs: u64) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!("[limits]\nheader_timeout_secs = {secs}\nbody_idle_timeout_secs = {secs}\n"),
    )
    .expect("write config");
    let server = TestServer::start_with(ServerOptions {
        args: vec!["--config".into(), config.display().to_string()],
        ..ServerOptions::default()
    });
    (server, dir)
}

/// Waits until the server closes `s` (or answers and closes); returns how long that took, or
/// `None` if it is still open after `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<(Duration, Vec<u8>)> {
    let t = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while t.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some((t.elapsed(), got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some((t.elapsed(), got)),
        }
    }
    None
}

#[test]
fn a_silent_connection_is_closed() {
    let (server, _dir) = server_with_timeouts(3);
    let mut s = TcpStream::connect(server.addr).expect("connect");
    let (after, _) = closed_within(&mut s, Duration::from_secs(3) + SLACK)
        .expect("a connection that never sends a byte is closed by the header timeout");
    eprintln!("silent connection closed after {after:?}");
    let reg = Registry::new(&server);
    assert_eq!(reg.get("/v2/").send().unwrap().status().as_u16(), 200);
}

#[test]
fn a_body_that_stalls_is_cut_off_and_not_stored() {
    let (server, _dir) = server_with_timeouts(3);
    let reg = Registry::new(&server);
    let repo = "slow/body";
    let data = random_bytes(100_000);
    let digest = sha256_digest(&data);
    let head = raw_request_head(
        "POST",
        &with_query(&format!("/v2/{repo}/blobs/uploads/"), "digest", &digest),
        &server.host(),
        &[
            (
                "Authorization",
                reg.auth_header().expect("credentials").to_owned(),
            ),
            ("Content-Type", "application/octet-stream".into()),
            ("Content-Length", data.len().to_string()),
        ],
    );
    let mut s = TcpStream::connect(server.addr).expect("connect");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&data[..10_000]).unwrap();
    let (after, answer) = closed_within(&mut s, Duration::from_secs(3) + SLACK)
        .expect("a body that stops arriving is cut off by the idle timeout");
    eprintln!(
        "stalled body cut off after {after:?}: {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(60)])
    );
    if !answer.is_empty() {
        let status = raw_status(&answer).expect("an HTTP status line");
        assert!((400..500).contains(&status), "status {status}");
    }
    let resp = reg
        .head(&format!("/v2/{repo}/blobs/{digest}"))
        .send()
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        404,
        "a cut-off body must not become a blob"
    );
    assert_eq!(reg.get("/v2/").send().unwrap().status().as_u16(), 200);
}

#[test]
fn sigterm_lets_an_inflight_upload_finish() {
    let mut server = TestServer::start();
    let reg = Registry::new(&server);
    let repo = "shutdown/inflight";
    let data = random_bytes(8 * 1024 * 1024);
    let digest = sha256_digest(&data);
    let loc = reg.start_upload(repo);
    let head = raw_request_head(
        "PUT",
        &with_query(&loc, "digest", &digest),
        &server.host(),
        &[
            (
                "Authorization",
                reg.auth_header().expect("credentials").to_owned(),
            ),
            ("Content-Type", "application/octet-stream".into()),
            ("Content-Length", data.len().to_string()),
            ("Connection", "close".into()),
        ],
    );

    // Stream the body at about 32 MiB/s, telling the main thread once 1 MiB is out.
    let (tx, rx) = mpsc::channel();
    let addr = server.addr;
    let writer = thread::spawn(move || -> Vec<u8> {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(head.as_bytes()).expect("head");
        let mut sent = 0;
        for part in data.chunks(64 * 1024) {
            s.write_all(part)
                .expect("the server keeps reading an in-flight body after SIGTERM");
            sent += part.len();
            if sent == 1024 * 1024 {
                let _ = tx.send(());
            }
            thread::sleep(Duration::from_millis(2));
        }
        let mut response = Vec::new();
        let _ = s.read_to_end(&mut response);
        response
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("upload started");

    // A watchdog, so that a server that never exits fails the test instead of hanging it.
    let pid = server.pid().expect("pid");
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
    });
    let t = Instant::now();
    let status = server.terminate().expect("exit status");
    let _ = done_tx.send(());
    watchdog.join().unwrap();
    eprintln!(
        "shutdown: server exited {:?} after SIGTERM with {status}",
        t.elapsed()
    );

    let response = writer.join().expect("writer");
    let text = String::from_utf8_lossy(&response);
    assert_eq!(
        raw_status(&response),
        Some(201),
        "the in-flight upload completes: {text}"
    );
    assert!(status.success(), "exit status after SIGTERM: {status}");

    // The blob was committed.
    server.restart();
    let reg = Registry::new(&server);
    let (st, body) = reg.get_blob(repo, &digest);
    assert_eq!(st, 200);
    assert_eq!(sha256_digest(&body), digest);
}
