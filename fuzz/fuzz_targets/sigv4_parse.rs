//! Arbitrary bytes through `portcullis_auth::sigv4::fuzzing::sigv4_parse`, which panics when
//! parsing, verifying or sign-then-verify breaks an invariant.
//! Seeds: `crates/auth/tests/corpus/sigv4/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_auth::sigv4::fuzzing::sigv4_parse(data);
});
