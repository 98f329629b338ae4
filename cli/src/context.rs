//! What every command needs: formats and stores for a path, reading input, identities.

use std::path::{Path, PathBuf};

use keytap_core::error::exit_code;
use keytap_core::file::EncryptedFile;
use keytap_core::keys::identities::AgeIdentities;
use keytap_core::keysource::KeySources;
use keytap_core::safefs::{LockWait, LockedFile};
use keytap_core::stores::{Format, Store, StoreOptions};
use std::os::unix::ffi::OsStrExt;

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

/// Resolves formats: explicit types win, else the extension of `--filename-override` or FILE
/// (for input and output alike, as sops does).
pub fn formats(
    common: &CommonArgs,
    file: &Path,
    indent_from_config: StoreOptions,
) -> Result<Formats, CliError> {
    let name_for_type = common.filename_override.as_deref().unwrap_or(file);
    // sops's FormatForPathOrString: a type it does not know (`--output-type toml`) is
    // ignored, not refused, and the path decides. The output format follows the path, not
    // `--input-type`.
    let format_for = |name: &Option<String>| {
        name.as_deref()
            .and_then(Format::from_name)
            .unwrap_or_else(|| Format::from_path(name_for_type))
    };
    let input = format_for(&common.input_type);
    let output = format_for(&common.output_type);
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

/// The path that stands for stdin when a command is given no file. It holds a NUL byte,
/// which no argument can: sops takes a `-` argument as a file named `-`, and so does
/// keytap.
pub const STDIN: &str = "\0stdin";

/// Whether FILE means stdin (see [`STDIN`]).
pub fn is_stdin(file: &Path) -> bool {
    file.as_os_str() == STDIN
}

fn read_error(file: &Path, e: &std::io::Error) -> CliError {
    CliError::new(
        exit_code::COULD_NOT_READ_INPUT_FILE,
        format!(
            "Error reading file: open {}: {}",
            absolute(file).display(),
            io_reason(e)
        ),
    )
}

/// Reads the input file (or stdin for [`STDIN`]), mapping failures to exit 2.
pub fn read_input(file: &Path) -> Result<Vec<u8>, CliError> {
    if let Some(checked) = crate::stack_choice::checked_bytes(file) {
        return Ok(checked);
    }
    let result = if is_stdin(file) {
        keytap_core::safefs::read_bounded(std::io::stdin())
    } else {
        keytap_core::safefs::read_file_bounded(file)
    };
    result.map_err(|e| read_error(file, &e))
}

/// Files larger than this are mapped instead of read by commands that only read them
/// (see `keytap_mapfile`); smaller ones cost little to copy, and most are read already
/// (see `stack_choice`).
const MAP_ABOVE_BYTES: u64 = 256 * 1024;

/// The bytes of an input file: read, or mapped when large.
pub enum InputBytes {
    /// Read into memory (stdin, small files, or where mapping failed).
    Read(Vec<u8>),
    /// Mapped: parsed without a copy of the file, and dropped before anything is written.
    Mapped(keytap_mapfile::MappedFile),
}

impl From<Vec<u8>> for InputBytes {
    fn from(bytes: Vec<u8>) -> Self {
        InputBytes::Read(bytes)
    }
}

impl std::ops::Deref for InputBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            InputBytes::Read(bytes) => bytes,
            InputBytes::Mapped(mapped) => mapped,
        }
    }
}

/// [`read_input`] for a command that only reads the file: a large regular file is
/// mapped instead (copying 1.6 MB into fresh memory is 0.7 ms of a 10 ms decrypt).
pub fn read_or_map_input(file: &Path) -> Result<InputBytes, CliError> {
    // Looked at before it is opened: opening a FIFO waits for a writer, and a second open
    // to read it would lose what that writer wrote.
    let large_file = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| {
            m.is_file()
                && m.len() > MAP_ABOVE_BYTES
                && m.len() <= keytap_core::safefs::MAX_INPUT_BYTES
        })
    };
    if !is_stdin(file) && crate::stack_choice::checked_bytes(file).is_none() && large_file(file) {
        if let Ok(opened) = std::fs::File::open(file) {
            let large = opened.metadata().ok().filter(|m| {
                m.is_file()
                    && m.len() > MAP_ABOVE_BYTES
                    && m.len() <= keytap_core::safefs::MAX_INPUT_BYTES
            });
            if let Some(mapped) =
                large.and_then(|m| keytap_mapfile::map(&opened, m.len(), &absolute(file)))
            {
                return Ok(InputBytes::Mapped(mapped));
            }
        }
    }
    read_input(file).map(InputBytes::Read)
}

/// Reads a file that is about to be changed, under its lock (held until the returned
/// guard is dropped, after the write), so concurrent changes apply one after the other.
/// Devices, pipes and stdin are read without a lock.
pub fn read_for_change(file: &Path) -> Result<(Vec<u8>, Option<LockedFile>), CliError> {
    let regular = !is_stdin(file) && std::fs::metadata(file).is_ok_and(|m| m.is_file());
    if !regular {
        return read_input(file).map(|d| (d, None));
    }
    let mut locked = LockedFile::open(file, |wait| match wait {
        LockWait::Waiting => eprintln!(
            "keytap: waiting for another process to finish changing {}",
            file.display()
        ),
        LockWait::NotWaitingFor { pid, uid } => eprintln!(
            "keytap: warning: {} is locked by process {pid} of {}, who cannot be changing it; not waiting for it",
            file.display(),
            match uid {
                Some(uid) => format!("uid {uid}"),
                None => "a user that cannot be told".to_string(),
            }
        ),
    })
    .map_err(|e| read_error(file, &e))?;
    let data = locked.read_to_end().map_err(|e| read_error(file, &e))?;
    Ok((data, Some(locked)))
}

pub use keytap_core::goerr::io_reason;

/// Parses an encrypted file, with errors naming it.
pub fn parse_encrypted(
    store: &dyn Store,
    file: &Path,
    data: InputBytes,
) -> Result<EncryptedFile, CliError> {
    let parsed = match data {
        InputBytes::Read(bytes) => EncryptedFile::parse(store, bytes),
        InputBytes::Mapped(mapped) => EncryptedFile::parse_borrowed(store, &mapped),
    };
    parsed.map_err(|e| {
        let code = e.exit_code();
        let file = if is_stdin(file) {
            "stdin".into()
        } else {
            file.display().to_string()
        };
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
                    store_name(&file)
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
    // `file` is the display form: only its extension matters.
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

/// The key services of this run (sops's `--keyservice` / `--enable-local-keyservice`).
#[derive(Clone, Debug)]
struct KeyServiceChoice {
    local: bool,
    uris: Vec<String>,
    decryption_order: Vec<String>,
}

static KEY_SERVICES: std::sync::OnceLock<KeyServiceChoice> = std::sync::OnceLock::new();

/// Records the key-service flags for the whole run, with sops's environment fallbacks:
/// `SOPS_KEYSERVICE` (comma-separated) unless a `--keyservice` is given, and
/// `SOPS_ENABLE_LOCAL_KEYSERVICE` (a Go bool; empty means false) unless the flag is.
pub fn set_key_services(args: &crate::args::KeyServiceArgs) -> Result<(), CliError> {
    let bad_bool = |v: &str| {
        CliError::new(
            exit_code::GENERIC,
            format!(
                "could not parse {v} as bool value for flag enable-local-keyservice: strconv.ParseBool: parsing {}: invalid syntax",
                keytap_core::goerr::quote(v.as_bytes())
            ),
        )
    };
    let local = match &args.enable_local_keyservice {
        Some(v) => keytap_core::cipher::parse_go_bool(v).ok_or_else(|| bad_bool(v))?,
        None => match std::env::var("SOPS_ENABLE_LOCAL_KEYSERVICE") {
            Ok(v) if v.is_empty() => false,
            Ok(v) => keytap_core::cipher::parse_go_bool(&v).ok_or_else(|| bad_bool(&v))?,
            Err(_) => true,
        },
    };
    let uris = if !args.keyservice.is_empty() {
        args.keyservice.clone()
    } else {
        match std::env::var("SOPS_KEYSERVICE") {
            Ok(v) => v.split(',').map(|u| u.trim().to_string()).collect(),
            Err(_) => Vec::new(),
        }
    };
    let order = match &args.decryption_order {
        Some(v) => v.clone(),
        None => std::env::var("SOPS_DECRYPTION_ORDER").unwrap_or_default(),
    };
    let decryption_order = decryption_order(&order)?;
    let _ = KEY_SERVICES.set(KeyServiceChoice {
        local,
        uris,
        decryption_order,
    });
    Ok(())
}

/// sops's `decryptionOrder`: comma-separated key types, each at most once (empty for the
/// default); names are not checked, and unknown ones match no key.
fn decryption_order(list: &str) -> Result<Vec<String>, CliError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<String> = Vec::new();
    for kind in list.split(',') {
        if out.iter().any(|k| k == kind) {
            return Err(CliError::new(
                exit_code::DUPLICATE_DECRYPTION_KEY_TYPE,
                format!("Duplicate decryption key type: {kind}"),
            ));
        }
        out.push(kind.to_string());
    }
    Ok(out)
}

/// The remote key services of this run (`--keyservice`, else `SOPS_KEYSERVICE`); a URI
/// that does not parse is skipped with sops's warning.
pub fn remote_services() -> Vec<Box<dyn keytap_core::keysource::KeyService>> {
    let uris = KEY_SERVICES
        .get()
        .map(|c| c.uris.clone())
        .unwrap_or_default();
    let mut out: Vec<Box<dyn keytap_core::keysource::KeyService>> = Vec::new();
    for uri in uris {
        match keytap_keyservice::client::RemoteKeyService::new(&uri) {
            Ok(service) => out.push(Box::new(service)),
            // sops warns and goes on without it.
            Err(e) => eprintln!("keytap: error parsing URI for keyservice {uri:?} ({e}), skipping"),
        }
    }
    out
}

/// Whether the local key service (the user's own identities) is enabled for this run.
pub fn local_enabled() -> bool {
    KEY_SERVICES.get().is_none_or(|c| c.local)
}

/// The key services that unwrap data keys: the user's identities (unless the local key
/// service is disabled), then the remote services.
pub fn key_sources(first_recipient: Option<&str>) -> KeySources {
    KeySources {
        local: local_enabled().then(|| identities(first_recipient)),
        remote: remote_services(),
        decryption_order: KEY_SERVICES
            .get()
            .map(|c| c.decryption_order.clone())
            .unwrap_or_default(),
    }
}

/// The key services that wrap data keys: as [`key_sources`], without loading identities
/// (wrapping needs none, and loading may ask for a passphrase).
pub fn wrapping_sources() -> KeySources {
    KeySources {
        local: local_enabled().then(AgeIdentities::default),
        remote: remote_services(),
        ..KeySources::default()
    }
}

/// Whether `path` exists (for `edit` of a new file); a dangling symlink counts, as
/// writing through it would create its target.
pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// sops's checks before touching FILE: `-i` with `--output` (8) and, if
/// `missing_is_no_file`, a missing file (100).
pub fn check_target(
    common: &CommonArgs,
    file: &Path,
    missing_is_no_file: bool,
) -> Result<(), CliError> {
    if is_stdin(file) && common.in_place {
        return Err(CliError::new(
            exit_code::CONFLICTING_PARAMETERS,
            "Error: cannot use --in-place when reading from stdin",
        ));
    }
    if common.in_place
        && common
            .output
            .as_ref()
            .is_some_and(|o| !o.as_os_str().is_empty())
    {
        return Err(CliError::new(
            exit_code::CONFLICTING_PARAMETERS,
            "Error: cannot operate on both --output and --in-place",
        ));
    }
    if missing_is_no_file {
        refuse_missing(file)?;
    }
    Ok(())
}

/// sops's exit 100 for a file that does not exist (stdin aside).
pub fn refuse_missing(file: &Path) -> Result<(), CliError> {
    if is_stdin(file) || file.exists() {
        return Ok(());
    }
    Err(CliError::new(
        exit_code::NO_FILE_SPECIFIED,
        format!(
            "Error: cannot operate on non-existent file {}",
            keytap_core::goerr::quote(absolute(file).as_os_str().as_bytes())
        ),
    ))
}

/// The absolute form of a path, for messages (as sops prints them).
pub fn absolute(file: &Path) -> PathBuf {
    std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf())
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
