//! SSH RSA host keys as OpenPGP keys, as sops-nix's `gnupg.sshKeyPaths` (and `ssh-to-pgp`)
//! make them: the RSA key becomes an OpenPGP v4 key created at the Unix epoch, so its
//! fingerprint depends on the RSA key alone and files encrypted to the host's
//! `ssh-to-pgp` fingerprint open with it. The packets are written here, byte for byte as
//! RFC 4880 lays them out: the fingerprint must be the one ssh-to-pgp computed, and the
//! key is handed to GnuPG, which does the decryption (`crate::keys::pgp`).

use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::sshkey::{check_padding, openssh_private, pem_block, OPENSSH_LABEL};

/// The user ID sops-nix (and ssh-to-pgp by default) gives the converted key.
pub const USER_ID: &str = "root (Imported from SSH) <root@localhost>";

/// An SSH RSA key as an OpenPGP key.
pub struct PgpKey {
    /// The v4 fingerprint (what `sops --pgp` and a file's `fp` name).
    pub fingerprint: [u8; 20],
    /// The transferable secret key (secret key, user ID and self-signature packets), as
    /// `gpg --import` reads it.
    pub secret: Zeroizing<Vec<u8>>,
    /// The transferable public key: the same with the public key packet.
    pub public: Vec<u8>,
}

impl PgpKey {
    /// The fingerprint in lower-case hex, as sops-nix logs it.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }
}

/// An OpenPGP user ID `name (comment) <email>`, each part (and the space before it) left
/// out when empty, refusing the characters that would make it ambiguous: Go's
/// `packet.NewUserId`, which ssh-to-pgp calls.
pub fn user_id(name: &str, comment: &str, email: &str) -> Result<String, String> {
    let bad = |s: &str| s.contains(['(', ')', '<', '>', '\0']);
    if bad(name) || bad(comment) || bad(email) {
        return Err("a user ID's name, comment and email may not contain ( ) < > or NUL".into());
    }
    let mut id = name.to_string();
    for (part, open, close) in [(comment, '(', ')'), (email, '<', '>')] {
        if !part.is_empty() {
            if !id.is_empty() {
                id.push(' ');
            }
            id.push(open);
            id.push_str(part);
            id.push(close);
        }
    }
    Ok(id)
}

/// ASCII armor (RFC 4880 6.2) around transferable keys: `PGP PUBLIC KEY BLOCK`, or
/// `PGP PRIVATE KEY BLOCK` for a secret key, with the CRC-24 checksum line.
pub fn armor(data: &[u8], private: bool) -> Zeroizing<String> {
    use base64::Engine;
    let kind = if private { "PRIVATE" } else { "PUBLIC" };
    let body = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(data));
    let mut out = Zeroizing::new(String::with_capacity(body.len() + body.len() / 64 + 96));
    out.push_str(&format!("-----BEGIN PGP {kind} KEY BLOCK-----\n\n"));
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    let crc = crc24(data).to_be_bytes();
    out.push('=');
    out.push_str(&base64::engine::general_purpose::STANDARD.encode(&crc[1..]));
    out.push_str(&format!("\n-----END PGP {kind} KEY BLOCK-----\n"));
    out
}

/// The CRC-24 of RFC 4880 6.1.
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00b7_04ce;
    for byte in data {
        crc ^= u32::from(*byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4cfb;
            }
        }
    }
    crc & 0x00ff_ffff
}

/// Converts an SSH private key file (OpenSSH, PKCS#1 or PKCS#8 PEM) holding an RSA key,
/// with sops-nix's user ID. The errors are sops-nix's.
pub fn ssh_private_key_to_pgp(file: &[u8]) -> Result<PgpKey, String> {
    ssh_private_key_to_pgp_as(file, USER_ID)
}

/// [`ssh_private_key_to_pgp`] with another user ID (see [`user_id`]); the fingerprint
/// does not depend on it.
pub fn ssh_private_key_to_pgp_as(file: &[u8], user_id: &str) -> Result<PgpKey, String> {
    let key = rsa_private_key(file).map_err(|e| format!("failed to parse private ssh key: {e}"))?;
    pgp_key(&key, user_id).map_err(|e| format!("failed to parse private ssh key: {e}"))
}

/// The RSA key of an SSH private key file, refusing other kinds with the words (and Go
/// type names) of sops-nix's `ssh.ParseRawPrivateKey` check. The modulus is checked
/// against [`MODULUS_BITS`] before any arithmetic on the key.
fn rsa_private_key(file: &[u8]) -> Result<RsaPrivateKey, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let not_rsa = |go_type: &str| format!("only RSA keys are supported right now, got: {go_type}");
    let x509 = |e: &dyn std::fmt::Display| format!("x509: failed to parse private key: {e}");
    let block = pem_block(file).ok_or("ssh: no key found")?;
    if block.encrypted {
        return Err("ssh: this private key is passphrase protected".into());
    }
    let key = match block.label.as_str() {
        "RSA PRIVATE KEY" => {
            check_der_modulus(&block.der)?;
            RsaPrivateKey::from_pkcs1_der(&block.der).map_err(|e| x509(&e))
        }
        "PRIVATE KEY" => {
            let info =
                rsa::pkcs8::PrivateKeyInfo::try_from(&block.der[..]).map_err(|e| x509(&e))?;
            match info.algorithm.oid.to_string().as_str() {
                "1.2.840.113549.1.1.1" => {}
                "1.3.101.112" => return Err(not_rsa("ed25519.PrivateKey")),
                "1.2.840.10045.2.1" => return Err(not_rsa("*ecdsa.PrivateKey")),
                oid => {
                    return Err(format!(
                        "x509: PKCS#8 wrapping contained private key with unknown algorithm: {oid}"
                    ))
                }
            }
            check_der_modulus(info.private_key)?;
            RsaPrivateKey::from_pkcs1_der(info.private_key).map_err(|e| x509(&e))
        }
        "EC PRIVATE KEY" => Err(not_rsa("*ecdsa.PrivateKey")),
        "DSA PRIVATE KEY" => Err(not_rsa("*dsa.PrivateKey")),
        OPENSSH_LABEL => {
            let (kind, mut fields) =
                openssh_private(&block.der, "ssh: this private key is passphrase protected")?;
            match kind {
                b"ssh-rsa" => {}
                b"ssh-ed25519" => return Err(not_rsa("*ed25519.PrivateKey")),
                k if k.starts_with(b"ecdsa-") => return Err(not_rsa("*ecdsa.PrivateKey")),
                _ => return Err("ssh: unhandled key type".into()),
            }
            // OpenSSH's order: n, e, d, iqmp, p, q, then the comment and padding.
            let mut next = || {
                fields
                    .string()
                    .map(|b| Zeroizing::new(BigUint::from_bytes_be(b)))
            };
            let (n, e, mut d, _iqmp, mut p, mut q) =
                (next()?, next()?, next()?, next()?, next()?, next()?);
            fields.string()?;
            check_padding(&fields)?;
            check_bits(n.bits())?;
            if d.bits() > n.bits() {
                return Err("ssh: invalid RSA key: d is larger than n".into());
            }
            let primes = vec![std::mem::take(&mut *p), std::mem::take(&mut *q)];
            let d = std::mem::take(&mut *d);
            RsaPrivateKey::from_components((*n).clone(), (*e).clone(), d, primes)
                .map_err(|e| format!("ssh: invalid RSA key: {e}"))
        }
        other => Err(format!(
            "ssh: unsupported key type {}",
            crate::goerr::quote(other.as_bytes())
        )),
    }?;
    check_bits(key.n().bits())?;
    if key.d() >= key.n() {
        return Err("ssh: invalid RSA key: d is larger than n".into());
    }
    Ok(key)
}

/// The RSA moduli read: from Go's least (1024 bits; sops-nix cannot use a smaller key)
/// to OpenSSH's largest (signing with a key a file makes arbitrarily large would take
/// arbitrarily long).
const MODULUS_BITS: std::ops::RangeInclusive<usize> = 1024..=16384;

fn check_bits(bits: usize) -> Result<(), String> {
    if MODULUS_BITS.contains(&bits) {
        Ok(())
    } else {
        Err(format!(
            "ssh: an RSA key of {bits} bits is outside the {} to {} bits keytap reads",
            MODULUS_BITS.start(),
            MODULUS_BITS.end()
        ))
    }
}

/// [`check_bits`] on the modulus of a PKCS#1 `RSAPrivateKey` structure, before the rsa
/// crate computes with it.
fn check_der_modulus(der: &[u8]) -> Result<(), String> {
    let parsed = rsa::pkcs1::RsaPrivateKey::try_from(der)
        .map_err(|e| format!("x509: failed to parse private key: {e}"))?;
    let bytes = parsed.modulus.as_bytes();
    let bits = match bytes.iter().position(|b| *b != 0) {
        Some(first) => (bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize,
        None => 0,
    };
    check_bits(bits)
}

/// The OpenPGP key of `key`: created at time 0, self-signed over `user_id` with SHA-256
/// for certifying, signing and encryption, as sops-nix's converter makes it.
fn pgp_key(key: &RsaPrivateKey, user_id: &str) -> Result<PgpKey, String> {
    use num_bigint_dig::ModInverse;
    let mut public_body = vec![4, 0, 0, 0, 0, 1];
    mpi(&mut public_body, key.n());
    mpi(&mut public_body, key.e());
    let fingerprint: [u8; 20] = {
        let mut h = Sha1::new();
        h.update([0x99]);
        h.update((public_body.len() as u16).to_be_bytes());
        h.update(&public_body);
        h.finalize().into()
    };
    let key_id = &fingerprint[12..];

    // Secret part, in OpenPGP's order: d, p, q, u = p^-1 mod q, with p < q as RFC 4880
    // asks: libgcrypt's CRT, which gpg-agent decrypts with, is wrong for some inputs
    // when p > q (Go's own CRT, which sops-nix uses, takes either order).
    let invalid = || "ssh: invalid RSA key: its primes have no CRT coefficient".to_string();
    let [first, second] = key.primes() else {
        return Err("ssh: invalid RSA key: not two primes".into());
    };
    let (p, q) = if first < second {
        (first, second)
    } else {
        (second, first)
    };
    let u = Zeroizing::new(
        p.mod_inverse(q)
            .and_then(|u| u.to_biguint())
            .ok_or_else(invalid)?,
    );
    let mpi_len = |n: &BigUint| 2 + n.bits().div_ceil(8);
    let secret_len = [key.d(), p, q, &u].into_iter().map(mpi_len).sum::<usize>();
    // Every buffer holding secret bytes is made at its final size: one that grew would
    // leave a copy behind in freed memory.
    let mut secret_body =
        Zeroizing::new(Vec::with_capacity(public_body.len() + 1 + secret_len + 2));
    secret_body.extend_from_slice(&public_body);
    secret_body.push(0); // no passphrase
    for n in [key.d(), p, q, &u] {
        mpi(&mut secret_body, n);
    }
    let checksum = secret_body[public_body.len() + 1..]
        .iter()
        .fold(0u16, |sum, b| sum.wrapping_add(u16::from(*b)));
    secret_body.extend_from_slice(&checksum.to_be_bytes());

    let signature = self_signature(key, &public_body, key_id, user_id)?;
    let mut public = Vec::new();
    packet(&mut public, 6, &public_body);
    packet(&mut public, 13, user_id.as_bytes());
    packet(&mut public, 2, &signature);
    let headers = 3 * 6;
    let mut secret = Zeroizing::new(Vec::with_capacity(
        secret_body.len() + user_id.len() + signature.len() + headers,
    ));
    packet(&mut secret, 5, &secret_body);
    packet(&mut secret, 13, user_id.as_bytes());
    packet(&mut secret, 2, &signature);
    Ok(PgpKey {
        fingerprint,
        secret,
        public,
    })
}

/// The positive certification of `user_id` by the key itself (a v4 signature packet's
/// body, RFC 4880 5.2.3-5.2.4).
fn self_signature(
    key: &RsaPrivateKey,
    public_body: &[u8],
    key_id: &[u8],
    user_id: &str,
) -> Result<Vec<u8>, String> {
    const POSITIVE_CERTIFICATION: u8 = 0x13;
    const RSA: u8 = 1;
    const SHA256: u8 = 8;
    let mut hashed = Vec::new();
    hashed.extend([5, 2, 0, 0, 0, 0]); // creation time: the epoch
    hashed.extend([2, 27, 0x0f]); // key flags: certify, sign, encrypt both kinds
    hashed.extend([2, 25, 1]); // primary user ID
    hashed.extend([9, 16]); // issuer
    hashed.extend_from_slice(key_id);
    let mut head = vec![4, POSITIVE_CERTIFICATION, RSA, SHA256];
    head.extend((hashed.len() as u16).to_be_bytes());
    head.extend(&hashed);

    let mut h = Sha256::new();
    h.update([0x99]);
    h.update((public_body.len() as u16).to_be_bytes());
    h.update(public_body);
    h.update([0xb4]);
    h.update((user_id.len() as u32).to_be_bytes());
    h.update(user_id.as_bytes());
    h.update(&head);
    h.update([4, 0xff]);
    h.update((head.len() as u32).to_be_bytes());
    let digest = h.finalize();
    let signed = key
        .sign_with_rng(
            &mut rand::rngs::OsRng,
            Pkcs1v15Sign::new::<Sha256>(),
            &digest,
        )
        .map_err(|e| format!("ssh: invalid RSA key: cannot sign with it: {e}"))?;

    let mut body = head;
    body.extend([0, 0]); // no unhashed subpackets
    body.extend(&digest[..2]);
    mpi(&mut body, &BigUint::from_bytes_be(&signed));
    Ok(body)
}

/// Appends `n` as an OpenPGP MPI: its bit length, then its big-endian bytes.
fn mpi(out: &mut Vec<u8>, n: &BigUint) {
    let bytes = Zeroizing::new(n.to_bytes_be());
    let bytes: &[u8] = if n.bits() == 0 { &[] } else { &bytes };
    out.extend((n.bits() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends a packet in the new format (RFC 4880 4.2.2).
fn packet(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(0xc0 | tag);
    match body.len() {
        n if n < 192 => out.push(n as u8),
        n if n < 8384 => {
            let m = n - 192;
            out.extend([((m >> 8) as u8) + 192, m as u8]);
        }
        n => {
            out.push(0xff);
            out.extend((n as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One 1024-bit RSA key in the three files sops-nix reads (`ssh-keygen` default,
    /// `-m PEM`, `-m PKCS8`). Its fingerprint was computed in Python from `rsa.pub` alone
    /// (SHA-1 over the epoch-dated v4 packet), as the e2e test `install_gnupg` does.
    const RSA_FILES: [&[u8]; 3] = [
        include_bytes!("../../tests/data/ssh/rsa-openssh"),
        include_bytes!("../../tests/data/ssh/rsa-pkcs1.pem"),
        include_bytes!("../../tests/data/ssh/rsa-pkcs8.pem"),
    ];
    const RSA_FINGERPRINT: &str = "a9698a8cd50344652fda5deab4e3748f70aec68e";

    #[test]
    fn every_rsa_file_format_gives_ssh_to_pgps_fingerprint_and_the_same_key() {
        let keys: Vec<PgpKey> = RSA_FILES
            .iter()
            .map(|f| ssh_private_key_to_pgp(f).unwrap())
            .collect();
        for key in &keys {
            assert_eq!(key.fingerprint_hex(), RSA_FINGERPRINT);
            // PKCS#1 v1.5 signatures are deterministic: the packets are the same bytes.
            assert_eq!(key.public, keys[0].public);
            assert_eq!(key.secret, keys[0].secret);
        }
        // Public key, user ID, signature packets; the secret key packet in front instead.
        assert_eq!(keys[0].public[0], 0xc0 | 6);
        assert_eq!(keys[0].secret[0], 0xc0 | 5);
    }

    /// The secret packet's p, q and u, after checking its checksum and that p * q = n.
    fn secret_primes(key: &PgpKey) -> (BigUint, BigUint, BigUint) {
        fn read_mpi(body: &[u8], at: &mut usize) -> BigUint {
            let bits = usize::from(u16::from_be_bytes([body[*at], body[*at + 1]]));
            let bytes = &body[*at + 2..*at + 2 + bits.div_ceil(8)];
            *at += 2 + bytes.len();
            BigUint::from_bytes_be(bytes)
        }
        let secret = &key.secret;
        // A two-octet length (the body is over 191 bytes).
        let len = ((usize::from(secret[1]) - 192) << 8) + usize::from(secret[2]) + 192;
        let body = &secret[3..3 + len];
        let mut at = 6;
        let (n, e) = (read_mpi(body, &mut at), read_mpi(body, &mut at));
        assert_eq!(body[at], 0, "not protected");
        at += 1;
        let start = at;
        let d = read_mpi(body, &mut at);
        let (p, q, u) = (
            read_mpi(body, &mut at),
            read_mpi(body, &mut at),
            read_mpi(body, &mut at),
        );
        let sum = body[start..at]
            .iter()
            .fold(0u16, |s, b| s.wrapping_add(u16::from(*b)));
        assert_eq!(&body[at..], &sum.to_be_bytes());
        assert_eq!(&p * &q, n);
        assert_eq!(e, BigUint::from(65537u32));
        assert!(d > BigUint::from(1u8));
        (p, q, u)
    }

    #[test]
    fn the_secret_packet_holds_pgp_ordered_primes_with_a_valid_checksum() {
        for file in RSA_FILES {
            let (p, q, u) = secret_primes(&ssh_private_key_to_pgp(file).unwrap());
            assert!(p < q);
            assert_eq!((&u * &p) % &q, BigUint::from(1u8));
        }
    }

    #[test]
    fn armor_has_rfc_4880_s_checksum_and_user_ids_go_s_shape() {
        // RFC 4880's CRC-24 of "123456789" is 0x21CF02.
        assert_eq!(crc24(b"123456789"), 0x21cf02);
        let text = armor(b"\x01\x02\x03", false);
        assert_eq!(
            text.as_str(),
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAQID\n=Z2GT\n-----END PGP PUBLIC KEY BLOCK-----\n"
        );
        assert_eq!(
            user_id("root", "Imported from SSH", "root@localhost").unwrap(),
            USER_ID
        );
        assert_eq!(user_id("host", "", "h@x").unwrap(), "host <h@x>");
        assert!(user_id("a<b", "", "c").is_err());
    }

    #[test]
    fn other_keys_are_refused_with_sops_nix_s_words() {
        let err = |file: &[u8]| ssh_private_key_to_pgp(file).err().unwrap();
        let prefix = "failed to parse private ssh key: ";
        for (file, want) in [
            (
                &include_bytes!("../../tests/data/ssh/rsa-openssh-passphrase")[..],
                "ssh: this private key is passphrase protected",
            ),
            (
                include_bytes!("../../tests/data/ssh/ecdsa-openssh"),
                "only RSA keys are supported right now, got: *ecdsa.PrivateKey",
            ),
            (
                include_bytes!("../../tests/data/ssh/ecdsa.pem"),
                "only RSA keys are supported right now, got: *ecdsa.PrivateKey",
            ),
            (b"not a key", "ssh: no key found"),
            (
                b"-----BEGIN FOO KEY-----\nAAAA\n-----END FOO KEY-----\n",
                "ssh: unsupported key type \"FOO KEY\"",
            ),
            (
                b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----\n",
                "ssh: malformed OpenSSH key",
            ),
        ] {
            assert_eq!(err(file), format!("{prefix}{want}"));
        }
    }

    /// An unencrypted OpenSSH file of an RSA key made of these fields (n, e, d, iqmp, p, q).
    fn openssh_rsa_file(fields: [&[u8]; 6]) -> String {
        let string = |out: &mut Vec<u8>, s: &[u8]| {
            out.extend((s.len() as u32).to_be_bytes());
            out.extend(s);
        };
        let mut private = vec![1, 2, 3, 4, 1, 2, 3, 4];
        string(&mut private, b"ssh-rsa");
        for field in fields {
            string(&mut private, field);
        }
        string(&mut private, b"comment");
        private.extend([1, 2, 3]);
        let mut blob = b"openssh-key-v1\0".to_vec();
        for s in [&b"none"[..], b"none", b""] {
            string(&mut blob, s);
        }
        blob.extend(1u32.to_be_bytes());
        string(&mut blob, b"public");
        string(&mut blob, &private);
        format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &blob)
        )
    }

    #[test]
    fn moduli_outside_1024_to_16384_bits_are_refused_before_any_arithmetic() {
        // n of 16,392 and of 1,016 bits (the rest is junk: never looked at).
        for n_len in [2050, 128] {
            let mut n = vec![0xffu8; n_len];
            n[0] = 0;
            let file = openssh_rsa_file([&n, &[1, 0, 1], &[5], &[5], &[5], &[5]]);
            let bits = (n_len - 1) * 8;
            assert_eq!(
                ssh_private_key_to_pgp(file.as_bytes()).err().unwrap(),
                format!("failed to parse private ssh key: ssh: an RSA key of {bits} bits is outside the 1024 to 16384 bits keytap reads")
            );
        }
    }

    #[test]
    fn a_key_whose_smaller_prime_comes_first_is_written_with_p_less_than_q() {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let pem = std::str::from_utf8(RSA_FILES[1]).unwrap();
        let key = RsaPrivateKey::from_pkcs1_pem(pem).unwrap();
        let [a, b] = key.primes() else { panic!() };
        for primes in [vec![a.clone(), b.clone()], vec![b.clone(), a.clone()]] {
            let k = RsaPrivateKey::from_components(
                key.n().clone(),
                key.e().clone(),
                key.d().clone(),
                primes,
            )
            .unwrap();
            let converted = pgp_key(&k, USER_ID).unwrap();
            let (p, q, u) = secret_primes(&converted);
            assert!(p < q);
            assert_eq!((&u * &p) % &q, BigUint::from(1u8));
            // The same key either way: the fingerprint and (deterministic) signature.
            assert_eq!(converted.fingerprint_hex(), RSA_FINGERPRINT);
        }
    }

    #[test]
    fn a_key_with_equal_primes_is_an_error_not_a_panic() {
        use num_bigint_dig::{ModInverse, RandPrime};
        let p = rand::thread_rng().gen_prime(528);
        let n = &p * &p;
        let e = BigUint::from(65537u32);
        let d = e
            .clone()
            .mod_inverse(&p - 1u32)
            .and_then(|d| d.to_biguint())
            .unwrap();
        let (n, p, d) = (n.to_bytes_be(), p.to_bytes_be(), d.to_bytes_be());
        let file = openssh_rsa_file([&n, &e.to_bytes_be(), &d, &[1], &p, &p]);
        let err = ssh_private_key_to_pgp(file.as_bytes()).err().unwrap();
        assert!(
            err.starts_with("failed to parse private ssh key: ssh: invalid RSA key"),
            "{err}"
        );
    }
}
