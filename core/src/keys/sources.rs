//! Where identities come from, in sops's order: `SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
//! `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, the user's SSH keys, `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, then
//! `keys.txt`; identity-file text (native, post-quantum and plugin identities) and
//! passphrase-protected identity files.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::ArmoredReader;
use zeroize::Zeroizing;

use super::age::AgeError;
use super::identities::{AgeIdentities, LoadedIdentity, PluginIdentity};
use super::prompt::Prompter;
use crate::goerr::io_reason;

fn user_config_dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => home_dir().map(|h| h.join(".config")),
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Default `keys.txt` location: `$XDG_CONFIG_HOME/sops/age/keys.txt` (`~/.config/...`).
pub fn default_keys_file() -> Option<PathBuf> {
    user_config_dir().map(|d| d.join("sops").join("age").join("keys.txt"))
}

/// Whether identity-file text is itself an age file (passphrase-protected identities).
pub fn is_encrypted_identity_file(data: &[u8]) -> bool {
    data.starts_with(b"age-encryption.org/")
        || data.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
}

impl AgeIdentities {
    /// Loads identities from every place sops looks, in sops's order:
    /// `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`, `SOPS_AGE_KEY`,
    /// `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD` (run with `SOPS_AGE_RECIPIENT` set to
    /// `recipient_for_cmd`), then the user's `keys.txt`.
    pub fn load(recipient_for_cmd: Option<&str>) -> AgeIdentities {
        Self::load_with(recipient_for_cmd, Prompter::default())
    }

    /// [`AgeIdentities::load`], asking the user through `prompter`.
    pub fn load_with(recipient_for_cmd: Option<&str>, prompter: Prompter) -> AgeIdentities {
        let mut ids = AgeIdentities {
            plugins_first: !matches!(
                std::env::var("KEYTAP_IDENTITY_ORDER").as_deref(),
                Ok("software-first") | Ok("native-first")
            ),
            prompter,
            ..AgeIdentities::default()
        };
        match std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            Some(path) => ids.add_ssh_identity(Path::new(&path), true),
            None => ids
                .unused_locations
                .push("SOPS_AGE_SSH_PRIVATE_KEY_FILE".into()),
        }
        // sops 3.12's SSH key from a command (a password manager, say). When unset it is
        // not listed among the unused locations: sops 3.11, whose failure report keytap's
        // matches, does not know it.
        const SSH_KEY_CMD: &str = "SOPS_AGE_SSH_PRIVATE_KEY_CMD";
        if let Ok(cmd) = std::env::var(SSH_KEY_CMD) {
            if let Some(out) = ids.run_identity_cmd(SSH_KEY_CMD, &cmd, recipient_for_cmd) {
                ids.add_ssh_identity_from_cmd(&out);
            }
        }
        if let Some(home) = home_dir() {
            for name in ["id_ed25519", "id_rsa"] {
                let path = home.join(".ssh").join(name);
                if path.exists() {
                    ids.add_ssh_identity(&path, false);
                } else {
                    ids.unused_locations.push(path.display().to_string());
                }
            }
        }
        // Readers are parsed after all sources are known, like sops; empty ones are listed
        // as unused after the others.
        let mut readers: Vec<(String, Zeroizing<Vec<u8>>)> = Vec::new();
        match std::env::var("SOPS_AGE_KEY") {
            Ok(keys) => {
                let one_per_line = one_key_per_line(&Zeroizing::new(keys));
                readers.push(("SOPS_AGE_KEY".into(), one_per_line));
            }
            Err(_) => ids.unused_locations.push("SOPS_AGE_KEY".into()),
        }
        match std::env::var_os("SOPS_AGE_KEY_FILE") {
            Some(path) => match crate::safefs::read_file_bounded(std::path::Path::new(&path)) {
                Ok(data) => {
                    warn_if_exposed(Path::new(&path), &data);
                    readers.push(("SOPS_AGE_KEY_FILE".into(), Zeroizing::new(data)))
                }
                Err(e) => ids.load_error_raw(format!(
                    "failed to open SOPS_AGE_KEY_FILE file: open {}: {}",
                    Path::new(&path).display(),
                    io_reason(&e)
                )),
            },
            None => ids.unused_locations.push("SOPS_AGE_KEY_FILE".into()),
        }
        match std::env::var("SOPS_AGE_KEY_CMD") {
            Ok(cmd) => {
                if let Some(out) = ids.run_identity_cmd("SOPS_AGE_KEY_CMD", &cmd, recipient_for_cmd)
                {
                    readers.push(("SOPS_AGE_KEY_CMD".into(), out));
                }
            }
            Err(_) => ids.unused_locations.push("SOPS_AGE_KEY_CMD".into()),
        }
        if let Some(path) = default_keys_file() {
            match crate::safefs::read_file_bounded(std::path::Path::new(&path)) {
                Ok(data) => {
                    warn_if_exposed(&path, &data);
                    readers.push((path.display().to_string(), Zeroizing::new(data)))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if readers.is_empty() && ids.identities.is_empty() {
                        ids.unused_locations.push(path.display().to_string());
                    }
                }
                Err(e) => ids.load_error_raw(format!(
                    "failed to open file: open {}: {}",
                    path.display(),
                    io_reason(&e)
                )),
            }
        }
        let mut empty = Vec::new();
        for (location, data) in readers {
            let before = ids.identities.len() + ids.plugin_identities.len();
            ids.add_identity_text(&location, &data);
            if ids.identities.len() + ids.plugin_identities.len() == before
                && !ids.load_errors.iter().any(
                    |e| matches!(e, AgeError::Load { source_name, .. } if *source_name == location),
                )
            {
                empty.push(location);
            }
        }
        ids.unused_locations.retain(|l| !empty.contains(l));
        ids.unused_locations.extend(empty);
        ids
    }

    fn load_error_raw(&mut self, message: String) {
        self.load_errors.push(AgeError::Load {
            source_name: String::new(),
            message,
        });
    }

    /// Runs `cmd` (split as a shell would, not run by one) from the variable `var`, with
    /// `SOPS_AGE_RECIPIENT` set: its output, or None with the error recorded.
    fn run_identity_cmd(
        &mut self,
        var: &str,
        cmd: &str,
        recipient: Option<&str>,
    ) -> Option<Zeroizing<Vec<u8>>> {
        let Some(args) = shlex::split(cmd).filter(|a| !a.is_empty()) else {
            self.load_error_raw(format!("failed to parse command {cmd} from {var}"));
            return None;
        };
        let mut command = std::process::Command::new(&args[0]);
        command
            .args(&args[1..])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        if let Some(r) = recipient {
            command.env("SOPS_AGE_RECIPIENT", r);
        }
        match command.output() {
            Ok(out) if out.status.success() => Some(Zeroizing::new(out.stdout)),
            Ok(out) => {
                let status = crate::goerr::exit_reason(out.status);
                self.load_error_raw(format!(
                    "failed to execute command {cmd} from {var}: {status}"
                ));
                None
            }
            Err(e) => {
                self.load_error_raw(format!(
                    "failed to execute command {cmd} from {var}: {}",
                    io_reason(&e)
                ));
                None
            }
        }
    }

    fn load_error(&mut self, source: &str, message: impl Into<String>) {
        self.load_errors.push(AgeError::Load {
            source_name: source.to_string(),
            message: message.into(),
        });
    }

    /// Parses identity-file text (native and plugin identities; `#` lines and blanks skipped).
    /// A passphrase-protected identity file is decrypted after asking for its passphrase.
    pub fn add_identity_text(&mut self, source: &str, data: &[u8]) {
        if is_encrypted_identity_file(data) {
            match decrypt_identity_file(source, data, &self.prompter) {
                Ok(plain) => self.add_identity_text(source, &plain),
                Err(message) => self.load_error(source, message),
            }
            return;
        }
        let text = match std::str::from_utf8(data) {
            Ok(t) => t,
            Err(_) => {
                return self.load_error(
                    source,
                    format!("failed to parse '{source}' age identities: not UTF-8 text"),
                )
            }
        };
        let mut natives = Vec::new();
        let mut pq = Vec::new();
        let mut plugins = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-PLUGIN-") {
                match (age::plugin::Identity::from_str(line), crate::plugin::plugin_name(line)) {
                    (Ok(_), Some(plugin)) => plugins.push(PluginIdentity {
                        plugin,
                        identity: Zeroizing::new(line.to_string()),
                        source: source.to_string(),
                    }),
                    _ => {
                        return self.load_error(
                            source,
                            format!("failed to parse '{source}' age identities: malformed plugin identity on line {}", n + 1),
                        )
                    }
                }
            } else if line.starts_with("AGE-SECRET-KEY-PQ-1")
                || line.starts_with("AGE-SECRET-KEY-1")
            {
                let parsed = if line.starts_with("AGE-SECRET-KEY-PQ-1") {
                    super::pq::PqIdentity::from_str(line)
                        .map(|id| pq.push(id))
                        .map_err(|e| e.to_string())
                } else {
                    age::x25519::Identity::from_str(line)
                        .map(|id| natives.push(id))
                        .map_err(|e| e.to_string())
                };
                if let Err(e) = parsed {
                    return self.load_error(
                        source,
                        format!(
                            "failed to parse '{source}' age identities: {e} (line {})",
                            n + 1
                        ),
                    );
                }
            } else {
                // sops's words; the line itself is never echoed: it may be a secret.
                return self.load_error(
                    source,
                    format!("failed to parse '{source}' age identities: unknown identity type"),
                );
            }
        }
        for id in natives {
            self.identities.push(LoadedIdentity {
                source: source.to_string(),
                identity: Box::new(id),
            });
        }
        for id in pq {
            self.identities.push(LoadedIdentity {
                source: source.to_string(),
                identity: Box::new(id),
            });
        }
        self.plugin_identities.extend(plugins);
    }

    /// The SSH private key `SOPS_AGE_SSH_PRIVATE_KEY_CMD` printed; one that needs a
    /// passphrase is refused, as sops does (nothing would be there to ask for it).
    fn add_ssh_identity_from_cmd(&mut self, out: &[u8]) {
        const SOURCE: &str = "SOPS_AGE_SSH_PRIVATE_KEY_CMD";
        match age::ssh::Identity::from_buffer(BufReader::new(out), Some(SOURCE.into())) {
            Ok(age::ssh::Identity::Unencrypted(identity)) => self.identities.push(LoadedIdentity {
                source: SOURCE.into(),
                identity: Box::new(age::ssh::Identity::Unencrypted(identity)),
            }),
            Ok(age::ssh::Identity::Encrypted(_)) => self.load_error_raw(format!(
                "the SSH key returned by running {SOURCE} is password protected, which is unsupported."
            )),
            Ok(age::ssh::Identity::Unsupported(k)) => self.load_error_raw(format!(
                "malformed SSH identity returned by running {SOURCE}: unsupported SSH key: {k:?}"
            )),
            Err(e) => self.load_error_raw(format!(
                "malformed SSH identity returned by running {SOURCE}: {e}"
            )),
        }
    }

    fn add_ssh_identity(&mut self, path: &Path, explicit: bool) {
        let source = path.display().to_string();
        let data = match crate::safefs::read_file_bounded(std::path::Path::new(path)) {
            Ok(d) => Zeroizing::new(d),
            Err(e) => {
                if explicit {
                    self.load_error(
                        &source,
                        format!("failed to open file: open {source}: {}", io_reason(&e)),
                    );
                }
                return;
            }
        };
        match age::ssh::Identity::from_buffer(BufReader::new(&data[..]), Some(source.clone())) {
            Ok(age::ssh::Identity::Unsupported(k)) => {
                self.load_error(&source, format!("unsupported SSH key: {k:?}"));
            }
            Ok(identity) => self.identities.push(LoadedIdentity {
                source,
                identity: Box::new(identity.with_callbacks(self.prompter.clone())),
            }),
            Err(e) => self.load_error(&source, format!("failed to parse SSH private key: {e}")),
        }
    }
}

/// Says so on stderr when an identity file holding secret keys can be read by others (it
/// still works, as with sops). Plugin identities only name a token, and passphrase-protected
/// files are encrypted at rest: neither is flagged.
fn warn_if_exposed(path: &Path, data: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    let holds_secret = data.windows(15).any(|w| w == b"AGE-SECRET-KEY-");
    if mode & 0o077 != 0 && holds_secret && !is_encrypted_identity_file(data) {
        eprintln!(
            "keytap: warning: identity file {} is readable by others (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode,
            path.display()
        );
    }
}

fn decrypt_identity_file(
    source: &str,
    data: &[u8],
    prompter: &Prompter,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(data))
        .map_err(|e| format!("malformed encrypted identity file: {e}"))?;
    if !decryptor.is_scrypt() {
        return Err("encrypted identity file is not passphrase-protected".into());
    }
    let passphrase = age::Callbacks::request_passphrase(
        prompter,
        &format!("Enter passphrase for identity '{source}':"),
    )
    .ok_or_else(|| "identity file is passphrase-protected and no passphrase could be asked (no terminal, KEYTAP_ASKPASS unset)".to_string())?;
    let identity = age::scrypt::Identity::new(passphrase);
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| format!("could not decrypt identity file: {e}"))?;
    let mut out = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut out)
        .map_err(|e| format!("could not decrypt identity file: {e}"))?;
    Ok(out)
}

/// `SOPS_AGE_KEY` with its keys one per line. sops 3.13 takes several keys on a line,
/// separated by white space (a variable is easier to set on one line), where 3.11 refuses
/// the line: keytap follows 3.13. Empty lines and `#` comments stay as they are.
fn one_key_per_line(text: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
            continue;
        }
        for key in line.split_whitespace() {
            out.extend_from_slice(key.as_bytes());
            out.push(b'\n');
        }
    }
    out
}
