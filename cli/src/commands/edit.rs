//! `edit`: decrypt to a private temp file, run the editor, re-encrypt what changed.

use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use keytap_core::error::exit_code;
use keytap_core::file::{has_sops_top_level_key, OpenFile};
use keytap_core::safefs::replace::Contents;
use keytap_core::safefs::{LockedFile, PrivateDir};
use keytap_core::tree::WipedOnDrop;
use sha2::{Digest, Sha256};

use crate::args::{CommonArgs, KeyArgs};
use crate::context;
use crate::error::CliError;
use crate::open::{open_file, OpenMode, Opened};
use crate::output::{write_file, Destination};
use crate::rules;

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
    let data = keytap_core::safefs::read_file_bounded(path).map_err(|e| {
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

/// The plaintext copy the editor works on: a 0600 file in a private directory that is
/// removed on every exit path (and on SIGINT/SIGTERM/SIGHUP), except after a failed write,
/// when it is kept so the user's edit is not lost.
struct EditCopy {
    dir: PrivateDir,
    path: PathBuf,
    _on_signal: crate::cleanup::Registration,
}

impl EditCopy {
    fn create(file: &Path, plain: &[u8]) -> Result<EditCopy, CliError> {
        let fail = |what: &str, e: std::io::Error| {
            CliError::write_failed(format!("Could not create temporary {what}: {e}"))
        };
        let dir = PrivateDir::create("keytap-edit-").map_err(|e| fail("directory", e))?;
        let on_signal = crate::cleanup::on_signal_remove(dir.path().to_path_buf());
        let name = file.file_name().unwrap_or("file".as_ref());
        let path = dir.create_file(name, plain).map_err(|e| fail("file", e))?;
        Ok(EditCopy {
            dir,
            path,
            _on_signal: on_signal,
        })
    }

    /// Writes the sealed file; if that fails, keeps the plaintext copy and says where.
    fn save(
        self,
        file: &Path,
        bytes: &[u8],
        dest: Destination,
        lock: Option<LockedFile>,
    ) -> Result<i32, CliError> {
        match write_file(file, bytes, Contents::Encrypted, dest, lock.is_some()) {
            Ok(()) => Ok(0),
            Err(mut e) => {
                let EditCopy { dir, path, .. } = self;
                dir.keep();
                e.message = format!(
                    "{}\nYour edit is kept in plaintext at {} (mode 0600, in a directory only you can open): save it again with `keytap edit`, then delete it.",
                    e.message,
                    path.display()
                );
                Err(e)
            }
        }
    }
}

/// Runs `edit`.
pub fn run(
    common: &CommonArgs,
    keys: &KeyArgs,
    ignore_mac: bool,
    show_master_keys: bool,
    file: &Path,
) -> Result<i32, CliError> {
    let (mut open, lock, dest) =
        if context::exists(file) {
            let Opened { open, lock, .. } = open_file(common, file, ignore_mac, OpenMode::CHANGE)?;
            (open, lock, Destination::InPlace)
        } else {
            let rules_path = common.filename_override.as_deref().unwrap_or(file);
            let f = context::formats(common, file, rules::store_options()?)?;
            let settings = rules::resolve(
                keys,
                rules_path,
                f.input == keytap_core::stores::Format::Binary,
            )?;
            let docs = keytap_core::example::example_docs(f.input);
            let open = OpenFile::create(docs, settings.metadata, &context::wrapping_sources())
                .map_err(|e| {
                    let reason = match e {
                        keytap_core::error::Error::Wrap(w) => w.to_string(),
                        other => other.to_string(),
                    };
                    CliError::new(
                exit_code::COULD_NOT_RETRIEVE_KEY,
                format!("Error encrypting the data key with one or more master keys: [{reason}]"),
            )
                })?;
            (open, None, Destination::NewFile)
        };
    let f = context::formats(common, file, rules::store_options().unwrap_or_default())?;
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
    let copy = EditCopy::create(file, &plain)?;
    drop(plain);
    let tmp = copy.path.clone();
    let original = hash(&tmp)?;

    loop {
        let mut editor = editor_command(&tmp)?;
        let could_not_run = |reason: String| {
            CliError::new(
                exit_code::NO_EDITOR_FOUND,
                format!("Could not run editor: {reason}"),
            )
        };
        crate::cleanup::editor_started();
        let mut child = editor.spawn().map_err(|e| {
            let program = editor.get_program().to_string_lossy();
            could_not_run(keytap_core::goerr::start_reason(&program, &e))
        })?;
        let status = child.wait().map_err(|e| could_not_run(e.to_string()))?;
        if std::os::unix::process::ExitStatusExt::signal(&status).is_some() {
            crate::cleanup::yield_to_interruption();
        }
        if !status.success() {
            return Err(could_not_run(keytap_core::goerr::exit_reason(status)));
        }
        if hash(&tmp)? == original {
            return Err(CliError::new(
                exit_code::FILE_HAS_NOT_BEEN_MODIFIED,
                "File has not changed, exiting.",
            ));
        }
        let edited =
            zeroize::Zeroizing::new(keytap_core::safefs::read_file_bounded(&tmp).map_err(|e| {
                CliError::new(
                    exit_code::COULD_NOT_READ_INPUT_FILE,
                    format!("Could not read edited file: {e}"),
                )
            })?);
        if show_master_keys {
            let loaded = f
                .input_store
                .load_encrypted(&edited)
                .map(|(docs, meta)| (WipedOnDrop(docs), meta));
            match loaded {
                Ok((docs, Some(meta))) => match keytap_core::metadata::Metadata::from_branch(&meta)
                {
                    Ok(m) => {
                        // The data key stays; keys added here get no wrapped copy (as in sops).
                        open.metadata.key_groups = m.key_groups;
                        open.metadata.shamir_threshold = m.shamir_threshold;
                        open.metadata.crypt_rule = m.crypt_rule;
                        open.metadata.mac_only_encrypted = m.mac_only_encrypted;
                        open.replace_docs(docs.take());
                        open.bump_version();
                        match open.seal().and_then(|s| s.emit(&*f.output_store, f.output)) {
                            Ok(bytes) => return copy.save(file, &bytes, dest, lock),
                            Err(e) => {
                                wait_for_user(&format!("Could not encrypt the edited file: {e}"))?
                            }
                        }
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
        match f.input_store.load_plain(&edited).map(WipedOnDrop) {
            Ok(docs) if docs.0.is_empty() => {
                wait_for_user("The file must contain at least one document.")?
            }
            Ok(docs) if has_sops_top_level_key(&docs.0[0], f.output) => wait_for_user(
                "The file contains a top-level 'sops' entry, which holds metadata; rename it.",
            )?,
            Ok(docs) => {
                open.replace_docs(docs.take());
                open.bump_version();
                match open.seal().and_then(|s| s.emit(&*f.output_store, f.output)) {
                    Ok(bytes) => return copy.save(file, &bytes, dest, lock),
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
