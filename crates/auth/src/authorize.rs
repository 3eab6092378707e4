//! One authorization decision: who asks (a [`Caller`]), for which action on which target, from
//! where ([`Facts`]); the policies come from the IAM service, the decision from the policy engine.

use std::net::IpAddr;
use std::sync::Arc;

use portcullis_core::{BrokenPolicy, Iam, PrincipalSnapshot, Repositories, ResourcePolicy};
use portcullis_policy::{
    evaluate, Decision, MatchedStatement, PolicySet, PolicyType, Principal, Reason, Request,
    Response, Value,
};

/// Who makes a request.
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    User {
        principal: Arc<PrincipalSnapshot>,
        access_key_id: String,
    },
}

impl Caller {
    pub fn arn(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::User { principal, .. } => Some(&principal.arn),
        }
    }

    pub fn access_key_id(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::User { access_key_id, .. } => Some(access_key_id),
        }
    }
}

/// What the network and the clock say about a request.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The client address (after trusted-proxy resolution).
    pub source_ip: IpAddr,
    /// The listener terminated TLS.
    pub secure: bool,
    /// Set when the request came through a listener tagged as a VPC endpoint.
    pub endpoint_id: Option<String>,
    pub vpc_id: Option<String>,
    pub user_agent: Option<String>,
    pub now_unix: i64,
}

/// What a request acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Registry-wide actions and GetAuthorizationToken: resource `*`.
    Registry,
    Repository(String),
    /// An IAM resource (`arn:aws:iam::ACCOUNT:user/NAME`, ...): only identity policies apply.
    Iam(String),
}

/// The decision with what led to it, for the response, the audit log and explanations.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub request: Request,
    pub response: Response,
    /// Set when the decision is a denial because a policy that bears on the request is stored
    /// but does not parse (the response then names it as an explicit deny).
    pub broken: Option<Arc<BrokenPolicy>>,
}

impl Outcome {
    pub fn allowed(&self) -> bool {
        self.broken.is_none() && self.response.is_allowed()
    }

    /// AWS's sentence: `User: arn:... is not authorized to perform: ecr:PutImage on resource:
    /// arn:... because no identity-based policy allows the ecr:PutImage action`.
    pub fn denial_message(&self) -> String {
        let Some(broken) = &self.broken else {
            return self
                .response
                .denial_message(&self.request)
                .unwrap_or_default();
        };
        let who = self
            .request
            .principal
            .arn()
            .unwrap_or_else(|| "anonymous".to_owned());
        format!(
            "User: {who} is not authorized to perform: {} on resource: {} because the stored \
             policy `{}` that governs it cannot be parsed, and a policy that cannot be read \
             denies everything it could have denied (`portcullis doctor` lists such policies)",
            self.request.action, self.request.resource, broken.id
        )
    }

    /// `policy-id#sid-or-index` of the statements that decided, for the audit log.
    pub fn deciding_statements(&self) -> Vec<String> {
        self.response
            .matched
            .iter()
            .map(|m| match &m.sid {
                Some(sid) => format!("{}#{sid}", m.policy_id),
                None => format!("{}#{}", m.policy_id, m.index),
            })
            .collect()
    }
}

/// Decides `action` on `target` for `caller`. `extra` adds request-specific context keys
/// (`aws:RequestTag/...`, `aws:TagKeys`).
pub async fn authorize(
    iam: &Iam,
    repositories: &Repositories,
    caller: &Caller,
    action: &str,
    target: &Target,
    facts: &Facts,
    extra: &[(String, Vec<Value>)],
) -> Result<Outcome, portcullis_core::Error> {
    authorize_with(
        Services { iam, repositories },
        caller,
        action,
        target,
        facts,
        extra,
        None,
    )
    .await
}

/// The decision [`authorize`] would make if the repository's policy were `candidate` (`None`
/// inside: no policy) instead of the stored one: SetRepositoryPolicy's lock-out check.
pub async fn authorize_with_repository_policy(
    iam: &Iam,
    repositories: &Repositories,
    caller: &Caller,
    action: &str,
    target: &Target,
    facts: &Facts,
    candidate: Option<&Policy>,
) -> Result<Outcome, portcullis_core::Error> {
    authorize_with(
        Services { iam, repositories },
        caller,
        action,
        target,
        facts,
        &[],
        Some(candidate),
    )
    .await
}

/// The denial for a request that a policy which does not parse bears on.
fn fail_closed(request: Request, broken: Arc<BrokenPolicy>, policy_type: PolicyType) -> Outcome {
    let response = Response {
        decision: Decision::ExplicitDeny,
        reason: Reason::ExplicitDeny(policy_type),
        matched: vec![MatchedStatement {
            policy_id: broken.id.clone(),
            policy_type,
            sid: Some("unparsable".to_owned()),
            index: 0,
        }],
        missing_context_values: Vec::new(),
    };
    Outcome {
        request,
        response,
        broken: Some(broken),
    }
}

/// Where a decision's policies come from.
struct Services<'a> {
    iam: &'a Iam,
    repositories: &'a Repositories,
}

async fn authorize_with(
    Services { iam, repositories }: Services<'_>,
    caller: &Caller,
    action: &str,
    target: &Target,
    facts: &Facts,
    extra: &[(String, Vec<Value>)],
    repository_policy: Option<Option<&Policy>>,
) -> Result<Outcome, portcullis_core::Error> {
    let options = iam.options();
    let mut set = PolicySet::new();
    let mut broken_identity = None;
    let principal = match caller {
        Caller::Anonymous => Principal::Anonymous,
        Caller::User { principal, .. } => {
            for (id, policy) in &principal.policies {
                set.add_identity(id.clone(), policy.clone());
            }
            broken_identity = principal.broken.first().cloned();
            Principal::User {
                account: options.account_id.clone(),
                arn: principal.arn.clone(),
            }
        }
    };
    let resource = match target {
        Target::Registry => "*".to_owned(),
        Target::Repository(name) => repositories.arn(name),
        Target::Iam(arn) => arn.clone(),
    };
    let mut request = Request::new(principal, action, &resource);
    request.registry_account = Some(options.account_id.clone());
    let ctx = &mut request.context;
    if let Caller::User { principal, .. } = caller {
        ctx.insert("aws:userid", Value::string(principal.user.user_id.clone()));
        for (k, v) in &principal.tags {
            ctx.insert(&format!("aws:PrincipalTag/{k}"), Value::string(v.clone()));
        }
    }
    ctx.insert("aws:SecureTransport", Value::bool(facts.secure));
    ctx.insert("aws:CurrentTime", Value::date(facts.now_unix));
    ctx.insert("aws:EpochTime", Value::integer(facts.now_unix));
    ctx.insert("aws:RequestedRegion", Value::string(options.region.clone()));
    ctx.insert("aws:ViaAWSService", Value::bool(false));
    if let Some(ua) = &facts.user_agent {
        ctx.insert("aws:UserAgent", Value::string(ua.clone()));
    }
    match &facts.endpoint_id {
        // Through an endpoint AWS sets the endpoint keys and the VPC address, never SourceIp.
        Some(vpce) => {
            ctx.insert("aws:SourceVpce", Value::string(vpce.clone()));
            if let Some(vpc) = &facts.vpc_id {
                ctx.insert("aws:SourceVpc", Value::string(vpc.clone()));
            }
            ctx.insert("aws:VpcSourceIp", Value::ip(facts.source_ip));
        }
        None => {
            ctx.insert("aws:SourceIp", Value::ip(facts.source_ip));
        }
    }
    if let Some(broken) = broken_identity {
        return Ok(fail_closed(request, broken, PolicyType::Identity));
    }
    if let Target::Repository(name) = target {
        if let Some(repo) = repositories.get(name).await? {
            for (k, v) in &repo.tags {
                ctx.insert(&format!("ecr:ResourceTag/{k}"), Value::string(v.clone()));
                ctx.insert(&format!("aws:ResourceTag/{k}"), Value::string(v.clone()));
            }
            let policy = match repository_policy {
                Some(candidate) => candidate.map(|p| Arc::new(p.clone())),
                None => match &repo.policy {
                    ResourcePolicy::Absent => None,
                    ResourcePolicy::Parsed(p) => Some(p.clone()),
                    ResourcePolicy::Broken(b) => {
                        return Ok(fail_closed(request, b.clone(), PolicyType::Resource))
                    }
                },
            };
            if let Some(policy) = policy {
                set.set_repository(format!("repository/{name}"), policy);
            }
        }
    }
    if let Target::Iam(arn) = target {
        // As IAM sets them for users and roles: a Deny guarded by a tag must see the tag.
        for (k, v) in iam.resource_tags_of_arn(arn).await? {
            ctx.insert(&format!("aws:ResourceTag/{k}"), Value::string(v.clone()));
            ctx.insert(&format!("iam:ResourceTag/{k}"), Value::string(v));
        }
    }
    for (k, values) in extra {
        ctx.insert_multi(k, values.clone());
    }
    // The registry policy governs ECR actions; IAM resources answer to identity policies only.
    if !matches!(target, Target::Iam(_)) {
        match repositories.registry_policy().await? {
            ResourcePolicy::Absent => {}
            ResourcePolicy::Parsed(policy) => {
                set.set_registry("registry", policy);
            }
            // The registry policy governs every ECR action, so none is allowed.
            ResourcePolicy::Broken(b) => {
                return Ok(fail_closed(request, b, PolicyType::Registry));
            }
        }
    }
    let response = evaluate(&request, &set);
    Ok(Outcome {
        request,
        response,
        broken: None,
    })
}

use portcullis_policy::Policy;

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::{IamOptions, MasterKey};
    use portcullis_storage::meta::sqlite::SqliteMetaStore;

    fn facts(ip: &str, endpoint: Option<&str>) -> Facts {
        Facts {
            source_ip: ip.parse().unwrap(),
            secure: false,
            endpoint_id: endpoint.map(str::to_owned),
            vpc_id: None,
            user_agent: None,
            now_unix: 1_700_000_000,
        }
    }

    #[tokio::test]
    async fn identity_repository_and_anonymous_decisions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteMetaStore::open(&dir.path().join("m.sqlite"))
                .await
                .unwrap(),
        );
        let options = IamOptions {
            account_id: "111122223333".into(),
            region: "ap-northeast-1".into(),
        };
        let generation = portcullis_core::Generation::new(store.clone());
        let registry = Arc::new(portcullis_core::Registry::new(
            Arc::new(portcullis_storage::blob::fs::FsBlobStore::open(dir.path(), false).unwrap()),
            store.clone(),
            Default::default(),
        ));
        let repositories =
            Repositories::new(store.clone(), registry, generation.clone(), options.clone());
        let iam = Iam::new(store.clone(), generation, MasterKey::generate(), options);
        iam.create_user("ci", "/").await.unwrap();
        iam.put_user_policy(
            "ci",
            "push",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:PutImage",
               "Resource":"arn:aws:ecr:ap-northeast-1:111122223333:repository/app"}]}"#,
        )
        .await
        .unwrap();
        let key = iam.create_access_key("ci").await.unwrap();
        let principal = iam
            .principal_for_key(&key.access_key_id)
            .await
            .unwrap()
            .unwrap();
        let ci = Caller::User {
            principal,
            access_key_id: key.access_key_id.clone(),
        };
        let app = Target::Repository("app".into());
        let other = Target::Repository("other".into());
        let here = facts("127.0.0.2", None);
        assert!(
            authorize(&iam, &repositories, &ci, "ecr:PutImage", &app, &here, &[])
                .await
                .unwrap()
                .allowed()
        );
        let denied = authorize(&iam, &repositories, &ci, "ecr:PutImage", &other, &here, &[])
            .await
            .unwrap();
        assert!(!denied.allowed());
        assert_eq!(
            denied.denial_message(),
            "User: arn:aws:iam::111122223333:user/ci is not authorized to perform: ecr:PutImage \
             on resource: arn:aws:ecr:ap-northeast-1:111122223333:repository/other because no \
             identity-based policy allows the ecr:PutImage action"
        );

        // A public repository: anonymous pull only, and only through the endpoint.
        repositories
            .create("pub", &Default::default())
            .await
            .unwrap();
        repositories
            .set_policy(
                "pub",
                Some(
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
                    "Action":"ecr:BatchGetImage","Resource":"*",
                    "Condition":{"StringEquals":{"aws:SourceVpce":"vpce-0a1b2c3d"}}}]}"#,
                ),
            )
            .await
            .unwrap();
        let public = Target::Repository("pub".into());
        let via = facts("127.0.0.3", Some("vpce-0a1b2c3d"));
        let anon = Caller::Anonymous;
        assert!(authorize(
            &iam,
            &repositories,
            &anon,
            "ecr:BatchGetImage",
            &public,
            &via,
            &[]
        )
        .await
        .unwrap()
        .allowed());
        assert!(!authorize(
            &iam,
            &repositories,
            &anon,
            "ecr:BatchGetImage",
            &public,
            &here,
            &[]
        )
        .await
        .unwrap()
        .allowed());
        assert!(!authorize(
            &iam,
            &repositories,
            &anon,
            "ecr:PutImage",
            &public,
            &via,
            &[]
        )
        .await
        .unwrap()
        .allowed());

        // Revocation takes effect at once.
        iam.set_access_key_active(&key.access_key_id, false)
            .await
            .unwrap();
        assert!(iam
            .principal_for_key(&key.access_key_id)
            .await
            .unwrap()
            .is_none());
    }
}
