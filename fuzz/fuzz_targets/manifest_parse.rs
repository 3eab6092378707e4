//! Arbitrary bytes through `portcullis_oci::fuzzing::manifest_parse`, which panics when a parser
//! breaks an invariant. Seeds: `crates/oci/tests/corpus/manifest/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_oci::fuzzing::manifest_parse(data);
});
