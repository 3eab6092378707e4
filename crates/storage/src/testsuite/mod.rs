//! Backend test suites, on the model of Distribution's storage driver suite: the contract of
//! each storage seam written once, run by every backend's own tests (`blob_store_suite!` in
//! `blob/fs.rs`, `meta_store_suite!` in `meta/sqlite.rs` and `meta/postgres.rs`), so a new
//! backend (S3, PostgreSQL) proves itself against the same cases.
//! Compiled for this crate's tests and, with the `test-util` feature, for other crates'.

pub mod blob;
pub mod meta;
pub mod meta_gc;
pub mod secrets;
