//! SimulateCustomPolicy and SimulatePrincipalPolicy on the policy engine's simulator: the same
//! decisions as `portcullis policy simulate` for the same policies, actions, resources and
//! context.

use portcullis_policy::{
    parse_context_arg, simulate, Context, Policy, PolicyKind, PolicySet, PolicyType, Principal,
    Query, SimulationResult,
};

use super::input::page;
use super::xml::Xml;
use super::{allow, IamContext, IamError, Output};
use crate::AppState;

fn parse(document: &str, kind: PolicyKind) -> Result<Policy, IamError> {
    Policy::parse(document, kind)
        .map_err(|e| IamError::new("MalformedPolicyDocument", e.to_string()))
}

/// `ContextEntries.member.N.{ContextKeyName, ContextKeyType, ContextKeyValues.member.M}`.
fn context(ctx: &IamContext) -> Result<Context, IamError> {
    let mut out = Context::new();
    for entry in ctx.params.structs("ContextEntries") {
        let name = entry.get("ContextKeyName").cloned().unwrap_or_default();
        let ty = entry.get("ContextKeyType").cloned().unwrap_or_default();
        let mut values: Vec<(u32, &String)> = entry
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("ContextKeyValues.member.")?.parse().ok()?;
                Some((n, v))
            })
            .collect();
        values.sort_by_key(|(n, _)| *n);
        let joined: Vec<&str> = values.iter().map(|(_, v)| v.as_str()).collect();
        let (key, parsed) = parse_context_arg(&format!("{name}={ty}:{}", joined.join(",")))
            .map_err(|e| IamError::new("InvalidInput", e))?;
        out.insert_entry(&key, parsed);
    }
    Ok(out)
}

fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The simulated caller: `CallerArn`, else (as the CLI) a user `simulated` in the resource's
/// account, or this registry's.
fn caller(state: &AppState, ctx: &IamContext, resource: &str) -> Result<Principal, IamError> {
    if let Some(arn) = ctx.params.get("CallerArn") {
        return Principal::from_arn(arn)
            .ok_or_else(|| IamError::new("InvalidInput", format!("Invalid CallerArn {arn}.")));
    }
    let account = account_of(resource).unwrap_or(state.iam.account_id());
    Principal::from_arn(&format!("arn:aws:iam::{account}:user/simulated"))
        .ok_or_else(|| IamError::new("InvalidInput", format!("Invalid resource {resource}.")))
}

fn source_type(id: &str, t: PolicyType) -> &'static str {
    match t {
        PolicyType::Resource | PolicyType::Registry => "resource",
        _ if id.starts_with("user/") => "user",
        _ if id.starts_with("group/") => "group",
        _ if id.starts_with("role/") => "role",
        _ if id.starts_with("arn:") => "user-managed",
        _ => "IAM Policy",
    }
}

async fn run(state: &AppState, ctx: &IamContext, mut set: PolicySet) -> Output {
    for (i, doc) in ctx.params.list("PolicyInputList").iter().enumerate() {
        set.add_identity(
            format!("PolicyInputList.{}", i + 1),
            parse(doc, PolicyKind::Identity)?,
        );
    }
    if let Some(doc) = ctx.params.get("ResourcePolicy") {
        set.set_repository("ResourcePolicy", parse(doc, PolicyKind::Repository)?);
    }
    let actions = ctx.params.list("ActionNames");
    if actions.is_empty() {
        return Err(IamError::validation(
            "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null",
        ));
    }
    let mut resources = ctx.params.list("ResourceArns");
    if resources.is_empty() {
        resources.push("*");
    }
    let context = context(ctx)?;
    let (max, marker) = ctx.params.paging()?;
    let mut results: Vec<(String, SimulationResult)> = Vec::new();
    for action in &actions {
        for resource in &resources {
            let principal = caller(state, ctx, resource)?;
            let query = Query {
                action: (*action).to_owned(),
                resource: (*resource).to_owned(),
                context: context.clone(),
            };
            for r in simulate(&principal, &set, std::slice::from_ref(&query)) {
                results.push((format!("{:010}", results.len()), r));
            }
        }
    }
    let (results, next) = page(results, |(k, _)| k, max, marker);
    let mut x = Xml::new();
    x.list("EvaluationResults", &results, |x, (_, r)| {
        x.leaf("EvalActionName", &r.action)
            .leaf("EvalResourceName", &r.resource)
            .leaf("EvalDecision", r.response.decision.as_str())
            .list("MatchedStatements", &r.response.matched, |x, m| {
                x.leaf("SourcePolicyId", &m.policy_id)
                    .leaf("SourcePolicyType", source_type(&m.policy_id, m.policy_type));
            })
            .strings("MissingContextValues", &r.response.missing_context_values);
    })
    .page(next.as_deref());
    Ok(Some(x))
}

pub async fn custom(state: &AppState, ctx: &IamContext) -> Output {
    if ctx.params.list("PolicyInputList").is_empty() {
        return Err(IamError::validation(
            "1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null",
        ));
    }
    allow(state, ctx, "*").await?;
    run(state, ctx, PolicySet::new()).await
}

pub async fn principal(state: &AppState, ctx: &IamContext) -> Output {
    let source = ctx.params.arn("PolicySourceArn")?;
    allow(state, ctx, source).await?;
    // The principal whose ARN this is exactly (account, path and name): an ARN that merely
    // ends in a name the caller may not simulate stands for no one.
    let (kind, name) = state.iam.principal_by_arn(source).await?.ok_or_else(|| {
        IamError::new(
            "NoSuchEntity",
            format!("PolicySourceArn {source} names no user, group or role of this account."),
        )
    })?;
    let mut set = PolicySet::new();
    for named in state.iam.identity_policies(kind, &name).await? {
        set.add_identity(named.id, parse(&named.document, PolicyKind::Identity)?);
    }
    run(state, ctx, set).await
}
