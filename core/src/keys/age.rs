//! The age key source: wrap a data key to age recipients, unwrap it with age identities.
//!
//! Recipients are recognised as sops does: `age1` with a second `1` is a plugin recipient
//! (`age1<name>1...`), plain `age1...` is X25519, `ssh-...` an SSH public key.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use zeroize::Zeroizing;

use super::prompt::Prompter;

/// Why a recipient could not be used or an identity could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum AgeError {
    /// The recipient string is not one sops understands.
    #[error("failed to parse input, unknown recipient type: {0:?}")]
    UnknownRecipient(String),
    /// The recipient is malformed.
    #[error("failed to parse {kind} recipient {recipient:?}: {message}")]
    BadRecipient {
        /// X25519, SSH or plugin.
        kind: &'static str,
        /// The recipient as given.
        recipient: String,
        /// Why.
        message: String,
    },
    /// The plugin binary for a plugin recipient or identity is not on PATH.
    #[error("{binary} not found in PATH: install it to use {what}")]
    PluginNotFound {
        /// `age-plugin-<name>`.
        binary: String,
        /// The recipient or identity that needs it.
        what: String,
    },
    /// Encryption to a recipient failed.
    #[error("failed to encrypt the data key to {recipient}: {message}")]
    Wrap {
        /// The recipient.
        recipient: String,
        /// Why.
        message: String,
    },
    /// An identity source could not be read or parsed.
    #[error("{source_name}: {message}")]
    Load {
        /// Where the identity came from (env var or path).
        source_name: String,
        /// Why (never the key material).
        message: String,
    },
    /// No identity could unwrap the data key.
    #[error("{0}")]
    Unwrap(String),
}

fn plugin_binary(name: &str) -> String {
    format!("age-plugin-{name}")
}

fn is_plugin_recipient(recipient: &str) -> bool {
    recipient.starts_with("age1") && recipient.matches('1').count() > 1
}

/// A parsed recipient, ready to wrap data keys.
pub enum AgeRecipient {
    /// `age1...`
    X25519(age::x25519::Recipient),
    /// `ssh-ed25519 ...` / `ssh-rsa ...`
    Ssh(age::ssh::Recipient),
    /// `age1<name>1...`, wrapped by running `age-plugin-<name>`.
    Plugin(age::plugin::Recipient),
}

impl AgeRecipient {
    /// Parses a recipient as sops does (surrounding whitespace ignored).
    pub fn parse(recipient: &str) -> Result<AgeRecipient, AgeError> {
        let r = recipient.trim();
        let bad = |kind, message: String| AgeError::BadRecipient {
            kind,
            recipient: r.to_string(),
            message,
        };
        if is_plugin_recipient(r) {
            age::plugin::Recipient::from_str(r)
                .map(AgeRecipient::Plugin)
                .map_err(|e| bad("plugin", e.to_string()))
        } else if r.starts_with("age1") {
            age::x25519::Recipient::from_str(r)
                .map(AgeRecipient::X25519)
                .map_err(|e| bad("X25519", e.to_string()))
        } else if r.starts_with("ssh-") {
            age::ssh::Recipient::from_str(r)
                .map(AgeRecipient::Ssh)
                .map_err(|e| bad("SSH", format!("{e:?}")))
        } else {
            Err(AgeError::UnknownRecipient(r.to_string()))
        }
    }

    /// Wraps `data_key` to this recipient as an armored age file (what sops stores in `enc`).
    pub fn wrap(&self, recipient_text: &str, data_key: &[u8]) -> Result<String, AgeError> {
        let wrap_err = |message: String| AgeError::Wrap {
            recipient: recipient_text.to_string(),
            message,
        };
        let plugin;
        let recipient: &dyn age::Recipient = match self {
            AgeRecipient::X25519(r) => r,
            AgeRecipient::Ssh(r) => r,
            AgeRecipient::Plugin(r) => {
                plugin = age::plugin::RecipientPluginV1::new(
                    r.plugin(),
                    std::slice::from_ref(r),
                    &[],
                    Prompter,
                )
                .map_err(|_| AgeError::PluginNotFound {
                    binary: plugin_binary(r.plugin()),
                    what: format!("recipient {recipient_text}"),
                })?;
                &plugin
            }
        };
        let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient))
            .map_err(|e| wrap_err(e.to_string()))?;
        let mut out = Vec::new();
        let armor = ArmoredWriter::wrap_output(&mut out, ArmorFormat::AsciiArmor)
            .map_err(|e| wrap_err(e.to_string()))?;
        let mut w = encryptor
            .wrap_output(armor)
            .map_err(|e| wrap_err(e.to_string()))?;
        w.write_all(data_key).map_err(|e| wrap_err(e.to_string()))?;
        w.finish()
            .and_then(|a| a.finish())
            .map_err(|e| wrap_err(e.to_string()))?;
        String::from_utf8(out).map_err(|e| wrap_err(e.to_string()))
    }
}

/// One loaded identity and where it came from.
pub struct LoadedIdentity {
    /// Env var or file it came from, for messages.
    pub source: String,
    /// The identity.
    pub identity: Box<dyn age::Identity>,
}

/// All identities keytap found, plus what went wrong while looking.
#[derive(Default)]
pub struct AgeIdentities {
    /// Usable identities, in the order they are tried.
    pub identities: Vec<LoadedIdentity>,
    /// Sources that existed but failed to load (never fatal on their own).
    pub load_errors: Vec<AgeError>,
    /// Sources looked at that had nothing.
    pub unused_locations: Vec<String>,
}

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

fn is_encrypted_identity_file(data: &[u8]) -> bool {
    data.starts_with(b"age-encryption.org/")
        || data.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
}

impl AgeIdentities {
    /// Loads identities from every place sops looks, in sops's order:
    /// `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`, `SOPS_AGE_KEY`,
    /// `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD` (run with `SOPS_AGE_RECIPIENT` set to
    /// `recipient_for_cmd`), then the user's `keys.txt`.
    pub fn load(recipient_for_cmd: Option<&str>) -> AgeIdentities {
        let mut ids = AgeIdentities::default();
        match std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            Some(path) => ids.add_ssh_identity(Path::new(&path), true),
            None => ids
                .unused_locations
                .push("SOPS_AGE_SSH_PRIVATE_KEY_FILE".into()),
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
            Ok(keys) => readers.push(("SOPS_AGE_KEY".into(), Zeroizing::new(keys.into_bytes()))),
            Err(_) => ids.unused_locations.push("SOPS_AGE_KEY".into()),
        }
        match std::env::var_os("SOPS_AGE_KEY_FILE") {
            Some(path) => match std::fs::read(&path) {
                Ok(data) => readers.push(("SOPS_AGE_KEY_FILE".into(), Zeroizing::new(data))),
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
                if let Some(out) = ids.run_identity_cmd(&cmd, recipient_for_cmd) {
                    readers.push(("SOPS_AGE_KEY_CMD".into(), out));
                }
            }
            Err(_) => ids.unused_locations.push("SOPS_AGE_KEY_CMD".into()),
        }
        if let Some(path) = default_keys_file() {
            match std::fs::read(&path) {
                Ok(data) => readers.push((path.display().to_string(), Zeroizing::new(data))),
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
            let before = ids.identities.len();
            ids.add_identity_text(&location, &data);
            if ids.identities.len() == before
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

    fn run_identity_cmd(
        &mut self,
        cmd: &str,
        recipient: Option<&str>,
    ) -> Option<Zeroizing<Vec<u8>>> {
        let Some(args) = shlex::split(cmd).filter(|a| !a.is_empty()) else {
            self.load_error_raw(format!(
                "failed to parse command {cmd} from SOPS_AGE_KEY_CMD"
            ));
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
                let status = match out.status.code() {
                    Some(c) => format!("exit status {c}"),
                    None => "killed by a signal".to_string(),
                };
                self.load_error_raw(format!(
                    "failed to execute command {cmd} from SOPS_AGE_KEY_CMD: {status}"
                ));
                None
            }
            Err(e) => {
                self.load_error_raw(format!(
                    "failed to execute command {cmd} from SOPS_AGE_KEY_CMD: {}",
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
    fn add_identity_text(&mut self, source: &str, data: &[u8]) {
        if is_encrypted_identity_file(data) {
            match decrypt_identity_file(source, data) {
                Ok(plain) => self.add_identity_text(source, &plain),
                Err(message) => self.load_error(source, message),
            }
            return;
        }
        let file = match age::IdentityFile::from_buffer(BufReader::new(data)) {
            Ok(f) => f.with_callbacks(Prompter),
            Err(e) => {
                return self.load_error(
                    source,
                    format!("failed to parse '{source}' age identities: {e}"),
                )
            }
        };
        match file.into_identities() {
            Ok(list) if list.is_empty() => {}
            Ok(list) => {
                for identity in list {
                    self.identities.push(LoadedIdentity {
                        source: source.to_string(),
                        identity,
                    });
                }
            }
            Err(e) => self.load_error(source, e.to_string()),
        }
    }

    fn add_ssh_identity(&mut self, path: &Path, explicit: bool) {
        let source = path.display().to_string();
        let data = match std::fs::read(path) {
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
                identity: Box::new(identity.with_callbacks(Prompter)),
            }),
            Err(e) => self.load_error(&source, format!("failed to parse SSH private key: {e}")),
        }
    }

    /// Unwraps one armored `enc` blob, trying every identity. On failure the message is
    /// built as sops builds it: the cause, identity loading errors, then the locations that
    /// held no keys (never key material).
    pub fn unwrap(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>, AgeError> {
        if self.identities.is_empty() {
            return Err(AgeError::Unwrap(
                self.with_context("failed to load age identities".into()),
            ));
        }
        let decryptor =
            age::Decryptor::new_buffered(ArmoredReader::new(enc.as_bytes())).map_err(|e| {
                AgeError::Unwrap(format!(
                    "failed to create reader for decrypting sops data key with age: {e}"
                ))
            })?;
        let identities = self
            .identities
            .iter()
            .map(|i| i.identity.as_ref() as &dyn age::Identity);
        let mut reader = decryptor.decrypt(identities).map_err(|e| {
            let cause = match e {
                age::DecryptError::NoMatchingKeys => {
                    "identity did not match any of the recipients".to_string()
                }
                other => other.to_string(),
            };
            AgeError::Unwrap(self.with_context(format!(
                "failed to create reader for decrypting sops data key with age: {cause}"
            )))
        })?;
        let mut out = Zeroizing::new(Vec::new());
        reader.read_to_end(&mut out).map_err(|e| {
            AgeError::Unwrap(format!(
                "failed to copy age decrypted data into bytes.Buffer: {e}"
            ))
        })?;
        Ok(out)
    }

    fn with_context(&self, mut msg: String) -> String {
        if !self.load_errors.is_empty() {
            let errs: Vec<String> = self
                .load_errors
                .iter()
                .map(|e| match e {
                    AgeError::Load {
                        source_name,
                        message,
                    } if source_name.is_empty() => message.clone(),
                    AgeError::Load { message, .. } => message.clone(),
                    other => other.to_string(),
                })
                .collect();
            msg.push_str(&format!(
                ". Errors while loading age identities: {}",
                errs.join("; ")
            ));
        }
        let unused = &self.unused_locations;
        match unused.len() {
            0 => {}
            1 => msg.push_str(&format!(". Did not find keys in location '{}'.", unused[0])),
            2 => msg.push_str(&format!(
                ". Did not find keys in locations '{}' and '{}'.",
                unused[0], unused[1]
            )),
            n => msg.push_str(&format!(
                ". Did not find keys in locations '{}', and '{}'.",
                unused[..n - 1].join("', '"),
                unused[n - 1]
            )),
        }
        msg
    }
}

use crate::goerr::io_reason;

fn decrypt_identity_file(source: &str, data: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(data))
        .map_err(|e| format!("malformed encrypted identity file: {e}"))?;
    if !decryptor.is_scrypt() {
        return Err("encrypted identity file is not passphrase-protected".into());
    }
    let passphrase = age::Callbacks::request_passphrase(
        &Prompter,
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
