//! Opening encrypted files for commands: read (under a lock when the command writes the
//! file back), parse, check the version as sops does, recover the data key through the
//! run's key services, decrypt. Many files share one plugin session.

use std::path::{Path, PathBuf};

use keytap_core::error::exit_code;
use keytap_core::file::EncryptedFile;
use keytap_core::safefs::LockedFile;

use crate::args::CommonArgs;
use crate::context;
use crate::error::CliError;

/// A decrypted file, its formats, and for files about to be written back, their lock.
pub struct Opened {
    /// The decrypted documents and metadata.
    pub open: keytap_core::file::OpenFile,
    /// Input and output formats.
    pub formats: context::Formats,
    /// Held from the read until the changed file is written (see `context::read_for_change`).
    pub lock: Option<keytap_core::safefs::LockedFile>,
}

/// How a command opens its file.
#[derive(Clone, Copy)]
pub struct OpenMode {
    /// The file will be sealed again (values' IVs are remembered so unchanged values keep
    /// their ciphertext).
    pub will_seal: bool,
    /// Take the file's lock (the command writes it back).
    pub lock: bool,
    /// Check `sops.version` as sops does when loading (all but `updatekeys`).
    pub check_version: bool,
    /// A missing file is sops's "cannot operate on non-existent file" (exit 100), as for
    /// `decrypt` and the legacy forms; otherwise reading it fails (exit 2), as in `set`,
    /// `unset`, `rotate`, `exec-*` and `groups`.
    pub missing_is_no_file: bool,
    /// A read error names the file as given (`exec-*`, `groups`), not made absolute.
    pub path_as_given: bool,
    /// A data key that cannot be recovered is sops's one-line error, exit 1 (`groups`,
    /// which does not report each key), not its report with exit 128.
    pub brief_key_error: bool,
}

impl OpenMode {
    /// Read-modify-write: `set`, `unset`, `edit`, `rotate`, `groups`.
    pub const CHANGE: OpenMode = OpenMode {
        will_seal: true,
        lock: true,
        check_version: true,
        missing_is_no_file: false,
        path_as_given: false,
        brief_key_error: false,
    };
    /// Read only: `exec-*` (`decrypt` checks for a missing file first, and names it
    /// absolute).
    pub const READ: OpenMode = OpenMode {
        will_seal: false,
        lock: false,
        check_version: true,
        missing_is_no_file: false,
        path_as_given: true,
        brief_key_error: false,
    };
}

/// Reads and parses `file` (under its lock for changes) and checks its version.
fn read_encrypted(
    common: &CommonArgs,
    file: &Path,
    mode: OpenMode,
) -> Result<(EncryptedFile, context::Formats, Option<LockedFile>), CliError> {
    context::check_target(common, file, mode.missing_is_no_file)?;
    let f = context::formats(common, file, crate::rules::store_options()?)?;
    let named = |mut e: CliError| {
        if mode.path_as_given && e.code == exit_code::COULD_NOT_READ_INPUT_FILE {
            let absolute = format!("open {}: ", context::absolute(file).display());
            let given = format!("open {}: ", file.display());
            e.message = e.message.replacen(&absolute, &given, 1);
        }
        e
    };
    let (data, lock) = if mode.lock {
        let (data, lock) = context::read_for_change(file).map_err(named)?;
        (data.into(), lock)
    } else {
        (context::read_or_map_input(file).map_err(named)?, None)
    };
    let enc = context::parse_encrypted(&*f.input_store, file, data)?;
    if mode.check_version {
        keytap_core::metadata::check_version(&enc.metadata.version)
            .map_err(|e| CliError::new(exit_code::GENERIC, e).in_file(file))?;
    }
    Ok((enc, f, lock))
}

fn decrypt_with(
    enc: EncryptedFile,
    key: keytap_core::cipher::DataKey,
    ignore_mac: bool,
    mode: OpenMode,
) -> Result<keytap_core::file::OpenFile, keytap_core::error::Error> {
    if mode.will_seal {
        enc.open_with_key(key, ignore_mac)
    } else {
        enc.open_with_key_read_only(key, ignore_mac)
    }
}

/// Decrypts `file` through this run's key services (the user's identities first).
pub fn open_file(
    common: &CommonArgs,
    file: &Path,
    ignore_mac: bool,
    mode: OpenMode,
) -> Result<Opened, CliError> {
    let (enc, formats, lock) = read_encrypted(common, file, mode)?;
    // SOPS_AGE_KEY_CMD learns the file's first recipient (SOPS_AGE_RECIPIENT).
    let first = enc.metadata.age_recipients().first().map(|s| s.to_string());
    let sources = context::key_sources(first.as_deref());
    let key = keytap_core::datakey::recover(&enc.metadata, &sources).map_err(|e| {
        if mode.brief_key_error {
            CliError::new(exit_code::GENERIC, e.brief())
        } else {
            CliError::from(keytap_core::error::Error::Recover(e))
        }
    })?;
    let open = decrypt_with(enc, key, ignore_mac, mode).map_err(CliError::from)?;
    Ok(Opened {
        open,
        formats,
        lock,
    })
}

/// Decrypts many files with one plugin session per plugin for all their data keys (one
/// PIN): nothing is decrypted unless every file parses. For changes, the files are locked
/// in one global order (so two runs over the same files cannot wait on each other), and a
/// file given twice is refused.
pub fn open_files(
    common: &CommonArgs,
    files: &[PathBuf],
    ignore_mac: bool,
    mode: OpenMode,
) -> Result<Vec<Opened>, CliError> {
    let canonical: Vec<PathBuf> = files
        .iter()
        .map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone()))
        .collect();
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|a, b| canonical[*a].cmp(&canonical[*b]));
    if mode.lock {
        if let Some(w) = order
            .windows(2)
            .find(|w| canonical[w[0]] == canonical[w[1]])
        {
            return Err(CliError::new(
                exit_code::GENERIC,
                format!(
                    "Error: {} is given twice (as {})",
                    files[w[0]].display(),
                    files[w[1]].display()
                ),
            ));
        }
    }
    let mut read: Vec<Option<(EncryptedFile, context::Formats, Option<LockedFile>)>> =
        files.iter().map(|_| None).collect();
    let visit = if mode.lock {
        order
    } else {
        (0..files.len()).collect()
    };
    for i in visit {
        read[i] = Some(read_encrypted(common, &files[i], mode)?);
    }
    let read: Vec<_> = read
        .into_iter()
        .map(|r| r.expect("every file read"))
        .collect();
    let sources = context::key_sources(None);
    let metas: Vec<&keytap_core::metadata::Metadata> =
        read.iter().map(|(e, _, _)| &e.metadata).collect();
    let keys = keytap_core::datakey::recover_many(&metas, &sources);
    let mut out = Vec::with_capacity(files.len());
    for ((file, (enc, formats, lock)), key) in files.iter().zip(read).zip(keys) {
        let key =
            key.map_err(|e| CliError::from(keytap_core::error::Error::Recover(e)).in_file(file))?;
        let open = decrypt_with(enc, key, ignore_mac, mode)
            .map_err(|e| CliError::from(e).in_file(file))?;
        out.push(Opened {
            open,
            formats,
            lock,
        });
    }
    Ok(out)
}
