//! Data-driven test vectors: every worked example of the spec (section 8) and the three
//! policies from the field (section 7), kept as JSON under `tests/vectors/`.
//!
//! A vector file holds named policies and cases. A case names the policies in play, the
//! principal (an ARN, `anonymous` or `service:NAME`), the action, the resource, context keys
//! in the CLI's `TYPE:VALUE[,VALUE]` form on top of the file's defaults and the principal's
//! own keys, keys to drop (`absent`), and the expected decision. Optional: `matched` (the
//! statements that decided, as `policy#Sid` or `policy#index`) and `explanation` (a
//! substring of the AWS-style explanation).

use portcullis_policy::fuzzing::check_invariants;
use portcullis_policy::*;
use serde_json::Value as J;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    files
}

fn kind_of(s: &str) -> PolicyKind {
    match s {
        "identity" | "session" => PolicyKind::Identity,
        "repository" => PolicyKind::Repository,
        "registry" => PolicyKind::Registry,
        other => panic!("unknown kind {other}"),
    }
}

fn principal(s: &str) -> Principal {
    if s == "anonymous" {
        return Principal::Anonymous;
    }
    if let Some(name) = s.strip_prefix("service:") {
        return Principal::Service { name: name.into() };
    }
    Principal::from_arn(s).unwrap_or_else(|| panic!("bad principal {s}"))
}

fn apply_context(ctx: &mut Context, obj: Option<&J>) {
    let Some(J::Object(m)) = obj else { return };
    for (k, v) in m {
        let arg = format!("{k}={}", v.as_str().unwrap());
        let (key, entry) = parse_context_arg(&arg).unwrap_or_else(|e| panic!("{e}"));
        ctx.insert_entry(&key, entry);
    }
}

struct Loaded {
    policies: BTreeMap<String, Policy>,
}

fn load_policies(doc: &J, file: &str) -> Loaded {
    let mut policies = BTreeMap::new();
    for (name, p) in doc["policies"].as_object().unwrap() {
        let kind = kind_of(p["kind"].as_str().unwrap());
        let text = serde_json::to_string(&p["document"]).unwrap();
        let policy = Policy::parse(&text, kind)
            .unwrap_or_else(|e| panic!("{file}: policy {name} does not parse: {e}"));
        policies.insert(name.clone(), policy);
    }
    Loaded { policies }
}

fn run_case(file: &str, loaded: &Loaded, defaults: Option<&J>, case: &J) -> Result<(), String> {
    let name = case["name"].as_str().unwrap();
    let get = |n: &str| -> Policy {
        loaded
            .policies
            .get(n)
            .unwrap_or_else(|| panic!("{file}/{name}: no policy {n}"))
            .clone()
    };
    let mut set = PolicySet::new();
    for n in case["identity"].as_array().into_iter().flatten() {
        let n = n.as_str().unwrap();
        set.add_identity(n, get(n));
    }
    for n in case["session"].as_array().into_iter().flatten() {
        let n = n.as_str().unwrap();
        set.add_session(n, get(n));
    }
    if let Some(n) = case["repository"].as_str() {
        set.set_repository(n, get(n));
    }
    if let Some(n) = case["registry"].as_str() {
        set.set_registry(n, get(n));
    }
    let p = principal(case["principal"].as_str().unwrap());
    let mut req = Request::new(
        p,
        case["action"].as_str().unwrap(),
        case["resource"].as_str().unwrap(),
    );
    apply_context(&mut req.context, defaults);
    apply_context(&mut req.context, case.get("context"));
    for k in case["absent"].as_array().into_iter().flatten() {
        req.context.remove(k.as_str().unwrap());
    }
    let resp = evaluate(&req, &set);
    let want = case["expect"].as_str().unwrap();
    let mut problems = Vec::new();
    if resp.decision.as_str() != want {
        problems.push(format!("decision {} (want {want})", resp.decision.as_str()));
    }
    if let Some(m) = case.get("matched") {
        let mut want: Vec<String> = m
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect();
        let mut got: Vec<String> = resp
            .matched
            .iter()
            .map(|s| match &s.sid {
                Some(sid) => format!("{}#{sid}", s.policy_id),
                None => format!("{}#{}", s.policy_id, s.index),
            })
            .collect();
        want.sort();
        got.sort();
        if want != got {
            problems.push(format!("matched {got:?} (want {want:?})"));
        }
    }
    if let Some(x) = case.get("explanation") {
        let text = resp.explanation(&req.action);
        if !text.contains(x.as_str().unwrap()) {
            problems.push(format!("explanation `{text}`"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{file}: {name}: {}", problems.join("; ")))
    }
}

#[test]
fn all_vectors() {
    let mut failures = Vec::new();
    let mut count = 0;
    for path in vector_files() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let doc: J = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let loaded = load_policies(&doc, &file);
        for case in doc["cases"].as_array().unwrap() {
            count += 1;
            if let Err(e) = run_case(&file, &loaded, doc.get("defaults"), case) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 100, "only {count} cases");
}

/// The fuzz target's invariants over every policy in the vectors (the seed corpus).
#[test]
fn fuzz_invariants_hold_on_vector_policies() {
    for path in vector_files() {
        let doc: J = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (name, p) in doc["policies"].as_object().unwrap() {
            let kind: u8 = match p["kind"].as_str().unwrap() {
                "repository" => 1,
                "registry" => 2,
                _ => 0,
            };
            let mut input = vec![kind];
            input.extend(serde_json::to_vec_pretty(&p["document"]).unwrap());
            check_invariants(&input)
                .unwrap_or_else(|v| panic!("{}: {name}: {}", path.display(), v.0));
        }
    }
}

/// Every seed file of the fuzz corpus also holds the invariants.
#[test]
fn fuzz_invariants_hold_on_seed_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/seeds");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        check_invariants(&data).unwrap_or_else(|v| panic!("{}: {}", path.display(), v.0));
    }
}
