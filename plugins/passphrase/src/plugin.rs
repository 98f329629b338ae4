//! The age plugin state machines.
//!
//! identity-v1: for the native `X25519` stanzas of every file in the session, each
//! identity's key file is unlocked at most once per session (so one prompt serves all the
//! files), its key tried on every X25519 stanza of every file still locked, then dropped
//! (the X25519 secret zeroizes on drop).
//!
//! recipient-v1: the recipient of this plugin is an ordinary `age1...` X25519 recipient,
//! so there is nothing to wrap; every recipient or identity gets a protocol `error`.

use std::convert::Infallible;
use std::io;
use std::path::Path;

use age::secrecy::{ExposeSecret, SecretString};
use age::Identity as _;
use age_core::format::{FileKey, Stanza};
use age_plugin::{identity, recipient, Callbacks};
use keytap_plugin_kit::{
    self as kit, At, FileKeys, Plan, Plugin, Report, Tried, Unlock, Unwrap, Wrap,
};

use crate::identity::{PassphraseIdentity, Source, PLUGIN_NAME};
use crate::keyfile::{read_passphrase_file, read_secret_file, KeyFile, PassphraseFileError};

const X25519_TAG: &str = "X25519";

/// The plugin, for [`kit::run`].
pub struct Passphrase;

impl Plugin for Passphrase {
    type Identity = PassphraseIdentity;

    fn identity(name: &str, bytes: &[u8]) -> Result<PassphraseIdentity, String> {
        kit::check_identity_name(name, PLUGIN_NAME, "AGE-PLUGIN-PASSPHRASE")?;
        PassphraseIdentity::from_bytes(bytes)
    }
}

impl Wrap for Passphrase {
    type Recipient = Infallible;

    const NO_IDENTITIES: Option<&'static str> = Some("age-plugin-passphrase cannot encrypt to an identity: encrypt to the ordinary age1... recipient printed by --generate");

    fn recipient(_: &str, _: &[u8]) -> Result<Infallible, String> {
        Err("age-plugin-passphrase has no plugin recipients: encrypt to the ordinary age1... recipient printed by --generate".into())
    }

    fn wrap(
        _: &[FileKey],
        _: &[(usize, Infallible)],
        _: &[(usize, PassphraseIdentity)],
    ) -> Result<Vec<Vec<Stanza>>, Vec<recipient::Error>> {
        // Unreachable in practice: add_recipient / add_identity always fail first.
        Err(vec![recipient::Error::Internal {
            message: "age-plugin-passphrase does not wrap file keys".into(),
        }])
    }
}

impl Unwrap for Passphrase {
    fn unwrap(
        identities: &[(usize, PassphraseIdentity)],
        files: Vec<Vec<Stanza>>,
        callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<FileKeys> {
        // A batch without X25519 stanzas never asks for a passphrase.
        Plan::new(identities, &files).run(&mut KeyFiles, callbacks)
    }
}

/// Each identity's key file, unlocked with its passphrase; its X25519 key tried on every
/// X25519 stanza, then dropped (x25519-dalek zeroizes the secret).
struct KeyFiles;

impl Unlock for KeyFiles {
    type Identity = PassphraseIdentity;
    type Stanza = Stanza;
    type Key = age::x25519::Identity;
    // Some clients stop at the first error: say why identities could not be used only if
    // a file stays locked.
    const REPORT: Report = Report::IfLocked;

    fn parse(stanza: &Stanza) -> Result<Option<Stanza>, String> {
        Ok((stanza.tag == X25519_TAG).then(|| Stanza {
            tag: stanza.tag.clone(),
            args: stanza.args.clone(),
            body: stanza.body.clone(),
        }))
    }

    fn same(id: &PassphraseIdentity) -> Vec<u8> {
        id.to_bytes().unwrap_or_default()
    }

    fn matches(_: &PassphraseIdentity, _: &Stanza) -> bool {
        true
    }

    /// Checks the key file first (so nobody types a passphrase for a missing or unsafe
    /// file), then takes the passphrase from the identity's sources, in order. A source
    /// that is absent (no such file, no `$CREDENTIALS_DIRECTORY`, a client that cannot
    /// prompt) falls through to the next; a passphrase that is found is final.
    fn unlock<C: Callbacks<identity::Error>>(
        &mut self,
        id: &PassphraseIdentity,
        callbacks: &mut C,
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

    fn open<C: Callbacks<identity::Error>>(
        &mut self,
        key: &mut age::x25519::Identity,
        _: &PassphraseIdentity,
        _: At,
        stanza: &Stanza,
        _: &mut C,
    ) -> io::Result<Tried> {
        Ok(match key.unwrap_stanza(stanza).and_then(Result::ok) {
            Some(file_key) => Tried::Opened(file_key),
            None => Tried::No,
        })
    }
}

/// The passphrase of `id`'s key file and where it came from.
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
                match kit::request_secret(callbacks, &prompt)? {
                    Ok(p) if p.expose_secret().is_empty() => {
                        return Ok(Err("empty passphrase".into()))
                    }
                    Ok(p) => return Ok(Ok((p, source.describe()))),
                    Err(e) => absent.push(format!("the age client could not prompt for it ({e})")),
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
