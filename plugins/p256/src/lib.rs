//! The P-256 pieces of age's tagged recipient types (C2SP `age.md`, "The tagged recipient
//! types"): what keytap-core needs to encrypt to `age1tag1...` and `age1tagpq1...`
//! recipients, and what a hardware plugin (YubiKey PIV, TPM) needs to open the `p256tag` and
//! `mlkem768p256tag` stanzas with a key that never leaves the device.
//!
//! - [`P256Point`]: SEC 1 point parsing that rejects anything that is not a point of the
//!   curve (the identity cannot even be encoded in the 33- or 65-byte forms accepted here).
//! - [`Ecdh`]: the one operation that needs the private key. The decapsulation is split so
//!   that the device does the ECDH and this crate does the rest (HPKE's DHKEM, key schedule,
//!   the tag check, ChaCha20-Poly1305).
//! - [`tag`]: `age1tag1...` recipients and `p256tag` stanzas.
//! - [`hybrid`]: `age1tagpq1...` recipients (MLKEM768-P256) and `mlkem768p256tag` stanzas.
//! - [`piv`]: age-plugin-yubikey's `age1yubikey1...` recipients and `piv-p256` stanzas
//!   (ECDH, HKDF-SHA256, ChaCha20-Poly1305), for keytap's YubiKey plugin.
//! - [`hpke`]: RFC 9180 base mode, single shot, as age's HPKE stanzas use it (also used by
//!   keytap-core for the `mlkem768x25519` stanza).
//! - [`bech32`]: Bech32 as age uses it (BIP 173 without the 90-character limit).
//! - [`software`]: software keys implementing [`Ecdh`], for tests.
//!
//! Hand-written here, because the specifications pin them byte for byte and no maintained
//! crate exposes them with the ECDH left outside: RFC 9180's `LabeledExtract`,
//! `LabeledExpand`, DHKEM `ExtractAndExpand` and base-mode `KeySchedule`; the MLKEM768-P256
//! combiner and key expansion of draft-ietf-hpke-pq; the age tag derivation and stanza
//! encodings of C2SP `age.md`. The curve, ML-KEM, SHA-2/SHA-3, HKDF, ChaCha20-Poly1305 and
//! Bech32 come from the RustCrypto and rust-bitcoin crates.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bech32;
pub mod ecdh_stanza;
pub mod hpke;
pub mod hybrid;
pub mod piv;
pub mod point;
pub mod software;
pub mod tag;
pub mod tpm_ecc;

pub use point::{P256Point, PointError};

use zeroize::Zeroizing;

/// The length of an age file key.
pub const FILE_KEY_LEN: usize = 16;

/// The length of a stanza body: the file key sealed with ChaCha20-Poly1305 (16 + 16 bytes).
pub const BODY_LEN: usize = 32;

/// The length of the tag argument of the tagged stanzas.
pub const TAG_LEN: usize = 4;

/// An age file key, wiped from memory when dropped.
pub type FileKey = Zeroizing<[u8; FILE_KEY_LEN]>;

/// A P-256 private key that can do ECDH, wherever it lives (a YubiKey's PIV slot, a TPM, or
/// memory).
pub trait Ecdh {
    /// Why the device could not do the ECDH (missing card, wrong PIN, ...).
    type Error;

    /// The ECDH of this private key with `peer`: the x-coordinate of `d·peer`, 32 bytes
    /// big-endian, as SEC 1 §3.3.1 and RFC 9180's `DH(skR, pkE)` define it for P-256.
    /// `peer` has already been checked to be a point of the curve.
    fn ecdh(&self, peer: &P256Point) -> Result<Zeroizing<[u8; 32]>, Self::Error>;
}

impl<T: Ecdh + ?Sized> Ecdh for &T {
    type Error = T::Error;

    fn ecdh(&self, peer: &P256Point) -> Result<Zeroizing<[u8; 32]>, Self::Error> {
        (**self).ecdh(peer)
    }
}

/// Adapts a closure to [`Ecdh`]: `EcdhFn(|peer| device.ecdh(peer))`.
pub struct EcdhFn<F>(pub F);

impl<F, E> Ecdh for EcdhFn<F>
where
    F: Fn(&P256Point) -> Result<Zeroizing<[u8; 32]>, E>,
{
    type Error = E;

    fn ecdh(&self, peer: &P256Point) -> Result<Zeroizing<[u8; 32]>, E> {
        (self.0)(peer)
    }
}

/// A stanza that claims to be of a type this crate handles but does not follow its format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {stanza} stanza: {reason}")]
pub struct StanzaError {
    /// The stanza type (`p256tag` or `mlkem768p256tag`).
    pub stanza: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Why a stanza addressed to this key could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum UnwrapError<E> {
    /// The encapsulated key's P-256 part is not a point of the curve.
    #[error("the encapsulated key is not a valid P-256 point")]
    InvalidEnc,
    /// The device failed to do the ECDH.
    #[error("ECDH failed: {0}")]
    Ecdh(E),
}

/// Why a recipient string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    /// Not valid Bech32, or the wrong type or case.
    #[error(transparent)]
    Bech32(#[from] bech32::Bech32Error),
    /// The key has the wrong length.
    #[error("the key is {got} bytes long, expected {expected}")]
    Length {
        /// The length the type requires.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// The P-256 key is not a valid point.
    #[error("{0}")]
    Point(#[from] PointError),
    /// The ML-KEM-768 encapsulation key is not canonical (FIPS 203 §7.2 modulus check).
    #[error("invalid ML-KEM-768 encapsulation key")]
    MlKemKey,
}

/// A fresh ephemeral key from `rng` and its ECDH with `recipient`: the ephemeral public
/// key and the shared x-coordinate.
pub(crate) fn ephemeral_ecdh<R: rand_core::RngCore + rand_core::CryptoRng>(
    recipient: &P256Point,
    rng: &mut R,
) -> (P256Point, Zeroizing<[u8; 32]>) {
    let secret = p256::ecdh::EphemeralSecret::random(rng);
    let dh = secret.diffie_hellman(recipient.as_public_key());
    (P256Point::from(secret.public_key()), shared_x(&dh))
}

/// The x-coordinate of an ECDH result, 32 bytes big-endian.
pub(crate) fn shared_x(dh: &p256::ecdh::SharedSecret) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0; 32]);
    out.copy_from_slice(dh.raw_secret_bytes());
    out
}

/// Decodes a stanza argument that must be the canonical unpadded base64 of exactly `N`
/// bytes (C2SP `age.md`, "Conventions").
pub(crate) fn base64_arg<const N: usize>(arg: &str) -> Option<[u8; N]> {
    use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine};
    // The engine rejects padding and non-zero trailing bits, i.e. non-canonical encodings.
    let bytes = STANDARD_NO_PAD.decode(arg).ok()?;
    bytes.try_into().ok()
}

/// Encodes a stanza argument as unpadded standard base64.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine};
    STANDARD_NO_PAD.encode(bytes)
}

/// The two arguments of every stanza here: the base64 tag and (encapsulated) key.
pub(crate) fn stanza_args(tag: &[u8; TAG_LEN], key: &[u8]) -> Vec<String> {
    vec![base64_encode(tag), base64_encode(key)]
}

/// `HKDF-Extract-SHA-256(ikm = enc || SHA-256(key)[:4], salt = label)[:4]`, the tag of both
/// tagged stanza types (C2SP `age.md`); `key` is the compressed point for `p256tag` and the
/// uncompressed P-256 part for `mlkem768p256tag`.
pub(crate) fn stanza_tag(label: &str, enc: &[u8], key: &[u8]) -> [u8; TAG_LEN] {
    use sha2::{Digest, Sha256};
    let key_hash = Sha256::digest(key);
    let mut ikm = Vec::with_capacity(enc.len() + TAG_LEN);
    ikm.extend_from_slice(enc);
    ikm.extend_from_slice(&key_hash[..TAG_LEN]);
    let (prk, _) = hkdf::Hkdf::<Sha256>::extract(Some(label.as_bytes()), &ikm);
    let mut tag = [0; TAG_LEN];
    tag.copy_from_slice(&prk[..TAG_LEN]);
    tag
}

/// The parts of a tagged stanza: tag, `enc`, body.
pub(crate) type TaggedParts<const ENC: usize> = ([u8; TAG_LEN], Box<[u8; ENC]>, [u8; BODY_LEN]);

/// Checks the arguments and body shared by both tagged stanza types: exactly two arguments,
/// a 4-byte tag and an `ENC`-byte encapsulated key, both canonical base64, and a 32-byte body.
pub(crate) fn parse_tagged_stanza<const ENC: usize, S: AsRef<str>>(
    stanza: &'static str,
    args: &[S],
    body: &[u8],
) -> Result<TaggedParts<ENC>, StanzaError> {
    let err = |reason| StanzaError { stanza, reason };
    let [tag, enc] = args else {
        return Err(err("expected two arguments"));
    };
    let tag = base64_arg::<TAG_LEN>(tag.as_ref())
        .ok_or_else(|| err("the tag is not the canonical base64 of 4 bytes"))?;
    let enc = base64_arg::<ENC>(enc.as_ref())
        .ok_or_else(|| err("the encapsulated key is not canonical base64 of the right length"))?;
    let body: [u8; BODY_LEN] = body
        .try_into()
        .map_err(|_| err("the body is not 32 bytes long"))?;
    Ok((tag, Box::new(enc), body))
}
