//! Request context: typed values under case-insensitive key names (spec 3.1, 5.6), and the
//! value grammars shared with condition operands (numbers, dates, addresses, base-64).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// The type of a context value, named as the IAM API's `ContextKeyType` (without `List`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    Numeric,
    Boolean,
    Date,
    Ip,
    Binary,
    Arn,
}

impl ValueType {
    /// Parses a `ContextKeyType` name: `string`, `stringList`, `ip`, `ipList`, … Returns the
    /// element type and whether it is a list (multivalued).
    pub fn from_context_key_type(name: &str) -> Option<(ValueType, bool)> {
        let (base, list) = match name.strip_suffix("List") {
            Some(b) => (b, true),
            None => (name, false),
        };
        let t = match base {
            "string" => ValueType::String,
            "numeric" => ValueType::Numeric,
            "boolean" => ValueType::Boolean,
            "date" => ValueType::Date,
            "ip" => ValueType::Ip,
            "binary" => ValueType::Binary,
            "arn" => ValueType::Arn,
            _ => return None,
        };
        Some((t, list))
    }
}

/// A number as an exact fixed-point decimal with 18 fractional digits, so `"10"` equals `10.0`
/// and `0.1 + 0.2`-style float surprises cannot happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Decimal(i128);

const SCALE: i32 = 18;

impl Decimal {
    /// Integer, decimal or exponent notation (`12`, `-1.5`, `2e3`); `None` when malformed,
    /// out of range, or more precise than 18 fractional digits.
    pub fn parse(text: &str) -> Option<Decimal> {
        let t = text.trim();
        let (neg, t) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (mant, exp) = match t.find(['e', 'E']) {
            Some(i) => (t.get(..i)?, t.get(i + 1..)?.parse::<i32>().ok()?),
            None => (t, 0),
        };
        let (int, frac) = match mant.split_once('.') {
            Some((a, b)) => (a, b),
            None => (mant, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: String = int.chars().chain(frac.chars()).collect();
        let digits = digits.trim_start_matches('0');
        let trimmed = digits.trim_end_matches('0');
        let frac_len = i32::try_from(frac.len()).ok()?;
        let mut shift = exp
            .checked_sub(frac_len)?
            .checked_add(i32::try_from(digits.len() - trimmed.len()).ok()?)?;
        if trimmed.is_empty() {
            return Some(Decimal(0));
        }
        if trimmed.len() > 38 {
            return None;
        }
        let mut v: i128 = trimmed.parse().ok()?;
        shift = shift.checked_add(SCALE)?;
        if shift < 0 {
            // Dropping non-zero digits would make different numbers compare equal.
            return None;
        }
        v = v.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?;
        Some(Decimal(if neg { -v } else { v }))
    }

    pub fn from_i64(v: i64) -> Decimal {
        Decimal(i128::from(v) * 10i128.pow(SCALE as u32))
    }

    /// The integer part, when it fits (epoch seconds used as a date).
    pub fn trunc_i64(self) -> Option<i64> {
        i64::try_from(self.0 / 10i128.pow(SCALE as u32)).ok()
    }
}

/// Seconds since the Unix epoch, from the W3C profile of ISO 8601 or integer epoch seconds
/// (spec 5.1). Fractions of a second are truncated.
pub fn parse_date(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    let all_digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    // Four digits is a year in the W3C profile; any other integer is epoch seconds.
    if b.len() != 4 && (all_digits(b) || (b.first() == Some(&b'-') && all_digits(b.get(1..)?))) {
        return t.parse::<i64>().ok();
    }
    let num = |s: &str| -> Option<i64> {
        if all_digits(s.as_bytes()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let year = num(t.get(0..4)?)?;
    let mut month = 1;
    let mut day = 1;
    let mut secs = 0i64;
    let mut rest = t.get(4..)?;
    if !rest.is_empty() {
        rest = rest.strip_prefix('-')?;
        month = num(rest.get(0..2)?)?;
        rest = rest.get(2..)?;
        if !rest.is_empty() {
            rest = rest.strip_prefix('-')?;
            day = num(rest.get(0..2)?)?;
            rest = rest.get(2..)?;
            if !rest.is_empty() {
                rest = rest.strip_prefix('T')?;
                let hh = num(rest.get(0..2)?)?;
                rest = rest.get(2..)?.strip_prefix(':')?;
                let mm = num(rest.get(0..2)?)?;
                rest = rest.get(2..)?;
                let mut ss = 0;
                if let Some(r) = rest.strip_prefix(':') {
                    ss = num(r.get(0..2)?)?;
                    rest = r.get(2..)?;
                    if let Some(r) = rest.strip_prefix('.') {
                        let n = r.bytes().take_while(u8::is_ascii_digit).count();
                        if n == 0 {
                            return None;
                        }
                        rest = r.get(n..)?;
                    }
                }
                if hh > 23 || mm > 59 || ss > 60 {
                    return None;
                }
                let offset = if rest == "Z" {
                    0
                } else {
                    let sign = match rest.get(0..1)? {
                        "+" => 1,
                        "-" => -1,
                        _ => return None,
                    };
                    let oh = num(rest.get(1..3)?)?;
                    if rest.get(3..4)? != ":" || rest.len() != 6 {
                        return None;
                    }
                    let om = num(rest.get(4..6)?)?;
                    if oh > 23 || om > 59 {
                        return None;
                    }
                    sign * (oh * 3600 + om * 60)
                };
                secs = hh * 3600 + mm * 60 + ss - offset;
                rest = "";
            }
        }
    }
    if !rest.is_empty() || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month)
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + secs)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An IPv4 or IPv6 network. An address without a prefix is a single host (spec 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (a, p) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
                p.parse::<u8>().ok()?
            }
            Some(_) => return None,
            None => max,
        };
        if prefix > max {
            return None;
        }
        Some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, normalize_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `::ffff:a.b.c.d` is the IPv4 address a.b.c.d (Portcullis decision, spec 5.1).
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Standard base-64 with optional padding; `None` on any other character.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    if text.len() != body.len() && !matches!(text.len() % 4, 0) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for b in body.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Typed {
    String,
    Arn,
    Bool(bool),
    Number(Decimal),
    Date(i64),
    Ip(IpAddr),
    Binary(Vec<u8>),
}

/// One context value: its text (what string operators and variables see) plus its parsed form.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    text: String,
    typed: Typed,
}

/// A value that does not parse as its declared type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid {kind} value")]
pub struct BadValue {
    pub text: String,
    pub kind: &'static str,
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value {
            text: s.into(),
            typed: Typed::String,
        }
    }
    pub fn arn(s: impl Into<String>) -> Value {
        Value {
            text: s.into(),
            typed: Typed::Arn,
        }
    }
    pub fn bool(b: bool) -> Value {
        Value {
            text: if b { "true" } else { "false" }.to_owned(),
            typed: Typed::Bool(b),
        }
    }
    pub fn integer(v: i64) -> Value {
        Value {
            text: v.to_string(),
            typed: Typed::Number(Decimal::from_i64(v)),
        }
    }
    /// An instant, as epoch seconds; its text is the ISO 8601 form in UTC.
    pub fn date(epoch: i64) -> Value {
        Value {
            text: format_date(epoch),
            typed: Typed::Date(epoch),
        }
    }
    pub fn ip(ip: IpAddr) -> Value {
        let ip = normalize_ip(ip);
        Value {
            text: ip.to_string(),
            typed: Typed::Ip(ip),
        }
    }
    pub fn binary(bytes: Vec<u8>) -> Value {
        Value {
            text: encode_base64(&bytes),
            typed: Typed::Binary(bytes),
        }
    }

    /// Parses `text` as a value of type `t` (how the CLI reads `--context`).
    pub fn parse(t: ValueType, text: &str) -> Result<Value, BadValue> {
        let bad = |kind| BadValue {
            text: text.to_owned(),
            kind,
        };
        Ok(match t {
            ValueType::String => Value::string(text),
            ValueType::Arn => Value::arn(text),
            ValueType::Boolean => match text.to_ascii_lowercase().as_str() {
                "true" => Value::bool(true),
                "false" => Value::bool(false),
                _ => return Err(bad("boolean")),
            },
            ValueType::Numeric => Value {
                text: text.to_owned(),
                typed: Typed::Number(Decimal::parse(text).ok_or_else(|| bad("numeric"))?),
            },
            ValueType::Date => Value {
                text: text.to_owned(),
                typed: Typed::Date(parse_date(text).ok_or_else(|| bad("date"))?),
            },
            ValueType::Ip => Value::ip(text.parse().map_err(|_| bad("ip"))?),
            ValueType::Binary => Value {
                text: text.to_owned(),
                typed: Typed::Binary(decode_base64(text).ok_or_else(|| bad("binary"))?),
            },
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn as_number(&self) -> Option<Decimal> {
        match &self.typed {
            Typed::Number(d) => Some(*d),
            Typed::Date(e) => Some(Decimal::from_i64(*e)),
            _ => Decimal::parse(&self.text),
        }
    }
    pub(crate) fn as_date(&self) -> Option<i64> {
        match &self.typed {
            Typed::Date(e) => Some(*e),
            Typed::Number(d) => d.trunc_i64(),
            _ => parse_date(&self.text),
        }
    }
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match &self.typed {
            Typed::Bool(b) => Some(*b),
            _ if self.text.eq_ignore_ascii_case("true") => Some(true),
            _ if self.text.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }
    pub(crate) fn as_ip(&self) -> Option<IpAddr> {
        match &self.typed {
            Typed::Ip(ip) => Some(*ip),
            _ => self.text.parse().ok().map(normalize_ip),
        }
    }
    pub(crate) fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match &self.typed {
            Typed::Binary(b) => f(b),
            _ => f(self.text.as_bytes()),
        }
    }
}

fn encode_base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |i: u32| A.get((i & 63) as usize).map_or('=', |b| char::from(*b));
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = |i: usize| chunk.get(i).map_or(0u32, |v| u32::from(*v));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

/// `YYYY-MM-DDThh:mm:ssZ` for an epoch second (inverse of `days_from_civil`).
pub fn format_date(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The values of one key. `multi` marks a multivalued key (`aws:TagKeys`), whose value set
/// may hold any number of values, including none.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Entry {
    pub values: Vec<Value>,
    pub multi: bool,
}

/// Context keys of a request; names are case-insensitive.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context {
    keys: BTreeMap<String, (String, Entry)>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Sets a single-valued key, replacing any earlier value.
    pub fn insert(&mut self, key: &str, value: Value) -> &mut Self {
        self.keys.insert(
            key.to_ascii_lowercase(),
            (
                key.to_owned(),
                Entry {
                    values: vec![value],
                    multi: false,
                },
            ),
        );
        self
    }

    /// Sets a multivalued key (an empty list counts as absent, spec 5.5).
    pub fn insert_multi(&mut self, key: &str, values: Vec<Value>) -> &mut Self {
        self.keys.insert(
            key.to_ascii_lowercase(),
            (
                key.to_owned(),
                Entry {
                    values,
                    multi: true,
                },
            ),
        );
        self
    }

    pub fn remove(&mut self, key: &str) {
        self.keys.remove(&key.to_ascii_lowercase());
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.get_lower(&key.to_ascii_lowercase())
    }

    pub(crate) fn get_lower(&self, key_lower: &str) -> Option<&Entry> {
        self.keys.get(key_lower).map(|(_, e)| e)
    }

    /// Keys as first written, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.keys.values().map(|(k, e)| (k.as_str(), e))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_compare_exactly() {
        assert_eq!(Decimal::parse("10"), Decimal::parse("10.0"));
        assert_eq!(Decimal::parse("1e3"), Decimal::parse("1000"));
        assert!(Decimal::parse("-1.5") < Decimal::parse("-1.4"));
        assert_eq!(Decimal::parse("0.000"), Some(Decimal(0)));
        assert!(Decimal::parse("1.2.3").is_none());
        assert!(Decimal::parse("").is_none());
        assert!(Decimal::parse(".").is_none());
        assert!(Decimal::parse("1e999").is_none());
        assert!(Decimal::parse("0.0000000000000000001").is_none());
        assert_eq!(Decimal::parse(".5"), Decimal::parse("0.5"));
    }

    #[test]
    fn dates_in_every_w3c_form() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("2030-01-01T00:00:00Z"), Some(1_893_456_000));
        assert_eq!(parse_date("2030"), Some(1_893_456_000));
        assert_eq!(parse_date("2030-01"), Some(1_893_456_000));
        assert_eq!(parse_date("2030-01-01"), Some(1_893_456_000));
        assert_eq!(parse_date("2030-01-01T09:00+09:00"), Some(1_893_456_000));
        assert_eq!(parse_date("2030-01-01T00:00:00.999Z"), Some(1_893_456_000));
        assert_eq!(parse_date("1893456000"), Some(1_893_456_000));
        assert_eq!(parse_date("2030-02-30"), None);
        assert_eq!(parse_date("2030-01-01T00:00:00"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(format_date(1_893_456_000), "2030-01-01T00:00:00Z");
        assert_eq!(parse_date(&format_date(-86_401)), Some(-86_401));
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains("203.0.113.40".parse().unwrap()));
        assert!(c.contains("::ffff:203.0.113.40".parse().unwrap()));
        assert!(!c.contains("203.0.114.1".parse().unwrap()));
        let c = Cidr::parse("2001:db8:1234:5678::/64").unwrap();
        assert!(c.contains("2001:db8:1234:5678:abcd::1".parse().unwrap()));
        assert!(!c.contains("203.0.113.5".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4/33").is_none());
        assert!(Cidr::parse("1.2.3.4/").is_none());
        assert!(Cidr::parse("host").is_none());
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert!(decode_base64("a").is_none());
        assert!(decode_base64("!!!!").is_none());
        assert_eq!(encode_base64(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn keys_are_case_insensitive() {
        let mut c = Context::new();
        c.insert("aws:SourceIp", Value::string("x"));
        assert!(c.get("AWS:SOURCEIP").is_some());
    }
}
