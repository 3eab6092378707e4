//! Parsing a 6 KiB repository policy (target: < 50 µs).

mod common;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use portcullis_policy::*;

fn bench(c: &mut Criterion) {
    // Grow the policy until it is at least 6 KiB.
    let mut n = 1;
    let mut text = common::repository_policy(n);
    while text.len() < 6 * 1024 {
        n += 1;
        text = common::repository_policy(n);
    }
    Policy::parse(&text, PolicyKind::Repository).unwrap();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function(
        format!("repository-policy-{}-bytes-{n}-statements", text.len()),
        |b| b.iter(|| Policy::parse(black_box(&text), PolicyKind::Repository)),
    );
    g.bench_function("ci-push", |b| {
        let t = common::ci_push();
        b.iter(|| Policy::parse(black_box(&t), PolicyKind::Identity))
    });
    g.bench_function(format!("validate-{}-bytes", text.len()), |b| {
        b.iter(|| validate(black_box(&text), PolicyKind::Repository))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
