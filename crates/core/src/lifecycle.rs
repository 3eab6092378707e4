//! Lifecycle policy documents: parsed and checked the way ECR checks them on
//! `PutLifecyclePolicy` (`../shared/spec/ecr-api.md` section 5.5). Evaluation comes later; what
//! is accepted now is exactly what a later evaluator will be able to run.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LifecycleError(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Keep the newest N images, expire the rest.
    MoreThan(u64),
    /// Expire images pushed more than N days ago.
    SincePushedDays(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub priority: u64,
    pub description: Option<String>,
    pub tag_status: TagStatus,
    pub tag_prefixes: Vec<String>,
    pub tag_patterns: Vec<String>,
    pub count: Count,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// In ascending priority order (the order they apply in).
    pub rules: Vec<Rule>,
}

fn fail<T>(msg: impl Into<String>) -> Result<T, LifecycleError> {
    Err(LifecycleError(msg.into()))
}

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), LifecycleError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => fail(format!("{at}: unknown property '{k}'")),
        None => Ok(()),
    }
}

fn positive_int(v: Option<&Value>, at: &str) -> Result<u64, LifecycleError> {
    match v {
        None => fail(format!("{at} is required")),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Ok(n),
            _ => fail(format!("{at} must be an integer greater than 0")),
        },
    }
}

fn string_list(v: &Value, at: &str) -> Result<Vec<String>, LifecycleError> {
    let Some(items) = v.as_array() else {
        return fail(format!("{at} must be a list of strings"));
    };
    if items.is_empty() {
        return fail(format!("{at} must not be empty"));
    }
    items
        .iter()
        .map(|i| match i.as_str() {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => fail(format!("{at} must hold non-empty strings")),
        })
        .collect()
}

pub fn parse(text: &str) -> Result<LifecyclePolicy, LifecycleError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| LifecycleError(format!("the policy is not valid JSON: {e}")))?;
    let Some(top) = doc.as_object() else {
        return fail("the policy must be a JSON object");
    };
    only_keys(top, &["rules"], "policy")?;
    let Some(rules) = top.get("rules").and_then(Value::as_array) else {
        return fail("'rules' is required and must be a list");
    };
    if rules.is_empty() {
        return fail("'rules' must hold at least one rule");
    }
    let mut out: Vec<Rule> = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        out.push(parse_rule(rule, &at)?);
    }
    let mut priorities: Vec<u64> = out.iter().map(|r| r.priority).collect();
    priorities.sort_unstable();
    if let Some(w) = priorities.windows(2).find(|w| w[0] == w[1]) {
        return fail(format!(
            "rulePriority {} is used by more than one rule",
            w[0]
        ));
    }
    let highest = priorities.last().copied().unwrap_or(0);
    if let Some(any) = out
        .iter()
        .find(|r| r.tag_status == TagStatus::Any && r.priority != highest)
    {
        return fail(format!(
            "the rule with rulePriority {} has tagStatus 'any' and must have the highest rulePriority",
            any.priority
        ));
    }
    if out
        .iter()
        .filter(|r| r.tag_status == TagStatus::Any)
        .count()
        > 1
    {
        return fail("only one rule may have tagStatus 'any'");
    }
    out.sort_by_key(|r| r.priority);
    Ok(LifecyclePolicy { rules: out })
}

fn parse_rule(rule: &Value, at: &str) -> Result<Rule, LifecycleError> {
    let Some(rule) = rule.as_object() else {
        return fail(format!("{at} must be an object"));
    };
    only_keys(
        rule,
        &["rulePriority", "description", "selection", "action"],
        at,
    )?;
    let priority = positive_int(rule.get("rulePriority"), &format!("{at}.rulePriority"))?;
    let description = match rule.get("description") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return fail(format!("{at}.description must be a string")),
    };
    let Some(selection) = rule.get("selection").and_then(Value::as_object) else {
        return fail(format!("{at}.selection is required and must be an object"));
    };
    let sel = format!("{at}.selection");
    only_keys(
        selection,
        &[
            "tagStatus",
            "tagPrefixList",
            "tagPatternList",
            "countType",
            "countUnit",
            "countNumber",
        ],
        &sel,
    )?;
    let tag_status = match selection.get("tagStatus").and_then(Value::as_str) {
        Some("tagged") => TagStatus::Tagged,
        Some("untagged") => TagStatus::Untagged,
        Some("any") => TagStatus::Any,
        _ => {
            return fail(format!(
                "{sel}.tagStatus is required and must be one of tagged, untagged, any"
            ))
        }
    };
    let tag_prefixes = match selection.get("tagPrefixList") {
        None => Vec::new(),
        Some(v) => string_list(v, &format!("{sel}.tagPrefixList"))?,
    };
    let tag_patterns = match selection.get("tagPatternList") {
        None => Vec::new(),
        Some(v) => string_list(v, &format!("{sel}.tagPatternList"))?,
    };
    if let Some(p) = tag_patterns
        .iter()
        .find(|p| p.bytes().filter(|b| *b == b'*').count() > 4)
    {
        return fail(format!(
            "{sel}.tagPatternList: '{p}' has more than 4 wildcards"
        ));
    }
    match tag_status {
        TagStatus::Tagged if tag_prefixes.is_empty() && tag_patterns.is_empty() => {
            return fail(format!(
                "{sel}: tagStatus 'tagged' needs a tagPrefixList or a tagPatternList"
            ))
        }
        TagStatus::Tagged if !tag_prefixes.is_empty() && !tag_patterns.is_empty() => {
            return fail(format!(
                "{sel}: give either a tagPrefixList or a tagPatternList, not both"
            ))
        }
        TagStatus::Untagged | TagStatus::Any
            if !tag_prefixes.is_empty() || !tag_patterns.is_empty() =>
        {
            return fail(format!(
                "{sel}: tagPrefixList and tagPatternList are only allowed with tagStatus 'tagged'"
            ))
        }
        _ => {}
    }
    let number = positive_int(selection.get("countNumber"), &format!("{sel}.countNumber"))?;
    let unit = selection.get("countUnit");
    let count = match selection.get("countType").and_then(Value::as_str) {
        Some("imageCountMoreThan") => {
            if unit.is_some() {
                return fail(format!(
                    "{sel}.countUnit is not allowed with countType 'imageCountMoreThan'"
                ));
            }
            Count::MoreThan(number)
        }
        Some("sinceImagePushed") => match unit.and_then(Value::as_str) {
            Some("days") => Count::SincePushedDays(number),
            _ => {
                return fail(format!(
                    "{sel}.countUnit must be 'days' with countType 'sinceImagePushed'"
                ))
            }
        },
        _ => {
            return fail(format!(
                "{sel}.countType is required and must be imageCountMoreThan or sinceImagePushed"
            ))
        }
    };
    let Some(action) = rule.get("action").and_then(Value::as_object) else {
        return fail(format!("{at}.action is required and must be an object"));
    };
    only_keys(
        action,
        &["type", "targetStorageClass"],
        &format!("{at}.action"),
    )?;
    match action.get("type").and_then(Value::as_str) {
        Some("expire") => {
            if action.contains_key("targetStorageClass") {
                return fail(format!(
                    "{at}.action.targetStorageClass is only allowed with type 'transition'"
                ));
            }
        }
        Some("transition") => {
            return fail(format!(
                "{at}.action.type 'transition' (archive storage class) is not available in Portcullis yet"
            ))
        }
        _ => return fail(format!("{at}.action.type must be 'expire'")),
    }
    Ok(Rule {
        priority,
        description,
        tag_status,
        tag_prefixes,
        tag_patterns,
        count,
    })
}

/// The invariants a fuzzer checks: parsing never panics, and whatever is accepted is a policy a
/// later evaluator can run (rules in strictly ascending priority, at most one `any` rule and it
/// last, tag lists only where the tag status allows them, positive counts).
pub fn check_invariants(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = parse(text) else {
        return;
    };
    assert!(!policy.rules.is_empty());
    assert!(policy
        .rules
        .windows(2)
        .all(|w| w[0].priority < w[1].priority));
    for (i, rule) in policy.rules.iter().enumerate() {
        assert!(rule.priority >= 1);
        match rule.tag_status {
            TagStatus::Any => assert_eq!(i, policy.rules.len() - 1),
            TagStatus::Tagged => {
                assert!(rule.tag_prefixes.is_empty() != rule.tag_patterns.is_empty())
            }
            TagStatus::Untagged => {
                assert!(rule.tag_prefixes.is_empty() && rule.tag_patterns.is_empty())
            }
        }
        match rule.count {
            Count::MoreThan(n) | Count::SincePushedDays(n) => assert!(n >= 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"rules":[
      {"rulePriority":1,"description":"keep 10 prod","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}},
      {"rulePriority":5,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}},
      {"rulePriority":9,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":100},"action":{"type":"expire"}}
    ]}"#;

    fn rule(priority: u64, selection: &str) -> String {
        format!(
            r#"{{"rulePriority":{priority},"selection":{selection},"action":{{"type":"expire"}}}}"#
        )
    }

    fn doc(rules: &[String]) -> String {
        format!(r#"{{"rules":[{}]}}"#, rules.join(","))
    }

    proptest::proptest! {
        /// Any mix of well-formed rules with distinct priorities parses, comes back in priority
        /// order, and keeps the invariants the fuzzer checks.
        #[test]
        fn generated_policies_parse_in_priority_order(
            priorities in proptest::collection::btree_set(1u64..10_000, 1..8),
            shapes in proptest::collection::vec(0u8..4, 8),
            count in 1u64..1000,
        ) {
            let mut rules = Vec::new();
            for (i, p) in priorities.iter().rev().enumerate() {
                let selection = match shapes[i] {
                    0 => format!(r#"{{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":{count}}}"#),
                    1 => format!(r#"{{"tagStatus":"tagged","tagPrefixList":["v","rc"],"countType":"sinceImagePushed","countUnit":"days","countNumber":{count}}}"#),
                    2 => format!(r#"{{"tagStatus":"tagged","tagPatternList":["*-prod*"],"countType":"imageCountMoreThan","countNumber":{count}}}"#),
                    _ => format!(r#"{{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":{count}}}"#),
                };
                rules.push(rule(*p, &selection));
            }
            let text = doc(&rules);
            let policy = parse(&text).unwrap();
            let got: Vec<u64> = policy.rules.iter().map(|r| r.priority).collect();
            let want: Vec<u64> = priorities.iter().copied().collect();
            proptest::prop_assert_eq!(got, want);
            check_invariants(text.as_bytes());
        }
    }

    #[test]
    fn accepts_the_documented_shapes() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.rules.len(), 3);
        assert_eq!(p.rules[0].count, Count::MoreThan(10));
        assert_eq!(p.rules[1].count, Count::SincePushedDays(14));
        assert_eq!(p.rules[2].tag_status, TagStatus::Any);
    }

    #[test]
    fn refuses_what_ecr_refuses() {
        let untagged =
            r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1}"#;
        let any = r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}"#;
        let cases: Vec<(String, &str)> = vec![
            ("{}".into(), "'rules' is required"),
            (r#"{"rules":[]}"#.into(), "at least one rule"),
            (doc(&[rule(1, untagged), rule(1, untagged)]), "more than one rule"),
            (doc(&[rule(0, untagged)]), "greater than 0"),
            (doc(&[rule(1, any), rule(2, untagged)]), "highest rulePriority"),
            (doc(&[rule(1, r#"{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1}"#)]), "needs a tagPrefixList"),
            (doc(&[rule(1, r#"{"tagStatus":"untagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1}"#)]), "only allowed with tagStatus 'tagged'"),
            (doc(&[rule(1, r#"{"tagStatus":"tagged","tagPatternList":["a*b*c*d*e*f"],"countType":"imageCountMoreThan","countNumber":1}"#)]), "more than 4 wildcards"),
            (doc(&[rule(1, r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countUnit":"days","countNumber":1}"#)]), "countUnit is not allowed"),
            (doc(&[rule(1, r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":1}"#)]), "must be 'days'"),
            (doc(&[rule(1, r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":0}"#)]), "greater than 0"),
            (doc(&[rule(1, r#"{"tagStatus":"untagged","countType":"whenever","countNumber":1}"#)]), "countType is required"),
            (doc(&[rule(1, r#"{"tagStatus":"sometimes","countType":"imageCountMoreThan","countNumber":1}"#)]), "tagStatus is required"),
            (r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"transition","targetStorageClass":"archive"}}]}"#.into(), "not available"),
            (r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"},"extra":1}]}"#.into(), "unknown property 'extra'"),
            ("not json".into(), "not valid JSON"),
        ];
        for (text, expected) in cases {
            let err = parse(&text).expect_err(&text).0;
            assert!(
                err.contains(expected),
                "{text}: {err} (expected {expected})"
            );
        }
    }
}
