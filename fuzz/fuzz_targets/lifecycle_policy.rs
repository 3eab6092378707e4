//! Arbitrary bytes through `portcullis_core::lifecycle::check_invariants`, which panics when the
//! lifecycle policy parser accepts something a later evaluator could not run. Seeds:
//! `crates/core/tests/corpus/lifecycle/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_core::lifecycle::check_invariants(data);
});
