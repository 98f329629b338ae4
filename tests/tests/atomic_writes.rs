//! Writes are atomic: when the target cannot be written (read-only file system, full disk),
//! the command fails with sops's write exit code and the old file is untouched.
//! Needs root for the mounts (CI runs as root).

use std::path::{Path, PathBuf};
use std::process::Command;

use keytap_e2e::Workspace;

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount(args: &[&str], target: &Path) -> Mount {
    let status = Command::new("mount")
        .args(args)
        .arg(target)
        .status()
        .expect("mount");
    assert!(
        status.success(),
        "mount {args:?} failed (these tests need root)"
    );
    Mount(target.to_path_buf())
}

fn setup(ws: &Workspace, dir: &Path) -> Vec<u8> {
    let enc = ws.encrypt_plain("plain.json", r#"{"a": "one", "b": "two"}"#);
    std::fs::write(dir.join("s.json"), &enc).unwrap();
    enc
}

#[test]
fn read_only_file_system_leaves_the_file_untouched() {
    let ws = Workspace::new();
    let dir = ws.path("ro");
    std::fs::create_dir_all(&dir).unwrap();
    let original = setup(&ws, &dir);
    let _bind = mount(&["--bind", dir.to_str().unwrap()], &dir);
    let _ro = mount(&["-o", "remount,ro,bind"], &dir);
    let file = dir.join("s.json");
    let run = ws.keytap(["set", file.to_str().unwrap(), r#"["a"]"#, r#""changed""#]);
    assert_eq!(run.code, 3, "write failure must exit 3: {}", run.stderr);
    assert!(
        run.stderr.contains("s.json"),
        "error names the file: {}",
        run.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), original);
    let run = ws.keytap(["encrypt", "-i", file.to_str().unwrap()]);
    assert_ne!(run.code, 0);
    assert_eq!(std::fs::read(&file).unwrap(), original);
}

#[test]
fn full_disk_leaves_the_file_untouched() {
    let ws = Workspace::new();
    let dir = ws.path("full");
    std::fs::create_dir_all(&dir).unwrap();
    let _tmpfs = mount(&["-t", "tmpfs", "-o", "size=64k", "tmpfs"], &dir);
    let original = setup(&ws, &dir);
    // Fill the file system.
    let filler = dir.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 256 * 1024]);
    let file = dir.join("s.json");
    let big = format!("\"{}\"", "x".repeat(100_000));
    let run = ws.keytap(["set", file.to_str().unwrap(), r#"["a"]"#, &big]);
    // sops exits 1 with Go's write error (and leaves a truncated file); keytap exits the
    // same and leaves the old file whole.
    assert_eq!(
        run.code, 1,
        "a full disk exits 1 as in sops: {}",
        run.stderr
    );
    run.assert_stderr_has("no space left on device");
    assert_eq!(std::fs::read(&file).unwrap(), original, "old file damaged");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "s.json" && n != "filler")
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
    // And the file still decrypts.
    let dec = ws.keytap(["decrypt", file.to_str().unwrap()]);
    assert_eq!(dec.code, 0, "{}", dec.stderr);
}
