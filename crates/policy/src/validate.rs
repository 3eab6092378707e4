//! The policy check (spec 2.2): parse errors, then warnings about policies that parse but
//! probably do not mean what their author thinks.

use crate::ast::*;
use crate::catalog::{self, KeyType, ResourceType};
use crate::condition::{BaseOp, Family, Operand, SetOp};
use crate::error::Finding;
use crate::wildcard::Glob;

/// Characters (excluding white space) above which an identity policy no longer fits AWS's
/// managed-policy limit; only a warning here.
const MANAGED_POLICY_CHARS: usize = 6_144;

/// All findings for a document: its errors if it does not parse, else its warnings.
pub fn validate(text: &str, kind: PolicyKind) -> Vec<Finding> {
    match Policy::parse(text, kind) {
        Err(e) => e.errors,
        Ok(p) => {
            let mut out = validate_policy(&p);
            let size = crate::parse::non_whitespace_chars(text);
            if kind == PolicyKind::Identity && size > MANAGED_POLICY_CHARS {
                out.push(Finding::warning(
                    "",
                    format!(
                        "policy has {size} characters; AWS limits managed policies to {MANAGED_POLICY_CHARS}"
                    ),
                ));
            }
            if !p.variables_enabled() && text.contains("${") {
                out.insert(
                    0,
                    Finding::warning(
                        "Version",
                        "Version missing: policy variables are not expanded",
                    ),
                );
            }
            out
        }
    }
}

/// Warnings for an already parsed policy.
pub fn validate_policy(p: &Policy) -> Vec<Finding> {
    let mut out = Vec::new();
    let single = p.statements.len() == 1;
    for (i, st) in p.statements.iter().enumerate() {
        let path = if single {
            "Statement".to_owned()
        } else {
            format!("Statement[{i}]")
        };
        statement(st, &path, &mut out);
    }
    out
}

fn at(path: &str, elem: &str, i: usize, n: usize) -> String {
    if n == 1 {
        format!("{path}.{elem}")
    } else {
        format!("{path}.{elem}[{i}]")
    }
}

fn statement(st: &Statement, path: &str, out: &mut Vec<Finding>) {
    let aelem = if st.action.negated {
        "NotAction"
    } else {
        "Action"
    };
    let n = st.action.patterns.len();
    // Actions the statement can match, for the condition-key checks.
    let mut covered: Vec<&'static catalog::ActionInfo> = Vec::new();
    for (i, a) in st.action.patterns.iter().enumerate() {
        let source = a.glob.to_source();
        let hits: Vec<_> = catalog::ACTIONS
            .iter()
            .filter(|info| a.glob.matches_ascii_ci(info.name))
            .collect();
        if hits.is_empty() {
            let ap = at(path, aelem, i, n);
            let is_ecr = source.to_ascii_lowercase().starts_with("ecr:");
            if is_ecr && !a.glob.has_wildcards() {
                out.push(Finding::warning(&ap, format!("unknown action `{source}`")));
            } else {
                out.push(Finding::warning(
                    &ap,
                    format!(
                        "action `{}` matches no action known to this registry",
                        source
                    ),
                ));
            }
        }
        covered.extend(hits);
    }
    if st.action.negated {
        covered = catalog::ACTIONS
            .iter()
            .filter(|info| st.action.matches(info.name))
            .collect();
    }

    if let Some(r) = &st.resource {
        let relem = if r.negated { "NotResource" } else { "Resource" };
        let rn = r.patterns.len();
        for (i, pat) in r.patterns.iter().enumerate() {
            let src = pat.source();
            if src == "*" {
                continue;
            }
            if let Some(msg) = resource_warning(&src) {
                out.push(Finding::warning(&at(path, relem, i, rn), msg));
            }
        }
        let has_star = r.patterns.iter().any(|p| p.glob == Some(Glob::Any));
        if st.effect == Effect::Allow && st.action.negated && !r.negated && has_star {
            out.push(Finding::warning(
                path,
                "Allow with NotAction and \"Resource\": \"*\" grants every other action on every resource; list the actions to allow instead",
            ));
        }
        if !r.negated && !has_star && !st.action.negated {
            for (i, a) in st.action.patterns.iter().enumerate() {
                if let Some(info) = catalog::action(&a.glob.to_source()) {
                    if info.resource == ResourceType::None {
                        out.push(Finding::warning(
                            &at(path, aelem, i, n),
                            format!(
                                "`{}` has no resource type and needs \"Resource\": \"*\"; this statement can never match it",
                                info.name
                            ),
                        ));
                    }
                }
            }
        }
    }

    if let Some(pb) = &st.principal {
        let pelem = if pb.negated {
            "NotPrincipal"
        } else {
            "Principal"
        };
        if let PrincipalSet::Typed(entries) = &pb.set {
            for (ty, _) in entries {
                if matches!(ty, PrincipalType::Federated | PrincipalType::CanonicalUser) {
                    out.push(Finding::warning(
                        &format!("{path}.{pelem}.{}", ty.as_str()),
                        format!(
                            "principal type `{}` never matches in this registry",
                            ty.as_str()
                        ),
                    ));
                }
            }
        }
        if pb.negated && st.effect == Effect::Allow {
            out.push(Finding::warning(
                &format!("{path}.NotPrincipal"),
                "NotPrincipal with Allow grants access to every principal not listed, including anonymous callers",
            ));
        }
        if pb.negated && st.effect == Effect::Deny {
            let has_account = match &pb.set {
                PrincipalSet::Star => true,
                PrincipalSet::Typed(e) => e.iter().any(|(_, vs)| {
                    vs.iter()
                        .any(|v| matches!(v.id, PrincipalId::Account(_) | PrincipalId::Any))
                }),
            };
            if !has_account {
                out.push(Finding::warning(
                    &format!("{path}.NotPrincipal"),
                    "Deny with NotPrincipal that does not list the principal's account ARN denies the listed principals too",
                ));
            }
        }
    }

    for c in &st.conditions {
        let opname = c.op.name();
        let cpath = format!("{path}.Condition.{opname}");
        if c.op.set == Some(SetOp::ForAllValues) && st.effect == Effect::Allow {
            out.push(Finding::warning(
                &cpath,
                "ForAllValues with Allow is true when the key is missing; add a Null condition with \"false\" on the key",
            ));
        }
        for e in &c.entries {
            let kpath = format!("{cpath}.{}", e.key);
            if c.op.base == BaseOp::Null {
                let t = e.values.iter().any(|v| v.operand == Operand::Null(true));
                let f = e.values.iter().any(|v| v.operand == Operand::Null(false));
                if t && f {
                    out.push(Finding::warning(
                        &kpath,
                        "Null with both \"true\" and \"false\" is always true",
                    ));
                }
            }
            let Some(info) = catalog::key(&e.key) else {
                out.push(Finding::warning(
                    &kpath,
                    format!("unknown condition key `{}`", e.key),
                ));
                continue;
            };
            if !covered.is_empty() && !covered.iter().any(|a| catalog::action_supports(a, info)) {
                out.push(Finding::warning(
                    &kpath,
                    format!(
                        "condition key `{}` is not available for any action of this statement",
                        e.key
                    ),
                ));
            }
            match (c.op.set, info.multivalued) {
                (Some(_), false) => out.push(Finding::warning(
                    &kpath,
                    format!(
                        "`{}` is single-valued; do not use ForAllValues or ForAnyValue with it",
                        e.key
                    ),
                )),
                (None, true) if c.op.base != BaseOp::Null => out.push(Finding::warning(
                    &kpath,
                    format!(
                        "`{}` is multivalued; use ForAnyValue or ForAllValues to say which you mean",
                        e.key
                    ),
                )),
                _ => {}
            }
            if let Some(expected) = type_mismatch(c.op.base.family(), info.ty) {
                out.push(Finding::warning(
                    &kpath,
                    format!(
                        "operator `{opname}` expects {expected} but `{}` is {}",
                        e.key,
                        describe(info.ty)
                    ),
                ));
            }
        }
    }
}

fn describe(t: KeyType) -> &'static str {
    match t {
        KeyType::String => "a string",
        KeyType::Arn => "an ARN",
        KeyType::Bool => "a boolean",
        KeyType::Date => "a date",
        KeyType::DateOrNumeric => "a date or number",
        KeyType::Ip => "an IP address",
    }
}

/// `Some(what the operator expects)` when the operator does not fit the key's type.
fn type_mismatch(f: Family, t: KeyType) -> Option<&'static str> {
    let ok = match f {
        Family::Null => true,
        Family::String => matches!(t, KeyType::String | KeyType::Arn),
        Family::Arn => t == KeyType::Arn,
        Family::Numeric => t == KeyType::DateOrNumeric,
        Family::Date => matches!(t, KeyType::Date | KeyType::DateOrNumeric),
        Family::Bool => t == KeyType::Bool,
        Family::Ip => t == KeyType::Ip,
        Family::Binary => false,
    };
    if ok {
        return None;
    }
    Some(match f {
        Family::String => "a string key",
        Family::Arn => "an ARN key",
        Family::Numeric => "a numeric key",
        Family::Date => "a date key",
        Family::Bool => "a boolean key",
        Family::Ip => "an IP address key",
        Family::Binary => "a binary key",
        Family::Null => "any key",
    })
}

/// Wrong service or shape for an ECR repository ARN pattern.
fn resource_warning(src: &str) -> Option<String> {
    let parts: Vec<&str> = src.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return Some(format!("`{src}` is not an ARN"));
    };
    let fits = |pat: &str, value: &str| Glob::new(pat).matches(value);
    if !fits(arn, "arn") {
        return Some(format!("`{src}` is not an ARN"));
    }
    if !fits(partition, "aws") {
        return Some(format!(
            "partition `{partition}` is not `aws`; this registry serves only `aws`"
        ));
    }
    if !fits(service, "ecr") {
        let known = crate::catalog::SERVICES.iter().any(|s| fits(service, s));
        if !known {
            return Some(format!(
                "`{src}` is not a resource of this registry (service `{service}`)"
            ));
        }
        return None;
    }
    if region.is_empty() {
        return Some(format!("`{src}`: ECR ARNs have a region"));
    }
    let is_account_id = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if !(is_account_id || account.contains(['*', '?'])) {
        return Some(format!(
            "`{src}`: account `{account}` is not a 12-digit account ID"
        ));
    }
    // The resource part must be able to match some `repository/NAME`.
    let g = Glob::new(resource);
    if !(g.matches("repository/x")
        || g.matches("repository/")
        || resource.starts_with("repository/")
        || resource.starts_with('$'))
    {
        return Some(format!(
            "`{src}` is not an ECR repository ARN (expected arn:aws:ecr:REGION:ACCOUNT:repository/NAME)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(text: &str, kind: PolicyKind) -> Vec<String> {
        validate(text, kind)
            .into_iter()
            .map(|f| {
                assert_eq!(f.severity, crate::Severity::Warning, "{f}");
                format!("{}: {}", f.path, f.message)
            })
            .collect()
    }

    fn has(text: &str, kind: PolicyKind, needle: &str) {
        let w = warnings(text, kind);
        assert!(
            w.iter().any(|x| x.contains(needle)),
            "want `{needle}` in {w:?}"
        );
    }

    const R: &str = "arn:aws:ecr:ap-northeast-1:111122223333:repository/";

    #[test]
    fn clean_policies_have_no_findings() {
        let ci = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}},
            {{"Effect":"Allow","Action":["ecr:PutImage","ecr:Batch*"],"Resource":"{R}web-*",
              "Condition":{{"IpAddress":{{"aws:SourceIp":"203.0.113.0/24"}},"StringEquals":{{"ecr:ResourceTag/env":"dev"}}}}}}]}}"#
        );
        assert_eq!(warnings(&ci, PolicyKind::Identity), Vec::<String>::new());
    }

    #[test]
    fn reports_each_kind_of_warning() {
        let id = PolicyKind::Identity;
        has(
            r#"{"Statement":{"Effect":"Allow","Action":"ecr:PullImage","Resource":"*"}}"#,
            id,
            "Statement.Action: unknown action `ecr:PullImage`",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}}"#,
            id,
            "matches no action known to this registry",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:s3:::b/*"}}"#,
            id,
            "not a resource of this registry",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:ap-northeast-1:111122223333:image/x"}}"#,
            id,
            "not an ECR repository ARN",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"aws:Whatever":"x"}}}}"#,
            id,
            "unknown condition key `aws:Whatever`",
        );
        has(
            &format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"ecr:BatchGetImage","Resource":"{R}x","Condition":{{"ForAnyValue:StringEquals":{{"aws:TagKeys":"x"}}}}}}}}"#
            ),
            id,
            "not available for any action of this statement",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"IpAddress":{"aws:username":"10.0.0.0/8"}}}}"#,
            id,
            "operator `IpAddress` expects an IP address key but `aws:username` is a string",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","NotAction":"ecr:DeleteRepository","Resource":"*"}}"#,
            id,
            "Allow with NotAction",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","Action":"ecr:CreateRepository","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":"x"}}}}"#,
            id,
            "ForAllValues with Allow",
        );
        has(
            r#"{"Statement":{"Effect":"Deny","Action":"ecr:*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:SourceVpce":"x"}}}}"#,
            id,
            "is single-valued",
        );
        has(
            r#"{"Statement":{"Effect":"Deny","Action":"ecr:CreateRepository","Resource":"*","Condition":{"StringEquals":{"aws:TagKeys":"x"}}}}"#,
            id,
            "is multivalued",
        );
        has(
            &format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"{R}*"}}}}"#
            ),
            id,
            "needs \"Resource\": \"*\"",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","Action":"ecr:*","Resource":"*","Condition":{"Null":{"aws:SourceVpce":["true","false"]}}}}"#,
            id,
            "always true",
        );
        has(
            &format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"ecr:*","Resource":"{R}${{aws:username}}"}}}}"#
            ),
            id,
            "Version missing: policy variables are not expanded",
        );
        let rp = PolicyKind::Repository;
        has(
            r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"ecr:*"}}"#,
            rp,
            "NotPrincipal with Allow",
        );
        has(
            r#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/a"},"Action":"ecr:*"}}"#,
            rp,
            "does not list the principal's account",
        );
        has(
            r#"{"Statement":{"Effect":"Allow","Principal":{"Federated":"cognito"},"Action":"ecr:*"}}"#,
            rp,
            "principal type `Federated` never matches",
        );
    }
}
