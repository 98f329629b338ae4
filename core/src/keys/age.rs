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
    /// `age1pq1...`: ML-KEM-768 + X25519 hybrid (age 1.3), native.
    PostQuantum(Box<super::pq::PqRecipient>),
    /// `age1tag1...` / `age1tagpq1...`: hardware "tag" recipients (age 1.3), encrypted
    /// natively; decrypted by the token's plugin.
    Tag(Box<super::tag::TagRecipient>),
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
        // age 1.3's native types have a second `1` too: check them before plugins.
        if r.starts_with("age1pq1") {
            super::pq::PqRecipient::from_str(r)
                .map(|p| AgeRecipient::PostQuantum(Box::new(p)))
                .map_err(|e| bad("post-quantum", e.to_string()))
        } else if r.starts_with("age1tag1") || r.starts_with("age1tagpq1") {
            super::tag::TagRecipient::from_str(r)
                .map(|t| AgeRecipient::Tag(Box::new(t)))
                .map_err(|e| bad("tag", e.to_string()))
        } else if is_plugin_recipient(r) {
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
            AgeRecipient::PostQuantum(r) => r.as_ref(),
            AgeRecipient::Tag(r) => r.as_ref(),
            AgeRecipient::Plugin(r) => {
                plugin = crate::plugin::recipient::PluginRecipient::new(r.plugin(), recipient_text);
                plugin
                    .check_installed()
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

/// A plugin identity and where it came from.
#[derive(Clone, Debug)]
pub struct PluginIdentity {
    /// The plugin's name (`yubikey` for `AGE-PLUGIN-YUBIKEY-1...`).
    pub plugin: String,
    /// The identity string (secret-ish: it may name a key, never printed in full).
    pub identity: Zeroizing<String>,
    /// Env var or file it came from.
    pub source: String,
}

impl PluginIdentity {
    /// A short, non-secret label: plugin name and source.
    pub fn label(&self) -> String {
        format!("age-plugin-{} identity from {}", self.plugin, self.source)
    }
}

/// All identities keytap found, plus what went wrong while looking.
#[derive(Default)]
pub struct AgeIdentities {
    /// Usable native identities (X25519, SSH), in the order they are tried.
    pub identities: Vec<LoadedIdentity>,
    /// Plugin identities (`AGE-PLUGIN-...`), run through one session per plugin.
    pub plugin_identities: Vec<PluginIdentity>,
    /// Try plugin (hardware) identities before native ones (the default).
    pub plugins_first: bool,
    /// Say on stderr which identity unwrapped each key.
    pub verbose: bool,
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
        let mut ids = AgeIdentities {
            plugins_first: !matches!(
                std::env::var("KEYTAP_IDENTITY_ORDER").as_deref(),
                Ok("software-first") | Ok("native-first")
            ),
            ..AgeIdentities::default()
        };
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
                if let Some(out) = ids.run_identity_cmd(&cmd, recipient_for_cmd) {
                    readers.push(("SOPS_AGE_KEY_CMD".into(), out));
                }
            }
            Err(_) => ids.unused_locations.push("SOPS_AGE_KEY_CMD".into()),
        }
        if let Some(path) = default_keys_file() {
            match std::fs::read(&path) {
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
            } else if line.starts_with("AGE-SECRET-KEY-PQ-1") {
                match super::pq::PqIdentity::from_str(line) {
                    Ok(id) => pq.push(id),
                    Err(e) => {
                        return self.load_error(
                            source,
                            format!(
                                "failed to parse '{source}' age identities: {e} (line {})",
                                n + 1
                            ),
                        )
                    }
                }
            } else if line.starts_with("AGE-SECRET-KEY-1") {
                match age::x25519::Identity::from_str(line) {
                    Ok(id) => natives.push(id),
                    Err(e) => {
                        return self.load_error(
                            source,
                            format!(
                                "failed to parse '{source}' age identities: {e} (line {})",
                                n + 1
                            ),
                        )
                    }
                }
            } else {
                // The line itself is never echoed: it may be a secret.
                return self.load_error(
                    source,
                    format!("failed to parse '{source}' age identities: unknown identity type on line {}", n + 1),
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

    /// Unwraps one armored `enc` blob (see [`AgeIdentities::unwrap_many`]).
    pub fn unwrap(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>, AgeError> {
        self.unwrap_many(&[enc]).pop().expect("one result per blob")
    }

    /// Unwraps many armored `enc` blobs (of one or many files). Native identities are
    /// tried one by one; plugin identities run ONE session per plugin for all blobs still
    /// locked, so a PIN is asked once. By default plugins (hardware) go first
    /// (`KEYTAP_IDENTITY_ORDER=software-first` flips it). A plugin whose token is absent is
    /// skipped with a one-line note. Failures are worded as sops words them, with the
    /// loading errors and the locations that had no keys.
    pub fn unwrap_many(&self, encs: &[&str]) -> Vec<Result<Zeroizing<Vec<u8>>, AgeError>> {
        let groups: Vec<usize> = (0..encs.len()).collect();
        self.unwrap_many_grouped(encs, &groups)
    }

    /// Like [`AgeIdentities::unwrap_many`], where `group_of[i]` says which blobs are
    /// alternatives (the keys of one key group of one file): once one blob of a group is
    /// open, the others are not tried in later passes, so a software key that already
    /// opened a group spares the token its PIN prompt.
    pub fn unwrap_many_grouped(
        &self,
        encs: &[&str],
        group_of: &[usize],
    ) -> Vec<Result<Zeroizing<Vec<u8>>, AgeError>> {
        let n = encs.len();
        let mut done: Vec<Option<Zeroizing<Vec<u8>>>> = (0..n).map(|_| None).collect();
        let mut causes: Vec<Vec<String>> = vec![Vec::new(); n];
        let mut malformed: Vec<Option<String>> = vec![None; n];
        let stanzas: Vec<Vec<age_core::format::Stanza>> = encs
            .iter()
            .enumerate()
            .map(|(i, enc)| match header_stanzas(enc) {
                Ok(s) => s,
                Err(e) => {
                    malformed[i] = Some(e);
                    Vec::new()
                }
            })
            .collect();
        let passes: [bool; 2] = if self.plugins_first {
            [true, false]
        } else {
            [false, true]
        };
        for plugins in passes {
            let open_groups: std::collections::HashSet<usize> = (0..n)
                .filter(|i| done[*i].is_some())
                .map(|i| group_of[i])
                .collect();
            let skip: Vec<bool> = (0..n)
                .map(|i| {
                    malformed[i].is_some()
                        || done[i].is_some()
                        || open_groups.contains(&group_of[i])
                })
                .collect();
            if plugins {
                self.plugin_pass(encs, &stanzas, &skip, &mut done, &mut causes);
            } else {
                self.native_pass(encs, &skip, &mut done, &mut causes);
            }
        }
        (0..n)
            .map(|i| {
                if let Some(data) = done[i].take() {
                    return Ok(data);
                }
                if let Some(m) = &malformed[i] {
                    return Err(AgeError::Unwrap(format!(
                        "failed to create reader for decrypting sops data key with age: {m}"
                    )));
                }
                if self.identities.is_empty() && self.plugin_identities.is_empty() {
                    return Err(AgeError::Unwrap(
                        self.with_context("failed to load age identities".into()),
                    ));
                }
                let mut cause = causes[i].clone();
                cause.dedup();
                if cause.is_empty() {
                    cause.push("identity did not match any of the recipients".into());
                }
                Err(AgeError::Unwrap(self.with_context(format!(
                    "failed to create reader for decrypting sops data key with age: {}",
                    cause.join("; ")
                ))))
            })
            .collect()
    }

    fn native_pass(
        &self,
        encs: &[&str],
        skip: &[bool],
        done: &mut [Option<Zeroizing<Vec<u8>>>],
        causes: &mut [Vec<String>],
    ) {
        for (i, enc) in encs.iter().enumerate() {
            if skip[i] {
                continue;
            }
            for id in &self.identities {
                match decrypt_with(enc, id.identity.as_ref()) {
                    Ok(data) => {
                        if self.verbose {
                            eprintln!(
                                "keytap: data key unwrapped with the identity from {}",
                                id.source
                            );
                        }
                        done[i] = Some(data);
                        break;
                    }
                    Err(age::DecryptError::NoMatchingKeys) => {}
                    Err(e) => causes[i].push(e.to_string()),
                }
            }
            if done[i].is_none() && !self.identities.is_empty() {
                causes[i].push("identity did not match any of the recipients".into());
            }
        }
    }

    fn plugin_pass(
        &self,
        encs: &[&str],
        stanzas: &[Vec<age_core::format::Stanza>],
        skip: &[bool],
        done: &mut [Option<Zeroizing<Vec<u8>>>],
        causes: &mut [Vec<String>],
    ) {
        let mut names: Vec<&str> = Vec::new();
        for p in &self.plugin_identities {
            if !names.contains(&p.plugin.as_str()) {
                names.push(&p.plugin);
            }
        }
        for name in names {
            let pending: Vec<usize> = (0..encs.len())
                .filter(|i| done[*i].is_none() && !skip[*i])
                .collect();
            if pending.is_empty() {
                return;
            }
            let ids: Vec<&PluginIdentity> = self
                .plugin_identities
                .iter()
                .filter(|p| p.plugin == name)
                .collect();
            let id_strings: Vec<String> = ids.iter().map(|p| p.identity.to_string()).collect();
            let files: Vec<Vec<age_core::format::Stanza>> = pending
                .iter()
                .map(|i| clone_stanzas(&stanzas[*i]))
                .collect();
            match crate::plugin::identity::unwrap_files(name, &id_strings, &files, &Prompter) {
                Ok(outcome) => {
                    for (idx, message) in &outcome.identity_errors {
                        let who = idx
                            .and_then(|k| ids.get(k))
                            .map(|p| p.label())
                            .unwrap_or_else(|| format!("age-plugin-{name}"));
                        eprintln!("keytap: skipping {who}: {message}");
                        for i in &pending {
                            causes[*i].push(format!("age-plugin-{name}: {message}"));
                        }
                    }
                    for (file, message) in &outcome.file_errors {
                        for (k, i) in pending.iter().enumerate() {
                            if file.is_none() || *file == Some(k) {
                                causes[*i].push(format!("age-plugin-{name}: {message}"));
                            }
                        }
                    }
                    for q in &outcome.unanswered {
                        for i in &pending {
                            causes[*i].push(format!(
                                "{q}, but there is no way to ask (no terminal, KEYTAP_ASKPASS unset, no pinentry)"
                            ));
                        }
                    }
                    for (k, key) in outcome.file_keys.into_iter().enumerate() {
                        let i = pending[k];
                        let Some(key) = key else { continue };
                        match decrypt_with(encs[i], &ReplayIdentity(key)) {
                            Ok(data) => {
                                if self.verbose {
                                    eprintln!("keytap: data key unwrapped by age-plugin-{name}");
                                }
                                done[i] = Some(data);
                            }
                            Err(_) => causes[i]
                                .push(format!("age-plugin-{name} returned a wrong file key")),
                        }
                    }
                }
                Err(e) => {
                    eprintln!("keytap: skipping age-plugin-{name}: {e}");
                    for i in &pending {
                        causes[*i].push(e.to_string());
                    }
                }
            }
        }
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

/// Decrypts one armored age file with one identity.
fn decrypt_with(
    enc: &str,
    identity: &dyn age::Identity,
) -> Result<Zeroizing<Vec<u8>>, age::DecryptError> {
    let data =
        super::agefile::checked(enc.as_bytes()).map_err(|_| age::DecryptError::InvalidHeader)?;
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(data))?;
    let mut reader = decryptor.decrypt(std::iter::once(identity))?;
    let mut out = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut out)?;
    Ok(out)
}

fn clone_stanzas(s: &[age_core::format::Stanza]) -> Vec<age_core::format::Stanza> {
    s.iter()
        .map(|s| age_core::format::Stanza {
            tag: s.tag.clone(),
            args: s.args.clone(),
            body: s.body.clone(),
        })
        .collect()
}

/// Reads an age file's recipient stanzas: an identity that records what it is shown.
fn header_stanzas(enc: &str) -> Result<Vec<age_core::format::Stanza>, String> {
    struct Collector(std::cell::RefCell<Vec<age_core::format::Stanza>>);
    impl age::Identity for Collector {
        fn unwrap_stanza(
            &self,
            _: &age_core::format::Stanza,
        ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
            None
        }
        fn unwrap_stanzas(
            &self,
            stanzas: &[age_core::format::Stanza],
        ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
            self.0.borrow_mut().extend(clone_stanzas(stanzas));
            None
        }
    }
    let data = super::agefile::checked(enc.as_bytes())?;
    let decryptor =
        age::Decryptor::new_buffered(ArmoredReader::new(data)).map_err(|e| e.to_string())?;
    let collector = Collector(std::cell::RefCell::new(Vec::new()));
    let _ = decryptor.decrypt(std::iter::once(&collector as &dyn age::Identity));
    Ok(collector.0.into_inner())
}

/// Hands the age crate a file key a plugin session already returned, so the crate checks
/// the header MAC and decrypts the payload with it.
struct ReplayIdentity(age_core::format::FileKey);

impl age::Identity for ReplayIdentity {
    fn unwrap_stanza(
        &self,
        _: &age_core::format::Stanza,
    ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        use age::secrecy::ExposeSecret;
        Some(Ok(age_core::format::FileKey::new(Box::new(
            *self.0.expose_secret(),
        ))))
    }
}
