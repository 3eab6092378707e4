//! The canonical request and the string to sign, rebuilt from the request as received.

use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::parse::{AuthForm, SigV4Auth, SignedRequestParts};
use super::ALGORITHM;

/// Percent-encodes `input` with the RFC 3986 unreserved set (`A-Z a-z 0-9 - . _ ~`) left as is,
/// and `/` too when `keep_slash`; every other byte becomes `%XX` with uppercase hex.
pub fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    push_uri_encoded(&mut out, input, keep_slash);
    out
}

fn push_uri_encoded(out: &mut String, input: &[u8], keep_slash: bool) {
    for &b in input {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b & 0x0f));
        }
    }
}

/// Uppercase hex digit of a nibble (`n < 16`).
fn hex_digit(n: u8) -> char {
    char::from(if n < 10 { b'0' + n } else { b'A' + (n - 10) })
}

/// Decodes `%XX` escapes. A `%` not followed by two hex digits stays as it is (and is then
/// re-encoded as `%25`), and `+` stays a `+`: SigV4 knows no form-encoding.
pub(crate) fn percent_decode(input: &str) -> Vec<u8> {
    let b = input.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&x| hex_value(x)),
                b.get(i + 2).and_then(|&x| hex_value(x)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The canonical URI of a non-S3 service: dot segments and empty segments removed from the
/// path as received, then every byte outside the unreserved set and `/` encoded (again).
///
/// This is botocore's `quote(remove_dot_segments(path), safe='/~')`: a trailing `/` survives
/// unless nothing is left, and an empty path is `/`.
pub(crate) fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(raw_path.len() + 8);
    if raw_path.starts_with('/') {
        out.push('/');
    }
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        push_uri_encoded(&mut out, segment.as_bytes(), false);
    }
    if raw_path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// The canonical query: each `key=value` decoded then re-encoded, sorted by encoded key then
/// encoded value, joined with `&`; a parameter without `=` gets one. `X-Amz-Signature` is left
/// out of a presigned request's query, as it cannot sign itself, and so is
/// `X-Amz-Security-Token` when `drop_token` (see [`CanonicalInput::drop_token`]).
pub(crate) fn canonical_query(raw_query: &str, drop_signature: bool, drop_token: bool) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .filter(|(k, _)| {
            !(drop_signature && k == "X-Amz-Signature" || drop_token && k == "X-Amz-Security-Token")
        })
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(raw_query.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Trims spaces and tabs around the value and collapses each inner run into one space
/// (the spec's `Trimall`).
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let mut first = true;
    for word in value
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
    {
        if !first {
            out.push(b' ');
        }
        out.extend_from_slice(word);
        first = false;
    }
}

/// Everything the canonical request depends on, shared by the verifier and the signer.
pub(crate) struct CanonicalInput<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub drop_signature: bool,
    /// Some signers (the CRT's "omit session token" mode, used by AWS IoT and old STS
    /// presigners) add `X-Amz-Security-Token` to a presigned query after signing it.
    pub drop_token: bool,
    pub headers: &'a HeaderMap,
    pub authority: Option<&'a str>,
    pub signed_headers: &'a [String],
    pub payload_hash: &'a str,
}

/// `Method\nURI\nQuery\nHeaders\n\nSignedHeaders\nPayloadHash`. Bytes, not a string: a signed
/// header value may hold obs-text, which is signed as received.
pub(crate) fn build(input: &CanonicalInput<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(input.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(input.raw_path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(
        canonical_query(input.raw_query, input.drop_signature, input.drop_token).as_bytes(),
    );
    out.push(b'\n');
    for name in input.signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values = input.headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none() && name.eq_ignore_ascii_case("host") {
            // HTTP/2 carries the host in `:authority`, which is not in the header map.
            if let Some(authority) = input.authority {
                push_trimmed(&mut out, authority.as_bytes());
            }
        }
        let mut first = true;
        for value in values {
            if !first {
                out.push(b',');
            }
            push_trimmed(&mut out, value.as_bytes());
            first = false;
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    for (i, name) in input.signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(input.payload_hash.as_bytes());
    out
}

/// The canonical request of `parts` under `auth`, with `payload_hash` as its last line.
/// Exposed so that tests and debug tooling can show what was signed.
pub fn canonical_request(
    auth: &SigV4Auth,
    parts: &SignedRequestParts<'_>,
    payload_hash: &str,
) -> Vec<u8> {
    build(&CanonicalInput {
        method: parts.method,
        raw_path: parts.raw_path,
        raw_query: parts.raw_query,
        drop_signature: matches!(auth.form(), AuthForm::Presigned { .. }),
        drop_token: false,
        headers: parts.headers,
        authority: parts.authority,
        signed_headers: auth.signed_headers(),
        payload_hash,
    })
}

/// The canonical request of a presigned request whose signer added `X-Amz-Security-Token` to
/// the query after signing.
pub(crate) fn canonical_request_without_token(
    auth: &SigV4Auth,
    parts: &SignedRequestParts<'_>,
    payload_hash: &str,
) -> Vec<u8> {
    build(&CanonicalInput {
        method: parts.method,
        raw_path: parts.raw_path,
        raw_query: parts.raw_query,
        drop_signature: true,
        drop_token: true,
        headers: parts.headers,
        authority: parts.authority,
        signed_headers: auth.signed_headers(),
        payload_hash,
    })
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256 of the canonical request>`.
pub fn string_to_sign(auth: &SigV4Auth, canonical_request: &[u8]) -> String {
    string_to_sign_parts(
        auth.amz_date(),
        &auth.scope().to_string(),
        canonical_request,
    )
}

pub(crate) fn string_to_sign_parts(
    amz_date: &str,
    scope: &str,
    canonical_request: &[u8],
) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_path_is_normalized_and_encoded_again() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/example1/example2/../.."), "/");
        assert_eq!(canonical_uri("/./example/./"), "/example/");
        assert_eq!(canonical_uri("/a%2Fb/c d"), "/a%252Fb/c%20d");
        assert_eq!(canonical_uri("/-._~!$"), "/-._~%21%24");
        assert_eq!(canonical_uri("/ሴ"), "/%E1%88%B4");
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        assert_eq!(canonical_query("", false, false), "");
        assert_eq!(canonical_query("b=2&a=1&a=0", false, false), "a=0&a=1&b=2");
        assert_eq!(canonical_query("acl&x=", false, false), "acl=&x=");
        assert_eq!(canonical_query("k=%7e+%2f%", false, false), "k=~%2B%2F%25");
        assert_eq!(
            canonical_query("Param-1=a&Param1=b&param=c", false, false),
            "Param-1=a&Param1=b&param=c"
        );
        assert_eq!(
            canonical_query("a=1&X-Amz-Signature=ff", true, false),
            "a=1"
        );
        assert_eq!(
            canonical_query("a=1&X-Amz-Signature=ff", false, false),
            "X-Amz-Signature=ff&a=1"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let mut out = Vec::new();
        push_trimmed(&mut out, b" \t a  b\t\tc  ");
        assert_eq!(out, b"a b c");
    }

    #[test]
    fn percent_decode_keeps_bad_escapes() {
        assert_eq!(percent_decode("%41%4a%zz%4"), b"AJ%zz%4");
    }
}
