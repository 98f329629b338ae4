//! P-256 public keys as they appear in age recipients and stanzas: the 33-byte compressed
//! SEC 1 form (`age1tag1...`, `age1yubikey1...`, `age1tpm1...`) and the 65-byte uncompressed
//! form (HPKE's `SerializePublicKey`, the `enc` of the stanzas, `age1tagpq1...`).

use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, PublicKey};

/// Length of a compressed SEC 1 P-256 point.
pub const COMPRESSED_LEN: usize = 33;

/// Length of an uncompressed SEC 1 P-256 point.
pub const UNCOMPRESSED_LEN: usize = 65;

/// A point of the P-256 curve other than the identity: a valid public key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct P256Point(PublicKey);

/// Why bytes are not a P-256 public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointError {
    /// Not the length of the expected encoding.
    #[error("a P-256 point of {expected} bytes is expected, got {got} bytes")]
    Length {
        /// 33 (compressed) or 65 (uncompressed).
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// The first byte is not the one of the expected SEC 1 encoding.
    #[error("not a {0} SEC 1 point encoding")]
    Format(&'static str),
    /// The coordinates are not those of a point of the curve.
    #[error("not a point of the P-256 curve")]
    NotOnCurve,
}

impl P256Point {
    /// Parses a compressed point (`0x02`/`0x03` then the x-coordinate), checking that the
    /// x-coordinate is canonical and that the curve has a point with it.
    pub fn from_compressed(bytes: &[u8]) -> Result<Self, PointError> {
        if bytes.len() != COMPRESSED_LEN {
            return Err(PointError::Length {
                expected: COMPRESSED_LEN,
                got: bytes.len(),
            });
        }
        if bytes[0] != 0x02 && bytes[0] != 0x03 {
            return Err(PointError::Format("compressed"));
        }
        Self::decode(bytes)
    }

    /// Parses an uncompressed point (`0x04`, x, y), checking that it is on the curve.
    pub fn from_uncompressed(bytes: &[u8]) -> Result<Self, PointError> {
        if bytes.len() != UNCOMPRESSED_LEN {
            return Err(PointError::Length {
                expected: UNCOMPRESSED_LEN,
                got: bytes.len(),
            });
        }
        if bytes[0] != 0x04 {
            return Err(PointError::Format("uncompressed"));
        }
        Self::decode(bytes)
    }

    fn decode(bytes: &[u8]) -> Result<Self, PointError> {
        let encoded = EncodedPoint::from_bytes(bytes).map_err(|_| PointError::NotOnCurve)?;
        PublicKey::from_encoded_point(&encoded)
            .into_option()
            .map(P256Point)
            .ok_or(PointError::NotOnCurve)
    }

    /// The compressed SEC 1 encoding (33 bytes).
    pub fn to_compressed(&self) -> [u8; COMPRESSED_LEN] {
        let mut out = [0; COMPRESSED_LEN];
        out.copy_from_slice(self.0.to_encoded_point(true).as_bytes());
        out
    }

    /// The uncompressed SEC 1 encoding (65 bytes).
    pub fn to_uncompressed(&self) -> [u8; UNCOMPRESSED_LEN] {
        let mut out = [0; UNCOMPRESSED_LEN];
        out.copy_from_slice(self.0.to_encoded_point(false).as_bytes());
        out
    }

    /// The key as the `p256` crate's type.
    pub fn as_public_key(&self) -> &PublicKey {
        &self.0
    }
}

impl From<PublicKey> for P256Point {
    fn from(pk: PublicKey) -> Self {
        P256Point(pk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The generator, compressed and uncompressed.
    const G_COMPRESSED: &str = "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
    const G_UNCOMPRESSED: &str = "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

    #[test]
    fn round_trips() {
        let c = hex::decode(G_COMPRESSED).unwrap();
        let u = hex::decode(G_UNCOMPRESSED).unwrap();
        let p = P256Point::from_compressed(&c).unwrap();
        assert_eq!(p.to_uncompressed().to_vec(), u);
        let q = P256Point::from_uncompressed(&u).unwrap();
        assert_eq!(q.to_compressed().to_vec(), c);
        assert_eq!(p, q);
    }

    #[test]
    fn rejects_invalid() {
        let c = hex::decode(G_COMPRESSED).unwrap();
        let u = hex::decode(G_UNCOMPRESSED).unwrap();
        // Wrong lengths, including the one-byte identity encoding.
        assert!(matches!(
            P256Point::from_compressed(&[0]),
            Err(PointError::Length { .. })
        ));
        assert!(matches!(
            P256Point::from_compressed(&u),
            Err(PointError::Length { .. })
        ));
        assert!(matches!(
            P256Point::from_uncompressed(&c),
            Err(PointError::Length { .. })
        ));
        // Wrong prefix.
        let mut bad = c.clone();
        bad[0] = 0x04;
        assert_eq!(
            P256Point::from_compressed(&bad),
            Err(PointError::Format("compressed"))
        );
        let mut bad = u.clone();
        bad[0] = 0x02;
        assert_eq!(
            P256Point::from_uncompressed(&bad),
            Err(PointError::Format("uncompressed"))
        );
        // Not on the curve: y + 1.
        let mut bad = u.clone();
        bad[64] ^= 1;
        assert_eq!(
            P256Point::from_uncompressed(&bad),
            Err(PointError::NotOnCurve)
        );
        // An x-coordinate with no point (x = 0 has none on P-256... check a few until one fails).
        let mut found = false;
        for x in 0u8..=20 {
            let mut bad = [0u8; 33];
            bad[0] = 0x02;
            bad[32] = x;
            if P256Point::from_compressed(&bad) == Err(PointError::NotOnCurve) {
                found = true;
            }
        }
        assert!(found);
        // x = p (non-canonical) is rejected.
        let mut bad = [0xffu8; 33];
        bad[0] = 0x02;
        assert_eq!(
            P256Point::from_compressed(&bad),
            Err(PointError::NotOnCurve)
        );
        // All zeroes uncompressed (0x04 || 0 || 0) is not on the curve.
        let mut zero = [0u8; 65];
        zero[0] = 0x04;
        assert_eq!(
            P256Point::from_uncompressed(&zero),
            Err(PointError::NotOnCurve)
        );
    }
}
