//! Arbitrary bytes through `portcullis_api::proxy_protocol::fuzz_proxy_header`, which parses
//! them as the start of a connection and panics when the parser breaks an invariant (a header
//! longer than its input, a prefix of a header not reported incomplete, trailing bytes changing
//! the answer). The same function runs over seeds in the crate's unit tests.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_api::proxy_protocol::fuzz_proxy_header(data);
});
