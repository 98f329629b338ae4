//! The YubiKey side: finding cards by serial among all PC/SC readers, reading the age
//! identities of the retired slots from their certificates, PIN handling, and the ECDH.

use std::fmt;

use keytap_p256::P256Point;
use x509_cert::der::asn1::ObjectIdentifier;
use yubikey::certificate::Certificate;
use yubikey::piv::{self, AlgorithmId, RetiredSlotId, SlotId};
use yubikey::reader::Context;
use yubikey::{PinPolicy, Serial, TouchPolicy, YubiKey};
use zeroize::Zeroizing;

/// The program whose certificates mark the slots it generated (Organization), as
/// age-plugin-yubikey writes them: both plugins recognise each other's identities.
pub const CERT_ORGANIZATION: &str = "age-plugin-yubikey";

/// The certificate extension holding the PIN and touch policies (Yubico's PIV attestation
/// policy extension), two bytes.
pub const POLICY_EXTENSION_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.8");

const OID_ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// The 20 retired slots, in the UI's order (slot 1 is 0x82).
pub const USABLE_SLOTS: [RetiredSlotId; 20] = [
    RetiredSlotId::R1,
    RetiredSlotId::R2,
    RetiredSlotId::R3,
    RetiredSlotId::R4,
    RetiredSlotId::R5,
    RetiredSlotId::R6,
    RetiredSlotId::R7,
    RetiredSlotId::R8,
    RetiredSlotId::R9,
    RetiredSlotId::R10,
    RetiredSlotId::R11,
    RetiredSlotId::R12,
    RetiredSlotId::R13,
    RetiredSlotId::R14,
    RetiredSlotId::R15,
    RetiredSlotId::R16,
    RetiredSlotId::R17,
    RetiredSlotId::R18,
    RetiredSlotId::R19,
    RetiredSlotId::R20,
];

/// The 1-based slot number shown to users.
pub fn slot_to_ui(slot: RetiredSlotId) -> u8 {
    USABLE_SLOTS
        .iter()
        .position(|s| *s == slot)
        .expect("a retired slot") as u8
        + 1
}

/// The slot of a 1-based slot number.
pub fn ui_to_slot(n: u8) -> Option<RetiredSlotId> {
    (n as usize)
        .checked_sub(1)
        .and_then(|i| USABLE_SLOTS.get(i))
        .copied()
}

/// Why a card could not be used.
#[derive(Debug)]
pub enum CardError {
    /// No reader has a YubiKey with this serial.
    NotFound(Serial),
    /// Several YubiKeys and no --serial.
    Multiple,
    /// No YubiKey at all.
    NoneConnected,
    /// pcscd is not running.
    NoService,
    /// The card went away during the session.
    Removed(Serial),
    /// The wrong PIN was given.
    WrongPin { serial: Serial, tries: u8 },
    /// The PIN is blocked.
    PinBlocked(Serial),
    /// Anything else from the card.
    YubiKey(yubikey::Error),
    /// A message.
    Other(String),
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardError::NotFound(s) => write!(f, "Could not find YubiKey with serial {s} (is it inserted?)"),
            CardError::Multiple => write!(f, "Multiple YubiKeys are plugged in. Use --serial to select a single YubiKey."),
            CardError::NoneConnected => write!(f, "Please insert the YubiKey you want to set up"),
            CardError::NoService => write!(f, "pcscd is not running. If you are on Debian or Ubuntu, you can install it with:\n  sudo apt-get install pcscd"),
            CardError::Removed(s) => write!(f, "YubiKey with serial {s} was removed"),
            CardError::WrongPin { serial, tries } => write!(
                f,
                "Invalid PIN for YubiKey with serial {serial} ({tries} {} remaining before it is blocked)",
                if *tries == 1 { "try" } else { "tries" }
            ),
            CardError::PinBlocked(s) => write!(
                f,
                "PIN locked on YubiKey with serial {s}: unblock it with the PUK \
                 (`ykman piv access unblock-pin`, or `yubico-piv-tool -a unblock-pin`)"
            ),
            CardError::YubiKey(e) => write!(f, "Error while communicating with YubiKey: {e}"),
            CardError::Other(m) => f.write_str(m),
        }
    }
}

fn is_removed(e: &yubikey::Error) -> bool {
    matches!(
        e,
        yubikey::Error::PcscError {
            inner: Some(
                pcsc::Error::RemovedCard
                    | pcsc::Error::ResetCard
                    | pcsc::Error::NoSmartcard
                    | pcsc::Error::ReaderUnavailable
                    | pcsc::Error::UnknownReader
                    | pcsc::Error::UnpoweredCard
                    | pcsc::Error::UnresponsiveCard
                    | pcsc::Error::CommError
                    // Seen when the card goes away while a transaction is open (timing-dependent).
                    | pcsc::Error::NotTransacted
            )
        }
    )
}

fn context() -> Result<Context, CardError> {
    Context::open().map_err(|e| match e {
        yubikey::Error::PcscError {
            inner: Some(pcsc::Error::NoService | pcsc::Error::NoReadersAvailable),
        } => CardError::NoService,
        e => CardError::YubiKey(e),
    })
}

/// Disconnects without resetting the card: its PIN and touch caches stay, as with
/// age-plugin-yubikey, for the next decryption.
pub fn leave(yubikey: YubiKey) {
    let _ = yubikey.disconnect(pcsc::Disposition::LeaveCard);
}

/// Every YubiKey that can be opened, in reader order.
pub fn open_all() -> Result<Vec<YubiKey>, CardError> {
    let mut ctx = context()?;
    let readers = match ctx.iter() {
        Ok(r) => r,
        Err(yubikey::Error::PcscError {
            inner: Some(pcsc::Error::NoReadersAvailable),
        }) => return Ok(vec![]),
        Err(e) => return Err(CardError::YubiKey(e)),
    };
    Ok(readers.filter_map(|r| r.open().ok()).collect())
}

/// The YubiKey with `serial`, or the only one when `serial` is `None`.
pub fn open(serial: Option<Serial>) -> Result<YubiKey, CardError> {
    let mut found = None;
    let mut others = 0;
    for yk in open_all()? {
        let wanted = match serial {
            Some(s) => yk.serial() == s,
            None => true,
        };
        if wanted && found.is_none() {
            found = Some(yk);
        } else {
            if wanted {
                others += 1;
            }
            leave(yk);
        }
    }
    match (found, serial) {
        (Some(yk), None) if others > 0 => {
            leave(yk);
            Err(CardError::Multiple)
        }
        (Some(yk), _) => Ok(yk),
        (None, Some(s)) => Err(CardError::NotFound(s)),
        (None, None) => Err(CardError::NoneConnected),
    }
}

/// What the certificate of a slot says.
pub struct SlotInfo {
    /// The slot.
    pub slot: RetiredSlotId,
    /// Its public key, when it is a P-256 key usable by age.
    pub recipient: Option<P256Point>,
    /// Whether one of the two plugins made it (Organization `age-plugin-yubikey`).
    pub ours: bool,
    /// Common Name (ours) or the whole subject (others).
    pub name: String,
    /// The certificate's notBefore, RFC 2822.
    pub created: String,
    /// PIN policy from the certificate's policy extension.
    pub pin_policy: Option<PinPolicy>,
    /// Touch policy from the certificate's policy extension.
    pub touch_policy: Option<TouchPolicy>,
}

fn attr(cert: &Certificate, oid: ObjectIdentifier) -> Option<String> {
    cert.cert
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == oid)
        .and_then(|atv| {
            std::str::from_utf8(atv.value.value())
                .ok()
                .map(str::to_owned)
        })
}

/// The P-256 key of a certificate (an uncompressed point with id-ecPublicKey/prime256v1),
/// unless it has a critical extension we do not know (it might mean the key is to be used
/// in another way).
pub fn recipient_of(cert: &Certificate) -> Option<P256Point> {
    let tbs = &cert.cert.tbs_certificate;
    if tbs
        .extensions
        .iter()
        .flatten()
        .any(|e| e.critical && e.extn_id != POLICY_EXTENSION_OID)
    {
        return None;
    }
    let spki = &tbs.subject_public_key_info;
    if spki.algorithm.oid != OID_EC_PUBLIC_KEY {
        return None;
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()?
        .decode_as::<ObjectIdentifier>()
        .ok()?;
    if curve != OID_PRIME256V1 {
        return None;
    }
    P256Point::from_uncompressed(spki.subject_public_key.raw_bytes()).ok()
}

fn policies(cert: &Certificate) -> (Option<PinPolicy>, Option<TouchPolicy>) {
    let mut found = cert
        .cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == POLICY_EXTENSION_OID);
    let (Some(ext), None) = (found.next(), found.next()) else {
        return (None, None);
    };
    let v = ext.extn_value.as_bytes();
    if v.len() < 2 {
        return (None, None);
    }
    (
        policy_from_byte(&PIN_POLICIES, v[0]),
        policy_from_byte(&TOUCH_POLICIES, v[1]),
    )
}

/// A slot policy (PIN or touch) as age-plugin-yubikey names, encodes and describes it.
pub struct Policy<T> {
    /// The policy.
    pub value: T,
    /// Its name on the command line.
    pub name: &'static str,
    /// Its byte in PIV (and in the certificate's policy extension).
    pub byte: u8,
    /// What `--identity` and `--list` say about it.
    pub text: &'static str,
}

/// The PIN policies, in the order the command line lists them.
pub const PIN_POLICIES: [Policy<PinPolicy>; 3] = [
    Policy {
        value: PinPolicy::Always,
        name: "always",
        byte: 3,
        text: "Always (A PIN is required for every decryption, if set)",
    },
    Policy {
        value: PinPolicy::Once,
        name: "once",
        byte: 2,
        text: "Once   (A PIN is required once per session, if set)",
    },
    Policy {
        value: PinPolicy::Never,
        name: "never",
        byte: 1,
        text: "Never  (A PIN is NOT required to decrypt)",
    },
];

/// The touch policies, in the order the command line lists them.
pub const TOUCH_POLICIES: [Policy<TouchPolicy>; 3] = [
    Policy {
        value: TouchPolicy::Always,
        name: "always",
        byte: 2,
        text: "Always (A physical touch is required for every decryption)",
    },
    Policy {
        value: TouchPolicy::Cached,
        name: "cached",
        byte: 3,
        text: "Cached (A physical touch is required for decryption, and is cached for 15 seconds)",
    },
    Policy {
        value: TouchPolicy::Never,
        name: "never",
        byte: 1,
        text: "Never  (A physical touch is NOT required to decrypt)",
    },
];

/// The policy with PIV byte `b`.
pub fn policy_from_byte<T: Copy>(table: &[Policy<T>], b: u8) -> Option<T> {
    table.iter().find(|p| p.byte == b).map(|p| p.value)
}

/// The PIV byte of `value` (0: the card's default).
pub fn policy_byte<T: PartialEq>(table: &[Policy<T>], value: T) -> u8 {
    table
        .iter()
        .find(|p| p.value == value)
        .map_or(0, |p| p.byte)
}

/// What to say about a slot's policy.
pub fn policy_text<T: PartialEq>(table: &[Policy<T>], value: Option<T>) -> &'static str {
    table
        .iter()
        .find(|p| Some(&p.value) == value.as_ref())
        .map_or("Unknown", |p| p.text)
}

/// The policy named `name` on the command line; `what` names the flag in the error.
pub fn parse_policy<T: Copy>(table: &[Policy<T>], what: &str, name: &str) -> Result<T, String> {
    table
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|p| p.name).collect();
            format!("Invalid {what} '{name}' (expected [{}]).", names.join(", "))
        })
}

fn rfc2822(t: &x509_cert::time::Time) -> String {
    let secs = t.to_unix_duration().as_secs() as i64;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc2822)
                .ok()
        })
        .unwrap_or_else(|| "Invalid date".into())
}

impl SlotInfo {
    /// Reads what a certificate says.
    pub fn from_cert(slot: RetiredSlotId, cert: Certificate) -> SlotInfo {
        let ours = attr(&cert, OID_ORGANIZATION).as_deref() == Some(CERT_ORGANIZATION);
        let name = if ours {
            attr(&cert, OID_COMMON_NAME).unwrap_or_default()
        } else {
            cert.subject()
        };
        let (pin_policy, touch_policy) = if ours { policies(&cert) } else { (None, None) };
        SlotInfo {
            slot,
            recipient: recipient_of(&cert),
            created: rfc2822(&cert.cert.tbs_certificate.validity.not_before),
            ours,
            name,
            pin_policy,
            touch_policy,
        }
    }

    /// Fills in unknown policies from the card's metadata (firmware 5.3+).
    pub fn complete_policies(&mut self, yubikey: &mut YubiKey) {
        if self.pin_policy.is_some() && self.touch_policy.is_some() {
            return;
        }
        if let Ok(meta) = piv::metadata(yubikey, SlotId::Retired(self.slot)) {
            if let Some((pin, touch)) = meta.policy {
                self.pin_policy.get_or_insert(pin);
                self.touch_policy.get_or_insert(touch);
            }
        }
    }
}

/// The retired slots holding a certificate.
pub fn list_slots(yubikey: &mut YubiKey) -> Result<Vec<SlotInfo>, CardError> {
    let keys = piv::Key::list(yubikey).map_err(CardError::YubiKey)?;
    Ok(keys
        .into_iter()
        .filter_map(|k| match k.slot() {
            SlotId::Retired(slot) => Some(SlotInfo::from_cert(slot, k.certificate().clone())),
            _ => None,
        })
        .collect())
}

/// The certificate in one slot.
pub fn read_slot(yubikey: &mut YubiKey, slot: RetiredSlotId) -> Option<SlotInfo> {
    Certificate::read(yubikey, SlotId::Retired(slot))
        .ok()
        .map(|c| SlotInfo::from_cert(slot, c))
}

/// How many PIN tries are left, or `None` if the PIN is already verified in this card
/// session (without using up a try).
pub fn pin_status(yubikey: &mut YubiKey) -> Result<Option<u8>, CardError> {
    let serial = yubikey.serial();
    match yubikey.verify_pin(&[]) {
        Ok(()) => Ok(None),
        Err(yubikey::Error::WrongPin { tries }) => Ok(Some(tries)),
        Err(yubikey::Error::PinLocked) => Ok(Some(0)),
        Err(e) if is_removed(&e) => Err(CardError::Removed(serial)),
        Err(e) => Err(CardError::YubiKey(e)),
    }
}

/// Verifies the PIN.
pub fn verify_pin(yubikey: &mut YubiKey, pin: &[u8]) -> Result<(), CardError> {
    let serial = yubikey.serial();
    if !(6..=8).contains(&pin.len()) {
        return Err(CardError::Other(format!(
            "The PIN of YubiKey with serial {serial} must be 6 to 8 characters long"
        )));
    }
    match yubikey.verify_pin(pin) {
        Ok(()) => Ok(()),
        Err(yubikey::Error::WrongPin { tries: 0 }) | Err(yubikey::Error::PinLocked) => {
            Err(CardError::PinBlocked(serial))
        }
        Err(yubikey::Error::WrongPin { tries }) => Err(CardError::WrongPin { serial, tries }),
        Err(e) if is_removed(&e) => Err(CardError::Removed(serial)),
        Err(e) => Err(CardError::YubiKey(e)),
    }
}

/// The ECDH of the slot's key with `peer` (the x-coordinate).
pub fn ecdh(
    yubikey: &mut YubiKey,
    slot: RetiredSlotId,
    peer: &P256Point,
) -> Result<Zeroizing<[u8; 32]>, CardError> {
    let serial = yubikey.serial();
    let out = piv::decrypt_data(
        yubikey,
        &peer.to_uncompressed(),
        AlgorithmId::EccP256,
        SlotId::Retired(slot),
    )
    .map_err(|e| {
        if is_removed(&e) {
            CardError::Removed(serial)
        } else if matches!(e, yubikey::Error::AuthenticationError) {
            CardError::Other(format!(
                "YubiKey with serial {serial} refused the decryption: the PIN is not verified"
            ))
        } else {
            CardError::YubiKey(e)
        }
    })?;
    let bytes: &[u8] = &out;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| {
        CardError::Other(format!(
            "YubiKey returned {} bytes for an ECDH",
            bytes.len()
        ))
    })?;
    Ok(Zeroizing::new(arr))
}
