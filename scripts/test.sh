#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: install the peers, build, test.
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked
cargo test --workspace --locked --no-fail-fast
# Every fuzz target under the address sanitizer: its committed corpus, then a few seconds
# of new inputs (scripts/fuzz.sh without --ci fuzzes for as long as you like).
./scripts/fuzz.sh --ci
