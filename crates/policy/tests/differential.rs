//! Differential test against an independent evaluator: moto's IAM policy engine
//! (`moto.iam.access_control.IAMPolicy`, Python), when it is installed.
//!
//! How faithful moto is (read from its source, moto 5.x): it matches Action, NotAction and
//! Resource by turning `*` into the regex `.*` without escaping anything else, so `?` and `.`
//! are regex syntax and action names are case-sensitive; it has no NotResource (a statement
//! without `Resource` counts as matching); of the condition operators it implements only
//! StringEquals, treats a missing key as a match, ignores unknown operators, and returns
//! "denied" from any statement whose condition fails, Allow or Deny alike. It has no
//! principals, sessions, resource policies or variables.
//!
//! So the test has two parts. Policies drawn from the subset where moto is faithful (Allow
//! and Deny, Action and NotAction, Resource, `*` wildcards, exact-case actions, StringEquals
//! conditions that hold) must get the same decision from both engines. Policies drawn from
//! the full grammar may disagree, but only when the case uses one of moto's known gaps
//! above; any other disagreement fails the test.
//!
//! The oracle runs with `$PORTCULLIS_MOTO_PYTHON` (default `python3`); when moto cannot be
//! imported, the test says so and passes without comparing.

use portcullis_policy::*;
use serde_json::{json, Value as J};
use std::io::Write;
use std::process::{Command, Stdio};

const R: &str = "arn:aws:ecr:ap-northeast-1:111122223333:repository/";

/// A small deterministic generator, so failures reproduce without a seed file.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const ACTIONS: &[&str] = &[
    "ecr:BatchGetImage",
    "ecr:PutImage",
    "ecr:GetAuthorizationToken",
    "ecr:CreateRepository",
    "ecr:BatchDeleteImage",
];
const FAITHFUL_ACTION_PATTERNS: &[&str] = &[
    "*",
    "ecr:*",
    "ecr:Batch*",
    "ecr:*Image",
    "ecr:PutImage",
    "ecr:BatchGetImage",
    "ecr:Get*",
];
const GAP_ACTION_PATTERNS: &[&str] = &["ecr:?utImage", "ECR:putimage", "ecr:batch*"];
const RESOURCES: &[&str] = &["app", "app-v1", "prod-api", "team/web", "*"];
const FAITHFUL_RESOURCE_PATTERNS: &[&str] = &["*", "app", "app-*", "prod-*", "team/*", "*-api"];

fn resource_arn(r: &str) -> String {
    if r == "*" {
        "*".to_owned()
    } else {
        format!("{R}{r}")
    }
}

#[derive(Default)]
struct Gaps {
    question_mark: bool,
    action_case: bool,
    not_resource: bool,
    condition: bool,
}

impl Gaps {
    fn any(&self) -> bool {
        self.question_mark || self.action_case || self.not_resource || self.condition
    }
}

fn statement(g: &mut Lcg, faithful: bool, gaps: &mut Gaps, team: &str) -> J {
    let mut s = serde_json::Map::new();
    s.insert(
        "Effect".into(),
        json!(if g.chance(60) { "Allow" } else { "Deny" }),
    );
    let n = 1 + g.next() as usize % 2;
    let mut actions = Vec::new();
    for _ in 0..n {
        if !faithful && g.chance(25) {
            let a = *g.pick(GAP_ACTION_PATTERNS);
            gaps.question_mark |= a.contains('?');
            gaps.action_case |= a != "ecr:?utImage";
            actions.push(a);
        } else {
            actions.push(*g.pick(FAITHFUL_ACTION_PATTERNS));
        }
    }
    let akey = if g.chance(20) { "NotAction" } else { "Action" };
    s.insert(akey.into(), json!(actions));
    let resources: Vec<String> = (0..1 + g.next() as usize % 2)
        .map(|_| {
            let r = *g.pick(FAITHFUL_RESOURCE_PATTERNS);
            if r == "*" {
                "*".to_owned()
            } else {
                format!("{R}{r}")
            }
        })
        .collect();
    if !faithful && g.chance(15) {
        gaps.not_resource = true;
        s.insert("NotResource".into(), json!(resources));
    } else {
        s.insert("Resource".into(), json!(resources));
    }
    if g.chance(30) {
        let cond = if faithful {
            // Holds for this request, so moto's handling of false conditions never matters.
            json!({"StringEquals": {"aws:PrincipalTag/team": [team, "nobody"]}})
        } else {
            gaps.condition = true;
            g.pick(&[
                json!({"StringEquals": {"aws:PrincipalTag/team": "pay"}}),
                json!({"StringNotEquals": {"aws:PrincipalTag/team": "pay"}}),
                json!({"StringEquals": {"aws:SourceVpce": "vpce-1"}}),
                json!({"StringLike": {"aws:PrincipalTag/team": "p*"}}),
                json!({"Null": {"aws:SourceVpce": "true"}}),
            ])
            .clone()
        };
        s.insert("Condition".into(), cond);
    }
    J::Object(s)
}

struct Case {
    policy: J,
    action: String,
    resource: String,
    team: String,
    gaps: Gaps,
}

fn cases(seed: u64, n: usize, faithful: bool) -> Vec<Case> {
    let mut g = Lcg(seed);
    (0..n)
        .map(|_| {
            let team = g.pick(&["pay", "web"]).to_string();
            let mut gaps = Gaps::default();
            let stmts: Vec<J> = (0..1 + g.next() as usize % 4)
                .map(|_| statement(&mut g, faithful, &mut gaps, &team))
                .collect();
            Case {
                policy: json!({"Version": "2012-10-17", "Statement": stmts}),
                action: g.pick(ACTIONS).to_string(),
                resource: resource_arn(g.pick::<&str>(RESOURCES)),
                team,
                gaps,
            }
        })
        .collect()
}

fn ours(c: &Case) -> &'static str {
    let policy = Policy::parse(&c.policy.to_string(), PolicyKind::Identity).unwrap();
    let mut set = PolicySet::new();
    set.add_identity("p", policy);
    let alice = Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
    let mut req = Request::new(alice, &c.action, &c.resource);
    req.context
        .insert("aws:PrincipalTag/team", Value::string(c.team.clone()));
    match evaluate(&req, &set).decision {
        Decision::Allow => "PERMITTED",
        Decision::ExplicitDeny => "DENIED",
        Decision::ImplicitDeny => "NEUTRAL",
    }
}

/// `None` when moto is not available here.
fn moto(cases: &[Case]) -> Option<Vec<String>> {
    let python = std::env::var("PORTCULLIS_MOTO_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import moto.iam.access_control"])
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/differential/moto_oracle.py"
    );
    let input: Vec<J> = cases
        .iter()
        .map(|c| {
            json!({"policy": c.policy, "action": c.action, "resource": c.resource,
                   "context": {"aws:PrincipalTag/team": c.team}})
        })
        .collect();
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()?
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "moto oracle failed");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn agrees_with_moto_where_moto_is_faithful() {
    let cs = cases(7, 1500, true);
    let Some(theirs) = moto(&cs) else {
        eprintln!("moto is not installed (set PORTCULLIS_MOTO_PYTHON); differential test not run");
        return;
    };
    let mut disagreements = Vec::new();
    for (c, m) in cs.iter().zip(&theirs) {
        assert!(!c.gaps.any());
        if ours(c) != m {
            disagreements.push(format!(
                "{} {} team={}: ours {} moto {m}\n  {}",
                c.action,
                c.resource,
                c.team,
                ours(c),
                c.policy
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} disagree:\n{}",
        disagreements.len(),
        cs.len(),
        disagreements.join("\n")
    );
}

#[test]
fn disagreements_with_moto_are_its_known_gaps() {
    let cs = cases(11, 1500, false);
    let Some(theirs) = moto(&cs) else {
        eprintln!("moto is not installed (set PORTCULLIS_MOTO_PYTHON); differential test not run");
        return;
    };
    let mut unexplained = Vec::new();
    let mut explained = 0;
    for (c, m) in cs.iter().zip(&theirs) {
        if ours(c) == m {
            continue;
        }
        if c.gaps.any() {
            explained += 1;
        } else {
            unexplained.push(format!(
                "{} {}: ours {} moto {m}\n  {}",
                c.action,
                c.resource,
                ours(c),
                c.policy
            ));
        }
    }
    eprintln!(
        "{explained} of {} cases differ, all through moto's known gaps",
        cs.len()
    );
    assert!(
        unexplained.is_empty(),
        "{} unexplained:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}
