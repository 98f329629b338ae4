//! The rest of the sops command surface against the real sops: every encryption rule,
//! mac_only_encrypted, SOPS_AGE_RECIPIENTS, --filename-override, groups, --extract.

use keytap_e2e::{mask_random, Run, Workspace};

const DOC: &str = "# sops:enc\npassword: hunter2\nuser: admin\nnested:\n    # keep plain\n    api_key: k3y\n    note_unencrypted: visible\n    list:\n        - one\n        # inner\n        - two\nport: 5432\n";

#[test]
fn every_encryption_rule_selects_what_sops_selects() {
    let ws = Workspace::new();
    ws.write("doc.yaml", DOC);
    // keytap encrypts `args` as sops does (but for the random parts), and sops decrypts it
    // to what keytap decrypts it to; `case` names the case in failures.
    let encrypts_like_sops = |args: &[&str], case: &str| {
        let ours = ws.keytap(args);
        let theirs = ws.sops(args);
        assert_eq!(ours.code, 0, "{case}: {}", ours.stderr);
        assert_eq!(
            mask_random(&ours.stdout),
            mask_random(&theirs.ok()),
            "{case}"
        );
        ws.write("ours.yaml", &ours.stdout);
        assert_eq!(
            ws.sops(["decrypt", "ours.yaml"]).ok(),
            ws.keytap(["decrypt", "ours.yaml"]).ok(),
            "{case}"
        );
    };
    let cases: &[&[&str]] = &[
        &[],
        &["--encrypted-suffix", "_key"],
        &["--unencrypted-suffix", "_unencrypted"],
        &["--encrypted-regex", "^(password|api)"],
        &["--unencrypted-regex", "^(user|port)$"],
    ];
    for flags in cases {
        let mut args = vec!["encrypt", "--age", ws.recipient.as_str()];
        args.extend_from_slice(flags);
        args.push("doc.yaml");
        encrypts_like_sops(&args, &format!("{flags:?}"));
    }
    // The comment rules and mac_only_encrypted come from .sops.yaml (sops's encrypt has no
    // flags for them).
    for rule in [
        "encrypted_comment_regex: sops:enc",
        "unencrypted_comment_regex: keep plain",
        "mac_only_encrypted: true\n    encrypted_regex: ^password",
    ] {
        ws.write(
            ".sops.yaml",
            format!("creation_rules:\n  - age: {}\n    {rule}\n", ws.recipient),
        );
        encrypts_like_sops(&["encrypt", "doc.yaml"], rule);
        ws.write("theirs.yaml", ws.sops(["encrypt", "doc.yaml"]).ok());
        assert_eq!(
            ws.keytap(["decrypt", "theirs.yaml"]).ok(),
            ws.sops(["decrypt", "theirs.yaml"]).ok(),
            "{rule}"
        );
    }
}

#[test]
fn recipients_from_the_environment_and_filename_override() {
    let ws = Workspace::new();
    ws.write("data.txt", "a=1\n");
    let run = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["encrypt", "--filename-override", "data.env", "data.txt"])
            .env("SOPS_AGE_RECIPIENTS", &ws.recipient);
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.out().contains("sops_age__list_0__map_recipient="),
        "dotenv output: {}",
        run.out()
    );
    ws.write("enc.env", &run.stdout);
    assert_eq!(ws.sops(["decrypt", "enc.env"]).ok(), b"a=1\n");
}

#[test]
fn groups_add_and_delete_interoperate() {
    let ws = Workspace::new();
    let second = Workspace::new();
    ws.write("s.yaml", ws.encrypt_plain("plain.yaml", "a: 1\n"));
    let add_group = [
        "groups",
        "add",
        "--file",
        "s.yaml",
        "-i",
        "--age",
        &second.recipient,
    ];
    let add = ws.keytap(add_group);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let text = String::from_utf8(ws.read("s.yaml")).unwrap();
    assert!(
        text.contains("key_groups:") && text.contains("shamir_threshold: 2"),
        "{text}"
    );
    let both = format!(
        "{}\n{}",
        std::fs::read_to_string(&ws.keys).unwrap(),
        std::fs::read_to_string(&second.keys).unwrap()
    );
    let keys = ws.write("both.txt", both);
    let by_sops = ws.run("sops", |c| {
        c.args(["decrypt", "s.yaml"])
            .env("SOPS_AGE_KEY_FILE", &keys);
    });
    assert_eq!(by_sops.code, 0, "{}", by_sops.stderr);
    assert_eq!(
        ws.sops(["decrypt", "s.yaml"]).code,
        128,
        "one group is not enough any more"
    );
    // keytap with the keys of both groups.
    let keytap_both = |args: &[&str]| {
        ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
            c.args(args).env("SOPS_AGE_KEY_FILE", &keys);
        })
    };
    // One group left under a threshold of 2: refused by both, the file unchanged.
    let before = ws.read("s.yaml");
    let del = keytap_both(&["groups", "delete", "--file", "s.yaml", "-i", "1"]);
    let by_sops = ws.run("sops", |c| {
        c.args(["groups", "delete", "--file", "s.yaml", "-i", "1"])
            .env("SOPS_AGE_KEY_FILE", &keys);
    });
    assert_eq!((del.code, by_sops.code), (1, 1), "{}", del.stderr);
    del.assert_stderr_has("removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is 2, but we only have 1 key groups");
    by_sops.assert_stderr_has(
        "removing this key group will make the Shamir threshold impossible to satisfy",
    );
    assert_eq!(ws.read("s.yaml"), before);
    // With the threshold lowered, as sops writes it (the threshold kept).
    let del = keytap_both(&[
        "groups",
        "delete",
        "--file",
        "s.yaml",
        "--shamir-secret-sharing-threshold",
        "1",
        "-i",
        "1",
    ]);
    assert_eq!(del.code, 0, "{}", del.stderr);
    assert!(String::from_utf8(ws.read("s.yaml"))
        .unwrap()
        .contains("    shamir_threshold: 1\n"));
    assert_eq!(ws.sops(["decrypt", "s.yaml"]).out(), "a: 1\n");
    // And the other way: a group added by sops is read by keytap (the threshold raised
    // again: sops keeps a threshold of 1, under which neither tool can open the file).
    let mut add_group = add_group.to_vec();
    add_group.extend(["--shamir-secret-sharing-threshold", "2"]);
    let add = ws.sops(&add_group);
    assert_eq!(add.code, 0, "{}", add.stderr);
    let run = keytap_both(&["decrypt", "s.yaml"]);
    assert_eq!(run.out(), "a: 1\n", "{}", run.stderr);
}

/// Writes `text` to `name` and encrypts it to the workspace's recipient with keytap, then
/// with sops.
fn encrypt_with_both(ws: &Workspace, name: &str, text: &str) -> (Run, Run) {
    ws.write(name, text);
    let args = ["encrypt", "--age", &ws.recipient, name];
    (ws.keytap(args), ws.sops(args))
}

#[test]
fn unwalkable_trees_fail_with_sops_exit_codes() {
    let ws = Workspace::new();
    for (name, text) in [
        ("int-key.yaml", "1: numeric key\n"),
        ("bool-key.yaml", "true: x\n"),
        ("null-key.yaml", "~: x\n"),
        ("float-key.yaml", "123456789.5: x\n"),
        ("inf-key.yaml", "-.inf: x\n"),
        ("time-key.yaml", "2001-12-14T21:59:43.10-05:00: x\n"),
        ("later-doc-key.yaml", "a: 1\n---\n18446744073709551615: x\n"),
        ("big.yaml", "a: 12345678901234567890\n"),
    ] {
        let (ours, theirs) = encrypt_with_both(&ws, name, text);
        assert_eq!(theirs.code, 23, "{name}: {}", theirs.stderr);
        assert_eq!(ours.code, theirs.code, "{name}: {}", ours.stderr);
        if theirs.stderr.contains("non-string key") {
            // sops's words, Go's `%!s(int=1)` and missing space included; keytap names
            // the file first.
            let ours = ours
                .stderr
                .strip_prefix(&format!("{name}: "))
                .unwrap_or(&ours.stderr);
            assert_eq!(ours, theirs.stderr, "{name}");
        }
    }
    let enc = String::from_utf8(ws.encrypt_plain("ok.yaml", "a: 1\n")).unwrap();
    ws.write("int-key-enc.yaml", enc.replacen("a: ", "1: ", 1));
    let ours = ws.keytap(["decrypt", "int-key-enc.yaml"]);
    let theirs = ws.sops(["decrypt", "int-key-enc.yaml"]);
    assert_eq!(
        (ours.code, theirs.code),
        (25, 25),
        "{} / {}",
        ours.stderr,
        theirs.stderr
    );
}

/// Encrypting a file that already has a top-level `sops` entry (or `sops_` key in a flat
/// format) exits 203 with sops's message, byte for byte (sops wraps it at 75 columns).
#[test]
fn an_already_encrypted_file_is_refused_with_sops_message() {
    let ws = Workspace::new();
    for (name, text) in [
        ("enc.yaml", "sops: 1\na: b\n"),
        ("enc.json", "{\"a\": 1, \"sops\": {}}"),
        ("enc.env", "sops_version=1\n"),
    ] {
        let (ours, theirs) = encrypt_with_both(&ws, name, text);
        assert_eq!(theirs.code, 203, "{name}: {}", theirs.stderr);
        assert_eq!(
            (ours.code, &ours.stderr),
            (theirs.code, &theirs.stderr),
            "{name}"
        );
    }
}

/// `--indent` below zero, as sops takes it: -1 is a tab in JSON, below -1 JSON refuses to
/// write, and YAML refuses any negative value (exit 4, for encrypt and decrypt alike).
#[test]
fn negative_indentation_is_taken_as_sops_takes_it() {
    let ws = Workspace::new();
    ws.write("j.json", r#"{"a": {"b": 1}}"#);
    ws.write("y.yaml", "a:\n    b: 1\n");
    let enc = ws.encrypt_plain("j.json", ws.read("j.json"));
    ws.write("e.json", enc);
    let age = ["--age", ws.recipient.as_str()];
    for indent in ["-1", "-2"] {
        for (command, rest) in [
            ("encrypt", [&age[..], &["j.json"]].concat()),
            ("encrypt", [&age[..], &["y.yaml"]].concat()),
            ("decrypt", vec!["e.json"]),
            ("decrypt", vec!["--output-type", "yaml", "e.json"]),
        ] {
            // sops 3.11 takes --indent before its legacy --encrypt/--decrypt only (a
            // command has no such flag).
            let legacy = format!("--{command}");
            let theirs = [&["--indent", indent, legacy.as_str()][..], &rest].concat();
            let ours = theirs.clone();
            let ours_run = ws.keytap(&ours);
            let theirs_run = ws.sops(&theirs);
            assert_eq!(
                ours_run.code, theirs_run.code,
                "{ours:?}: {}",
                ours_run.stderr
            );
            if command == "decrypt" {
                assert_eq!(ours_run.stdout, theirs_run.stdout, "{ours:?}");
            } else {
                assert_eq!(
                    mask_random(&ours_run.stdout),
                    mask_random(&theirs_run.stdout),
                    "{ours:?}"
                );
            }
            if ours_run.code != 0 {
                ours_run.assert_stderr_has("not accepted");
            }
        }
    }
}

/// A type sops does not know (`--output-type toml`, `--input-type XML`) is ignored and the
/// file's extension decides, as in sops's FormatForPathOrString; known types still win.
#[test]
fn unknown_input_and_output_types_fall_back_to_the_path_as_in_sops() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("a.yaml", "a: 1\nb: [x]\n");
    ws.write("e.yaml", enc);
    for args in [
        ["decrypt", "--output-type", "toml", "e.yaml"],
        ["decrypt", "--input-type", "xml", "e.yaml"],
        ["decrypt", "--output-type", "JSON", "e.yaml"],
        ["decrypt", "--output-type", "json", "e.yaml"],
    ] {
        let ours = ws.keytap(args);
        let theirs = ws.sops(args);
        assert_eq!(ours.code, theirs.code, "{args:?}: {}", ours.stderr);
        assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
    }
    let ours = ws.keytap([
        "encrypt",
        "--input-type",
        "toml",
        "--age",
        &ws.recipient,
        "a.yaml",
    ]);
    let theirs = ws.sops([
        "encrypt",
        "--input-type",
        "toml",
        "--age",
        &ws.recipient,
        "a.yaml",
    ]);
    assert_eq!(ours.code, theirs.code, "{}", ours.stderr);
    assert_eq!(mask_random(&ours.stdout), mask_random(&theirs.stdout));
}

/// `updatekeys` asks as sops does: until `y` or `n`, and an empty line, two words or the
/// end of input is an error (exit 1), the file unchanged; without a config it is exit 1.
#[test]
fn updatekeys_answers_and_missing_config_as_in_sops() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("u.yaml", "a: 1\n");
    let other = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    let answer = |program: &str, args: &[&str], input: &str| {
        ws.run_with_stdin(program, args, input.as_bytes()).code
    };
    let bin = keytap_e2e::keytap_bin();
    let bin = bin.to_str().unwrap();
    ws.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {},{other}\n", ws.recipient),
    );
    for input in ["", "n\n", "y\n", "x\nn\n", "\n", "y y\n"] {
        let mut outcomes = Vec::new();
        for program in [bin, "sops"] {
            ws.write("u.enc.yaml", &enc);
            let code = answer(program, &["updatekeys", "u.enc.yaml"], input);
            let recipients = String::from_utf8(ws.read("u.enc.yaml"))
                .unwrap()
                .matches("recipient:")
                .count();
            outcomes.push((code, recipients));
        }
        assert_eq!(outcomes[0], outcomes[1], "answer {input:?}");
    }
    std::fs::remove_file(ws.path(".sops.yaml")).unwrap();
    ws.write("u.enc.yaml", &enc);
    let ours = ws.keytap(["updatekeys", "-y", "u.enc.yaml"]);
    assert_eq!(ours.code, ws.sops(["updatekeys", "-y", "u.enc.yaml"]).code);
    assert_eq!(ours.code, 1);
}

/// sops's flags and variables for keys keytap cannot wrap to (the cloud KMSes) are
/// refused in one line naming the flag and the key, exit 1, nothing written: a team's
/// `SOPS_KMS_ARN` must not be silently left out of a new file. Files that exist are
/// unaffected by the variables, as in sops.
#[test]
fn keys_keytap_cannot_wrap_to_are_refused_not_dropped() {
    let ws = Workspace::new();
    ws.write("doc.yaml", "a: 1\n");
    let age = ws.recipient.clone();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 8] = [
        (
            &[
                "encrypt",
                "-a",
                &age,
                "--azure-kv",
                "https://v/keys/k/1",
                "doc.yaml",
            ],
            &[],
            "--azure-kv",
        ),
        (
            &["encrypt", "-a", &age, "doc.yaml"],
            &[("SOPS_KMS_ARN", "arn:aws:kms:x:1:key/k")],
            "SOPS_KMS_ARN",
        ),
        (
            &["encrypt", "-a", &age, "--gcp-kms", "projects/p", "doc.yaml"],
            &[],
            "--gcp-kms",
        ),
        (
            &["encrypt", "-a", &age, "doc.yaml"],
            &[("SOPS_AZURE_KEYVAULT_URLS", "https://v/keys/k/1")],
            "SOPS_AZURE_KEYVAULT_URLS",
        ),
        (
            &[
                "encrypt",
                "-a",
                &age,
                "--hc-vault-transit",
                "https://v:8200/v1/transit/keys/k",
                "doc.yaml",
            ],
            &[],
            "--hc-vault-transit",
        ),
        (
            &["encrypt", "-a", &age, "doc.yaml"],
            &[("SOPS_HUAWEICLOUD_KMS_IDS", "r:k")],
            "--hckms",
        ),
        (
            &["-e", "-a", &age, "-k", "arn:aws:kms:x:1:key/k", "doc.yaml"],
            &[],
            "--kms",
        ),
        (
            &["edit", "-a", &age, "new.yaml"],
            &[("SOPS_GCP_KMS_IDS", "projects/p")],
            "SOPS_GCP_KMS_IDS",
        ),
    ];
    for (args, env, named) in cases {
        let run = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
            c.args(args).env("EDITOR", "true");
            for (k, v) in env {
                c.env(k, v);
            }
        });
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(named), "{args:?}: {}", run.stderr);
        assert!(!ws.path("new.yaml").exists());
    }
    let enc = ws.keytap(["encrypt", "-a", &age, "doc.yaml"]).ok();
    ws.write("doc.enc.yaml", enc);
    let groups = ws.keytap([
        "groups",
        "add",
        "-f",
        "doc.enc.yaml",
        "--kms",
        "arn:aws:kms:x:1:key/k",
    ]);
    assert_eq!(groups.code, 1, "{}", groups.stderr);
    assert!(
        groups.stderr.contains("AWS KMS keys arn:aws:kms:x:1:key/k"),
        "{}",
        groups.stderr
    );
    // An existing file: the variables change nothing, as in sops.
    let decrypt = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["decrypt", "doc.enc.yaml"])
            .env("SOPS_KMS_ARN", "arn:aws:kms:x:1:key/k");
    });
    assert_eq!(decrypt.out(), "a: 1\n", "{}", decrypt.stderr);
}

/// The format comes from the extension as sops reads it, case included: `f.YAML` and
/// `f.ENV` are binary files, wrapped whole, both ways.
#[test]
fn extensions_are_case_sensitive_as_in_sops() {
    let ws = Workspace::new();
    for name in ["f.YAML", "f.Yml", "f.JSON", "f.ENV", "f.INI"] {
        let plain = "a: 1\n";
        ws.write(name, plain);
        let ours = ws.keytap(["encrypt", "--age", &ws.recipient, name]).ok();
        let theirs = ws.sops(["encrypt", "--age", &ws.recipient, name]).ok();
        assert_eq!(mask_random(&ours), mask_random(&theirs), "{name}");
        assert!(ours.starts_with(b"{\n\t\"data\": \"ENC["), "{name}");
        ws.write(name, ours);
        assert_eq!(ws.sops(["decrypt", name]).ok(), plain.as_bytes(), "{name}");
        ws.write(name, theirs);
        assert_eq!(
            ws.keytap(["decrypt", name]).ok(),
            plain.as_bytes(),
            "{name}"
        );
    }
}

/// Corners sops answers without an error: `--extract` with no steps ('', '[', '[[') is the
/// whole file; and `filestatus` loads the config first, so a broken one is an error.
#[test]
fn an_empty_extract_path_and_filestatus_with_a_broken_config_as_in_sops() {
    let ws = Workspace::new();
    ws.write("p.yaml", "a: 1\nb: two\n");
    let enc = ws.sops(["encrypt", "--age", &ws.recipient, "p.yaml"]).ok();
    ws.write("e.yaml", enc);
    for path in ["", "[", "[["] {
        let line = ["decrypt", "--extract", path, "e.yaml"];
        let (ours, theirs) = (ws.keytap(line), ws.sops(line));
        assert_eq!(
            (ours.code, ours.out()),
            (theirs.code, theirs.out()),
            "{path:?}"
        );
        assert_eq!(ours.out(), "a: 1\nb: two\n");
    }
    ws.write(".sops.yaml", "creation_rules: 5\n");
    let (ours, theirs) = (
        ws.keytap(["filestatus", "e.yaml"]),
        ws.sops(["filestatus", "e.yaml"]),
    );
    assert_eq!((ours.code, theirs.code), (1, 1), "{}", ours.stderr);
    assert!(ours.out().is_empty() && theirs.out().is_empty());
}

/// sops's JSON store unmarshals the metadata into Go structs: a field of the wrong type
/// (hand-edited) is refused with encoding/json's message, whatever the keys could do.
#[test]
fn json_metadata_of_the_wrong_type_is_refused_in_sops_words() {
    let ws = Workspace::new();
    ws.write("p.json", r#"{"a": 1}"#);
    let enc =
        String::from_utf8(ws.sops(["encrypt", "--age", &ws.recipient, "p.json"]).ok()).unwrap();
    let edits: [(&str, &str); 5] = [
        ("\"mac\": \"", "\"mac\": 5, \"x\": \""),
        (
            "\"version\": \"",
            "\"shamir_threshold\": \"1\", \"version\": \"",
        ),
        ("\"enc\": \"", "\"enc\": 5, \"x\": \""),
        (
            "\"lastmodified\": \"",
            "\"mac_only_encrypted\": \"true\", \"lastmodified\": \"",
        ),
        ("\"sops\": {", "\"sops\": 5, \"x\": {"),
    ];
    for (from, to) in edits {
        assert!(enc.contains(from), "{from}");
        ws.write("t.json", enc.replacen(from, to, 1));
        let (ours, theirs) = (
            ws.keytap(["decrypt", "t.json"]),
            ws.sops(["decrypt", "t.json"]),
        );
        assert_eq!((ours.code, theirs.code), (1, 1), "{to}: {}", ours.stderr);
        let message = theirs.stderr.lines().last().unwrap().to_string();
        assert!(message.contains("json: cannot unmarshal"), "{message}");
        assert!(
            ours.stderr.contains(&message),
            "{to}: {} / {message}",
            ours.stderr
        );
    }
    // A key given twice: the last one wins, as in a Go struct (no age key left here).
    let twice = enc.replacen("\"lastmodified\"", "\"age\": [], \"lastmodified\"", 1);
    ws.write("t.json", twice);
    let (ours, theirs) = (
        ws.keytap(["decrypt", "t.json"]),
        ws.sops(["decrypt", "t.json"]),
    );
    assert_eq!((ours.code, theirs.code), (1, 1), "{}", ours.stderr);
    ours.assert_stderr_has("No keys found in file");
}

#[test]
fn an_index_into_a_mapping_extracts_the_item_as_sops_writes_it() {
    let ws = Workspace::new();
    let plain = "# top\na: 1\nb: [x, y, {q: r}]\nc:\n  d: e\n  # inner\n  f: [1, 2]\n";
    ws.write("enc.yaml", ws.encrypt_plain("m.yaml", plain));
    for path in [
        "[0]",
        "[2]",
        "[3]",
        r#"["c"][1]"#,
        r#"["b"][2][0]"#,
        "[1][0]",
        "[9]",
    ] {
        for output in ["yaml", "json", "dotenv", "ini"] {
            let line = [
                "decrypt",
                "--extract",
                path,
                "--output-type",
                output,
                "enc.yaml",
            ];
            let (ours, theirs) = (ws.keytap(line), ws.sops(line));
            assert_eq!(
                (ours.code, ours.out(), ours.stderr.trim()),
                (theirs.code, theirs.out(), theirs.stderr.trim()),
                "{line:?}"
            );
        }
    }
}

#[test]
fn values_sops_encrypted_from_bytes_that_are_not_utf8_decrypt_to_the_same_bytes() {
    let ws = Workspace::new();
    // One dotenv key whose value holds a byte that is not UTF-8 and the two characters
    // `\n`: keytap once wrote U+FFFD and a real newline, which made a second key.
    let cases: [(&str, &[u8]); 3] = [
        ("p.env", b"A=\xff\\nB=injected\nC=x\xfey\n"),
        ("p.ini", b"[s]\na = \xff\nb = \xa0x\xff\n"),
        ("p.bin", b"\xff\xfe\n\x00abc"),
    ];
    for (name, plain) in cases {
        ws.write(name, plain);
        let enc = ws.sops(["encrypt", "--age", &ws.recipient, name]);
        assert_eq!(enc.code, 0, "{name}: {}", enc.stderr);
        let file = format!("enc.{}", name.rsplit('.').next().unwrap());
        ws.write(&file, &enc.stdout);
        for output in ["dotenv", "ini", "yaml", "json", "binary"] {
            let line = ["decrypt", "--output-type", output, file.as_str()];
            let (ours, theirs) = (ws.keytap(line), ws.sops(line));
            assert_eq!(
                (ours.code, &ours.stdout),
                (theirs.code, &theirs.stdout),
                "{name} as {output}: {} / {}",
                ours.stderr,
                theirs.stderr
            );
            assert_eq!(
                ours.stderr.trim(),
                theirs.stderr.trim(),
                "{name} as {output}"
            );
        }
    }
    // A comment of such bytes authenticates: it is read (as U+FFFD), not taken for
    // tampering.
    ws.write("c.env", b"# c\xff\nA=1\n");
    let enc = ws.sops(["encrypt", "--age", &ws.recipient, "c.env"]);
    ws.write("enc-c.env", &enc.stdout);
    let ours = ws.keytap(["decrypt", "enc-c.env"]);
    assert_eq!(
        (ours.code, ours.out()),
        (0, "# c\u{fffd}\nA=1\n".to_string()),
        "{}",
        ours.stderr
    );
    // A dotenv key named `sops` is data (sops's dotenv store looks for `sops_` keys only).
    ws.write("k.env", "sops=1\n");
    ws.write("k.yaml", "sops: 1\na: 2\n");
    for line in [
        vec!["encrypt", "--age", &ws.recipient, "k.env"],
        vec![
            "encrypt",
            "--age",
            &ws.recipient,
            "--output-type",
            "dotenv",
            "k.yaml",
        ],
    ] {
        let (ours, theirs) = (ws.keytap(&line), ws.sops(&line));
        assert_eq!(
            (ours.code, theirs.code),
            (0, 0),
            "{line:?}: {}",
            ours.stderr
        );
    }
}

/// A rule regex Go cannot compile matches nothing in sops: an `unencrypted_regex` one
/// encrypts every value, an `encrypted_regex` one none. Files sops wrote with either read
/// and change alike in both tools; keytap refuses only to write a new file in plaintext.
#[test]
fn rule_regexes_go_cannot_compile_match_nothing_as_in_sops() {
    let ws = Workspace::new();
    ws.write("p.yaml", "a: secret\nb: 2\n");
    for regex in ["(", "a**"] {
        for flag in ["--unencrypted-regex", "--encrypted-regex"] {
            let line = ["encrypt", "--age", &ws.recipient, flag, regex, "p.yaml"];
            let theirs = ws.sops(line);
            assert_eq!(theirs.code, 0, "{line:?}: {}", theirs.stderr);
            ws.write("s.yaml", &theirs.stdout);
            let (ours, plain) = (
                ws.keytap(["decrypt", "s.yaml"]),
                ws.sops(["decrypt", "s.yaml"]),
            );
            assert_eq!(
                (ours.code, ours.out()),
                (0, plain.out()),
                "{line:?}: {}",
                ours.stderr
            );
            let set = ws.keytap(["set", "s.yaml", r#"["c"]"#, r#""new""#]);
            assert_eq!(set.code, 0, "{line:?}: {}", set.stderr);
            let after = ws.sops(["decrypt", "s.yaml"]);
            assert_eq!(after.code, 0, "{line:?}: {}", after.stderr);
            assert!(
                after.out().ends_with("c: new\n"),
                "{line:?}: {}",
                after.out()
            );
            let ours = ws.keytap(line);
            if flag == "--encrypted-regex" {
                assert_eq!(ours.code, 23, "{line:?}");
                ours.assert_stderr_has("invalid encrypted_regex");
            } else {
                assert_eq!(ours.code, 0, "{line:?}: {}", ours.stderr);
                assert!(!ours.out().contains("secret"), "{line:?}");
            }
        }
    }
}
