//! Listeners as operators configure them: several at once, one tagged as a network endpoint,
//! HTTPS from PEM files, and the client address taken from PROXY protocol headers or
//! `X-Forwarded-For` only when a trusted proxy sends them.
//!
//! Until authorization reads the request context, the server shows it in a debug log line per
//! request (`request context source_ip=... secure=... endpoint_id=...`), which these tests read.
//! Every address is on loopback: the whole of 127.0.0.0/8 is local, so a client bound to
//! 127.0.0.3 is a distinct, untrusted source.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use portcullis_testkit::server::listening_on;
use portcullis_testkit::{portcullis_bin, ServerOptions, TestServer};

const ENDPOINT: &str = "vpce-0a1b2c3d";
const VPC: &str = "vpc-1a2b3c4d";

fn start(dir: &Path, config: &str) -> TestServer {
    let file = dir.join("portcullis.toml");
    std::fs::write(&file, config).unwrap();
    TestServer::start_with(ServerOptions {
        args: vec!["--config".into(), file.display().to_string()],
        env: vec![("RUST_LOG".into(), "info,portcullis_api=debug".into())],
        ..ServerOptions::default()
    })
}

/// The listeners the server announced, as (scheme, address, whole line), once there are `n`.
fn listeners(server: &TestServer, n: usize) -> Vec<(&'static str, SocketAddr, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = server.logs();
        let found: Vec<_> = logs
            .lines()
            .filter_map(|l| listening_on(l).map(|(s, a)| (s, a, l.to_owned())))
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} listeners, log:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The listener whose announcement mentions `needle`.
fn listener_with(server: &TestServer, n: usize, needle: &str) -> (&'static str, SocketAddr) {
    listeners(server, n)
        .into_iter()
        .find(|(_, _, line)| line.contains(needle))
        .map(|(s, a, _)| (s, a))
        .unwrap_or_else(|| panic!("no listener mentions {needle:?}:\n{}", server.logs()))
}

/// The `request context` line logged for the request to `path` (paths are unique per test).
fn context_of(server: &TestServer, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = server.logs();
        if let Some(line) = logs
            .lines()
            .find(|l| l.contains("request context") && has_field(l, "path", path))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no request context for {path}; log:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn no_context_of(server: &TestServer, path: &str) {
    std::thread::sleep(Duration::from_millis(300));
    let logs = server.logs();
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("request context") && has_field(l, "path", path)),
        "{path} should never have reached HTTP; log:\n{logs}"
    );
}

/// The log line has the field `name=value` (text log format).
fn has_field(line: &str, name: &str, value: &str) -> bool {
    let wanted = format!("{name}={value}");
    line.split_whitespace().any(|t| t == wanted)
}

fn assert_context(line: &str, source_ip: &str, secure: bool, endpoint: Option<&str>) {
    assert!(
        has_field(line, "source_ip", source_ip),
        "source_ip {source_ip}: {line}"
    );
    assert!(
        has_field(line, "secure", &secure.to_string()),
        "secure {secure}: {line}"
    );
    let endpoint = match endpoint {
        Some(e) => format!("Some(\"{e}\")"),
        None => "None".to_owned(),
    };
    assert!(
        has_field(line, "endpoint_id", &endpoint),
        "endpoint_id {endpoint}: {line}"
    );
}

/// A TCP connection from a chosen loopback source address.
fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let source: IpAddr = source.parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .unwrap_or_else(|e| panic!("binding {source}: {e}"));
    socket.connect(&to.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Writes `prefix` and a `GET path` request with `headers`, and returns everything read until
/// the server closes (empty when it closed without answering).
fn exchange(mut stream: TcpStream, prefix: &[u8], path: &str, headers: &[(&str, &str)]) -> String {
    let mut request = prefix.to_vec();
    request.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: registry\r\n").as_bytes());
    for (k, v) in headers {
        request.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    // The server may close before reading everything; what it answered is what counts.
    let _ = stream.write_all(&request);
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("no answer and no close within the read timeout")
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

fn assert_http(response: &str) {
    assert!(
        response.starts_with("HTTP/1.1 "),
        "expected an HTTP response, got {response:?}"
    );
}

fn proxy_v1(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// A PROXY v2 header; `None` sends the LOCAL command (a proxy's own health check).
fn proxy_v2(addrs: Option<(SocketAddr, SocketAddr)>) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    let mut block = Vec::new();
    match addrs {
        None => out.extend_from_slice(&[0x20, 0x00]),
        Some((SocketAddr::V4(s), SocketAddr::V4(d))) => {
            out.extend_from_slice(&[0x21, 0x11]);
            block.extend_from_slice(&s.ip().octets());
            block.extend_from_slice(&d.ip().octets());
            block.extend_from_slice(&s.port().to_be_bytes());
            block.extend_from_slice(&d.port().to_be_bytes());
        }
        Some((SocketAddr::V6(s), SocketAddr::V6(d))) => {
            out.extend_from_slice(&[0x21, 0x21]);
            block.extend_from_slice(&s.ip().octets());
            block.extend_from_slice(&d.ip().octets());
            block.extend_from_slice(&s.port().to_be_bytes());
            block.extend_from_slice(&d.port().to_be_bytes());
        }
        Some(_) => panic!("mixed families"),
    }
    // An ALPN TLV, which the server must step over.
    block.extend_from_slice(&[0x01, 0x00, 0x08]);
    block.extend_from_slice(b"http/1.1");
    out.extend_from_slice(&(block.len() as u16).to_be_bytes());
    out.extend_from_slice(&block);
    out
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A self-signed certificate for 127.0.0.1 and localhost, as PEM files in `dir`.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert_pem = certified.cert.pem();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    (cert, key, cert_pem)
}

fn https_client(ca_pem: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn client_from(source: Option<&str>) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address(source.map(|s| s.parse::<IpAddr>().unwrap()))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[test]
fn two_listeners_one_of_them_a_tagged_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &format!(
            "[[listeners]]\naddress = \"127.0.0.2:0\"\nendpoint_id = \"{ENDPOINT}\"\nvpc_id = \"{VPC}\"\n"
        ),
    );
    let all = listeners(&server, 2);
    assert_eq!(all.len(), 2, "{all:?}");
    // `--listen` comes first, untagged; the configured one carries its tags.
    assert_eq!(all[0].1, server.addr);
    assert!(!all[0].2.contains("endpoint_id"), "{}", all[0].2);
    let (scheme, tagged) = listener_with(&server, 2, ENDPOINT);
    assert_eq!(scheme, "http");
    assert_eq!(tagged.ip(), addr("127.0.0.2:0").ip());
    assert!(all[1].2.contains(VPC), "{}", all[1].2);

    let plain = client_from(Some("127.0.0.3"));
    let r = plain
        .get(format!("{}/v2/two-plain/tags/list", server.base_url))
        .send()
        .unwrap();
    assert!(r.status().as_u16() < 500, "{}", r.status());
    assert_context(
        &context_of(&server, "/v2/two-plain/tags/list"),
        "127.0.0.3",
        false,
        None,
    );

    let r = client_from(Some("127.0.0.4"))
        .get(format!("http://{tagged}/v2/two-tagged/tags/list"))
        .send()
        .unwrap();
    assert!(r.status().as_u16() < 500, "{}", r.status());
    let line = context_of(&server, "/v2/two-tagged/tags/list");
    assert_context(&line, "127.0.0.4", false, Some(ENDPOINT));
    assert!(line.contains(&format!("vpc_id=Some(\"{VPC}\")")), "{line}");
}

#[test]
fn tls_listener_serves_https_with_its_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = self_signed(dir.path());
    let server = start(
        dir.path(),
        &format!(
            "[[listeners]]\naddress = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\nendpoint_id = \"{ENDPOINT}\"\n",
            cert.display(),
            key.display()
        ),
    );
    let (scheme, tls) = listener_with(&server, 2, "https://");
    assert_eq!(scheme, "https");

    let r = https_client(&ca)
        .get(format!("https://{tls}/v2/tls-ok/tags/list"))
        .send()
        .unwrap();
    assert!(r.status().as_u16() < 500, "{}", r.status());
    assert_context(
        &context_of(&server, "/v2/tls-ok/tags/list"),
        "127.0.0.1",
        true,
        Some(ENDPOINT),
    );

    // A client that does not trust the certificate gets no further than the handshake.
    let untrusting = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    assert!(untrusting
        .get(format!("https://{tls}/v2/tls-untrusted/tags/list"))
        .send()
        .is_err());
    no_context_of(&server, "/v2/tls-untrusted/tags/list");

    // Plain HTTP on the TLS port is not served as HTTP.
    let response = exchange(
        TcpStream::connect(tls).unwrap(),
        b"",
        "/v2/tls-plain/tags/list",
        &[],
    );
    assert!(!response.starts_with("HTTP/"), "{response:?}");
    no_context_of(&server, "/v2/tls-plain/tags/list");

    // The plain listener next to it still serves plain HTTP.
    let r = client_from(None)
        .get(format!("{}/v2/tls-side/tags/list", server.base_url))
        .send()
        .unwrap();
    assert!(r.status().as_u16() < 500);
    assert_context(
        &context_of(&server, "/v2/tls-side/tags/list"),
        "127.0.0.1",
        false,
        None,
    );
}

/// A layer-4 load balancer in a thread: accepts on its own port, connects to `target`, writes
/// a PROXY v2 header naming the client, then relays bytes both ways.
fn layer4_proxy(target: SocketAddr, claimed_client: SocketAddr) -> SocketAddr {
    let front = TcpListener::bind("127.0.0.1:0").unwrap();
    let front_addr = front.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in front.incoming() {
            let Ok(client) = client else { return };
            let Ok(mut upstream) = TcpStream::connect(target) else {
                return;
            };
            let header = proxy_v2(Some((claimed_client, target)));
            if upstream.write_all(&header).is_err() {
                continue;
            }
            let (mut c_read, mut u_write) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut u_write);
                let _ = u_write.shutdown(std::net::Shutdown::Write);
            });
            let mut client = client;
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut upstream, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    front_addr
}

#[test]
fn proxy_protocol_from_a_trusted_peer_names_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = self_signed(dir.path());
    let server = start(
        dir.path(),
        &format!(
            "[[listeners]]\naddress = \"127.0.0.1:0\"\nendpoint_id = \"{ENDPOINT}\"\n\
             trusted_proxies = [\"127.0.0.1/32\", \"127.0.0.5\"]\nproxy_protocol = true\n\
             [[listeners]]\naddress = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\
             trusted_proxies = [\"127.0.0.0/30\"]\nproxy_protocol = true\n",
            cert.display(),
            key.display()
        ),
    );
    let (_, pp) = listener_with(&server, 3, ENDPOINT);
    let (_, pp_tls) = listener_with(&server, 3, "https://");

    // v1, TCP4 and TCP6.
    let header = proxy_v1(addr("203.0.113.9:51000"), pp);
    assert_http(&exchange(
        connect_from("127.0.0.1", pp),
        &header,
        "/v2/pp-v1/tags/list",
        &[],
    ));
    assert_context(
        &context_of(&server, "/v2/pp-v1/tags/list"),
        "203.0.113.9",
        false,
        Some(ENDPOINT),
    );
    let header = proxy_v1(addr("[2001:db8::9]:51000"), addr("[2001:db8::1]:443"));
    assert_http(&exchange(
        connect_from("127.0.0.5", pp),
        &header,
        "/v2/pp-v1-6/tags/list",
        &[],
    ));
    assert_context(
        &context_of(&server, "/v2/pp-v1-6/tags/list"),
        "2001:db8::9",
        false,
        Some(ENDPOINT),
    );

    // v2, TCP4 and TCP6 (with a TLV), and LOCAL, which leaves the real peer as the client.
    let header = proxy_v2(Some((addr("198.51.100.7:40000"), pp)));
    assert_http(&exchange(
        connect_from("127.0.0.1", pp),
        &header,
        "/v2/pp-v2/tags/list",
        &[],
    ));
    assert_context(
        &context_of(&server, "/v2/pp-v2/tags/list"),
        "198.51.100.7",
        false,
        Some(ENDPOINT),
    );
    let header = proxy_v2(Some((addr("[2001:db8::7]:1"), addr("[2001:db8::1]:2"))));
    assert_http(&exchange(
        connect_from("127.0.0.1", pp),
        &header,
        "/v2/pp-v2-6/tags/list",
        &[],
    ));
    assert_context(
        &context_of(&server, "/v2/pp-v2-6/tags/list"),
        "2001:db8::7",
        false,
        Some(ENDPOINT),
    );
    let header = proxy_v2(None);
    assert_http(&exchange(
        connect_from("127.0.0.5", pp),
        &header,
        "/v2/pp-local/tags/list",
        &[],
    ));
    assert_context(
        &context_of(&server, "/v2/pp-local/tags/list"),
        "127.0.0.5",
        false,
        Some(ENDPOINT),
    );

    // TLS behind the PROXY header, as a layer-4 load balancer delivers it.
    let front = layer4_proxy(pp_tls, addr("192.0.2.44:3333"));
    let r = https_client(&ca)
        .get(format!("https://{front}/v2/pp-tls/tags/list"))
        .send()
        .unwrap();
    assert!(r.status().as_u16() < 500, "{}", r.status());
    assert_context(
        &context_of(&server, "/v2/pp-tls/tags/list"),
        "192.0.2.44",
        true,
        None,
    );
}

#[test]
fn proxy_protocol_listener_closes_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &format!(
            "[[listeners]]\naddress = \"127.0.0.1:0\"\nendpoint_id = \"{ENDPOINT}\"\n\
             trusted_proxies = [\"127.0.0.1/32\"]\nproxy_protocol = true\n"
        ),
    );
    let (_, pp) = listener_with(&server, 2, ENDPOINT);

    // A peer that is not a trusted proxy: closed, whatever it sends.
    let header = proxy_v1(addr("203.0.113.9:51000"), pp);
    assert_eq!(
        exchange(
            connect_from("127.0.0.3", pp),
            &header,
            "/v2/pp-untrusted-v1/tags/list",
            &[]
        ),
        ""
    );
    let header = proxy_v2(Some((addr("203.0.113.9:51000"), pp)));
    assert_eq!(
        exchange(
            connect_from("127.0.0.3", pp),
            &header,
            "/v2/pp-untrusted-v2/tags/list",
            &[]
        ),
        ""
    );
    assert_eq!(
        exchange(
            connect_from("127.0.0.3", pp),
            b"",
            "/v2/pp-untrusted-bare/tags/list",
            &[]
        ),
        ""
    );

    // A trusted peer without a header, or with a broken one: closed too.
    assert_eq!(
        exchange(
            connect_from("127.0.0.1", pp),
            b"",
            "/v2/pp-missing/tags/list",
            &[]
        ),
        ""
    );
    assert_eq!(
        exchange(
            connect_from("127.0.0.1", pp),
            b"PROXY TCP4 1.2.3.4 nope 1 2\r\n",
            "/v2/pp-broken/tags/list",
            &[]
        ),
        ""
    );
    for path in [
        "/v2/pp-untrusted-v1/tags/list",
        "/v2/pp-untrusted-v2/tags/list",
        "/v2/pp-untrusted-bare/tags/list",
        "/v2/pp-missing/tags/list",
        "/v2/pp-broken/tags/list",
    ] {
        no_context_of(&server, path);
    }

    // On a listener without proxy_protocol the header is just a bad request line.
    let header = proxy_v1(addr("203.0.113.9:51000"), server.addr);
    let response = exchange(
        connect_from("127.0.0.1", server.addr),
        &header,
        "/v2/pp-off/tags/list",
        &[],
    );
    assert!(response.starts_with("HTTP/1.1 400"), "{response:?}");
    assert!(
        !server.logs().contains("source_ip=203.0.113.9"),
        "{}",
        server.logs()
    );
}

#[test]
fn x_forwarded_for_counts_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &format!(
            "[[listeners]]\naddress = \"127.0.0.2:0\"\nendpoint_id = \"{ENDPOINT}\"\n\
             trusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n"
        ),
    );
    let (_, edge) = listener_with(&server, 2, ENDPOINT);
    let cases = [
        // (client source, X-Forwarded-For, expected aws:SourceIp)
        ("127.0.0.1", Some("203.0.113.9"), "203.0.113.9", "trusted"),
        (
            "127.0.0.1",
            Some("1.1.1.1, 203.0.113.9, 10.1.2.3"),
            "203.0.113.9",
            "chain",
        ),
        (
            "127.0.0.1",
            Some("203.0.113.9, bogus"),
            "127.0.0.1",
            "malformed",
        ),
        ("127.0.0.1", None, "127.0.0.1", "absent"),
        ("127.0.0.3", Some("203.0.113.9"), "127.0.0.3", "untrusted"),
    ];
    for (source, xff, expected, name) in cases {
        let path = format!("/v2/xff-{name}/tags/list");
        let headers: Vec<(&str, &str)> = xff.map(|v| ("X-Forwarded-For", v)).into_iter().collect();
        assert_http(&exchange(connect_from(source, edge), b"", &path, &headers));
        assert_context(&context_of(&server, &path), expected, false, Some(ENDPOINT));
    }
    // The `--listen` listener trusts no one.
    assert_http(&exchange(
        connect_from("127.0.0.1", server.addr),
        b"",
        "/v2/xff-plain/tags/list",
        &[("X-Forwarded-For", "203.0.113.9")],
    ));
    assert_context(
        &context_of(&server, "/v2/xff-plain/tags/list"),
        "127.0.0.1",
        false,
        None,
    );
}

#[test]
fn bad_listener_configuration_stops_the_server_with_the_listener_named() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _key, _) = self_signed(dir.path());
    let missing = dir.path().join("missing-key.pem");
    let cases = [
        (
            "trusted_proxies = [\"10.0.0.0/40\"]".to_owned(),
            "10.0.0.0/40",
        ),
        (format!("tls_cert = \"{}\"", cert.display()), "tls_key"),
        ("endpoint_id = \"vpce-NOPE\"".to_owned(), "vpce-NOPE"),
        ("vpc_id = \"subnet-1\"".to_owned(), "subnet-1"),
        (
            format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"",
                cert.display(),
                missing.display()
            ),
            "missing-key.pem",
        ),
    ];
    for (line, expected) in cases {
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            format!("[[listeners]]\naddress = \"127.0.0.1:0\"\n[[listeners]]\naddress = \"127.0.0.2:0\"\n{line}\n"),
        )
        .unwrap();
        let out = Command::new(portcullis_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&file)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{line}: started anyway\n{stderr}");
        assert!(
            stderr.contains("127.0.0.2:0"),
            "{line}: listener not named\n{stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{line}: no {expected:?}\n{stderr}"
        );
        assert!(!stderr.contains("listening on"), "{line}\n{stderr}");
    }
}
