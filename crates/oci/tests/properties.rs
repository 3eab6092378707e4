//! Property tests of the grammars: generated valid strings round-trip, arbitrary strings are
//! accepted exactly when a regex written straight from the spec accepts them, and byte ranges
//! agree with a brute-force model.

use std::sync::LazyLock;

use portcullis_oci::{ByteRange, ContentRange, Digest, Reference, RepoName, Tag};
use proptest::prelude::*;
use regex::Regex;

// The oracles, transcribed from the distribution-spec and image-spec texts. Rust's `$` only
// matches at the very end of the input, so a trailing newline is not let through.
static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$").unwrap()
});
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").unwrap());
static DIGEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$").unwrap());

fn name_oracle(s: &str) -> bool {
    NAME.is_match(s) && s.len() <= 255
}

fn valid_name() -> impl Strategy<Value = String> {
    let component = "[a-z0-9]{1,10}((\\.|_|__|-{1,3})[a-z0-9]{1,10}){0,3}";
    prop::collection::vec(component, 1..6)
        .prop_map(|c| c.join("/"))
        .prop_filter("within 255 bytes", |s| s.len() <= 255)
}

fn valid_tag() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
}

fn valid_digest() -> impl Strategy<Value = String> {
    prop_oneof!["sha256:[a-f0-9]{64}", "sha512:[a-f0-9]{128}"]
}

/// Strings near the grammars' edges: valid strings with one character changed, inserted or
/// removed, strings over the grammars' alphabet, and anything at all.
fn arbitrary_string() -> impl Strategy<Value = String> {
    let near = (
        prop_oneof![valid_name(), valid_tag(), valid_digest()],
        any::<usize>(),
        any::<char>(),
    )
        .prop_map(|(s, at, c)| {
            let mut chars: Vec<char> = s.chars().collect();
            let at = at % (chars.len() + 1);
            match at % 3 {
                0 => chars.insert(at, c),
                1 if at < chars.len() => chars[at] = c,
                _ if at < chars.len() => {
                    chars.remove(at);
                }
                _ => chars.push(c),
            }
            chars.into_iter().collect()
        });
    prop_oneof![
        near,
        "[a-zA-Z0-9._/:-]{0,24}",
        "[a-z0-9._/-]{0,300}",
        "[a-z0-9_]{1,6}:[a-fA-F0-9]{60,130}",
        ".*",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn valid_names_round_trip(s in valid_name()) {
        let name: RepoName = s.parse().unwrap();
        prop_assert_eq!(name.to_string(), s);
    }

    #[test]
    fn valid_tags_round_trip(s in valid_tag()) {
        let tag: Tag = s.parse().unwrap();
        prop_assert_eq!(tag.to_string(), s.clone());
        let reference: Reference = s.parse().unwrap();
        prop_assert!(matches!(reference, Reference::Tag(_)));
        prop_assert_eq!(reference.to_string(), s);
    }

    #[test]
    fn valid_digests_round_trip(s in valid_digest()) {
        let digest: Digest = s.parse().unwrap();
        prop_assert_eq!(digest.to_string(), s.clone());
        let reference: Reference = s.parse().unwrap();
        prop_assert_eq!(reference, Reference::Digest(digest));
    }

    #[test]
    fn names_accepted_iff_grammar_matches(s in arbitrary_string()) {
        prop_assert_eq!(s.parse::<RepoName>().is_ok(), name_oracle(&s), "{:?}", s);
    }

    #[test]
    fn tags_accepted_iff_grammar_matches(s in arbitrary_string()) {
        prop_assert_eq!(s.parse::<Tag>().is_ok(), TAG.is_match(&s), "{:?}", s);
    }

    #[test]
    fn digests_accepted_iff_grammar_matches(s in arbitrary_string()) {
        prop_assert_eq!(s.parse::<Digest>().is_ok(), DIGEST.is_match(&s), "{:?}", s);
    }

    #[test]
    fn references_accepted_iff_tag_or_digest(s in arbitrary_string()) {
        let parsed = s.parse::<Reference>();
        prop_assert_eq!(parsed.is_ok(), TAG.is_match(&s) || DIGEST.is_match(&s), "{:?}", s);
        if let Ok(r) = parsed {
            prop_assert_eq!(r.to_string(), s);
        }
    }

    #[test]
    fn parents_of_valid_names_are_valid_prefixes(s in valid_name()) {
        let name: RepoName = s.parse().unwrap();
        let parents: Vec<&str> = name.parents().collect();
        prop_assert_eq!(parents.len(), s.matches('/').count());
        for p in parents {
            prop_assert!(p.parse::<RepoName>().is_ok());
            let prefix = format!("{p}/");
            prop_assert!(s.starts_with(&prefix));
        }
    }

    #[test]
    fn content_range_round_trips(start in any::<u64>(), len in any::<u64>()) {
        let end = start.saturating_add(len);
        let text = format!("{start}-{end}");
        let r = ContentRange::parse(&text).unwrap();
        prop_assert_eq!(r, ContentRange { start, end });
        prop_assert_eq!(r.to_string(), text);
        prop_assert!(!r.is_empty());
        prop_assert_eq!(r.len(), (end - start).saturating_add(1));
    }

    #[test]
    fn content_range_rejects_end_before_start(a in any::<u64>(), b in any::<u64>()) {
        prop_assume!(a != b);
        let (start, end) = (a.max(b), a.min(b));
        let (plain, rfc) = (format!("{start}-{end}"), format!("bytes {start}-{end}/*"));
        prop_assert!(ContentRange::parse(&plain).is_err());
        prop_assert!(ContentRange::parse(&rfc).is_err());
    }

    #[test]
    fn content_range_total_must_exceed_end(start in 0u64..1000, len in 0u64..1000, total in 0u64..3000) {
        let end = start + len;
        let parsed = ContentRange::parse(&format!("bytes {start}-{end}/{total}"));
        prop_assert_eq!(parsed.is_ok(), total > end);
    }

    #[test]
    fn content_range_parses_anything_without_panicking(s in "\\PC{0,40}") {
        if let Ok(r) = ContentRange::parse(&s) {
            prop_assert!(r.start <= r.end);
        }
    }

    #[test]
    fn byte_range_agrees_with_brute_force_model(range in small_byte_range(), size in 0u64..64) {
        prop_assert_eq!(range.resolve(size), model_resolve(range, size), "{:?} of {}", range, size);
    }

    #[test]
    fn byte_range_never_leaves_the_blob(range in any_byte_range(), size in any::<u64>()) {
        if let Some((start, end)) = range.resolve(size) {
            prop_assert!(start <= end && end < size);
        }
    }

    #[test]
    fn byte_range_header_round_trips(range in any_byte_range()) {
        let text = match range {
            ByteRange::From { start, end: Some(end) } => format!("bytes={start}-{end}"),
            ByteRange::From { start, end: None } => format!("bytes={start}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        };
        let parsed = ByteRange::parse(&text);
        let reversed = matches!(range, ByteRange::From { start, end: Some(end) } if end < start);
        if reversed {
            prop_assert!(parsed.is_err());
        } else {
            prop_assert_eq!(parsed, Ok(range));
        }
    }
}

/// Ranges over small numbers so that the model's byte-by-byte walk stays short, including the
/// reversed `From` a caller could build by hand.
fn small_byte_range() -> impl Strategy<Value = ByteRange> {
    prop_oneof![
        (0u64..80, prop::option::of(0u64..80))
            .prop_map(|(start, end)| ByteRange::From { start, end }),
        (0u64..80).prop_map(ByteRange::Suffix),
    ]
}

fn any_byte_range() -> impl Strategy<Value = ByteRange> {
    prop_oneof![
        (any::<u64>(), prop::option::of(any::<u64>()))
            .prop_map(|(start, end)| ByteRange::From { start, end }),
        any::<u64>().prop_map(ByteRange::Suffix),
    ]
}

/// RFC 9110 in its plainest reading: a byte is selected when it lies in the requested range;
/// the answer is the first and last selected byte, or none when no byte is selected.
fn model_resolve(range: ByteRange, size: u64) -> Option<(u64, u64)> {
    let selected = |i: u64| match range {
        ByteRange::From { start, end } => i >= start && end.is_none_or(|e| i <= e),
        ByteRange::Suffix(n) => i + n >= size,
    };
    let picked: Vec<u64> = (0..size).filter(|&i| selected(i)).collect();
    Some((*picked.first()?, *picked.last()?))
}
