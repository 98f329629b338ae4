//! The age plugin state machines.
//!
//! identity-v1: for the native `X25519` stanzas of every file in the session, each
//! identity's key file is unlocked at most once per session (so one prompt serves all the
//! files), its key tried on every X25519 stanza of every file still locked, then dropped
//! (the X25519 secret zeroizes on drop).
//!
//! recipient-v1: the recipient of this plugin is an ordinary `age1...` X25519 recipient,
//! so there is nothing to wrap; every recipient or identity gets a protocol `error`.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;

use age::secrecy::{ExposeSecret, SecretString};
use age::Identity as _;
use age_core::format::{FileKey, Stanza};
use age_plugin::{
    identity::{self, IdentityPluginV1},
    recipient::{self, RecipientPluginV1},
    Callbacks, PluginHandler,
};

use crate::identity::{PassphraseIdentity, Source, PLUGIN_NAME};
use crate::keyfile::{read_passphrase_file, read_secret_file, KeyFile, PassphraseFileError};

const X25519_TAG: &str = "X25519";

pub struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = RecipientPlugin;
    type IdentityV1 = IdentityPlugin;

    fn recipient_v1(self) -> io::Result<RecipientPlugin> {
        Ok(RecipientPlugin)
    }

    fn identity_v1(self) -> io::Result<IdentityPlugin> {
        Ok(IdentityPlugin::default())
    }
}

pub struct RecipientPlugin;

impl RecipientPluginV1 for RecipientPlugin {
    fn add_recipient(&mut self, index: usize, _: &str, _: &[u8]) -> Result<(), recipient::Error> {
        Err(recipient::Error::Recipient {
            index,
            message: "age-plugin-passphrase has no plugin recipients: encrypt to the ordinary age1... recipient printed by --generate".into(),
        })
    }

    fn add_identity(&mut self, index: usize, _: &str, _: &[u8]) -> Result<(), recipient::Error> {
        Err(recipient::Error::Identity {
            index,
            message: "age-plugin-passphrase cannot encrypt to an identity: encrypt to the ordinary age1... recipient printed by --generate".into(),
        })
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        _: Vec<FileKey>,
        _: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        // Unreachable in practice: add_recipient / add_identity always fail first.
        Ok(Err(vec![recipient::Error::Internal {
            message: "age-plugin-passphrase does not wrap file keys".into(),
        }]))
    }
}

#[derive(Default)]
pub struct IdentityPlugin {
    identities: Vec<(usize, PassphraseIdentity)>,
}

impl IdentityPluginV1 for IdentityPlugin {
    fn add_identity(
        &mut self,
        index: usize,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        if name != PLUGIN_NAME {
            return Err(identity::Error::Identity {
                index,
                message: format!("not an AGE-PLUGIN-PASSPHRASE identity (plugin name {name})"),
            });
        }
        let id = PassphraseIdentity::from_bytes(bytes)
            .map_err(|message| identity::Error::Identity { index, message })?;
        self.identities.push((index, id));
        Ok(())
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut result = HashMap::new();
        let candidates: Vec<usize> = files
            .iter()
            .enumerate()
            .filter(|(_, stanzas)| stanzas.iter().any(|s| s.tag == X25519_TAG))
            .map(|(i, _)| i)
            .collect();
        if candidates.is_empty() {
            // Nothing this plugin could open: never ask for a passphrase.
            return Ok(result);
        }

        let mut errors = Vec::new();
        let mut tried = HashSet::new();
        for (index, id) in &self.identities {
            if candidates.iter().all(|i| result.contains_key(i)) {
                break;
            }
            // The same identity given twice is unlocked once.
            if !tried.insert(id.to_bytes().unwrap_or_default()) {
                continue;
            }
            let key = match unlock(id, &mut callbacks)? {
                Ok(key) => key,
                Err(message) => {
                    errors.push(identity::Error::Identity {
                        index: *index,
                        message,
                    });
                    continue;
                }
            };
            for &file_index in &candidates {
                if result.contains_key(&file_index) {
                    continue;
                }
                let opened = files[file_index]
                    .iter()
                    .filter(|s| s.tag == X25519_TAG)
                    .find_map(|s| key.unwrap_stanza(s).and_then(Result::ok));
                if let Some(file_key) = opened {
                    result.insert(file_index, Ok(file_key));
                }
            }
            // `key` drops here; x25519-dalek zeroizes the secret.
        }

        // Report why identities could not be used, unless every file was opened anyway
        // (some clients stop at the first error).
        if !candidates.iter().all(|i| result.contains_key(i)) {
            for error in errors {
                let _ = callbacks.error(error)?;
            }
        }
        Ok(result)
    }
}

/// Unlocks the key file of `id`: checks the key file first (so nobody types a passphrase
/// for a missing or unsafe file), then takes the passphrase from the identity's sources,
/// in order. A source that is absent (no such file, no `$CREDENTIALS_DIRECTORY`, a client
/// that cannot prompt) falls through to the next; a passphrase that is found is final.
fn unlock(
    id: &PassphraseIdentity,
    callbacks: &mut impl Callbacks<identity::Error>,
) -> io::Result<Result<age::x25519::Identity, String>> {
    let key_file = match KeyFile::open(&id.key_file) {
        Ok(k) => k,
        Err(e) => return Ok(Err(e)),
    };
    let (passphrase, from) = match passphrase(id, key_file.path(), callbacks)? {
        Ok(found) => found,
        Err(e) => return Ok(Err(e)),
    };
    Ok(key_file
        .unlock(&passphrase)
        .map_err(|e| format!("{e} (passphrase from {from})")))
}

fn passphrase(
    id: &PassphraseIdentity,
    key_file: &Path,
    callbacks: &mut impl Callbacks<identity::Error>,
) -> io::Result<Result<(SecretString, String), String>> {
    let mut absent = Vec::new();
    for source in &id.sources {
        match source {
            Source::File(path) => match read_passphrase_file(path, "passphrase file") {
                Ok(p) => return Ok(Ok((p, source.describe()))),
                Err(PassphraseFileError::Missing) => {
                    absent.push(format!("{} does not exist", source.describe()))
                }
                Err(PassphraseFileError::Unusable(e)) => return Ok(Err(e)),
            },
            Source::Credential(name) => {
                match std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
                    None => absent.push(format!(
                        "{}: $CREDENTIALS_DIRECTORY is not set",
                        source.describe()
                    )),
                    Some(dir) => {
                        let path = Path::new(&dir).join(name);
                        match read_secret_file(&path, "credential") {
                            Ok(p) => return Ok(Ok((p, source.describe()))),
                            Err(PassphraseFileError::Missing) => absent.push(format!(
                                "{}: {} does not exist",
                                source.describe(),
                                path.display()
                            )),
                            Err(PassphraseFileError::Unusable(e)) => return Ok(Err(e)),
                        }
                    }
                }
            }
            Source::Prompt => {
                let prompt = format!("Enter passphrase for age key file {}", key_file.display());
                match callbacks.request_secret(&prompt)? {
                    Ok(p) if p.expose_secret().is_empty() => {
                        return Ok(Err("empty passphrase".into()))
                    }
                    Ok(p) => return Ok(Ok((p, source.describe()))),
                    Err(e) => absent.push(format!(
                        "the age client could not prompt for it ({})",
                        match e {
                            age_core::plugin::Error::Fail => "it has no way to ask",
                            age_core::plugin::Error::Unsupported =>
                                "it does not support request-secret",
                        }
                    )),
                }
            }
        }
    }
    if absent.is_empty() {
        absent.push("the identity names no passphrase source".into());
    }
    Ok(Err(format!(
        "no passphrase for key file {}: {}",
        key_file.display(),
        absent.join("; ")
    )))
}
