//! Replacing a file's contents: atomically where a rename can reproduce the file, in place
//! where it cannot, never half-written on a full disk when there is a choice.
//!
//! sops writes with `os.Create` (truncate, then write): through symlinks, keeping the
//! inode's owner, group, mode and hard links, failing on a file the user cannot write,
//! working in a read-only directory, and leaving a truncated file when the disk fills up.
//! keytap keeps every one of those outcomes users rely on, and adds atomicity where the
//! file system allows it: the new contents go into an unnamed file (`O_TMPFILE`) in the
//! target's own directory, get the old owner, group and mode, and only then take the
//! target's name by rename. When that cannot reproduce the file (other hard links, an
//! access ACL, an owner the user cannot give away, a directory the user cannot write),
//! the file is rewritten in place, with its new size reserved first so that a full disk
//! fails before the old contents are touched.

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, CWD};
use rustix::io::Errno;

/// What is written, which decides the permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contents {
    /// Encrypted or public data: an existing file keeps its mode; a new one gets
    /// `0666 & ~umask`, as sops's `os.Create` gives it.
    Encrypted,
    /// Plaintext secrets: the file is 0600 whatever its old mode and the umask.
    Plaintext,
}

/// One replacement and its rules.
#[derive(Clone, Debug)]
pub struct Replace<'a> {
    /// The file to write.
    pub path: &'a Path,
    /// Encrypted or plaintext.
    pub contents: Contents,
    /// Write the target of a symlink at `path` (sops's behaviour); `false` replaces the
    /// link itself (a directory of outputs, where a planted link must not redirect them).
    pub follow_symlinks: bool,
    /// Rewrite the existing file when a rename cannot reproduce it; `false` fails instead.
    pub allow_in_place: bool,
    /// Fail with [`ReplaceError::Exists`] if the file exists (or appears meanwhile).
    pub create_new: bool,
    /// The caller holds the file's [`super::LockedFile`] lock, so temporary files of ours
    /// left beside it by a killed process can be removed.
    pub locked: bool,
}

impl<'a> Replace<'a> {
    /// The rules sops's in-place writes follow, with atomicity added.
    pub fn new(path: &'a Path, contents: Contents) -> Replace<'a> {
        Replace {
            path,
            contents,
            follow_symlinks: true,
            allow_in_place: true,
            create_new: false,
            locked: false,
        }
    }
}

/// How the contents reached the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// A complete new file took the name (atomic).
    Renamed,
    /// The existing file was rewritten (hard links, ACLs or the directory forbade a rename).
    InPlace,
    /// Written into a device or pipe (`/dev/stdout`, a FIFO).
    Direct,
}

/// Why nothing, or not everything, was written.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// The file (or its directory, for a new file) cannot be opened for writing; nothing
    /// changed. sops exits 3 for this.
    #[error("open {}: {}", .path.display(), crate::goerr::io_reason(.source))]
    CannotOpen {
        /// The path as given.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `create_new` was asked and the file exists.
    #[error("{} already exists", .0.display())]
    Exists(PathBuf),
    /// Writing failed. After an attempted rename nothing changed; in place or into a
    /// device, the file may hold part of the data.
    #[error("write {}: {}", .path.display(), crate::goerr::io_reason(.source))]
    Write {
        /// The path as given.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// An attempt to write beside the target and rename.
enum Attempt {
    /// The rename route is closed (directory not writable, owner not reproducible):
    /// nothing was changed, the caller may write in place.
    Impossible(io::Error),
    /// A real failure (disk full, I/O error); nothing was changed.
    Failed(io::Error),
}

/// The mode a fresh file gets.
#[derive(Clone, Copy)]
enum NewMode {
    /// Exactly this mode (set after the owner, which clears set-id bits).
    Exact(u32),
    /// This mode minus the umask (what `open(O_CREAT, mode)` gives).
    Umask(u32),
}

/// Writes `data` to `opts.path` by the rules in `opts`.
pub fn replace(opts: &Replace<'_>, data: &[u8]) -> Result<Written, ReplaceError> {
    let cannot_open = |source: io::Error| ReplaceError::CannotOpen {
        path: opts.path.to_path_buf(),
        source,
    };
    let write_failed = |source: io::Error| ReplaceError::Write {
        path: opts.path.to_path_buf(),
        source,
    };
    let target = if opts.follow_symlinks {
        let (target, planted_link) = resolve_links(opts.path).map_err(cannot_open)?;
        // Plaintext does not follow a link another user could have put where it goes (a
        // directory others can write, sticky or not): it would go wherever they chose.
        if let (Contents::Plaintext, Some(uid)) = (opts.contents, planted_link) {
            return Err(cannot_open(io::Error::other(format!(
                "it is a link of another user (uid {uid}), who chose where the plaintext would go"
            ))));
        }
        target
    } else {
        opts.path.to_path_buf()
    };
    if opts.follow_symlinks && std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_symlink()) {
        // A descriptor's link to a pipe or socket (`--output /dev/stdout` into a pipe):
        // opened through the kernel, which alone can, and checked to be what it named.
        let meta = std::fs::metadata(&target).map_err(cannot_open)?;
        return write_direct(&target, data, opts, &meta, Follow::Kernel).map(|()| Written::Direct);
    }
    let (dir, name) = split(&target).map_err(cannot_open)?;
    // Nor into a directory another user made where anyone may make one (`/tmp/build`
    // squatted before root's `decrypt --output /tmp/build/env`): its files are theirs.
    if opts.contents == Contents::Plaintext {
        if let Some(uid) = planted_directory(dir) {
            return Err(cannot_open(io::Error::other(format!(
                "a directory on its path belongs to another user (uid {uid}), who could read the plaintext"
            ))));
        }
    }
    let existing = match std::fs::symlink_metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(cannot_open(e)),
    };
    if opts.create_new && existing.is_some() {
        return Err(ReplaceError::Exists(opts.path.to_path_buf()));
    }
    let attempt_error = |a: Attempt| match a {
        Attempt::Impossible(e) => cannot_open(e),
        Attempt::Failed(e) if opts.create_new && e.kind() == io::ErrorKind::AlreadyExists => {
            ReplaceError::Exists(opts.path.to_path_buf())
        }
        Attempt::Failed(e) => write_failed(e),
    };
    let Some(meta) = existing else {
        let mode = match opts.contents {
            Contents::Plaintext => NewMode::Exact(0o600),
            Contents::Encrypted => NewMode::Umask(0o666),
        };
        return write_beside_and_rename(dir, name, data, mode, None, opts.create_new)
            .map(|()| Written::Renamed)
            .map_err(attempt_error);
    };
    if meta.file_type().is_symlink() || (!opts.follow_symlinks && !meta.is_file()) {
        // Only reached without `follow_symlinks`: the link itself is replaced, and so is a
        // FIFO or device planted in a directory of outputs (never written into: that would
        // hang, or hand the plaintext to whoever reads it).
        return write_beside_and_rename(dir, name, data, NewMode::Exact(0o600), None, false)
            .map(|()| Written::Renamed)
            .map_err(attempt_error);
    }
    if !meta.is_file() {
        // The kernel's fs.protected_fifos, which would refuse sops's O_CREAT open here
        // but never applies to keytap's (no O_CREAT on a file that exists): another
        // user's FIFO or device in a sticky world-writable directory gets no plaintext.
        if planted_in_shared_dir(dir, &meta).map_err(cannot_open)? {
            return Err(cannot_open(Errno::ACCESS.into()));
        }
        // Nor, wherever another user could have made it, a FIFO or device of theirs.
        let ours = rustix::process::geteuid().as_raw();
        if opts.contents == Contents::Plaintext
            && meta.uid() != ours
            && meta.uid() != 0
            && another_user_could_plant(dir, &meta)
        {
            return Err(cannot_open(held_by_another(meta.uid())));
        }
        return write_direct(&target, data, opts, &meta, Follow::Never).map(|()| Written::Direct);
    }
    // sops's permission check: the file must be writable by this user.
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&target)
        .map_err(cannot_open)?;
    if opts.locked {
        remove_stale_temps(dir, name);
    }
    let mode = match opts.contents {
        Contents::Plaintext => 0o600,
        Contents::Encrypted => meta.mode() & 0o7777,
    };
    // The file opened is the one looked at (its owner decides what follows).
    let opened = file.metadata().map_err(cannot_open)?;
    if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
        return Err(cannot_open(io::Error::other(
            "it was replaced while being opened",
        )));
    }
    // Plaintext never goes into a file another user may have planted where it goes: such a
    // file is replaced by one of ours, never written into. A file of another user that no
    // one else could have put there (root deploying into an app's own directory) keeps its
    // owner, as with sops.
    let foreign = opts.contents == Contents::Plaintext
        && meta.uid() != rustix::process::geteuid().as_raw()
        && another_user_could_plant(dir, &meta);
    let refuse_foreign = || cannot_open(held_by_another(meta.uid()));
    if meta.nlink() == 1 && !has_access_acl(&file) {
        let owner = (!foreign).then(|| (meta.uid(), meta.gid()));
        match write_beside_and_rename(dir, name, data, NewMode::Exact(mode), owner, false) {
            Ok(()) => return Ok(Written::Renamed),
            Err(Attempt::Impossible(_)) if foreign => return Err(refuse_foreign()),
            Err(Attempt::Impossible(_)) if opts.allow_in_place => {}
            Err(a) => return Err(attempt_error(a)),
        }
    } else if foreign {
        return Err(refuse_foreign());
    } else if !opts.allow_in_place {
        return Err(write_failed(io::Error::other(
            "it has other hard links or an access ACL, so it cannot be replaced",
        )));
    }
    write_in_place(&file, data, &meta, opts.contents).map_err(write_failed)?;
    Ok(Written::InPlace)
}

/// Whether someone other than this user and `file`'s owner can create files in `dir`:
/// group or others may write it (a sticky `/tmp` too), or it belongs to a third user.
fn another_user_could_plant(dir: &Path, file: &Metadata) -> bool {
    let Ok(d) = std::fs::metadata(dir) else {
        return true;
    };
    let ours = rustix::process::geteuid().as_raw();
    d.mode() & 0o022 != 0 || (d.uid() != ours && d.uid() != file.uid())
}

/// Follows symlinks at the last component (relative targets resolve against the link's
/// directory), as `open` does; a dangling link gives the path it points to.
///
/// As the kernel does with `fs.protected_symlinks` (whatever the sysctl says, since the
/// links are read here, not by the kernel): a link in a sticky world-writable directory
/// (`/tmp`) is followed only when it is ours or the directory owner's. Another user's
/// link there is `EACCES`, so that no one can point root's `--output /tmp/x` at a file of
/// theirs, or at `/etc/shadow`.
pub fn resolve_symlinks(path: &Path) -> io::Result<PathBuf> {
    resolve_links(path).map(|(target, _)| target)
}

/// [`resolve_symlinks`], and the owner of a link on the way that another user (than
/// this one and root) may have planted: theirs, in a directory others can write. A link
/// of `/proc/PID/fd` to an object without a name (`pipe:[N]`: `/dev/stdout` when it is a
/// pipe) ends the walk there: only the kernel can open it.
fn resolve_links(path: &Path) -> io::Result<(PathBuf, Option<u32>)> {
    let mut current = path.to_path_buf();
    let mut planted = None;
    let ours = rustix::process::geteuid().as_raw();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let (dir, _) = split(&current)?;
                if planted_in_shared_dir(dir, &m)? {
                    return Err(Errno::ACCESS.into());
                }
                if m.uid() != ours && m.uid() != 0 && another_user_could_plant(dir, &m) {
                    planted = planted.or(Some(m.uid()));
                }
                let target = std::fs::read_link(&current)?;
                if names_an_unnamed_object(dir, &target) {
                    return Ok((current, planted));
                }
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok((current, planted)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((current, planted)),
            Err(e) => return Err(e),
        }
    }
    Err(Errno::LOOP.into())
}

/// Why plaintext is not written into a file of user `uid`'s.
fn held_by_another(uid: u32) -> io::Error {
    io::Error::other(format!(
        "it belongs to another user (uid {uid}), who could read the plaintext"
    ))
}

/// The owner of a directory on the way to `dir` (links resolved) that another user made
/// in a directory anyone may write: neither this user nor root. None when there is none,
/// or `dir` does not exist (the write then fails on its own).
fn planted_directory(dir: &Path) -> Option<u32> {
    let ours = rustix::process::geteuid().as_raw();
    let canonical = std::fs::canonicalize(dir).ok()?;
    let mut current = canonical.as_path();
    while let Some(parent) = current.parent() {
        let (Ok(this), Ok(above)) = (std::fs::metadata(current), std::fs::metadata(parent)) else {
            return None;
        };
        if this.uid() != ours && this.uid() != 0 && above.mode() & 0o002 != 0 {
            return Some(this.uid());
        }
        current = parent;
    }
    None
}

/// Whether `target`, read from a link in `dir`, is the kernel's name for an open file
/// without a path (`pipe:[N]`, `socket:[N]`, `anon_inode:...`): a link of a process's
/// `fd` directory under `/proc`.
fn names_an_unnamed_object(dir: &Path, target: &Path) -> bool {
    let text = target.as_os_str().as_encoded_bytes();
    !text.contains(&b'/')
        && text.contains(&b':')
        && std::fs::canonicalize(dir).is_ok_and(|d| d.starts_with("/proc"))
}

/// Whether `entry` (of `dir`) sits in a sticky world-writable directory (`/tmp`) and
/// belongs neither to this user nor to the directory's owner: what the kernel's
/// `protected_symlinks`/`protected_fifos` refuse to follow or open.
fn planted_in_shared_dir(dir: &Path, entry: &Metadata) -> io::Result<bool> {
    let dir = std::fs::metadata(dir)?;
    Ok(dir.mode() & 0o1002 == 0o1002
        && entry.uid() != rustix::process::geteuid().as_raw()
        && entry.uid() != dir.uid())
}

fn split(target: &Path) -> io::Result<(&Path, &OsStr)> {
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

fn has_access_acl(file: &File) -> bool {
    rustix::fs::fgetxattr_query(file, "system.posix_acl_access").is_ok()
}

/// `.NAME.<6 random characters>.tmp`: the names of our temporary files beside NAME.
fn temp_name(name: &OsStr) -> OsString {
    let mut s = OsString::from(".");
    s.push(name);
    s.push(".");
    s.push(super::random_suffix());
    s.push(".tmp");
    s
}

fn is_our_temp(candidate: &[u8], name: &[u8]) -> bool {
    let Some(rest) = candidate
        .strip_prefix(b".")
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix(b"."))
        .and_then(|r| r.strip_suffix(b".tmp"))
    else {
        return false;
    };
    rest.len() == 6 && rest.iter().all(u8::is_ascii_alphanumeric)
}

/// Removes `.NAME.<6 random characters>.tmp` files of this user beside NAME: what a keytap killed while
/// writing NAME left behind. Only called under NAME's lock, so none is in use.
fn remove_stale_temps(dir: &Path, name: &OsStr) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let euid = rustix::process::geteuid().as_raw();
    for entry in entries.flatten() {
        if !is_our_temp(entry.file_name().as_bytes(), name.as_bytes()) {
            continue;
        }
        if let Ok(m) = std::fs::symlink_metadata(entry.path()) {
            if m.is_file() && m.uid() == euid {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn impossible_or_failed(e: Errno) -> Attempt {
    match e {
        // A missing directory too: sops's open of the file fails there (exit 3).
        Errno::ACCESS | Errno::PERM | Errno::ROFS | Errno::NOENT | Errno::NOTDIR => {
            Attempt::Impossible(e.into())
        }
        _ => Attempt::Failed(e.into()),
    }
}

/// Writes `data` into a new file in `dir`, gives it `owner` and `mode`, and renames it to
/// `name` (or links it there only if `name` is free, with `no_replace`).
fn write_beside_and_rename(
    dir: &Path,
    name: &OsStr,
    data: &[u8],
    mode: NewMode,
    owner: Option<(u32, u32)>,
    no_replace: bool,
) -> Result<(), Attempt> {
    let dirfd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(impossible_or_failed)?;
    let file = NewFile {
        name,
        data,
        mode,
        owner,
        no_replace,
    };
    let result = match write_unnamed(&dirfd, file) {
        Err(Unnamed::Unsupported) => write_named(&dirfd, file),
        Err(Unnamed::Attempt(a)) => Err(a),
        Ok(()) => Ok(()),
    };
    if result.is_ok() {
        let _ = rustix::fs::fsync(&dirfd);
    }
    result
}

/// What [`write_beside_and_rename`] hands to each route it tries.
#[derive(Clone, Copy)]
struct NewFile<'a> {
    name: &'a OsStr,
    data: &'a [u8],
    mode: NewMode,
    owner: Option<(u32, u32)>,
    no_replace: bool,
}

enum Unnamed {
    /// No `O_TMPFILE` here (file system, kernel, or no /proc to name it by).
    Unsupported,
    Attempt(Attempt),
}

fn initial_mode(mode: NewMode) -> Mode {
    match mode {
        NewMode::Exact(_) => Mode::from_raw_mode(0o600),
        NewMode::Umask(m) => Mode::from_raw_mode(m),
    }
}

/// The preferred route: an `O_TMPFILE` has no name until it is complete, so a process
/// killed while writing leaves nothing behind.
fn write_unnamed(dirfd: &OwnedFd, new: NewFile<'_>) -> Result<(), Unnamed> {
    let fd = match rustix::fs::openat(
        dirfd,
        ".",
        OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
        initial_mode(new.mode),
    ) {
        Ok(fd) => fd,
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {
            return Err(Unnamed::Unsupported)
        }
        Err(e) => return Err(Unnamed::Attempt(impossible_or_failed(e))),
    };
    let file = File::from(fd);
    fill(&file, new.data, new.mode, new.owner).map_err(Unnamed::Attempt)?;
    let proc_path = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&file));
    let link = |to: &OsStr| {
        rustix::fs::linkat(CWD, proc_path.as_str(), dirfd, to, AtFlags::SYMLINK_FOLLOW)
    };
    if new.no_replace {
        return match link(new.name) {
            Ok(()) => Ok(()),
            Err(Errno::NOENT) => Err(Unnamed::Unsupported),
            Err(e) => Err(Unnamed::Attempt(impossible_or_failed(e))),
        };
    }
    loop {
        let tmp = temp_name(new.name);
        match link(&tmp) {
            Ok(()) => return rename_into_place(dirfd, &tmp, new.name).map_err(Unnamed::Attempt),
            Err(Errno::EXIST) => continue,
            Err(Errno::NOENT) => return Err(Unnamed::Unsupported),
            Err(e) => return Err(Unnamed::Attempt(impossible_or_failed(e))),
        }
    }
}

/// The fallback route: a named `.NAME.<6 random characters>.tmp` file, removed again on any failure.
fn write_named(dirfd: &OwnedFd, new: NewFile<'_>) -> Result<(), Attempt> {
    let (tmp, fd) = loop {
        let tmp = temp_name(new.name);
        match rustix::fs::openat(
            dirfd,
            &tmp,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            initial_mode(new.mode),
        ) {
            Ok(fd) => break (tmp, fd),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(impossible_or_failed(e)),
        }
    };
    let result = fill(&File::from(fd), new.data, new.mode, new.owner).and_then(|()| {
        if new.no_replace {
            rename_no_replace(dirfd, &tmp, new.name)
        } else {
            rename_into_place(dirfd, &tmp, new.name)
        }
    });
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dirfd, &tmp, AtFlags::empty());
    }
    result
}

fn fill(file: &File, data: &[u8], mode: NewMode, owner: Option<(u32, u32)>) -> Result<(), Attempt> {
    let mut writer = file;
    writer
        .write_all(data)
        .and_then(|()| file.sync_all())
        .map_err(Attempt::Failed)?;
    if let Some((uid, gid)) = owner {
        let now = file.metadata().map_err(Attempt::Failed)?;
        if now.uid() != uid || now.gid() != gid {
            rustix::fs::fchown(
                file,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .map_err(|e| match e {
                Errno::PERM => Attempt::Impossible(e.into()),
                _ => Attempt::Failed(e.into()),
            })?;
        }
    }
    if let NewMode::Exact(m) = mode {
        rustix::fs::fchmod(file, Mode::from_raw_mode(m)).map_err(|e| Attempt::Failed(e.into()))?;
    }
    Ok(())
}

fn rename_into_place(dirfd: &OwnedFd, tmp: &OsStr, name: &OsStr) -> Result<(), Attempt> {
    rustix::fs::renameat(dirfd, tmp, dirfd, name).map_err(|e| {
        let _ = rustix::fs::unlinkat(dirfd, tmp, AtFlags::empty());
        impossible_or_failed(e)
    })
}

fn rename_no_replace(dirfd: &OwnedFd, tmp: &OsStr, name: &OsStr) -> Result<(), Attempt> {
    match rustix::fs::renameat_with(dirfd, tmp, dirfd, name, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // No renameat2 here: a hard link also fails if the name is taken.
        Err(Errno::INVAL | Errno::NOSYS) => {
            rustix::fs::linkat(dirfd, tmp, dirfd, name, AtFlags::empty())
                .map_err(impossible_or_failed)?;
            let _ = rustix::fs::unlinkat(dirfd, tmp, AtFlags::empty());
            Ok(())
        }
        Err(e) => Err(impossible_or_failed(e)),
    }
}

/// Rewrites an existing file whose inode must stay: reserve the new size (a full disk
/// fails here, before anything changed), write, cut to length, sync.
fn write_in_place(file: &File, data: &[u8], meta: &Metadata, contents: Contents) -> io::Result<()> {
    let new_len = data.len() as u64;
    if new_len > meta.len() {
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, new_len) {
            Ok(()) | Err(Errno::OPNOTSUPP) | Err(Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if contents == Contents::Plaintext {
        // Before the plaintext arrives (the file is ours: see `foreign` in `replace`).
        rustix::fs::fchmod(file, Mode::from_raw_mode(0o600))?;
    }
    file.write_all_at(data, 0)?;
    file.set_len(new_len)?;
    file.sync_all()
}

/// Writes into a device or FIFO the way `os.Create` does, but only into the one looked at
/// (`expected`), never a link swapped in for it since.
/// Whether [`write_direct`] lets the kernel follow a link at the end of the path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// No: the path was resolved here, and is the file itself.
    Never,
    /// Yes: a `/proc` descriptor link to an object without a name.
    Kernel,
}

fn write_direct(
    target: &Path,
    data: &[u8],
    opts: &Replace<'_>,
    expected: &Metadata,
    follow: Follow,
) -> Result<(), ReplaceError> {
    let cannot_open = |source| ReplaceError::CannotOpen {
        path: opts.path.to_path_buf(),
        source,
    };
    let no_follow = match follow {
        Follow::Never => libc::O_NOFOLLOW,
        Follow::Kernel => 0,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(no_follow | libc::O_CLOEXEC)
        .open(target)
        .map_err(cannot_open)?;
    let opened = f.metadata().map_err(cannot_open)?;
    if (opened.dev(), opened.ino()) != (expected.dev(), expected.ino()) {
        return Err(cannot_open(io::Error::other(
            "it was replaced while being opened",
        )));
    }
    f.write_all(data)
        .and_then(|()| f.flush())
        .map_err(|source| ReplaceError::Write {
            path: opts.path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests;
