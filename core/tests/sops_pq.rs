//! Post-quantum keys against the real sops 3.11 (built on age 1.3.1, so Go age's
//! `mlkem768x25519` implementation):
//! - sops encrypts to a keytap-generated `age1pq1...` recipient; keytap's `PqIdentity` opens
//!   the `enc` blob of the metadata, and sops itself decrypts the file with keytap's
//!   `AGE-SECRET-KEY-PQ-1...` string in `SOPS_AGE_KEY` (the encodings match);
//! - the other way round: the data key re-wrapped by keytap (armored age file to the
//!   `age1pq1...` recipient, as keytap writes `enc`) replaces sops's blob, and sops decrypts
//!   the file with it.
//!
//! Needs `sops` 3.11 on PATH (`scripts/install-deps.sh`); fails without it.

mod native_keys;

use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use keytap_core::keys::pq::{PqIdentity, PqRecipient};
use native_keys::{age_decrypt, age_encrypt_armored};

const PLAINTEXT: &str =
    "{\n\t\"db_password\": \"correct horse battery staple\",\n\t\"port\": 5432\n}\n";

/// Runs sops in `dir` with only the given age key in the environment.
fn sops(dir: &Path, args: &[&str], age_key: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new("sops");
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY_CMD")
        .env_remove("SOPS_AGE_RECIPIENTS")
        .env_remove("SOPS_AGE_SSH_PRIVATE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY");
    if let Some(key) = age_key {
        cmd.env("SOPS_AGE_KEY", key);
    }
    cmd.output()
        .expect("sops 3.11 must be on PATH (scripts/install-deps.sh installs it)")
}

fn check_sops_version(dir: &Path) {
    let out = sops(dir, &["--version", "--disable-version-check"], None);
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.starts_with("sops 3.11"),
        "sops 3.11 (on age 1.3) is needed for post-quantum keys, found {version:?}"
    );
}

/// A JSON file encrypted by sops to `recipient`.
fn sops_encrypt(dir: &Path, recipient: &str) -> serde_json::Value {
    std::fs::write(dir.join("plain.json"), PLAINTEXT).unwrap();
    let out = sops(
        dir,
        &[
            "encrypt",
            "--age",
            recipient,
            "--input-type",
            "json",
            "--output-type",
            "json",
            "plain.json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "sops encrypt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sops_decrypt(dir: &Path, file: &serde_json::Value, age_key: &str) -> std::process::Output {
    std::fs::write(
        dir.join("enc.json"),
        serde_json::to_string_pretty(file).unwrap(),
    )
    .unwrap();
    sops(
        dir,
        &[
            "decrypt",
            "--input-type",
            "json",
            "--output-type",
            "json",
            "enc.json",
        ],
        Some(age_key),
    )
}

#[test]
fn sops_encrypts_to_a_keytap_pq_recipient() {
    let dir = tempfile::tempdir().unwrap();
    check_sops_version(dir.path());
    let id = PqIdentity::generate();
    let recipient = id.to_public().to_string();
    let file = sops_encrypt(dir.path(), &recipient);

    let age = &file["sops"]["age"];
    assert_eq!(age.as_array().unwrap().len(), 1);
    assert_eq!(age[0]["recipient"], recipient.as_str());
    let enc = age[0]["enc"].as_str().unwrap();
    assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let data_key = age_decrypt(enc.as_bytes(), &id).expect("keytap opens sops's enc");
    assert_eq!(data_key.len(), 32);
    assert!(age_decrypt(enc.as_bytes(), &PqIdentity::generate()).is_err());

    // sops decrypts with keytap's identity string.
    assert_sops_decrypts(dir.path(), &file, &id);
}

/// sops decrypts `file` with `id` to [`PLAINTEXT`].
#[track_caller]
fn assert_sops_decrypts(dir: &Path, file: &serde_json::Value, id: &PqIdentity) {
    let out = sops_decrypt(dir, file, &id.to_secret_string());
    assert!(
        out.status.success(),
        "sops decrypt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value = serde_json::from_str(PLAINTEXT).unwrap();
    assert_eq!(got, want);
}

#[test]
fn sops_opens_a_data_key_keytap_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    check_sops_version(dir.path());
    let id = PqIdentity::generate();
    let recipient = PqRecipient::from_str(&id.to_public().to_string()).unwrap();
    let mut file = sops_encrypt(dir.path(), &recipient.to_string());
    let data_key = age_decrypt(
        file["sops"]["age"][0]["enc"].as_str().unwrap().as_bytes(),
        &id,
    )
    .unwrap();

    // keytap's blob in place of sops's: Go age opens keytap's mlkem768x25519 stanza.
    let ours = age_encrypt_armored(&data_key, &recipient);
    assert_ne!(file["sops"]["age"][0]["enc"], ours.as_str());
    file["sops"]["age"][0]["enc"] = serde_json::Value::String(ours);
    assert_sops_decrypts(dir.path(), &file, &id);

    // Control: the same data key wrapped to another key does not open, so the blob is used.
    let other = PqIdentity::generate();
    file["sops"]["age"][0]["enc"] =
        serde_json::Value::String(age_encrypt_armored(&data_key, &other.to_public()));
    let out = sops_decrypt(dir.path(), &file, &id.to_secret_string());
    assert!(!out.status.success());
    let out = sops_decrypt(dir.path(), &file, &other.to_secret_string());
    assert!(
        out.status.success(),
        "sops decrypt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
