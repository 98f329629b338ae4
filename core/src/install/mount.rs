//! The secrets filesystem: a ramfs (never swapped) or, with `useTmpfs`, a tmpfs, mounted on
//! `secretsMountPoint` with `mode=0751,nodev,nosuid,noexec` unless one is already there.

use std::os::unix::ffi::OsStrExt;

use rustix::mount::MountFlags;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use super::InstallError;
use crate::goerr::io_reason;

/// `statfs.f_type` of a ramfs.
pub const RAMFS_MAGIC: i64 = 0x8584_58f6;
/// `statfs.f_type` of a tmpfs.
pub const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The filesystem type of the filesystem holding `path`.
pub fn fs_type(path: &Path) -> Result<i64, InstallError> {
    let buf = rustix::fs::statfs(path).map_err(|e| {
        InstallError::new(format!(
            "cannot get statfs for directory '{}': {}",
            path.display(),
            io_reason(&e.into())
        ))
    })?;
    // f_type is signed on some targets; compare as the unsigned 32-bit magic.
    Ok(buf.f_type as i64 & 0xffff_ffff)
}

/// Decodes the octal escapes (`\040`) of a `/proc/self/mountinfo` path field.
fn unescape_mountinfo(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("x"), 8)
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Whether `path` is a mount point: listed in `/proc/self/mountinfo`, or (without /proc)
/// on another device than its parent.
pub fn is_mount_point(path: &Path) -> Result<bool, InstallError> {
    let canonical = std::fs::canonicalize(path).map_err(|e| {
        InstallError::new(format!(
            "cannot check if directory '{}' is a mountpoint: {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
        let want = canonical.as_os_str().as_bytes();
        return Ok(info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .any(|mp| unescape_mountinfo(mp) == want));
    }
    use std::os::unix::fs::MetadataExt;
    let here = std::fs::metadata(&canonical).map_err(|e| InstallError::new(io_reason(&e)))?;
    let parent = canonical.parent().unwrap_or(Path::new("/"));
    let up = std::fs::metadata(parent).map_err(|e| InstallError::new(io_reason(&e)))?;
    Ok(here.dev() != up.dev() || here.ino() == up.ino())
}

/// Creates `mountpoint` and mounts the secrets filesystem on it when it is not already a
/// mount of the right type, then gives it to `root:<keys_gid>`. User mode only creates it.
pub fn mount_secret_fs(
    mountpoint: &Path,
    keys_gid: u32,
    use_tmpfs: bool,
    user_mode: bool,
) -> Result<(), InstallError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o751)
        .create(mountpoint)
        .map_err(|e| {
            InstallError::new(format!(
                "cannot create directory '{}': {}",
                mountpoint.display(),
                crate::goerr::io_reason(&e)
            ))
        })?;
    if user_mode {
        return Ok(());
    }
    let (fstype, magic) = if use_tmpfs {
        ("tmpfs", TMPFS_MAGIC)
    } else {
        ("ramfs", RAMFS_MAGIC)
    };
    let current = fs_type(mountpoint)?;
    if !is_mount_point(mountpoint)? || current != magic {
        let flags = MountFlags::NODEV | MountFlags::NOSUID | MountFlags::NOEXEC;
        let first = if use_tmpfs {
            "mode=0751,noswap"
        } else {
            "mode=0751"
        };
        if let Err(e) = do_mount(mountpoint, fstype, flags, first) {
            if use_tmpfs && e == rustix::io::Errno::INVAL {
                // Kernels before 6.4 do not know `noswap`.
                do_mount(mountpoint, fstype, flags, "mode=0751").map_err(|e| {
                    InstallError::new(format!(
                        "cannot mount (fallback without noswap failed): {}",
                        io_reason(&e.into())
                    ))
                })?;
            } else {
                return Err(InstallError::new(format!(
                    "cannot mount: {}",
                    io_reason(&e.into())
                )));
            }
        }
    }
    std::os::unix::fs::chown(mountpoint, Some(0), Some(keys_gid)).map_err(|e| {
        InstallError::new(format!(
            "cannot change owner/group of '{}' to 0/{keys_gid}: {}",
            mountpoint.display(),
            crate::goerr::io_reason(&e)
        ))
    })
}

fn do_mount(
    target: &Path,
    fstype: &str,
    flags: MountFlags,
    data: &str,
) -> Result<(), rustix::io::Errno> {
    let data = std::ffi::CString::new(data).expect("mount options have no NUL");
    rustix::mount::mount("none", target, fstype, flags, data.as_c_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_decode() {
        assert_eq!(unescape_mountinfo("/a\\040b"), b"/a b".to_vec());
        assert_eq!(unescape_mountinfo("/plain"), b"/plain".to_vec());
        assert_eq!(unescape_mountinfo("/end\\"), b"/end\\".to_vec());
    }

    #[test]
    fn root_is_a_mount_point() {
        assert!(is_mount_point(Path::new("/")).unwrap());
    }
}
