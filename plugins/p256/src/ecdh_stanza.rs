//! The shape shared by the hardware plugins' own P-256 stanzas (age-plugin-yubikey's
//! `piv-p256`, Foxboron's `tpm-ecc`), written once and configured by a [`Scheme`]:
//!
//! ```text
//! recipient = Bech32(hrp, compressed P-256 point)
//! -> <type> <base64(tag)> <base64(compressed ephemeral point)>
//! <base64(ChaCha20-Poly1305(key, nonce = 12 zero bytes, 16-byte file key))>
//! tag       = SHA-256(recipient encoded)[:4]
//! key       = HKDF-SHA256(ikm = ECDH x-coordinate,
//!                         salt = ephemeral encoded || recipient encoded, info = label)
//! ```
//! where "encoded" is the compressed or the uncompressed point, per scheme. Base64 is
//! standard, unpadded and canonical. Hand-written to match both plugins byte for byte.
//!
//! Each format is a [`Format`] type, and its stanzas a [`SchemeStanza`] of it.

use std::marker::PhantomData;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::bech32::{self, Case};
use crate::point::{P256Point, COMPRESSED_LEN};
use crate::{
    base64_arg, ephemeral_ecdh, Ecdh, FileKey, RecipientError, StanzaError, UnwrapError, BODY_LEN,
    FILE_KEY_LEN, TAG_LEN,
};

/// How a scheme encodes points in its tag and HKDF salt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// 33-byte SEC1 compressed (`piv-p256`).
    Compressed,
    /// 65-byte SEC1 uncompressed (`tpm-ecc`).
    Uncompressed,
}

/// One stanza format of this shape.
#[derive(Clone, Copy, Debug)]
pub struct Scheme {
    /// The stanza type.
    pub stanza_type: &'static str,
    /// The HKDF `info`.
    pub label: &'static str,
    /// The Bech32 human-readable part of the recipient.
    pub recipient_hrp: &'static str,
    /// Point encoding in the tag and the salt.
    pub encoding: Encoding,
    /// Whether parsing refuses an ephemeral key that is not a point of the curve (as
    /// age-plugin-yubikey does) instead of leaving that to unwrapping.
    pub check_ephemeral: bool,
}

impl Scheme {
    fn encode(&self, p: &P256Point) -> Vec<u8> {
        match self.encoding {
            Encoding::Compressed => p.to_compressed().to_vec(),
            Encoding::Uncompressed => p.to_uncompressed().to_vec(),
        }
    }

    /// The recipient string of a key.
    pub fn encode_recipient(&self, point: &P256Point) -> String {
        bech32::encode(self.recipient_hrp, &point.to_compressed(), Case::Lower)
    }

    /// Parses a recipient: lowercase Bech32 of a 33-byte compressed point on the curve.
    pub fn parse_recipient(&self, s: &str) -> Result<P256Point, RecipientError> {
        let bytes = bech32::decode(s, self.recipient_hrp, Case::Lower)?;
        self.recipient_from_bytes(&bytes)
    }

    /// The recipient from its plugin payload (the Bech32 data: a compressed point), what
    /// an age plugin is given in `add-recipient`.
    pub fn recipient_from_bytes(&self, bytes: &[u8]) -> Result<P256Point, RecipientError> {
        if bytes.len() != COMPRESSED_LEN {
            return Err(RecipientError::Length {
                expected: COMPRESSED_LEN,
                got: bytes.len(),
            });
        }
        Ok(P256Point::from_compressed(bytes)?)
    }

    /// The tag of every stanza for `recipient`.
    pub fn tag(&self, recipient: &P256Point) -> [u8; TAG_LEN] {
        let digest = Sha256::digest(self.encode(recipient));
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(&digest[..TAG_LEN]);
        tag
    }

    fn wrapping_key(
        &self,
        dh: &[u8; 32],
        ephemeral: &P256Point,
        recipient: &P256Point,
    ) -> Zeroizing<[u8; 32]> {
        let mut salt = self.encode(ephemeral);
        salt.extend_from_slice(&self.encode(recipient));
        let mut key = Zeroizing::new([0; 32]);
        Hkdf::<Sha256>::new(Some(&salt), dh)
            .expand(self.label.as_bytes(), &mut key[..])
            .expect("32 bytes are a valid HKDF-SHA256 output length");
        key
    }

    /// Parses a stanza: `Ok(None)` if its type is not this scheme's, an error if it is but
    /// its arguments are not the canonical base64 of a 4-byte tag and a 33-byte point, or
    /// its body is not 32 bytes. `args` excludes the type.
    pub fn parse<S: AsRef<str>>(
        &self,
        stanza_type: &str,
        args: &[S],
        body: &[u8],
    ) -> Result<Option<EcdhStanza>, StanzaError> {
        if stanza_type != self.stanza_type {
            return Ok(None);
        }
        let err = |reason| StanzaError {
            stanza: self.stanza_type,
            reason,
        };
        let [tag, ephemeral] = args else {
            return Err(err("expected two arguments"));
        };
        let tag = base64_arg::<TAG_LEN>(tag.as_ref())
            .ok_or_else(|| err("the tag is not the canonical base64 of 4 bytes"))?;
        let ephemeral = base64_arg::<COMPRESSED_LEN>(ephemeral.as_ref()).ok_or_else(|| {
            err("the ephemeral key is not the canonical base64 of a compressed point")
        })?;
        let body: [u8; BODY_LEN] = body
            .try_into()
            .map_err(|_| err("the body is not 32 bytes long"))?;
        if self.check_ephemeral && P256Point::from_compressed(&ephemeral).is_err() {
            return Err(err("the ephemeral key is not a compressed P-256 point"));
        }
        Ok(Some(EcdhStanza {
            tag,
            ephemeral,
            body,
        }))
    }

    /// Seals `file_key` to `recipient` with a fresh ephemeral key from `rng`.
    pub fn wrap<R: RngCore + CryptoRng>(
        &self,
        recipient: &P256Point,
        file_key: &[u8; FILE_KEY_LEN],
        rng: &mut R,
    ) -> EcdhStanza {
        let (ephemeral, dh) = ephemeral_ecdh(recipient, rng);
        let key = self.wrapping_key(&dh, &ephemeral, recipient);
        let sealed = ChaCha20Poly1305::new((&*key).into())
            .encrypt(&[0; 12].into(), &file_key[..])
            .expect("short plaintexts always encrypt");
        EcdhStanza {
            tag: self.tag(recipient),
            ephemeral: ephemeral.to_compressed(),
            body: sealed.try_into().expect("16 bytes sealed are 32"),
        }
    }

    /// Opens `stanza` with the private key of `recipient`, whose ECDH `key` does:
    /// `Ok(None)` if the tag is another key's (checked before `key` is used) or the body
    /// does not open; an error if the ephemeral key is not a point or the ECDH fails.
    pub fn unwrap<K: Ecdh>(
        &self,
        stanza: &EcdhStanza,
        recipient: &P256Point,
        key: &K,
    ) -> Result<Option<FileKey>, UnwrapError<K::Error>> {
        if !bool::from(self.tag(recipient).ct_eq(&stanza.tag)) {
            return Ok(None);
        }
        let ephemeral =
            P256Point::from_compressed(&stanza.ephemeral).map_err(|_| UnwrapError::InvalidEnc)?;
        let dh = key.ecdh(&ephemeral).map_err(UnwrapError::Ecdh)?;
        let wrapping = self.wrapping_key(&dh, &ephemeral, recipient);
        let Ok(plain) =
            ChaCha20Poly1305::new((&*wrapping).into()).decrypt(&[0; 12].into(), &stanza.body[..])
        else {
            return Ok(None);
        };
        let plain = Zeroizing::new(plain);
        let mut file_key = Zeroizing::new([0; FILE_KEY_LEN]);
        file_key.copy_from_slice(&plain);
        Ok(Some(file_key))
    }
}

/// A well-formed stanza of some [`Scheme`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcdhStanza {
    /// The recipient tag.
    pub tag: [u8; TAG_LEN],
    /// The ephemeral public key, compressed.
    pub ephemeral: [u8; COMPRESSED_LEN],
    /// The sealed file key.
    pub body: [u8; BODY_LEN],
}

impl EcdhStanza {
    /// The stanza's arguments after the type: the base64 tag and ephemeral key.
    pub fn args(&self) -> Vec<String> {
        crate::stanza_args(&self.tag, &self.ephemeral)
    }
}

/// A stanza format of this shape, as a type (for [`SchemeStanza`]).
pub trait Format {
    /// The format.
    const SCHEME: Scheme;
}

/// A well-formed stanza of format `F` (`piv-p256`, `tpm-ecc`); its fields are those of
/// [`EcdhStanza`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemeStanza<F>(pub EcdhStanza, PhantomData<F>);

impl<F> From<EcdhStanza> for SchemeStanza<F> {
    fn from(stanza: EcdhStanza) -> Self {
        SchemeStanza(stanza, PhantomData)
    }
}

impl<F> std::ops::Deref for SchemeStanza<F> {
    type Target = EcdhStanza;
    fn deref(&self) -> &EcdhStanza {
        &self.0
    }
}

impl<F> std::ops::DerefMut for SchemeStanza<F> {
    fn deref_mut(&mut self) -> &mut EcdhStanza {
        &mut self.0
    }
}

impl<F: Format> SchemeStanza<F> {
    /// Parses a stanza: `Ok(None)` if its type is not the format's, an error if it is but
    /// is malformed (see [`Scheme::parse`]). `args` excludes the type.
    pub fn parse<S: AsRef<str>>(
        stanza_type: &str,
        args: &[S],
        body: &[u8],
    ) -> Result<Option<Self>, StanzaError> {
        Ok(F::SCHEME.parse(stanza_type, args, body)?.map(Self::from))
    }

    /// The stanza's arguments after the type: the base64 tag and ephemeral key.
    pub fn args(&self) -> Vec<String> {
        self.0.args()
    }

    /// Whether the tag is `key_tag`, the tag of the key's stanzas (in constant time).
    pub fn matches_key_tag(&self, key_tag: &[u8; TAG_LEN]) -> bool {
        self.0.tag.ct_eq(key_tag).into()
    }

    /// Whether the tag says this stanza is addressed to `recipient` (in constant time).
    pub fn is_addressed_to(&self, recipient: &P256Point) -> bool {
        self.matches_key_tag(&F::SCHEME.tag(recipient))
    }

    /// Seals `file_key` to `recipient` with a fresh ephemeral key from `rng`.
    pub fn wrap<R: RngCore + CryptoRng>(
        recipient: &P256Point,
        file_key: &[u8; FILE_KEY_LEN],
        rng: &mut R,
    ) -> Self {
        F::SCHEME.wrap(recipient, file_key, rng).into()
    }

    /// Opens the stanza with the private key of `recipient`, whose ECDH `key` does:
    /// - `Ok(None)` if the tag is not the recipient's (checked before `key` is used) or
    ///   the body does not decrypt;
    /// - `Ok(Some(file_key))` on success;
    /// - an error if the ephemeral key is not a point of the curve or the ECDH failed.
    pub fn unwrap<K: Ecdh>(
        &self,
        recipient: &P256Point,
        key: &K,
    ) -> Result<Option<FileKey>, UnwrapError<K::Error>> {
        F::SCHEME.unwrap(&self.0, recipient, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piv::PivP256;
    use crate::software::{failing, never_asked, SoftwareP256Key};
    use crate::tpm_ecc::TpmEcc;
    use rand::rngs::OsRng;

    /// Wrapping, parsing and unwrapping, the same for every format.
    fn round_trip<F: Format + Clone + std::fmt::Debug + PartialEq>() {
        let key = SoftwareP256Key::generate(&mut OsRng);
        let recipient = *key.public();
        let other = *SoftwareP256Key::generate(&mut OsRng).public();
        let s = SchemeStanza::<F>::wrap(&recipient, &[7; 16], &mut OsRng);
        let parsed = SchemeStanza::<F>::parse(F::SCHEME.stanza_type, &s.args(), &s.body)
            .unwrap()
            .unwrap();
        assert_eq!(parsed, s);
        assert!(parsed.is_addressed_to(&recipient) && !parsed.is_addressed_to(&other));
        assert_eq!(*parsed.unwrap(&recipient, &key).unwrap().unwrap(), [7; 16]);
        // Another key's stanza: its device is not even asked.
        assert!(parsed.unwrap(&other, &never_asked()).unwrap().is_none());
        // A tampered body is not an error, just not ours.
        let mut bad = parsed.clone();
        bad.body[3] ^= 1;
        assert!(bad.unwrap(&recipient, &key).unwrap().is_none());
        // ECDH failures are passed through.
        assert!(matches!(
            parsed.unwrap(&recipient, &failing("no device")),
            Err(UnwrapError::Ecdh("no device"))
        ));
    }

    /// Other types are not ours; wrong argument counts, orders, encodings and body sizes
    /// are errors.
    fn malformed<F: Format + Clone + std::fmt::Debug + PartialEq>() {
        let key = SoftwareP256Key::generate(&mut OsRng);
        let s = SchemeStanza::<F>::wrap(key.public(), &[1; 16], &mut OsRng);
        let [tag, eph] = <[String; 2]>::try_from(s.args()).unwrap();
        let body = s.body.to_vec();
        let parse = |args: &[&str], body: &[u8]| {
            SchemeStanza::<F>::parse(F::SCHEME.stanza_type, args, body)
        };
        assert_eq!(
            SchemeStanza::<F>::parse("p256tag", &[&tag, &eph], &body),
            Ok(None)
        );
        assert!(parse(&[&tag], &body).is_err());
        assert!(parse(&[&eph, &tag], &body).is_err());
        assert!(parse(&[&tag, &eph], &body[1..]).is_err());
        assert!(parse(&[&format!("{tag}=="), &eph], &body).is_err());
        assert!(parse(&[&tag, &eph], &body).is_ok());
    }

    #[test]
    fn piv_p256() {
        round_trip::<PivP256>();
        malformed::<PivP256>();
    }

    #[test]
    fn tpm_ecc() {
        round_trip::<TpmEcc>();
        malformed::<TpmEcc>();
    }
}
