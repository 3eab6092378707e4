//! Runs the `oidc_token` fuzz body over its seed corpus (`tests/corpus/oidc/`), so the
//! fuzzer's invariants are checked by an ordinary `cargo test` on stable.

use std::fs;
use std::path::Path;

#[test]
fn oidc_token_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/oidc");
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        portcullis_auth::oidc::check_untrusted(&fs::read(&path).unwrap());
        count += 1;
    }
    assert!(count >= 8, "seed corpus missing in {}", dir.display());
}
