//! Arbitrary bytes through `portcullis_oci::fuzzing::content_range`, which panics when a parser
//! breaks an invariant. Seeds: `crates/oci/tests/corpus/content_range/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_oci::fuzzing::content_range(data);
});
