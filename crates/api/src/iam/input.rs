//! The query-protocol input: form parameters (`UserName=...`, `Tags.member.1.Key=...`) read with
//! the constraints of botocore's IAM model. Each violation is a `ValidationError` naming the
//! member as AWS does.

use std::collections::BTreeMap;

use super::IamError;

/// The decoded form body.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

fn violation(member: &str, value: &str, what: &str) -> IamError {
    let mut m = member.to_owned();
    if let Some(first) = m.get(..1) {
        m = first.to_ascii_lowercase() + &member[1..];
    }
    IamError::validation(format!(
        "1 validation error detected: Value '{value}' at '{m}' failed to satisfy constraint: {what}"
    ))
}

impl Params {
    /// The form-encoded body. A member given twice is refused: which one counts would be a
    /// guess, and a filter in front of the server could guess the other way.
    pub fn parse(body: &[u8]) -> Result<Self, IamError> {
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(body).into_owned() {
            if map.contains_key(&k) {
                return Err(IamError::new(
                    "InvalidInput",
                    format!("the parameter {k} is given more than once"),
                ));
            }
            map.insert(k, v);
        }
        Ok(Params(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn required(&self, name: &str) -> Result<&str, IamError> {
        self.get(name).ok_or_else(|| {
            IamError::validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(name)
            ))
        })
    }

    /// `Name.member.1`, `Name.member.2`, ... in index order.
    pub fn list(&self, name: &str) -> Vec<&str> {
        let prefix = format!("{name}.member.");
        let mut items: Vec<(u32, &str)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(&prefix)?.parse().ok()?;
                Some((n, v.as_str()))
            })
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// `Name.member.N.Field` structures, as maps of field to value, in index order.
    pub fn structs(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let prefix = format!("{name}.member.");
        let mut by_index: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse() else { continue };
            by_index
                .entry(n)
                .or_default()
                .insert(field.to_owned(), v.clone());
        }
        by_index.into_values().collect()
    }

    /// A name of the `[\w+=,.@-]+` family with its model length.
    pub fn name(&self, member: &str, max: usize) -> Result<&str, IamError> {
        let v = self.required(member)?;
        check_name(member, v, max)?;
        Ok(v)
    }

    pub fn opt_name(&self, member: &str, max: usize) -> Result<Option<&str>, IamError> {
        match self.get(member) {
            None => Ok(None),
            Some(v) => check_name(member, v, max).map(|_| Some(v)),
        }
    }

    /// `Path` / `PathPrefix`: `/` or `/.../` of printable ASCII, 1 to 512 characters.
    pub fn path(&self, member: &str) -> Result<&str, IamError> {
        let Some(v) = self.get(member) else {
            return Ok("/");
        };
        let printable = v.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if v.is_empty() || v.len() > 512 {
            return Err(violation(
                member,
                v,
                "Member must have length between 1 and 512",
            ));
        }
        if !printable || !v.starts_with('/') || !v.ends_with('/') {
            return Err(violation(
                member,
                v,
                r"Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
            ));
        }
        Ok(v)
    }

    /// `PathPrefix`, whose pattern only asks for a leading `/`.
    pub fn path_prefix(&self) -> Result<&str, IamError> {
        match self.get("PathPrefix") {
            None => Ok("/"),
            Some(v)
                if v.starts_with('/')
                    && v.len() <= 512
                    && v.bytes().all(|b| (0x21..=0x7f).contains(&b)) =>
            {
                Ok(v)
            }
            Some(v) => Err(violation(
                "PathPrefix",
                v,
                r"Member must satisfy regular expression pattern: \u002F[\u0021-\u007F]*",
            )),
        }
    }

    /// A policy document: 1 to 131072 characters (the engine checks the rest).
    pub fn document(&self, member: &str) -> Result<&str, IamError> {
        let v = self.required(member)?;
        if v.is_empty() || v.chars().count() > 131_072 {
            return Err(violation(
                member,
                "...",
                "Member must have length between 1 and 131072",
            ));
        }
        Ok(v)
    }

    /// An ARN member (`PolicyArn`, `PolicySourceArn`): 20 to 2048 characters.
    pub fn arn(&self, member: &str) -> Result<&str, IamError> {
        let v = self.required(member)?;
        if !(20..=2048).contains(&v.len()) {
            return Err(violation(
                member,
                v,
                "Member must have length between 20 and 2048",
            ));
        }
        if !v.starts_with("arn:") {
            return Err(IamError::new(
                "InvalidInput",
                format!("ARN {v} is not valid."),
            ));
        }
        Ok(v)
    }

    pub fn access_key_id(&self) -> Result<&str, IamError> {
        let v = self.required("AccessKeyId")?;
        if !(16..=128).contains(&v.len()) {
            return Err(violation(
                "AccessKeyId",
                v,
                "Member must have length between 16 and 128",
            ));
        }
        if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(violation(
                "AccessKeyId",
                v,
                r"Member must satisfy regular expression pattern: [\w]+",
            ));
        }
        Ok(v)
    }

    /// `MaxItems` (1 to 1000, default 100) and `Marker`.
    pub fn paging(&self) -> Result<(usize, Option<&str>), IamError> {
        let max = match self.get("MaxItems") {
            None => 100,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(violation(
                        "MaxItems",
                        v,
                        "Member must have value between 1 and 1000",
                    ))
                }
            },
        };
        let marker = self.get("Marker");
        if let Some(m) = marker {
            if m.is_empty() || m.len() > 320 {
                return Err(violation(
                    "Marker",
                    m,
                    "Member must have length between 1 and 320",
                ));
            }
        }
        Ok((max, marker))
    }

    /// `Tags.member.N.Key/Value`: keys 1-128, values 0-256 characters, at most 50.
    pub fn tags(&self, member: &str) -> Result<Vec<(String, String)>, IamError> {
        let items = self.structs(member);
        if items.len() > 50 {
            return Err(violation(
                member,
                "...",
                "Member must have length less than or equal to 50",
            ));
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for item in items {
            let key = item.get("Key").cloned().unwrap_or_default();
            let value = item.get("Value").cloned().unwrap_or_default();
            check_tag_key(&key)?;
            if value.chars().count() > 256 {
                return Err(violation(
                    "tags.member.value",
                    &value,
                    "Member must have length less than or equal to 256",
                ));
            }
            if out.iter().any(|(k, _)| k == &key) {
                return Err(IamError::new(
                    "InvalidInput",
                    format!("Duplicate tag keys found: {key}"),
                ));
            }
            out.push((key, value));
        }
        Ok(out)
    }

    pub fn tag_keys(&self) -> Result<Vec<String>, IamError> {
        let keys: Vec<String> = self
            .list("TagKeys")
            .into_iter()
            .map(str::to_owned)
            .collect();
        if keys.len() > 50 {
            return Err(violation(
                "TagKeys",
                "...",
                "Member must have length less than or equal to 50",
            ));
        }
        for k in &keys {
            check_tag_key(k)?;
        }
        Ok(keys)
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

fn check_name(member: &str, v: &str, max: usize) -> Result<(), IamError> {
    let n = v.chars().count();
    if !(1..=max).contains(&n) {
        return Err(violation(
            member,
            v,
            &format!("Member must have length between 1 and {max}"),
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-'))
    {
        return Err(violation(
            member,
            v,
            r"Member must satisfy regular expression pattern: [\w+=,.@-]+",
        ));
    }
    Ok(())
}

fn check_tag_key(key: &str) -> Result<(), IamError> {
    let n = key.chars().count();
    if !(1..=128).contains(&n) {
        return Err(violation(
            "tags.member.key",
            key,
            "Member must have length between 1 and 128",
        ));
    }
    if !key.chars().all(|c| {
        c.is_alphanumeric()
            || c.is_whitespace()
            || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
    }) {
        return Err(violation(
            "tags.member.key",
            key,
            r"Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+",
        ));
    }
    Ok(())
}

/// One page of `items` (sorted by `key`) after `marker`; the marker of the next page when more
/// remain. Markers are the key of the last item returned.
pub fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    max: usize,
    marker: Option<&str>,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| marker.is_none_or(|m| key(i) > m))
        .collect();
    if rest.len() <= max {
        return (rest, None);
    }
    rest.truncate(max);
    let next = rest.last().map(|i| key(i).to_owned());
    (rest, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_structs_names_and_pages() {
        let p = Params::parse(
            b"UserName=a%2Bb&Tags.member.2.Key=k2&Tags.member.1.Key=k1&Tags.member.1.Value=v1&Tags.member.2.Value=&ActionNames.member.10=x&ActionNames.member.2=y",
        ).unwrap();
        assert_eq!(p.name("UserName", 64).unwrap(), "a+b");
        assert_eq!(
            p.tags("Tags").unwrap(),
            [("k1".into(), "v1".into()), ("k2".into(), String::new())]
        );
        assert_eq!(p.list("ActionNames"), ["y", "x"]);
        let bad = Params::parse(b"UserName=a%20b").unwrap();
        let e = bad.name("UserName", 64).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("at 'userName'"), "{}", e.message);
        assert!(Params::parse(b"Path=nope").unwrap().path("Path").is_err());
        assert_eq!(
            Params::parse(b"Path=/a/b/").unwrap().path("Path").unwrap(),
            "/a/b/"
        );
        let (items, next) = page(vec!["a", "b", "c"], |s| s, 2, None);
        assert_eq!((items, next.as_deref()), (vec!["a", "b"], Some("b")));
        let (items, next) = page(vec!["a", "b", "c"], |s| s, 2, Some("b"));
        assert_eq!((items, next), (vec!["c"], None));
        assert!(Params::parse(b"MaxItems=0").unwrap().paging().is_err());
        let twice = Params::parse(b"Action=GetUser&UserName=a&Action=DeleteUser").unwrap_err();
        assert_eq!(twice.code, "InvalidInput");
        assert!(twice.message.contains("Action"), "{}", twice.message);
    }
}
