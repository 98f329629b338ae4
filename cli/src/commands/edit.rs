//! `edit`: decrypt to a private temp file, run the editor, re-encrypt what changed.

use std::io::{BufRead, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use keytap_core::error::exit_code;
use keytap_core::file::{has_sops_top_level_key, OpenFile};
use sha2::{Digest, Sha256};

use crate::args::{CommonArgs, KeyArgs};
use crate::commands::decrypt::open_file;
use crate::context;
use crate::error::CliError;
use crate::rules;

/// A private directory holding the plaintext while the editor runs. Removed on drop and,
/// through the signal handler, on SIGINT/SIGTERM/SIGHUP.
struct PrivateDir {
    path: PathBuf,
    registry: Arc<Mutex<Option<PathBuf>>>,
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        if let Ok(mut r) = self.registry.lock() {
            *r = None;
        }
    }
}

fn private_dir() -> Result<PrivateDir, CliError> {
    let dir = tempfile::Builder::new()
        .prefix("keytap-edit-")
        .tempdir()
        .map_err(|e| {
            CliError::new(
                exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("Could not create temporary directory: {e}"),
            )
        })?;
    let path = dir.keep();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
        CliError::new(
            exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("Could not restrict temporary directory: {e}"),
        )
    })?;
    let registry = Arc::new(Mutex::new(Some(path.clone())));
    install_cleanup(registry.clone());
    Ok(PrivateDir { path, registry })
}

/// On a terminating signal, remove the plaintext directory before exiting.
fn install_cleanup(registry: Arc<Mutex<Option<PathBuf>>>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            if let Ok(r) = registry.lock() {
                if let Some(p) = r.as_ref() {
                    let _ = std::fs::remove_dir_all(p);
                }
            }
            eprintln!("Interrupted: the plaintext copy was removed and the file was not changed.");
            std::process::exit(if sig == SIGINT {
                exit_code::KEYBOARD_INTERRUPT
            } else {
                128 + sig
            });
        }
    });
}

fn editor_command(path: &Path) -> Result<Command, CliError> {
    for var in ["SOPS_EDITOR", "EDITOR"] {
        if let Ok(editor) = std::env::var(var) {
            if editor.is_empty() {
                continue;
            }
            let parts = shlex::split(&editor)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    CliError::new(
                        exit_code::NO_EDITOR_FOUND,
                        format!("Could not run editor: invalid ${var}: {editor}"),
                    )
                })?;
            let mut cmd = Command::new(&parts[0]);
            cmd.args(&parts[1..]).arg(path);
            return Ok(cmd);
        }
    }
    for name in ["vim", "nano", "vi"] {
        if let Some(found) = find_in_path(name) {
            let mut cmd = Command::new(found);
            cmd.arg(path);
            return Ok(cmd);
        }
    }
    Err(CliError::new(
        exit_code::NO_EDITOR_FOUND,
        "Could not run editor: no editor available: sops attempts to use the editor defined in the SOPS_EDITOR or EDITOR environment variables, and if that's not set defaults to any of vim, nano, vi, but none of them could be found",
    ))
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn hash(path: &Path) -> Result<Vec<u8>, CliError> {
    let data = std::fs::read(path).map_err(|e| {
        CliError::new(
            exit_code::COULD_NOT_READ_INPUT_FILE,
            format!("Could not hash file: {e}"),
        )
    })?;
    let data = zeroize::Zeroizing::new(data);
    Ok(Sha256::digest(&data[..]).to_vec())
}

/// Waits for Enter before reopening the editor; stdin at EOF (no user) aborts instead.
fn wait_for_user(reason: &str) -> Result<(), CliError> {
    eprintln!("{reason}");
    eprintln!("Press enter to return to the editor, or Ctrl+C to exit.");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(n) if n > 0 => Ok(()),
        _ => Err(CliError::new(
            exit_code::GENERIC,
            format!("{reason} (no input to continue; file not changed)"),
        )),
    }
}

/// Runs `edit`.
pub fn run(
    common: &CommonArgs,
    keys: &KeyArgs,
    ignore_mac: bool,
    show_master_keys: bool,
    file: &str,
    config: Option<&str>,
) -> Result<i32, CliError> {
    let mut open = if context::exists(file) {
        open_file(common, file, ignore_mac)?.0
    } else {
        let rules_path = common.filename_override.as_deref().unwrap_or(file);
        let f = context::formats(common, file, rules::store_options(config)?)?;
        let settings = rules::resolve(
            keys,
            rules_path,
            config,
            f.input == keytap_core::stores::Format::Binary,
        )?;
        let docs = keytap_core::example::example_docs(f.input);
        OpenFile::create(docs, settings.metadata).map_err(|e| {
            CliError::new(
                exit_code::COULD_NOT_RETRIEVE_KEY,
                format!("Error encrypting the data key with one or more master keys: {e}"),
            )
        })?
    };
    let f = context::formats(
        common,
        file,
        rules::store_options(config).unwrap_or_default(),
    )?;
    let dir = private_dir()?;
    let name = Path::new(file)
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.path.join(name);
    // With -s, the editor also shows the `sops` metadata (values stay in plaintext), as sops does.
    let shown = if show_master_keys {
        let empty_list = if f.output == keytap_core::stores::Format::Yaml {
            keytap_core::tree::Value::List(Vec::new())
        } else {
            keytap_core::tree::Value::Null
        };
        f.output_store
            .emit_encrypted(&open.docs, &open.metadata.to_branch(empty_list))
    } else {
        f.output_store.emit_plain(&open.docs)
    };
    let plain = zeroize::Zeroizing::new(shown.map_err(|e| {
        CliError::new(
            exit_code::ERROR_DUMPING_TREE,
            format!("Could not marshal tree: {e}"),
        )
    })?);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| {
            CliError::new(
                exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("Could not create temporary file: {e}"),
            )
        })?;
    out.write_all(&plain)
        .and_then(|_| out.sync_all())
        .map_err(|e| {
            CliError::new(
                exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("Could not write output file: {e}"),
            )
        })?;
    drop(out);
    let original = hash(&tmp)?;

    loop {
        let status = editor_command(&tmp)?.status().map_err(|e| {
            CliError::new(
                exit_code::NO_EDITOR_FOUND,
                format!("Could not run editor: {e}"),
            )
        })?;
        if !status.success() {
            return Err(CliError::new(
                exit_code::NO_EDITOR_FOUND,
                format!("Could not run editor: {status}"),
            ));
        }
        if hash(&tmp)? == original {
            return Err(CliError::new(
                exit_code::FILE_HAS_NOT_BEEN_MODIFIED,
                "File has not changed, exiting.",
            ));
        }
        let edited = zeroize::Zeroizing::new(std::fs::read(&tmp).map_err(|e| {
            CliError::new(
                exit_code::COULD_NOT_READ_INPUT_FILE,
                format!("Could not read edited file: {e}"),
            )
        })?);
        if show_master_keys {
            match f.input_store.load_encrypted(&edited) {
                Ok((docs, Some(meta))) => match keytap_core::metadata::Metadata::from_branch(&meta)
                {
                    Ok(m) => {
                        // The data key stays; keys added here get no wrapped copy (as in sops).
                        open.metadata.key_groups = m.key_groups;
                        open.metadata.shamir_threshold = m.shamir_threshold;
                        open.metadata.crypt_rule = m.crypt_rule;
                        open.metadata.mac_only_encrypted = m.mac_only_encrypted;
                        open.docs = docs;
                        open.bump_version();
                        let sealed = open.seal()?;
                        let bytes = sealed.emit(&*f.output_store, f.output)?;
                        crate::output::write_atomic(Path::new(file), &bytes, 0o644)?;
                        return Ok(0);
                    }
                    Err(e) => wait_for_user(&format!("SOPS metadata is invalid: {e}"))?,
                },
                Ok((_, None)) => {
                    wait_for_user("SOPS metadata is invalid: sops metadata not found")?
                }
                Err(e) => wait_for_user(&format!(
                    "Could not load tree, probably due to invalid syntax: {}",
                    e.message
                ))?,
            }
            continue;
        }
        match f.input_store.load_plain(&edited) {
            Ok(docs) if docs.is_empty() => {
                wait_for_user("The file must contain at least one document.")?
            }
            Ok(docs) if has_sops_top_level_key(&docs[0], f.output) => wait_for_user(
                "The file contains a top-level 'sops' entry, which holds metadata; rename it.",
            )?,
            Ok(docs) => {
                open.docs = docs;
                open.bump_version();
                match open.seal() {
                    Ok(sealed) => {
                        let bytes = sealed.emit(&*f.output_store, f.output)?;
                        crate::output::write_atomic(Path::new(file), &bytes, 0o644)?;
                        return Ok(0);
                    }
                    Err(e) => wait_for_user(&format!("Could not encrypt the edited file: {e}"))?,
                }
            }
            Err(e) => wait_for_user(&format!(
                "Could not load tree, probably due to invalid syntax: {}",
                e.message
            ))?,
        }
    }
}
