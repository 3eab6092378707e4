//! What the registry knows: ECR actions with their resource types and condition keys, the
//! few IAM/STS actions Portcullis serves, and the global condition keys it fills in
//! (spec 5.6; `../shared/spec/ecr-api.md` section 4). Data only.

/// The resource an action is authorized against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// `arn:aws:ecr:REGION:ACCOUNT:repository/NAME`.
    Repository,
    /// No resource type: the request resource is `*`.
    None,
}

/// Condition keys an action supports beyond the global ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKeys {
    /// `aws:ResourceTag/K`, `ecr:ResourceTag/K` (repository actions).
    ResourceTags,
    /// Resource tags plus `aws:RequestTag/K` and `aws:TagKeys` (CreateRepository, TagResource).
    RequestTags,
    /// Resource tags plus `aws:TagKeys` (UntagResource).
    TagKeys,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionInfo {
    /// `service:Name`, as AWS spells it.
    pub name: &'static str,
    pub resource: ResourceType,
    pub keys: ActionKeys,
}

const fn repo(name: &'static str) -> ActionInfo {
    ActionInfo {
        name,
        resource: ResourceType::Repository,
        keys: ActionKeys::ResourceTags,
    }
}

const fn registry(name: &'static str) -> ActionInfo {
    ActionInfo {
        name,
        resource: ResourceType::None,
        keys: ActionKeys::None,
    }
}

/// Every action the registry authorizes.
pub const ACTIONS: &[ActionInfo] = &[
    repo("ecr:BatchCheckLayerAvailability"),
    repo("ecr:BatchDeleteImage"),
    repo("ecr:BatchGetImage"),
    repo("ecr:BatchGetRepositoryScanningConfiguration"),
    repo("ecr:BatchImportUpstreamImage"),
    repo("ecr:CompleteLayerUpload"),
    registry("ecr:CreatePullThroughCacheRule"),
    ActionInfo {
        name: "ecr:CreateRepository",
        resource: ResourceType::Repository,
        keys: ActionKeys::RequestTags,
    },
    registry("ecr:CreateRepositoryCreationTemplate"),
    repo("ecr:DeleteLifecyclePolicy"),
    registry("ecr:DeletePullThroughCacheRule"),
    registry("ecr:DeleteRegistryPolicy"),
    repo("ecr:DeleteRepository"),
    registry("ecr:DeleteRepositoryCreationTemplate"),
    repo("ecr:DeleteRepositoryPolicy"),
    registry("ecr:DeleteSigningConfiguration"),
    registry("ecr:DeregisterPullTimeUpdateExclusion"),
    repo("ecr:DescribeImageReplicationStatus"),
    repo("ecr:DescribeImageScanFindings"),
    repo("ecr:DescribeImageSigningStatus"),
    repo("ecr:DescribeImages"),
    registry("ecr:DescribePullThroughCacheRules"),
    registry("ecr:DescribeRegistry"),
    registry("ecr:DescribeReplicationBackfillResults"),
    repo("ecr:DescribeRepositories"),
    registry("ecr:DescribeRepositoryCreationTemplates"),
    registry("ecr:GetAccountSetting"),
    registry("ecr:GetAuthorizationToken"),
    repo("ecr:GetDownloadUrlForLayer"),
    repo("ecr:GetLifecyclePolicy"),
    repo("ecr:GetLifecyclePolicyPreview"),
    registry("ecr:GetRegistryPolicy"),
    registry("ecr:GetRegistryScanningConfiguration"),
    repo("ecr:GetRepositoryPolicy"),
    registry("ecr:GetSigningConfiguration"),
    repo("ecr:InitiateLayerUpload"),
    repo("ecr:ListImageReferrers"),
    repo("ecr:ListImages"),
    registry("ecr:ListPullTimeUpdateExclusions"),
    registry("ecr:ListReplicationBackfills"),
    repo("ecr:ListTagsForResource"),
    registry("ecr:PutAccountSetting"),
    repo("ecr:PutImage"),
    repo("ecr:PutImageScanningConfiguration"),
    repo("ecr:PutImageTagMutability"),
    repo("ecr:PutLifecyclePolicy"),
    registry("ecr:PutRegistryPolicy"),
    registry("ecr:PutRegistryScanningConfiguration"),
    registry("ecr:PutReplicationConfiguration"),
    registry("ecr:PutSigningConfiguration"),
    registry("ecr:RegisterPullTimeUpdateExclusion"),
    repo("ecr:ReplicateImage"),
    repo("ecr:SetRepositoryPolicy"),
    repo("ecr:StartImageScan"),
    repo("ecr:StartLifecyclePolicyPreview"),
    registry("ecr:StartReplicationBackfill"),
    registry("ecr:StopReplicationBackfill"),
    ActionInfo {
        name: "ecr:TagResource",
        resource: ResourceType::Repository,
        keys: ActionKeys::RequestTags,
    },
    ActionInfo {
        name: "ecr:UntagResource",
        resource: ResourceType::Repository,
        keys: ActionKeys::TagKeys,
    },
    repo("ecr:UpdateImageStorageClass"),
    registry("ecr:UpdatePullThroughCacheRule"),
    registry("ecr:UpdateRepositoryCreationTemplate"),
    repo("ecr:UploadLayerPart"),
    registry("ecr:ValidatePullThroughCacheRule"),
    // STS and IAM operations the registry serves or the spec names (sessions, 3.6).
    registry("sts:AssumeRole"),
    registry("sts:GetCallerIdentity"),
    registry("sts:GetFederationToken"),
    registry("sts:GetSessionToken"),
    registry("iam:ListAccessKeys"),
    registry("iam:PassRole"),
];

/// Case-insensitive lookup of an exact action name.
pub fn action(name: &str) -> Option<&'static ActionInfo> {
    ACTIONS.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Services whose actions this registry knows.
pub const SERVICES: &[&str] = &["ecr", "sts", "iam"];

/// The type a condition key's values have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    String,
    Arn,
    Bool,
    Date,
    /// `aws:EpochTime`: works with both Date and Numeric operators.
    DateOrNumeric,
    Ip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key, or its prefix ending in `/` for tag keys (`aws:PrincipalTag/`).
    pub name: &'static str,
    pub ty: KeyType,
    pub multivalued: bool,
    /// Which actions support it: `None` means every action.
    pub only: Option<ActionKeys>,
}

const fn global(name: &'static str, ty: KeyType) -> KeyInfo {
    KeyInfo {
        name,
        ty,
        multivalued: false,
        only: None,
    }
}

/// The condition keys Portcullis fills in (spec 5.6).
pub const KEYS: &[KeyInfo] = &[
    global("aws:CurrentTime", KeyType::Date),
    global("aws:EpochTime", KeyType::DateOrNumeric),
    global("aws:SecureTransport", KeyType::Bool),
    global("aws:SourceIp", KeyType::Ip),
    global("aws:SourceVpce", KeyType::String),
    global("aws:SourceVpc", KeyType::String),
    global("aws:VpcSourceIp", KeyType::Ip),
    global("aws:PrincipalArn", KeyType::Arn),
    global("aws:PrincipalAccount", KeyType::String),
    global("aws:PrincipalType", KeyType::String),
    global("aws:userid", KeyType::String),
    global("aws:username", KeyType::String),
    global("aws:PrincipalTag/", KeyType::String),
    global("aws:TokenIssueTime", KeyType::Date),
    global("aws:MultiFactorAuthPresent", KeyType::Bool),
    global("aws:RequestedRegion", KeyType::String),
    global("aws:UserAgent", KeyType::String),
    global("aws:ViaAWSService", KeyType::Bool),
    global("aws:PrincipalIsAWSService", KeyType::Bool),
    global("aws:PrincipalServiceName", KeyType::String),
    KeyInfo {
        name: "aws:ResourceTag/",
        ty: KeyType::String,
        multivalued: false,
        only: Some(ActionKeys::ResourceTags),
    },
    KeyInfo {
        name: "ecr:ResourceTag/",
        ty: KeyType::String,
        multivalued: false,
        only: Some(ActionKeys::ResourceTags),
    },
    KeyInfo {
        name: "aws:RequestTag/",
        ty: KeyType::String,
        multivalued: false,
        only: Some(ActionKeys::RequestTags),
    },
    KeyInfo {
        name: "aws:TagKeys",
        ty: KeyType::String,
        multivalued: true,
        only: Some(ActionKeys::TagKeys),
    },
];

/// Case-insensitive lookup; tag keys match by prefix (`aws:PrincipalTag/team`).
pub fn key(name: &str) -> Option<&'static KeyInfo> {
    KEYS.iter().find(|k| {
        if k.name.ends_with('/') {
            name.len() > k.name.len()
                && name
                    .get(..k.name.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(k.name))
        } else {
            name.eq_ignore_ascii_case(k.name)
        }
    })
}

/// Whether `action` supports `key` (global keys: every action).
pub fn action_supports(action: &ActionInfo, key: &KeyInfo) -> bool {
    match key.only {
        None => true,
        Some(ActionKeys::ResourceTags) => action.resource == ResourceType::Repository,
        Some(ActionKeys::RequestTags) => action.keys == ActionKeys::RequestTags,
        Some(ActionKeys::TagKeys) => {
            matches!(action.keys, ActionKeys::RequestTags | ActionKeys::TagKeys)
        }
        Some(ActionKeys::None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(
            action("ECR:getauthorizationtoken").map(|a| a.resource),
            Some(ResourceType::None)
        );
        assert!(key("aws:principaltag/team").is_some());
        assert!(key("aws:PrincipalTag/").is_none());
        assert!(key("aws:TagKeys").is_some_and(|k| k.multivalued));
        let create = action("ecr:CreateRepository").unwrap();
        assert!(action_supports(create, key("aws:TagKeys").unwrap()));
        let pull = action("ecr:BatchGetImage").unwrap();
        assert!(!action_supports(pull, key("aws:TagKeys").unwrap()));
        assert!(action_supports(pull, key("ecr:ResourceTag/env").unwrap()));
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = ACTIONS
            .iter()
            .map(|a| a.name.to_ascii_lowercase())
            .collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }
}
