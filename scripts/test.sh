#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with a Rust toolchain: installs what the
# tests need (real registry clients), checks formatting and lints, builds the server, and runs
# every test (unit, property, fuzz seed corpora, black-box HTTP, crash, memory, real clients).
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
bash scripts/install-test-deps.sh

if ! command -v cargo-nextest >/dev/null 2>&1; then
    step "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "crate dependency edges match docs/architecture.md"
python3 scripts/check-architecture.py

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "building the server binary the black-box tests drive"
cargo build --locked --bin portcullis

# The flat-memory test streams a full 2 GiB layer through the server, as the issue asks.
export PORTCULLIS_MEMORY_TEST_BYTES=${PORTCULLIS_MEMORY_TEST_BYTES:-2147483648}

step "starting PostgreSQL on loopback (the scale-out metadata backend)"
trap 'bash scripts/postgres.sh stop' EXIT
bash scripts/postgres.sh start
export PORTCULLIS_TEST_POSTGRES_URL="$(bash scripts/postgres.sh url)"

# With the variable above, the storage crate's metadata suite runs against PostgreSQL beside
# SQLite, and the black-box tests that need a database server (deployment.rs) run a node on it.
step "tests"
cargo nextest run --workspace --locked --no-fail-fast
cargo test --workspace --locked --doc
