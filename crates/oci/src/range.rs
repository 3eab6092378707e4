//! Byte ranges of the two headers the registry reads: `Content-Range` on chunked uploads
//! (`<start>-<end>`, inclusive, as the distribution spec writes it) and `Range` on blob GETs
//! (RFC 9110 `bytes=` with a single range).

use crate::Error;

/// The inclusive range a chunk claims to cover in an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: u64,
}

impl ContentRange {
    /// Parses `start-end`, also accepting the RFC 9110 form `bytes start-end/total` that some
    /// clients send. `end` must not be below `start`, and a numeric total must exceed `end`.
    pub fn parse(header: &str) -> Result<Self, Error> {
        let invalid = || Error::RangeInvalid(header.to_owned());
        let s = header.trim();
        let s = s
            .strip_prefix("bytes ")
            .or_else(|| s.strip_prefix("bytes="))
            .unwrap_or(s);
        let (s, total) = match s.split_once('/') {
            Some((range, "*")) => (range, None),
            Some((range, total)) => (range, Some(parse_u64(total).ok_or_else(invalid)?)),
            None => (s, None),
        };
        let (a, b) = s.split_once('-').ok_or_else(invalid)?;
        let start = parse_u64(a).ok_or_else(invalid)?;
        let end = parse_u64(b).ok_or_else(invalid)?;
        if end < start || total.is_some_and(|t| end >= t) {
            return Err(invalid());
        }
        Ok(ContentRange { start, end })
    }

    /// Number of bytes covered. The one range whose length does not fit in a `u64`
    /// (`0-18446744073709551615`) reports `u64::MAX`, which no upload can reach anyway.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start).saturating_add(1)
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Prints the canonical `start-end` form the distribution spec uses.
impl std::fmt::Display for ContentRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A `Range: bytes=...` request, before it is resolved against a blob's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=start-` or `bytes=start-end`.
    From { start: u64, end: Option<u64> },
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses a single-range `Range` header. Multi-range requests are refused: the registry
    /// serves blobs, and no client asks for several ranges of one.
    pub fn parse(header: &str) -> Result<Self, Error> {
        let invalid = || Error::RangeInvalid(header.to_owned());
        // RFC 9110 range units are case-insensitive.
        let header = header.trim();
        let spec = match (header.get(..6), header.get(6..)) {
            (Some(unit), Some(spec)) if unit.eq_ignore_ascii_case("bytes=") => spec,
            _ => return Err(invalid()),
        };
        if spec.contains(',') {
            return Err(invalid());
        }
        let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() {
            return parse_u64(b).map(ByteRange::Suffix).ok_or_else(invalid);
        }
        let start = parse_u64(a).ok_or_else(invalid)?;
        let end = if b.is_empty() {
            None
        } else {
            Some(parse_u64(b).ok_or_else(invalid)?)
        };
        if end.is_some_and(|e| e < start) {
            return Err(invalid());
        }
        Ok(ByteRange::From { start, end })
    }

    /// The inclusive `(start, end)` this range selects in a blob of `size` bytes, or `None`
    /// when it is unsatisfiable (answered with 416).
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        let last = size.checked_sub(1)?;
        match self {
            // The fields are public, so a `From` built by hand may have `end < start`.
            ByteRange::From { start, end } => {
                let end = end.map_or(last, |e| e.min(last));
                (start <= end).then_some((start, end))
            }
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(n) => Some((size.saturating_sub(n), last)),
        }
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_range_forms() {
        assert_eq!(
            ContentRange::parse("0-99").unwrap(),
            ContentRange { start: 0, end: 99 }
        );
        assert_eq!(
            ContentRange::parse("bytes 100-199/*").unwrap(),
            ContentRange {
                start: 100,
                end: 199
            }
        );
        assert_eq!(
            ContentRange::parse("bytes 0-9/10").unwrap().to_string(),
            "0-9"
        );
        for bad in [
            "", "5", "-5", "9-3", "a-b", "1-2-3", "+1-2", "0-9/9", "0-9/x", "0-9/",
        ] {
            assert!(ContentRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolves_ranges_against_size() {
        let r = |h| ByteRange::parse(h).unwrap();
        assert_eq!(r("bytes=0-9").resolve(100), Some((0, 9)));
        assert_eq!(r("bytes=90-").resolve(100), Some((90, 99)));
        assert_eq!(r("bytes=90-200").resolve(100), Some((90, 99)));
        assert_eq!(r("bytes=-10").resolve(100), Some((90, 99)));
        assert_eq!(r("bytes=-1000").resolve(100), Some((0, 99)));
        assert_eq!(r("bytes=100-").resolve(100), None);
        assert!(ByteRange::parse("bytes=0-1,5-6").is_err());
        assert!(ByteRange::parse("items=0-1").is_err());
        assert_eq!(r("Bytes=0-0").resolve(1), Some((0, 0)));
    }

    #[test]
    fn content_range_length_saturates_instead_of_overflowing() {
        let r = ContentRange::parse(&format!("0-{}", u64::MAX)).unwrap();
        assert_eq!(r.len(), u64::MAX);
    }

    #[test]
    fn hand_built_reversed_range_is_unsatisfiable() {
        assert_eq!(
            ByteRange::From {
                start: 5,
                end: Some(3)
            }
            .resolve(10),
            None
        );
    }
}
