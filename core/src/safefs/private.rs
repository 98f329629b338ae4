//! Private directories for plaintext that has to exist as a file for a while.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A directory only its owner can enter: created 0700 in one step (never wider, whatever
/// the umask), removed with everything in it when dropped unless [`PrivateDir::keep`] is
/// called. sops makes the same kind of directory for its editor copy and exec-file.
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
    keep: bool,
}

impl PrivateDir {
    /// Creates `$TMPDIR/<prefix><6 random characters>`.
    pub fn create(prefix: &str) -> io::Result<PrivateDir> {
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let path = base.join(format!("{prefix}{}", super::random_suffix()));
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let dir = PrivateDir { path, keep: false };
                    dir.check()?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "could not find a free temporary directory name",
        ))
    }

    /// The umask can only have removed bits; make it exactly 0700 and ours.
    fn check(&self) -> io::Result<()> {
        let meta = std::fs::symlink_metadata(&self.path)?;
        if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() {
            return Err(io::Error::other(format!(
                "{} is not a directory of ours",
                self.path.display()
            )));
        }
        if meta.permissions().mode() & 0o7777 != 0o700 {
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates `name` in the directory (0600, never through a link, never an existing file)
    /// and writes `data` to it.
    pub fn create_file(&self, name: &std::ffi::OsStr, data: &[u8]) -> io::Result<PathBuf> {
        let path = self.path.join(name);
        let mut f = Self::open_new(&path)?;
        f.write_all(data)?;
        f.sync_all()?;
        Ok(path)
    }

    /// Opens a new private file at `path` for writing (`O_EXCL | O_NOFOLLOW`, 0600).
    pub fn open_new(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
    }

    /// Makes a FIFO `name` in the directory (0600), for plaintext that is read once and
    /// never stored.
    pub fn create_fifo(&self, name: &std::ffi::OsStr) -> io::Result<PathBuf> {
        let path = self.path.join(name);
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )?;
        Ok(path)
    }

    /// Opens a FIFO for writing (blocking until a reader comes), never through a link,
    /// and only if it is still a FIFO.
    pub fn open_fifo_writer(path: &Path) -> io::Result<File> {
        let f = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        use std::os::unix::fs::FileTypeExt;
        if !f.metadata()?.file_type().is_fifo() {
            return Err(io::Error::other(format!(
                "{} is no longer the FIFO keytap made",
                path.display()
            )));
        }
        Ok(f)
    }

    /// Keeps the directory and its files (the editor's copy after a failed write), and
    /// returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_0700_even_under_umask_000_and_gone_after_drop() {
        let _serial = crate::safefs::UMASK_TEST_LOCK.lock();
        let old = rustix::process::umask(rustix::fs::Mode::empty());
        let dir = PrivateDir::create("keytap-test-");
        rustix::process::umask(old);
        let dir = dir.unwrap();
        let path = dir.path().to_path_buf();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        let f = dir.create_file("x".as_ref(), b"secret").unwrap();
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            dir.create_file("x".as_ref(), b"again").is_err(),
            "no overwrite"
        );
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let dir = PrivateDir::create("keytap-test-").unwrap();
        let target = dir.path().join("target");
        std::os::unix::fs::symlink("/dev/null", &target).unwrap();
        assert!(dir.create_file("target".as_ref(), b"secret").is_err());
    }
}
