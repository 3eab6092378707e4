//! Running lifecycle policies: each repository's rules ([`crate::lifecycle::evaluate`]) over
//! its images, and the expiry of what they select.
//!
//! What counts as an image here: a manifest that is neither the child of an index in the
//! repository (it goes when its index does, then counts as untagged) nor a referrer (a
//! signature or SBOM goes with its subject). Expiring an image deletes it with its tags and
//! referrers; its blobs leave the repository at once and their bytes go to garbage collection.

use portcullis_oci::manifest::parse_manifest;
use portcullis_oci::Digest;
use portcullis_storage::meta::now_millis;

use super::Registry;
use crate::audit::{registry_identity, rfc3339, AuditEvent, AuditLog};
use crate::lifecycle::{self, Candidate};
use crate::Result;

/// One expired (dry: expirable) image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredImage {
    pub repository: String,
    pub digest: Digest,
    pub tags: Vec<String>,
    pub pushed_at: i64,
    pub rule_priority: u64,
}

/// What one run did (or, dry, would do).
#[derive(Debug, Clone, Default)]
pub struct LifecycleReport {
    pub dry_run: bool,
    /// Repositories whose policy was evaluated.
    pub evaluated: u64,
    pub expired: Vec<ExpiredImage>,
    /// Repositories whose stored policy no longer parses: nothing of theirs is expired, and
    /// the error is logged (`portcullis doctor` names them too).
    pub broken: Vec<String>,
}

impl LifecycleReport {
    pub fn summary(&self) -> String {
        format!(
            "{} {} images in {} repositories{}",
            if self.dry_run {
                "would expire"
            } else {
                "expired"
            },
            self.expired.len(),
            self.evaluated,
            if self.broken.is_empty() {
                String::new()
            } else {
                format!(
                    "; policies that do not parse (skipped): {}",
                    self.broken.join(", ")
                )
            }
        )
    }
}

impl Registry {
    /// Applies the lifecycle policy of every repository that has one (or of `only`), as of
    /// `now_ms`. A dry run changes nothing, `lastEvaluatedAt` included.
    pub async fn run_lifecycle(
        &self,
        only: Option<&str>,
        dry_run: bool,
        now_ms: i64,
        audit: &AuditLog,
    ) -> Result<LifecycleReport> {
        let mut report = LifecycleReport {
            dry_run,
            ..LifecycleReport::default()
        };
        let names: Vec<(String, String)> = match only {
            Some(name) => match self.meta.repository(name).await? {
                Some(r) => r
                    .lifecycle_policy
                    .map(|p| (r.name, p))
                    .into_iter()
                    .collect(),
                None => return Err(crate::Error::NameUnknown(name.to_owned())),
            },
            None => {
                let mut all = Vec::new();
                let mut last: Option<String> = None;
                loop {
                    let page = self.meta.repository_records(last.as_deref(), 500).await?;
                    let done = page.len() < 500;
                    last = page.last().map(|r| r.name.clone());
                    all.extend(
                        page.into_iter()
                            .filter_map(|r| r.lifecycle_policy.map(|p| (r.name, p))),
                    );
                    if done {
                        break;
                    }
                }
                all
            }
        };
        for (name, text) in names {
            let policy = match lifecycle::parse(&text) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(repository = %name, error = %e, "stored lifecycle policy does not parse: nothing expires in this repository until it is fixed");
                    report.broken.push(name);
                    continue;
                }
            };
            let expired = self
                .expire_in(&name, &policy, dry_run, now_ms, audit)
                .await?;
            report.evaluated += 1;
            report.expired.extend(expired);
            if !dry_run {
                self.meta.set_lifecycle_evaluated_at(&name, now_ms).await?;
            }
        }
        if !dry_run {
            metrics::counter!("portcullis_lifecycle_images_expired_total")
                .increment(report.expired.len() as u64);
        }
        Ok(report)
    }

    /// What `policy` expires in `repo` as of `now_ms`, oldest push first, changing nothing:
    /// what a run would do, and what a lifecycle policy preview shows (with the stored policy
    /// or a candidate one).
    pub async fn lifecycle_selection(
        &self,
        repo: &str,
        policy: &lifecycle::LifecyclePolicy,
        now_ms: i64,
    ) -> Result<Vec<ExpiredImage>> {
        let records = self.meta.images(repo).await?;
        let mut children = std::collections::HashSet::new();
        for r in &records {
            if let Ok(parsed) = parse_manifest(&r.manifest.content, Some(&r.manifest.media_type)) {
                children.extend(parsed.manifests.into_iter().map(|c| c.digest));
            }
        }
        let images: Vec<_> = records
            .into_iter()
            .filter(|r| r.manifest.subject.is_none() && !children.contains(&r.manifest.digest))
            .collect();
        let candidates: Vec<Candidate> = images
            .iter()
            .map(|r| Candidate {
                id: r.manifest.digest.to_string(),
                tags: r.tags.clone(),
                pushed_at: r.manifest.created_at,
                last_pulled_at: r.last_pulled_at,
            })
            .collect();
        Ok(lifecycle::evaluate(policy, &candidates, now_ms)
            .into_iter()
            .map(|e| {
                let image = &images[e.image];
                ExpiredImage {
                    repository: repo.to_owned(),
                    digest: image.manifest.digest.clone(),
                    tags: image.tags.clone(),
                    pushed_at: image.manifest.created_at,
                    rule_priority: e.rule_priority,
                }
            })
            .collect())
    }

    async fn expire_in(
        &self,
        repo: &str,
        policy: &lifecycle::LifecyclePolicy,
        dry_run: bool,
        now_ms: i64,
        audit: &AuditLog,
    ) -> Result<Vec<ExpiredImage>> {
        let selected = self.lifecycle_selection(repo, policy, now_ms).await?;
        if !dry_run {
            for expired in &selected {
                // Audited first: an expiry the log cannot hold does not happen.
                audit.record(&expiry_event(expired))?;
                self.meta.delete_manifest(repo, &expired.digest).await?;
                tracing::info!(repository = %repo, digest = %expired.digest, rule = expired.rule_priority, "image expired by its lifecycle policy");
            }
        }
        Ok(selected)
    }
}

fn expiry_event(e: &ExpiredImage) -> AuditEvent {
    AuditEvent {
        event_time: rfc3339(now_millis() / 1000),
        event_name: "PolicyExecutionEvent".into(),
        event_source: "ecr.amazonaws.com".into(),
        user_identity: registry_identity(),
        source_ip_address: "portcullis".into(),
        repository: Some(e.repository.clone()),
        reference: Some(e.digest.to_string()),
        decision: "Allow".into(),
        deciding_statements: vec![format!("lifecycle rule {}", e.rule_priority)],
        request_id: Some(uuid::Uuid::new_v4().to_string()),
        ..AuditEvent::default()
    }
}
