//! Data keys unwrapped through age plugins (issue #4), with the misbehaving test plugin
//! `age-plugin-testkit` and the real sops as the other client.

use std::path::Path;
use std::time::{Duration, Instant};

use keytap_e2e::{bin_dir, lines_of, path_with_plugins, testkit_key, Run, Workspace};

fn count_lines(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// Runs keytap with plugins on PATH and the given extra environment, bounded in time.
fn keytap_env(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> (Run, Duration) {
    let start = Instant::now();
    let run = ws.keytap_with_plugins(120, args, env);
    (run, start.elapsed())
}

fn encrypt_to(ws: &Workspace, name: &str, recipients: &str) {
    ws.write("plain.json", r#"{"token": "s3cret"}"#);
    let (run, _) = keytap_env(ws, &["encrypt", "--age", recipients, "plain.json"], &[]);
    assert_eq!(run.code, 0, "encrypt: {}", run.stderr);
    ws.write(name, &run.stdout);
}

/// A workspace with `s.json` encrypted to a fresh testkit key, and the key's identity.
fn testkit_secret() -> (Workspace, String) {
    let ws = Workspace::new();
    let (recipient, identity) = testkit_key(None);
    encrypt_to(&ws, "s.json", &recipient);
    (ws, identity)
}

/// Decrypts `s.json` with the testkit `identity` and `env` added to the environment.
fn decrypt_s_json(ws: &Workspace, identity: &str, env: &[(&str, &str)]) -> (Run, Duration) {
    let mut all = vec![("SOPS_AGE_KEY", identity)];
    all.extend_from_slice(env);
    keytap_env(ws, &["decrypt", "s.json"], &all)
}

/// [`decrypt_s_json`] with the plugin asking for a PIN and `answer` set to answer it.
fn decrypt_answering_a_pin_prompt(
    ws: &Workspace,
    identity: &str,
    answer: (&str, &str),
) -> (Run, Duration) {
    decrypt_s_json(ws, identity, &[("TESTKIT_MODE", "prompt-pin"), answer])
}

#[test]
fn plugin_recipients_interoperate_with_sops() {
    let ws = Workspace::new();
    let (recipient, identity) = testkit_key(None);
    encrypt_to(&ws, "ours.json", &recipient);
    let text = String::from_utf8(ws.read("ours.json")).unwrap();
    assert!(text.contains(&recipient));
    // keytap and sops both decrypt it through the plugin.
    let (ours, _) = keytap_env(
        &ws,
        &["decrypt", "ours.json"],
        &[("SOPS_AGE_KEY", &identity)],
    );
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let theirs = ws.run("sops", |c| {
        c.args(["decrypt", "ours.json"])
            .env("PATH", path_with_plugins())
            .env("SOPS_AGE_KEY", &identity);
    });
    assert_eq!(theirs.code, 0, "{}", theirs.stderr);
    assert_eq!(ours.stdout, theirs.stdout);
    // sops encrypts through the plugin, keytap decrypts.
    let enc = ws.run("sops", |c| {
        c.args(["encrypt", "--age", &recipient, "plain.json"])
            .env("PATH", path_with_plugins());
    });
    assert_eq!(enc.code, 0, "{}", enc.stderr);
    ws.write("theirs.json", &enc.stdout);
    let (run, _) = keytap_env(
        &ws,
        &["decrypt", "theirs.json"],
        &[("SOPS_AGE_KEY", &identity)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.out().contains("s3cret"));
}

#[test]
fn a_pin_is_asked_once_for_twenty_files() {
    let ws = Workspace::new();
    let (recipient, identity) = testkit_key(None);
    let mut files = Vec::new();
    for i in 0..20 {
        let name = format!("f{i:02}.json");
        encrypt_to(&ws, &name, &recipient);
        files.push(name);
    }
    let log = ws.path("testkit.log");
    let asked = ws.path("asked.log");
    let askpass = ws.script(
        "askpass.sh",
        &format!(
            "#!/bin/sh\necho \"$1\" >> {}\necho 123456\n",
            asked.display()
        ),
    );
    std::fs::create_dir_all(ws.path("out")).unwrap();
    let mut args = vec!["decrypt", "--output-dir", "out"];
    args.extend(files.iter().map(String::as_str));
    let (run, _) = keytap_env(
        &ws,
        &args,
        &[
            ("SOPS_AGE_KEY", &identity),
            ("TESTKIT_MODE", "prompt-pin"),
            ("TESTKIT_LOG", log.to_str().unwrap()),
            ("KEYTAP_ASKPASS", askpass.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        count_lines(&log, "session identity-v1"),
        1,
        "one plugin session for 20 files"
    );
    assert_eq!(count_lines(&asked, "PIN"), 1, "one PIN prompt for 20 files");
    for f in &files {
        assert!(std::fs::read_to_string(ws.path("out").join(f))
            .unwrap()
            .contains("s3cret"));
    }
}

#[test]
fn a_wrong_pin_fails_cleanly() {
    let (ws, identity) = testkit_secret();
    let askpass = ws.script("askpass.sh", "#!/bin/sh\necho 000000\n");
    let (run, _) = decrypt_answering_a_pin_prompt(
        &ws,
        &identity,
        ("KEYTAP_ASKPASS", askpass.to_str().unwrap()),
    );
    assert_eq!(run.code, 128, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    run.assert_stderr_has("age-plugin-testkit");
}

#[test]
fn no_way_to_ask_is_a_clear_error_not_a_hang() {
    let (ws, identity) = testkit_secret();
    // No KEYTAP_ASKPASS, no pinentry, no terminal (the harness gives no tty).
    let (run, took) = decrypt_answering_a_pin_prompt(
        &ws,
        &identity,
        ("PATH", &format!("{}:/usr/bin:/bin", bin_dir().display())),
    );
    assert_eq!(run.code, 128, "{}", run.stderr);
    assert!(
        run.stderr.contains("Enter PIN for testkit"),
        "names what the plugin asked: {}",
        run.stderr
    );
    run.assert_stderr_has("no way to ask");
    assert!(took < Duration::from_secs(30));
}

#[test]
fn pinentry_answers_when_askpass_is_unset() {
    let (ws, identity) = testkit_secret();
    let pinentry = ws.script(
        "pinentry.sh",
        "#!/bin/sh\necho OK\nwhile read -r line; do case \"$line\" in GETPIN*) echo 'D 123456'; echo OK;; BYE*) echo OK; exit 0;; *) echo OK;; esac; done\n",
    );
    let (run, _) = decrypt_answering_a_pin_prompt(
        &ws,
        &identity,
        ("PINENTRY_PROGRAM", pinentry.to_str().unwrap()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.out().contains("s3cret"));
}

#[test]
fn every_plugin_misbehaviour_is_a_clear_error_without_plaintext() {
    let (ws, identity) = testkit_secret();
    for (mode, expect) in [
        ("fail", "age-plugin-testkit"),
        ("crash", "age-plugin-testkit"),
        ("garbage", "not the age plugin protocol"),
        ("wrong-key", "wrong file key"),
        ("absent", "age-plugin-testkit"),
        ("hang", "made no progress within 2 s"),
    ] {
        let (run, took) = decrypt_s_json(
            &ws,
            &identity,
            &[("TESTKIT_MODE", mode), ("KEYTAP_PLUGIN_TIMEOUT", "2")],
        );
        assert_eq!(run.code, 128, "{mode}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{mode}: printed plaintext");
        assert!(
            run.stderr.contains(expect),
            "{mode}: expected {expect:?} in {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{mode}: {}", run.stderr);
        assert!(took < Duration::from_secs(60), "{mode} took {took:?}");
    }
}

#[test]
fn plugins_that_flood_or_overflow_are_stopped_and_their_text_defused() {
    let (ws, identity) = testkit_secret();
    let with = |mode: &str, timeout: &str| {
        decrypt_s_json(
            &ws,
            &identity,
            &[("TESTKIT_MODE", mode), ("KEYTAP_PLUGIN_TIMEOUT", timeout)],
        )
        .0
    };
    // A header line that never ends is cut off at the line limit instead of buffered.
    let run = with("endless-line", "60");
    assert_eq!(run.code, 128, "{}", run.stderr);
    run.assert_stderr_has("longer than");
    // Messages forever are answered but are not progress: the timeout stops the plugin,
    // and at most 64 of them reach the terminal.
    let run = with("msg-flood", "2");
    assert_eq!(run.code, 128, "{}", run.stderr);
    run.assert_stderr_has("made no progress within 2 s");
    assert!(
        run.stderr.matches("still here").count() <= 64,
        "flooded the terminal"
    );
    // A megabyte message: the file opens, and the message is shown cut to 4 KiB.
    let run = with("huge-msg", "60");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.out().contains("s3cret"));
    // (The test plugin sends it once per identity mode it checks: twice here.)
    assert!(
        run.stderr.len() < 16 * 1024,
        "{} bytes on stderr",
        run.stderr.len()
    );
    // Terminal control sequences in a plugin's text never reach the terminal.
    let run = with("escape-msg", "60");
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_stderr_has("touch your token");
    assert!(!run.stderr.contains('\x1b') && !run.stderr.contains('\x07'));
    // KEYTAP_NOTIFY (a login unit's desktop notifications) gets the same defused text.
    let notified = ws.path("notified.log");
    let notify = ws.script(
        "notify",
        &format!(
            "#!/bin/sh\nprintf '%s|%s\\n' \"$1\" \"$2\" >> '{}'\n",
            notified.display()
        ),
    );
    let (run, _) = decrypt_s_json(
        &ws,
        &identity,
        &[
            ("TESTKIT_MODE", "escape-msg"),
            ("KEYTAP_NOTIFY", notify.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let start = std::time::Instant::now();
    while lines_of(&notified).is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let shown = std::fs::read_to_string(&notified).unwrap_or_default();
    assert!(shown.starts_with("keytap|"), "{shown:?}");
    assert!(shown.contains("touch your token"), "{shown:?}");
    assert!(
        !shown.contains('\x1b') && !shown.contains('\x07'),
        "{shown:?}"
    );
    // The timeout takes fractions, and refuses what is not a positive number.
    let run = with("hang", "0.5");
    run.assert_stderr_has("within 0.5 s");
    for bad in ["abc", "0", "-5"] {
        let run = with("ok", bad);
        assert_eq!(run.code, 128, "{bad}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "KEYTAP_PLUGIN_TIMEOUT=\"{bad}\" is not a positive number"
            )),
            "{bad}: {}",
            run.stderr
        );
    }
}

#[test]
fn an_absent_token_falls_back_to_a_software_key() {
    let ws = Workspace::new();
    let (hw_recipient, hw_identity) = testkit_key(Some("absent"));
    encrypt_to(&ws, "s.json", &format!("{hw_recipient},{}", ws.recipient));
    let software = std::fs::read_to_string(&ws.keys).unwrap();
    let keys = ws.write("keys.txt.both", format!("{hw_identity}\n{software}"));
    let (run, _) = keytap_env(
        &ws,
        &["--verbose", "decrypt", "s.json"],
        &[("SOPS_AGE_KEY_FILE", keys.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.out().contains("s3cret"));
    assert!(
        run.stderr.contains("skipping"),
        "a one-line note about the absent token: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("data key unwrapped with"),
        "--verbose says which identity worked: {}",
        run.stderr
    );
}

#[test]
fn a_missing_plugin_binary_names_it() {
    let (ws, identity) = testkit_secret();
    let (run, _) = decrypt_s_json(&ws, &identity, &[("PATH", "/usr/bin:/bin")]);
    assert_eq!(run.code, 128, "{}", run.stderr);
    run.assert_stderr_has("age-plugin-testkit not found in PATH");
    // KEYTAP_PLUGIN_PATH finds it without PATH.
    let (run, _) = decrypt_s_json(
        &ws,
        &identity,
        &[
            ("PATH", "/usr/bin:/bin"),
            ("KEYTAP_PLUGIN_PATH", bin_dir().to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn software_first_spares_the_token_when_a_software_key_opens_the_file() {
    let ws = Workspace::new();
    let (hw_recipient, hw_identity) = testkit_key(None);
    encrypt_to(&ws, "s.json", &format!("{hw_recipient},{}", ws.recipient));
    let software = std::fs::read_to_string(&ws.keys).unwrap();
    let keys = ws.write("keys.both", format!("{hw_identity}\n{software}"));
    let log = ws.path("testkit.log");
    let env = [
        ("SOPS_AGE_KEY_FILE", keys.to_str().unwrap()),
        ("TESTKIT_LOG", log.to_str().unwrap()),
        ("TESTKIT_MODE", "prompt-pin"),
    ];
    let mut with_order = env.to_vec();
    with_order.push(("KEYTAP_IDENTITY_ORDER", "software-first"));
    let (run, _) = keytap_env(&ws, &["decrypt", "s.json"], &with_order);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        count_lines(&log, "session identity-v1"),
        0,
        "the token was asked although the software key opened the file"
    );
    // Hardware first (the default) does use the token.
    let askpass = ws.script("askpass.sh", "#!/bin/sh\necho 123456\n");
    let mut hw_first = env.to_vec();
    hw_first.push(("KEYTAP_ASKPASS", askpass.to_str().unwrap()));
    let (run, _) = keytap_env(&ws, &["decrypt", "s.json"], &hw_first);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(count_lines(&log, "session identity-v1"), 1);
}
