//! The client end of one age plugin protocol session: spawn `age-plugin-<name>`, send and
//! receive stanzas, and kill the plugin when it makes no progress for too long.
//!
//! The `age` crate's own connection type keeps no handle on the child process, so it
//! cannot enforce a timeout; this one does. Stanzas are read by [`super::wire`] within
//! bounds; writing one is a few lines of the wire format (spec: C2SP age-plugin.md).

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use age_core::format::Stanza;
use base64::Engine;
use zeroize::Zeroizing;

use super::wire::{StanzaReader, WireError};
use super::PluginError;

/// Default seconds a plugin may go without progress (`KEYTAP_PLUGIN_TIMEOUT` overrides).
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The timeout from `KEYTAP_PLUGIN_TIMEOUT` (seconds, fractions allowed), else the default.
/// Anything but a positive number is refused rather than silently replaced.
pub fn timeout_from_env() -> Result<Duration, PluginError> {
    let Some(raw) = std::env::var_os("KEYTAP_PLUGIN_TIMEOUT").filter(|v| !v.is_empty()) else {
        return Ok(Duration::from_secs(DEFAULT_TIMEOUT_SECS));
    };
    raw.to_str()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| PluginError::BadTimeout {
            value: raw.to_string_lossy().into_owned(),
        })
}

/// Finds `age-plugin-<name>`: in `KEYTAP_PLUGIN_PATH` when set, else on `PATH`.
pub fn find_plugin(name: &str) -> Result<PathBuf, PluginError> {
    let binary = format!("age-plugin-{name}");
    let (var, dirs) = match std::env::var_os("KEYTAP_PLUGIN_PATH").filter(|v| !v.is_empty()) {
        Some(p) => ("KEYTAP_PLUGIN_PATH", p),
        None => ("PATH", std::env::var_os("PATH").unwrap_or_default()),
    };
    for dir in std::env::split_paths(&dirs) {
        let candidate = dir.join(&binary);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(PluginError::NotFound {
        binary,
        search_var: var,
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The stanza that always moves a session forward. The sessions say what else does: a
/// file's first key or error, a recipient stanza, an answer the user gave (after which
/// the timeout starts again). Nothing a plugin can repeat forever does: not `msg`, not
/// unknown ("grease") stanzas, not a question answered `fail` at once for want of a
/// terminal, not a second key or error for the same file.
const PROGRESS: [&str; 1] = ["done"];

/// Stanzas queued for a plugin that is slow to read them.
const OUTGOING_QUEUE: usize = 64;

/// Stanzas read from a plugin ahead of the session.
const INCOMING_QUEUE: usize = 64;

/// The writer thread: copies queued stanzas to the plugin's stdin until the queue closes
/// (the session ended; dropping stdin then tells the plugin) or the plugin is gone.
fn write_all_queued(mut stdin: ChildStdin, queue: Receiver<Zeroizing<Vec<u8>>>) {
    for message in queue {
        if stdin
            .write_all(&message)
            .and_then(|()| stdin.flush())
            .is_err()
        {
            return;
        }
    }
}

/// What the reader thread hands over: a stanza, the end of output, or why the output is
/// not the protocol.
enum Incoming {
    Stanza(Stanza),
    Eof,
    Garbage(String),
}

/// One running plugin and its protocol stream.
pub struct Connection {
    /// `age-plugin-<name>`, for messages.
    pub binary: String,
    child: Child,
    /// To the writer thread, which owns the plugin's stdin: a plugin that stops reading
    /// blocks that thread, never the session (whose deadline still runs).
    outgoing: Option<SyncSender<Zeroizing<Vec<u8>>>>,
    incoming: Receiver<Incoming>,
    timeout: Duration,
    /// When the plugin is stopped unless it makes progress: any stanza but `msg`, or the
    /// user answering one of its questions, moves it.
    deadline: Instant,
    _workdir: tempfile::TempDir,
}

impl Connection {
    /// Starts `path --age-plugin=<state_machine>` in a private empty working directory.
    pub fn open(
        path: &Path,
        state_machine: &str,
        timeout: Duration,
    ) -> Result<Connection, PluginError> {
        let binary = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let workdir = tempfile::tempdir().map_err(|e| PluginError::Io {
            binary: binary.clone(),
            message: e.to_string(),
        })?;
        let debug = std::env::var("AGEDEBUG")
            .map(|v| v == "plugin")
            .unwrap_or(false);
        let mut command = Command::new(path);
        // A plugin gets none of the secrets keytap itself reads from the environment but
        // its own: the inline age identities, and the TPM PIN but for the TPM plugin.
        for secret in [
            "SOPS_AGE_KEY",
            "SOPS_AGE_KEY_CMD",
            "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
        ] {
            command.env_remove(secret);
        }
        if binary != "age-plugin-tpm" {
            command.env_remove("AGE_TPM_PIN");
        }
        let mut child = command
            .arg(format!("--age-plugin={state_machine}"))
            .current_dir(workdir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if debug {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .map_err(|e| PluginError::Io {
                binary: binary.clone(),
                message: format!("could not start: {e}"),
            })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take().expect("piped stdin");
        let (out_tx, out_rx) = mpsc::sync_channel::<Zeroizing<Vec<u8>>>(OUTGOING_QUEUE);
        std::thread::spawn(move || write_all_queued(stdin, out_rx));
        // Bounded: a plugin that floods stanzas faster than the session reads them blocks
        // on its own stdout instead of filling our memory (every protocol message waits
        // for our answer, so a well-behaved plugin never has more than one in flight).
        let (tx, rx) = mpsc::sync_channel(INCOMING_QUEUE);
        std::thread::spawn(move || {
            let mut reader = StanzaReader::new(BufReader::new(stdout));
            loop {
                let next = match reader.read_stanza() {
                    Ok(s) => Incoming::Stanza(s),
                    Err(WireError::End) => Incoming::Eof,
                    Err(WireError::Malformed(m) | WireError::TooLarge(m)) => Incoming::Garbage(m),
                };
                let last = !matches!(next, Incoming::Stanza(_));
                if tx.send(next).is_err() || last {
                    return;
                }
            }
        });
        Ok(Connection {
            binary,
            child,
            outgoing: Some(out_tx),
            incoming: rx,
            timeout,
            deadline: Instant::now() + timeout,
            _workdir: workdir,
        })
    }

    /// Restarts the timeout: the user answered a question, which is progress however long
    /// it took.
    pub fn progress(&mut self) {
        self.deadline = Instant::now() + self.timeout;
    }

    /// Sends one stanza: `-> command args...`, then the body in wrapped base64.
    pub fn send(&mut self, command: &str, args: &[&str], body: &[u8]) -> Result<(), PluginError> {
        // Hand-written wire format (age-plugin.md): base64 without padding, 64 columns,
        // always ending with a line shorter than 64 characters (possibly empty).
        let mut out = Zeroizing::new(String::new());
        out.push_str("-> ");
        out.push_str(command);
        for a in args {
            out.push(' ');
            out.push_str(a);
        }
        out.push('\n');
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD_NO_PAD.encode(body));
        let mut rest = encoded.as_str();
        while rest.len() >= 64 {
            out.push_str(&rest[..64]);
            out.push('\n');
            rest = &rest[64..];
        }
        out.push_str(rest);
        out.push('\n');
        let mut message = Zeroizing::new(std::mem::take(&mut *out).into_bytes());
        loop {
            let Some(tx) = &self.outgoing else {
                return Err(self.crashed());
            };
            match tx.try_send(message) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(_)) => return Err(self.crashed()),
                Err(TrySendError::Full(m)) => {
                    // The plugin is not reading its input; wait only until the deadline.
                    if Instant::now() >= self.deadline {
                        self.kill();
                        return Err(PluginError::Timeout {
                            binary: self.binary.clone(),
                            seconds: self.timeout.as_secs_f64(),
                        });
                    }
                    message = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    fn crashed(&self) -> PluginError {
        PluginError::Crashed {
            binary: self.binary.clone(),
        }
    }

    /// Receives the next stanza, killing the plugin when it makes no progress within the
    /// timeout (see [`PROGRESS`]: a flood of stanzas cannot keep it alive).
    pub fn receive(&mut self) -> Result<Stanza, PluginError> {
        // Checked first: a plugin that keeps stanzas queued must not outrun its deadline.
        let wait = self.deadline.saturating_duration_since(Instant::now());

        let next = if wait.is_zero() {
            Err(RecvTimeoutError::Timeout)
        } else {
            self.incoming.recv_timeout(wait)
        };
        match next {
            Ok(Incoming::Stanza(s)) => {
                if PROGRESS.contains(&s.tag.as_str()) {
                    self.progress();
                }
                Ok(s)
            }
            Ok(Incoming::Garbage(message)) => {
                self.kill();
                Err(PluginError::Protocol {
                    binary: self.binary.clone(),
                    message,
                })
            }
            Ok(Incoming::Eof) | Err(RecvTimeoutError::Disconnected) => {
                // The plugin closed its output; give it a moment to exit, never wait forever.
                let code = self
                    .exited_within(Duration::from_millis(500))
                    .and_then(|status| status.code());
                self.kill();
                Err(PluginError::Exited {
                    binary: self.binary.clone(),
                    code,
                })
            }
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                Err(PluginError::Timeout {
                    binary: self.binary.clone(),
                    seconds: self.timeout.as_secs_f64(),
                })
            }
        }
    }

    /// Waits at most `grace` for the plugin to exit, looking often: a well-behaved plugin
    /// exits within a millisecond of its input closing, and every session pays this wait.
    fn exited_within(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + grace;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_micros(250));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl super::session::Session for Connection {
    fn binary(&self) -> &str {
        &self.binary
    }

    fn send(&mut self, command: &str, args: &[&str], body: &[u8]) -> Result<(), PluginError> {
        Connection::send(self, command, args, body)
    }

    fn receive(&mut self) -> Result<Stanza, PluginError> {
        Connection::receive(self)
    }

    fn progress(&mut self) {
        Connection::progress(self)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing stdin lets a well-behaved plugin exit; anything still running is killed.
        self.outgoing.take();
        if self.exited_within(Duration::from_millis(20)).is_none() {
            self.kill();
        }
    }
}
