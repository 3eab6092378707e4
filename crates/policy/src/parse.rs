//! JSON text to a checked `Policy` (spec 2). Every error carries the JSON path of the element
//! at fault; parsing continues after an error so that one run reports all of them.
//!
//! The walk borrows every string from the JSON tape and renders a path only when it reports
//! an error, so a policy without errors costs the allocations of its AST and little more.

use crate::ast::*;
use crate::condition::{
    arn_segments, literal_arn_segments, lower, BaseOp, Condition, ConditionEntry, ConditionValue,
    Family, Operand, Operator, Scalar,
};
use crate::context::{decode_base64, parse_date, Cidr, Decimal};
use crate::error::{Finding, ParseError};
use crate::json::{self, Entries, Items, Json, Tape};
use crate::variables::Template;
use crate::wildcard::Glob;
use std::collections::HashSet;
use std::fmt::Write as _;

/// Policy size limit, in characters excluding white space (spec 2.2).
pub const MAX_POLICY_CHARS: usize = 10_240;

impl Policy {
    /// Parses and checks a policy document of the given kind.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, ParseError> {
        // A character is at least one byte, so a document of at most that many bytes is
        // within the limit without counting.
        if text.len() > MAX_POLICY_CHARS && non_whitespace_chars(text) > MAX_POLICY_CHARS {
            return Err(ParseError {
                errors: vec![Finding::error(
                    "",
                    format!("policy exceeds {MAX_POLICY_CHARS} characters"),
                )],
            });
        }
        let tape = json::parse(text).map_err(|e| ParseError {
            errors: vec![Finding::error("", format!("invalid JSON: {e}"))],
        })?;
        let mut p = Parser {
            kind,
            vars: false,
            errors: Vec::new(),
        };
        let policy = p.document(&tape);
        match policy {
            Some(policy) if p.errors.is_empty() => Ok(policy),
            _ => {
                if p.errors.is_empty() {
                    p.errors.push(Finding::error("", "invalid policy"));
                }
                Err(ParseError { errors: p.errors })
            }
        }
    }
}

/// Where an element sits, such as `Statement[2].Condition.IpAddress`: a chain of borrowed
/// steps on the stack, rendered to text only for an error.
#[derive(Debug, Clone, Copy)]
enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl<'p> Path<'p> {
    fn key(&'p self, key: &'p str) -> Path<'p> {
        Path::Key(self, key)
    }

    fn index(&'p self, i: usize) -> Path<'p> {
        Path::Index(self, i)
    }

    /// The element itself, or its item `i` when the value was a list.
    fn at(&'p self, i: Option<usize>) -> Path<'p> {
        match i {
            Some(i) => Path::Index(self, i),
            None => *self,
        }
    }

    fn render(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.render(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Index(parent, i) => {
                parent.render(out);
                // Writing to a String cannot fail.
                let _ = write!(out, "[{i}]");
            }
        }
    }
}

/// A string, or a non-empty list whose items were all checked to be strings.
#[derive(Clone, Copy)]
enum Strings<'t, 'a> {
    One(&'t str),
    Many(Items<'t, 'a>),
}

impl<'t, 'a> Strings<'t, 'a> {
    fn len(self) -> usize {
        match self {
            Strings::One(_) => 1,
            Strings::Many(items) => items.len(),
        }
    }

    /// Each string with its list index, `None` for a lone string.
    fn iter(self) -> impl Iterator<Item = (&'t str, Option<usize>)> {
        let (one, many) = match self {
            Strings::One(s) => (Some((s, None)), None),
            Strings::Many(items) => (None, Some(items)),
        };
        one.into_iter().chain(many.into_iter().flat_map(|items| {
            items.iter().enumerate().filter_map(|(i, v)| match v {
                Json::String(s) => Some((s, Some(i))),
                _ => None,
            })
        }))
    }
}

/// The elements of one statement object; the first of two equal keys is the one read (the
/// duplicate is reported as an error anyway).
#[derive(Default)]
struct Fields<'t, 'a> {
    sid: Option<Json<'t, 'a>>,
    effect: Option<Json<'t, 'a>>,
    principal: Option<Json<'t, 'a>>,
    not_principal: Option<Json<'t, 'a>>,
    action: Option<Json<'t, 'a>>,
    not_action: Option<Json<'t, 'a>>,
    resource: Option<Json<'t, 'a>>,
    not_resource: Option<Json<'t, 'a>>,
    condition: Option<Json<'t, 'a>>,
}

struct Parser {
    kind: PolicyKind,
    vars: bool,
    errors: Vec<Finding>,
}

impl Parser {
    fn err(&mut self, path: &Path, msg: impl Into<String>) {
        let mut p = String::new();
        path.render(&mut p);
        self.errors.push(Finding::error(&p, msg));
    }

    fn report_duplicates(&mut self, v: Json, path: &Path) {
        match v {
            Json::Object(entries) => {
                let mut seen = HashSet::new();
                for (k, child) in entries.iter() {
                    if !seen.insert(k) {
                        self.err(path, format!("duplicate key `{k}`"));
                    }
                    if has_duplicates(child) {
                        self.report_duplicates(child, &path.key(k));
                    }
                }
            }
            Json::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    if has_duplicates(child) {
                        self.report_duplicates(child, &path.index(i));
                    }
                }
            }
            _ => {}
        }
    }

    fn document(&mut self, tape: &Tape) -> Option<Policy> {
        let root = Path::Root;
        let Json::Object(top) = tape.root() else {
            self.err(&root, "policy document must be a JSON object");
            return None;
        };
        // The tape knows whether any object repeats a key; paths are built only if one does.
        if tape.has_duplicate_keys() {
            self.report_duplicates(tape.root(), &root);
        }
        for (k, _) in top.iter() {
            if !matches!(k, "Version" | "Id" | "Statement") {
                self.err(&root, format!("unknown element `{k}`"));
            }
        }
        let version = match top.get("Version") {
            None => None,
            Some(Json::String("2012-10-17")) => Some(Version::V2012_10_17),
            Some(Json::String("2008-10-17")) => Some(Version::V2008_10_17),
            Some(Json::String(s)) => {
                self.err(&root.key("Version"), format!("unsupported Version `{s}`"));
                None
            }
            Some(other) => {
                self.err(
                    &root.key("Version"),
                    format!("unsupported Version `{}`", compact(other)),
                );
                None
            }
        };
        self.vars = version == Some(Version::V2012_10_17);
        let id = match top.get("Id") {
            None => None,
            Some(Json::String(s)) => {
                if self.kind == PolicyKind::Identity {
                    self.err(
                        &root.key("Id"),
                        "Id is not allowed in identity-based policies",
                    );
                }
                Some(s.to_owned())
            }
            Some(_) => {
                self.err(&root.key("Id"), "Id must be a string");
                None
            }
        };
        let spath = root.key("Statement");
        let statement_list = top.get("Statement");
        let statements = match statement_list {
            None => {
                self.err(&root, "missing Statement");
                return None;
            }
            Some(Json::Object(o)) => vec![self.statement(o, &spath)],
            Some(Json::Array(items)) => {
                if items.is_empty() {
                    self.err(&spath, "Statement must not be empty");
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let path = spath.index(i);
                    out.push(match item {
                        Json::Object(o) => self.statement(o, &path),
                        _ => {
                            self.err(&path, "statement must be an object");
                            None
                        }
                    });
                }
                out
            }
            Some(_) => {
                self.err(&spath, "statement must be an object");
                return None;
            }
        };
        let listed = matches!(statement_list, Some(Json::Array(_)));
        let mut sids = HashSet::with_capacity(statements.len());
        for (i, st) in statements.iter().enumerate() {
            let Some(sid) = st.as_ref().and_then(|st| st.sid.as_deref()) else {
                continue;
            };
            if !sid.is_empty() && !sids.insert(sid) {
                let item = spath.index(i);
                let path = if listed {
                    item.key("Sid")
                } else {
                    spath.key("Sid")
                };
                self.err(&path, format!("duplicate Sid `{sid}`"));
            }
        }
        Some(Policy {
            kind: self.kind,
            version,
            id,
            statements: statements.into_iter().flatten().collect(),
        })
    }

    fn statement(&mut self, obj: Entries, path: &Path) -> Option<Statement> {
        let before = self.errors.len();
        let mut f = Fields::default();
        for (k, v) in obj.iter() {
            let slot = match k {
                "Sid" => &mut f.sid,
                "Effect" => &mut f.effect,
                "Principal" => &mut f.principal,
                "NotPrincipal" => &mut f.not_principal,
                "Action" => &mut f.action,
                "NotAction" => &mut f.not_action,
                "Resource" => &mut f.resource,
                "NotResource" => &mut f.not_resource,
                "Condition" => &mut f.condition,
                _ => {
                    self.err(path, format!("unknown element `{k}`"));
                    continue;
                }
            };
            slot.get_or_insert(v);
        }
        let sid = match f.sid {
            None => None,
            Some(Json::String(s)) => {
                if self.kind == PolicyKind::Identity {
                    if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                        self.err(&path.key("Sid"), "Sid may contain only A-Z, a-z, 0-9");
                    }
                } else if s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control)
                {
                    self.err(
                        &path.key("Sid"),
                        "Sid must be 1 to 100 printable characters",
                    );
                }
                Some(s.to_owned())
            }
            Some(_) => {
                self.err(&path.key("Sid"), "Sid must be a string");
                None
            }
        };
        let effect = match f.effect {
            Some(Json::String("Allow")) => Some(Effect::Allow),
            Some(Json::String("Deny")) => Some(Effect::Deny),
            Some(_) => {
                self.err(&path.key("Effect"), "Effect must be \"Allow\" or \"Deny\"");
                None
            }
            None => {
                self.err(path, "missing Effect");
                None
            }
        };
        let principal = self.principal_block(f.principal, f.not_principal, path);
        let action = match (f.action, f.not_action) {
            (Some(v), None) => self.actions(v, &path.key("Action"), "Action", false),
            (None, Some(v)) => self.actions(v, &path.key("NotAction"), "NotAction", true),
            _ => {
                self.err(
                    path,
                    "statement must have exactly one of Action and NotAction",
                );
                None
            }
        };
        let resource = match (f.resource, f.not_resource) {
            (Some(v), None) => self.resources(v, &path.key("Resource"), "Resource", false),
            (None, Some(v)) => self.resources(v, &path.key("NotResource"), "NotResource", true),
            (None, None) => {
                if self.kind == PolicyKind::Identity {
                    self.err(path, "missing Resource");
                }
                None
            }
            (Some(_), Some(_)) => {
                self.err(path, "use only one of Resource and NotResource");
                None
            }
        };
        let conditions = match f.condition {
            None => Some(Vec::new()),
            Some(v) => self.conditions(v, &path.key("Condition")),
        };
        if self.errors.len() > before {
            return None;
        }
        Some(Statement {
            sid,
            effect: effect?,
            principal,
            action: action?,
            resource,
            conditions: conditions?,
        })
    }

    /// A string or a non-empty list of strings; items carry their list index, and a path is
    /// built only for an error.
    fn strings<'t, 'a>(
        &mut self,
        v: Json<'t, 'a>,
        path: &Path,
        elem: &str,
    ) -> Option<Strings<'t, 'a>> {
        match v {
            Json::String(s) => Some(Strings::One(s)),
            Json::Array(items) if items.is_empty() => {
                self.err(path, format!("{elem} must not be empty"));
                None
            }
            Json::Array(items) => {
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    if !matches!(item, Json::String(_)) {
                        self.err(
                            &path.index(i),
                            format!("{elem} must be a string or a list of strings"),
                        );
                        ok = false;
                    }
                }
                ok.then_some(Strings::Many(items))
            }
            _ => {
                self.err(
                    path,
                    format!("{elem} must be a string or a list of strings"),
                );
                None
            }
        }
    }

    fn actions(&mut self, v: Json, path: &Path, elem: &str, negated: bool) -> Option<ActionBlock> {
        let items = self.strings(v, path, elem)?;
        let mut patterns = Vec::with_capacity(items.len());
        for (s, p) in items.iter() {
            let valid = s == "*"
                || s.split_once(':').is_some_and(|(svc, name)| {
                    !svc.is_empty() && !name.is_empty() && !svc.contains(['*', '?'])
                });
            if !valid {
                self.err(&path.at(p), format!("invalid action `{s}`"));
                continue;
            }
            patterns.push(ActionPattern { glob: Glob::new(s) });
        }
        Some(ActionBlock { negated, patterns })
    }

    fn resources(
        &mut self,
        v: Json,
        path: &Path,
        elem: &str,
        negated: bool,
    ) -> Option<ResourceBlock> {
        let items = self.strings(v, path, elem)?;
        let mut patterns = Vec::with_capacity(items.len());
        for (s, p) in items.iter() {
            if s != "*" && s.split(':').count() < 6 {
                self.err(&path.at(p), format!("invalid ARN `{s}`"));
                continue;
            }
            if !(self.vars && s.contains("${")) {
                patterns.push(ResourcePattern {
                    template: None,
                    glob: Some(Glob::new(s)),
                });
                continue;
            }
            let template = match Template::parse(s) {
                Ok(t) => t,
                Err(_) => {
                    self.err(&path.at(p), "invalid policy variable");
                    continue;
                }
            };
            if let Some(prefix) = template.text_before_first_var() {
                if prefix.matches(':').count() < 5 {
                    self.err(
                        &path.at(p),
                        "policy variables are allowed only in the resource part of an ARN",
                    );
                    continue;
                }
            }
            let glob = template.compile(true);
            patterns.push(ResourcePattern {
                template: Some(template),
                glob,
            });
        }
        Some(ResourceBlock { negated, patterns })
    }

    fn principal_block(
        &mut self,
        principal: Option<Json>,
        not_principal: Option<Json>,
        path: &Path,
    ) -> Option<PrincipalBlock> {
        let (value, negated, name) = match (principal, not_principal) {
            (None, None) => {
                if self.kind.is_resource_based() {
                    self.err(path, "missing Principal");
                }
                return None;
            }
            (Some(_), Some(_)) => {
                if self.kind.is_resource_based() {
                    self.err(path, "use only one of Principal and NotPrincipal");
                } else {
                    self.err(path, "Principal is not allowed in identity-based policies");
                }
                return None;
            }
            (Some(v), None) => (v, false, "Principal"),
            (None, Some(v)) => (v, true, "NotPrincipal"),
        };
        let path = path.key(name);
        if !self.kind.is_resource_based() {
            self.err(&path, "Principal is not allowed in identity-based policies");
            return None;
        }
        let set = match value {
            Json::String("*") => PrincipalSet::Star,
            Json::Object(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for (k, v) in entries.iter() {
                    let ppath = path.key(k);
                    let ty = match k {
                        "AWS" => PrincipalType::Aws,
                        "Service" => PrincipalType::Service,
                        "Federated" => PrincipalType::Federated,
                        "CanonicalUser" => PrincipalType::CanonicalUser,
                        _ => {
                            self.err(&path, format!("unknown principal type `{k}`"));
                            continue;
                        }
                    };
                    let Some(items) = self.strings(v, &ppath, name) else {
                        continue;
                    };
                    let mut vals = Vec::with_capacity(items.len());
                    for (s, p) in items.iter() {
                        match classify_principal(ty, s) {
                            Ok(id) => vals.push(PrincipalValue {
                                source: s.to_owned(),
                                id,
                            }),
                            Err(msg) => self.err(&ppath.at(p), msg),
                        }
                    }
                    out.push((ty, vals));
                }
                if entries.is_empty() {
                    self.err(&path, format!("{name} must not be empty"));
                }
                PrincipalSet::Typed(out)
            }
            other => {
                self.err(&path, format!("invalid principal `{}`", compact(other)));
                return None;
            }
        };
        Some(PrincipalBlock { negated, set })
    }

    fn conditions(&mut self, v: Json, path: &Path) -> Option<Vec<Condition>> {
        let Json::Object(ops) = v else {
            self.err(path, "Condition must be an object");
            return None;
        };
        let mut out = Vec::with_capacity(ops.len());
        for (name, block) in ops.iter() {
            let opath = path.key(name);
            let op = match Operator::parse(name) {
                Ok(op) => op,
                Err(msg) => {
                    self.err(&opath, msg);
                    continue;
                }
            };
            let Json::Object(keys) = block else {
                self.err(&opath, "condition operator must map keys to values");
                continue;
            };
            let mut entries = Vec::with_capacity(keys.len());
            for (key, vals) in keys.iter() {
                let kpath = opath.key(key);
                let (single, list) = match vals {
                    Json::Array(items) if items.is_empty() => {
                        self.err(&kpath, "condition values must not be empty");
                        continue;
                    }
                    Json::Array(items) => (None, Some(items)),
                    single => (Some(single), None),
                };
                let mut values = Vec::with_capacity(list.map_or(1, |items| items.len()));
                let raw = single.map(|v| (v, None)).into_iter().chain(
                    list.into_iter()
                        .flat_map(|items| items.iter().enumerate().map(|(i, v)| (v, Some(i)))),
                );
                for (item, vi) in raw {
                    let scalar = match item {
                        Json::String(s) => Scalar::String(s.to_owned()),
                        Json::Number(n) => Scalar::Number(n.clone()),
                        Json::Bool(b) => Scalar::Bool(b),
                        _ => {
                            self.err(
                                &kpath.at(vi),
                                "condition value must be a string, number or boolean",
                            );
                            continue;
                        }
                    };
                    match self.operand(op, name, &scalar) {
                        Ok(operand) => values.push(ConditionValue {
                            raw: scalar,
                            operand,
                        }),
                        Err(msg) => self.err(&kpath.at(vi), msg),
                    }
                }
                if key.is_empty() {
                    self.err(&kpath, "condition key must not be empty");
                }
                entries.push(ConditionEntry {
                    key_lower: key.to_ascii_lowercase(),
                    key: key.to_owned(),
                    values,
                });
            }
            out.push(Condition { op, entries });
        }
        Some(out)
    }

    fn operand(&self, op: Operator, name: &str, v: &Scalar) -> Result<Operand, String> {
        let text = v.text();
        let invalid = || format!("invalid value `{text}` for `{name}`");
        let template = || -> Result<Template, String> {
            if self.vars {
                Template::parse(&text).map_err(|_| "invalid policy variable".to_owned())
            } else {
                Ok(Template::plain(&text))
            }
        };
        use BaseOp::*;
        // Without variable syntax the operand is compiled straight from the text, and the
        // template (needed only to substitute variables) stays empty.
        let literal = !(self.vars && text.contains("${"));
        Ok(match op.base.family() {
            Family::String if literal => match op.base {
                StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
                    Operand::StrCi(Template::empty(), Some(lower(&text)))
                }
                StringLike | StringNotLike => {
                    Operand::Like(Template::empty(), Some(Glob::new(&text)))
                }
                _ => Operand::StrRaw,
            },
            Family::String => {
                let t = template()?;
                // Only `${*}`-style specials: still constant, so compile it now.
                let fixed = (!t.has_vars())
                    .then(|| t.render(&crate::context::Context::default()))
                    .flatten();
                match op.base {
                    StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
                        Operand::StrCi(t, fixed.map(|s| lower(&s)))
                    }
                    StringLike | StringNotLike => {
                        let g = t.compile(true);
                        Operand::Like(t, g)
                    }
                    _ => Operand::Str(t, fixed),
                }
            }
            Family::Arn if literal => {
                // A pattern that is not an ARN matches nothing; an empty segment list
                // encodes that.
                Operand::Arn(
                    Template::empty(),
                    Some(literal_arn_segments(&text).unwrap_or_default()),
                )
            }
            Family::Arn => {
                let t = template()?;
                let segs = (!t.has_vars()).then(|| {
                    t.tokens(&crate::context::Context::default(), true)
                        .and_then(arn_segments)
                        .unwrap_or_default()
                });
                Operand::Arn(t, segs)
            }
            Family::Numeric => match v {
                Scalar::Bool(_) => return Err(invalid()),
                _ => Operand::Num(Decimal::parse(&text).ok_or_else(invalid)?),
            },
            Family::Date => match v {
                Scalar::Bool(_) => return Err(invalid()),
                _ => Operand::Date(parse_date(&text).ok_or_else(invalid)?),
            },
            Family::Bool | Family::Null => {
                let b = match v {
                    Scalar::Bool(b) => *b,
                    Scalar::String(s) if s.eq_ignore_ascii_case("true") => true,
                    Scalar::String(s) if s.eq_ignore_ascii_case("false") => false,
                    _ => return Err(invalid()),
                };
                if op.base == Null {
                    Operand::Null(b)
                } else {
                    Operand::Bool(b)
                }
            }
            Family::Binary => match v {
                Scalar::String(s) => Operand::Bin(decode_base64(s).ok_or_else(invalid)?),
                _ => return Err(invalid()),
            },
            Family::Ip => match v {
                Scalar::String(s) => Operand::Ip(Cidr::parse(s).ok_or_else(invalid)?),
                _ => return Err(invalid()),
            },
        })
    }
}

/// Characters that count toward the size limit; the byte loop covers the usual ASCII text.
pub(crate) fn non_whitespace_chars(text: &str) -> usize {
    let mut ws = 0usize;
    let mut high = 0u8;
    for &b in text.as_bytes() {
        ws += usize::from(matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c));
        high |= b;
    }
    if high < 0x80 {
        text.len() - ws
    } else {
        text.chars().filter(|c| !c.is_whitespace()).count()
    }
}

fn has_duplicates(v: Json) -> bool {
    match v {
        Json::Object(entries) => {
            let mut seen = HashSet::with_capacity(entries.len());
            !entries.iter().all(|(k, _)| seen.insert(k))
                || entries.iter().any(|(_, c)| has_duplicates(c))
        }
        Json::Array(items) => items.iter().any(has_duplicates),
        _ => false,
    }
}

fn compact(v: Json) -> String {
    match v {
        Json::String(s) => s.to_owned(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => b.to_string(),
        other => other.type_name().to_owned(),
    }
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Classifies one principal value (spec 2.2 and the principal table of 3.2).
fn classify_principal(ty: PrincipalType, s: &str) -> Result<PrincipalId, String> {
    if s != "*" && s.contains(['*', '?']) {
        return Err(format!("wildcards are not allowed in principal `{s}`"));
    }
    let invalid = || format!("invalid principal `{s}`");
    match ty {
        PrincipalType::Federated | PrincipalType::CanonicalUser => {
            if s.is_empty() {
                return Err(invalid());
            }
            Ok(PrincipalId::Inert)
        }
        PrincipalType::Service => {
            if s.is_empty() || s == "*" || s.chars().any(char::is_whitespace) {
                return Err(invalid());
            }
            Ok(PrincipalId::Service(s.to_owned()))
        }
        PrincipalType::Aws => {
            if s == "*" {
                return Ok(PrincipalId::Any);
            }
            if is_account(s) {
                return Ok(PrincipalId::Account(s.to_owned()));
            }
            let mut parts = s.splitn(6, ':');
            let (
                Some(arn),
                Some(partition),
                Some(service),
                Some(region),
                Some(account),
                Some(resource),
            ) = (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            )
            else {
                return Err(invalid());
            };
            if arn != "arn" || partition.is_empty() || !region.is_empty() || !is_account(account) {
                return Err(invalid());
            }
            let account = account.to_owned();
            let nonempty_segments = |r: &str, n: Option<usize>| {
                r.split('/').all(|x| !x.is_empty()) && n.is_none_or(|n| r.split('/').count() == n)
            };
            match service {
                "iam" => {
                    if resource == "root" {
                        Ok(PrincipalId::Account(account))
                    } else if let Some(u) = resource.strip_prefix("user/") {
                        if nonempty_segments(u, None) {
                            Ok(PrincipalId::User(s.to_owned()))
                        } else {
                            Err(invalid())
                        }
                    } else if let Some(r) = resource.strip_prefix("role/") {
                        if !nonempty_segments(r, None) {
                            return Err(invalid());
                        }
                        let name = r.rsplit('/').next().unwrap_or(r).to_owned();
                        Ok(PrincipalId::Role { account, name })
                    } else {
                        Err(invalid())
                    }
                }
                "sts" => {
                    if let Some(r) = resource.strip_prefix("assumed-role/") {
                        if nonempty_segments(r, Some(2)) {
                            return Ok(PrincipalId::AssumedRole(s.to_owned()));
                        }
                    } else if let Some(u) = resource.strip_prefix("federated-user/") {
                        if nonempty_segments(u, Some(1)) {
                            return Ok(PrincipalId::FederatedUser(s.to_owned()));
                        }
                    }
                    Err(invalid())
                }
                _ => Err(invalid()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str, kind: PolicyKind) -> Vec<(String, String)> {
        match Policy::parse(text, kind) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|f| (f.path, f.message)).collect(),
        }
    }

    fn has(text: &str, kind: PolicyKind, path: &str, msg: &str) {
        let errs = errors(text, kind);
        assert!(
            errs.iter().any(|(p, m)| p == path && m == msg),
            "want `{path}: {msg}` in {errs:?}"
        );
    }

    const ID: PolicyKind = PolicyKind::Identity;
    const RP: PolicyKind = PolicyKind::Repository;
    const OK: &str = r#""Effect":"Allow","Action":"ecr:*","Resource":"*""#;

    #[test]
    fn document_level_errors() {
        has("[]", ID, "", "policy document must be a JSON object");
        has(
            r#"{"Statement":[]}"#,
            ID,
            "Statement",
            "Statement must not be empty",
        );
        has(r#"{"Version":"2012-10-17"}"#, ID, "", "missing Statement");
        has(
            r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            ID,
            "Version",
            "unsupported Version `2020-01-01`",
        );
        has(
            &format!(r#"{{"Id":"x","Statement":{{{OK}}}}}"#),
            ID,
            "Id",
            "Id is not allowed in identity-based policies",
        );
        has(
            &format!(r#"{{"Id":5,"Statement":{{{OK}}}}}"#),
            RP,
            "Id",
            "Id must be a string",
        );
        has(
            &format!(r#"{{"Foo":1,"Statement":{{{OK}}}}}"#),
            ID,
            "",
            "unknown element `Foo`",
        );
        has(
            r#"{"Statement":[1]}"#,
            ID,
            "Statement[0]",
            "statement must be an object",
        );
        assert!(errors("{", ID)
            .first()
            .is_some_and(|(_, m)| m.starts_with("invalid JSON")));
    }

    #[test]
    fn duplicate_keys_anywhere() {
        has(
            &format!(r#"{{"Statement":{{{OK}}},"Statement":{{{OK}}}}}"#),
            ID,
            "",
            "duplicate key `Statement`",
        );
        has(
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true","aws:SecureTransport":"false"}}}]}"#,
            ID,
            "Statement[0].Condition.Bool",
            "duplicate key `aws:SecureTransport`",
        );
    }

    #[test]
    fn statement_errors() {
        let s = |body: &str| format!(r#"{{"Statement":[{{{OK}}},{{{body}}}]}}"#);
        has(
            &s(r#""Effect":"allow","Action":"*","Resource":"*""#),
            ID,
            "Statement[1].Effect",
            "Effect must be \"Allow\" or \"Deny\"",
        );
        has(
            &s(r#""Effect":"Allow","Resource":"*""#),
            ID,
            "Statement[1]",
            "statement must have exactly one of Action and NotAction",
        );
        has(
            &s(r#""Effect":"Allow","Action":"*","NotAction":"*","Resource":"*""#),
            ID,
            "Statement[1]",
            "statement must have exactly one of Action and NotAction",
        );
        has(
            &s(r#""Effect":"Allow","Action":[],"Resource":"*""#),
            ID,
            "Statement[1].Action",
            "Action must not be empty",
        );
        has(
            &s(r#""Effect":"Allow","Action":"ecr","Resource":"*""#),
            ID,
            "Statement[1].Action",
            "invalid action `ecr`",
        );
        has(
            &s(r#""Effect":"Allow","Action":["*",3],"Resource":"*""#),
            ID,
            "Statement[1].Action[1]",
            "Action must be a string or a list of strings",
        );
        has(
            &s(r#""Effect":"Allow","Action":"*""#),
            ID,
            "Statement[1]",
            "missing Resource",
        );
        has(
            &s(r#""Effect":"Allow","Action":"*","Resource":"*","NotResource":"*""#),
            ID,
            "Statement[1]",
            "use only one of Resource and NotResource",
        );
        has(
            &s(r#""Effect":"Allow","Action":"*","Resource":"arn:aws:ecr""#),
            ID,
            "Statement[1].Resource",
            "invalid ARN `arn:aws:ecr`",
        );
        has(
            &s(r#""Effect":"Allow","Action":"*","Resource":"*","Foo":1"#),
            ID,
            "Statement[1]",
            "unknown element `Foo`",
        );
        has(
            &s(r#""Sid":"a-b","Effect":"Allow","Action":"*","Resource":"*""#),
            ID,
            "Statement[1].Sid",
            "Sid may contain only A-Z, a-z, 0-9",
        );
        has(
            r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}]}"#,
            ID,
            "Statement[1].Sid",
            "duplicate Sid `A`",
        );
        has(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:ecr:${aws:username}:1:repository/x"}}"#,
            ID,
            "Statement.Resource",
            "policy variables are allowed only in the resource part of an ARN",
        );
        has(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:ecr:r:1:repository/${aws:username"}}"#,
            ID,
            "Statement.Resource",
            "invalid policy variable",
        );
    }

    #[test]
    fn principal_errors() {
        let rp = |p: &str| {
            format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{p},"Action":"ecr:*"}}}}"#)
        };
        has(
            &format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":"*",{}}}}}"#,
                r#""Action":"*","Resource":"*""#
            ),
            ID,
            "Statement.Principal",
            "Principal is not allowed in identity-based policies",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","Action":"ecr:*"}}"#,
            RP,
            "Statement",
            "missing Principal",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"ecr:*"}}"#,
            RP,
            "Statement",
            "use only one of Principal and NotPrincipal",
        );
        has(
            &rp(r#"{"IAM":"x"}"#),
            RP,
            "Statement.Principal",
            "unknown principal type `IAM`",
        );
        has(
            &rp(r#"{"AWS":"arn:aws:iam::111122223333:user/*"}"#),
            RP,
            "Statement.Principal.AWS",
            "wildcards are not allowed in principal `arn:aws:iam::111122223333:user/*`",
        );
        has(
            &rp(r#"{"AWS":["ci-*"]}"#),
            RP,
            "Statement.Principal.AWS[0]",
            "wildcards are not allowed in principal `ci-*`",
        );
        has(
            &rp(r#"{"AWS":"bob"}"#),
            RP,
            "Statement.Principal.AWS",
            "invalid principal `bob`",
        );
        has(
            &rp(r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/ci"}"#),
            RP,
            "Statement.Principal.AWS",
            "invalid principal `arn:aws:sts::111122223333:assumed-role/ci`",
        );
        has(
            &rp(r#"{"AWS":[]}"#),
            RP,
            "Statement.Principal.AWS",
            "Principal must not be empty",
        );
        for ok in [
            r#""*""#,
            r#"{"AWS":"*"}"#,
            r#"{"AWS":"111122223333"}"#,
            r#"{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::111122223333:user/a/b","arn:aws:iam::111122223333:role/ci"]}"#,
            r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/ci/run-42"}"#,
            r#"{"AWS":"arn:aws:sts::111122223333:federated-user/bob"}"#,
            r#"{"Service":"inspector2.amazonaws.com","Federated":"x","CanonicalUser":"y"}"#,
        ] {
            assert!(
                errors(&rp(ok), RP).is_empty(),
                "{ok}: {:?}",
                errors(&rp(ok), RP)
            );
        }
    }

    #[test]
    fn condition_errors() {
        let c = |cond: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{cond}}}}}"#
            )
        };
        has(
            &c(r#"{"StringEqualz":{"k":"v"}}"#),
            ID,
            "Statement.Condition.StringEqualz",
            "unknown condition operator `StringEqualz`",
        );
        has(
            &c(r#"{"stringequals":{"k":"v"}}"#),
            ID,
            "Statement.Condition.stringequals",
            "unknown condition operator `stringequals`",
        );
        has(
            &c(r#"{"NullIfExists":{"k":"true"}}"#),
            ID,
            "Statement.Condition.NullIfExists",
            "Null has no IfExists form",
        );
        has(
            &c(r#"{"ForAllValues:Null":{"k":"true"}}"#),
            ID,
            "Statement.Condition.ForAllValues:Null",
            "Null cannot be used with ForAllValues or ForAnyValue",
        );
        has(
            &c(r#"{"StringEquals":{"k":[]}}"#),
            ID,
            "Statement.Condition.StringEquals.k",
            "condition values must not be empty",
        );
        has(
            &c(r#"{"StringEquals":{"k":[null]}}"#),
            ID,
            "Statement.Condition.StringEquals.k[0]",
            "condition value must be a string, number or boolean",
        );
        has(
            &c(r#"{"StringEquals":{"k":{"a":1}}}"#),
            ID,
            "Statement.Condition.StringEquals.k",
            "condition value must be a string, number or boolean",
        );
        has(
            &c(r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","x"]}}"#),
            ID,
            "Statement.Condition.IpAddress.aws:SourceIp[1]",
            "invalid value `x` for `IpAddress`",
        );
        has(
            &c(r#"{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}"#),
            ID,
            "Statement.Condition.DateLessThan.aws:CurrentTime",
            "invalid value `tomorrow` for `DateLessThan`",
        );
        has(
            &c(r#"{"NumericLessThan":{"k":"ten"}}"#),
            ID,
            "Statement.Condition.NumericLessThan.k",
            "invalid value `ten` for `NumericLessThan`",
        );
        has(
            &c(r#"{"Bool":{"k":"yes"}}"#),
            ID,
            "Statement.Condition.Bool.k",
            "invalid value `yes` for `Bool`",
        );
        has(
            &c(r#"{"Bool":{"k":"${aws:username}"}}"#),
            ID,
            "Statement.Condition.Bool.k",
            "invalid value `${aws:username}` for `Bool`",
        );
        has(
            &c(r#"{"Null":{"k":1}}"#),
            ID,
            "Statement.Condition.Null.k",
            "invalid value `1` for `Null`",
        );
        has(
            &c(r#"{"BinaryEquals":{"k":"!!"}}"#),
            ID,
            "Statement.Condition.BinaryEquals.k",
            "invalid value `!!` for `BinaryEquals`",
        );
        has(
            &c(r#"{"StringLike":{"k":"${}"}}"#),
            ID,
            "Statement.Condition.StringLike.k",
            "invalid policy variable",
        );
        for ok in [
            r#"{"NumericEquals":{"k":[10, "10.5", 1e3]}}"#,
            r#"{"DateGreaterThan":{"k":[1893456000, "2030-01-01"]}}"#,
            r#"{"Bool":{"k":true},"Null":{"j":"FALSE"}}"#,
            r#"{"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":"a*"}}"#,
            r#"{"BinaryEquals":{"k":"aGVsbG8="}}"#,
        ] {
            assert!(
                errors(&c(ok), ID).is_empty(),
                "{ok}: {:?}",
                errors(&c(ok), ID)
            );
        }
    }

    #[test]
    fn size_limit() {
        let big = format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Sid":"{}"}}}}"#,
            "a".repeat(MAX_POLICY_CHARS)
        );
        has(&big, ID, "", "policy exceeds 10240 characters");
        // White space does not count.
        let spaced = format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"*"}}}}{}"#,
            " ".repeat(20_000)
        );
        assert!(errors(&spaced, ID).is_empty());
    }

    #[test]
    fn repository_sid_rules() {
        let p = |sid: &str| {
            format!(
                r#"{{"Statement":{{"Sid":"{sid}","Effect":"Allow","Principal":"*","Action":"ecr:*"}}}}"#
            )
        };
        assert!(errors(&p("Allow pulls - CI"), RP).is_empty());
        has(
            &p(""),
            RP,
            "Statement.Sid",
            "Sid must be 1 to 100 printable characters",
        );
        has(
            &p(&"x".repeat(101)),
            RP,
            "Statement.Sid",
            "Sid must be 1 to 100 printable characters",
        );
    }

    #[test]
    fn statement_may_be_object_or_array() {
        let one = Policy::parse(&format!(r#"{{"Statement":{{{OK}}}}}"#), ID).unwrap();
        let arr = Policy::parse(&format!(r#"{{"Statement":[{{{OK}}}]}}"#), ID).unwrap();
        assert_eq!(one, arr);
        assert_eq!(one.version(), None);
    }
}
