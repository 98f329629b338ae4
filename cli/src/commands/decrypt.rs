//! `decrypt`: sops file in, plaintext out (or one value with `--extract`).

use std::path::Path;

use keytap_core::error::exit_code;
use keytap_core::tree::Value;
use keytap_core::treepath;

use crate::args::CommonArgs;
use crate::context;
use crate::error::CliError;

/// Decrypts `file` to its documents, with the identities of this user.
pub fn open_file(
    common: &CommonArgs,
    file: &str,
    ignore_mac: bool,
) -> Result<(keytap_core::file::OpenFile, context::Formats), CliError> {
    open_file_as(common, file, ignore_mac, true)
}

/// [`open_file`] for a file that is only read (no `seal` follows).
pub fn open_file_read_only(
    common: &CommonArgs,
    file: &str,
    ignore_mac: bool,
) -> Result<(keytap_core::file::OpenFile, context::Formats), CliError> {
    open_file_as(common, file, ignore_mac, false)
}

fn open_file_as(
    common: &CommonArgs,
    file: &str,
    ignore_mac: bool,
    will_seal: bool,
) -> Result<(keytap_core::file::OpenFile, context::Formats), CliError> {
    context::check_target(common, file)?;
    let f = context::formats(common, file, crate::rules::store_options(None)?)?;
    let data = context::read_input(file)?;
    let enc = context::parse_encrypted(&*f.input_store, file, &data)?;
    let first = enc.metadata.age_recipients().first().map(|s| s.to_string());
    let ids = context::identities(first.as_deref());
    let open = if will_seal {
        enc.open(&ids, ignore_mac)
    } else {
        enc.open_read_only(&ids, ignore_mac)
    }
    .map_err(CliError::from)?;
    Ok((open, f))
}

/// The bytes `--extract` prints for a value: strings raw, other scalars in their text form,
/// collections through the output store.
fn extract_bytes(value: &Value, f: &context::Formats) -> Result<Vec<u8>, CliError> {
    // sops: strings raw, maps as a whole plain file, anything else through EmitValue.
    Ok(match value {
        Value::Str(s) => s.clone().into_bytes(),
        Value::Bytes(b) => b.clone(),
        Value::Map(branch) => f
            .output_store
            .emit_plain(std::slice::from_ref(branch))
            .map_err(|e| {
                CliError::new(
                    exit_code::ERROR_DUMPING_TREE,
                    format!("Error dumping file: {e}"),
                )
            })?,
        other => f.output_store.emit_value(other).map_err(|e| {
            CliError::new(
                exit_code::ERROR_DUMPING_TREE,
                format!("Error dumping tree: {e}"),
            )
        })?,
    })
}

/// Runs `decrypt`.
pub fn run(
    common: &CommonArgs,
    extract: Option<&str>,
    ignore_mac: bool,
    output_dir: Option<&str>,
    files: &[String],
    _verbose: bool,
) -> Result<i32, CliError> {
    if let Some(dir) = output_dir {
        return decrypt_to_dir(common, ignore_mac, dir, files);
    }
    let stdin = ["-".to_string()];
    let files = if files.is_empty() { &stdin[..] } else { files };
    if files.len() != 1 {
        return Err(CliError::new(
            exit_code::GENERIC,
            "Error: decrypt takes one file unless --output-dir is given",
        ));
    }
    let file = &files[0];
    let (open, f) = open_file_read_only(common, file, ignore_mac)?;
    let out = match extract {
        Some(path) => {
            let steps = treepath::parse(path).map_err(|e| {
                CliError::new(
                    exit_code::INVALID_TREE_PATH_FORMAT,
                    format!("error parsing --extract path: {}", e.reason),
                )
            })?;
            let doc = open
                .docs
                .first()
                .ok_or_else(|| CliError::new(exit_code::GENERIC, "file has no document"))?;
            let value = treepath::get(doc, &steps).map_err(|e| {
                CliError::new(exit_code::GENERIC, format!("error truncating tree: {e}"))
            })?;
            extract_bytes(value, &f)?
        }
        None => f.output_store.emit_plain(&open.docs).map_err(|e| {
            CliError::new(
                exit_code::ERROR_DUMPING_TREE,
                format!("Error dumping file: {e}"),
            )
        })?,
    };
    crate::output::write_result(common, file, &out, 0o600)?;
    Ok(0)
}

/// `decrypt --output-dir DIR FILE...`: all data keys are unwrapped together (one session
/// per plugin, one PIN prompt), then each plaintext is written to DIR (mode 0600).
fn decrypt_to_dir(
    common: &CommonArgs,
    ignore_mac: bool,
    dir: &str,
    files: &[String],
) -> Result<i32, CliError> {
    let mut parsed = Vec::new();
    for file in files {
        context::check_target(common, file)?;
        let f = context::formats(common, file, crate::rules::store_options(None)?)?;
        let data = context::read_input(file)?;
        let enc = context::parse_encrypted(&*f.input_store, file, &data)?;
        parsed.push((file, f, enc));
    }
    let ids = context::identities(None);
    let metas: Vec<&keytap_core::metadata::Metadata> =
        parsed.iter().map(|(_, _, e)| &e.metadata).collect();
    let keys = keytap_core::datakey::recover_many(&metas, &ids);
    let mut outputs = Vec::new();
    for ((file, f, enc), key) in parsed.into_iter().zip(keys) {
        let key =
            key.map_err(|e| CliError::from(keytap_core::error::Error::Recover(e)).in_file(file))?;
        let open = enc
            .open_with_key_read_only(key, ignore_mac)
            .map_err(|e| CliError::from(e).in_file(file))?;
        let out = f.output_store.emit_plain(&open.docs).map_err(|e| {
            CliError::new(exit_code::ERROR_DUMPING_TREE, e.to_string()).in_file(file)
        })?;
        let name = Path::new(file)
            .file_name()
            .ok_or_else(|| CliError::new(exit_code::GENERIC, format!("{file}: no file name")))?;
        outputs.push((Path::new(dir).join(name), zeroize::Zeroizing::new(out)));
    }
    // Nothing is written unless every file decrypted.
    for (path, out) in outputs {
        crate::output::write_atomic(&path, &out, 0o600)?;
    }
    Ok(0)
}
