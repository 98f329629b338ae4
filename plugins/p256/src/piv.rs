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
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::ecdh_stanza::{EcdhStanza, Encoding, Scheme};
use crate::point::P256Point;
use crate::{Ecdh, FileKey, RecipientError, StanzaError, UnwrapError, FILE_KEY_LEN, TAG_LEN};

/// The stanza type.
pub const STANZA_TYPE: &str = "piv-p256";
/// The HKDF `info`.
pub const LABEL: &str = "piv-p256";
/// The Bech32 human-readable part of the recipient.
pub const RECIPIENT_HRP: &str = "age1yubikey";

/// The format, in the shared shape of the plugins' P-256 stanzas.
pub const SCHEME: Scheme = Scheme {
    stanza_type: STANZA_TYPE,
    label: LABEL,
    recipient_hrp: RECIPIENT_HRP,
    encoding: Encoding::Compressed,
};

/// Encodes a P-256 public key as an `age1yubikey1...` recipient.
pub fn encode_recipient(point: &P256Point) -> String {
    SCHEME.encode_recipient(point)
}

/// Parses an `age1yubikey1...` recipient: lowercase Bech32 of a 33-byte compressed point.
pub fn parse_recipient(s: &str) -> Result<P256Point, RecipientError> {
    SCHEME.parse_recipient(s)
}

/// The recipient from its plugin payload (the Bech32 data: a compressed point).
pub fn recipient_from_bytes(bytes: &[u8]) -> Result<P256Point, RecipientError> {
    crate::ecdh_stanza::recipient_from_bytes(bytes)
}

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

/// A well-formed `piv-p256` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PivP256Stanza(pub EcdhStanza);

// The fields (`tag`, `ephemeral`, `body`) are those of the shared stanza shape.
impl std::ops::Deref for PivP256Stanza {
    type Target = EcdhStanza;
    fn deref(&self) -> &EcdhStanza {
        &self.0
    }
}

impl std::ops::DerefMut for PivP256Stanza {
    fn deref_mut(&mut self) -> &mut EcdhStanza {
        &mut self.0
    }
}

impl PivP256Stanza {
    /// Parses a stanza: `Ok(None)` if its type is not `piv-p256`, an error if it is but is
    /// malformed (not exactly a 4-byte tag and a 33-byte compressed point, canonical
    /// base64, and a 32-byte body). `args` excludes the type.
    pub fn parse<S: AsRef<str>>(
        stanza_type: &str,
        args: &[S],
        body: &[u8],
    ) -> Result<Option<Self>, StanzaError> {
        let Some(s) = SCHEME.parse(stanza_type, args, body)? else {
            return Ok(None);
        };
        // age-plugin-yubikey refuses an ephemeral key off the curve when parsing.
        P256Point::from_compressed(&s.ephemeral).map_err(|_| StanzaError {
            stanza: STANZA_TYPE,
            reason: "the ephemeral key is not a compressed P-256 point",
        })?;
        Ok(Some(PivP256Stanza(s)))
    }

    /// The stanza's arguments after the type: the base64 tag and ephemeral key.
    pub fn args(&self) -> Vec<String> {
        self.0.args()
    }

    /// Whether the tag names the key with [`key_tag`] `key_tag`.
    pub fn matches_key_tag(&self, key_tag: &[u8; TAG_LEN]) -> bool {
        self.0.tag.ct_eq(key_tag).into()
    }

    /// Seals `file_key` to `recipient` with a fresh ephemeral key from `rng`.
    pub fn wrap<R: RngCore + CryptoRng>(
        recipient: &P256Point,
        file_key: &[u8; FILE_KEY_LEN],
        rng: &mut R,
    ) -> Self {
        PivP256Stanza(SCHEME.wrap(recipient, file_key, rng))
    }

    /// Opens the stanza with the private key of `recipient`, whose ECDH `key` does:
    /// `Ok(None)` if the tag is another key's (`key` is not asked) or the body does not
    /// open; the ECDH's error if it fails.
    pub fn unwrap<K: Ecdh>(
        &self,
        recipient: &P256Point,
        key: &K,
    ) -> Result<Option<FileKey>, UnwrapError<K::Error>> {
        SCHEME.unwrap(&self.0, recipient, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::aead::{Aead, KeyInit};
    use chacha20poly1305::ChaCha20Poly1305;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use rand::rngs::OsRng;
    use sha2::Digest;
    use zeroize::Zeroizing;

    struct Soft(p256::SecretKey);
    impl Ecdh for Soft {
        type Error = std::convert::Infallible;
        fn ecdh(&self, peer: &P256Point) -> Result<Zeroizing<[u8; 32]>, Self::Error> {
            let dh = p256::ecdh::diffie_hellman(
                self.0.to_nonzero_scalar(),
                peer.as_public_key().as_affine(),
            );
            let mut out = Zeroizing::new([0; 32]);
            out.copy_from_slice(dh.raw_secret_bytes());
            Ok(out)
        }
    }

    /// A stanza computed by hand from the description above (independently of `wrap`), with
    /// fixed keys: recipient scalar 1 (the generator), ephemeral scalar 2.
    #[test]
    fn fixed_vector() {
        let one = {
            let mut b = [0u8; 32];
            b[31] = 1;
            p256::SecretKey::from_slice(&b).unwrap()
        };
        let two = {
            let mut b = [0u8; 32];
            b[31] = 2;
            p256::SecretKey::from_slice(&b).unwrap()
        };
        let recipient = P256Point::from(one.public_key());
        let epk = two.public_key().to_encoded_point(true);
        // ECDH(1, 2G) = x(2G).
        let shared = two.public_key().to_encoded_point(false);
        let hk = Hkdf::<Sha256>::new(
            Some(&[epk.as_bytes(), &recipient.to_compressed()[..]].concat()),
            &shared.as_bytes()[1..33],
        );
        let mut key = [0u8; 32];
        hk.expand(b"piv-p256", &mut key).unwrap();
        let file_key = [7u8; 16];
        let body = ChaCha20Poly1305::new(&key.into())
            .encrypt(&[0; 12].into(), &file_key[..])
            .unwrap();
        let stanza = PivP256Stanza(EcdhStanza {
            tag: key_tag(&recipient),
            ephemeral: epk.as_bytes().try_into().unwrap(),
            body: body.try_into().unwrap(),
        });
        assert_eq!(
            *stanza.unwrap(&recipient, &Soft(one)).unwrap().unwrap(),
            file_key
        );
        // The generator's tag: SHA-256 of its compressed encoding.
        assert_eq!(
            hex::encode(key_tag(&recipient)),
            hex::encode(&Sha256::digest(recipient.to_compressed())[..4])
        );
    }

    #[test]
    fn wrap_unwrap_and_parse() {
        let sk = p256::SecretKey::random(&mut OsRng);
        let recipient = P256Point::from(sk.public_key());
        let s = PivP256Stanza::wrap(&recipient, &[9; 16], &mut OsRng);
        let parsed = PivP256Stanza::parse(STANZA_TYPE, &s.args(), &s.0.body)
            .unwrap()
            .unwrap();
        assert_eq!(parsed, s);
        assert_eq!(
            *parsed
                .unwrap(&recipient, &Soft(sk.clone()))
                .unwrap()
                .unwrap(),
            [9; 16]
        );
        let other = P256Point::from(p256::SecretKey::random(&mut OsRng).public_key());
        assert!(parsed.unwrap(&other, &Soft(sk.clone())).unwrap().is_none());
        let mut bad = parsed.clone();
        bad.0.body[3] ^= 1;
        assert!(bad.unwrap(&recipient, &Soft(sk)).unwrap().is_none());
        assert_eq!(PivP256Stanza::parse("X25519", &s.args(), &s.body), Ok(None));
        assert!(PivP256Stanza::parse(STANZA_TYPE, &s.args()[..1], &s.body).is_err());
        assert!(PivP256Stanza::parse(STANZA_TYPE, &s.args(), &s.body[..31]).is_err());
        let mut args = s.args();
        args[1] = crate::base64_encode(&[4u8; 33]);
        assert!(PivP256Stanza::parse(STANZA_TYPE, &args, &s.body).is_err());

        let r = encode_recipient(&recipient);
        assert!(r.starts_with("age1yubikey1"));
        assert_eq!(parse_recipient(&r).unwrap(), recipient);
    }

    #[test]
    fn p256tag_key_tag() {
        let sk = p256::SecretKey::random(&mut OsRng);
        let recipient = P256Point::from(sk.public_key());
        let s = crate::tag::P256TagStanza::wrap(&recipient, &[1; 16], &mut OsRng);
        assert!(p256tag_matches_key_tag(&s, &key_tag(&recipient)));
        let other = P256Point::from(p256::SecretKey::random(&mut OsRng).public_key());
        assert!(!p256tag_matches_key_tag(&s, &key_tag(&other)));
    }
}
