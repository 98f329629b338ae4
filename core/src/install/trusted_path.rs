//! A secret's `path` may lie anywhere, under directories other users own
//! (`/home/alice/.config/app/token`). Resolving such a path string as root lets the
//! directories' owner point it elsewhere: a symlink swapped in for `app` turns the
//! installer's remove-then-link into root deleting and replacing a file of the same name in
//! any directory (sops-nix's `os.Remove`/`os.Symlink` on the path string do just that).
//!
//! So the parent directory is opened one component at a time, creating what is missing,
//! and a symlink on the way is followed only when it belongs to root or to the user the
//! installer runs as; every change is then made relative to that open directory, which no
//! rename or swap of a name on the way can redirect.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

/// How many symlinks a path may pass through, as the kernel's limit (`ELOOP`).
const MAX_SYMLINKS: usize = 40;

/// Opens directory `dir`, creating missing components (mode 0777 less the umask, as
/// `mkdir -p`). A symlink on the way is followed only when it belongs to root or to
/// `trusted_uid`; any other is an error naming it.
pub fn open_dir(dir: &Path, trusted_uid: u32) -> Result<OwnedFd, String> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let open = |at: &OwnedFd, name: &OsStr| rustix::fs::openat(at, name, flags, Mode::empty());
    let start = if dir.is_absolute() { "/" } else { "." };
    let mut fd = rustix::fs::openat(CWD, start, flags, Mode::empty())
        .map_err(|e| format!("cannot open '{start}': {e}"))?;
    // Components still to walk, the next one last; `walked` is the path so far, for messages.
    let mut todo: Vec<PathBuf> = components_reversed(dir);
    let mut walked = PathBuf::from(start);
    let mut hops = 0;
    while let Some(component) = todo.pop() {
        let name = component.as_os_str();
        if component == Path::new("/") {
            fd = open(&fd, OsStr::new("/")).map_err(|e| format!("cannot open '/': {e}"))?;
            walked = PathBuf::from("/");
            continue;
        }
        let here = walked.join(name);
        match open(&fd, name) {
            Ok(next) => fd = next,
            Err(Errno::NOENT) => {
                match rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(0o777)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(format!("mkdir {}: {e}", here.display())),
                }
                fd = open(&fd, name).map_err(|e| format!("open {}: {e}", here.display()))?;
            }
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let target = trusted_link(&fd, name, &here, trusted_uid)?;
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(format!(
                        "{}: too many levels of symbolic links",
                        here.display()
                    ));
                }
                todo.extend(components_reversed(&target));
                continue;
            }
            Err(e) => return Err(format!("open {}: {e}", here.display())),
        }
        walked = here;
    }
    Ok(fd)
}

/// `path`'s components that name something (`/`, `..` and names; `.` is dropped), last
/// first.
fn components_reversed(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    out.reverse();
    out
}

/// The target of symlink `name` in `dir` (at `here`), if root or `trusted_uid` owns it.
fn trusted_link(
    dir: &OwnedFd,
    name: &OsStr,
    here: &Path,
    trusted_uid: u32,
) -> Result<PathBuf, String> {
    // The link itself is opened once; its owner and target are read from that one file
    // (looking the name up again could meet another link swapped in meanwhile).
    let link = rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open {}: {e}", here.display()))?;
    let stat = rustix::fs::fstat(&link).map_err(|e| format!("stat {}: {e}", here.display()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Symlink {
        return Err(format!("{} is not a directory", here.display()));
    }
    if stat.st_uid != 0 && stat.st_uid != trusted_uid {
        return Err(format!(
            "refusing to follow symlink {} owned by uid {}: that user could point it anywhere",
            here.display(),
            stat.st_uid
        ));
    }
    let target = rustix::fs::readlinkat(&link, "", Vec::new())
        .map_err(|e| format!("readlink {}: {e}", here.display()))?;
    Ok(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
}

/// An entry of an open directory, named for messages by its whole path.
pub struct Entry<'a> {
    /// The directory.
    pub dir: &'a OwnedFd,
    /// The entry's name in it.
    pub name: &'a OsStr,
}

impl Entry<'_> {
    /// The entry's type, owner and group, without following a symlink (`None`: it does
    /// not exist).
    pub fn stat(&self) -> std::io::Result<Option<rustix::fs::Stat>> {
        match rustix::fs::statat(self.dir, self.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The target of the symlink the entry is.
    pub fn read_link(&self) -> std::io::Result<PathBuf> {
        let target = rustix::fs::readlinkat(self.dir, self.name, Vec::new())?;
        Ok(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
    }

    /// Go's `os.Remove`, which sops-nix clears a secret's path with: a file, a link or an
    /// empty directory. Of the two errors, unlink's is reported unless the entry is no
    /// directory (rmdir's ENOTDIR), as Go does.
    pub fn remove_as_go_does(&self) -> std::io::Result<()> {
        let Err(unlink) = rustix::fs::unlinkat(self.dir, self.name, AtFlags::empty()) else {
            return Ok(());
        };
        match rustix::fs::unlinkat(self.dir, self.name, AtFlags::REMOVEDIR) {
            Ok(()) => Ok(()),
            Err(Errno::NOTDIR) => Err(unlink.into()),
            Err(rmdir) => Err(rmdir.into()),
        }
    }

    /// Makes the entry a symlink to `target`; fails if the name is taken.
    pub fn symlink(&self, target: &Path) -> std::io::Result<()> {
        Ok(rustix::fs::symlinkat(target, self.dir, self.name)?)
    }

    /// Makes the entry a symlink to `target` owned by `uid:gid` in one step: made under a
    /// private directory beside it, given away there, then renamed into place.
    pub fn symlink_owned(&self, target: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
        let (tmp_name, tmp) = private_dir_in(self.dir)?;
        let result = (|| {
            rustix::fs::symlinkat(target, &tmp, self.name)?;
            let (uid, gid) = (
                rustix::fs::Uid::from_raw(uid),
                rustix::fs::Gid::from_raw(gid),
            );
            rustix::fs::chownat(
                &tmp,
                self.name,
                Some(uid),
                Some(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
            rustix::fs::renameat(&tmp, self.name, self.dir, self.name)?;
            Ok(())
        })();
        let _ = rustix::fs::unlinkat(&tmp, self.name, AtFlags::empty());
        let _ = rustix::fs::unlinkat(self.dir, &tmp_name, AtFlags::REMOVEDIR);
        result
    }
}

/// A new 0700 directory in `dir` with a name no one else uses, and the directory opened.
fn private_dir_in(dir: &impl AsFd) -> std::io::Result<(PathBuf, OwnedFd)> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for attempt in 0..100u32 {
        let name = PathBuf::from(format!(
            ".keytap-link{}-{stamp:x}-{attempt}",
            std::process::id()
        ));
        match rustix::fs::mkdirat(dir, &name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(dir, &name, flags, Mode::empty())?;
                // The directory's owner may have put another directory under that name
                // since: only ours, private, is used.
                let stat = rustix::fs::fstat(&fd)?;
                let ours = stat.st_uid == rustix::process::geteuid().as_raw();
                if !ours || stat.st_mode & 0o077 != 0 {
                    return Err(std::io::Error::other(format!(
                        "{} was replaced by another user's directory",
                        name.display()
                    )));
                }
                return Ok((name, fd));
            }
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directories_are_made_and_trusted_links_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, tmp.path().join("link")).unwrap();
        let uid = rustix::process::geteuid().as_raw();
        let fd = open_dir(&tmp.path().join("link/a/../b/c"), uid).unwrap();
        let entry = Entry {
            dir: &fd,
            name: OsStr::new("s"),
        };
        entry.symlink(Path::new("/target")).unwrap();
        assert_eq!(
            std::fs::read_link(real.join("b/c/s")).unwrap(),
            Path::new("/target")
        );
        assert!(real.join("a").is_dir());
        // A link of another user is refused, naming it.
        let other = tmp.path().join("other");
        std::os::unix::fs::symlink(&real, &other).unwrap();
        if uid == 0 {
            std::os::unix::fs::lchown(&other, Some(65534), None).unwrap();
            let error = open_dir(&other.join("x"), uid).unwrap_err();
            assert!(error.contains("refusing to follow symlink"), "{error}");
            assert!(error.contains("owned by uid 65534"), "{error}");
            assert!(!real.join("x").exists());
        }
        // A loop ends.
        std::os::unix::fs::symlink("loop", tmp.path().join("loop")).unwrap();
        let error = open_dir(&tmp.path().join("loop/x"), uid).unwrap_err();
        assert!(error.contains("too many levels"), "{error}");
        // A file on the way is no directory.
        std::fs::write(tmp.path().join("file"), "").unwrap();
        let error = open_dir(&tmp.path().join("file/x"), uid).unwrap_err();
        assert!(error.contains("is not a directory"), "{error}");
    }
}
