//! An exclusive advisory lock (`flock`) held from reading a file to replacing it.

use std::fs::File;
use std::io::{self, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

/// A file opened for a read-modify-write and locked exclusively; the lock goes with the
/// value (drop it after the new contents are in place).
///
/// A writer that replaces the file by rename leaves the lock on the old inode, so after
/// getting the lock the path is checked to still name the locked inode; if it does not,
/// the new file is opened and locked in turn. Every keytap command that changes a file
/// takes this lock, so concurrent `set`s apply one after the other.
///
/// Anyone who can read a file can lock it, so a lock held only by other users' processes
/// that could not be changing the file (neither this user, nor root, nor the file's
/// owner) is not waited for: waiting would let any reader of a checkout stop every change
/// to it for as long as they like.
#[derive(Debug)]
pub struct LockedFile {
    file: File,
}

/// Why [`LockedFile::open`] did not get the lock at once.
#[derive(Debug, PartialEq, Eq)]
pub enum LockWait {
    /// Another process that may be changing the file holds it: waiting.
    Waiting,
    /// Only a process of another user holds it: going on without the lock.
    NotWaitingFor {
        /// The process.
        pid: u32,
        /// Its user, if it can be told.
        uid: Option<u32>,
    },
}

/// How often a held lock is tried again.
const RETRY: std::time::Duration = std::time::Duration::from_millis(20);

impl LockedFile {
    /// Opens `path` (through symlinks) and locks it, calling `on_wait` once if another
    /// process holds the lock (see [`LockWait`]). A file system without `flock` support
    /// gives an unlocked handle rather than an error, as the lock is only advisory.
    pub fn open(path: &Path, mut on_wait: impl FnMut(&LockWait)) -> io::Result<LockedFile> {
        let mut waited = false;
        loop {
            let file = File::open(path)?;
            loop {
                match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                    Ok(()) => break,
                    Err(rustix::io::Errno::WOULDBLOCK) => {
                        let held = file.metadata()?;
                        if let Some((pid, uid)) = only_other_users_hold(&held) {
                            on_wait(&LockWait::NotWaitingFor { pid, uid });
                            return Ok(LockedFile { file });
                        }
                        if !waited {
                            on_wait(&LockWait::Waiting);
                            waited = true;
                        }
                        std::thread::sleep(RETRY);
                    }
                    Err(rustix::io::Errno::NOLCK | rustix::io::Errno::OPNOTSUPP) => {
                        return Ok(LockedFile { file })
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let held = file.metadata()?;
            let now = std::fs::metadata(path)?;
            if held.dev() == now.dev() && held.ino() == now.ino() {
                return Ok(LockedFile { file });
            }
        }
    }

    /// The whole contents, read from the locked handle.
    pub fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        self.file.rewind()?;
        super::read_bounded(&mut self.file)
    }
}

/// One of the processes holding a lock on `file`, when no holder the kernel lists
/// (`/proc/locks`) could be changing it: each is another user's, not root's or the owner's,
/// and not of the file's group where the group may write it (nor is the file writable by
/// all). A holder whose user cannot be read (it has exited and left the lock to a child,
/// or `/proc` hides it) counts as another user's. None when one may be changing the file.
fn only_other_users_hold(file: &std::fs::Metadata) -> Option<(u32, Option<u32>)> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let wanted = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(file.dev()),
        rustix::fs::minor(file.dev()),
        file.ino()
    );
    if file.mode() & 0o002 != 0 {
        return None;
    }
    let ours = rustix::process::geteuid().as_raw();
    let mut found = None;
    for line in locks.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // "1: FLOCK ADVISORY WRITE <pid> <maj:min:ino> 0 EOF"; waiters are "1: -> FLOCK".
        if fields.get(1) == Some(&"->") || fields.get(5) != Some(&wanted.as_str()) {
            continue;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        let holder = Holder::of(pid);
        let may_change = holder.as_ref().is_some_and(|h| {
            h.uid == ours
                || h.uid == 0
                || h.uid == file.uid()
                || (file.mode() & 0o020 != 0 && h.groups.contains(&file.gid()))
        });
        if may_change {
            return None;
        }
        found = Some((pid, holder.map(|h| h.uid)));
    }
    found
}

/// Who a process is, from `/proc/PID/status`.
struct Holder {
    /// Its effective uid.
    uid: u32,
    /// Its effective gid and supplementary groups.
    groups: Vec<u32>,
}

impl Holder {
    fn of(pid: u32) -> Option<Holder> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)).map(|v| {
                v.split_whitespace()
                    .filter_map(|n| n.parse::<u32>().ok())
                    .collect::<Vec<_>>()
            })
        };
        let uid = *field("Uid:")?.get(1)?;
        let mut groups = field("Groups:").unwrap_or_default();
        groups.push(*field("Gid:")?.get(1)?);
        Some(Holder { uid, groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_second_locker_waits_until_the_first_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "0").unwrap();
        let first = LockedFile::open(&path, |_| panic!("nobody holds it")).unwrap();
        let waits = Arc::new(AtomicUsize::new(0));
        let (p, w) = (path.clone(), waits.clone());
        let second = std::thread::spawn(move || {
            let mut l = LockedFile::open(&p, |wait| {
                assert_eq!(*wait, LockWait::Waiting, "this process's own lock");
                w.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
            l.read_to_end().unwrap()
        });
        while waits.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        // Replace by rename while holding the lock, as `replace` does.
        let tmp = dir.path().join("f.new");
        std::fs::write(&tmp, "1").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        drop(first);
        assert_eq!(
            second.join().unwrap(),
            b"1",
            "the waiter reads the new file"
        );
        assert_eq!(waits.load(Ordering::SeqCst), 1);
    }
}
