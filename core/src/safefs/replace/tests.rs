use super::*;
use std::os::unix::fs::PermissionsExt;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A fresh temporary directory holding the file `name` with `contents`.
fn file_in_temp_dir(name: &str, contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, contents).unwrap();
    (dir, file)
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_symlinked_file_is_written_through_the_link() {
    let (dir, real) = file_in_temp_dir("real.yaml", "old");
    let link = dir.path().join("link.yaml");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("real.yaml", &link).unwrap();
    let w = replace(&Replace::new(&link, Contents::Encrypted), b"new").unwrap();
    assert_eq!(w, Written::Renamed);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&real).unwrap(), b"new");
    assert_eq!(mode(&real), 0o640);
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn owner_group_and_mode_are_kept_when_root_rewrites_another_users_file() {
    if rustix::process::geteuid().as_raw() != 0 {
        return; // needs root to hand a file to someone else (CI runs as root)
    }
    let (_dir, f) = file_in_temp_dir("s.yaml", "old");
    std::os::unix::fs::chown(&f, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(
        replace(&Replace::new(&f, Contents::Encrypted), b"new").unwrap(),
        Written::Renamed
    );
    let m = std::fs::metadata(&f).unwrap();
    assert_eq!((m.uid(), m.gid(), mode(&f)), (65534, 65534, 0o640));
}

#[test]
fn a_hard_linked_file_is_rewritten_in_place_so_both_names_see_it() {
    let (dir, a) = file_in_temp_dir("a", "a much longer old content");
    let b = dir.path().join("b");
    std::fs::hard_link(&a, &b).unwrap();
    let ino = std::fs::metadata(&a).unwrap().ino();
    let w = replace(&Replace::new(&a, Contents::Encrypted), b"short").unwrap();
    assert_eq!(w, Written::InPlace);
    assert_eq!(std::fs::read(&b).unwrap(), b"short");
    assert_eq!(std::fs::metadata(&a).unwrap().ino(), ino);
}

#[test]
fn hard_links_are_refused_where_in_place_is_not_allowed() {
    let (dir, a) = file_in_temp_dir("a", "x");
    std::fs::hard_link(&a, dir.path().join("b")).unwrap();
    let mut opts = Replace::new(&a, Contents::Plaintext);
    opts.allow_in_place = false;
    assert!(matches!(
        replace(&opts, b"secret"),
        Err(ReplaceError::Write { .. })
    ));
    assert_eq!(std::fs::read(&a).unwrap(), b"x");
}

#[test]
fn plaintext_is_private_whatever_the_old_mode() {
    let (dir, f) = file_in_temp_dir("p", "x");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
    replace(&Replace::new(&f, Contents::Plaintext), b"secret").unwrap();
    assert_eq!(mode(&f), 0o600);
    let new = dir.path().join("new");
    replace(&Replace::new(&new, Contents::Plaintext), b"secret").unwrap();
    assert_eq!(mode(&new), 0o600);
}

#[test]
fn without_following_a_planted_symlink_is_replaced_not_written_through() {
    let (dir, victim) = file_in_temp_dir("victim", "keep");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = dir.path().join("out");
    std::os::unix::fs::symlink(&victim, &out).unwrap();
    let mut opts = Replace::new(&out, Contents::Plaintext);
    opts.follow_symlinks = false;
    replace(&opts, b"secret").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert!(std::fs::symlink_metadata(&out).unwrap().is_file());
    assert_eq!(mode(&out), 0o600);
}

#[test]
fn create_new_refuses_an_existing_file() {
    let (_dir, f) = file_in_temp_dir("f", "theirs");
    let mut opts = Replace::new(&f, Contents::Encrypted);
    opts.create_new = true;
    assert!(matches!(
        replace(&opts, b"mine"),
        Err(ReplaceError::Exists(_))
    ));
    assert_eq!(std::fs::read(&f).unwrap(), b"theirs");
}

#[test]
fn stale_temporary_files_of_ours_are_removed_under_the_lock() {
    let (dir, f) = file_in_temp_dir("s.yaml", "x");
    let stale = dir.path().join(".s.yaml.AbC123.tmp");
    let other = dir.path().join(".s.yaml.notours.tmp");
    std::fs::write(&stale, "plaintext left by kill -9").unwrap();
    std::fs::write(&other, "x").unwrap();
    let mut opts = Replace::new(&f, Contents::Encrypted);
    opts.locked = true;
    replace(&opts, b"y").unwrap();
    assert!(!stale.exists());
    assert!(other.exists(), "only our exact pattern is removed");
}

#[test]
fn new_encrypted_files_get_the_umask_mode() {
    let _serial = crate::safefs::UMASK_TEST_LOCK.lock();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("new.yaml");
    replace(&Replace::new(&f, Contents::Encrypted), b"enc").unwrap();
    let umask = rustix::process::umask(Mode::from_raw_mode(0o022));
    rustix::process::umask(umask);
    assert_eq!(mode(&f), 0o666 & !umask.bits());
}

#[test]
fn devices_are_written_directly() {
    let w = replace(
        &Replace::new(Path::new("/dev/null"), Contents::Plaintext),
        b"x",
    )
    .unwrap();
    assert_eq!(w, Written::Direct);
}

#[test]
fn a_full_device_reports_no_space() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        return;
    }
    let err = replace(&Replace::new(full, Contents::Encrypted), b"x").unwrap_err();
    assert!(err.to_string().contains("no space left on device"), "{err}");
}
