//! Identity sources and the editor's private copy.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use keytap_e2e::{keytap_bin, Workspace};

#[test]
fn a_passphrase_protected_key_file_is_unlocked_through_askpass() {
    let ws = Workspace::new();
    // The passphrase plugin's key file is exactly a passphrase-protected age identity file.
    let pass = ws.private_file("pass.txt", "s3same");
    let keyfile = ws.path("keys.age");
    let (recipient, _) =
        ws.passphrase_key(&keyfile, &["--passphrase-file", pass.to_str().unwrap()]);
    ws.write("plain.yaml", "a: b\n");
    ws.write(
        "s.yaml",
        ws.keytap(["encrypt", "--age", &recipient, "plain.yaml"])
            .ok(),
    );
    let asked = ws.path("asked");
    let askpass = ws.sh_script(
        "askpass.sh",
        &format!("echo \"$1\" >> {}\necho s3same", asked.display()),
    );
    let run = ws.run(keytap_bin().to_str().unwrap(), |c| {
        c.args(["decrypt", "s.yaml"])
            .env("SOPS_AGE_KEY_FILE", &keyfile)
            .env("KEYTAP_ASKPASS", &askpass);
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out(), "a: b\n");
    assert!(
        std::fs::read_to_string(&asked)
            .unwrap()
            .contains("SOPS_AGE_KEY_FILE"),
        "the prompt names the source"
    );
    // A wrong passphrase: 128, and the error says why.
    let wrong = ws.sh_script("wrong.sh", "echo nope");
    let run = ws.run(keytap_bin().to_str().unwrap(), |c| {
        c.args(["decrypt", "s.yaml"])
            .env("SOPS_AGE_KEY_FILE", &keyfile)
            .env("KEYTAP_ASKPASS", &wrong);
    });
    assert_eq!(run.code, 128);
    assert!(run.stdout.is_empty());
}

#[test]
fn sigterm_during_edit_removes_the_plaintext_and_keeps_the_file() {
    let ws = Workspace::new();
    ws.write("s.yaml", ws.encrypt_plain("plain.yaml", "a: secret\n"));
    let original = ws.read("s.yaml");
    let seen = ws.path("seen");
    let editor = ws.sh_script(
        "editor.sh",
        &format!("echo \"$1\" > {}\nexec sleep 30", seen.display()),
    );
    let tmp = ws.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut child = ws
        .command(keytap_bin())
        .args(["edit", "s.yaml"])
        .env("EDITOR", &editor)
        .env("TMPDIR", &tmp)
        .process_group(0)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !seen.exists() || std::fs::read_to_string(&seen).unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "editor never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let plaintext_copy = PathBuf::from(std::fs::read_to_string(&seen).unwrap().trim());
    assert!(plaintext_copy.exists());
    assert_eq!(
        std::fs::metadata(&plaintext_copy)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(plaintext_copy.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // As a terminal or a service manager does: to keytap and its editor.
    let status = std::process::Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        !plaintext_copy.exists(),
        "plaintext copy left behind after SIGTERM"
    );
    // The editor's directory stays, empty (see hardening_writes).
    let dir = plaintext_copy.parent().unwrap();
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0);
    assert_eq!(ws.read("s.yaml"), original);
}

#[test]
fn a_key_file_readable_by_others_is_flagged_but_still_works() {
    let ws = Workspace::new();
    ws.write("s.yaml", ws.encrypt_plain("plain.yaml", "a: b\n"));
    std::fs::set_permissions(&ws.keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = ws.keytap(["decrypt", "s.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("readable by others") && run.stderr.contains("chmod 600"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("AGE-SECRET-KEY"),
        "no key material in the warning"
    );
}

/// sops 3.13 reads several keys on one line of `SOPS_AGE_KEY` (3.11 refuses the line);
/// keytap follows 3.13.
#[test]
fn sops_age_key_takes_several_keys_on_a_line() {
    let ws = Workspace::new();
    let other = ws.path("other.txt");
    assert_eq!(ws.keytap(["keygen", "-o", other.to_str().unwrap()]).code, 0);
    let secret = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .unwrap()
            .to_string()
    };
    let (mine, theirs) = (secret(&ws.keys), secret(&other));
    // Encrypted to the second key only: it must be found after the first on its line.
    let recipient = keytap_e2e::recipient_of(&other);
    ws.write("plain.yaml", "a: b\n");
    ws.write(
        "s.yaml",
        ws.keytap(["encrypt", "--age", &recipient, "plain.yaml"])
            .ok(),
    );
    for value in [
        format!("{mine} {theirs}"),
        format!("# two keys\n\t{mine}\t \t{theirs}  \n\n"),
    ] {
        let run = ws.run(keytap_bin().to_str().unwrap(), |c| {
            c.args(["decrypt", "s.yaml"])
                .env_remove("SOPS_AGE_KEY_FILE")
                .env("SOPS_AGE_KEY", &value);
        });
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.out(), "a: b\n");
    }
    // A bad word on the line is still an error naming the variable, with no key in it.
    let run = ws.run(keytap_bin().to_str().unwrap(), |c| {
        c.args(["decrypt", "s.yaml"])
            .env_remove("SOPS_AGE_KEY_FILE")
            .env("SOPS_AGE_KEY", format!("{theirs} not-a-key"));
    });
    assert_eq!(run.code, 128, "{}", run.stderr);
    assert!(run.stderr.contains("SOPS_AGE_KEY"), "{}", run.stderr);
    assert!(!run.stderr.contains(&theirs[15..]), "{}", run.stderr);
}
