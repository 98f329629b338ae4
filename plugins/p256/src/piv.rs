//! age-plugin-yubikey's formats (its 0.5 series, which every release since 0.1 shares):
//! `age1yubikey1...` recipients and `piv-p256` stanzas, so that keys made by either plugin
//! keep working with the other.
//!
//! ```text
//! recipient = Bech32("age1yubikey", compressed P-256 point)
//! tag       = SHA-256(compressed recipient)[:4]
//! -> piv-p256 <base64(tag)> <base64(compressed ephemeral point)>
//! <base64(ChaCha20-Poly1305(key, nonce = 0, file key))>
//! key       = HKDF-SHA256(ikm = ECDH x-coordinate,
//!                         salt = compressed ephemeral point || compressed recipient,
//!                         info = "piv-p256")[:32]
//! ```
//!
//! The tag is also the truncated key hash that the age 1.3 `p256tag` stanza mixes into its
//! own tag, so an identity that only knows the tag (the YubiKey identity stub) can tell
//! which `p256tag` stanzas are addressed to its key too ([`p256tag_matches_key_tag`]).

use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::ecdh_stanza::{Encoding, Format, Scheme, SchemeStanza};
use crate::point::P256Point;
use crate::TAG_LEN;

/// The stanza type.
pub const STANZA_TYPE: &str = "piv-p256";

/// The format, in the shared shape of the plugins' P-256 stanzas: HKDF `info` `piv-p256`,
/// recipients `age1yubikey1...` (`SCHEME.encode_recipient`, `parse_recipient`,
/// `recipient_from_bytes`), compressed points in the tag and the salt; as
/// age-plugin-yubikey does, parsing refuses an ephemeral key off the curve.
pub const SCHEME: Scheme = Scheme {
    stanza_type: STANZA_TYPE,
    label: "piv-p256",
    recipient_hrp: "age1yubikey",
    encoding: Encoding::Compressed,
    check_ephemeral: true,
};

/// The `piv-p256` format, as a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PivP256;

impl Format for PivP256 {
    const SCHEME: Scheme = SCHEME;
}

/// A well-formed `piv-p256` stanza.
pub type PivP256Stanza = SchemeStanza<PivP256>;

/// `SHA-256(compressed point)[:4]`: the `piv-p256` tag of a recipient, stored in the
/// identity stub.
pub fn key_tag(recipient: &P256Point) -> [u8; TAG_LEN] {
    SCHEME.tag(recipient)
}

/// Whether a `p256tag` stanza is addressed to the key whose [`key_tag`] is `key_tag`
/// (C2SP `age.md`: its tag is `HKDF-Extract(ikm = enc || SHA-256(recipient)[:4], salt =
/// label)[:4]`). A match can still be a 32-bit collision: opening it checks the rest.
pub fn p256tag_matches_key_tag(
    stanza: &crate::tag::P256TagStanza,
    key_tag: &[u8; TAG_LEN],
) -> bool {
    let mut ikm = Vec::with_capacity(stanza.enc.len() + TAG_LEN);
    ikm.extend_from_slice(&stanza.enc);
    ikm.extend_from_slice(key_tag);
    let (prk, _) = Hkdf::<Sha256>::extract(Some(crate::tag::LABEL.as_bytes()), &ikm);
    prk[..TAG_LEN].ct_eq(&stanza.tag).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecdh_stanza::EcdhStanza;
    use crate::software::SoftwareP256Key;
    use chacha20poly1305::aead::{Aead, KeyInit};
    use chacha20poly1305::ChaCha20Poly1305;
    use rand::rngs::OsRng;
    use sha2::Digest;

    /// A stanza computed by hand from the description above (independently of `wrap`), with
    /// fixed keys: recipient scalar 1 (the generator), ephemeral scalar 2.
    #[test]
    fn fixed_vector() {
        let scalar = |n: u8| {
            let mut b = [0u8; 32];
            b[31] = n;
            SoftwareP256Key::from_bytes(&b).unwrap()
        };
        let (one, two) = (scalar(1), scalar(2));
        let recipient = *one.public();
        let epk = two.public().to_compressed();
        // ECDH(1, 2G) = x(2G).
        let shared = two.public().to_uncompressed();
        let hk = Hkdf::<Sha256>::new(
            Some(&[&epk[..], &recipient.to_compressed()[..]].concat()),
            &shared[1..33],
        );
        let mut key = [0u8; 32];
        hk.expand(SCHEME.label.as_bytes(), &mut key).unwrap();
        let file_key = [7u8; 16];
        let body = ChaCha20Poly1305::new(&key.into())
            .encrypt(&[0; 12].into(), &file_key[..])
            .unwrap();
        let stanza = PivP256Stanza::from(EcdhStanza {
            tag: key_tag(&recipient),
            ephemeral: epk,
            body: body.try_into().unwrap(),
        });
        assert_eq!(*stanza.unwrap(&recipient, &one).unwrap().unwrap(), file_key);
        // The generator's tag: SHA-256 of its compressed encoding.
        assert_eq!(
            hex::encode(key_tag(&recipient)),
            hex::encode(&Sha256::digest(recipient.to_compressed())[..4])
        );
    }

    /// What only `piv-p256` does (the rest: `ecdh_stanza`'s tests): an ephemeral key off
    /// the curve is refused when parsing, and the recipients are `age1yubikey1...`.
    #[test]
    fn ephemeral_checked_when_parsing_and_recipients() {
        let recipient = *SoftwareP256Key::generate(&mut OsRng).public();
        let s = PivP256Stanza::wrap(&recipient, &[9; 16], &mut OsRng);
        assert!(s.matches_key_tag(&key_tag(&recipient)));
        let mut args = s.args();
        args[1] = crate::base64_encode(&[4u8; 33]);
        assert!(PivP256Stanza::parse(STANZA_TYPE, &args, &s.body).is_err());

        let r = SCHEME.encode_recipient(&recipient);
        assert!(r.starts_with("age1yubikey1"));
        assert_eq!(SCHEME.parse_recipient(&r).unwrap(), recipient);
    }

    #[test]
    fn p256tag_key_tag() {
        let recipient = *SoftwareP256Key::generate(&mut OsRng).public();
        let s = crate::tag::P256TagStanza::wrap(&recipient, &[1; 16], &mut OsRng);
        assert!(p256tag_matches_key_tag(&s, &key_tag(&recipient)));
        let other = *SoftwareP256Key::generate(&mut OsRng).public();
        assert!(!p256tag_matches_key_tag(&s, &key_tag(&other)));
    }
}
