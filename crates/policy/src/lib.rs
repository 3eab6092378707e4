//! The IAM policy language, pure: no I/O, no async. `../shared/spec/iam-policy.md` is the
//! specification; this crate implements it.
//!
//! Phases, as in cedar: [`Policy::parse`] turns JSON text into a checked AST (errors name the
//! JSON path), [`validate()`] adds access-analyzer-style warnings, [`evaluate()`] decides a
//! [`Request`] against a [`PolicySet`] and explains the decision, and [`simulate()`] runs a
//! batch of questions for tooling.
//!
//! ```
//! use portcullis_policy::*;
//! let text = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
//!     "Action":"ecr:BatchGetImage",
//!     "Resource":"arn:aws:ecr:ap-northeast-1:111122223333:repository/${aws:username}/*"}}"#;
//! let policy = Policy::parse(text, PolicyKind::Identity).unwrap();
//! let mut set = PolicySet::new();
//! set.add_identity("alice-pull", policy);
//! let alice = Principal::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
//! let req = Request::new(alice, "ecr:BatchGetImage",
//!     "arn:aws:ecr:ap-northeast-1:111122223333:repository/alice/web");
//! assert_eq!(evaluate(&req, &set).decision, Decision::Allow);
//! ```
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod ast;
pub mod catalog;
mod condition;
mod context;
mod error;
mod evaluate;
pub mod fuzzing;

mod json;
mod parse;
mod serialize;
mod simulate;

mod validate;
mod variables;
mod wildcard;

pub use ast::{
    ActionBlock, Effect, Policy, PolicyKind, PrincipalBlock, PrincipalType, ResourceBlock,
    Statement, Version,
};
pub use condition::{
    BaseOp, Condition, ConditionEntry, ConditionValue, Family, Operator, Scalar, SetOp,
};
pub use context::{
    format_date, parse_date, BadValue, Cidr, Context, Decimal, Entry, Value, ValueType,
};
pub use error::{Finding, ParseError, Severity};
pub use evaluate::{
    evaluate, Decision, MatchedStatement, PolicySet, PolicyType, Principal, Reason, Request,
    Response,
};
pub use parse::MAX_POLICY_CHARS;

pub use simulate::{parse_context_arg, simulate, Query, SimulationResult};
pub use validate::{validate, validate_policy};

/// Glob matching as Action, Resource and `StringLike` use it (`*` any run, `?` one char).
/// Exposed for tests and tools; case-sensitive.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    wildcard::Glob::new(pattern).matches(text)
}
