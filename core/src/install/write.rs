//! Writing secrets and rendered templates into a fresh generation directory with their
//! owner, group and mode. Files are created `0600 root` and only then written, given away
//! and opened up, so no one else can read them half-made; directories are `0751
//! root:keys`.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};

use super::check::FileAttrs;
use super::InstallError;
use crate::goerr::io_reason;

/// Checks a secret or template name stays inside the generation directory.
pub fn check_name(kind: &str, name: &str) -> Result<(), InstallError> {
    let p = Path::new(name);
    let ok = !name.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if ok {
        Ok(())
    } else {
        Err(InstallError::new(format!(
            "invalid {kind} name '{name}': it must be a relative path without '..'"
        )))
    }
}

/// Writes one file of a generation, a secret or a rendered template: `base/name`, with the
/// directories leading to it, owned and moded as `attrs` says.
pub fn write_generated(
    base: &Path,
    name: &str,
    data: &[u8],
    attrs: &FileAttrs,
    keys_gid: u32,
    user_mode: bool,
) -> Result<(), InstallError> {
    create_parent_dirs(base, name, keys_gid, user_mode)?;
    write_file(
        &base.join(name),
        data,
        attrs.mode,
        attrs.uid,
        attrs.gid,
        user_mode,
    )
}

/// Creates the directories leading to `base/name` (mode 0751, `root:keys_gid`).
pub fn create_parent_dirs(
    base: &Path,
    name: &str,
    keys_gid: u32,
    user_mode: bool,
) -> Result<(), InstallError> {
    let target = base.join(name);
    let mut so_far = base.to_path_buf();
    let parent = Path::new(name).parent().unwrap_or(Path::new(""));
    let mut dirs = vec![so_far.clone()];
    for c in parent.components() {
        so_far.push(c);
        dirs.push(so_far.clone());
    }
    for dir in dirs {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o751)
            .create(&dir)
            .map_err(|e| {
                InstallError::new(format!(
                    "cannot create directory '{}' for {}: {}",
                    dir.display(),
                    target.display(),
                    io_reason(&e)
                ))
            })?;
        if !user_mode {
            std::os::unix::fs::chown(&dir, Some(0), Some(keys_gid)).map_err(|e| {
                InstallError::new(format!(
                    "cannot own directory '{}' for {}: {}",
                    dir.display(),
                    target.display(),
                    io_reason(&e)
                ))
            })?;
        }
    }
    Ok(())
}

/// Writes `data` to `path` with exactly `mode`, owned by `uid:gid` (unless `user_mode`).
pub fn write_file(
    path: &Path,
    data: &[u8],
    mode: u32,
    uid: u32,
    gid: u32,
    user_mode: bool,
) -> Result<(), InstallError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(InstallError::io_on("cannot write", path))?;
    f.write_all(data)
        .map_err(InstallError::io_on("cannot write", path))?;
    if !user_mode {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).map_err(|e| {
            InstallError::new(format!(
                "cannot change owner/group of '{}' to {uid}/{gid}: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
    }
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| {
            InstallError::new(format!(
                "cannot change mode of {} to {mode:o}: {}",
                path.display(),
                io_reason(&e)
            ))
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        assert!(check_name("secret", "a/b/c").is_ok());
        assert!(check_name("secret", "../x").is_err());
        assert!(check_name("secret", "/etc/x").is_err());
        assert!(check_name("secret", "a/../../x").is_err());
        assert!(check_name("secret", "").is_err());
    }

    #[test]
    fn files_get_exact_modes_and_nested_dirs() {
        let dir = tempfile::tempdir().unwrap();
        create_parent_dirs(dir.path(), "x/y/z", 0, true).unwrap();
        let p = dir.path().join("x/y/z");
        write_file(&p, b"v", 0o440, 0, 0, true).unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o440);
        assert_eq!(
            std::fs::metadata(dir.path().join("x/y"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o751
        );
    }
}
