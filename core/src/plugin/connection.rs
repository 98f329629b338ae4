//! The client end of one age plugin protocol session: spawn `age-plugin-<name>`, send and
//! receive stanzas, and kill the plugin if it stays silent too long.
//!
//! The `age` crate's own connection type keeps no handle on the child process, so it
//! cannot enforce a timeout; this one does. Stanzas are parsed with `age-core`'s parser;
//! writing one is a few lines of the wire format (spec: C2SP age-plugin.md).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use age_core::format::Stanza;
use base64::Engine;
use zeroize::Zeroizing;

use super::PluginError;

/// Default seconds a plugin may stay silent (`KEYTAP_PLUGIN_TIMEOUT` overrides).
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The timeout from `KEYTAP_PLUGIN_TIMEOUT`, else the default.
pub fn timeout_from_env() -> Duration {
    let secs = std::env::var("KEYTAP_PLUGIN_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    Duration::from_secs(secs)
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

/// What the reader thread hands over: a stanza, the end of output, or unparseable bytes.
enum Incoming {
    Stanza(Stanza),
    Eof,
    Garbage,
}

/// One running plugin and its protocol stream.
pub struct Connection {
    /// `age-plugin-<name>`, for messages.
    pub binary: String,
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Incoming>,
    timeout: Duration,
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
        let mut child = Command::new(path)
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
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buffer = Zeroizing::new(Vec::<u8>::new());
            loop {
                // Every stanza starts with "-> ": anything else is not the protocol.
                let prefix = buffer.len().min(3);
                if buffer[..prefix] != b"-> "[..prefix] {
                    let _ = tx.send(Incoming::Garbage);
                    return;
                }
                match age_core::format::read::age_stanza(&buffer) {
                    Ok((rest, stanza)) => {
                        let stanza: Stanza = stanza.into();
                        let rest = rest.to_vec();
                        if tx.send(Incoming::Stanza(stanza)).is_err() {
                            return;
                        }
                        *buffer = rest;
                        continue;
                    }
                    Err(e) if e.is_incomplete() => {}
                    Err(_) => {
                        let _ = tx.send(Incoming::Garbage);
                        return;
                    }
                }
                match reader.read_until(b'\n', &mut buffer) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(if buffer.is_empty() {
                            Incoming::Eof
                        } else {
                            Incoming::Garbage
                        });
                        return;
                    }
                    Ok(_) => {}
                }
            }
        });
        Ok(Connection {
            binary,
            child,
            stdin,
            incoming: rx,
            timeout,
            _workdir: workdir,
        })
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
        let binary = self.binary.clone();
        let stdin = self.stdin.as_mut().ok_or_else(|| PluginError::Crashed {
            binary: binary.clone(),
        })?;
        stdin
            .write_all(out.as_bytes())
            .and_then(|_| stdin.flush())
            .map_err(|_| PluginError::Crashed { binary })
    }

    /// Receives the next stanza, killing the plugin when it is silent for the timeout.
    pub fn receive(&mut self) -> Result<Stanza, PluginError> {
        match self.incoming.recv_timeout(self.timeout) {
            Ok(Incoming::Stanza(s)) => Ok(s),
            Ok(Incoming::Garbage) => {
                self.kill();
                Err(PluginError::Protocol {
                    binary: self.binary.clone(),
                    message: "sent data that is not the age plugin protocol".into(),
                })
            }
            Ok(Incoming::Eof) | Err(RecvTimeoutError::Disconnected) => {
                // The plugin closed its output; give it a moment to exit, never wait forever.
                let mut code = None;
                for _ in 0..50 {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        code = status.code();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
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
                    seconds: self.timeout.as_secs(),
                })
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing stdin lets a well-behaved plugin exit; anything still running is killed.
        self.stdin.take();
        match self.child.try_wait() {
            Ok(Some(_)) => {}
            _ => {
                std::thread::sleep(Duration::from_millis(20));
                if !matches!(self.child.try_wait(), Ok(Some(_))) {
                    self.kill();
                }
            }
        }
    }
}
