//! PROXY protocol headers, versions 1 (text) and 2 (binary), as HAProxy's `proxy-protocol.txt`
//! defines them: a load balancer that forwards TCP connections puts one header in front of the
//! client's bytes to say who the client was.
//!
//! This module is a pure parser over a byte buffer. The caller reads from the connection until
//! [`parse`] stops answering [`Parsed::Incomplete`], then hands the bytes after
//! [`Header::len`] to the HTTP (or TLS) layer. It is strict: anything the specification does not
//! allow is an error, because a header is only ever accepted from a trusted proxy and a malformed
//! one means something is wrong on the path.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest a version 1 header may be, CRLF included.
pub const V1_MAX_LEN: usize = 107;
/// The twelve bytes that open a version 2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest a version 2 header can be: 16 fixed bytes and a 16-bit length.
pub const V2_MAX_LEN: usize = 16 + u16::MAX as usize;

const V1_PREFIX: &[u8] = b"PROXY ";
const V2_FIXED_LEN: usize = 16;

/// The outcome of looking at the start of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The bytes so far are the beginning of a valid header: read more and parse again.
    Incomplete,
    /// A whole header; the connection's own data starts at [`Header::len`].
    Complete(Header),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// The proxy relays a client's connection.
    Proxy,
    /// The proxy speaks for itself (health checks): the real peer is the client.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: Version,
    pub command: Command,
    /// How many bytes of the buffer the header occupies.
    pub len: usize,
    /// The relayed connection's endpoints, or `None` when the header carries none that apply
    /// to a TCP/IP client (v1 `UNKNOWN`, v2 `LOCAL`, `AF_UNSPEC`, `AF_UNIX`): the real peer is
    /// then the client.
    pub addresses: Option<Addresses>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("the connection does not start with a PROXY protocol header")]
    NotProxy,
    #[error("PROXY v1 header has no CRLF within {V1_MAX_LEN} bytes")]
    V1TooLong,
    #[error("malformed PROXY v1 header: {0}")]
    V1Malformed(&'static str),
    #[error("PROXY v2 version/command byte {0:#04x} is not supported")]
    V2VersionCommand(u8),
    #[error("PROXY v2 address family/protocol byte {0:#04x} is not valid")]
    V2Family(u8),
    #[error("PROXY v2 address block is {got} bytes, its family needs {need}")]
    V2AddressTooShort { got: usize, need: usize },
    #[error("PROXY v2 TLV runs past the end of the header")]
    V2Tlv,
}

/// Parses the PROXY header at the start of `buf`, or says more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if is_prefix_of(buf, &V2_SIGNATURE) || buf.starts_with(&V2_SIGNATURE) {
        return parse_v2(buf);
    }
    if is_prefix_of(buf, V1_PREFIX) || buf.starts_with(V1_PREFIX) {
        return parse_v1(buf);
    }
    Err(ProxyError::NotProxy)
}

/// True when `buf` is shorter than `whole` and matches its beginning (the empty buffer too).
fn is_prefix_of(buf: &[u8], whole: &[u8]) -> bool {
    buf.len() < whole.len() && whole.starts_with(buf)
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = buf.get(..buf.len().min(V1_MAX_LEN)).unwrap_or(buf);
    let Some(newline) = window.iter().position(|&b| b == b'\n') else {
        // Reject what can never become a header now rather than wait for the read timeout.
        for (i, &b) in window.iter().enumerate() {
            let last = i + 1 == window.len();
            if !(b == b' ' || b.is_ascii_graphic() || (b == b'\r' && last)) {
                return Err(ProxyError::V1Malformed(
                    "a byte that is not printable ASCII",
                ));
            }
        }
        return if buf.len() >= V1_MAX_LEN {
            Err(ProxyError::V1TooLong)
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    let line = match window.get(..newline) {
        Some([line @ .., b'\r']) => line,
        _ => return Err(ProxyError::V1Malformed("line does not end with CRLF")),
    };
    if !line.iter().all(|&b| b == b' ' || b.is_ascii_graphic()) {
        return Err(ProxyError::V1Malformed(
            "a byte that is not printable ASCII",
        ));
    }
    let line = std::str::from_utf8(line)
        .map_err(|_| ProxyError::V1Malformed("a byte that is not printable ASCII"))?;
    let len = newline + 1;
    let mut fields = line.split(' ');
    if fields.next() != Some("PROXY") {
        return Err(ProxyError::V1Malformed("does not start with `PROXY `"));
    }
    let family = fields.next();
    if family == Some("UNKNOWN") {
        // The specification lets the sender put anything after UNKNOWN; the receiver ignores it.
        return Ok(Parsed::Complete(Header {
            version: Version::V1,
            command: Command::Proxy,
            len,
            addresses: None,
        }));
    }
    let rest: Vec<&str> = fields.collect();
    let [src, dst, sport, dport] = rest.as_slice() else {
        return Err(ProxyError::V1Malformed(
            "expected `PROXY TCP4|TCP6 src dst sport dport`",
        ));
    };
    let (src, dst) = match family {
        Some("TCP4") => (
            IpAddr::V4(v1_ip::<Ipv4Addr>(src)?),
            IpAddr::V4(v1_ip::<Ipv4Addr>(dst)?),
        ),
        Some("TCP6") => (
            IpAddr::V6(v1_ip::<Ipv6Addr>(src)?),
            IpAddr::V6(v1_ip::<Ipv6Addr>(dst)?),
        ),
        _ => {
            return Err(ProxyError::V1Malformed(
                "protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        }
    };
    Ok(Parsed::Complete(Header {
        version: Version::V1,
        command: Command::Proxy,
        len,
        addresses: Some(Addresses {
            source: SocketAddr::new(src, v1_port(sport)?),
            destination: SocketAddr::new(dst, v1_port(dport)?),
        }),
    }))
}

fn v1_ip<T: std::str::FromStr>(s: &str) -> Result<T, ProxyError> {
    s.parse()
        .map_err(|_| ProxyError::V1Malformed("an address does not match its protocol"))
}

fn v1_port(s: &str) -> Result<u16, ProxyError> {
    let digits_ok = !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if !digits_ok {
        return Err(ProxyError::V1Malformed(
            "a port is not a decimal number without leading zeros",
        ));
    }
    s.parse()
        .map_err(|_| ProxyError::V1Malformed("a port is above 65535"))
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    // Check each fixed byte as soon as it arrives, so garbage fails before the read timeout.
    let ver_cmd = buf.get(12).copied();
    let command = match ver_cmd {
        None => None,
        Some(0x20) => Some(Command::Local),
        Some(0x21) => Some(Command::Proxy),
        Some(other) => return Err(ProxyError::V2VersionCommand(other)),
    };
    let family = buf.get(13).copied();
    if command == Some(Command::Proxy) {
        if let Some(f) = family {
            if !matches!(f, 0x00 | 0x11 | 0x12 | 0x21 | 0x22 | 0x31 | 0x32) {
                return Err(ProxyError::V2Family(f));
            }
        }
    }
    let (Some(command), Some(family), Some(&[hi, lo])) = (
        command,
        family,
        buf.get(14..V2_FIXED_LEN).and_then(|s| s.first_chunk::<2>()),
    ) else {
        return Ok(Parsed::Incomplete);
    };
    let len = V2_FIXED_LEN + usize::from(u16::from_be_bytes([hi, lo]));
    let Some(block) = buf.get(V2_FIXED_LEN..len) else {
        return Ok(Parsed::Incomplete);
    };
    let header = |addresses| {
        Ok(Parsed::Complete(Header {
            version: Version::V2,
            command,
            len,
            addresses,
        }))
    };
    if command == Command::Local {
        // The specification says to discard the whole block, family included, for LOCAL.
        return header(None);
    }
    let need = match family >> 4 {
        0x1 => 12,
        0x2 => 36,
        0x3 => 216,
        _ => 0,
    };
    let (Some(addr), Some(tlvs)) = (block.get(..need), block.get(need..)) else {
        return Err(ProxyError::V2AddressTooShort {
            got: block.len(),
            need,
        });
    };
    check_tlvs(tlvs)?;
    let addresses = match family >> 4 {
        0x1 => v2_inet(addr),
        0x2 => v2_inet6(addr),
        _ => None,
    };
    header(addresses)
}

fn v2_inet(addr: &[u8]) -> Option<Addresses> {
    let (src, rest) = addr.split_first_chunk::<4>()?;
    let (dst, rest) = rest.split_first_chunk::<4>()?;
    let (sport, rest) = rest.split_first_chunk::<2>()?;
    let (dport, _) = rest.split_first_chunk::<2>()?;
    Some(Addresses {
        source: SocketAddr::new(Ipv4Addr::from(*src).into(), u16::from_be_bytes(*sport)),
        destination: SocketAddr::new(Ipv4Addr::from(*dst).into(), u16::from_be_bytes(*dport)),
    })
}

fn v2_inet6(addr: &[u8]) -> Option<Addresses> {
    let (src, rest) = addr.split_first_chunk::<16>()?;
    let (dst, rest) = rest.split_first_chunk::<16>()?;
    let (sport, rest) = rest.split_first_chunk::<2>()?;
    let (dport, _) = rest.split_first_chunk::<2>()?;
    Some(Addresses {
        source: SocketAddr::new(Ipv6Addr::from(*src).into(), u16::from_be_bytes(*sport)),
        destination: SocketAddr::new(Ipv6Addr::from(*dst).into(), u16::from_be_bytes(*dport)),
    })
}

/// TLVs (ALPN, authority, SSL details, ...) carry nothing Portcullis uses, but their framing
/// must add up: a block that does not is not what a real proxy sends.
fn check_tlvs(mut tlvs: &[u8]) -> Result<(), ProxyError> {
    while !tlvs.is_empty() {
        let Some((&[_kind, hi, lo], rest)) = tlvs.split_first_chunk::<3>() else {
            return Err(ProxyError::V2Tlv);
        };
        let value_len = usize::from(u16::from_be_bytes([hi, lo]));
        tlvs = rest.get(value_len..).ok_or(ProxyError::V2Tlv)?;
    }
    Ok(())
}

/// The fuzz target's body: arbitrary bytes through [`parse`], checking the invariants a caller
/// relies on. Panics when one breaks.
#[allow(
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a broken invariant must crash the fuzzer"
)]
pub fn fuzz_proxy_header(data: &[u8]) {
    match parse(data) {
        Ok(Parsed::Complete(h)) => {
            assert!(h.len <= data.len(), "header longer than the input");
            match h.version {
                Version::V1 => assert!(h.len <= V1_MAX_LEN && h.len >= 8),
                Version::V2 => assert!((V2_FIXED_LEN..=V2_MAX_LEN).contains(&h.len)),
            }
            if h.command == Command::Local {
                assert!(h.addresses.is_none());
            }
            // The header alone is enough, and nothing after it changes the answer.
            assert_eq!(parse(&data[..h.len]), Ok(Parsed::Complete(h.clone())));
            let mut longer = data.to_vec();
            longer.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(parse(&longer), Ok(Parsed::Complete(h.clone())));
            // One byte short of a header is the start of one.
            assert_eq!(parse(&data[..h.len - 1]), Ok(Parsed::Incomplete));
        }
        Ok(Parsed::Incomplete) => {
            assert!(data.len() < V2_MAX_LEN);
            if data.first() == Some(&b'P') {
                assert!(data.len() < V1_MAX_LEN);
            }
            // Every prefix of a possible header is a possible header.
            for cut in [0, data.len() / 2, data.len().saturating_sub(1)] {
                assert_eq!(parse(&data[..cut]), Ok(Parsed::Incomplete));
            }
        }
        Err(_) => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn encode_v1(a: Option<Addresses>) -> Vec<u8> {
        match a {
            None => b"PROXY UNKNOWN\r\n".to_vec(),
            Some(a) => {
                let family = if a.source.is_ipv4() { "TCP4" } else { "TCP6" };
                format!(
                    "PROXY {family} {} {} {} {}\r\n",
                    a.source.ip(),
                    a.destination.ip(),
                    a.source.port(),
                    a.destination.port()
                )
                .into_bytes()
            }
        }
    }

    pub(crate) fn encode_v2(
        command: Command,
        a: Option<Addresses>,
        tlvs: &[(u8, Vec<u8>)],
    ) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(match command {
            Command::Local => 0x20,
            Command::Proxy => 0x21,
        });
        let mut block = Vec::new();
        match a.map(|a| (a.source, a.destination)) {
            None => out.push(0x00),
            Some((SocketAddr::V4(s), SocketAddr::V4(d))) => {
                out.push(0x11);
                block.extend_from_slice(&s.ip().octets());
                block.extend_from_slice(&d.ip().octets());
                block.extend_from_slice(&s.port().to_be_bytes());
                block.extend_from_slice(&d.port().to_be_bytes());
            }
            Some((s, d)) => {
                out.push(0x21);
                let v6 = |ip: IpAddr| match ip {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                block.extend_from_slice(&v6(s.ip()).octets());
                block.extend_from_slice(&v6(d.ip()).octets());
                block.extend_from_slice(&s.port().to_be_bytes());
                block.extend_from_slice(&d.port().to_be_bytes());
            }
        }
        for (kind, value) in tlvs {
            block.push(*kind);
            block.extend_from_slice(&(value.len() as u16).to_be_bytes());
            block.extend_from_slice(value);
        }
        out.extend_from_slice(&(block.len() as u16).to_be_bytes());
        out.extend_from_slice(&block);
        out
    }

    fn addrs(src: &str, dst: &str) -> Option<Addresses> {
        Some(Addresses {
            source: src.parse().unwrap(),
            destination: dst.parse().unwrap(),
        })
    }

    fn complete(buf: &[u8]) -> Header {
        match parse(buf) {
            Ok(Parsed::Complete(h)) => h,
            other => panic!("expected a header from {buf:?}, got {other:?}"),
        }
    }

    #[test]
    fn v1_tcp4() {
        let h = complete(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n");
        assert_eq!(h.version, Version::V1);
        assert_eq!(h.command, Command::Proxy);
        assert_eq!(h.len, 45);
        assert_eq!(h.addresses, addrs("192.0.2.1:56324", "198.51.100.2:443"));
    }

    #[test]
    fn v1_tcp6() {
        let h = complete(b"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");
        assert_eq!(h.addresses, addrs("[2001:db8::1]:65535", "[::1]:0"));
    }

    #[test]
    fn v1_unknown_ignores_the_rest_of_the_line() {
        for line in [
            &b"PROXY UNKNOWN\r\n"[..],
            b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
        ] {
            let h = complete(line);
            assert_eq!(h.addresses, None);
            assert_eq!(h.len, line.len());
        }
    }

    #[test]
    fn v1_longest_header_fits() {
        // The specification's worst case.
        let line = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(line.len(), V1_MAX_LEN);
        assert_eq!(complete(line).len, V1_MAX_LEN);
        let line = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(complete(line).len, line.len());
    }

    #[test]
    fn v1_prefixes_are_incomplete() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
        for cut in 0..line.len() {
            assert_eq!(parse(&line[..cut]), Ok(Parsed::Incomplete), "cut at {cut}");
        }
    }

    #[test]
    fn v1_malformed() {
        let bad: &[&[u8]] = &[
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n",
            b"PROXY  TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",
            b"PROXY TCP4 ::1 198.51.100.2 56324 443\r\n",
            b"PROXY TCP6 192.0.2.1 ::1 56324 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 080 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 +80 443\r\n",
            b"PROXY TCP4 192.0.2.01 198.51.100.2 80 443\r\n",
            b"PROXY UDP4 192.0.2.1 198.51.100.2 80 443\r\n",
            b"PROXY tcp4 192.0.2.1 198.51.100.2 80 443\r\n",
            b"PROXY TCP4 192.0.2.1\t198.51.100.2 80 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 80 443\r\r\n",
            b"PROXY \xc3\xa9\r\n",
            b"PROXY\r\n",
        ];
        for b in bad {
            assert!(
                matches!(
                    parse(b),
                    Err(ProxyError::V1Malformed(_) | ProxyError::NotProxy)
                ),
                "{:?} gave {:?}",
                String::from_utf8_lossy(b),
                parse(b)
            );
        }
    }

    #[test]
    fn v1_without_crlf_in_107_bytes_is_too_long() {
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(V1_MAX_LEN, b'x');
        assert_eq!(parse(&line), Err(ProxyError::V1TooLong));
        line.truncate(V1_MAX_LEN - 1);
        assert_eq!(parse(&line), Ok(Parsed::Incomplete));
        line.extend_from_slice(b"\r\n");
        assert_eq!(parse(&line), Err(ProxyError::V1TooLong));
    }

    #[test]
    fn v1_garbage_fails_before_the_line_ends() {
        assert!(parse(b"PROXY TCP4 \x00").is_err());
        assert!(parse(b"PROXY TCP4\r1").is_err());
    }

    #[test]
    fn not_a_proxy_header() {
        for b in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"\x16\x03\x01\x02\x00",
            b"PROXX",
            b"\r\n\r\n\0\r\nQUIX\n",
            b"proxy TCP4",
        ] {
            assert_eq!(parse(b), Err(ProxyError::NotProxy), "{b:?}");
        }
    }

    #[test]
    fn v2_tcp4_and_tcp6() {
        let a = addrs("192.0.2.1:56324", "198.51.100.2:443");
        let h = complete(&encode_v2(Command::Proxy, a, &[]));
        assert_eq!(
            (h.version, h.command, h.len, h.addresses),
            (Version::V2, Command::Proxy, 28, a)
        );
        let a = addrs("[2001:db8::1]:1", "[2001:db8::2]:2");
        let h = complete(&encode_v2(Command::Proxy, a, &[]));
        assert_eq!((h.len, h.addresses), (52, a));
    }

    #[test]
    fn v2_tlvs_are_skipped_and_data_after_the_header_is_left_alone() {
        let a = addrs("192.0.2.1:1", "192.0.2.2:2");
        let mut buf = encode_v2(
            Command::Proxy,
            a,
            &[(0x01, b"h2".to_vec()), (0x04, vec![]), (0x20, vec![7; 300])],
        );
        let len = buf.len();
        buf.extend_from_slice(b"\x16\x03\x01");
        let h = complete(&buf);
        assert_eq!((h.len, h.addresses), (len, a));
    }

    #[test]
    fn v2_local_uses_the_real_peer_and_ignores_the_block() {
        let h = complete(&encode_v2(Command::Local, None, &[]));
        assert_eq!((h.command, h.addresses), (Command::Local, None));
        // LOCAL with an address block (and even a family byte PROXY would refuse).
        let mut buf = encode_v2(Command::Local, addrs("192.0.2.1:1", "192.0.2.2:2"), &[]);
        let h = complete(&buf);
        assert_eq!((h.command, h.addresses, h.len), (Command::Local, None, 28));
        buf[13] = 0x99;
        assert_eq!(complete(&buf).addresses, None);
    }

    #[test]
    fn v2_unspec_and_unix_carry_no_client_address() {
        let h = complete(&encode_v2(Command::Proxy, None, &[]));
        assert_eq!(h.addresses, None);
        let mut unix = V2_SIGNATURE.to_vec();
        unix.extend_from_slice(&[0x21, 0x31, 0, 216]);
        unix.extend_from_slice(&[b'/'; 216]);
        assert_eq!(complete(&unix).addresses, None);
    }

    #[test]
    fn v2_udp_family_is_accepted() {
        let mut buf = encode_v2(Command::Proxy, addrs("192.0.2.1:1", "192.0.2.2:2"), &[]);
        buf[13] = 0x12;
        assert_eq!(
            complete(&buf).addresses,
            addrs("192.0.2.1:1", "192.0.2.2:2")
        );
    }

    #[test]
    fn v2_prefixes_are_incomplete() {
        let buf = encode_v2(
            Command::Proxy,
            addrs("[::1]:1", "[::2]:2"),
            &[(1, vec![1, 2, 3])],
        );
        for cut in 0..buf.len() {
            assert_eq!(parse(&buf[..cut]), Ok(Parsed::Incomplete), "cut at {cut}");
        }
    }

    #[test]
    fn v2_malformed() {
        let good = encode_v2(Command::Proxy, addrs("192.0.2.1:1", "192.0.2.2:2"), &[]);
        let with = |i: usize, b: u8| {
            let mut v = good.clone();
            v[i] = b;
            parse(&v)
        };
        assert_eq!(with(12, 0x11), Err(ProxyError::V2VersionCommand(0x11)));
        assert_eq!(with(12, 0x22), Err(ProxyError::V2VersionCommand(0x22)));
        assert_eq!(with(12, 0x31), Err(ProxyError::V2VersionCommand(0x31)));
        assert_eq!(with(13, 0x13), Err(ProxyError::V2Family(0x13)));
        assert_eq!(with(13, 0x41), Err(ProxyError::V2Family(0x41)));
        assert_eq!(with(13, 0x10), Err(ProxyError::V2Family(0x10)));
        // An INET6 family over an INET-sized block.
        assert_eq!(
            with(13, 0x21),
            Err(ProxyError::V2AddressTooShort { got: 12, need: 36 })
        );
        // Early bytes are judged before the rest arrives.
        assert_eq!(
            parse(&good[..12].iter().copied().chain([0x02]).collect::<Vec<_>>()),
            Err(ProxyError::V2VersionCommand(0x02))
        );
        // A TLV whose length runs past the block, and a truncated TLV head.
        let mut v = encode_v2(
            Command::Proxy,
            addrs("192.0.2.1:1", "192.0.2.2:2"),
            &[(1, vec![0; 4])],
        );
        let last = v.len() - 5;
        v[last] = 9;
        assert_eq!(parse(&v), Err(ProxyError::V2Tlv));
        let mut v = good.clone();
        v[15] += 2;
        v.extend_from_slice(&[1, 0]);
        assert_eq!(parse(&v), Err(ProxyError::V2Tlv));
    }

    #[test]
    fn fuzz_body_accepts_the_seeds() {
        let seeds: Vec<Vec<u8>> = vec![
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET".to_vec(),
            b"PROXY UNKNOWN\r\n".to_vec(),
            b"PROXY TCP6 ::1 ::1 1 2\r".to_vec(),
            encode_v2(Command::Proxy, addrs("[::1]:1", "[::2]:2"), &[(1, vec![1])]),
            encode_v2(Command::Local, None, &[]),
            V2_SIGNATURE[..7].to_vec(),
            vec![],
            b"GET / HTTP/1.1\r\n".to_vec(),
        ];
        for s in seeds {
            fuzz_proxy_header(&s);
        }
    }

    fn any_addresses() -> impl Strategy<Value = Addresses> {
        prop_oneof![
            (
                any::<[u8; 4]>(),
                any::<[u8; 4]>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(s, d, sp, dp)| Addresses {
                    source: SocketAddr::new(Ipv4Addr::from(s).into(), sp),
                    destination: SocketAddr::new(Ipv4Addr::from(d).into(), dp),
                }),
            (
                any::<[u8; 16]>(),
                any::<[u8; 16]>(),
                any::<u16>(),
                any::<u16>()
            )
                .prop_map(|(s, d, sp, dp)| Addresses {
                    source: SocketAddr::new(Ipv6Addr::from(s).into(), sp),
                    destination: SocketAddr::new(Ipv6Addr::from(d).into(), dp),
                }),
        ]
    }

    proptest! {
        #[test]
        fn v1_round_trip(a in proptest::option::of(any_addresses()), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = encode_v1(a);
            let len = buf.len();
            prop_assert!(len <= V1_MAX_LEN);
            buf.extend_from_slice(&tail);
            let h = complete(&buf);
            prop_assert_eq!((h.version, h.command, h.len, h.addresses), (Version::V1, Command::Proxy, len, a));
            fuzz_proxy_header(&buf);
        }

        #[test]
        fn v2_round_trip(
            local in any::<bool>(),
            a in proptest::option::of(any_addresses()),
            tlvs in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..4),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let command = if local { Command::Local } else { Command::Proxy };
            let mut buf = encode_v2(command, a, &tlvs);
            let len = buf.len();
            buf.extend_from_slice(&tail);
            let h = complete(&buf);
            let expected = if local { None } else { a };
            prop_assert_eq!((h.version, h.command, h.len, h.addresses), (Version::V2, command, len, expected));
            fuzz_proxy_header(&buf);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            fuzz_proxy_header(&data);
        }

        #[test]
        fn arbitrary_bytes_after_a_signature_never_panic(v2 in any::<bool>(), data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = if v2 { V2_SIGNATURE.to_vec() } else { V1_PREFIX.to_vec() };
            buf.extend_from_slice(&data);
            fuzz_proxy_header(&buf);
        }
    }
}
