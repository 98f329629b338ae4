//! HPKE (RFC 9180) in base mode, single shot, as age's HPKE stanzas use it: KDF HKDF-SHA256,
//! AEAD ChaCha20Poly1305, one message (sequence number 0, so the nonce is `base_nonce`), empty
//! `aad`, `info` the stanza's label.
//!
//! Hand-written from RFC 9180 (§4 `LabeledExtract`/`LabeledExpand`, §4.1 DHKEM
//! `ExtractAndExpand`, §5.1 `KeySchedule` in mode_base, §5.2 `Seal`/`Open`), which pins
//! every byte: the `hpke` crate cannot start from a shared secret whose ECDH was done by a
//! hardware key, nor from the hybrid KEMs of draft-ietf-hpke-pq. HKDF and ChaCha20-Poly1305
//! are the RustCrypto crates. Checked against RFC 9180's test vector A.5 (DHKEM(P-256),
//! HKDF-SHA256, ChaCha20Poly1305) in this module's tests.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// RFC 9180 KDF id of HKDF-SHA256.
pub const KDF_HKDF_SHA256: u16 = 0x0001;
/// RFC 9180 AEAD id of ChaCha20Poly1305.
pub const AEAD_CHACHA20_POLY1305: u16 = 0x0003;
/// RFC 9180 KEM id of DHKEM(P-256, HKDF-SHA256): the `p256tag` stanza.
pub const KEM_DHKEM_P256: u16 = 0x0010;
/// draft-ietf-hpke-pq KEM id of MLKEM768-P256: the `mlkem768p256tag` stanza.
pub const KEM_MLKEM768_P256: u16 = 0x0050;
/// draft-ietf-hpke-pq KEM id of MLKEM768-X25519 (X-Wing): the `mlkem768x25519` stanza.
pub const KEM_MLKEM768_X25519: u16 = 0x647a;

const VERSION_LABEL: &[u8] = b"HPKE-v1";

/// The AEAD tag did not verify: wrong key, or a tampered or foreign stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HPKE open failed")]
pub struct OpenError;

/// `LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm)`.
fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut labeled_ikm = Zeroizing::new(Vec::with_capacity(
        VERSION_LABEL.len() + suite_id.len() + label.len() + ikm.len(),
    ));
    labeled_ikm.extend_from_slice(VERSION_LABEL);
    labeled_ikm.extend_from_slice(suite_id);
    labeled_ikm.extend_from_slice(label);
    labeled_ikm.extend_from_slice(ikm);
    let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), &labeled_ikm);
    let mut out = Zeroizing::new([0; 32]);
    out.copy_from_slice(&prk);
    out
}

/// `LabeledExpand(prk, label, info, L) =
/// Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L)`, with `L = out.len()`.
fn labeled_expand(suite_id: &[u8], prk: &[u8; 32], label: &[u8], info: &[u8], out: &mut [u8]) {
    let length = u16::try_from(out.len()).expect("short output");
    let mut labeled_info =
        Vec::with_capacity(2 + VERSION_LABEL.len() + suite_id.len() + label.len() + info.len());
    labeled_info.extend_from_slice(&length.to_be_bytes());
    labeled_info.extend_from_slice(VERSION_LABEL);
    labeled_info.extend_from_slice(suite_id);
    labeled_info.extend_from_slice(label);
    labeled_info.extend_from_slice(info);
    Hkdf::<Sha256>::from_prk(prk)
        .expect("a 32-byte PRK is valid for HKDF-SHA256")
        .expand(&labeled_info, out)
        .expect("outputs of at most 32 bytes are valid for HKDF-SHA256");
}

/// DHKEM(P-256, HKDF-SHA256)'s `ExtractAndExpand` (RFC 9180 §4.1): the KEM shared secret
/// from the ECDH output `dh` (the x-coordinate), with `kem_context = enc || pkRm`, both
/// uncompressed points. This is what follows the (possibly hardware) ECDH in `Decap`, and
/// the ECDH with the ephemeral key in `Encap`.
pub fn dhkem_p256_shared_secret(
    dh: &[u8; 32],
    enc: &[u8; 65],
    pk_r: &[u8; 65],
) -> Zeroizing<[u8; 32]> {
    let mut suite_id = *b"KEM\0\0";
    suite_id[3..].copy_from_slice(&KEM_DHKEM_P256.to_be_bytes());
    let eae_prk = labeled_extract(&suite_id, b"", b"eae_prk", dh);
    let mut kem_context = [0; 130];
    kem_context[..65].copy_from_slice(enc);
    kem_context[65..].copy_from_slice(pk_r);
    let mut shared_secret = Zeroizing::new([0; 32]);
    labeled_expand(
        &suite_id,
        &eae_prk,
        b"shared_secret",
        &kem_context,
        &mut shared_secret[..],
    );
    shared_secret
}

/// The AEAD key and nonce of the first (and only) message of a base-mode context.
struct Context {
    key: Zeroizing<[u8; 32]>,
    nonce: [u8; 12],
}

/// `KeySchedule(mode_base, shared_secret, info, psk = "", psk_id = "")` (RFC 9180 §5.1).
fn key_schedule_base(kem_id: u16, shared_secret: &[u8], info: &[u8]) -> Context {
    let mut suite_id = *b"HPKE\0\0\0\0\0\0";
    suite_id[4..6].copy_from_slice(&kem_id.to_be_bytes());
    suite_id[6..8].copy_from_slice(&KDF_HKDF_SHA256.to_be_bytes());
    suite_id[8..10].copy_from_slice(&AEAD_CHACHA20_POLY1305.to_be_bytes());

    let psk_id_hash = labeled_extract(&suite_id, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(&suite_id, b"", b"info_hash", info);
    let mut key_schedule_context = [0; 65];
    key_schedule_context[0] = 0x00; // mode_base
    key_schedule_context[1..33].copy_from_slice(&psk_id_hash[..]);
    key_schedule_context[33..].copy_from_slice(&info_hash[..]);

    let secret = labeled_extract(&suite_id, shared_secret, b"secret", b"");
    let mut key = Zeroizing::new([0; 32]);
    labeled_expand(
        &suite_id,
        &secret,
        b"key",
        &key_schedule_context,
        &mut key[..],
    );
    let mut nonce = [0; 12];
    labeled_expand(
        &suite_id,
        &secret,
        b"base_nonce",
        &key_schedule_context,
        &mut nonce,
    );
    Context { key, nonce }
}

/// The AEAD and the nonce of a base-mode context.
fn aead(kem_id: u16, shared_secret: &[u8], info: &[u8]) -> (ChaCha20Poly1305, [u8; 12]) {
    let ctx = key_schedule_base(kem_id, shared_secret, info);
    (ChaCha20Poly1305::new((&*ctx.key).into()), ctx.nonce)
}

fn seal(kem_id: u16, shared_secret: &[u8], info: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let (aead, nonce) = aead(kem_id, shared_secret, info);
    let payload = Payload {
        msg: plaintext,
        aad,
    };
    aead.encrypt(&nonce.into(), payload)
        .expect("short plaintexts always encrypt")
}

fn open(
    kem_id: u16,
    shared_secret: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let (aead, nonce) = aead(kem_id, shared_secret, info);
    let payload = Payload {
        msg: ciphertext,
        aad,
    };
    aead.decrypt(&nonce.into(), payload)
        .map(Zeroizing::new)
        .map_err(|_| OpenError)
}

/// The ciphertext of `SealBase(pkR, info, aad = "", plaintext)` once the KEM gave
/// `shared_secret`, for the KEM `kem_id` with HKDF-SHA256 and ChaCha20Poly1305.
pub fn seal_base(kem_id: u16, shared_secret: &[u8], info: &[u8], plaintext: &[u8]) -> Vec<u8> {
    seal(kem_id, shared_secret, info, b"", plaintext)
}

/// `OpenBase(enc, skR, info, aad = "", ciphertext)` once the KEM's `Decap` gave
/// `shared_secret`, for the KEM `kem_id` with HKDF-SHA256 and ChaCha20Poly1305.
pub fn open_base(
    kem_id: u16,
    shared_secret: &[u8],
    info: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    open(kem_id, shared_secret, info, b"", ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 9180 A.5.1: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base mode.
    #[test]
    fn rfc9180_a5_1() {
        let info = h("4f6465206f6e2061204772656369616e2055726e");
        let sk_rm = h("a4d1c55836aa30f9b3fbb6ac98d338c877c2867dd3a77396d13f68d3ab150d3b");
        let pk_rm = h("04a697bffde9405c992883c5c439d6cc358170b51af72812333b015621dc0f40bad9bb726f68a5c013806a790ec716ab8669f84f6b694596c2987cf35baba2a006");
        let enc = h("04c07836a0206e04e31d8ae99bfd549380b072a1b1b82e563c935c095827824fc1559eac6fb9e3c70cd3193968994e7fe9781aa103f5b50e934b5b2f387e381291");
        let shared_secret = h("806520f82ef0b03c823b7fc524b6b55a088f566b9751b89551c170f4113bd850");
        let key = h("a8f45490a92a3b04d1dbf6cf2c3939ad8bfc9bfcb97c04bffe116730c9dfe3fc");
        let base_nonce = h("726b4390ed2209809f58c693");
        let aad = h("436f756e742d30");
        let pt = h("4265617574792069732074727574682c20747275746820626561757479");
        let ct = h("6469c41c5c81d3aa85432531ecf6460ec945bde1eb428cb2fedf7a29f5a685b4ccb0d057f03ea2952a27bb458b");

        // Decap: the ECDH, then ExtractAndExpand.
        let sk = p256::SecretKey::from_slice(&sk_rm).unwrap();
        let pk_e = crate::P256Point::from_uncompressed(&enc).unwrap();
        let dh =
            p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk_e.as_public_key().as_affine());
        let dh: [u8; 32] = dh.raw_secret_bytes().as_slice().try_into().unwrap();
        let ss = dhkem_p256_shared_secret(
            &dh,
            enc.as_slice().try_into().unwrap(),
            pk_rm.as_slice().try_into().unwrap(),
        );
        assert_eq!(ss.to_vec(), shared_secret);

        let ctx = key_schedule_base(KEM_DHKEM_P256, &ss[..], &info);
        assert_eq!(ctx.key.to_vec(), key);
        assert_eq!(ctx.nonce.to_vec(), base_nonce);

        assert_eq!(seal(KEM_DHKEM_P256, &ss[..], &info, &aad, &pt), ct);
        assert_eq!(
            open(KEM_DHKEM_P256, &ss[..], &info, &aad, &ct)
                .unwrap()
                .to_vec(),
            pt
        );
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(
            open(KEM_DHKEM_P256, &ss[..], &info, &aad, &bad),
            Err(OpenError)
        );
    }
}
