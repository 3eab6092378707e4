//! CPU time per operation, for `perf stat -e task-clock`: criterion's wall-clock figures swing
//! with the load of the shared machine, a fixed loop under `perf stat` does not.
//!
//! ```text
//! cargo build --release -p portcullis-policy --example cpu_time
//! perf stat -e task-clock target/release/examples/cpu_time parse 20000
//! ```
//!
//! Workloads: `parse` (the 6 KiB repository policy of the parse bench), `ci` (the CI push
//! policy), `validate` (the 6 KiB policy), `eval` and `deny` (the evaluate bench's allow and
//! explicit-deny requests), and two reference points for the 6 KiB policy: `json`
//! (`serde_json::Value`) and `ignored` (serde_json reading it into `IgnoredAny`, the lexing
//! alone).

#[path = "../benches/common/mod.rs"]
mod common;

use portcullis_policy::*;
use std::hint::black_box;
use std::process::ExitCode;

fn six_kib_policy() -> String {
    let mut n = 1;
    let mut text = common::repository_policy(n);
    while text.len() < 6 * 1024 {
        n += 1;
        text = common::repository_policy(n);
    }
    text
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(work), Some(Ok(iters))) = (args.get(1), args.get(2).map(|n| n.parse::<u64>())) else {
        eprintln!("usage: cpu_time parse|ci|validate|json|eval|deny ITERATIONS");
        return ExitCode::from(2);
    };
    let big = six_kib_policy();
    let ci = common::ci_push();
    let mut set = PolicySet::new();
    if let (Ok(id), Ok(repo)) = (
        Policy::parse(&ci, PolicyKind::Identity),
        Policy::parse(&common::repository_policy(20), PolicyKind::Repository),
    ) {
        set.add_identity("ci-push", id);
        set.set_repository("web-api", repo);
    }
    let push = common::push_request();
    let mut outside = push.clone();
    if let Ok(ip) = "192.0.2.9".parse() {
        outside.context.insert("aws:SourceIp", Value::ip(ip));
    }
    let mut ok = 0u64;
    for _ in 0..iters {
        ok += match work.as_str() {
            "parse" => u64::from(Policy::parse(black_box(&big), PolicyKind::Repository).is_ok()),
            "ci" => u64::from(Policy::parse(black_box(&ci), PolicyKind::Identity).is_ok()),
            "validate" => validate(black_box(&big), PolicyKind::Repository).len() as u64,
            "ignored" => {
                u64::from(serde_json::from_str::<serde::de::IgnoredAny>(black_box(&big)).is_ok())
            }
            "json" => u64::from(serde_json::from_str::<serde_json::Value>(black_box(&big)).is_ok()),
            "eval" => {
                u64::from(evaluate(black_box(&push), black_box(&set)).decision == Decision::Allow)
            }
            "deny" => u64::from(
                evaluate(black_box(&outside), black_box(&set)).decision == Decision::ExplicitDeny,
            ),
            other => {
                eprintln!("unknown workload `{other}`");
                return ExitCode::from(2);
            }
        };
    }
    println!(
        "{work}: {iters} iterations, {ok} ok, document {} bytes",
        big.len()
    );
    ExitCode::SUCCESS
}
