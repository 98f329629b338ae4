//! `age1tagpq1...` recipients and `mlkem768p256tag` stanzas (C2SP `age.md`,
//! "mlkem768p256tag recipient stanza"): HPKE base mode with the MLKEM768-P256 hybrid KEM of
//! draft-ietf-hpke-pq (KEM id 0x0050), HKDF-SHA256 and ChaCha20Poly1305,
//! `info = "age-encryption.org/mlkem768p256tag"`, and the 4-byte tag computed over the
//! P-256 part of the recipient only, so that a hardware identity can recognise its stanzas
//! before it unlocks the ML-KEM key.
//!
//! The recipient is the ML-KEM-768 encapsulation key (1,184 bytes) followed by the
//! uncompressed P-256 point (65 bytes); `enc` is the ML-KEM ciphertext (1,088 bytes)
//! followed by the uncompressed ephemeral point (65 bytes). The KEM shared secret is
//! `SHA3-256(ss_PQ || ss_T || ct_T || ek_T || "MLKEM768-P256")` with `ss_T` the ECDH
//! x-coordinate: hand-written from the draft, which pins it byte for byte; ML-KEM is the
//! RustCrypto `ml-kem` crate.

use ml_kem::kem::{Decapsulate, Encapsulate};
use ml_kem::{EncodedSizeUser, MlKem768, MlKem768Params};
use rand_core::{CryptoRng, RngCore};
use sha3::{Digest, Sha3_256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::bech32::{self, Case};
use crate::hpke::KEM_MLKEM768_P256;
use crate::point::{P256Point, UNCOMPRESSED_LEN};
use crate::tag::{open_file_key, seal_file_key};
use crate::{
    ephemeral_ecdh, parse_tagged_stanza, stanza_tag, Ecdh, FileKey, RecipientError, StanzaError,
    UnwrapError, BODY_LEN, FILE_KEY_LEN, TAG_LEN,
};

/// The stanza type.
pub const STANZA_TYPE: &str = "mlkem768p256tag";
/// The HPKE `info` and the tag's salt.
pub const LABEL: &str = "age-encryption.org/mlkem768p256tag";
/// The Bech32 human-readable part of the recipient.
pub const RECIPIENT_HRP: &str = "age1tagpq";
/// Length of an ML-KEM-768 encapsulation key.
pub const MLKEM_EK_LEN: usize = 1184;
/// Length of an ML-KEM-768 ciphertext.
pub const MLKEM_CT_LEN: usize = 1088;
/// Length of the recipient: ML-KEM-768 encapsulation key, then uncompressed P-256 point.
pub const RECIPIENT_LEN: usize = MLKEM_EK_LEN + UNCOMPRESSED_LEN;
/// Length of `enc`: ML-KEM-768 ciphertext, then uncompressed ephemeral P-256 point.
pub const ENC_LEN: usize = MLKEM_CT_LEN + UNCOMPRESSED_LEN;

/// The combiner's label (draft-ietf-hpke-pq, MLKEM768-P256).
const COMBINER_LABEL: &[u8] = b"MLKEM768-P256";

/// An ML-KEM-768 encapsulation (public) key.
pub type EncapsulationKey = ml_kem::kem::EncapsulationKey<MlKem768Params>;
/// An ML-KEM-768 decapsulation (private) key.
pub type DecapsulationKey = ml_kem::kem::DecapsulationKey<MlKem768Params>;

/// Parses an ML-KEM-768 encapsulation key, applying FIPS 203's modulus check (every
/// coefficient below q, i.e. decoding then encoding gives the same bytes).
pub fn parse_mlkem768_encapsulation_key(bytes: &[u8]) -> Option<EncapsulationKey> {
    let encoded = ml_kem::Encoded::<EncapsulationKey>::try_from(bytes).ok()?;
    let ek = EncapsulationKey::from_bytes(&encoded);
    (ek.as_bytes() == encoded).then_some(ek)
}

/// An `age1tagpq1...` recipient: an ML-KEM-768 encapsulation key and a P-256 point.
#[derive(Clone, Debug, PartialEq)]
pub struct HybridTagRecipient {
    ek: EncapsulationKey,
    point: P256Point,
}

impl HybridTagRecipient {
    /// The recipient of these two keys.
    pub fn new(ek: EncapsulationKey, point: P256Point) -> Self {
        HybridTagRecipient { ek, point }
    }

    /// Parses the 1,249-byte raw recipient.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecipientError> {
        if bytes.len() != RECIPIENT_LEN {
            return Err(RecipientError::Length {
                expected: RECIPIENT_LEN,
                got: bytes.len(),
            });
        }
        let (ek, point) = bytes.split_at(MLKEM_EK_LEN);
        let ek = parse_mlkem768_encapsulation_key(ek).ok_or(RecipientError::MlKemKey)?;
        let point = P256Point::from_uncompressed(point)?;
        Ok(HybridTagRecipient { ek, point })
    }

    /// The 1,249-byte raw recipient.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECIPIENT_LEN);
        out.extend_from_slice(&self.ek.as_bytes());
        out.extend_from_slice(&self.point.to_uncompressed());
        out
    }

    /// Parses an `age1tagpq1...` recipient (lowercase Bech32, no length limit).
    pub fn parse(s: &str) -> Result<Self, RecipientError> {
        Self::from_bytes(&bech32::decode(s, RECIPIENT_HRP, Case::Lower)?)
    }

    /// The `age1tagpq1...` encoding.
    pub fn encode(&self) -> String {
        bech32::encode(RECIPIENT_HRP, &self.to_bytes(), Case::Lower)
    }

    /// The P-256 part (the hardware key).
    pub fn point(&self) -> &P256Point {
        &self.point
    }

    /// The ML-KEM-768 part.
    pub fn encapsulation_key(&self) -> &EncapsulationKey {
        &self.ek
    }
}

/// The tag of a `mlkem768p256tag` stanza with encapsulated key `enc` for a recipient whose
/// P-256 part is `point`.
pub fn compute_tag(enc: &[u8; ENC_LEN], point: &P256Point) -> [u8; TAG_LEN] {
    stanza_tag(LABEL, enc, &point.to_uncompressed())
}

/// MLKEM768-P256's shared secret:
/// `SHA3-256(ss_PQ || ss_T || ct_T || ek_T || "MLKEM768-P256")`.
fn combine(
    ss_pq: &[u8],
    ss_t: &[u8; 32],
    ct_t: &[u8],
    ek_t: &[u8; UNCOMPRESSED_LEN],
) -> Zeroizing<[u8; 32]> {
    let mut h = Sha3_256::new();
    h.update(ss_pq);
    h.update(ss_t);
    h.update(ct_t);
    h.update(ek_t);
    h.update(COMBINER_LABEL);
    Zeroizing::new(h.finalize().into())
}

/// Copies ML-KEM's 32-byte shared key into memory that is wiped on drop.
fn secret32(ss: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0; 32]);
    out.copy_from_slice(ss);
    out
}

/// A well-formed `mlkem768p256tag` stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlKem768P256TagStanza {
    /// The recipient tag.
    pub tag: [u8; TAG_LEN],
    /// HPKE's `enc`: ML-KEM ciphertext then ephemeral uncompressed point.
    pub enc: Box<[u8; ENC_LEN]>,
    /// HPKE's ciphertext: the sealed file key.
    pub body: [u8; BODY_LEN],
}

impl MlKem768P256TagStanza {
    /// Parses a stanza: `Ok(None)` if its type is not `mlkem768p256tag`, an error if it is
    /// but does not have exactly a canonical base64 4-byte tag and 1,153-byte `enc` as
    /// arguments and a 32-byte body. `args` excludes the type.
    pub fn parse<S: AsRef<str>>(
        stanza_type: &str,
        args: &[S],
        body: &[u8],
    ) -> Result<Option<Self>, StanzaError> {
        if stanza_type != STANZA_TYPE {
            return Ok(None);
        }
        let (tag, enc, body) = parse_tagged_stanza::<ENC_LEN, S>(STANZA_TYPE, args, body)?;
        Ok(Some(MlKem768P256TagStanza { tag, enc, body }))
    }

    /// The stanza's arguments after the type: the base64 tag and `enc`.
    pub fn args(&self) -> Vec<String> {
        crate::stanza_args(&self.tag, &self.enc[..])
    }

    /// Whether the tag says this stanza is addressed to the recipient whose P-256 part is
    /// `point` (in constant time).
    pub fn is_addressed_to(&self, point: &P256Point) -> bool {
        compute_tag(&self.enc, point).ct_eq(&self.tag).into()
    }

    /// Seals `file_key` to `recipient` with fresh randomness from `rng`.
    pub fn wrap<R: RngCore + CryptoRng>(
        recipient: &HybridTagRecipient,
        file_key: &[u8; FILE_KEY_LEN],
        rng: &mut R,
    ) -> Self {
        let (ct_pq, ss_pq) = recipient
            .ek
            .encapsulate(rng)
            .expect("ML-KEM encapsulation is infallible");
        let ss_pq = secret32(&ss_pq);
        let (ephemeral, ss_t) = ephemeral_ecdh(&recipient.point, rng);
        let ct_t = ephemeral.to_uncompressed();
        let shared_secret = combine(&ss_pq[..], &ss_t, &ct_t, &recipient.point.to_uncompressed());
        let mut enc = Box::new([0; ENC_LEN]);
        enc[..MLKEM_CT_LEN].copy_from_slice(&ct_pq);
        enc[MLKEM_CT_LEN..].copy_from_slice(&ct_t);
        let body = seal_file_key(KEM_MLKEM768_P256, &shared_secret[..], LABEL, file_key);
        let tag = compute_tag(&enc, &recipient.point);
        MlKem768P256TagStanza { tag, enc, body }
    }

    /// Opens the stanza with the ML-KEM-768 decapsulation key `dk` and the P-256 private key
    /// of `point`, whose ECDH `key` does (the tag is checked first, before `key` is used):
    /// `Ok(None)` if the stanza is not for this recipient or does not decrypt, an error if
    /// the P-256 part of `enc` is not on the curve or the ECDH failed.
    pub fn unwrap<K: Ecdh>(
        &self,
        point: &P256Point,
        dk: &DecapsulationKey,
        key: &K,
    ) -> Result<Option<FileKey>, UnwrapError<K::Error>> {
        if !self.is_addressed_to(point) {
            return Ok(None);
        }
        let (ct_pq, ct_t) = self.enc.split_at(MLKEM_CT_LEN);
        let ephemeral = P256Point::from_uncompressed(ct_t).map_err(|_| UnwrapError::InvalidEnc)?;
        let ct_pq = ml_kem::Ciphertext::<MlKem768>::try_from(ct_pq).expect("length checked");
        // ML-KEM decapsulation rejects implicitly: a foreign ciphertext gives a random key.
        let ss_pq = secret32(
            &dk.decapsulate(&ct_pq)
                .expect("ML-KEM decapsulation is infallible"),
        );
        let ss_t = key.ecdh(&ephemeral).map_err(UnwrapError::Ecdh)?;
        let shared_secret = combine(&ss_pq[..], &ss_t, ct_t, &point.to_uncompressed());
        let opened = open_file_key(KEM_MLKEM768_P256, &shared_secret[..], LABEL, &self.body);
        Ok(opened)
    }
}
