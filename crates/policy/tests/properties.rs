//! Algebraic laws of the policy engine (proptest): glob matching agrees with a regex oracle,
//! a matching Deny always denies, statement order never matters, and printing a policy then
//! parsing it gives the same policy back.

use portcullis_policy::fuzzing::check_policy;
use portcullis_policy::*;
use proptest::prelude::*;
use serde_json::{json, Value as J};

const R: &str = "arn:aws:ecr:ap-northeast-1:111122223333:repository/";

fn oracle(pattern: &str, text: &str) -> bool {
    let mut re = String::from("(?s)^");
    for c in pattern.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).unwrap().is_match(text)
}

fn action() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ecr:*".to_owned()),
        Just("*".to_owned()),
        Just("ecr:BatchGetImage".to_owned()),
        Just("ecr:PutImage".to_owned()),
        Just("ecr:Batch*".to_owned()),
        Just("ecr:?utImage".to_owned()),
        Just("ECR:getauthorizationtoken".to_owned()),
        Just("ecr:CreateRepository".to_owned()),
    ]
}

fn resource() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        Just(format!("{R}*")),
        Just(format!("{R}app")),
        Just(format!("{R}app-v?")),
        Just(format!("{R}${{aws:username}}/*")),
        Just(format!("{R}${{aws:PrincipalTag/team, 'shared'}}-*")),
        Just("arn:aws:ecr:*:111122223333:repository/prod-*".to_owned()),
    ]
}

fn condition() -> impl Strategy<Value = Option<J>> {
    prop_oneof![
        Just(None),
        Just(Some(
            json!({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}})
        )),
        Just(Some(
            json!({"NotIpAddress": {"aws:SourceIp": "198.51.100.0/24"}})
        )),
        Just(Some(
            json!({"StringEquals": {"aws:PrincipalTag/team": ["pay", "web"]}})
        )),
        Just(Some(
            json!({"StringNotEqualsIfExists": {"aws:SourceVpce": "vpce-1"}})
        )),
        Just(Some(
            json!({"ForAllValues:StringLike": {"aws:TagKeys": ["team", "e*"]}})
        )),
        Just(Some(
            json!({"ForAnyValue:StringEquals": {"aws:TagKeys": "secret"}})
        )),
        Just(Some(json!({"Null": {"aws:TokenIssueTime": "true"}}))),
        Just(Some(json!({"Bool": {"aws:SecureTransport": true}}))),
        Just(Some(
            json!({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})
        )),
        Just(Some(
            json!({"NumericGreaterThanEquals": {"aws:EpochTime": 1.8e9}})
        )),
        Just(Some(
            json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/a*"}})
        )),
        Just(Some(
            json!({"StringLike": {"aws:username": "${aws:PrincipalTag/team}*"}})
        )),
    ]
}

fn statement(resource_policy: bool) -> impl Strategy<Value = J> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(action(), 1..3),
        prop::option::of(prop::collection::vec(resource(), 1..3)),
        any::<bool>(),
        condition(),
        prop_oneof![
            Just(json!("*")),
            Just(json!({"AWS": "111122223333"})),
            Just(json!({"AWS": ["arn:aws:iam::111122223333:user/alice", "444455556666"]})),
            Just(json!({"AWS": "arn:aws:iam::111122223333:role/ci"})),
            Just(json!({"Service": "inspector2.amazonaws.com"})),
        ],
        any::<bool>(),
    )
        .prop_map(
            move |(allow, not_action, actions, resources, not_res, cond, principal, not_p)| {
                let mut s = serde_json::Map::new();
                s.insert("Effect".into(), json!(if allow { "Allow" } else { "Deny" }));
                s.insert(
                    (if not_action { "NotAction" } else { "Action" }).into(),
                    json!(actions),
                );
                let resources = match (resource_policy, resources) {
                    (false, None) => Some(vec!["*".to_owned()]),
                    (_, r) => r,
                };
                if let Some(r) = resources {
                    s.insert(
                        (if not_res { "NotResource" } else { "Resource" }).into(),
                        json!(r),
                    );
                }
                if resource_policy {
                    s.insert(
                        (if not_p { "NotPrincipal" } else { "Principal" }).into(),
                        principal,
                    );
                }
                if let Some(c) = cond {
                    s.insert("Condition".into(), c);
                }
                J::Object(s)
            },
        )
}

fn policy(kind: PolicyKind) -> impl Strategy<Value = Policy> {
    let rp = kind != PolicyKind::Identity;
    prop::collection::vec(statement(rp), 1..6).prop_map(move |stmts| {
        let doc = json!({"Version": "2012-10-17", "Statement": stmts});
        Policy::parse(&doc.to_string(), kind).unwrap()
    })
}

fn request() -> impl Strategy<Value = Request> {
    (
        prop_oneof![
            Just("arn:aws:iam::111122223333:user/alice"),
            Just("arn:aws:sts::111122223333:assumed-role/ci/run-1"),
            Just("arn:aws:iam::444455556666:user/carol"),
            Just("anonymous"),
            Just("service"),
        ],
        prop_oneof![
            Just("ecr:BatchGetImage"),
            Just("ecr:PutImage"),
            Just("ecr:GetAuthorizationToken"),
            Just("ecr:CreateRepository"),
        ],
        prop_oneof![
            Just(format!("{R}app")),
            Just(format!("{R}alice/web")),
            Just(format!("{R}shared-x")),
            Just(format!("{R}app-v1")),
            Just("arn:aws:ecr:us-east-1:111122223333:repository/prod-1".to_owned()),
            Just("*".to_owned()),
        ],
        prop_oneof![
            Just("203.0.113.9"),
            Just("198.51.100.1"),
            Just("2001:db8::1"),
            Just("")
        ],
        prop::option::of(prop_oneof![Just("pay"), Just("web"), Just("ops")]),
        prop::collection::vec(prop_oneof![Just("team"), Just("env"), Just("secret")], 0..3),
        any::<bool>(),
    )
        .prop_map(|(who, action, resource, ip, team, tags, tls)| {
            let p = match who {
                "anonymous" => Principal::Anonymous,
                "service" => Principal::Service {
                    name: "inspector2.amazonaws.com".into(),
                },
                arn => Principal::from_arn(arn).unwrap(),
            };
            let mut req = Request::new(p, action, &resource);
            if !ip.is_empty() {
                req.context
                    .insert("aws:SourceIp", Value::ip(ip.parse().unwrap()));
            }
            if let Some(t) = team {
                req.context
                    .insert("aws:PrincipalTag/team", Value::string(t));
            }
            req.context
                .insert_multi("aws:TagKeys", tags.into_iter().map(Value::string).collect());
            req.context.insert("aws:SecureTransport", Value::bool(tls));
            req.context
                .insert("aws:CurrentTime", Value::date(1_900_000_000));
            req.context
                .insert("aws:EpochTime", Value::integer(1_900_000_000));
            req
        })
}

fn set_with(identity: &Policy, repo: &Policy) -> PolicySet {
    let mut s = PolicySet::new();
    s.add_identity("id", identity.clone());
    s.set_repository("rp", repo.clone());
    s
}

fn with_statements(p: &Policy, order: &[usize]) -> Policy {
    let stmts: Vec<J> = order
        .iter()
        .map(|&i| p.to_json()["Statement"][i].clone())
        .collect();
    let doc = json!({"Version": "2012-10-17", "Statement": stmts});
    Policy::parse(&doc.to_string(), p.kind()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn glob_agrees_with_regex(pattern in "[ab*?:/.\\[\\]\n]{0,10}", text in "[ab:/.\\[\\]\n]{0,12}") {
        prop_assert_eq!(wildcard_match(&pattern, &text), oracle(&pattern, &text));
    }

    #[test]
    fn glob_agrees_with_regex_on_matching_texts(pattern in "[ab*?]{0,8}", fill in "[ab]{0,4}") {
        // Build a text that the pattern should match, to exercise the true branch as well.
        let text: String = pattern.chars().map(|c| match c {
            '*' => fill.clone(),
            '?' => "b".to_owned(),
            c => c.to_string(),
        }).collect();
        prop_assert!(wildcard_match(&pattern, &text));
        prop_assert!(oracle(&pattern, &text));
    }

    #[test]
    fn matching_deny_never_allows(id in policy(PolicyKind::Identity), rp in policy(PolicyKind::Repository), req in request()) {
        let before = evaluate(&req, &set_with(&id, &rp));
        // A Deny naming exactly this action and resource, in the identity policy.
        let mut doc = id.to_json();
        doc["Statement"].as_array_mut().unwrap().push(json!({
            "Effect": "Deny", "Action": req.action, "Resource": req.resource.clone()
        }));
        let denied = Policy::parse(&doc.to_string(), PolicyKind::Identity).unwrap();
        let after = evaluate(&req, &set_with(&denied, &rp));
        prop_assert_ne!(after.decision, Decision::Allow);
        if !matches!(req.principal, Principal::Anonymous | Principal::Service { .. }) {
            prop_assert_eq!(after.decision, Decision::ExplicitDeny);
        }
        if before.decision != Decision::Allow {
            prop_assert_ne!(after.decision, Decision::Allow);
        }
    }

    #[test]
    fn statement_order_does_not_matter(
        id in policy(PolicyKind::Identity),
        rp in policy(PolicyKind::Repository),
        req in request(),
        seed in any::<u64>(),
    ) {
        let base = evaluate(&req, &set_with(&id, &rp));
        let perm = |n: usize| {
            let mut v: Vec<usize> = (0..n).collect();
            let mut s = seed;
            for i in (1..n).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                v.swap(i, (s >> 33) as usize % (i + 1));
            }
            v
        };
        let id2 = with_statements(&id, &perm(id.statements().len()));
        let rp2 = with_statements(&rp, &perm(rp.statements().len()));
        let other = evaluate(&req, &set_with(&id2, &rp2));
        prop_assert_eq!(base.decision, other.decision);
        prop_assert_eq!(base.reason, other.reason);
        prop_assert_eq!(&base.missing_context_values, &other.missing_context_values);
        let types = |r: &Response| {
            let mut v: Vec<PolicyType> = r.matched.iter().map(|m| m.policy_type).collect();
            v.sort();
            v
        };
        prop_assert_eq!(types(&base), types(&other));
    }

    #[test]
    fn print_then_parse_is_identity(id in policy(PolicyKind::Identity), rp in policy(PolicyKind::Repository), reg in policy(PolicyKind::Registry)) {
        for p in [id, rp, reg] {
            let again = Policy::parse(&p.to_json_string(), p.kind()).unwrap();
            prop_assert_eq!(&again, &p);
            prop_assert!(check_policy(&p).is_ok());
        }
    }
}
