//! `keytap git-setup [--dry-run]`: configures the git repository around the current
//! directory for sops files: the `sops` merge driver (`keytap merge %O %A %B %P`) and
//! diff textconv (`keytap decrypt`) in the repository's own config, and a `.gitattributes`
//! line for every tracked sops file (those that parse with sops metadata). Lines already
//! there are kept; running it again after adding files adds theirs.

use std::path::{Path, PathBuf};
use std::process::Command;

use keytap_core::error::exit_code;
use keytap_core::file::EncryptedFile;
use keytap_core::stores::{Format, StoreOptions};

use crate::error::CliError;

/// The git settings: (key, value).
const CONFIG: [(&str, &str); 3] = [
    ("merge.sops.name", "keytap: three-way merge of sops files"),
    // `--`: a file named like a flag (`--help`) must not become one.
    ("merge.sops.driver", "keytap merge -- %O %A %B %P"),
    ("diff.sops.textconv", "keytap decrypt"),
];

fn git(args: &[&str], dir: &Path) -> Result<String, CliError> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| CliError::new(exit_code::GENERIC, format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(CliError::new(
            exit_code::GENERIC,
            format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The largest file looked at (sops files are small; a tracked link to `/dev/zero` is not
/// read at all).
const MAX_SOPS_FILE: u64 = 64 << 20;

/// Whether `path` is a sops-encrypted file (of the format its name gives): regular files
/// only, never through a link.
fn is_sops_file(path: &Path) -> bool {
    let regular = std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_file() && m.len() <= MAX_SOPS_FILE);
    if !regular {
        return false;
    }
    let Ok(data) = std::fs::read(path) else {
        return false;
    };
    let store = Format::from_path(path).store(&StoreOptions::default());
    EncryptedFile::parse(&*store, data).is_ok()
}

/// A path as a `.gitattributes` pattern anchored at the top: special characters escaped,
/// and paths with spaces or quotes left out (gitattributes cannot quote them).
fn pattern(path: &str) -> Option<String> {
    if path.contains(|c: char| c.is_whitespace() || c == '"' || c.is_control()) {
        return None;
    }
    let mut out = String::from("/");
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '!' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    Some(out)
}

/// Runs `git-setup`.
pub fn run(dry_run: bool) -> Result<i32, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::new(exit_code::GENERIC, format!("current directory: {e}")))?;
    let top = PathBuf::from(
        git(&["rev-parse", "--show-toplevel"], &cwd)
            .map_err(|_| {
                CliError::new(
                    exit_code::GENERIC,
                    "keytap git-setup: not inside a git repository",
                )
            })?
            .trim_end_matches('\n'),
    );
    for (key, value) in CONFIG {
        if dry_run {
            println!("git config --local {key} '{value}'");
        } else {
            git(&["config", "--local", key, value], &top)?;
        }
    }
    let listed = git(&["ls-files", "-z"], &top)?;
    let attributes_file = top.join(".gitattributes");
    let failed = |e: std::io::Error| {
        CliError::new(
            exit_code::GENERIC,
            format!("keytap git-setup: {}: {e}", attributes_file.display()),
        )
    };
    // A repository may ship .gitattributes as a link (to ~/.bashrc, say): never written
    // through, and never replaced after a failed read.
    let existing = match std::fs::symlink_metadata(&attributes_file) {
        Ok(m) if !m.file_type().is_file() => {
            return Err(CliError::new(
                exit_code::GENERIC,
                format!(
                    "keytap git-setup: {} is not a regular file (a link?): refusing to write through it",
                    attributes_file.display()
                ),
            ))
        }
        Ok(_) => std::fs::read_to_string(&attributes_file).map_err(failed)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(failed(e)),
    };
    let mut added = String::new();
    let mut skipped = Vec::new();
    for path in listed.split('\0').filter(|p| !p.is_empty()) {
        if !is_sops_file(&top.join(path)) {
            continue;
        }
        let Some(pattern) = pattern(path) else {
            skipped.push(path.to_string());
            continue;
        };
        let line = format!("{pattern} merge=sops diff=sops");
        if !existing.lines().any(|l| l.trim() == line) {
            added.push_str(&line);
            added.push('\n');
        }
    }
    if dry_run {
        print!("{added}");
    } else if !added.is_empty() {
        let mut text = existing;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&added);
        let mut opts = keytap_core::safefs::replace::Replace::new(
            &attributes_file,
            keytap_core::safefs::replace::Contents::Encrypted,
        );
        opts.follow_symlinks = false;
        keytap_core::safefs::replace::replace(&opts, text.as_bytes()).map_err(|e| {
            CliError::new(
                exit_code::GENERIC,
                format!("keytap git-setup: write {}: {e}", attributes_file.display()),
            )
        })?;
        eprintln!(
            "keytap git-setup: {} sops file(s) added to {}",
            added.lines().count(),
            attributes_file.display()
        );
    }
    for path in skipped {
        eprintln!("keytap git-setup: {path:?} has a space or quote that .gitattributes cannot express: add a pattern for it by hand");
    }
    Ok(0)
}
