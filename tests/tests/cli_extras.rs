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
    // A key file readable by others is flagged.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ws.keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(ws.keytap(["doctor"]).out().contains("readable by others"));
}
