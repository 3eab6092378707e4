//! Runs the `sigv4_parse` fuzz body over its seed corpus (`tests/corpus/sigv4/`), so the
//! fuzzer's invariants are checked by an ordinary `cargo test` on stable.

use std::fs;
use std::path::Path;

use portcullis_auth::sigv4::fuzzing;

#[test]
fn sigv4_parse_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/sigv4");
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        fuzzing::sigv4_parse(&fs::read(&path).unwrap());
        count += 1;
    }
    assert!(count >= 8, "seed corpus missing in {}", dir.display());
}
