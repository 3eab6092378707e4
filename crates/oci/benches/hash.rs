//! Hashing throughput of the upload/download path: every pushed byte goes through
//! [`portcullis_oci::Hasher`] in the chunks the body arrives in, so its speed bounds a
//! single-stream push. Measured over 1 MiB chunks, next to the `sha2` crate called directly (the
//! enum dispatch in `Hasher` should cost nothing).
//!
//! `cargo bench -p portcullis-oci --bench hash`. To compare the `sha2` crate's `asm` feature, run
//! it again with `--features sha2/asm` (on a copy of the workspace, as that changes Cargo.lock):
//! on x86-64 that feature only replaces the fallback used when the CPU lacks SHA-NI (SHA-256) or
//! AVX2 (SHA-512), since sha2 0.10 picks the intrinsics at run time when the CPU has them.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use portcullis_oci::{Algorithm, Digest, Hasher};
use sha2::Digest as _;

const CHUNK: usize = 1 << 20;
const CHUNKS: usize = 16;

fn data() -> Vec<u8> {
    // Not constant, so nothing can be folded away; the values themselves do not matter to SHA.
    (0..CHUNK)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn streaming(c: &mut Criterion) {
    let chunk = data();
    let mut group = c.benchmark_group("hash 16 MiB in 1 MiB chunks");
    group.throughput(Throughput::Bytes((CHUNK * CHUNKS) as u64));
    group.sample_size(20);
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        group.bench_function(BenchmarkId::new("Hasher", alg.name()), |b| {
            b.iter(|| {
                let mut h = Hasher::new(alg);
                for _ in 0..CHUNKS {
                    h.update(black_box(&chunk));
                }
                h.finalize()
            })
        });
    }
    group.bench_function(BenchmarkId::new("sha2 direct", "sha256"), |b| {
        b.iter(|| {
            let mut h = sha2::Sha256::new();
            for _ in 0..CHUNKS {
                h.update(black_box(&chunk));
            }
            h.finalize()
        })
    });
    group.bench_function(BenchmarkId::new("sha2 direct", "sha512"), |b| {
        b.iter(|| {
            let mut h = sha2::Sha512::new();
            for _ in 0..CHUNKS {
                h.update(black_box(&chunk));
            }
            h.finalize()
        })
    });
    group.finish();
}

/// Small inputs (a manifest, a config): here per-digest overhead (setup, hex encoding) shows.
fn small(c: &mut Criterion) {
    let data = data();
    let mut group = c.benchmark_group("Digest::of small input");
    for size in [256usize, 4096] {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("sha256", size), &data[..size], |b, d| {
            b.iter(|| Digest::of(Algorithm::Sha256, black_box(d)))
        });
    }
    group.finish();
}

criterion_group!(benches, streaming, small);
criterion_main!(benches);
