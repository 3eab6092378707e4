//! Parse, validate and evaluate arbitrary policy text; see
//! `portcullis_policy::fuzzing::check_invariants` for what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = portcullis_policy::fuzzing::check_invariants(data) {
        panic!("invariant violated: {}", v.0);
    }
});
