//! The NixOS module, offline: every `.nix` file parses; the module evaluates through the
//! real nixpkgs module system (`lib.evalModules`, nixpkgs `lib` from `<nixpkgs/lib>` or the
//! vendored tarball) with a sops-nix user's configuration and reads back sops-nix's values;
//! bad configurations are rejected with nixpkgs' own messages; and the manifest it
//! generates is what `keytap install-secrets` parses and installs.

mod install_common;
mod nix_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use install_common::*;
use nix_common::{eval_json, nix_instantiate, nixpkgs_lib, repo};
use serde_json::{json, Value};

/// Evaluates `expr` (with `lib` and `h`, the module harness, in scope) to JSON.
fn eval(expr: &str) -> Result<Value, String> {
    let full = format!(
        "let lib = import {lib}; h = import {harness} {{ inherit lib; }}; in {expr}",
        lib = nixpkgs_lib().display(),
        harness = repo().join("nix/tests/harness.nix").display(),
    );
    eval_json(&full)
}

#[track_caller]
fn eval_ok(expr: &str) -> Value {
    eval(expr).unwrap_or_else(|e| panic!("evaluation failed: {e}"))
}

fn nix_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if p.is_dir() {
            nix_files(&p, out);
        } else if name.ends_with(".nix") {
            out.push(p);
        }
    }
}

#[test]
fn every_nix_file_parses() {
    let mut files = Vec::new();
    nix_files(&repo(), &mut files);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(repo()).unwrap().display().to_string())
        .collect();
    for want in [
        "flake.nix",
        "nix/module.nix",
        "nix/package.nix",
        "nix/tests/harness.nix",
        "nix/tests/vm.nix",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    for f in &files {
        let out = nix_instantiate().arg("--parse").arg(f).output().unwrap();
        assert!(
            out.status.success(),
            "{} does not parse: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The gate can fail.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "{ a = ; }").unwrap();
    assert!(!nix_instantiate()
        .arg("--parse")
        .arg(bad.path())
        .output()
        .unwrap()
        .status
        .success());
}

fn typical() -> String {
    format!(
        "h.summary [ {} ]",
        repo().join("nix/tests/typical-config.nix").display()
    )
}

#[test]
fn a_sops_nix_users_config_reads_back_sops_nix_values() {
    let s = eval_ok(&typical());
    assert_eq!(s["failedAssertions"], json!([]));
    assert_eq!(s["warnings"], json!([]));
    let secrets = &s["secrets"];
    assert_eq!(secrets["claude_key"]["path"], "/run/secrets/claude_key");
    assert_eq!(secrets["claude_key"]["owner"], "alice");
    assert_eq!(
        secrets["claude_key"]["group"], "users",
        "group defaults to the owner's group"
    );
    assert_eq!(secrets["claude_key"]["mode"], "0400");
    assert_eq!(secrets["claude_key"]["format"], "yaml");
    assert_eq!(secrets["claude_key"]["key"], "claude_key");
    assert_eq!(
        secrets["alice_password"]["path"],
        "/run/secrets-for-users/alice_password"
    );
    assert_eq!(
        secrets["nested/db/password"]["path"],
        "/run/secrets/nested/db/password"
    );
    assert_eq!(secrets["nested/db/password"]["key"], "nested/db/password");
    assert_eq!(
        s["templates"]["app.env"]["path"],
        "/run/secrets/rendered/app.env"
    );
    assert_eq!(s["keepGenerations"], 1);
    assert_eq!(s["useSystemdActivation"], false);
    assert_eq!(s["askPassword"], false);
    assert_eq!(
        s["ageSshKeyPaths"],
        json!(["/etc/ssh/ssh_host_ed25519_key"])
    );
    assert_eq!(s["gnupgSshKeyPaths"], json!([]));
    // sopsFileHash: sha256 of the file, as sops-nix computes it.
    let hash = Command::new("sha256sum")
        .arg(repo().join("nix/tests/secrets.yaml"))
        .output()
        .unwrap();
    let hash = String::from_utf8(hash.stdout).unwrap();
    assert_eq!(
        secrets["claude_key"]["sopsFileHash"],
        hash.split_whitespace().next().unwrap()
    );
    let ph = s["placeholder"]["claude_key"].as_str().unwrap();
    assert_eq!(ph, placeholder("claude_key"));
    assert_eq!(
        s["templates"]["app.env"]["content"],
        format!("API_KEY={ph}\n")
    );

    // The installer runs from activation scripts, users' secrets before `users`.
    let setup = s["activation"]["setupSecrets"]["text"].as_str().unwrap();
    assert!(
        setup.contains("bin/sops-install-secrets /nix/store/"),
        "{setup}"
    );
    assert!(setup.contains("export HOME='/var/empty'"), "{setup}");
    assert_eq!(
        s["activation"]["setupSecrets"]["deps"],
        json!(["specialfs", "users", "groups"])
    );
    let for_users = s["activation"]["setupSecretsForUsers"]["text"]
        .as_str()
        .unwrap();
    assert!(
        for_users.contains("bin/sops-install-secrets -ignore-passwd /nix/store/"),
        "{for_users}"
    );
    assert!(s["activation"]["usersDeps"]
        .as_array()
        .unwrap()
        .contains(&json!("setupSecretsForUsers")));
    assert_eq!(s["units"]["regular"], Value::Null);

    // The manifest: exactly sops-nix's fields.
    let m = &s["manifest"]["json"];
    let mut fields: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "ageKeyFile",
            "ageSshKeyPaths",
            "gnupgHome",
            "keepGenerations",
            "logging",
            "placeholderBySecretName",
            "secrets",
            "secretsMountPoint",
            "sshKeyPaths",
            "symlinkPath",
            "templates",
            "useTmpfs",
            "userMode"
        ]
    );
    assert_eq!(m["secretsMountPoint"], "/run/secrets.d");
    assert_eq!(m["symlinkPath"], "/run/secrets");
    assert_eq!(
        m["logging"],
        json!({"keyImport": true, "secretChanges": true})
    );
    assert_eq!(
        m["secrets"].as_array().unwrap().len(),
        2,
        "neededForUsers secrets go to their own manifest"
    );
    assert!(m["secrets"][0]["sopsFile"]
        .as_str()
        .unwrap()
        .starts_with("/nix/store/"));
    let um = &s["usersManifest"]["json"];
    assert_eq!(um["secretsMountPoint"], "/run/secrets-for-users.d");
    assert_eq!(um["symlinkPath"], "/run/secrets-for-users");
    assert_eq!(um["secrets"][0]["name"], "alice_password");
    assert!(s["manifest"]["checkPhase"]
        .as_str()
        .unwrap()
        .contains("bin/sops-install-secrets -check-mode=sopsfile \"$out\""));

    // The installer parses what the module wrote (the build-time check the manifest
    // derivation runs; its sops files live in a store that does not exist here).
    let site = Site::new();
    for (name, value) in [("manifest.json", m), ("manifest-for-users.json", um)] {
        let f = site.ws.write(name, serde_json::to_vec(value).unwrap());
        let r = site.install(&["--check-mode=manifest", &site.s(&f)], &[]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
    }
}

/// A config whose sops files are plain paths (validateSopsFiles = false), for installing
/// the module's own manifest.
#[test]
fn the_modules_manifest_installs_with_keytap() {
    let site = Site::new();
    let yaml = site.sops_file(
        "secrets.yaml",
        b"claude_key: sk-live\nalice_password: hash\nnested:\n    db:\n        password: hunter2\n",
        &[],
    );
    let env = site.sops_file("app.env", b"A=1\nB=2\n", &[]);
    let config = format!(
        r#"{{ config, ... }}: {{
            sops.defaultSopsFile = "{yaml}";
            sops.validateSopsFiles = false;
            sops.age.keyFile = "{keys}";
            sops.secrets.claude_key = {{ owner = "nobody"; mode = "0440"; }};
            sops.secrets.alice_password.neededForUsers = true;
            sops.secrets."nested/db/password" = {{ }};
            sops.secrets.env = {{ format = "dotenv"; sopsFile = "{env}"; path = "/run/elsewhere/app.env"; }};
            sops.templates."app.conf".content = "key=${{config.sops.placeholder.claude_key}}\n";
            users.users.nobody.group = "nogroup";
        }}"#,
        yaml = yaml.display(),
        env = env.display(),
        keys = site.ws.keys.display(),
    );
    let s = eval_ok(&format!("h.summary [ ({config}) ]"));
    assert_eq!(s["failedAssertions"], json!([]));
    assert!(s["manifest"]["checkPhase"]
        .as_str()
        .unwrap()
        .contains("-check-mode=manifest"));

    // Point /run at the site and install both manifests, as the activation scripts do.
    let run = site.s(&site.ws.path("run"));
    let relocate = |v: &Value| -> Value {
        let text = serde_json::to_string(v)
            .unwrap()
            .replace("\"/run/", &format!("\"{run}/"));
        serde_json::from_str(&text).unwrap()
    };
    let m = relocate(&s["manifest"]["json"]);
    let um = relocate(&s["usersManifest"]["json"]);
    let mf = site.write_manifest("manifest.json", &m);
    let uf = site.write_manifest("manifest-for-users.json", &um);
    for mode in ["manifest", "sopsfile"] {
        let r = site.install(&[&format!("--check-mode={mode}"), &site.s(&mf)], &[]);
        assert_eq!(r.code, 0, "{mode}: {}", r.stderr);
    }
    let r = site.install(&["--ignore-passwd", &site.s(&uf)], &[]);
    let users_mount = site.ws.path("run/secrets-for-users.d");
    let users_value = std::fs::read(site.ws.path("run/secrets-for-users/alice_password"));
    let _ = Command::new("umount").arg(&users_mount).status();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(users_value.unwrap(), b"hash");
    site.install_ok(&mf);
    assert_eq!(site.read_secret("claude_key"), b"sk-live");
    assert_eq!(
        attrs(&site.link().join("claude_key")),
        (0o440, uid_of("nobody"), gid_of("nogroup"))
    );
    assert_eq!(site.read_secret("nested/db/password"), b"hunter2");
    assert_eq!(
        std::fs::read(site.ws.path("run/elsewhere/app.env")).unwrap(),
        b"A=1\nB=2\n"
    );
    assert_eq!(
        std::fs::read(site.link().join("rendered/app.conf")).unwrap(),
        b"key=sk-live\n"
    );
}

fn with(config: &str) -> String {
    format!(
        "h.summary [ {} ({config}) ]",
        repo().join("nix/tests/typical-config.nix").display()
    )
}

#[test]
fn bad_configs_are_rejected_with_nixpkgs_messages() {
    let cases = [
        (
            "{ sops.secrets.x.nonexistent = 1; }",
            "The option `sops.secrets.x.nonexistent' does not exist",
        ),
        (
            "{ sops.nonexistent = true; }",
            "The option `sops.nonexistent' does not exist",
        ),
        (
            "{ sops.keepGenerations = -1; }",
            "is not of type `unsigned integer, meaning >=0'",
        ),
        (
            "{ sops.secrets.x.format = \"toml\"; }",
            "is not of type `one of \"yaml\", \"json\", \"binary\", \"dotenv\", \"ini\"'",
        ),
        ("{ sops.secrets.x.mode = 400; }", "is not of type `string'"),
        (
            "{ sops.age.keyFile = \"/nix/store/00000000000000000000000000000000-key.txt\"; }",
            "path not in the Nix store'",
        ),
        (
            "{ sops.age.identityOrder = \"random\"; }",
            "sops.age.identityOrder",
        ),
        ("{ sops.log = [ \"everything\" ]; }", "is not of type"),
    ];
    for (config, want) in cases {
        let err = eval(&with(config)).expect_err(config);
        assert!(err.contains(want), "{config}: want {want:?} in:\n{err}");
    }
    // Assertions (what NixOS's toplevel refuses to build).
    let failed = |config: &str| -> Vec<String> {
        let s = eval_ok(&format!(
            "(let s = {}; in s.failedAssertions)",
            with(config)
        ));
        s.as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    // A GnuPG home works as in sops-nix: in the manifest, GnuPG in the environment.
    let home = eval_ok(&format!(
        "h.summary [ {{ sops.defaultSopsFile = {}; sops.secrets.x = {{ }}; sops.gnupg.home = \"/root/.gnupg\"; sops.age.keyFile = lib.mkForce null; services.openssh.enable = lib.mkForce false; }} ]",
        repo().join("nix/tests/secrets.yaml").display()
    ));
    assert_eq!(home["failedAssertions"], json!([]));
    assert_eq!(home["manifest"]["json"]["gnupgHome"], json!("/root/.gnupg"));
    let script = home["activation"]["setupSecrets"].to_string();
    assert!(
        script.contains("export SOPS_GPG_EXEC='") && script.contains("/bin/gpg'"),
        "{script}"
    );
    // So does the renamed sops-nix option.
    assert_eq!(
        failed("{ sops.gnupgHome = \"/root/.gnupg\"; }"),
        Vec::<String>::new()
    );
    // SSH RSA keys as GnuPG keys go to the installer, with GnuPG, as sops-nix has it.
    let gpg = eval_ok(&format!(
        "h.summary [ {{ sops.defaultSopsFile = {}; sops.secrets.x = {{ }}; sops.gnupg.sshKeyPaths = [ \"/etc/ssh/ssh_host_rsa_key\" ]; sops.age.keyFile = lib.mkForce null; services.openssh.enable = lib.mkForce false; }} ]",
        repo().join("nix/tests/secrets.yaml").display()
    ));
    assert_eq!(gpg["failedAssertions"], json!([]));
    assert_eq!(
        gpg["manifest"]["json"]["sshKeyPaths"],
        json!(["/etc/ssh/ssh_host_rsa_key"])
    );
    let script = gpg["activation"]["setupSecrets"].to_string();
    assert!(
        script.contains("export SOPS_GPG_EXEC='") && script.contains("/bin/gpg'"),
        "{script}"
    );
    // Not together with a GnuPG home (sops-nix's assertion).
    let both = failed(
        "{ sops.gnupg.sshKeyPaths = [ \"/etc/ssh/ssh_host_rsa_key\" ]; sops.gnupg.home = \"/root/.gnupg\"; }",
    );
    assert_eq!(
        both,
        ["Exactly one of sops.gnupg.home and sops.gnupg.sshKeyPaths must be set"]
    );
    // [ ] is fine too.
    assert_eq!(
        failed("{ sops.gnupg.sshKeyPaths = lib.mkForce [ ]; }"),
        Vec::<String>::new()
    );
    let default_rsa = eval_ok(&format!(
        "h.summary [ {{ services.openssh.enable = true; sops.defaultSopsFile = {}; sops.secrets.x = {{ }}; }} ]",
        repo().join("nix/tests/secrets.yaml").display()
    ));
    assert_eq!(default_rsa["failedAssertions"], json!([]));
    assert_eq!(
        default_rsa["gnupgSshKeyPaths"],
        json!(["/etc/ssh/ssh_host_rsa_key"])
    );
    let none = failed(
        "{ services.openssh.enable = lib.mkForce false; sops.age.keyFile = lib.mkForce null; }",
    );
    assert_eq!(
        none,
        ["No key source configured for sops. Either set services.openssh.enable or set sops.age.keyFile or sops.gnupg.home"]
    );
    let owner = failed("{ sops.secrets.claude_key.uid = 1000; }");
    assert!(
        owner
            .iter()
            .any(|m| m.contains("exactly one of sops.owner and sops.uid")),
        "{owner:?}"
    );
    let template = failed(
        "{ sops.templates.t = { content = \"x\"; owner = \"alice\"; uid = 5; group = \"wheel\"; gid = 7; }; }",
    );
    // sops-nix's messages to the letter (its group message labels the values owner/uid too).
    for (field, id, value, number) in [("owner", "uid", "alice", 5), ("group", "gid", "wheel", 7)] {
        let expected = format!(
            "Assertion failed for `sops.templates.t`:\nBoth `{field}` and `{id}` cannot be defined at the same time. Use either `{field}` or leave `{id}` as 0.\nowner: {value}\nuid: {number}\n"
        );
        assert!(template.contains(&expected), "{template:?}");
    }
    let users = failed(
        "{ sops.secrets.alice_password.owner = \"alice\"; sops.secrets.alice_password.uid = 5; }",
    );
    assert!(
        users.iter().any(
            |m| m.contains("neededForUsers cannot be used for secrets that are not root-owned")
        ),
        "{users:?}"
    );
    // validateSopsFiles refuses sops files outside the store, as sops-nix.
    let as_string = format!(
        "{{ sops.secrets.claude_key.sopsFile = lib.mkForce \"{}\"; }}",
        repo().join("nix/tests/secrets.yaml").display()
    );
    let err = eval(&with(&as_string)).unwrap_err();
    assert!(err.contains("' is not in the Nix store. Either add it to the Nix store or set sops.validateSopsFiles to false"), "{err}");
    let err = eval(&with(
        "{ sops.secrets.claude_key.sopsFile = lib.mkForce \"/nonexistent/secrets.yaml\"; }",
    ))
    .unwrap_err();
    assert!(
        err.contains(
            "Cannot find path '/nonexistent/secrets.yaml' set in sops.secrets.claude_key.sopsFile"
        ),
        "{err}"
    );
}

#[test]
fn plugins_that_need_a_card_tpm_or_prompt_make_it_a_unit() {
    // YubiKey: unit after pcscd.socket, pcscd on, PIN through systemd-ask-password.
    let s = eval_ok(&with("{ pkgs, ... }: { sops.age.plugins = [ pkgs.age-plugin-yubikey ]; sops.age.identityOrder = \"software-first\"; }"));
    assert_eq!(s["useSystemdActivation"], true);
    assert_eq!(s["pcscd"], true);
    assert_eq!(s["askPassword"], true);
    let u = &s["units"]["regular"];
    assert!(
        u["after"]
            .as_array()
            .unwrap()
            .contains(&json!("pcscd.socket")),
        "{u}"
    );
    assert!(
        u["wants"]
            .as_array()
            .unwrap()
            .contains(&json!("pcscd.socket")),
        "{u}"
    );
    assert!(
        u["before"]
            .as_array()
            .unwrap()
            .contains(&json!("basic.target")),
        "{u}"
    );
    assert_eq!(u["wantedBy"], json!(["sysinit.target"]));
    assert_eq!(u["unitConfig"]["DefaultDependencies"], "no");
    assert_eq!(u["environment"]["SOPS_RESTART_UNITS_VIA_SYSTEMCTL"], "1");
    assert_eq!(u["environment"]["KEYTAP_IDENTITY_ORDER"], "software-first");
    assert!(u["environment"]["KEYTAP_ASKPASS"]
        .as_str()
        .unwrap()
        .contains("keytap-askpass"));
    assert!(u["path"][0]
        .as_str()
        .unwrap()
        .ends_with("-age-plugin-yubikey"));
    assert!(u["serviceConfig"]["ExecStart"][0]
        .as_str()
        .unwrap()
        .contains("bin/sops-install-secrets /nix/store/"));
    assert_eq!(s["activation"]["setupSecrets"], Value::Null);
    // Users' secrets still come from the activation script, before pcscd: warned about.
    assert!(
        s["warnings"][0]
            .as_str()
            .unwrap()
            .contains("neededForUsers"),
        "{}",
        s["warnings"]
    );

    // TPM: after tpm2.target, no pcscd.
    let s = eval_ok(&with(
        "{ pkgs, ... }: { sops.age.plugins = [ pkgs.age-plugin-tpm ]; }",
    ));
    assert_eq!(s["pcscd"], false);
    assert!(s["units"]["regular"]["after"]
        .as_array()
        .unwrap()
        .contains(&json!("tpm2.target")));

    // A plugin that declares itself (passthru.keytapNeeds), and askPassword turned off.
    let s = eval_ok(&with("{ pkgs, ... }: { sops.age.plugins = [ pkgs.age-plugin-testkit ]; sops.askPassword = false; }"));
    assert_eq!(s["useSystemdActivation"], true);
    assert_eq!(
        s["units"]["regular"]["environment"].get("KEYTAP_ASKPASS"),
        None
    );

    // sops-nix's own switch, without plugins: sops-nix's unit, unchanged.
    let s = eval_ok(&with("{ sops.useSystemdActivation = true; }"));
    let u = &s["units"]["regular"];
    assert_eq!(
        u["after"],
        json!([
            "local-fs.target",
            "systemd-sysusers.service",
            "userborn.service"
        ])
    );
    assert_eq!(u["before"], json!(["sysinit-reactivation.target"]));
    assert_eq!(u["requiredBy"], json!(["sysinit-reactivation.target"]));

    // With systemd-sysusers the users' unit runs before sysusers, as early as the
    // activation script: a card plugin cannot serve it either, and that is said.
    let s = eval_ok(&with(
        "{ pkgs, ... }: { systemd.sysusers.enable = true; sops.age.plugins = [ pkgs.age-plugin-yubikey ]; }",
    ));
    let warning = s["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("by sops-install-secrets-for-users.service, before systemd-sysusers"),
        "{}",
        s["warnings"]
    );

    // systemd-sysusers: both units, users' secrets before systemd-sysusers.service.
    let s = eval_ok(&with("{ systemd.sysusers.enable = true; }"));
    assert_eq!(s["useSystemdActivation"], true);
    let fu = &s["units"]["forUsers"];
    assert_eq!(fu["before"], json!(["systemd-sysusers.service"]));
    assert!(fu["serviceConfig"]["ExecStart"][0]
        .as_str()
        .unwrap()
        .contains("bin/sops-install-secrets -ignore-passwd /nix/store/"));
    assert_eq!(s["activation"]["setupSecretsForUsers"], Value::Null);

    // No plugins: the activation script, with the plugins' PATH as sops-nix sets it.
    let s = eval_ok(&with(
        "{ sops.environment.FOO = \"bar\"; sops.age.generateKey = true; }",
    ));
    let text = s["activation"]["setupSecrets"]["text"].as_str().unwrap();
    assert!(
        text.contains("export FOO='bar'") && text.contains("export PATH=''"),
        "{text}"
    );
    assert!(s["activation"]["setupSecrets"]["deps"]
        .as_array()
        .unwrap()
        .contains(&json!("generate-age-key")));
    assert!(s["activation"]["generateAgeKey"]["text"]
        .as_str()
        .unwrap()
        .contains("-age/bin/age-keygen -o /var/lib/sops-nix/key.txt"));
}

#[test]
fn the_flake_and_package_evaluate() {
    // The flake's outputs with a stand-in nixpkgs: packages, overlay, modules, and the
    // module-eval check (which runs the harness on the typical configuration).
    let expr = format!(
        r#"(let
          flake = import {flake};
          pkgsFor = system: let stub = import {stub} {{ inherit lib system; }}; in stub // {{
            callPackage = fn: args: {{ file = toString fn; inherit args; }};
          }};
          nixpkgs = {{ inherit lib; legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ] pkgsFor; }};
          self = flake.outputs {{ inherit self nixpkgs; }};
          p = self.packages.x86_64-linux;
        in {{
          keytap = p.keytap.file;
          passphrase = p.age-plugin-passphrase.args;
          default = p.default.file;
          yubikey = p.age-plugin-yubikey.args;
          tpm = p.age-plugin-tpm.args;
          darwinPackages = builtins.attrNames self.packages.aarch64-darwin;
          module = toString self.nixosModules.sops;
          defaultModule = toString self.nixosModules.default;
          hmModule = toString self.homeManagerModules.sops;
          hmDefault = toString self.homeManagerModules.default;
          hmAliases = [ (toString self.homeManagerModule) (toString self.homeModules.sops) (toString self.homeModules.default) ];
          overlayPackages = builtins.attrNames (self.overlays.default (pkgsFor "x86_64-linux") {{ }}).keytapPackages;
          overlay = builtins.attrNames (self.overlays.default (pkgsFor "x86_64-linux") {{ }});
          checks = builtins.attrNames self.checks.x86_64-linux;
          moduleEval = builtins.fromJSON self.checks.x86_64-linux.module-eval.text;
        }})"#,
        flake = repo().join("flake.nix").display(),
        stub = repo().join("nix/tests/stub-pkgs.nix").display(),
    );
    let v = eval_ok(&expr);
    assert!(v["keytap"].as_str().unwrap().ends_with("nix/package.nix"));
    assert_eq!(
        v["passphrase"],
        json!({"pname": "age-plugin-passphrase", "keytapNeeds": {"prompt": true}})
    );
    assert_eq!(
        v["yubikey"],
        json!({"pname": "age-plugin-yubikey", "crate": "keytap-age-plugin-yubikey"})
    );
    assert_eq!(
        v["tpm"],
        json!({"pname": "age-plugin-tpm", "crate": "keytap-age-plugin-tpm"})
    );
    // The TPM plugin (tpm2-tss) is Linux-only.
    assert_eq!(
        v["darwinPackages"],
        json!([
            "age-plugin-passphrase",
            "age-plugin-testkit",
            "age-plugin-yubikey",
            "default",
            "keytap"
        ])
    );
    assert!(v["module"].as_str().unwrap().ends_with("nix/module.nix"));
    assert_eq!(v["module"], v["defaultModule"]);
    assert!(v["hmModule"]
        .as_str()
        .unwrap()
        .ends_with("nix/home-manager.nix"));
    assert_eq!(v["hmModule"], v["hmDefault"]);
    // sops-nix's other names for the home-manager module.
    assert_eq!(
        v["hmAliases"],
        json!([v["hmModule"], v["hmModule"], v["hmModule"]])
    );
    // The overlay does not replace nixpkgs' own age-plugin-yubikey / age-plugin-tpm.
    assert_eq!(
        v["overlay"],
        json!(["age-plugin-passphrase", "keytap", "keytapPackages"])
    );
    assert_eq!(
        v["overlayPackages"],
        json!([
            "age-plugin-passphrase",
            "age-plugin-testkit",
            "age-plugin-tpm",
            "age-plugin-yubikey",
            "keytap"
        ])
    );
    for c in ["keytap", "age-plugin-passphrase", "module-eval", "nixos-vm"] {
        assert!(
            v["checks"].as_array().unwrap().contains(&json!(c)),
            "{c} missing: {}",
            v["checks"]
        );
    }
    assert_eq!(
        v["moduleEval"]["secrets"]["claude_key"]["path"],
        "/run/secrets/claude_key"
    );

    // The package: version from the workspace, the sops-install-secrets wrapper.
    let expr = format!(
        r#"(let
          drv = import {pkg} {{
            inherit lib;
            rustPlatform.buildRustPackage = args: args;
          }};
          plugin = name: import {pkg} {{
            inherit lib;
            rustPlatform.buildRustPackage = args: args;
            pkg-config = "pkg-config"; pcsclite = "pcsclite"; tpm2-tss = "tpm2-tss";
            pname = "age-plugin-${{name}}"; crate = "keytap-age-plugin-${{name}}";
          }};
          inputs = d: {{ inherit (d) cargoBuildFlags nativeBuildInputs buildInputs; }};
        in {{
          inherit (drv) pname version cargoBuildFlags postInstall; mainProgram = drv.meta.mainProgram;
          yubikey = inputs (plugin "yubikey");
          tpm = inputs (plugin "tpm");
        }})"#,
        pkg = repo().join("nix/package.nix").display(),
    );
    let v = eval_ok(&expr);
    assert_eq!(v["pname"], "keytap");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["cargoBuildFlags"], json!(["--package", "keytap"]));
    assert_eq!(
        v["yubikey"],
        json!({"cargoBuildFlags": ["--package", "keytap-age-plugin-yubikey"],
               "nativeBuildInputs": ["pkg-config"], "buildInputs": ["pcsclite"]})
    );
    assert_eq!(
        v["tpm"],
        json!({"cargoBuildFlags": ["--package", "keytap-age-plugin-tpm"],
               "nativeBuildInputs": ["pkg-config"], "buildInputs": ["tpm2-tss"]})
    );
    // Run the postInstall into a fake $out holding keytap, and call the installer by
    // sops-nix's name with its flags: the Go installer's usage, named as it was called.
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(out.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(keytap_e2e::keytap_bin(), out.path().join("bin/keytap")).unwrap();
    let st = Command::new("bash")
        .arg("-euc")
        .arg(v["postInstall"].as_str().unwrap())
        .env("out", out.path())
        .status()
        .unwrap();
    assert!(st.success());
    let installer = out.path().join("bin/sops-install-secrets");
    assert_eq!(
        std::fs::read_link(&installer).unwrap(),
        Path::new("keytap"),
        "a link within the package"
    );
    let r = Command::new(&installer)
        .args(["-check-mode=sopsfile", "-ignore-passwd", "-h"])
        .output()
        .unwrap();
    let usage = String::from_utf8(r.stderr).unwrap();
    assert!(
        usage.starts_with(&format!(
            "Usage: {} [OPTION] manifest.json\n",
            installer.display()
        )),
        "{usage}"
    );
    assert!(usage.contains("  -check-mode string"), "{usage}");
}
