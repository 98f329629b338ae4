//! The identity stub `AGE-PLUGIN-YUBIKEY-1...`: which card (serial), which slot, and the
//! key's tag, as age-plugin-yubikey encodes it (9 bytes: serial u32 little-endian, slot id,
//! `SHA-256(compressed public key)[:4]`). The key itself never leaves the card.

use keytap_p256::bech32::{self, Case};
use keytap_p256::{piv, P256Point, TAG_LEN};
use yubikey::piv::RetiredSlotId;
use yubikey::Serial;

/// The identity's Bech32 human-readable part.
pub const IDENTITY_HRP: &str = "AGE-PLUGIN-YUBIKEY-";

/// A reference to a key in a YubiKey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stub {
    /// The card's serial.
    pub serial: Serial,
    /// The slot.
    pub slot: RetiredSlotId,
    /// The key's tag.
    pub tag: [u8; TAG_LEN],
}

impl Stub {
    /// The stub of `recipient` in `slot` of card `serial`.
    pub fn new(serial: Serial, slot: RetiredSlotId, recipient: &P256Point) -> Stub {
        Stub {
            serial,
            slot,
            tag: piv::key_tag(recipient),
        }
    }

    /// Parses the plugin payload (what follows the HRP). Extra trailing bytes are ignored,
    /// as age-plugin-yubikey does.
    pub fn from_bytes(bytes: &[u8]) -> Option<Stub> {
        if bytes.len() < 9 {
            return None;
        }
        let serial = Serial::from(u32::from_le_bytes(bytes[0..4].try_into().ok()?));
        let slot = RetiredSlotId::try_from(bytes[4]).ok()?;
        Some(Stub {
            serial,
            slot,
            tag: bytes[5..9].try_into().ok()?,
        })
    }

    /// The 9-byte payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9);
        out.extend_from_slice(&self.serial.0.to_le_bytes());
        out.push(self.slot.into());
        out.extend_from_slice(&self.tag);
        out
    }

    /// `AGE-PLUGIN-YUBIKEY-1...`.
    pub fn encode(&self) -> String {
        bech32::encode(IDENTITY_HRP, &self.to_bytes(), Case::Upper)
    }

    /// Parses `AGE-PLUGIN-YUBIKEY-1...`.
    #[cfg(test)]
    pub fn decode(s: &str) -> Option<Stub> {
        Self::from_bytes(&bech32::decode(s, IDENTITY_HRP, Case::Upper).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let stub = Stub {
            serial: Serial::from(15000001),
            slot: RetiredSlotId::R3,
            tag: [1, 2, 3, 4],
        };
        let s = stub.encode();
        assert!(s.starts_with("AGE-PLUGIN-YUBIKEY-1"));
        assert_eq!(Stub::decode(&s), Some(stub.clone()));
        assert_eq!(stub.to_bytes(), [0xc1, 0xe1, 0xe4, 0x00, 0x84, 1, 2, 3, 4]);
        assert_eq!(Stub::from_bytes(&stub.to_bytes()[..8]), None);
        assert_eq!(Stub::from_bytes(&[0, 0, 0, 0, 0x9a, 1, 2, 3, 4]), None);
    }
}
