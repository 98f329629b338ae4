#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: install the peers, build, test.
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --workspace --locked
cargo test --workspace --locked --no-fail-fast
