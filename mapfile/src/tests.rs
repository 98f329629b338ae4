use super::*;
use std::io::Write;
use std::process::Command;

/// Runs the test `name` of this binary in a child with `KEYTAP_MAPFILE_CHILD` set.
fn run_child(name: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("KEYTAP_MAPFILE_CHILD", "1")
        .output()
        .unwrap()
}

fn file_of(len: usize) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    f.write_all(&bytes).unwrap();
    f.flush().unwrap();
    f
}

#[test]
fn a_mapped_file_reads_as_its_bytes() {
    let f = file_of(3 * 4096 + 17);
    let expected = std::fs::read(f.path()).unwrap();
    let mapped = map(f.as_file(), expected.len() as u64, f.path()).unwrap();
    assert_eq!(&*mapped, &expected[..]);
    // One mapping at a time: a second falls back to reading.
    assert!(map(f.as_file(), 10, f.path()).is_none());
    drop(mapped);
    assert!(map(f.as_file(), 10, f.path()).is_some());
    // Nothing to map in an empty file.
    assert!(map(f.as_file(), 0, f.path()).is_none());
    // Nor in one another user could change meanwhile: it is read instead.
    use std::os::unix::fs::PermissionsExt;
    for (mode, mapped) in [(0o664, false), (0o646, false), (0o644, true)] {
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        let m = map(f.as_file(), 10, f.path());
        assert_eq!(m.is_some(), mapped, "mode {mode:o}");
    }
}

#[test]
fn a_file_truncated_while_mapped_exits_2_naming_it() {
    if std::env::var_os("KEYTAP_MAPFILE_CHILD").is_some() {
        let f = file_of(64 * 1024);
        let mapped = map(f.as_file(), 64 * 1024, f.path()).unwrap();
        assert_eq!(mapped[100], 100);
        f.as_file().set_len(0).unwrap();
        // The page is gone: this read raises SIGBUS, which must end the run cleanly.
        let byte = std::hint::black_box(mapped[60 * 1024]);
        println!("read {byte} after the truncation");
        std::process::exit(99);
    }
    let out = run_child("tests::a_file_truncated_while_mapped_exits_2_naming_it");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(EXIT_FILE_SHRANK),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("Error reading file: read /")
            && stderr.ends_with("the file shrank while it was read\n"),
        "stderr: {stderr}"
    );
}

#[test]
fn a_sigbus_elsewhere_is_not_swallowed() {
    if std::env::var_os("KEYTAP_MAPFILE_CHILD").is_some() {
        let f = file_of(8192);
        let guarded = map(f.as_file(), 8192, f.path()).unwrap();
        // A second, unguarded mapping of another file, truncated: its SIGBUS is not ours.
        let g = file_of(64 * 1024);
        // SAFETY: a test of exactly this fault.
        let other = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                64 * 1024,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                std::os::fd::AsRawFd::as_raw_fd(g.as_file()),
                0,
            )
        };
        g.as_file().set_len(0).unwrap();
        let byte = unsafe { std::ptr::read_volatile(other.cast::<u8>().add(60 * 1024)) };
        println!("read {byte} {}", guarded[0]);
        std::process::exit(99);
    }
    let out = run_child("tests::a_sigbus_elsewhere_is_not_swallowed");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGBUS), "{:?}", out);
}

#[test]
fn a_sigbus_sent_by_a_process_is_not_taken_for_a_shrunk_file() {
    if std::env::var_os("KEYTAP_MAPFILE_CHILD").is_some() {
        let f = file_of(8192);
        let mapped = map(f.as_file(), 8192, f.path()).unwrap();
        // A queued SIGBUS whose address field points into the mapping, as a process may
        // send one: only a fault of the mapping means the file shrank.
        #[repr(C)]
        struct QueuedInfo {
            signo: i32,
            errno: i32,
            code: i32,
            pad: i32,
            addr: usize,
            rest: [u8; 104],
        }
        let info = QueuedInfo {
            signo: libc::SIGBUS,
            errno: 0,
            code: libc::SI_QUEUE,
            pad: 0,
            addr: mapped.as_ptr() as usize + 100,
            rest: [0; 104],
        };
        // SAFETY: a signal to this thread with a siginfo of the kernel's size.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_rt_tgsigqueueinfo,
                libc::getpid(),
                libc::gettid(),
                libc::SIGBUS,
                &info as *const QueuedInfo,
            )
        };
        assert_eq!(sent, 0, "{}", std::io::Error::last_os_error());
        println!("still running after the signal: {}", mapped[0]);
        std::process::exit(99);
    }
    let out = run_child("tests::a_sigbus_sent_by_a_process_is_not_taken_for_a_shrunk_file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("shrank"), "stderr: {stderr}");
    // It ends the process as SIGBUS does by default.
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGBUS), "{out:?}");
}
