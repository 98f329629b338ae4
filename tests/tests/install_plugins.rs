//! `keytap install-secrets` with age plugins (the test plugin `age-plugin-testkit`): many
//! files open through one plugin session and one PIN prompt, an absent token falls back
//! to the software key, a wrong PIN fails cleanly, and a kill -9 while the plugin is busy
//! leaves the live generation alone.

mod install_common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use install_common::*;
use keytap_e2e::{bin_dir, keytap_bin, path_with_plugins, testkit_key};
use serde_json::{json, Value};

fn sops_encrypt(site: &Site, name: &str, plain: &str, recipients: &str) -> PathBuf {
    let src = site.ws.write(&format!("plain/{name}"), plain);
    let r = site.ws.run("sops", |c| {
        c.env("PATH", path_with_plugins())
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .args(["encrypt", "--age", recipients, src.to_str().unwrap()]);
    });
    site.ws.write(&format!("enc/{name}"), r.ok())
}

fn count(log: &std::path::Path, what: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(what))
        .count()
}

/// A fresh site with a testkit plugin key: its recipient, and the key file holding its
/// identity.
fn site_with_testkit_key() -> (Site, String, PathBuf) {
    let site = Site::new();
    let (recipient, identity) = testkit_key(None);
    let keyfile = site.ws.write("testkit-keys.txt", &identity);
    (site, recipient, keyfile)
}

#[test]
fn two_hundred_secrets_in_twenty_files_take_one_plugin_session_and_one_prompt() {
    let (site, recipient, keyfile) = site_with_testkit_key();
    let mut secrets = Vec::new();
    for f in 0..20 {
        let plain: String = (0..10)
            .map(|k| format!("key{k}: value-{f}-{k}\n"))
            .collect();
        let file = sops_encrypt(&site, &format!("f{f:02}.yaml"), &plain, &recipient);
        for k in 0..10 {
            secrets.push(site.secret(&format!("s{f:02}-{k}"), &format!("key{k}"), &file, "yaml"));
        }
    }
    assert_eq!(secrets.len(), 200);
    let mut m = site.manifest_value(secrets, vec![]);
    m["ageKeyFile"] = json!(site.s(&keyfile));
    let mf = site.write_manifest("m.json", &m);
    let log = site.ws.path("testkit.log");
    let (ask, ask_log) = site.ws.askpass("askpass-123456", "123456");
    let r = site.install(
        &[&site.s(&mf)],
        &[
            ("PATH", &path_with_plugins()),
            ("TESTKIT_MODE", "prompt-pin"),
            ("TESTKIT_LOG", log.to_str().unwrap()),
            ("KEYTAP_ASKPASS", ask.to_str().unwrap()),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for f in 0..20 {
        for k in 0..10 {
            assert_eq!(
                site.read_secret(&format!("s{f:02}-{k}")),
                format!("value-{f}-{k}").as_bytes()
            );
        }
    }
    assert_eq!(
        count(&log, "session identity-v1"),
        1,
        "one plugin session: {}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(count(&log, "prompt"), 1, "one PIN prompt");
    assert_eq!(
        count(&log, "unwrap files=20"),
        1,
        "all 20 files in that session"
    );
    assert_eq!(
        std::fs::read_to_string(&ask_log).unwrap().lines().count(),
        1,
        "askpass ran once"
    );
}

#[test]
fn an_absent_token_falls_back_to_the_software_key() {
    let site = Site::new();
    let (recipient, identity) = testkit_key(None);
    let keyfile = site.ws.write(
        "keys.txt",
        format!(
            "{identity}\n{}",
            std::fs::read_to_string(&site.ws.keys).unwrap()
        ),
    );
    let both = format!("{recipient},{}", site.ws.recipient);
    let file = sops_encrypt(&site, "s.yaml", "a: fallback-works\n", &both);
    let mut m = site.manifest_value(vec![site.secret("a", "a", &file, "yaml")], vec![]);
    m["ageKeyFile"] = json!(site.s(&keyfile));
    let mf = site.write_manifest("m.json", &m);
    let log = site.ws.path("testkit.log");
    let env = |mode: &'static str, order: &'static str| -> Vec<(String, String)> {
        vec![
            ("PATH".into(), path_with_plugins()),
            ("TESTKIT_MODE".into(), mode.into()),
            ("TESTKIT_LOG".into(), log.to_str().unwrap().into()),
            ("KEYTAP_IDENTITY_ORDER".into(), order.into()),
        ]
    };
    let run = |e: Vec<(String, String)>| {
        let refs: Vec<(&str, &str)> = e.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        site.install(&[&site.s(&mf)], &refs)
    };

    let started = Instant::now();
    let r = run(env("absent", "plugins-first"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(site.read_secret("a"), b"fallback-works");
    assert!(
        r.stderr.contains("testkit token not found") || r.stderr.contains("skipping"),
        "{}",
        r.stderr
    );
    assert_eq!(
        count(&log, "session identity-v1"),
        1,
        "the token was tried first"
    );

    // software-first (what sops.age.identityOrder sets) works the same way round.
    // (keytap-core still asks the plugin for the file's other wrapped key even after the
    // software key opened it; see the report.)
    let r = run(env("absent", "software-first"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(site.read_secret("a"), b"fallback-works");
}

#[test]
fn a_wrong_pin_fails_naming_file_and_secret_and_keeps_the_live_generation() {
    let (site, recipient, keyfile) = site_with_testkit_key();
    let file = sops_encrypt(&site, "pin.yaml", "a: behind-a-pin\n", &recipient);
    let mut m = site.manifest_value(vec![site.secret("pinned", "a", &file, "yaml")], vec![]);
    m["ageKeyFile"] = json!(site.s(&keyfile));
    let mf = site.write_manifest("m.json", &m);
    let (good, _) = site.ws.askpass("askpass-123456", "123456");
    let (bad, _) = site.ws.askpass("askpass-000000", "000000");
    let path = path_with_plugins();
    let with = |ask: &PathBuf| {
        site.install(
            &[&site.s(&mf)],
            &[
                ("PATH", &path),
                ("TESTKIT_MODE", "prompt-pin"),
                ("KEYTAP_ASKPASS", ask.to_str().unwrap()),
            ],
        )
    };
    assert_eq!(with(&good).code, 0);
    let r = with(&bad);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&site.s(&file)) && r.stderr.contains("'pinned'"),
        "{}",
        r.stderr
    );
    assert_eq!(site.live(), Some(1));
    assert_eq!(site.read_secret("pinned"), b"behind-a-pin");
    // No way to ask at all (no askpass, no terminal): fails, saying what was asked.
    let r = site.install(
        &[&site.s(&mf)],
        &[("PATH", &path), ("TESTKIT_MODE", "prompt-pin")],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no way to ask") || r.stderr.contains("PIN"),
        "{}",
        r.stderr
    );
    assert_eq!(site.live(), Some(1));
}

#[test]
fn kill_9_while_the_plugin_is_busy_leaves_the_live_generation() {
    let (site, recipient, keyfile) = site_with_testkit_key();
    let v1 = sops_encrypt(&site, "v1.yaml", "a: one\nb: one-b\n", &recipient);
    let v2 = sops_encrypt(&site, "v2.yaml", "a: two\nb: two-b\n", &recipient);
    let mk = |file: &PathBuf, tag: &str| {
        let mut m: Value = site.manifest_value(
            vec![
                site.secret("a", "a", file, "yaml"),
                site.secret("b", "b", file, "yaml"),
            ],
            vec![],
        );
        m["ageKeyFile"] = json!(site.s(&keyfile));
        site.write_manifest(&format!("{tag}.json"), &m)
    };
    let m1 = mk(&v1, "m1");
    let m2 = mk(&v2, "m2");
    let path = path_with_plugins();
    let r = site.install(&[&site.s(&m1)], &[("PATH", &path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let log = site.ws.path("hang.log");
    let mut cmd = site.ws.command(keytap_bin());
    cmd.args(["install-secrets", &site.s(&m2)])
        .env("PATH", &path)
        .env("TESTKIT_MODE", "hang")
        .env("TESTKIT_LOG", &log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&log, "session identity-v1") == 0 {
        assert!(Instant::now() < deadline, "the plugin never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill9(child.id());
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_eq!(site.live(), Some(1));
    assert_eq!(site.read_secret("a"), b"one");
    assert_eq!(site.read_secret("b"), b"one-b");

    let r = site.install(&[&site.s(&m2)], &[("PATH", &path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(site.read_secret("a"), b"two");
    assert_eq!(site.read_secret("b"), b"two-b");
}

#[test]
fn a_passphrase_protected_key_opens_from_a_file_or_one_prompt() {
    let site = Site::new();
    let plugin = bin_dir().join("age-plugin-passphrase");
    assert!(
        plugin.exists(),
        "age-plugin-passphrase not built: run `cargo build -p age-plugin-passphrase`"
    );
    let pass = site.ws.private_file("pass", "correct horse");
    let keyfile = site.ws.path("key.age");
    let (recipient, with_file) = site
        .ws
        .passphrase_key(&keyfile, &["--passphrase-file", pass.to_str().unwrap()]);
    let out = site
        .ws
        .passphrase_plugin(&["--identity", keyfile.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let prompt_only = out.out();

    let mut secrets = Vec::new();
    for f in 0..5 {
        let file = sops_encrypt(
            &site,
            &format!("p{f}.yaml"),
            &format!("a: pass-{f}\n"),
            &recipient,
        );
        secrets.push(site.secret(&format!("p{f}"), "a", &file, "yaml"));
    }
    let path = path_with_plugins();
    for (tag, identity) in [("file", &with_file), ("prompt", &prompt_only)] {
        let ids = site.ws.write(&format!("ids-{tag}.txt"), identity);
        let mut m = site.manifest_value(secrets.clone(), vec![]);
        m["ageKeyFile"] = json!(site.s(&ids));
        let mf = site.write_manifest(&format!("{tag}.json"), &m);
        let (ask, ask_log) = site
            .ws
            .askpass("askpass-correct-horse-ignored", "correct-horse-ignored");
        let ask_script = site.ws.sh_script(
            &format!("ask-{tag}"),
            &format!("{} \"$1\" >/dev/null\necho 'correct horse'", ask.display()),
        );
        let _ = std::fs::remove_file(&ask_log);
        let r = site.install(
            &[&site.s(&mf)],
            &[
                ("PATH", &path),
                ("KEYTAP_ASKPASS", ask_script.to_str().unwrap()),
            ],
        );
        assert_eq!(r.code, 0, "{tag}: {}", r.stderr);
        for f in 0..5 {
            assert_eq!(
                site.read_secret(&format!("p{f}")),
                format!("pass-{f}").as_bytes(),
                "{tag}"
            );
        }
        let asked = std::fs::read_to_string(&ask_log)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        assert_eq!(
            asked,
            if tag == "file" { 0 } else { 1 },
            "{tag}: prompts for 5 files"
        );
    }
}
