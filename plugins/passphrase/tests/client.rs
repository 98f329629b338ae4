//! `age-plugin-passphrase` driven by Rust clients: the `age` crate's plugin client (one
//! identity-v1 session per file, as `age`/`rage`/sops do) and a Connection-level client
//! that sends many files in ONE session (as keytap does), to count prompts.

mod common;

use std::fs;

use common::*;

const PASS: &str = "correct horse battery staple";

struct Key {
    _dir: tempfile::TempDir,
    key: std::path::PathBuf,
    recipient: age::x25519::Recipient,
    /// Identity whose only passphrase source is the client's prompt.
    prompt_identity: String,
}

fn key() -> Key {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    write_private(&pass, PASS.as_bytes());
    let key = dir.path().join("k.age");
    let g = generate(&key, &pass, &[]);
    // The passphrase file is gone: only the prompt is left.
    fs::remove_file(&pass).unwrap();
    let prompt_identity = identity_for(&key, &[]);
    Key {
        _dir: dir,
        key,
        recipient: g.recipient.parse().unwrap(),
        prompt_identity,
    }
}

/// One identity-v1 session of this crate's plugin over `files`, answering prompts with
/// `secret`.
fn session(
    identities: &[String],
    files: Vec<Vec<age_core::format::Stanza>>,
    secret: Option<String>,
) -> Session {
    identity_session(&plugin_bin(), identities, files, secret).unwrap()
}

#[test]
fn age_crate_client_prompt_once_per_file_session() {
    let k = key();
    let file = age::encrypt(&k.recipient, b"one").unwrap();
    let prompts = Prompts::answering(PASS);
    assert_eq!(
        decrypt_with_crate(&k.prompt_identity, prompts.clone(), &file).unwrap(),
        b"one"
    );
    assert_eq!(prompts.count(), 1);
    let asked = prompts.asked.lock().unwrap()[0].clone();
    assert!(asked.contains(&k.key.display().to_string()), "{asked}");

    // A file with several X25519 stanzas (several recipients, ours last): still one prompt.
    let others: Vec<_> = (0..3)
        .map(|_| age::x25519::Identity::generate().to_public())
        .collect();
    let mut rs: Vec<&dyn age::Recipient> =
        others.iter().map(|r| r as &dyn age::Recipient).collect();
    rs.push(&k.recipient);
    let enc = age::Encryptor::with_recipients(rs.into_iter()).unwrap();
    let mut file = Vec::new();
    let mut w = enc.wrap_output(&mut file).unwrap();
    std::io::Write::write_all(&mut w, b"many").unwrap();
    w.finish().unwrap();
    let prompts = Prompts::answering(PASS);
    assert_eq!(
        decrypt_with_crate(&k.prompt_identity, prompts.clone(), &file).unwrap(),
        b"many"
    );
    assert_eq!(prompts.count(), 1);
}

#[test]
fn age_crate_client_wrong_passphrase_and_no_prompt() {
    let k = key();
    let file = age::encrypt(&k.recipient, b"x").unwrap();
    let prompts = Prompts::answering("wrong");
    let err = decrypt_with_crate(&k.prompt_identity, prompts.clone(), &file).unwrap_err();
    assert!(err.contains("wrong passphrase for key file"), "{err}");
    assert_eq!(prompts.count(), 1, "no retry loop");

    // A client that cannot prompt (answers `fail`).
    let prompts = Prompts::default();
    let err = decrypt_with_crate(&k.prompt_identity, prompts, &file).unwrap_err();
    assert!(
        err.contains("no passphrase for key file") && err.contains("could not prompt"),
        "{err}"
    );
}

#[test]
fn one_prompt_for_twenty_files_in_one_session() {
    let k = key();
    let plaintexts: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("secret number {i}\n").into_bytes())
        .collect();
    let files: Vec<Vec<u8>> = plaintexts
        .iter()
        .map(|p| age::encrypt(&k.recipient, p).unwrap())
        .collect();
    let stanzas: Vec<_> = files.iter().map(|f| stanzas_of(f)).collect();
    // (The age crate sometimes adds a "grease" stanza of a random type; that is fine.)
    assert!(stanzas
        .iter()
        .all(|s| s.iter().filter(|s| s.tag == "X25519").count() == 1));

    let session = session(
        std::slice::from_ref(&k.prompt_identity),
        stanzas,
        Some(PASS.into()),
    );
    assert_eq!(session.prompts.len(), 1, "{session:?}");
    assert!(session.errors.is_empty(), "{:?}", session.errors);
    assert_eq!(session.file_keys.len(), 20);
    for (i, file) in files.iter().enumerate() {
        let key = &session.file_keys[&i];
        assert_eq!(
            &decrypt_with_file_key(file, key).unwrap(),
            &plaintexts[i],
            "file {i}"
        );
    }
}

#[test]
fn session_mixes_foreign_files_and_identities() {
    let k = key();
    let good = k.prompt_identity.clone();
    // An identity whose key file does not exist.
    let missing = tempfile::tempdir().unwrap();
    let gone_key = missing.path().join("gone.age");
    fs::copy(&k.key, &gone_key).unwrap();
    let gone_identity = identity_for(&gone_key, &[]);
    fs::remove_file(&gone_key).unwrap();

    let foreign = age::x25519::Identity::generate().to_public();
    let scrypt_file = {
        let mut r = age::scrypt::Recipient::new("pw".to_owned().into());
        r.set_work_factor(10);
        age::encrypt(&r, b"s").unwrap()
    };
    let files = [
        age::encrypt(&k.recipient, b"0").unwrap(),
        age::encrypt(&foreign, b"1").unwrap(),
        scrypt_file,
        age::encrypt(&k.recipient, b"3").unwrap(),
    ];
    let stanzas: Vec<_> = files.iter().map(|f| stanzas_of(f)).collect();
    let session = session(&[gone_identity, good], stanzas, Some(PASS.into()));
    // Files 0 and 3 open; 1 (someone else's key) and 2 (scrypt) are not ours.
    assert_eq!(
        session.file_keys.keys().copied().collect::<Vec<_>>(),
        vec![0, 3]
    );
    assert_eq!(
        decrypt_with_file_key(&files[3], &session.file_keys[&3]).unwrap(),
        b"3"
    );
    assert_eq!(session.prompts.len(), 1);
    // The missing key file was reported once, for identity 0, before any prompt for it.
    assert_eq!(session.errors.len(), 1, "{:?}", session.errors);
    assert_eq!(
        session.errors[0].0,
        vec!["identity".to_string(), "0".to_string()]
    );
    assert!(
        session.errors[0].1.contains("does not exist"),
        "{:?}",
        session.errors
    );
}

#[test]
fn no_prompt_when_no_file_has_an_x25519_stanza() {
    let k = key();
    let mut r = age::scrypt::Recipient::new("pw".to_owned().into());
    r.set_work_factor(10);
    let files: Vec<_> = (0..3)
        .map(|_| stanzas_of(&age::encrypt(&r, b"s").unwrap()))
        .collect();
    let session = session(
        std::slice::from_ref(&k.prompt_identity),
        files,
        Some(PASS.into()),
    );
    assert!(
        session.prompts.is_empty() && session.file_keys.is_empty() && session.errors.is_empty(),
        "{session:?}"
    );
}

#[test]
fn session_with_wrong_passphrase_reports_one_error() {
    let k = key();
    let files: Vec<_> = (0..5)
        .map(|_| stanzas_of(&age::encrypt(&k.recipient, b"s").unwrap()))
        .collect();
    let session = session(
        std::slice::from_ref(&k.prompt_identity),
        files,
        Some("nope".into()),
    );
    assert_eq!(session.prompts.len(), 1);
    assert!(session.file_keys.is_empty());
    assert_eq!(session.errors.len(), 1, "{:?}", session.errors);
    assert!(
        session.errors[0]
            .1
            .contains("wrong passphrase for key file"),
        "{:?}",
        session.errors
    );
    assert!(!session.errors[0].1.contains('\n'));
}

#[test]
fn invalid_identity_is_a_protocol_error() {
    // A Bech32-valid AGE-PLUGIN-PASSPHRASE identity with a payload of the wrong version.
    let bad = bech32::encode::<bech32::Bech32>(
        bech32::Hrp::parse("AGE-PLUGIN-PASSPHRASE-").unwrap(),
        &[9, 9, 9],
    )
    .unwrap()
    .to_uppercase();
    let k = key();
    let files = vec![stanzas_of(&age::encrypt(&k.recipient, b"s").unwrap())];
    let session = session(&[bad], files, None);
    assert_eq!(session.errors.len(), 1, "{session:?}");
    assert!(
        session.errors[0]
            .1
            .contains("invalid AGE-PLUGIN-PASSPHRASE identity"),
        "{:?}",
        session.errors
    );
}

#[test]
fn secrets_are_not_left_in_the_key_directory() {
    // After generate, decrypt and a session, the key's directory holds only the key file.
    let k = key();
    let file = age::encrypt(&k.recipient, b"x").unwrap();
    decrypt_with_crate(&k.prompt_identity, Prompts::answering(PASS), &file).unwrap();
    let names: Vec<_> = fs::read_dir(k.key.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("k.age")]);
    let text = fs::read_to_string(&k.key).unwrap();
    assert!(!text.contains("AGE-SECRET-KEY"));
}
