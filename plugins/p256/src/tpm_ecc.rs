//! `age1tpm1...` recipients and `tpm-ecc` stanzas: the format of Foxboron's
//! `age-plugin-tpm` before 1.0 (its 1.0 wraps to `p256tag` but still opens these).
//!
//! ```text
//! -> tpm-ecc <base64(tag)> <base64(ephemeral)>
//! <base64(ChaCha20-Poly1305(key, nonce = 12 zero bytes, file key))>
//! tag       = SHA-256(recipient, uncompressed)[:4]
//! ephemeral = the ephemeral public key, compressed (33 bytes)
//! key       = HKDF-SHA-256(ikm  = ECDH x-coordinate,
//!                          salt = ephemeral uncompressed || recipient uncompressed,
//!                          info = "age-encryption.org/v1/tpm-p256")
//! ```
//! Base64 is standard, unpadded and canonical. The recipient is the 33-byte compressed
//! point, Bech32 with the human-readable part `age1tpm` (the plugin name `tpm`).
//!
//! Written from the format as that plugin's `plugin/crypto.go`, `recipient.go` and
//! `tpmidentity.go` (v1.0.0) define it; the vectors of its tests are this module's tests.

use rand_core::{CryptoRng, RngCore};

use crate::ecdh_stanza::{EcdhStanza, Encoding, Scheme};
use crate::point::P256Point;
use crate::{Ecdh, FileKey, RecipientError, StanzaError, UnwrapError, FILE_KEY_LEN, TAG_LEN};

/// The stanza type.
pub const STANZA_TYPE: &str = "tpm-ecc";
/// The HKDF `info`.
pub const LABEL: &str = "age-encryption.org/v1/tpm-p256";
/// The Bech32 human-readable part of the recipient.
pub const RECIPIENT_HRP: &str = "age1tpm";

/// The format, in the shared shape of the plugins' P-256 stanzas.
pub const SCHEME: Scheme = Scheme {
    stanza_type: STANZA_TYPE,
    label: LABEL,
    recipient_hrp: RECIPIENT_HRP,
    encoding: Encoding::Uncompressed,
};

/// Encodes a P-256 public key as an `age1tpm1...` recipient.
pub fn encode_recipient(point: &P256Point) -> String {
    SCHEME.encode_recipient(point)
}

/// Parses an `age1tpm1...` recipient: lowercase Bech32 of a 33-byte compressed point on
/// the curve.
pub fn parse_recipient(s: &str) -> Result<P256Point, RecipientError> {
    SCHEME.parse_recipient(s)
}

/// The recipient from the data part of an `age1tpm1...` string (what an age plugin is
/// given in `add-recipient`).
pub fn recipient_from_bytes(bytes: &[u8]) -> Result<P256Point, RecipientError> {
    crate::ecdh_stanza::recipient_from_bytes(bytes)
}

/// The tag of every `tpm-ecc` stanza for `recipient`: `SHA-256(uncompressed)[:4]` (unlike
/// `p256tag`, it does not depend on the ephemeral key).
pub fn compute_tag(recipient: &P256Point) -> [u8; TAG_LEN] {
    SCHEME.tag(recipient)
}

/// A well-formed `tpm-ecc` stanza (fields: those of [`EcdhStanza`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmEccStanza(pub EcdhStanza);

impl std::ops::Deref for TpmEccStanza {
    type Target = EcdhStanza;
    fn deref(&self) -> &EcdhStanza {
        &self.0
    }
}

impl std::ops::DerefMut for TpmEccStanza {
    fn deref_mut(&mut self) -> &mut EcdhStanza {
        &mut self.0
    }
}

impl TpmEccStanza {
    /// Parses a stanza: `Ok(None)` if its type is not `tpm-ecc`, an error if it is but its
    /// arguments are not exactly the canonical base64 of a 4-byte tag and a 33-byte point,
    /// or its body is not 32 bytes. `args` excludes the type.
    pub fn parse<S: AsRef<str>>(
        stanza_type: &str,
        args: &[S],
        body: &[u8],
    ) -> Result<Option<Self>, StanzaError> {
        Ok(SCHEME.parse(stanza_type, args, body)?.map(TpmEccStanza))
    }

    /// The stanza's arguments after the type: the base64 tag and ephemeral key.
    pub fn args(&self) -> Vec<String> {
        self.0.args()
    }

    /// Whether the tag says this stanza is addressed to `recipient` (in constant time).
    pub fn is_addressed_to(&self, recipient: &P256Point) -> bool {
        use subtle::ConstantTimeEq;
        compute_tag(recipient).ct_eq(&self.tag).into()
    }

    /// Seals `file_key` to `recipient` with a fresh ephemeral key from `rng`.
    pub fn wrap<R: RngCore + CryptoRng>(
        recipient: &P256Point,
        file_key: &[u8; FILE_KEY_LEN],
        rng: &mut R,
    ) -> Self {
        TpmEccStanza(SCHEME.wrap(recipient, file_key, rng))
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
        SCHEME.unwrap(&self.0, recipient, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::software::SoftwareP256Key;
    use rand::rngs::OsRng;
    use zeroize::Zeroizing;

    fn point(x: &str, y: &str) -> P256Point {
        let mut u = vec![4u8];
        u.extend(hex::decode(x).unwrap());
        u.extend(hex::decode(y).unwrap());
        P256Point::from_uncompressed(&u).unwrap()
    }

    /// `plugin/recipient_test.go`: the key given by its decimal coordinates
    /// 89354244803538158909979995955747079783816134516555582017998279936143319776423,
    /// 44449113766368004535934930895165275911452797542884597880018495457858036318074
    /// (here in hex) and its recipient.
    #[test]
    fn recipient_vector_of_recipient_test_go() {
        let p = point(
            "c58cb5d82733b958931b398851c4bf335bd147633d0508b639983f1ec4d63ca7",
            "62454e8dbf8828ac916b5ad250f101e53c1d633330d82d07a8ccfb6a1d763f7a",
        );
        let r = "age1tpm1qtzcedwcyuemjkynrvucs5wyhue4h528vv7s2z9k8xvr78ky6c72wff0tz2";
        assert_eq!(encode_recipient(&p), r);
        assert_eq!(parse_recipient(r).unwrap(), p);
        assert!(parse_recipient(&r.to_uppercase()).is_err());
        assert!(parse_recipient(&crate::tag::encode_recipient(&p)).is_err());
    }

    /// `cmd/age-plugin-tpm/testdata/script/oldencryption.txt`: the recipient of its
    /// identity, whose TPMT_PUBLIC holds x = 99d62f..., y = 0da1f7..., and the `tpm-ecc`
    /// stanza of its encrypted file, whose tag is SHA-256 of the uncompressed point.
    #[test]
    fn stanza_vector_of_oldencryption_txt() {
        let p = point(
            "99d62f95f9713494cb322a0a47ef37b6f546ed00641ada13ac6fab4c836c563f",
            "0da1f73bb044912149ad823902b823571084f98b301a1a826edf04273a310efe",
        );
        assert_eq!(
            encode_recipient(&p),
            "age1tpm1q2vavtu4l9cnf9xtxg4q53l0x7m023hdqpjp4ksn43h6knyrd3tr78cwcjw"
        );
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode("IfMtPZBhR5cfPUB6zeuOM9K7nWa2P8wqyKGKjXnSmJE")
            .unwrap();
        let args = ["YDrnIw", "AkWKQTZjaurEo/AUtjcqs5vIJIYmIZfolYHkpdyFTWSr"];
        let s = TpmEccStanza::parse(STANZA_TYPE, &args, &body)
            .unwrap()
            .unwrap();
        assert_eq!(s.tag, compute_tag(&p));
        assert!(s.is_addressed_to(&p));
        assert!(P256Point::from_compressed(&s.ephemeral).is_ok());
        assert_eq!(s.args(), args);
        // Not addressed to another key: its ECDH is never asked.
        let other = SoftwareP256Key::generate(&mut OsRng);
        let never = crate::EcdhFn(|_: &P256Point| -> Result<Zeroizing<[u8; 32]>, ()> {
            panic!("the device must not be asked")
        });
        assert!(s.unwrap(other.public(), &never).unwrap().is_none());
    }

    /// A known-answer vector for the key derivation and sealing: recipient scalar 0x11..11,
    /// ephemeral scalar 0x22..22, file key 00 01 .. 0f, computed independently from the
    /// format description with Python's `cryptography` (ECDH, HKDF-SHA256,
    /// ChaCha20Poly1305) when this module was written.
    #[test]
    fn known_answer() {
        let key = SoftwareP256Key::from_bytes(&[0x11; 32]).unwrap();
        assert_eq!(
            hex::encode(key.public().to_compressed()),
            "020217e617f0b6443928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4ed"
        );
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode("6f2CPDgW9RK+Bhh7aqEhE4+7MKYvPjBFW3dI3uk6EWQ")
            .unwrap();
        let s = TpmEccStanza::parse(
            STANZA_TYPE,
            &["K60P1g", "A9Zak5d8qj0bCBhS/1ennkZfFmBXcwS66tUF3TpIWJzz"],
            &body,
        )
        .unwrap()
        .unwrap();
        let file_key: Vec<u8> = (0..16).collect();
        assert_eq!(
            s.unwrap(key.public(), &key).unwrap().unwrap().to_vec(),
            file_key
        );
    }

    #[test]
    fn wrap_unwrap_round_trip() {
        let key = SoftwareP256Key::generate(&mut OsRng);
        let recipient = *key.public();
        let file_key = [7u8; 16];
        let s = TpmEccStanza::wrap(&recipient, &file_key, &mut OsRng);
        let args = s.args();
        let parsed = TpmEccStanza::parse(STANZA_TYPE, &args, &s.body)
            .unwrap()
            .unwrap();
        assert_eq!(parsed, s);
        assert_eq!(*parsed.unwrap(&recipient, &key).unwrap().unwrap(), file_key);
        let mut bad = parsed.clone();
        bad.body[3] ^= 1;
        assert!(bad.unwrap(&recipient, &key).unwrap().is_none());
        let failing =
            crate::EcdhFn(|_: &P256Point| -> Result<Zeroizing<[u8; 32]>, &str> { Err("no TPM") });
        assert!(matches!(
            parsed.unwrap(&recipient, &failing),
            Err(UnwrapError::Ecdh("no TPM"))
        ));
    }

    #[test]
    fn malformed_stanzas() {
        let key = SoftwareP256Key::generate(&mut OsRng);
        let s = TpmEccStanza::wrap(key.public(), &[1; 16], &mut OsRng);
        let [tag, eph] = <[String; 2]>::try_from(s.args()).unwrap();
        let body = s.body.to_vec();
        assert_eq!(
            TpmEccStanza::parse("p256tag", &[&tag, &eph], &body),
            Ok(None)
        );
        assert!(TpmEccStanza::parse(STANZA_TYPE, &[&tag], &body).is_err());
        assert!(TpmEccStanza::parse(STANZA_TYPE, &[&eph, &tag], &body).is_err());
        assert!(TpmEccStanza::parse(STANZA_TYPE, &[&tag, &eph], &body[1..]).is_err());
        assert!(
            TpmEccStanza::parse(STANZA_TYPE, &[format!("{tag}=="), eph.clone()], &body).is_err()
        );
    }
}
