//! Registry and repository administration: DescribeRegistry, tag mutability, lifecycle
//! policies and their previews, resource tags, repository creation templates and account
//! settings.

use portcullis_auth::Target;
use portcullis_core::lifecycle::{self, TagStatus};
use portcullis_core::registry::preview::{
    ImageSelector, PreviewImage, PreviewLookup, PreviewQuery, PreviewStart,
};
use portcullis_core::repositories::{MAX_RESOURCE_TAGS, MAX_TEMPLATES};
use portcullis_core::repository::{CreationTemplate, ExclusionFilter, ResourceTag, TagMutability};
use portcullis_core::{AccountSetting, Tagging, Template, TemplateCreation};
use portcullis_policy::PolicyKind;
use serde_json::{json, Value};

use super::images::{self, page};
use super::input::{self, repository_name};
use super::ops::{
    allow, encryption_input, existing, mutability_filters_json, mutability_input, not_found,
    repo_target,
};
use super::{EcrContext, EcrError};
use crate::access;
use crate::AppState;

fn account(state: &AppState) -> &str {
    &state.iam.options().account_id
}

pub async fn describe_registry(state: &AppState, ctx: &EcrContext) -> Result<Value, EcrError> {
    allow(state, ctx, &Target::Registry, &[]).await?;
    Ok(json!({
        "registryId": account(state),
        "replicationConfiguration": { "rules": [] },
    }))
}

pub async fn put_image_tag_mutability(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    let (mutability, filters) = mutability_input(input)?.ok_or_else(|| {
        EcrError::invalid(
            "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must not be null'",
        )
    })?;
    allow(state, ctx, &repo_target(name), &[]).await?;
    let settings = state
        .repositories
        .update_settings(name, |s| {
            s.image_tag_mutability = mutability;
            s.mutability_exclusions = filters;
        })
        .await?
        .ok_or_else(|| not_found(state, name))?;
    let mut out = json!({
        "registryId": account(state),
        "repositoryName": name,
        "imageTagMutability": mutability.as_str(),
    });
    if let Some(f) = mutability_filters_json(&settings) {
        out["imageTagMutabilityExclusionFilters"] = f;
    }
    Ok(out)
}

fn lifecycle_text<'a>(input: &'a Value, member: &str) -> Result<&'a str, EcrError> {
    let text = input::req_str(input, member)?;
    input::check_len(text, member, 100, 30_720)?;
    check_lifecycle(text)?;
    Ok(text)
}

fn check_lifecycle(text: &str) -> Result<(), EcrError> {
    lifecycle::parse(text).map(|_| ()).map_err(|e| {
        EcrError::invalid(format!(
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: {e}'"
        ))
    })
}

fn no_lifecycle_policy(state: &AppState, name: &str) -> EcrError {
    EcrError::new(
        "LifecyclePolicyNotFoundException",
        format!(
            "Lifecycle policy does not exist for the repository with name '{name}' in the registry with id '{}'",
            account(state)
        ),
    )
}

pub async fn put_lifecycle_policy(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    let text = lifecycle_text(input, "lifecyclePolicyText")?;
    allow(state, ctx, &repo_target(name), &[]).await?;
    existing(state, name).await?;
    if !state
        .repositories
        .set_lifecycle_policy(name, Some(text))
        .await?
    {
        return Err(not_found(state, name));
    }
    Ok(json!({
        "registryId": account(state),
        "repositoryName": name,
        "lifecyclePolicyText": text,
    }))
}

fn lifecycle_json(state: &AppState, name: &str, text: &str, evaluated: Option<i64>) -> Value {
    let mut v = json!({
        "registryId": account(state),
        "repositoryName": name,
        "lifecyclePolicyText": text,
    });
    // ECR answers 0 (the epoch) for a policy that was never evaluated.
    v["lastEvaluatedAt"] = json!(evaluated.unwrap_or(0) as f64 / 1000.0);
    v
}

pub async fn get_lifecycle_policy(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    allow(state, ctx, &repo_target(name), &[]).await?;
    match state.repositories.lifecycle_state(name).await? {
        Some((Some(text), evaluated)) => Ok(lifecycle_json(state, name, &text, evaluated)),
        Some((None, _)) => Err(no_lifecycle_policy(state, name)),
        None => Err(not_found(state, name)),
    }
}

pub async fn delete_lifecycle_policy(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    allow(state, ctx, &repo_target(name), &[]).await?;
    let (text, evaluated) = match state.repositories.lifecycle_state(name).await? {
        Some((Some(text), evaluated)) => (text, evaluated),
        Some((None, _)) => return Err(no_lifecycle_policy(state, name)),
        None => return Err(not_found(state, name)),
    };
    state.repositories.set_lifecycle_policy(name, None).await?;
    Ok(lifecycle_json(state, name, &text, evaluated))
}

// ---- lifecycle policy previews ----

/// What StartLifecyclePolicyPreview and GetLifecyclePolicyPreview report. A preview is
/// complete when Start answers (core's `registry::preview`), so neither ever says IN_PROGRESS,
/// and LifecyclePolicyPreviewInProgressException, which the model lists for a Start while one
/// runs, is never sent: two Starts at once each store a whole preview and the later one stays.
const PREVIEW_COMPLETE: &str = "COMPLETE";

fn no_preview(state: &AppState, name: &str) -> EcrError {
    EcrError::new(
        "LifecyclePolicyPreviewNotFoundException",
        format!(
            "There is no lifecycle policy preview for the repository with name '{name}' in the registry with id '{}'; start one with StartLifecyclePolicyPreview",
            account(state)
        ),
    )
}

pub async fn start_lifecycle_policy_preview(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    let candidate = match input::opt_str(input, "lifecyclePolicyText")? {
        Some(_) => Some(lifecycle_text(input, "lifecyclePolicyText")?),
        None => None,
    };
    allow(state, ctx, &repo_target(name), &[]).await?;
    let now_ms = ctx.facts.now_unix.saturating_mul(1000);
    match state
        .registry
        .start_lifecycle_preview(name, candidate, now_ms)
        .await?
    {
        PreviewStart::Complete { policy_text, .. } => Ok(json!({
            "registryId": account(state),
            "repositoryName": name,
            "lifecyclePolicyText": policy_text,
            "status": PREVIEW_COMPLETE,
        })),
        PreviewStart::NameUnknown => Err(not_found(state, name)),
        PreviewStart::NoPolicy => Err(no_lifecycle_policy(state, name)),
        PreviewStart::BrokenPolicy(reason) => Err(EcrError::invalid(format!(
            "Invalid parameter at 'lifecyclePolicyText': the lifecycle policy stored for the repository with name '{name}' does not parse ({reason}); give one in lifecyclePolicyText, or put a valid one with PutLifecyclePolicy"
        ))),
    }
}

fn preview_result_json(r: &PreviewImage) -> Value {
    let mut v = json!({
        "imageDigest": r.digest.to_string(),
        "imagePushedAt": r.pushed_at as f64 / 1000.0,
        "action": { "type": "EXPIRE" },
        "appliedRulePriority": r.applied_rule_priority,
    });
    if !r.tags.is_empty() {
        v["imageTags"] = json!(r.tags);
    }
    v
}

pub async fn get_lifecycle_policy_preview(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = repository_name(input, "repositoryName")?;
    let max = input::opt_int(input, "maxResults", 1, 100)?;
    let next = input::opt_str(input, "nextToken")?;
    let tag_status = match input::opt_object(input, "filter")? {
        None => TagStatus::Any,
        Some(f) => match input::opt_enum(f, "tagStatus", &["TAGGED", "UNTAGGED", "ANY"])? {
            Some("TAGGED") => TagStatus::Tagged,
            Some("UNTAGGED") => TagStatus::Untagged,
            _ => TagStatus::Any,
        },
    };
    let selectors = match input::image_ids(input, "imageIds", 1, 100)? {
        None => None,
        Some(_) if max.is_some() || next.is_some() => {
            return Err(EcrError::invalid(
                "maxResults and nextToken cannot be used together with imageIds",
            ))
        }
        Some(ids) => Some(
            ids.iter()
                .map(|id| {
                    images::parse_id(id)
                        .map(|(tag, digest)| ImageSelector { tag, digest })
                        .map_err(|e| EcrError::invalid(e.reason()))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let after = next.map(images::token_key).transpose()?;
    allow(state, ctx, &repo_target(name), &[]).await?;
    let query = PreviewQuery {
        tag_status,
        images: selectors.as_deref(),
        after: after.as_deref(),
        // The model's documented default page.
        limit: max.unwrap_or(100) as usize,
    };
    let page = match state.registry.lifecycle_preview(name, &query).await? {
        PreviewLookup::Found(page) => page,
        PreviewLookup::NameUnknown => return Err(not_found(state, name)),
        PreviewLookup::NotStarted => return Err(no_preview(state, name)),
    };
    let mut out = json!({
        "registryId": account(state),
        "repositoryName": name,
        "lifecyclePolicyText": page.policy_text,
        "status": PREVIEW_COMPLETE,
        "previewResults": page.results.iter().map(preview_result_json).collect::<Vec<_>>(),
        "summary": { "expiringImageTotalCount": page.expiring_total },
    });
    if let Some(key) = page.next {
        out["nextToken"] = json!(images::token_for(&key));
    }
    Ok(out)
}

/// The repository named by a `resourceArn` of this registry.
fn arn_repository<'a>(state: &AppState, arn: &'a str) -> Result<&'a str, EcrError> {
    let prefix = format!(
        "arn:aws:ecr:{}:{}:repository/",
        state.iam.options().region,
        account(state)
    );
    let name = arn.strip_prefix(&prefix).ok_or_else(|| {
        EcrError::invalid(format!(
            "Invalid parameter at 'resourceArn': '{arn}' is not the ARN of a repository of this registry ({prefix}<name>)"
        ))
    })?;
    input::check_repository_name(name, "resourceArn")?;
    Ok(name)
}

pub async fn tag_resource(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = arn_repository(state, input::req_str(input, "resourceArn")?)?;
    input::req_list(input, "tags", 0, usize::MAX)?;
    let tags = input::tags(input, "tags", "InvalidTagParameterException")?;
    let extra = access::request_tag_context(&tags);
    allow(state, ctx, &repo_target(name), &extra).await?;
    match state.repositories.tag(name, &tags).await? {
        Tagging::Done => Ok(json!({})),
        Tagging::NotFound => Err(not_found(state, name)),
        Tagging::TooMany => Err(EcrError::new(
            "TooManyTagsException",
            format!("a repository can have at most {MAX_RESOURCE_TAGS} tags"),
        )),
    }
}

pub async fn untag_resource(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = arn_repository(state, input::req_str(input, "resourceArn")?)?;
    let keys: Vec<String> = input::req_string_list(input, "tagKeys", 0, usize::MAX, 1..=128)?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let extra = access::tag_keys_context(keys.iter().map(String::as_str));
    allow(state, ctx, &repo_target(name), &extra).await?;
    if !state.repositories.untag(name, &keys).await? {
        return Err(not_found(state, name));
    }
    Ok(json!({}))
}

pub async fn list_tags_for_resource(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let name = arn_repository(state, input::req_str(input, "resourceArn")?)?;
    allow(state, ctx, &repo_target(name), &[]).await?;
    let record = existing(state, name).await?;
    let tags: Vec<Value> = record
        .tags
        .iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    Ok(json!({ "tags": tags }))
}

// ---- repository creation templates ----

/// `prefix`: the model's pattern (a repository name, optionally ending in `/`) or `ROOT`.
fn prefix(input: &Value) -> Result<&str, EcrError> {
    prefix_value(input::req_str(input, "prefix")?, "prefix")
}

fn prefix_value<'a>(p: &'a str, member: &str) -> Result<&'a str, EcrError> {
    input::check_len(p, member, 1, 256)?;
    let name = p.strip_suffix('/').unwrap_or(p);
    let ok = p == CreationTemplate::ROOT || name.parse::<portcullis_oci::RepoName>().is_ok();
    if !ok {
        return Err(EcrError::invalid(format!(
            "Invalid parameter at '{member}' failed to satisfy constraint: 'Member must satisfy regular expression pattern: ^([a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*\\/?|ROOT)$'"
        )));
    }
    // `prod` and `prod/` name the same namespace.
    Ok(name)
}

const APPLIED_FOR: [&str; 3] = ["REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"];

/// Applies the members present in `input` to `t`; `creating` requires `appliedFor`.
fn template_input(input: &Value, t: &mut CreationTemplate, creating: bool) -> Result<(), EcrError> {
    if let Some(d) = input::opt_str(input, "description")? {
        input::check_len(d, "description", 0, 256)?;
        t.description = Some(d.to_owned()).filter(|d| !d.is_empty());
    }
    if let Some(e) = encryption_input(input)? {
        if let Some(k) = &e.kms_key {
            input::check_template_kms_key(k)?;
        }
        t.encryption_configuration = Some(e);
    }
    if input.get("resourceTags").is_some() {
        t.resource_tags = input::tags(input, "resourceTags", "InvalidParameterException")?
            .into_iter()
            .map(|(key, value)| ResourceTag { key, value })
            .collect();
    }
    if let Some((m, filters)) = mutability_input(input)? {
        t.image_tag_mutability = Some(m);
        t.image_tag_mutability_exclusion_filters = filters
            .into_iter()
            .map(|filter| ExclusionFilter {
                filter_type: "WILDCARD".into(),
                filter,
            })
            .collect();
    }
    if let Some(p) = input::opt_str(input, "repositoryPolicy")? {
        input::check_len(p, "repositoryPolicy", 0, 10_240)?;
        if p.is_empty() {
            t.repository_policy = None;
        } else {
            portcullis_core::iam::parse_policy(p, PolicyKind::Repository)
                .map_err(EcrError::from)?;
            t.repository_policy = Some(p.to_owned());
        }
    }
    if let Some(p) = input::opt_str(input, "lifecyclePolicy")? {
        input::check_len(p, "lifecyclePolicy", 0, 30_720)?;
        if p.is_empty() {
            t.lifecycle_policy = None;
        } else {
            check_lifecycle(p)?;
            t.lifecycle_policy = Some(p.to_owned());
        }
    }
    match input::opt_list(input, "appliedFor", 1, 3)? {
        Some(items) => {
            let mut applied = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(a) if APPLIED_FOR.contains(&a) => {
                        if !applied.iter().any(|x| x == a) {
                            applied.push(a.to_owned());
                        }
                    }
                    _ => {
                        return Err(EcrError::invalid(format!(
                            "Invalid parameter at 'appliedFor' failed to satisfy constraint: 'Member must satisfy enum value set: [{}]'",
                            APPLIED_FOR.join(", ")
                        )))
                    }
                }
            }
            t.applied_for = applied;
        }
        None if creating => {
            return Err(EcrError::invalid(
                "Invalid parameter at 'appliedFor' failed to satisfy constraint: 'Member must not be null'",
            ))
        }
        None => {}
    }
    if let Some(arn) = input::opt_str(input, "customRoleArn")? {
        input::check_len(arn, "customRoleArn", 0, 2048)?;
        t.custom_role_arn = Some(arn.to_owned()).filter(|a| !a.is_empty());
    }
    Ok(())
}

fn template_json(record: &Template) -> Value {
    let mut v = serde_json::to_value(&record.template).unwrap_or_else(|_| json!({}));
    v["prefix"] = json!(record.prefix);
    v["createdAt"] = json!(record.created_at as f64 / 1000.0);
    v["updatedAt"] = json!(record.updated_at as f64 / 1000.0);
    if v.get("encryptionConfiguration").is_none() {
        v["encryptionConfiguration"] = json!({ "encryptionType": "AES256" });
    }
    if v.get("imageTagMutability").is_none() {
        v["imageTagMutability"] = json!(TagMutability::Mutable.as_str());
    }
    v
}

/// What Create, Update and DeleteRepositoryCreationTemplate answer.
fn template_response(state: &AppState, record: &Template) -> Value {
    json!({ "registryId": account(state), "repositoryCreationTemplate": template_json(record) })
}

fn template_not_found(prefix: &str) -> EcrError {
    EcrError::new(
        "TemplateNotFoundException",
        format!("The repository creation template with prefix '{prefix}' does not exist"),
    )
}

async fn stored_template(state: &AppState, prefix: &str) -> Result<Template, EcrError> {
    state
        .repositories
        .template(prefix)
        .await?
        .ok_or_else(|| template_not_found(prefix))
}

pub async fn create_template(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let prefix = prefix(input)?;
    let mut template = CreationTemplate::default();
    template_input(input, &mut template, true)?;
    allow(state, ctx, &Target::Registry, &[]).await?;
    match state
        .repositories
        .create_template(prefix, &template)
        .await?
    {
        TemplateCreation::Created(record) => Ok(template_response(state, &record)),
        TemplateCreation::TooMany => Err(EcrError::new(
            "LimitExceededException",
            format!("a registry can have at most {MAX_TEMPLATES} repository creation templates"),
        )),
        TemplateCreation::Exists => Err(EcrError::new(
            "TemplateAlreadyExistsException",
            format!("A repository creation template with prefix '{prefix}' already exists"),
        )),
    }
}

pub async fn describe_templates(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let max = input::opt_int(input, "maxResults", 1, 1000)?.unwrap_or(1000) as usize;
    let next = input::opt_str(input, "nextToken")?;
    let wanted: Option<Vec<String>> =
        match input::opt_string_list(input, "prefixes", 1, 100, 1..=256)? {
            None => None,
            Some(items) => Some(
                items
                    .into_iter()
                    .map(|p| prefix_value(p, "prefixes").map(str::to_owned))
                    .collect::<Result<_, _>>()?,
            ),
        };
    allow(state, ctx, &Target::Registry, &[]).await?;
    let records: Vec<Template> = state
        .repositories
        .templates()
        .await?
        .into_iter()
        .filter(|r| wanted.as_ref().is_none_or(|w| w.contains(&r.prefix)))
        .collect();
    let (items, token) = page(records, |r| r.prefix.clone(), next, max)?;
    let mut out = json!({
        "registryId": account(state),
        "repositoryCreationTemplates": items.iter().map(template_json).collect::<Vec<_>>(),
    });
    if let Some(t) = token {
        out["nextToken"] = json!(t);
    }
    Ok(out)
}

pub async fn update_template(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let prefix = prefix(input)?;
    allow(state, ctx, &Target::Registry, &[]).await?;
    let mut template = stored_template(state, prefix).await?.template;
    template_input(input, &mut template, false)?;
    let record = state
        .repositories
        .update_template(prefix, &template)
        .await?
        .ok_or_else(|| template_not_found(prefix))?;
    Ok(template_response(state, &record))
}

pub async fn delete_template(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let prefix = prefix(input)?;
    allow(state, ctx, &Target::Registry, &[]).await?;
    let record = state
        .repositories
        .delete_template(prefix)
        .await?
        .ok_or_else(|| template_not_found(prefix))?;
    Ok(template_response(state, &record))
}

// ---- account settings ----

fn setting_name(input: &Value) -> Result<AccountSetting, EcrError> {
    let name = input::req_str(input, "name")?;
    input::check_len(name, "name", 1, 64)?;
    AccountSetting::parse(name).ok_or_else(|| {
        EcrError::new(
            "ValidationException",
            format!(
                "'{name}' is not an account setting; the settings are {}",
                AccountSetting::ALL.map(AccountSetting::name).join(", ")
            ),
        )
    })
}

pub async fn get_account_setting(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let setting = setting_name(input)?;
    allow(state, ctx, &Target::Registry, &[]).await?;
    let value = state.repositories.account_setting(setting).await?;
    Ok(json!({ "name": setting.name(), "value": value }))
}

pub async fn put_account_setting(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let setting = setting_name(input)?;
    let (name, allowed) = (setting.name(), setting.values());
    let value = input::req_str(input, "value")?;
    if !allowed.contains(&value) {
        return Err(EcrError::new(
            "ValidationException",
            format!(
                "'{value}' is not a valid value for {name}; valid values: {}",
                allowed.join(", ")
            ),
        ));
    }
    allow(state, ctx, &Target::Registry, &[]).await?;
    state
        .repositories
        .set_account_setting(setting, value)
        .await?;
    Ok(json!({ "name": name, "value": value }))
}
