//! The IAM policy language, pure: no I/O, no async. See `../shared/spec/iam-policy.md`.
