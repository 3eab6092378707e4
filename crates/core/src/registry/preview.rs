//! Lifecycle policy previews (StartLifecyclePolicyPreview, GetLifecyclePolicyPreview): what a
//! policy, the repository's own or a candidate, would expire now. The selection is
//! [`Registry::lifecycle_selection`], the one a run applies, so a preview and the run that
//! follows it agree. The result is kept in the metadata store, one per repository, because the
//! node that answers the Get need not be the one that ran the Start.
//!
//! A preview is complete when Start returns: evaluating is one read of the repository's images
//! and a pure function over them, so there is no background job to wait for.

use portcullis_oci::{Digest, Tag};
use portcullis_storage::LifecyclePreviewRecord;
use serde::{Deserialize, Serialize};

use super::Registry;
use crate::lifecycle::{self, TagStatus};
use crate::{Error, Result};

/// An image a preview expires, as the stored document lists it (oldest push first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewImage {
    pub digest: Digest,
    /// Its tags when the preview was taken.
    pub tags: Vec<String>,
    /// Unix milliseconds.
    pub pushed_at: i64,
    pub applied_rule_priority: u64,
}

impl PreviewImage {
    /// The sort key pages continue after: push time, then digest (the order the selection
    /// comes in), zero-padded so that keys compare as the images do.
    fn key(&self) -> String {
        format!("{:020}|{}", self.pushed_at.max(0), self.digest)
    }

    fn has_status(&self, status: TagStatus) -> bool {
        match status {
            TagStatus::Tagged => !self.tags.is_empty(),
            TagStatus::Untagged => self.tags.is_empty(),
            TagStatus::Any => true,
        }
    }
}

/// What starting a preview did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewStart {
    /// Evaluated and stored in place of the repository's previous preview.
    Complete {
        policy_text: String,
        expiring: usize,
    },
    NameUnknown,
    /// No candidate was given and the repository has no lifecycle policy.
    NoPolicy,
    /// No candidate was given and the stored policy does not parse (an older version stored
    /// it): the parser's reason.
    BrokenPolicy(String),
}

/// One `imageIds` entry: the image with this tag, this digest, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSelector {
    pub tag: Option<Tag>,
    pub digest: Option<Digest>,
}

impl ImageSelector {
    fn selects(&self, image: &PreviewImage) -> bool {
        self.tag
            .as_ref()
            .is_none_or(|t| image.tags.iter().any(|x| x == t.as_str()))
            && self.digest.as_ref().is_none_or(|d| &image.digest == d)
    }
}

/// Which part of a preview to read.
#[derive(Debug, Clone)]
pub struct PreviewQuery<'a> {
    /// Images by their tags at the time of the preview.
    pub tag_status: TagStatus,
    /// Only the images one of these selects; `None`: every image.
    pub images: Option<&'a [ImageSelector]>,
    /// The [`PreviewPage::next`] of the page before.
    pub after: Option<&'a str>,
    /// At most this many results (at least one).
    pub limit: usize,
}

/// One page of a stored preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewPage {
    pub policy_text: String,
    /// Unix milliseconds.
    pub evaluated_at: i64,
    pub results: Vec<PreviewImage>,
    /// Where the next page starts (opaque); `None` on the last page.
    pub next: Option<String>,
    /// Every image the preview expires, whatever the query selected.
    pub expiring_total: usize,
}

/// What reading a preview found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewLookup {
    Found(PreviewPage),
    NameUnknown,
    /// The repository has had no preview started (or it was deleted and created again since).
    NotStarted,
}

impl Registry {
    /// Evaluates `candidate`, or without one the repository's own lifecycle policy, as of
    /// `now_ms`, and stores what it would expire. Nothing is expired and `lastEvaluatedAt` is
    /// left alone. The caller has checked `candidate` with [`lifecycle::parse`] (whose error
    /// it words); one that does not parse here is [`Error::Unsupported`].
    pub async fn start_lifecycle_preview(
        &self,
        repo: &str,
        candidate: Option<&str>,
        now_ms: i64,
    ) -> Result<PreviewStart> {
        let Some(record) = self.meta.repository(repo).await? else {
            return Ok(PreviewStart::NameUnknown);
        };
        let text = match (candidate, record.lifecycle_policy) {
            (Some(c), _) => c.to_owned(),
            (None, Some(stored)) => stored,
            (None, None) => return Ok(PreviewStart::NoPolicy),
        };
        let policy = match lifecycle::parse(&text) {
            Ok(p) => p,
            Err(e) if candidate.is_some() => return Err(Error::Unsupported(e.to_string())),
            Err(e) => return Ok(PreviewStart::BrokenPolicy(e.to_string())),
        };
        let expiring: Vec<PreviewImage> = self
            .lifecycle_selection(repo, &policy, now_ms)
            .await?
            .into_iter()
            .map(|e| PreviewImage {
                digest: e.digest,
                tags: e.tags,
                pushed_at: e.pushed_at,
                applied_rule_priority: e.rule_priority,
            })
            .collect();
        let results = serde_json::to_string(&expiring).map_err(|e| {
            Error::Storage(portcullis_storage::Error::Corrupt(format!(
                "lifecycle preview of `{repo}` does not serialize: {e}"
            )))
        })?;
        let stored = LifecyclePreviewRecord {
            policy: text,
            results,
            evaluated_at: now_ms,
        };
        // A repository deleted since it was read (created again, even) does not get a preview
        // of what it held.
        if !self
            .meta
            .put_lifecycle_preview(repo, record.created_at, &stored)
            .await?
        {
            return Ok(PreviewStart::NameUnknown);
        }
        Ok(PreviewStart::Complete {
            policy_text: stored.policy,
            expiring: expiring.len(),
        })
    }

    /// A page of the repository's stored preview: the results `query` selects, in the order
    /// they expire (oldest push first).
    pub async fn lifecycle_preview(
        &self,
        repo: &str,
        query: &PreviewQuery<'_>,
    ) -> Result<PreviewLookup> {
        let Some(stored) = self.meta.lifecycle_preview(repo).await? else {
            return Ok(if self.meta.repository_exists(repo).await? {
                PreviewLookup::NotStarted
            } else {
                PreviewLookup::NameUnknown
            });
        };
        let mut all: Vec<PreviewImage> = serde_json::from_str(&stored.results).map_err(|e| {
            Error::Storage(portcullis_storage::Error::Corrupt(format!(
                "lifecycle preview of `{repo}`: {e}"
            )))
        })?;
        all.sort_by_key(PreviewImage::key);
        let expiring_total = all.len();
        let mut selected = all.into_iter().filter(|i| {
            i.has_status(query.tag_status)
                && query
                    .images
                    .is_none_or(|ids| ids.iter().any(|id| id.selects(i)))
                && query.after.is_none_or(|after| i.key().as_str() > after)
        });
        let results: Vec<PreviewImage> = selected.by_ref().take(query.limit.max(1)).collect();
        let next = match selected.next() {
            Some(_) => results.last().map(PreviewImage::key),
            None => None,
        };
        Ok(PreviewLookup::Found(PreviewPage {
            policy_text: stored.policy,
            evaluated_at: stored.evaluated_at,
            results,
            next,
            expiring_total,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::registry_with;
    use crate::RegistryOptions;
    use bytes::Bytes;
    use portcullis_storage::{ManifestRecord, MetaStore, NewRepository, TagWrite};
    use std::sync::Arc;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 1_000 * DAY;

    /// Stores an image pushed `ms_ago` before [`NOW`] with `tags`, straight into the store, so
    /// that push times can be days apart; returns its digest.
    async fn image(
        meta: &Arc<dyn MetaStore>,
        repo: &str,
        name: &str,
        tags: &[&str],
        ms_ago: i64,
    ) -> Digest {
        let content = format!(r#"{{"schemaVersion":2,"note":"{name}"}}"#);
        let record = ManifestRecord {
            digest: Digest::sha256_of(content.as_bytes()),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: None,
            subject: None,
            annotations: None,
            content: Bytes::from(content),
            created_at: NOW - ms_ago,
        };
        let writes: Vec<Option<TagWrite<'_>>> = if tags.is_empty() {
            vec![None]
        } else {
            tags.iter()
                .map(|t| {
                    Some(TagWrite {
                        name: t,
                        immutable: false,
                    })
                })
                .collect()
        };
        for tag in writes {
            meta.put_manifest(repo, &record, &[], tag).await.unwrap();
        }
        record.digest
    }

    async fn setup(dir: &tempfile::TempDir) -> (Registry, Arc<dyn MetaStore>) {
        let (registry, _, meta) = registry_with(dir, RegistryOptions::default()).await;
        meta.create_repository("app", &NewRepository::default())
            .await
            .unwrap();
        (registry, meta)
    }

    fn all<'a>() -> PreviewQuery<'a> {
        PreviewQuery {
            tag_status: TagStatus::Any,
            images: None,
            after: None,
            limit: 100,
        }
    }

    async fn page(registry: &Registry, query: &PreviewQuery<'_>) -> PreviewPage {
        match registry.lifecycle_preview("app", query).await.unwrap() {
            PreviewLookup::Found(p) => p,
            other => panic!("{other:?}"),
        }
    }

    const KEEP_ONE_UNTAGGED: &str = r#"{"rules":[{"rulePriority":1,"description":"Keep only one untagged image, expire all others","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
    const KEEP_ONE_ANY: &str = r#"{"rules":[{"rulePriority":3,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;

    #[tokio::test]
    async fn a_preview_pages_filters_and_counts_what_it_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, meta) = setup(&dir).await;
        let mut digests = Vec::new();
        for (i, tags) in [&["a"][..], &[], &["b", "c"], &[], &["d"]]
            .iter()
            .enumerate()
        {
            digests.push(image(&meta, "app", &format!("i{i}"), tags, (10 - i as i64) * DAY).await);
        }
        let newest = image(&meta, "app", "newest", &["latest"], 0).await;
        let started = registry
            .start_lifecycle_preview("app", Some(KEEP_ONE_ANY), NOW)
            .await
            .unwrap();
        assert_eq!(
            started,
            PreviewStart::Complete {
                policy_text: KEEP_ONE_ANY.into(),
                expiring: 5
            }
        );
        let whole = page(&registry, &all()).await;
        assert_eq!(whole.policy_text, KEEP_ONE_ANY);
        assert_eq!(whole.evaluated_at, NOW);
        assert_eq!(whole.expiring_total, 5);
        assert_eq!(whole.next, None);
        let got: Vec<&Digest> = whole.results.iter().map(|r| &r.digest).collect();
        assert_eq!(got, digests.iter().collect::<Vec<_>>(), "oldest push first");
        assert!(whole.results.iter().all(|r| r.applied_rule_priority == 3));
        assert_eq!(whole.results[2].tags, ["b", "c"]);
        assert_eq!(whole.results[2].pushed_at, NOW - 8 * DAY);

        // Pages of two: every result once, in order; the total is the whole preview's.
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let p = page(
                &registry,
                &PreviewQuery {
                    after: after.as_deref(),
                    limit: 2,
                    ..all()
                },
            )
            .await;
            assert!(p.results.len() <= 2);
            assert_eq!(p.expiring_total, 5);
            seen.extend(p.results.into_iter().map(|r| r.digest));
            match p.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, digests);

        let tagged = page(
            &registry,
            &PreviewQuery {
                tag_status: TagStatus::Tagged,
                ..all()
            },
        )
        .await;
        assert_eq!(tagged.results.len(), 3);
        assert_eq!(tagged.expiring_total, 5, "the summary ignores the filter");
        let untagged = page(
            &registry,
            &PreviewQuery {
                tag_status: TagStatus::Untagged,
                ..all()
            },
        )
        .await;
        let got: Vec<&Digest> = untagged.results.iter().map(|r| &r.digest).collect();
        assert_eq!(got, [&digests[1], &digests[3]]);

        let ids = [
            ImageSelector {
                tag: Some("c".parse().unwrap()),
                digest: None,
            },
            ImageSelector {
                tag: None,
                digest: Some(digests[3].clone()),
            },
            // Both must hold: this digest does not carry this tag.
            ImageSelector {
                tag: Some("a".parse().unwrap()),
                digest: Some(digests[4].clone()),
            },
            // Kept by the policy: in the repository, not in the preview.
            ImageSelector {
                tag: None,
                digest: Some(newest.clone()),
            },
        ];
        let picked = page(
            &registry,
            &PreviewQuery {
                images: Some(&ids),
                ..all()
            },
        )
        .await;
        let got: Vec<&Digest> = picked.results.iter().map(|r| &r.digest).collect();
        assert_eq!(got, [&digests[2], &digests[3]]);
        let picked_tagged = page(
            &registry,
            &PreviewQuery {
                images: Some(&ids),
                tag_status: TagStatus::Tagged,
                ..all()
            },
        )
        .await;
        assert_eq!(picked_tagged.results.len(), 1);
    }

    #[tokio::test]
    async fn a_preview_expires_nothing_and_records_no_evaluation() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, meta) = setup(&dir).await;
        for i in 0..3 {
            image(&meta, "app", &format!("u{i}"), &[], (5 - i) * DAY).await;
        }
        meta.set_lifecycle_policy("app", Some(KEEP_ONE_UNTAGGED))
            .await
            .unwrap();
        let started = registry
            .start_lifecycle_preview("app", None, NOW)
            .await
            .unwrap();
        assert!(
            matches!(started, PreviewStart::Complete { expiring: 2, .. }),
            "{started:?}"
        );
        assert_eq!(meta.images("app").await.unwrap().len(), 3);
        let record = meta.repository("app").await.unwrap().unwrap();
        assert_eq!(record.lifecycle_evaluated_at, None);
        assert_eq!(page(&registry, &all()).await.policy_text, KEEP_ONE_UNTAGGED);
    }

    #[tokio::test]
    async fn each_start_replaces_the_preview_and_a_missing_policy_or_repository_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, meta) = setup(&dir).await;
        assert_eq!(
            registry.lifecycle_preview("app", &all()).await.unwrap(),
            PreviewLookup::NotStarted
        );
        assert_eq!(
            registry.lifecycle_preview("nope", &all()).await.unwrap(),
            PreviewLookup::NameUnknown
        );
        assert_eq!(
            registry
                .start_lifecycle_preview("app", None, NOW)
                .await
                .unwrap(),
            PreviewStart::NoPolicy
        );
        assert_eq!(
            registry
                .start_lifecycle_preview("nope", Some(KEEP_ONE_ANY), NOW)
                .await
                .unwrap(),
            PreviewStart::NameUnknown
        );
        for i in 0..2 {
            image(&meta, "app", &format!("u{i}"), &[], (5 - i) * DAY).await;
        }
        registry
            .start_lifecycle_preview("app", Some(KEEP_ONE_ANY), NOW)
            .await
            .unwrap();
        assert_eq!(page(&registry, &all()).await.expiring_total, 1);
        let keep_all = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#;
        registry
            .start_lifecycle_preview("app", Some(keep_all), NOW + DAY)
            .await
            .unwrap();
        let replaced = page(&registry, &all()).await;
        assert_eq!(replaced.policy_text, keep_all);
        assert_eq!(replaced.evaluated_at, NOW + DAY);
        assert!(replaced.results.is_empty());
        assert_eq!(replaced.expiring_total, 0);

        // What an older version could have stored, bypassing validation.
        meta.set_lifecycle_policy("app", Some(r#"{"rules":[]}"#))
            .await
            .unwrap();
        assert!(matches!(
            registry.start_lifecycle_preview("app", None, NOW).await.unwrap(),
            PreviewStart::BrokenPolicy(reason) if reason.contains("at least one rule")
        ));
        assert!(matches!(
            registry
                .start_lifecycle_preview("app", Some("not json"), NOW)
                .await
                .unwrap_err(),
            Error::Unsupported(_)
        ));
    }

    /// An example of the ECR user guide ("Examples of lifecycle policies"): a policy, images
    /// (name, tags, days since the push) and the images it expires, with the rule that does.
    struct Example {
        name: &'static str,
        policy: &'static str,
        images: &'static [(&'static str, &'static [&'static str], i64)],
        expired: &'static [(&'static str, u64)],
    }

    fn rule(priority: u64, selection: &str) -> String {
        format!(
            r#"{{"rulePriority":{priority},"selection":{selection},"action":{{"type":"expire"}}}}"#
        )
    }

    async fn check(example: &Example) {
        let dir = tempfile::tempdir().unwrap();
        let (registry, meta) = setup(&dir).await;
        let mut names = std::collections::HashMap::new();
        for (name, tags, days_ago) in example.images {
            let d = image(&meta, "app", name, tags, days_ago * DAY).await;
            names.insert(d, *name);
        }
        let started = registry
            .start_lifecycle_preview("app", Some(example.policy), NOW)
            .await
            .unwrap();
        assert!(
            matches!(started, PreviewStart::Complete { .. }),
            "{}: {started:?}",
            example.name
        );
        let got: Vec<(&str, u64)> = page(&registry, &all())
            .await
            .results
            .iter()
            .map(|r| (names[&r.digest], r.applied_rule_priority))
            .collect();
        assert_eq!(got, example.expired, "{}", example.name);
        // And an actual run of the same policy, stored, expires exactly what the preview listed.
        meta.set_lifecycle_policy("app", Some(example.policy))
            .await
            .unwrap();
        let report = registry
            .run_lifecycle(Some("app"), false, NOW, &crate::audit::AuditLog::disabled())
            .await
            .unwrap();
        let ran: Vec<(&str, u64)> = report
            .expired
            .iter()
            .map(|e| (names[&e.digest], e.rule_priority))
            .collect();
        assert_eq!(ran, example.expired, "{} (run)", example.name);
        let left = meta.images("app").await.unwrap().len();
        assert_eq!(
            left,
            example.images.len() - example.expired.len(),
            "{} (run)",
            example.name
        );
    }

    /// The guide's examples that count days. A black-box test cannot wait days between pushes,
    /// so these run here with push times set in the store; the ones that only count images run
    /// against the real server too (crates/testkit/tests/lifecycle_preview.rs).
    #[tokio::test]
    async fn the_user_guide_examples_that_count_days() {
        let age_untagged = format!(
            r#"{{"rules":[{}]}}"#,
            rule(
                1,
                r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14}"#
            )
        );
        let age_prod = format!(
            r#"{{"rules":[{}]}}"#,
            rule(
                1,
                r#"{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14}"#
            )
        );
        let alpha_and_beta = format!(
            r#"{{"rules":[{}]}}"#,
            rule(
                1,
                r#"{"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"sinceImagePushed","countNumber":5,"countUnit":"days"}"#
            )
        );
        let alpha_and_beta_patterns = alpha_and_beta.replace(
            r#""tagPrefixList":["alpha","beta"]"#,
            r#""tagPatternList":["alpha*","beta*"]"#,
        );
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let single_rule_images: &[(&str, &[&str], i64)] = &[
            ("A", &["alpha-1"], 12),
            ("B", &["beta-1"], 11),
            ("C", &["alpha-2", "beta-2"], 10),
            ("D", &["alpha-3"], 4),
            ("E", &["beta-3"], 3),
            ("F", &["alpha-4", "beta-4"], 2),
        ];
        let examples = [
            Example {
                name: "filtering on image age (untagged, older than 14 days)",
                policy: leak(age_untagged),
                images: &[
                    ("old", &[], 15),
                    ("edge", &[], 14),
                    ("new", &[], 13),
                    ("tagged", &["v1"], 30),
                ],
                expired: &[("old", 1)],
            },
            Example {
                name: "filtering on image age (prod*, older than 14 days)",
                policy: leak(age_prod),
                images: &[
                    ("prod-old", &["prod-1"], 20),
                    ("dev-old", &["dev-1"], 20),
                    ("prod-new", &["prod-2"], 2),
                    ("untagged", &[], 30),
                ],
                expired: &[("prod-old", 1)],
            },
            Example {
                name: "multiple tags in a single rule, example A (prefixes)",
                policy: leak(alpha_and_beta),
                images: single_rule_images,
                expired: &[("C", 1)],
            },
            Example {
                name: "multiple tags in a single rule, example A (patterns)",
                policy: leak(alpha_and_beta_patterns),
                images: single_rule_images,
                expired: &[("C", 1)],
            },
        ];
        for example in &examples {
            check(example).await;
        }
    }

    /// The guide's "Filtering on all images", example B, which mixes an age rule with counts:
    /// Rule 3's `imageCountMoreThan 1` counts every image its filter selects (A..E), keeps the
    /// newest (E) and expires the one no earlier rule selected (D).
    #[tokio::test]
    async fn the_user_guide_example_mixing_every_rule_type() {
        let policy = format!(
            r#"{{"rules":[{},{},{}]}}"#,
            rule(
                1,
                r#"{"tagStatus":"tagged","tagPrefixList":["alpha"],"countType":"imageCountMoreThan","countNumber":1}"#
            ),
            rule(
                2,
                r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1}"#
            ),
            rule(
                3,
                r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}"#
            ),
        );
        let dir = tempfile::tempdir().unwrap();
        let (registry, meta) = setup(&dir).await;
        let minute = 60_000;
        let mut names = std::collections::HashMap::new();
        // "Pushed: 1 day ago" for both D and E: D a little before E, so E is the newest.
        for (name, tags, ms_ago) in [
            ("A", &["alpha-1", "beta-1"][..], 4 * DAY),
            ("B", &[], 3 * DAY),
            ("C", &["alpha-2"], 2 * DAY),
            ("D", &["3f2a9c1"], DAY + minute),
            ("E", &[], DAY - minute),
        ] {
            names.insert(image(&meta, "app", name, tags, ms_ago).await, name);
        }
        registry
            .start_lifecycle_preview("app", Some(&policy), NOW)
            .await
            .unwrap();
        let got: Vec<(&str, u64)> = page(&registry, &all())
            .await
            .results
            .iter()
            .map(|r| (names[&r.digest], r.applied_rule_priority))
            .collect();
        assert_eq!(got, [("A", 1), ("B", 2), ("D", 3)]);
        meta.set_lifecycle_policy("app", Some(&policy))
            .await
            .unwrap();
        let report = registry
            .run_lifecycle(Some("app"), false, NOW, &crate::audit::AuditLog::disabled())
            .await
            .unwrap();
        let ran: Vec<(&str, u64)> = report
            .expired
            .iter()
            .map(|e| (names[&e.digest], e.rule_priority))
            .collect();
        assert_eq!(ran, got);
    }
}
