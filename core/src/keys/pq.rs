//! Post-quantum hybrid age keys (age 1.3): recipients `age1pq1...`, identities
//! `AGE-SECRET-KEY-PQ-1...`, stanza `mlkem768x25519` (C2SP `age.md`, "The MLKEM768-X25519
//! (i.e. X-Wing) hybrid post-quantum recipient type"). What sops 3.11 (on age 1.3.1) writes
//! and reads, and what `age-keygen -pq` makes.
//!
//! The stanza is HPKE base mode (RFC 9180) with the MLKEM768-X25519 KEM of
//! draft-ietf-hpke-pq (X-Wing, KEM id 0x647a), HKDF-SHA256 and ChaCha20Poly1305,
//! `info = "age-encryption.org/mlkem768x25519"`. ML-KEM-768 is RustCrypto's `ml-kem`, X25519
//! is `x25519-dalek`, SHA3/SHAKE is `sha3`; hand-written here, because the draft pins them byte
//! for byte and no maintained crate of this dependency generation has them: the key
//! expansion (`SHAKE256(seed, 96)` = ML-KEM `d || z`, then the X25519 scalar) and the
//! combiner (`SHA3-256(ss_M || ss_X || ct_X || pk_X || "\.//^\")`). The HPKE key schedule is
//! `keytap_p256::hpke` (hand-written from RFC 9180, checked against its test vectors).
//!
//! Recipients carry the label `postquantum`, as in age: the `age` crate refuses to mix them
//! in one file with recipients that are not post-quantum. sops (and keytap) wrap the data key
//! to each recipient in its own age file, so this never gets in the way there.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use age::{DecryptError, EncryptError};
use age_core::format::{FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use base64::{engine::general_purpose::STANDARD_NO_PAD, Engine};
use keytap_p256::bech32::{self, Case};
use keytap_p256::hpke::{self, KEM_MLKEM768_X25519};
use keytap_p256::hybrid::{parse_mlkem768_encapsulation_key, DecapsulationKey, EncapsulationKey};
use ml_kem::kem::{Decapsulate, Encapsulate};
use ml_kem::{EncodedSizeUser, KemCore, MlKem768};
use rand::rngs::OsRng;
use rand::RngCore;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::{Digest, Sha3_256, Shake256};
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};
use zeroize::Zeroizing;

/// Bech32 human-readable part of the recipient.
pub const RECIPIENT_HRP: &str = "age1pq";
/// Bech32 human-readable part of the identity.
pub const IDENTITY_HRP: &str = "AGE-SECRET-KEY-PQ-";
/// The stanza type.
pub const STANZA_TYPE: &str = "mlkem768x25519";
/// HPKE `info` of the stanza.
const LABEL: &str = "age-encryption.org/mlkem768x25519";
/// X-Wing's combiner label (draft-connolly-cfrg-xwing-kem; draft-ietf-hpke-pq).
const XWING_LABEL: &[u8] = br"\.//^\";

const MLKEM_EK_LEN: usize = 1184;
const MLKEM_CT_LEN: usize = 1088;
/// Length of the raw recipient: ML-KEM-768 encapsulation key, then X25519 public key.
pub const RECIPIENT_LEN: usize = MLKEM_EK_LEN + 32;
/// Length of the stanza's encapsulated key: ML-KEM-768 ciphertext, then X25519 share.
pub const ENC_LEN: usize = MLKEM_CT_LEN + 32;
/// Length of the identity: a 32-byte seed.
pub const SEED_LEN: usize = 32;

/// The label that keeps post-quantum recipients from being mixed with classic ones.
const POSTQUANTUM: &str = "postquantum";

/// Why a post-quantum recipient or identity string could not be parsed. One line; the
/// recipient is named (shortened), an identity never is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PqKeyError {
    /// A malformed `age1pq1...` recipient.
    #[error("malformed post-quantum recipient {recipient}: {reason}")]
    Recipient {
        /// The recipient, shortened by [`abbreviate`].
        recipient: String,
        /// Why.
        reason: String,
    },
    /// A malformed `AGE-SECRET-KEY-PQ-1...` identity.
    #[error("malformed post-quantum identity: {reason}")]
    Identity {
        /// Why (never the key material).
        reason: String,
    },
}

/// Shortens a long key for an error message: `age1pq1x34nzsvr0rxjsgd...zc0k`, first 24
/// and last 4 characters. Short strings are returned whole.
pub fn abbreviate(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 40 {
        return s.to_string();
    }
    let head: String = chars[..24].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

/// Whether the X25519 public key is of low order (its product with any clamped scalar is
/// the all-zero point). Such a recipient could only produce stanzas anyone can open.
fn x25519_is_low_order(pk: &[u8; 32]) -> bool {
    // Clamped scalars are multiples of the cofactor 8, so d·P = 0 exactly for the points of
    // the small subgroup whatever the (non-zero) scalar; use a fixed one.
    let product = x25519_dalek::x25519([0x42; 32], *pk);
    product.iter().fold(0u8, |acc, b| acc | b) == 0
}

/// An `age1pq1...` recipient: an ML-KEM-768 encapsulation key and an X25519 public key.
#[derive(Clone)]
pub struct PqRecipient {
    ek: EncapsulationKey,
    pk_x: [u8; 32],
}

impl PqRecipient {
    /// Parses the raw 1,216-byte recipient; the reason on failure.
    fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != RECIPIENT_LEN {
            return Err(format!(
                "the key is {} bytes long, expected {RECIPIENT_LEN}",
                bytes.len()
            ));
        }
        let (ek, pk_x) = bytes.split_at(MLKEM_EK_LEN);
        let ek = parse_mlkem768_encapsulation_key(ek)
            .ok_or_else(|| "invalid ML-KEM-768 encapsulation key".to_string())?;
        let pk_x: [u8; 32] = pk_x.try_into().expect("32 bytes");
        if x25519_is_low_order(&pk_x) {
            return Err("the X25519 key is a low-order point".to_string());
        }
        Ok(PqRecipient { ek, pk_x })
    }

    /// The raw 1,216-byte recipient.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECIPIENT_LEN);
        out.extend_from_slice(&self.ek.as_bytes());
        out.extend_from_slice(&self.pk_x);
        out
    }
}

impl FromStr for PqRecipient {
    type Err = PqKeyError;

    /// Parses an `age1pq1...` recipient: all-lowercase Bech32 (no length limit) of a
    /// canonical ML-KEM-768 encapsulation key followed by an X25519 key of full order.
    fn from_str(s: &str) -> Result<Self, PqKeyError> {
        let err = |reason: String| PqKeyError::Recipient {
            recipient: abbreviate(s),
            reason,
        };
        let bytes =
            bech32::decode(s, RECIPIENT_HRP, Case::Lower).map_err(|e| err(e.to_string()))?;
        PqRecipient::from_bytes(&bytes).map_err(err)
    }
}

impl fmt::Display for PqRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bech32::encode(
            RECIPIENT_HRP,
            &self.to_bytes(),
            Case::Lower,
        ))
    }
}

impl fmt::Debug for PqRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PqRecipient({})", abbreviate(&self.to_string()))
    }
}

impl PartialEq for PqRecipient {
    fn eq(&self, other: &Self) -> bool {
        self.pk_x == other.pk_x && self.ek == other.ek
    }
}

impl Eq for PqRecipient {}

/// X-Wing's combiner: `SHA3-256(ss_M || ss_X || ct_X || pk_X || "\.//^\")`.
fn combine(ss_m: &[u8], ss_x: &[u8; 32], ct_x: &[u8; 32], pk_x: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha3_256::new();
    Digest::update(&mut h, ss_m);
    Digest::update(&mut h, ss_x);
    Digest::update(&mut h, ct_x);
    Digest::update(&mut h, pk_x);
    Digest::update(&mut h, XWING_LABEL);
    Zeroizing::new(h.finalize().into())
}

impl age::Recipient for PqRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), EncryptError> {
        let (ct_m, ss_m) = self
            .ek
            .encapsulate(&mut OsRng)
            .map_err(|()| EncryptError::Io(std::io::Error::other("ML-KEM encapsulation failed")))?;
        let ss_m = Zeroizing::new(<[u8; 32]>::from(ss_m));
        let ephemeral = StaticSecret::random_from_rng(OsRng);
        let ct_x = X25519Public::from(&ephemeral).to_bytes();
        let ss_x = ephemeral.diffie_hellman(&X25519Public::from(self.pk_x));
        if !ss_x.was_contributory() {
            // Unreachable for a parsed recipient (low-order keys are refused).
            return Err(EncryptError::Io(std::io::Error::other(
                "the X25519 key of the post-quantum recipient is a low-order point",
            )));
        }
        let shared_secret = combine(&ss_m[..], ss_x.as_bytes(), &ct_x, &self.pk_x);
        let mut enc = Vec::with_capacity(ENC_LEN);
        enc.extend_from_slice(&ct_m);
        enc.extend_from_slice(&ct_x);
        let body = hpke::seal_base(
            KEM_MLKEM768_X25519,
            &shared_secret[..],
            LABEL.as_bytes(),
            file_key.expose_secret(),
        );
        let stanza = Stanza {
            tag: STANZA_TYPE.to_string(),
            args: vec![STANDARD_NO_PAD.encode(&enc)],
            body,
        };
        Ok((vec![stanza], HashSet::from([POSTQUANTUM.to_string()])))
    }
}

/// An `AGE-SECRET-KEY-PQ-1...` identity: a 32-byte seed, expanded to an ML-KEM-768
/// decapsulation key and an X25519 private key.
pub struct PqIdentity {
    seed: Zeroizing<[u8; SEED_LEN]>,
    dk: DecapsulationKey,
    sk_x: StaticSecret,
    recipient: PqRecipient,
}

impl PqIdentity {
    /// A new random identity (what `age-keygen -pq` does).
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0; SEED_LEN]);
        OsRng.fill_bytes(&mut seed[..]);
        Self::from_seed(&seed)
    }

    /// Expands the seed: `SHAKE256(seed, 96)` gives ML-KEM-768's `d || z` (64 bytes) then
    /// the X25519 scalar (32 bytes).
    fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        let mut expanded = Zeroizing::new([0u8; 96]);
        Shake256::default()
            .chain(seed)
            .finalize_xof()
            .read(&mut expanded[..]);
        let d = ml_kem::B32::try_from(&expanded[..32]).expect("32 bytes");
        let z = ml_kem::B32::try_from(&expanded[32..64]).expect("32 bytes");
        let (dk, ek) = MlKem768::generate_deterministic(&d, &z);
        let sk_bytes: [u8; 32] = expanded[64..].try_into().expect("32 bytes");
        let sk_x = StaticSecret::from(sk_bytes);
        let pk_x = X25519Public::from(&sk_x).to_bytes();
        PqIdentity {
            seed: Zeroizing::new(*seed),
            dk,
            sk_x,
            recipient: PqRecipient { ek, pk_x },
        }
    }

    /// The recipient of this identity.
    pub fn to_public(&self) -> PqRecipient {
        self.recipient.clone()
    }

    /// The identity's encoding, `AGE-SECRET-KEY-PQ-1...` (uppercase Bech32), wiped from
    /// memory when dropped.
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        Zeroizing::new(bech32::encode(IDENTITY_HRP, &self.seed[..], Case::Upper))
    }
}

impl FromStr for PqIdentity {
    type Err = PqKeyError;

    /// Parses an `AGE-SECRET-KEY-PQ-1...` identity (all-uppercase Bech32 of 32 bytes).
    fn from_str(s: &str) -> Result<Self, PqKeyError> {
        let err = |reason: String| PqKeyError::Identity { reason };
        let bytes = Zeroizing::new(
            bech32::decode(s, IDENTITY_HRP, Case::Upper).map_err(|e| err(e.to_string()))?,
        );
        let seed: &[u8; SEED_LEN] = bytes[..].try_into().map_err(|_| {
            err(format!(
                "the key is {} bytes long, expected {SEED_LEN}",
                bytes.len()
            ))
        })?;
        Ok(PqIdentity::from_seed(seed))
    }
}

impl fmt::Debug for PqIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PqIdentity(recipient {})",
            abbreviate(&self.recipient.to_string())
        )
    }
}

impl age::Identity for PqIdentity {
    /// Opens a `mlkem768x25519` stanza as age does: `None` for other stanza types and for
    /// stanzas of other recipients, an error for malformed ones (not exactly one canonical
    /// base64 argument of 1,120 bytes, a body that is not 32 bytes, a low-order X25519
    /// share).
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        if stanza.tag != STANZA_TYPE {
            return None;
        }
        let [arg] = &stanza.args[..] else {
            return Some(Err(DecryptError::InvalidHeader));
        };
        let enc = match STANDARD_NO_PAD.decode(arg) {
            Ok(enc) if enc.len() == ENC_LEN => enc,
            _ => return Some(Err(DecryptError::InvalidHeader)),
        };
        // Checked before any decryption, against partitioning oracles.
        if stanza.body.len() != 32 {
            return Some(Err(DecryptError::InvalidHeader));
        }
        let (ct_m, ct_x) = enc.split_at(MLKEM_CT_LEN);
        let ct_x: [u8; 32] = ct_x.try_into().expect("32 bytes");
        let ct_m = ml_kem::Ciphertext::<MlKem768>::try_from(ct_m).expect("1088 bytes");
        // ML-KEM rejects implicitly: another recipient's ciphertext gives a random secret,
        // and the AEAD below fails.
        let ss_m = Zeroizing::new(<[u8; 32]>::from(self.dk.decapsulate(&ct_m).ok()?));
        let ss_x = self.sk_x.diffie_hellman(&X25519Public::from(ct_x));
        if !ss_x.was_contributory() {
            return Some(Err(DecryptError::InvalidHeader));
        }
        let shared_secret = combine(&ss_m[..], ss_x.as_bytes(), &ct_x, &self.recipient.pk_x);
        let file_key = hpke::open_base(
            KEM_MLKEM768_X25519,
            &shared_secret[..],
            LABEL.as_bytes(),
            &stanza.body,
        )
        .ok()?;
        Some(Ok(FileKey::init_with_mut(|k| {
            k.copy_from_slice(&file_key[..])
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::{Identity, Recipient};

    /// The example identity of C2SP `age.md`.
    const SPEC_IDENTITY: &str =
        "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR";
    /// The example recipient of C2SP `age.md` (the recipient of `SPEC_IDENTITY`).
    const SPEC_RECIPIENT: &str = "age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235jzxshfg87pzf5zrqtzdxz95paef6caq5aapdmwjjqpjfdyxnzr2zampc3uxy0dg4z2n2gm9su72p0pc3u0jvev55l694v78snxg3yzvcl7yda0eyytqj6a0ec477lnhcy5hzpz4zq3pxanve4cn62gqj3pjy5lqj9c6kyj4v2z8alktn8zh99970x79gjkv7522hv9kfz35zsnxhsx8wwtmu9cy3ftzjgwcp4sshn3llnylnpdsyz5jm72vefv4x5vfwytrefxg4wq3mv42wcrvkj742479zrxzpvp2p3e9fed9f0739vcu80r7ma28qfhnvlv4gfzel9q654dj3zmuvvz893azhxdvs9fxd0r7jzchzcfcs5mkyyjxhw0n2z6dvp9yn9qfdp29h0azxqyjw6v7fhyuzj7zel0uq6j9rd7wgrpz7mf5dnj43jwsgvrc8qcnhy7tu6dkdujuxzkp9xj43xe8h92ktre2a3u3s8mm5mrp9nr9pwkgtz4mdlq9hgn4fps4k57ff6wddn2fy23t47sm20r8km8sd2pcyyafnet8f0dajsrlyjeah4n3mssr6aseevuuskdvq5lzguyvpgwpta742c6698vgutzqgny8usfg0w2he7kq5vyxjd0f9hqg8xk26y9e4th0gezq92q4cpp5p2y9hf5f2cje5l0c3sa3a2qxmm38pxxvhxh99yzmfz0zk7r2s64nnwjhkfgfr3gf8xnmppcgmaykvh5sh6g7vk9790rf8ws0axmr2t7z8aae5fq2029uvcn2ghgt4fu4wgwdc0k0cz52qkvwmuzj8p8k5jgf3xzk5zmrkavjekjrpeq408xz3zxazwkc6tyfmhayrkfpjhwtz5mp8j8guqe43k2q6m2kte03vrw27y3wmqyu5etmt9dnkwcnnpmu9gz9dekfhdevf42ucshphnrk38ra6hx8w5f8q5ru0xdhrjxmwqf6cused7zc5xvq43r0zscjglpwlptpwydhqw64xz7ptjdyeyzpq2zkxtmzg29gzjpvzva4d3l0cenn9xs297wf4y4ukwrunf57xj6pm7nvrkwvtrt8hwcmgv8x7ajw7258ugf9wvkmk4052ekg87tw5vnx8nq2swyzv77v8yqlwsenvamr0zssknwts8rrhfuwj7ykysnq9jxy0uv3kuyt22djszjdtvpz6d0s0kwh8ryynddzud92emeyvvyqktd0jtj7rvvg5gch25v8smlvny3kvn5gagyz475ze2y6q466xqmz2n3hs77lddeqyta2nch5k2u5yacuk9ywnwfdzvyejnucz724hj77hrrmakm7pr3kxsrxq22ejexlud9fy2kdqmkg5yncz7jm5wv2qjk5w5kvcpqsry2yqffh2la52dxfjkjq5rzhjzeyn6dupn0qwtyv7s4lwg3xdarsdlwe2y3tujy480y7z39q259fzx6jhd2j0f5hagqpcpees7hzc2yrk5cy788uk3s7qvp5cpepx24gvws3m2g433exgwppnkjscec8qu4y9z9r7vccexjcjaen42245lmgmxmuavg9alej92322gvvyy2t6267v09ch64y0m53jff0vjj96s0ypk60hr3jw4myd6m5hpn3xjstx7tl2szhpr5qe8jj08ydjc4wy2rch2fhuy3pdfjax5awe9j99ly5hkntzz9fe5zatgjvzdd0kgtxs25njnajyf6ssekp7gelxquusn4pt25czh3scj68kq79wdn5tgm6yvm9nzavrg043x3msnygf8dweknw5jmqd0uvny6ttsn09508k0c55zfnegrm9efhxpfqdkmhh6gjtqmwze9pyyzk3tlhl53k2ykx3qheyty7saeq0d3fzv49zc0k";

    #[test]
    fn spec_identity_round_trips() {
        let id = PqIdentity::from_str(SPEC_IDENTITY).unwrap();
        assert_eq!(&*id.to_secret_string(), SPEC_IDENTITY);
        let r = id.to_public().to_string();
        assert_eq!(r, SPEC_RECIPIENT);
        assert_eq!(r.len(), 1959);
        assert_eq!(PqRecipient::from_str(&r).unwrap(), id.to_public());
    }

    #[test]
    fn wrap_unwrap() {
        let id = PqIdentity::generate();
        let other = PqIdentity::generate();
        let file_key = FileKey::new(Box::new([7; 16]));
        let (stanzas, labels) = id.to_public().wrap_file_key(&file_key).unwrap();
        assert_eq!(labels, HashSet::from(["postquantum".to_string()]));
        let got = id.unwrap_stanzas(&stanzas).unwrap().unwrap();
        assert_eq!(got.expose_secret(), &[7; 16]);
        assert!(other.unwrap_stanzas(&stanzas).is_none());
    }

    #[test]
    fn bad_recipients() {
        let r = PqIdentity::generate().to_public().to_string();
        let msg = |s: &str| PqRecipient::from_str(s).unwrap_err().to_string();
        assert!(
            msg(&r.to_uppercase()).contains("must be all lowercase"),
            "{}",
            msg(&r.to_uppercase())
        );
        let mut typo = r.clone().into_bytes();
        typo[100] = if typo[100] == b'q' { b'p' } else { b'q' };
        let typo = String::from_utf8(typo).unwrap();
        assert!(msg(&typo).contains("checksum"), "{}", msg(&typo));
        assert!(!msg(&typo).contains('\n'));
        assert!(msg(&typo).len() < 120, "{}", msg(&typo));
        // Wrong length: a valid Bech32 string with one byte less.
        let short = bech32::encode(RECIPIENT_HRP, &[1; RECIPIENT_LEN - 1], Case::Lower);
        assert!(msg(&short).contains("expected 1216"), "{}", msg(&short));
        // A low-order X25519 key (u = 0).
        let mut bytes = PqIdentity::generate().to_public().to_bytes();
        bytes[MLKEM_EK_LEN..].fill(0);
        let low = bech32::encode(RECIPIENT_HRP, &bytes, Case::Lower);
        assert!(msg(&low).contains("low-order"), "{}", msg(&low));
        // The X25519 key of a tag recipient is not accepted here.
        let wrong = bech32::encode("age1tag", &[2; 33], Case::Lower);
        assert!(msg(&wrong).contains("wrong type"), "{}", msg(&wrong));
    }

    #[test]
    fn bad_identities() {
        let id = PqIdentity::generate();
        let s = id.to_secret_string();
        let msg = |s: &str| PqIdentity::from_str(s).unwrap_err().to_string();
        assert!(msg(&s.to_lowercase()).contains("must be all uppercase"));
        let short = bech32::encode(IDENTITY_HRP, &[1; 31], Case::Upper);
        assert!(msg(&short).contains("expected 32"));
        // The message never contains the key.
        let mut typo = s.as_bytes().to_vec();
        typo[30] = if typo[30] == b'Q' { b'P' } else { b'Q' };
        let typo = String::from_utf8(typo).unwrap();
        assert!(!msg(&typo).contains(&typo[20..]));
        // An X25519 identity is not a PQ identity.
        let x = age::x25519::Identity::generate();
        assert!(msg(x.to_string().expose_secret()).contains("wrong type"));
    }

    #[test]
    fn malformed_stanzas_are_errors() {
        let id = PqIdentity::generate();
        let file_key = FileKey::new(Box::new([7; 16]));
        let (stanzas, _) = id.to_public().wrap_file_key(&file_key).unwrap();
        let good = &stanzas[0];
        let with = |f: &dyn Fn(&mut Stanza)| {
            let mut s = Stanza {
                tag: good.tag.clone(),
                args: good.args.clone(),
                body: good.body.clone(),
            };
            f(&mut s);
            id.unwrap_stanza(&s)
        };
        assert!(matches!(with(&|_| {}), Some(Ok(_))));
        assert!(with(&|s| s.tag = "MLKEM768X25519".into()).is_none());
        assert!(matches!(with(&|s| s.args.push("x".into())), Some(Err(_))));
        assert!(matches!(with(&|s| s.args.clear()), Some(Err(_))));
        assert!(matches!(with(&|s| s.body.push(0)), Some(Err(_))));
        assert!(matches!(
            with(&|s| s.body.pop().map(|_| ()).unwrap()),
            Some(Err(_))
        ));
        assert!(matches!(with(&|s| s.args[0].push('A')), Some(Err(_))));
        // A low-order X25519 share.
        assert!(matches!(
            with(&|s| {
                let mut enc = STANDARD_NO_PAD.decode(&s.args[0]).unwrap();
                enc[MLKEM_CT_LEN..].fill(0);
                s.args[0] = STANDARD_NO_PAD.encode(&enc);
            }),
            Some(Err(_))
        ));
        // A tampered body is not ours.
        assert!(with(&|s| s.body[0] ^= 1).is_none());
    }
}
