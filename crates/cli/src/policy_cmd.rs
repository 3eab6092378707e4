//! `portcullis policy ...`: validate and simulate IAM policies offline.

use clap::{Subcommand, ValueEnum};
use portcullis_policy::{
    parse_context_arg, simulate, validate, Context, Finding, Policy, PolicyKind, PolicySet,
    Principal, Query, Severity,
};
use std::path::{Path, PathBuf};

const DEFAULT_CALLER: &str = "arn:aws:iam::123456789012:user/simulated";

const VALIDATE_HELP: &str = "\
Checks policy documents the way the registry does when a policy is stored, and prints every
finding as `FILE: SEVERITY: JSON-PATH: MESSAGE`. Errors (the policy would be rejected) make
the command exit 1; warnings (accepted, but probably not what you mean: unknown actions,
resources of another service, condition keys the actions do not have, operators of the wrong
type, Allow with NotAction on \"*\", ForAllValues with Allow, ...) leave the exit code at 0.
Unreadable files exit 2.

The kind decides the grammar: identity policies have no Principal and need Resource;
repository and registry policies need a Principal. `auto` picks repository when a statement
has Principal or NotPrincipal, identity otherwise.

Examples:
  portcullis policy validate ci-push.json
  portcullis policy validate --kind repository web-api-policy.json
  portcullis policy validate --json policies/*.json | jq 'select(.severity == \"error\")'";

const SIMULATE_HELP: &str = "\
Evaluates actions on resources against a caller's policies without sending any request,
shaped after `aws iam simulate-custom-policy`. For every ACTION x RESOURCE it prints one JSON
object per line:

  {\"EvalActionName\":..., \"EvalResourceName\":..., \"EvalDecision\":\"allowed\"|\"explicitDeny\"|\"implicitDeny\",
   \"MatchedStatements\":[{\"SourcePolicyId\":..., \"SourcePolicyType\":\"identity\"|\"resource\"|\"registry\",
   \"Sid\":..., \"Index\":N}], \"MissingContextValues\":[...]}

SourcePolicyId is the file name as given. MatchedStatements lists the Deny statements for an
explicit deny, the allowing statements for an allow, and nothing for an implicit deny.
MissingContextValues names condition keys the policies test but the request lacks: supply
them with --context to see how the decision changes.

The caller's own keys (aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType,
aws:username) are filled in from --caller-arn; --context adds or overrides keys. Context TYPE
is an IAM ContextKeyType: string, stringList, numeric, numericList, boolean, booleanList,
date, dateList, ip, ipList, binary, binaryList. List values are separated by commas; other
types take the whole rest, so dates, ARNs and IPv6 addresses need no quoting. An empty list
(`aws:TagKeys=stringList:`) is an empty set.

Without --caller-arn the caller is the IAM user `simulated`, placed in the account of each
resource (123456789012 for `*`), so the repository policy is evaluated as same-account.
--caller-arn also accepts `anonymous` and `service:NAME` (for example
`service:inspector2.amazonaws.com`). The repository policy applies to every ARN given with
--resource (not to `*`).

Bad input (unreadable file, invalid policy, malformed --context) prints the problem and exits
2; otherwise the exit code is 0 whatever the decisions.

Examples:
  # Can the CI user push, and pull?
  portcullis policy simulate --policy ci-push.json \\
      --action ecr:PutImage --action ecr:BatchGetImage \\
      --resource arn:aws:ecr:ap-northeast-1:111122223333:repository/web-api

  # A docker login needs GetAuthorizationToken on `*`
  portcullis policy simulate --policy ci-push.json \\
      --action ecr:GetAuthorizationToken --resource '*'

  # Does the repository policy block pulls from outside the office?
  portcullis policy simulate --policy dev.json --resource-policy web-api-policy.json \\
      --caller-arn arn:aws:iam::111122223333:user/dev --action ecr:BatchGetImage \\
      --resource arn:aws:ecr:ap-northeast-1:111122223333:repository/web-api \\
      --context aws:SourceIp=ip:192.0.2.9

  # Tag conditions on CreateRepository
  portcullis policy simulate --policy tags.json --action ecr:CreateRepository \\
      --resource arn:aws:ecr:ap-northeast-1:111122223333:repository/new \\
      --context aws:TagKeys=stringList:team,env --context aws:RequestTag/team=string:pay";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Auto,
    Identity,
    Repository,
    Registry,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files and print findings with their JSON paths; exit 1 on errors.
    #[command(long_about = VALIDATE_HELP)]
    Validate {
        /// Policy documents (JSON) to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Which grammar to check against.
        #[arg(long, value_enum, default_value_t = KindArg::Auto)]
        kind: KindArg,
        /// Print findings as JSON lines ({"file","severity","path","message"}).
        #[arg(long)]
        json: bool,
    },
    /// Evaluate actions on resources against policies and print one JSON decision per line.
    #[command(long_about = SIMULATE_HELP)]
    Simulate {
        /// Identity policy of the caller (repeatable).
        #[arg(long = "policy", value_name = "FILE")]
        policies: Vec<PathBuf>,
        /// Session policy of the caller's session (repeatable; only for session callers).
        #[arg(long = "session-policy", value_name = "FILE")]
        session_policies: Vec<PathBuf>,
        /// Repository policy of the resources.
        #[arg(long, value_name = "FILE")]
        resource_policy: Option<PathBuf>,
        /// Registry policy of the registry account.
        #[arg(long, value_name = "FILE")]
        registry_policy: Option<PathBuf>,
        /// The caller: an IAM user, role-session, federated-user or root ARN, `anonymous`,
        /// or `service:NAME`.
        #[arg(long, value_name = "ARN")]
        caller_arn: Option<String>,
        /// Action to evaluate, e.g. ecr:PutImage (repeatable).
        #[arg(long = "action", value_name = "ACTION", required = true)]
        actions: Vec<String>,
        /// Resource ARN, or `*` (repeatable).
        #[arg(long = "resource", value_name = "ARN", required = true)]
        resources: Vec<String>,
        /// Context key: KEY=TYPE:VALUE[,VALUE]... (repeatable).
        #[arg(long = "context", value_name = "KEY=TYPE:VALUE")]
        context: Vec<String>,
        /// Add an "Explanation" field with the AWS-style reason for each decision.
        #[arg(long)]
        explain: bool,
    },
}

/// Runs a policy subcommand and returns the process exit code.
pub fn run(cmd: PolicyCommand) -> anyhow::Result<i32> {
    match cmd {
        PolicyCommand::Validate { files, kind, json } => Ok(run_validate(&files, kind, json)),
        PolicyCommand::Simulate {
            policies,
            session_policies,
            resource_policy,
            registry_policy,
            caller_arn,
            actions,
            resources,
            context,
            explain,
        } => {
            let args = SimulateArgs {
                policies,
                session_policies,
                resource_policy,
                registry_policy,
                caller_arn,
                actions,
                resources,
                context,
                explain,
            };
            match run_simulate(&args) {
                Ok(()) => Ok(0),
                Err(msg) => {
                    eprintln!("error: {msg}");
                    Ok(2)
                }
            }
        }
    }
}

fn guess_kind(text: &str) -> PolicyKind {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else {
        return PolicyKind::Identity;
    };
    let stmts: Vec<&serde_json::Value> = match doc.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.iter().collect(),
        Some(s) => vec![s],
        None => Vec::new(),
    };
    let has_principal = stmts
        .iter()
        .any(|s| s.get("Principal").is_some() || s.get("NotPrincipal").is_some());
    if has_principal {
        PolicyKind::Repository
    } else {
        PolicyKind::Identity
    }
}

fn run_validate(files: &[PathBuf], kind: KindArg, json: bool) -> i32 {
    let mut errors = false;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", file.display());
                return 2;
            }
        };
        let kind = match kind {
            KindArg::Auto => guess_kind(&text),
            KindArg::Identity => PolicyKind::Identity,
            KindArg::Repository => PolicyKind::Repository,
            KindArg::Registry => PolicyKind::Registry,
        };
        let findings = validate(&text, kind);
        errors |= findings.iter().any(|f| f.severity == Severity::Error);
        for f in &findings {
            print_finding(file, f, json);
        }
        if findings.is_empty() && !json {
            println!("{}: ok", file.display());
        }
    }
    i32::from(errors)
}

fn print_finding(file: &Path, f: &Finding, json: bool) {
    if json {
        let line = serde_json::json!({
            "file": file.display().to_string(),
            "severity": f.severity.as_str(),
            "path": f.path,
            "message": f.message,
        });
        println!("{line}");
    } else {
        println!("{}: {f}", file.display());
    }
}

struct SimulateArgs {
    policies: Vec<PathBuf>,
    session_policies: Vec<PathBuf>,
    resource_policy: Option<PathBuf>,
    registry_policy: Option<PathBuf>,
    caller_arn: Option<String>,
    actions: Vec<String>,
    resources: Vec<String>,
    context: Vec<String>,
    explain: bool,
}

fn load(path: &Path, kind: PolicyKind) -> Result<(String, Policy), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let policy = Policy::parse(&text, kind).map_err(|e| {
        let details: Vec<String> = e.errors().iter().map(|f| format!("  {f}")).collect();
        format!(
            "invalid policy `{}`:\n{}",
            path.display(),
            details.join("\n")
        )
    })?;
    Ok((path.display().to_string(), policy))
}

fn parse_caller(s: &str) -> Result<Principal, String> {
    if s == "anonymous" {
        return Ok(Principal::Anonymous);
    }
    if let Some(name) = s.strip_prefix("service:") {
        if name.is_empty() {
            return Err("`service:` needs a service name".into());
        }
        return Ok(Principal::Service { name: name.into() });
    }
    Principal::from_arn(s).ok_or_else(|| {
        format!(
            "invalid caller `{s}`: expected arn:aws:iam::ACCOUNT:user/NAME, arn:aws:iam::ACCOUNT:root, arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, arn:aws:sts::ACCOUNT:federated-user/NAME, anonymous or service:NAME"
        )
    })
}

fn resource_account(resource: &str) -> Option<&str> {
    let mut parts = resource.splitn(6, ':');
    match (parts.next(), parts.nth(3), parts.next()) {
        (Some("arn"), Some(acct), Some(_)) if !acct.is_empty() => Some(acct),
        _ => None,
    }
}

fn run_simulate(a: &SimulateArgs) -> Result<(), String> {
    let mut set = PolicySet::new();
    for p in &a.policies {
        let (id, policy) = load(p, PolicyKind::Identity)?;
        set.add_identity(id, policy);
    }
    for p in &a.session_policies {
        let (id, policy) = load(p, PolicyKind::Identity)?;
        set.add_session(id, policy);
    }
    if let Some(p) = &a.resource_policy {
        let (id, policy) = load(p, PolicyKind::Repository)?;
        set.set_repository(id, policy);
    }
    if let Some(p) = &a.registry_policy {
        let (id, policy) = load(p, PolicyKind::Registry)?;
        set.set_registry(id, policy);
    }
    let mut context = Context::new();
    for c in &a.context {
        let (key, entry) = parse_context_arg(c)?;
        context.insert_entry(&key, entry);
    }
    let caller = a.caller_arn.as_deref().map(parse_caller).transpose()?;
    for action in &a.actions {
        if action != "*" && !action.contains(':') {
            return Err(format!(
                "invalid action `{action}`: expected SERVICE:NAME such as ecr:PutImage"
            ));
        }
    }
    for resource in &a.resources {
        if resource != "*" && resource.split(':').count() < 6 {
            return Err(format!("invalid resource `{resource}`: expected `*` or an ARN such as arn:aws:ecr:REGION:ACCOUNT:repository/NAME"));
        }
    }
    // Output order: for each action, each resource.
    let mut lines = Vec::new();
    for action in &a.actions {
        for resource in &a.resources {
            let principal = match &caller {
                Some(p) => p.clone(),
                None => {
                    let account = resource_account(resource).unwrap_or("123456789012");
                    Principal::from_arn(&format!("arn:aws:iam::{account}:user/simulated"))
                        .or_else(|| Principal::from_arn(DEFAULT_CALLER))
                        .ok_or_else(|| format!("invalid account in resource `{resource}`"))?
                }
            };
            let query = Query {
                action: action.clone(),
                resource: resource.clone(),
                context: context.clone(),
            };
            for r in simulate(&principal, &set, std::slice::from_ref(&query)) {
                let mut line = r.to_json();
                if a.explain {
                    if let Some(obj) = line.as_object_mut() {
                        obj.insert("Explanation".into(), r.explanation.clone().into());
                    }
                }
                lines.push(line.to_string());
            }
        }
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
