//! Completions, the man page, filestatus against sops, and doctor.

use keytap_e2e::Workspace;

#[test]
fn bash_completion_loads_and_man_page_renders() {
    let ws = Workspace::new();
    let script = ws.keytap(["completion", "bash"]).ok();
    let path = ws.write("keytap.bash", &script);
    let run = ws.run("bash", |c| {
        c.arg("-c")
            .arg(format!("source {} && complete -p keytap", path.display()));
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.out().contains("keytap"), "{}", run.out());
    for shell in ["zsh", "fish"] {
        assert!(!ws.keytap(["completion", shell]).ok().is_empty());
    }
    let man = String::from_utf8(ws.keytap(["man"]).ok()).unwrap();
    assert!(man.contains(".TH keytap 1"), "{man}");
}

#[test]
fn filestatus_matches_sops() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("plain.yaml", "a: b\n");
    ws.write("enc.yaml", enc);
    for f in ["plain.yaml", "enc.yaml"] {
        let ours = ws.keytap(["filestatus", f]);
        let theirs = ws.sops(["filestatus", f]);
        assert_eq!(
            (ours.code, ours.stdout.clone()),
            (theirs.code, theirs.stdout.clone()),
            "{f}"
        );
    }
    assert_eq!(
        ws.keytap(["filestatus", "enc.yaml"]).out(),
        "{\"encrypted\":true}\n"
    );
}

#[test]
fn doctor_reports_identities_and_recipients_without_secrets() {
    let ws = Workspace::new();
    let other = Workspace::new();
    ws.write("plain.yaml", "a: b\n");
    let enc = ws
        .keytap([
            "encrypt",
            "--age",
            &format!("{},{}", ws.recipient, other.recipient),
            "plain.yaml",
        ])
        .ok();
    ws.write("enc.yaml", enc);
    let run = ws.keytap(["doctor", "enc.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.out();
    assert!(out.contains("SOPS_AGE_KEY_FILE: 1 identity"), "{out}");
    assert!(out.contains("you can open it"), "{out}");
    assert!(out.contains("none of your identities opens it"), "{out}");
    let secret = std::fs::read_to_string(&ws.keys).unwrap();
    let secret_line = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    assert!(
        !out.contains(secret_line) && !run.stderr.contains(secret_line),
        "doctor printed a secret key"
    );
    // A file that repeats a token's entry runs its plugin once: one PIN prompt, however
    // many entries an attacker committed.
    let (recipient, identity) = keytap_e2e::testkit_key(Some("prompt-pin"));
    let token = ws
        .keytap_with_plugins(30, &["encrypt", "--age", &recipient, "plain.yaml"], &[])
        .ok();
    let text = String::from_utf8(token).unwrap();
    let entry_start = text.find("        - recipient:").expect("an age entry");
    let entry_end = entry_start + text[entry_start..].find("-----END").unwrap();
    let entry_end = entry_end + text[entry_end..].find('\n').unwrap() + 1;
    let repeated = text[entry_start..entry_end].repeat(5);
    ws.write(
        "repeated.yaml",
        format!("{}{repeated}{}", &text[..entry_start], &text[entry_start..]),
    );
    let log = ws.path("testkit.log");
    let (askpass, asked) = ws.askpass("askpass", "123456");
    let run = ws.keytap_with_plugins(
        30,
        &["doctor", "repeated.yaml"],
        &[
            ("SOPS_AGE_KEY", identity.as_str()),
            ("KEYTAP_ASKPASS", askpass.to_str().unwrap()),
            ("TESTKIT_LOG", log.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.out().matches("you can open it").count(),
        6,
        "{}",
        run.out()
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(log.matches("session identity-v1").count(), 1, "{log}");
    assert_eq!(std::fs::read_to_string(&asked).unwrap().lines().count(), 1);
    // A key file readable by others is flagged.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ws.keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(ws.keytap(["doctor"]).out().contains("readable by others"));
}
