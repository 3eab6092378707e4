//! Invariant checks over the crate's parsers, for fuzz targets and tests.
//!
//! Each function takes arbitrary bytes, runs them through the parsers and panics (through
//! `assert!`) when a parser's result breaks a property that must hold for every input: a round
//! trip that does not print back, a manifest whose required blobs are not its config and
//! non-foreign layers, a range that lies outside the blob. Inputs a parser refuses are fine;
//! panics inside a parser are the other failure a fuzzer finds. The same functions run over the
//! seed corpus in `tests/corpus.rs`, so the checks also hold in an ordinary `cargo test`.

use serde_json::Value;

use crate::manifest::{parse_manifest, ManifestError, ManifestKind, MAX_MANIFEST_SIZE};
use crate::media_types;
use crate::{ByteRange, ContentRange, Descriptor, Digest, Reference, RepoName, Tag};

/// The Content-Types a client may send with a manifest PUT, the absent one first.
const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some(media_types::OCI_MANIFEST),
    Some(media_types::OCI_INDEX),
    Some(media_types::DOCKER_MANIFEST_V2),
    Some(media_types::DOCKER_MANIFEST_LIST),
    Some(media_types::DOCKER_MANIFEST_V1_SIGNED),
    Some("application/json"),
    Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
];

/// Parses `data` as a manifest under every Content-Type a client may send and checks what an
/// accepted manifest promises the registry.
pub fn manifest_parse(data: &[u8]) {
    let json: Option<serde_json::Map<String, Value>> = serde_json::from_slice(data).ok();
    for content_type in CONTENT_TYPES {
        let result = parse_manifest(data, content_type);
        if data.len() > MAX_MANIFEST_SIZE {
            assert!(matches!(result, Err(ManifestError::TooLarge(_))));
            continue;
        }
        let Ok(m) = result else { continue };
        assert!(
            json.is_some(),
            "accepted a manifest that is not a JSON object"
        );
        let Some(json) = json.as_ref() else { continue };
        check_manifest(&m, json, content_type);
        // Pushing the same bytes again with the type the registry will serve them as must give
        // the same answer: that is what a later GET tells the client.
        assert_eq!(parse_manifest(data, Some(&m.media_type)).as_ref(), Ok(&m));
    }
}

fn check_manifest(
    m: &crate::ParsedManifest,
    json: &serde_json::Map<String, Value>,
    content_type: Option<&str>,
) {
    assert!(media_types::MANIFEST_TYPES.contains(&m.media_type.as_str()));
    assert!(json.get("schemaVersion").and_then(Value::as_u64) == Some(2));
    match json.get("mediaType") {
        Some(Value::String(declared)) => assert_eq!(&m.media_type, declared),
        _ => {
            let base = content_type
                .and_then(|c| c.split(';').next())
                .map(str::trim);
            if let Some(c) = base.filter(|c| media_types::MANIFEST_TYPES.contains(c)) {
                assert_eq!(m.media_type, c);
            }
        }
    }
    if let (Some(Value::String(declared)), Some(c)) = (json.get("mediaType"), content_type) {
        let c = c.split(';').next().unwrap_or(c).trim();
        if media_types::MANIFEST_TYPES.contains(&c) {
            assert_eq!(
                declared, c,
                "mediaType and Content-Type disagree but were accepted"
            );
        }
    }

    // The oracle for required blobs reads the raw JSON, not the parser's output.
    let raw_digest = |v: &Value| v.get("digest").and_then(Value::as_str).map(str::to_owned);
    let mut expected: Vec<String> = Vec::new();
    match m.kind {
        ManifestKind::Image => {
            assert!(m.manifests.is_empty());
            assert!(!json.contains_key("manifests") || json.get("manifests") == Some(&Value::Null));
            let config = json.get("config").and_then(raw_digest);
            assert!(config.is_some());
            expected.extend(config);
            let layers = json.get("layers").and_then(Value::as_array);
            for layer in layers.into_iter().flatten() {
                let urls = layer
                    .get("urls")
                    .and_then(Value::as_array)
                    .is_some_and(|u| !u.is_empty());
                let mt = layer
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let foreign = urls && (mt.contains("foreign") || mt.contains("nondistributable"));
                if !foreign {
                    expected.extend(raw_digest(layer));
                }
            }
            let at = m.artifact_type.as_deref();
            let config_mt = m.config.as_ref().map(|c| c.media_type.as_str());
            match json
                .get("artifactType")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                Some(declared) => assert_eq!(at, Some(declared)),
                None => assert_eq!(at, config_mt),
            }
        }
        ManifestKind::Index => {
            assert!(m.config.is_none() && m.layers.is_empty());
            let n = json
                .get("manifests")
                .and_then(Value::as_array)
                .map(Vec::len);
            assert_eq!(n, Some(m.manifests.len()));
            let declared = json.get("artifactType").and_then(Value::as_str);
            assert_eq!(
                m.artifact_type.as_deref(),
                declared.filter(|s| !s.is_empty())
            );
        }
    }
    let required: Vec<String> = m.required_blobs().map(|d| d.digest.to_string()).collect();
    assert_eq!(required, expected);

    let subject = json.get("subject").filter(|s| !s.is_null());
    assert_eq!(
        m.subject.as_ref().map(|s| s.digest.to_string()),
        subject.and_then(raw_digest)
    );
    let all = m
        .config
        .iter()
        .chain(&m.layers)
        .chain(&m.manifests)
        .chain(&m.subject);
    for d in all {
        check_descriptor(d);
    }
}

fn check_descriptor(d: &Descriptor) {
    assert!(i64::try_from(d.size).is_ok());
    assert!(d.media_type.contains('/'));
    let json = serde_json::to_value(d);
    let back = json.and_then(serde_json::from_value::<Descriptor>);
    assert_eq!(back.ok().as_ref(), Some(d));
}

/// Parses `data` as a repository name, a tag, a digest and a manifest reference; whatever is
/// accepted must print back to the input and respect the grammar's limits.
pub fn reference_parse(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = s.parse::<RepoName>() {
        assert_eq!(name.as_str(), s);
        assert!(!s.is_empty() && s.len() <= crate::name::MAX_NAME_LEN);
        assert!(s.bytes().all(|b| b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || matches!(b, b'.' | b'_' | b'-' | b'/')));
        for parent in name.parents() {
            assert!(
                parent.parse::<RepoName>().is_ok(),
                "parent `{parent}` of `{s}` is invalid"
            );
            assert!(s.starts_with(parent));
        }
    }
    let tag = s.parse::<Tag>();
    if let Ok(tag) = &tag {
        assert_eq!(tag.as_str(), s);
        assert!(s.len() <= crate::name::MAX_TAG_LEN && !s.contains(':'));
    }
    let digest = s.parse::<Digest>();
    if let Ok(d) = &digest {
        assert_eq!(d.to_string(), s);
        assert_eq!(d.hex().len(), d.algorithm().hex_len());
        assert!(d
            .hex()
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    }
    match s.parse::<Reference>() {
        Ok(r) => {
            assert_eq!(r.to_string(), s);
            match &r {
                Reference::Tag(t) => assert_eq!(tag.as_ref(), Ok(t)),
                Reference::Digest(d) => assert_eq!(digest.as_ref(), Ok(d)),
            }
        }
        // A reference is exactly a tag or a digest.
        Err(_) => assert!(tag.is_err() && digest.is_err()),
    }
}

/// Parses `data` as a `Content-Range` and as a `Range` header and checks the result against
/// the header's meaning.
pub fn content_range(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = ContentRange::parse(s) {
        assert!(r.start <= r.end);
        assert!(!r.is_empty() && r.len() == (r.end - r.start).saturating_add(1));
        let printed = r.to_string();
        assert_eq!(ContentRange::parse(&printed), Ok(r));
        if is_canonical_range(s) {
            assert_eq!(printed, s);
        }
    }
    if let Ok(b) = ByteRange::parse(s) {
        let mut sizes = vec![0, 1, 2, 100, u64::MAX];
        if let ByteRange::From { start, end } = b {
            sizes.extend([start, start.saturating_add(1)]);
            sizes.extend(end.into_iter().flat_map(|e| [e, e.saturating_add(1)]));
        }
        if let ByteRange::Suffix(n) = b {
            sizes.extend([n, n.saturating_add(1), n.saturating_sub(1)]);
        }
        for size in sizes {
            if let Some((start, end)) = b.resolve(size) {
                assert!(
                    start <= end && end < size,
                    "{b:?} resolved to {start}-{end} of {size}"
                );
            }
        }
    }
}

/// `start-end` in decimal without leading zeros: the only form printed back verbatim.
fn is_canonical_range(s: &str) -> bool {
    let canonical = |n: &str| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
    };
    s.split_once('-')
        .is_some_and(|(a, b)| canonical(a) && canonical(b))
}
