//! The decision (spec 3): explicit deny > allow > implicit deny, with the same-account,
//! cross-account, anonymous, service-principal and session-policy rules.

use crate::ast::*;
use crate::context::{Context, Value};
use std::fmt;

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials (only when anonymous access is enabled).
    Anonymous,
    /// A Portcullis service principal such as `inspector2.amazonaws.com`.
    Service { name: String },
    /// The account root user.
    Root { account: String },
    /// An IAM user; `arn` includes any path.
    User { account: String, arn: String },
    /// A session of an IAM role.
    AssumedRole {
        account: String,
        role: String,
        session: String,
    },
    /// A GetFederationToken session; `parent_user_arn` is the IAM user who created it.
    FederatedUser {
        account: String,
        name: String,
        parent_user_arn: Option<String>,
    },
}

impl Principal {
    /// Reads the ARN a caller is known by: `…:root`, `…:user/…`, `sts::…:assumed-role/R/S`,
    /// `sts::…:federated-user/U`.
    pub fn from_arn(arn: &str) -> Option<Principal> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [a, partition, service, _region, account, resource] = parts.as_slice() else {
            return None;
        };
        if *a != "arn" || partition.is_empty() || account.len() != 12 {
            return None;
        }
        if !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let account = (*account).to_owned();
        match (*service, *resource) {
            ("iam", "root") => Some(Principal::Root { account }),
            ("iam", r) if r.starts_with("user/") && r.len() > 5 => Some(Principal::User {
                account,
                arn: arn.to_owned(),
            }),
            ("sts", r) => {
                if let Some(rest) = r.strip_prefix("assumed-role/") {
                    let (role, session) = rest.split_once('/')?;
                    if role.is_empty() || session.is_empty() {
                        return None;
                    }
                    Some(Principal::AssumedRole {
                        account,
                        role: role.to_owned(),
                        session: session.to_owned(),
                    })
                } else {
                    let name = r.strip_prefix("federated-user/")?;
                    (!name.is_empty()).then(|| Principal::FederatedUser {
                        account,
                        name: name.to_owned(),
                        parent_user_arn: None,
                    })
                }
            }
            _ => None,
        }
    }

    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Anonymous | Principal::Service { .. } => None,
            Principal::Root { account }
            | Principal::User { account, .. }
            | Principal::AssumedRole { account, .. }
            | Principal::FederatedUser { account, .. } => Some(account),
        }
    }

    /// The caller's own ARN (the session ARN for sessions).
    pub fn arn(&self) -> Option<String> {
        match self {
            Principal::Anonymous | Principal::Service { .. } => None,
            Principal::Root { account } => Some(format!("arn:aws:iam::{account}:root")),
            Principal::User { arn, .. } => Some(arn.clone()),
            Principal::AssumedRole {
                account,
                role,
                session,
            } => Some(format!(
                "arn:aws:sts::{account}:assumed-role/{role}/{session}"
            )),
            Principal::FederatedUser { account, name, .. } => {
                Some(format!("arn:aws:sts::{account}:federated-user/{name}"))
            }
        }
    }

    /// The value of `aws:PrincipalArn`: the role ARN for role sessions (spec 3.6).
    pub fn principal_arn(&self) -> Option<String> {
        match self {
            Principal::AssumedRole { account, role, .. } => {
                Some(format!("arn:aws:iam::{account}:role/{role}"))
            }
            other => other.arn(),
        }
    }

    /// `aws:PrincipalType` (spec 4.4).
    pub fn principal_type(&self) -> &'static str {
        match self {
            Principal::Anonymous => "Anonymous",
            Principal::Service { .. } => "Service",
            Principal::Root { .. } => "Account",
            Principal::User { .. } => "User",
            Principal::AssumedRole { .. } => "AssumedRole",
            Principal::FederatedUser { .. } => "FederatedUser",
        }
    }

    fn user_name(&self) -> Option<&str> {
        match self {
            Principal::User { arn, .. } => arn.rsplit('/').next(),
            _ => None,
        }
    }

    /// The context keys that follow from who the caller is (spec 5.6): `aws:PrincipalArn`,
    /// `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:username`,
    /// `aws:PrincipalIsAWSService`, `aws:PrincipalServiceName`.
    pub fn context(&self) -> Context {
        let mut c = Context::new();
        c.insert("aws:PrincipalType", Value::string(self.principal_type()));
        if let Some(arn) = self.principal_arn() {
            c.insert("aws:PrincipalArn", Value::arn(arn));
        }
        if let Some(acct) = self.account() {
            c.insert("aws:PrincipalAccount", Value::string(acct));
        }
        if let Some(name) = self.user_name() {
            c.insert("aws:username", Value::string(name));
        }
        c.insert(
            "aws:PrincipalIsAWSService",
            Value::bool(matches!(self, Principal::Service { .. })),
        );
        if let Principal::Service { name } = self {
            c.insert("aws:PrincipalServiceName", Value::string(name.clone()));
        }
        c
    }

    fn is_session(&self) -> bool {
        matches!(
            self,
            Principal::AssumedRole { .. } | Principal::FederatedUser { .. }
        )
    }
}

/// One authorization question.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub principal: Principal,
    /// `service:Operation`, e.g. `ecr:PutImage` (case-insensitive).
    pub action: String,
    /// A repository ARN, or `*` for actions without a resource type.
    pub resource: String,
    pub context: Context,
    /// The account that owns the registry; by default the account of `resource`, or the
    /// principal's own account when the resource is `*`.
    pub registry_account: Option<String>,
}

impl Request {
    /// A request whose context holds the principal keys (`Principal::context`).
    pub fn new(principal: Principal, action: &str, resource: &str) -> Request {
        Request {
            context: principal.context(),
            principal,
            action: action.to_owned(),
            resource: resource.to_owned(),
            registry_account: None,
        }
    }

    fn owner_account(&self) -> Option<&str> {
        if let Some(a) = &self.registry_account {
            return Some(a);
        }
        let mut parts = self.resource.splitn(6, ':');
        match (parts.next(), parts.nth(3)) {
            (Some("arn"), Some(acct)) if parts.next().is_some() => Some(acct),
            _ => self.principal.account(),
        }
    }
}

/// Which policy a statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyType {
    Identity,
    Session,
    Resource,
    Registry,
}

impl PolicyType {
    /// The name used in simulator output.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Identity => "identity",
            PolicyType::Session => "session",
            PolicyType::Resource => "resource",
            PolicyType::Registry => "registry",
        }
    }
    fn phrase(self) -> &'static str {
        match self {
            PolicyType::Identity => "an identity-based policy",
            PolicyType::Session => "a session policy",
            PolicyType::Resource | PolicyType::Registry => "a resource-based policy",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Named {
    id: String,
    // Shared, so that a caller holding parsed policies in a cache hands them over without
    // copying a statement.
    policy: std::sync::Arc<Policy>,
}

/// The policies that bear on a request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicySet {
    identity: Vec<Named>,
    session: Vec<Named>,
    repository: Option<Named>,
    registry: Option<Named>,
}

impl PolicySet {
    pub fn new() -> PolicySet {
        PolicySet::default()
    }
    /// A policy of the principal (user inline/managed, group, or role policy).
    pub fn add_identity(
        &mut self,
        id: impl Into<String>,
        policy: impl Into<std::sync::Arc<Policy>>,
    ) -> &mut Self {
        self.identity.push(Named {
            id: id.into(),
            policy: policy.into(),
        });
        self
    }
    /// A session policy of the principal's session.
    pub fn add_session(
        &mut self,
        id: impl Into<String>,
        policy: impl Into<std::sync::Arc<Policy>>,
    ) -> &mut Self {
        self.session.push(Named {
            id: id.into(),
            policy: policy.into(),
        });
        self
    }
    /// The repository policy of the requested repository (ignored for resource `*`).
    pub fn set_repository(
        &mut self,
        id: impl Into<String>,
        policy: impl Into<std::sync::Arc<Policy>>,
    ) -> &mut Self {
        self.repository = Some(Named {
            id: id.into(),
            policy: policy.into(),
        });
        self
    }
    /// The registry policy of the registry account.
    pub fn set_registry(
        &mut self,
        id: impl Into<String>,
        policy: impl Into<std::sync::Arc<Policy>>,
    ) -> &mut Self {
        self.registry = Some(Named {
            id: id.into(),
            policy: policy.into(),
        });
        self
    }

    fn each<'a>(&'a self, resource: &str) -> impl Iterator<Item = (PolicyType, &'a Named)> {
        let repo = if resource == "*" {
            None
        } else {
            self.repository.as_ref()
        };
        self.identity
            .iter()
            .map(|n| (PolicyType::Identity, n))
            .chain(self.session.iter().map(|n| (PolicyType::Session, n)))
            .chain(repo.map(|n| (PolicyType::Resource, n)))
            .chain(self.registry.as_ref().map(|n| (PolicyType::Registry, n)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

impl Decision {
    /// The simulator's spelling (`EvalDecision`).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allowed",
            Decision::ExplicitDeny => "explicitDeny",
            Decision::ImplicitDeny => "implicitDeny",
        }
    }
}

/// A statement that took part in the decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchedStatement {
    pub policy_id: String,
    pub policy_type: PolicyType,
    pub sid: Option<String>,
    /// Position of the statement in its policy, from 0.
    pub index: usize,
}

/// Why the decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// An applicable Deny in a policy of this type.
    ExplicitDeny(PolicyType),
    /// The account root user of the owning account.
    Root,
    /// A resource-based policy grants the principal directly.
    ResourceAllow,
    /// An identity-based policy allows (and the session policy, when there is one).
    IdentityAllow,
    /// Both sides of a cross-account request allow.
    CrossAccountAllow,
    NoIdentityAllow,
    NoSessionAllow,
    NoResourceAllow,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub decision: Decision,
    pub reason: Reason,
    /// Deny statements for an explicit deny, the allowing statements for an allow, empty
    /// for an implicit deny.
    pub matched: Vec<MatchedStatement>,
    /// Condition keys (and variables) that the request lacked, sorted.
    pub missing_context_values: Vec<String>,
}

impl Response {
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// The explanation in AWS's words: `with an explicit deny in a resource-based policy`,
    /// `because no identity-based policy allows the ecr:PutImage action`, …
    pub fn explanation(&self, action: &str) -> String {
        match self.reason {
            Reason::ExplicitDeny(t) => format!("with an explicit deny in {}", t.phrase()),
            Reason::NoIdentityAllow => {
                format!("because no identity-based policy allows the {action} action")
            }
            Reason::NoSessionAllow => {
                format!("because no session policy allows the {action} action")
            }
            Reason::NoResourceAllow => {
                format!("because no resource-based policy allows the {action} action")
            }
            Reason::Root => "because the account root user has full access".to_owned(),
            Reason::ResourceAllow => "because a resource-based policy allows it".to_owned(),
            Reason::IdentityAllow => "because an identity-based policy allows it".to_owned(),
            Reason::CrossAccountAllow => {
                "because both an identity-based and a resource-based policy allow it".to_owned()
            }
        }
    }

    /// The 403 message: `User: <arn> is not authorized to perform: <action> on resource:
    /// <arn> because …`; `None` when allowed.
    pub fn denial_message(&self, req: &Request) -> Option<String> {
        if self.is_allowed() {
            return None;
        }
        let who = req
            .principal
            .arn()
            .or_else(|| match &req.principal {
                Principal::Service { name } => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "anonymous".to_owned());
        Some(format!(
            "User: {who} is not authorized to perform: {} on resource: {} {}",
            req.action,
            req.resource,
            self.explanation(&req.action)
        ))
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the principal element of a resource-policy statement matched the caller; stronger
/// kinds sort later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PMatch {
    /// An account principal: delegation to that account (spec 3.3 step 3 decision).
    Account,
    /// A role ARN: limited by session policies.
    Role,
    /// A NotPrincipal that does not list the caller.
    NotListed,
    /// The user, session or service named directly.
    Direct,
    /// `"*"` or `{"AWS": "*"}`.
    Wildcard,
}

fn id_match(id: &PrincipalId, p: &Principal) -> Option<PMatch> {
    match (id, p) {
        (PrincipalId::Any, _) => Some(PMatch::Wildcard),
        (PrincipalId::Account(a), p) if p.account() == Some(a.as_str()) => Some(PMatch::Account),
        (PrincipalId::User(arn), Principal::User { arn: u, .. }) if arn == u => {
            Some(PMatch::Direct)
        }
        (
            PrincipalId::User(arn),
            Principal::FederatedUser {
                parent_user_arn: Some(u),
                ..
            },
        ) if arn == u => Some(PMatch::Role),
        (
            PrincipalId::Role { account, name },
            Principal::AssumedRole {
                account: a, role, ..
            },
        ) if account == a && name == role => Some(PMatch::Role),
        (PrincipalId::AssumedRole(arn), Principal::AssumedRole { .. })
        | (PrincipalId::FederatedUser(arn), Principal::FederatedUser { .. })
            if p.arn().as_deref() == Some(arn.as_str()) =>
        {
            Some(PMatch::Direct)
        }
        (PrincipalId::Service(s), Principal::Service { name }) if s == name => Some(PMatch::Direct),
        _ => None,
    }
}

fn values(set: &PrincipalSet) -> impl Iterator<Item = &PrincipalId> {
    let typed: &[(PrincipalType, Vec<PrincipalValue>)] = match set {
        PrincipalSet::Star => &[],
        PrincipalSet::Typed(t) => t,
    };
    typed.iter().flat_map(|(_, vs)| vs.iter().map(|v| &v.id))
}

/// Whether the principal element applies to the caller, and how strongly.
fn principal_match(block: &PrincipalBlock, p: &Principal) -> Option<PMatch> {
    let best = match &block.set {
        PrincipalSet::Star => Some(PMatch::Wildcard),
        set => values(set).filter_map(|id| id_match(id, p)).max(),
    };
    if !block.negated {
        return best;
    }
    // NotPrincipal spares the caller only when every identity in its chain is listed
    // (spec 3.2): account and user, or account, role and session.
    let listed = |want: &dyn Fn(&PrincipalId) -> bool| {
        matches!(block.set, PrincipalSet::Star) || values(&block.set).any(want)
    };
    let any = |id: &PrincipalId| matches!(id, PrincipalId::Any);
    let acct_listed = listed(&|id| {
        any(id) || matches!(id, PrincipalId::Account(a) if Some(a.as_str()) == p.account())
    });
    let spared = match p {
        Principal::Anonymous => listed(&any),
        Principal::Service { .. } => listed(&|id| any(id) || id_match(id, p).is_some()),
        Principal::Root { .. } => acct_listed,
        Principal::User { .. } | Principal::FederatedUser { .. } => {
            acct_listed && listed(&|id| any(id) || id_match(id, p) == Some(PMatch::Direct))
        }
        Principal::AssumedRole { .. } => {
            acct_listed
                && listed(&|id| any(id) || id_match(id, p) == Some(PMatch::Role))
                && listed(&|id| any(id) || id_match(id, p) == Some(PMatch::Direct))
        }
    };
    (!spared).then_some(PMatch::NotListed)
}

fn resource_matches(
    block: Option<&ResourceBlock>,
    resource: &str,
    ctx: &Context,
    missing: &mut Vec<String>,
) -> bool {
    let Some(block) = block else {
        // Absent Resource in a repository or registry policy: "this repository" / every
        // resource of the registry (spec 2.2, 3.3).
        return true;
    };
    let any = block.patterns.iter().any(|p| match (&p.glob, &p.template) {
        (Some(g), _) => g.matches(resource),
        (None, Some(t)) => match t.tokens(ctx, true) {
            Some(toks) => crate::wildcard::glob_match(&toks, resource, false),
            None => {
                for k in t.var_keys() {
                    if ctx.get_lower(k).is_none() {
                        missing.push(k.to_owned());
                    }
                }
                false
            }
        },
        (None, None) => false,
    });
    any != block.negated
}

/// An applicable statement, borrowed: owned `MatchedStatement`s are made only for the
/// statements that end up in the response.
struct Hit<'a> {
    ty: PolicyType,
    effect: Effect,
    pmatch: Option<PMatch>,
    policy_id: &'a str,
    sid: Option<&'a str>,
    index: usize,
}

impl Hit<'_> {
    fn to_matched(&self) -> MatchedStatement {
        MatchedStatement {
            policy_id: self.policy_id.to_owned(),
            policy_type: self.ty,
            sid: self.sid.map(str::to_owned),
            index: self.index,
        }
    }
}

/// Evaluates a request against a policy set (spec 3.3–3.6).
pub fn evaluate(req: &Request, set: &PolicySet) -> Response {
    let mut missing = Vec::new();
    let mut hits: Vec<Hit> = Vec::new();
    for (ty, named) in set.each(&req.resource) {
        let resource_based = matches!(ty, PolicyType::Resource | PolicyType::Registry);
        for (index, st) in named.policy.statements.iter().enumerate() {
            if !st.action.matches(&req.action) {
                continue;
            }
            let pmatch = if resource_based {
                match st
                    .principal
                    .as_ref()
                    .and_then(|b| principal_match(b, &req.principal))
                {
                    Some(m) => Some(m),
                    None => continue,
                }
            } else {
                None
            };
            if !resource_matches(
                st.resource.as_ref(),
                &req.resource,
                &req.context,
                &mut missing,
            ) {
                continue;
            }
            let mut ok = true;
            for c in &st.conditions {
                if !c.eval(&req.context, &mut missing) {
                    ok = false;
                }
            }
            if ok {
                hits.push(Hit {
                    ty,
                    effect: st.effect,
                    pmatch,
                    policy_id: &named.id,
                    sid: st.sid.as_deref(),
                    index,
                });
            }
        }
    }
    missing.sort_by_key(|k| k.to_ascii_lowercase());
    missing.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let (decision, reason, matched) = decide(req, set, hits);
    Response {
        decision,
        reason,
        matched,
        missing_context_values: missing,
    }
}

fn decide(
    req: &Request,
    set: &PolicySet,
    hits: Vec<Hit<'_>>,
) -> (Decision, Reason, Vec<MatchedStatement>) {
    let denies: Vec<&Hit<'_>> = hits.iter().filter(|h| h.effect == Effect::Deny).collect();
    if let Some(first) = denies.first() {
        let reason = Reason::ExplicitDeny(first.ty);
        return (
            Decision::ExplicitDeny,
            reason,
            denies.iter().map(|h| h.to_matched()).collect(),
        );
    }
    let allows = |f: &dyn Fn(&Hit<'_>) -> bool| -> Vec<MatchedStatement> {
        hits.iter()
            .filter(|h| h.effect == Effect::Allow && f(h))
            .map(Hit::to_matched)
            .collect()
    };
    let implicit = |r| (Decision::ImplicitDeny, r, Vec::new());
    let is_res = |h: &Hit<'_>| matches!(h.ty, PolicyType::Resource | PolicyType::Registry);
    let p = &req.principal;
    match p {
        Principal::Anonymous | Principal::Service { .. } => {
            let named_ok = |h: &Hit<'_>| {
                is_res(h)
                    && match p {
                        Principal::Service { .. } => {
                            matches!(h.pmatch, Some(PMatch::Wildcard | PMatch::Direct))
                        }
                        _ => h.pmatch == Some(PMatch::Wildcard),
                    }
            };
            let ok = allows(&named_ok);
            if ok.is_empty() {
                implicit(Reason::NoResourceAllow)
            } else {
                (Decision::Allow, Reason::ResourceAllow, ok)
            }
        }
        _ => {
            let same_account = p.account() == req.owner_account();
            let sessions_present = !set.session.is_empty() && p.is_session();
            let sess_allow = allows(&|h| h.ty == PolicyType::Session);
            let id_allow = allows(&|h| h.ty == PolicyType::Identity);
            // Trusted side (spec 3.3 step 4 / 3.5 step 2).
            let trusted: Result<Vec<MatchedStatement>, Reason> =
                if matches!(p, Principal::Root { .. }) {
                    Ok(Vec::new())
                } else if id_allow.is_empty() {
                    Err(Reason::NoIdentityAllow)
                } else if matches!(p, Principal::FederatedUser { .. }) && set.session.is_empty() {
                    // A federated user without a session policy gets nothing from identity
                    // policies (spec 3.6).
                    Err(Reason::NoSessionAllow)
                } else if sessions_present && sess_allow.is_empty() {
                    Err(Reason::NoSessionAllow)
                } else {
                    Ok(id_allow
                        .into_iter()
                        .chain(sess_allow.iter().cloned())
                        .collect())
                };
            if same_account {
                if matches!(p, Principal::Root { .. }) {
                    return (Decision::Allow, Reason::Root, Vec::new());
                }
                let direct = allows(&|h| {
                    is_res(h)
                        && matches!(
                            h.pmatch,
                            Some(PMatch::Direct | PMatch::Wildcard | PMatch::NotListed)
                        )
                });
                if !direct.is_empty() {
                    return (Decision::Allow, Reason::ResourceAllow, direct);
                }
                let via_role = allows(&|h| is_res(h) && h.pmatch == Some(PMatch::Role));
                if !via_role.is_empty() && (!sessions_present || !sess_allow.is_empty()) {
                    let m = via_role
                        .into_iter()
                        .chain(sess_allow.iter().cloned())
                        .collect();
                    return (Decision::Allow, Reason::ResourceAllow, m);
                }
                match trusted {
                    Ok(m) => (Decision::Allow, Reason::IdentityAllow, m),
                    Err(r) => implicit(r),
                }
            } else {
                let trusting = allows(&|h| is_res(h) && h.pmatch.is_some());
                match trusted {
                    Err(r) => implicit(r),
                    Ok(_) if trusting.is_empty() => implicit(Reason::NoResourceAllow),
                    Ok(m) => (
                        Decision::Allow,
                        Reason::CrossAccountAllow,
                        m.into_iter().chain(trusting).collect(),
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = "arn:aws:ecr:ap-northeast-1:111122223333:repository/app";

    fn rp(body: &str) -> Policy {
        Policy::parse(
            &format!(r#"{{"Statement":[{body}]}}"#),
            PolicyKind::Repository,
        )
        .unwrap()
    }

    fn id(body: &str) -> Policy {
        Policy::parse(
            &format!(r#"{{"Statement":[{body}]}}"#),
            PolicyKind::Identity,
        )
        .unwrap()
    }

    fn decide_for(arn: &str, set: &PolicySet, action: &str) -> Decision {
        let p = match arn {
            "anonymous" => Principal::Anonymous,
            arn => Principal::from_arn(arn).unwrap(),
        };
        evaluate(&Request::new(p, action, REPO), set).decision
    }

    const ADMIN: &str = "arn:aws:iam::111122223333:user/admin";
    const BOB: &str = "arn:aws:iam::111122223333:user/bob";

    #[test]
    fn not_principal_needs_the_whole_chain() {
        let allow_all = id(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#);
        let only_user = rp(&format!(
            r#"{{"Effect":"Deny","NotPrincipal":{{"AWS":"{ADMIN}"}},"Action":"ecr:*"}}"#
        ));
        let mut set = PolicySet::new();
        set.add_identity("id", allow_all.clone())
            .set_repository("rp", only_user);
        assert_eq!(
            decide_for(ADMIN, &set, "ecr:PutImage"),
            Decision::ExplicitDeny
        );
        let with_account = rp(&format!(
            r#"{{"Effect":"Deny","NotPrincipal":{{"AWS":["arn:aws:iam::111122223333:root","{ADMIN}"]}},"Action":"ecr:*"}}"#
        ));
        set.set_repository("rp", with_account);
        assert_eq!(decide_for(ADMIN, &set, "ecr:PutImage"), Decision::Allow);
        assert_eq!(
            decide_for(BOB, &set, "ecr:PutImage"),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide_for("anonymous", &set, "ecr:PutImage"),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn root_is_allowed_but_not_past_a_deny() {
        let root = "arn:aws:iam::111122223333:root";
        let mut set = PolicySet::new();
        assert_eq!(decide_for(root, &set, "ecr:PutImage"), Decision::Allow);
        set.set_repository(
            "rp",
            rp(r#"{"Effect":"Deny","Principal":"*","Action":"ecr:PutImage"}"#),
        );
        assert_eq!(
            decide_for(root, &set, "ecr:PutImage"),
            Decision::ExplicitDeny
        );
        assert_eq!(decide_for(root, &set, "ecr:BatchGetImage"), Decision::Allow);
    }

    #[test]
    fn federated_user_needs_a_session_policy() {
        let fed = "arn:aws:sts::111122223333:federated-user/bob";
        let mut set = PolicySet::new();
        set.add_identity(
            "id",
            id(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#),
        );
        assert_eq!(
            decide_for(fed, &set, "ecr:PutImage"),
            Decision::ImplicitDeny
        );
        set.add_session(
            "sp",
            id(r#"{"Effect":"Allow","Action":"ecr:PutImage","Resource":"*"}"#),
        );
        assert_eq!(decide_for(fed, &set, "ecr:PutImage"), Decision::Allow);
        assert_eq!(
            decide_for(fed, &set, "ecr:BatchGetImage"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn repository_policy_ignored_for_star() {
        let mut set = PolicySet::new();
        set.set_repository(
            "rp",
            rp(r#"{"Effect":"Allow","Principal":"*","Action":"ecr:*"}"#),
        );
        let alice = Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        let r = evaluate(
            &Request::new(alice.clone(), "ecr:GetAuthorizationToken", "*"),
            &set,
        );
        assert_eq!(r.decision, Decision::ImplicitDeny);
        set.set_registry(
            "gp",
            Policy::parse(
                r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"ecr:GetAuthorizationToken"}}"#,
                PolicyKind::Registry,
            )
            .unwrap(),
        );
        let r = evaluate(&Request::new(alice, "ecr:GetAuthorizationToken", "*"), &set);
        assert_eq!(r.decision, Decision::ExplicitDeny);
        assert_eq!(r.matched[0].policy_type, PolicyType::Registry);
    }

    #[test]
    fn principal_arns_and_context() {
        let s = Principal::from_arn("arn:aws:sts::111122223333:assumed-role/ci/run-42").unwrap();
        assert_eq!(
            s.principal_arn().unwrap(),
            "arn:aws:iam::111122223333:role/ci"
        );
        assert_eq!(
            s.arn().unwrap(),
            "arn:aws:sts::111122223333:assumed-role/ci/run-42"
        );
        let c = s.context();
        assert!(c.get("aws:username").is_none());
        assert_eq!(
            c.get("aws:PrincipalType").unwrap().values[0].text(),
            "AssumedRole"
        );
        let u = Principal::from_arn("arn:aws:iam::111122223333:user/div/alice").unwrap();
        assert_eq!(
            u.context().get("aws:username").unwrap().values[0].text(),
            "alice"
        );
        assert!(Principal::from_arn("arn:aws:iam::1:user/x").is_none());
        assert!(Principal::from_arn("arn:aws:sts::111122223333:assumed-role/ci").is_none());
    }

    #[test]
    fn denial_messages_follow_aws() {
        let set = PolicySet::new();
        let alice = Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        let req = Request::new(alice, "ecr:PutImage", REPO);
        let msg = evaluate(&req, &set).denial_message(&req).unwrap();
        assert_eq!(
            msg,
            format!("User: arn:aws:iam::111122223333:user/alice is not authorized to perform: ecr:PutImage on resource: {REPO} because no identity-based policy allows the ecr:PutImage action")
        );
    }
}
