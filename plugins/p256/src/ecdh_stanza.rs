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
    base64_arg, Ecdh, FileKey, RecipientError, StanzaError, UnwrapError, BODY_LEN, FILE_KEY_LEN,
    TAG_LEN,
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
        recipient_from_bytes(&bytes)
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
        let secret = p256::ecdh::EphemeralSecret::random(rng);
        let ephemeral = P256Point::from(secret.public_key());
        let dh = secret.diffie_hellman(recipient.as_public_key());
        let mut dh_bytes = Zeroizing::new([0; 32]);
        dh_bytes.copy_from_slice(dh.raw_secret_bytes());
        let key = self.wrapping_key(&dh_bytes, &ephemeral, recipient);
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

/// The recipient from its plugin payload (the Bech32 data: a compressed point).
pub fn recipient_from_bytes(bytes: &[u8]) -> Result<P256Point, RecipientError> {
    if bytes.len() != COMPRESSED_LEN {
        return Err(RecipientError::Length {
            expected: COMPRESSED_LEN,
            got: bytes.len(),
        });
    }
    Ok(P256Point::from_compressed(bytes)?)
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
        vec![
            crate::base64_encode(&self.tag),
            crate::base64_encode(&self.ephemeral),
        ]
    }
}
