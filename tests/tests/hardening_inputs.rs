//! Hostile and unusual input (issue #13): nesting at sops's limits, alias bombs, broken
//! metadata versions, keyless creation rules, tree paths that crashed the CLI, tampered
//! comments. Exit codes and messages are the real sops's where it has an answer; where it
//! crashes or exhausts memory, keytap gives a clear error instead.

use keytap_e2e::Workspace;

fn nested_yaml(levels: usize) -> String {
    format!("a: {}x{}\n", "[".repeat(levels), "]".repeat(levels))
}

#[test]
fn yaml_as_deep_as_sops_reads_round_trips_and_deeper_is_refused_clearly() {
    let ws = Workspace::new();
    // 9,999 sequences under a top-level key: 10,000 levels with the document, the most
    // go-yaml reads back.
    let enc = ws.encrypt_plain("deep.yaml", nested_yaml(9_999));
    ws.write("deep.enc.yaml", &enc);
    let plain = ws.keytap(["decrypt", "deep.enc.yaml"]).ok();
    let sops_plain = ws.sops(["decrypt", "deep.enc.yaml"]).ok();
    assert_eq!(
        plain, sops_plain,
        "sops reads keytap's deepest file the same"
    );
    // One more level: sops writes a file it cannot read back; keytap refuses to write it.
    ws.write("deeper.yaml", nested_yaml(10_000));
    let run = ws.keytap(["encrypt", "--age", &ws.recipient, "deeper.yaml"]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.is_empty(), "no partial output");
    run.assert_stderr_has("deeper than 10000 levels");
    // Past go-yaml's own limit: the scanner's message, as in sops (exit 2).
    ws.write("deepest.yaml", nested_yaml(20_000));
    let run = ws.keytap(["encrypt", "--age", &ws.recipient, "deepest.yaml"]);
    let sops = ws.sops(["encrypt", "--age", &ws.recipient, "deepest.yaml"]);
    assert_eq!(run.code, sops.code, "{} / {}", run.stderr, sops.stderr);
    run.assert_stderr_has("exceeded max depth of 10000");
}

/// `decrypt` of a small file runs on the main thread when the file cannot nest deeper than
/// cli/src/stack_choice.rs's budget (512 characters that open a level, 256 KiB): the
/// deepest such file, in a debug build, still decrypts as sops decrypts it.
#[test]
fn the_deepest_file_decrypted_on_the_main_thread_round_trips() {
    let ws = Workspace::new();
    let levels = 350;
    let plain: String = (0..levels)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .chain([format!("{}leaf: v\n", " ".repeat(levels))])
        .collect();
    ws.write("nested.yaml", &plain);
    let enc = ws
        .keytap(["encrypt", "--age", &ws.recipient, "nested.yaml"])
        .ok();
    let openers = enc
        .iter()
        .filter(|b| matches!(b, b'[' | b'{' | b'-' | b':' | b'?'))
        .count();
    assert!(
        openers <= 512 && enc.len() <= 256 * 1024,
        "the fixture no longer fits the main-thread budget ({openers} openers, {} bytes)",
        enc.len()
    );
    ws.write("nested.enc.yaml", &enc);
    let ours = ws.keytap(["decrypt", "nested.enc.yaml"]).ok();
    assert_eq!(ours, ws.sops(["decrypt", "nested.enc.yaml"]).ok());
    assert!(String::from_utf8_lossy(&ours).contains(&format!("{}leaf: v", " ".repeat(4 * levels))));
    // Under a small main stack (`ulimit -s 1024`: too small for this file on the main
    // thread of a debug build) the same file takes the deep stack.
    let small_stack = ws.run("sh", |c| {
        c.args([
            "-c",
            "ulimit -s 1024 && exec \"$0\" decrypt nested.enc.yaml",
        ])
        .arg(keytap_e2e::keytap_bin());
    });
    assert_eq!(small_stack.code, 0, "{}", small_stack.stderr);
    assert_eq!(small_stack.stdout, ours);
}

#[test]
fn json_nesting_follows_gos_limit_on_both_sides() {
    let ws = Workspace::new();
    let nested = |n: usize| format!("{{\"a\": {}1{}}}", "[".repeat(n), "]".repeat(n));
    let enc = ws.encrypt_plain("ok.json", nested(9_999));
    ws.write("ok.enc.json", &enc);
    assert_eq!(
        ws.keytap(["decrypt", "ok.enc.json"]).ok(),
        ws.sops(["decrypt", "ok.enc.json"]).ok()
    );
    ws.write("deep.json", nested(10_000));
    let run = ws.keytap(["encrypt", "--age", &ws.recipient, "deep.json"]);
    let sops = ws.sops(["encrypt", "--age", &ws.recipient, "deep.json"]);
    assert_eq!(run.code, sops.code, "{} / {}", run.stderr, sops.stderr);
    run.assert_stderr_has("exceeded max depth");
}

/// `a: &a <3,500 x's>`, then keys each a list of 9 aliases to the previous one: a few
/// kilobytes that expand to gigabytes.
fn alias_bomb() -> String {
    let mut s = format!("a: &a {}\n", "x".repeat(3500));
    let keys = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut prev = "a";
    for k in keys {
        s.push_str(&format!(
            "{k}: &{k} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
        prev = k;
    }
    s
}

/// Runs keytap under a 2 GiB address-space limit, so a bomb that allocates gigabytes
/// fails the test instead of the machine.
fn keytap_limited(ws: &Workspace, args: &str) -> keytap_e2e::Run {
    ws.run("sh", |c| {
        c.arg("-c").arg(format!(
            "ulimit -v 2097152 && exec {} {args}",
            keytap_e2e::keytap_bin().display()
        ));
    })
}

#[test]
fn alias_bombs_are_bounded_on_every_path() {
    let ws = Workspace::new();
    ws.write("bomb.yaml", alias_bomb());
    // No metadata: refused before any value is built, as by sops.
    for cmd in ["decrypt bomb.yaml", "filestatus bomb.yaml"] {
        let run = keytap_limited(&ws, cmd);
        assert!(
            !run.stderr.contains("memory allocation"),
            "{cmd}: {}",
            run.stderr
        );
        assert!(
            run.code == 1 || run.code == 0,
            "{cmd}: {} {}",
            run.code,
            run.stderr
        );
    }
    let run = keytap_limited(&ws, "decrypt bomb.yaml");
    run.assert_stderr_has("sops metadata not found");
    // With metadata copied in (sops expands it without bound): refused by size.
    let enc = ws.encrypt_plain("small.yaml", "k: v\n");
    let enc = String::from_utf8(enc).unwrap();
    let sops_block = &enc[enc.find("sops:").unwrap()..];
    ws.write("armed.yaml", format!("{}{sops_block}", alias_bomb()));
    let run = keytap_limited(&ws, "decrypt armed.yaml");
    assert_ne!(run.code, 0);
    run.assert_stderr_has("excessive aliasing");
    // Encrypting a stream whose later document is the bomb.
    ws.write("multi.yaml", format!("ok: 1\n---\n{}", alias_bomb()));
    let run = keytap_limited(&ws, &format!("encrypt --age {} multi.yaml", ws.recipient));
    assert_ne!(run.code, 0);
    run.assert_stderr_has("excessive aliasing");
}

fn with_version(ws: &Workspace, version: Option<&str>) -> std::path::PathBuf {
    let enc = String::from_utf8(ws.encrypt_plain("v.yaml", "k: v\n")).unwrap();
    let line = enc
        .lines()
        .find(|l| l.trim_start().starts_with("version:"))
        .unwrap()
        .to_string();
    let replaced = match version {
        Some(v) => enc.replace(&line, &format!("    version: {v}")),
        None => enc.replace(&format!("{line}\n"), ""),
    };
    ws.write("versioned.yaml", replaced)
}

#[test]
fn the_metadata_version_is_checked_as_sops_checks_it() {
    let ws = Workspace::new();
    for (version, code, message) in [
        (None, 1, "Version string empty"),
        (Some("banana"), 1, "No Major.Minor.Patch elements found"),
        (Some("4.0.0"), 0, ""),
        (Some("3.11"), 1, "No Major.Minor.Patch elements found"),
    ] {
        with_version(&ws, version);
        let run = ws.keytap(["decrypt", "versioned.yaml"]);
        let sops = ws.sops(["decrypt", "versioned.yaml"]);
        assert_eq!(
            (run.code, sops.code),
            (code, code),
            "{version:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(message), "{version:?}: {}", run.stderr);
        assert!(
            sops.stderr.contains(message),
            "{version:?}: {}",
            sops.stderr
        );
    }
}

#[test]
fn creation_rules_without_keys_fail_as_in_sops() {
    let ws = Workspace::new();
    ws.write("f.yaml", "a: 1\n");
    let editor = ws.write("ed.sh", "#!/bin/sh\necho 'b: 2' > \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for rules in [
        "creation_rules: [{path_regex: .*, key_groups: []}]",
        "creation_rules: [{path_regex: .*, key_groups: [{}]}]",
        "creation_rules: [{path_regex: .*}]",
    ] {
        ws.write(".sops.yaml", rules);
        for (args, code, message) in [
            (vec!["encrypt", "f.yaml"], 1, "Could not generate data key: [empty key group provided]"),
            (
                vec!["edit", "new.yaml"],
                128,
                "Error encrypting the data key with one or more master keys: [empty key group provided]",
            ),
        ] {
            let run = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
                c.args(&args).env("EDITOR", &editor);
            });
            let sops = ws.run("sops", |c| {
                c.args(&args).env("EDITOR", &editor);
            });
            assert_eq!((run.code, sops.code), (code, code), "{rules} {args:?}: {}", run.stderr);
            assert!(run.stderr.contains(message), "{rules} {args:?}: {}", run.stderr);
            assert!(!ws.path("new.yaml").exists());
        }
    }
}

#[test]
fn tree_paths_that_crashed_the_cli_are_clear_errors() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("p.yaml", "a: 1\nb: {c: [x, y]}\n");
    ws.write("s.yaml", enc);
    // sops: exit 1 "component ['\xc3'] not found" (the multi-byte character cut in half).
    let run = ws.keytap(["decrypt", "--extract", "[\"é]", "s.yaml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_stderr_has("not found");
    // sops crashes on these (exit 2 with a Go panic); keytap says what is wrong.
    for path in ["[\"]", "[]", "]", "[\"b\"][\"c\"][-1]", "[\"a\"][\"x\"]"] {
        let run = ws.keytap(["decrypt", "--extract", path, "s.yaml"]);
        assert!(
            run.code == 91 || run.code == 1,
            "{path}: {} {}",
            run.code,
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{path}: {}", run.stderr);
        let run = ws.keytap(["set", "s.yaml", path, "1"]);
        assert!(
            !run.stderr.contains("panicked") && run.code != 101,
            "{path}: {}",
            run.stderr
        );
        let run = ws.keytap(["unset", "s.yaml", path]);
        assert!(
            !run.stderr.contains("panicked") && run.code != 101,
            "{path}: {}",
            run.stderr
        );
    }
    // The same as sops where sops answers.
    for path in [
        "[\"a\"",
        "[\"b\"][c]",
        "[99999999999999999999]",
        "[\"a']",
        "[\"b\"][\"c\"][+1]",
        "[\"new\"][-1]",
    ] {
        let run = ws.keytap(["decrypt", "--extract", path, "s.yaml"]);
        let sops = ws.sops(["decrypt", "--extract", path, "s.yaml"]);
        assert_eq!(
            run.code, sops.code,
            "{path}: {} / {}",
            run.stderr, sops.stderr
        );
        assert_eq!(run.stdout, sops.stdout, "{path}");
    }
}

#[test]
fn a_tampered_encrypted_comment_is_refused_unless_the_mac_is_ignored() {
    let ws = Workspace::new();
    let enc =
        String::from_utf8(ws.encrypt_plain("c.yaml", "# the admin password\na: 1\n")).unwrap();
    let comment = enc.lines().find(|l| l.starts_with("#ENC[")).unwrap();
    // Flip one character of the ciphertext.
    let data_at = comment.find("data:").unwrap() + 5;
    let mut bytes = comment.as_bytes().to_vec();
    bytes[data_at] = if bytes[data_at] == b'A' { b'B' } else { b'A' };
    let tampered = enc.replace(comment, std::str::from_utf8(&bytes).unwrap());
    ws.write("t.yaml", tampered);
    let run = ws.keytap(["decrypt", "t.yaml"]);
    assert_eq!(run.code, 51, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains("comment") && run.stderr.contains("--ignore-mac"),
        "{}",
        run.stderr
    );
    let run = ws.keytap(["decrypt", "--ignore-mac", "t.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.out().contains("a: 1"));
    // An intact file decrypts with its comment.
    ws.write("ok.yaml", enc);
    assert!(ws
        .keytap(["decrypt", "ok.yaml"])
        .out()
        .contains("# the admin password"));
}

/// Text that only starts like an encrypted comment (no envelope: `#ENC[hello]`) is a plain
/// comment, as sops reads it: shown with a warning, the same bytes as sops prints.
#[test]
fn a_comment_that_only_looks_encrypted_is_read_as_sops_reads_it() {
    let ws = Workspace::new();
    let enc = String::from_utf8(ws.encrypt_plain("c.yaml", "a: 1\n")).unwrap();
    for comment in [
        "#ENC[hello]",
        "#ENC[",
        "#ENC[AES256_GCM,data:!!,iv:x,tag:y,type:comment]",
    ] {
        ws.write("t.yaml", format!("{comment}\n{enc}"));
        let (ours, theirs) = (
            ws.keytap(["decrypt", "t.yaml"]),
            ws.sops(["decrypt", "t.yaml"]),
        );
        assert_eq!(
            (ours.code, ours.out()),
            (theirs.code, theirs.out()),
            "{comment}: {}",
            ours.stderr
        );
        assert_eq!(ours.code, 0, "{comment}");
    }
}

/// A file whose metadata an attacker wrote (a pull request): a recipient with terminal
/// escape sequences and multi-byte characters. `doctor` and every error show it defused,
/// and nothing panics on a character boundary.
#[test]
fn hostile_recipients_never_reach_the_terminal_raw() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("plain.yaml", "a: 1\n");
    let hostile = format!("age1\\e]0;pwned\\a\\e[2J{}", "ą".repeat(30));
    let text = String::from_utf8(enc).unwrap().replace(
        &format!("recipient: {}", ws.recipient),
        &format!("recipient: \"{hostile}\""),
    );
    assert!(text.contains("pwned"));
    ws.write("hostile.yaml", text);
    for args in [
        vec!["doctor", "hostile.yaml"],
        vec!["updatekeys", "--dry-run", "hostile.yaml"],
        vec!["decrypt", "hostile.yaml"],
    ] {
        let run = ws.keytap(&args);
        let all = format!("{}{}", run.out(), run.stderr);
        assert!(
            !all.contains('\x1b') && !all.contains('\x07'),
            "{args:?}: {all:?}"
        );
        assert!(!all.contains("panicked"), "{args:?}: {all}");
    }
    let run = ws.keytap(["doctor", "hostile.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.out().contains("age1?]0;pwned?"), "{}", run.out());
}

/// `set '["sops"]'` would write a second `sops` key, which neither tool reads back (sops
/// 3.11 writes it and loses the file): keytap refuses and leaves the file as it was.
#[test]
fn setting_a_top_level_sops_key_is_refused_and_the_file_kept() {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("plain.yaml", "a: 1\n");
    ws.write("s.yaml", &enc);
    let run = ws.keytap(["set", "s.yaml", r#"["sops"]"#, r#""x""#]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(r#"a top-level key named "sops" would collide"#),
        "{}",
        run.stderr
    );
    assert_eq!(ws.read("s.yaml"), enc, "the file is untouched");
    assert_eq!(ws.sops(["decrypt", "s.yaml"]).ok(), b"a: 1\n");
}

/// A comment after a flow collection: sops encrypts it as the mapping's but writes it where
/// it reads back as the collection's, so it authenticates only under the enclosing path.
/// sops decrypts such a file (its own, or keytap's, which is written the same) showing the
/// comment encrypted, with a warning; keytap does the same, and still refuses the comment
/// once its ciphertext is changed.
#[test]
fn a_comment_sops_moved_under_a_flow_collection_is_shown_as_sops_shows_it() {
    let ws = Workspace::new();
    ws.write(
        "c.yaml",
        "outer:\n    list: [a, 1, true]\n    # note\nafter: x\n",
    );
    for (name, encrypted) in [
        (
            "sops.enc.yaml",
            ws.sops(["encrypt", "--age", &ws.recipient, "c.yaml"]).ok(),
        ),
        (
            "keytap.enc.yaml",
            ws.encrypt_plain("c.yaml", ws.read("c.yaml")),
        ),
    ] {
        ws.write(name, &encrypted);
        let ours = ws.keytap(["decrypt", name]);
        let sops = ws.sops(["decrypt", name]);
        assert_eq!(ours.code, 0, "{name}: {}", ours.stderr);
        assert_eq!(ours.stdout, sops.ok(), "{name}");
        assert!(
            String::from_utf8_lossy(&ours.stdout).contains("        #ENC["),
            "{name}"
        );
        ours.assert_stderr_has("shown encrypted, as sops shows it");
        // The same comment with its ciphertext changed authenticates nowhere.
        let text = String::from_utf8(encrypted).unwrap();
        let at = text.find("#ENC[AES256_GCM,data:").unwrap() + 21;
        let flipped = if text.as_bytes()[at] == b'A' {
            "B"
        } else {
            "A"
        };
        ws.write(
            "t.yaml",
            format!("{}{flipped}{}", &text[..at], &text[at + 1..]),
        );
        let run = ws.keytap(["decrypt", "t.yaml"]);
        assert_eq!(run.code, 51, "{name}: {}", run.stderr);
        run.assert_stderr_has("does not decrypt");
    }
}

/// An empty comment (`#` alone) is never encrypted. sops decrypts one above a list item to
/// an empty string item (its list walk keeps what decrypting "" returns, the string "";
/// its mapping walk wraps that back into a comment), and warns about neither. sops itself
/// writes such a list comment for an anchored mapping merged into a list. Like any empty
/// value, the item adds nothing to the MAC: `- ""` written directly passes as well.
#[test]
fn an_empty_comment_decrypts_as_sops_decrypts_it() {
    let ws = Workspace::new();
    ws.write("anchor.yaml", "a: &m\n  #\n  x: 1\nb:\n  <<: [*m]\n");
    let merged = ws
        .sops(["encrypt", "--age", &ws.recipient, "anchor.yaml"])
        .ok();
    ws.write("merged.enc.yaml", &merged);
    // By hand, in a keytap file: `#` above a list item and a key, `- ""` and `k2: ""`.
    ws.write("list.yaml", "list:\n  - a\nm:\n  k: v\n");
    let encrypted = String::from_utf8(ws.encrypt_plain("list.yaml", ws.read("list.yaml"))).unwrap();
    let commented =
        encrypted
            .replacen("list:\n", "list:\n    #\n", 1)
            .replacen("m:\n", "m:\n    #\n", 1);
    ws.write("list.enc.yaml", &commented);
    let empty = encrypted
        .replacen("list:\n", "list:\n    - \"\"\n", 1)
        .replacen("m:\n", "m:\n    k2: \"\"\n", 1);
    ws.write("empty.enc.yaml", &empty);
    for name in ["merged.enc.yaml", "list.enc.yaml", "empty.enc.yaml"] {
        let ours = ws.keytap(["decrypt", name]);
        let sops = ws.sops(["decrypt", name]);
        assert_eq!(ours.code, 0, "{name}: {}", ours.stderr);
        assert_eq!(ours.out(), sops.out(), "{name}");
        assert!(ours.out().contains("- \"\"\n"), "{name}: {}", ours.out());
        assert_eq!(ours.stderr, "", "{name}");
    }
}

/// A 10,000-value file decrypts under address-space limits from tight to roomy. The deep
/// stack once took 256 MiB of address space whatever the limit, and glibc, unable to
/// reserve the deep thread a heap next to it, mapped a page per allocation until the
/// address space ran out ("memory allocation of 6 bytes failed", exit 134, at
/// `ulimit -v` 280-340 MiB and below).
#[test]
fn a_large_file_decrypts_under_any_workable_address_space_limit() {
    let ws = Workspace::new();
    let plain: String = (0..10_000)
        .map(|i| format!("key_{i}: value {i}\n"))
        .collect();
    ws.write("big.enc.yaml", ws.encrypt_plain("big.yaml", &plain));
    for limit_kib in [100_000, 200_000, 300_000, 400_000] {
        let run = ws.run("sh", |c| {
            c.args([
                "-c",
                &format!("ulimit -v {limit_kib} && exec \"$0\" decrypt big.enc.yaml"),
            ])
            .arg(keytap_e2e::keytap_bin());
        });
        assert_eq!(run.code, 0, "ulimit -v {limit_kib}: {}", run.stderr);
        assert_eq!(run.stdout, plain.as_bytes(), "ulimit -v {limit_kib}");
    }
}

/// A `SOPS_GPG_EXEC` that floods its output is stopped, even when a child of it keeps the
/// pipes open (keytap does not wait for them to close).
#[test]
fn a_flooding_gnupg_is_stopped_even_when_its_child_holds_the_pipes() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    let pid_file = ws.path("sleeper.pid");
    let script = ws.write(
        "fake-gpg",
        format!(
            "#!/bin/sh\n\
             case \" $* \" in\n\
             *' --encrypt '*) cat >/dev/null; printf -- '-----BEGIN PGP MESSAGE-----\\n\\nAAAA\\n-----END PGP MESSAGE-----\\n' ;;\n\
             *) sleep 600 & echo $! > {}; yes BBBBBBBBBBBBBBBB ;;\n\
             esac\n",
            pid_file.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    ws.write("plain.yaml", "k: v\n");
    let fake = script.to_str().unwrap();
    // Under `timeout`: a keytap that waited for the sleeper would be killed (exit 124).
    let run = |args: &[&str]| ws.keytap_with_plugins(60, args, &[("SOPS_GPG_EXEC", fake)]);
    let enc = run(&[
        "encrypt",
        "--pgp",
        "0123456789ABCDEF0123456789ABCDEF01234567",
        "plain.yaml",
    ]);
    assert_eq!(enc.code, 0, "{}", enc.stderr);
    ws.write("enc.yaml", &enc.stdout);
    let dec = run(&["decrypt", "enc.yaml"]);
    if let Ok(pid) = std::fs::read_to_string(&pid_file) {
        let _ = ws.run("kill", |c| {
            c.arg(pid.trim());
        });
    }
    assert_eq!(dec.code, 128, "{}", dec.stderr);
    assert!(dec.stderr.contains("stopped it"), "{}", dec.stderr);
}

/// An endless input (a committed symlink to /dev/zero, a file that keeps growing) is read
/// up to a bound and refused, never until memory runs out.
#[test]
fn endless_inputs_are_refused_at_a_bound() {
    let ws = Workspace::new();
    ws.write("s.yaml", ws.encrypt_plain("p.yaml", "a: 1\n"));
    // filestatus exits 1 where the others exit 2 for a file they cannot read, as in sops.
    for (args, code) in [
        (vec!["decrypt", "/dev/zero"], 2),
        (
            vec![
                "encrypt",
                "--age",
                &ws.recipient,
                "--input-type",
                "binary",
                "/dev/zero",
            ],
            2,
        ),
        (vec!["filestatus", "/dev/zero"], 1),
        (
            vec!["set", "--value-file", "s.yaml", "[\"a\"]", "/dev/zero"],
            1,
        ),
        (vec!["keygen", "-y", "/dev/zero"], 2),
        (vec!["--config", "/dev/zero", "decrypt", "s.yaml"], 1),
    ] {
        let run = ws.keytap(&args);
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
        run.assert_stderr_has("larger than 256 MiB, the most keytap reads");
        assert!(run.stdout.is_empty(), "{args:?}");
    }
}
