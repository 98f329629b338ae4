//! `set` and `unset`: change one value in place; unchanged values keep their ciphertext.

use std::ffi::OsStr;
use std::path::Path;

use keytap_core::safefs::replace::Contents;

use keytap_core::error::exit_code;
use keytap_core::goerr::io_reason;
use keytap_core::stores::{Format, StoreOptions};
use keytap_core::tree::{Branch, Value};
use keytap_core::treepath;

use crate::args::CommonArgs;
use crate::error::CliError;
use crate::open::{open_file, OpenMode, Opened};
use crate::output::{write_file, Destination};

/// Turns a `set` value (JSON text) into a tree value as sops does: objects and arrays
/// through the JSON store, scalars as Go's `encoding/json` decodes them (numbers as floats).
pub fn json_value(text: &str) -> Result<Value, CliError> {
    let invalid = || {
        CliError::new(
            exit_code::INVALID_SET_FORMAT,
            "Value for --set is not valid JSON",
        )
    };
    let parsed: serde_json::Value = serde_json::from_str(text).map_err(|_| invalid())?;
    Ok(match parsed {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().ok_or_else(invalid)?),
        serde_json::Value::String(s) => Value::Str(s),
        collection @ (serde_json::Value::Object(_) | serde_json::Value::Array(_)) => {
            // Only checked by serde_json: the value is read the way sops reads it below.
            wipe_json(collection);
            let store = Format::Json.store(&StoreOptions::default());
            let mut docs: Vec<Branch> = store.load_plain(text.as_bytes()).map_err(|_| {
                CliError::new(exit_code::INVALID_SET_FORMAT, "Invalid --set value format")
            })?;
            if docs.is_empty() {
                return Err(CliError::new(
                    exit_code::INVALID_SET_FORMAT,
                    "Invalid --set value format",
                ));
            }
            Value::Map(docs.swap_remove(0))
        }
    })
}

/// Wipes the strings of a parsed JSON value (object keys too) before they are freed.
fn wipe_json(value: serde_json::Value) {
    use zeroize::Zeroize;
    let mut rest = vec![value];
    while let Some(value) = rest.pop() {
        match value {
            serde_json::Value::String(mut s) => s.zeroize(),
            serde_json::Value::Array(values) => rest.extend(values),
            serde_json::Value::Object(entries) => {
                for (mut key, value) in entries {
                    key.zeroize();
                    rest.push(value);
                }
            }
            _ => {}
        }
    }
}

/// Opens `file` for a change with the new value `value` in hand: wiped if the file cannot
/// be opened.
fn open_for_set(
    common: &CommonArgs,
    file: &Path,
    ignore_mac: bool,
    value: &mut Value,
) -> Result<Opened, CliError> {
    open_file(common, file, ignore_mac, OpenMode::CHANGE).inspect_err(|_| {
        keytap_core::tree::wipe_value(value);
    })
}

/// Seals the changed file and writes it back over FILE (still under its lock).
fn seal_and_write(opened: Opened, file: &Path) -> Result<(), CliError> {
    let f = &opened.formats;
    // sops writes such a file and then cannot read it back (two `sops` keys): refuse.
    if opened
        .open
        .docs
        .iter()
        .any(|d| keytap_core::file::has_sops_top_level_key(d, f.output))
    {
        return Err(CliError::new(
            exit_code::GENERIC,
            format!(
                "{}: a top-level key named \"sops\" would collide with the file's metadata; the file was not changed",
                file.display()
            ),
        ));
    }
    let sealed = opened.open.into_sealed()?;
    let out = sealed.emit(&*f.output_store, f.output)?;
    write_file(
        file,
        &out,
        Contents::Encrypted,
        Destination::InPlace,
        opened.lock.is_some(),
    )
}

/// The document a path is applied to.
fn first_doc(opened: &mut Opened) -> Result<&mut Branch, CliError> {
    opened
        .open
        .docs
        .first_mut()
        .ok_or_else(|| CliError::new(exit_code::GENERIC, "file has no document"))
}

/// Runs `set FILE PATH VALUE`; `value` is `None` for `--value-stdin`, a file's path with
/// `--value-file`. The command line's checks (sops's order) are done.
pub fn run_set(
    common: &CommonArgs,
    file: &Path,
    path: &str,
    value: Option<&OsStr>,
    value_file: bool,
    idempotent: bool,
    ignore_mac: bool,
) -> Result<i32, CliError> {
    let steps = treepath::parse(path)
        .map_err(|_| CliError::new(exit_code::INVALID_SET_FORMAT, "Invalid set index format"))?;
    let text = zeroize::Zeroizing::new(match value {
        None => keytap_core::safefs::read_text_bounded(std::io::stdin())
            .map_err(|e| CliError::new(exit_code::GENERIC, format!("Error reading stdin: {e}")))?,
        Some(v) if value_file => keytap_core::safefs::read_text_file_bounded(Path::new(v))
            .map_err(|e| {
                CliError::new(
                    exit_code::GENERIC,
                    format!("open {}: {}", Path::new(v).display(), io_reason(&e)),
                )
            })?,
        Some(v) => v
            .to_str()
            .ok_or_else(|| {
                CliError::new(
                    exit_code::INVALID_SET_FORMAT,
                    "Value for --set is not valid JSON",
                )
            })?
            .to_string(),
    });
    let mut value = json_value(&text)?;
    drop(text);
    let mut opened = open_for_set(common, file, ignore_mac, &mut value)?;
    let changed = treepath::set(first_doc(&mut opened)?, &steps, value)
        .map_err(|e| CliError::new(exit_code::GENERIC, e))?;
    if !changed && idempotent {
        return Ok(0);
    }
    seal_and_write(opened, file)?;
    Ok(0)
}

/// Runs the legacy `--set '["key"] <json>' FILE`.
pub fn run_legacy_set(
    common: &CommonArgs,
    file: &Path,
    set: &str,
    ignore_mac: bool,
) -> Result<i32, CliError> {
    let Some(split) = set.find("] ") else {
        return Err(CliError::new(
            exit_code::INVALID_SET_FORMAT,
            "Invalid --set format",
        ));
    };
    let (path, value) = (set[..split + 1].trim_end(), &set[split + 2..]);
    let mut value = json_value(value)?;
    let steps = treepath::parse(path).map_err(|_| {
        keytap_core::tree::wipe_value(&mut value);
        CliError::new(exit_code::INVALID_SET_FORMAT, "Invalid --set format")
    })?;
    let mut opened = open_for_set(common, file, ignore_mac, &mut value)?;
    treepath::set(first_doc(&mut opened)?, &steps, value)
        .map_err(|e| CliError::new(exit_code::GENERIC, e))?;
    seal_and_write(opened, file)?;
    Ok(0)
}

/// Runs `unset FILE PATH`.
pub fn run_unset(
    common: &CommonArgs,
    file: &Path,
    path: &str,
    idempotent: bool,
    ignore_mac: bool,
) -> Result<i32, CliError> {
    let steps = treepath::parse(path)
        .map_err(|_| CliError::new(exit_code::INVALID_SET_FORMAT, "Invalid unset index format"))?;
    let mut opened = open_file(common, file, ignore_mac, OpenMode::CHANGE)?;
    match treepath::unset(first_doc(&mut opened)?, &steps) {
        Ok(()) => {}
        Err(e) if idempotent && (e.starts_with("Key not found") || e.starts_with("Index ")) => {
            return Ok(0)
        }
        Err(e) => return Err(CliError::new(exit_code::GENERIC, e)),
    }
    seal_and_write(opened, file)?;
    Ok(0)
}
