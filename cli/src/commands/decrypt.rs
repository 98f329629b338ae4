//! `decrypt`: sops file in, plaintext out (or one value with `--extract`).

use std::path::{Path, PathBuf};

use keytap_core::safefs::replace::Contents;
use keytap_core::safefs::{replace, Replace};

use keytap_core::error::exit_code;
use keytap_core::stores::Format;
use keytap_core::tree::{Branch, Item, Value, WipedOnDrop};
use keytap_core::treepath;

use crate::args::CommonArgs;
use crate::context;
use crate::error::CliError;
use crate::open::{open_file, OpenMode, Opened};

/// sops's error for a file the output store cannot write, with its hint when that store
/// is the binary one.
fn dump_error(e: impl std::fmt::Display) -> CliError {
    use keytap_core::stores::binary::{EMIT_ERROR, NOT_BINARY_HINT};
    let message = e.to_string();
    let hint = match message.starts_with(EMIT_ERROR) {
        true => format!("\n\n{NOT_BINARY_HINT}"),
        false => String::new(),
    };
    CliError::new(
        exit_code::ERROR_DUMPING_TREE,
        format!("Error dumping file: {message}{hint}"),
    )
}

/// The bytes `--extract` prints for a value of the first document: strings raw, other
/// scalars in their text form, collections through the output store.
fn extract_bytes(
    value: &Value,
    later_docs: &[Branch],
    f: &context::Formats,
) -> Result<Vec<u8>, CliError> {
    // sops: strings raw, anything else through EmitValue, except a map: it replaces the
    // first document and the whole file is written, later documents included.
    Ok(match value {
        Value::Str(s) => s.clone().into_bytes(),
        Value::Bytes(b) => b.clone(),
        Value::Map(branch) => {
            let docs = WipedOnDrop(std::iter::once(branch).chain(later_docs).cloned().collect());
            f.output_store.emit_plain(&docs.0).map_err(dump_error)?
        }
        other => f.output_store.emit_value(other).map_err(|e| {
            CliError::new(
                exit_code::ERROR_DUMPING_TREE,
                format!("Error dumping tree: {e}"),
            )
        })?,
    })
}

/// The bytes `--extract` prints for an item of a mapping (an index into a mapping): sops
/// writes its `TreeItem` struct through EmitValue, whatever the item holds.
fn extract_item(item: &Item, f: &context::Formats) -> Result<Vec<u8>, CliError> {
    fn failed(e: impl std::fmt::Display) -> CliError {
        CliError::new(
            exit_code::ERROR_DUMPING_TREE,
            format!("Error dumping tree: {e}"),
        )
    }
    match f.output {
        Format::Dotenv => Err(failed(
            "the dotenv store only supports emitting strings, got sops.TreeItem",
        )),
        // json.Marshal of the struct, its value as the store writes any value.
        Format::Ini => {
            let (key, value) = match item {
                Item::Entry(k, v) => (Value::Str(k.clone()), v),
                Item::Comment(c) => (Value::Comment(c.clone()), &Value::Null),
            };
            let mut out = b"{\"Key\":".to_vec();
            out.extend(f.output_store.emit_value(&key).map_err(failed)?);
            out.extend(b",\"Value\":");
            out.extend(
                zeroize::Zeroizing::new(f.output_store.emit_value(value).map_err(failed)?).iter(),
            );
            out.push(b'}');
            Ok(out)
        }
        _ => {
            let mut value = treepath::item_as_value(item, f.output == Format::Json);
            let emitted = f.output_store.emit_value(&value);
            keytap_core::tree::wipe_value(&mut value);
            emitted.map_err(failed)
        }
    }
}

/// Runs `decrypt`.
pub fn run(
    common: &CommonArgs,
    extract: Option<&str>,
    ignore_mac: bool,
    output_dir: Option<&Path>,
    files: &[PathBuf],
) -> Result<i32, CliError> {
    if let Some(dir) = output_dir {
        return decrypt_to_dir(common, ignore_mac, dir, files);
    }
    let stdin = [PathBuf::from(crate::context::STDIN)];
    let files = if files.is_empty() { &stdin[..] } else { files };
    let file = &super::first_positional(files)[0];
    let mode = OpenMode {
        lock: common.in_place,
        missing_is_no_file: true,
        path_as_given: false,
        ..OpenMode::READ
    };
    // sops's order: -i with --output, a missing file, then a bad path, then decrypting.
    crate::context::check_target(common, file, true)?;
    let steps = extract
        .map(treepath::parse)
        .transpose()
        .map_err(|e| {
            CliError::new(
                exit_code::INVALID_TREE_PATH_FORMAT,
                format!("error parsing --extract path: {}", e.reason),
            )
        })?
        // A path of no steps ('', '[') extracts nothing: the whole file, as in sops.
        .filter(|steps| !steps.is_empty());
    let Opened {
        open,
        formats: f,
        lock,
    } = open_file(common, file, ignore_mac, mode)?;
    let out = match steps {
        Some(steps) => {
            let (doc, later_docs) = open
                .docs
                .split_first()
                .ok_or_else(|| CliError::new(exit_code::GENERIC, "file has no document"))?;
            let found = treepath::get(doc, &steps).map_err(|e| {
                CliError::new(exit_code::GENERIC, format!("error truncating tree: {e}"))
            })?;
            match found {
                treepath::Found::Value(value) => extract_bytes(value, later_docs, &f)?,
                treepath::Found::Item(item) => extract_item(item, &f)?,
            }
        }
        None => f.output_store.emit_plain(&open.docs).map_err(dump_error)?,
    };
    let out = zeroize::Zeroizing::new(out);
    crate::output::write_result(common, file, &out, Contents::Plaintext, lock.is_some())?;
    Ok(0)
}

/// `decrypt --output-dir DIR FILE...`: all data keys are unwrapped together (one session
/// per plugin, one PIN prompt), then each plaintext is written to DIR/<file name>: 0600
/// always, replacing (never writing through) whatever is there, and nothing at all unless
/// every file decrypted. Two inputs with the same name are refused before any work.
fn decrypt_to_dir(
    common: &CommonArgs,
    ignore_mac: bool,
    dir: &Path,
    files: &[PathBuf],
) -> Result<i32, CliError> {
    let mut targets: Vec<(PathBuf, &PathBuf)> = Vec::new();
    for file in files {
        let name = file.file_name().ok_or_else(|| {
            CliError::new(
                exit_code::GENERIC,
                format!(
                    "{}: no file name to write into {}",
                    file.display(),
                    dir.display()
                ),
            )
        })?;
        let target = dir.join(name);
        if let Some((_, other)) = targets.iter().find(|(t, _)| *t == target) {
            return Err(CliError::new(
                exit_code::CONFLICTING_PARAMETERS,
                format!(
                    "Error: {} and {} would both be written to {}; decrypt them into different directories",
                    other.display(),
                    file.display(),
                    target.display()
                ),
            ));
        }
        targets.push((target, file));
    }
    let opened = crate::open::open_files(
        common,
        files,
        ignore_mac,
        OpenMode {
            missing_is_no_file: true,
            path_as_given: false,
            ..OpenMode::READ
        },
    )?;
    let mut outputs = Vec::new();
    for ((file, o), (target, _)) in files.iter().zip(opened).zip(targets) {
        let f = &o.formats;
        let out = f.output_store.emit_plain(&o.open.docs).map_err(|e| {
            CliError::new(exit_code::ERROR_DUMPING_TREE, e.to_string()).in_file(file)
        })?;
        outputs.push((target, zeroize::Zeroizing::new(out)));
    }
    create_output_dir(dir)?;
    for (path, out) in outputs {
        let mut opts = Replace::new(&path, Contents::Plaintext);
        opts.follow_symlinks = false;
        opts.allow_in_place = false;
        replace(&opts, &out).map_err(|e| {
            CliError::write_failed(format!(
                "Could not write the plaintext into {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(0)
}

/// The output directory: created 0700 if missing (an existing one is used as it is; the
/// files in it are 0600 whatever it allows).
fn create_output_dir(dir: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) => Err(CliError::write_failed(format!(
            "Could not create output directory {}: {}",
            dir.display(),
            keytap_core::goerr::io_reason(&e)
        ))),
    }
}
