//! Evaluation of the CI push policy plus a 20-statement repository policy (target: < 2 µs).

mod common;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use portcullis_policy::*;

fn bench(c: &mut Criterion) {
    let mut set = PolicySet::new();
    set.add_identity(
        "ci-push",
        Policy::parse(&common::ci_push(), PolicyKind::Identity).unwrap(),
    );
    set.set_repository(
        "web-api",
        Policy::parse(&common::repository_policy(20), PolicyKind::Repository).unwrap(),
    );
    let push = common::push_request();
    assert_eq!(evaluate(&push, &set).decision, Decision::Allow);
    c.bench_function(
        "evaluate/ci-push+20-statement-repository-policy/allow",
        |b| b.iter(|| evaluate(black_box(&push), black_box(&set))),
    );
    let mut pull = push.clone();
    pull.action = "ecr:BatchGetImage".into();
    assert_eq!(evaluate(&pull, &set).decision, Decision::ImplicitDeny);
    c.bench_function(
        "evaluate/ci-push+20-statement-repository-policy/implicit-deny",
        |b| b.iter(|| evaluate(black_box(&pull), black_box(&set))),
    );
    let mut outside = push.clone();
    if let Ok(ip) = "192.0.2.9".parse() {
        outside.context.insert("aws:SourceIp", Value::ip(ip));
    }
    assert_eq!(evaluate(&outside, &set).decision, Decision::ExplicitDeny);
    c.bench_function(
        "evaluate/ci-push+20-statement-repository-policy/explicit-deny",
        |b| b.iter(|| evaluate(black_box(&outside), black_box(&set))),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
