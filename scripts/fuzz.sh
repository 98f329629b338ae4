#!/usr/bin/env bash
# Fuzzes keytap's parsers: every target of fuzz/ (or the ones named) for SECONDS each.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # default 60 s per target
#   scripts/fuzz.sh --ci                       # CI: each target's corpus, then 3 s
#
# Runs on the stable toolchain: cargo-fuzz needs nightly-only flags, which
# RUSTC_BOOTSTRAP=1 allows (the address sanitizer's runtime ships with stable).
# -timeout=10 because libFuzzer's default of 1200 s hides hangs. New inputs go to a
# scratch directory (the committed corpus stays small); a crash, hang or out-of-memory
# input stops the script and is left in fuzz/artifacts/<target>/: copy it into
# fuzz/regressions/<target>/ (core/tests/fuzz_corpus.rs replays it), then fix it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
shift || true
if [ "$seconds" = "--ci" ]; then
  seconds=3
fi
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --version 0.13.2 --locked --quiet
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -O
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  echo "== $t (${seconds} s)"
  if ! cargo fuzz run -O "$t" "$scratch/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
    -print_final_stats=1 >"$scratch/$t.log" 2>&1; then
    tail -n 40 "$scratch/$t.log" >&2
    echo "fuzz target $t failed: see fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$scratch/$t.log" | tr '\n' ' '
  echo
done
