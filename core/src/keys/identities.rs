//! The identities keytap found, and unwrapping data keys with them: native identities one
//! by one, plugin identities through one session per plugin for every blob at once, in the
//! order the user chose (hardware first by default), with sops-shaped failure messages.

use std::io::Read;

use zeroize::Zeroizing;

use super::age::AgeError;
use super::prompt::Prompter;

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
    /// Asks the user for PINs and passphrases (plugins, passphrase-protected files).
    pub prompter: Prompter,
}

impl AgeIdentities {
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
                // age's NoIdentityMatchError: the one identity's error when only one was
                // tried (as sops tries them all in one decryption).
                let single = self.identities.len() + self.plugin_identities.len() == 1;
                causes[i].push(if single {
                    "identity did not match any of the recipients: incorrect identity for recipient block".into()
                } else {
                    "identity did not match any of the recipients".into()
                });
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
            let session = self.prompter.begin_session(name, &id_strings);
            let unwrapped =
                crate::plugin::identity::unwrap_files(name, &id_strings, &files, &self.prompter);
            drop(session);
            match unwrapped {
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

/// Decrypts one armored age file with one identity.
fn decrypt_with(
    enc: &str,
    identity: &dyn age::Identity,
) -> Result<Zeroizing<Vec<u8>>, age::DecryptError> {
    let data =
        super::agefile::checked(enc.as_bytes()).map_err(|_| age::DecryptError::InvalidHeader)?;
    let decryptor = age::Decryptor::new_buffered(&data[..])?;
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
    let decryptor = age::Decryptor::new_buffered(&data[..]).map_err(|e| e.to_string())?;
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
