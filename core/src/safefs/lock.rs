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
#[derive(Debug)]
pub struct LockedFile {
    file: File,
}

impl LockedFile {
    /// Opens `path` (through symlinks) and locks it, calling `on_wait` once if another
    /// process holds the lock. A file system without `flock` support gives an unlocked
    /// handle rather than an error, as the lock is only advisory.
    pub fn open(path: &Path, mut on_wait: impl FnMut()) -> io::Result<LockedFile> {
        let mut waited = false;
        loop {
            let file = File::open(path)?;
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    if !waited {
                        on_wait();
                        waited = true;
                    }
                    flock(&file, FlockOperation::LockExclusive)?;
                }
                Err(rustix::io::Errno::NOLCK | rustix::io::Errno::OPNOTSUPP) => {
                    return Ok(LockedFile { file })
                }
                Err(e) => return Err(e.into()),
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
        let first = LockedFile::open(&path, || panic!("nobody holds it")).unwrap();
        let waits = Arc::new(AtomicUsize::new(0));
        let (p, w) = (path.clone(), waits.clone());
        let second = std::thread::spawn(move || {
            let mut l = LockedFile::open(&p, || {
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
