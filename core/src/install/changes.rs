//! What changed since the live generation: units to restart or reload (through
//! `systemctl` when running as the systemd unit, else appended to NixOS's activation
//! lists), and the `adding/modifying/removing secret: ...` lines sops-nix prints.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::template::RENDERED_SUBDIR;
use super::InstallError;
use crate::goerr::io_reason;

/// A secret or template as far as change detection cares.
pub struct Entry<'a> {
    /// Its name (relative path in the generation, under `rendered/` for templates).
    pub name: &'a str,
    /// Units to restart when it changes.
    pub restart_units: &'a [String],
    /// Units to reload when it changes.
    pub reload_units: &'a [String],
}

impl<'a> Entry<'a> {
    /// The entry of a secret or template named `name`.
    pub fn new(name: &'a str, restart_units: &'a [String], reload_units: &'a [String]) -> Self {
        Entry {
            name,
            restart_units,
            reload_units,
        }
    }
}

/// Where NixOS's activation lists live (`/run/nixos`; tests point it elsewhere with
/// `KEYTAP_INSTALL_NIXOS_RUN_DIR`).
fn nixos_run_dir() -> PathBuf {
    std::env::var_os("KEYTAP_INSTALL_NIXOS_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/nixos"))
}

#[derive(Default)]
struct Found {
    restart: Vec<String>,
    reload: Vec<String>,
    added: BTreeSet<String>,
    modified: BTreeSet<String>,
}

fn compare(
    old_dir: &Path,
    new_dir: &Path,
    entries: &[Entry<'_>],
    found: &mut Found,
) -> Result<(), InstallError> {
    for e in entries {
        let old = std::fs::read(old_dir.join(e.name));
        let changed = match old {
            Err(err)
                if err.kind() == std::io::ErrorKind::NotFound
                    || err.raw_os_error() == Some(libc::ENOTDIR)
                    || err.raw_os_error() == Some(libc::EISDIR) =>
            {
                found.added.insert(e.name.to_string());
                true
            }
            Err(err) => {
                return Err(InstallError::new(format!(
                    "cannot read {}: {err}",
                    old_dir.join(e.name).display()
                )))
            }
            Ok(old) => {
                let new = std::fs::read(new_dir.join(e.name)).map_err(|err| {
                    InstallError::new(format!(
                        "cannot read {}: {err}",
                        new_dir.join(e.name).display()
                    ))
                })?;
                let differs = old != new;
                if differs {
                    found.modified.insert(e.name.to_string());
                }
                differs
            }
        };
        if changed {
            found.restart.extend(e.restart_units.iter().cloned());
            found.reload.extend(e.reload_units.iter().cloned());
        }
    }
    Ok(())
}

/// Files under `dir` (following symlinks), as paths relative to it.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let path = e.path();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, &rel, out),
            Ok(_) => out.push(rel),
            Err(_) => {}
        }
    }
}

/// Compares the live generation (through `symlink_path`) with `new_dir`, requests unit
/// restarts/reloads and prints the changes. Nothing happens on first activation (no live
/// generation: units start with the new secrets anyway).
pub fn handle(
    dry: bool,
    log_changes: bool,
    symlink_path: &Path,
    new_dir: &Path,
    secrets: &[Entry<'_>],
    templates: &[Entry<'_>],
) -> Result<(), InstallError> {
    if std::fs::metadata(symlink_path).is_err() {
        return Ok(());
    }
    let mut secret_changes = Found::default();
    compare(symlink_path, new_dir, secrets, &mut secret_changes)?;
    let mut template_changes = Found::default();
    compare(
        &symlink_path.join(RENDERED_SUBDIR),
        &new_dir.join(RENDERED_SUBDIR),
        templates,
        &mut template_changes,
    )?;
    // Secrets' units first, then templates'.
    let both = |units: fn(&Found) -> &Vec<String>| -> Vec<String> {
        let (secrets, templates) = (units(&secret_changes), units(&template_changes));
        secrets.iter().chain(templates).cloned().collect()
    };
    let restart = both(|f| &f.restart);
    let reload = both(|f| &f.reload);

    if std::env::var("SOPS_RESTART_UNITS_VIA_SYSTEMCTL").as_deref() == Ok("1") {
        if dry {
            for u in &restart {
                eprintln!("would restart {u}");
            }
            for u in &reload {
                eprintln!("would reload {u}");
            }
        } else {
            systemctl("try-restart", &restart)?;
            systemctl("try-reload-or-restart", &reload)?;
        }
    } else {
        let prefix = if dry { "dry-activation" } else { "activation" };
        let dir = nixos_run_dir();
        append_lines(&restart, &dir, &format!("{prefix}-restart-list"))?;
        append_lines(&reload, &dir, &format!("{prefix}-reload-list"))?;
    }

    if !log_changes {
        return Ok(());
    }
    let mut live = Vec::new();
    walk(symlink_path, "", &mut live);
    let mut removed_secrets = BTreeSet::new();
    let mut removed_templates = BTreeSet::new();
    let rendered_prefix = format!("{RENDERED_SUBDIR}/");
    for rel in live {
        if let Some(t) = rel.strip_prefix(&rendered_prefix) {
            if !templates.iter().any(|e| e.name == t) {
                removed_templates.insert(t.to_string());
            }
        } else if !secrets.iter().any(|e| e.name == rel) {
            removed_secrets.insert(rel);
        }
    }
    let mut out = std::io::stdout().lock();
    let mut line = |noun: &str, set: &BTreeSet<String>, verb: &str, dry_verb: &str| {
        if set.is_empty() {
            return;
        }
        let s = if set.len() == 1 { "" } else { "s" };
        let v = if dry { dry_verb } else { verb };
        let names: Vec<&str> = set.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{v} {noun}{s}: {}", names.join(", "));
    };
    line("secret", &secret_changes.added, "adding", "would add");
    line(
        "secret",
        &secret_changes.modified,
        "modifying",
        "would modify",
    );
    line("secret", &removed_secrets, "removing", "would remove");
    line(
        "rendered secret",
        &template_changes.added,
        "adding",
        "would add",
    );
    line(
        "rendered secret",
        &template_changes.modified,
        "modifying",
        "would modify",
    );
    line(
        "rendered secret",
        &removed_templates,
        "removing",
        "would remove",
    );
    Ok(())
}

fn systemctl(verb: &str, units: &[String]) -> Result<(), InstallError> {
    if units.is_empty() {
        return Ok(());
    }
    // --no-block: the unit is ordered before sysinit-reactivation.target; waiting for a
    // normal service from here would deadlock the transaction.
    let mut args = vec!["--no-block".to_string(), verb.to_string()];
    args.extend(units.iter().cloned());
    let status = std::process::Command::new("systemctl")
        .args(&args)
        // sops-install-secrets sends both of systemctl's streams to its stderr.
        .stdout(std::io::stderr())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(InstallError::new(format!(
            "error running 'systemctl {}': {}",
            args.join(" "),
            crate::goerr::exit_reason(s)
        ))),
        Err(e) => Err(InstallError::new(format!(
            "error running 'systemctl {}': {}",
            args.join(" "),
            crate::goerr::start_reason("systemctl", &e)
        ))),
    }
}

fn append_lines(units: &[String], dir: &Path, file: &str) -> Result<(), InstallError> {
    if units.is_empty() || !dir.exists() {
        return Ok(());
    }
    let path = dir.join(file);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| InstallError::new(format!("open {}: {}", path.display(), io_reason(&e))))?;
    let mut text = String::new();
    for u in units {
        text.push_str(u);
        text.push('\n');
    }
    f.write_all(text.as_bytes())
        .map_err(|e| InstallError::new(format!("write {}: {}", path.display(), io_reason(&e))))
}
