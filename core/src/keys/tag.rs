//! Tagged recipients for hardware keys (age 1.3, C2SP `age.md` "The tagged recipient types"):
//! `age1tag1...` (stanza `p256tag`, HPKE with DHKEM(P-256)) and `age1tagpq1...` (stanza
//! `mlkem768p256tag`, HPKE with the MLKEM768-P256 hybrid KEM). Encryption only: needs no
//! plugin, so a CI runner or a teammate can encrypt to a YubiKey or a TPM without installing
//! anything; decryption happens in the hardware plugin's identity (`keytap_p256` has the
//! pieces).
//!
//! The stanzas are produced by the `age` crate's own `age::tag` and `age::tagpq` recipients
//! (age 0.12 has them, encryption only); parsing is checked first with `keytap_p256`, which
//! names what is wrong (checksum, case, length, a point off the curve, a non-canonical
//! ML-KEM key) where the `age` crate only says "invalid". The stanzas they write open with
//! `keytap_p256`'s independent implementation of the decryption side (tests).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use age::EncryptError;
use age_core::format::{FileKey, Stanza};
use keytap_p256::hybrid::{self, HybridTagRecipient};
use keytap_p256::{tag, P256Point};

use super::pq::abbreviate;

/// Why a tag recipient could not be parsed: one line naming the (shortened) recipient.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed tag recipient {recipient}: {reason}")]
pub struct TagKeyError {
    /// The recipient, shortened.
    pub recipient: String,
    /// Why.
    pub reason: String,
}

/// An `age1tag1...` or `age1tagpq1...` recipient.
#[derive(Clone)]
pub enum TagRecipient {
    /// `age1tag1...`: a compressed P-256 point; stanza `p256tag`.
    P256 {
        /// The hardware key's public key.
        point: P256Point,
        /// The `age` crate's recipient, which wraps.
        inner: age::tag::Recipient,
    },
    /// `age1tagpq1...`: ML-KEM-768 + P-256; stanza `mlkem768p256tag`.
    Hybrid {
        /// The recipient's keys.
        key: Box<HybridTagRecipient>,
        /// The `age` crate's recipient, which wraps.
        inner: Box<age::tagpq::Recipient>,
    },
}

impl TagRecipient {
    /// Whether the recipient is post-quantum (`age1tagpq1...`).
    pub fn is_post_quantum(&self) -> bool {
        matches!(self, TagRecipient::Hybrid { .. })
    }

    /// The stanza type this recipient writes.
    pub fn stanza_type(&self) -> &'static str {
        match self {
            TagRecipient::P256 { .. } => tag::STANZA_TYPE,
            TagRecipient::Hybrid { .. } => hybrid::STANZA_TYPE,
        }
    }

    /// The P-256 public key (of the hardware key).
    pub fn point(&self) -> &P256Point {
        match self {
            TagRecipient::P256 { point, .. } => point,
            TagRecipient::Hybrid { key, .. } => key.point(),
        }
    }
}

impl FromStr for TagRecipient {
    type Err = TagKeyError;

    /// Parses `age1tag1...` (lowercase Bech32 of a 33-byte compressed P-256 point on the
    /// curve) or `age1tagpq1...` (lowercase Bech32, no length limit, of a canonical
    /// ML-KEM-768 encapsulation key and a 65-byte uncompressed P-256 point on the curve).
    fn from_str(s: &str) -> Result<Self, TagKeyError> {
        let err = |reason: String| TagKeyError {
            recipient: abbreviate(s),
            reason,
        };
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("age1tagpq1") {
            let key = HybridTagRecipient::parse(s).map_err(|e| err(e.to_string()))?;
            let inner = age::tagpq::Recipient::from_str(s).map_err(|e| err(e.to_string()))?;
            Ok(TagRecipient::Hybrid {
                key: Box::new(key),
                inner: Box::new(inner),
            })
        } else if lower.starts_with("age1tag1") {
            let point = tag::parse_recipient(s).map_err(|e| err(e.to_string()))?;
            let inner = age::tag::Recipient::from_str(s).map_err(|e| err(e.to_string()))?;
            Ok(TagRecipient::P256 { point, inner })
        } else {
            Err(err("not an age1tag1 or age1tagpq1 recipient".to_string()))
        }
    }
}

impl fmt::Display for TagRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagRecipient::P256 { point, .. } => f.write_str(&tag::encode_recipient(point)),
            TagRecipient::Hybrid { key, .. } => f.write_str(&key.encode()),
        }
    }
}

impl fmt::Debug for TagRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TagRecipient({})", abbreviate(&self.to_string()))
    }
}

impl age::Recipient for TagRecipient {
    /// A `p256tag` stanza (no label) or a `mlkem768p256tag` stanza (label `postquantum`).
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), EncryptError> {
        match self {
            TagRecipient::P256 { inner, .. } => inner.wrap_file_key(file_key),
            TagRecipient::Hybrid { inner, .. } => inner.wrap_file_key(file_key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::Recipient;
    use age_core::secrecy::ExposeSecret;
    use keytap_p256::bech32::{self, Case};
    use keytap_p256::software::{SoftwareHybridTagKey, SoftwareP256Key};
    use rand::rngs::OsRng;

    /// The example recipients of C2SP `age.md`.
    const SPEC_TAG: &str = "age1tag1qt8lw0ual6avlwmwatk888yqnmdamm7xfd0wak53ut6elz5c4swx2yqdj4e";

    #[test]
    fn p256_round_trip_through_the_age_crate() {
        let key = SoftwareP256Key::generate(&mut OsRng);
        let s = tag::encode_recipient(key.public());
        let r = TagRecipient::from_str(&s).unwrap();
        assert_eq!(r.to_string(), s);
        assert!(!r.is_post_quantum());
        let file_key = FileKey::new(Box::new([9; 16]));
        let (stanzas, labels) = r.wrap_file_key(&file_key).unwrap();
        assert!(labels.is_empty());
        let st = &stanzas[0];
        let parsed = tag::P256TagStanza::parse(&st.tag, &st.args, &st.body)
            .unwrap()
            .unwrap();
        let got = key.unwrap_p256tag(&parsed).unwrap().unwrap();
        assert_eq!(&*got, file_key.expose_secret());
    }

    #[test]
    fn hybrid_round_trip_through_the_age_crate() {
        let key = SoftwareHybridTagKey::generate(&mut OsRng);
        let s = key.recipient().encode();
        let r = TagRecipient::from_str(&s).unwrap();
        assert_eq!(r.to_string(), s);
        assert!(r.is_post_quantum());
        let file_key = FileKey::new(Box::new([8; 16]));
        let (stanzas, labels) = r.wrap_file_key(&file_key).unwrap();
        assert_eq!(labels, HashSet::from(["postquantum".to_string()]));
        let st = &stanzas[0];
        let parsed = hybrid::MlKem768P256TagStanza::parse(&st.tag, &st.args, &st.body)
            .unwrap()
            .unwrap();
        let got = key.unwrap(&parsed).unwrap().unwrap();
        assert_eq!(&*got, file_key.expose_secret());
    }

    #[test]
    fn spec_recipient_parses() {
        let r = TagRecipient::from_str(SPEC_TAG).unwrap();
        assert_eq!(r.to_string(), SPEC_TAG);
    }

    #[test]
    fn bad_recipients() {
        let msg = |s: &str| TagRecipient::from_str(s).unwrap_err().to_string();
        assert!(msg(&SPEC_TAG.to_uppercase()).contains("lowercase"));
        let mut typo = SPEC_TAG.as_bytes().to_vec();
        typo[20] = if typo[20] == b'q' { b'p' } else { b'q' };
        let typo = String::from_utf8(typo).unwrap();
        assert!(msg(&typo).contains("checksum"), "{}", msg(&typo));
        assert!(msg(&typo).contains(&typo[..24]), "{}", msg(&typo));
        // 32 bytes instead of 33.
        let short = bech32::encode("age1tag", &[2; 32], Case::Lower);
        assert!(msg(&short).contains("33"), "{}", msg(&short));
        // A compressed x-coordinate with no point on the curve.
        let bad = (0u8..=255)
            .map(|x| {
                let mut p = [0u8; 33];
                p[0] = 2;
                p[32] = x;
                bech32::encode("age1tag", &p, Case::Lower)
            })
            .find(|s| TagRecipient::from_str(s).is_err())
            .unwrap();
        assert!(msg(&bad).contains("not a point"), "{}", msg(&bad));
        // An uncompressed point in a classic tag recipient is refused.
        let key = SoftwareP256Key::generate(&mut OsRng);
        let unc = bech32::encode("age1tag", &key.public().to_uncompressed(), Case::Lower);
        assert!(TagRecipient::from_str(&unc).is_err());
        // Hybrid: a P-256 part off the curve.
        let hk = SoftwareHybridTagKey::generate(&mut OsRng);
        let mut bytes = hk.recipient().to_bytes();
        *bytes.last_mut().unwrap() ^= 1;
        let off = bech32::encode("age1tagpq", &bytes, Case::Lower);
        assert!(msg(&off).contains("not a point"), "{}", msg(&off));
        assert!(!msg(&off).contains('\n'));
        assert!(msg(&off).len() < 150, "{}", msg(&off));
        assert!(msg("age1pq1abc").contains("not an age1tag1"));
    }
}
