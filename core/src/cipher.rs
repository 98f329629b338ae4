//! sops's value cipher: AES-256-GCM with a 32-byte IV, the value's type in the envelope
//! `ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]`.
//!
//! Hand-written to match sops's `aes/cipher.go` byte for byte: plaintext encodings per type,
//! the envelope syntax, empty values left unencrypted, and the IV stash that lets an
//! unchanged value keep its ciphertext when a file is re-encrypted.

use std::borrow::Cow;
use std::collections::HashMap;

use aes_gcm::aead::generic_array::{typenum, GenericArray};
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use base64::Engine;
use rand::RngCore;
use regex::Regex;
use std::sync::OnceLock;
use zeroize::{Zeroize, Zeroizing};

use crate::tree::Value;

/// Length of the IVs sops generates (not the usual 12: sops uses `NewGCMWithNonceSize(32)`).
pub const IV_LEN: usize = 32;

/// Bytes of an envelope besides its four fields: `ENC[AES256_GCM,data:`, `,iv:`, `,tag:`,
/// `,type:` and `]`.
const ENVELOPE_FIXED_LEN: usize = 20 + 4 + 5 + 6 + 1;

/// A 32-byte data key, zeroized on drop.
pub type DataKey = Zeroizing<[u8; 32]>;

/// Why a value could not be encrypted or decrypted. Messages never contain plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    /// The string is not an `ENC[AES256_GCM,...]` envelope.
    #[error("value does not match sops' data format")]
    NotEncrypted,
    /// One of the base64 fields is malformed.
    #[error("error base64-decoding {0}")]
    Base64(&'static str),
    /// The IV length is not one AES-GCM can be used with here.
    #[error("unsupported IV length {0}")]
    IvLength(usize),
    /// Authentication failed: wrong key, wrong AAD (moved value) or tampered data.
    #[error("Could not decrypt with AES_GCM: cipher: message authentication failed")]
    Authentication,
    /// The plaintext does not parse as the envelope's declared type.
    #[error("decrypted value is not a valid {0}")]
    BadPlaintext(&'static str),
    /// The envelope declares a type sops does not know.
    #[error("unknown datatype: {0}")]
    UnknownType(String),
    /// The value cannot be encrypted (a collection or null).
    #[error("value to encrypt has unsupported type")]
    Unsupported,
}

/// Go's StdEncoding tolerates non-zero trailing bits; so must we to read its output. (A
/// constant: building the engine computes its decode table.)
const BASE64_GO_STD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);

/// Appends the bytes of Go `base64.StdEncoding` text to `out`. The SIMD decoder takes the
/// canonical text sops writes (a fifth of a large file's decrypt went to the general
/// decoder); what it refuses, such as non-zero trailing bits, which Go accepts, goes
/// through [`BASE64_GO_STD`], so the result is Go's either way.
fn decode_go_base64(text: &str, out: &mut Vec<u8>) -> Result<(), base64::DecodeError> {
    if base64_simd::STANDARD.decode_append(text, out).is_ok() {
        return Ok(());
    }
    BASE64_GO_STD.decode_vec(text, out)
}

fn envelope_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Same pattern (and greedy, leftmost-first semantics) as sops's `encre`.
    RE.get_or_init(|| {
        Regex::new(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]").expect("valid regex")
    })
}

/// Splits an envelope whose data, IV and tag hold no ',' and whose type is a word, ending
/// the string with `]` (what sops writes). Then every separator is unique, so the fields
/// are exactly the regex's captures (the regex's `.` stops at a newline, so none may hold
/// one); anything else goes through the regex. Characters that are not base64 are left
/// to the decoder, which fails on them as it would on the regex's captures. (The regex's
/// backtracking, and then a byte-wise scan, dominated decryption time.)
fn split_canonical(s: &str) -> Option<[&str; 4]> {
    let rest = s.strip_prefix("ENC[AES256_GCM,data:")?;
    if memchr::memchr(b'\n', rest.as_bytes()).is_some() {
        return None;
    }
    // The field before the next ',' and what follows `sep` (which starts with that ',').
    fn field<'a>(input: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
        let end = memchr::memchr(b',', input.as_bytes())?;
        let next = input[end..].strip_prefix(sep)?;
        (end > 0).then_some((&input[..end], next))
    }
    let (data, after_data) = field(rest, ",iv:")?;
    let (iv, after_iv) = field(after_data, ",tag:")?;
    let (tag, after_tag) = field(after_iv, ",type:")?;
    let ty = after_tag.strip_suffix(']')?;
    if ty.is_empty() || !ty.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some([data, iv, tag, ty])
}

/// True when `s` looks like a sops-encrypted value.
pub fn is_encrypted_value(s: &str) -> bool {
    envelope_regex().is_match(s)
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
pub fn format_float_plain(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        // Rust's Display is shortest round-trip and never uses an exponent, like Go's 'f', -1.
        format!("{f}")
    }
}

/// The plaintext bytes and sops type tag of a leaf, as sops's `ToBytes` and `Encrypt` see it.
/// `None` for values that are neither encrypted nor hashed (null, collections).
pub fn leaf_bytes(value: &Value) -> Option<(Cow<'_, [u8]>, &'static str)> {
    // Strings are borrowed: encrypting and hashing a leaf copies nothing.
    Some(match value {
        Value::Str(s) => (Cow::Borrowed(s.as_bytes()), "str"),
        Value::Int(i) => (Cow::Owned(i.to_string().into_bytes()), "int"),
        Value::Float(f) => (Cow::Owned(format_float_plain(*f).into_bytes()), "float"),
        Value::Bool(b) => (
            Cow::Borrowed((if *b { "True" } else { "False" }).as_bytes()),
            "bool",
        ),
        Value::Time(t) => (Cow::Borrowed(t.as_bytes()), "time"),
        // sops turns []byte into a string before encrypting it.
        Value::Bytes(b) => (Cow::Borrowed(b.as_slice()), "str"),
        Value::Comment(c) => (Cow::Borrowed(c.as_bytes()), "comment"),
        Value::Null | Value::Map(_) | Value::List(_) => return None,
    })
}

/// The `type:` of an envelope: how its plaintext becomes a value.
#[derive(Clone, Copy)]
enum PlainType {
    Str,
    Int,
    Float,
    Bool,
    Bytes,
    Time,
    Comment,
}

impl PlainType {
    fn from_name(name: &str) -> Option<PlainType> {
        Some(match name {
            "str" => PlainType::Str,
            "int" => PlainType::Int,
            "float" => PlainType::Float,
            "bool" => PlainType::Bool,
            "bytes" => PlainType::Bytes,
            "time" => PlainType::Time,
            "comment" => PlainType::Comment,
            _ => return None,
        })
    }

    /// The type a decrypted value's IV is stashed under: that of the value re-encrypted
    /// (`bytes` is written back as `str`, as sops does).
    fn stash_name(self) -> &'static str {
        match self {
            PlainType::Str | PlainType::Bytes => "str",
            PlainType::Int => "int",
            PlainType::Float => "float",
            PlainType::Bool => "bool",
            PlainType::Time => "time",
            PlainType::Comment => "comment",
        }
    }
}

/// A plaintext keying the IV stash, wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
struct Plaintext(Zeroizing<Vec<u8>>);

impl std::hash::Hash for Plaintext {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_slice().hash(state);
    }
}

/// Encrypts and decrypts values with one data key, remembering the IV of every value it
/// decrypted so that re-encrypting the same plaintext at the same place reuses it.
pub struct ValueCipher {
    key: DataKey,
    /// AES-GCM with sops's 32-byte IV, keyed once (the key schedule is per key, not per value).
    gcm32: AesGcm<Aes256, typenum::U32>,
    /// IVs come from a CSPRNG seeded by the OS, not one syscall per value.
    rng: std::cell::RefCell<rand::rngs::StdRng>,
    /// Plaintexts (wiped when dropped) to the IVs they were decrypted with.
    stash: HashMap<(String, &'static str, Plaintext), Vec<u8>>,
    /// Off when the file is only read: remembering IVs then costs time for nothing.
    remember_ivs: bool,
    /// Without remembering, one IV buffer serves value after value.
    spare_iv: Vec<u8>,
    /// The buffer every value is opened in, wiped after each plaintext.
    plain: Zeroizing<Vec<u8>>,
}

impl ValueCipher {
    /// A cipher for the given data key.
    pub fn new(key: &[u8; 32]) -> Self {
        use rand::SeedableRng;
        ValueCipher {
            key: Zeroizing::new(*key),
            gcm32: AesGcm::<Aes256, typenum::U32>::new(GenericArray::from_slice(key)),
            rng: std::cell::RefCell::new(rand::rngs::StdRng::from_entropy()),
            stash: HashMap::new(),
            remember_ivs: true,
            spare_iv: Vec::new(),
            plain: Zeroizing::new(Vec::new()),
        }
    }

    /// A cipher for a file that will only be read, not re-encrypted: decrypted values'
    /// IVs are not remembered.
    pub fn read_only(key: &[u8; 32]) -> Self {
        ValueCipher {
            remember_ivs: false,
            ..ValueCipher::new(key)
        }
    }

    /// A second read-only cipher for the same key, for another thread to decrypt part of
    /// the same file with; None when this one remembers IVs (they would be split between
    /// the two).
    pub fn reading_twin(&self) -> Option<ValueCipher> {
        (!self.remember_ivs).then(|| ValueCipher::read_only(&self.key))
    }

    /// A second cipher for the same key, for another thread to encrypt part of the same
    /// file with; None when this one has IVs to reuse (it would need them all).
    pub fn sealing_twin(&self) -> Option<ValueCipher> {
        self.stash.is_empty().then(|| ValueCipher::new(&self.key))
    }

    /// Also remembers the IVs `other` decrypted, when it has the same data key (else
    /// nothing): values taken from another version of the file (a merge) keep that
    /// version's exact ciphertext. This cipher's own IVs win where both know a value.
    pub fn absorb_ivs(&mut self, other: &ValueCipher) {
        if *self.key != *other.key || !self.remember_ivs {
            return;
        }
        for (value, iv) in &other.stash {
            self.stash
                .entry(value.clone())
                .or_insert_with(|| iv.clone());
        }
    }

    fn seal(&self, iv: &[u8], plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError> {
        if iv.len() == IV_LEN {
            return self
                .gcm32
                .encrypt(GenericArray::from_slice(iv), Payload { msg: plain, aad })
                .map_err(|_| CipherError::Authentication);
        }
        seal(&self.key, iv, plain, aad)
    }

    /// Opens `data || tag` in place: on success `sealed` holds the plaintext. On failure
    /// it still holds ciphertext (the tag is checked before anything is decrypted).
    fn open_in_place(
        &self,
        iv: &[u8],
        sealed: &mut Vec<u8>,
        aad: &[u8],
    ) -> Result<(), CipherError> {
        if iv.len() == IV_LEN && sealed.len() >= 16 {
            return self
                .gcm32
                .decrypt_in_place(GenericArray::from_slice(iv), aad, sealed)
                .map_err(|_| CipherError::Authentication);
        }
        *sealed = open(&self.key, iv, sealed, aad)?;
        Ok(())
    }

    /// Encrypts a leaf with `aad` (sops's path string, e.g. `a:b:`). Empty strings and
    /// empty comments stay empty, as in sops.
    pub fn encrypt(&self, value: &Value, aad: &str) -> Result<String, CipherError> {
        let (plain, ty) = leaf_bytes(value).ok_or(CipherError::Unsupported)?;
        // A formatted number is a plaintext copy: wiped when dropped.
        let formatted;
        let plain: &[u8] = match plain {
            Cow::Borrowed(b) => b,
            Cow::Owned(v) => {
                formatted = Zeroizing::new(v);
                &formatted
            }
        };
        if plain.is_empty() && matches!(value, Value::Str(_) | Value::Comment(_) | Value::Bytes(_))
        {
            return Ok(String::new());
        }
        let stashed = if self.stash.is_empty() {
            None
        } else {
            let key = (
                aad.to_string(),
                ty,
                Plaintext(Zeroizing::new(plain.to_vec())),
            );
            self.stash.get(&key)
        };
        match stashed {
            Some(iv) => self.encrypt_with_iv(plain, ty, aad, iv),
            None => {
                let mut iv = [0u8; IV_LEN];
                self.rng.borrow_mut().fill_bytes(&mut iv);
                self.encrypt_with_iv(plain, ty, aad, &iv)
            }
        }
    }

    /// Encrypts raw plaintext bytes with an explicit IV (used for the MAC and by tests).
    pub fn encrypt_with_iv(
        &self,
        plain: &[u8],
        ty: &str,
        aad: &str,
        iv: &[u8],
    ) -> Result<String, CipherError> {
        let out = self.seal(iv, plain, aad.as_bytes())?;
        let (data, tag) = out.split_at(out.len() - 16);
        let b64 = base64_simd::STANDARD;
        // The envelope written in one buffer of its final size, not through `format!`
        // (a tenth of encrypting a large file went to formatting).
        let mut envelope = String::with_capacity(
            ENVELOPE_FIXED_LEN
                + b64.encoded_length(data.len())
                + b64.encoded_length(iv.len())
                + b64.encoded_length(16)
                + ty.len(),
        );
        envelope.push_str("ENC[AES256_GCM,data:");
        b64.encode_append(data, &mut envelope);
        envelope.push_str(",iv:");
        b64.encode_append(iv, &mut envelope);
        envelope.push_str(",tag:");
        b64.encode_append(tag, &mut envelope);
        envelope.push_str(",type:");
        envelope.push_str(ty);
        envelope.push(']');
        Ok(envelope)
    }

    /// Decrypts an envelope with `aad`, returning the typed value. An empty string
    /// decrypts to an empty string. The IV is remembered for [`ValueCipher::encrypt`].
    pub fn decrypt(&mut self, envelope: &str, aad: &str) -> Result<Value, CipherError> {
        if envelope.is_empty() {
            return Ok(Value::Str(String::new()));
        }
        let (ty, iv) = self.open_envelope(envelope, aad)?;
        self.take_plaintext(ty, iv, aad, None)
    }

    /// [`ValueCipher::decrypt`] of an envelope the caller replaces with the result: a
    /// string's plaintext is written into the envelope's own buffer (never shorter), so
    /// decrypting a file allocates no memory per value. Each new page costs a page fault
    /// and its zeroing, a fifth of a large file's decrypt. On error `envelope` is unchanged.
    pub fn decrypt_replacing(
        &mut self,
        envelope: &mut String,
        aad: &str,
    ) -> Result<Value, CipherError> {
        if envelope.is_empty() {
            return Ok(Value::Str(String::new()));
        }
        let (ty, iv) = self.open_envelope(envelope, aad)?;
        self.take_plaintext(ty, iv, aad, Some(envelope))
    }

    /// Opens an envelope into `self.plain` and returns its type and IV. The type is checked
    /// after the tag, as sops does (an unknown type in a tampered envelope is a failed
    /// authentication).
    fn open_envelope(
        &mut self,
        envelope: &str,
        aad: &str,
    ) -> Result<(PlainType, Vec<u8>), CipherError> {
        let fields = match split_canonical(envelope) {
            Some(f) => f,
            None => {
                let caps = envelope_regex()
                    .captures(envelope)
                    .ok_or(CipherError::NotEncrypted)?;
                let get = |i| caps.get(i).map_or("", |m| m.as_str());
                [get(1), get(2), get(3), get(4)]
            }
        };
        // Data and tag decoded into one buffer that is then opened in place. It holds
        // ciphertext until the tag checks out (and is wiped after each plaintext), so
        // growing it never leaves plaintext behind in freed memory.
        let mut sealed = std::mem::take(&mut *self.plain);
        sealed.clear();
        let opened = self.open_fields(fields, &mut sealed, aad);
        *self.plain = sealed;
        opened
    }

    fn open_fields(
        &mut self,
        [data, iv_text, tag, ty]: [&str; 4],
        sealed: &mut Vec<u8>,
        aad: &str,
    ) -> Result<(PlainType, Vec<u8>), CipherError> {
        sealed.reserve(data.len() / 4 * 3 + 16);
        decode_go_base64(data, sealed).map_err(|_| CipherError::Base64("data"))?;
        let mut iv = match self.remember_ivs {
            true => Vec::with_capacity(IV_LEN),
            false => std::mem::take(&mut self.spare_iv),
        };
        iv.clear();
        decode_go_base64(iv_text, &mut iv).map_err(|_| CipherError::Base64("iv"))?;
        decode_go_base64(tag, sealed).map_err(|_| CipherError::Base64("tag"))?;
        self.open_in_place(&iv, sealed, aad.as_bytes())?;
        let ty = PlainType::from_name(ty).ok_or_else(|| CipherError::UnknownType(ty.to_string()));
        if ty.is_err() {
            sealed.as_mut_slice().zeroize();
        }
        Ok((ty?, iv))
    }

    /// The value of the plaintext in `self.plain` (wiped afterwards), its IV remembered.
    /// A UTF-8 string goes into `reuse`'s buffer when given (taking it), else a new one.
    fn take_plaintext(
        &mut self,
        ty: PlainType,
        iv: Vec<u8>,
        aad: &str,
        reuse: Option<&mut String>,
    ) -> Result<Value, CipherError> {
        let plain = self.plain.as_slice();
        let text = || std::str::from_utf8(plain).ok();
        let value = match ty {
            // Go strings hold any bytes (binary files): non-UTF-8 plaintext stays bytes.
            PlainType::Str => match (text(), reuse) {
                (Some(t), Some(buffer)) => {
                    let mut s = std::mem::take(buffer);
                    s.clear();
                    s.push_str(t);
                    Ok(Value::Str(s))
                }
                (Some(t), None) => Ok(Value::Str(t.to_owned())),
                (None, _) => Ok(Value::Bytes(plain.to_vec())),
            },
            PlainType::Int => parse_go_atoi(plain)
                .map(Value::Int)
                .ok_or(CipherError::BadPlaintext("int")),
            PlainType::Float => text()
                .and_then(parse_go_float)
                .map(Value::Float)
                .ok_or(CipherError::BadPlaintext("float")),
            PlainType::Bool => text()
                .and_then(parse_go_bool)
                .map(Value::Bool)
                .ok_or(CipherError::BadPlaintext("bool")),
            PlainType::Bytes => Ok(Value::Bytes(plain.to_vec())),
            // sops reads the plaintext with Go's time.UnmarshalText: RFC 3339 or an error.
            PlainType::Time => text()
                .filter(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .is_ok()
                })
                .map(|t| Value::Time(t.to_owned()))
                .ok_or(CipherError::BadPlaintext("time")),
            // A comment sops encrypted from bytes that are not UTF-8 authenticated: it is no
            // tampering. keytap's comments are text, so those bytes become U+FFFD (sops
            // writes them back raw).
            PlainType::Comment => Ok(Value::Comment(String::from_utf8_lossy(plain).into_owned())),
        };
        self.plain.as_mut_slice().zeroize();
        self.plain.clear();
        Ok(self.remember(iv, aad, ty.stash_name(), value?))
    }

    /// Stashes a decrypted value's IV for [`ValueCipher::encrypt`] (under the re-encoded
    /// plaintext, as sops keys its stash by the decoded value), or keeps the IV buffer for
    /// the next value of a read-only cipher.
    fn remember(&mut self, iv: Vec<u8>, aad: &str, stash_ty: &'static str, value: Value) -> Value {
        if !self.remember_ivs {
            self.spare_iv = iv;
            return value;
        }
        if let Some((bytes, _)) = leaf_bytes(&value) {
            self.stash.insert(
                (
                    aad.to_string(),
                    stash_ty,
                    Plaintext(Zeroizing::new(bytes.into_owned())),
                ),
                iv,
            );
        }
        value
    }
}

macro_rules! with_nonce_size {
    ($len:expr, $f:ident, $($args:expr),*) => {
        match $len {
            12 => $f::<typenum::U12>($($args),*),
            16 => $f::<typenum::U16>($($args),*),
            24 => $f::<typenum::U24>($($args),*),
            32 => $f::<typenum::U32>($($args),*),
            64 => $f::<typenum::U64>($($args),*),
            n => Err(CipherError::IvLength(n)),
        }
    };
}

/// Which way [`aes_gcm_n`] runs.
#[derive(Clone, Copy)]
enum Direction {
    Seal,
    Open,
}

/// AES-256-GCM with an `N`-byte nonce, sealing or opening `data`.
fn aes_gcm_n<N: aes_gcm::aead::generic_array::ArrayLength<u8>>(
    key: &[u8; 32],
    iv: &[u8],
    data: &[u8],
    aad: &[u8],
    direction: Direction,
) -> Result<Vec<u8>, CipherError> {
    let cipher = AesGcm::<Aes256, N>::new(GenericArray::from_slice(key));
    let nonce = GenericArray::from_slice(iv);
    let payload = Payload { msg: data, aad };
    match direction {
        Direction::Seal => cipher.encrypt(nonce, payload),
        Direction::Open => cipher.decrypt(nonce, payload),
    }
    .map_err(|_| CipherError::Authentication)
}

fn seal(key: &[u8; 32], iv: &[u8], plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError> {
    with_nonce_size!(iv.len(), aes_gcm_n, key, iv, plain, aad, Direction::Seal)
}

fn open(key: &[u8; 32], iv: &[u8], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError> {
    if sealed.len() < 16 {
        return Err(CipherError::Authentication);
    }
    with_nonce_size!(iv.len(), aes_gcm_n, key, iv, sealed, aad, Direction::Open)
}

/// Go's `strconv.Atoi`: optional sign, decimal digits, must fit in i64.
fn parse_go_atoi(bytes: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(bytes).ok()?;
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms sops writes (plus Inf/NaN spellings).
fn parse_go_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s
            .replace('_', "")
            .parse()
            .ok()
            .filter(|_| !s.contains("__")),
    }
}

/// Go's `strconv.ParseBool`: how sops reads a `type:bool` plaintext, and how Go programs
/// (sops's flags and environment, sops-install-secrets's `-flag=value`) read a boolean.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: &str = "ENC[AES256_GCM,data:oYyi,iv:MyIDYbT718JRr11QtBkcj3Dwm4k1aCGZBVeZf0EyV8o=,tag:t5z2Z023Up0kxwCgw1gNxg==,type:str]";

    #[test]
    fn decrypts_the_reference_vector() {
        let mut c = ValueCipher::new(&[b'f'; 32]);
        assert_eq!(c.decrypt(VECTOR, "bar:").unwrap(), Value::Str("foo".into()));
    }

    #[test]
    fn wrong_aad_or_key_fails() {
        let mut c = ValueCipher::new(&[b'f'; 32]);
        assert!(matches!(
            c.decrypt(VECTOR, "baz:"),
            Err(CipherError::Authentication)
        ));
        let mut c = ValueCipher::new(&[b'g'; 32]);
        assert!(matches!(
            c.decrypt(VECTOR, "bar:"),
            Err(CipherError::Authentication)
        ));
    }

    #[test]
    fn str_plaintext_keeps_its_bytes_and_its_iv() {
        // A `type:str` value that is not UTF-8 (a binary file's data) comes back as
        // bytes, and encrypting either kind again reuses the IV it was read with.
        let iv = [9u8; IV_LEN];
        for plain in [&b"text"[..], &[0xff, 0x00, 0xfe][..]] {
            let writer = ValueCipher::new(&[b'k'; 32]);
            let env = writer.encrypt_with_iv(plain, "str", "a:", &iv).unwrap();
            let expected = match std::str::from_utf8(plain) {
                Ok(s) => Value::Str(s.into()),
                Err(_) => Value::Bytes(plain.to_vec()),
            };
            let mut reader = ValueCipher::read_only(&[b'k'; 32]);
            assert_eq!(reader.decrypt(&env, "a:").unwrap(), expected);
            let mut editor = ValueCipher::new(&[b'k'; 32]);
            let value = editor.decrypt(&env, "a:").unwrap();
            assert_eq!(value, expected);
            assert_eq!(editor.encrypt(&value, "a:").unwrap(), env);
        }
    }

    #[test]
    fn a_time_value_must_be_rfc_3339() {
        let c = ValueCipher::new(&[b't'; 32]);
        let iv = [3u8; IV_LEN];
        let mut reader = ValueCipher::read_only(&[b't'; 32]);
        let good = c
            .encrypt_with_iv(b"2001-12-14T21:59:43.1-05:00", "time", "a:", &iv)
            .unwrap();
        assert_eq!(
            reader.decrypt(&good, "a:").unwrap(),
            Value::Time("2001-12-14T21:59:43.1-05:00".into())
        );
        for bad in [&b"sops"[..], b"2001-12-14", b"2001-13-14T21:59:43Z", b" "] {
            let env = c.encrypt_with_iv(bad, "time", "a:", &iv).unwrap();
            assert!(
                matches!(
                    reader.decrypt(&env, "a:"),
                    Err(CipherError::BadPlaintext("time"))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn simd_base64_agrees_with_the_general_engine() {
        // Canonical text, then every kind of damage: characters outside the alphabet,
        // padding in the wrong place or missing, non-zero trailing bits (Go accepts them).
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n.";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || crate::test_rng::next(&mut state);
        for round in 0..20_000 {
            let len = (next() % 70) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut text = base64::engine::general_purpose::STANDARD.encode(&bytes);
            assert_eq!(base64_simd::STANDARD.encode_to_string(&bytes), text);
            if round % 2 == 1 && !text.is_empty() {
                let mut raw = text.into_bytes();
                let at = (next() as usize) % raw.len();
                raw[at] = alphabet[(next() as usize) % alphabet.len()];
                if round % 4 == 3 {
                    raw.truncate(at);
                }
                text = String::from_utf8(raw).unwrap();
            }
            let mut fast = b"prefix".to_vec();
            let fast_result = decode_go_base64(&text, &mut fast).map(|()| fast[6..].to_vec());
            let general = BASE64_GO_STD.decode(&text);
            assert_eq!(fast_result.ok(), general.ok(), "{text:?}");
        }
        // Trailing bits: refused by the SIMD decoder, accepted as Go does.
        let mut out = Vec::new();
        decode_go_base64("QR==", &mut out).unwrap();
        assert_eq!(out, b"A");
    }

    #[test]
    fn other_iv_lengths_open_and_authenticate() {
        // Envelopes with IVs other than sops's 32 bytes go through the keyed-per-call path.
        let mut c = ValueCipher::new(&[b'h'; 32]);
        for len in [12, 16, 24, 64] {
            let iv = vec![7u8; len];
            let env = c.encrypt_with_iv(b"secret", "str", "a:", &iv).unwrap();
            assert_eq!(
                c.decrypt(&env, "a:").unwrap(),
                Value::Str("secret".into()),
                "{len}"
            );
            assert!(matches!(
                c.decrypt(&env, "b:"),
                Err(CipherError::Authentication)
            ));
        }
        let env = c
            .encrypt_with_iv(b"secret", "str", "a:", &[7u8; 12])
            .unwrap();
        let short = env.replace(",iv:BwcHBwcHBwcHBwcH,", ",iv:BwcH,");
        assert!(matches!(
            c.decrypt(&short, "a:"),
            Err(CipherError::IvLength(3))
        ));
    }

    #[test]
    fn reencrypting_an_unchanged_value_is_byte_identical() {
        let mut c = ValueCipher::new(&[b'f'; 32]);
        let v = c.decrypt(VECTOR, "bar:").unwrap();
        assert_eq!(c.encrypt(&v, "bar:").unwrap(), VECTOR);
        // A different place gets a fresh IV.
        assert_ne!(c.encrypt(&v, "baz:").unwrap(), VECTOR);
    }

    #[test]
    fn round_trips_every_type() {
        let mut c = ValueCipher::new(&[7; 32]);
        for v in [
            Value::Str("héllo".into()),
            Value::Int(-42),
            Value::Float(1.5),
            Value::Float(1e21),
            Value::Bool(true),
            Value::Bool(false),
            Value::Time("2020-01-01T00:00:00Z".into()),
            Value::Comment(" a comment".into()),
        ] {
            let enc = c.encrypt(&v, "k:").unwrap();
            assert!(is_encrypted_value(&enc));
            assert_eq!(c.decrypt(&enc, "k:").unwrap(), v);
        }
    }

    #[test]
    fn decrypting_into_the_envelope_gives_the_same_values() {
        let mut c = ValueCipher::read_only(&[7; 32]);
        let long = "x".repeat(300);
        for v in [
            Value::Str("héllo".into()),
            Value::Str(long.clone()),
            Value::Str("short".into()),
            Value::Bytes(vec![0xff, 0x00, 0xfe]),
            Value::Int(7),
            Value::Comment(" c".into()),
        ] {
            let enc = c.encrypt(&v, "k:").unwrap();
            let mut envelope = enc.clone();
            let got = c.decrypt_replacing(&mut envelope, "k:").unwrap();
            assert_eq!(got, c.decrypt(&enc, "k:").unwrap());
            // Non-UTF-8 strings come back as bytes, as from `decrypt`.
            let expected = match &v {
                Value::Bytes(b) => Value::Bytes(b.clone()),
                other => other.clone(),
            };
            assert_eq!(got, expected);
            // The envelope's buffer went into a string value; other values leave it.
            assert_eq!(envelope.is_empty(), matches!(v, Value::Str(_)));
            // No plaintext waits in the buffer values are opened in.
            assert!(c.plain.is_empty());
        }
        // A failure leaves the envelope as it was.
        let enc = c.encrypt(&Value::Str(long), "k:").unwrap();
        let mut envelope = enc.clone();
        assert!(matches!(
            c.decrypt_replacing(&mut envelope, "other:"),
            Err(CipherError::Authentication)
        ));
        assert_eq!(envelope, enc);
    }

    #[test]
    fn plaintext_encodings_match_go() {
        assert_eq!(leaf_bytes(&Value::Float(1.0)).unwrap().0.as_ref(), b"1");
        assert_eq!(leaf_bytes(&Value::Float(0.1)).unwrap().0.as_ref(), b"0.1");
        assert_eq!(
            leaf_bytes(&Value::Float(1e21)).unwrap().0.as_ref(),
            b"1000000000000000000000"
        );
        assert_eq!(
            leaf_bytes(&Value::Float(f64::INFINITY)).unwrap().0.as_ref(),
            b"+Inf"
        );
        assert_eq!(leaf_bytes(&Value::Bool(true)).unwrap().0.as_ref(), b"True");
        assert!(leaf_bytes(&Value::Null).is_none());
    }

    #[test]
    fn fast_split_agrees_with_the_regex() {
        for s in [
            VECTOR,
            "ENC[AES256_GCM,data:,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:a,b,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]trailing",
            "ENC[AES256_GCM,data:AA==,iv:AA==,iv:BB==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:A A=,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==\n,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:st]r]",
        ] {
            agrees(s);
        }
        // Every single-character replacement and insertion of VECTOR, over the characters
        // that matter to the separators.
        let alphabet = [
            ",", ":", "]", "[", "\n", " ", "i", "v", "t", "a", "g", "y", "=", "é",
        ];
        let chars: Vec<(usize, char)> = VECTOR.char_indices().collect();
        for &(at, c) in &chars {
            for a in alphabet {
                agrees(&format!(
                    "{}{a}{}",
                    &VECTOR[..at],
                    &VECTOR[at + c.len_utf8()..]
                ));
                agrees(&format!("{}{a}{}", &VECTOR[..at], &VECTOR[at..]));
            }
        }
        assert!(split_canonical(VECTOR).is_some());
        assert!(split_canonical("ENC[AES256_GCM,data:A A=,iv:AA==,tag:AA==,type:str]").is_some());
    }

    /// The fast split, where it answers, gives the regex's captures.
    fn agrees(s: &str) {
        let via_regex = envelope_regex()
            .captures(s)
            .map(|c| [1, 2, 3, 4].map(|i| c[i].to_string()));
        if let Some(fast) = split_canonical(s) {
            assert_eq!(Some(fast.map(String::from)), via_regex, "{s:?}");
        }
    }

    #[test]
    fn empty_values_stay_empty() {
        let mut c = ValueCipher::new(&[7; 32]);
        assert_eq!(c.encrypt(&Value::Str(String::new()), "a:").unwrap(), "");
        assert_eq!(c.encrypt(&Value::Comment(String::new()), "a:").unwrap(), "");
        assert_eq!(c.decrypt("", "a:").unwrap(), Value::Str(String::new()));
    }

    #[test]
    fn malformed_envelopes_are_errors_not_panics() {
        let mut c = ValueCipher::new(&[7; 32]);
        for bad in [
            "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AAAA,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:MyIDYbT718JRr11QtBkcj3Dwm4k1aCGZBVeZf0EyV8o=,tag:AA==,type:nope]",
            "plain",
        ] {
            assert!(c.decrypt(bad, "a:").is_err(), "{bad}");
        }
    }
}
