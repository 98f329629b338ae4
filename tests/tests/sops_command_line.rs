//! sops's command line against the real sops: the legacy forms and their modes, Go's flag
//! spellings and placement, stdin, argument counts and missing files.

use keytap_e2e::{Run, Workspace};

#[test]
fn legacy_forms_behave_like_sops() {
    let ws = Workspace::new();
    ws.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\n", ws.recipient),
    );
    ws.write("plain.yaml", "a: 1\n");
    let enc = ws.keytap(["-e", "plain.yaml"]);
    assert_eq!(enc.code, 0, "{}", enc.stderr);
    ws.write("enc.yaml", &enc.stdout);
    assert_eq!(
        ws.keytap(["-d", "enc.yaml"]).ok(),
        ws.sops(["-d", "enc.yaml"]).ok()
    );
    let missing_ours = ws.keytap(["-d", "missing.yaml"]);
    let missing_theirs = ws.sops(["-d", "missing.yaml"]);
    assert_eq!(missing_ours.code, missing_theirs.code);
    assert_eq!(ws.keytap(["--set", r#"["a"] 2"#, "enc.yaml"]).code, 0);
    assert_eq!(
        ws.sops(["-d", "--extract", r#"["a"]"#, "enc.yaml"]).out(),
        "2\n"
    );
    let before = ws.read("enc.yaml");
    let rotated = ws.keytap(["-r", "-i", "enc.yaml"]);
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    assert_ne!(ws.read("enc.yaml"), before);
    assert_eq!(ws.sops(["-d", "enc.yaml"]).out(), "a: 2\n");
    assert_eq!(
        ws.keytap([] as [&str; 0]).code,
        ws.sops([] as [&str; 0]).code
    );
}

/// Flags as Go's flag package reads them, which sops users write: one dash before a long
/// name, a value joined to a boolean, a flag given twice (the last wins), `-v` for the
/// version, positional arguments past the first. keytap answers each line with sops's
/// exit code and output (sops's usage text after a bad flag aside).
#[test]
fn go_flag_spellings_read_as_sops_reads_them() {
    let ws = Workspace::new();
    ws.write("plain.yaml", "a: 1\nb: two\n");
    let enc = ws
        .sops(["encrypt", "--age", &ws.recipient, "plain.yaml"])
        .ok();
    ws.write("enc.yaml", &enc);
    for line in [
        &["-decrypt", "-extract", r#"["b"]"#, "enc.yaml"][..],
        &["-d", "-output-type", "json", "enc.yaml"],
        &[
            "decrypt",
            "--ignore-mac=true",
            "--output-type=json",
            "enc.yaml",
        ],
        &["decrypt", "-in-place=false", "enc.yaml"],
        &[
            "decrypt",
            "--output-type",
            "json",
            "--output-type",
            "yaml",
            "enc.yaml",
        ],
        &[
            "-d",
            "-d",
            "--extract",
            r#"["a"]"#,
            "--extract",
            r#"["b"]"#,
            "enc.yaml",
        ],
        &["-d", "--ignore-mac=maybe", "enc.yaml"],
        &["-d=true", "enc.yaml"],
        // A flag's value is the next argument whatever it looks like.
        &["decrypt", "--extract", "-d", "enc.yaml"],
        &["-d", "--output-type", "-json", "enc.yaml"],
        // Only the command's own flags are its flags (urfave/cli reorders those first);
        // a boolean takes the file along, and what follows it is arguments.
        &["decrypt", "--verbose", "enc.yaml"],
        &["decrypt", "enc.yaml", "--verbose"],
        &[
            "decrypt",
            "--ignore-mac",
            "enc.yaml",
            "--output-type",
            "json",
        ],
        &[
            "decrypt",
            "enc.yaml",
            "--output-type",
            "json",
            "--extract",
            r#"["b"]"#,
        ],
        &["decrypt", "--verbose", "--", "enc.yaml"],
        &[
            "encrypt",
            "--mac-only-encrypted",
            "--age",
            &ws.recipient,
            "plain.yaml",
        ],
        &["encrypt", "--config", "x.yaml", "plain.yaml"],
        &["set", "-i", "enc.yaml", r#"["a"]"#, "2"],
        &["set", "enc.yaml", r#"["a"]"#, "2", "--verbose"],
        &["filestatus", "--indent", "2", "enc.yaml"],
        &["exec-env", "--input-type", "yaml", "enc.yaml", "true"],
        &["exec-env", "enc.yaml", "echo $a", "--pristine"],
        // The app's flags before the command do not change how the command's are read.
        &["--verbose", "decrypt", "--ignore-mac", "enc.yaml", "-i"],
        &[
            "--indent",
            "4",
            "decrypt",
            "--ignore-mac",
            "enc.yaml",
            "--output-type",
            "json",
        ],
        &["--verbose", "set", "enc.yaml", r#"["a"]"#, "7", "--verbose"],
        // Both names of one flag; a third dash; `--` as a value.
        &["decrypt", "--in-place=false", "-i", "enc.yaml"],
        &["-d", "-i", "--in-place", "enc.yaml"],
        &["decrypt", "enc.yaml", "---output-type", "json"],
        &["decrypt", "--output-type", "--", "enc.yaml"],
        &["filestatus"],
    ] {
        let (ours, theirs) = (ws.keytap(line), ws.sops(line));
        assert_eq!(
            ours.code, theirs.code,
            "{line:?}: {} / {}",
            ours.stderr, theirs.stderr
        );
        if theirs.code == 0 {
            assert_eq!(ours.out(), theirs.out(), "{line:?}");
        }
        assert_eq!(ws.read("enc.yaml"), enc, "{line:?} wrote the file");
    }
    // Positional arguments past the first: sops warns (decrypt, encrypt, rotate, edit,
    // the legacy forms) and uses the first.
    // The app's own flags (the legacy form) end at the first positional argument: a
    // flag after the file is ignored too (a command's flags may follow it).
    for line in [
        &["decrypt", "enc.yaml", "other.yaml"][..],
        &["-d", "enc.yaml", "other.yaml"],
        &["filestatus", "enc.yaml", "x"],
        &["-d", "enc.yaml", "--output-type", "json"],
        &["-d", "--output-type", "json", "enc.yaml", "x", "-y"],
        &["-d", "enc.yaml", "--", "--extract"],
        &["-d", "enc.yaml", "--"],
        &["decrypt", "enc.yaml", "--output-type", "json"],
        &["decrypt", "enc.yaml", "--", "--output-type", "json"],
    ] {
        let (ours, theirs) = (ws.keytap(line), ws.sops(line));
        assert_eq!(
            (ours.code, ours.out()),
            (theirs.code, theirs.out()),
            "{line:?}"
        );
        for warning in [
            "More than one positional argument provided",
            "which looks like a flag. Flags must always be provided before",
        ] {
            let warned = |r: &Run| r.stderr.contains(warning);
            assert_eq!(warned(&ours), warned(&theirs), "{line:?}: {}", ours.stderr);
        }
    }
    let run = ws.keytap(["-d", "enc.yaml", "--", "--output-type", "json"]);
    run.assert_stderr_has(r#"ignored positional argument is "--output-type", which"#);
    // Go has no clusters of short flags: `-di` is an unknown flag, and the file is left
    // encrypted (clap alone would decrypt it in place).
    for line in [
        &["-di", "enc.yaml"][..],
        &["decrypt", "-di", "enc.yaml"],
        &["-d", "-ex", "enc.yaml"],
    ] {
        let (ours, theirs) = (ws.keytap(line), ws.sops(line));
        assert_eq!(
            (ours.code, theirs.code),
            (1, 1),
            "{line:?}: {}",
            ours.stderr
        );
        ours.assert_stderr_has("flag provided but not defined: -");
        assert_eq!(ws.read("enc.yaml"), enc, "{line:?}");
    }
    let encrypted = ws.keytap(["encrypt", "--age", &ws.recipient, "plain.yaml", "x"]);
    assert_eq!(encrypted.code, 0, "{}", encrypted.stderr);
    assert!(encrypted.stderr.contains("Only the first one will be used"));
    let (ours, theirs) = (
        ws.keytap(["-v"]),
        ws.sops(["-v", "--disable-version-check"]),
    );
    assert_eq!((ours.code, theirs.code), (0, 0), "{}", ours.stderr);
    assert!(ours.out().starts_with("keytap ") && theirs.out().starts_with("sops "));
    // `h` is `help` where a command name goes, even beside a file named `h`.
    ws.write("h", "a: 1\n");
    for (line, names) in [
        (&["h"][..], "decrypt"),
        (&["h", "decrypt"], "--extract"),
        (&["groups", "h"], "delete"),
    ] {
        let (ours, theirs) = (ws.keytap(line), ws.sops(line));
        assert_eq!(
            (ours.code, theirs.code),
            (0, 0),
            "{line:?}: {}",
            ours.stderr
        );
        for run in [&ours, &theirs] {
            assert!(run.out().contains(names), "{line:?}: {}", run.out());
        }
    }
}

#[test]
fn stdin_works_like_sops() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("plain.yaml", "a: 1\n");
    // Either tool may refuse before reading stdin (encrypt without --filename-override).
    let piped = |program: &str, args: &[&str], input: &[u8]| {
        let run = ws.run_with_stdin(program, args, input);
        (run.code, run.stdout)
    };
    let bin = keytap_e2e::keytap_bin();
    let bin = bin.to_str().unwrap();
    for args in [
        &["decrypt", "--input-type", "yaml", "--output-type", "yaml"][..],
        &["decrypt"][..],
        &["encrypt", "--age", ws.recipient.as_str()][..],
    ] {
        let ours = piped(bin, args, &enc);
        let theirs = piped("sops", args, &enc);
        assert_eq!(ours.0, theirs.0, "{args:?}");
        if args[0] == "decrypt" {
            assert_eq!(ours.1, theirs.1, "{args:?}");
        }
    }
    let (code, out) = piped(
        bin,
        &[
            "encrypt",
            "--age",
            &ws.recipient,
            "--filename-override",
            "x.yaml",
        ],
        b"b: 2\n",
    );
    assert_eq!(code, 0);
    ws.write("from-stdin.yaml", out);
    assert_eq!(ws.sops(["decrypt", "from-stdin.yaml"]).out(), "b: 2\n");
    // `-` is a file name to sops, not stdin: missing (exit 100), then a binary file.
    for args in [&["decrypt", "-"][..], &["-d", "-"], &["-e", "-"]] {
        let ours = piped(bin, args, &enc);
        assert_eq!(
            (ours.0, piped("sops", args, &enc).0),
            (100, 100),
            "{args:?}"
        );
    }
    ws.write("-", "from a file\n");
    let ours = ws.keytap(["encrypt", "--age", &ws.recipient, "-"]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    ws.write("dash.json", &ours.stdout);
    let decrypted = ws.sops(["decrypt", "--output-type", "binary", "dash.json"]);
    assert_eq!(decrypted.out(), "from a file\n");
}

/// sops 3.11's legacy form with several modes: a warning, then each mode in turn
/// (encrypt, decrypt, rotate, set), only the last one's result shown or written. A
/// missing file fails first (49 with key changes, else 100 for -e/-d/-r); the commands
/// that read a missing file fail reading it (exit 2).
#[test]
fn legacy_modes_together_and_missing_files_as_in_sops() {
    let ws = Workspace::new();
    ws.write("p.yaml", "a: 1\n");
    let enc = ws.sops(["encrypt", "--age", &ws.recipient, "p.yaml"]).ok();
    let r = ws.recipient.clone();
    let lines: &[&[&str]] = &[
        &["-e", "-d", "--age", &r, "e.yaml"],
        &["-d", "-e", "--age", &r, "e.yaml"],
        &["-e", "-d", "--age", &r, "p.yaml"],
        &["-e", "-d", "e.yaml"],
        &["-e", "-r", "e.yaml"],
        &["-d", "--set", r#"["a"] 3"#, "e.yaml"],
        &["-e", "-d", "missing.yaml"],
        &["-d", "--set", r#"["a"] 3"#, "missing.yaml"],
        &["-d", "--add-age", &r, "missing.yaml"],
        &["set", "missing.yaml", r#"["a"]"#, "1"],
        &["unset", "missing.yaml", r#"["a"]"#],
        &["rotate", "missing.yaml"],
        &["exec-env", "missing.yaml", "true"],
        &["exec-file", "missing.yaml", "true"],
        &["groups", "delete", "--file", "missing.yaml", "0"],
    ];
    let first_error = |r: &Run| {
        r.stderr
            .lines()
            .map(|l| {
                l.split("msg=")
                    .last()
                    .unwrap()
                    .trim_matches('"')
                    .to_string()
            })
            .find(|l| !l.contains("More than one command"))
            .unwrap_or_default()
    };
    for line in lines {
        let mut results = Vec::new();
        for tool in ["sops", "keytap"] {
            ws.write("e.yaml", &enc);
            let run = if tool == "sops" {
                ws.sops(*line)
            } else {
                ws.keytap(*line)
            };
            let file = ws.read("e.yaml");
            let warned = run
                .stderr
                .contains("More than one command (--encrypt, --decrypt");
            let shown = ws.keytap(["decrypt", "e.yaml"]).out();
            let unchanged = file == enc.as_slice();
            results.push((
                (run.code, run.out(), warned, unchanged, shown),
                first_error(&run),
            ));
        }
        let ((theirs, their_error), (ours, our_error)) = (&results[0], &results[1]);
        assert_eq!(theirs, ours, "{line:?}");
        // keytap may add which file an error is about.
        assert!(
            our_error.starts_with(their_error.as_str()),
            "{line:?}: {our_error}"
        );
    }
}

#[test]
fn argument_counts_and_missing_files_of_each_command_as_in_sops() {
    let ws = Workspace::new();
    ws.write("enc.yaml", ws.encrypt_plain("plain.yaml", "a: 1\n"));
    let before = ws.read("enc.yaml");
    for line in [
        &["set", "enc.yaml", r#"["a"]"#, "2", "extra"][..],
        &["set", "--value-stdin", "enc.yaml", r#"["a"]"#, "2"],
        &["unset", "enc.yaml", r#"["a"]"#, "extra"],
        &[
            "set",
            "--value-file",
            "enc.yaml",
            r#"["a"]"#,
            "missing.json",
        ],
        &["groups", "add", "--age", &ws.recipient],
        &["groups", "delete", "0"],
        &["groups", "delete", "--file", "enc.yaml", "-i"],
        &["groups", "delete", "--file", "enc.yaml", "-i", "0", "1"],
        &["groups", "foo"],
        &["edit"],
        &["rotate", "-i"],
        &["exec-env", "enc.yaml"],
        &["exec-env", "enc.yaml", "true", "extra"],
        &["exec-file"],
        &["exec-file", "enc.yaml", "cat {}", "extra"],
        &["decrypt", "--output", "nodir/x.yaml", "enc.yaml"],
        &["decrypt", "--output", "enc.yaml/x", "enc.yaml"],
    ] {
        let (ours, theirs) = (ws.keytap(line), ws.sops(line));
        assert_eq!(ours.code, theirs.code, "{line:?}: {}", ours.stderr);
        assert_eq!(
            ours.stderr.lines().next(),
            theirs.stderr.lines().next(),
            "{line:?}"
        );
        assert_eq!(ws.read("enc.yaml"), before, "{line:?}");
    }
    // `groups` alone is its help, on stdout.
    let (ours, theirs) = (ws.keytap(["groups"]), ws.sops(["groups"]));
    assert_eq!((ours.code, theirs.code), (0, 0));
    assert!(ours.out().contains("add") && ours.out().contains("delete"));
    assert!(ours.stderr.is_empty());
    // Flags after the value are still read as the command's flags.
    let line = ["set", "enc.yaml", r#"["a"]"#, "1", "--idempotent"];
    assert_eq!((ws.keytap(line).code, ws.sops(line).code), (0, 0));
}

#[test]
fn a_sops_yml_is_ignored_with_one_warning_as_in_sops() {
    let ws = Workspace::new();
    ws.write(
        ".sops.yml",
        format!("creation_rules:\n  - age: {}\n", ws.recipient),
    );
    ws.write("plain.yaml", "a: 1\n");
    let line = ["encrypt", "plain.yaml"];
    let (ours, theirs) = (ws.keytap(line), ws.sops(line));
    assert_eq!((ours.code, theirs.code), (1, 1), "{}", ours.stderr);
    let warnings = |run: &Run| run.stderr.matches("when searching for config file").count();
    assert_eq!(
        (warnings(&ours), warnings(&theirs)),
        (1, 1),
        "{}",
        ours.stderr
    );
}

#[test]
fn rotate_rotates_the_first_file_only_as_sops_does() {
    let ws = Workspace::new();
    for name in ["a.yaml", "b.yaml"] {
        ws.write(name, ws.encrypt_plain("plain.yaml", "a: 1\n"));
    }
    let before = ws.read("b.yaml");
    for tool in ["keytap", "sops"] {
        let line = ["rotate", "-i", "a.yaml", "b.yaml"];
        let run = if tool == "keytap" {
            ws.keytap(line)
        } else {
            ws.sops(line)
        };
        assert_eq!(run.code, 0, "{tool}: {}", run.stderr);
        assert!(
            run.stderr.contains("Only the first one will be used"),
            "{tool}: {}",
            run.stderr
        );
        assert_eq!(ws.read("b.yaml"), before, "{tool} rotated the second file");
    }
}

#[test]
fn publish_is_checked_as_sops_checks_it_and_never_taken_for_a_file_to_edit() {
    let ws = Workspace::new();
    let both = |line: &[&str]| {
        let (ours, theirs) = (ws.keytap(line), ws.sops(line));
        assert_eq!(ours.code, theirs.code, "{line:?}: {}", ours.stderr);
        ours
    };
    std::fs::remove_file(ws.path(".sops.yaml")).ok();
    both(&["publish", "x.yaml"]).assert_stderr_has("config file not found");
    ws.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\n", ws.recipient),
    );
    assert_eq!(both(&["publish"]).code, 100);
    both(&["publish", "missing.yaml"]).assert_stderr_has("stat missing.yaml: no such file");
    std::fs::create_dir(ws.path("dir")).unwrap();
    both(&["publish", "dir"]).assert_stderr_has("without --recursive flag");
    ws.write("s.yaml", ws.encrypt_plain("plain.yaml", "a: 1\n"));
    both(&["publish", "--yes", "s.yaml"]).assert_stderr_has("no matching destination");
    both(&["publish", "--yes", "-y", "s.yaml"]).assert_stderr_has("two forms");
    // A destination keytap does not upload to: an error naming it, no editor, no file.
    ws.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {}\ndestination_rules:\n  - vault_path: sops/\n    vault_address: http://127.0.0.1:1\n",
            ws.recipient
        ),
    );
    let run = ws.keytap(["publish", "--yes", "s.yaml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_stderr_has("keytap does not publish s.yaml to Vault sops/ at http://127.0.0.1:1");
    assert!(!ws.path("publish").exists());
}

/// An editor that is missing, fails or dies: sops's exit code (201) and its Go wording.
#[test]
fn editor_failures_read_as_in_sops() {
    let ws = Workspace::new();
    ws.write("enc.yaml", ws.encrypt_plain("plain.yaml", "a: 1\n"));
    let before = ws.read("enc.yaml");
    for (name, body) in [("fail.sh", "exit 3"), ("killed.sh", "kill -9 $$")] {
        let script = ws.write(name, format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    for editor in [
        "nonexistent-editor",
        "./missing.sh",
        "./fail.sh",
        "./killed.sh",
    ] {
        let run = |program: &str| {
            Run::from(
                ws.command(program)
                    .env("EDITOR", editor)
                    .env("SOPS_DISABLE_VERSION_CHECK", "1")
                    .args(["edit", "enc.yaml"])
                    .output()
                    .unwrap(),
            )
        };
        let (ours, theirs) = (run(keytap_e2e::keytap_bin().to_str().unwrap()), run("sops"));
        assert_eq!((ours.code, theirs.code), (201, 201), "{editor}");
        assert_eq!(ours.stderr.trim(), theirs.stderr.trim(), "{editor}");
        assert_eq!(ws.read("enc.yaml"), before, "{editor}");
    }
}

/// An empty `--output` is stdout and an empty `--user` no user, as sops reads them.
#[test]
fn empty_output_and_user_flags_are_unset_as_in_sops() {
    let ws = Workspace::new();
    ws.write("enc.yaml", ws.encrypt_plain("plain.yaml", "a: 1\n"));
    for line in [
        &["decrypt", "--output", "", "enc.yaml"][..],
        &["exec-env", "--user", "", "enc.yaml", "echo $a"],
        &["exec-file", "--user", "", "enc.yaml", "cat {}"],
    ] {
        let (ours, theirs) = (ws.keytap(line), ws.sops(line));
        assert_eq!(
            (ours.code, ours.out()),
            (0, theirs.out()),
            "{line:?}: {}",
            ours.stderr
        );
        assert_eq!(theirs.code, 0, "{line:?}");
    }
}

/// sops's stderr lines without what differs between runs: the standard logger's date and
/// time, and logrus's decoration around its message.
fn log_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(|line| {
            let line = match line.as_bytes().get(..20) {
                Some(head) if head[4] == b'/' && head[7] == b'/' && head[19] == b' ' => &line[20..],
                _ => line,
            };
            match line.split_once(" msg=\"") {
                Some((_, msg)) => msg.trim_end_matches('"').to_string(),
                None => line.to_string(),
            }
        })
        .collect()
}

/// updatekeys as sops runs it: the config looked for first, each file stat'ed, logged and
/// synced; among several files a failing one is reported and the others are updated.
#[test]
fn updatekeys_logs_checks_and_goes_on_as_sops_does() {
    let ws = Workspace::new();
    let other = Workspace::new();
    ws.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: \\.yaml$\n    age: {},{}\n",
            ws.recipient, other.recipient
        ),
    );
    let enc = ws.encrypt_plain("plain.yaml", "a: 1\n");
    std::fs::create_dir(ws.path("dir")).unwrap();
    let lines: &[&[&str]] = &[
        &["updatekeys", "-y", "u.yaml"],
        &["updatekeys", "-y", "u.yaml"],
        &["updatekeys", "-y", "missing.yaml", "v.yaml"],
        &["updatekeys", "-y", "missing.yaml"],
        &["updatekeys", "-y", "dir"],
        &["updatekeys", "-y"],
    ];
    let mut results = Vec::new();
    for tool in ["keytap", "sops"] {
        ws.write("u.yaml", &enc);
        ws.write("v.yaml", &enc);
        let runs: Vec<_> = lines
            .iter()
            .map(|line| match tool {
                "keytap" => ws.keytap(*line),
                _ => ws.sops(*line),
            })
            .map(|r| (r.code, r.out(), log_lines(&r.stderr)))
            .collect();
        let synced = String::from_utf8(ws.read("v.yaml")).unwrap();
        assert!(synced.contains(&other.recipient), "{tool}: v.yaml synced");
        results.push(runs);
    }
    for (line, (ours, theirs)) in lines.iter().zip(results[0].iter().zip(&results[1])) {
        assert_eq!(ours, theirs, "{line:?}");
    }
    // Without a config, that is the error, before the missing file.
    let bare = Workspace::new();
    let (ours, theirs) = (
        bare.keytap(["updatekeys", "-y"]),
        bare.sops(["updatekeys", "-y"]),
    );
    assert_eq!(
        (ours.code, ours.stderr.trim()),
        (theirs.code, theirs.stderr.trim())
    );
}

/// `groups` on a file whose key this user does not hold, or with an index Go cannot
/// parse: sops's one-line errors and exit codes, the index checked before the file.
#[test]
fn groups_errors_read_as_in_sops() {
    let ws = Workspace::new();
    let stranger = Workspace::new();
    ws.write("enc.yaml", stranger.encrypt_plain("plain.yaml", "a: 1\n"));
    for line in [
        &["groups", "delete", "--file", "enc.yaml", "abc"][..],
        &["groups", "delete", "--file", "enc.yaml", "99999999999"],
        &["groups", "delete", "--file", "enc.yaml", "+1"],
        &["groups", "delete", "--file", "enc.yaml", "0"],
        &[
            "groups",
            "add",
            "--file",
            "enc.yaml",
            "--age",
            &ws.recipient,
        ],
    ] {
        let (ours, theirs) = (ws.keytap(line), ws.sops(line));
        assert_eq!(ours.code, theirs.code, "{line:?}: {}", ours.stderr);
        let unescaped: Vec<String> = log_lines(&theirs.stderr)
            .into_iter()
            .map(|l| l.replace("\\\"", "\""))
            .collect();
        assert_eq!(log_lines(&ours.stderr), unescaped, "{line:?}");
    }
}

/// A key that does not open the file, and a SOPS_AGE_KEY that is not a key: sops's report,
/// word for word (its wrapping depends on every word).
#[test]
fn key_failures_report_as_sops_reports_them() {
    let ws = Workspace::new();
    let stranger = Workspace::new();
    ws.write("enc.yaml", stranger.encrypt_plain("plain.yaml", "a: 1\n"));
    for garbage in [None, Some("garbage")] {
        let run = |program: &str| {
            let mut c = ws.command(program);
            c.env("SOPS_DISABLE_VERSION_CHECK", "1")
                .args(["decrypt", "enc.yaml"]);
            if let Some(g) = garbage {
                c.env("SOPS_AGE_KEY", g);
            }
            Run::from(c.output().unwrap())
        };
        let (ours, theirs) = (run(keytap_e2e::keytap_bin().to_str().unwrap()), run("sops"));
        assert_eq!((ours.code, theirs.code), (128, 128), "{garbage:?}");
        assert_eq!(ours.stderr, theirs.stderr, "{garbage:?}");
    }
}

/// encrypt resolves its keys and rules before it reads the file, as sops does: an empty
/// or broken file under a config with no rule for it is the config's error.
#[test]
fn encrypt_checks_keys_and_rules_before_the_file() {
    let ws = Workspace::new();
    ws.write(
        ".sops.yaml",
        "creation_rules:\n  - path_regex: \\.yaml$\n    age: x\n",
    );
    ws.write("empty.json", "");
    ws.write("broken.json", "{");
    for line in [
        &["encrypt", "--age", &ws.recipient, "empty.json"][..],
        &["encrypt", "--age", &ws.recipient, "broken.json"],
        &[
            "--config",
            "/dev/null",
            "encrypt",
            "--age",
            "bogus",
            "broken.json",
        ],
        &["decrypt", "empty.json"],
    ] {
        let (ours, theirs) = (ws.keytap(line), ws.sops(line));
        assert_eq!(ours.code, theirs.code, "{line:?}: {}", ours.stderr);
        let theirs = log_lines(&theirs.stderr).concat();
        assert!(
            ours.stderr.starts_with(&theirs),
            "{line:?}: {} / {theirs}",
            ours.stderr
        );
    }
}

/// keytap run as `sops` (a link by that name on PATH, as tools call it) says sops's
/// version first, in the form tools parse (ansible's community.sops, editor plugins).
#[test]
fn the_version_reads_as_sops_when_called_sops() {
    let ws = Workspace::new();
    let link = ws.path("sops");
    std::os::unix::fs::symlink(keytap_e2e::keytap_bin(), &link).unwrap();
    let theirs = ws.sops(["--version", "--disable-version-check"]).out();
    for flag in ["--version", "-v"] {
        let ours = ws.run(link.to_str().unwrap(), |c| {
            c.args([flag, "--disable-version-check"]);
        });
        assert_eq!(ours.code, 0);
        let line = ours.out();
        assert!(
            line.starts_with(theirs.trim_end()) && line.contains("(keytap "),
            "{line} / {theirs}"
        );
    }
}

/// `--output /dev/stdout` (or `/dev/stderr`, `/dev/fd/N`) when that is a pipe, as editor
/// plugins and scripts call it: written through the kernel's link to the pipe, as sops
/// writes it (keytap followed `pipe:[N]` as a path and found nothing).
#[test]
fn output_to_dev_stdout_as_a_pipe_works_as_in_sops() {
    let ws = Workspace::new();
    ws.write("enc.yaml", ws.encrypt_plain("plain.yaml", "a: 1\n"));
    let keytap = keytap_e2e::keytap_bin();
    for (tool, output) in [
        (keytap.to_str().unwrap(), "/dev/stdout"),
        (keytap.to_str().unwrap(), "/dev/fd/1"),
        (keytap.to_str().unwrap(), "/proc/self/fd/1"),
        ("sops", "/dev/stdout"),
    ] {
        let run = ws.run("bash", |c| {
            c.arg("-c")
                .arg(format!(
                    "set -o pipefail; \"$0\" decrypt --output {output} enc.yaml | cat"
                ))
                .arg(tool)
                .env("SOPS_DISABLE_VERSION_CHECK", "1");
        });
        assert_eq!(
            (run.code, run.out()),
            (0, "a: 1\n".to_string()),
            "{tool} {output}: {}",
            run.stderr
        );
    }
    let run = ws.run("sh", |c| {
        c.arg("-c")
            .arg("\"$0\" decrypt --output /dev/stderr enc.yaml 2>&1 >/dev/null | cat")
            .arg(&keytap);
    });
    assert_eq!(run.out(), "a: 1\n", "{}", run.stderr);
}
