//! Finding `.sops.yaml`: the flag, the environment, then upward from the current
//! directory; paths spelled and cleaned as Go spells them.

use super::*;

// ---------------------------------------------------------------------------------------
// Lookup
// ---------------------------------------------------------------------------------------

/// Result of [`lookup_config`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigLookup {
    /// The config found, spelled as sops spells it: `start_dir` joined with `..` components
    /// and lexically cleaned (from `.`: `.sops.yaml`, `../.sops.yaml`, ...).
    pub path: Option<PathBuf>,
    /// sops's warning about an ignored `.sops.yml` (the nearest one below the config, or
    /// anywhere on the way if none was found). sops logs it at warning level.
    pub warning: Option<String>,
}

/// Looks for `.sops.yaml` in `start_dir` and its parents, exactly like sops's
/// `LookupConfigFile`: [`MAX_LOOKUP_DEPTH`] candidates `start_dir/.sops.yaml`,
/// `start_dir/../.sops.yaml`, ..., built lexically (like Go's `path.Join`) and tested with
/// `stat` (so a directory named `.sops.yaml` counts, and fails later when read).
///
/// sops always starts at `.` (the current directory). Pass `Path::new(".")` to get the
/// same relative spelling and the same resolution of `..` through symlinks (done by the
/// kernel, relative to the real working directory). Unlike sops's function, `start_dir` is
/// the directory itself (sops takes `path.Dir` of its argument, and `path.Dir(".") == "."`).
pub fn lookup_config(start_dir: &Path) -> ConfigLookup {
    let mut dir = clean_path(start_dir);
    let mut alternate: Option<PathBuf> = None;
    // Past the root, `../` is the root again: sops stats the root's files for the remaining
    // levels; stopping there gives the same answer without a hundred more `stat`s.
    let real = if dir == Path::new(".") {
        std::env::current_dir() // getcwd: the physical path, as `..` walks it
    } else {
        std::fs::canonicalize(start_dir)
    };
    let levels = real
        .map(|real| real.components().count())
        .unwrap_or(MAX_LOOKUP_DEPTH)
        .min(MAX_LOOKUP_DEPTH);
    for _ in 0..levels {
        let candidate = clean_path(&dir.join(CONFIG_FILE_NAME));
        if std::fs::metadata(&candidate).is_ok() {
            let warning = alternate.map(|alt| {
                format!(
                    "ignoring {:?} when searching for config file; the config file must be called {:?}; using {:?} instead",
                    alt.to_string_lossy(),
                    CONFIG_FILE_NAME,
                    candidate.to_string_lossy()
                )
            });
            return ConfigLookup {
                path: Some(candidate),
                warning,
            };
        }
        if alternate.is_none() {
            let alt = clean_path(&dir.join(ALTERNATE_CONFIG_FILE_NAME));
            if std::fs::metadata(&alt).is_ok() {
                alternate = Some(alt);
            }
        }
        let parent = clean_path(&dir.join(".."));
        if parent == dir {
            // At the root: sops stats the same file for the remaining levels.
            break;
        }
        dir = parent;
    }
    ConfigLookup {
        path: None,
        warning: alternate.map(|alt| {
            format!(
                "ignoring {:?} when searching for config file; the config file must be called {:?}",
                alt.to_string_lossy(),
                CONFIG_FILE_NAME
            )
        }),
    }
}

/// [`lookup_config`] without the warning: the path of the `.sops.yaml` sops would use.
pub fn find_config(start_dir: &Path) -> Option<PathBuf> {
    lookup_config(start_dir).path
}

/// The outcome of [`choose_config`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigChoice {
    /// The config file to load, if any.
    pub path: Option<PathBuf>,
    /// `true` when the path came from `--config` or `SOPS_CONFIG`: it must then be
    /// readable (a missing file is an error). A looked-up path always exists.
    pub explicit: bool,
    /// The `.sops.yml` warning of the lookup (see [`ConfigLookup::warning`]).
    pub warning: Option<String>,
}

/// Which config file sops uses: `--config` if given and non-empty, else `SOPS_CONFIG`
/// (pass `std::env::var_os(CONFIG_ENV_VAR)`; empty counts as unset), else
/// [`lookup_config`] from `.` (the current directory). `path: None` means "no config":
/// sops then needs keys on the command line.
pub fn choose_config(flag: Option<&Path>, env: Option<&std::ffi::OsStr>) -> ConfigChoice {
    if let Some(p) = flag.filter(|p| !p.as_os_str().is_empty()) {
        return ConfigChoice {
            path: Some(p.to_path_buf()),
            explicit: true,
            warning: None,
        };
    }
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        return ConfigChoice {
            path: Some(PathBuf::from(p)),
            explicit: true,
            warning: None,
        };
    }
    let found = lookup_config(Path::new("."));
    ConfigChoice {
        path: found.path,
        explicit: false,
        warning: found.warning,
    }
}

/// Lexical path cleaning with Go's `path.Clean` rules: drops `.` components, resolves
/// `..` against a preceding normal component (at the root `..` is dropped; leading `..` of
/// a relative path is kept), and an empty result becomes `.`.
pub fn clean_path(p: &Path) -> PathBuf {
    let mut parts: Vec<Component<'_>> = Vec::new();
    let mut rooted = false;
    let mut prefix: Option<Component<'_>> = None;
    for c in p.components() {
        match c {
            Component::Prefix(_) => prefix = Some(c),
            Component::RootDir => rooted = true,
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(c),
            },
            Component::Normal(_) => parts.push(c),
        }
    }
    let mut out = PathBuf::new();
    if let Some(pre) = prefix {
        out.push(pre.as_os_str());
    }
    if rooted {
        out.push(Component::RootDir.as_os_str());
    }
    for c in &parts {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The working directory as Go's `os.Getwd` reports it: `$PWD` when it is absolute and
/// names the same directory as `.` (so a symlinked working directory keeps its symlink
/// spelling, as in sops), else the kernel's `getcwd`.
pub fn go_getwd() -> io::Result<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Some(pwd) = std::env::var_os("PWD") {
            let pwd = PathBuf::from(pwd);
            if pwd.is_absolute() {
                if let (Ok(a), Ok(b)) = (std::fs::metadata(&pwd), std::fs::metadata(".")) {
                    if a.dev() == b.dev() && a.ino() == b.ino() {
                        return Ok(pwd);
                    }
                }
            }
        }
    }
    std::env::current_dir()
}

/// Go's `filepath.Abs`: a cleaned absolute path, joined lexically onto [`go_getwd`]
/// (symlinks are not resolved). sops applies this to the file argument (or
/// `--filename-override`) before matching creation rules.
pub fn absolute_path(p: &Path) -> io::Result<PathBuf> {
    if p.is_absolute() {
        return Ok(clean_path(p));
    }
    Ok(clean_path(&go_getwd()?.join(p)))
}

/// The directory creation rules are relative to: `filepath.Abs(filepath.Dir(config_path))`.
pub fn config_dir(config_path: &Path) -> io::Result<PathBuf> {
    let parent = match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    absolute_path(parent)
}
