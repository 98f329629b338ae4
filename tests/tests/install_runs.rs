//! Installer runs that are killed, run at once, or contended: a kill at any step leaves
//! the symlink on a complete generation; concurrent runs take turns; the lock they take
//! turns with is the installer's own (another user can neither hold it, stalling every
//! activation and boot, nor plant it); a secret's path cannot be redirected by another
//! user's symlink.

mod install_common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use serde_json::json;

use install_common::*;

#[test]
fn another_user_can_neither_hold_nor_plant_the_installers_lock() {
    let site = Site::new();
    let file = site.sops_file("s.yaml", b"a: one\n", &[]);
    let m = site.manifest_value(vec![site.secret("a", "a", &file, "yaml")], vec![]);
    let manifest = site.write_manifest("m.json", &m);
    let run = site.ws.path("run");
    for dir in [site.ws.dir.path(), &run] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // nobody locks the directory that holds the mount point (anyone may open it), and
    // keeps the lock.
    let mut holder = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "flock",
            "-x",
        ])
        .arg(&run)
        .args(["sleep", "120"])
        .spawn()
        .unwrap();
    let held = || {
        let probe = Command::new("flock")
            .arg("-nx")
            .arg(&run)
            .arg("true")
            .status();
        !probe.unwrap().success()
    };
    let start = std::time::Instant::now();
    while !held() {
        assert!(start.elapsed().as_secs() < 20, "the holder never locked");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let r = site.install(&[&site.s(&manifest)], &[]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains("waiting for another run"),
        "{}",
        r.stderr
    );
    assert_eq!(site.read_secret("a"), b"one");
    // The lock is the installer's 0600 file beside the mount point.
    let lock = site.ws.path("run/secrets.d.lock");
    let meta = std::fs::symlink_metadata(&lock).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600));
    // One that is not the installer's own is refused, never used.
    std::os::unix::fs::chown(&lock, Some(65534), Some(65534)).unwrap();
    let r = site.install(&[&site.s(&manifest)], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_stderr_has("it is not this user's regular file");
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &lock).unwrap();
    let r = site.install(&[&site.s(&manifest)], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    std::fs::remove_file(&lock).unwrap();
}

/// The state after a run killed at `step`: the symlink (if any) points at a generation
/// holding every secret and template, all from the same run.
fn assert_complete(site: &Site, step: &str, old: Option<&str>, new: &str) {
    let Some(live) = site.live() else {
        assert!(old.is_none(), "{step}: the symlink vanished");
        return;
    };
    let gen = site.mount().join(live.to_string());
    let a = std::fs::read_to_string(gen.join("a")).unwrap_or_else(|e| panic!("{step}: a: {e}"));
    let b = std::fs::read_to_string(gen.join("sub/b")).unwrap_or_else(|e| panic!("{step}: b: {e}"));
    let t = std::fs::read_to_string(gen.join("rendered/t"))
        .unwrap_or_else(|e| panic!("{step}: t: {e}"));
    let which = if a == new {
        new
    } else {
        old.unwrap_or_else(|| panic!("{step}: unexpected {a}"))
    };
    assert_eq!(a, which, "{step}");
    assert_eq!(
        b,
        format!("{which}-b"),
        "{step}: secrets of one generation come from one run"
    );
    assert_eq!(t, format!("t={which}"), "{step}");
}

#[test]
fn a_kill_at_any_step_leaves_the_symlink_on_a_complete_generation() {
    // The installer's steps, with a kill after the second secret too (there are two).
    let steps: Vec<&str> = keytap_core::install::STEPS
        .iter()
        .flat_map(|&step| match step {
            "secret:1" => vec![step, "secret:2"],
            _ => vec![step],
        })
        .collect();
    // Every step the installer names is exercised.
    let out = std::process::Command::new("grep")
        .args([
            "-o",
            "\"[a-z]*:\\?[0-9]*\"",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../core/src/install/mod.rs"),
        ])
        .output()
        .unwrap();
    let named = String::from_utf8(out.stdout).unwrap();
    for s in [
        "validated",
        "mounted",
        "keys",
        "decrypted",
        "prepared",
        "secrets",
        "templates",
        "changes",
        "switched",
        "linked",
        "pruned",
    ] {
        assert!(
            named.contains(&format!("\"{s}\"")),
            "step {s} not in the installer"
        );
    }

    let site = Site::new();
    let mut n = 0;
    let mut make = |value: &str| {
        n += 1;
        let f = site.sops_file(
            &format!("k{n}.yaml"),
            format!("a: {value}\nb: {value}-b\n").as_bytes(),
            &[],
        );
        let a = site.secret("a", "a", &f, "yaml");
        let mut b = site.secret("sub/b", "b", &f, "yaml");
        b["path"] = json!(site.s(&site.ws.path("outside/b")));
        let t = site.template("t", &format!("t={}", placeholder("a")));
        let mut m = site.manifest_value(vec![a, b], vec![t]);
        m["keepGenerations"] = json!(2);
        site.write_manifest(&format!("k{n}.json"), &m)
    };

    // Killed during the very first run: either no symlink or a complete generation.
    let first = make("v0");
    for &step in &steps {
        let fresh = Site::new();
        let f = fresh.sops_file("k.yaml", b"a: v0\nb: v0-b\n", &[]);
        let mut b = fresh.secret("sub/b", "b", &f, "yaml");
        b["path"] = json!(fresh.s(&fresh.ws.path("outside/b")));
        let m = fresh.manifest_value(
            vec![fresh.secret("a", "a", &f, "yaml"), b],
            vec![fresh.template("t", &format!("t={}", placeholder("a")))],
        );
        let mf = fresh.write_manifest("k.json", &m);
        let r = fresh.install(&[&fresh.s(&mf)], &[("KEYTAP_INSTALL_TEST_KILL_AT", step)]);
        assert_eq!(
            r.code, -1,
            "first run, {step}: expected SIGKILL, got {} {}",
            r.code, r.stderr
        );
        assert_complete(&fresh, step, None, "v0");
        fresh.install_ok(&mf);
        assert_complete(&fresh, step, None, "v0");
    }

    // Killed while replacing a live generation.
    site.install_ok(&first);
    let mut old = "v0".to_string();
    for (i, step) in steps.iter().enumerate() {
        let new = format!("v{}", i + 1);
        let m = make(&new);
        let r = site.install(&[&site.s(&m)], &[("KEYTAP_INSTALL_TEST_KILL_AT", step)]);
        assert_eq!(
            r.code, -1,
            "{step}: expected SIGKILL, got {} {}",
            r.code, r.stderr
        );
        assert_complete(&site, step, Some(&old), &new);
        let switched = std::fs::read_to_string(site.link().join("a")).unwrap() == new;
        let after_switch = ["switched", "linked", "pruned"].contains(step);
        assert_eq!(
            switched, after_switch,
            "{step}: the switch is the one point of change"
        );
        // The next run repairs whatever the kill left behind.
        site.install_ok(&m);
        assert_complete(&site, step, None, &new);
        assert_eq!(
            std::fs::read_to_string(site.ws.path("outside/b")).unwrap(),
            format!("{new}-b")
        );
        old = new;
    }
    // No temporary symlinks or directories left in the symlink's directory.
    let leftovers: Vec<String> = std::fs::read_dir(site.ws.path("run"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn concurrent_runs_take_turns_and_never_mix_two_manifests() {
    let site = Site::new();
    let manifest = |tag: &str| {
        let secrets: Vec<_> = (0..8)
            .map(|i| {
                let f = site.sops_file(
                    &format!("{tag}{i}.yaml"),
                    format!("v: {tag}{i}\n").as_bytes(),
                    &[],
                );
                site.secret(&format!("{tag}{i}"), "v", &f, "yaml")
            })
            .collect();
        let mut m = site.manifest_value(secrets, vec![]);
        m["keepGenerations"] = json!(0);
        site.write_manifest(&format!("m-{tag}.json"), &m)
    };
    let (a, b) = (manifest("a"), manifest("b"));
    let runs: Vec<_> = (0..6)
        .map(|i| {
            let m = if i % 2 == 0 { &a } else { &b };
            site.ws
                .command(keytap_e2e::keytap_bin())
                .args(["install-secrets", m.to_str().unwrap()])
                .env("KEYTAP_INSTALL_NIXOS_RUN_DIR", site.ws.path("run/nixos"))
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    keytap_e2e::assert_all_succeed(runs);
    assert_eq!(site.generations(), (1..=6).collect::<Vec<u64>>());
    for g in 1..=6 {
        let mut names: Vec<String> = std::fs::read_dir(site.mount().join(g.to_string()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let one_manifest =
            names.iter().all(|n| n.starts_with('a')) || names.iter().all(|n| n.starts_with('b'));
        assert!(
            one_manifest && names.len() == 8,
            "generation {g} holds {names:?}"
        );
    }
}

#[test]
fn a_secrets_path_never_follows_another_users_symlink() {
    let site = Site::new();
    let file = site.sops_file("s.yaml", b"token: t0k3n\n", &[]);
    // Root's directory, holding a file named like the secret.
    let victim = site.ws.path("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("token"), "root's file").unwrap();
    // nobody's home, where the secret is to be linked, and nobody's link to root's
    // directory on the way.
    let home = site.ws.path("home-nobody");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
    let app = home.join("app");
    std::os::unix::fs::symlink(&victim, &app).unwrap();
    std::os::unix::fs::lchown(&app, Some(65534), Some(65534)).unwrap();
    let install_at = |path: &std::path::Path, tag: &str| {
        let mut secret = site.secret("token", "token", &file, "yaml");
        secret["path"] = json!(site.s(path));
        let m = site.manifest_value(vec![secret], vec![]);
        site.install(
            &[&site.s(&site.write_manifest(&format!("{tag}.json"), &m))],
            &[],
        )
    };
    for (path, tag) in [
        (app.join("token"), "link"),
        (app.join("made/token"), "made"),
    ] {
        let run = install_at(&path, tag);
        assert_eq!(run.code, 1, "{tag}: {}", run.stderr);
        assert!(
            run.stderr.contains("refusing to follow symlink")
                && run.stderr.contains("owned by uid 65534"),
            "{tag}: {}",
            run.stderr
        );
        assert_eq!(std::fs::read(victim.join("token")).unwrap(), b"root's file");
        assert!(!victim.join("made").exists(), "{tag}");
    }
    // A link of root's on the way is followed, missing directories are made, and the
    // secret's link is the secret's.
    let trusted = site.ws.path("trusted");
    std::os::unix::fs::symlink(&home, &trusted).unwrap();
    let run = install_at(&trusted.join("real/dir/token"), "trusted");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read(home.join("real/dir/token")).unwrap(),
        b"t0k3n"
    );
}
