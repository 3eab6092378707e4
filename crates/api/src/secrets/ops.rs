//! The Secrets Manager operations served. Each reads its input, authorizes
//! `secretsmanager:<Operation>` on the secret's ARN (through [`decide`], which audits), calls
//! the core service and shapes the output as botocore's model does.
//!
//! A request for a secret that does not exist is decided on the ARN it asked for (the ARN as
//! given, or the name's ARN without a suffix) before it hears ResourceNotFoundException: a
//! caller who may not read a secret cannot learn whether it exists.

use base64::Engine;
use portcullis_auth::Target;
use portcullis_core::secrets::{
    Deletion, Filter, FilterKey, NewSecretSpec, SecretInfo, SecretValue, DEFAULT_RECOVERY_DAYS,
};
use portcullis_policy::Value as CtxValue;
use serde_json::{json, Map, Value};

use super::input;
use super::{SecretsContext, SecretsManagerError as E, SOURCE};
use crate::access::{self, ExtraContext};
use crate::AppState;

crate::operation::operations! {
    /// Every operation of the Secrets Manager API this server serves; `secretsmanager:<Name>`
    /// authorizes it.
    pub enum SecretsOperation: "secretsmanager" {
        CreateSecret,
        PutSecretValue,
        DescribeSecret,
        ListSecrets,
        DeleteSecret,
        GetSecretValue,
        TagResource,
    }
}

/// Runs the operation of `ctx` (which the dispatcher parsed from `X-Amz-Target`).
pub async fn run(state: &AppState, ctx: &SecretsContext, input: &Value) -> Result<Value, E> {
    match ctx.operation {
        SecretsOperation::CreateSecret => create_secret(state, ctx, input).await,
        SecretsOperation::PutSecretValue => put_secret_value(state, ctx, input).await,
        SecretsOperation::DescribeSecret => describe_secret(state, ctx, input).await,
        SecretsOperation::ListSecrets => list_secrets(state, ctx, input).await,
        SecretsOperation::DeleteSecret => delete_secret(state, ctx, input).await,
        SecretsOperation::GetSecretValue => get_secret_value(state, ctx, input).await,
        SecretsOperation::TagResource => tag_resource(state, ctx, input).await,
    }
}

/// The one place a Secrets Manager operation is put before the policy engine (and audited).
/// Secrets have no resource policies here and the registry policy governs ECR actions only, so
/// an IAM target: the caller's identity policies decide.
async fn decide(
    state: &AppState,
    ctx: &SecretsContext,
    operation: SecretsOperation,
    arn: &str,
    extra: &[(String, Vec<CtxValue>)],
) -> Result<portcullis_auth::Outcome, E> {
    let outcome = access::check(
        state,
        &ctx.caller,
        &ctx.facts,
        SOURCE,
        operation.action(),
        &Target::Iam(arn.to_owned()),
        None,
        extra,
    )
    .await?;
    ctx.decided.mark();
    Ok(outcome)
}

/// Authorizes `operation` on `arn`; a denial is AccessDeniedException with AWS's sentence.
async fn allow(
    state: &AppState,
    ctx: &SecretsContext,
    operation: SecretsOperation,
    arn: &str,
    extra: &[(String, Vec<CtxValue>)],
) -> Result<(), E> {
    let outcome = decide(state, ctx, operation, arn, extra).await?;
    if outcome.allowed() {
        Ok(())
    } else {
        Err(E::denied(outcome.denial_message()))
    }
}

/// `aws:ResourceTag/<key>` and `secretsmanager:ResourceTag/<key>` for each of the secret's tags,
/// as Secrets Manager sets them on every request for the secret.
fn resource_tag_context(secret: &SecretInfo) -> ExtraContext {
    secret
        .tags
        .iter()
        .flat_map(|(k, v)| {
            [
                (
                    format!("aws:ResourceTag/{k}"),
                    vec![CtxValue::string(v.clone())],
                ),
                (
                    format!("secretsmanager:ResourceTag/{k}"),
                    vec![CtxValue::string(v.clone())],
                ),
            ]
        })
        .collect()
}

/// The secret `SecretId` names, once the request's own operation is allowed on it (with
/// `extra`, the request's own context keys).
async fn existing(
    state: &AppState,
    ctx: &SecretsContext,
    input: &Value,
    extra: ExtraContext,
) -> Result<SecretInfo, E> {
    let id = input::secret_id(input)?;
    match state.secrets.resolve(id).await? {
        Some(secret) => {
            let mut context = resource_tag_context(&secret);
            context.extend(extra);
            allow(state, ctx, ctx.operation, &secret.arn, &context).await?;
            Ok(secret)
        }
        None => {
            let arn = state.secrets.requested_arn(id);
            allow(state, ctx, ctx.operation, &arn, &extra).await?;
            Err(E::not_found())
        }
    }
}

/// Unix milliseconds as the JSON protocol's timestamps: seconds, fractional.
fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect(),
    )
}

/// What DescribeSecret and the entries of ListSecrets say of a secret (the member naming its
/// versions differs between the two).
fn describe_json(s: &SecretInfo, versions_member: &str) -> Value {
    let mut v = Map::new();
    v.insert("ARN".into(), json!(s.arn));
    v.insert("Name".into(), json!(s.name));
    if let Some(d) = &s.description {
        v.insert("Description".into(), json!(d));
    }
    v.insert("LastChangedDate".into(), seconds(s.last_changed_at));
    if let Some(d) = s.deleted_at {
        v.insert("DeletedDate".into(), seconds(d));
    }
    if !s.tags.is_empty() {
        v.insert("Tags".into(), tags_json(&s.tags));
    }
    if !s.versions.is_empty() {
        let map: Map<String, Value> = s
            .versions
            .iter()
            .map(|(id, stages)| (id.clone(), json!(stages)))
            .collect();
        v.insert(versions_member.into(), Value::Object(map));
    }
    v.insert("CreatedDate".into(), seconds(s.created_at));
    Value::Object(v)
}

async fn create_secret(state: &AppState, ctx: &SecretsContext, input: &Value) -> Result<Value, E> {
    let name = input::name(input)?;
    let token = input::version_id(input, "ClientRequestToken")?;
    let description = input::opt_str(input, "Description", 0, 2048)?;
    input::opt_str(input, "KmsKeyId", 0, 2048)?;
    let tags = input::tags(input, false)?;
    let value = input::value(input)?;
    input::not_served(
        input,
        &[
            "KmsKeyId",
            "AddReplicaRegions",
            "ForceOverwriteReplicaSecret",
            "Type",
            "CrossAccountPrimaryARN",
        ],
    )?;
    let arn = state.secrets.new_arn(name);
    let extra = access::request_tag_context(&tags);
    allow(state, ctx, SecretsOperation::CreateSecret, &arn, &extra).await?;
    // As in Secrets Manager, tags given at creation need TagResource too.
    if !tags.is_empty() {
        allow(state, ctx, SecretsOperation::TagResource, &arn, &extra).await?;
    }
    // A retry of a create answers as the first request did, which means comparing the value
    // with the existing secret's version: an answer about that secret's value, so only for a
    // caller who may read it (else a version id from DescribeSecret would confirm guesses).
    let may_compare = match state.secrets.resolve(name).await? {
        Some(existing) if token.is_some() => decide(
            state,
            ctx,
            SecretsOperation::GetSecretValue,
            &existing.arn,
            &resource_tag_context(&existing),
        )
        .await?
        .allowed(),
        _ => false,
    };
    let created = state
        .secrets
        .create(
            &arn,
            may_compare,
            NewSecretSpec {
                name: name.to_owned(),
                description: description.map(str::to_owned),
                tags,
                value,
                token: token.map(str::to_owned),
            },
        )
        .await?;
    let mut out = json!({ "ARN": created.arn, "Name": created.name });
    if let Some(v) = created.version_id {
        out["VersionId"] = json!(v);
    }
    Ok(out)
}

async fn put_secret_value(
    state: &AppState,
    ctx: &SecretsContext,
    input: &Value,
) -> Result<Value, E> {
    input::secret_id(input)?;
    let token = input::version_id(input, "ClientRequestToken")?;
    let stages = input::stages(input)?;
    let value: SecretValue = input::value(input)?
        .ok_or_else(|| E::request("You must provide either SecretString or SecretBinary."))?;
    input::opt_str(input, "RotationToken", 36, 256)?;
    input::not_served(input, &["RotationToken"])?;
    let secret = existing(state, ctx, input, Vec::new()).await?;
    let stored = state
        .secrets
        .put_value(&secret, token, &value, stages)
        .await?;
    Ok(json!({
        "ARN": stored.arn,
        "Name": stored.name,
        "VersionId": stored.version_id,
        "VersionStages": stored.stages,
    }))
}

async fn describe_secret(
    state: &AppState,
    ctx: &SecretsContext,
    input: &Value,
) -> Result<Value, E> {
    let secret = existing(state, ctx, input, Vec::new()).await?;
    Ok(describe_json(&secret, "VersionIdsToStages"))
}

/// ListSecrets' `NextToken`: the last name listed, base64url so that it is opaque.
fn next_token(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

fn after_token(token: &str) -> Result<String, E> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            E::new(
                "InvalidNextTokenException",
                "The NextToken value is not one ListSecrets returned.",
            )
        })
}

fn filters(input: &Value) -> Result<Vec<Filter>, E> {
    let Some(items) = input::opt_list(input, "Filters", 0, 10)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !item.is_object() {
            return Err(input::constraint(
                "Filters",
                "Member must be a list of Filter structures",
            ));
        }
        let key = input::opt_enum(item, "Key", &FilterKey::NAMES)?
            .and_then(FilterKey::parse)
            .ok_or_else(|| E::invalid("A filter needs a Key."))?;
        let values = input::opt_list(item, "Values", 1, 10)?
            .ok_or_else(|| E::invalid("A filter needs Values."))?;
        let mut vs = Vec::with_capacity(values.len());
        for v in values {
            let s = v
                .as_str()
                .ok_or_else(|| input::constraint("Values", "Member must be a list of strings"))?;
            let allowed = |c: char| c.is_ascii_alphanumeric() || " :_@/+=.-!".contains(c);
            if s.chars().count() > 512 || !s.chars().all(allowed) {
                return Err(input::constraint(
                    "Values",
                    "Member must satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$",
                ));
            }
            vs.push(s.to_owned());
        }
        out.push(Filter { key, values: vs });
    }
    Ok(out)
}

async fn list_secrets(state: &AppState, ctx: &SecretsContext, input: &Value) -> Result<Value, E> {
    let include = input::opt_bool(input, "IncludePlannedDeletion")?.unwrap_or(false);
    let max = input::opt_int(input, "MaxResults", Some((1, 100)))?.unwrap_or(100);
    let after = input::opt_str(input, "NextToken", 1, 4096)?
        .map(after_token)
        .transpose()?;
    let filters = filters(input)?;
    let sort_by = input::opt_enum(
        input,
        "SortBy",
        &[
            "created-date",
            "last-accessed-date",
            "last-changed-date",
            "name",
        ],
    )?;
    let sort_order = input::opt_enum(input, "SortOrder", &["asc", "desc"])?;
    if sort_by.is_some_and(|s| s != "name") || sort_order == Some("desc") {
        return Err(E::invalid(
            "ListSecrets lists secrets by name in ascending order here: SortBy name and SortOrder asc only",
        ));
    }
    allow(state, ctx, SecretsOperation::ListSecrets, "*", &[]).await?;
    let limit = usize::try_from(max).unwrap_or(100);
    let (page, more) = state
        .secrets
        .list(after.as_deref(), limit, include, &filters)
        .await?;
    let mut out = json!({
        "SecretList": page
            .iter()
            .map(|s| describe_json(s, "SecretVersionsToStages"))
            .collect::<Vec<_>>(),
    });
    if let Some(name) = more {
        out["NextToken"] = json!(next_token(&name));
    }
    Ok(out)
}

async fn delete_secret(state: &AppState, ctx: &SecretsContext, input: &Value) -> Result<Value, E> {
    input::secret_id(input)?;
    let window = input::opt_int(input, "RecoveryWindowInDays", None)?;
    let force = input::opt_bool(input, "ForceDeleteWithoutRecovery")?.unwrap_or(false);
    if force && window.is_some() {
        return Err(E::invalid(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    if window.is_some_and(|d| !(7..=30).contains(&d)) {
        return Err(E::invalid(
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
        ));
    }
    let secret = existing(state, ctx, input, Vec::new()).await?;
    let how = if force {
        Deletion::Now
    } else {
        Deletion::After {
            days: window.unwrap_or(DEFAULT_RECOVERY_DAYS),
        }
    };
    let deleted = state.secrets.delete(&secret, how).await?;
    Ok(json!({
        "ARN": deleted.arn,
        "Name": deleted.name,
        "DeletionDate": seconds(deleted.deletion_date),
    }))
}

async fn get_secret_value(
    state: &AppState,
    ctx: &SecretsContext,
    input: &Value,
) -> Result<Value, E> {
    input::secret_id(input)?;
    let version_id = input::version_id(input, "VersionId")?;
    let stage = input::opt_str(input, "VersionStage", 1, 256)?;
    let secret = existing(state, ctx, input, Vec::new()).await?;
    let version = state.secrets.get_value(&secret, version_id, stage).await?;
    let mut out = json!({
        "ARN": version.arn,
        "Name": version.name,
        "VersionId": version.version_id,
        "VersionStages": version.stages,
        "CreatedDate": seconds(version.created_at),
    });
    match &version.value {
        SecretValue::String(s) => out["SecretString"] = json!(s.expose()),
        SecretValue::Binary(b) => {
            out["SecretBinary"] =
                json!(base64::engine::general_purpose::STANDARD.encode(b.expose()))
        }
    }
    Ok(out)
}

async fn tag_resource(state: &AppState, ctx: &SecretsContext, input: &Value) -> Result<Value, E> {
    input::secret_id(input)?;
    let tags = input::tags(input, true)?;
    let secret = existing(state, ctx, input, access::request_tag_context(&tags)).await?;
    state.secrets.tag(&secret, &tags).await?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_in_the_policy_catalog() {
        for op in SecretsOperation::ALL {
            let info = portcullis_policy::catalog::action(op.action());
            assert!(
                info.is_some(),
                "{} is missing from portcullis_policy::catalog::ACTIONS",
                op.action()
            );
        }
        assert_eq!(SecretsOperation::ALL.len(), 7);
        assert_eq!(
            SecretsOperation::GetSecretValue.action(),
            "secretsmanager:GetSecretValue"
        );
    }

    #[test]
    fn next_tokens_are_opaque_and_checked() {
        let t = next_token("ecr-pullthroughcache/hub");
        assert!(!t.contains('/'));
        assert_eq!(after_token(&t).unwrap(), "ecr-pullthroughcache/hub");
        assert_eq!(
            after_token("***").unwrap_err().kind,
            "InvalidNextTokenException"
        );
    }

    #[test]
    fn filters_follow_the_model() {
        let f =
            filters(&json!({ "Filters": [{ "Key": "name", "Values": ["ecr-", "!x"] }] })).unwrap();
        assert_eq!(f[0].key, FilterKey::Name);
        assert_eq!(f[0].values, ["ecr-", "!x"]);
        for bad in [
            json!({ "Filters": [{ "Key": "nope", "Values": ["a"] }] }),
            json!({ "Filters": [{ "Key": "name", "Values": [] }] }),
            json!({ "Filters": [{ "Key": "name", "Values": ["semi;colon"] }] }),
        ] {
            assert_eq!(
                filters(&bad).unwrap_err().kind,
                "ValidationException",
                "{bad}"
            );
        }
        assert_eq!(
            filters(&json!({ "Filters": [{ "Values": ["a"] }] }))
                .unwrap_err()
                .kind,
            "InvalidParameterException"
        );
    }

    #[test]
    fn descriptions_omit_what_a_secret_does_not_have() {
        let s = SecretInfo {
            arn: "arn:aws:secretsmanager:r:1:secret:a-AAAAAA".into(),
            name: "a".into(),
            description: None,
            created_at: 1_500,
            last_changed_at: 2_000,
            deleted_at: None,
            deletion_date: None,
            tags: Vec::new(),
            versions: Vec::new(),
        };
        let v = describe_json(&s, "VersionIdsToStages");
        assert_eq!(
            v,
            json!({"ARN": s.arn, "Name": "a", "LastChangedDate": 2.0, "CreatedDate": 1.5})
        );
    }
}
