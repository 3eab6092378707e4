//! Image operations: PutImage, BatchGetImage, BatchDeleteImage, ListImages, DescribeImages and
//! ListImageReferrers. They see the same manifests and tags as the registry API.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use portcullis_core::{Error as CoreError, ImageDeletion, ImageDetail};
use portcullis_oci::{Digest, RepoName, Tag};
use serde_json::{json, Value};

use super::input;
use super::ops::{repository_error as core_error, require_repository};
use super::{EcrContext, EcrError};
use crate::AppState;

/// Where a listing continues: an opaque token wrapping the sort key of the last item served.
pub(super) fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    next_token: Option<&str>,
    max: usize,
) -> Result<(Vec<T>, Option<String>), EcrError> {
    let after = next_token.map(token_key).transpose()?;
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.as_ref().is_none_or(|a| &key(i) > a))
        .collect();
    if rest.len() > max {
        rest.truncate(max);
        let token = rest.last().map(|last| token_for(&key(last)));
        return Ok((rest, token));
    }
    Ok((rest, None))
}

/// The `nextToken` that continues after `key`.
pub(super) fn token_for(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// The key a `nextToken` of [`token_for`] continues after.
pub(super) fn token_key(token: &str) -> Result<String, EcrError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            EcrError::invalid(
                "Invalid parameter at 'nextToken': the token is not one this server issued",
            )
        })
}

fn image_key(d: &ImageDetail) -> String {
    format!("{:020}|{}", d.pushed_at.max(0), d.digest)
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn image_id_json(digest: &Digest, tag: Option<&str>) -> Value {
    let mut v = json!({ "imageDigest": digest.to_string() });
    if let Some(t) = tag {
        v["imageTag"] = json!(t);
    }
    v
}

/// An `ImageIdentifier` as the request gave it, for echoing in failures.
fn raw_id(item: &Value) -> Value {
    let mut v = json!({});
    for key in ["imageDigest", "imageTag"] {
        if let Some(s) = item.get(key).and_then(Value::as_str) {
            v[key] = json!(s);
        }
    }
    v
}

pub(super) enum IdError {
    Missing,
    BadDigest,
    BadTag,
}

impl IdError {
    pub(super) fn reason(&self) -> &'static str {
        match self {
            IdError::Missing => "Invalid parameter at 'imageIds': the image id has neither an imageDigest nor an imageTag",
            IdError::BadDigest => "Invalid parameter at 'imageDigest': an image digest satisfies the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
            IdError::BadTag => "Invalid parameter at 'imageTag': the image tag does not satisfy the tag grammar [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
        }
    }
}

fn failure(id: &Value, code: &str, reason: impl Into<String>) -> Value {
    json!({ "imageId": id, "failureCode": code, "failureReason": reason.into() })
}

/// Reads one `ImageIdentifier` (types and lengths already checked): a tag, a digest, or both.
pub(super) fn parse_id(
    item: &input::ImageIdInput<'_>,
) -> Result<(Option<Tag>, Option<Digest>), IdError> {
    if item.tag.is_none() && item.digest.is_none() {
        return Err(IdError::Missing);
    }
    let tag = item
        .tag
        .map(|t| t.parse::<Tag>().map_err(|_| IdError::BadTag))
        .transpose()?;
    let digest = item
        .digest
        .map(|d| d.parse::<Digest>().map_err(|_| IdError::BadDigest))
        .transpose()?;
    Ok((tag, digest))
}

fn required_image_ids(input: &Value) -> Result<Vec<input::ImageIdInput<'_>>, EcrError> {
    input::image_ids(input, "imageIds", 1, 100)?.ok_or_else(|| {
        EcrError::invalid(
            "Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must not be null'",
        )
    })
}

fn id_failure(id: &Value, e: IdError) -> Value {
    match e {
        IdError::Missing => failure(id, "MissingDigestAndTag", IdError::Missing.reason()),
        IdError::BadDigest => failure(id, "InvalidImageDigest", IdError::BadDigest.reason()),
        IdError::BadTag => failure(id, "InvalidImageTag", IdError::BadTag.reason()),
    }
}

pub async fn put_image(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = require_repository(state, ctx, input).await?;
    let manifest = input::req_str(input, "imageManifest")?;
    input::check_len(manifest, "imageManifest", 1, 4_194_304)?;
    let media_type = input::opt_str(input, "imageManifestMediaType")?;
    let tag =
        match input::opt_str(input, "imageTag")? {
            None => None,
            Some(t) => {
                input::check_len(t, "imageTag", 1, 300)?;
                Some(t.parse::<Tag>().map_err(|e| {
                    EcrError::invalid(format!("Invalid parameter at 'imageTag': {e}"))
                })?)
            }
        };
    let expected = input::opt_str(input, "imageDigest")?
        .map(|d| {
            d.parse::<Digest>()
                .map_err(|e| EcrError::invalid(format!("Invalid parameter at 'imageDigest': {e}")))
        })
        .transpose()?;
    let content = Bytes::copy_from_slice(manifest.as_bytes());
    let parsed = serde_json::from_slice::<Value>(&content).ok();
    let is_index = parsed
        .as_ref()
        .is_some_and(|v| v.get("manifests").is_some());
    // ECR needs the type from somewhere: the manifest's own mediaType or the request's.
    let declared = parsed
        .as_ref()
        .and_then(|v| v.get("mediaType"))
        .and_then(Value::as_str);
    if declared.is_none() && media_type.is_none() {
        return Err(EcrError::invalid(
            "Invalid parameter at 'imageManifestMediaType': the manifest has no mediaType, so imageManifestMediaType is required",
        ));
    }
    if let (Some(d), Some(m)) = (declared, media_type) {
        if d != m {
            return Err(EcrError::invalid(format!(
                "Invalid parameter at 'imageManifestMediaType': '{m}' does not match the manifest's mediaType '{d}'"
            )));
        }
    }
    let outcome = state
        .registry
        .put_image(&repo, tag.as_ref(), expected.as_ref(), media_type, content)
        .await
        .map_err(|e| match e {
            CoreError::DigestInvalid(m) => EcrError::new("ImageDigestDoesNotMatchException", m),
            CoreError::ManifestBlobUnknown(d) if is_index => EcrError::new(
                "ReferencedImagesNotFoundException",
                format!("The manifest list references the image '{d}', which does not exist in the repository"),
            ),
            CoreError::ManifestBlobUnknown(d) => EcrError::new(
                "LayersNotFoundException",
                format!("Layers with digests ['{d}'] required for pushing image into repository with name '{repo}' in the registry with id '{}' do not exist", state.iam.options().account_id),
            ),
            CoreError::TagImmutable { repository, tag } => EcrError::new(
                "ImageTagAlreadyExistsException",
                format!("The image tag '{tag}' already exists in the '{repository}' repository and cannot be overwritten because the tag is immutable."),
            ),
            CoreError::ManifestInvalid(m) | CoreError::ManifestTooLarge(m) => {
                EcrError::invalid(format!("Invalid parameter at 'imageManifest': {m}"))
            }
            other => core_error(state, &repo, other),
        })?;
    let unchanged = !outcome.created
        && match &tag {
            None => true,
            Some(_) => outcome.previous_tag_target.as_ref() == Some(&outcome.digest),
        };
    if unchanged {
        return Err(EcrError::new(
            "ImageAlreadyExistsException",
            format!(
                "Image with digest '{}'{} already exists in the repository with name '{repo}' in registry with id '{}'",
                outcome.digest,
                tag.as_ref().map(|t| format!(" and tag '{t}'")).unwrap_or_default(),
                state.iam.options().account_id
            ),
        ));
    }
    Ok(json!({
        "image": {
            "registryId": state.iam.options().account_id,
            "repositoryName": repo.as_str(),
            "imageId": image_id_json(&outcome.digest, tag.as_ref().map(Tag::as_str)),
            "imageManifest": manifest,
            "imageManifestMediaType": outcome.media_type,
        }
    }))
}

pub async fn batch_get_image(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = require_repository(state, ctx, input).await?;
    let ids = required_image_ids(input)?;
    let accepted = input::opt_string_list(input, "acceptedMediaTypes", 1, 100, 0..=usize::MAX)?;
    let mut images = Vec::new();
    let mut failures = Vec::new();
    for item in &ids {
        let raw = raw_id(item.raw);
        let (tag, digest) = match parse_id(item) {
            Ok(v) => v,
            Err(e) => {
                failures.push(id_failure(&raw, e));
                continue;
            }
        };
        let reference = match (&tag, &digest) {
            (Some(t), _) => portcullis_oci::Reference::Tag(t.clone()),
            (None, Some(d)) => portcullis_oci::Reference::Digest(d.clone()),
            (None, None) => unreachable!("parse_id refuses ids without tag and digest"),
        };
        let manifest = match state.registry.get_manifest(&repo, &reference).await {
            Ok(m) => m,
            Err(CoreError::ManifestUnknown(_)) => {
                failures.push(failure(&raw, "ImageNotFound", "Requested image not found"));
                continue;
            }
            Err(e) => return Err(core_error(state, &repo, e)),
        };
        if let (Some(_), Some(d)) = (&tag, &digest) {
            if d != &manifest.digest {
                failures.push(failure(
                    &raw,
                    "ImageTagDoesNotMatchDigest",
                    "Invalid request parameters: given tag does not map to the given digest",
                ));
                continue;
            }
        }
        if let Some(accepted) = &accepted {
            if !accepted.contains(&manifest.media_type.as_str()) {
                failures.push(failure(
                    &raw,
                    "ImageNotFound",
                    format!(
                        "The image's manifest is a '{}', which acceptedMediaTypes does not list",
                        manifest.media_type
                    ),
                ));
                continue;
            }
        }
        state.registry.record_pull(&repo, &manifest.digest);
        images.push(json!({
            "registryId": state.iam.options().account_id,
            "repositoryName": repo.as_str(),
            "imageId": image_id_json(&manifest.digest, tag.as_ref().map(Tag::as_str)),
            "imageManifest": String::from_utf8_lossy(&manifest.content),
            "imageManifestMediaType": manifest.media_type,
        }));
    }
    Ok(json!({ "images": images, "failures": failures }))
}

pub async fn batch_delete_image(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = require_repository(state, ctx, input).await?;
    let ids = required_image_ids(input)?;
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    for item in &ids {
        let raw = raw_id(item.raw);
        let (tag, digest) = match parse_id(item) {
            Ok(v) => v,
            Err(e) => {
                failures.push(id_failure(&raw, e));
                continue;
            }
        };
        let outcome = state
            .registry
            .delete_image(&repo, tag.as_ref(), digest.as_ref())
            .await
            .map_err(|e| core_error(state, &repo, e))?;
        match outcome {
            ImageDeletion::Deleted { digest, tag } => {
                deleted.push(image_id_json(&digest, tag.as_deref()))
            }
            ImageDeletion::NotFound => {
                failures.push(failure(&raw, "ImageNotFound", "Requested image not found"))
            }
            ImageDeletion::TagDoesNotMatchDigest => failures.push(failure(
                &raw,
                "ImageTagDoesNotMatchDigest",
                "Invalid request parameters: given tag does not map to the given digest",
            )),
            ImageDeletion::ReferencedByIndex => failures.push(failure(
                &raw,
                "ImageReferencedByManifestList",
                "Requested image is referenced by a manifest list",
            )),
        }
    }
    // The model gives imageIds a minimum length of 1: with nothing deleted it is left out.
    let mut out = json!({ "failures": failures });
    if !deleted.is_empty() {
        out["imageIds"] = json!(deleted);
    }
    Ok(out)
}

/// `filter`: which images a listing covers. Archived images do not exist here, so asking for
/// only ARCHIVED or ACTIVATING ones lists nothing.
struct Filter {
    tagged: bool,
    untagged: bool,
    active: bool,
}

fn filter(input: &Value) -> Result<Filter, EcrError> {
    let Some(f) = input::opt_object(input, "filter")? else {
        return Ok(Filter {
            tagged: true,
            untagged: true,
            active: true,
        });
    };
    let tag_status = input::opt_enum(f, "tagStatus", &["TAGGED", "UNTAGGED", "ANY"])?;
    let image_status = input::opt_enum(
        f,
        "imageStatus",
        &["ACTIVE", "ARCHIVED", "ACTIVATING", "ANY"],
    )?;
    Ok(Filter {
        tagged: matches!(tag_status, None | Some("TAGGED") | Some("ANY")),
        untagged: matches!(tag_status, None | Some("UNTAGGED") | Some("ANY")),
        active: matches!(image_status, None | Some("ACTIVE") | Some("ANY")),
    })
}

impl Filter {
    fn keeps(&self, image: &ImageDetail) -> bool {
        self.active
            && if image.tags.is_empty() {
                self.untagged
            } else {
                self.tagged
            }
    }
}

pub async fn list_images(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = require_repository(state, ctx, input).await?;
    let max = input::opt_int(input, "maxResults", 1, 1000)?.unwrap_or(100) as usize;
    let next = input::opt_str(input, "nextToken")?;
    let filter = filter(input)?;
    let images = state
        .registry
        .images(&repo)
        .await
        .map_err(|e| core_error(state, &repo, e))?;
    // One entry per (digest, tag) pair; untagged images once, by digest alone.
    let mut ids: Vec<(String, Value)> = Vec::new();
    for image in images.iter().filter(|i| filter.keeps(i)) {
        let key = image_key(image);
        if image.tags.is_empty() {
            ids.push((format!("{key}|"), image_id_json(&image.digest, None)));
        }
        for t in &image.tags {
            ids.push((format!("{key}|{t}"), image_id_json(&image.digest, Some(t))));
        }
    }
    let (items, token) = page(ids, |(k, _)| k.clone(), next, max)?;
    let mut out = json!({ "imageIds": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>() });
    if let Some(t) = token {
        out["nextToken"] = json!(t);
    }
    Ok(out)
}

fn image_detail_json(state: &AppState, repo: &RepoName, d: &ImageDetail) -> Value {
    let mut v = json!({
        "registryId": state.iam.options().account_id,
        "repositoryName": repo.as_str(),
        "imageDigest": d.digest.to_string(),
        "imageSizeInBytes": d.size,
        "imagePushedAt": seconds(d.pushed_at),
        "imageManifestMediaType": d.media_type,
        "imageStatus": "ACTIVE",
    });
    if !d.tags.is_empty() {
        v["imageTags"] = json!(d.tags);
    }
    if let Some(t) = &d.config_media_type {
        v["artifactMediaType"] = json!(t);
    }
    if let Some(at) = d.last_pulled_at {
        v["lastRecordedPullTime"] = json!(seconds(at));
    }
    if let Some(s) = &d.subject {
        v["subjectManifestDigest"] = json!(s.to_string());
    }
    v
}

pub async fn describe_images(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = require_repository(state, ctx, input).await?;
    let max = input::opt_int(input, "maxResults", 1, 1000)?;
    let next = input::opt_str(input, "nextToken")?;
    let ids = input::image_ids(input, "imageIds", 1, 100)?;
    let filter = filter(input)?;
    let images = state
        .registry
        .images(&repo)
        .await
        .map_err(|e| core_error(state, &repo, e))?;
    if let Some(ids) = ids {
        if max.is_some() || next.is_some() {
            return Err(EcrError::invalid(
                "maxResults and nextToken cannot be used together with imageIds",
            ));
        }
        let mut out: Vec<Value> = Vec::new();
        for item in &ids {
            let (tag, digest) = parse_id(item).map_err(|e| EcrError::invalid(e.reason()))?;
            let found = images.iter().find(|i| {
                tag.as_ref()
                    .is_none_or(|t| i.tags.iter().any(|x| x == t.as_str()))
                    && digest.as_ref().is_none_or(|d| &i.digest == d)
            });
            let Some(found) = found else {
                return Err(EcrError::new(
                    "ImageNotFoundException",
                    format!(
                        "The image with imageId {} does not exist within the repository with name '{repo}' in the registry with id '{}'",
                        raw_id(item.raw),
                        state.iam.options().account_id
                    ),
                ));
            };
            let detail = image_detail_json(state, &repo, found);
            if !out.contains(&detail) {
                out.push(detail);
            }
        }
        return Ok(json!({ "imageDetails": out }));
    }
    let kept: Vec<&ImageDetail> = images.iter().filter(|i| filter.keeps(i)).collect();
    let (items, token) = page(kept, |i| image_key(i), next, max.unwrap_or(100) as usize)?;
    let mut out = json!({
        "imageDetails": items.into_iter().map(|d| image_detail_json(state, &repo, d)).collect::<Vec<_>>()
    });
    if let Some(t) = token {
        out["nextToken"] = json!(t);
    }
    Ok(out)
}

pub async fn list_image_referrers(
    state: &AppState,
    ctx: &EcrContext,
    input: &Value,
) -> Result<Value, EcrError> {
    let repo = require_repository(state, ctx, input).await?;
    let subject = input::opt_object(input, "subjectId")?.ok_or_else(|| {
        EcrError::invalid("Invalid parameter at 'subjectId': member must not be null")
    })?;
    let digest: Digest = input::req_str(subject, "imageDigest")?
        .parse()
        .map_err(|e| EcrError::invalid(format!("Invalid parameter at 'imageDigest': {e}")))?;
    let max = input::opt_int(input, "maxResults", 1, 50)?.unwrap_or(50) as usize;
    let next = input::opt_str(input, "nextToken")?;
    let (types, active) = match input::opt_object(input, "filter")? {
        None => (None, true),
        Some(f) => {
            let types: Option<Vec<String>> =
                input::opt_string_list(f, "artifactTypes", 0, 5, 1..=255)?
                    .map(|l| l.into_iter().map(str::to_owned).collect());
            let status = input::opt_enum(
                f,
                "artifactStatus",
                &["ACTIVE", "ARCHIVED", "ACTIVATING", "ANY"],
            )?;
            (types, matches!(status, None | Some("ACTIVE") | Some("ANY")))
        }
    };
    let referrers = state
        .registry
        .referrers(&repo, &digest, None)
        .await
        .map_err(|e| core_error(state, &repo, e))?;
    let kept: Vec<_> = referrers
        .into_iter()
        .filter(|_| active)
        .filter(|r| {
            types.as_ref().is_none_or(|t| {
                t.is_empty()
                    || r.artifact_type
                        .as_ref()
                        .is_some_and(|a| t.iter().any(|x| x == a))
            })
        })
        .collect();
    let (items, token) = page(kept, |r| r.digest.to_string(), next, max)?;
    let referrers: Vec<Value> = items
        .into_iter()
        .map(|r| {
            let mut v = json!({
                "digest": r.digest.to_string(),
                "mediaType": r.media_type,
                "size": r.size,
                "artifactStatus": "ACTIVE",
            });
            if let Some(t) = r.artifact_type {
                v["artifactType"] = json!(t);
            }
            if let Some(Value::Object(a)) = r.annotations {
                if !a.is_empty() {
                    v["annotations"] = Value::Object(a);
                }
            }
            v
        })
        .collect();
    let mut out = json!({ "referrers": referrers });
    if let Some(t) = token {
        out["nextToken"] = json!(t);
    }
    Ok(out)
}
