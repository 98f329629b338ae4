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

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use age_plugin::{identity, recipient, Callbacks};
use keytap_p256::piv::{self as pivfmt, PivP256Stanza};
use keytap_p256::tag::P256TagStanza;
use keytap_p256::{EcdhFn, P256Point, UnwrapError};
use keytap_plugin_kit::{At, FileKeys, Plan, Plugin, Report, Tried, Unlock, Unwrap, Wrap};
use yubikey::{PinPolicy, TouchPolicy, YubiKey};
use zeroize::Zeroizing;

use crate::card::{self, CardError, SlotInfo};
use crate::stub::Stub;

/// The plugin name (binary `age-plugin-yubikey`).
pub const PLUGIN_NAME: &str = "yubikey";

/// The plugin, for [`keytap_plugin_kit::run`].
pub struct YubikeyPlugin;

impl Plugin for YubikeyPlugin {
    type Identity = Stub;

    fn identity(name: &str, bytes: &[u8]) -> Result<Stub, String> {
        (name == PLUGIN_NAME)
            .then(|| Stub::from_bytes(bytes))
            .flatten()
            .ok_or_else(|| "Invalid YubiKey stub".into())
    }
}

impl Wrap for YubikeyPlugin {
    type Recipient = P256Point;

    fn recipient(name: &str, bytes: &[u8]) -> Result<P256Point, String> {
        (name == PLUGIN_NAME)
            .then(|| pivfmt::SCHEME.recipient_from_bytes(bytes).ok())
            .flatten()
            .ok_or_else(|| "Invalid recipient".into())
    }

    fn wrap(
        file_keys: &[FileKey],
        recipients: &[(usize, P256Point)],
        stubs: &[(usize, Stub)],
    ) -> Result<Vec<Vec<Stanza>>, Vec<recipient::Error>> {
        // Identities: the card gives the public key of the slot.
        let mut keys: Vec<P256Point> = recipients.iter().map(|(_, pk)| *pk).collect();
        let mut errors = Vec::new();
        for (index, stub) in stubs {
            match stub_recipient(stub) {
                Ok(pk) => keys.push(pk),
                Err(message) => errors.push(recipient::Error::Identity {
                    index: *index,
                    message,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut rng = rand::rngs::OsRng;
        Ok(file_keys
            .iter()
            .map(|fk| {
                keys.iter()
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
            .collect())
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

impl Unwrap for YubikeyPlugin {
    fn unwrap(
        stubs: &[(usize, Stub)],
        files: Vec<Vec<Stanza>>,
        callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<FileKeys> {
        // Stubs with something to open, those matching the most stanzas first.
        let plan = Plan::new(stubs, &files).most_stanzas_first();
        let mut cards = Cards::default();
        let result = plan.run(&mut cards, callbacks)?;
        for (_, session) in cards.sessions.drain() {
            if session.dead.is_none() {
                card::leave(session.yubikey);
            } else {
                let _ = session.yubikey.disconnect(pcsc::Disposition::LeaveCard);
            }
        }
        Ok(result)
    }
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

/// The cards of this session, by serial: each opened once, its PIN asked at most once.
#[derive(Default)]
struct Cards {
    sessions: HashMap<u32, Session>,
    /// Cards that could not be opened, and why.
    absent: HashMap<u32, String>,
}

impl Unlock for Cards {
    type Identity = Stub;
    type Stanza = Line;
    /// The card's serial, the slot, and its key.
    type Key = (u32, SlotInfo, P256Point);
    const REPORT: Report = Report::AtOnce;

    fn parse(s: &Stanza) -> Result<Option<Line>, String> {
        match PivP256Stanza::parse(&s.tag, &s.args, &s.body) {
            Ok(Some(p)) => Ok(Some(Line::Piv(p))),
            Ok(None) => P256TagStanza::parse(&s.tag, &s.args, &s.body).map(|o| o.map(Line::Tag)),
            Err(e) => Err(e),
        }
        .map_err(|e| format!("Invalid YubiKey stanza: {e}"))
    }

    fn same(stub: &Stub) -> Vec<u8> {
        stub.to_bytes()
    }

    fn matches(stub: &Stub, line: &Line) -> bool {
        match line {
            Line::Piv(p) => p.matches_key_tag(&stub.tag),
            Line::Tag(t) => pivfmt::p256tag_matches_key_tag(t, &stub.tag),
        }
    }

    fn unlock<C: Callbacks<identity::Error>>(
        &mut self,
        stub: &Stub,
        callbacks: &mut C,
    ) -> io::Result<Result<Self::Key, String>> {
        let serial = stub.serial.0;
        if let Some(message) = self.absent.get(&serial) {
            return Ok(Err(message.clone()));
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.sessions.entry(serial) {
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
                    self.absent.insert(serial, message.clone());
                    return Ok(Err(message));
                }
            }
        }
        let session = self.sessions.get_mut(&serial).expect("opened above");
        if let Some(message) = &session.dead {
            return Ok(Err(message.clone()));
        }

        // The key in the slot must still be the stub's.
        let Some(mut info) = card::read_slot(&mut session.yubikey, stub.slot).filter(|i| {
            i.recipient
                .is_some_and(|pk| pivfmt::key_tag(&pk) == stub.tag)
        }) else {
            return Ok(Err("A YubiKey stub did not match the YubiKey".into()));
        };
        info.complete_policies(&mut session.yubikey);
        let recipient = info.recipient.expect("checked above");

        if let Err(e) = ensure_pin(session, &info, callbacks)? {
            if matches!(e, CardError::Removed(_)) {
                session.dead = Some(e.to_string());
            }
            return Ok(Err(e.to_string()));
        }
        Ok(Ok((serial, info, recipient)))
    }

    fn open<C: Callbacks<identity::Error>>(
        &mut self,
        (serial, info, recipient): &mut Self::Key,
        _: &Stub,
        at: At,
        line: &Line,
        callbacks: &mut C,
    ) -> io::Result<Tried> {
        let session = self.sessions.get_mut(serial).expect("opened by unlock");
        Ok(
            match open_line(session, info, recipient, line, callbacks)? {
                Ok(Some(file_key)) => Tried::Opened(file_key),
                Ok(None) => {
                    // A tag collision or a tampered stanza.
                    callbacks
                        .error(identity::Error::Stanza {
                            file_index: at.file,
                            stanza_index: at.stanza,
                            message: "Failed to decrypt YubiKey stanza".into(),
                        })?
                        .ok();
                    Tried::No
                }
                Err(e) if matches!(e, CardError::Removed(_)) => {
                    session.dead = Some(e.to_string());
                    Tried::Stop(e.to_string())
                }
                Err(e) => {
                    callbacks
                        .error(identity::Error::Identity {
                            index: at.identity,
                            message: e.to_string(),
                        })?
                        .ok();
                    Tried::No
                }
            },
        )
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
