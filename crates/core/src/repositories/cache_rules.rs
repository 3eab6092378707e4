//! Pull-through cache rules: which repository prefix caches which upstream registry, and with
//! which credentials (a Secrets Manager ARN, never the credentials themselves). The rules are
//! registry-wide documents kept like creation templates.

use portcullis_storage::{DocumentKind, DocumentRecord};
use serde::{Deserialize, Serialize};

use super::Repositories;
use crate::Result;

/// ECR's quota of pull-through cache rules per registry.
pub const MAX_CACHE_RULES: usize = 50;

/// The prefix that matches every repository no other rule matches.
pub const ROOT: &str = "ROOT";

/// The upstream kinds ECR names (`upstreamRegistry`). A registry that is none of them (a
/// self-hosted one) has no kind: the rule works the same, without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpstreamRegistry {
    #[serde(rename = "ecr")]
    Ecr,
    #[serde(rename = "ecr-public")]
    EcrPublic,
    #[serde(rename = "quay")]
    Quay,
    #[serde(rename = "k8s")]
    K8s,
    #[serde(rename = "docker-hub")]
    DockerHub,
    #[serde(rename = "github-container-registry")]
    GithubContainerRegistry,
    #[serde(rename = "azure-container-registry")]
    AzureContainerRegistry,
    #[serde(rename = "gitlab-container-registry")]
    GitlabContainerRegistry,
    #[serde(rename = "chainguard")]
    Chainguard,
}

impl UpstreamRegistry {
    pub const ALL: [UpstreamRegistry; 9] = [
        UpstreamRegistry::Ecr,
        UpstreamRegistry::EcrPublic,
        UpstreamRegistry::Quay,
        UpstreamRegistry::K8s,
        UpstreamRegistry::DockerHub,
        UpstreamRegistry::GithubContainerRegistry,
        UpstreamRegistry::AzureContainerRegistry,
        UpstreamRegistry::GitlabContainerRegistry,
        UpstreamRegistry::Chainguard,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UpstreamRegistry::Ecr => "ecr",
            UpstreamRegistry::EcrPublic => "ecr-public",
            UpstreamRegistry::Quay => "quay",
            UpstreamRegistry::K8s => "k8s",
            UpstreamRegistry::DockerHub => "docker-hub",
            UpstreamRegistry::GithubContainerRegistry => "github-container-registry",
            UpstreamRegistry::AzureContainerRegistry => "azure-container-registry",
            UpstreamRegistry::GitlabContainerRegistry => "gitlab-container-registry",
            UpstreamRegistry::Chainguard => "chainguard",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }

    /// The kind of a well-known upstream host, as ECR infers it when `upstreamRegistry` is left
    /// out.
    pub fn infer(host: &str) -> Option<Self> {
        let host = host.to_ascii_lowercase();
        Some(match host.as_str() {
            "registry-1.docker.io" | "docker.io" | "index.docker.io" => UpstreamRegistry::DockerHub,
            "public.ecr.aws" => UpstreamRegistry::EcrPublic,
            "quay.io" => UpstreamRegistry::Quay,
            "registry.k8s.io" => UpstreamRegistry::K8s,
            "ghcr.io" => UpstreamRegistry::GithubContainerRegistry,
            "registry.gitlab.com" => UpstreamRegistry::GitlabContainerRegistry,
            "cgr.dev" => UpstreamRegistry::Chainguard,
            h if h.ends_with(".azurecr.io") => UpstreamRegistry::AzureContainerRegistry,
            h if h.contains(".dkr.ecr.") && h.ends_with(".amazonaws.com") => UpstreamRegistry::Ecr,
            _ => return None,
        })
    }

    /// The upstreams ECR refuses without a `credentialArn` (they rate-limit or refuse
    /// anonymous pulls).
    pub fn needs_credentials(self) -> bool {
        matches!(
            self,
            UpstreamRegistry::DockerHub
                | UpstreamRegistry::GithubContainerRegistry
                | UpstreamRegistry::AzureContainerRegistry
                | UpstreamRegistry::GitlabContainerRegistry
        )
    }
}

/// What a rule says, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheRuleSpec {
    /// As given, without a trailing slash: `registry-1.docker.io`, `https://mirror:5000`, or
    /// `http://127.0.0.1:5000` (plain HTTP only for loopback upstreams).
    pub upstream_registry_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_registry: Option<UpstreamRegistry>,
    /// The upstream repository prefix the rule's repositories map to (`ROOT`: none).
    #[serde(default = "root")]
    pub upstream_repository_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_arn: Option<String>,
}

impl CacheRuleSpec {
    pub fn to_stored(&self) -> String {
        // Plain strings and an enum: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn root() -> String {
    ROOT.to_owned()
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRule {
    pub ecr_repository_prefix: String,
    pub spec: CacheRuleSpec,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

impl CacheRule {
    /// The upstream repository a local repository of this rule caches: the local name without
    /// the rule's prefix, under the upstream prefix; Docker Hub's official images live under
    /// `library/`. `None` when the rule does not cover `repo`.
    pub fn upstream_repository(&self, repo: &str) -> Option<String> {
        let rest = if self.ecr_repository_prefix == ROOT {
            repo
        } else {
            repo.strip_prefix(self.ecr_repository_prefix.as_str())?
                .strip_prefix('/')?
        };
        if rest.is_empty() {
            return None;
        }
        let mut upstream = if self.spec.upstream_repository_prefix == ROOT {
            rest.to_owned()
        } else {
            format!("{}/{rest}", self.spec.upstream_repository_prefix)
        };
        if self.spec.upstream_registry == Some(UpstreamRegistry::DockerHub)
            && !upstream.contains('/')
        {
            upstream = format!("library/{upstream}");
        }
        Some(upstream)
    }
}

/// What [`Repositories::create_cache_rule`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheRuleCreation {
    Created(Box<CacheRule>),
    Exists,
    TooMany,
}

/// The rule that covers `repo`: the longest prefix that is a whole path segment of it, ROOT
/// last.
pub fn rule_for<'a>(rules: &'a [CacheRule], repo: &str) -> Option<&'a CacheRule> {
    rules
        .iter()
        .filter(|r| r.upstream_repository(repo).is_some())
        .max_by_key(|r| {
            if r.ecr_repository_prefix == ROOT {
                0
            } else {
                r.ecr_repository_prefix.len() + 1
            }
        })
}

fn rule_of(r: DocumentRecord) -> Option<CacheRule> {
    // A document that no longer parses covers nothing; it is still listed by its prefix so it
    // can be deleted (with the URL left empty).
    let spec = serde_json::from_str(&r.document).unwrap_or_else(|e| {
        tracing::error!(prefix = %r.prefix, error = %e, "stored pull-through cache rule does not parse");
        CacheRuleSpec {
            upstream_registry_url: String::new(),
            upstream_registry: None,
            upstream_repository_prefix: root(),
            credential_arn: None,
        }
    });
    Some(CacheRule {
        ecr_repository_prefix: r.prefix,
        spec,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

const KIND: DocumentKind = DocumentKind::PullThroughCacheRule;

impl Repositories {
    /// Every rule, ordered by prefix.
    pub async fn cache_rules(&self) -> Result<Vec<CacheRule>> {
        Ok(self
            .meta
            .documents(KIND)
            .await?
            .into_iter()
            .filter_map(rule_of)
            .collect())
    }

    pub async fn cache_rule(&self, prefix: &str) -> Result<Option<CacheRule>> {
        Ok(self.meta.document(KIND, prefix).await?.and_then(rule_of))
    }

    pub async fn create_cache_rule(
        &self,
        prefix: &str,
        spec: &CacheRuleSpec,
    ) -> Result<CacheRuleCreation> {
        if self.meta.documents(KIND).await?.len() >= MAX_CACHE_RULES {
            return Ok(CacheRuleCreation::TooMany);
        }
        if !self
            .meta
            .create_document(KIND, prefix, &spec.to_stored())
            .await?
        {
            return Ok(CacheRuleCreation::Exists);
        }
        Ok(match self.cache_rule(prefix).await? {
            Some(r) => CacheRuleCreation::Created(Box::new(r)),
            None => CacheRuleCreation::Exists,
        })
    }

    /// The updated rule; `None` when there is no rule with this prefix.
    pub async fn update_cache_rule(
        &self,
        prefix: &str,
        spec: &CacheRuleSpec,
    ) -> Result<Option<CacheRule>> {
        if !self
            .meta
            .update_document(KIND, prefix, &spec.to_stored())
            .await?
        {
            return Ok(None);
        }
        self.cache_rule(prefix).await
    }

    /// The deleted rule; `None` when there was none with this prefix.
    pub async fn delete_cache_rule(&self, prefix: &str) -> Result<Option<CacheRule>> {
        Ok(self
            .meta
            .delete_document(KIND, prefix)
            .await?
            .and_then(rule_of))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str, upstream: &str, kind: Option<UpstreamRegistry>) -> CacheRule {
        CacheRule {
            ecr_repository_prefix: prefix.into(),
            spec: CacheRuleSpec {
                upstream_registry_url: "registry.example".into(),
                upstream_registry: kind,
                upstream_repository_prefix: upstream.into(),
                credential_arn: None,
            },
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_repository_maps_to_its_upstream_repository() {
        let hub = rule("hub", ROOT, Some(UpstreamRegistry::DockerHub));
        assert_eq!(
            hub.upstream_repository("hub/golang").as_deref(),
            Some("library/golang")
        );
        assert_eq!(
            hub.upstream_repository("hub/bitnami/redis").as_deref(),
            Some("bitnami/redis")
        );
        assert_eq!(
            hub.upstream_repository("hub"),
            None,
            "the prefix alone is no image"
        );
        assert_eq!(
            hub.upstream_repository("hubby/x"),
            None,
            "whole segments only"
        );
        let mirror = rule("team/cache", "mirror/base", None);
        assert_eq!(
            mirror.upstream_repository("team/cache/app").as_deref(),
            Some("mirror/base/app")
        );
        let everything = rule(ROOT, ROOT, None);
        assert_eq!(
            everything.upstream_repository("x/y").as_deref(),
            Some("x/y")
        );
    }

    #[test]
    fn the_longest_prefix_wins_and_root_comes_last() {
        let rules = [
            rule(ROOT, ROOT, None),
            rule("a", ROOT, None),
            rule("a/b", ROOT, None),
        ];
        let pick = |repo| rule_for(&rules, repo).map(|r| r.ecr_repository_prefix.as_str());
        assert_eq!(pick("a/b/c"), Some("a/b"));
        assert_eq!(pick("a/c"), Some("a"));
        assert_eq!(pick("z"), Some(ROOT));
        assert_eq!(rule_for(&rules[1..], "z"), None);
    }

    #[test]
    fn well_known_hosts_have_their_kind() {
        assert_eq!(
            UpstreamRegistry::infer("registry-1.docker.io"),
            Some(UpstreamRegistry::DockerHub)
        );
        assert_eq!(
            UpstreamRegistry::infer("x.azurecr.io"),
            Some(UpstreamRegistry::AzureContainerRegistry)
        );
        assert_eq!(
            UpstreamRegistry::infer("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            Some(UpstreamRegistry::Ecr)
        );
        assert_eq!(UpstreamRegistry::infer("127.0.0.1:5000"), None);
        for r in UpstreamRegistry::ALL {
            assert_eq!(UpstreamRegistry::parse(r.name()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
        }
    }
}
