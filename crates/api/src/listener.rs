//! Listeners and the network facts of each request: who the client is (aws:SourceIp), whether
//! the connection is encrypted (aws:SecureTransport) and which network endpoint it came through
//! (aws:SourceVpce, aws:SourceVpc).
//!
//! Everything a client says about its own address is ignored unless the hop that says it is a
//! configured trusted proxy (fail closed):
//! - a PROXY protocol header is read only on a listener with `proxy_protocol = true`, and such a
//!   listener closes every connection whose TCP peer is not a trusted proxy or that does not
//!   start with a valid header;
//! - `X-Forwarded-For` counts only when the hop that delivered the request (the TCP peer, or the
//!   PROXY header's source) is a trusted proxy; see [`client_ip`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::proxy_protocol::{self, Parsed};

/// One listener as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerSpec {
    /// `host:port` to bind.
    pub address: String,
    /// Serve HTTPS with this certificate chain and key; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// The network endpoint this listener stands for (aws:SourceVpce), e.g. `vpce-0a1b2c3d`.
    pub endpoint_id: Option<String>,
    /// The VPC behind that endpoint (aws:SourceVpc), e.g. `vpc-1a2b3c4d`.
    pub vpc_id: Option<String>,
    /// Peers whose PROXY headers and `X-Forwarded-For` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Every connection must start with a PROXY protocol v1 or v2 header from a trusted proxy.
    pub proxy_protocol: bool,
}

impl ListenerSpec {
    /// A plain HTTP listener with no endpoint tags and no trusted proxies.
    pub fn plain(address: impl Into<String>) -> Self {
        ListenerSpec {
            address: address.into(),
            ..ListenerSpec::default()
        }
    }
}

/// PEM files of a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// What is known about the connection a request arrived on; in every request's extensions.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The TCP peer (IPv4-mapped IPv6 normalised to IPv4).
    pub peer: SocketAddr,
    /// The local address the connection was accepted on.
    pub local: SocketAddr,
    /// The client as far as the connection tells: the PROXY header's source when one was
    /// accepted, the peer otherwise. Per request, [`client_ip`] may refine it from
    /// `X-Forwarded-For`.
    pub source_ip: IpAddr,
    /// TLS was terminated here (aws:SecureTransport).
    pub secure: bool,
    pub endpoint_id: Option<Arc<str>>,
    pub vpc_id: Option<Arc<str>>,
    /// The TCP peer is one of the listener's trusted proxies.
    pub via_trusted_proxy: bool,
    /// The listener's trusted proxies, which [`client_ip`] needs to walk `X-Forwarded-For`.
    pub trusted_proxies: Arc<[IpNet]>,
}

/// The effective client address of one request (aws:SourceIp), from [`client_ip`]; in every
/// request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceIp(pub IpAddr);

/// The client address of a request.
///
/// `X-Forwarded-For` is read only when the connection's source is a trusted proxy. It is walked
/// from the right (the entry the nearest proxy appended) leftwards: trusted proxies are skipped
/// and the first untrusted address is the client. Entries left of that one were written by the
/// client and are never looked at. An entry that does not parse before an untrusted address is
/// found means the proxies' part of the header is broken: the connection's source is used.
/// When every entry is a trusted proxy, the leftmost is the client.
pub fn client_ip(conn: &ConnectionInfo, headers: &HeaderMap) -> IpAddr {
    let hop = conn.source_ip;
    if !is_trusted(hop, &conn.trusted_proxies) {
        return hop;
    }
    let mut client = hop;
    // Several header lines are one list in order (RFC 9110, section 5.3).
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(value) = value.to_str() else {
            return hop;
        };
        for entry in value.rsplit(',') {
            let Some(ip) = parse_forwarded_entry(entry.trim()) else {
                return hop;
            };
            if !is_trusted(ip, &conn.trusted_proxies) {
                return ip;
            }
            client = ip;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, or an address with a port as some proxies write.
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<SocketAddr>()
        .ok()
        .map(|a| a.ip().to_canonical())
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// Parses one `trusted_proxies` entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address.
pub fn parse_trusted_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("`{s}` is not a CIDR (like 10.0.0.0/8) or an IP address"))
}

/// `vpce-` followed by lowercase hex digits.
pub fn is_endpoint_id(s: &str) -> bool {
    is_tagged_hex(s, "vpce-")
}

/// `vpc-` followed by lowercase hex digits.
pub fn is_vpc_id(s: &str) -> bool {
    is_tagged_hex(s, "vpc-")
}

fn is_tagged_hex(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|hex| {
        !hex.is_empty()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("reading the certificate chain `{path}`: {reason}")]
    Cert { path: PathBuf, reason: String },
    #[error("`{path}` holds no PEM certificate")]
    NoCert { path: PathBuf },
    #[error("reading the private key `{path}`: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("the certificate and key do not make a usable TLS identity: {0}")]
    Identity(#[from] rustls::Error),
}

/// Loads a TLS listener's certificate chain and key from PEM files.
pub fn load_tls(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let cert_err = |e: rustls_pki_types::pem::Error| TlsSetupError::Cert {
        path: files.cert.clone(),
        reason: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(cert_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_err)?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCert {
            path: files.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsSetupError::Key {
        path: files.key.clone(),
        reason: e.to_string(),
    })?;
    // ring builds with a C compiler alone, where aws-lc-rs wants cmake; one provider, chosen here.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    // The server speaks HTTP/1.1 only; saying so keeps clients from trying h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener's settings in the form each accepted connection needs.
pub(crate) struct Endpoint {
    pub(crate) local: SocketAddr,
    tls: Option<TlsAcceptor>,
    pub(crate) endpoint_id: Option<Arc<str>>,
    pub(crate) vpc_id: Option<Arc<str>>,
    trusted_proxies: Arc<[IpNet]>,
    proxy_protocol: bool,
}

/// Why a connection was closed before its first request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PreludeError {
    #[error("peer is not a trusted proxy on a PROXY protocol listener")]
    UntrustedPeer,
    #[error("{0}")]
    Proxy(#[from] proxy_protocol::ProxyError),
    #[error("connection closed before the PROXY header was complete")]
    Eof,
    #[error("PROXY header or TLS handshake not done within the header timeout")]
    Timeout,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// An accepted connection, ready for HTTP.
pub(crate) enum Accepted {
    Plain(Rewind<TcpStream>),
    Tls(Box<TlsStream<Rewind<TcpStream>>>),
}

impl Endpoint {
    pub(crate) fn new(spec: &ListenerSpec, local: SocketAddr) -> Result<Self, TlsSetupError> {
        let tls = match &spec.tls {
            Some(files) => Some(TlsAcceptor::from(load_tls(files)?)),
            None => None,
        };
        Ok(Endpoint {
            local,
            tls,
            endpoint_id: spec.endpoint_id.as_deref().map(Arc::from),
            vpc_id: spec.vpc_id.as_deref().map(Arc::from),
            trusted_proxies: spec.trusted_proxies.iter().copied().collect(),
            proxy_protocol: spec.proxy_protocol,
        })
    }

    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Reads the PROXY header (where configured) and does the TLS handshake (where
    /// configured), both within `timeout`.
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        timeout: Duration,
    ) -> Result<(Accepted, ConnectionInfo), PreludeError> {
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let via_trusted_proxy = is_trusted(peer.ip(), &self.trusted_proxies);
        if self.proxy_protocol && !via_trusted_proxy {
            return Err(PreludeError::UntrustedPeer);
        }
        tokio::time::timeout(timeout, async {
            let (stream, source_ip) = if self.proxy_protocol {
                let (header, stream) = read_proxy_header(stream).await?;
                let source = header
                    .addresses
                    .map_or(peer.ip(), |a| a.source.ip().to_canonical());
                (stream, source)
            } else {
                (Rewind::new(stream, Bytes::new()), peer.ip())
            };
            let info = ConnectionInfo {
                peer,
                local: self.local,
                source_ip,
                secure: self.tls.is_some(),
                endpoint_id: self.endpoint_id.clone(),
                vpc_id: self.vpc_id.clone(),
                via_trusted_proxy,
                trusted_proxies: self.trusted_proxies.clone(),
            };
            let accepted = match &self.tls {
                Some(acceptor) => Accepted::Tls(Box::new(acceptor.accept(stream).await?)),
                None => Accepted::Plain(stream),
            };
            Ok((accepted, info))
        })
        .await
        .map_err(|_| PreludeError::Timeout)?
    }
}

async fn read_proxy_header(
    mut stream: TcpStream,
) -> Result<(proxy_protocol::Header, Rewind<TcpStream>), PreludeError> {
    let mut buf = BytesMut::with_capacity(512);
    loop {
        if let Parsed::Complete(header) = proxy_protocol::parse(&buf)? {
            buf.advance(header.len);
            return Ok((header, Rewind::new(stream, buf.freeze())));
        }
        // The parser errs past the longest header, so this read is bounded.
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(PreludeError::Eof);
        }
    }
}

/// A stream that first yields bytes already read from it (those after a PROXY header).
pub(crate) struct Rewind<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Rewind<S> {
    fn new(inner: S, prefix: Bytes) -> Self {
        Rewind { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let chunk = self.prefix.split_to(n);
            buf.put_slice(&chunk);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(source: &str, trusted: &[&str]) -> ConnectionInfo {
        let source: IpAddr = source.parse().unwrap();
        ConnectionInfo {
            peer: SocketAddr::new(source, 40000),
            local: "127.0.0.1:5000".parse().unwrap(),
            source_ip: source,
            secure: false,
            endpoint_id: None,
            vpc_id: None,
            via_trusted_proxy: false,
            trusted_proxies: trusted
                .iter()
                .map(|t| parse_trusted_proxy(t).unwrap())
                .collect(),
        }
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_taken_at_their_word_only() {
        let c = conn("192.0.2.7", &["10.0.0.0/8"]);
        assert_eq!(client_ip(&c, &xff(&["203.0.113.9"])), ip("192.0.2.7"));
        assert_eq!(client_ip(&c, &HeaderMap::new()), ip("192.0.2.7"));
        // No trusted proxies at all: the header means nothing.
        let c = conn("10.0.0.1", &[]);
        assert_eq!(client_ip(&c, &xff(&["203.0.113.9"])), ip("10.0.0.1"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let c = conn("10.0.0.1", &["10.0.0.0/8"]);
        assert_eq!(client_ip(&c, &xff(&["203.0.113.9"])), ip("203.0.113.9"));
        assert_eq!(client_ip(&c, &HeaderMap::new()), ip("10.0.0.1"));
    }

    #[test]
    fn the_walk_goes_from_the_right_and_skips_trusted_hops() {
        let c = conn("10.0.0.1", &["10.0.0.0/8", "fd00::/8"]);
        // The client forged 1.1.1.1; the proxies appended the real client and themselves.
        let h = xff(&["1.1.1.1, 203.0.113.9, 10.0.0.2, fd00::5"]);
        assert_eq!(client_ip(&c, &h), ip("203.0.113.9"));
        // The same list split over several header lines.
        let h = xff(&["1.1.1.1", "203.0.113.9, 10.0.0.2", "fd00::5"]);
        assert_eq!(client_ip(&c, &h), ip("203.0.113.9"));
    }

    #[test]
    fn garbage_left_of_the_client_is_never_read() {
        let c = conn("10.0.0.1", &["10.0.0.0/8"]);
        let h = xff(&["not-an-ip, , 203.0.113.9"]);
        assert_eq!(client_ip(&c, &h), ip("203.0.113.9"));
    }

    #[test]
    fn a_malformed_header_from_a_trusted_proxy_falls_back_to_the_peer() {
        let c = conn("10.0.0.1", &["10.0.0.0/8"]);
        for bad in [
            "203.0.113.9, bogus",
            "",
            "203.0.113.9,",
            "unknown",
            "10.0.0.2, 1.2.3",
        ] {
            assert_eq!(client_ip(&c, &xff(&[bad])), ip("10.0.0.1"), "{bad:?}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xff1.2.3.4").unwrap(),
        );
        assert_eq!(client_ip(&c, &h), ip("10.0.0.1"));
    }

    #[test]
    fn all_trusted_means_the_leftmost() {
        let c = conn("10.0.0.1", &["10.0.0.0/8"]);
        assert_eq!(client_ip(&c, &xff(&["10.0.0.3, 10.0.0.2"])), ip("10.0.0.3"));
    }

    #[test]
    fn entries_with_ports_and_mapped_addresses() {
        let c = conn("10.0.0.1", &["10.0.0.0/8"]);
        assert_eq!(
            client_ip(&c, &xff(&["203.0.113.9:4711"])),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(&c, &xff(&["[2001:db8::1]:4711"])),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(&c, &xff(&["::ffff:203.0.113.9"])),
            ip("203.0.113.9")
        );
        // A mapped trusted proxy is still trusted.
        assert_eq!(
            client_ip(&c, &xff(&["203.0.113.9, ::ffff:10.0.0.2"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_proxy_protocol_source_is_the_hop_that_must_be_trusted() {
        // A PROXY header said the connection came from 192.0.2.7: its XFF is not believed.
        let mut c = conn("10.0.0.1", &["10.0.0.0/8"]);
        c.source_ip = ip("192.0.2.7");
        assert_eq!(client_ip(&c, &xff(&["203.0.113.9"])), ip("192.0.2.7"));
    }

    #[test]
    fn trusted_proxy_entries() {
        assert_eq!(
            parse_trusted_proxy("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_trusted_proxy("10.1.2.3").unwrap().to_string(),
            "10.1.2.3/32"
        );
        assert_eq!(parse_trusted_proxy(" ::1 ").unwrap().to_string(), "::1/128");
        for bad in ["10.0.0.0/33", "10.0.0.300", "", "localhost", "10.0.0.0/8/8"] {
            assert!(parse_trusted_proxy(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoint_and_vpc_ids() {
        assert!(is_endpoint_id("vpce-0a1b2c3d"));
        assert!(is_endpoint_id("vpce-0123456789abcdef0"));
        assert!(!is_endpoint_id("vpce-"));
        assert!(!is_endpoint_id("vpce-0A1B"));
        assert!(!is_endpoint_id("vpc-0a1b"));
        assert!(!is_endpoint_id("vpce-0a1b "));
        assert!(is_vpc_id("vpc-1a2b3c4d"));
        assert!(!is_vpc_id("vpce-1a2b3c4d"));
        assert!(!is_vpc_id("vpc-xyz"));
    }

    #[tokio::test]
    async fn rewind_yields_the_prefix_then_the_stream() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b" world")
            .await
            .unwrap();
        drop(a);
        let mut r = Rewind::new(b, Bytes::from_static(b"hello"));
        let mut out = String::new();
        r.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }
}
