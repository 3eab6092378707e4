//! The checked policy: every element normalized, every pattern compiled. Built only by
//! `Policy::parse`, so holding a `Policy` means the document passed every error check.

use crate::condition::Condition;
use crate::variables::Template;
use crate::wildcard::Glob;

/// Where a policy is attached; the grammar differs slightly per kind (spec 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Attached to a user, group or role, or passed as a session policy.
    Identity,
    /// An ECR repository policy.
    Repository,
    /// An ECR registry policy.
    Registry,
}

impl PolicyKind {
    pub(crate) fn is_resource_based(self) -> bool {
        !matches!(self, PolicyKind::Identity)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2012_10_17,
    V2008_10_17,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2012_10_17 => "2012-10-17",
            Version::V2008_10_17 => "2008-10-17",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A parsed, checked policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) kind: PolicyKind,
    pub(crate) version: Option<Version>,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }
    pub fn version(&self) -> Option<Version> {
        self.version
    }
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
    /// Whether `${…}` is a variable here (only in 2012-10-17 documents, spec 4.4).
    pub fn variables_enabled(&self) -> bool {
        self.version == Some(Version::V2012_10_17)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<PrincipalBlock>,
    pub(crate) action: ActionBlock,
    pub(crate) resource: Option<ResourceBlock>,
    pub(crate) conditions: Vec<Condition>,
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }
    pub fn effect(&self) -> Effect {
        self.effect
    }
    /// Action (or NotAction, see `ActionBlock::negated`) patterns as written.
    pub fn actions(&self) -> &ActionBlock {
        &self.action
    }
    pub fn resources(&self) -> Option<&ResourceBlock> {
        self.resource.as_ref()
    }
    pub fn principal(&self) -> Option<&PrincipalBlock> {
        self.principal.as_ref()
    }
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActionBlock {
    pub(crate) negated: bool,
    pub(crate) patterns: Vec<ActionPattern>,
}

impl ActionBlock {
    pub fn negated(&self) -> bool {
        self.negated
    }
    pub fn patterns(&self) -> impl Iterator<Item = String> + '_ {
        self.patterns.iter().map(|p| p.glob.to_source())
    }
    pub(crate) fn matches(&self, action: &str) -> bool {
        let any = self
            .patterns
            .iter()
            .any(|p| p.glob.matches_ascii_ci(action));
        any != self.negated
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionPattern {
    /// As written; matched with ASCII case folded, so the pattern keeps its case.
    pub(crate) glob: Glob,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceBlock {
    pub(crate) negated: bool,
    pub(crate) patterns: Vec<ResourcePattern>,
}

impl ResourceBlock {
    pub fn negated(&self) -> bool {
        self.negated
    }
    pub fn patterns(&self) -> impl Iterator<Item = String> + '_ {
        self.patterns.iter().map(ResourcePattern::source)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourcePattern {
    /// Only for text with `${` in a 2012-10-17 document; other patterns are just their glob.
    pub(crate) template: Option<Template>,
    /// Precompiled when the pattern has no variables.
    pub(crate) glob: Option<Glob>,
}

impl ResourcePattern {
    pub(crate) fn source(&self) -> String {
        match (&self.template, &self.glob) {
            (Some(t), _) => t.source(),
            (None, Some(g)) => g.to_source(),
            (None, None) => String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalBlock {
    pub(crate) negated: bool,
    pub(crate) set: PrincipalSet,
}

impl PrincipalBlock {
    pub fn negated(&self) -> bool {
        self.negated
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PrincipalSet {
    /// `"Principal": "*"`.
    Star,
    /// `{"AWS": …, "Service": …}` in written order.
    Typed(Vec<(PrincipalType, Vec<PrincipalValue>)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    Aws,
    Service,
    Federated,
    CanonicalUser,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Service => "Service",
            PrincipalType::Federated => "Federated",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }
}

/// One principal entry, classified at parse time so matching is a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PrincipalValue {
    pub(crate) source: String,
    pub(crate) id: PrincipalId,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PrincipalId {
    /// `{"AWS": "*"}`.
    Any,
    /// A 12-digit account or `arn:…:iam::ACCOUNT:root`.
    Account(String),
    User(String),
    Role {
        account: String,
        name: String,
    },
    AssumedRole(String),
    FederatedUser(String),
    Service(String),
    /// `Federated` and `CanonicalUser` entries: accepted, never match (spec 2.2).
    Inert,
}
