//! The age plugin state machines.
//!
//! recipient-v1 needs no TPM: `age1tpm1...` recipients (and `AGE-PLUGIN-TPM-1...`
//! identities, whose public key is in the clear) are wrapped in software, as `p256tag`
//! stanzas like Foxboron's 1.0 does (`AGE_TPM_STANZA=tpm-ecc` writes its 0.x `tpm-ecc`
//! stanzas instead, which every version of it opens).
//!
//! identity-v1 opens `p256tag` and `tpm-ecc` stanzas whose tag is the identity's, with the
//! ECDH done by the TPM. Stanzas whose tag is not ours never reach the TPM (no PIN is
//! asked for a file that is not for us). The TPM is opened once per session; each identity's
//! SRK is checked and its key loaded once, its PIN asked once (through the client's
//! `request-secret`, or `AGE_TPM_PIN`), then every matching stanza of every file still
//! locked is tried, in order, until one opens: a stanza that does not open (another key
//! with the same 4-byte tag, a damaged stanza) does not stop the search. A wrong PIN stops
//! that identity at once, so a session costs the dictionary-attack counter at most one
//! failure per identity.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::{ExposeSecret, SecretString};
use age_plugin::{
    identity::{self, IdentityPluginV1},
    recipient::{self, RecipientPluginV1},
    Callbacks, PluginHandler,
};
use keytap_p256::tag::P256TagStanza;
use keytap_p256::tpm_ecc::{self, TpmEccStanza};
use keytap_p256::{EcdhFn, P256Point, UnwrapError};
use zeroize::Zeroizing;

use crate::identity::{TpmIdentity, PLUGIN_NAME};
use crate::tpm::{Tpm, TpmError};

/// Appends a line to the debug log: the file named by `AGE_TPM_LOG`, or standard error
/// when `AGEDEBUG` is set (as Foxboron's plugin does). Never secrets: counts, indexes,
/// stanza types.
pub fn log(line: &str) {
    if let Some(path) = std::env::var_os("AGE_TPM_LOG").filter(|p| !p.is_empty()) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "[{}] {line}", std::process::id());
        }
    } else if std::env::var_os("AGEDEBUG").is_some() {
        eprintln!("age-plugin-tpm: {line}");
    }
}

pub struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = RecipientPlugin;
    type IdentityV1 = IdentityPlugin;

    fn recipient_v1(self) -> io::Result<RecipientPlugin> {
        Ok(RecipientPlugin::default())
    }

    fn identity_v1(self) -> io::Result<IdentityPlugin> {
        Ok(IdentityPlugin::default())
    }
}

/// Which stanza recipient-v1 writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StanzaKind {
    P256Tag,
    TpmEcc,
}

fn stanza_kind() -> Result<StanzaKind, String> {
    match std::env::var("AGE_TPM_STANZA").as_deref() {
        Err(_) | Ok("") | Ok("p256tag") => Ok(StanzaKind::P256Tag),
        Ok("tpm-ecc") => Ok(StanzaKind::TpmEcc),
        Ok(other) => Err(format!(
            "AGE_TPM_STANZA={other:?} is not a stanza type this plugin writes (p256tag or tpm-ecc)"
        )),
    }
}

#[derive(Default)]
pub struct RecipientPlugin {
    keys: Vec<P256Point>,
}

impl RecipientPluginV1 for RecipientPlugin {
    fn add_recipient(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        if plugin_name != PLUGIN_NAME {
            return Err(recipient::Error::Recipient {
                index,
                message: format!("age-plugin-tpm does not handle age1{plugin_name}1 recipients"),
            });
        }
        let point =
            tpm_ecc::recipient_from_bytes(bytes).map_err(|e| recipient::Error::Recipient {
                index,
                message: format!("invalid age1tpm1 recipient: {e}"),
            })?;
        self.keys.push(point);
        Ok(())
    }

    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        let id = parse_identity(plugin_name, bytes)
            .map_err(|message| recipient::Error::Identity { index, message })?;
        self.keys.push(id.point);
        Ok(())
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        _callbacks: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        let kind = match stanza_kind() {
            Ok(k) => k,
            Err(message) => return Ok(Err(vec![recipient::Error::Internal { message }])),
        };
        let mut rng = rand::rngs::OsRng;
        let wrapped = file_keys
            .iter()
            .map(|fk| {
                self.keys
                    .iter()
                    .map(|point| match kind {
                        StanzaKind::P256Tag => {
                            let s = P256TagStanza::wrap(point, fk.expose_secret(), &mut rng);
                            Stanza {
                                tag: keytap_p256::tag::STANZA_TYPE.to_string(),
                                args: s.args(),
                                body: s.body.to_vec(),
                            }
                        }
                        StanzaKind::TpmEcc => {
                            let s = TpmEccStanza::wrap(point, fk.expose_secret(), &mut rng);
                            Stanza {
                                tag: tpm_ecc::STANZA_TYPE.to_string(),
                                args: s.args(),
                                body: s.body.to_vec(),
                            }
                        }
                    })
                    .collect()
            })
            .collect();
        log(&format!(
            "recipient-v1: {} file keys wrapped to {} keys as {:?}",
            file_keys.len(),
            self.keys.len(),
            kind
        ));
        Ok(Ok(wrapped))
    }
}

fn parse_identity(plugin_name: &str, bytes: &[u8]) -> Result<TpmIdentity, String> {
    if plugin_name != PLUGIN_NAME {
        return Err(format!(
            "not an AGE-PLUGIN-TPM-1 identity (plugin name {plugin_name})"
        ));
    }
    TpmIdentity::from_bytes(bytes).map_err(|e| format!("invalid AGE-PLUGIN-TPM-1 identity: {e}"))
}

#[derive(Default)]
pub struct IdentityPlugin {
    identities: Vec<(usize, TpmIdentity)>,
}

/// An identity's index, the identity, and the stanzas addressed to it: (file, stanza
/// index, stanza).
type Work<'a> = (usize, &'a TpmIdentity, Vec<(usize, usize, Candidate)>);

/// A stanza addressed (by its tag) to one of the identities.
enum Candidate {
    Tag(P256TagStanza),
    Ecc(TpmEccStanza),
}

impl Candidate {
    fn parse(stanza: &Stanza, key: &P256Point) -> Option<Candidate> {
        if let Ok(Some(s)) = P256TagStanza::parse(&stanza.tag, &stanza.args, &stanza.body) {
            return s.is_addressed_to(key).then_some(Candidate::Tag(s));
        }
        if let Ok(Some(s)) = TpmEccStanza::parse(&stanza.tag, &stanza.args, &stanza.body) {
            return s.is_addressed_to(key).then_some(Candidate::Ecc(s));
        }
        None
    }

    fn kind(&self) -> &'static str {
        match self {
            Candidate::Tag(_) => keytap_p256::tag::STANZA_TYPE,
            Candidate::Ecc(_) => tpm_ecc::STANZA_TYPE,
        }
    }
}

impl IdentityPluginV1 for IdentityPlugin {
    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        let id = parse_identity(plugin_name, bytes)
            .map_err(|message| identity::Error::Identity { index, message })?;
        self.identities.push((index, id));
        Ok(())
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        log(&format!(
            "identity-v1 session: {} identities, {} files",
            self.identities.len(),
            files.len()
        ));
        let mut result: HashMap<usize, Result<FileKey, Vec<identity::Error>>> = HashMap::new();

        // For each identity (the same one given twice counts once), the stanzas addressed
        // to it: (file, stanza index, stanza).
        let mut seen = HashSet::new();
        let mut work: Vec<Work> = Vec::new();
        for (index, id) in &self.identities {
            if !seen.insert(id.raw.to_bytes()) {
                continue;
            }
            let candidates: Vec<_> = files
                .iter()
                .enumerate()
                .flat_map(|(f, stanzas)| {
                    stanzas.iter().enumerate().filter_map(move |(s, stanza)| {
                        Candidate::parse(stanza, &id.point).map(|c| (f, s, c))
                    })
                })
                .collect();
            if !candidates.is_empty() {
                work.push((*index, id, candidates));
            }
        }
        if work.is_empty() {
            log("identity-v1: no stanza is addressed to these identities; the TPM is not used");
            return Ok(result);
        }

        let tpm = match Tpm::open() {
            Ok(t) => t,
            Err(e) => {
                log(&format!("identity-v1: {e}"));
                for (index, _, _) in &work {
                    report(&mut callbacks, *index, e.to_string())?;
                }
                return Ok(result);
            }
        };
        let tpm = RefCell::new(tpm);
        let mut stanza_errors: HashMap<usize, Vec<identity::Error>> = HashMap::new();

        for (index, id, candidates) in work {
            if candidates.iter().all(|(f, _, _)| result.contains_key(f)) {
                continue;
            }
            // The SRK check and the load come before the PIN: an identity of another
            // TPM is refused without asking anything.
            let key = match tpm.borrow_mut().load(id) {
                Ok(k) => k,
                Err(e) => {
                    report(&mut callbacks, index, e.to_string())?;
                    continue;
                }
            };
            let pin = if id.raw.pin {
                match ask_pin(id, &mut callbacks)? {
                    Ok(pin) => pin,
                    Err(message) => {
                        tpm.borrow_mut().unload(key);
                        report(&mut callbacks, index, message)?;
                        continue;
                    }
                }
            } else {
                Zeroizing::new(Vec::new())
            };
            let ecdh = EcdhFn(|peer: &P256Point| tpm.borrow_mut().ecdh(id, key, &pin, peer));
            let mut fatal: Option<TpmError> = None;
            for (file, stanza_index, candidate) in &candidates {
                if result.contains_key(file) {
                    continue;
                }
                let opened = match candidate {
                    Candidate::Tag(s) => s.unwrap(&id.point, &ecdh),
                    Candidate::Ecc(s) => s.unwrap(&id.point, &ecdh),
                };
                match opened {
                    Ok(Some(file_key)) => {
                        log(&format!(
                            "identity-v1: file {file} unwrapped from its {} stanza {stanza_index}",
                            candidate.kind()
                        ));
                        let file_key = FileKey::init_with_mut(|k| k.copy_from_slice(&file_key[..]));
                        result.insert(*file, Ok(file_key));
                    }
                    Ok(None) => log(&format!(
                        "identity-v1: file {file}: {} stanza {stanza_index} has our tag but does not open; trying the next",
                        candidate.kind()
                    )),
                    Err(UnwrapError::InvalidEnc) => {
                        stanza_errors
                            .entry(*file)
                            .or_default()
                            .push(identity::Error::Stanza {
                                file_index: *file,
                                stanza_index: *stanza_index,
                                message: format!(
                                    "the {} stanza's ephemeral key is not a P-256 point",
                                    candidate.kind()
                                ),
                            });
                    }
                    Err(UnwrapError::Ecdh(e)) => {
                        fatal = Some(e);
                        break;
                    }
                }
            }
            tpm.borrow_mut().unload(key);
            if let Some(e) = fatal {
                report(&mut callbacks, index, e.to_string())?;
            }
        }

        for (file, errors) in stanza_errors {
            result.entry(file).or_insert(Err(errors));
        }
        log(&format!(
            "identity-v1 session end: {} of {} files unwrapped",
            result.values().filter(|r| r.is_ok()).count(),
            files.len()
        ));
        Ok(result)
    }
}

/// Sends `error identity` (the client then moves on to its other identities).
fn report(
    callbacks: &mut impl Callbacks<identity::Error>,
    index: usize,
    message: String,
) -> io::Result<()> {
    log(&format!("identity-v1: identity {index}: {message}"));
    // A client that answers `fail` to an error has nothing more to say to us.
    let _ = callbacks.error(identity::Error::Identity { index, message })?;
    Ok(())
}

/// The PIN of `id`'s key: `AGE_TPM_PIN`, else asked through the client.
fn ask_pin(
    id: &TpmIdentity,
    callbacks: &mut impl Callbacks<identity::Error>,
) -> io::Result<Result<Zeroizing<Vec<u8>>, String>> {
    if let Some(pin) = std::env::var_os("AGE_TPM_PIN").filter(|p| !p.is_empty()) {
        use std::os::unix::ffi::OsStrExt;
        return Ok(Ok(Zeroizing::new(pin.as_bytes().to_vec())));
    }
    let prompt = format!(
        "Please enter the PIN for the TPM key {}:",
        id.tag_recipient()
    );
    Ok(match callbacks.request_secret(&prompt)? {
        Ok(secret) => {
            let secret: SecretString = secret;
            Ok(Zeroizing::new(secret.expose_secret().as_bytes().to_vec()))
        }
        Err(e) => Err(format!(
            "the TPM key needs a PIN and the age client could not ask for it ({})",
            match e {
                age_core::plugin::Error::Fail => "it has no way to ask",
                age_core::plugin::Error::Unsupported => "it does not support request-secret",
            }
        )),
    })
}
