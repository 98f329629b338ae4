//! age 1.3 post-quantum recipients (`age1pq1...`) through keytap's CLI, with the real sops.

use std::os::unix::fs::PermissionsExt;

use keytap_e2e::Workspace;

#[test]
fn keygen_pq_and_sops_interop_both_ways() {
    let ws = Workspace::new();
    let id = ws.path("pq.txt");
    let run = ws.keytap(["keygen", "--pq", "-o", id.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::metadata(&id).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&id).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("# created: "));
    let recipient = lines[1].strip_prefix("# public key: ").unwrap().to_string();
    assert!(
        recipient.starts_with("age1pq1") && recipient.len() == 1959,
        "{}",
        recipient.len()
    );
    assert!(lines[2].starts_with("AGE-SECRET-KEY-PQ-1"));
    assert_eq!(
        ws.keytap(["keygen", "-y", id.to_str().unwrap()])
            .out()
            .trim(),
        recipient
    );
    // Never overwrites an identity.
    assert_ne!(
        ws.keytap(["keygen", "--pq", "-o", id.to_str().unwrap()])
            .code,
        0
    );
    assert_eq!(std::fs::read_to_string(&id).unwrap(), text);

    ws.write("plain.yaml", "token: s3cret\n");
    let ours = ws
        .keytap([
            "encrypt",
            "--age",
            &format!("{},{}", recipient, ws.recipient),
            "plain.yaml",
        ])
        .ok();
    ws.write("ours.yaml", ours);
    let theirs = ws.sops(["encrypt", "--age", &recipient, "plain.yaml"]).ok();
    ws.write("theirs.yaml", theirs);
    for (bin, file) in [
        ("sops", "ours.yaml"),
        ("keytap", "ours.yaml"),
        ("keytap", "theirs.yaml"),
    ] {
        let program = if bin == "keytap" {
            keytap_e2e::keytap_bin().to_str().unwrap().to_string()
        } else {
            bin.into()
        };
        let run = ws.run(&program, |c| {
            c.args(["decrypt", file]).env("SOPS_AGE_KEY_FILE", &id);
        });
        assert_eq!(run.code, 0, "{bin} {file}: {}", run.stderr);
        assert_eq!(run.out(), "token: s3cret\n");
    }
    // The X25519 recipient of the mixed file opens it too.
    assert_eq!(ws.keytap(["decrypt", "ours.yaml"]).out(), "token: s3cret\n");
}

#[test]
fn malformed_pq_and_tag_recipients_are_one_line_errors() {
    let ws = Workspace::new();
    ws.write("plain.yaml", "a: b\n");
    for bad in ["age1pq1qqqqqqq", "age1tag1qqqq", "age1pq1INVALIDCASE"] {
        let run = ws.keytap(["encrypt", "--age", bad, "plain.yaml"]);
        assert_ne!(run.code, 0, "{bad}");
        assert_eq!(
            run.stderr.trim_end().lines().count(),
            1,
            "{bad}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"));
    }
}

#[test]
fn tag_recipients_encrypt_without_any_plugin_installed() {
    let ws = Workspace::new();
    ws.write("plain.yaml", "a: b\n");
    let tag = "age1tag1qt8lw0ual6avlwmwatk888yqnmdamm7xfd0wak53ut6elz5c4swx2yqdj4e";
    // An empty plugin search path and a PATH without any age-plugin-*.
    let run = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["encrypt", "--age", tag, "plain.yaml"])
            .env("PATH", "/usr/bin:/bin")
            .env("KEYTAP_PLUGIN_PATH", "/nonexistent");
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.out();
    assert!(out.contains(tag), "{out}");
    // The wrapped key is a p256tag stanza (visible in the armored header).
    let armor: String = out
        .lines()
        .skip_while(|l| !l.contains("BEGIN AGE ENCRYPTED FILE"))
        .skip(1)
        .take_while(|l| !l.contains("END AGE"))
        .map(str::trim)
        .collect();
    use std::io::Read;
    let mut decoded = Vec::new();
    let child = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .as_ref()
            .unwrap()
            .write_all(armor.as_bytes())
            .unwrap();
    }
    let mut child = child;
    drop(child.stdin.take());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut decoded)
        .unwrap();
    child.wait().unwrap();
    assert!(
        String::from_utf8_lossy(&decoded).contains("-> p256tag "),
        "no p256tag stanza"
    );
}
