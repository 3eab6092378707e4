//! Pull-through cache rules: CreatePullThroughCacheRule, DescribePullThroughCacheRules,
//! UpdatePullThroughCacheRule, DeletePullThroughCacheRule.

use portcullis_auth::Target;
use portcullis_core::repositories::cache_rules::{
    CacheRule, CacheRuleCreation, CacheRuleSpec, UpstreamRegistry, MAX_CACHE_RULES, ROOT,
};
use serde_json::{json, Value};

use super::images::page;
use super::input;
use super::ops::allow;
use super::{EcrContext, EcrError};
use crate::AppState;

const PREFIX_PATTERN: &str =
    "^([a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*\\/?|ROOT)$";
const CREDENTIAL_PATTERN: &str = "^arn:aws(-\\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\\-pullthroughcache\\/[a-zA-Z0-9\\/_+=.@-]+$";

fn constraint(member: &str, what: &str) -> EcrError {
    EcrError::invalid(format!(
        "Invalid parameter at '{member}' failed to satisfy constraint: '{what}'"
    ))
}

/// A prefix member (`ecrRepositoryPrefix`, `upstreamRepositoryPrefix`): 2 to 30 characters,
/// a repository namespace or `ROOT`; `prod/` and `prod` name the same one.
fn prefix_member<'a>(p: &'a str, member: &str) -> Result<&'a str, EcrError> {
    input::check_len(p, member, 2, 30)?;
    let name = p.strip_suffix('/').unwrap_or(p);
    if p != ROOT && name.parse::<portcullis_oci::RepoName>().is_err() {
        return Err(constraint(
            member,
            &format!("Member must satisfy regular expression pattern: {PREFIX_PATTERN}"),
        ));
    }
    Ok(name)
}

fn ecr_prefix(input: &Value) -> Result<&str, EcrError> {
    prefix_member(
        input::req_str(input, "ecrRepositoryPrefix")?,
        "ecrRepositoryPrefix",
    )
}

/// `credentialArn`: a Secrets Manager secret whose name starts `ecr-pullthroughcache/`.
fn credential_member(input: &Value) -> Result<Option<&str>, EcrError> {
    let Some(arn) = input::opt_str(input, "credentialArn")? else {
        return Ok(None);
    };
    input::check_len(arn, "credentialArn", 50, 612)?;
    let shaped = (|| {
        let rest = arn.strip_prefix("arn:aws")?;
        let (partition_tail, rest) = rest.split_once(":secretsmanager:")?;
        let partition_ok = partition_tail.is_empty()
            || partition_tail.split('-').skip(1).all(|w| {
                !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }) && partition_tail.starts_with('-');
        let (region_account, name) = rest.split_once(":secret:ecr-pullthroughcache/")?;
        let ra_ok = !region_account.is_empty()
            && region_account
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b':');
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
        Some(partition_ok && ra_ok && name_ok)
    })()
    .unwrap_or(false);
    if !shaped {
        return Err(constraint(
            "credentialArn",
            &format!("Member must satisfy regular expression pattern: {CREDENTIAL_PATTERN}"),
        ));
    }
    Ok(Some(arn))
}

/// `customRoleArn` is for ECR-to-ECR caching with a role ECR assumes; Portcullis fetches with
/// the rule's credentials only, and says so rather than storing a role it would never use.
fn refuse_custom_role(input: &Value) -> Result<(), EcrError> {
    if let Some(role) = input::opt_str(input, "customRoleArn")? {
        input::check_len(role, "customRoleArn", 0, 2048)?;
        if !role.is_empty() {
            return Err(EcrError::invalid(
                "customRoleArn is not available in Portcullis: a pull-through cache fetches from its upstream with the rule's credentialArn (or anonymously); leave customRoleArn out",
            ));
        }
    }
    Ok(())
}

/// `upstreamRegistryUrl`: a host with an optional port, `https://` optional; `http://` only for
/// an upstream on a loopback address (local registries, tests).
fn upstream_url(input: &Value) -> Result<(String, String), EcrError> {
    let raw = input::req_str(input, "upstreamRegistryUrl")?;
    input::check_len(raw, "upstreamRegistryUrl", 1, 2048)?;
    let trimmed = raw.trim_end_matches('/');
    let (scheme, rest) = match trimmed.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("https".to_owned(), trimmed),
    };
    let bad = |why: &str| {
        EcrError::invalid(format!(
            "Invalid parameter at 'upstreamRegistryUrl': '{raw}' {why}"
        ))
    };
    if scheme != "https" && scheme != "http" {
        return Err(bad("must be a registry host, optionally with https://"));
    }
    let url = url::Url::parse(&format!("{scheme}://{rest}"))
        .map_err(|_| bad("is not a registry host[:port]"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("has no host"))?
        .to_owned();
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must be a host[:port] without a path"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "must not hold credentials: put them in a Secrets Manager secret and name it in credentialArn",
        ));
    }
    if scheme == "http" {
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(bad(
                "uses plain HTTP, which is allowed only for an upstream on a loopback address",
            ));
        }
    }
    let host_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    let stored = if scheme == "http" {
        format!("http://{host_port}")
    } else {
        trimmed.to_owned()
    };
    Ok((stored, host_port))
}

/// The secret must exist (and not be scheduled for deletion) when the rule names it.
async fn check_secret(state: &AppState, arn: &str) -> Result<(), EcrError> {
    let found = state.secrets.resolve(arn).await.map_err(|e| {
        tracing::error!(error = %e, "looking up a pull-through cache rule's secret failed");
        EcrError::server()
    })?;
    match found {
        Some(s) if !s.scheduled_for_deletion() => Ok(()),
        _ => Err(EcrError::new(
            "SecretNotFoundException",
            format!("The secret '{arn}' does not exist or is scheduled for deletion"),
        )),
    }
}

fn not_found(prefix: &str) -> EcrError {
    EcrError::new(
        "PullThroughCacheRuleNotFoundException",
        format!(
            "The pull through cache rule with prefix '{prefix}' does not exist in the registry"
        ),
    )
}

fn account(state: &AppState) -> &str {
    &state.iam.options().account_id
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn rule_json(state: &AppState, r: &CacheRule) -> Value {
    let mut out = json!({
        "ecrRepositoryPrefix": r.ecr_repository_prefix,
        "upstreamRegistryUrl": r.spec.upstream_registry_url,
        "createdAt": secs(r.created_at),
        "updatedAt": secs(r.updated_at),
        "registryId": account(state),
        "upstreamRepositoryPrefix": r.spec.upstream_repository_prefix,
    });
    if let Some(k) = r.spec.upstream_registry {
        out["upstreamRegistry"] = json!(k.name());
    }
    if let Some(c) = &r.spec.credential_arn {
        out["credentialArn"] = json!(c);
    }
    out
}

pub async fn create(state: &AppState, ctx: &EcrContext, input: &Value) -> Result<Value, EcrError> {
    let prefix = ecr_prefix(input)?;
    let (url, host) = upstream_url(input)?;
    let named: Vec<&str> = UpstreamRegistry::ALL.map(UpstreamRegistry::name).to_vec();
    let kind = match input::opt_enum(input, "upstreamRegistry", &named)? {
        Some(k) => UpstreamRegistry::parse(k),
        None => UpstreamRegistry::infer(&host),
    };
    let credential = credential_member(input)?;
    refuse_custom_role(input)?;
    let upstream_prefix = match input::opt_str(input, "upstreamRepositoryPrefix")? {
        Some(p) => prefix_member(p, "upstreamRepositoryPrefix")?.to_owned(),
        None => ROOT.to_owned(),
    };
    allow(state, ctx, &Target::Registry, &[]).await?;
    if let Some(k) = kind.filter(|k| k.needs_credentials()) {
        if credential.is_none() {
            return Err(EcrError::invalid(format!(
                "a pull through cache rule for {} needs a credentialArn: the upstream refuses or rate-limits anonymous pulls",
                k.name()
            )));
        }
    }
    if let Some(arn) = credential {
        check_secret(state, arn).await?;
    }
    let spec = CacheRuleSpec {
        upstream_registry_url: url,
        upstream_registry: kind,
        upstream_repository_prefix: upstream_prefix,
        credential_arn: credential.map(str::to_owned),
    };
    match state.repositories.create_cache_rule(prefix, &spec).await? {
        CacheRuleCreation::Created(r) => {
            let mut out = rule_json(state, &r);
            if let Some(o) = out.as_object_mut() {
                o.remove("updatedAt");
            }
            Ok(out)
        }
        CacheRuleCreation::Exists => Err(EcrError::new(
            "PullThroughCacheRuleAlreadyExistsException",
            format!("A pull through cache rule with prefix '{prefix}' already exists"),
        )),
        CacheRuleCreation::TooMany => Err(EcrError::new(
            "LimitExceededException",
            format!("a registry can have at most {MAX_CACHE_RULES} pull through cache rules"),
        )),
    }
}

pub async fn describe(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let max = input::opt_int(input, "maxResults", 1, 1000)?.unwrap_or(1000) as usize;
    let next = input::opt_str(input, "nextToken")?;
    let wanted: Option<Vec<String>> =
        match input::opt_string_list(input, "ecrRepositoryPrefixes", 1, 100, 2..=30)? {
            None => None,
            Some(items) => Some(
                items
                    .into_iter()
                    .map(|p| prefix_member(p, "ecrRepositoryPrefixes").map(str::to_owned))
                    .collect::<Result<_, _>>()?,
            ),
        };
    allow(state, ctx, &Target::Registry, &[]).await?;
    let rules = state.repositories.cache_rules().await?;
    if let Some(w) = &wanted {
        if let Some(missing) = w
            .iter()
            .find(|p| !rules.iter().any(|r| &r.ecr_repository_prefix == *p))
        {
            return Err(not_found(missing));
        }
    }
    let rules: Vec<CacheRule> = rules
        .into_iter()
        .filter(|r| {
            wanted
                .as_ref()
                .is_none_or(|w| w.contains(&r.ecr_repository_prefix))
        })
        .collect();
    let (items, token) = page(rules, |r| r.ecr_repository_prefix.clone(), next, max)?;
    let mut out = json!({
        "pullThroughCacheRules": items.iter().map(|r| rule_json(state, r)).collect::<Vec<_>>(),
    });
    if let Some(t) = token {
        out["nextToken"] = json!(t);
    }
    Ok(out)
}

pub async fn update(state: &AppState, ctx: &EcrContext, input: &Value) -> Result<Value, EcrError> {
    let prefix = ecr_prefix(input)?;
    let credential = credential_member(input)?;
    refuse_custom_role(input)?;
    allow(state, ctx, &Target::Registry, &[]).await?;
    let mut rule = state
        .repositories
        .cache_rule(prefix)
        .await?
        .ok_or_else(|| not_found(prefix))?;
    if let Some(arn) = credential {
        check_secret(state, arn).await?;
        rule.spec.credential_arn = Some(arn.to_owned());
    }
    let updated = state
        .repositories
        .update_cache_rule(prefix, &rule.spec)
        .await?
        .ok_or_else(|| not_found(prefix))?;
    let mut out = json!({
        "ecrRepositoryPrefix": updated.ecr_repository_prefix,
        "registryId": account(state),
        "updatedAt": secs(updated.updated_at),
        "upstreamRepositoryPrefix": updated.spec.upstream_repository_prefix,
    });
    if let Some(c) = &updated.spec.credential_arn {
        out["credentialArn"] = json!(c);
    }
    Ok(out)
}

pub async fn delete(state: &AppState, ctx: &EcrContext, input: &Value) -> Result<Value, EcrError> {
    let prefix = ecr_prefix(input)?;
    allow(state, ctx, &Target::Registry, &[]).await?;
    let gone = state
        .repositories
        .delete_cache_rule(prefix)
        .await?
        .ok_or_else(|| not_found(prefix))?;
    let mut out = rule_json(state, &gone);
    if let Some(o) = out.as_object_mut() {
        o.remove("updatedAt");
        o.remove("upstreamRegistry");
    }
    Ok(out)
}
