//! `age-plugin-passphrase` driven by the real `age` binary (Debian's 1.1.1 in CI), which
//! runs the plugin from `PATH`, and by its own command line (generate, rekey, errors).

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

const PASS: &str = "correct horse battery staple";
const SECRET: &[u8] = b"db_password: hunter2\n";

struct Setup {
    dir: tempfile::TempDir,
    key: PathBuf,
    pass: PathBuf,
    generated: Generated,
    encrypted: PathBuf,
}

/// A key file made with a passphrase file, and SECRET encrypted by the real age to the
/// printed recipient.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    write_private(&pass, format!("{PASS}\n").as_bytes());
    let key = dir.path().join("keys").join("passphrase-1.age");
    fs::create_dir(key.parent().unwrap()).unwrap();
    let generated = generate(&key, &pass, &[]);
    let plain = dir.path().join("plain.txt");
    fs::write(&plain, SECRET).unwrap();
    let encrypted = dir.path().join("secret.age");
    let out = run(
        age()
            .arg("-r")
            .arg(&generated.recipient)
            .arg("-o")
            .arg(&encrypted)
            .arg(&plain),
        b"",
        TIMEOUT,
    );
    assert!(out.success(), "age -r failed: {out:?}");
    Setup {
        dir,
        key,
        pass,
        generated,
        encrypted,
    }
}

impl Setup {
    /// The generated identity, in `identity.txt`.
    fn identity(&self) -> PathBuf {
        write_identity(self.dir.path(), "identity.txt", &self.generated.identity)
    }

    /// `age -d -i IDENTITY -o OUT_NAME` of the encrypted file on a pseudo-terminal, typing
    /// `typed`: the output and the output file.
    fn decrypt_on_tty(&self, identity: &Path, out_name: &str, typed: &str) -> (Output, PathBuf) {
        let out_file = self.dir.path().join(out_name);
        let [id, out, file] = [identity, &out_file, &self.encrypted].map(|p| p.to_str().unwrap());
        let output = age_on_tty(&["-d", "-i", id, "-o", out, file], typed, &[]);
        (output, out_file)
    }
}

fn write_identity(dir: &Path, name: &str, identity: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, format!("{identity}\n")).unwrap();
    path
}

/// Asserts that `out` failed without printing anything, and said each of `said` on
/// standard error.
#[track_caller]
fn assert_refused(out: &Output, said: &[&str]) {
    assert!(!out.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "nothing printed on failure: {out:?}");
    for s in said {
        assert!(out.stderr.contains(s), "{s:?} not in: {}", out.stderr);
    }
}

/// `age-plugin-passphrase --rekey KEY --passphrase-file OLD --new-passphrase-file NEW`.
fn rekey(key: &Path, old: &Path, new: &Path, extra: &[&str]) -> Output {
    let mut cmd = plugin();
    cmd.arg("--rekey")
        .arg(key)
        .arg("--passphrase-file")
        .arg(old);
    cmd.arg("--new-passphrase-file").arg(new).args(extra);
    run(&mut cmd, b"", TIMEOUT)
}

/// `age -d -i IDENTITY FILE` with extra environment; stdin is not a terminal.
fn age_decrypt(identity: &Path, file: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = age();
    cmd.arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .env_remove("CREDENTIALS_DIRECTORY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd, b"", TIMEOUT)
}

#[test]
fn generate_prints_identity_and_plain_age_recipient() {
    let s = setup();
    let g = &s.generated;
    let lines: Vec<&str> = g.stdout.lines().collect();
    assert!(lines[0].starts_with("# created: "), "{}", g.stdout);
    assert!(
        lines.iter().any(|l| l.starts_with("# recipient: age1")),
        "{}",
        g.stdout
    );
    assert_eq!(
        *lines.last().unwrap(),
        g.identity,
        "identity is the last line"
    );
    // An ordinary X25519 recipient: age1 + Bech32 data, no plugin name.
    assert!(
        g.recipient.starts_with("age1") && g.recipient.len() == 62,
        "{}",
        g.recipient
    );
    g.recipient
        .parse::<age::x25519::Recipient>()
        .expect("a native X25519 recipient");
    assert!(
        g.identity.starts_with("AGE-PLUGIN-PASSPHRASE-1"),
        "{}",
        g.identity
    );
    assert_eq!(g.identity, g.identity.to_uppercase());
    // The key file: private, armored, and an ordinary passphrase-encrypted age file.
    assert_eq!(mode(&s.key), 0o600);
    let text = fs::read_to_string(&s.key).unwrap();
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    assert!(
        !text.contains("AGE-SECRET-KEY"),
        "key file must not hold the key in clear"
    );
    let id = age::scrypt::Identity::new(PASS.to_owned().into());
    let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(text.as_bytes())).unwrap();
    let mut plain = String::new();
    decryptor
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .unwrap()
        .read_to_string(&mut plain)
        .unwrap();
    assert!(
        plain.contains(&format!("# public key: {}", g.recipient)),
        "{plain}"
    );
    assert!(plain.lines().any(|l| l.starts_with("AGE-SECRET-KEY-1")));
}

use std::io::Read as _;

#[test]
fn generate_never_overwrites() {
    let s = setup();
    let before = fs::read(&s.key).unwrap();
    let out = run(
        plugin()
            .arg("--generate")
            .arg("-o")
            .arg(&s.key)
            .arg("--passphrase-file")
            .arg(&s.pass)
            .args(["--work-factor", "10"]),
        b"",
        TIMEOUT,
    );
    assert_refused(&out, &["already exists; refusing to overwrite"]);
    assert_eq!(fs::read(&s.key).unwrap(), before);
}

#[test]
fn generate_default_location_under_xdg_config_home() {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    write_private(&pass, PASS.as_bytes());
    let config = dir.path().join("config");
    for n in 1..=2 {
        let out = run(
            plugin()
                .args(["--generate", "--work-factor", "10", "--passphrase-file"])
                .arg(&pass)
                .env("XDG_CONFIG_HOME", &config),
            b"",
            TIMEOUT,
        );
        assert!(out.success(), "{out:?}");
        let key = config.join("keytap").join(format!("passphrase-{n}.age"));
        assert!(
            out.stdout_str()
                .contains(&format!("# key file: {}", key.display())),
            "{}",
            out.stdout_str()
        );
        assert_eq!(mode(&key), 0o600);
    }
    assert_eq!(mode(&config.join("keytap")), 0o700);
}

#[test]
fn generate_without_passphrase_and_tty_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.age");
    // No --passphrase-file and no terminal (setsid: no controlling tty).
    let out = run(
        std::process::Command::new("setsid")
            .arg("-w")
            .arg(plugin_bin())
            .arg("--generate")
            .arg("-o")
            .arg(&key),
        b"",
        TIMEOUT,
    );
    assert_refused(&out, &["cannot ask for a passphrase on the terminal"]);
    assert!(!key.exists());
}

#[test]
fn generate_and_rekey_on_a_terminal() {
    // Without --passphrase-file the passphrase is typed twice on the terminal.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("tty.age");
    let bin = plugin_bin();
    let bin = bin.to_str().unwrap();
    let key_s = key.to_str().unwrap();
    let out = on_tty(
        bin,
        &["--generate", "-o", key_s, "--work-factor", "10"],
        "typed pass\rtyped pass\r",
        &[],
        TIMEOUT,
    );
    assert!(out.success(), "{out:?}");
    let screen = out.stdout_str();
    assert!(
        screen.contains("New passphrase for the key file (again):"),
        "{screen}"
    );
    let g = parse_generated(&screen.replace('\r', ""));
    assert!(
        g.identity.starts_with("AGE-PLUGIN-PASSPHRASE-1"),
        "{screen}"
    );
    let file = age::encrypt(
        &g.recipient.parse::<age::x25519::Recipient>().unwrap(),
        b"t",
    )
    .unwrap();
    let prompts = Prompts::answering("typed pass");
    assert_eq!(
        decrypt_with_crate(&g.identity, prompts, &file).unwrap(),
        b"t"
    );

    // Mismatch: nothing is created.
    let other = dir.path().join("other.age");
    let out = on_tty(
        bin,
        &["--generate", "-o", other.to_str().unwrap()],
        "one\rtwo\r",
        &[],
        TIMEOUT,
    );
    assert!(!out.success());
    assert!(
        out.stdout_str().contains("the passphrases do not match"),
        "{}",
        out.stdout_str()
    );
    assert!(!other.exists());

    // Rekey on the terminal: old passphrase, then the new one twice.
    let out = on_tty(
        bin,
        &["--rekey", key_s, "--work-factor", "10"],
        "typed pass\rnew pass\rnew pass\r",
        &[],
        TIMEOUT,
    );
    assert!(out.success(), "{out:?}");
    assert_eq!(
        decrypt_with_crate(&g.identity, Prompts::answering("new pass"), &file).unwrap(),
        b"t"
    );
    let err = decrypt_with_crate(&g.identity, Prompts::answering("typed pass"), &file).unwrap_err();
    assert!(err.contains("wrong passphrase"), "{err}");
}

#[test]
fn real_age_decrypts_with_passphrase_from_file() {
    let s = setup();
    let id = s.identity();
    let out = age_decrypt(&id, &s.encrypted, &[]);
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout, SECRET);
    // The passphrase file also works with CRLF and without a trailing newline.
    write_private(&s.pass, format!("{PASS}\r\n").as_bytes());
    assert_eq!(age_decrypt(&id, &s.encrypted, &[]).stdout, SECRET);
    write_private(&s.pass, PASS.as_bytes());
    assert_eq!(age_decrypt(&id, &s.encrypted, &[]).stdout, SECRET);
}

#[test]
fn real_age_decrypts_with_passphrase_from_systemd_credential() {
    let s = setup();
    let id = identity_for(
        &s.key,
        &["--credential", "keytap-passphrase", "--no-prompt"],
    );
    let id_path = write_identity(s.dir.path(), "identity-cred.txt", &id);
    let creds = s.dir.path().join("credentials");
    fs::create_dir(&creds).unwrap();
    // systemd writes credentials without a trailing newline, mode 0400.
    fs::write(creds.join("keytap-passphrase"), PASS).unwrap();
    let creds = creds.to_str().unwrap();
    let out = age_decrypt(&id_path, &s.encrypted, &[("CREDENTIALS_DIRECTORY", creds)]);
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout, SECRET);

    // Without $CREDENTIALS_DIRECTORY (and no prompt allowed): a clear error.
    let out = age_decrypt(&id_path, &s.encrypted, &[]);
    let said = [
        "no passphrase for key file",
        "$CREDENTIALS_DIRECTORY is not set",
    ];
    assert_refused(&out, &said);
    // A credential directory without that credential.
    let empty = tempfile::tempdir().unwrap();
    let out = age_decrypt(
        &id_path,
        &s.encrypted,
        &[("CREDENTIALS_DIRECTORY", empty.path().to_str().unwrap())],
    );
    assert_refused(&out, &["systemd credential keytap-passphrase:"]);
}

#[test]
fn real_age_prompts_on_its_terminal_once() {
    // age 1.1.1 does not use pinentry: it reads plugin prompts from /dev/tty. Give it a
    // pseudo-terminal and type the passphrase.
    let s = setup();
    let id = identity_for(&s.key, &[]);
    let id_path = write_identity(s.dir.path(), "identity-prompt.txt", &id);
    let (out, out_file) = s.decrypt_on_tty(&id_path, "out.txt", &format!("{PASS}\r"));
    assert!(out.success(), "{out:?}");
    let screen = out.stdout_str();
    assert_eq!(
        screen.matches("Enter passphrase for age key file").count(),
        1,
        "{screen}"
    );
    assert!(
        screen.contains(&s.key.display().to_string()),
        "the prompt names the key file: {screen}"
    );
    assert_eq!(fs::read(&out_file).unwrap(), SECRET);

    // A wrong passphrase typed at the prompt.
    let (out, out_file2) = s.decrypt_on_tty(&id_path, "out2.txt", "not it\r");
    assert!(!out.success(), "{out:?}");
    assert!(
        out.stdout_str().contains("wrong passphrase for key file"),
        "{}",
        out.stdout_str()
    );
    assert!(!out_file2.exists() || fs::read(&out_file2).unwrap().is_empty());
}

#[test]
fn passphrase_file_missing_falls_back_to_prompt() {
    let s = setup();
    fs::remove_file(&s.pass).unwrap();
    let id = s.identity();
    // No terminal: the fallback prompt cannot be shown either; both reasons are given.
    let out = age_decrypt(&id, &s.encrypted, &[]);
    assert_refused(&out, &["does not exist", "could not prompt"]);
    // With a terminal, the prompt is used.
    let (out, out_file) = s.decrypt_on_tty(&id, "out.txt", &format!("{PASS}\r"));
    assert!(out.success(), "{out:?}");
    assert_eq!(fs::read(&out_file).unwrap(), SECRET);
}

#[test]
fn wrong_passphrase_is_reported_and_nothing_is_written() {
    let s = setup();
    write_private(&s.pass, b"not the passphrase\n");
    let id = s.identity();
    let out_file = s.dir.path().join("out.txt");
    let out = run(
        age()
            .arg("-d")
            .arg("-i")
            .arg(&id)
            .arg("-o")
            .arg(&out_file)
            .arg(&s.encrypted),
        b"",
        TIMEOUT,
    );
    // It says where the passphrase came from.
    let wrong = format!("wrong passphrase for key file {}", s.key.display());
    assert_refused(&out, &[&wrong, "passphrase file"]);
    assert!(!out_file.exists() || fs::read(&out_file).unwrap().is_empty());
    assert_eq!(
        out.stderr
            .lines()
            .filter(|l| l.contains("wrong passphrase"))
            .count(),
        1
    );
}

#[test]
fn key_file_with_group_or_world_permissions_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let id = s.identity();
    for m in [0o640, 0o604, 0o660] {
        fs::set_permissions(&s.key, fs::Permissions::from_mode(m)).unwrap();
        let out = age_decrypt(&id, &s.encrypted, &[]);
        assert_refused(
            &out,
            &["is accessible by group or others", &format!("{m:04o}")],
        );
    }
    fs::set_permissions(&s.key, fs::Permissions::from_mode(0o600)).unwrap();
    // The same rule for the passphrase file.
    fs::set_permissions(&s.pass, fs::Permissions::from_mode(0o644)).unwrap();
    let out = age_decrypt(&id, &s.encrypted, &[]);
    assert_refused(&out, &["passphrase file", "accessible by group or others"]);
}

#[test]
fn missing_and_corrupted_key_files_are_reported() {
    let s = setup();
    let id = s.identity();
    let good = fs::read(&s.key).unwrap();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), "is corrupted"),
        ("not age", b"hello world\n".to_vec(), "is corrupted"),
        (
            "garbled payload",
            {
                // Flip a character inside the armored payload (after the header).
                let mut text = String::from_utf8(good.clone()).unwrap();
                let pos = text.len() - 60;
                let c = text.as_bytes()[pos];
                let new = if c == b'A' { "B" } else { "A" };
                text.replace_range(pos..pos + 1, new);
                text.into_bytes()
            },
            "is corrupted",
        ),
        ("empty", Vec::new(), "is corrupted"),
    ];
    for (what, bytes, expect) in cases {
        write_private(&s.key, &bytes);
        let out = age_decrypt(&id, &s.encrypted, &[]);
        assert_refused(&out, &[expect, &s.key.display().to_string()]);
        assert_eq!(
            out.stderr
                .lines()
                .filter(|l| l.starts_with("age: error"))
                .count(),
            1,
            "{what}: one line: {}",
            out.stderr
        );
    }

    // An age file, but encrypted to a key rather than a passphrase.
    let other = age::x25519::Identity::generate();
    let wrong_kind = age::encrypt(&other.to_public(), b"AGE-SECRET-KEY-1...").unwrap();
    write_private(&s.key, &wrong_kind);
    let out = age_decrypt(&id, &s.encrypted, &[]);
    assert_refused(&out, &["not an age file encrypted with a passphrase"]);

    // A passphrase-encrypted age file that holds no age key.
    let mut r = age::scrypt::Recipient::new(PASS.to_owned().into());
    r.set_work_factor(10);
    let no_key = age::encrypt(&r, b"just some text\n").unwrap();
    write_private(&s.key, &no_key);
    let out = age_decrypt(&id, &s.encrypted, &[]);
    assert_refused(&out, &["is corrupted: it holds no AGE-SECRET-KEY-1 line"]);

    fs::remove_file(&s.key).unwrap();
    let out = age_decrypt(&id, &s.encrypted, &[]);
    assert_refused(
        &out,
        &[&format!("key file {} does not exist", s.key.display())],
    );
}

#[test]
fn rekey_changes_the_passphrase_atomically() {
    let s = setup();
    let keys_dir = s.key.parent().unwrap();
    let new_pass = s.dir.path().join("new-pass");
    write_private(&new_pass, b"a brand new passphrase\n");

    // A wrong old passphrase: refused, key file untouched.
    let before = fs::read(&s.key).unwrap();
    let wrong = s.dir.path().join("wrong");
    write_private(&wrong, b"nope\n");
    let out = rekey(&s.key, &wrong, &new_pass, &[]);
    assert_refused(&out, &["wrong passphrase"]);
    assert_eq!(fs::read(&s.key).unwrap(), before);

    let out = rekey(&s.key, &s.pass, &new_pass, &["--work-factor", "10"]);
    assert!(out.success(), "{out:?}");
    assert_ne!(fs::read(&s.key).unwrap(), before);
    assert_eq!(mode(&s.key), 0o600);
    // No temporary file left behind, nothing decrypted on disk.
    let names: Vec<_> = fs::read_dir(keys_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("passphrase-1.age")]);

    // The old identity (old passphrase file) no longer opens it...
    let id_old = s.identity();
    let out = age_decrypt(&id_old, &s.encrypted, &[]);
    assert_refused(&out, &["wrong passphrase"]);
    // ...the new passphrase does, and the key (so the recipient) is the same.
    let id_new = identity_for(&s.key, &["--passphrase-file", new_pass.to_str().unwrap()]);
    let id_new = write_identity(s.dir.path(), "identity-new.txt", &id_new);
    let out = age_decrypt(&id_new, &s.encrypted, &[]);
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout, SECRET);
    let out = run(
        plugin()
            .arg("--recipient")
            .arg(&s.key)
            .arg("--passphrase-file")
            .arg(&new_pass),
        b"",
        TIMEOUT,
    );
    assert_eq!(out.stdout_str().trim(), s.generated.recipient);
}

#[test]
fn recipient_v1_is_refused_per_protocol() {
    // `age -e -i IDENTITY` asks the plugin to wrap to the identity (recipient-v1).
    let s = setup();
    let id = s.identity();
    let out = run(
        age()
            .arg("-e")
            .arg("-i")
            .arg(&id)
            .arg(s.dir.path().join("plain.txt")),
        b"",
        TIMEOUT,
    );
    assert_refused(&out, &["encrypt to the ordinary age1... recipient"]);
}

#[test]
fn identity_among_other_identities_and_unrelated_files() {
    // A file encrypted to someone else: the plugin opens nothing, age reports no match,
    // and the passphrase is still taken from the file without complaint.
    let s = setup();
    let other = age::x25519::Identity::generate();
    let foreign = s.dir.path().join("foreign.age");
    fs::write(&foreign, age::encrypt(&other.to_public(), b"x").unwrap()).unwrap();
    let id = s.identity();
    let out = age_decrypt(&id, &foreign, &[]);
    assert_refused(&out, &["no identity matched any of the recipients"]);
    // The same identity file may hold a native key too; both work.
    let both = write_identity(
        s.dir.path(),
        "both.txt",
        &format!(
            "{}\n{}",
            age::secrecy::ExposeSecret::expose_secret(&other.to_string()),
            s.generated.identity
        ),
    );
    assert_eq!(age_decrypt(&both, &foreign, &[]).stdout, b"x");
    assert_eq!(age_decrypt(&both, &s.encrypted, &[]).stdout, SECRET);
}
