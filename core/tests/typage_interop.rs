//! Interop with typage (npm `age-encryption` 0.3.1, by age's author), an independent
//! implementation of age 1.3's native types:
//! - typage derives the same `age1pq1...` recipient from keytap's identities, and keytap the
//!   same from typage's;
//! - typage encrypts to keytap's post-quantum recipients and keytap decrypts (binary and
//!   armored, the shape of a sops `enc`);
//! - keytap wraps a data key to typage's post-quantum recipients (armored, as in a sops file)
//!   and typage opens it;
//! - typage encrypts to `age1tag1...` and `age1tagpq1...` recipients and keytap's P-256 code
//!   (`keytap_p256`, software keys here, the device in the plugins) opens the stanzas
//!   (typage has no tag identities, so the other direction is checked against the `age`
//!   crate's tag recipients in `keys::tag`'s unit tests);
//! - one file mixing X25519, post-quantum and both tag recipients opens with each identity.

mod native_keys;

use std::str::FromStr;

use age::secrecy::ExposeSecret;
use keytap_core::keys::pq::{PqIdentity, PqRecipient};
use keytap_core::keys::tag::TagRecipient;
use keytap_p256::software::{SoftwareHybridTagKey, SoftwareP256Key};
use native_keys::{age_decrypt, age_encrypt_armored, typage, SoftTagIdentity, SoftTagPqIdentity};
use rand::RngCore;

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

fn lines(out: Vec<u8>) -> Vec<String> {
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn recipients_derive_alike() {
    // keytap's identity, typage's derivation.
    let ours = PqIdentity::generate();
    let theirs = lines(typage(&["recipient", &ours.to_secret_string()], b""));
    assert_eq!(theirs, vec![ours.to_public().to_string()]);

    // typage's identity, keytap's derivation.
    let pair = lines(typage(&["keygen-pq"], b""));
    let id = PqIdentity::from_str(&pair[0]).unwrap();
    assert_eq!(id.to_public().to_string(), pair[1]);
    assert_eq!(&*id.to_secret_string(), &pair[0]);
    assert_eq!(
        PqRecipient::from_str(&pair[1]).unwrap().to_string(),
        pair[1]
    );
}

#[test]
fn typage_encrypts_to_keytap_pq() {
    let id = PqIdentity::generate();
    let recipient = id.to_public().to_string();
    for armor in [false, true] {
        let plaintext = random_bytes(1000);
        let mut args = vec!["encrypt"];
        if armor {
            args.push("--armor");
        }
        args.push(&recipient);
        let file = typage(&args, &plaintext);
        assert_eq!(
            file.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"),
            armor
        );
        assert_eq!(age_decrypt(&file, &id).unwrap(), plaintext);
        // Another identity does not open it.
        assert!(age_decrypt(&file, &PqIdentity::generate()).is_err());
    }
}

#[test]
fn keytap_wraps_a_data_key_typage_opens() {
    let pair = lines(typage(&["keygen-pq"], b""));
    let recipient = PqRecipient::from_str(&pair[1]).unwrap();
    let data_key = random_bytes(32);
    let enc = age_encrypt_armored(&data_key, &recipient);
    assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert_eq!(typage(&["decrypt", &pair[0]], enc.as_bytes()), data_key);
}

#[test]
fn typage_tag_stanzas_open_with_keytap_p256() {
    let p256 = SoftwareP256Key::generate(&mut rand::rngs::OsRng);
    let tag_recipient = keytap_p256::tag::encode_recipient(p256.public());
    let hybrid = SoftwareHybridTagKey::generate(&mut rand::rngs::OsRng);
    let tagpq_recipient = hybrid.recipient().encode();
    // keytap parses what it will print for these keys.
    assert_eq!(
        TagRecipient::from_str(&tag_recipient).unwrap().to_string(),
        tag_recipient
    );
    assert_eq!(
        TagRecipient::from_str(&tagpq_recipient)
            .unwrap()
            .to_string(),
        tagpq_recipient
    );

    let plaintext = random_bytes(100);
    let file = typage(&["encrypt", &tag_recipient], &plaintext);
    assert_eq!(
        age_decrypt(&file, &SoftTagIdentity(p256.clone())).unwrap(),
        plaintext
    );
    let other = SoftwareP256Key::generate(&mut rand::rngs::OsRng);
    assert!(age_decrypt(&file, &SoftTagIdentity(other)).is_err());

    let file = typage(&["encrypt", "--armor", &tagpq_recipient], &plaintext);
    assert_eq!(
        age_decrypt(&file, &SoftTagPqIdentity(hybrid)).unwrap(),
        plaintext
    );
}

#[test]
fn a_mixed_file_opens_with_each_identity() {
    let x25519 = age::x25519::Identity::generate();
    let pq = PqIdentity::generate();
    let p256 = SoftwareP256Key::generate(&mut rand::rngs::OsRng);
    let hybrid = SoftwareHybridTagKey::generate(&mut rand::rngs::OsRng);
    let recipients = [
        x25519.to_public().to_string(),
        pq.to_public().to_string(),
        keytap_p256::tag::encode_recipient(p256.public()),
        hybrid.recipient().encode(),
    ];
    let mut args = vec!["encrypt", "--armor"];
    args.extend(recipients.iter().map(String::as_str));
    let plaintext = random_bytes(5000);
    let file = typage(&args, &plaintext);
    assert_eq!(age_decrypt(&file, &x25519).unwrap(), plaintext);
    assert_eq!(age_decrypt(&file, &pq).unwrap(), plaintext);
    assert_eq!(
        age_decrypt(&file, &SoftTagIdentity(p256)).unwrap(),
        plaintext
    );
    assert_eq!(
        age_decrypt(&file, &SoftTagPqIdentity(hybrid)).unwrap(),
        plaintext
    );
    // typage opens it with the X25519 and post-quantum identities too.
    assert_eq!(
        typage(
            &["decrypt", x25519.to_string().expose_secret()],
            file.as_slice()
        ),
        plaintext
    );
    assert_eq!(
        typage(&["decrypt", &pq.to_secret_string()], file.as_slice()),
        plaintext
    );
}
