//! Docker talks to an insecure registry over HTTPS first and falls back to plain HTTP only when
//! the plain port answers its TLS ClientHello with an HTTP/1.x status line, as Go's net/http
//! does. This sends a ClientHello to the HTTP port and expects such a line back.

use std::time::Duration;

use portcullis_testkit::fixtures::*;
use portcullis_testkit::TestServer;

/// A TLS 1.2-style ClientHello record: handshake content type 0x16, record version 3.1, then a
/// ClientHello with a random, an empty session id, a few cipher suites and an SNI extension.
fn client_hello(host: &str) -> Vec<u8> {
    let mut hello = Vec::new();
    hello.extend_from_slice(&[0x03, 0x03]);
    hello.extend_from_slice(&random_bytes(32));
    hello.push(0);
    let suites: &[u16] = &[0x1301, 0x1302, 0xc02f, 0xc02b, 0x009c];
    hello.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        hello.extend_from_slice(&s.to_be_bytes());
    }
    hello.extend_from_slice(&[1, 0]);
    let name = host.as_bytes();
    let mut sni = Vec::new();
    sni.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    let mut ext = Vec::new();
    ext.extend_from_slice(&[0x00, 0x00]);
    ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    ext.extend_from_slice(&sni);
    hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    hello.extend_from_slice(&ext);

    let mut handshake = vec![0x01];
    handshake.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&hello);

    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[test]
fn tls_client_hello_on_the_http_port_gets_an_http_status_line() {
    let server = TestServer::start();
    let hello = client_hello("127.0.0.1");
    assert_eq!(&hello[..3], &[0x16, 0x03, 0x01]);
    let response = raw_exchange(server.addr, &hello, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1."),
        "expected an HTTP/1.x status line, got {:?}",
        &text[..text.len().min(200)]
    );
    let status = raw_status(&response).expect("a status code");
    assert!((400..500).contains(&status), "status {status}");

    // The server is still serving afterwards.
    let reg = Registry::new(&server);
    assert_eq!(reg.get("/v2/").send().unwrap().status().as_u16(), 200);
}
