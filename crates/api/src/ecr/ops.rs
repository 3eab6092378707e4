//! The ECR operations implemented so far. Each reads its input, authorizes `ecr:<Operation>`
//! against its target, calls the core services and shapes the output as botocore's model does.

use portcullis_auth::Target;
use portcullis_policy::Value as CtxValue;
use portcullis_storage::{DeleteRepository, RepositoryRecord};
use serde_json::{json, Value};

use super::input::{self, check_registry_id, policy_text, repository_name};
use super::{EcrContext, EcrError};
use crate::access;
use crate::AppState;

/// Every operation this server implements, for metrics labels and the compatibility table.
pub const IMPLEMENTED: &[&str] = &[
    "GetAuthorizationToken",
    "CreateRepository",
    "DescribeRepositories",
    "DeleteRepository",
    "SetRepositoryPolicy",
    "GetRepositoryPolicy",
    "DeleteRepositoryPolicy",
    "PutRegistryPolicy",
    "GetRegistryPolicy",
    "DeleteRegistryPolicy",
];

pub fn metric_name(operation: &str) -> &'static str {
    IMPLEMENTED
        .iter()
        .find(|o| **o == operation)
        .copied()
        .unwrap_or("other")
}

pub async fn run(
    state: &AppState,
    ctx: &EcrContext,
    operation: &str,
    input: &Value,
) -> Result<Value, EcrError> {
    check_registry_id(input, &state.iam.options().account_id)?;
    match operation {
        "GetAuthorizationToken" => get_authorization_token(state, ctx).await,
        "CreateRepository" => create_repository(state, ctx, input).await,
        "DescribeRepositories" => describe_repositories(state, ctx, input).await,
        "DeleteRepository" => delete_repository(state, ctx, input).await,
        "SetRepositoryPolicy" => set_repository_policy(state, ctx, input).await,
        "GetRepositoryPolicy" => get_repository_policy(state, ctx, input).await,
        "DeleteRepositoryPolicy" => delete_repository_policy(state, ctx, input).await,
        "PutRegistryPolicy" => put_registry_policy(state, ctx, input).await,
        "GetRegistryPolicy" => get_registry_policy(state, ctx).await,
        "DeleteRegistryPolicy" => delete_registry_policy(state, ctx).await,
        other => Err(EcrError::new(
            "UnknownOperationException",
            format!("operation `{other}` is not available in this registry yet"),
        )),
    }
}

/// Authorizes `ecr:<operation>`; a denial is `AccessDeniedException` with AWS's sentence.
async fn allow(
    state: &AppState,
    ctx: &EcrContext,
    operation: &str,
    target: &Target,
    extra: &[(String, Vec<CtxValue>)],
) -> Result<(), EcrError> {
    let action = format!("ecr:{operation}");
    let outcome = access::check(
        state,
        &ctx.caller,
        &ctx.facts,
        "ecr.amazonaws.com",
        &action,
        target,
        None,
        extra,
    )
    .await?;
    if outcome.allowed() {
        Ok(())
    } else {
        Err(EcrError::new(
            "AccessDeniedException",
            outcome.denial_message(),
        ))
    }
}

fn repo_target(name: &str) -> Target {
    Target::Repository(name.to_owned())
}

fn repository_json(state: &AppState, ctx: &EcrContext, r: &RepositoryRecord) -> Value {
    json!({
        "repositoryArn": state.iam.repository_arn(&r.name),
        "registryId": state.iam.options().account_id,
        "repositoryName": r.name,
        "repositoryUri": format!("{}/{}", ctx.host, r.name),
        "createdAt": r.created_at as f64 / 1000.0,
        "imageTagMutability": "MUTABLE",
        "imageScanningConfiguration": { "scanOnPush": false },
        "encryptionConfiguration": { "encryptionType": "AES256" },
    })
}

fn not_found(state: &AppState, name: &str) -> EcrError {
    EcrError::new(
        "RepositoryNotFoundException",
        format!(
            "The repository with name '{name}' does not exist in the registry with id '{}'",
            state.iam.options().account_id
        ),
    )
}

async fn existing(state: &AppState, name: &str) -> Result<RepositoryRecord, EcrError> {
    match state.iam.repository(name).await? {
        Some(view) => Ok(view.record.clone()),
        None => Err(not_found(state, name)),
    }
}

async fn get_authorization_token(state: &AppState, ctx: &EcrContext) -> Result<Value, EcrError> {
    allow(state, ctx, "GetAuthorizationToken", &Target::Registry, &[]).await?;
    let portcullis_auth::Caller::User { access_key_id, .. } = &ctx.caller else {
        return Err(EcrError::new(
            "AccessDeniedException",
            "anonymous callers get no token",
        ));
    };
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let (token, claims) = state
        .tokens
        .issue(access_key_id, ctx.facts.now_unix, &nonce);
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{token}"));
    Ok(json!({
        "authorizationData": [{
            "authorizationToken": encoded,
            "expiresAt": claims.expires_at,
            "proxyEndpoint": ctx.public_url,
        }]
    }))
}

async fn create_repository(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    let tags = input::tags(input, "tags")?;
    let mut extra = Vec::new();
    if !tags.is_empty() {
        for (k, v) in &tags {
            extra.push((
                format!("aws:RequestTag/{k}"),
                vec![CtxValue::string(v.clone())],
            ));
        }
        extra.push((
            "aws:TagKeys".to_owned(),
            tags.iter()
                .map(|(k, _)| CtxValue::string(k.clone()))
                .collect(),
        ));
    }
    allow(state, ctx, "CreateRepository", &repo_target(name), &extra).await?;
    if !tags.is_empty() {
        allow(state, ctx, "TagResource", &repo_target(name), &extra).await?;
    }
    if !state.iam.create_repository(name, &tags).await? {
        return Err(EcrError::new(
            "RepositoryAlreadyExistsException",
            format!(
                "The repository with name '{name}' already exists in the registry with id '{}'",
                state.iam.options().account_id
            ),
        ));
    }
    let record = existing(state, name).await?;
    Ok(json!({ "repository": repository_json(state, ctx, &record) }))
}

async fn describe_repositories(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let max = input::opt_int(input, "maxResults", 1, 1000)?;
    let next = input::opt_str(input, "nextToken")?;
    let names = match input.get("repositoryNames") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > 100 {
                return Err(EcrError::invalid(
                    "Invalid parameter at 'repositoryNames' failed to satisfy constraint: 'Member must have length between 1 and 100'",
                ));
            }
            let mut names = Vec::new();
            for item in items {
                let n = item.as_str().ok_or_else(|| {
                    EcrError::invalid("Invalid parameter at 'repositoryNames': names are strings")
                })?;
                input::check_repository_name(n, "repositoryNames")?;
                names.push(n.to_owned());
            }
            Some(names)
        }
        Some(_) => {
            return Err(EcrError::invalid(
                "Invalid parameter at 'repositoryNames': must be a list",
            ))
        }
    };
    if let Some(names) = names {
        if max.is_some() || next.is_some() {
            return Err(EcrError::invalid(
                "maxResults and nextToken cannot be used together with repositoryNames",
            ));
        }
        let mut out = Vec::new();
        for name in &names {
            allow(state, ctx, "DescribeRepositories", &repo_target(name), &[]).await?;
            let record = existing(state, name).await?;
            out.push(repository_json(state, ctx, &record));
        }
        return Ok(json!({ "repositories": out }));
    }
    // Listing: only the repositories the caller may describe, like the catalog.
    let limit = max.unwrap_or(1000) as usize;
    let mut cursor = next.map(str::to_owned);
    let mut out = Vec::new();
    let mut more = None;
    'pages: loop {
        let page = state
            .iam
            .repository_records(cursor.as_deref(), 1000)
            .await?;
        let exhausted = page.len() < 1000;
        for record in page {
            cursor = Some(record.name.clone());
            let outcome = portcullis_auth::authorize(
                &state.iam,
                &ctx.caller,
                "ecr:DescribeRepositories",
                &repo_target(&record.name),
                &ctx.facts,
                &[],
            )
            .await?;
            if !outcome.allowed() {
                continue;
            }
            if out.len() == limit {
                more = out
                    .last()
                    .and_then(|r: &Value| r["repositoryName"].as_str())
                    .map(str::to_owned);
                break 'pages;
            }
            out.push(repository_json(state, ctx, &record));
        }
        if exhausted {
            break;
        }
    }
    let mut result = json!({ "repositories": out });
    if let Some(token) = more {
        result["nextToken"] = json!(token);
    }
    Ok(result)
}

async fn delete_repository(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    let force = input::opt_bool(input, "force")?.unwrap_or(false);
    allow(state, ctx, "DeleteRepository", &repo_target(name), &[]).await?;
    let record = existing(state, name).await?;
    match state.iam.delete_repository(name, force).await? {
        DeleteRepository::Deleted => Ok(json!({ "repository": repository_json(state, ctx, &record) })),
        DeleteRepository::NotFound => Err(not_found(state, name)),
        DeleteRepository::NotEmpty => Err(EcrError::new(
            "RepositoryNotEmptyException",
            format!(
                "The repository with name '{name}' in registry with id '{}' cannot be deleted because it still contains images",
                state.iam.options().account_id
            ),
        )),
    }
}

fn policy_json(state: &AppState, name: &str, text: &str) -> Value {
    json!({
        "registryId": state.iam.options().account_id,
        "repositoryName": name,
        "policyText": text,
    })
}

async fn set_repository_policy(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    let text = policy_text(input, "policyText")?;
    // `force` only skips a lock-out check that Portcullis does not make; accepted as given.
    let _force = input::opt_bool(input, "force")?;
    allow(state, ctx, "SetRepositoryPolicy", &repo_target(name), &[]).await?;
    existing(state, name).await?;
    if !state.iam.set_repository_policy(name, Some(text)).await? {
        return Err(not_found(state, name));
    }
    Ok(policy_json(state, name, text))
}

async fn get_repository_policy(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    allow(state, ctx, "GetRepositoryPolicy", &repo_target(name), &[]).await?;
    let record = existing(state, name).await?;
    match record.policy {
        Some(text) => Ok(policy_json(state, name, &text)),
        None => Err(EcrError::new(
            "RepositoryPolicyNotFoundException",
            format!(
                "Repository policy does not exist for the repository with name '{name}' in the registry with id '{}'",
                state.iam.options().account_id
            ),
        )),
    }
}

async fn delete_repository_policy(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    allow(
        state,
        ctx,
        "DeleteRepositoryPolicy",
        &repo_target(name),
        &[],
    )
    .await?;
    let record = existing(state, name).await?;
    let Some(text) = record.policy else {
        return Err(EcrError::new(
            "RepositoryPolicyNotFoundException",
            format!(
                "Repository policy does not exist for the repository with name '{name}' in the registry with id '{}'",
                state.iam.options().account_id
            ),
        ));
    };
    state.iam.set_repository_policy(name, None).await?;
    Ok(policy_json(state, name, &text))
}

fn registry_policy_json(state: &AppState, text: &str) -> Value {
    json!({ "registryId": state.iam.options().account_id, "policyText": text })
}

fn no_registry_policy(state: &AppState) -> EcrError {
    EcrError::new(
        "RegistryPolicyNotFoundException",
        format!(
            "Registry policy does not exist in the registry with id '{}'",
            state.iam.options().account_id
        ),
    )
}

async fn put_registry_policy(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let text = policy_text(input, "policyText")?;
    allow(state, ctx, "PutRegistryPolicy", &Target::Registry, &[]).await?;
    state.iam.set_registry_policy(Some(text)).await?;
    Ok(registry_policy_json(state, text))
}

async fn get_registry_policy(state: &AppState, ctx: &EcrContext) -> Result<Value, EcrError> {
    allow(state, ctx, "GetRegistryPolicy", &Target::Registry, &[]).await?;
    match state.iam.registry_policy_text().await? {
        Some(text) => Ok(registry_policy_json(state, &text)),
        None => Err(no_registry_policy(state)),
    }
}

async fn delete_registry_policy(state: &AppState, ctx: &EcrContext) -> Result<Value, EcrError> {
    allow(state, ctx, "DeleteRegistryPolicy", &Target::Registry, &[]).await?;
    let Some(text) = state.iam.registry_policy_text().await? else {
        return Err(no_registry_policy(state));
    };
    state.iam.set_registry_policy(None).await?;
    Ok(registry_policy_json(state, &text))
}
