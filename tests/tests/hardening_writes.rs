//! Writes that keep what the user had (issue #13): symlinks, owner, group, mode and hard
//! links survive every in-place write; sops's refusals are kept; concurrent changes are
//! serialized; plaintext is private whatever the umask. Runs as root (CI does) and uses
//! `setpriv` to act as `nobody` where the user's rights matter.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use keytap_e2e::{keytap_bin, Run, Workspace};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A workspace with `s.yaml` encrypted to its key.
fn with_secrets() -> Workspace {
    let ws = Workspace::new();
    let enc = ws.encrypt_plain("plain.yaml", "a: one\nb: two\n");
    ws.write("s.yaml", enc);
    ws
}

fn decrypted(ws: &Workspace, file: &Path) -> String {
    ws.keytap([
        "-d".as_ref(),
        "--extract".as_ref(),
        "[\"a\"]".as_ref(),
        file.as_os_str(),
    ])
    .out()
}

/// Runs keytap as `nobody` on a workspace opened up for it (the identity file included).
fn keytap_as_nobody(ws: &Workspace, args: &[&str]) -> Run {
    for p in [ws.dir.path(), &ws.keys, &ws.path("home")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&ws.keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    ws.run("setpriv", |c| {
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(keytap_bin())
            .args(args);
    })
}

#[test]
fn a_symlinked_secrets_file_is_written_through_the_link() {
    let ws = with_secrets();
    std::fs::rename(ws.path("s.yaml"), ws.path("real.yaml")).unwrap();
    std::os::unix::fs::symlink("real.yaml", ws.path("s.yaml")).unwrap();
    for args in [
        vec!["set", "s.yaml", "[\"a\"]", "\"changed\""],
        vec!["rotate", "-i", "s.yaml"],
        vec!["unset", "s.yaml", "[\"b\"]"],
    ] {
        let run = ws.keytap(&args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let link = std::fs::symlink_metadata(ws.path("s.yaml")).unwrap();
        assert!(link.file_type().is_symlink(), "{args:?} replaced the link");
    }
    assert_eq!(decrypted(&ws, &ws.path("real.yaml")), "changed");
}

/// A workspace whose `s.yaml` belongs to nobody (65534) with permissions `mode`.
fn secrets_of_nobody(mode: u32) -> (Workspace, PathBuf) {
    let ws = with_secrets();
    let file = ws.path("s.yaml");
    std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    (ws, file)
}

#[test]
fn owner_group_mode_and_hard_links_are_kept() {
    let (ws, file) = secrets_of_nobody(0o640);
    let run = ws.keytap(["set", "s.yaml", "[\"a\"]", "\"x\""]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let m = std::fs::metadata(&file).unwrap();
    assert_eq!((m.uid(), m.gid(), mode(&file)), (65534, 65534, 0o640));
    // A second name for the file sees every change.
    std::fs::hard_link(&file, ws.path("other-name.yaml")).unwrap();
    let run = ws.keytap(["set", "s.yaml", "[\"a\"]", "\"y\""]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(decrypted(&ws, &ws.path("other-name.yaml")), "y");
    assert_eq!(std::fs::metadata(&file).unwrap().nlink(), 2);
}

#[test]
fn a_read_only_file_is_refused_as_sops_refuses_it() {
    let (ws, file) = secrets_of_nobody(0o444);
    let before = std::fs::read(&file).unwrap();
    let run = keytap_as_nobody(&ws, &["set", "s.yaml", "[\"a\"]", "\"x\""]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Could not open in-place file for writing: open ")
            && run.stderr.contains("s.yaml: permission denied"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // sops's wording for --output and updatekeys-style writes differ; --output names the
    // path as given.
    let run = keytap_as_nobody(&ws, &["decrypt", "--output", "s.yaml", "s.yaml"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Could not open output file for writing: open s.yaml: permission denied"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_writable_file_in_a_read_only_directory_is_rewritten_in_place() {
    let ws = with_secrets();
    let dir = ws.path("ro");
    std::fs::create_dir(&dir).unwrap();
    std::fs::rename(ws.path("s.yaml"), dir.join("s.yaml")).unwrap();
    std::os::unix::fs::chown(dir.join("s.yaml"), Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let run = keytap_as_nobody(&ws, &["set", "ro/s.yaml", "[\"a\"]", "\"x\""]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(decrypted(&ws, &dir.join("s.yaml")), "x");
}

#[test]
fn concurrent_sets_never_lose_an_update() {
    let ws = with_secrets();
    let children: Vec<_> = (0..12)
        .map(|i| {
            ws.command(keytap_bin())
                .args([
                    "set",
                    "s.yaml",
                    &format!("[\"k{i}\"]"),
                    &format!("\"v{i}\""),
                ])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    keytap_e2e::assert_all_succeed(children);
    let plain = ws.keytap(["decrypt", "s.yaml"]).out();
    for i in 0..12 {
        assert!(
            plain.contains(&format!("k{i}: v{i}")),
            "lost k{i}:\n{plain}"
        );
    }
}

#[test]
fn a_stale_temporary_file_from_a_killed_run_is_removed_by_the_next_write() {
    let ws = with_secrets();
    let stale = ws.write(".s.yaml.Ab12Cd.tmp", "a: plaintext left by kill -9\n");
    let run = ws.keytap(["set", "s.yaml", "[\"a\"]", "\"x\""]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!stale.exists());
    let left: Vec<_> = std::fs::read_dir(ws.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn output_dir_plaintext_is_0600_never_follows_planted_links_and_refuses_collisions() {
    let ws = with_secrets();
    let out = ws.path("out");
    std::fs::create_dir(&out).unwrap();
    // An existing 0644 file is replaced by a 0600 one.
    std::fs::write(out.join("s.yaml"), "old").unwrap();
    std::fs::set_permissions(out.join("s.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = ws.keytap(["decrypt", "--output-dir", "out", "s.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(mode(&out.join("s.yaml")), 0o600);
    // A planted link to a world-writable file: the link is replaced, its target untouched.
    let victim = ws.write("victim", "keep");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::remove_file(out.join("s.yaml")).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("s.yaml")).unwrap();
    let run = ws.keytap(["decrypt", "--output-dir", "out", "s.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert!(std::fs::symlink_metadata(out.join("s.yaml"))
        .unwrap()
        .is_file());
    assert_eq!(mode(&out.join("s.yaml")), 0o600);
    // A planted FIFO: replaced too, never written into (no hang, no reader gets it).
    std::fs::remove_file(out.join("s.yaml")).unwrap();
    let st = std::process::Command::new("mkfifo")
        .arg(out.join("s.yaml"))
        .status()
        .unwrap();
    assert!(st.success());
    let run = ws.keytap(["decrypt", "--output-dir", "out", "s.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::symlink_metadata(out.join("s.yaml"))
        .unwrap()
        .is_file());
    assert_eq!(mode(&out.join("s.yaml")), 0o600);
    // Two inputs with one name: refused before anything is written.
    std::fs::create_dir(ws.path("sub")).unwrap();
    std::fs::copy(ws.path("s.yaml"), ws.path("sub/s.yaml")).unwrap();
    let run = ws.keytap(["decrypt", "--output-dir", "out2", "s.yaml", "sub/s.yaml"]);
    assert_eq!(run.code, 8, "{}", run.stderr);
    run.assert_stderr_has("would both be written");
    assert!(!ws.path("out2").exists());
}

/// A file another user planted where plaintext goes (0666, so anyone may write it, in a
/// directory anyone may write): root's plaintext replaces it with a file of its own, the
/// planted inode never sees a byte; a user who cannot replace it (a sticky directory) is
/// refused instead of writing into it.
#[test]
fn plaintext_never_goes_into_another_users_file() {
    let ws = with_secrets();
    let shared = ws.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let plant = |name: &str| {
        let path = shared.join(name);
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::os::unix::fs::chown(&path, Some(6), Some(12)).unwrap();
        // The planter keeps the file open, to read whatever is written into it.
        (path.clone(), std::fs::File::open(&path).unwrap())
    };
    let planted_len = |f: &std::fs::File| f.metadata().unwrap().len();
    for args in [
        &["decrypt", "--output", "shared/out.yaml", "s.yaml"][..],
        &["decrypt", "--output-dir", "shared", "s.yaml"],
    ] {
        let name = if args[1] == "--output" {
            "out.yaml"
        } else {
            "s.yaml"
        };
        let (path, held) = plant(name);
        let run = ws.keytap(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600), "{args:?}");
        assert_eq!(
            planted_len(&held),
            0,
            "{args:?}: the planted file got the plaintext"
        );
        assert!(std::fs::read_to_string(&path).unwrap().contains("a: one"));
    }
    // A file of another user that no one else could have put there (the directory is
    // root's alone) keeps its owner, as with sops: root deploying an app's secrets.
    let deploy = ws.path("deploy");
    std::fs::create_dir(&deploy).unwrap();
    std::fs::set_permissions(&deploy, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(deploy.join("app.yaml"), "").unwrap();
    std::os::unix::fs::chown(deploy.join("app.yaml"), Some(6), Some(12)).unwrap();
    let run = ws.keytap(["decrypt", "--output", "deploy/app.yaml", "s.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let meta = std::fs::metadata(deploy.join("app.yaml")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (6, 0o600));
    // nobody may not replace man's file in a sticky directory: refused, nothing written.
    let (_, held) = plant("nobodys.yaml");
    let run = keytap_as_nobody(
        &ws,
        &["decrypt", "--output", "shared/nobodys.yaml", "s.yaml"],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.assert_stderr_has("belongs to another user (uid 6)");
    assert_eq!(planted_len(&held), 0);
}

fn make_fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .args(["-m", "0622"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A link another user planted in a sticky world-writable directory is not followed, as
/// the kernel's `fs.protected_symlinks` would refuse it to sops: neither into a file of
/// theirs (which would get the plaintext) nor onto a file of root's (overwritten).
#[test]
fn another_users_link_or_fifo_in_a_shared_directory_gets_no_plaintext() {
    let ws = with_secrets();
    let shared = ws.path("shared");
    let theirs = ws.path("theirs");
    for (dir, mode) in [(&shared, 0o1777), (&theirs, 0o755)] {
        std::fs::create_dir(dir).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let their_file = theirs.join("f");
    std::fs::write(&their_file, "").unwrap();
    std::os::unix::fs::chown(&their_file, Some(65534), Some(65534)).unwrap();
    let roots_file = ws.write("roots.conf", "root's own\n");
    for (link, target, contents) in [
        ("to-theirs.yaml", &their_file, ""),
        ("to-roots.yaml", &roots_file, "root's own\n"),
    ] {
        let link = shared.join(link);
        std::os::unix::fs::symlink(target, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        for args in [
            vec!["decrypt", "--output", link.to_str().unwrap(), "s.yaml"],
            vec![
                "encrypt",
                "--age",
                &ws.recipient,
                "--output",
                link.to_str().unwrap(),
                "plain.yaml",
            ],
        ] {
            let run = ws.keytap(&args);
            assert_eq!(run.code, 3, "{args:?}: {}", run.stderr);
            run.assert_stderr_has("permission denied");
            assert_eq!(
                std::fs::read_to_string(target).unwrap(),
                contents,
                "{args:?}"
            );
        }
    }
    // Nor is another user's FIFO there written into (the kernel's fs.protected_fifos,
    // which sops's O_CREAT open meets).
    let fifo = shared.join("fifo.yaml");
    make_fifo(&fifo);
    std::os::unix::fs::lchown(&fifo, Some(65534), Some(65534)).unwrap();
    let run = ws.keytap(["decrypt", "--output", fifo.to_str().unwrap(), "s.yaml"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.assert_stderr_has("permission denied");
    // Our own link there is followed.
    let ours = shared.join("ours.yaml");
    std::os::unix::fs::symlink(ws.path("mine.yaml"), &ours).unwrap();
    let run = ws.keytap(["decrypt", "--output", ours.to_str().unwrap(), "s.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::read_to_string(ws.path("mine.yaml"))
        .unwrap()
        .contains("a: one"));

    // A directory others can write without the sticky bit, where the kernel protects
    // nothing (and sops follows and opens whatever is there): another user's link to a
    // file of theirs, or their FIFO (write-only for others: keytap opens it write-only),
    // gets no plaintext either. Encrypted output still follows the link, as with sops.
    let open = ws.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let link = open.join("out.yaml");
    std::os::unix::fs::symlink(&their_file, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    let fifo = open.join("fifo.yaml");
    make_fifo(&fifo);
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o622)).unwrap();
    std::os::unix::fs::lchown(&fifo, Some(65534), Some(65534)).unwrap();
    for (path, says) in [
        (&link, "it is a link of another user (uid 65534)"),
        (
            &fifo,
            "it belongs to another user (uid 65534), who could read the plaintext",
        ),
    ] {
        let run = ws.keytap(["decrypt", "--output", path.to_str().unwrap(), "s.yaml"]);
        assert_eq!(run.code, 3, "{}", run.stderr);
        run.assert_stderr_has(says);
    }
    assert_eq!(std::fs::read_to_string(&their_file).unwrap(), "");
    let run = ws.keytap([
        "encrypt",
        "--age",
        &ws.recipient,
        "--output",
        link.to_str().unwrap(),
        "plain.yaml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::read_to_string(&their_file)
        .unwrap()
        .contains("ENC["));

    // Nor into a directory another user made in a directory anyone may write, however it
    // is reached (named, or through a link earlier in the path): their FIFO or file there
    // would hand them the plaintext (sops writes into both).
    let build = shared.join("build");
    std::fs::create_dir(&build).unwrap();
    make_fifo(&build.join("env"));
    std::fs::write(build.join("out.yaml"), "").unwrap();
    for p in [&build, &build.join("env"), &build.join("out.yaml")] {
        std::os::unix::fs::lchown(p, Some(65534), Some(65534)).unwrap();
    }
    let via = open.join("via");
    std::os::unix::fs::symlink(&build, &via).unwrap();
    for target in [
        build.join("env"),
        build.join("out.yaml"),
        via.join("out.yaml"),
    ] {
        let run = ws.keytap(["decrypt", "--output", target.to_str().unwrap(), "s.yaml"]);
        assert_eq!(run.code, 3, "{}: {}", target.display(), run.stderr);
        run.assert_stderr_has("a directory on its path belongs to another user (uid 65534)");
    }
    let run = ws.keytap(["decrypt", "--output-dir", build.to_str().unwrap(), "s.yaml"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(build.join("out.yaml")).unwrap(), "");
    assert!(!build.join("s.yaml").exists());
}

#[test]
fn plaintext_outputs_are_private_under_any_umask() {
    let ws = with_secrets();
    let umask_then = |args: &str| {
        ws.run("sh", |c| {
            c.arg("-c").arg(format!(
                "umask 000 && exec {} {args}",
                keytap_bin().display()
            ));
        })
    };
    // decrypt --output and decrypt -i.
    let run = umask_then("decrypt --output plain-out.yaml s.yaml");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(mode(&ws.path("plain-out.yaml")), 0o600);
    std::fs::copy(ws.path("s.yaml"), ws.path("t.yaml")).unwrap();
    std::fs::set_permissions(ws.path("t.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = umask_then("decrypt -i t.yaml");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(mode(&ws.path("t.yaml")), 0o600);
    // exec-file: the directory around the FIFO (or file) is 0700, the file 0600, and both
    // are gone afterwards.
    for flag in ["", "--no-fifo"] {
        let run = umask_then(&format!(
            "exec-file {flag} s.yaml 'stat -c %a $(dirname {{}}) && stat -c %a {{}} && echo {{}} > where && cat {{}}'"
        ));
        assert_eq!(run.code, 0, "{flag}: {}", run.stderr);
        let out = run.out();
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("700"), "{flag}: {out}");
        assert_eq!(lines.next(), Some("600"), "{flag}: {out}");
        assert!(out.contains("a: one"), "{flag}: {out}");
        let path = std::fs::read_to_string(ws.path("where")).unwrap();
        assert!(
            !Path::new(path.trim()).parent().unwrap().exists(),
            "{flag}: left behind"
        );
    }
    // edit's copy.
    let editor = ws.write(
        "editor.sh",
        "#!/bin/sh\nstat -c %a \"$(dirname \"$1\")\" \"$1\" > modes\nsed -i s/one/uno/ \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = ws.run("sh", |c| {
        c.arg("-c")
            .arg(format!(
                "umask 000 && exec {} edit s.yaml",
                keytap_bin().display()
            ))
            .env("EDITOR", &editor);
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(String::from_utf8(ws.read("modes")).unwrap(), "700\n600\n");
}

#[test]
fn a_failed_edit_write_keeps_the_users_edit_privately() {
    let ws = with_secrets();
    let editor = ws.write(
        "editor.sh",
        // Edit, then make the file unwritable before keytap writes it back.
        "#!/bin/sh\nsed -i s/one/uno/ \"$1\"\nchmod 444 s.yaml\n",
    );
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(ws.path("s.yaml"), Some(65534), Some(65534)).unwrap();
    let run = keytap_as_nobody_with_editor(&ws, &editor);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let kept = run
        .stderr
        .lines()
        .find_map(|l| l.split("kept in plaintext at ").nth(1))
        .and_then(|rest| rest.split(" (mode 0600").next())
        .unwrap_or_else(|| panic!("no path in {}", run.stderr))
        .to_string();
    let kept = Path::new(&kept);
    assert!(std::fs::read_to_string(kept).unwrap().contains("uno"));
    assert_eq!(mode(kept), 0o600);
    assert_eq!(mode(kept.parent().unwrap()), 0o700);
    std::fs::remove_dir_all(kept.parent().unwrap()).unwrap();
}

fn keytap_as_nobody_with_editor(ws: &Workspace, editor: &Path) -> Run {
    for p in [ws.dir.path(), &ws.path("home")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::fs::set_permissions(&ws.keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    ws.run("setpriv", |c| {
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(keytap_bin())
            .args(["edit", "s.yaml"])
            .env("EDITOR", editor);
    })
}

#[test]
fn non_utf8_file_names_work_and_are_quoted_as_sops_quotes_them() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let ws = with_secrets();
    let name = OsStr::from_bytes(b"\xff.yaml");
    std::fs::copy(ws.path("plain.yaml"), ws.dir.path().join(name)).unwrap();
    let run = ws.keytap([
        OsStr::new("encrypt"),
        OsStr::new("-i"),
        OsStr::new("--age"),
        OsStr::new(&ws.recipient),
        name,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = ws.keytap([OsStr::new("decrypt"), name]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.out().contains("a: one"));
    let missing = OsStr::from_bytes(b"\xfd.yaml");
    let run = ws.keytap([OsStr::new("decrypt"), missing]);
    assert_eq!(run.code, 100, "{}", run.stderr);
    run.assert_stderr_has(r#"\xfd.yaml""#);
}

/// Waits (20 s at most) until `path` exists.
fn wait_for(path: &Path) {
    let start = std::time::Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed().as_secs() < 20,
            "{} never came",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn every_catchable_terminating_signal_removes_the_plaintext_copy() {
    let ws = with_secrets();
    let tmp = ws.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let left = || std::fs::read_dir(&tmp).unwrap().count();
    // (signal, exit code): SIGINT's is sops's (85); the others 128 + the signal's number.
    for (signal, code) in [
        ("TERM", 143),
        ("INT", 85),
        ("HUP", 129),
        ("QUIT", 131),
        ("USR1", 138),
        ("USR2", 140),
        ("ALRM", 142),
    ] {
        let started = ws.path(&format!("started-{signal}"));
        // The command says it runs (the plaintext copy exists by then), then waits to be
        // stopped: its shell's pid is in the file it makes.
        let command = format!("echo $$ > {} && exec sleep 60", started.display());
        let mut child = ws
            .command(keytap_bin())
            .args(["exec-file", "--no-fifo", "s.yaml", &command])
            .env("TMPDIR", &tmp)
            .spawn()
            .unwrap();
        wait_for(&started);
        assert_eq!(
            left(),
            1,
            "{signal}: the copy is there while the command runs"
        );
        let kill = |sig: &str, pid: &str| {
            std::process::Command::new("kill")
                .args([format!("-{sig}"), pid.to_string()])
                .status()
                .unwrap()
        };
        assert!(kill(signal, &child.id().to_string()).success());
        let status = child.wait().unwrap();
        let sleeper = std::fs::read_to_string(&started).unwrap();
        kill("KILL", sleeper.trim());
        assert_eq!(status.code(), Some(code), "{signal}");
        assert_eq!(left(), 0, "{signal}: the plaintext copy was left behind");
    }
    // edit's copy, on SIGQUIT (Ctrl-\), whose default would also dump memory to a core,
    // sent to keytap and its editor alike (a terminal signals its foreground group): the
    // copy goes; its directory stays, empty and private (an editor's server, which keytap
    // cannot see, may outlive its client and save again there).
    let editor = ws.write(
        "editor.sh",
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 60\n",
            ws.path("editing").display()
        ),
    );
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let edit = || {
        let _ = std::fs::remove_file(ws.path("editing"));
        let child = ws
            .command(keytap_bin())
            .args(["edit", "s.yaml"])
            .env("TMPDIR", &tmp)
            .env("EDITOR", &editor)
            .process_group(0)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for(&ws.path("editing"));
        assert_eq!(left(), 1);
        child
    };
    let child = edit();
    let group = format!("-{}", child.id());
    std::process::Command::new("kill")
        .args(["-QUIT", "--", &group])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(131));
    let kept: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
    assert_eq!(kept.len(), 1, "the editor's directory is kept");
    assert_eq!(
        std::fs::read_dir(kept[0].path()).unwrap().count(),
        0,
        "edit's copy was left behind"
    );
    std::fs::remove_dir(kept[0].path()).unwrap();
    // An editor that outlives keytap (one ignoring the signal; a GUI editor's server): the
    // copy goes, its directory stays, empty and private, so that no one else can make a
    // directory by that name in a shared /tmp and receive the editor's next save.
    let mut child = edit();
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    let kept: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
    assert_eq!(kept.len(), 1, "the editor's directory is kept");
    let dir = kept[0].path();
    let meta = std::fs::symlink_metadata(&dir).unwrap();
    assert!(meta.is_dir() && meta.mode() & 0o777 == 0o700);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "the copy is gone"
    );
    // The editor holds keytap's stderr open: its end ends the stream.
    let editor_pid = std::fs::read_to_string(ws.path("editing")).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", editor_pid.trim()])
        .status();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "The editor may still be running: its directory {} is kept",
            dir.display()
        )),
        "{stderr}"
    );
    std::fs::remove_dir(&dir).unwrap();
    assert_eq!(
        decrypted(&ws, &ws.path("s.yaml")),
        "one",
        "the file is unchanged"
    );
}

#[test]
fn keytaps_memory_is_closed_to_the_users_other_processes() {
    // A non-dumpable process's /proc entries belong to root, so another process of the
    // same user cannot read its memory or attach to it; the command keytap runs is its
    // child, and dumpable again after exec.
    let ws = with_secrets();
    std::fs::set_permissions(ws.path("s.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = keytap_as_nobody(
        &ws,
        &[
            "exec-env",
            "s.yaml",
            "stat -c %u /proc/$PPID/mem /proc/$$/mem",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out(), "0\n65534\n");
}

/// Anyone who can read a secrets file can `flock` it. A lock held only by another user
/// who cannot be changing the file (not the owner, not root) is not waited for: `set`
/// goes on, saying so, where it used to wait as long as the other user liked.
#[test]
fn another_users_lock_on_a_readable_file_stops_no_change() {
    let ws = with_secrets();
    std::fs::set_permissions(ws.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = ws.path("s.yaml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut holder = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["flock", "--shared"])
        .arg(&file)
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    // The lock is taken once the kernel lists it for that process.
    let listed = format!(" {} ", holder.id());
    let start = std::time::Instant::now();
    while !std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|l| l.contains(&listed))
    {
        assert!(start.elapsed().as_secs() < 20, "the lock was never taken");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let run = ws.run("timeout", |c| {
        c.arg("20")
            .arg(keytap_bin())
            .args(["set", "s.yaml", r#"["a"]"#, r#""changed""#]);
    });
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_stderr_has("who cannot be changing it; not waiting for it");
    assert_eq!(decrypted(&ws, &file), "changed");

    let locked_by_nobody = |command: &str| {
        let holder = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["flock", "--shared"])
            .arg(&file)
            .args(["sh", "-c", command])
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while !std::fs::read_to_string("/proc/locks")
            .unwrap()
            .lines()
            .any(|l| l.contains(&format!(" {} ", holder.id())))
        {
            assert!(start.elapsed().as_secs() < 20, "the lock was never taken");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        holder
    };
    let set = |value: &str| {
        ws.run("timeout", |c| {
            c.arg("3")
                .arg(keytap_bin())
                .args(["set", "s.yaml", r#"["a"]"#, value]);
        })
    };
    // A holder the kernel's table cannot name any more (it left the lock to a child and
    // exited): not waited for either.
    let mut holder = locked_by_nobody("sleep 61.25 & sleep 0.3");
    let _ = holder.wait();
    let run = set(r#""again""#);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_stderr_has("of a user that cannot be told, who cannot be changing it");
    let _ = std::process::Command::new("pkill")
        .args(["-u", "65534", "-f", "^sleep 61.25$"])
        .status();
    // A member of the file's group, when the group may write it, may be changing it:
    // waited for.
    std::os::unix::fs::chown(&file, None, Some(65534)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
    let mut holder = locked_by_nobody("sleep 60");
    let run = set(r#""waited""#);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(run.code, 124, "{}", run.stderr);
    run.assert_stderr_has("waiting for another process to finish changing");
}
