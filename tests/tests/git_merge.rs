//! The git merge driver (issue #17) in real git repositories: branches edited with the real
//! sops 3.11, merged by `git merge` through `keytap merge %O %A %B %P` as `keytap git-setup`
//! configures it, and the results opened by the real sops. Untouched values keep their
//! exact ciphertext; conflicts list their key paths and leave no plaintext in the work tree;
//! recipients merge as sets where a removal wins; `keytap decrypt` as a textconv.

use std::path::PathBuf;

use keytap_e2e::{keytap_bin, lines_of, path_with_plugins, testkit_key, Run, Workspace};

/// A git repository in a workspace, its sops files encrypted to the workspace's key by a
/// `.sops.yaml` rule, with keytap's driver configured by `keytap git-setup`.
struct Repo {
    ws: Workspace,
    dir: PathBuf,
}

impl Repo {
    /// A repository with `s.yaml` holding `plain`, committed on `main`.
    fn new(plain: &str) -> Repo {
        Repo::with_rule(plain, "")
    }

    /// [`Repo::new`] with `rule` (YAML lines) added to the creation rule.
    fn with_rule(plain: &str, rule: &str) -> Repo {
        let ws = Workspace::new();
        let dir = ws.path("repo");
        std::fs::create_dir_all(&dir).unwrap();
        let repo = Repo { ws, dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "test@example.invalid"]);
        repo.git(&["config", "user.name", "test"]);
        repo.write(
            ".sops.yaml",
            &format!(
                "creation_rules:\n  - path_regex: \\.(yaml|json)$\n    age: {}\n{rule}",
                repo.ws.recipient
            ),
        );
        repo.commit_sops_file("s.yaml", plain, "base");
        repo
    }

    /// Encrypts `plain` into `name` with sops and commits it as `message`, after git-setup
    /// has listed it in .gitattributes.
    fn commit_sops_file(&self, name: &str, plain: &str, message: &str) {
        self.write(name, plain);
        self.ok(self.sops(&["encrypt", "-i", name]));
        self.git(&["add", "-A"]);
        // git-setup lists tracked sops files in .gitattributes.
        self.ok(self.keytap(&["git-setup"]));
        let attribute = format!("/{name} merge=sops diff=sops");
        assert!(
            self.read(".gitattributes").contains(&attribute),
            "{attribute}"
        );
        self.git(&["add", "-A"]);
        self.git(&["commit", "-qm", message]);
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }

    /// Runs `program` in the repository with the workspace's environment, keytap's
    /// binaries first on PATH (git finds the driver there).
    fn run(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.ws.run(program, |c| {
            c.current_dir(&self.dir)
                .args(args)
                .env("PATH", path_with_plugins())
                .env("SOPS_DISABLE_VERSION_CHECK", "1");
            for (k, v) in env {
                c.env(k, v);
            }
        })
    }

    #[track_caller]
    fn git(&self, args: &[&str]) -> String {
        let r = self.run("git", args, &[]);
        assert_eq!(r.code, 0, "git {args:?}: {}", r.stderr);
        r.out()
    }

    fn sops(&self, args: &[&str]) -> Run {
        self.run("sops", args, &[])
    }

    fn keytap(&self, args: &[&str]) -> Run {
        self.run(keytap_bin().to_str().unwrap(), args, &[])
    }

    #[track_caller]
    fn ok(&self, r: Run) -> String {
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.out()
    }

    /// On a new branch `name` from main: `change`, committed; then back on main.
    fn branch(&self, name: &str, change: impl FnOnce(&Repo)) {
        self.git(&["checkout", "-q", "-b", name, "main"]);
        change(self);
        self.git(&["commit", "-qam", name]);
        self.git(&["checkout", "-q", "main"]);
    }

    /// On main: `change`, committed.
    fn on_main(&self, change: impl FnOnce(&Repo)) {
        change(self);
        self.git(&["commit", "-qam", "ours"]);
    }

    /// `sops set s.yaml PATH VALUE` (the real sops).
    fn set(&self, path: &str, json: &str) {
        self.ok(self.sops(&["set", "s.yaml", path, json]));
    }

    /// `sops edit s.yaml` (the real sops) with a `sed` script as the editor.
    fn edit(&self, sed: &str) {
        let editor = self.ws.script(
            "editor",
            &format!("#!/bin/sh\nexec sed -i '{sed}' \"$1\"\n"),
        );
        self.ok(self.run(
            "sops",
            &["edit", "s.yaml"],
            &[("EDITOR", editor.to_str().unwrap())],
        ));
    }

    /// `git merge theirs` with `env`.
    fn merge(&self, env: &[(&str, &str)]) -> Run {
        self.run("git", &["merge", "--no-edit", "theirs"], env)
    }

    /// `sops decrypt s.yaml` (the real sops) with `who`'s identity only.
    fn decrypt_as(&self, who: &Workspace) -> Run {
        self.run(
            "sops",
            &["decrypt", "s.yaml"],
            &[("SOPS_AGE_KEY_FILE", who.keys.to_str().unwrap())],
        )
    }

    /// The real sops's plaintext of s.yaml.
    fn decrypted(&self) -> String {
        self.ok(self.sops(&["decrypt", "s.yaml"]))
    }

    /// The encrypted line of `key` (its first occurrence) in `text`.
    fn line_of(text: &str, key: &str) -> String {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{key}:")))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .to_string()
    }

    /// s.yaml at a revision.
    fn at(&self, rev: &str) -> String {
        self.git(&["show", &format!("{rev}:s.yaml")])
    }
}

const BASE: &str = "\
# credentials
db:
    user: admin
    password: base-pass
api_key: base-key
hosts:
    - alpha
    - beta
untouched: same-everywhere
";

#[test]
fn changes_to_different_keys_merge_and_untouched_values_keep_their_ciphertext() {
    let repo = Repo::new(BASE);
    repo.branch("theirs", |r| {
        r.set(r#"["db"]["password"]"#, r#""their-pass""#)
    });
    repo.on_main(|r| r.set(r#"["api_key"]"#, r#""our-key""#));
    let base = repo.at("main~1");
    let (ours, theirs) = (repo.at("main"), repo.at("theirs"));
    let r = repo.merge(&[]);
    assert_eq!(r.code, 0, "{}{}", r.out(), r.stderr);
    assert_eq!(
        repo.decrypted(),
        BASE.replace("base-pass", "their-pass")
            .replace("base-key", "our-key")
    );
    let merged = repo.read("s.yaml");
    for key in ["user", "untouched", "- alpha", "- beta"] {
        let key = key.trim_start_matches("- ");
        if key == "alpha" || key == "beta" {
            continue;
        }
        assert_eq!(
            Repo::line_of(&merged, key),
            Repo::line_of(&base, key),
            "{key}"
        );
    }
    assert_eq!(
        Repo::line_of(&merged, "password"),
        Repo::line_of(&theirs, "password")
    );
    assert_eq!(
        Repo::line_of(&merged, "api_key"),
        Repo::line_of(&ours, "api_key")
    );
    // The list and the comment are untouched too: every line outside the two changed
    // values and the MAC/date is the base's.
    let changed: Vec<&str> = base
        .lines()
        .zip(merged.lines())
        .filter(|(b, m)| b != m)
        .map(|(b, _)| b.trim_start().split(':').next().unwrap())
        .collect();
    assert!(
        ["password", "api_key", "mac"]
            .iter()
            .all(|k| changed.contains(k))
            && changed
                .iter()
                .all(|k| ["password", "api_key", "mac", "lastmodified"].contains(k)),
        "{changed:?}"
    );
}

#[test]
fn the_same_key_changed_on_both_sides_conflicts_without_plaintext_in_the_work_tree() {
    let repo = Repo::new(BASE);
    repo.branch("theirs", |r| {
        r.set(r#"["db"]["password"]"#, r#""their-secret-pass""#);
        r.edit("s/^    - beta$/    - beta\\n    - their-host/");
    });
    repo.on_main(|r| {
        r.set(r#"["db"]["password"]"#, r#""our-secret-pass""#);
        r.set(r#"["api_key"]"#, r#""our-new-key""#);
        r.edit("s/^    - beta$/    - beta\\n    - our-host/");
    });
    let r = repo.merge(&[]);
    assert_ne!(r.code, 0, "git must see a conflict");
    r.assert_stderr_has(r#"conflict at ["db"]["password"]"#);
    r.assert_stderr_has(r#"conflict at ["hosts"]"#);
    assert!(!r.stderr.contains("api_key"), "{}", r.stderr);
    let status = repo.git(&["status", "--porcelain"]);
    assert!(status.contains("UU s.yaml"), "{status}");
    // OURS is a valid sops file: our values where both changed, their other changes in.
    let text = repo.decrypted();
    assert!(text.contains("password: our-secret-pass"), "{text}");
    assert!(text.contains("api_key: our-new-key"), "{text}");
    // No plaintext anywhere in the work tree or git's merge state files.
    for secret in [
        "their-secret-pass",
        "our-secret-pass",
        "our-new-key",
        "their-host",
        "base-pass",
    ] {
        let r = repo.run("grep", &["-rl", "--exclude-dir=objects", secret, "."], &[]);
        assert_eq!(r.code, 1, "{secret} found in {}", r.out());
    }
    // `keytap edit` fixes it (here: the real sops set), then the merge commits.
    repo.set(r#"["db"]["password"]"#, r#""settled-pass""#);
    repo.git(&["add", "s.yaml"]);
    repo.git(&["commit", "-qm", "merged"]);
    assert!(repo.decrypted().contains("password: settled-pass"));
}

#[test]
fn a_rotated_side_and_our_changes_get_a_fresh_key_and_the_added_recipient_stays() {
    let other = Workspace::new();
    let repo = Repo::new(BASE);
    // Theirs adds a recipient (sops rotate --add-age: a new data key too).
    repo.branch("theirs", |r| {
        r.ok(r.sops(&["rotate", "-i", "--add-age", &other.recipient, "s.yaml"]));
    });
    repo.on_main(|r| r.set(r#"["api_key"]"#, r#""our-key""#));
    let theirs = repo.at("theirs");
    let r = repo.merge(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Who can open the file changed: the driver says so.
    r.assert_stderr_has(&format!(
        "recipient added by the merge: {}",
        other.recipient
    ));
    let merged = repo.read("s.yaml");
    assert!(merged.contains(&other.recipient), "{merged}");
    // Our change is never sealed under a key only their branch vouches for (anyone can
    // write a valid file around a data key they keep): a fresh data key.
    let stanza = |t: &str| {
        t[t.find("-----BEGIN AGE").unwrap()..]
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_ne!(stanza(&merged), stanza(&theirs));
    assert_ne!(
        Repo::line_of(&merged, "untouched"),
        Repo::line_of(&theirs, "untouched")
    );
    // Both recipients open it, with the real sops.
    assert!(repo.decrypted().contains("api_key: our-key"));
    let r = repo.decrypt_as(&other);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.out().contains("api_key: our-key"));
}

#[test]
fn a_recipient_removed_without_rotation_is_revoked_with_a_fresh_data_key() {
    let other = Workspace::new();
    let repo = Repo::new(BASE);
    repo.ok(repo.sops(&["rotate", "-i", "--add-age", &other.recipient, "s.yaml"]));
    repo.git(&["commit", "-qam", "two recipients"]);
    let base = repo.at("main");
    // Theirs drops the second recipient with keytap updatekeys (same data key kept).
    repo.branch("theirs", |r| {
        r.ok(r.keytap(&["updatekeys", "-y", "s.yaml"]));
    });
    assert!(!repo.at("theirs").contains(&other.recipient));
    repo.on_main(|r| r.set(r#"["api_key"]"#, r#""our-key""#));
    let r = repo.merge(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_stderr_has(&format!(
        "recipient removed by the merge: {}",
        other.recipient
    ));
    let merged = repo.read("s.yaml");
    assert!(!merged.contains(&other.recipient), "the removal wins");
    // A fresh data key: no value keeps the ciphertext the removed recipient could open.
    assert_ne!(
        Repo::line_of(&merged, "untouched"),
        Repo::line_of(&base, "untouched")
    );
    assert!(repo.decrypted().contains("api_key: our-key"));
    let r = repo.decrypt_as(&other);
    assert_ne!(r.code, 0, "the removed recipient can no longer open it");
}

#[test]
fn comments_nested_maps_and_lists_merge_and_the_real_sops_opens_json_too() {
    let repo = Repo::new(BASE);
    // Theirs adds a comment (an editor run by the real sops) and a nested key.
    repo.branch("theirs", |r| {
        r.edit("s/^api_key:/# rotated quarterly\\napi_key:/");
        r.set(r#"["db"]["port"]"#, "5432");
    });
    repo.on_main(|r| {
        r.edit("s/^    - beta$/    - beta\\n    - gamma/");
        r.set(r#"["db"]["user"]"#, r#""root""#);
    });
    let r = repo.merge(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = repo.decrypted();
    assert!(
        text.contains("# rotated quarterly\napi_key: base-key"),
        "{text}"
    );
    assert!(text.contains("user: root"), "{text}");
    assert!(text.contains("port: 5432"), "{text}");
    assert!(text.contains("- gamma"), "{text}");

    // A JSON file: the format comes from the path git passes (%P).
    repo.commit_sops_file("c.json", "{\"a\": 1, \"b\": {\"c\": [1, 2]}}\n", "json");
    repo.git(&["branch", "-f", "theirs2"]);
    repo.git(&["checkout", "-q", "theirs2"]);
    repo.ok(repo.sops(&["set", "c.json", r#"["a"]"#, "2"]));
    repo.git(&["commit", "-qam", "t"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.ok(repo.sops(&["set", "c.json", r#"["b"]["d"]"#, "3"]));
    repo.git(&["commit", "-qam", "o"]);
    let r = repo.run("git", &["merge", "--no-edit", "theirs2"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = repo.ok(repo.sops(&["decrypt", "c.json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v, serde_json::json!({"a": 2, "b": {"c": [1, 2], "d": 3}}));
}

#[test]
fn two_hundred_values_merge_in_one_plugin_session_with_one_pin() {
    let (recipient, identity) = testkit_key(Some("prompt-pin"));
    let plain: String = (0..200)
        .map(|i| format!("key_{i:03}: value {i}\n"))
        .collect();
    let repo = Repo::new("placeholder: x\n");
    // Re-encrypt to the PIN-protected test plugin only.
    repo.write(
        ".sops.yaml",
        &format!("creation_rules:\n  - path_regex: \\.yaml$\n    age: {recipient}\n"),
    );
    repo.write("s.yaml", &plain);
    let log = repo.ws.path("testkit.log");
    let (askpass, asked) = repo.ws.askpass("askpass", "123456");
    let env = [
        ("SOPS_AGE_KEY", identity.as_str()),
        ("KEYTAP_ASKPASS", askpass.to_str().unwrap()),
        ("TESTKIT_LOG", log.to_str().unwrap()),
    ];
    let keytap = |args: &[&str]| repo.run(keytap_bin().to_str().unwrap(), args, &env);
    repo.ok(keytap(&["encrypt", "-i", "s.yaml"]));
    repo.git(&["commit", "-qam", "200 values"]);
    repo.branch("theirs", |_| {
        repo.ok(keytap(&["set", "s.yaml", r#"["key_010"]"#, r#""theirs""#]));
    });
    repo.on_main(|_| {
        repo.ok(keytap(&["set", "s.yaml", r#"["key_190"]"#, r#""ours""#]));
    });
    std::fs::write(&log, "").unwrap();
    std::fs::write(&asked, "").unwrap();
    let r = repo.run(
        "setsid",
        &["-w", "git", "merge", "--no-edit", "theirs"],
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sessions = lines_of(&log)
        .iter()
        .filter(|l| *l == "session identity-v1")
        .count();
    assert_eq!(
        sessions,
        1,
        "one plugin session for base, ours and theirs: {:?}",
        lines_of(&log)
    );
    assert_eq!(lines_of(&asked).len(), 1, "one PIN");
    let text = repo.ok(keytap(&["decrypt", "s.yaml"]));
    assert!(text.contains("key_010: theirs\n") && text.contains("key_190: ours\n"));
    assert_eq!(text.lines().count(), 200);
}

#[test]
fn decrypt_as_a_textconv_shows_plaintext_diffs_and_never_waits_for_a_terminal() {
    let repo = Repo::new(BASE);
    repo.on_main(|r| r.set(r#"["api_key"]"#, r#""our-key""#));
    // git diff through the textconv `keytap git-setup` configured, without a terminal.
    let r = repo.run(
        "setsid",
        &["-w", "git", "diff", "main~1", "main", "--", "s.yaml"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let diff = r.out();
    assert!(
        diff.contains("-api_key: base-key\n+api_key: our-key\n"),
        "{diff}"
    );
    // With a PIN-protected key and nobody to ask: a clear error, at once, no hang.
    let (_, identity) = testkit_key(Some("prompt-pin"));
    let start = std::time::Instant::now();
    let r = repo.run(
        "setsid",
        &["-w", keytap_bin().to_str().unwrap(), "decrypt", "s.yaml"],
        &[
            ("SOPS_AGE_KEY", &identity),
            ("SOPS_AGE_KEY_FILE", "/nonexistent"),
        ],
    );
    assert_ne!(r.code, 0);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert!(!r.stderr.is_empty());
}

#[test]
fn a_rotated_side_merged_with_no_change_of_our_values_keeps_its_data_key() {
    let other = Workspace::new();
    let repo = Repo::new(BASE);
    repo.branch("theirs", |r| {
        r.ok(r.sops(&["rotate", "-i", "s.yaml"]));
    });
    // Ours only adds a recipient (updatekeys keeps the data key and every value).
    let add_other = |r: &Repo| {
        r.write(
            ".sops.yaml",
            &format!(
                "creation_rules:\n  - path_regex: \\.(yaml|json)$\n    age: {},{}\n",
                r.ws.recipient, other.recipient
            ),
        );
        r.ok(r.keytap(&["updatekeys", "-y", "s.yaml"]));
    };
    repo.on_main(add_other);
    let theirs = repo.at("theirs");
    let r = repo.merge(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let merged = repo.read("s.yaml");
    assert_eq!(
        Repo::line_of(&merged, "untouched"),
        Repo::line_of(&theirs, "untouched"),
        "the values are theirs: their key and ciphertexts are kept"
    );
    // Our added recipient is wrapped their key and opens the result.
    let r = repo.decrypt_as(&other);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Their branch rotated the data key and changed values: who can read those rests on
/// their word alone (it may be another file's secrets, its MAC and wrapped keys copied in,
/// under a recipient list copied from this file's), so they are not merged into a file
/// our recipients read. Their rotation alone merges (above).
#[test]
fn new_values_under_their_new_data_key_are_left_to_the_user() {
    let repo = Repo::new(BASE);
    repo.branch("theirs", |r| {
        r.ok(r.sops(&["rotate", "-i", "s.yaml"]));
        r.set(r#"["api_key"]"#, r#""their-key""#);
    });
    repo.on_main(|r| r.set(r#"["db"]["password"]"#, r#""our-pass""#));
    let ours = repo.at("main");
    let r = repo.merge(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_stderr_has("only their branch vouches for who can read them");
    assert_eq!(repo.read("s.yaml"), ours, "OURS is left as it was");
}

/// With a comment rule, a comment decides whether the value under it is encrypted: their
/// branch deleting the marker must not write our new secret in plaintext.
#[test]
fn a_comment_change_never_turns_an_encrypted_value_into_plaintext() {
    let repo = Repo::with_rule(
        "# sops:enc\ndb: base-pass\nnote: plain\n",
        "    encrypted_comment_regex: sops:enc\n",
    );
    assert!(!repo.read("s.yaml").contains("base-pass"));
    repo.branch("theirs", |r| r.edit("/sops:enc/d"));
    repo.on_main(|r| r.set(r#"["db"]"#, r#""NEW-ROTATED-PASSWORD""#));
    let ours = repo.at("main");
    let r = repo.merge(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_stderr_has(r#"would leave encrypted values in plaintext: ["db"]"#);
    assert_eq!(repo.read("s.yaml"), ours);
    assert!(!repo.read("s.yaml").contains("NEW-ROTATED-PASSWORD"));
}

/// Ours revoked a recipient; their branch (made before) adds another: perhaps the revoked
/// holder under a new key. Not merged silently.
#[test]
fn a_recipient_added_by_them_after_our_revocation_is_left_to_the_user() {
    let (revoked, again) = (Workspace::new(), Workspace::new());
    let repo = Repo::new(BASE);
    repo.ok(repo.sops(&["rotate", "-i", "--add-age", &revoked.recipient, "s.yaml"]));
    repo.git(&["commit", "-qam", "two recipients"]);
    repo.branch("theirs", |r| {
        r.ok(r.sops(&["rotate", "-i", "--add-age", &again.recipient, "s.yaml"]));
    });
    repo.on_main(|r| {
        r.ok(r.sops(&["rotate", "-i", "--rm-age", &revoked.recipient, "s.yaml"]));
        r.set(r#"["db"]["password"]"#, r#""rotated-after-revocation""#);
    });
    let ours = repo.at("main");
    let r = repo.merge(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_stderr_has(&format!(
        "our side removed a recipient and theirs adds {}",
        again.recipient
    ));
    assert_eq!(repo.read("s.yaml"), ours);
    assert_eq!(repo.decrypt_as(&again).code, 128);
}

/// sops's MAC covers the values, not the recipients: anyone can push a verbatim copy of
/// the file that lists them with an empty wrapped key. The merge must not wrap our data
/// key for them.
#[test]
fn a_recipient_their_side_lists_without_a_key_gets_none_from_the_merge() {
    let mallory = Workspace::new();
    let repo = Repo::new(BASE);
    repo.branch("theirs", |r| {
        let text = r.read("s.yaml");
        let end = "-----END AGE ENCRYPTED FILE-----\n";
        let at = text.find(end).unwrap() + end.len();
        let entry = format!(
            "        - recipient: {}\n          enc: \"\"\n",
            mallory.recipient
        );
        r.write("s.yaml", &format!("{}{entry}{}", &text[..at], &text[at..]));
    });
    repo.on_main(|r| r.set(r#"["api_key"]"#, r#""OUR-NEW-SECRET""#));
    let ours = repo.at("main");
    let r = repo.merge(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_stderr_has(&format!("their side adds {}", mallory.recipient));
    assert_eq!(repo.read("s.yaml"), ours);
    assert_eq!(repo.decrypt_as(&mallory).code, 128);
}

#[test]
fn git_setup_never_writes_through_a_linked_gitattributes() {
    let repo = Repo::new(BASE);
    let victim = repo.ws.write("victim-bashrc", "# rc\n");
    std::fs::remove_file(repo.dir.join(".gitattributes")).unwrap();
    std::os::unix::fs::symlink(&victim, repo.dir.join(".gitattributes")).unwrap();
    let r = repo.keytap(&["git-setup"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_stderr_has("not a regular file");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "# rc\n");
    // The driver line keeps a file named like a flag from becoming one.
    assert_eq!(
        repo.git(&["config", "merge.sops.driver"]).trim(),
        "keytap merge -- %O %A %B %P"
    );
}
