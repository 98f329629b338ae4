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

use crate::ecdh_stanza::{Encoding, Format, Scheme, SchemeStanza};

/// The stanza type.
pub const STANZA_TYPE: &str = "tpm-ecc";

/// The format, in the shared shape of the plugins' P-256 stanzas: HKDF `info`
/// `age-encryption.org/v1/tpm-p256`, recipients `age1tpm1...` (`SCHEME.encode_recipient`,
/// `parse_recipient`, `recipient_from_bytes`), uncompressed points in the tag (`SCHEME.tag`:
/// unlike `p256tag`'s, it does not depend on the ephemeral key) and the salt.
pub const SCHEME: Scheme = Scheme {
    stanza_type: STANZA_TYPE,
    label: "age-encryption.org/v1/tpm-p256",
    recipient_hrp: "age1tpm",
    encoding: Encoding::Uncompressed,
    check_ephemeral: false,
};

/// The `tpm-ecc` format, as a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TpmEcc;

impl Format for TpmEcc {
    const SCHEME: Scheme = SCHEME;
}

/// A well-formed `tpm-ecc` stanza (its ephemeral key is checked to be a point when
/// unwrapping).
pub type TpmEccStanza = SchemeStanza<TpmEcc>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::P256Point;
    use crate::software::{never_asked, SoftwareP256Key};
    use rand::rngs::OsRng;

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
        assert_eq!(SCHEME.encode_recipient(&p), r);
        assert_eq!(SCHEME.parse_recipient(r).unwrap(), p);
        assert!(SCHEME.parse_recipient(&r.to_uppercase()).is_err());
        assert!(SCHEME
            .parse_recipient(&crate::tag::encode_recipient(&p))
            .is_err());
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
            SCHEME.encode_recipient(&p),
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
        assert_eq!(s.tag, SCHEME.tag(&p));
        assert!(s.is_addressed_to(&p));
        assert!(P256Point::from_compressed(&s.ephemeral).is_ok());
        assert_eq!(s.args(), args);
        // Not addressed to another key: its ECDH is never asked.
        let other = SoftwareP256Key::generate(&mut OsRng);
        assert!(s.unwrap(other.public(), &never_asked()).unwrap().is_none());
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
}
