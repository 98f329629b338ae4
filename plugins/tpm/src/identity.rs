//! The identity `AGE-PLUGIN-TPM-1...` and the TPM structures it carries, byte for byte as
//! Foxboron's age-plugin-tpm (`plugin/identity.go`) writes them:
//!
//! ```text
//! u8 version      2 (1: the layout of its 0.3, without the SRK name)
//! u8 PIN flag     0 no PIN, 1 the key has an auth value (asked at decryption)
//! TPM2B_PUBLIC    the key's public area (u16 size, TPMT_PUBLIC)
//! TPM2B_PRIVATE   the key's private blob, wrapped by the SRK (u16 size, bytes)
//! TPM2B_NAME      version > 1 only: the SRK's name (u16 size, 0x000b, SHA-256 of its
//!                 TPMT_PUBLIC), so an identity of another TPM is recognised
//! ```
//! in uppercase Bech32 (no length limit) with the human-readable part `AGE-PLUGIN-TPM-`.
//! The private blob is only usable inside the TPM that made it.

use keytap_p256::bech32::{self, Case};
use keytap_p256::P256Point;

/// The plugin name (`age-plugin-tpm`, `age1tpm1...`, `AGE-PLUGIN-TPM-1...`).
pub const PLUGIN_NAME: &str = "tpm";
/// The identity's Bech32 human-readable part.
pub const IDENTITY_HRP: &str = "AGE-PLUGIN-TPM-";
/// The identity version written by `--generate`.
pub const CURRENT_VERSION: u8 = 2;

/// TPM_ALG_ECC.
const ALG_ECC: u16 = 0x0023;
/// TPM_ALG_NULL.
const ALG_NULL: u16 = 0x0010;
/// TPM_ECC_NIST_P256.
const ECC_NIST_P256: u16 = 0x0003;

/// The public area (TPMT_PUBLIC) of the keys `--generate` creates, as sent to TPM2_Create:
/// ECC, name algorithm SHA-256, attributes fixedTPM | fixedParent | sensitiveDataOrigin |
/// userWithAuth | decrypt (0x00020072), empty policy, no symmetric algorithm, scheme ECDH
/// with SHA-256, curve NIST P-256, no KDF, empty unique.
pub const KEY_TEMPLATE: [u8; 24] = [
    0x00, 0x23, // type: ECC
    0x00, 0x0b, // nameAlg: SHA-256
    0x00, 0x02, 0x00, 0x72, // objectAttributes
    0x00, 0x00, // authPolicy: empty
    0x00, 0x10, // symmetric: NULL
    0x00, 0x19, 0x00, 0x0b, // scheme: ECDH, SHA-256
    0x00, 0x03, // curveID: NIST P-256
    0x00, 0x10, // kdf: NULL
    0x00, 0x00, 0x00, 0x00, // unique: x, y empty
];

/// The public area of the storage root key: go-tpm's `ECCSRKTemplate`, the TCG reference
/// ECC P-256 SRK template (TCG TPM v2.0 Provisioning Guidance). ECC, SHA-256, attributes
/// fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | noDA | restricted |
/// decrypt (0x00030472), empty policy, AES-128-CFB, no scheme, P-256, no KDF, and a
/// unique of two 32-byte zero coordinates (the primary key derived from the owner seed
/// depends on every byte: another unique gives another SRK, and identities whose SRK name
/// do not match).
pub const SRK_TEMPLATE: [u8; 90] = {
    let head: [u8; 24] = [
        0x00, 0x23, // type: ECC
        0x00, 0x0b, // nameAlg: SHA-256
        0x00, 0x03, 0x04, 0x72, // objectAttributes
        0x00, 0x00, // authPolicy: empty
        0x00, 0x06, 0x00, 0x80, 0x00, 0x43, // symmetric: AES, 128 bits, CFB
        0x00, 0x10, // scheme: NULL
        0x00, 0x03, // curveID: NIST P-256
        0x00, 0x10, // kdf: NULL
        0x00, 0x20, // unique.x: 32 bytes (zero, at 24..56)
    ];
    let mut t = [0u8; 90];
    let mut i = 0;
    while i < head.len() {
        t[i] = head[i];
        i += 1;
    }
    // unique.y: 32 bytes (zero, at 58..90).
    t[57] = 0x20;
    t
};

/// An identity as encoded, before its public area is interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawIdentity {
    /// 1 or 2.
    pub version: u8,
    /// Whether the key has an auth value (a PIN).
    pub pin: bool,
    /// The TPMT_PUBLIC (the contents of the TPM2B_PUBLIC).
    pub public: Vec<u8>,
    /// The contents of the TPM2B_PRIVATE.
    pub private: Vec<u8>,
    /// The contents of the SRK's TPM2B_NAME (version > 1).
    pub srk_name: Option<Vec<u8>>,
}

fn put_2b(out: &mut Vec<u8>, data: &[u8]) {
    let len = u16::try_from(data.len()).expect("TPM2B contents fit in 64 KiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
}

/// Reads big-endian TPM structures, failing instead of panicking on short input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("truncated {what}"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.bytes(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn tpm2b(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = self.u16(what)?;
        self.bytes(n.into(), what)
    }
}

impl RawIdentity {
    /// The payload of the Bech32 string.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.version, u8::from(self.pin)];
        put_2b(&mut out, &self.public);
        put_2b(&mut out, &self.private);
        if self.version > 1 {
            put_2b(&mut out, self.srk_name.as_deref().unwrap_or_default());
        }
        out
    }

    /// Parses the payload of the Bech32 string. Like the Go plugin, bytes after the last
    /// field are ignored.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader(bytes);
        let version = r.u8("identity version")?;
        if !(1..=CURRENT_VERSION).contains(&version) {
            return Err(format!(
                "identity version {version} is not supported (1 and 2 are)"
            ));
        }
        let pin = match r.u8("PIN flag")? {
            0 => false,
            1 => true,
            n => return Err(format!("invalid PIN flag {n}")),
        };
        let public = r.tpm2b("TPM2B_PUBLIC")?.to_vec();
        let private = r.tpm2b("TPM2B_PRIVATE")?.to_vec();
        let srk_name = if version > 1 {
            Some(r.tpm2b("SRK name")?.to_vec())
        } else {
            None
        };
        Ok(RawIdentity {
            version,
            pin,
            public,
            private,
            srk_name,
        })
    }

    /// The `AGE-PLUGIN-TPM-1...` string.
    pub fn encode(&self) -> String {
        bech32::encode(IDENTITY_HRP, &self.to_bytes(), Case::Upper)
    }

    /// Parses an `AGE-PLUGIN-TPM-1...` string.
    pub fn decode(s: &str) -> Result<Self, String> {
        let bytes = bech32::decode(s.trim(), IDENTITY_HRP, Case::Upper)
            .map_err(|e| format!("not an AGE-PLUGIN-TPM-1 identity: {e}"))?;
        Self::from_bytes(&bytes)
    }
}

/// Extracts the P-256 point of a TPMT_PUBLIC of an ECC key.
pub fn public_point(tpmt_public: &[u8]) -> Result<P256Point, String> {
    let mut r = Reader(tpmt_public);
    let alg = r.u16("public area")?;
    if alg != ALG_ECC {
        return Err(format!("the TPM key is not an ECC key (type {alg:#06x})"));
    }
    let _name_alg = r.u16("public area")?;
    let _attributes = r.u32("public area")?;
    r.tpm2b("authPolicy")?;
    // TPMS_ECC_PARMS: symmetric (algorithm, then key bits and mode unless NULL), scheme
    // (algorithm, then the hash unless NULL), curve, kdf (algorithm, then the hash).
    if r.u16("symmetric")? != ALG_NULL {
        r.u16("symmetric")?;
        r.u16("symmetric")?;
    }
    let scheme = r.u16("scheme")?;
    if scheme != ALG_NULL {
        r.u16("scheme")?;
        if scheme == 0x001a {
            // ECDAA has a count too.
            r.u16("scheme")?;
        }
    }
    let curve = r.u16("curve")?;
    if curve != ECC_NIST_P256 {
        return Err(format!(
            "the TPM key is not on NIST P-256 (curve {curve:#06x})"
        ));
    }
    if r.u16("kdf")? != ALG_NULL {
        r.u16("kdf")?;
    }
    let x = r.tpm2b("x coordinate")?;
    let y = r.tpm2b("y coordinate")?;
    if x.len() > 32 || y.len() > 32 {
        return Err("the TPM key's coordinates are longer than 32 bytes".into());
    }
    let mut uncompressed = [0u8; 65];
    uncompressed[0] = 4;
    uncompressed[33 - x.len()..33].copy_from_slice(x);
    uncompressed[65 - y.len()..].copy_from_slice(y);
    P256Point::from_uncompressed(&uncompressed)
        .map_err(|e| format!("the TPM key's public point is invalid: {e}"))
}

/// An identity whose public key has been read.
#[derive(Clone, Debug)]
pub struct TpmIdentity {
    /// What the identity encodes.
    pub raw: RawIdentity,
    /// The key's public point.
    pub point: P256Point,
}

impl TpmIdentity {
    /// From the payload of the Bech32 string.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let raw = RawIdentity::from_bytes(bytes)?;
        Self::from_raw(raw)
    }

    /// From a decoded identity.
    pub fn from_raw(raw: RawIdentity) -> Result<Self, String> {
        let point = public_point(&raw.public)?;
        Ok(TpmIdentity { raw, point })
    }

    /// Parses an `AGE-PLUGIN-TPM-1...` string.
    pub fn decode(s: &str) -> Result<Self, String> {
        Self::from_raw(RawIdentity::decode(s)?)
    }

    /// The `age1tag1...` recipient (what Foxboron's 1.0 prints).
    pub fn tag_recipient(&self) -> String {
        keytap_p256::tag::encode_recipient(&self.point)
    }

    /// The `age1tpm1...` recipient (its 0.x format, `--tpm-recipient`).
    pub fn tpm_recipient(&self) -> String {
        keytap_p256::tpm_ecc::SCHEME.encode_recipient(&self.point)
    }
}

/// The identities of an identity file: every line starting with `AGE-PLUGIN-TPM-1`
/// (comments and blank lines skipped). Errors name the line.
pub fn parse_identity_file(text: &str) -> Result<Vec<TpmIdentity>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.to_ascii_uppercase().starts_with("AGE-PLUGIN-TPM-1") {
            continue;
        }
        out.push(TpmIdentity::decode(line).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    if out.is_empty() {
        return Err("no AGE-PLUGIN-TPM-1 identity found".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `plugin/identity_test.go`: the encodings of identities with placeholder blobs.
    #[test]
    fn encoding_vectors_of_identity_test_go() {
        let v = |version, pin, srk: Option<&[u8]>| RawIdentity {
            version,
            pin,
            public: b"public".to_vec(),
            private: b"private".to_vec(),
            srk_name: srk.map(<[u8]>::to_vec),
        };
        let cases = [
            (
                v(1, false, None),
                "AGE-PLUGIN-TPM-1QYQQQPNSW43XC6TRQQRHQUNFWESHGEGN0E0FM",
            ),
            (
                v(1, true, None),
                "AGE-PLUGIN-TPM-1QYQSQPNSW43XC6TRQQRHQUNFWESHGEGWKR32R",
            ),
            (
                v(2, false, Some(b"srk")),
                "AGE-PLUGIN-TPM-1QGQQQPNSW43XC6TRQQRHQUNFWESHGEGQQDEHY6CUT4TFU",
            ),
            (
                v(2, true, Some(b"srk")),
                "AGE-PLUGIN-TPM-1QGQSQPNSW43XC6TRQQRHQUNFWESHGEGQQDEHY6CHRM9KS",
            ),
        ];
        for (id, s) in cases {
            assert_eq!(id.encode(), s);
            assert_eq!(RawIdentity::decode(s).unwrap(), id);
            // Lowercase is not an identity (age's case rule).
            assert!(RawIdentity::decode(&s.to_lowercase()).is_err());
        }
    }

    /// The identity of `cmd/age-plugin-tpm/testdata/script/oldencryption.txt` (version 1,
    /// made by its 0.x) and its `age1tpm1` recipient.
    const OLD_IDENTITY: &str = "AGE-PLUGIN-TPM-1QYQQQKQQYVQQKQQZQPEQQQQQZQQPJQQTQQPSQYQQYZVAVTU4L9CNF9XTXG4Q53L0X7M023HDQPJP4KSN43H6KNYRD3TR7QPQPKSLWWASGJGJZJDDSGUS9WPR2UGGF7VTXQDP4QNWMUZZWW33PMLQQLSQYQ2UTHJ7M64D5DMSYP3U4YYHH56AQW2FEF535SPLK4SE70S5U68FWQQS89R9UL8ZE3ST8XJWSDZTVQMZ8M5T0QRP3ZAF9YS0XN0XUW5WKUFNDEMTLESC8XXJ6TAR3VJ49Y8A70FVE5HH6D8K25M5XREZDNUNXWZSZ0KSLPSVNR2GPDJ7PML2324UNU6E8TUD22K78VCLUTUNSS";
    const OLD_RECIPIENT: &str =
        "age1tpm1q2vavtu4l9cnf9xtxg4q53l0x7m023hdqpjp4ksn43h6knyrd3tr78cwcjw";

    /// The identity and recipient of its README (version 2, made by its 1.0).
    const NEW_IDENTITY: &str = "AGE-PLUGIN-TPM-1QGQQQKQQYVQQKQQZQPEQQQQQZQQPJQQTQQPSQYQQYR96EDFP3TY6N36FJ5KYQ0YUESP7RDCMM7SJSWZDCREKH6ASH8N3UQPQYE4FZAPQXA3HRLELET3KX2EDSWDRF2ET4DWMTN0AWMKHUPQ8EK8SQLSQYQYMY5ZVWQYDY5D7WZ0W6KEXDWNUAP00DEVQ76AJ7HVV85TWU0DFCQQS0DA7N7E8GN55U6E4G8ECFFNRTP7XJTHD440N3CZW6STXNWQGA89WF3NF3PEDPUAPC8AW5XNZW68E4QG7X85G2CM5TZDKAP2UZ9EEAAC5LQ0R9PJEX5280SG0U47HA09EAFQ6VSVX65HCGRGNQQ3QQZL5H2W3M34CMSTWMRXLR90YRDZPZKWGZK7H7E079KLCCSSVRLFMQYEY547R";
    const NEW_RECIPIENT: &str =
        "age1tag1q096edfp3ty6n36fj5kyq0yuesp7rdcmm7sjswzdcrekh6ash8n3uys987t";

    #[test]
    fn generated_identities_of_its_testdata_and_readme() {
        let old = TpmIdentity::decode(OLD_IDENTITY).unwrap();
        assert_eq!(old.raw.version, 1);
        assert!(!old.raw.pin);
        assert_eq!(old.raw.srk_name, None);
        assert_eq!(old.tpm_recipient(), OLD_RECIPIENT);
        assert_eq!(old.raw.encode(), OLD_IDENTITY);

        let new = TpmIdentity::decode(NEW_IDENTITY).unwrap();
        assert_eq!(new.raw.version, 2);
        assert!(!new.raw.pin);
        assert_eq!(new.tag_recipient(), NEW_RECIPIENT);
        assert_eq!(new.raw.encode(), NEW_IDENTITY);
        // The SRK name: TPM_ALG_SHA256 then a SHA-256 digest.
        let name = new.raw.srk_name.as_ref().unwrap();
        assert_eq!(name.len(), 34);
        assert_eq!(&name[..2], &[0x00, 0x0b]);
        // The same key as both recipients.
        assert_eq!(
            keytap_p256::tpm_ecc::SCHEME
                .parse_recipient(&new.tpm_recipient())
                .unwrap(),
            keytap_p256::tag::parse_recipient(NEW_RECIPIENT).unwrap()
        );
    }

    /// The key template is the public area of the keys its `--generate` made, with the
    /// unique (the public point the TPM filled in) emptied.
    #[test]
    fn key_template_matches_its_keys() {
        for s in [OLD_IDENTITY, NEW_IDENTITY] {
            let id = RawIdentity::decode(s).unwrap();
            assert_eq!(id.public.len(), 20 + 2 * (2 + 32));
            let mut expected = id.public[..20].to_vec();
            expected.extend_from_slice(&[0, 0, 0, 0]);
            assert_eq!(expected, KEY_TEMPLATE);
        }
    }

    #[test]
    fn srk_template_bytes() {
        let mut expected =
            hex::decode("0023000b00030472000000060080004300100003001000200000").unwrap();
        expected.truncate(24);
        expected.extend_from_slice(&[0; 32]);
        expected.extend_from_slice(&[0x00, 0x20]);
        expected.extend_from_slice(&[0; 32]);
        assert_eq!(expected, SRK_TEMPLATE);
    }

    #[test]
    fn malformed_identities_are_errors_not_panics() {
        let good = RawIdentity::decode(NEW_IDENTITY).unwrap().to_bytes();
        for n in 0..good.len() {
            let _ = TpmIdentity::from_bytes(&good[..n]);
        }
        assert!(TpmIdentity::from_bytes(&good[..good.len() - 1]).is_err());
        let mut bad = good.clone();
        bad[0] = 3;
        assert!(TpmIdentity::from_bytes(&bad)
            .unwrap_err()
            .contains("version 3"));
        let mut bad = good.clone();
        bad[1] = 2;
        assert!(TpmIdentity::from_bytes(&bad).is_err());
        // The placeholder identities of identity_test.go have no valid public area.
        assert!(
            TpmIdentity::decode("AGE-PLUGIN-TPM-1QYQQQPNSW43XC6TRQQRHQUNFWESHGEGN0E0FM").is_err()
        );
    }

    #[test]
    fn identity_files() {
        let text = format!("# Created: now\n# Recipient: {NEW_RECIPIENT}\n\n{NEW_IDENTITY}\n");
        let ids = parse_identity_file(&text).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].tag_recipient(), NEW_RECIPIENT);
        assert!(parse_identity_file("# nothing\n").is_err());
        let err = parse_identity_file("AGE-PLUGIN-TPM-1QQQQ\n").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }
}
