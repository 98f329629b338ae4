//! `age1tag1...` recipients and `p256tag` stanzas (C2SP `age.md`, "p256tag recipient stanza"):
//! HPKE base mode with DHKEM(P-256, HKDF-SHA256), HKDF-SHA256 and ChaCha20Poly1305,
//! `info = "age-encryption.org/p256tag"`, and a 4-byte tag that lets a hardware identity
//! skip stanzas that are not addressed to it without asking for a PIN or a touch.
//!
//! ```text
//! -> p256tag <base64(tag)> <base64(enc)>
//! <base64(ciphertext)>
//! tag = HKDF-Extract-SHA-256(ikm = enc || SHA-256(recipient)[:4],
//!                            salt = "age-encryption.org/p256tag")[:4]
//! ```
//! where `recipient` is the compressed point: the same truncated hash age-plugin-yubikey
//! uses as its `piv-p256` tag.

use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::bech32::{self, Case};
use crate::hpke::{self, KEM_DHKEM_P256};
use crate::point::{P256Point, COMPRESSED_LEN, UNCOMPRESSED_LEN};
use crate::{
    ephemeral_ecdh, parse_tagged_stanza, stanza_tag, Ecdh, FileKey, RecipientError, StanzaError,
    UnwrapError, BODY_LEN, FILE_KEY_LEN, TAG_LEN,
};

/// The stanza type.
pub const STANZA_TYPE: &str = "p256tag";
/// The HPKE `info` and the tag's salt.
pub const LABEL: &str = "age-encryption.org/p256tag";
/// The Bech32 human-readable part of the recipient.
pub const RECIPIENT_HRP: &str = "age1tag";
/// The length of the encapsulated key (an uncompressed point).
pub const ENC_LEN: usize = UNCOMPRESSED_LEN;

/// Encodes a P-256 public key as an `age1tag1...` recipient.
pub fn encode_recipient(point: &P256Point) -> String {
    bech32::encode(RECIPIENT_HRP, &point.to_compressed(), Case::Lower)
}

/// Parses an `age1tag1...` recipient: lowercase Bech32 of a 33-byte compressed point that
/// is on the curve.
pub fn parse_recipient(s: &str) -> Result<P256Point, RecipientError> {
    let bytes = bech32::decode(s, RECIPIENT_HRP, Case::Lower)?;
    if bytes.len() != COMPRESSED_LEN {
        return Err(RecipientError::Length {
            expected: COMPRESSED_LEN,
            got: bytes.len(),
        });
    }
    Ok(P256Point::from_compressed(&bytes)?)
}

/// The tag of a `p256tag` stanza with encapsulated key `enc` for `recipient`.
pub fn compute_tag(enc: &[u8; ENC_LEN], recipient: &P256Point) -> [u8; TAG_LEN] {
    stanza_tag(LABEL, enc, &recipient.to_compressed())
}

/// A well-formed `p256tag` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct P256TagStanza {
    /// The recipient tag.
    pub tag: [u8; TAG_LEN],
    /// HPKE's `enc`: the ephemeral public key, uncompressed.
    pub enc: [u8; ENC_LEN],
    /// HPKE's ciphertext: the sealed file key.
    pub body: [u8; BODY_LEN],
}

impl P256TagStanza {
    /// Parses a stanza: `Ok(None)` if its type is not `p256tag` (an identity must ignore it),
    /// an error if it is but does not have exactly a canonical base64 4-byte tag and 65-byte
    /// `enc` as arguments and a 32-byte body. `args` excludes the type.
    pub fn parse<S: AsRef<str>>(
        stanza_type: &str,
        args: &[S],
        body: &[u8],
    ) -> Result<Option<Self>, StanzaError> {
        if stanza_type != STANZA_TYPE {
            return Ok(None);
        }
        let (tag, enc, body) = parse_tagged_stanza::<ENC_LEN, S>(STANZA_TYPE, args, body)?;
        Ok(Some(P256TagStanza {
            tag,
            enc: *enc,
            body,
        }))
    }

    /// The stanza's arguments after the type: the base64 tag and `enc`.
    pub fn args(&self) -> Vec<String> {
        crate::stanza_args(&self.tag, &self.enc)
    }

    /// Whether the tag says this stanza is addressed to `recipient` (in constant time). A
    /// mismatch means the device need not be asked.
    pub fn is_addressed_to(&self, recipient: &P256Point) -> bool {
        compute_tag(&self.enc, recipient).ct_eq(&self.tag).into()
    }

    /// Seals `file_key` to `recipient` with a fresh ephemeral key from `rng`.
    pub fn wrap<R: RngCore + CryptoRng>(
        recipient: &P256Point,
        file_key: &[u8; FILE_KEY_LEN],
        rng: &mut R,
    ) -> Self {
        let (ephemeral, dh) = ephemeral_ecdh(recipient, rng);
        let enc = ephemeral.to_uncompressed();
        let shared_secret = hpke::dhkem_p256_shared_secret(&dh, &enc, &recipient.to_uncompressed());
        let body = seal_file_key(KEM_DHKEM_P256, &shared_secret[..], LABEL, file_key);
        let tag = compute_tag(&enc, recipient);
        P256TagStanza { tag, enc, body }
    }

    /// Opens the stanza with the private key of `recipient`, whose ECDH `key` does:
    /// - `Ok(None)` if the stanza is not for this recipient (tag mismatch, checked before
    ///   `key` is used) or does not decrypt with it;
    /// - `Ok(Some(file_key))` on success;
    /// - an error if `enc` is not a point of the curve or the ECDH failed.
    pub fn unwrap<K: Ecdh>(
        &self,
        recipient: &P256Point,
        key: &K,
    ) -> Result<Option<FileKey>, UnwrapError<K::Error>> {
        if !self.is_addressed_to(recipient) {
            return Ok(None);
        }
        let ephemeral =
            P256Point::from_uncompressed(&self.enc).map_err(|_| UnwrapError::InvalidEnc)?;
        let dh = key.ecdh(&ephemeral).map_err(UnwrapError::Ecdh)?;
        let shared_secret =
            hpke::dhkem_p256_shared_secret(&dh, &self.enc, &recipient.to_uncompressed());
        let opened = open_file_key(KEM_DHKEM_P256, &shared_secret[..], LABEL, &self.body);
        Ok(opened)
    }
}

/// Seals a 16-byte file key to a 32-byte body (HPKE base mode, `info` = `label`).
pub(crate) fn seal_file_key(
    kem_id: u16,
    shared_secret: &[u8],
    label: &str,
    file_key: &[u8; FILE_KEY_LEN],
) -> [u8; BODY_LEN] {
    let body = hpke::seal_base(kem_id, shared_secret, label.as_bytes(), file_key);
    body.try_into().expect("16 bytes sealed are 32")
}

/// Opens a 32-byte body to a 16-byte file key; `None` if the AEAD rejects it.
pub(crate) fn open_file_key(
    kem_id: u16,
    shared_secret: &[u8],
    label: &str,
    body: &[u8; BODY_LEN],
) -> Option<FileKey> {
    let plaintext = hpke::open_base(kem_id, shared_secret, label.as_bytes(), body).ok()?;
    let mut file_key = Zeroizing::new([0; FILE_KEY_LEN]);
    file_key.copy_from_slice(&plaintext[..]);
    Some(file_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::software::{failing, never_asked, SoftwareP256Key};
    use rand::rngs::OsRng;

    /// The example recipient of C2SP `age.md`.
    const SPEC_RECIPIENT: &str =
        "age1tag1qt8lw0ual6avlwmwatk888yqnmdamm7xfd0wak53ut6elz5c4swx2yqdj4e";

    #[test]
    fn spec_recipient_round_trips() {
        let p = parse_recipient(SPEC_RECIPIENT).unwrap();
        assert_eq!(encode_recipient(&p), SPEC_RECIPIENT);
        assert!(matches!(
            parse_recipient(&SPEC_RECIPIENT.to_uppercase()),
            Err(RecipientError::Bech32(
                crate::bech32::Bech32Error::WrongCase(_)
            ))
        ));
    }

    #[test]
    fn wrap_unwrap() {
        let key = SoftwareP256Key::generate(&mut OsRng);
        let recipient = *key.public();
        let other = *SoftwareP256Key::generate(&mut OsRng).public();
        let file_key = [42u8; 16];
        let stanza = P256TagStanza::wrap(&recipient, &file_key, &mut OsRng);

        let args = stanza.args();
        let parsed = P256TagStanza::parse(STANZA_TYPE, &args, &stanza.body)
            .unwrap()
            .unwrap();
        assert_eq!(parsed, stanza);
        assert!(parsed.is_addressed_to(&recipient));
        assert!(!parsed.is_addressed_to(&other));
        assert_eq!(*parsed.unwrap(&recipient, &key).unwrap().unwrap(), file_key);

        // Not addressed to `other`: the key is not even asked.
        assert!(parsed.unwrap(&other, &never_asked()).unwrap().is_none());

        // A tampered body is not an error, just not ours.
        let mut bad = parsed.clone();
        bad.body[0] ^= 1;
        assert!(bad.unwrap(&recipient, &key).unwrap().is_none());

        // ECDH failures are passed through.
        assert!(matches!(
            parsed.unwrap(&recipient, &failing("no card")),
            Err(UnwrapError::Ecdh("no card"))
        ));
    }

    #[test]
    fn malformed_stanzas() {
        let key = SoftwareP256Key::generate(&mut OsRng);
        let recipient = *key.public();
        let s = P256TagStanza::wrap(&recipient, &[1; 16], &mut OsRng);
        let [tag, enc] = <[String; 2]>::try_from(s.args()).unwrap();
        let body = s.body.to_vec();
        // Other types are ignored.
        assert_eq!(P256TagStanza::parse("X25519", &[&tag], &body), Ok(None));
        assert_eq!(
            P256TagStanza::parse("P256TAG", &[&tag, &enc], &body),
            Ok(None)
        );
        // Wrong argument counts, lengths, encodings and body sizes are errors.
        assert!(P256TagStanza::parse(STANZA_TYPE, &[&tag], &body).is_err());
        assert!(P256TagStanza::parse(STANZA_TYPE, &[&tag, &enc, &tag], &body).is_err());
        assert!(P256TagStanza::parse(STANZA_TYPE, &[&enc, &tag], &body).is_err());
        assert!(
            P256TagStanza::parse(STANZA_TYPE, &[format!("{tag}="), enc.clone()], &body).is_err()
        );
        assert!(P256TagStanza::parse(STANZA_TYPE, &[&tag, &enc], &body[..31]).is_err());
        assert!(P256TagStanza::parse(
            STANZA_TYPE,
            &[&tag, &enc],
            &[body.clone(), vec![0]].concat()
        )
        .is_err());
        // Non-canonical base64 (non-zero trailing bits) of the tag: 4 bytes = 6 chars, the
        // last one carries 4 unused bits.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut nc = tag.clone().into_bytes();
        let v = ALPHABET.iter().position(|&c| c == nc[5]).unwrap();
        nc[5] = ALPHABET[v ^ 1];
        let nc = String::from_utf8(nc).unwrap();
        assert!(P256TagStanza::parse(STANZA_TYPE, &[&nc, &enc], &body).is_err());
        // An `enc` that is not on the curve is an error once the tag matches.
        let mut bad = s.clone();
        bad.enc[64] ^= 1;
        bad.tag = compute_tag(&bad.enc, &recipient);
        assert!(matches!(
            bad.unwrap(&recipient, &key),
            Err(UnwrapError::InvalidEnc)
        ));
    }
}
