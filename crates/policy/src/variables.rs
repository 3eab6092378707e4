//! Policy variables (spec 4.4): `${key}`, `${key, 'default'}`, `${*}`, `${?}`, `${$}`.
//!
//! A template is split once at parse time. Text written in the policy keeps its wildcards;
//! text produced by a substitution or a special variable is always literal, so a user named
//! `*` cannot widen a policy.

use crate::context::Context;
use crate::wildcard::{self, Glob, Tok};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Policy text: `*` and `?` are wildcards where the operator has wildcards.
    Text(String),
    /// Produced by `${*}`, `${?}`, `${$}`: never a wildcard.
    Literal(String),
    Var {
        /// Lower-cased, because key names are case-insensitive.
        key: String,
        /// As written, for printing the policy back.
        name: String,
        default: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) parts: Vec<Part>,
}

/// Why a `${` could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadVariable;

impl Template {
    /// No parts: stands for an operand that was compiled from literal text.
    pub(crate) fn empty() -> Template {
        Template { parts: Vec::new() }
    }

    /// Text with no variable syntax (2008-10-17 documents, or operators without variables).
    pub(crate) fn plain(text: &str) -> Template {
        Template {
            parts: vec![Part::Text(text.to_owned())],
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Template, BadVariable> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let (before, after) = rest.split_at(start);
            if !before.is_empty() {
                parts.push(Part::Text(before.to_owned()));
            }
            let body = after.get(2..).ok_or(BadVariable)?;
            let (part, remaining) = parse_var(body)?;
            parts.push(part);
            rest = remaining;
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    pub(crate) fn has_vars(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var { .. }))
    }

    /// Text of the template before its first variable (to check where variables sit in ARNs).
    pub(crate) fn text_before_first_var(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) | Part::Literal(t) => out.push_str(t),
                Part::Var { .. } => return Some(out),
            }
        }
        None
    }

    pub(crate) fn var_keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { key, .. } => Some(key.as_str()),
            _ => None,
        })
    }

    /// Tokens for glob matching; `None` when a variable cannot be resolved.
    pub(crate) fn tokens(&self, ctx: &Context, wildcards: bool) -> Option<Vec<Tok>> {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                Part::Text(t) if wildcards => wildcard::tokenize(t, &mut out),
                Part::Text(t) | Part::Literal(t) => wildcard::literal(t, &mut out),
                Part::Var { key, default, .. } => {
                    wildcard::literal(resolve(ctx, key, default.as_deref())?, &mut out)
                }
            }
        }
        Some(out)
    }

    /// The template as a glob, compiled when it has no variables.
    pub(crate) fn compile(&self, wildcards: bool) -> Option<Glob> {
        if self.has_vars() {
            return None;
        }
        self.tokens(&Context::default(), wildcards)
            .map(Glob::from_toks)
    }

    /// Literal string value (StringEquals and friends); `None` when unresolvable.
    pub(crate) fn render(&self, ctx: &Context) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) | Part::Literal(t) => out.push_str(t),
                Part::Var { key, default, .. } => {
                    out.push_str(resolve(ctx, key, default.as_deref())?)
                }
            }
        }
        Some(out)
    }

    /// The source text, variables written back in canonical form.
    pub(crate) fn source(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Literal(t) => {
                    out.push_str("${");
                    out.push_str(t);
                    out.push('}');
                }
                Part::Var { name, default, .. } => {
                    out.push_str("${");
                    out.push_str(name);
                    if let Some(d) = default {
                        out.push_str(", '");
                        out.push_str(d);
                        out.push('\'');
                    }
                    out.push('}');
                }
            }
        }
        out
    }
}

/// A single-valued key's value, else the default; multivalued keys cannot be variables.
fn resolve<'a>(ctx: &'a Context, key: &str, default: Option<&'a str>) -> Option<&'a str> {
    match ctx.get_lower(key) {
        Some(v) if !v.multi && v.values.len() == 1 => v.values.first().map(|x| x.text()),
        _ => default,
    }
}

fn parse_var(body: &str) -> Result<(Part, &str), BadVariable> {
    let end_name = body.find([',', '}']).ok_or(BadVariable)?;
    let name = body.get(..end_name).ok_or(BadVariable)?.trim();
    let after = body.get(end_name..).ok_or(BadVariable)?;
    if name.is_empty() || name.contains("${") {
        return Err(BadVariable);
    }
    let (default, rest) = if let Some(after_comma) = after.strip_prefix(',') {
        let t = after_comma.trim_start();
        let t = t.strip_prefix('\'').ok_or(BadVariable)?;
        let close = t.find('\'').ok_or(BadVariable)?;
        let def = t.get(..close).ok_or(BadVariable)?;
        let t = t.get(close + 1..).ok_or(BadVariable)?.trim_start();
        let t = t.strip_prefix('}').ok_or(BadVariable)?;
        (Some(def.to_owned()), t)
    } else {
        (None, after.strip_prefix('}').ok_or(BadVariable)?)
    };
    let part = match name {
        "*" | "?" | "$" if default.is_none() => Part::Literal(name.to_owned()),
        "*" | "?" | "$" => return Err(BadVariable),
        _ => Part::Var {
            key: name.to_ascii_lowercase(),
            name: name.to_owned(),
            default,
        },
    };
    Ok((part, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Value;

    #[test]
    fn splits_variables() {
        let t = Template::parse("repository/${aws:username}/*").unwrap();
        assert_eq!(t.parts.len(), 3);
        assert!(t.has_vars());
    }

    #[test]
    fn default_with_spaces() {
        let t = Template::parse("${aws:PrincipalTag/team ,   'shared'}-*").unwrap();
        let ctx = Context::default();
        assert_eq!(t.render(&ctx).unwrap(), "shared-*");
    }

    #[test]
    fn rejects_unterminated_and_empty() {
        assert!(Template::parse("a${aws:username").is_err());
        assert!(Template::parse("a${}").is_err());
        assert!(Template::parse("a${ , 'x'}").is_err());
        assert!(Template::parse("${a, 'x}").is_err());
    }

    #[test]
    fn substitution_is_literal() {
        let t = Template::parse("a${aws:username}").unwrap();
        let mut ctx = Context::default();
        ctx.insert("aws:username", Value::string("*"));
        let g = Glob::from_toks(t.tokens(&ctx, true).unwrap());
        assert!(g.matches("a*"));
        assert!(!g.matches("ab"));
    }

    #[test]
    fn specials() {
        let t = Template::parse("a${*}b${?}${$}").unwrap();
        assert_eq!(t.render(&Context::default()).unwrap(), "a*b?$");
        assert_eq!(t.source(), "a${*}b${?}${$}");
    }
}
