//! SSH host keys as age identities, as sops-nix does with ssh-to-age: an unencrypted
//! OpenSSH ed25519 private key becomes the X25519 identity whose scalar is the first 32
//! bytes of SHA-512(seed), written `AGE-SECRET-KEY-1...`. Files encrypted to the host key's
//! `ssh-to-age` recipient (`age1...`) then open with it.

use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use base64::Engine;

/// Converts an OpenSSH private key file's text to an age identity line and its recipient.
pub fn ssh_private_key_to_age(pem: &[u8]) -> Result<(Zeroizing<String>, String), String> {
    let seed = ed25519_seed(pem)?;
    let digest = Sha512::digest(&seed[..]);
    let scalar = Zeroizing::new(digest[..32].to_vec());
    let identity = Zeroizing::new(bech32_encode("age-secret-key-", &scalar).to_uppercase());
    let parsed: age::x25519::Identity = identity
        .parse()
        .map_err(|e: &str| format!("converted key does not parse: {e}"))?;
    Ok((identity, parsed.to_public().to_string()))
}

/// Reads the 32-byte seed of an unencrypted OpenSSH ed25519 private key.
fn ed25519_seed(pem: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let block = pem_block(pem).ok_or("ssh: no key found")?;
    if block.label != OPENSSH_LABEL {
        return Err("only ed25519 keys in OpenSSH format can be converted to age keys".into());
    }
    let (kind, mut p) = openssh_private(
        &block.der,
        "ssh key is passphrase-protected; host keys used as age keys must not be",
    )?;
    if kind != b"ssh-ed25519" {
        return Err(format!(
            "only ed25519 keys can be converted to age keys, not {}",
            crate::goerr::quote(kind)
        ));
    }
    let _pub = p.string()?;
    let secret = p.string()?;
    let _comment = p.string()?;
    check_padding(&p)?;
    if secret.len() != 64 {
        return Err("ssh: malformed ed25519 private key".into());
    }
    Ok(Zeroizing::new(secret[..32].to_vec()))
}

/// The PEM label of OpenSSH's own private key format.
pub(crate) const OPENSSH_LABEL: &str = "OPENSSH PRIVATE KEY";

/// The first PEM block of a key file, as Go's `pem.Decode` finds it.
pub(crate) struct PemBlock {
    /// What follows `-----BEGIN ` (`RSA PRIVATE KEY`, `OPENSSH PRIVATE KEY`, ...).
    pub label: String,
    /// Whether its `Proc-Type` header says `ENCRYPTED` (an old-style protected PEM key).
    pub encrypted: bool,
    /// The decoded body.
    pub der: Zeroizing<Vec<u8>>,
}

/// The most `-----BEGIN` lines looked at: a key file has one, and each costs a scan of
/// the rest of the file for its END line.
const MAX_PEM_ATTEMPTS: usize = 16;

/// The first well-formed PEM block of `data` (None when there is none: "ssh: no key
/// found"), its BEGIN line at the start of a line as Go wants it. Headers (`Name: value`
/// lines before the body) are skipped, except that `Proc-Type: 4,ENCRYPTED` marks the
/// block protected.
pub(crate) fn pem_block(data: &[u8]) -> Option<PemBlock> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut from = 0;
    for _ in 0..MAX_PEM_ATTEMPTS {
        let at = from + memchr::memmem::find(&data[from..], BEGIN)?;
        from = at + BEGIN.len();
        if at > 0 && data[at - 1] != b'\n' {
            continue;
        }
        let after = &data[from..];
        let line_end = memchr::memchr(b'\n', after)?;
        let type_line = after[..line_end]
            .strip_suffix(b"\r")
            .unwrap_or(&after[..line_end]);
        let Some(label) = type_line.strip_suffix(b"-----") else {
            continue;
        };
        let Ok(label) = std::str::from_utf8(label) else {
            continue;
        };
        let body = &after[line_end + 1..];
        let end_line = format!("-----END {label}-----");
        let Some(stop) = memchr::memmem::find(body, end_line.as_bytes()) else {
            continue;
        };
        let mut encrypted = false;
        let mut b64 = Zeroizing::new(Vec::with_capacity(stop));
        let mut in_headers = true;
        for line in body[..stop].split(|b| *b == b'\n') {
            if in_headers {
                if let Some(colon) = memchr::memchr(b':', line) {
                    let (name, value) = (&line[..colon], &line[colon + 1..]);
                    encrypted |= name.trim_ascii() == b"Proc-Type"
                        && memchr::memmem::find(value, b"ENCRYPTED").is_some();
                    continue;
                }
                in_headers = false;
            }
            b64.extend(line.iter().filter(|b| !b.is_ascii_whitespace()));
        }
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&b64[..]) else {
            continue;
        };
        return Some(PemBlock {
            label: label.to_string(),
            encrypted,
            der: Zeroizing::new(der),
        });
    }
    None
}

/// The private section of an unencrypted OpenSSH key ("openssh-key-v1"): its key type,
/// and a reader at the key's fields. `protected` is the error for a passphrase-protected
/// key. The other errors are Go's (`x/crypto/ssh`, which sops-nix parses with).
pub(crate) fn openssh_private<'a>(
    blob: &'a [u8],
    protected: &str,
) -> Result<(&'a [u8], Reader<'a>), String> {
    let mut r = Reader { data: blob, pos: 0 };
    if r.take(15).ok() != Some(&b"openssh-key-v1\0"[..]) {
        return Err("ssh: invalid openssh private key format".into());
    }
    let cipher = r.string()?;
    let kdf = r.string()?;
    let _kdf_options = r.string()?;
    let n = r.u32()?;
    if n != 1 {
        return Err("ssh: multi-key files are not supported".into());
    }
    if cipher != b"none" || kdf != b"none" {
        return Err(protected.into());
    }
    let _public = r.string()?;
    let private = r.string()?;
    let mut p = Reader {
        data: private,
        pos: 0,
    };
    let (c1, c2) = (p.u32(), p.u32());
    if c1.is_err() || c1 != c2 {
        return Err("ssh: malformed OpenSSH key".into());
    }
    let kind = p.string()?;
    Ok((kind, p))
}

/// Checks what follows the last field of an OpenSSH key's private section: the padding
/// 1, 2, 3, ... (Go's `checkOpenSSHKeyPadding`).
pub(crate) fn check_padding(r: &Reader<'_>) -> Result<(), String> {
    let rest = &r.data[r.pos..];
    if rest
        .iter()
        .enumerate()
        .all(|(i, b)| usize::from(*b) == i + 1)
    {
        Ok(())
    } else {
        Err("ssh: padding not as expected".into())
    }
}

/// The readable key files of `paths`, each with its path; one that cannot be read is
/// reported as sops-nix reports it and skipped.
pub(crate) fn readable_key_files(
    paths: &[String],
) -> impl Iterator<Item = (&str, Zeroizing<Vec<u8>>)> {
    paths.iter().filter_map(|path| match read_key_file(path) {
        Ok(data) => Some((path.as_str(), data)),
        Err(e) => {
            eprintln!("Cannot read ssh key '{path}': {e}");
            None
        }
    })
}

/// The most of an SSH key file read: a 16384-bit OpenSSH RSA key is under 13 KiB.
pub const MAX_KEY_FILE: u64 = 1 << 20;

/// An SSH key file's bytes, at most [`MAX_KEY_FILE`]; the error as Go words a failed
/// open (`open PATH: no such file or directory`).
pub fn read_key_file(path: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let read = std::fs::File::open(path).and_then(read_capped);
    read.map_err(|e| format!("open {path}: {}", crate::goerr::io_reason(&e)))?
        .ok_or_else(too_large)
}

/// What `reader` (stdin) gives, at most [`MAX_KEY_FILE`].
pub fn read_key(reader: impl std::io::Read) -> Result<Zeroizing<Vec<u8>>, String> {
    read_capped(reader)
        .map_err(|e| crate::goerr::io_reason(&e))?
        .ok_or_else(too_large)
}

/// Up to [`MAX_KEY_FILE`] bytes of `reader`; None when it has more.
fn read_capped(reader: impl std::io::Read) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    use std::io::Read;
    let mut data = Zeroizing::new(Vec::with_capacity(16 << 10));
    reader.take(MAX_KEY_FILE + 1).read_to_end(&mut data)?;
    Ok((data.len() as u64 <= MAX_KEY_FILE).then_some(data))
}

fn too_large() -> String {
    "larger than 1 MiB, not an SSH key".into()
}

/// Reads SSH wire encoding (RFC 4251): big-endian `uint32`s and length-prefixed strings.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.ok_or("ssh: malformed OpenSSH key")?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length-prefixed string (also an `mpint`'s two's-complement bytes).
    pub(crate) fn string(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn polymod(values: &[u8]) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(*v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// Bech32 (BIP 173) encoding of `data` under the lower-case `hrp`.
fn bech32_encode(hrp: &str, data: &[u8]) -> String {
    let mut five = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in data {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            five.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        five.push(((acc << (5 - bits)) & 31) as u8);
    }
    let mut values: Vec<u8> = hrp.bytes().map(|c| c >> 5).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|c| c & 31));
    values.extend(&five);
    values.extend([0u8; 6]);
    let pm = polymod(&values) ^ 1;
    let mut out = String::from(hrp);
    out.push('1');
    for v in five {
        out.push(CHARSET[v as usize] as char);
    }
    for i in 0..6 {
        out.push(CHARSET[((pm >> (5 * (5 - i))) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bech32_matches_the_reference_vector() {
        // BIP 173 valid test vector: "a12uel5l" is hrp "a" with no data.
        assert_eq!(bech32_encode("a", &[]), "a12uel5l");
    }

    #[test]
    fn age_identity_round_trips_through_bech32() {
        // An identity made here parses with the age crate (checksum and HRP right).
        let line = bech32_encode("age-secret-key-", &[7u8; 32]).to_uppercase();
        let id: age::x25519::Identity = line.parse().unwrap();
        assert_eq!(id.to_string().expose_secret_str(), line);
    }

    trait Expose {
        fn expose_secret_str(&self) -> String;
    }
    impl Expose for age::secrecy::SecretString {
        fn expose_secret_str(&self) -> String {
            use age::secrecy::ExposeSecret;
            self.expose_secret().to_string()
        }
    }

    #[test]
    fn non_ed25519_and_garbage_are_refused() {
        assert!(ssh_private_key_to_age(b"hello").is_err());
        assert!(ssh_private_key_to_age(
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"
        )
        .unwrap_err()
        .contains("ed25519"));
    }
}
