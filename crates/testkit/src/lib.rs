//! Dev-only test support: start the real `portcullis` binary on a random port with a
//! temporary data dir, fixtures, real-client wrappers and the load tool. Production crates never
//! depend on this one.
//!
//! Black-box tests live in this crate's `tests/` so that they compile against nothing but this
//! crate and drive whatever binary `PORTCULLIS_BIN` (or the workspace's `target/debug`) holds.

pub mod clients;
pub mod fixtures;
pub mod scenario;
pub mod server;

pub use server::{
    basic_auth, portcullis_bin, ServerOptions, TestServer, ADMIN_ACCESS_KEY_ID,
    ADMIN_SECRET_ACCESS_KEY,
};
