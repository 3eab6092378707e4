//! Repository settings and creation templates, in the shapes the ECR API speaks.
//!
//! The store keeps both as JSON documents; this module owns their meaning: which tags are
//! immutable, which template a new repository name falls under, and what it is created with.

use serde::{Deserialize, Serialize};

/// `imageTagMutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagMutability {
    #[default]
    Mutable,
    Immutable,
    ImmutableWithExclusion,
    MutableWithExclusion,
}

impl TagMutability {
    pub const NAMES: [&'static str; 4] = [
        "MUTABLE",
        "IMMUTABLE",
        "IMMUTABLE_WITH_EXCLUSION",
        "MUTABLE_WITH_EXCLUSION",
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "MUTABLE" => TagMutability::Mutable,
            "IMMUTABLE" => TagMutability::Immutable,
            "IMMUTABLE_WITH_EXCLUSION" => TagMutability::ImmutableWithExclusion,
            "MUTABLE_WITH_EXCLUSION" => TagMutability::MutableWithExclusion,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TagMutability::Mutable => "MUTABLE",
            TagMutability::Immutable => "IMMUTABLE",
            TagMutability::ImmutableWithExclusion => "IMMUTABLE_WITH_EXCLUSION",
            TagMutability::MutableWithExclusion => "MUTABLE_WITH_EXCLUSION",
        }
    }

    /// Whether the `*_WITH_EXCLUSION` forms, which need filters, are meant.
    pub fn takes_filters(self) -> bool {
        matches!(
            self,
            TagMutability::ImmutableWithExclusion | TagMutability::MutableWithExclusion
        )
    }
}

/// `encryptionConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    pub encryption_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

impl Default for Encryption {
    fn default() -> Self {
        Encryption {
            encryption_type: "AES256".into(),
            kms_key: None,
        }
    }
}

/// What a repository is configured with beyond its policy and tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySettings {
    #[serde(default)]
    pub image_tag_mutability: TagMutability,
    /// Wildcard filters (`*` matches any run of characters) of the `*_WITH_EXCLUSION` forms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mutability_exclusions: Vec<String>,
    #[serde(default)]
    pub encryption: Encryption,
    #[serde(default)]
    pub scan_on_push: bool,
}

impl RepositorySettings {
    /// Reads a stored document; a repository without one (or with one this version cannot
    /// read) has the defaults, which are the most permissive only for mutability, as in ECR.
    pub fn from_stored(doc: Option<&str>) -> Self {
        match doc {
            None => RepositorySettings::default(),
            Some(text) => serde_json::from_str(text).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "unreadable repository settings; using defaults");
                RepositorySettings::default()
            }),
        }
    }

    pub fn to_stored(&self) -> String {
        // Serializing plain strings, bools and enums cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether a push may not move `tag` once it exists.
    pub fn tag_is_immutable(&self, tag: &str) -> bool {
        let excluded = || {
            self.mutability_exclusions
                .iter()
                .any(|f| wildcard_match(f, tag))
        };
        match self.image_tag_mutability {
            TagMutability::Mutable => false,
            TagMutability::Immutable => true,
            TagMutability::ImmutableWithExclusion => !excluded(),
            TagMutability::MutableWithExclusion => excluded(),
        }
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = parts.collect();
    let Some((last, middle)) = pieces.split_last() else {
        // No `*` at all: the whole text must have been the prefix.
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A resource tag, with the member names of the ECR API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceTag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

/// `imageTagMutabilityExclusionFilters` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExclusionFilter {
    pub filter_type: String,
    pub filter: String,
}

/// A repository creation template, stored in the API's own member names so that describing
/// one returns what was put.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CreationTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_configuration: Option<Encryption>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_tags: Vec<ResourceTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag_mutability: Option<TagMutability>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_tag_mutability_exclusion_filters: Vec<ExclusionFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_policy: Option<String>,
    #[serde(default)]
    pub applied_for: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role_arn: Option<String>,
}

impl CreationTemplate {
    pub const ROOT: &'static str = "ROOT";
    pub const CREATE_ON_PUSH: &'static str = "CREATE_ON_PUSH";

    pub fn from_stored(doc: &str) -> Option<Self> {
        serde_json::from_str(doc)
            .map_err(|e| tracing::warn!(error = %e, "unreadable creation template; skipped"))
            .ok()
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The settings a repository created from this template gets.
    pub fn settings(&self) -> RepositorySettings {
        RepositorySettings {
            image_tag_mutability: self.image_tag_mutability.unwrap_or_default(),
            mutability_exclusions: self
                .image_tag_mutability_exclusion_filters
                .iter()
                .map(|f| f.filter.clone())
                .collect(),
            encryption: self.encryption_configuration.clone().unwrap_or_default(),
            scan_on_push: false,
        }
    }
}

/// Whether a template prefix covers a repository name: `ROOT` covers every name, any other
/// prefix covers itself followed by `/` (a `/` is implied after the prefix).
pub fn prefix_covers(prefix: &str, name: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix == CreationTemplate::ROOT
        || name
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The most specific template among `candidates` (prefix, template) that covers `name`
/// and applies to `purpose`: the longest prefix wins, `ROOT` only when nothing else matches.
pub fn choose_template<'a>(
    candidates: &'a [(String, CreationTemplate)],
    name: &str,
    purpose: &str,
) -> Option<&'a (String, CreationTemplate)> {
    candidates
        .iter()
        .filter(|(prefix, t)| {
            prefix_covers(prefix, name) && t.applied_for.iter().any(|a| a == purpose)
        })
        .max_by_key(|(prefix, _)| {
            if prefix == CreationTemplate::ROOT {
                0
            } else {
                prefix.len() + 1
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("latest*", "latest"));
        assert!(wildcard_match("latest*", "latest-arm"));
        assert!(!wildcard_match("latest*", "v1"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("v*.*", "v1.2"));
        assert!(!wildcard_match("v*.*", "v12"));
        assert!(wildcard_match("a*a", "aa"));
        assert!(!wildcard_match("a*a", "a"));
        assert!(wildcard_match("exact", "exact"));
        assert!(!wildcard_match("exact", "exactly"));
    }

    #[test]
    fn immutability_with_exclusions() {
        let mut s = RepositorySettings {
            image_tag_mutability: TagMutability::ImmutableWithExclusion,
            mutability_exclusions: vec!["latest*".into()],
            ..Default::default()
        };
        assert!(!s.tag_is_immutable("latest"));
        assert!(s.tag_is_immutable("v1"));
        s.image_tag_mutability = TagMutability::MutableWithExclusion;
        assert!(s.tag_is_immutable("latest-x"));
        assert!(!s.tag_is_immutable("v1"));
        s.image_tag_mutability = TagMutability::Immutable;
        assert!(s.tag_is_immutable("latest"));
        let stored = s.to_stored();
        assert_eq!(RepositorySettings::from_stored(Some(&stored)), s);
        assert_eq!(
            RepositorySettings::from_stored(None).image_tag_mutability,
            TagMutability::Mutable
        );
    }

    #[test]
    fn longest_prefix_wins_and_root_is_last() {
        let t = |applied: &str| CreationTemplate {
            applied_for: vec![applied.into()],
            ..Default::default()
        };
        let all = vec![
            ("ROOT".to_owned(), t("CREATE_ON_PUSH")),
            ("team".to_owned(), t("CREATE_ON_PUSH")),
            ("team/app".to_owned(), t("CREATE_ON_PUSH")),
            ("cache".to_owned(), t("PULL_THROUGH_CACHE")),
        ];
        let pick = |n| choose_template(&all, n, "CREATE_ON_PUSH").map(|(p, _)| p.as_str());
        assert_eq!(pick("team/app/api"), Some("team/app"));
        assert_eq!(pick("team/other"), Some("team"));
        assert_eq!(pick("teamx/a"), Some("ROOT"));
        assert_eq!(pick("team"), Some("ROOT"));
        assert_eq!(pick("cache/a"), Some("ROOT"));
        assert_eq!(choose_template(&all[1..], "x/y", "CREATE_ON_PUSH"), None);
    }
}
