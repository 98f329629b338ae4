//! Shared by the `install-secrets` tests: a site (temporary directory standing in for
//! `/run`) whose ramfs is unmounted when the test ends, pass or fail; sops files written by
//! the real sops; manifests shaped exactly like the NixOS module writes them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use keytap_e2e::{keytap_bin, Run, Workspace};
use serde_json::{json, Value};

/// The filesystem magic numbers `stat -f -c %t` prints.
pub const RAMFS: &str = "858458f6";
pub const TMPFS: &str = "1021994";

pub struct Site {
    pub ws: Workspace,
}

impl Site {
    pub fn new() -> Site {
        assert_eq!(
            unsafe_geteuid(),
            0,
            "the install-secrets tests run as root (they mount ramfs and chown files)"
        );
        let ws = Workspace::new();
        std::fs::create_dir_all(ws.path("run")).unwrap();
        Site { ws }
    }

    /// `secretsMountPoint`.
    pub fn mount(&self) -> PathBuf {
        self.ws.path("run/secrets.d")
    }

    /// `symlinkPath`.
    pub fn link(&self) -> PathBuf {
        self.ws.path("run/secrets")
    }

    pub fn s(&self, p: &Path) -> String {
        p.to_str().unwrap().to_string()
    }

    /// Encrypts `plain` (named `name`, format from its extension unless `args` say) with
    /// the real sops to the workspace's age key; returns the encrypted file's path.
    pub fn sops_file(&self, name: &str, plain: &[u8], args: &[&str]) -> PathBuf {
        let src = self.ws.write(&format!("plain/{name}"), plain);
        let mut all = vec!["encrypt", "--age", self.ws.recipient.as_str()];
        all.extend_from_slice(args);
        let src_s = self.s(&src);
        all.push(&src_s);
        let out = self.ws.sops(&all).ok();
        self.ws.write(&format!("enc/{name}"), out)
    }

    /// One manifest secret with the module's defaults.
    pub fn secret(&self, name: &str, key: &str, file: &Path, format: &str) -> Value {
        json!({
            "name": name, "key": key, "path": self.s(&self.link().join(name)),
            "owner": null, "uid": 0, "group": null, "gid": 0,
            "sopsFile": self.s(file), "sopsFileHash": "", "format": format, "mode": "0400",
            "restartUnits": [], "reloadUnits": [], "neededForUsers": false,
        })
    }

    /// One manifest template with the module's defaults.
    pub fn template(&self, name: &str, content: &str) -> Value {
        json!({
            "name": name, "content": content, "file": "",
            "path": self.s(&self.link().join("rendered").join(name)),
            "mode": "0400", "owner": null, "uid": 0, "group": null, "gid": 0,
            "restartUnits": [], "reloadUnits": [],
        })
    }

    /// The manifest fields around the secrets, as the module writes them.
    pub fn manifest_value(&self, secrets: Vec<Value>, templates: Vec<Value>) -> Value {
        let placeholders: serde_json::Map<String, Value> = secrets
            .iter()
            .map(|s| {
                let n = s["name"].as_str().unwrap().to_string();
                (n.clone(), Value::String(placeholder(&n)))
            })
            .collect();
        json!({
            "secrets": secrets, "templates": templates,
            "secretsMountPoint": self.s(&self.mount()), "symlinkPath": self.s(&self.link()),
            "keepGenerations": 1, "gnupgHome": null, "sshKeyPaths": [],
            "ageKeyFile": self.s(&self.ws.keys), "ageSshKeyPaths": [], "useTmpfs": false,
            "placeholderBySecretName": placeholders, "userMode": false,
            "logging": {"keyImport": true, "secretChanges": true},
        })
    }

    pub fn write_manifest(&self, name: &str, m: &Value) -> PathBuf {
        self.ws.write(name, serde_json::to_vec_pretty(m).unwrap())
    }

    /// Runs `keytap install-secrets ARGS...` with extra environment.
    pub fn install(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.ws.run(keytap_bin().to_str().unwrap(), |c| {
            c.arg("install-secrets").args(args);
            c.env("KEYTAP_INSTALL_NIXOS_RUN_DIR", self.ws.path("run/nixos"));
            for (k, v) in env {
                c.env(k, v);
            }
        })
    }

    /// Installs and asserts success.
    #[track_caller]
    pub fn install_ok(&self, manifest: &Path) -> Run {
        let r = self.install(&[&self.s(manifest)], &[]);
        assert_eq!(r.code, 0, "install failed: {}", r.stderr);
        r
    }

    /// Numbered generations present, sorted.
    pub fn generations(&self) -> Vec<u64> {
        let mut g: Vec<u64> = std::fs::read_dir(self.mount())
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        g.sort();
        g
    }

    /// The generation the symlink points at.
    pub fn live(&self) -> Option<u64> {
        let t = std::fs::read_link(self.link()).ok()?;
        t.file_name()?.to_str()?.parse().ok()
    }

    pub fn read_secret(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.link().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        for _ in 0..4 {
            if !is_mounted(&self.mount()) {
                break;
            }
            let _ = Command::new("umount").arg(self.mount()).status();
        }
    }
}

/// What a Python `script` prints for `arg` (trimmed): computations done independently of
/// keytap's own code.
pub fn python(script: &str, arg: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", script, arg])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// sops-nix's placeholder for a secret name.
pub fn placeholder(name: &str) -> String {
    use sha2_hex::sha256_hex;
    format!("<SOPS:{}:PLACEHOLDER>", sha256_hex(name.as_bytes()))
}

mod sha2_hex {
    /// SHA-256 through `sha256sum`, to keep this crate's dependencies as they are.
    pub fn sha256_hex(data: &[u8]) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sha256sum");
        child.stdin.take().unwrap().write_all(data).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }
}

/// Whether `path` is a mount point (listed in /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    mount_count(path) > 0
}

/// How many mounts are stacked on `path`.
pub fn mount_count(path: &Path) -> usize {
    let Ok(canon) = std::fs::canonicalize(path) else {
        return 0;
    };
    let want = canon.to_str().unwrap().replace(' ', "\\040");
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(want.as_str()))
        .count()
}

/// `stat -f -c %t`: the filesystem magic of `path`, in hex.
pub fn fs_magic(path: &Path) -> String {
    let out = Command::new("stat")
        .args(["-f", "-c", "%t"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// (mode & 0o7777, uid, gid) of `path` (following symlinks).
pub fn attrs(path: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

/// Numeric id of a user or group through `id`/`getent`.
pub fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

pub fn gid_of(group: &str) -> u32 {
    let out = Command::new("getent")
        .args(["group", group])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split(':')
        .nth(2)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn unsafe_geteuid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Sends SIGKILL to a process.
pub fn kill9(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}
