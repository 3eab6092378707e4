//! Lifecycle policy documents: parsed and checked the way ECR checks them on
//! `PutLifecyclePolicy` (`../shared/spec/ecr-api.md` section 5.5), and evaluated ([`evaluate`],
//! pure) the way ECR applies them. Everything accepted is run; what cannot be run (`transition`
//! to an archive storage class) is refused at `PutLifecyclePolicy`.

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
    /// Expire images last pulled (or, never pulled, pushed) more than N days ago.
    SincePulledDays(u64),
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
        Some(kind @ ("sinceImagePushed" | "sinceImagePulled")) => {
            match unit.and_then(Value::as_str) {
                Some("days") if kind == "sinceImagePushed" => Count::SincePushedDays(number),
                Some("days") => Count::SincePulledDays(number),
                _ => {
                    return fail(format!(
                        "{sel}.countUnit must be 'days' with countType '{kind}'"
                    ))
                }
            }
        }
        _ => {
            return fail(format!(
                "{sel}.countType is required and must be imageCountMoreThan, sinceImagePushed or sinceImagePulled"
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
            Count::MoreThan(n) | Count::SincePushedDays(n) | Count::SincePulledDays(n) => {
                assert!(n >= 1)
            }
        }
    }
}

/// An image as lifecycle rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// What the caller identifies the image by (its digest).
    pub id: String,
    pub tags: Vec<String>,
    /// Unix milliseconds.
    pub pushed_at: i64,
    /// Unix milliseconds of the last recorded pull, if any.
    pub last_pulled_at: Option<i64>,
}

/// An image a rule expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// Index into the candidates.
    pub image: usize,
    pub rule_priority: u64,
}

const DAY_MS: i64 = 86_400_000;

impl Rule {
    /// Whether the rule's tag filter selects an image with `tags`. Several prefixes or
    /// patterns must all match (each some tag of the image).
    pub fn selects(&self, tags: &[String]) -> bool {
        match self.tag_status {
            TagStatus::Any => true,
            TagStatus::Untagged => tags.is_empty(),
            TagStatus::Tagged => {
                !tags.is_empty()
                    && self
                        .tag_prefixes
                        .iter()
                        .all(|p| tags.iter().any(|t| t.starts_with(p.as_str())))
                    && self
                        .tag_patterns
                        .iter()
                        .all(|p| tags.iter().any(|t| crate::repository::wildcard_match(p, t)))
            }
        }
    }
}

/// The images `policy` expires now, oldest push first, each by the one rule that expires it.
///
/// Rules apply in ascending `rulePriority`. An image a rule's tag filter selects is that rule's
/// whether or not the rule expires it: no later rule expires it, though a later rule's count
/// still includes it. `imageCountMoreThan` keeps the youngest N of what it selects (by push
/// time) and expires the rest; the `since*` counts
/// expire what was pushed (or last pulled, never-pulled images counting from their push) more
/// than N whole days before `now_ms`.
pub fn evaluate(policy: &LifecyclePolicy, images: &[Candidate], now_ms: i64) -> Vec<Expiry> {
    let mut taken = vec![false; images.len()];
    let mut expired = Vec::new();
    for rule in &policy.rules {
        // A rule counts over every image its filter selects, those an earlier rule selected
        // included (ECR's guide, "Filtering on all images", example B: Rule 3 keeps only the
        // newest of all five images), but it expires none that an earlier rule selected.
        let mut selected: Vec<usize> = (0..images.len())
            .filter(|&i| rule.selects(&images[i].tags))
            .collect();
        let earlier = taken.clone();
        for &i in &selected {
            taken[i] = true;
        }
        // Youngest first; equal push times in a fixed order, so a run is repeatable.
        selected.sort_by(|&a, &b| {
            images[b]
                .pushed_at
                .cmp(&images[a].pushed_at)
                .then_with(|| images[a].id.cmp(&images[b].id))
        });
        let older_than = |days: u64| now_ms.saturating_sub((days as i64).saturating_mul(DAY_MS));
        let chosen: Vec<usize> = match rule.count {
            Count::MoreThan(n) => selected.into_iter().skip(n as usize).collect(),
            Count::SincePushedDays(d) => selected
                .into_iter()
                .filter(|&i| images[i].pushed_at < older_than(d))
                .collect(),
            Count::SincePulledDays(d) => selected
                .into_iter()
                .filter(|&i| {
                    images[i].last_pulled_at.unwrap_or(images[i].pushed_at) < older_than(d)
                })
                .collect(),
        };
        expired.extend(
            chosen
                .into_iter()
                .filter(|&i| !earlier[i])
                .map(|image| Expiry {
                    image,
                    rule_priority: rule.priority,
                }),
        );
    }
    expired.sort_by(|a, b| {
        images[a.image]
            .pushed_at
            .cmp(&images[b.image].pushed_at)
            .then_with(|| images[a.image].id.cmp(&images[b.image].id))
    });
    expired
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
            (doc(&[rule(1, r#"{"tagStatus":"untagged","countType":"sinceImagePulled","countNumber":3}"#)]), "must be 'days' with countType 'sinceImagePulled'"),
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

    const DAY: i64 = DAY_MS;
    const NOW: i64 = 1_000 * DAY;

    fn image(
        id: &str,
        tags: &[&str],
        pushed_days_ago: i64,
        pulled_days_ago: Option<i64>,
    ) -> Candidate {
        Candidate {
            id: id.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed_at: NOW - pushed_days_ago * DAY,
            last_pulled_at: pulled_days_ago.map(|d| NOW - d * DAY),
        }
    }

    fn expired(policy: &str, images: &[Candidate]) -> Vec<(String, u64)> {
        evaluate(&parse(policy).unwrap(), images, NOW)
            .into_iter()
            .map(|e| (images[e.image].id.clone(), e.rule_priority))
            .collect()
    }

    #[test]
    fn count_keeps_the_youngest_and_expires_oldest_first() {
        let images = [
            image("a", &["prod-1"], 30, None),
            image("b", &["prod-2"], 20, None),
            image("c", &["prod-3"], 10, None),
            image("d", &["dev"], 40, None),
            image("e", &[], 50, None),
        ];
        let policy = doc(&[
            rule(
                1,
                r#"{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1}"#,
            ),
            rule(
                2,
                r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1}"#,
            ),
        ]);
        assert_eq!(
            expired(&policy, &images),
            [("a".to_owned(), 1), ("b".to_owned(), 1)],
            "one prod kept (the youngest); the one untagged image is within its count; dev untouched"
        );
    }

    #[test]
    fn an_image_a_rule_selects_is_never_expired_by_a_later_rule() {
        let images = [
            image("old-prod", &["prod"], 90, None),
            image("old-dev", &["dev"], 90, None),
            image("new-dev", &["dev"], 1, None),
        ];
        // Rule 1 selects prod images but keeps 100 of them: it expires nothing, yet prod
        // images are its own, and the catch-all never sees them.
        let policy = doc(&[
            rule(
                1,
                r#"{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":100}"#,
            ),
            rule(
                9,
                r#"{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":30}"#,
            ),
        ]);
        assert_eq!(expired(&policy, &images), [("old-dev".to_owned(), 9)]);
    }

    #[test]
    fn several_patterns_or_prefixes_must_all_match() {
        let images = [
            image("both", &["prod-1", "v1-arm"], 5, None),
            image("one", &["prod-2"], 5, None),
        ];
        let patterns = doc(&[rule(
            1,
            r#"{"tagStatus":"tagged","tagPatternList":["prod*","*-arm"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1}"#,
        )]);
        assert_eq!(expired(&patterns, &images), [("both".to_owned(), 1)]);
        let prefixes = doc(&[rule(
            1,
            r#"{"tagStatus":"tagged","tagPrefixList":["prod","v1"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1}"#,
        )]);
        assert_eq!(expired(&prefixes, &images), [("both".to_owned(), 1)]);
    }

    #[test]
    fn since_pulled_counts_from_the_last_pull_or_the_push() {
        let images = [
            image("pulled-lately", &[], 100, Some(2)),
            image("pulled-long-ago", &[], 100, Some(40)),
            image("never-pulled-old", &[], 100, None),
            image("never-pulled-new", &[], 3, None),
        ];
        let policy = doc(&[rule(
            1,
            r#"{"tagStatus":"untagged","countType":"sinceImagePulled","countUnit":"days","countNumber":7}"#,
        )]);
        let mut got: Vec<String> = expired(&policy, &images)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        got.sort();
        assert_eq!(got, ["never-pulled-old", "pulled-long-ago"]);
        // Exactly N days is not more than N days.
        let edge = [image("edge", &[], 7, None)];
        assert!(expired(&policy, &edge).is_empty());
    }

    proptest::proptest! {
        /// Whatever the policy and images: each image expires at most once, by a rule whose
        /// filter selects it and no earlier rule's filter does, and a count rule keeps the
        /// youngest N of everything its filter selects.
        #[test]
        fn evaluation_keeps_ecr_s_guarantees(
            kinds in proptest::collection::vec(0u8..5, 1..5),
            numbers in proptest::collection::vec(1u64..6, 5),
            raw in proptest::collection::vec((0usize..4, 0i64..60, proptest::option::of(0i64..60)), 0..25),
        ) {
            let tags = [&[][..], &["prod-1"][..], &["dev", "prod-x"][..], &["dev"][..]];
            let images: Vec<Candidate> = raw
                .iter()
                .enumerate()
                .map(|(i, (t, pushed, pulled))| image(&format!("i{i:02}"), tags[*t], *pushed, *pulled))
                .collect();
            let mut rules = Vec::new();
            for (i, k) in kinds.iter().enumerate() {
                let n = numbers[i];
                let selection = match k {
                    0 => format!(r#"{{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":{n}}}"#),
                    1 => format!(r#"{{"tagStatus":"tagged","tagPatternList":["dev"],"countType":"sinceImagePushed","countUnit":"days","countNumber":{}}}"#, n * 10),
                    2 => format!(r#"{{"tagStatus":"untagged","countType":"sinceImagePulled","countUnit":"days","countNumber":{}}}"#, n * 10),
                    _ => format!(r#"{{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":{n}}}"#),
                };
                rules.push(rule(i as u64 + 1, &selection));
            }
            rules.push(rule(100, r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3}"#));
            let policy = parse(&doc(&rules)).unwrap();
            let out = evaluate(&policy, &images, NOW);
            let mut seen = std::collections::HashSet::new();
            for e in &out {
                proptest::prop_assert!(seen.insert(e.image), "expired twice");
                let position = policy.rules.iter().position(|r| r.priority == e.rule_priority).unwrap();
                proptest::prop_assert!(policy.rules[position].selects(&images[e.image].tags));
                proptest::prop_assert!(policy.rules[..position].iter().all(|r| !r.selects(&images[e.image].tags)));
            }
            for w in out.windows(2) {
                proptest::prop_assert!(images[w[0].image].pushed_at <= images[w[1].image].pushed_at);
            }
            for (position, r) in policy.rules.iter().enumerate() {
                let Count::MoreThan(n) = r.count else { continue };
                // The count runs over everything the rule selects, youngest first; what it
                // expires is what lies past the first N and no earlier rule selected.
                let mut all: Vec<usize> = (0..images.len()).filter(|&i| r.selects(&images[i].tags)).collect();
                all.sort_by(|&a, &b| images[b].pushed_at.cmp(&images[a].pushed_at).then_with(|| images[a].id.cmp(&images[b].id)));
                let mut want: Vec<usize> = all
                    .into_iter()
                    .skip(n as usize)
                    .filter(|&i| policy.rules[..position].iter().all(|p| !p.selects(&images[i].tags)))
                    .collect();
                let mut gone: Vec<usize> = out.iter().filter(|e| e.rule_priority == r.priority).map(|e| e.image).collect();
                want.sort_unstable();
                gone.sort_unstable();
                proptest::prop_assert_eq!(gone, want);
            }
        }
    }
}
