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
use std::io;

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use age_plugin::{identity, recipient, Callbacks};
use keytap_p256::tag::P256TagStanza;
use keytap_p256::tpm_ecc::{self, TpmEccStanza};
use keytap_p256::{EcdhFn, P256Point, UnwrapError};
use keytap_plugin_kit::{
    self as kit, At, FileKeys, Plan, Plugin, Report, Tried, Unlock, Unwrap, Wrap,
};
use tss_esapi::handles::KeyHandle;
use zeroize::Zeroizing;

use crate::identity::{TpmIdentity, PLUGIN_NAME};
use crate::tpm::Tpm;

/// Appends a line to the debug log: the file named by `AGE_TPM_LOG`, or standard error
/// when `AGEDEBUG` is set (as Foxboron's plugin does). Never secrets: counts, indexes,
/// stanza types.
pub fn log(line: &str) {
    if let Some(path) = std::env::var_os("AGE_TPM_LOG").filter(|p| !p.is_empty()) {
        kit::append_line(path, &format!("[{}] {line}", std::process::id()));
    } else if std::env::var_os("AGEDEBUG").is_some() {
        eprintln!("age-plugin-tpm: {line}");
    }
}

/// The plugin, for [`kit::run`].
pub struct TpmPlugin;

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

impl Plugin for TpmPlugin {
    type Identity = TpmIdentity;

    fn identity(name: &str, bytes: &[u8]) -> Result<TpmIdentity, String> {
        kit::check_identity_name(name, PLUGIN_NAME, "AGE-PLUGIN-TPM-1")?;
        TpmIdentity::from_bytes(bytes)
            .map_err(|e| format!("invalid AGE-PLUGIN-TPM-1 identity: {e}"))
    }
}

impl Wrap for TpmPlugin {
    type Recipient = P256Point;

    fn recipient(name: &str, bytes: &[u8]) -> Result<P256Point, String> {
        if name != PLUGIN_NAME {
            return Err(format!(
                "age-plugin-tpm does not handle age1{name}1 recipients"
            ));
        }
        tpm_ecc::SCHEME
            .recipient_from_bytes(bytes)
            .map_err(|e| format!("invalid age1tpm1 recipient: {e}"))
    }

    fn wrap(
        file_keys: &[FileKey],
        recipients: &[(usize, P256Point)],
        identities: &[(usize, TpmIdentity)],
    ) -> Result<Vec<Vec<Stanza>>, Vec<recipient::Error>> {
        let kind = stanza_kind().map_err(|message| vec![recipient::Error::Internal { message }])?;
        let keys: Vec<&P256Point> = recipients
            .iter()
            .map(|(_, point)| point)
            .chain(identities.iter().map(|(_, id)| &id.point))
            .collect();
        let mut rng = rand::rngs::OsRng;
        let wrapped = file_keys
            .iter()
            .map(|fk| {
                keys.iter()
                    .map(|point| {
                        let (tag, args, body) = match kind {
                            StanzaKind::P256Tag => {
                                let s = P256TagStanza::wrap(point, fk.expose_secret(), &mut rng);
                                (keytap_p256::tag::STANZA_TYPE, s.args(), s.body)
                            }
                            StanzaKind::TpmEcc => {
                                let s = TpmEccStanza::wrap(point, fk.expose_secret(), &mut rng);
                                (tpm_ecc::STANZA_TYPE, s.args(), s.body)
                            }
                        };
                        Stanza {
                            tag: tag.to_string(),
                            args,
                            body: body.to_vec(),
                        }
                    })
                    .collect()
            })
            .collect();
        log(&format!(
            "recipient-v1: {} file keys wrapped to {} keys as {:?}",
            file_keys.len(),
            keys.len(),
            kind
        ));
        Ok(wrapped)
    }
}

impl Unwrap for TpmPlugin {
    fn unwrap(
        identities: &[(usize, TpmIdentity)],
        files: Vec<Vec<Stanza>>,
        callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<FileKeys> {
        log(&format!(
            "identity-v1 session: {} identities, {} files",
            identities.len(),
            files.len()
        ));
        let plan = Plan::new(identities, &files);
        if plan.is_idle() {
            log("identity-v1: no stanza is addressed to these identities; the TPM is not used");
            return Ok(FileKeys::new());
        }
        let mut session = Session { tpm: None };
        let result = plan.run(&mut session, callbacks)?;
        if let Some(Err(_)) = session.tpm {
            return Ok(result);
        }
        log(&format!(
            "identity-v1 session end: {} of {} files unwrapped",
            result.values().filter(|r| r.is_ok()).count(),
            files.len()
        ));
        Ok(result)
    }
}

/// A stanza addressed (by its tag) to one of the identities.
enum Candidate {
    Tag(P256TagStanza),
    Ecc(TpmEccStanza),
}

impl Candidate {
    fn kind(&self) -> &'static str {
        match self {
            Candidate::Tag(_) => keytap_p256::tag::STANZA_TYPE,
            Candidate::Ecc(_) => tpm_ecc::STANZA_TYPE,
        }
    }
}

/// The TPM, opened for the session when the first identity needs it. Each identity's SRK
/// is checked and its key loaded before its PIN is asked (an identity of another TPM is
/// refused without asking anything), and a wrong PIN stops that identity at once.
struct Session {
    tpm: Option<Result<Tpm, String>>,
}

impl Session {
    fn tpm(&mut self) -> Result<&mut Tpm, String> {
        let tpm = self.tpm.get_or_insert_with(|| {
            Tpm::open().map_err(|e| {
                log(&format!("identity-v1: {e}"));
                e.to_string()
            })
        });
        tpm.as_mut().map_err(|e| e.clone())
    }
}

impl Unlock for Session {
    type Identity = TpmIdentity;
    type Stanza = Candidate;
    type Key = (KeyHandle, Zeroizing<Vec<u8>>);
    const REPORT: Report = Report::AtOnce;

    fn parse(stanza: &Stanza) -> Result<Option<Candidate>, String> {
        // A malformed stanza of our types is not ours.
        if let Ok(Some(s)) = P256TagStanza::parse(&stanza.tag, &stanza.args, &stanza.body) {
            return Ok(Some(Candidate::Tag(s)));
        }
        let ecc = TpmEccStanza::parse(&stanza.tag, &stanza.args, &stanza.body);
        Ok(ecc.ok().flatten().map(Candidate::Ecc))
    }

    fn same(id: &TpmIdentity) -> Vec<u8> {
        id.raw.to_bytes()
    }

    fn matches(id: &TpmIdentity, candidate: &Candidate) -> bool {
        match candidate {
            Candidate::Tag(s) => s.is_addressed_to(&id.point),
            Candidate::Ecc(s) => s.is_addressed_to(&id.point),
        }
    }

    fn unlock<C: Callbacks<identity::Error>>(
        &mut self,
        id: &TpmIdentity,
        callbacks: &mut C,
    ) -> io::Result<Result<Self::Key, String>> {
        let tpm = match self.tpm() {
            Ok(tpm) => tpm,
            Err(message) => return Ok(Err(message)),
        };
        let key = match tpm.load(id) {
            Ok(k) => k,
            Err(e) => return Ok(Err(e.to_string())),
        };
        if !id.raw.pin {
            return Ok(Ok((key, Zeroizing::new(Vec::new()))));
        }
        Ok(match ask_pin(id, callbacks)? {
            Ok(pin) => Ok((key, pin)),
            Err(message) => {
                tpm.unload(key);
                Err(message)
            }
        })
    }

    fn open<C: Callbacks<identity::Error>>(
        &mut self,
        (key, pin): &mut Self::Key,
        id: &TpmIdentity,
        at: At,
        candidate: &Candidate,
        _: &mut C,
    ) -> io::Result<Tried> {
        let tpm = RefCell::new(self.tpm().expect("opened by unlock"));
        let ecdh = EcdhFn(|peer: &P256Point| tpm.borrow_mut().ecdh(id, *key, pin, peer));
        let opened = match candidate {
            Candidate::Tag(s) => s.unwrap(&id.point, &ecdh),
            Candidate::Ecc(s) => s.unwrap(&id.point, &ecdh),
        };
        let (file, stanza, kind) = (at.file, at.stanza, candidate.kind());
        Ok(match opened {
            Ok(Some(file_key)) => {
                log(&format!(
                    "identity-v1: file {file} unwrapped from its {kind} stanza {stanza}"
                ));
                Tried::Opened(FileKey::init_with_mut(|k| k.copy_from_slice(&file_key[..])))
            }
            Ok(None) => {
                log(&format!(
                    "identity-v1: file {file}: {kind} stanza {stanza} has our tag but does not open; trying the next"
                ));
                Tried::No
            }
            Err(UnwrapError::InvalidEnc) => Tried::Bad(format!(
                "the {kind} stanza's ephemeral key is not a P-256 point"
            )),
            Err(UnwrapError::Ecdh(e)) => Tried::Stop(e.to_string()),
        })
    }

    fn lock(&mut self, (key, _pin): Self::Key) {
        if let Ok(tpm) = self.tpm() {
            tpm.unload(key);
        }
    }

    fn reporting(&mut self, index: usize, message: &str) {
        log(&format!("identity-v1: identity {index}: {message}"));
    }
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
    Ok(match kit::request_secret(callbacks, &prompt)? {
        Ok(secret) => Ok(Zeroizing::new(secret.expose_secret().as_bytes().to_vec())),
        Err(e) => Err(format!(
            "the TPM key needs a PIN and the age client could not ask for it ({e})"
        )),
    })
}
