#!/usr/bin/env bash
# Benchmark (not a test): install 200 secrets from 20 sops files, all encrypted to an age
# plugin (the test plugin age-plugin-testkit), with `keytap install-secrets`, and compare
# with the one-decryption-per-secret way sops-nix's installer works (the real sops run
# once per secret). Prints wall time and how many plugin sessions each way needed: with a
# PIN-protected or touch-to-use token, every session is one PIN prompt or one touch.
#
# Usage: scripts/bench-install.sh [FILES] [KEYS_PER_FILE]
# Needs: sops 3.11 on PATH (scripts/install-deps.sh), and
#        cargo build --release -p keytap -p age-plugin-testkit   (or set BIN_DIR)
set -euo pipefail

files=${1:-20}
per_file=${2:-10}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=${BIN_DIR:-}
if [ -z "$bin_dir" ]; then
  for d in "$repo/target/release" "$repo/target/debug"; do
    if [ -x "$d/keytap" ] && [ -x "$d/age-plugin-testkit" ]; then bin_dir=$d; break; fi
  done
fi
if [ -z "$bin_dir" ] || [ ! -x "$bin_dir/keytap" ] || [ ! -x "$bin_dir/age-plugin-testkit" ]; then
  echo "build first: cargo build --release -p keytap -p age-plugin-testkit (or set BIN_DIR)" >&2
  exit 2
fi
command -v sops >/dev/null || { echo "sops not on PATH (scripts/install-deps.sh)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH="$bin_dir:$PATH" SOPS_DISABLE_VERSION_CHECK=1 HOME="$work/home" XDG_RUNTIME_DIR="$work/run"
mkdir -p "$HOME" "$work/enc" "$work/run"

# One plugin identity; every file is encrypted to its recipient only.
age-plugin-testkit --generate > "$work/keys.txt"
recipient=$(sed -n 's/^# recipient: //p' "$work/keys.txt")

echo "encrypting $files files x $per_file keys with sops..." >&2
secrets_json=""
for f in $(seq -w 1 "$files"); do
  plain="$work/plain-$f.yaml"
  : > "$plain"
  for k in $(seq 1 "$per_file"); do echo "key$k: value-$f-$k" >> "$plain"; done
  sops encrypt --age "$recipient" "$plain" > "$work/enc/f$f.yaml"
  for k in $(seq 1 "$per_file"); do
    secrets_json+="${secrets_json:+,}{\"name\":\"s$f-$k\",\"key\":\"key$k\",\"path\":\"$work/run/secrets/s$f-$k\",\"owner\":null,\"uid\":0,\"group\":null,\"gid\":0,\"sopsFile\":\"$work/enc/f$f.yaml\",\"format\":\"yaml\",\"mode\":\"0400\",\"restartUnits\":[],\"reloadUnits\":[]}"
  done
done
total=$((files * per_file))

# userMode: no ramfs and no chown, so the benchmark needs no root; the decryption work is
# the same.
cat > "$work/manifest.json" <<EOF
{"secrets":[$secrets_json],"templates":[],"placeholderBySecretName":{},
 "secretsMountPoint":"$work/run/secrets.d","symlinkPath":"$work/run/secrets",
 "keepGenerations":1,"gnupgHome":null,"sshKeyPaths":[],"ageKeyFile":"$work/keys.txt",
 "ageSshKeyPaths":[],"useTmpfs":false,"userMode":true,
 "logging":{"keyImport":false,"secretChanges":false}}
EOF

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

export TESTKIT_LOG="$work/keytap.log"
t0=$(now)
keytap install-secrets "$work/manifest.json"
t1=$(now)
keytap_time=$(elapsed "$t0" "$t1")
keytap_sessions=$(grep -c '^session identity-v1' "$TESTKIT_LOG" || true)
test "$(cat "$work/run/secrets/s01-1")" = "value-01-1"

export TESTKIT_LOG="$work/sops.log" SOPS_AGE_KEY_FILE="$work/keys.txt"
t0=$(now)
for f in $(seq -w 1 "$files"); do
  for k in $(seq 1 "$per_file"); do
    sops decrypt --extract "[\"key$k\"]" "$work/enc/f$f.yaml" > /dev/null
  done
done
t1=$(now)
sops_time=$(elapsed "$t0" "$t1")
sops_sessions=$(grep -c '^session identity-v1' "$TESTKIT_LOG" || true)

printf '\n%d secrets in %d files, encrypted to one age plugin identity\n\n' "$total" "$files"
printf '%-44s %10s %16s\n' "way" "seconds" "plugin sessions"
printf '%-44s %10s %16s\n' "keytap install-secrets (each file once)" "$keytap_time" "$keytap_sessions"
printf '%-44s %10s %16s\n' "sops decrypt --extract, once per secret" "$sops_time" "$sops_sessions"
printf '\nWith a PIN-protected or touch-to-use token every plugin session is a PIN prompt or a touch.\n'
