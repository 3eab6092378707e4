//! Condition operators (spec 5): one base test per family, then IfExists, set operators,
//! missing-key rules and AND/OR/NOR combination, applied uniformly.

use crate::context::{Cidr, Context, Decimal, Value};
use crate::variables::Template;
use crate::wildcard::{Glob, Tok};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseOp {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

/// What kind of value an operator compares (for type checks and the validator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    String,
    Numeric,
    Date,
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

const ALL_OPS: [BaseOp; 27] = [
    BaseOp::StringEquals,
    BaseOp::StringNotEquals,
    BaseOp::StringEqualsIgnoreCase,
    BaseOp::StringNotEqualsIgnoreCase,
    BaseOp::StringLike,
    BaseOp::StringNotLike,
    BaseOp::NumericEquals,
    BaseOp::NumericNotEquals,
    BaseOp::NumericLessThan,
    BaseOp::NumericLessThanEquals,
    BaseOp::NumericGreaterThan,
    BaseOp::NumericGreaterThanEquals,
    BaseOp::DateEquals,
    BaseOp::DateNotEquals,
    BaseOp::DateLessThan,
    BaseOp::DateLessThanEquals,
    BaseOp::DateGreaterThan,
    BaseOp::DateGreaterThanEquals,
    BaseOp::Bool,
    BaseOp::BinaryEquals,
    BaseOp::IpAddress,
    BaseOp::NotIpAddress,
    BaseOp::ArnEquals,
    BaseOp::ArnLike,
    BaseOp::ArnNotEquals,
    BaseOp::ArnNotLike,
    BaseOp::Null,
];

impl BaseOp {
    pub fn all() -> &'static [BaseOp] {
        &ALL_OPS
    }

    pub fn name(self) -> &'static str {
        use BaseOp::*;
        match self {
            StringEquals => "StringEquals",
            StringNotEquals => "StringNotEquals",
            StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            StringNotEqualsIgnoreCase => "StringNotEqualsIgnoreCase",
            StringLike => "StringLike",
            StringNotLike => "StringNotLike",
            NumericEquals => "NumericEquals",
            NumericNotEquals => "NumericNotEquals",
            NumericLessThan => "NumericLessThan",
            NumericLessThanEquals => "NumericLessThanEquals",
            NumericGreaterThan => "NumericGreaterThan",
            NumericGreaterThanEquals => "NumericGreaterThanEquals",
            DateEquals => "DateEquals",
            DateNotEquals => "DateNotEquals",
            DateLessThan => "DateLessThan",
            DateLessThanEquals => "DateLessThanEquals",
            DateGreaterThan => "DateGreaterThan",
            DateGreaterThanEquals => "DateGreaterThanEquals",
            Bool => "Bool",
            BinaryEquals => "BinaryEquals",
            IpAddress => "IpAddress",
            NotIpAddress => "NotIpAddress",
            ArnEquals => "ArnEquals",
            ArnLike => "ArnLike",
            ArnNotEquals => "ArnNotEquals",
            ArnNotLike => "ArnNotLike",
            Null => "Null",
        }
    }

    pub fn from_name(name: &str) -> Option<BaseOp> {
        use BaseOp::*;
        // A match, not a search of `ALL_OPS`: it runs for every operator of every policy.
        Some(match name {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "DateEquals" => DateEquals,
            "DateNotEquals" => DateNotEquals,
            "DateLessThan" => DateLessThan,
            "DateLessThanEquals" => DateLessThanEquals,
            "DateGreaterThan" => DateGreaterThan,
            "DateGreaterThanEquals" => DateGreaterThanEquals,
            "Bool" => Bool,
            "BinaryEquals" => BinaryEquals,
            "IpAddress" => IpAddress,
            "NotIpAddress" => NotIpAddress,
            "ArnEquals" => ArnEquals,
            "ArnLike" => ArnLike,
            "ArnNotEquals" => ArnNotEquals,
            "ArnNotLike" => ArnNotLike,
            "Null" => Null,
            _ => return None,
        })
    }

    /// Negated operators are NOR over policy values and true on a missing key.
    pub fn negated(self) -> bool {
        use BaseOp::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    pub fn family(self) -> Family {
        use BaseOp::*;
        match self {
            StringEquals
            | StringNotEquals
            | StringEqualsIgnoreCase
            | StringNotEqualsIgnoreCase
            | StringLike
            | StringNotLike => Family::String,
            NumericEquals
            | NumericNotEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals => Family::Numeric,
            DateEquals
            | DateNotEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals => Family::Date,
            Bool => Family::Bool,
            BinaryEquals => Family::Binary,
            IpAddress | NotIpAddress => Family::Ip,
            ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => Family::Arn,
            Null => Family::Null,
        }
    }

    /// Whether `${…}` in values of this operator is a variable (spec 4.4).
    pub fn takes_variables(self) -> bool {
        matches!(self.family(), Family::String | Family::Arn)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    ForAllValues,
    ForAnyValue,
}

/// A full operator name: `[ForAllValues:|ForAnyValue:]Base[IfExists]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub set: Option<SetOp>,
    pub base: BaseOp,
    pub if_exists: bool,
}

impl Operator {
    /// `Err` carries the message the spec prescribes.
    pub fn parse(name: &str) -> Result<Operator, String> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetOp::ForAllValues), r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetOp::ForAnyValue), r)
        } else {
            (None, name)
        };
        let unknown = || format!("unknown condition operator `{name}`");
        let (base, if_exists) = match BaseOp::from_name(rest) {
            Some(b) => (b, false),
            None => {
                let stripped = rest.strip_suffix("IfExists").ok_or_else(unknown)?;
                (BaseOp::from_name(stripped).ok_or_else(unknown)?, true)
            }
        };
        if base == BaseOp::Null {
            if if_exists {
                return Err("Null has no IfExists form".to_owned());
            }
            if set.is_some() {
                return Err("Null cannot be used with ForAllValues or ForAnyValue".to_owned());
            }
        }
        Ok(Operator {
            set,
            base,
            if_exists,
        })
    }

    pub fn name(&self) -> String {
        let prefix = match self.set {
            Some(SetOp::ForAllValues) => "ForAllValues:",
            Some(SetOp::ForAnyValue) => "ForAnyValue:",
            None => "",
        };
        let suffix = if self.if_exists { "IfExists" } else { "" };
        format!("{prefix}{}{suffix}", self.base.name())
    }
}

/// A policy value as written in JSON, kept for printing the policy back.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl Scalar {
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Scalar::String(s) => Cow::Borrowed(s),
            Scalar::Number(n) => Cow::Owned(n.to_string()),
            Scalar::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
}

/// A policy value compiled for its operator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// Literal text: the raw JSON value itself is the operand, no copy kept.
    StrRaw,
    Str(Template, Option<String>),
    /// Pre-lowered when it has no variables.
    StrCi(Template, Option<String>),
    Like(Template, Option<Glob>),
    Num(Decimal),
    Date(i64),
    Bool(bool),
    Bin(Vec<u8>),
    Ip(Cidr),
    Arn(Template, Option<Vec<Glob>>),
    Null(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConditionValue {
    pub(crate) raw: Scalar,
    pub(crate) operand: Operand,
}

impl ConditionValue {
    pub fn raw(&self) -> &Scalar {
        &self.raw
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConditionEntry {
    pub(crate) key: String,
    pub(crate) key_lower: String,
    pub(crate) values: Vec<ConditionValue>,
}

impl ConditionEntry {
    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn values(&self) -> &[ConditionValue] {
        &self.values
    }
}

/// One operator block: `"StringEquals": { key: values, … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub(crate) op: Operator,
    pub(crate) entries: Vec<ConditionEntry>,
}

impl Condition {
    pub fn operator(&self) -> Operator {
        self.op
    }
    pub fn entries(&self) -> &[ConditionEntry] {
        &self.entries
    }

    /// All keys must hold (AND). Every entry is evaluated, so that every missing key is
    /// reported, not only the first.
    pub(crate) fn eval(&self, ctx: &Context, missing: &mut Vec<String>) -> bool {
        let mut all = true;
        for e in &self.entries {
            if !eval_entry(self.op, e, ctx, missing) {
                all = false;
            }
        }
        all
    }
}

fn eval_entry(op: Operator, e: &ConditionEntry, ctx: &Context, missing: &mut Vec<String>) -> bool {
    let entry = ctx
        .get_lower(&e.key_lower)
        .filter(|en| !en.values.is_empty());
    let Some(entry) = entry else {
        if op.base != BaseOp::Null && !missing.iter().any(|m| m.eq_ignore_ascii_case(&e.key)) {
            missing.push(e.key.clone());
        }
        if op.base == BaseOp::Null {
            return e.values.iter().any(|v| v.operand == Operand::Null(true));
        }
        if op.if_exists {
            return true;
        }
        return match op.set {
            Some(SetOp::ForAllValues) => true,
            Some(SetOp::ForAnyValue) => false,
            None => op.base.negated(),
        };
    };
    if op.base == BaseOp::Null {
        return e.values.iter().any(|v| v.operand == Operand::Null(false));
    }
    let negated = op.base.negated();
    // A request value is satisfied by OR over policy values, or by NOR for negated operators.
    // Operands are readied per pair: without variables that borrows and costs nothing, and
    // keys with several request values are rare.
    let satisfied = |r: &Value| -> bool {
        let any = e
            .values
            .iter()
            .any(|p| positive(op.base, &ready(p, ctx), r));
        any != negated
    };
    match op.set {
        Some(SetOp::ForAllValues) => entry.values.iter().all(satisfied),
        // A plain operator on a multivalued key behaves as ForAnyValue (spec 5.4).
        Some(SetOp::ForAnyValue) | None => entry.values.iter().any(satisfied),
    }
}

/// A policy operand with its variables substituted for this request.
enum Ready<'a> {
    Str(Cow<'a, str>),
    StrCi(Cow<'a, str>),
    Glob(Cow<'a, Glob>),
    Arn(Cow<'a, [Glob]>),
    Num(Decimal),
    Date(i64),
    Bool(bool),
    Bin(&'a [u8]),
    Ip(Cidr),
    /// A variable without a value: matches nothing (spec 4.4).
    Unresolved,
}

fn ready<'a>(v: &'a ConditionValue, ctx: &Context) -> Ready<'a> {
    match &v.operand {
        Operand::StrRaw => Ready::Str(v.raw.text()),
        Operand::Str(_, Some(s)) => Ready::Str(Cow::Borrowed(s)),
        Operand::Str(t, None) => t
            .render(ctx)
            .map_or(Ready::Unresolved, |s| Ready::Str(Cow::Owned(s))),
        Operand::StrCi(_, Some(s)) => Ready::StrCi(Cow::Borrowed(s)),
        Operand::StrCi(t, None) => t
            .render(ctx)
            .map_or(Ready::Unresolved, |s| Ready::StrCi(Cow::Owned(lower(&s)))),
        Operand::Like(_, Some(g)) => Ready::Glob(Cow::Borrowed(g)),
        Operand::Like(t, None) => t.tokens(ctx, true).map_or(Ready::Unresolved, |toks| {
            Ready::Glob(Cow::Owned(Glob::from_toks(toks)))
        }),
        Operand::Arn(_, Some(segs)) => Ready::Arn(Cow::Borrowed(segs)),
        Operand::Arn(t, None) => t
            .tokens(ctx, true)
            .and_then(arn_segments)
            .map_or(Ready::Unresolved, |s| Ready::Arn(Cow::Owned(s))),
        Operand::Num(n) => Ready::Num(*n),
        Operand::Date(d) => Ready::Date(*d),
        Operand::Bool(b) => Ready::Bool(*b),
        Operand::Bin(b) => Ready::Bin(b),
        Operand::Ip(c) => Ready::Ip(*c),
        Operand::Null(_) => Ready::Unresolved,
    }
}

/// Unicode lower-casing, the stand-in for simple case folding (spec 5.1).
pub(crate) fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn eq_ci(policy_lower: &str, text: &str) -> bool {
    policy_lower
        .chars()
        .eq(text.chars().flat_map(char::to_lowercase))
}

/// Splits ARN pattern tokens into its six colon-separated components; the sixth keeps any
/// further colons. `None` when there are fewer than six.
pub(crate) fn arn_segments(toks: Vec<Tok>) -> Option<Vec<Glob>> {
    let mut segs = Vec::with_capacity(6);
    let mut cur = Vec::new();
    for t in toks {
        if t == Tok::Char(':') && segs.len() < 5 {
            segs.push(Glob::from_toks(std::mem::take(&mut cur)));
        } else {
            cur.push(t);
        }
    }
    segs.push(Glob::from_toks(cur));
    (segs.len() == 6).then_some(segs)
}

/// `arn_segments` of text without variables: there every `:` is a separator, so the text
/// splits as it is, without a token list per segment.
pub(crate) fn literal_arn_segments(text: &str) -> Option<Vec<Glob>> {
    let mut segs = Vec::with_capacity(6);
    segs.extend(text.splitn(6, ':').map(Glob::new));
    (segs.len() == 6).then_some(segs)
}

fn arn_match(segs: &[Glob], value: &str) -> bool {
    let mut parts = value.splitn(6, ':');
    let mut n = 0;
    for seg in segs {
        match parts.next() {
            Some(p) if seg.matches(p) => n += 1,
            _ => return false,
        }
    }
    n == 6
}

/// The non-negated test of one (policy value, request value) pair.
fn positive(base: BaseOp, p: &Ready<'_>, r: &Value) -> bool {
    use BaseOp::*;
    match p {
        Ready::Unresolved => false,
        Ready::Str(s) => s.as_ref() == r.text(),
        Ready::StrCi(s) => eq_ci(s, r.text()),
        Ready::Glob(g) => g.matches(r.text()),
        Ready::Arn(segs) => arn_match(segs, r.text()),
        Ready::Num(p) => r.as_number().is_some_and(|v| match base {
            NumericLessThan => v < *p,
            NumericLessThanEquals => v <= *p,
            NumericGreaterThan => v > *p,
            NumericGreaterThanEquals => v >= *p,
            _ => v == *p,
        }),
        Ready::Date(p) => r.as_date().is_some_and(|v| match base {
            DateLessThan => v < *p,
            DateLessThanEquals => v <= *p,
            DateGreaterThan => v > *p,
            DateGreaterThanEquals => v >= *p,
            _ => v == *p,
        }),
        Ready::Bool(b) => r.as_bool() == Some(*b),
        Ready::Bin(b) => r.with_bytes(|v| v == *b),
        Ready::Ip(c) => r.as_ip().is_some_and(|ip| c.contains(ip)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAllValues:StringNotLikeIfExists").unwrap();
        assert_eq!(op.set, Some(SetOp::ForAllValues));
        assert_eq!(op.base, BaseOp::StringNotLike);
        assert!(op.if_exists);
        assert_eq!(op.name(), "ForAllValues:StringNotLikeIfExists");
        assert!(Operator::parse("stringequals").is_err());
        assert_eq!(
            Operator::parse("NullIfExists").unwrap_err(),
            "Null has no IfExists form"
        );
        assert!(Operator::parse("ForAnyValue:Null").is_err());
        assert!(Operator::parse("IfExists").is_err());
    }

    #[test]
    fn base_operator_names_round_trip() {
        for op in BaseOp::all() {
            assert_eq!(BaseOp::from_name(op.name()), Some(*op));
        }
        assert_eq!(BaseOp::from_name("stringequals"), None);
        assert_eq!(BaseOp::from_name(""), None);
    }

    #[test]
    fn literal_arn_segments_agree_with_tokens() {
        for text in [
            "arn:aws:iam::111122223333:role/team-1*",
            "arn:aws:someservice:*:111122223333:finance/*",
            "arn:*:*:?:*:a:b:c",
            "arn::::",
            "arn:::::",
            "*",
            "",
            "a?b:*c:d*e:f:g:h*",
        ] {
            let mut toks = Vec::new();
            crate::wildcard::tokenize(text, &mut toks);
            assert_eq!(literal_arn_segments(text), arn_segments(toks), "{text}");
        }
    }

    #[test]
    fn arn_like_is_segment_wise() {
        let mut toks = Vec::new();
        crate::wildcard::tokenize("arn:aws:someservice:*:111122223333:finance/*", &mut toks);
        let segs = arn_segments(toks).unwrap();
        let v = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt";
        assert!(!arn_match(&segs, v));
        assert!(Glob::new("arn:aws:someservice:*:111122223333:finance/*").matches(v));
        assert!(arn_match(
            &segs,
            "arn:aws:someservice:us-east-2:111122223333:finance/a:b"
        ));
        assert!(!arn_match(&segs, "not-an-arn"));
    }
}
