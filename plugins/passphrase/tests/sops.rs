//! `age-plugin-passphrase` with the real sops 3.11: a file sops encrypted to the plain
//! `age1...` recipient decrypts with the plugin identity in `SOPS_AGE_KEY_FILE`, with the
//! passphrase from a file or a systemd credential; failures are reported through sops.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

const PASS: &str = "sops passphrase";

fn sops(dir: &Path) -> Command {
    sops_in(dir, &["CREDENTIALS_DIRECTORY"])
}

#[test]
fn sops_decrypts_with_the_plugin_identity() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pass = d.join("pass");
    write_private(&pass, PASS.as_bytes());
    let key = d.join("k.age");
    let g = generate(&key, &pass, &[]);
    fs::write(d.join("keys.txt"), format!("{}\n", g.identity)).unwrap();
    fs::write(d.join("plain.yaml"), "token: s3cr3t\n").unwrap();

    // Encrypting needs no plugin: the recipient is an ordinary age1... key.
    let out = run(
        sops(d).args(["encrypt", "--age", &g.recipient, "plain.yaml"]),
        b"",
        TIMEOUT,
    );
    assert!(out.success(), "{out:?}");
    fs::write(d.join("enc.yaml"), out.stdout_str()).unwrap();

    // `sops decrypt` with the identities in `keys`.
    let decrypt = |keys: &str, env: &[(&str, &Path)]| {
        let mut cmd = sops(d);
        cmd.args(["decrypt", "enc.yaml"])
            .env("SOPS_AGE_KEY_FILE", d.join(keys));
        cmd.envs(env.iter().copied());
        run(&mut cmd, b"", TIMEOUT)
    };
    let out = decrypt("keys.txt", &[]);
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout_str(), "token: s3cr3t\n");

    // A boot-time identity: the passphrase comes from a systemd credential.
    let id = identity_for(&key, &["--credential", "sops-pass", "--no-prompt"]);
    fs::write(d.join("boot-keys.txt"), format!("{id}\n")).unwrap();
    let creds = d.join("creds");
    fs::create_dir(&creds).unwrap();
    fs::write(creds.join("sops-pass"), PASS).unwrap();
    let out = decrypt("boot-keys.txt", &[("CREDENTIALS_DIRECTORY", &creds)]);
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout_str(), "token: s3cr3t\n");

    // Wrong passphrase: sops fails and relays the plugin's one-line reason.
    write_private(&pass, b"wrong");
    let out = decrypt("keys.txt", &[]);
    assert!(!out.success(), "{out:?}");
    assert!(!out.stdout_str().contains("s3cr3t"));
    assert!(
        words(&out.stderr).contains(&format!(
            "passphrase plugin: wrong passphrase for key file {}",
            key.display()
        )),
        "{}",
        out.stderr
    );
}
