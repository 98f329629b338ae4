//! What every command needs: formats and stores for a path, reading input, identities.

use std::path::Path;

use keytap_core::error::exit_code;
use keytap_core::file::EncryptedFile;
use keytap_core::keys::age::AgeIdentities;
use keytap_core::stores::{Format, Store, StoreOptions};

use crate::args::CommonArgs;
use crate::error::CliError;

/// Formats and stores resolved for one file.
pub struct Formats {
    /// Format the input is parsed as.
    pub input: Format,
    /// Format the output is written as.
    pub output: Format,
    /// Store for the input.
    pub input_store: Box<dyn Store>,
    /// Store for the output.
    pub output_store: Box<dyn Store>,
}

fn parse_format(name: &str) -> Result<Format, CliError> {
    Format::from_name(name).ok_or_else(|| {
        CliError::new(
            exit_code::GENERIC,
            format!("unknown format {name:?}: use yaml, json, dotenv, ini or binary"),
        )
    })
}

/// Resolves formats: explicit types win, else the extension of `--filename-override` or FILE
/// (for input and output alike, as sops does).
pub fn formats(
    common: &CommonArgs,
    file: &str,
    indent_from_config: StoreOptions,
) -> Result<Formats, CliError> {
    let name_for_type = common.filename_override.as_deref().unwrap_or(file);
    let input = match &common.input_type {
        Some(t) => parse_format(t)?,
        None => Format::from_path(name_for_type),
    };
    let output = match &common.output_type {
        Some(t) => parse_format(t)?,
        // Like sops: the output format follows the path, not `--input-type`.
        None => Format::from_path(name_for_type),
    };
    let mut options = indent_from_config;
    if let Some(n) = common.indent {
        options.yaml_indent = Some(n);
        options.json_indent = Some(n);
    }
    Ok(Formats {
        input,
        output,
        input_store: input.store(&options),
        output_store: output.store(&options),
    })
}

/// Reads the input file (or stdin for `-`/`/dev/stdin`), mapping failures to exit 2.
pub fn read_input(file: &str) -> Result<Vec<u8>, CliError> {
    let result = if file == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map(|_| buf)
    } else {
        std::fs::read(file)
    };
    result.map_err(|e| {
        CliError::new(
            exit_code::COULD_NOT_READ_INPUT_FILE,
            format!(
                "Error reading file: open {}: {}",
                absolute(file),
                io_reason(&e)
            ),
        )
    })
}

pub use keytap_core::goerr::io_reason;

/// Parses an encrypted file, with errors naming it.
pub fn parse_encrypted(
    store: &dyn Store,
    file: &str,
    data: &[u8],
) -> Result<EncryptedFile, CliError> {
    EncryptedFile::parse(store, data).map_err(|e| {
        let code = e.exit_code();
        let file = if file == "-" { "stdin" } else { file };
        if let keytap_core::error::Error::Parse(se) = &e {
            if is_unwalkable(se) {
                return CliError::new(
                    exit_code::ERROR_DECRYPTING_TREE,
                    format!(
                        "Error decrypting tree: Error walking tree: {} (in {file})",
                        unwalkable_reason(se)
                    ),
                );
            }
        }
        let message = match &e {
            keytap_core::error::Error::Parse(se)
                if se.message.starts_with("Error unmarshalling") =>
            {
                format!("{se} (in {file})")
            }
            keytap_core::error::Error::Parse(se) => {
                format!(
                    "Error unmarshalling input {}: {se} (in {file})",
                    store_name(file)
                )
            }
            keytap_core::error::Error::MetadataNotFound => {
                format!("sops metadata not found (in {file})")
            }
            other => format!("{other} (in {file})"),
        };
        CliError::new(code, message)
    })
}

fn store_name(file: &str) -> &'static str {
    match Format::from_path(file) {
        Format::Yaml => "yaml",
        Format::Dotenv => "dotenv",
        Format::Ini => "ini",
        Format::Json | Format::Binary => "json",
    }
}

/// Loads the user's identities for unwrapping data keys.
pub fn identities(first_recipient: Option<&str>) -> AgeIdentities {
    let mut ids = AgeIdentities::load(first_recipient);
    ids.verbose = VERBOSE.get().copied().unwrap_or(false);
    ids
}

static VERBOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Records `-v` for the whole run.
pub fn set_verbose(v: bool) {
    let _ = VERBOSE.set(v);
}

/// Whether `path` exists (for `edit` of a new file).
pub fn exists(path: &str) -> bool {
    Path::new(path).exists()
}

/// sops's checks before touching FILE: `-i` with `--output` (8) and a missing file (100).
pub fn check_target(common: &CommonArgs, file: &str) -> Result<(), CliError> {
    if file == "-" && common.in_place {
        return Err(CliError::new(
            exit_code::CONFLICTING_PARAMETERS,
            "Error: cannot use --in-place when reading from stdin",
        ));
    }
    if common.in_place && common.output.is_some() {
        return Err(CliError::new(
            exit_code::CONFLICTING_PARAMETERS,
            "Error: cannot operate on both --output and --in-place",
        ));
    }
    if file != "-" && !Path::new(file).exists() {
        return Err(CliError::new(
            exit_code::NO_FILE_SPECIFIED,
            format!(
                "Error: cannot operate on non-existent file {:?}",
                absolute(file)
            ),
        ));
    }
    Ok(())
}

/// The absolute form of a path, for messages (as sops prints them).
pub fn absolute(file: &str) -> String {
    std::path::absolute(file)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| file.to_string())
}

/// A tree sops parses but cannot walk (a non-string key, an integer beyond i64): sops fails
/// these when encrypting or decrypting the tree (exit 23/25), not when reading the file.
pub fn is_unwalkable(e: &keytap_core::stores::StoreError) -> bool {
    e.message.contains("non-string key")
        || e.message.contains("does not fit a signed 64-bit integer")
}

/// The part of such an error after the store's prefixes.
pub fn unwalkable_reason(e: &keytap_core::stores::StoreError) -> &str {
    let m = e.message.as_str();
    m.rfind("YAML: ").map_or(m, |i| &m[i + 6..])
}
