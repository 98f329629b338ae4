//! Every `TESTKIT_MODE` of `age-plugin-testkit`, through the real `age` binary (Debian's
//! 1.1.1 in CI; modes chosen with the environment, as the client passes its environment
//! to the plugin) and through the `age` crate's plugin client and a one-session-for-many-
//! files client (modes chosen with identities made by `--generate --mode`).
//!
//! Every run has a deadline; a run that overruns is killed with its process group.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::*;

const SECRET: &[u8] = b"api_key: 0123456789\n";

struct Setup {
    dir: tempfile::TempDir,
    identity_file: PathBuf,
    encrypted: PathBuf,
    log: PathBuf,
}

impl Setup {
    fn log_lines(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
    fn count(&self, line: &str) -> usize {
        self.log_lines().iter().filter(|l| *l == line).count()
    }
    fn clear_log(&self) {
        let _ = fs::remove_file(&self.log);
    }
}

/// A testkit key, and SECRET encrypted to it by the real age (through the plugin).
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (recipient, identity) = generate(&[]);
    let identity_file = dir.path().join("identity.txt");
    fs::write(&identity_file, format!("{identity}\n")).unwrap();
    let plain = dir.path().join("plain.txt");
    fs::write(&plain, SECRET).unwrap();
    let encrypted = dir.path().join("secret.age");
    let log = dir.path().join("testkit.log");
    let out = run(
        age()
            .arg("-r")
            .arg(&recipient)
            .arg("-o")
            .arg(&encrypted)
            .arg(&plain)
            .env("TESTKIT_LOG", &log),
        b"",
        TIMEOUT,
    );
    assert!(out.success(), "age -r {recipient} failed: {out:?}");
    let header = fs::read(&encrypted).unwrap();
    assert!(
        String::from_utf8_lossy(&header).contains("\n-> testkit "),
        "a testkit stanza"
    );
    let s = Setup {
        dir,
        identity_file,
        encrypted,
        log,
    };
    assert_eq!(s.log_lines(), vec!["session recipient-v1"]);
    s.clear_log();
    s
}

fn age_decrypt(s: &Setup, mode: &str, extra_env: &[(&str, &str)], timeout: Duration) -> Output {
    let mut cmd = age();
    cmd.arg("-d")
        .arg("-i")
        .arg(&s.identity_file)
        .arg(&s.encrypted)
        .env("TESTKIT_MODE", mode)
        .env("TESTKIT_LOG", &s.log);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    run(&mut cmd, b"", timeout)
}

/// A failed decryption: non-zero exit, in time, no plaintext, the error names the plugin.
fn assert_clean_failure(out: &Output, expect: &str) {
    assert!(!out.timed_out, "age did not finish: {out:?}");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "no plaintext on failure: {out:?}");
    assert!(
        out.stderr.contains(expect),
        "expected {expect:?} in: {}",
        out.stderr
    );
}

#[test]
fn generate_output() {
    let (recipient, identity) = generate(&[]);
    assert!(recipient.starts_with("age1testkit1"), "{recipient}");
    assert!(identity.starts_with("AGE-PLUGIN-TESTKIT-1"), "{identity}");
    assert_eq!(identity, identity.to_uppercase());
    let out = run(plugin().arg("--generate"), b"", TIMEOUT);
    let lines: Vec<_> = out.stdout_str().lines().map(str::to_owned).collect();
    assert!(
        lines[0].starts_with("# created: ")
            && lines[1].starts_with("# recipient: ")
            && lines.len() == 3,
        "{lines:?}"
    );
    // An identity with a built-in mode is longer (secret + mode name).
    let (_, with_mode) = generate(&["--mode", "absent"]);
    assert!(with_mode.len() > identity.len());
    let out = run(
        plugin().args(["--generate", "--mode", "nonsense"]),
        b"",
        TIMEOUT,
    );
    assert!(
        !out.success() && out.stderr.contains("unknown mode 'nonsense'"),
        "{out:?}"
    );
}

#[test]
fn mode_ok_real_age_round_trip_and_session_log() {
    let s = setup();
    let out = age_decrypt(&s, "ok", &[], TIMEOUT);
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout, SECRET);
    assert_eq!(
        s.log_lines(),
        vec!["session identity-v1", "unwrap files=1 stanzas=1"]
    );
    // Default mode (unset) is ok too.
    let out = run(
        age()
            .arg("-d")
            .arg("-i")
            .arg(&s.identity_file)
            .arg(&s.encrypted),
        b"",
        TIMEOUT,
    );
    assert_eq!(out.stdout, SECRET);
}

#[test]
fn mode_prompt_pin_real_age_on_a_terminal() {
    let s = setup();
    let out_file = s.dir.path().join("out.txt");
    let log = s.log.to_str().unwrap();
    let args = [
        "-d",
        "-i",
        s.identity_file.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
        s.encrypted.to_str().unwrap(),
    ];
    let env = [("TESTKIT_MODE", "prompt-pin"), ("TESTKIT_LOG", log)];
    let out = age_on_tty(&args, "123456\r", &env, TIMEOUT);
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout_str().matches("Enter PIN for testkit").count(),
        1,
        "{}",
        out.stdout_str()
    );
    assert_eq!(fs::read(&out_file).unwrap(), SECRET);
    assert_eq!(s.count("prompt"), 1);
    assert_eq!(s.count("session identity-v1"), 1);

    // TESTKIT_PIN changes the expected PIN: the default one is now wrong.
    fs::remove_file(&out_file).unwrap();
    let env = [
        ("TESTKIT_MODE", "prompt-pin"),
        ("TESTKIT_LOG", log),
        ("TESTKIT_PIN", "9999"),
    ];
    let out = age_on_tty(&args, "123456\r", &env, TIMEOUT);
    assert!(!out.success() && !out.timed_out, "{out:?}");
    assert!(
        out.stdout_str().contains("testkit: wrong PIN"),
        "{}",
        out.stdout_str()
    );
    assert!(!out_file.exists() || fs::read(&out_file).unwrap().is_empty());
}

/// The modes in which the real age fails cleanly, what it says, and a line the session
/// log then holds once.
#[test]
fn modes_that_fail_cleanly() {
    let cases = [
        (
            "prompt-pin",
            "testkit: a PIN is required but the client could not ask for it",
            Some("prompt"),
        ),
        (
            "fail",
            "testkit plugin: testkit: refusing to unwrap (TESTKIT_MODE=fail)",
            None,
        ),
        ("crash", "testkit plugin", Some("session identity-v1")),
        ("garbage", "testkit plugin: malformed stanza", None),
        // age notices: the header MAC does not verify with the returned key.
        ("wrong-key", "bad header MAC", None),
        ("explode", "unknown TESTKIT_MODE 'explode'", None),
    ];
    for (mode, expect, logged) in cases {
        let s = setup();
        let out = age_decrypt(&s, mode, &[], TIMEOUT);
        assert_clean_failure(&out, expect);
        if let Some(line) = logged {
            assert_eq!(s.count(line), 1, "{mode}: {line}");
        }
    }
}

#[test]
fn mode_hang_is_killed_by_the_harness() {
    // age has no plugin timeout: it waits. The harness kills it (and the plugin, same
    // process group) after the deadline; nothing was decrypted.
    let s = setup();
    let started = std::time::Instant::now();
    let out = age_decrypt(&s, "hang", &[], Duration::from_secs(3));
    assert!(
        out.timed_out,
        "age was expected to wait for the hanging plugin: {out:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(out.stdout.is_empty());
    assert_eq!(
        s.log_lines(),
        vec!["session identity-v1", "unwrap files=1 stanzas=1"]
    );
}

#[test]
fn mode_hang_plugin_exits_when_its_client_goes_away() {
    // The hanging plugin never answers, but leaves once its client is gone (EOF on its
    // stdin), so a killed client leaves no stray process behind.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let (_, identity) = generate(&[]);
    let script = format!(
        "(printf -- '-> add-identity {identity}\\n\\n-> recipient-stanza 0 testkit AAAA\\nAAAA\\n-> done\\n\\n'; sleep 4) </dev/null 2>/dev/null \\
         | TESTKIT_MODE=hang '{}' --age-plugin=identity-v1 >/dev/null 2>&1 & echo $! > '{}'",
        plugin_bin().display(),
        pidfile.display()
    );
    // setsid: the pipeline runs in its own session, out of reach of the harness's kill.
    let out = run(
        std::process::Command::new("setsid").args(["-w", "sh", "-c", &script]),
        b"",
        TIMEOUT,
    );
    assert!(out.success(), "{out:?}");
    let pid = fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    let alive = |pid: &str| {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| !stat.contains(") Z "))
            .unwrap_or(false)
    };
    std::thread::sleep(Duration::from_millis(1000));
    assert!(alive(&pid), "the plugin hangs while its client is there");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while alive(&pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let still = alive(&pid);
    if still {
        // SAFETY: kill(2) on a pid we started.
        unsafe {
            libc::kill(pid.parse().unwrap(), libc::SIGKILL);
        }
    }
    assert!(!still, "the hanging plugin (pid {pid}) outlived its client");
}

#[test]
fn mode_absent() {
    let s = setup();
    let out = age_decrypt(&s, "absent", &[], TIMEOUT);
    assert_clean_failure(
        &out,
        "testkit plugin: testkit token not found (is it plugged in?)",
    );
    // The `msg` came first, shown as it arrived.
    let msg = out
        .stderr
        .find("age: testkit plugin: testkit token not found\n");
    let err = out.stderr.find("age: error:");
    assert!(msg.is_some() && msg < err, "{}", out.stderr);
}

#[test]
fn modes_when_encrypting() {
    let dir = tempfile::tempdir().unwrap();
    let (recipient, _) = generate(&[]);
    let plain = dir.path().join("p");
    fs::write(&plain, b"x").unwrap();
    let encrypt = |mode: &str, timeout| {
        run(
            age()
                .arg("-r")
                .arg(&recipient)
                .arg(&plain)
                .env("TESTKIT_MODE", mode),
            b"",
            timeout,
        )
    };
    let out = encrypt("fail", TIMEOUT);
    assert_clean_failure(&out, "testkit: refusing to wrap (TESTKIT_MODE=fail)");
    let out = encrypt("crash", TIMEOUT);
    assert_clean_failure(&out, "testkit plugin");
    let out = encrypt("garbage", TIMEOUT);
    assert_clean_failure(&out, "malformed stanza");
    let out = encrypt("hang", Duration::from_secs(3));
    assert!(out.timed_out && out.stdout.is_empty(), "{out:?}");
    // Decryption-only modes do not affect wrapping.
    for mode in ["ok", "prompt-pin", "wrong-key", "absent"] {
        let out = encrypt(mode, TIMEOUT);
        assert!(out.success(), "{mode}: {out:?}");
    }
}

// ---- the age crate's plugin client (one session per file) ----

fn crate_file(mode: &str) -> (String, Vec<u8>) {
    let (recipient, identity) = if mode == "ok" {
        generate(&[])
    } else {
        generate(&["--mode", mode])
    };
    let file = encrypt_with_crate(&recipient, SECRET).expect("encrypt through the age crate");
    (identity, file)
}

#[test]
fn crate_client_ok_and_prompt_pin() {
    let (identity, file) = crate_file("ok");
    let prompts = Prompts::default();
    assert_eq!(
        decrypt_with_crate(&identity, prompts.clone(), &file).unwrap(),
        SECRET
    );
    assert_eq!(prompts.count(), 0);

    let (identity, file) = crate_file("prompt-pin");
    let prompts = Prompts::answering("123456");
    assert_eq!(
        decrypt_with_crate(&identity, prompts.clone(), &file).unwrap(),
        SECRET
    );
    assert_eq!(
        *prompts.asked.lock().unwrap(),
        vec!["Enter PIN for testkit".to_string()]
    );

    let prompts = Prompts::answering("000000");
    let err = decrypt_with_crate(&identity, prompts.clone(), &file).unwrap_err();
    assert!(err.contains("testkit: wrong PIN"), "{err}");
    assert_eq!(prompts.count(), 1);

    let err = decrypt_with_crate(&identity, Prompts::default(), &file).unwrap_err();
    assert!(err.contains("could not ask for it"), "{err}");
}

#[test]
fn crate_client_misbehaviours() {
    for (mode, expect) in [
        ("fail", "refusing to unwrap"),
        ("absent", "testkit token not found (is it plugged in?)"),
        ("crash", "age-plugin-testkit\u{2069}' unexpectedly died"),
        // The garbage holds invalid UTF-8, which the crate's line reader rejects.
        ("garbage", "stream did not contain valid UTF-8"),
        ("wrong-key", "Header MAC is invalid"),
    ] {
        let (identity, file) = crate_file(mode);
        let prompts = Prompts::default();
        let err = decrypt_with_crate(&identity, prompts.clone(), &file)
            .expect_err(&format!("{mode} must not decrypt"));
        assert!(err.contains(expect), "{mode}: {err}");
        assert!(!err.contains("did not finish"), "{mode}: {err}");
        if mode == "absent" {
            assert_eq!(
                *prompts.shown.lock().unwrap(),
                vec!["testkit token not found".to_string()]
            );
        }
    }
}

// ---- one session for many files ----

#[test]
fn one_pin_prompt_for_twenty_files_in_one_session() {
    let (recipient, identity) = generate(&["--mode", "prompt-pin"]);
    let plaintexts: Vec<Vec<u8>> = (0..20).map(|i| format!("file {i}").into_bytes()).collect();
    let files: Vec<Vec<u8>> = plaintexts
        .iter()
        .map(|p| encrypt_with_crate(&recipient, p).unwrap())
        .collect();
    let stanzas: Vec<_> = files.iter().map(|f| stanzas_of(f)).collect();
    let session =
        identity_session(&plugin_bin(), &[identity], stanzas, Some("123456".into())).unwrap();
    assert_eq!(session.prompts, vec!["Enter PIN for testkit".to_string()]);
    assert!(session.errors.is_empty(), "{:?}", session.errors);
    assert_eq!(session.file_keys.len(), 20);
    for (i, file) in files.iter().enumerate() {
        assert_eq!(
            decrypt_with_file_key(file, &session.file_keys[&i]).unwrap(),
            plaintexts[i]
        );
    }
}

#[test]
fn session_wrong_key_gives_keys_that_do_not_open() {
    let (recipient, identity) = generate(&["--mode", "wrong-key"]);
    let files: Vec<Vec<u8>> = (0..3)
        .map(|_| encrypt_with_crate(&recipient, b"x").unwrap())
        .collect();
    let stanzas: Vec<_> = files.iter().map(|f| stanzas_of(f)).collect();
    let session = identity_session(&plugin_bin(), &[identity], stanzas, None).unwrap();
    assert_eq!(session.file_keys.len(), 3);
    for (i, file) in files.iter().enumerate() {
        assert!(decrypt_with_file_key(file, &session.file_keys[&i]).is_err());
    }
}

#[test]
fn session_absent_token_then_working_identity() {
    // Two identities in one session: the first is an absent token, the second works.
    // The absent one is reported (msg + error identity 0), the file still opens.
    let (r_absent, id_absent) = generate(&["--mode", "absent"]);
    let (r_ok, id_ok) = generate(&[]);
    use_plugin_path();
    let recipients: Vec<age::plugin::Recipient> = [r_absent, r_ok]
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let plugin =
        age::plugin::RecipientPluginV1::new("testkit", &recipients, &[], Prompts::default())
            .unwrap();
    let file = age::encrypt(&plugin, b"both").unwrap();
    let stanzas = stanzas_of(&file);
    assert_eq!(stanzas.iter().filter(|s| s.tag == "testkit").count(), 2);
    let session =
        identity_session(&plugin_bin(), &[id_absent, id_ok], vec![stanzas], None).unwrap();
    assert_eq!(
        session.messages,
        vec!["testkit token not found".to_string()]
    );
    assert_eq!(session.errors.len(), 1);
    assert_eq!(
        session.errors[0].0,
        vec!["identity".to_string(), "0".to_string()]
    );
    assert_eq!(
        decrypt_with_file_key(&file, &session.file_keys[&0]).unwrap(),
        b"both"
    );
}

#[test]
fn session_ignores_foreign_stanzas() {
    // Files without testkit stanzas: no prompt, no error, no key, even in prompt-pin mode.
    let (_, identity) = generate(&["--mode", "prompt-pin"]);
    let other = age::x25519::Identity::generate().to_public();
    let files: Vec<_> = (0..3)
        .map(|_| stanzas_of(&age::encrypt(&other, b"x").unwrap()))
        .collect();
    let session =
        identity_session(&plugin_bin(), &[identity], files, Some("123456".into())).unwrap();
    assert!(
        session.prompts.is_empty() && session.errors.is_empty() && session.file_keys.is_empty(),
        "{session:?}"
    );
}
