//! Helpers shared by the plugins' integration tests (included as a module by each plugin's
//! `tests/common/mod.rs`, which supplies `plugin_bin`): running processes with a deadline
//! (the whole process group is killed on overrun, so a stuck plugin cannot outlive the
//! test), driving the real `age` through a pseudo-terminal, and small age-crate clients.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;

use super::plugin_bin;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use age::secrecy::SecretString;
use age_core::format::{FileKey, Stanza};

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// `PATH` with the directory of the freshly built plugin first.
pub fn path_with_plugin() -> OsString {
    let dir = plugin_bin().parent().unwrap().to_owned();
    let mut paths = vec![dir];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(paths).unwrap()
}

/// The age crate finds plugins on this process's `PATH`: put ours first, once.
pub fn use_plugin_path() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::env::set_var("PATH", path_with_plugin()));
}

#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub timed_out: bool,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
}

/// Runs `cmd` in its own process group with `stdin` as input; kills the whole group if it
/// is still running after `timeout`.
pub fn run(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pgid = child.id();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
        // Keep the pipe open a moment so a pty-driving `script` does not see EOF first.
        std::thread::sleep(Duration::from_millis(200));
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            timed_out = true;
            kill_group(pgid);
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever the group left behind (a plugin still holding our pipes) goes too.
    kill_group(pgid);
    let _ = writer.join();
    Output {
        code: status.code(),
        stdout: out_t.join().unwrap(),
        stderr: String::from_utf8_lossy(&err_t.join().unwrap()).into_owned(),
        timed_out,
    }
}

fn kill_group(pgid: u32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
    }
}

/// The real `age` (Debian 1.1.1 in CI), finding our plugin first on `PATH`.
pub fn age() -> Command {
    let mut c = Command::new("age");
    c.env("PATH", path_with_plugin())
        .env_remove("AGEDEBUG")
        .env_remove("TESTKIT_MODE")
        .env_remove("TESTKIT_LOG")
        .env_remove("TESTKIT_PIN");
    c
}

/// The real `sops` (3.11) working in `dir`, with `dir` as its home, finding our plugin first
/// on `PATH`, and none of the caller's age settings nor the variables in `unset`.
pub fn sops_in(dir: &Path, unset: &[&str]) -> Command {
    let mut c = Command::new("sops");
    c.current_dir(dir)
        .env("PATH", path_with_plugin())
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_CMD")
        .env_remove("SOPS_AGE_RECIPIENTS");
    for name in unset {
        c.env_remove(name);
    }
    c
}

/// sops wraps its error report in `| ` boxes: compare on words.
pub fn words(s: &str) -> String {
    s.split_whitespace()
        .filter(|w| *w != "|" && *w != "-")
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn plugin() -> Command {
    let mut c = Command::new(plugin_bin());
    c.env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("TESTKIT_MODE")
        .env_remove("TESTKIT_LOG")
        .env_remove("TESTKIT_PIN");
    c
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `program` with `args` on a pseudo-terminal (util-linux `script`), typing `typed`
/// into it: age 1.1.1 reads plugin prompts from /dev/tty only.
pub fn on_tty(
    program: &str,
    args: &[&str],
    typed: &str,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Output {
    let line = std::iter::once(sh_quote(program))
        .chain(args.iter().map(|a| sh_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("PATH", path_with_plugin())
        .env_remove("AGEDEBUG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd, typed.as_bytes(), timeout)
}

pub fn write_private(path: &Path, content: &[u8]) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(content).unwrap();
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Callbacks for the age crate's plugin client that answer passphrase requests with a
/// fixed answer (or refuse) and record what was asked and shown.
#[derive(Clone, Default)]
pub struct Prompts {
    pub answer: Option<String>,
    pub asked: Arc<Mutex<Vec<String>>>,
    pub shown: Arc<Mutex<Vec<String>>>,
}

impl Prompts {
    pub fn answering(answer: &str) -> Self {
        Prompts {
            answer: Some(answer.to_owned()),
            ..Default::default()
        }
    }
    pub fn count(&self) -> usize {
        self.asked.lock().unwrap().len()
    }
}

impl age::Callbacks for Prompts {
    fn display_message(&self, message: &str) {
        self.shown.lock().unwrap().push(message.to_owned());
    }
    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }
    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }
    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        self.asked.lock().unwrap().push(description.to_owned());
        self.answer.clone().map(SecretString::from)
    }
}

/// Encrypts to a plugin recipient through the age crate's plugin client (recipient-v1).
pub fn encrypt_with_crate(recipient: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
    use_plugin_path();
    let r = recipient
        .parse::<age::plugin::Recipient>()
        .map_err(|e| e.to_string())?;
    let plugin = age::plugin::RecipientPluginV1::new(
        r.plugin(),
        std::slice::from_ref(&r),
        &[],
        Prompts::default(),
    )
    .map_err(|e| e.to_string())?;
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&plugin as &dyn age::Recipient))
            .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).map_err(|e| e.to_string())?;
    std::io::Write::write_all(&mut w, plaintext).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decrypts `file` with the plugin identity through the age crate's plugin client (one
/// identity-v1 session). Runs on a thread with a deadline (the crate has no timeout).
pub fn decrypt_with_crate(
    identity: &str,
    callbacks: Prompts,
    file: &[u8],
) -> Result<Vec<u8>, String> {
    let (identity, file) = (identity.to_owned(), file.to_vec());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(decrypt_with_crate_inner(&identity, callbacks, &file));
    });
    rx.recv_timeout(TIMEOUT)
        .map_err(|_| format!("age crate client did not finish within {TIMEOUT:?}"))?
}

fn decrypt_with_crate_inner(
    identity: &str,
    callbacks: Prompts,
    file: &[u8],
) -> Result<Vec<u8>, String> {
    use_plugin_path();
    let id = identity
        .parse::<age::plugin::Identity>()
        .map_err(|e| e.to_string())?;
    let plugin =
        age::plugin::IdentityPluginV1::new(id.plugin(), std::slice::from_ref(&id), callbacks)
            .map_err(|e| e.to_string())?;
    let decryptor = age::Decryptor::new(file).map_err(|e| e.to_string())?;
    let mut reader = decryptor
        .decrypt(std::iter::once(&plugin as &dyn age::Identity))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// An age "identity" that records the header stanzas it is offered and opens nothing:
/// the way to read an age file's recipient stanzas with the public age API.
struct Capture(RefCell<Vec<Stanza>>);

impl age::Identity for Capture {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        self.0.borrow_mut().push(Stanza {
            tag: stanza.tag.clone(),
            args: stanza.args.clone(),
            body: stanza.body.clone(),
        });
        None
    }
}

pub fn stanzas_of(file: &[u8]) -> Vec<Stanza> {
    let capture = Capture(RefCell::new(Vec::new()));
    let decryptor = age::Decryptor::new(file).unwrap();
    assert!(decryptor
        .decrypt(std::iter::once(&capture as &dyn age::Identity))
        .is_err());
    capture.0.into_inner()
}

/// An identity that knows the file key: proves a file key returned by a plugin opens the
/// file (header MAC and payload).
struct KnownKey([u8; 16]);

impl age::Identity for KnownKey {
    fn unwrap_stanza(&self, _: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        Some(Ok(FileKey::new(Box::new(self.0))))
    }
}

pub fn decrypt_with_file_key(file: &[u8], key: &[u8]) -> Result<Vec<u8>, String> {
    let key: [u8; 16] = key
        .try_into()
        .map_err(|_| format!("file key of {} bytes", key.len()))?;
    let decryptor = age::Decryptor::new(file).map_err(|e| e.to_string())?;
    let mut reader = decryptor
        .decrypt(std::iter::once(&KnownKey(key) as &dyn age::Identity))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// What one identity-v1 session returned.
#[derive(Debug, Default)]
pub struct Session {
    pub file_keys: std::collections::BTreeMap<usize, Vec<u8>>,
    pub prompts: Vec<String>,
    pub messages: Vec<String>,
    /// (arguments of the error command, message)
    pub errors: Vec<(Vec<String>, String)>,
}

/// A minimal identity-v1 client over age-core's connection: ONE session for all `files`
/// (each a list of stanzas; files are numbered in order), as keytap does for many files.
/// The session runs on a thread with a deadline.
pub fn identity_session(
    plugin: &Path,
    identities: &[String],
    files: Vec<Vec<Stanza>>,
    secret: Option<String>,
) -> Result<Session, String> {
    // The plugin inherits this process's environment: keep the test kit's TESTKIT_* out of
    // it (its tests pick modes with identities made by `--generate --mode`).
    assert!(
        std::env::var_os("TESTKIT_MODE").is_none(),
        "TESTKIT_MODE set in the test environment"
    );
    let plugin = plugin.to_owned();
    let identities = identities.to_vec();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = (|| -> std::io::Result<Session> {
            let mut conn = age_core::plugin::Connection::open(&plugin, "identity-v1")?;
            conn.unidir_send(|mut phase| {
                for id in &identities {
                    phase.send("add-identity", &[id.as_str()], &[])?;
                }
                for (index, stanzas) in files.iter().enumerate() {
                    for s in stanzas {
                        phase.send_stanza("recipient-stanza", &[&index.to_string()], s)?;
                    }
                }
                Ok(())
            })?;
            let mut session = Session::default();
            conn.bidir_receive(
                &[
                    "msg",
                    "confirm",
                    "request-public",
                    "request-secret",
                    "file-key",
                    "error",
                ],
                |command, reply| {
                    let body = String::from_utf8_lossy(&command.body).into_owned();
                    match command.tag.as_str() {
                        "msg" => {
                            session.messages.push(body);
                            reply.ok(None)
                        }
                        "request-secret" => {
                            session.prompts.push(body);
                            match &secret {
                                Some(s) => reply.ok(Some(s.as_bytes())),
                                None => reply.fail(),
                            }
                        }
                        "file-key" => {
                            let index: usize = command.args[0].parse().unwrap();
                            assert!(
                                session
                                    .file_keys
                                    .insert(index, command.body.clone())
                                    .is_none(),
                                "file-key {index} sent twice"
                            );
                            reply.ok(None)
                        }
                        "error" => {
                            session.errors.push((command.args.clone(), body));
                            reply.ok(None)
                        }
                        _ => reply.fail(),
                    }
                },
            )?;
            Ok(session)
        })();
        let _ = tx.send(result.map_err(|e| e.to_string()));
    });
    rx.recv_timeout(TIMEOUT)
        .map_err(|_| format!("plugin session did not finish within {TIMEOUT:?}"))?
}
