//! The passphrase plugin through keytap (issue #9): no plaintext keys.txt, unattended boots.

use std::path::PathBuf;

use keytap_e2e::{path_with_plugins, plugin_identity, testkit_key, Run, Workspace};

fn keytap(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Run {
    ws.keytap_with_plugins(60, args, env)
}

/// A workspace with a passphrase-protected key in `key_file` whose passphrase is in
/// `pass.txt`: the workspace, that file, the key's recipient and its identity.
fn with_passphrase_key(passphrase: &str, key_file: &str) -> (Workspace, PathBuf, String, String) {
    let ws = Workspace::new();
    let pass = ws.private_file("pass.txt", passphrase);
    let (recipient, identity) = ws.passphrase_key(
        &ws.path(key_file),
        &["--passphrase-file", pass.to_str().unwrap()],
    );
    (ws, pass, recipient, identity)
}

/// Encrypts `plain.yaml` to `recipients` with keytap into `name`.
fn encrypt_to(ws: &Workspace, recipients: &str, name: &str) {
    let enc = keytap(ws, &["encrypt", "--age", recipients, "plain.yaml"], &[]);
    assert_eq!(enc.code, 0, "{}", enc.stderr);
    ws.write(name, &enc.stdout);
}

#[test]
fn passphrase_from_a_file_a_credential_and_a_prompt() {
    let (ws, _, recipient, from_file) = with_passphrase_key("correct horse\n", "k1.age");
    ws.write("plain.yaml", "token: s3cret\n");
    // keytap encrypts to the plain age1 recipient (no plugin needed), and real age too.
    encrypt_to(&ws, &recipient, "s.yaml");
    let run = keytap(&ws, &["decrypt", "s.yaml"], &[("SOPS_AGE_KEY", &from_file)]);
    assert_eq!(run.code, 0, "file: {}", run.stderr);
    assert_eq!(run.out(), "token: s3cret\n");

    // From a systemd credential.
    let creds = ws.path("creds");
    ws.private_file("creds/keytap-pass", "correct horse");
    let ident = ws.passphrase_plugin(&[
        "--identity",
        ws.path("k1.age").to_str().unwrap(),
        "--credential",
        "keytap-pass",
        "--no-prompt",
    ]);
    let from_credential = plugin_identity(&ident.out());
    let run = keytap(
        &ws,
        &["decrypt", "s.yaml"],
        &[
            ("SOPS_AGE_KEY", &from_credential),
            ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "credential: {}", run.stderr);

    // From a prompt (pinentry stub), once for 20 files.
    let ident = ws.passphrase_plugin(&["--identity", ws.path("k1.age").to_str().unwrap()]);
    let prompt_only = plugin_identity(&ident.out());
    let asked = ws.path("asked.log");
    let pinentry = ws.sh_script("pinentry.sh",
        &format!(
            "echo OK\nwhile read -r line; do case \"$line\" in GETPIN*) echo x >> {}; echo 'D correct horse'; echo OK;; BYE*) echo OK; exit 0;; *) echo OK;; esac; done",
            asked.display()
        ),
    );
    let real_age = ws.run("age", |c| {
        c.args([
            "-r",
            &recipient,
            "-o",
            ws.path("blob.age").to_str().unwrap(),
            "plain.yaml",
        ]);
    });
    assert_eq!(real_age.code, 0, "{}", real_age.stderr);
    let mut files = Vec::new();
    for i in 0..20 {
        let name = format!("f{i}.yaml");
        encrypt_to(&ws, &recipient, &name);
        files.push(name);
    }
    std::fs::create_dir_all(ws.path("out")).unwrap();
    let mut args = vec!["decrypt", "--output-dir", "out"];
    args.extend(files.iter().map(String::as_str));
    let run = keytap(
        &ws,
        &args,
        &[
            ("SOPS_AGE_KEY", &prompt_only),
            ("PINENTRY_PROGRAM", pinentry.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "prompt: {}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&asked).unwrap().lines().count(),
        1,
        "one prompt for 20 files"
    );
    // The blob real age wrote opens through the plugin too (age -d with the identity).
    let id_file = ws.write("id.txt", format!("{from_file}\n"));
    let dec = ws.run("age", |c| {
        c.args([
            "-d",
            "-i",
            id_file.to_str().unwrap(),
            ws.path("blob.age").to_str().unwrap(),
        ])
        .env("PATH", path_with_plugins());
    });
    assert_eq!(dec.code, 0, "{}", dec.stderr);
    assert_eq!(dec.out(), "token: s3cret\n");
}

#[test]
fn wrong_passphrase_and_rekey() {
    let (ws, pass, recipient, identity) = with_passphrase_key("first", "k.age");
    ws.write("plain.yaml", "a: b\n");
    encrypt_to(&ws, &recipient, "s.yaml");
    std::fs::write(&pass, "wrong").unwrap();
    let run = keytap(&ws, &["decrypt", "s.yaml"], &[("SOPS_AGE_KEY", &identity)]);
    assert_eq!(run.code, 128);
    assert!(run.stdout.is_empty());
    run.assert_stderr_has("age-plugin-passphrase");
    // Rekey from "first" to "second": the same identity (it names the file) works again.
    std::fs::write(&pass, "first").unwrap();
    let new = ws.private_file("new.txt", "second");
    let rekey = ws.passphrase_plugin(&[
        "--rekey",
        ws.path("k.age").to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
        "--new-passphrase-file",
        new.to_str().unwrap(),
    ]);
    assert_eq!(rekey.code, 0, "{}", rekey.stderr);
    std::fs::write(&pass, "second").unwrap();
    let run = keytap(&ws, &["decrypt", "s.yaml"], &[("SOPS_AGE_KEY", &identity)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn an_absent_token_falls_back_to_the_passphrase_plugin() {
    let (ws, _, recipient, identity) = with_passphrase_key("pw", "k.age");
    let (token_recipient, token_identity) = testkit_key(Some("absent"));
    ws.write("plain.yaml", "a: b\n");
    encrypt_to(&ws, &format!("{token_recipient},{recipient}"), "s.yaml");
    let keys = ws.write(
        "keys.txt.plugins",
        format!("{token_identity}\n{identity}\n"),
    );
    let run = keytap(
        &ws,
        &["decrypt", "s.yaml"],
        &[("SOPS_AGE_KEY_FILE", keys.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_stderr_has("skipping");
    assert_eq!(run.out(), "a: b\n");
}
