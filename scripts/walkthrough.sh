#!/usr/bin/env bash
# The keytap walkthrough: a NixOS user's day with sops-style secrets, in a temp dir.
# Creates a key and .sops.yaml, encrypts a secrets file, edits it with a scripted
# editor, decrypts it, and checks that the real sops reads what keytap wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

./scripts/install-deps.sh >/dev/null
cargo build --locked --quiet -p keytap
keytap="$root/target/debug/keytap"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config"
mkdir -p "$HOME" secrets

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "1. Create an age identity (kept where sops looks: ~/.config/sops/age/keys.txt)"
mkdir -p "$XDG_CONFIG_HOME/sops/age"
show "$keytap" keygen -o "$XDG_CONFIG_HOME/sops/age/keys.txt"
recipient=$("$keytap" keygen -y "$XDG_CONFIG_HOME/sops/age/keys.txt")

step "2. Write .sops.yaml: every file under secrets/ is encrypted to that recipient"
cat > .sops.yaml <<YAML
creation_rules:
  - path_regex: secrets/[^/]+\.(yaml|json|env|ini)$
    age: $recipient
YAML
cat .sops.yaml

step "3. Encrypt secrets/secrets.yaml in place"
cat > secrets/secrets.yaml <<'YAML'
# API keys for the home server
claude_key: sk-ant-example-not-a-real-key
database:
    user: nixos
    password: correct horse battery staple
YAML
show "$keytap" encrypt -i secrets/secrets.yaml
show cat secrets/secrets.yaml

step "4. Edit it: a scripted \$EDITOR changes the database password"
cat > "$work/editor.sh" <<'SH'
#!/bin/sh
sed -i 's/correct horse battery staple/new-password-2026/' "$1"
SH
chmod +x "$work/editor.sh"
before=$(grep 'claude_key' secrets/secrets.yaml)
show env EDITOR="$work/editor.sh" "$keytap" edit secrets/secrets.yaml
after=$(grep 'claude_key' secrets/secrets.yaml)
if [ "$before" = "$after" ]; then
  echo "   unchanged values keep their ciphertext: claude_key is byte-identical (small git diffs)"
else
  echo "   ERROR: claude_key's ciphertext changed" >&2; exit 1
fi

step "5. Decrypt it, and extract one value"
show "$keytap" decrypt secrets/secrets.yaml
show "$keytap" decrypt --extract '["database"]["password"]' secrets/secrets.yaml
echo

step "6. The real sops 3.11 reads keytap's file (and the other way round)"
show sops decrypt --extract '["claude_key"]' secrets/secrets.yaml
echo
printf 'token: from-sops\n' > secrets/other.yaml
sops encrypt -i secrets/other.yaml
show "$keytap" decrypt secrets/other.yaml

step "7. Hardware flow"
echo "   The YubiKey PIV plugin and its software card are not built yet (issue #5);"
echo "   identities AGE-PLUGIN-*-1... in keys.txt already run age-plugin-<name> from PATH."
echo
echo "Walkthrough complete."
