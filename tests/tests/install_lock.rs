//! The installer's lock against concurrent runs is its own: another user can neither hold
//! it (and stall every activation and boot) nor plant it.

mod install_common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

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
