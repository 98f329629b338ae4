//! Software keys implementing [`Ecdh`]: what a hardware key does, in memory. For tests (the
//! tag recipients' interop checks) and for tooling; a plugin keeps its key on the device.

use ml_kem::{KemCore, MlKem768};
use rand_core::{CryptoRng, RngCore};
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::Shake256;
use zeroize::Zeroizing;

use crate::hybrid::{DecapsulationKey, HybridTagRecipient, MlKem768P256TagStanza};
use crate::tag::P256TagStanza;
use crate::{Ecdh, FileKey, P256Point, UnwrapError};

/// A P-256 private key in memory.
#[derive(Clone)]
pub struct SoftwareP256Key {
    secret: p256::SecretKey,
    public: P256Point,
}

impl SoftwareP256Key {
    /// A new random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::from_secret(p256::SecretKey::random(rng))
    }

    /// The key with this 32-byte big-endian scalar; `None` if it is zero or not below the
    /// group order.
    pub fn from_bytes(scalar: &[u8; 32]) -> Option<Self> {
        p256::SecretKey::from_bytes(scalar.into())
            .ok()
            .map(Self::from_secret)
    }

    fn from_secret(secret: p256::SecretKey) -> Self {
        let public = P256Point::from(secret.public_key());
        SoftwareP256Key { secret, public }
    }

    /// The public key.
    pub fn public(&self) -> &P256Point {
        &self.public
    }

    /// Opens a `p256tag` stanza addressed to this key.
    pub fn unwrap_p256tag(
        &self,
        stanza: &P256TagStanza,
    ) -> Result<Option<FileKey>, UnwrapError<std::convert::Infallible>> {
        stanza.unwrap(&self.public, self)
    }
}

impl Ecdh for SoftwareP256Key {
    type Error = std::convert::Infallible;

    fn ecdh(&self, peer: &P256Point) -> Result<Zeroizing<[u8; 32]>, Self::Error> {
        Ok(crate::shared_x(&p256::ecdh::diffie_hellman(
            self.secret.to_nonzero_scalar(),
            peer.as_public_key().as_affine(),
        )))
    }
}

/// An MLKEM768-P256 private key in memory, expanded from a 32-byte seed as
/// draft-ietf-hpke-pq specifies: `SHAKE256(seed, 192)` gives the ML-KEM-768 seed `d || z`
/// (64 bytes) then 128 bytes from which the P-256 scalar is the first 32-byte big-endian
/// chunk in `[1, n)`.
pub struct SoftwareHybridTagKey {
    dk: DecapsulationKey,
    p256: SoftwareP256Key,
    recipient: HybridTagRecipient,
}

impl SoftwareHybridTagKey {
    /// A new random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0; 32]);
        rng.fill_bytes(&mut seed[..]);
        Self::from_seed(&seed)
    }

    /// The key of this seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut expanded = Zeroizing::new([0u8; 64 + 128]);
        Shake256::default()
            .chain(seed)
            .finalize_xof()
            .read(&mut expanded[..]);
        let d = ml_kem::B32::try_from(&expanded[..32]).expect("32 bytes");
        let z = ml_kem::B32::try_from(&expanded[32..64]).expect("32 bytes");
        let (dk, ek) = MlKem768::generate_deterministic(&d, &z);
        let p256 = expanded[64..]
            .chunks_exact(32)
            .find_map(|chunk| SoftwareP256Key::from_bytes(chunk.try_into().expect("32 bytes")))
            // Four rejections in a row happen with probability below 2^-128.
            .expect("rejection sampling of a P-256 scalar");
        let recipient = HybridTagRecipient::new(ek, *p256.public());
        SoftwareHybridTagKey {
            dk,
            p256,
            recipient,
        }
    }

    /// The `age1tagpq1...` recipient.
    pub fn recipient(&self) -> &HybridTagRecipient {
        &self.recipient
    }

    /// The P-256 part.
    pub fn p256(&self) -> &SoftwareP256Key {
        &self.p256
    }

    /// Opens a `mlkem768p256tag` stanza addressed to this key.
    pub fn unwrap(
        &self,
        stanza: &MlKem768P256TagStanza,
    ) -> Result<Option<FileKey>, UnwrapError<std::convert::Infallible>> {
        stanza.unwrap(self.p256.public(), &self.dk, &self.p256)
    }
}

/// For tests: a device that must not be asked (it panics).
#[cfg(test)]
pub(crate) fn never_asked() -> impl Ecdh<Error = &'static str> {
    crate::EcdhFn(
        |_: &P256Point| -> Result<Zeroizing<[u8; 32]>, &'static str> {
            panic!("the device must not be asked")
        },
    )
}

/// For tests: a device whose ECDH always fails with `error`.
#[cfg(test)]
pub(crate) fn failing(error: &'static str) -> impl Ecdh<Error = &'static str> {
    crate::EcdhFn(move |_: &P256Point| -> Result<Zeroizing<[u8; 32]>, &'static str> { Err(error) })
}
