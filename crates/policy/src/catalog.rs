//! What the registry knows: ECR actions with their resource types and condition keys, the
//! IAM actions Portcullis serves (and the STS ones the spec names), and the global condition keys it fills in
//! (spec 5.6; `../shared/spec/ecr-api.md` section 4). Data only.

/// The resource an action is authorized against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// `arn:aws:ecr:REGION:ACCOUNT:repository/NAME`.
    Repository,
    /// `arn:aws:iam::ACCOUNT:user/...`, `role/...` (taggable) or `group/...`.
    IamPrincipal,
    /// `arn:aws:iam::ACCOUNT:policy/...`.
    IamPolicy,
    /// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX` (taggable).
    Secret,
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
    /// Resource tags plus `iam:PolicyARN` (Attach/Detach*Policy).
    PolicyArn,
    /// As a key's scope: `ecr:ResourceTag/K`, repository actions only.
    EcrResourceTags,
    /// As a key's scope: `iam:ResourceTag/K`, actions on IAM users and roles only.
    IamResourceTags,
    /// As a key's scope: `secretsmanager:ResourceTag/K`, actions on secrets only.
    SecretsResourceTags,
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

const fn iam(name: &'static str, keys: ActionKeys) -> ActionInfo {
    ActionInfo {
        name,
        resource: ResourceType::IamPrincipal,
        keys,
    }
}

const fn iam_policy(name: &'static str) -> ActionInfo {
    ActionInfo {
        name,
        resource: ResourceType::IamPolicy,
        keys: ActionKeys::None,
    }
}

const fn secret(name: &'static str, keys: ActionKeys) -> ActionInfo {
    ActionInfo {
        name,
        resource: ResourceType::Secret,
        keys,
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
    // The IAM operations the registry serves, with the keys IAM sets for them.
    iam("iam:CreateUser", ActionKeys::RequestTags),
    iam("iam:GetUser", ActionKeys::ResourceTags),
    iam("iam:DeleteUser", ActionKeys::ResourceTags),
    iam("iam:CreateGroup", ActionKeys::ResourceTags),
    iam("iam:GetGroup", ActionKeys::ResourceTags),
    iam("iam:DeleteGroup", ActionKeys::ResourceTags),
    iam("iam:AddUserToGroup", ActionKeys::ResourceTags),
    iam("iam:RemoveUserFromGroup", ActionKeys::ResourceTags),
    iam("iam:ListGroupsForUser", ActionKeys::ResourceTags),
    iam("iam:CreateRole", ActionKeys::RequestTags),
    iam("iam:GetRole", ActionKeys::ResourceTags),
    iam("iam:DeleteRole", ActionKeys::ResourceTags),
    iam("iam:CreateAccessKey", ActionKeys::ResourceTags),
    iam("iam:ListAccessKeys", ActionKeys::ResourceTags),
    iam("iam:UpdateAccessKey", ActionKeys::ResourceTags),
    iam("iam:DeleteAccessKey", ActionKeys::ResourceTags),
    iam("iam:PutUserPolicy", ActionKeys::ResourceTags),
    iam("iam:GetUserPolicy", ActionKeys::ResourceTags),
    iam("iam:ListUserPolicies", ActionKeys::ResourceTags),
    iam("iam:DeleteUserPolicy", ActionKeys::ResourceTags),
    iam("iam:AttachUserPolicy", ActionKeys::PolicyArn),
    iam("iam:DetachUserPolicy", ActionKeys::PolicyArn),
    iam("iam:ListAttachedUserPolicies", ActionKeys::ResourceTags),
    iam("iam:PutGroupPolicy", ActionKeys::ResourceTags),
    iam("iam:GetGroupPolicy", ActionKeys::ResourceTags),
    iam("iam:ListGroupPolicies", ActionKeys::ResourceTags),
    iam("iam:DeleteGroupPolicy", ActionKeys::ResourceTags),
    iam("iam:AttachGroupPolicy", ActionKeys::PolicyArn),
    iam("iam:DetachGroupPolicy", ActionKeys::PolicyArn),
    iam("iam:ListAttachedGroupPolicies", ActionKeys::ResourceTags),
    iam("iam:PutRolePolicy", ActionKeys::ResourceTags),
    iam("iam:GetRolePolicy", ActionKeys::ResourceTags),
    iam("iam:ListRolePolicies", ActionKeys::ResourceTags),
    iam("iam:DeleteRolePolicy", ActionKeys::ResourceTags),
    iam("iam:AttachRolePolicy", ActionKeys::PolicyArn),
    iam("iam:DetachRolePolicy", ActionKeys::PolicyArn),
    iam("iam:ListAttachedRolePolicies", ActionKeys::ResourceTags),
    iam("iam:TagUser", ActionKeys::RequestTags),
    iam("iam:UntagUser", ActionKeys::TagKeys),
    iam("iam:ListUserTags", ActionKeys::ResourceTags),
    iam("iam:TagRole", ActionKeys::RequestTags),
    iam("iam:UntagRole", ActionKeys::TagKeys),
    iam("iam:ListRoleTags", ActionKeys::ResourceTags),
    iam("iam:SimulatePrincipalPolicy", ActionKeys::ResourceTags),
    iam("iam:PassRole", ActionKeys::ResourceTags),
    iam_policy("iam:CreatePolicy"),
    iam_policy("iam:GetPolicy"),
    iam_policy("iam:DeletePolicy"),
    iam_policy("iam:GetPolicyVersion"),
    iam("iam:ListUsers", ActionKeys::None),
    iam("iam:ListGroups", ActionKeys::None),
    iam("iam:ListRoles", ActionKeys::None),
    iam_policy("iam:ListPolicies"),
    registry("iam:GetAccountAuthorizationDetails"),
    registry("iam:SimulateCustomPolicy"),
    // The Secrets Manager operations the registry serves (docs/secrets.md).
    secret("secretsmanager:CreateSecret", ActionKeys::RequestTags),
    secret("secretsmanager:DeleteSecret", ActionKeys::ResourceTags),
    secret("secretsmanager:DescribeSecret", ActionKeys::ResourceTags),
    secret("secretsmanager:GetSecretValue", ActionKeys::ResourceTags),
    registry("secretsmanager:ListSecrets"),
    secret("secretsmanager:PutSecretValue", ActionKeys::ResourceTags),
    secret("secretsmanager:TagResource", ActionKeys::RequestTags),
];

/// Case-insensitive lookup of an exact action name.
pub fn action(name: &str) -> Option<&'static ActionInfo> {
    ACTIONS.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Services whose actions this registry knows.
pub const SERVICES: &[&str] = &["ecr", "sts", "iam", "secretsmanager"];

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
        only: Some(ActionKeys::EcrResourceTags),
    },
    KeyInfo {
        name: "iam:ResourceTag/",
        ty: KeyType::String,
        multivalued: false,
        only: Some(ActionKeys::IamResourceTags),
    },
    KeyInfo {
        name: "secretsmanager:ResourceTag/",
        ty: KeyType::String,
        multivalued: false,
        only: Some(ActionKeys::SecretsResourceTags),
    },
    KeyInfo {
        name: "iam:PolicyARN",
        ty: KeyType::Arn,
        multivalued: false,
        only: Some(ActionKeys::PolicyArn),
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
        Some(ActionKeys::ResourceTags) => matches!(
            action.resource,
            ResourceType::Repository | ResourceType::IamPrincipal | ResourceType::Secret
        ),
        Some(ActionKeys::EcrResourceTags) => action.resource == ResourceType::Repository,
        Some(ActionKeys::IamResourceTags) => action.resource == ResourceType::IamPrincipal,
        Some(ActionKeys::SecretsResourceTags) => action.resource == ResourceType::Secret,
        Some(ActionKeys::PolicyArn) => action.keys == ActionKeys::PolicyArn,
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
    fn iam_actions_have_the_keys_iam_sets() {
        let get = |n| action(n).unwrap_or_else(|| panic!("{n} is known"));
        let k = |n| key(n).unwrap_or_else(|| panic!("{n} is known"));
        assert!(action_supports(
            get("iam:AttachUserPolicy"),
            k("iam:PolicyARN")
        ));
        assert!(!action_supports(get("iam:GetUser"), k("iam:PolicyARN")));
        assert!(action_supports(
            get("iam:CreateAccessKey"),
            k("aws:ResourceTag/p")
        ));
        assert!(action_supports(
            get("iam:CreateAccessKey"),
            k("iam:ResourceTag/p")
        ));
        assert!(!action_supports(
            get("ecr:BatchGetImage"),
            k("iam:ResourceTag/p")
        ));
        assert!(!action_supports(get("iam:GetUser"), k("ecr:ResourceTag/p")));
        assert!(action_supports(
            get("iam:TagUser"),
            k("aws:RequestTag/team")
        ));
        assert!(action_supports(get("iam:UntagRole"), k("aws:TagKeys")));
        assert!(!action_supports(
            get("iam:UntagRole"),
            k("aws:RequestTag/team")
        ));
        assert_eq!(get("iam:GetPolicy").resource, ResourceType::IamPolicy);
    }

    #[test]
    fn secrets_actions_have_the_keys_secrets_manager_sets() {
        let get = |n| action(n).unwrap_or_else(|| panic!("{n} is known"));
        let k = |n| key(n).unwrap_or_else(|| panic!("{n} is known"));
        let read = get("secretsmanager:GetSecretValue");
        assert_eq!(read.resource, ResourceType::Secret);
        assert!(action_supports(read, k("secretsmanager:ResourceTag/team")));
        assert!(action_supports(read, k("aws:ResourceTag/team")));
        assert!(!action_supports(read, k("aws:RequestTag/team")));
        assert!(!action_supports(read, k("ecr:ResourceTag/team")));
        assert!(!action_supports(
            get("ecr:BatchGetImage"),
            k("secretsmanager:ResourceTag/team")
        ));
        assert!(action_supports(
            get("secretsmanager:CreateSecret"),
            k("aws:RequestTag/team")
        ));
        assert!(action_supports(
            get("secretsmanager:TagResource"),
            k("aws:TagKeys")
        ));
        assert_eq!(
            get("secretsmanager:ListSecrets").resource,
            ResourceType::None
        );
    }

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
