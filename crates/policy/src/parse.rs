//! JSON text to a checked `Policy` (spec 2). Every error carries the JSON path of the element
//! at fault; parsing continues after an error so that one run reports all of them.

use crate::ast::*;
use crate::condition::{
    arn_segments, lower, BaseOp, Condition, ConditionEntry, ConditionValue, Family, Operand,
    Operator, Scalar,
};
use crate::context::{decode_base64, parse_date, Cidr, Decimal};
use crate::error::{Finding, ParseError};
use crate::json::{self, Json};
use crate::variables::Template;
use crate::wildcard::Glob;
use std::borrow::Cow;
use std::collections::HashSet;

/// Policy size limit, in characters excluding white space (spec 2.2).
pub const MAX_POLICY_CHARS: usize = 10_240;

impl Policy {
    /// Parses and checks a policy document of the given kind.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, ParseError> {
        let size = non_whitespace_chars(text);
        if size > MAX_POLICY_CHARS {
            return Err(ParseError {
                errors: vec![Finding::error(
                    "",
                    format!("policy exceeds {MAX_POLICY_CHARS} characters"),
                )],
            });
        }
        let doc = json::parse(text).map_err(|e| ParseError {
            errors: vec![Finding::error("", format!("invalid JSON: {e}"))],
        })?;
        let mut p = Parser {
            kind,
            vars: false,
            errors: Vec::new(),
        };
        let policy = p.document(&doc);
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

struct Parser {
    kind: PolicyKind,
    vars: bool,
    errors: Vec<Finding>,
}

// Paths are built on every statement, so they avoid the formatting machinery.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        return key.to_owned();
    }
    let mut s = String::with_capacity(path.len() + 1 + key.len());
    s.push_str(path);
    s.push('.');
    s.push_str(key);
    s
}

fn index(path: &str, i: usize) -> String {
    let mut s = String::with_capacity(path.len() + 4);
    s.push_str(path);
    s.push('[');
    s.push_str(&i.to_string());
    s.push(']');
    s
}

fn at(path: &str, i: Option<usize>) -> String {
    match i {
        Some(i) => index(path, i),
        None => path.to_owned(),
    }
}

fn get<'a, 'b>(obj: &'a [(Cow<'b, str>, Json<'b>)], key: &str) -> Option<&'a Json<'b>> {
    obj.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

impl Parser {
    fn err(&mut self, path: &str, msg: impl Into<String>) {
        self.errors.push(Finding::error(path, msg));
    }

    /// A cheap scan first: paths are built only for documents that do have a duplicate.
    fn check_duplicates(&mut self, v: &Json, path: &str) {
        if has_duplicates(v) {
            self.report_duplicates(v, path);
        }
    }

    fn report_duplicates(&mut self, v: &Json, path: &str) {
        match v {
            Json::Object(entries) => {
                let mut seen = HashSet::new();
                for (k, child) in entries {
                    if !seen.insert(k.as_ref()) {
                        self.err(path, format!("duplicate key `{k}`"));
                    }
                    if has_duplicates(child) {
                        self.report_duplicates(child, &join(path, k));
                    }
                }
            }
            Json::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    if has_duplicates(child) {
                        self.report_duplicates(child, &index(path, i));
                    }
                }
            }
            _ => {}
        }
    }

    fn document(&mut self, doc: &Json) -> Option<Policy> {
        let Json::Object(top) = doc else {
            self.err("", "policy document must be a JSON object");
            return None;
        };
        self.check_duplicates(doc, "");
        for (k, _) in top {
            if !matches!(k.as_ref(), "Version" | "Id" | "Statement") {
                self.err("", format!("unknown element `{k}`"));
            }
        }
        let version = match get(top, "Version") {
            None => None,
            Some(Json::String(s)) if s == "2012-10-17" => Some(Version::V2012_10_17),
            Some(Json::String(s)) if s == "2008-10-17" => Some(Version::V2008_10_17),
            Some(Json::String(s)) => {
                self.err("Version", format!("unsupported Version `{s}`"));
                None
            }
            Some(other) => {
                self.err(
                    "Version",
                    format!("unsupported Version `{}`", compact(other)),
                );
                None
            }
        };
        self.vars = version == Some(Version::V2012_10_17);
        let id = match get(top, "Id") {
            None => None,
            Some(Json::String(s)) => {
                if self.kind == PolicyKind::Identity {
                    self.err("Id", "Id is not allowed in identity-based policies");
                }
                Some(s.to_string())
            }
            Some(_) => {
                self.err("Id", "Id must be a string");
                None
            }
        };
        let statements = match get(top, "Statement") {
            None => {
                self.err("", "missing Statement");
                return None;
            }
            Some(Json::Object(o)) => vec![self.statement(o, "Statement")],
            Some(Json::Array(items)) => {
                if items.is_empty() {
                    self.err("Statement", "Statement must not be empty");
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let path = index("Statement", i);
                        match item {
                            Json::Object(o) => self.statement(o, &path),
                            _ => {
                                self.err(&path, "statement must be an object");
                                None
                            }
                        }
                    })
                    .collect()
            }
            Some(_) => {
                self.err("Statement", "statement must be an object");
                return None;
            }
        };
        let mut sids = HashSet::new();
        let mut out = Vec::with_capacity(statements.len());
        for (i, st) in statements.into_iter().enumerate() {
            let Some(st) = st else { continue };
            if let Some(sid) = &st.sid {
                if !sid.is_empty() && !sids.insert(sid.clone()) {
                    let path = if matches!(get(top, "Statement"), Some(Json::Array(_))) {
                        join(&index("Statement", i), "Sid")
                    } else {
                        "Statement.Sid".to_owned()
                    };
                    self.err(&path, format!("duplicate Sid `{sid}`"));
                }
            }
            out.push(st);
        }
        Some(Policy {
            kind: self.kind,
            version,
            id,
            statements: out,
        })
    }

    fn statement(&mut self, obj: &[(Cow<'_, str>, Json<'_>)], path: &str) -> Option<Statement> {
        let before = self.errors.len();
        for (k, _) in obj {
            if !matches!(
                k.as_ref(),
                "Sid"
                    | "Effect"
                    | "Principal"
                    | "NotPrincipal"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Condition"
            ) {
                self.err(path, format!("unknown element `{k}`"));
            }
        }
        let sid = match get(obj, "Sid") {
            None => None,
            Some(Json::String(s)) => {
                let p = join(path, "Sid");
                if self.kind == PolicyKind::Identity {
                    if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
                        self.err(&p, "Sid may contain only A-Z, a-z, 0-9");
                    }
                } else if s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control)
                {
                    self.err(&p, "Sid must be 1 to 100 printable characters");
                }
                Some(s.to_string())
            }
            Some(_) => {
                self.err(&join(path, "Sid"), "Sid must be a string");
                None
            }
        };
        let effect = match get(obj, "Effect") {
            Some(Json::String(s)) if s == "Allow" => Some(Effect::Allow),
            Some(Json::String(s)) if s == "Deny" => Some(Effect::Deny),
            Some(_) => {
                self.err(
                    &join(path, "Effect"),
                    "Effect must be \"Allow\" or \"Deny\"",
                );
                None
            }
            None => {
                self.err(path, "missing Effect");
                None
            }
        };
        let principal = self.principal_block(obj, path);
        let action = match (get(obj, "Action"), get(obj, "NotAction")) {
            (Some(v), None) => self.actions(v, &join(path, "Action"), "Action", false),
            (None, Some(v)) => self.actions(v, &join(path, "NotAction"), "NotAction", true),
            _ => {
                self.err(
                    path,
                    "statement must have exactly one of Action and NotAction",
                );
                None
            }
        };
        let resource = match (get(obj, "Resource"), get(obj, "NotResource")) {
            (Some(v), None) => self.resources(v, &join(path, "Resource"), "Resource", false),
            (None, Some(v)) => self.resources(v, &join(path, "NotResource"), "NotResource", true),
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
        let conditions = match get(obj, "Condition") {
            None => Some(Vec::new()),
            Some(v) => self.conditions(v, &join(path, "Condition")),
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

    /// A string or a non-empty list of strings, with the path of each string.
    /// Items carry their list index; the path is built only for an error (`at`).
    fn strings(
        &mut self,
        v: &Json,
        path: &str,
        elem: &str,
    ) -> Option<Vec<(String, Option<usize>)>> {
        match v {
            Json::String(s) => Some(vec![(s.to_string(), None)]),
            Json::Array(items) if items.is_empty() => {
                self.err(path, format!("{elem} must not be empty"));
                None
            }
            Json::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Json::String(s) => out.push((s.to_string(), Some(i))),
                        _ => {
                            self.err(
                                &index(path, i),
                                format!("{elem} must be a string or a list of strings"),
                            );
                            ok = false;
                        }
                    }
                }
                ok.then_some(out)
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

    fn actions(&mut self, v: &Json, path: &str, elem: &str, negated: bool) -> Option<ActionBlock> {
        let items = self.strings(v, path, elem)?;
        let mut patterns = Vec::with_capacity(items.len());
        for (s, p) in items {
            let valid = s == "*"
                || s.split_once(':').is_some_and(|(svc, name)| {
                    !svc.is_empty() && !name.is_empty() && !svc.contains(['*', '?'])
                });
            if !valid {
                self.err(&at(path, p), format!("invalid action `{s}`"));
                continue;
            }
            patterns.push(ActionPattern {
                glob: Glob::new(&s),
            });
        }
        Some(ActionBlock { negated, patterns })
    }

    fn resources(
        &mut self,
        v: &Json,
        path: &str,
        elem: &str,
        negated: bool,
    ) -> Option<ResourceBlock> {
        let items = self.strings(v, path, elem)?;
        let mut patterns = Vec::with_capacity(items.len());
        for (s, p) in items {
            if s != "*" && s.split(':').count() < 6 {
                self.err(&at(path, p), format!("invalid ARN `{s}`"));
                continue;
            }
            if !(self.vars && s.contains("${")) {
                patterns.push(ResourcePattern {
                    template: None,
                    glob: Some(Glob::new(&s)),
                });
                continue;
            }
            let template = match Template::parse(&s) {
                Ok(t) => t,
                Err(_) => {
                    self.err(&at(path, p), "invalid policy variable");
                    continue;
                }
            };
            if let Some(prefix) = template.text_before_first_var() {
                if prefix.matches(':').count() < 5 {
                    self.err(
                        &at(path, p),
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
        obj: &[(Cow<'_, str>, Json<'_>)],
        path: &str,
    ) -> Option<PrincipalBlock> {
        let (value, negated, name) = match (get(obj, "Principal"), get(obj, "NotPrincipal")) {
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
        let path = join(path, name);
        if !self.kind.is_resource_based() {
            self.err(&path, "Principal is not allowed in identity-based policies");
            return None;
        }
        let set = match value {
            Json::String(s) if s == "*" => PrincipalSet::Star,
            Json::Object(entries) => {
                let mut out = Vec::new();
                for (k, v) in entries {
                    let ppath = join(&path, k);
                    let ty = match k.as_ref() {
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
                    for (s, p) in items {
                        match classify_principal(ty, &s) {
                            Ok(id) => vals.push(PrincipalValue { source: s, id }),
                            Err(msg) => self.err(&at(&ppath, p), msg),
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

    fn conditions(&mut self, v: &Json, path: &str) -> Option<Vec<Condition>> {
        let Json::Object(ops) = v else {
            self.err(path, "Condition must be an object");
            return None;
        };
        let mut out = Vec::with_capacity(ops.len());
        for (name, block) in ops {
            let opath = join(path, name);
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
            for (key, vals) in keys {
                let kpath = || join(&opath, key);
                let raw: Vec<(&Json, Option<usize>)> = match vals {
                    Json::Array(items) if items.is_empty() => {
                        self.err(&kpath(), "condition values must not be empty");
                        continue;
                    }
                    Json::Array(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, it)| (it, Some(i)))
                        .collect(),
                    single => vec![(single, None)],
                };
                let mut values = Vec::with_capacity(raw.len());
                for (item, vi) in raw {
                    let scalar = match item {
                        Json::String(s) => Scalar::String(s.to_string()),
                        Json::Number(n) => Scalar::Number(n.clone()),
                        Json::Bool(b) => Scalar::Bool(*b),
                        _ => {
                            self.err(
                                &at(&kpath(), vi),
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
                        Err(msg) => self.err(&at(&kpath(), vi), msg),
                    }
                }
                if key.is_empty() {
                    self.err(&kpath(), "condition key must not be empty");
                }
                entries.push(ConditionEntry {
                    key_lower: key.to_ascii_lowercase(),
                    key: key.to_string(),
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
                let mut toks = Vec::new();
                crate::wildcard::tokenize(&text, &mut toks);
                // A pattern that is not an ARN matches nothing; an empty segment list
                // encodes that.
                Operand::Arn(
                    Template::empty(),
                    Some(arn_segments(toks).unwrap_or_default()),
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

fn has_duplicates(v: &Json) -> bool {
    match v {
        Json::Object(entries) => {
            let dup_here = if entries.len() <= 16 {
                entries
                    .iter()
                    .enumerate()
                    .any(|(i, (k, _))| entries.iter().take(i).any(|(k2, _)| k2 == k))
            } else {
                let mut seen = HashSet::new();
                !entries.iter().all(|(k, _)| seen.insert(k.as_ref()))
            };
            dup_here || entries.iter().any(|(_, c)| has_duplicates(c))
        }
        Json::Array(items) => items.iter().any(has_duplicates),
        _ => false,
    }
}

fn compact(v: &Json) -> String {
    match v {
        Json::String(s) => s.to_string(),
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
            let parts: Vec<&str> = s.splitn(6, ':').collect();
            let [arn, partition, service, region, account, resource] = parts.as_slice() else {
                return Err(invalid());
            };
            if *arn != "arn" || partition.is_empty() || !region.is_empty() || !is_account(account) {
                return Err(invalid());
            }
            let account = (*account).to_owned();
            let nonempty_segments = |r: &str, n: Option<usize>| {
                let segs: Vec<&str> = r.split('/').collect();
                segs.iter().all(|x| !x.is_empty()) && n.is_none_or(|n| segs.len() == n)
            };
            match *service {
                "iam" => {
                    if *resource == "root" {
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
