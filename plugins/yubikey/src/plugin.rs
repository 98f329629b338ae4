//! The age plugin state machines.
//!
//! recipient-v1: `age1yubikey1...` recipients (and identities, whose card is asked for the
//! public key) get `piv-p256` stanzas.
//!
//! identity-v1: for every identity stub, the `piv-p256` stanzas whose tag is the stub's, and
//! the age 1.3 `p256tag` stanzas whose tag was made with the stub's key hash, are opened on
//! the card with that serial. Each card is opened once per session and its PIN asked at
//! most once (then cached for the session; the card keeps it verified for PIN policy
//! "once"). A card that is absent, removed, or whose PIN is wrong or blocked is reported as
//! an error of the identities on it, so the client can go on with other identities.

use std::collections::{HashMap, HashSet};
use std::io;
use std::time::{Duration, Instant};

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use age_plugin::{
    identity::{self, IdentityPluginV1},
    recipient::{self, RecipientPluginV1},
    Callbacks, PluginHandler,
};
use keytap_p256::piv::{self as pivfmt, PivP256Stanza};
use keytap_p256::tag::P256TagStanza;
use keytap_p256::{EcdhFn, P256Point, UnwrapError};
use yubikey::{PinPolicy, TouchPolicy, YubiKey};
use zeroize::Zeroizing;

use crate::card::{self, CardError, SlotInfo};
use crate::stub::Stub;

/// The plugin name (binary `age-plugin-yubikey`).
pub const PLUGIN_NAME: &str = "yubikey";

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

#[derive(Default)]
pub struct RecipientPlugin {
    recipients: Vec<P256Point>,
    stubs: Vec<(usize, Stub)>,
}

impl RecipientPluginV1 for RecipientPlugin {
    fn add_recipient(
        &mut self,
        index: usize,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        match (name == PLUGIN_NAME)
            .then(|| pivfmt::recipient_from_bytes(bytes).ok())
            .flatten()
        {
            Some(pk) => {
                self.recipients.push(pk);
                Ok(())
            }
            None => Err(recipient::Error::Recipient {
                index,
                message: "Invalid recipient".into(),
            }),
        }
    }

    fn add_identity(
        &mut self,
        index: usize,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        match (name == PLUGIN_NAME)
            .then(|| Stub::from_bytes(bytes))
            .flatten()
        {
            Some(stub) => {
                self.stubs.push((index, stub));
                Ok(())
            }
            None => Err(recipient::Error::Identity {
                index,
                message: "Invalid YubiKey stub".into(),
            }),
        }
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        _callbacks: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        // Identities: the card gives the public key of the slot.
        let mut recipients = self.recipients.clone();
        let mut errors = Vec::new();
        for (index, stub) in &self.stubs {
            match stub_recipient(stub) {
                Ok(pk) => recipients.push(pk),
                Err(message) => errors.push(recipient::Error::Identity {
                    index: *index,
                    message,
                }),
            }
        }
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let mut rng = rand::rngs::OsRng;
        Ok(Ok(file_keys
            .iter()
            .map(|fk| {
                recipients
                    .iter()
                    .map(|pk| {
                        let s = PivP256Stanza::wrap(pk, fk.expose_secret(), &mut rng);
                        Stanza {
                            tag: pivfmt::STANZA_TYPE.to_owned(),
                            args: s.args(),
                            body: s.body.to_vec(),
                        }
                    })
                    .collect()
            })
            .collect()))
    }
}

fn stub_recipient(stub: &Stub) -> Result<P256Point, String> {
    let mut yk = card::open(Some(stub.serial)).map_err(|e| e.to_string())?;
    let found = card::read_slot(&mut yk, stub.slot).and_then(|info| info.recipient);
    card::leave(yk);
    found
        .filter(|pk| pivfmt::key_tag(pk) == stub.tag)
        .ok_or_else(|| "A YubiKey stub did not match the YubiKey".into())
}

#[derive(Default)]
pub struct IdentityPlugin {
    stubs: Vec<(usize, Stub)>,
}

/// A stanza this plugin can open.
enum Line {
    Piv(PivP256Stanza),
    Tag(P256TagStanza),
}

/// A card opened in this session.
struct Session {
    yubikey: YubiKey,
    /// The PIN given in this session (kept for PIN policy "always").
    pin: Option<Zeroizing<String>>,
    /// Set when the card failed (removed...): no more tries in this session.
    dead: Option<String>,
    last_touch: Option<Instant>,
}

impl IdentityPluginV1 for IdentityPlugin {
    fn add_identity(
        &mut self,
        index: usize,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        match (name == PLUGIN_NAME)
            .then(|| Stub::from_bytes(bytes))
            .flatten()
        {
            Some(stub) => {
                self.stubs.push((index, stub));
                Ok(())
            }
            None => Err(identity::Error::Identity {
                index,
                message: "Invalid YubiKey stub".into(),
            }),
        }
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut result: HashMap<usize, Result<FileKey, Vec<identity::Error>>> = HashMap::new();

        // Parse the stanzas of our types; a malformed one makes its file an error.
        let mut lines: Vec<Vec<(usize, Line)>> = Vec::with_capacity(files.len());
        for (file, stanzas) in files.iter().enumerate() {
            let mut mine = Vec::new();
            let mut errors = Vec::new();
            for (stanza_index, s) in stanzas.iter().enumerate() {
                let parsed = match PivP256Stanza::parse(&s.tag, &s.args, &s.body) {
                    Ok(Some(p)) => Ok(Some(Line::Piv(p))),
                    Ok(None) => {
                        P256TagStanza::parse(&s.tag, &s.args, &s.body).map(|o| o.map(Line::Tag))
                    }
                    Err(e) => Err(e),
                };
                match parsed {
                    Ok(Some(line)) => mine.push((stanza_index, line)),
                    Ok(None) => {}
                    Err(e) => errors.push(identity::Error::Stanza {
                        file_index: file,
                        stanza_index,
                        message: format!("Invalid YubiKey stanza: {e}"),
                    }),
                }
            }
            if !errors.is_empty() {
                result.insert(file, Err(errors));
                mine.clear();
            }
            lines.push(mine);
        }

        let matches = |stub: &Stub, line: &Line| match line {
            Line::Piv(p) => p.matches_key_tag(&stub.tag),
            Line::Tag(t) => pivfmt::p256tag_matches_key_tag(t, &stub.tag),
        };

        // Stubs with something to open, those matching the most stanzas first.
        let mut order: Vec<(usize, usize)> = self
            .stubs
            .iter()
            .enumerate()
            .map(|(k, (_, stub))| {
                let n = lines
                    .iter()
                    .flatten()
                    .filter(|(_, l)| matches(stub, l))
                    .count();
                (k, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        order.sort_by_key(|(_, n)| std::cmp::Reverse(*n));

        let mut sessions: HashMap<u32, Session> = HashMap::new();
        let mut absent: HashMap<u32, String> = HashMap::new();
        let mut tried: HashSet<Vec<u8>> = HashSet::new();

        for (k, _) in order {
            let (index, stub) = &self.stubs[k];
            if !tried.insert(stub.to_bytes()) {
                continue;
            }
            let pending: Vec<usize> = (0..files.len())
                .filter(|f| {
                    !result.contains_key(f) && lines[*f].iter().any(|(_, l)| matches(stub, l))
                })
                .collect();
            if pending.is_empty() {
                continue;
            }
            let id_error = |message: String| identity::Error::Identity {
                index: *index,
                message,
            };
            let serial = stub.serial.0;
            if let Some(message) = absent.get(&serial) {
                callbacks.error(id_error(message.clone()))?.ok();
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = sessions.entry(serial) {
                match card::open(Some(stub.serial)) {
                    Ok(yubikey) => {
                        slot.insert(Session {
                            yubikey,
                            pin: None,
                            dead: None,
                            last_touch: None,
                        });
                    }
                    Err(e) => {
                        let message = e.to_string();
                        absent.insert(serial, message.clone());
                        callbacks.error(id_error(message))?.ok();
                        continue;
                    }
                }
            }
            let session = sessions.get_mut(&serial).expect("opened above");
            if let Some(message) = &session.dead {
                callbacks.error(id_error(message.clone()))?.ok();
                continue;
            }

            // The key in the slot must still be the stub's.
            let Some(mut info) = card::read_slot(&mut session.yubikey, stub.slot).filter(|i| {
                i.recipient
                    .is_some_and(|pk| pivfmt::key_tag(&pk) == stub.tag)
            }) else {
                callbacks
                    .error(id_error("A YubiKey stub did not match the YubiKey".into()))?
                    .ok();
                continue;
            };
            info.complete_policies(&mut session.yubikey);
            let recipient = info.recipient.expect("checked above");

            if let Err(e) = ensure_pin(session, &info, &mut callbacks)? {
                if matches!(e, CardError::Removed(_)) {
                    session.dead = Some(e.to_string());
                }
                callbacks.error(id_error(e.to_string()))?.ok();
                continue;
            }

            'files: for file in pending {
                for (stanza_index, line) in &lines[file] {
                    if !matches(stub, line) {
                        continue;
                    }
                    match open_line(session, &info, &recipient, line, &mut callbacks)? {
                        Ok(Some(file_key)) => {
                            result.insert(file, Ok(file_key));
                            continue 'files;
                        }
                        Ok(None) => {
                            // A tag collision or a tampered stanza.
                            callbacks
                                .error(identity::Error::Stanza {
                                    file_index: file,
                                    stanza_index: *stanza_index,
                                    message: "Failed to decrypt YubiKey stanza".into(),
                                })?
                                .ok();
                        }
                        Err(e) => {
                            let removed = matches!(e, CardError::Removed(_));
                            callbacks.error(id_error(e.to_string()))?.ok();
                            if removed {
                                session.dead = Some(e.to_string());
                                break 'files;
                            }
                        }
                    }
                }
            }
        }

        for (_, session) in sessions.drain() {
            if session.dead.is_none() {
                card::leave(session.yubikey);
            } else {
                let _ = session.yubikey.disconnect(pcsc::Disposition::LeaveCard);
            }
        }
        Ok(result)
    }
}

/// Makes sure the slot's key can be used: asks the PIN (once per session) unless the PIN
/// policy is "never" or the card has it verified already.
fn ensure_pin(
    session: &mut Session,
    info: &SlotInfo,
    callbacks: &mut impl Callbacks<identity::Error>,
) -> io::Result<Result<(), CardError>> {
    if info.pin_policy == Some(PinPolicy::Never) {
        return Ok(Ok(()));
    }
    let serial = session.yubikey.serial();
    let tries = match card::pin_status(&mut session.yubikey) {
        Ok(None) if info.pin_policy != Some(PinPolicy::Always) => return Ok(Ok(())),
        Ok(None) => None,
        Ok(Some(0)) => return Ok(Err(CardError::PinBlocked(serial))),
        Ok(Some(t)) => Some(t),
        Err(e) => return Ok(Err(e)),
    };
    if session.pin.is_none() {
        let prompt = match tries {
            Some(t) if t < 3 => format!(
                "Enter PIN for YubiKey with serial {serial} ({t} {} left)",
                if t == 1 { "try" } else { "tries" }
            ),
            _ => format!("Enter PIN for YubiKey with serial {serial}"),
        };
        match callbacks.request_secret(&prompt)? {
            Ok(pin) => session.pin = Some(Zeroizing::new(pin.expose_secret().to_owned())),
            Err(_) => {
                return Ok(Err(CardError::Other(format!(
                    "A PIN is required for YubiKey with serial {serial}"
                ))))
            }
        }
    }
    let pin = session.pin.clone().expect("set above");
    let r = card::verify_pin(&mut session.yubikey, pin.as_bytes());
    if r.is_err() {
        // Never retry a rejected PIN: every try counts against the card's retry counter.
        session.pin = None;
        session.dead = r.as_ref().err().map(|e| e.to_string());
    }
    Ok(r)
}

fn open_line(
    session: &mut Session,
    info: &SlotInfo,
    recipient: &P256Point,
    line: &Line,
    callbacks: &mut impl Callbacks<identity::Error>,
) -> io::Result<Result<Option<FileKey>, CardError>> {
    let serial = session.yubikey.serial();
    // PIN policy "always": the PIN goes right before every private-key operation.
    if info.pin_policy == Some(PinPolicy::Always) {
        if let Some(pin) = session.pin.clone() {
            if let Err(e) = card::verify_pin(&mut session.yubikey, pin.as_bytes()) {
                return Ok(Err(e));
            }
        }
    }
    let needs_touch = match (info.touch_policy, session.last_touch) {
        (Some(TouchPolicy::Always), _) | (Some(TouchPolicy::Cached), None) => true,
        (Some(TouchPolicy::Cached), Some(t)) => t.elapsed() >= Duration::from_secs(15),
        _ => false,
    };
    if needs_touch {
        // The client shows it while the card waits for the touch.
        let _ = callbacks.message(&format!("Touch your YubiKey with serial {serial}"))?;
    }
    let slot = info.slot;
    let opened = {
        let yk = std::cell::RefCell::new(&mut session.yubikey);
        let device = EcdhFn(|peer: &P256Point| card::ecdh(&mut yk.borrow_mut(), slot, peer));
        match line {
            Line::Piv(p) => p.unwrap(recipient, &device),
            Line::Tag(t) => t.unwrap(recipient, &device),
        }
    };
    if needs_touch {
        session.last_touch = Some(Instant::now());
    }
    Ok(match opened {
        Ok(Some(fk)) => Ok(Some(FileKey::new(Box::new(*fk)))),
        Ok(None) => Ok(None),
        Err(UnwrapError::InvalidEnc) => Ok(None),
        Err(UnwrapError::Ecdh(e)) => Err(e),
    })
}
