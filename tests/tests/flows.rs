//! Command flows against the real sops: edit, set/unset, rotate, updatekeys, groups,
//! exec-env/exec-file, key groups with Shamir, SSH recipients, multi-file decryption.

use std::os::unix::fs::PermissionsExt;

use keytap_e2e::{keytap_bin, Workspace};
use regex::Regex;

const PLAIN: &str =
    "{\n\t\"a\": \"one\",\n\t\"b\": \"two\",\n\t\"nested\": {\n\t\t\"c\": \"three\"\n\t}\n}\n";

fn enc_of<'a>(text: &'a str, key: &str) -> &'a str {
    let re = Regex::new(&format!(r#""{key}": "(ENC\[[^"]*\])""#)).unwrap();
    let m = re
        .captures(text)
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .get(1)
        .unwrap();
    &text[m.start()..m.end()]
}

fn encrypted_file(ws: &Workspace, name: &str) {
    let out = ws.encrypt_plain("plain.json", PLAIN);
    ws.write(name, out);
}

fn editor(ws: &Workspace, script: &str) -> String {
    let p = ws.write("editor.sh", format!("#!/bin/sh\n{script}\n"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_str().unwrap().to_string()
}

fn text(ws: &Workspace, name: &str) -> String {
    String::from_utf8(ws.read(name)).unwrap()
}

#[test]
fn edit_changes_one_value_and_keeps_the_others_ciphertext() {
    let ws = Workspace::new();
    encrypted_file(&ws, "s.json");
    let before = text(&ws, "s.json");
    let ed = editor(&ws, r#"sed -i 's/"two"/"deux"/' "$1""#);
    let tmp = ws.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let run = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["edit", "s.json"])
            .env("EDITOR", &ed)
            .env("TMPDIR", &tmp);
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = text(&ws, "s.json");
    assert_eq!(
        enc_of(&before, "a"),
        enc_of(&after, "a"),
        "unchanged value re-encrypted"
    );
    assert_eq!(enc_of(&before, "c"), enc_of(&after, "c"));
    assert_ne!(enc_of(&before, "b"), enc_of(&after, "b"));
    let dec = ws.sops(["decrypt", "s.json"]).ok();
    assert!(String::from_utf8(dec).unwrap().contains("\"b\": \"deux\""));
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "plaintext temp dir left behind"
    );
}

#[test]
fn edit_exit_codes_match_sops() {
    let ws = Workspace::new();
    encrypted_file(&ws, "s.json");
    let original = ws.read("s.json");
    let bin = keytap_e2e::keytap_bin();
    let bin = bin.to_str().unwrap();
    // Unchanged: 200, nothing written.
    let noop = editor(&ws, "true");
    let ours = ws.run(bin, |c| {
        c.args(["edit", "s.json"]).env("EDITOR", &noop);
    });
    let theirs = ws.run("sops", |c| {
        c.args(["edit", "s.json"]).env("EDITOR", &noop);
    });
    assert_eq!(
        (ours.code, theirs.code),
        (200, 200),
        "{} / {}",
        ours.stderr,
        theirs.stderr
    );
    assert_eq!(ws.read("s.json"), original);
    // Editor fails: 201, nothing written.
    let failing = editor(&ws, "exit 3");
    let ours = ws.run(bin, |c| {
        c.args(["edit", "s.json"]).env("EDITOR", &failing);
    });
    assert_eq!(ours.code, 201, "{}", ours.stderr);
    assert_eq!(ws.read("s.json"), original);
    // Invalid result and nobody to press enter (stdin closed): an error, never a loop.
    let breaking = editor(&ws, r#"printf '{broken' > "$1""#);
    let ours = ws.run(bin, |c| {
        c.args(["edit", "s.json"]).env("EDITOR", &breaking);
    });
    assert_ne!(ours.code, 0);
    ours.assert_stderr_has("Press enter to return to the editor");
    assert_eq!(
        ws.read("s.json"),
        original,
        "file changed after a failed edit"
    );
}

#[test]
fn edit_reopens_the_editor_after_an_invalid_result() {
    let ws = Workspace::new();
    encrypted_file(&ws, "s.json");
    // First run breaks the file, second run fixes it.
    let ed = editor(
        &ws,
        r#"if [ -f "$0.ran" ]; then printf '{"a": "fixed"}' > "$1"; else touch "$0.ran"; printf '{oops' > "$1"; fi"#,
    );
    let bin = keytap_e2e::keytap_bin();
    let out = std::process::Command::new(&bin)
        .current_dir(ws.dir.path())
        .env("HOME", ws.path("home"))
        .env("SOPS_AGE_KEY_FILE", &ws.keys)
        .env("EDITOR", &ed)
        .args(["edit", "s.json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dec = String::from_utf8(ws.sops(["decrypt", "s.json"]).ok()).unwrap();
    assert!(dec.contains("\"a\": \"fixed\""), "{dec}");
}

#[test]
fn edit_creates_a_new_file_from_sops_yaml() {
    let ws = Workspace::new();
    ws.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: secrets/.*\n    age: {}\n",
            ws.recipient
        ),
    );
    std::fs::create_dir_all(ws.path("secrets")).unwrap();
    let ed = editor(&ws, r#"printf '{"token": "t0k3n"}\n' > "$1""#);
    let run = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["edit", "secrets/new.json"]).env("EDITOR", &ed);
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dec = String::from_utf8(ws.sops(["decrypt", "secrets/new.json"]).ok()).unwrap();
    assert!(dec.contains("t0k3n"));
}

#[test]
fn set_and_unset_interoperate_with_sops() {
    let ws = Workspace::new();
    encrypted_file(&ws, "s.json");
    let before = text(&ws, "s.json");
    assert_eq!(
        ws.keytap(["set", "s.json", r#"["nested"]["d"]"#, r#""four""#])
            .code,
        0
    );
    let after = text(&ws, "s.json");
    assert_eq!(
        enc_of(&before, "a"),
        enc_of(&after, "a"),
        "set re-encrypted an unchanged value"
    );
    let dec = String::from_utf8(
        ws.sops(["decrypt", "--extract", r#"["nested"]["d"]"#, "s.json"])
            .ok(),
    )
    .unwrap();
    assert_eq!(dec, "four");
    // sops sets, keytap reads.
    assert_eq!(
        ws.sops(["set", "s.json", r#"["e"]"#, r#"{"x": 1}"#]).code,
        0
    );
    let dec = ws
        .keytap(["decrypt", "--extract", r#"["e"]["x"]"#, "s.json"])
        .ok();
    assert_eq!(
        dec,
        ws.sops(["decrypt", "--extract", r#"["e"]["x"]"#, "s.json"])
            .ok()
    );
    // --idempotent with the same value: file untouched.
    let snapshot = ws.read("s.json");
    assert_eq!(
        ws.keytap(["set", "--idempotent", "s.json", r#"["a"]"#, r#""one""#])
            .code,
        0
    );
    assert_eq!(ws.read("s.json"), snapshot);
    // unset, then sops no longer sees the key.
    assert_eq!(ws.keytap(["unset", "s.json", r#"["b"]"#]).code, 0);
    assert_ne!(
        ws.sops(["decrypt", "--extract", r#"["b"]"#, "s.json"]).code,
        0
    );
    let missing_ours = ws.keytap(["unset", "s.json", r#"["b"]"#]);
    let missing_theirs = ws.sops(["unset", "s.json", r#"["b"]"#]);
    assert_eq!(missing_ours.code, missing_theirs.code);
    assert_eq!(
        ws.keytap(["unset", "--idempotent", "s.json", r#"["b"]"#])
            .code,
        0
    );
}

#[test]
fn rotate_adds_and_removes_recipients() {
    let ws = Workspace::new();
    let second = Workspace::new();
    encrypted_file(&ws, "s.json");
    let run = ws.keytap([
        "rotate",
        "-i",
        "--add-age",
        &second.recipient,
        "--rm-age",
        &ws.recipient,
        "s.json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    ws.write("copy.json", ws.read("s.json"));
    // The new recipient opens it with sops; the removed one no longer does.
    let by_second = second.run("sops", |c| {
        c.args(["decrypt", ws.path("copy.json").to_str().unwrap()]);
    });
    assert_eq!(by_second.code, 0, "{}", by_second.stderr);
    assert_eq!(ws.sops(["decrypt", "copy.json"]).code, 128);
}

#[test]
fn updatekeys_follows_sops_yaml() {
    let ws = Workspace::new();
    let second = Workspace::new();
    ws.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\n", ws.recipient),
    );
    ws.write("s.json", PLAIN);
    assert_eq!(ws.keytap(["encrypt", "-i", "s.json"]).code, 0);
    let before = text(&ws, "s.json");
    ws.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {},{}\n",
            ws.recipient, second.recipient
        ),
    );
    let run = ws.keytap(["updatekeys", "-y", "s.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.out().contains(&format!("+++ {}", second.recipient)),
        "{}",
        run.out()
    );
    let after = text(&ws, "s.json");
    assert_eq!(
        enc_of(&before, "a"),
        enc_of(&after, "a"),
        "updatekeys must keep the data key"
    );
    let by_second = second.run("sops", |c| {
        c.args(["decrypt", ws.path("s.json").to_str().unwrap()]);
    });
    assert_eq!(by_second.code, 0, "{}", by_second.stderr);
}

#[test]
fn exec_env_and_exec_file_pass_values_and_exit_codes() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("e.json", r#"{"TOKEN": "s3cret", "COUNT": 3}"#);
    ws.write("enc.json", enc);
    let run = ws.keytap([
        "exec-env",
        "enc.json",
        r#"printf '%s %s' "$TOKEN" "$COUNT""#,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let theirs = ws.sops([
        "exec-env",
        "enc.json",
        r#"printf '%s %s' "$TOKEN" "$COUNT""#,
    ]);
    assert_eq!(run.stdout, theirs.stdout);
    let failing = ws.keytap(["exec-env", "enc.json", "exit 7"]);
    assert_eq!(failing.code, 7);
    assert_eq!(
        failing.code,
        ws.sops(["exec-env", "enc.json", "exit 7"]).code
    );
    for extra in [&[][..], &["--no-fifo"][..]] {
        let mut args = vec!["exec-file"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["enc.json", "cat {}"]);
        let run = ws.keytap(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout, ws.sops(&args).stdout, "exec-file {extra:?}");
    }
}

#[test]
fn shamir_key_groups_interoperate() {
    let ws = Workspace::new();
    let second = Workspace::new();
    ws.write_two_group_rule(&ws.recipient, &second.recipient);
    let both = format!(
        "{}\n{}",
        std::fs::read_to_string(&ws.keys).unwrap(),
        std::fs::read_to_string(&second.keys).unwrap()
    );
    ws.write("both.txt", both);
    ws.write("plain.json", PLAIN);
    for (tool, other) in [("keytap", "sops"), ("sops", "keytap")] {
        let out = if tool == "keytap" {
            ws.keytap(["encrypt", "plain.json"]).ok()
        } else {
            ws.sops(["encrypt", "plain.json"]).ok()
        };
        let name = format!("by-{tool}.json");
        ws.write(&name, out);
        let bin = if other == "keytap" {
            keytap_e2e::keytap_bin().to_str().unwrap().to_string()
        } else {
            "sops".to_string()
        };
        let with_both = ws.run(&bin, |c| {
            c.args(["decrypt", &name])
                .env("SOPS_AGE_KEY_FILE", ws.path("both.txt"));
        });
        assert_eq!(
            with_both.code, 0,
            "{other} decrypting {tool}'s file: {}",
            with_both.stderr
        );
        let one = ws.run(&bin, |c| {
            c.args(["decrypt", &name]);
        });
        assert_eq!(
            one.code, 128,
            "{other} must need both groups of {tool}'s file"
        );
    }
}

#[test]
fn ssh_recipients_interoperate() {
    let ws = Workspace::new();
    let key = ws.path("id_ed25519");
    let gen = ws.run("ssh-keygen", |c| {
        c.args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "test",
            "-f",
            key.to_str().unwrap(),
        ]);
    });
    assert_eq!(gen.code, 0, "ssh-keygen: {}", gen.stderr);
    let public = std::fs::read_to_string(ws.path("id_ed25519.pub"))
        .unwrap()
        .trim()
        .to_string();
    ws.write("plain.json", PLAIN);
    let ours = ws.keytap(["encrypt", "--age", &public, "plain.json"]).ok();
    ws.write("ours.json", ours);
    let theirs = ws.sops(["encrypt", "--age", &public, "plain.json"]).ok();
    ws.write("theirs.json", theirs);
    for (bin, file) in [("sops", "ours.json"), ("keytap", "theirs.json")] {
        let bin = if bin == "keytap" {
            keytap_e2e::keytap_bin().to_str().unwrap().to_string()
        } else {
            bin.to_string()
        };
        let run = ws.run(&bin, |c| {
            c.args(["decrypt", file])
                .env_remove("SOPS_AGE_KEY_FILE")
                .env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key);
        });
        assert_eq!(run.code, 0, "{bin} {file}: {}", run.stderr);
        assert!(String::from_utf8_lossy(&run.stdout).contains("\"a\": \"one\""));
    }
    // sops 3.12's SOPS_AGE_SSH_PRIVATE_KEY_CMD: the key from a command, told the recipient.
    let cmd = format!(
        "sh -c 'test \"$SOPS_AGE_RECIPIENT\" = \"{public}\" && cat {}'",
        key.display()
    );
    let run = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["decrypt", "theirs.json"])
            .env_remove("SOPS_AGE_KEY_FILE")
            .env("SOPS_AGE_SSH_PRIVATE_KEY_CMD", &cmd);
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(String::from_utf8_lossy(&run.stdout).contains("\"a\": \"one\""));
    // A key that needs a passphrase cannot be asked for: refused, and said so.
    let locked = ws.path("locked");
    let gen = ws.run("ssh-keygen", |c| {
        c.args(["-q", "-t", "ed25519", "-N", "pw", "-C", "t", "-f"])
            .arg(&locked);
    });
    assert_eq!(gen.code, 0, "{}", gen.stderr);
    let run = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["decrypt", "theirs.json"])
            .env_remove("SOPS_AGE_KEY_FILE")
            .env(
                "SOPS_AGE_SSH_PRIVATE_KEY_CMD",
                format!("cat {}", locked.display()),
            );
    });
    assert_eq!(run.code, 128, "{}", run.stderr);
    assert!(run.stderr.contains("password protected"), "{}", run.stderr);
}

#[test]
fn decrypt_output_dir_writes_private_files() {
    let ws = Workspace::new();
    encrypted_file(&ws, "one.json");
    encrypted_file(&ws, "two.json");
    std::fs::create_dir_all(ws.path("out")).unwrap();
    let run = ws.keytap(["decrypt", "--output-dir", "out", "one.json", "two.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for name in ["one.json", "two.json"] {
        let p = ws.path("out").join(name);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), PLAIN);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn edit_with_show_master_keys_shows_the_metadata_and_keeps_the_key() {
    let ws = Workspace::new();
    ws.write("s.yaml", ws.encrypt_plain("plain.yaml", "a: one\nb: two\n"));
    let seen = ws.path("seen.yaml");
    let ed = editor(
        &ws,
        &format!(
            "cp \"$1\" {}\nsed -i 's/^b: two/b: deux/' \"$1\"",
            seen.display()
        ),
    );
    let run = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["edit", "-s", "s.yaml"]).env("EDITOR", &ed);
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    let shown = std::fs::read_to_string(&seen).unwrap();
    assert!(
        shown.contains("a: one") && shown.contains("sops:") && shown.contains(&ws.recipient),
        "{shown}"
    );
    assert_eq!(ws.sops(["decrypt", "s.yaml"]).out(), "a: one\nb: deux\n");
}

/// `--extract` on a file of several YAML documents looks in the first; a mapping it finds
/// replaces that document and the whole file is written, later documents included, as
/// sops writes it (a scalar or a list is printed alone).
#[test]
fn extracting_a_mapping_from_a_multi_document_file_writes_what_sops_writes() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain(
        "m.yaml",
        "first:\n    inner: 1\n    list: [a, b]\nname: x\n---\nsecond: doc\n",
    );
    ws.write("m.enc.yaml", enc);
    for path in [r#"["first"]"#, r#"["first"]["list"]"#, r#"["name"]"#] {
        let ours = ws.keytap(["decrypt", "--extract", path, "m.enc.yaml"]).ok();
        let sops = ws.sops(["decrypt", "--extract", path, "m.enc.yaml"]).ok();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&sops),
            "{path}"
        );
    }
    let whole = ws
        .keytap(["decrypt", "--extract", r#"["first"]"#, "m.enc.yaml"])
        .ok();
    assert_eq!(
        String::from_utf8(whole).unwrap(),
        "inner: 1\nlist:\n    - a\n    - b\n---\nsecond: doc\n"
    );
}

/// `set` where sops's answer is unusual: a negative number or any word starting with `-`
/// as the value (sops's flags end at the first positional argument), and an index into a
/// mapping, which sops accepts and which changes no data. Each file is decrypted by sops
/// afterwards, and exit codes compared.
#[test]
fn set_takes_hyphen_values_and_indexes_into_mappings_as_sops_does() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("s.yaml", "a: 1\nm:\n    k: v\nl:\n    - x\n");
    for args in [
        [r#"["n"]"#, "-1"],
        [r#"["n"]"#, "-2.5e3"],
        [r#"["n"]"#, "-x"],
        ["[0]", r#""v""#],
        [r#"["m"][0]"#, r#""v""#],
        [r#"["m"][1]["z"]"#, r#""v""#],
        [r#"["a"][0]"#, r#""v""#],
    ] {
        ws.write("k.yaml", &enc);
        ws.write("t.yaml", &enc);
        let ours = ws.keytap(["set", "k.yaml", args[0], args[1]]);
        let theirs = ws.sops(["set", "t.yaml", args[0], args[1]]);
        assert_eq!(
            ours.code, theirs.code,
            "{args:?}: {} / {}",
            ours.stderr, theirs.stderr
        );
        assert_eq!(
            String::from_utf8_lossy(&ws.sops(["decrypt", "k.yaml"]).ok()),
            String::from_utf8_lossy(&ws.sops(["decrypt", "t.yaml"]).ok()),
            "{args:?}"
        );
    }
}

/// exec-env writes each value as sops's ValToString does (as in its dotenv output): a float
/// in Go's %G form, a timestamp in RFC 3339 without fractional seconds, null as `<nil>`.
#[test]
fn exec_env_formats_values_as_sops_does() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain(
        "v.yaml",
        "BIG: 6.02e+23\nWHOLE: 3.0\nSMALL: 0.000001\nWHEN: 2001-12-14t21:59:43.10-05:00\nNONE: null\nYES: true\nN: 12\n",
    );
    ws.write("v.enc.yaml", enc);
    let show = r#"printf '%s|' "$BIG" "$WHOLE" "$SMALL" "$WHEN" "$NONE" "$YES" "$N""#;
    let ours = ws.keytap(["exec-env", "v.enc.yaml", show]).ok();
    assert_eq!(ours, ws.sops(["exec-env", "v.enc.yaml", show]).ok());
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        "6.02E+23|3.0|1E-06|2001-12-14T21:59:43-05:00|<nil>|true|12|"
    );
}

/// `--user` makes keytap become that user after decrypting, as sops 3.13 does: its uid,
/// its primary group (not its uid, sops 3.11's bug: `man` is uid 6, group 12), exactly its
/// supplementary groups (none of root's), and its HOME, USER and LOGNAME; `exec-file`'s
/// private directory and file belong to it. An unknown user fails before anything runs.
#[test]
fn exec_user_runs_the_command_as_that_user() {
    assert!(running_as_root(), "these tests run as root, as CI does");
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("e.json", r#"{"TOKEN": "s3cret"}"#);
    ws.write("enc.json", enc);
    let expected = |args: &[&str]| {
        ws.run("id", |c| {
            c.args(args);
        })
    };
    let (uid, gid, groups) = (
        expected(&["-u", "man"]).out(),
        expected(&["-g", "man"]).out(),
        expected(&["-G", "man"]).out(),
    );
    assert_ne!(
        uid, gid,
        "the test needs a user whose group id is not its user id"
    );
    let show = r#"printf '%s|%s|%s|%s|%s|%s|%s' "$(id -u)" "$(id -g)" "$(id -G)" "$HOME" "$USER" "$LOGNAME" "$TOKEN""#;
    let run = ws.keytap(["exec-env", "--user", "man", "enc.json", show]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let home = "/var/cache/man";
    assert_eq!(
        run.out(),
        format!(
            "{}|{}|{}|{home}|man|man|s3cret",
            uid.trim(),
            gid.trim(),
            groups.trim()
        )
    );
    // A decrypted value of the same name still wins over the user's HOME.
    let enc = ws.encrypt_plain("h.json", r#"{"HOME": "/from/secret"}"#);
    ws.write("h.enc.json", enc);
    let run = ws.keytap([
        "exec-env",
        "--user",
        "man",
        "--pristine",
        "h.enc.json",
        "printf %s \"$HOME\"",
    ]);
    assert_eq!(run.out(), "/from/secret", "{}", run.stderr);
    // The caller's own secrets stay with the caller: an inline identity and a TPM PIN
    // reach a command that runs as the caller, not one that runs as another user.
    let identity = std::fs::read_to_string(&ws.keys).unwrap();
    let with_secrets = |args: &[&str]| {
        ws.run(keytap_bin().to_str().unwrap(), |c| {
            c.args(args)
                .env_remove("SOPS_AGE_KEY_FILE")
                .env("SOPS_AGE_KEY", &identity)
                .env("AGE_TPM_PIN", "123456");
        })
    };
    let seen = r#"printf '%s|%s' "${SOPS_AGE_KEY:+key}" "${AGE_TPM_PIN:+pin}""#;
    let run = with_secrets(&["exec-env", "enc.json", seen]);
    assert_eq!(run.out(), "key|pin", "{}", run.stderr);
    let run = with_secrets(&["exec-env", "--user", "man", "enc.json", seen]);
    assert_eq!(run.out(), "|", "{}", run.stderr);
    let run = with_secrets(&["exec-file", "--user", "man", "enc.json", seen]);
    assert_eq!(run.out(), "|", "{}", run.stderr);

    for extra in [&[][..], &["--no-fifo"][..]] {
        let mut args = vec!["exec-file", "--user", "man"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "enc.json",
            "stat -c '%U %a' \"$(dirname {})\" {}; id -u; cat {}",
        ]);
        let run = ws.keytap(&args);
        assert_eq!(run.code, 0, "{extra:?}: {}", run.stderr);
        let out = run.out();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "man 700", "{extra:?}: {out}");
        assert_eq!(lines[1], "man 600", "{extra:?}: {out}");
        assert_eq!(lines[2], uid.trim(), "{extra:?}: {out}");
        assert!(out.contains("s3cret"), "{extra:?}: {out}");
    }

    let unknown = ws.keytap([
        "exec-env",
        "--user",
        "no-such-user-kt",
        "enc.json",
        "echo ran",
    ]);
    assert_eq!(unknown.code, 1);
    assert_eq!(
        unknown.code,
        ws.sops([
            "exec-env",
            "--user",
            "no-such-user-kt",
            "enc.json",
            "echo ran"
        ])
        .code
    );
    assert!(!unknown.out().contains("ran"));
    assert!(
        unknown.stderr.contains("unknown user no-such-user-kt"),
        "{}",
        unknown.stderr
    );
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// `--same-process` replaces keytap with the shell: the command's `$$` is the PID keytap
/// was started as, and its exit code is keytap's. With `--background` it is refused
/// before decrypting, with sops's message and exit code.
#[test]
fn exec_env_same_process_becomes_the_command() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("e.json", r#"{"TOKEN": "s3cret"}"#);
    ws.write("enc.json", enc);
    let child = ws
        .command(keytap_e2e::keytap_bin())
        .args([
            "exec-env",
            "--same-process",
            "enc.json",
            "printf '%s %s' $$ \"$TOKEN\"; exit 5",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{pid} s3cret")
    );

    let args = [
        "exec-env",
        "--same-process",
        "--background",
        "enc.json",
        "echo ran",
    ];
    let ours = ws.keytap(args);
    let theirs = ws.sops(args);
    assert_eq!((ours.code, ours.out()), (theirs.code, theirs.out()));
    assert_eq!(ours.code, 8);
    assert!(ours
        .stderr
        .contains("The --same-process flag cannot be used with --background"));
}

/// `--background` returns without waiting for the command: here it waits on a FIFO the
/// test opens only after keytap has returned. exec-env's command still gets the values;
/// exec-file returns once the command has read the plaintext, and its directory is gone.
#[test]
fn exec_background_returns_before_the_command_ends() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("e.json", r#"{"TOKEN": "s3cret"}"#);
    ws.write("enc.json", enc);
    let gate = ws.path("gate");
    let made = std::process::Command::new("mkfifo")
        .arg(&gate)
        .status()
        .unwrap();
    assert!(made.success());
    // Killed after 20 s: a keytap that waited would otherwise wait for ever.
    let keytap = |args: &[&str]| ws.keytap_with_plugins(20, args, &[]);
    let env = keytap(&[
        "exec-env",
        "--background",
        "enc.json",
        "read x < gate; printf %s \"$TOKEN\" > env.out",
    ]);
    assert_eq!(env.code, 0, "{}", env.stderr);
    assert!(env.stderr.contains("--background option is deprecated"));
    open_gate(&gate);
    assert_eq!(wait_for(&ws.path("env.out")), "s3cret");

    let file = keytap(&[
        "exec-file",
        "--background",
        "enc.json",
        "cat {} > file.out; dirname {} > dir.out; read x < gate",
    ]);
    assert_eq!(file.code, 0, "{}", file.stderr);
    let dir = wait_for(&ws.path("dir.out"));
    assert!(wait_for(&ws.path("file.out")).contains("s3cret"));
    assert!(
        !std::path::Path::new(dir.trim()).exists(),
        "the private directory must be gone once keytap returned"
    );
    open_gate(&gate);
}

fn open_gate(gate: &std::path::Path) {
    use std::io::Write;
    let mut w = std::fs::OpenOptions::new().write(true).open(gate).unwrap();
    w.write_all(b"go\n").unwrap();
}

/// The file's content once it is not empty: each is written by one small write, so not
/// empty means complete.
fn wait_for(path: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
