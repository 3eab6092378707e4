//! Reading operation inputs with the model's constraints; every violation names the member.

use serde_json::Value;

use super::EcrError;

fn constraint(member: &str, what: &str) -> EcrError {
    EcrError::invalid(format!(
        "Invalid parameter at '{member}' failed to satisfy constraint: '{what}'"
    ))
}

pub fn opt_str<'a>(input: &'a Value, member: &str) -> Result<Option<&'a str>, EcrError> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(constraint(member, "must be a string")),
    }
}

pub fn req_str<'a>(input: &'a Value, member: &str) -> Result<&'a str, EcrError> {
    opt_str(input, member)?.ok_or_else(|| constraint(member, "member must not be null"))
}

pub fn opt_bool(input: &Value, member: &str) -> Result<Option<bool>, EcrError> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(constraint(member, "must be a boolean")),
    }
}

pub fn opt_int(input: &Value, member: &str, min: i64, max: i64) -> Result<Option<i64>, EcrError> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(constraint(
                member,
                &format!("must be between {min} and {max}"),
            )),
        },
        Some(_) => Err(constraint(member, "must be an integer")),
    }
}

/// `repositoryName`: 2 to 256 characters of the model's pattern (the OCI name grammar).
pub fn repository_name<'a>(input: &'a Value, member: &str) -> Result<&'a str, EcrError> {
    let name = req_str(input, member)?;
    check_repository_name(name, member)?;
    Ok(name)
}

pub fn check_repository_name(name: &str, member: &str) -> Result<(), EcrError> {
    if !(2..=256).contains(&name.len()) {
        return Err(constraint(
            member,
            "Member must have length between 2 and 256",
        ));
    }
    if name.parse::<portcullis_oci::RepoName>().is_err() {
        return Err(constraint(
            member,
            "Member must satisfy regular expression pattern: (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
        ));
    }
    Ok(())
}

/// `registryId`, when given, must be this registry's account.
pub fn check_registry_id(input: &Value, account: &str) -> Result<(), EcrError> {
    match opt_str(input, "registryId")? {
        None => Ok(()),
        Some(id) if !(id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())) => Err(constraint(
            "registryId",
            "Member must satisfy regular expression pattern: [0-9]{12}",
        )),
        Some(id) if id != account => Err(EcrError::invalid(format!(
            "Invalid parameter at 'registryId': registry '{id}' is not this registry ('{account}')"
        ))),
        Some(_) => Ok(()),
    }
}

/// `policyText`: 0 to 10240 characters.
pub fn policy_text<'a>(input: &'a Value, member: &str) -> Result<&'a str, EcrError> {
    let text = req_str(input, member)?;
    if text.chars().count() > 10240 {
        return Err(constraint(
            member,
            "Member must have length less than or equal to 10240",
        ));
    }
    Ok(text)
}

/// `tags` / `resourceTags`: `[{"Key": ..., "Value": ...}]`, both members required, keys 1-128
/// and values 0-256 characters, at most 50. Problems are `error_kind` (InvalidTagParameterException
/// where the operation models it, else InvalidParameterException), naming the member.
pub fn tags(
    input: &Value,
    member: &str,
    error_kind: &'static str,
) -> Result<Vec<(String, String)>, EcrError> {
    let items = match input.get(member) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(constraint(member, "must be a list")),
    };
    let bad = |what: String| {
        EcrError::new(
            error_kind,
            format!("Invalid parameter at '{member}': {what}"),
        )
    };
    if items.len() > 50 {
        return Err(EcrError::new(
            "TooManyTagsException",
            format!("Invalid parameter at '{member}': a resource can have at most 50 tags"),
        ));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(items.len());
    for item in items {
        if !item.is_object() {
            return Err(bad("every tag is a structure {Key, Value}".into()));
        }
        let key = match item.get("Key") {
            Some(Value::String(k)) => k,
            _ => return Err(bad("every tag needs a string 'Key'".into())),
        };
        let value = match item.get("Value") {
            Some(Value::String(v)) => v,
            _ => return Err(bad("every tag needs a string 'Value'".into())),
        };
        if key.is_empty() || key.chars().count() > 128 {
            return Err(bad("a tag 'Key' has 1 to 128 characters".into()));
        }
        if value.chars().count() > 256 {
            return Err(bad("a tag 'Value' has at most 256 characters".into()));
        }
        if key.starts_with("aws:") {
            return Err(bad("tag 'Key's starting with `aws:` are reserved".into()));
        }
        out.retain(|(k, _)| k != key);
        out.push((key.clone(), value.clone()));
    }
    Ok(out)
}

/// A list member: `None` when absent, else its items with the model's length bounds.
pub fn opt_list<'a>(
    input: &'a Value,
    member: &str,
    min: usize,
    max: usize,
) -> Result<Option<&'a Vec<Value>>, EcrError> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.len() < min || items.len() > max {
                Err(constraint(
                    member,
                    &format!("Member must have length between {min} and {max}"),
                ))
            } else {
                Ok(Some(items))
            }
        }
        Some(_) => Err(constraint(member, "must be a list")),
    }
}

pub fn req_list<'a>(
    input: &'a Value,
    member: &str,
    min: usize,
    max: usize,
) -> Result<&'a Vec<Value>, EcrError> {
    opt_list(input, member, min, max)?.ok_or_else(|| constraint(member, "member must not be null"))
}

/// A structure member (`None` when absent).
pub fn opt_object<'a>(input: &'a Value, member: &str) -> Result<Option<&'a Value>, EcrError> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(_) => Err(constraint(member, "must be a structure")),
    }
}

/// A string member that must be one of `allowed`.
pub fn opt_enum<'a>(
    input: &'a Value,
    member: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, EcrError> {
    match opt_str(input, member)? {
        None => Ok(None),
        Some(v) if allowed.contains(&v) => Ok(Some(v)),
        Some(_) => Err(constraint(
            member,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        )),
    }
}

/// A string with a length between `min` and `max` characters.
pub fn check_len(value: &str, member: &str, min: usize, max: usize) -> Result<(), EcrError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(constraint(
            member,
            &format!("Member must have length between {min} and {max}"),
        ));
    }
    Ok(())
}

/// A list of strings: the list's length between `min` and `max`, each string's length in
/// `item_len`; every problem names the list.
pub fn opt_string_list<'a>(
    input: &'a Value,
    member: &str,
    min: usize,
    max: usize,
    item_len: std::ops::RangeInclusive<usize>,
) -> Result<Option<Vec<&'a str>>, EcrError> {
    let Some(items) = opt_list(input, member, min, max)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some(s) = item.as_str() else {
            return Err(constraint(member, "every member must be a string"));
        };
        if !item_len.contains(&s.chars().count()) {
            return Err(constraint(
                member,
                &format!(
                    "every member must have length between {} and {}",
                    item_len.start(),
                    item_len.end()
                ),
            ));
        }
        out.push(s);
    }
    Ok(Some(out))
}

pub fn req_string_list<'a>(
    input: &'a Value,
    member: &str,
    min: usize,
    max: usize,
    item_len: std::ops::RangeInclusive<usize>,
) -> Result<Vec<&'a str>, EcrError> {
    opt_string_list(input, member, min, max, item_len)?
        .ok_or_else(|| constraint(member, "member must not be null"))
}

/// One `ImageIdentifier` as given: the members' types and lengths are checked here; whether
/// the tag and digest are well-formed is each operation's business (per-item failures).
pub struct ImageIdInput<'a> {
    pub raw: &'a Value,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

pub fn image_ids<'a>(
    input: &'a Value,
    member: &str,
    min: usize,
    max: usize,
) -> Result<Option<Vec<ImageIdInput<'a>>>, EcrError> {
    let Some(items) = opt_list(input, member, min, max)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !item.is_object() {
            return Err(constraint(
                member,
                "every member must be an ImageIdentifier structure",
            ));
        }
        let tag = opt_str(item, "imageTag")?;
        if let Some(t) = tag {
            check_len(t, "imageTag", 1, 300)?;
        }
        let digest = opt_str(item, "imageDigest")?;
        out.push(ImageIdInput {
            raw: item,
            tag,
            digest,
        });
    }
    Ok(Some(out))
}

/// A `registryIds` / `registryId` value: 12 digits.
pub fn check_registry_id_value(id: &Value, member: &str) -> Result<(), EcrError> {
    match id.as_str() {
        Some(s) if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        Some(_) => Err(constraint(
            member,
            "Member must satisfy regular expression pattern: [0-9]{12}",
        )),
        None => Err(constraint(member, "every member must be a string")),
    }
}

/// The model's KMS key pattern for templates: empty, or
/// `arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-z0-9-]+`.
pub fn check_template_kms_key(key: &str) -> Result<(), EcrError> {
    let lower = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let ok = key.is_empty()
        || (|| {
            let rest = key.strip_prefix("arn:aws")?;
            let (partition_tail, rest) = rest.split_once(":kms:")?;
            if !partition_tail.is_empty() && !lower(partition_tail) {
                return None;
            }
            let (region, rest) = rest.split_once(':')?;
            let (account, rest) = rest.split_once(":key/")?;
            (lower(region)
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && lower(rest))
            .then_some(())
        })()
        .is_some();
    if ok {
        Ok(())
    } else {
        Err(constraint(
            "kmsKey",
            "Member must satisfy regular expression pattern: ^$|arn:aws[a-z0-9-]*:kms:[a-z0-9-]+:[0-9]{12}:key\\/[a-z0-9-]+",
        ))
    }
}

/// `imageTagMutabilityExclusionFilters`: 1 to 5 `{filterType: WILDCARD, filter}` with the
/// model's filter pattern.
pub fn exclusion_filters(input: &Value) -> Result<Vec<String>, EcrError> {
    let member = "imageTagMutabilityExclusionFilters";
    let Some(items) = opt_list(input, member, 1, 5)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !item.is_object() {
            return Err(constraint(
                member,
                "every member must be a {filterType, filter} structure",
            ));
        }
        opt_enum(item, "filterType", &["WILDCARD"])?
            .ok_or_else(|| constraint("filterType", "member must not be null"))?;
        let filter = req_str(item, "filter")?;
        let ok = (1..=128).contains(&filter.len())
            && filter
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._*-".contains(&b));
        if !ok {
            return Err(constraint(
                "filter",
                "Member must satisfy regular expression pattern: ^[0-9a-zA-Z._*-]{1,128}$",
            ));
        }
        out.push(filter.to_owned());
    }
    Ok(out)
}
