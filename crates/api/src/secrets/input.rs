//! Reading Secrets Manager inputs with the model's constraints. A value outside them is a
//! `ValidationException` worded as AWS words it (`1 validation error detected: Value at
//! 'secretId' failed to satisfy constraint: ...`), naming the member and never quoting a value;
//! what the model allows but Secrets Manager refuses is an `InvalidParameterException`.

use base64::Engine;
use portcullis_core::sealing::{Secret, SecretBytes};
use portcullis_core::secrets::{SecretValue, MAX_TAGS};
use serde_json::Value;

use super::SecretsManagerError as E;

/// A `SecretString` or `SecretBinary` of up to 64 KiB.
pub const MAX_VALUE_BYTES: usize = 65_536;

/// `SecretId` -> `secretId`, as AWS names members in validation messages.
fn wire_name(member: &str) -> String {
    let mut chars = member.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

pub fn constraint(member: &str, what: &str) -> E {
    E::validation(format!(
        "1 validation error detected: Value at '{}' failed to satisfy constraint: {what}",
        wire_name(member)
    ))
}

fn null(member: &str) -> E {
    E::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        wire_name(member)
    ))
}

fn length(member: &str, len: usize, min: usize, max: usize) -> Result<(), E> {
    if len < min {
        return Err(constraint(
            member,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if len > max {
        return Err(constraint(
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// A string member of `min..=max` characters, when present.
pub fn opt_str<'a>(
    input: &'a Value,
    member: &str,
    min: usize,
    max: usize,
) -> Result<Option<&'a str>, E> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            length(member, s.chars().count(), min, max)?;
            Ok(Some(s))
        }
        Some(_) => Err(constraint(member, "Member must be a string")),
    }
}

pub fn req_str<'a>(input: &'a Value, member: &str, min: usize, max: usize) -> Result<&'a str, E> {
    opt_str(input, member, min, max)?.ok_or_else(|| null(member))
}

pub fn opt_bool(input: &Value, member: &str) -> Result<Option<bool>, E> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(constraint(member, "Member must be a boolean")),
    }
}

/// An integer member; `range` is the model's, if it has one.
pub fn opt_int(input: &Value, member: &str, range: Option<(i64, i64)>) -> Result<Option<i64>, E> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let v = n
                .as_i64()
                .ok_or_else(|| constraint(member, "Member must be an integer"))?;
            if let Some((min, max)) = range {
                if v < min {
                    return Err(constraint(
                        member,
                        &format!("Member must have value greater than or equal to {min}"),
                    ));
                }
                if v > max {
                    return Err(constraint(
                        member,
                        &format!("Member must have value less than or equal to {max}"),
                    ));
                }
            }
            Ok(Some(v))
        }
        Some(_) => Err(constraint(member, "Member must be an integer")),
    }
}

/// A list member of `min..=max` items, when present.
pub fn opt_list<'a>(
    input: &'a Value,
    member: &str,
    min: usize,
    max: usize,
) -> Result<Option<&'a Vec<Value>>, E> {
    match input.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            length(member, items.len(), min, max)?;
            Ok(Some(items))
        }
        Some(_) => Err(constraint(member, "Member must be a list")),
    }
}

/// A string member that must be one of `values`.
pub fn opt_enum<'a>(input: &'a Value, member: &str, values: &[&str]) -> Result<Option<&'a str>, E> {
    let Some(v) = opt_str(input, member, 0, usize::MAX)? else {
        return Ok(None);
    };
    if !values.contains(&v) {
        return Err(constraint(
            member,
            &format!(
                "Member must satisfy enum value set: [{}]",
                values.join(", ")
            ),
        ));
    }
    Ok(Some(v))
}

/// `SecretId`: a name or an ARN, 1 to 2048 characters.
pub fn secret_id(input: &Value) -> Result<&str, E> {
    req_str(input, "SecretId", 1, 2048)
}

/// `Name` of a new secret: 1 to 512 characters of ASCII letters, digits and `/_+=.@-`.
pub fn name(input: &Value) -> Result<&str, E> {
    let name = req_str(input, "Name", 1, 512)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
    if !name.chars().all(allowed) {
        return Err(E::invalid(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: /_+=.@-",
        ));
    }
    Ok(name)
}

/// `ClientRequestToken`, `VersionId`: 32 to 64 characters.
pub fn version_id<'a>(input: &'a Value, member: &str) -> Result<Option<&'a str>, E> {
    opt_str(input, member, 32, 64)
}

/// `SecretString` or `SecretBinary` (base64 in JSON), at most one of them, each 1 byte to
/// 64 KiB.
pub fn value(input: &Value) -> Result<Option<SecretValue>, E> {
    let string = match input.get("SecretString") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            length("SecretString", s.len(), 1, MAX_VALUE_BYTES)?;
            Some(SecretValue::String(Secret::new(s.clone())))
        }
        Some(_) => return Err(constraint("SecretString", "Member must be a string")),
    };
    let binary = match input.get("SecretBinary") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| constraint("SecretBinary", "Member must be base64-encoded"))?;
            length("SecretBinary", bytes.len(), 1, MAX_VALUE_BYTES)?;
            Some(SecretValue::Binary(SecretBytes::new(bytes)))
        }
        Some(_) => {
            return Err(constraint(
                "SecretBinary",
                "Member must be a base64-encoded string",
            ))
        }
    };
    match (string, binary) {
        (Some(_), Some(_)) => Err(E::invalid(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        )),
        (s, b) => Ok(s.or(b)),
    }
}

/// `VersionStages`: 1 to 20 labels of 1 to 256 characters.
pub fn stages(input: &Value) -> Result<Option<Vec<String>>, E> {
    let Some(items) = opt_list(input, "VersionStages", 1, 20)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let s = item
            .as_str()
            .ok_or_else(|| constraint("VersionStages", "Member must be a list of strings"))?;
        length("VersionStages", s.chars().count(), 1, 256)?;
        out.push(s.to_owned());
    }
    Ok(Some(out))
}

/// `Tags`: `[{"Key": ..., "Value": ...}]`, keys 1 to 128 and values 0 to 256 characters, at
/// most 50, none with the `aws:` prefix AWS reserves, no key twice.
pub fn tags(input: &Value, required: bool) -> Result<Vec<(String, String)>, E> {
    let items = match opt_list(input, "Tags", 0, usize::MAX)? {
        Some(items) => items,
        None if required => return Err(null("Tags")),
        None => return Ok(Vec::new()),
    };
    if items.len() > MAX_TAGS {
        return Err(E::invalid(format!(
            "A secret can have at most {MAX_TAGS} tags; the request has {}.",
            items.len()
        )));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(items.len());
    for item in items {
        if !item.is_object() {
            return Err(constraint(
                "Tags",
                "Member must be a list of Tag structures",
            ));
        }
        let key = req_str(item, "Key", 1, 128)?;
        let value = opt_str(item, "Value", 0, 256)?.unwrap_or_default();
        if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(E::invalid(
                "Tag keys starting with \"aws:\" are reserved for AWS use.",
            ));
        }
        if out.iter().any(|(k, _)| k == key) {
            return Err(E::invalid(format!(
                "The tag key {key} appears more than once in the request."
            )));
        }
        out.push((key.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// Members of the model this server does not act on, refused rather than silently ignored.
pub fn not_served(input: &Value, members: &[&str]) -> Result<(), E> {
    for member in members {
        match input.get(*member) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(_) => {
                return Err(E::invalid(format!(
                    "{member} is not available in Portcullis: values are sealed under the server's master key, in this region only"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn constraints_name_the_member_and_never_the_value() {
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        let e = value(&json!({ "SecretString": long })).unwrap_err();
        assert_eq!(e.kind, "ValidationException");
        assert!(e.message.contains("'secretString'"), "{}", e.message);
        assert!(!e.message.contains("xxxx"), "{}", e.message);
        let e = value(&json!({ "SecretString": "a", "SecretBinary": "YQ==" })).unwrap_err();
        assert_eq!(e.kind, "InvalidParameterException");
        let e = value(&json!({ "SecretBinary": "not base64!" })).unwrap_err();
        assert_eq!(e.kind, "ValidationException");
        assert!(value(&json!({ "SecretString": "" })).is_err());
        let multibyte = "é".repeat(MAX_VALUE_BYTES / 2 + 1);
        assert!(
            value(&json!({ "SecretString": multibyte })).is_err(),
            "the limit is in bytes"
        );
        assert!(matches!(
            value(&json!({ "SecretBinary": "aGk=" })).unwrap(),
            Some(SecretValue::Binary(b)) if b.expose() == b"hi"
        ));
        let e = secret_id(&json!({})).unwrap_err();
        assert!(
            e.message.contains("Value null at 'secretId'"),
            "{}",
            e.message
        );
        let e = secret_id(&json!({ "SecretId": 5 })).unwrap_err();
        assert_eq!(e.kind, "ValidationException");
    }

    #[test]
    fn names_tags_and_tokens() {
        assert!(name(&json!({ "Name": "ecr-pullthroughcache/docker-hub" })).is_ok());
        assert!(name(&json!({ "Name": "a_b+c=d.e@f" })).is_ok());
        let e = name(&json!({ "Name": "no spaces" })).unwrap_err();
        assert_eq!(e.kind, "InvalidParameterException");
        let e = name(&json!({ "Name": "x".repeat(513) })).unwrap_err();
        assert_eq!(e.kind, "ValidationException");
        assert!(version_id(
            &json!({ "ClientRequestToken": "short" }),
            "ClientRequestToken"
        )
        .is_err());
        let t = tags(
            &json!({ "Tags": [{ "Key": "team", "Value": "ci" }, { "Key": "k" }] }),
            false,
        )
        .unwrap();
        assert_eq!(
            t,
            [("team".into(), "ci".into()), ("k".into(), String::new())]
        );
        assert_eq!(
            tags(&json!({ "Tags": [{ "Key": "AWS:x" }] }), false)
                .unwrap_err()
                .kind,
            "InvalidParameterException"
        );
        assert_eq!(
            tags(&json!({ "Tags": [{ "Key": "a" }, { "Key": "a" }] }), false)
                .unwrap_err()
                .kind,
            "InvalidParameterException"
        );
        assert_eq!(
            tags(&json!({ "Tags": [{ "Value": "a" }] }), false)
                .unwrap_err()
                .kind,
            "ValidationException"
        );
        assert_eq!(
            tags(&json!({}), true).unwrap_err().kind,
            "ValidationException"
        );
        let many: Vec<_> = (0..51).map(|i| json!({ "Key": format!("k{i}") })).collect();
        assert_eq!(
            tags(&json!({ "Tags": many }), false).unwrap_err().kind,
            "InvalidParameterException"
        );
        assert!(stages(&json!({ "VersionStages": [] })).is_err());
        assert_eq!(
            stages(&json!({ "VersionStages": ["AWSCURRENT"] })).unwrap(),
            Some(vec!["AWSCURRENT".to_owned()])
        );
        assert!(not_served(&json!({ "KmsKeyId": "k" }), &["KmsKeyId"]).is_err());
        assert!(not_served(
            &json!({ "ForceOverwriteReplicaSecret": false }),
            &["ForceOverwriteReplicaSecret"]
        )
        .is_ok());
    }
}
