//! Invariants checked by the `policy_parse_validate_eval` fuzz target, kept in the library so
//! ordinary `cargo test` runs them over the seed corpus on stable Rust.
//!
//! Input: a policy document. If the first byte is not `{`, it picks the policy kind
//! (`0` identity, `1` repository, `2` registry, modulo 3) and the rest is the document.

use crate::ast::*;
use crate::context::{Context, Value};
use crate::evaluate::{evaluate, Decision, PolicySet, Principal, Request};
use crate::validate::validate;
use crate::Severity;

/// A broken invariant, described for the fuzzer's crash report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

/// Runs every invariant; `Err` names the one that failed. Never panics by itself.
pub fn check_invariants(data: &[u8]) -> Result<(), Violation> {
    let (kind, body) = match data.split_first() {
        None => return Ok(()),
        Some((b'{', _)) => (PolicyKind::Identity, data),
        Some((k, rest)) => (
            match k % 3 {
                0 => PolicyKind::Identity,
                1 => PolicyKind::Repository,
                _ => PolicyKind::Registry,
            },
            rest,
        ),
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return Ok(());
    };
    let findings = validate(text, kind);
    let parsed = Policy::parse(text, kind);
    let has_errors = findings.iter().any(|f| f.severity == Severity::Error);
    if has_errors == parsed.is_ok() {
        return Err(Violation(format!(
            "validate and parse disagree: errors={has_errors}, parsed={}",
            parsed.is_ok()
        )));
    }
    let Ok(policy) = parsed else { return Ok(()) };
    check_policy(&policy)
}

/// The invariants for a policy that parsed.
pub fn check_policy(policy: &Policy) -> Result<(), Violation> {
    let printed = policy.to_json_string();
    match Policy::parse(&printed, policy.kind) {
        Ok(again) if again == *policy => {}
        Ok(_) => {
            return Err(Violation(format!(
                "round trip changed the policy: {printed}"
            )))
        }
        // A printed policy can exceed the size limit only if the input nearly did; printing
        // adds no characters beyond quoting, so treat that as a violation too.
        Err(e) => {
            return Err(Violation(format!(
                "printed policy does not parse: {e}: {printed}"
            )))
        }
    }
    let reversed = Policy {
        statements: policy.statements.iter().rev().cloned().collect(),
        ..policy.clone()
    };
    let rotated = Policy {
        statements: policy
            .statements
            .iter()
            .skip(1)
            .chain(policy.statements.iter().take(1))
            .cloned()
            .collect(),
        ..policy.clone()
    };
    let with_deny = {
        let mut p = policy.clone();
        p.statements.extend(catch_all_deny(policy.kind));
        p
    };
    for req in sample_requests(policy) {
        let set = policy_set(policy);
        let a = evaluate(&req, &set);
        let b = evaluate(&req, &set);
        if a != b {
            return Err(Violation(format!(
                "evaluation is not deterministic for {req:?}"
            )));
        }
        for other in [&reversed, &rotated] {
            let r = evaluate(&req, &policy_set(other));
            if r.decision != a.decision || r.missing_context_values != a.missing_context_values {
                return Err(Violation(format!(
                    "statement order changed the result for {req:?}: {:?} vs {:?}",
                    a.decision, r.decision
                )));
            }
        }
        let d = evaluate(&req, &policy_set(&with_deny));
        let applies = match policy.kind {
            PolicyKind::Repository => req.resource != "*",
            _ => true,
        };
        if applies && d.decision != Decision::ExplicitDeny {
            return Err(Violation(format!(
                "a matching Deny did not deny {req:?}: {:?}",
                d.decision
            )));
        }
        if d.decision == Decision::Allow && a.decision != Decision::Allow {
            return Err(Violation(
                "adding a Deny turned a deny into an allow".into(),
            ));
        }
    }
    Ok(())
}

/// Deny of everything to everyone, valid in any kind of policy.
pub(crate) fn catch_all_deny(kind: PolicyKind) -> Option<Statement> {
    let text = match kind {
        PolicyKind::Identity => r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#,
        _ => r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"*"}}"#,
    };
    Policy::parse(text, kind)
        .ok()
        .and_then(|p| p.statements.into_iter().next())
}

/// Puts the policy where its kind belongs; a repository or registry policy gets an identity
/// policy that allows everything beside it, so that its own statements decide.
pub(crate) fn policy_set(policy: &Policy) -> PolicySet {
    let mut set = PolicySet::new();
    match policy.kind {
        PolicyKind::Identity => {
            set.add_identity("fuzzed", policy.clone());
        }
        PolicyKind::Repository => {
            set.set_repository("fuzzed", policy.clone());
        }
        PolicyKind::Registry => {
            set.set_registry("fuzzed", policy.clone());
        }
    }
    set
}

const REPO: &str = "arn:aws:ecr:ap-northeast-1:111122223333:repository/";

/// Requests that touch many code paths: several principal kinds, the resource `*`, the
/// actions and resources the policy itself names, and a context with typed keys.
pub(crate) fn sample_requests(policy: &Policy) -> Vec<Request> {
    let principals = [
        Principal::from_arn("arn:aws:iam::111122223333:user/alice"),
        Principal::from_arn("arn:aws:sts::111122223333:assumed-role/ci-builder/run-42"),
        Principal::from_arn("arn:aws:iam::444455556666:user/carol"),
        Principal::from_arn("arn:aws:iam::111122223333:root"),
        Some(Principal::Anonymous),
        Some(Principal::Service {
            name: "inspector2.amazonaws.com".into(),
        }),
    ];
    let mut actions = vec![
        "ecr:BatchGetImage".to_owned(),
        "ecr:GetAuthorizationToken".to_owned(),
    ];
    let mut resources = vec![format!("{REPO}app"), "*".to_owned()];
    for st in policy.statements.iter().take(4) {
        if let Some(a) = st.action.patterns.first() {
            actions.push(a.glob.to_source().replace(['*', '?'], "x"));
        }
        if let Some(r) = st.resource.as_ref().and_then(|r| r.patterns.first()) {
            resources.push(r.source().replace(['*', '?'], "x"));
        }
    }
    let mut out = Vec::new();
    for (i, p) in principals.into_iter().flatten().enumerate() {
        for (j, a) in actions.iter().enumerate() {
            let r = resources
                .get((i + j) % resources.len().max(1))
                .cloned()
                .unwrap_or_default();
            let mut req = Request::new(p.clone(), a, &r);
            fill_context(&mut req.context, i + j);
            out.push(req);
        }
    }
    out
}

fn fill_context(c: &mut Context, salt: usize) {
    if let Ok(ip) = "203.0.113.40".parse() {
        c.insert("aws:SourceIp", Value::ip(ip));
    }
    c.insert("aws:SecureTransport", Value::bool(matches!(salt % 2, 0)));
    c.insert("aws:CurrentTime", Value::date(1_893_455_999 + salt as i64));
    c.insert("aws:EpochTime", Value::integer(1_893_455_999 + salt as i64));
    c.insert(
        "aws:PrincipalTag/team",
        Value::string(if matches!(salt % 3, 0) { "pay" } else { "web" }),
    );
    if salt % 2 == 1 {
        c.insert("aws:SourceVpce", Value::string("vpce-0a1b2c3d4e5f67890"));
        c.remove("aws:SourceIp");
    }
    let tags = match salt % 3 {
        0 => vec![],
        1 => vec![Value::string("team")],
        _ => vec![Value::string("env"), Value::string("secret")],
    };
    c.insert_multi("aws:TagKeys", tags);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_inputs_hold() {
        for input in [
            &b""[..],
            b"{",
            b"{}",
            b"\x01{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\"}}",
            br#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:*:*:repository/${aws:username}/*"}}"#,
        ] {
            check_invariants(input).unwrap();
        }
    }
}
