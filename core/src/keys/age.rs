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
    /// Loads identities from every place sops looks, in this order: `SOPS_AGE_KEY`,
    /// `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`, the user's `keys.txt`, then SSH keys
    /// (`SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`).
    /// `recipient` is exported to `SOPS_AGE_KEY_CMD` as `SOPS_AGE_RECIPIENT`.
    pub fn load(recipient_for_cmd: Option<&str>) -> AgeIdentities {
        let mut ids = AgeIdentities::default();
        let mut found_any_source = false;

        match std::env::var("SOPS_AGE_KEY") {
            Ok(keys) => {
                found_any_source = true;
                let keys = Zeroizing::new(keys.split_whitespace().collect::<Vec<_>>().join("\n"));
                ids.add_identity_text("SOPS_AGE_KEY", keys.as_bytes());
            }
            Err(_) => ids.unused_locations.push("SOPS_AGE_KEY".into()),
        }
        match std::env::var_os("SOPS_AGE_KEY_FILE") {
            Some(path) => {
                found_any_source = true;
                ids.add_identity_file("SOPS_AGE_KEY_FILE", Path::new(&path));
            }
            None => ids.unused_locations.push("SOPS_AGE_KEY_FILE".into()),
        }
        match std::env::var("SOPS_AGE_KEY_CMD") {
            Ok(cmd) => {
                found_any_source = true;
                ids.add_identity_cmd(&cmd, recipient_for_cmd);
            }
            Err(_) => ids.unused_locations.push("SOPS_AGE_KEY_CMD".into()),
        }
        if let Some(path) = default_keys_file() {
            if path.exists() {
                ids.add_identity_file(&path.display().to_string(), &path);
            } else if !found_any_source {
                ids.unused_locations.push(path.display().to_string());
            }
        }
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
        ids
    }

    fn load_error(&mut self, source: &str, message: impl Into<String>) {
        self.load_errors.push(AgeError::Load {
            source_name: source.to_string(),
            message: message.into(),
        });
    }

    fn add_identity_file(&mut self, source: &str, path: &Path) {
        match std::fs::read(path) {
            Ok(data) => {
                let data = Zeroizing::new(data);
                self.add_identity_text(source, &data)
            }
            Err(e) => self.load_error(
                source,
                format!("failed to open file {}: {}", path.display(), e),
            ),
        }
    }

    fn add_identity_cmd(&mut self, cmd: &str, recipient: Option<&str>) {
        let Some(args) = shlex::split(cmd).filter(|a| !a.is_empty()) else {
            return self.load_error(
                "SOPS_AGE_KEY_CMD",
                format!("failed to parse command {cmd:?}"),
            );
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
            Ok(out) if out.status.success() => {
                let stdout = Zeroizing::new(out.stdout);
                self.add_identity_text("SOPS_AGE_KEY_CMD", &stdout)
            }
            Ok(out) => self.load_error(
                "SOPS_AGE_KEY_CMD",
                format!("command {cmd:?} failed with {}", out.status),
            ),
            Err(e) => self.load_error(
                "SOPS_AGE_KEY_CMD",
                format!("failed to execute command {cmd:?}: {e}"),
            ),
        }
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
            Err(e) => return self.load_error(source, e.to_string()),
        };
        match file.into_identities() {
            Ok(list) if list.is_empty() => self.unused_locations.push(source.to_string()),
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
                    self.load_error(&source, format!("failed to open file: {e}"));
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

    /// Unwraps one armored `enc` blob, trying every identity. On failure the error says why
    /// for each identity source (never key material).
    pub fn unwrap(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>, AgeError> {
        if self.identities.is_empty() {
            let mut msg = String::from("failed to load age identities");
            self.append_context(&mut msg);
            return Err(AgeError::Unwrap(msg));
        }
        let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(enc.as_bytes()))
            .map_err(|e| AgeError::Unwrap(format!("malformed age data key: {e}")))?;
        let identities = self
            .identities
            .iter()
            .map(|i| i.identity.as_ref() as &dyn age::Identity);
        let mut reader = decryptor.decrypt(identities).map_err(|e| {
            let mut msg =
                format!("failed to create reader for decrypting sops data key with age: {e}");
            self.append_context(&mut msg);
            AgeError::Unwrap(msg)
        })?;
        let mut out = Zeroizing::new(Vec::new());
        reader
            .read_to_end(&mut out)
            .map_err(|e| AgeError::Unwrap(format!("failed to decrypt the age data key: {e}")))?;
        Ok(out)
    }

    fn append_context(&self, msg: &mut String) {
        if !self.load_errors.is_empty() {
            let errs: Vec<String> = self.load_errors.iter().map(|e| e.to_string()).collect();
            msg.push_str(&format!(
                ". Errors while loading age identities: {}",
                errs.join("; ")
            ));
        }
    }
}

fn decrypt_identity_file(source: &str, data: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(data))
        .map_err(|e| format!("malformed encrypted identity file: {e}"))?;
    if !decryptor.is_scrypt() {
        return Err("encrypted identity file is not passphrase-protected".into());
    }
    let passphrase = age::Callbacks::request_passphrase(
        &Prompter,
        &format!("Enter passphrase for identity file {source}:"),
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
