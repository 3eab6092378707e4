//! The policy simulator: many (action, resource, context) questions against one principal's
//! policies, answered with decisions and explanations. The CLI's `policy simulate` prints
//! these; the field names follow `aws iam simulate-custom-policy`.

use crate::context::{Context, Entry, Value, ValueType};
use crate::evaluate::{evaluate, PolicySet, Principal, Request, Response};
use serde_json::{json, Value as J};

/// One question for the simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub action: String,
    pub resource: String,
    /// Extra context keys; they override the keys derived from the principal.
    pub context: Context,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimulationResult {
    pub action: String,
    pub resource: String,
    pub response: Response,
    /// The AWS-style explanation (`because no identity-based policy allows …`).
    pub explanation: String,
}

impl SimulationResult {
    /// The simulator's JSON line: `EvalActionName`, `EvalResourceName`, `EvalDecision`,
    /// `MatchedStatements`, `MissingContextValues`.
    pub fn to_json(&self) -> J {
        let matched: Vec<J> = self
            .response
            .matched
            .iter()
            .map(|m| {
                json!({
                    "SourcePolicyId": m.policy_id,
                    "SourcePolicyType": m.policy_type.as_str(),
                    "Sid": m.sid,
                    "Index": m.index,
                })
            })
            .collect();
        json!({
            "EvalActionName": self.action,
            "EvalResourceName": self.resource,
            "EvalDecision": self.response.decision.as_str(),
            "MatchedStatements": matched,
            "MissingContextValues": self.response.missing_context_values,
        })
    }
}

/// Answers every query for `principal` under `set`.
pub fn simulate(
    principal: &Principal,
    set: &PolicySet,
    queries: &[Query],
) -> Vec<SimulationResult> {
    queries
        .iter()
        .map(|q| {
            let mut req = Request::new(principal.clone(), &q.action, &q.resource);
            for (k, e) in q.context.iter() {
                req.context.insert_entry(k, e.clone());
            }
            let response = evaluate(&req, set);
            SimulationResult {
                action: q.action.clone(),
                resource: q.resource.clone(),
                explanation: response.explanation(&q.action),
                response,
            }
        })
        .collect()
}

/// Parses `KEY=TYPE:VALUE[,VALUE]...` (TYPE is an IAM `ContextKeyType`: `string`,
/// `stringList`, `numeric`, `ip`, `dateList`, …). List types split values at commas; other
/// types take everything after the first colon as one value, so dates, ARNs and IPv6
/// addresses need no quoting. An empty list (`aws:TagKeys=stringList:`) is an empty set.
pub fn parse_context_arg(arg: &str) -> Result<(String, Entry), String> {
    let (key, rest) = arg
        .split_once('=')
        .ok_or_else(|| format!("context `{arg}` must look like KEY=TYPE:VALUE"))?;
    if key.is_empty() {
        return Err(format!("context `{arg}` has an empty key"));
    }
    let (ty, values) = rest
        .split_once(':')
        .ok_or_else(|| format!("context `{arg}` must look like KEY=TYPE:VALUE"))?;
    let (vt, list) = ValueType::from_context_key_type(ty).ok_or_else(|| {
        format!(
            "unknown context type `{ty}` (expected string, stringList, numeric, numericList, boolean, booleanList, date, dateList, ip, ipList, binary, binaryList)"
        )
    })?;
    let raw: Vec<&str> = if list {
        if values.is_empty() {
            Vec::new()
        } else {
            values.split(',').collect()
        }
    } else {
        vec![values]
    };
    let values = raw
        .into_iter()
        .map(|v| Value::parse(vt, v).map_err(|e| format!("context `{key}`: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        key.to_owned(),
        Entry {
            values,
            multi: list,
        },
    ))
}

impl Context {
    /// Sets a key from a parsed entry (see `parse_context_arg`).
    pub fn insert_entry(&mut self, key: &str, entry: Entry) -> &mut Self {
        match (entry.multi, entry.values.as_slice()) {
            (false, [v]) => self.insert(key, v.clone()),
            _ => self.insert_multi(key, entry.values),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_args() {
        let (k, e) = parse_context_arg("aws:SourceIp=ip:2001:db8::1").unwrap();
        assert_eq!(k, "aws:SourceIp");
        assert_eq!(e.values.len(), 1);
        let (_, e) = parse_context_arg("aws:TagKeys=stringList:team,env").unwrap();
        assert!(e.multi);
        assert_eq!(e.values.len(), 2);
        let (_, e) = parse_context_arg("aws:TagKeys=stringList:").unwrap();
        assert!(e.values.is_empty());
        assert!(parse_context_arg("aws:SourceIp=ip:nope").is_err());
        assert!(parse_context_arg("aws:SourceIp").is_err());
        assert!(parse_context_arg("k=weird:1").is_err());
        let (_, e) = parse_context_arg("aws:CurrentTime=date:2030-01-01T00:00:00Z").unwrap();
        assert_eq!(e.values.len(), 1);
    }
}
