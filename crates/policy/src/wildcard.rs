//! `*` and `?` globs (spec 4.1), compiled once at parse time.
//!
//! Matching is anchored and linear in practice: a two-pointer walk that, on a mismatch, returns
//! to the last `*` seen. No regex is ever built from policy text.

/// One element of a compiled pattern. A `Char('*')` is a literal star (from `${*}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Char(char),
    Star,
    One,
}

/// Splits policy text into tokens, treating `*` and `?` as wildcards.
pub(crate) fn tokenize(text: &str, out: &mut Vec<Tok>) {
    out.extend(text.chars().map(|c| match c {
        '*' => Tok::Star,
        '?' => Tok::One,
        c => Tok::Char(c),
    }));
}

/// Appends text whose characters are all literal (substituted variable values, `${*}`).
pub(crate) fn literal(text: &str, out: &mut Vec<Tok>) {
    out.extend(text.chars().map(Tok::Char));
}

/// A compiled glob. The special forms exist only for speed; `General` handles everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Glob {
    Any,
    Exact(String),
    Prefix(String),
    General(Vec<Tok>),
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Glob {
        // Most patterns are literal or end in one `*`: no token list needed. Both wildcards
        // are ASCII, so a byte search finds them (and faster than a search for either char).
        match pattern.bytes().position(|b| b == b'*' || b == b'?') {
            None => return Glob::Exact(pattern.to_owned()),
            Some(i) if i + 1 == pattern.len() && pattern.ends_with('*') => {
                return match pattern.get(..i) {
                    Some("") => Glob::Any,
                    Some(head) => Glob::Prefix(head.to_owned()),
                    None => Glob::Any,
                };
            }
            Some(_) => {}
        }
        let mut toks = Vec::new();
        tokenize(pattern, &mut toks);
        Glob::from_toks(toks)
    }

    pub(crate) fn from_toks(toks: Vec<Tok>) -> Glob {
        if toks.len() == 1 && toks.first() == Some(&Tok::Star) {
            return Glob::Any;
        }
        let wild = toks.iter().filter(|t| !matches!(t, Tok::Char(_))).count();
        let chars = |ts: &[Tok]| -> String {
            ts.iter()
                .filter_map(|t| match t {
                    Tok::Char(c) => Some(*c),
                    _ => None,
                })
                .collect()
        };
        if wild == 0 {
            return Glob::Exact(chars(&toks));
        }
        if wild == 1 && toks.last() == Some(&Tok::Star) {
            return Glob::Prefix(chars(&toks));
        }
        Glob::General(toks)
    }

    /// Case-sensitive match over the whole of `text`.
    pub(crate) fn matches(&self, text: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(s) => s == text,
            Glob::Prefix(p) => text.starts_with(p.as_str()),
            Glob::General(toks) => glob_match(toks, text, false),
        }
    }

    /// Match with ASCII case folded on both sides (action names, spec 4.2).
    pub(crate) fn matches_ascii_ci(&self, text: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(s) => s.eq_ignore_ascii_case(text),
            Glob::Prefix(p) => text
                .as_bytes()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes())),
            Glob::General(toks) => glob_match(toks, text, true),
        }
    }

    /// The pattern text back, for patterns built by `Glob::new` (no literal wildcards).
    pub(crate) fn to_source(&self) -> String {
        match self {
            Glob::Any => "*".to_owned(),
            Glob::Exact(s) => s.clone(),
            Glob::Prefix(p) => format!("{p}*"),
            Glob::General(toks) => toks
                .iter()
                .map(|t| match t {
                    Tok::Char(c) => *c,
                    Tok::Star => '*',
                    Tok::One => '?',
                })
                .collect(),
        }
    }

    pub(crate) fn has_wildcards(&self) -> bool {
        !matches!(self, Glob::Exact(_))
    }
}

fn eq_char(a: char, b: char, fold: bool) -> bool {
    a == b || (fold && a.eq_ignore_ascii_case(&b))
}

/// Anchored glob match; on mismatch, backtrack to the most recent `*` and let it absorb one
/// more character. Each `*` restarts from the last one only, which keeps the work bounded by
/// pattern length times text length.
pub(crate) fn glob_match(pat: &[Tok], text: &str, fold: bool) -> bool {
    let mut p = 0usize;
    let mut t = 0usize;
    let mut star: Option<(usize, usize)> = None;
    loop {
        let c = text.get(t..).and_then(|rest| rest.chars().next());
        let Some(c) = c else { break };
        match pat.get(p) {
            Some(Tok::One) => {
                p += 1;
                t += c.len_utf8();
                continue;
            }
            Some(Tok::Char(pc)) if eq_char(*pc, c, fold) => {
                p += 1;
                t += c.len_utf8();
                continue;
            }
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                let skipped = text
                    .get(st..)
                    .and_then(|rest| rest.chars().next())
                    .map_or(1, char::len_utf8);
                let nt = st + skipped;
                star = Some((sp, nt));
                p = sp + 1;
                t = nt;
            }
            None => return false,
        }
    }
    pat.get(p..)
        .is_some_and(|rest| rest.iter().all(|t| *t == Tok::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_spans_everything() {
        assert!(Glob::new("a*").matches("a/b:c"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("a*b*c").matches("aXbYc"));
        assert!(!Glob::new("a*b*c").matches("aXbY"));
        assert!(Glob::new("*b").matches("bbb"));
    }

    #[test]
    fn question_is_one_char() {
        assert!(Glob::new("app-v?").matches("app-v1"));
        assert!(!Glob::new("app-v?").matches("app-v10"));
        assert!(Glob::new("?").matches("é"));
        assert!(!Glob::new("?").matches(""));
    }

    #[test]
    fn brackets_are_literal() {
        assert!(Glob::new("a[b]").matches("a[b]"));
        assert!(!Glob::new("a[b]").matches("ab"));
    }

    #[test]
    fn ascii_case_fold() {
        assert!(Glob::new("ecr:batch*").matches_ascii_ci("ECR:BatchGetImage"));
        assert!(Glob::new("ecr:?utimage").matches_ascii_ci("ecr:PutImage"));
        assert!(!Glob::new("ecr:batch*").matches("ECR:BatchGetImage"));
    }

    #[test]
    fn aws_string_like_example_spans_colons() {
        let g = Glob::new("arn:aws:someservice:*:111122223333:finance/*");
        assert!(g.matches(
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
        ));
    }

    #[test]
    fn literal_star_token() {
        let mut t = Vec::new();
        tokenize("a", &mut t);
        literal("*", &mut t);
        tokenize("b", &mut t);
        let g = Glob::from_toks(t);
        assert!(g.matches("a*b"));
        assert!(!g.matches("axb"));
    }
}
