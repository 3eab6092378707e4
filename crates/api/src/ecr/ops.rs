//! The ECR operations implemented so far. Each reads its input, authorizes `ecr:<Operation>`
//! against its target, calls the core services and shapes the output as botocore's model does.

use portcullis_auth::Target;
use portcullis_core::repository::{Encryption, RepositorySettings, TagMutability};
use portcullis_core::{Deletion, Repository, RepositorySpec};
use portcullis_oci::RepoName;
use portcullis_policy::Value as CtxValue;
use serde_json::{json, Value};

use super::cache_rules;
use super::input::{self, check_registry_id, policy_text, repository_name};
use super::{admin, images, layers, EcrContext, EcrError};
use crate::access;
use crate::AppState;

crate::operation::operations! {
    /// Every operation of the ECR API this server serves; `ecr:<Name>` authorizes it.
    pub enum EcrOperation: "ecr" {
        GetAuthorizationToken,
        CreateRepository,
        DescribeRepositories,
        DeleteRepository,
        SetRepositoryPolicy,
        GetRepositoryPolicy,
        DeleteRepositoryPolicy,
        PutRegistryPolicy,
        GetRegistryPolicy,
        DeleteRegistryPolicy,
        DescribeRegistry,
        PutImage,
        BatchGetImage,
        BatchDeleteImage,
        ListImages,
        DescribeImages,
        ListImageReferrers,
        BatchCheckLayerAvailability,
        InitiateLayerUpload,
        UploadLayerPart,
        CompleteLayerUpload,
        GetDownloadUrlForLayer,
        PutImageTagMutability,
        PutLifecyclePolicy,
        GetLifecyclePolicy,
        DeleteLifecyclePolicy,
        StartLifecyclePolicyPreview,
        GetLifecyclePolicyPreview,
        TagResource,
        UntagResource,
        ListTagsForResource,
        CreateRepositoryCreationTemplate,
        DescribeRepositoryCreationTemplates,
        UpdateRepositoryCreationTemplate,
        DeleteRepositoryCreationTemplate,
        GetAccountSetting,
        PutAccountSetting,
        CreatePullThroughCacheRule,
        DescribePullThroughCacheRules,
        UpdatePullThroughCacheRule,
        DeletePullThroughCacheRule,
    }
}

/// Operations of the ECR model this server does not serve yet, with the feature they belong
/// to and whether the model lists `InvalidParameterException` for them (else the refusal is a
/// `ValidationException`, so that every answer is one of the operation's modelled errors).
pub const NOT_YET: &[(&str, &str, bool)] = &[
    ("PutImageScanningConfiguration", "image scanning", true),
    (
        "BatchGetRepositoryScanningConfiguration",
        "image scanning",
        true,
    ),
    ("StartImageScan", "image scanning", true),
    ("DescribeImageScanFindings", "image scanning", true),
    ("PutRegistryScanningConfiguration", "image scanning", true),
    ("GetRegistryScanningConfiguration", "image scanning", true),
    ("ValidatePullThroughCacheRule", "pull-through cache", true),
    ("PutReplicationConfiguration", "replication", true),
    ("DescribeImageReplicationStatus", "replication", true),
    ("StartReplicationBackfill", "replication", true),
    ("StopReplicationBackfill", "replication", true),
    ("ListReplicationBackfills", "replication", true),
    ("DescribeReplicationBackfillResults", "replication", true),
    ("PutSigningConfiguration", "image signing", true),
    ("GetSigningConfiguration", "image signing", true),
    ("DeleteSigningConfiguration", "image signing", false),
    ("DescribeImageSigningStatus", "image signing", true),
    ("UpdateImageStorageClass", "archive storage class", true),
    (
        "RegisterPullTimeUpdateExclusion",
        "pull-time update exclusions",
        true,
    ),
    (
        "DeregisterPullTimeUpdateExclusion",
        "pull-time update exclusions",
        true,
    ),
    (
        "ListPullTimeUpdateExclusions",
        "pull-time update exclusions",
        true,
    ),
];

/// Runs the operation of `ctx` (which the dispatcher parsed from `X-Amz-Target`).
pub async fn run(state: &AppState, ctx: &EcrContext, input: &Value) -> Result<Value, EcrError> {
    check_registry_id(input, &state.iam.options().account_id)?;
    match ctx.operation {
        EcrOperation::GetAuthorizationToken => get_authorization_token(state, ctx, input).await,
        EcrOperation::CreateRepository => create_repository(state, ctx, input).await,
        EcrOperation::DescribeRepositories => describe_repositories(state, ctx, input).await,
        EcrOperation::DeleteRepository => delete_repository(state, ctx, input).await,
        EcrOperation::SetRepositoryPolicy => set_repository_policy(state, ctx, input).await,
        EcrOperation::GetRepositoryPolicy => get_repository_policy(state, ctx, input).await,
        EcrOperation::DeleteRepositoryPolicy => delete_repository_policy(state, ctx, input).await,
        EcrOperation::PutRegistryPolicy => put_registry_policy(state, ctx, input).await,
        EcrOperation::GetRegistryPolicy => get_registry_policy(state, ctx).await,
        EcrOperation::DeleteRegistryPolicy => delete_registry_policy(state, ctx).await,
        EcrOperation::DescribeRegistry => admin::describe_registry(state, ctx).await,
        EcrOperation::PutImage => images::put_image(state, ctx, input).await,
        EcrOperation::BatchGetImage => images::batch_get_image(state, ctx, input).await,
        EcrOperation::BatchDeleteImage => images::batch_delete_image(state, ctx, input).await,
        EcrOperation::ListImages => images::list_images(state, ctx, input).await,
        EcrOperation::DescribeImages => images::describe_images(state, ctx, input).await,
        EcrOperation::ListImageReferrers => images::list_image_referrers(state, ctx, input).await,
        EcrOperation::BatchCheckLayerAvailability => layers::batch_check(state, ctx, input).await,
        EcrOperation::InitiateLayerUpload => layers::initiate(state, ctx, input).await,
        EcrOperation::UploadLayerPart => layers::upload_part(state, ctx, input).await,
        EcrOperation::CompleteLayerUpload => layers::complete(state, ctx, input).await,
        EcrOperation::GetDownloadUrlForLayer => layers::download_url(state, ctx, input).await,
        EcrOperation::PutImageTagMutability => {
            admin::put_image_tag_mutability(state, ctx, input).await
        }
        EcrOperation::PutLifecyclePolicy => admin::put_lifecycle_policy(state, ctx, input).await,
        EcrOperation::GetLifecyclePolicy => admin::get_lifecycle_policy(state, ctx, input).await,
        EcrOperation::DeleteLifecyclePolicy => {
            admin::delete_lifecycle_policy(state, ctx, input).await
        }
        EcrOperation::StartLifecyclePolicyPreview => {
            admin::start_lifecycle_policy_preview(state, ctx, input).await
        }
        EcrOperation::GetLifecyclePolicyPreview => {
            admin::get_lifecycle_policy_preview(state, ctx, input).await
        }
        EcrOperation::TagResource => admin::tag_resource(state, ctx, input).await,
        EcrOperation::UntagResource => admin::untag_resource(state, ctx, input).await,
        EcrOperation::ListTagsForResource => admin::list_tags_for_resource(state, ctx, input).await,
        EcrOperation::CreateRepositoryCreationTemplate => {
            admin::create_template(state, ctx, input).await
        }
        EcrOperation::DescribeRepositoryCreationTemplates => {
            admin::describe_templates(state, ctx, input).await
        }
        EcrOperation::UpdateRepositoryCreationTemplate => {
            admin::update_template(state, ctx, input).await
        }
        EcrOperation::DeleteRepositoryCreationTemplate => {
            admin::delete_template(state, ctx, input).await
        }
        EcrOperation::GetAccountSetting => admin::get_account_setting(state, ctx, input).await,
        EcrOperation::PutAccountSetting => admin::put_account_setting(state, ctx, input).await,
        EcrOperation::CreatePullThroughCacheRule => cache_rules::create(state, ctx, input).await,
        EcrOperation::DescribePullThroughCacheRules => {
            cache_rules::describe(state, ctx, input).await
        }
        EcrOperation::UpdatePullThroughCacheRule => cache_rules::update(state, ctx, input).await,
        EcrOperation::DeletePullThroughCacheRule => cache_rules::delete(state, ctx, input).await,
    }
}

/// The answer to an `X-Amz-Target` this server does not serve: a planned operation of the
/// model says so, anything else is not an ECR operation at all.
pub fn not_served(name: &str) -> EcrError {
    match NOT_YET.iter().find(|(n, _, _)| *n == name) {
        Some((name, feature, invalid_parameter)) => EcrError::new(
            if *invalid_parameter {
                "InvalidParameterException"
            } else {
                "ValidationException"
            },
            format!("{name} is not available in Portcullis yet ({feature} is planned)"),
        ),
        None => EcrError::new(
            "UnknownOperationException",
            format!("`{name}` is not an operation of the ECR API"),
        ),
    }
}

/// Authorizes the request's own operation on `target`; a denial is `AccessDeniedException`
/// with AWS's sentence.
pub(super) async fn allow(
    state: &AppState,
    ctx: &EcrContext,
    target: &Target,
    extra: &[(String, Vec<CtxValue>)],
) -> Result<(), EcrError> {
    allow_also(state, ctx, ctx.operation, target, extra).await
}

/// Authorizes a second action one operation needs (`ecr:TagResource` for a
/// `CreateRepository` that carries tags), like [`allow`].
pub(super) async fn allow_also(
    state: &AppState,
    ctx: &EcrContext,
    operation: EcrOperation,
    target: &Target,
    extra: &[(String, Vec<CtxValue>)],
) -> Result<(), EcrError> {
    let outcome = decide(state, ctx, operation, target, extra).await?;
    if outcome.allowed() {
        Ok(())
    } else {
        Err(EcrError::new(
            "AccessDeniedException",
            outcome.denial_message(),
        ))
    }
}

/// The one place an ECR operation is put before the policy engine (and audited).
pub(super) async fn decide(
    state: &AppState,
    ctx: &EcrContext,
    operation: EcrOperation,
    target: &Target,
    extra: &[(String, Vec<CtxValue>)],
) -> Result<portcullis_auth::Outcome, EcrError> {
    let outcome = access::check(
        state,
        &ctx.caller,
        &ctx.facts,
        "ecr.amazonaws.com",
        operation.action(),
        target,
        None,
        extra,
    )
    .await?;
    ctx.decided.mark();
    Ok(outcome)
}

pub(super) fn repo_target(name: &str) -> Target {
    Target::Repository(name.to_owned())
}

pub(super) fn mutability_filters_json(settings: &RepositorySettings) -> Option<Value> {
    if settings.mutability_exclusions.is_empty() {
        return None;
    }
    Some(Value::Array(
        settings
            .mutability_exclusions
            .iter()
            .map(|f| json!({ "filterType": "WILDCARD", "filter": f }))
            .collect(),
    ))
}

pub(super) fn encryption_json(e: &Encryption) -> Value {
    let mut v = json!({ "encryptionType": e.encryption_type });
    if let Some(k) = &e.kms_key {
        v["kmsKey"] = json!(k);
    }
    v
}

fn repository_json(state: &AppState, ctx: &EcrContext, r: &Repository) -> Value {
    let settings = &r.settings;
    let mut v = json!({
        "repositoryArn": r.arn,
        "registryId": state.iam.options().account_id,
        "repositoryName": r.name,
        "repositoryUri": format!("{}/{}", ctx.host, r.name),
        "createdAt": r.created_at as f64 / 1000.0,
        "imageTagMutability": settings.image_tag_mutability.as_str(),
        "imageScanningConfiguration": { "scanOnPush": settings.scan_on_push },
        "encryptionConfiguration": encryption_json(&settings.encryption),
    });
    if let Some(f) = mutability_filters_json(settings) {
        v["imageTagMutabilityExclusionFilters"] = f;
    }
    v
}

/// `imageTagMutability` with its exclusion filters, checked together: filters only with the
/// `*_WITH_EXCLUSION` forms, and those forms only with filters.
pub(super) fn mutability_input(
    input: &Value,
) -> Result<Option<(TagMutability, Vec<String>)>, EcrError> {
    let filters = input::exclusion_filters(input)?;
    let Some(m) = input::opt_enum(input, "imageTagMutability", &TagMutability::NAMES)? else {
        if !filters.is_empty() {
            return Err(EcrError::invalid(
                "imageTagMutabilityExclusionFilters need an imageTagMutability of IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION",
            ));
        }
        return Ok(None);
    };
    let m = TagMutability::parse(m).unwrap_or_default();
    if m.takes_filters() && filters.is_empty() {
        return Err(EcrError::invalid(format!(
            "imageTagMutability {} needs imageTagMutabilityExclusionFilters",
            m.as_str()
        )));
    }
    if !m.takes_filters() && !filters.is_empty() {
        return Err(EcrError::invalid(format!(
            "imageTagMutabilityExclusionFilters are not allowed with imageTagMutability {}",
            m.as_str()
        )));
    }
    Ok(Some((m, filters)))
}

/// `encryptionConfiguration`: AES256 (default), KMS or KMS_DSSE with an optional key.
pub(super) fn encryption_input(input: &Value) -> Result<Option<Encryption>, EcrError> {
    let Some(e) = input::opt_object(input, "encryptionConfiguration")? else {
        return Ok(None);
    };
    let kind =
        input::opt_enum(e, "encryptionType", &["AES256", "KMS", "KMS_DSSE"])?.ok_or_else(|| {
            EcrError::invalid("Invalid parameter at 'encryptionType': member must not be null")
        })?;
    let kms_key = input::opt_str(e, "kmsKey")?;
    if let Some(k) = kms_key {
        if kind == "AES256" {
            return Err(EcrError::invalid(
                "a kmsKey can only be given with encryptionType KMS or KMS_DSSE",
            ));
        }
        input::check_len(k, "kmsKey", 1, 2048)?;
    }
    Ok(Some(Encryption {
        encryption_type: kind.to_owned(),
        kms_key: kms_key.map(str::to_owned),
    }))
}

pub(super) fn not_found(state: &AppState, name: &str) -> EcrError {
    EcrError::new(
        "RepositoryNotFoundException",
        format!(
            "The repository with name '{name}' does not exist in the registry with id '{}'",
            state.iam.options().account_id
        ),
    )
}

pub(super) async fn existing(
    state: &AppState,
    name: &str,
) -> Result<std::sync::Arc<Repository>, EcrError> {
    state
        .repositories
        .get(name)
        .await?
        .ok_or_else(|| not_found(state, name))
}

async fn get_authorization_token(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    // `registryIds` is deprecated but still sent by old clients: one entry per id, and every id
    // must be this registry.
    let entries = match input::opt_list(input, "registryIds", 1, 10)? {
        None => 1,
        Some(ids) => {
            let account = &state.iam.options().account_id;
            for id in ids {
                input::check_registry_id_value(id, "registryIds")?;
                if id.as_str() != Some(account.as_str()) {
                    return Err(EcrError::invalid(format!(
                        "Invalid parameter at 'registryIds': registry {id} is not this registry ('{account}')"
                    )));
                }
            }
            ids.len()
        }
    };
    allow(state, ctx, &Target::Registry, &[]).await?;
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
    let entry = json!({
        "authorizationToken": encoded,
        "expiresAt": claims.expires_at,
        "proxyEndpoint": ctx.public_url,
    });
    Ok(json!({ "authorizationData": vec![entry; entries] }))
}

async fn create_repository(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    let tags = input::tags(input, "tags", "InvalidTagParameterException")?;
    let mut settings = RepositorySettings::default();
    if let Some((m, filters)) = mutability_input(input)? {
        settings.image_tag_mutability = m;
        settings.mutability_exclusions = filters;
    }
    if let Some(e) = encryption_input(input)? {
        settings.encryption = e;
    }
    if let Some(scan) = input::opt_object(input, "imageScanningConfiguration")? {
        settings.scan_on_push = input::opt_bool(scan, "scanOnPush")?.unwrap_or(false);
    }
    let extra = access::request_tag_context(&tags);
    allow(state, ctx, &repo_target(name), &extra).await?;
    if !tags.is_empty() {
        allow_also(
            state,
            ctx,
            EcrOperation::TagResource,
            &repo_target(name),
            &extra,
        )
        .await?;
    }
    let spec = RepositorySpec {
        tags,
        settings,
        ..Default::default()
    };
    let Some(created) = state.repositories.create(name, &spec).await? else {
        return Err(EcrError::new(
            "RepositoryAlreadyExistsException",
            format!(
                "The repository with name '{name}' already exists in the registry with id '{}'",
                state.iam.options().account_id
            ),
        ));
    };
    Ok(json!({ "repository": repository_json(state, ctx, &created) }))
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
            allow(state, ctx, &repo_target(name), &[]).await?;
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
        let page = state.repositories.list(cursor.as_deref(), 1000).await?;
        let exhausted = page.len() < 1000;
        for record in page {
            cursor = Some(record.name.clone());
            let outcome = decide(
                state,
                ctx,
                EcrOperation::DescribeRepositories,
                &repo_target(&record.name),
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
    // Every repository listed was decided on its own; a registry with nothing past the cursor
    // has nothing to decide and reveals nothing.
    ctx.decided.mark();
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
    allow(state, ctx, &repo_target(name), &[]).await?;
    match state.repositories.delete(name, force).await? {
        Deletion::Deleted(record) => Ok(json!({ "repository": repository_json(state, ctx, &record) })),
        Deletion::NotFound => Err(not_found(state, name)),
        Deletion::NotEmpty => Err(EcrError::new(
            "RepositoryNotEmptyException",
            format!(
                "The repository with name '{name}' in registry with id '{}' cannot be deleted because it still contains images",
                state.iam.options().account_id
            ),
        )),
    }
}

/// Reads `repositoryName`, authorizes `ecr:<operation>` on it and checks that it exists: the
/// prologue of every operation on one repository's images and layers.
pub(super) async fn require_repository(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<RepoName, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    allow(state, ctx, &repo_target(name), &[]).await?;
    existing(state, name).await?;
    repo_name(name)
}

/// A core error of an operation on `repo`, with the repository named the way ECR names it.
pub(super) fn repository_error(
    state: &AppState,
    repo: &RepoName,
    e: portcullis_core::Error,
) -> EcrError {
    match e {
        portcullis_core::Error::NameUnknown(_) => not_found(state, repo.as_str()),
        other => EcrError::from(other),
    }
}

pub(super) fn repo_name(name: &str) -> Result<RepoName, EcrError> {
    name.parse::<RepoName>()
        .map_err(|e| EcrError::invalid(e.to_string()))
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
    let force = input::opt_bool(input, "force")?.unwrap_or(false);
    allow(state, ctx, &repo_target(name), &[]).await?;
    existing(state, name).await?;
    let candidate =
        portcullis_core::iam::parse_policy(text, portcullis_policy::PolicyKind::Repository)?;
    // ECR's lock-out check: a policy that would stop the caller from setting the next policy
    // needs `force`.
    if !force {
        let after = portcullis_auth::authorize::authorize_with_repository_policy(
            &state.iam,
            &state.repositories,
            &ctx.caller,
            "ecr:SetRepositoryPolicy",
            &repo_target(name),
            &ctx.facts,
            Some(&candidate),
        )
        .await?;
        if !after.allowed() {
            return Err(EcrError::invalid(format!(
                "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'The repository policy would prevent you from setting another policy in the future ({}); set force to apply it anyway'",
                after.denial_message()
            )));
        }
    }
    if !state.repositories.set_policy(name, Some(text)).await? {
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
    allow(state, ctx, &repo_target(name), &[]).await?;
    let record = existing(state, name).await?;
    match &record.policy_text {
        Some(text) => Ok(policy_json(state, name, text)),
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
    allow(state, ctx, &repo_target(name), &[]).await?;
    let record = existing(state, name).await?;
    let Some(text) = &record.policy_text else {
        return Err(EcrError::new(
            "RepositoryPolicyNotFoundException",
            format!(
                "Repository policy does not exist for the repository with name '{name}' in the registry with id '{}'",
                state.iam.options().account_id
            ),
        ));
    };
    state.repositories.set_policy(name, None).await?;
    Ok(policy_json(state, name, text))
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
    allow(state, ctx, &Target::Registry, &[]).await?;
    state.repositories.set_registry_policy(Some(text)).await?;
    Ok(registry_policy_json(state, text))
}

async fn get_registry_policy(state: &AppState, ctx: &EcrContext) -> Result<Value, EcrError> {
    allow(state, ctx, &Target::Registry, &[]).await?;
    match state.repositories.registry_policy_text().await? {
        Some(text) => Ok(registry_policy_json(state, &text)),
        None => Err(no_registry_policy(state)),
    }
}

async fn delete_registry_policy(state: &AppState, ctx: &EcrContext) -> Result<Value, EcrError> {
    allow(state, ctx, &Target::Registry, &[]).await?;
    let Some(text) = state.repositories.registry_policy_text().await? else {
        return Err(no_registry_policy(state));
    };
    state.repositories.set_registry_policy(None).await?;
    Ok(registry_policy_json(state, &text))
}

#[cfg(test)]
mod tests {
    use super::{EcrOperation, NOT_YET};

    #[test]
    fn every_operation_is_in_the_policy_catalog_and_served_once() {
        for op in EcrOperation::ALL {
            assert!(
                portcullis_policy::catalog::action(op.action()).is_some(),
                "{} is missing from portcullis_policy::catalog::ACTIONS",
                op.action()
            );
            assert!(
                !NOT_YET.iter().any(|(n, _, _)| *n == op.name()),
                "{op} is both served and listed as not yet"
            );
        }
    }
}
