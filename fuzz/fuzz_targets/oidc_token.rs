//! Arbitrary bytes as a web identity token and as a JWKS through
//! `portcullis_auth::oidc::check_untrusted`, which panics on a crash or on a token that
//! verifies without a registered client id. Seeds: `crates/auth/tests/corpus/oidc/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    portcullis_auth::oidc::check_untrusted(data);
});
