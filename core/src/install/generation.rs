//! Generations: every run writes `<secretsMountPoint>/<N+1>` in full, then moves the
//! `symlinkPath` symlink onto it with one `rename(2)` (atomic: readers see the old complete
//! generation or the new complete one, and a process killed at any point leaves the link
//! on a complete generation), links secrets whose `path` lies elsewhere, and prunes old
//! generations as sops-nix does.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::InstallError;
use crate::goerr::io_reason;

fn err(msg: String) -> InstallError {
    InstallError::new(msg)
}

/// The generation `link` points at (0 when it does not exist or points elsewhere).
pub fn current(mount: &Path, link: &Path) -> Result<u64, InstallError> {
    match std::fs::read_link(link) {
        Ok(target) => {
            let t = target.to_string_lossy();
            if t.starts_with(&*mount.to_string_lossy()) {
                let base = target
                    .file_name()
                    .map(|b| b.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return base.parse::<u64>().map_err(|_| {
                    err(format!(
                        "cannot parse {base} of {t} as a number: invalid syntax"
                    ))
                });
            }
            Ok(0)
        }
        Err(_) => Ok(0),
    }
}

/// Makes the empty directory of the next generation (`0751 root:keys_gid`). A `link`
/// that exists but is not a symlink is removed first; a leftover directory of the same
/// number (from an interrupted run, never live) is replaced.
pub fn prepare(
    mount: &Path,
    link: &Path,
    keys_gid: u32,
    user_mode: bool,
) -> Result<PathBuf, InstallError> {
    let mut generation = 0;
    match std::fs::read_link(link) {
        Ok(_) => generation = current(mount, link)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            if std::fs::symlink_metadata(link).is_err() {
                return Err(err(format!(
                    "cannot access {}: {}",
                    link.display(),
                    io_reason(&e)
                )));
            }
            remove_any(link).map_err(InstallError::io_on("cannot remove", link))?;
        }
    }
    let dir = mount.join((generation + 1).to_string());
    if std::fs::symlink_metadata(&dir).is_ok() {
        remove_any(&dir).map_err(InstallError::io_on("cannot remove existing", &dir))?;
    }
    std::fs::DirBuilder::new()
        .mode(0o751)
        .create(&dir)
        .map_err(InstallError::io_on("mkdir(): mkdir", &dir))?;
    if !user_mode {
        std::os::unix::fs::chown(&dir, Some(0), Some(keys_gid)).map_err(|e| {
            err(format!(
                "cannot change owner/group of '{}' to 0/{keys_gid}: {}",
                dir.display(),
                io_reason(&e)
            ))
        })?;
    }
    Ok(dir)
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The temporary name the new symlink gets before it is renamed over `link`.
pub fn temp_link_name(link: &Path) -> PathBuf {
    let base = link
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    link.with_file_name(format!(".{base}.keytap-new"))
}

/// Points `link` at `target` atomically: a new symlink under a temporary name, renamed
/// over the old one.
pub fn switch(target: &Path, link: &Path) -> Result<(), InstallError> {
    let parent = link.parent().unwrap_or(Path::new("/"));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(parent)
        .map_err(InstallError::io_on("cannot create directory", parent))?;
    match std::os::unix::fs::symlink(target, link) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(err(format!(
                "cannot create symlink {}: {}",
                link.display(),
                io_reason(&e)
            )))
        }
    }
    let tmp = temp_link_name(link);
    remove_any(&tmp).map_err(InstallError::io_on("cannot remove stale", &tmp))?;
    std::os::unix::fs::symlink(target, &tmp)
        .map_err(InstallError::io_on("cannot create symlink", &tmp))?;
    std::fs::rename(&tmp, link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(format!(
            "cannot rename {} to {}: {}",
            tmp.display(),
            link.display(),
            io_reason(&e)
        ))
    })
}

/// A symlink to make: `path` -> `target`, owned by `uid:gid`.
pub struct Link<'a> {
    /// What the link points to (`<symlinkPath>/<name>`).
    pub target: PathBuf,
    /// Where the link goes (the secret's `path`).
    pub path: &'a str,
    /// Owner of the link.
    pub uid: u32,
    /// Group of the link.
    pub gid: u32,
    /// `secret` or `template`, for messages.
    pub kind: &'static str,
}

/// Makes every link whose `path` is not its `target` (those are reachable through the
/// generation symlink already). Links point through `symlinkPath`, so they never need to
/// change when a new generation goes live. The link's directory is opened without
/// following another user's symlinks (see [`trusted_path`](super::trusted_path)).
pub fn link_paths(links: &[Link<'_>], user_mode: bool) -> Result<(), InstallError> {
    let trusted_uid = rustix::process::geteuid().as_raw();
    for l in links {
        if l.target == Path::new(l.path) {
            continue;
        }
        let path = Path::new(l.path);
        let (parent, name) = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => (parent, name),
            _ => {
                return Err(err(format!(
                    "cannot symlink {} '{}': no file name",
                    l.kind, l.path
                )))
            }
        };
        let dir = super::trusted_path::open_dir(parent, trusted_uid).map_err(|e| {
            err(format!(
                "cannot create parent directory of '{}': {e}",
                l.path
            ))
        })?;
        let entry = super::trusted_path::Entry { dir: &dir, name };
        create_symlink(&l.target, &entry, path, (l.uid, l.gid), user_mode).map_err(|e| {
            err(format!(
                "failed to symlink {} '{}': {}",
                l.kind, l.path, e.message
            ))
        })?;
    }
    Ok(())
}

/// Makes `entry` (at `path`) a symlink to `target` owned by `owner`, unless it is one.
fn create_symlink(
    target: &Path,
    entry: &super::trusted_path::Entry<'_>,
    path: &Path,
    (uid, gid): (u32, u32),
    user_mode: bool,
) -> Result<(), InstallError> {
    for _ in 0..16 {
        match entry.stat() {
            Ok(None) => {
                let made = match user_mode {
                    true => entry.symlink(target),
                    false => entry.symlink_owned(target, uid, gid),
                };
                return made.map_err(|e| {
                    err(format!(
                        "cannot create symlink '{}' (pointing to '{}'): {}",
                        path.display(),
                        target.display(),
                        io_reason(&e)
                    ))
                });
            }
            Err(e) => {
                return Err(err(format!(
                    "cannot stat '{}': {}",
                    path.display(),
                    io_reason(&e)
                )))
            }
            Ok(Some(stat)) => {
                let is_link = rustix::fs::FileType::from_raw_mode(stat.st_mode)
                    == rustix::fs::FileType::Symlink;
                if is_link
                    && entry.read_link().is_ok_and(|current| current == target)
                    && (user_mode || (stat.st_uid == uid && stat.st_gid == gid))
                {
                    return Ok(());
                }
                entry.remove_as_go_does().map_err(|e| {
                    err(format!(
                        "cannot override {}: remove {}: {}",
                        path.display(),
                        path.display(),
                        io_reason(&e)
                    ))
                })?;
            }
        }
    }
    Err(err(format!(
        "cannot create symlink '{}': it keeps reappearing",
        path.display()
    )))
}

/// Removes numbered generations older than the newest `keep` (the current one counts);
/// `keep == 0` keeps all. Anything not a number is left alone.
pub fn prune(mount: &Path, current_dir: &Path, keep: u64) -> Result<(), InstallError> {
    if keep == 0 {
        return Ok(());
    }
    let current: u64 = current_dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| err("logic error, current generation is not numeric".into()))?;
    let entries = std::fs::read_dir(mount).map_err(InstallError::io_on("cannot open", mount))?;
    for entry in entries {
        let entry = entry.map_err(InstallError::io_on("cannot read", mount))?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        if n == current {
            continue;
        }
        // Newer numbers than the live one (leftovers of interrupted runs) stay, as in
        // sops-nix; they are replaced when their number comes up.
        if i128::from(current) - i128::from(keep) >= i128::from(n) {
            remove_any(&entry.path())
                .map_err(InstallError::io_on("cannot remove", &entry.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_newest_and_non_numeric() {
        let d = tempfile::tempdir().unwrap();
        for n in 1..=12 {
            std::fs::create_dir(d.path().join(n.to_string())).unwrap();
        }
        std::fs::create_dir(d.path().join("non-numeric")).unwrap();
        prune(d.path(), &d.path().join("10"), 3).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["10", "11", "12", "8", "9", "non-numeric"]);
        prune(d.path(), &d.path().join("10"), 0).unwrap();
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 6);
    }

    #[test]
    fn switch_replaces_an_existing_link_atomically() {
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("secrets");
        switch(&d.path().join("1"), &link).unwrap();
        switch(&d.path().join("2"), &link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), d.path().join("2"));
        assert!(!temp_link_name(&link).exists());
        assert_eq!(current(d.path(), &link).unwrap(), 2);
    }
}
