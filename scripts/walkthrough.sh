#!/usr/bin/env bash
# The keytap walkthrough: a NixOS user's day with sops-style secrets, in a temp dir.
# Creates a key and .sops.yaml, encrypts a secrets file, edits it with a scripted
# editor, decrypts it, and checks that the real sops reads what keytap wrote; then
# hardware tokens, the key service, home-manager, git merges, a PGP teammate and a
# server that decrypts with its SSH RSA host key.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

./scripts/install-deps.sh >/dev/null
cargo build --locked --quiet -p keytap -p keytap-age-plugin-yubikey -p keytap-piv-card -p keytap-age-plugin-tpm
keytap="$root/target/debug/keytap"

work=$(mktemp -d)
started_pids=()
cleanup() {
  # Stop what step 7 started (the software YubiKey, then pcscd), by PID.
  for pid in "${started_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${started_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Step 12's gpg-agent, if it got that far.
  [ -d "$work/gnupg" ] && GNUPGHOME="$work/gnupg" gpgconf --kill all 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
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

step "7. A YubiKey: the PIV plugin, on a software YubiKey behind a real pcscd"
if [ "$(id -u)" -ne 0 ]; then
  echo "   (skipped: starting pcscd needs root; see tests/tests/yubikey.rs)"
elif [ -S /run/pcscd/pcscd.comm ]; then
  echo "   (skipped: a pcscd is already running here; stop it to see the software YubiKey)"
else
  card="$root/target/debug/keytap-piv-card"
  # pcscd in the foreground with vsmartcard's vpcd reader; the emulator connecting to the
  # reader is the card being inserted.
  pcscd -f -a >"$work/pcscd.log" 2>&1 &
  started_pids=("$!")
  "$card" wait-pcscd
  # Plugging the card in: the emulator process is the card in the reader.
  insert_card() {
    "$card" run --state "$work/yubikey.json" --serial 15000042 --counters "$work/card-counters" >>"$work/card.log" 2>&1 &
    card_pid=$!
    started_pids=("$card_pid" "${started_pids[@]}")
    "$card" wait-card
  }
  remove_card() { kill "$card_pid"; wait "$card_pid" 2>/dev/null || true; "$card" wait-card --absent; }
  insert_card
  show pcsc_scan -r
  export PATH="$root/target/debug:$PATH"   # age-plugin-yubikey (keytap's) for keytap to run
  echo 123456 > "$work/pin"; echo 246810 > "$work/new-pin"; chmod 600 "$work/pin" "$work/new-pin"
  echo '$ age-plugin-yubikey --generate --name "walkthrough key" --touch-policy never --pin-file pin --new-pin-file new-pin > yubikey-identity.txt'
  age-plugin-yubikey --generate --name "walkthrough key" --touch-policy never \
    --pin-file "$work/pin" --new-pin-file "$work/new-pin" > "$work/yubikey-identity.txt"
  cat "$work/yubikey-identity.txt"
  yk_recipient=$(sed -n 's/^#    Recipient: //p' "$work/yubikey-identity.txt")
  printf 'wifi_password: correct-horse-on-a-yubikey\n' > secrets/yubikey.yaml
  show "$keytap" encrypt -i --age "$yk_recipient" secrets/yubikey.yaml
  # The PIN comes from a scripted askpass (a real user gets a prompt or pinentry).
  printf '#!/bin/sh\necho "   askpass was asked: $1" >&2\necho 246810\n' > "$work/askpass.sh"
  chmod +x "$work/askpass.sh"
  show env SOPS_AGE_KEY_FILE="$work/yubikey-identity.txt" KEYTAP_ASKPASS="$work/askpass.sh" \
    "$keytap" decrypt secrets/yubikey.yaml
  echo "   the card counted: $(tr '\n' ' ' < "$work/card-counters" 2>/dev/null || true)"
fi

step "8. A TPM: the TPM 2.0 plugin, on a software TPM (swtpm)"
tpm_port=$((20000 + $$ % 20000))
mkdir -p "$work/tpm"
swtpm socket --tpmstate dir="$work/tpm" --tpm2 --server type=tcp,port=$tpm_port,bindaddr=127.0.0.1 \
  --ctrl type=tcp,port=$((tpm_port + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear \
  >"$work/swtpm.log" 2>&1 &
started_pids=("$!" "${started_pids[@]}")
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$tpm_port"
# Wait until the TPM answers (no blind sleep).
for _ in $(seq 1 100); do tpm2_getrandom 4 >/dev/null 2>&1 && break; sleep 0.05; done
export PATH="$root/target/debug:$PATH"   # keytap's age-plugin-tpm
show age-plugin-tpm --generate -o "$work/tpm-identity.txt"
tpm_recipient=$(age-plugin-tpm -y "$work/tpm-identity.txt")
echo "   keytap doctor sees it:"
"$keytap" doctor 2>&1 | sed -n '/age-plugin-tpm --status/,/^[^ ]/p' | sed 's/^/   /' | head -8
printf 'backup_key: kept-in-the-tpm\n' > secrets/tpm.yaml
show "$keytap" encrypt -i --age "$tpm_recipient" secrets/tpm.yaml
show env SOPS_AGE_KEY_FILE="$work/tpm-identity.txt" "$keytap" decrypt secrets/tpm.yaml
unset TPM2TOOLS_TCTI

step "9. The key service: one PIN for many commands, from keytap and the real sops"
if [ -f "$work/yubikey-identity.txt" ]; then
  ks_identity="$work/yubikey-identity.txt"; ks_file=secrets/yubikey.yaml
  echo "   (the YubiKey is pulled out and plugged in again: it forgets step 7's PIN)"
  remove_card; insert_card
else
  ks_identity="$XDG_CONFIG_HOME/sops/age/keys.txt"; ks_file=secrets/secrets.yaml
fi
printf '#!/bin/sh
echo "   askpass was asked: $1" >&2
echo asked >> "%s"
echo 246810\n' "$work/asked" > "$work/ks-askpass.sh"
chmod +x "$work/ks-askpass.sh"
: > "$work/asked"
ks_socket="$work/run/keytap/keyservice.sock"
echo "\$ keytap keyservice --network unix --address $ks_socket &"
SOPS_AGE_KEY_FILE="$ks_identity" KEYTAP_ASKPASS="$work/ks-askpass.sh" \
  "$keytap" --verbose keyservice --network unix --address "$ks_socket" 2>"$work/keyservice.log" &
started_pids=("$!" "${started_pids[@]}")
for _ in $(seq 1 200); do [ -S "$ks_socket" ] && break; sleep 0.05; done
for client in "$keytap" "$keytap" sops; do
  show env -u SOPS_AGE_KEY_FILE SOPS_KEYSERVICE="unix://$ks_socket" SOPS_ENABLE_LOCAL_KEYSERVICE=false \
    "$client" decrypt --extract '["'"$(sed -n 's/^\([a-z_]*\):.*/\1/p' "$ks_file" | head -n1)"'"]' "$ks_file"
  echo
done
echo "   three commands, $(wc -l < "$work/asked") PIN prompt(s) at the service"
if [ -f "$work/yubikey-identity.txt" ]; then
  echo "   pulling the YubiKey out: the service forgets its PIN"
  remove_card
  for _ in $(seq 1 200); do grep -q 'token was removed' "$work/keyservice.log" && break; sleep 0.05; done
fi
echo "   the service logged:"
sed 's/^/   /' "$work/keyservice.log"

step "10. home-manager: your editor's API key, installed at login (sops-nix's paths)"
# The module evaluated offline (the vendored nixpkgs lib and home-manager's lib.hm, on the
# dummy store), then the login unit's own script run with the unit's environment.
mkdir -p "$work/vendor" "$work/hm-pkg/bin" "$work/hm-plugins/bin" "$work/store" "$work/run-user"
chmod 700 "$work/run-user"
tar -xzf "$root/../shared/vendor/nixpkgs-lib.tgz" -C "$work/vendor"
tar -xzf "$root/../shared/vendor/home-manager-lib.tgz" -C "$work/vendor"
ln -s "$keytap" "$work/hm-pkg/bin/keytap"
ln -s "$keytap" "$work/hm-pkg/bin/sops-install-secrets"
ln -s "$root/target/debug/age-plugin-yubikey" "$work/hm-plugins/bin/age-plugin-yubikey"
if [ -f "$work/yubikey-identity.txt" ]; then
  echo "   (the YubiKey is plugged in again for the login)"
  insert_card
  hm_identity="$work/yubikey-identity.txt"; hm_recipient="$yk_recipient"
else
  hm_identity="$XDG_CONFIG_HOME/sops/age/keys.txt"; hm_recipient="$recipient"
fi
printf 'openai_api_key: sk-walkthrough-editor-key\n' > secrets/editor.yaml
show "$keytap" encrypt -i --age "$hm_recipient" secrets/editor.yaml
cat > "$work/home.nix" <<NIX
{ config, pkgs, ... }: {
  home.username = "$(id -un)";
  home.homeDirectory = "$HOME";
  sops.defaultSopsFile = "$work/secrets/editor.yaml";
  sops.age.keyFile = "$hm_identity";
  sops.age.plugins = [ (pkgs.age-plugin-yubikey // { outPath = "$work/hm-plugins"; }) ];
  sops.prompt.askpass = "$work/ks-askpass.sh";
  sops.secrets.openai_api_key = { };
}
NIX
echo "   home.nix:"; sed 's/^/     /' "$work/home.nix"
nix-instantiate --store dummy:// --eval --strict --json -E "
  let lib = import $work/vendor/home-manager-lib/modules/lib/stdlib-extended.nix (import $work/vendor/lib);
      h = import $root/nix/tests/hm-harness.nix { inherit lib; keytapDir = \"$work/hm-pkg\"; };
  in h.summary [ $work/home.nix ]" > "$work/hm.json"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
v = json.load(open(f"{work}/hm.json"))
unit = v["services"]["sops-nix"]
print("   config.sops.secrets.openai_api_key.path =", v["secrets"]["openai_api_key"]["path"])
print("   systemd user unit sops-nix.service, Environment=" + unit["Service"]["Environment"][:60] + "...")
json.dump(v["manifest"]["json"], open(f"{work}/store/manifest.json", "w"))
script = v["script"]["text"].replace(v["manifest"]["path"], f"{work}/store/manifest.json")
open(f"{work}/store/sops-nix-user", "w").write("#!/bin/bash\nset -e\n" + script)
assignments = [a.strip("'") for a in unit["Service"]["Environment"].split("' '")]
open(f"{work}/store/env", "w").write("\n".join(assignments) + "\n")
PY
: > "$work/asked"
echo "\$ systemctl --user start sops-nix   # here: its script, with its environment"
bash_bin=$(command -v bash)
(
  while IFS= read -r assignment; do export "${assignment?}"; done < "$work/store/env"
  XDG_RUNTIME_DIR="$work/run-user" "$bash_bin" "$work/store/sops-nix-user"
)
echo "   $(wc -l < "$work/asked") PIN prompt(s) for the login"
show ls -l "$HOME/.config/sops-nix/secrets/"
show cat "$HOME/.config/sops-nix/secrets/openai_api_key"

step "11. git: two branches change two secrets; keytap merges them key by key"
export PATH="$root/target/debug:$PATH"   # git runs the driver and textconv by name
mkdir -p "$work/repo" && cd "$work/repo"
git init -q -b main . && git config user.email you@example.invalid && git config user.name you
printf 'creation_rules:\n  - path_regex: \\.yaml$\n    age: %s\n' "$recipient" > .sops.yaml
printf 'db_password: hunter2\napi_token: t0ken\n' > app.yaml
"$keytap" encrypt -i app.yaml && git add -A
show "$keytap" git-setup
git add -A && git commit -qm "app secrets"
git checkout -qb feature && "$keytap" set app.yaml '["db_password"]' '"correct-horse"' && git commit -qam "rotate the db password"
git checkout -q main && "$keytap" set app.yaml '["api_token"]' '"n3w-t0ken"' && git commit -qam "new api token"
show git merge --no-edit feature
show "$keytap" decrypt app.yaml
echo "   against main before the merge: feature's value (its own ciphertext), the date and the MAC:"
git diff --no-textconv HEAD~1 -- app.yaml | grep '^[-+][^-+]' | cut -c1-60 | sed 's/^/   /'
echo "\$ git diff HEAD~1   # through the textconv"
git diff HEAD~1 -- app.yaml | grep '^[-+][^-+]' | sed 's/^/   /'
cd "$work"
echo

step "12. A teammate who stays on PGP: their GnuPG key in the same file, both tools read it"
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
  --quick-gen-key "teammate <teammate@example.invalid>" ed25519 cert,sign never 2>/dev/null
fpr=$(gpg --list-keys --with-colons 2>/dev/null | awk -F: '/^fpr/ { print $10; exit }')
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --quick-add-key "$fpr" cv25519 encr never 2>/dev/null
show "$keytap" rotate -i --add-pgp "$fpr" secrets/secrets.yaml
grep "fp:" secrets/secrets.yaml
echo "   the teammate has no age key, only GnuPG: keytap and sops both decrypt through it"
show env -u XDG_CONFIG_HOME HOME="$work/teammate" "$keytap" decrypt --extract '["database"]["user"]' secrets/secrets.yaml
echo
show env -u XDG_CONFIG_HOME HOME="$work/teammate" sops decrypt --extract '["database"]["user"]' secrets/secrets.yaml
echo

step "13. A server that decrypts with its SSH RSA host key (sops-nix's sops.gnupg.sshKeyPaths)"
ssh-keygen -q -t rsa -b 3072 -N "" -C server -f "$work/ssh_host_rsa_key"
echo "\$ keytap ssh-to-pgp -i ssh_host_rsa_key | gpg --import   # its fingerprint on stderr"
host_fpr=$("$keytap" ssh-to-pgp -i "$work/ssh_host_rsa_key" 2>&1 >"$work/host.asc")
gpg --batch --quiet --import "$work/host.asc" 2>/dev/null
echo "   $host_fpr"
printf 'server_token: s3rver-t0ken\n' > secrets/server.yaml
show "$keytap" encrypt -i --pgp "$host_fpr" secrets/server.yaml
cat > "$work/server-manifest.json" <<JSON
{"secrets": [{"name": "server_token", "key": "server_token", "path": "$work/server-secrets/server_token",
  "owner": null, "uid": 0, "group": null, "gid": 0, "sopsFile": "$work/secrets/server.yaml",
  "sopsFileHash": "", "format": "yaml", "mode": "0400", "restartUnits": [], "reloadUnits": [],
  "neededForUsers": false}],
 "templates": [], "placeholderBySecretName": {}, "secretsMountPoint": "$work/server-run/secrets.d",
 "symlinkPath": "$work/server-run/secrets", "keepGenerations": 1, "gnupgHome": null,
 "sshKeyPaths": ["$work/ssh_host_rsa_key"], "ageKeyFile": null, "ageSshKeyPaths": [],
 "useTmpfs": false, "userMode": true, "logging": {"keyImport": true, "secretChanges": true}}
JSON
echo "   the server's installer, with the manifest the module writes (no GnuPG home of its own:"
echo "   the host key is imported into a throwaway one, removed when it is done)"
mkdir -p -m 700 "$work/server-run" "$work/server-secrets"
show env -u GNUPGHOME -u SOPS_AGE_KEY_FILE HOME="$work/server" XDG_CONFIG_HOME="$work/server" \
  XDG_RUNTIME_DIR="$work/server-run" "$keytap" install-secrets "$work/server-manifest.json"
show cat "$work/server-secrets/server_token"
echo
gpgconf --kill all

echo
echo "Walkthrough complete."
