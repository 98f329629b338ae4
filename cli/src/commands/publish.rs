//! `publish`: sops uploads a file (or a directory's files) to the S3 bucket, GCS bucket or
//! Vault path its `.sops.yaml` destination rule names. keytap makes sops's checks, in
//! sops's order and with its exit codes, then says it does not upload: a clear error
//! instead of, as before, taking `publish` for a file to edit.

use std::path::{Path, PathBuf};

use keytap_core::config::DestinationRule;
use keytap_core::error::exit_code;
use keytap_core::goerr::io_reason;

use crate::args::PublishArgs;
use crate::error::CliError;

/// Runs `publish [--recursive] PATH`.
pub fn run(args: &PublishArgs) -> Result<i32, CliError> {
    let generic = |message: String| CliError::new(exit_code::GENERIC, message);
    let config = crate::config_rules::load_config()?
        .ok_or_else(|| generic("config file not found".into()))?;
    let Some(path) = super::first_positional(&args.files).first() else {
        return Err(CliError::new(
            exit_code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    };
    let meta = std::fs::metadata(path)
        .map_err(|e| generic(format!("stat {}: {}", path.display(), io_reason(&e))))?;
    if meta.is_dir() && !args.recursive {
        return Err(generic(
            "can't operate on a directory without --recursive flag.".into(),
        ));
    }
    // sops walks the directory in lexical order and stops at the first failure.
    let Some(file) = first_file(path)? else {
        return Ok(0);
    };
    let rule = config
        .destination_rule_for(&file.to_string_lossy())
        .map_err(|e| CliError::new(e.exit_code(), e.to_string()))?;
    match destination(rule) {
        Some(to) => Err(generic(format!(
            "keytap does not publish {} to {to}: uploading is left to sops publish",
            file.display(),
        ))),
        None => Err(generic("no destination configured for this file".into())),
    }
}

/// The first regular file under `path` in `filepath.Walk`'s order (`path` itself if it is
/// one).
fn first_file(path: &Path) -> Result<Option<PathBuf>, CliError> {
    // Walk does not follow a link to a directory below the root.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Ok(Some(path.to_path_buf()));
    }
    let read = |e: std::io::Error| {
        CliError::new(
            exit_code::GENERIC,
            format!("open {}: {}", path.display(), io_reason(&e)),
        )
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort();
    for entry in entries {
        if std::fs::symlink_metadata(&entry).is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(Some(entry));
        }
        if let Some(file) = first_file(&entry)? {
            return Ok(Some(file));
        }
    }
    Ok(None)
}

/// Where a destination rule points, for the message (`None`: nowhere).
fn destination(rule: &DestinationRule) -> Option<String> {
    if !rule.s3_bucket.is_empty() {
        Some(format!("s3://{}/{}", rule.s3_bucket, rule.s3_prefix))
    } else if !rule.gcs_bucket.is_empty() {
        Some(format!("gs://{}/{}", rule.gcs_bucket, rule.gcs_prefix))
    } else if !rule.vault_path.is_empty() {
        Some(format!(
            "Vault {} at {}",
            rule.vault_path, rule.vault_address
        ))
    } else {
        None
    }
}
