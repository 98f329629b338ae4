//! Writing results: files through `keytap_core::safefs` (atomic where possible, locked,
//! owner, group, mode and symlinks kept), and stdout.

use std::io::Write;
use std::path::Path;

use keytap_core::error::exit_code;
use keytap_core::goerr::io_reason;
use keytap_core::safefs::replace::Contents;
use keytap_core::safefs::{replace, Replace, ReplaceError};

use crate::context::absolute;
use crate::error::CliError;

/// Which write this is: it decides sops's wording and exit code when the file cannot be
/// opened for writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// The input file itself (`-i`, `set`, `unset`, `edit`, `groups -i`).
    InPlace,
    /// A file created by `edit`; it must not have appeared meanwhile.
    NewFile,
    /// `--output PATH`.
    Output,
    /// `updatekeys`, which words its error in lower case and exits 1.
    Updatekeys,
}

fn write_error(path: &Path, dest: Destination, e: ReplaceError) -> CliError {
    match e {
        ReplaceError::CannotOpen { source, .. } => {
            let reason = io_reason(&source);
            match dest {
                Destination::InPlace | Destination::NewFile => CliError::write_failed(format!(
                    "Could not open in-place file for writing: open {}: {reason}",
                    absolute(path).display()
                )),
                Destination::Output => CliError::write_failed(format!(
                    "Could not open output file for writing: open {}: {reason}",
                    path.display()
                )),
                Destination::Updatekeys => CliError::new(
                    exit_code::GENERIC,
                    format!(
                        "could not open file for writing: open {}: {reason}",
                        absolute(path).display()
                    ),
                ),
            }
        }
        ReplaceError::Exists(p) => CliError::write_failed(format!(
            "{} was created by another process meanwhile; it was not overwritten",
            p.display()
        )),
        ReplaceError::Write { source, .. } => CliError::new(
            exit_code::GENERIC,
            format!("write {}: {}", absolute(path).display(), io_reason(&source)),
        ),
    }
}

/// Writes `data` to `path`. `locked`: the caller holds the file's lock (see
/// [`crate::context::read_for_change`]).
pub fn write_file(
    path: &Path,
    data: &[u8],
    contents: Contents,
    dest: Destination,
    locked: bool,
) -> Result<(), CliError> {
    let mut opts = Replace::new(path, contents);
    opts.locked = locked;
    opts.create_new = dest == Destination::NewFile;
    replace(&opts, data)
        .map(|_| ())
        .map_err(|e| write_error(path, dest, e))
}

/// Writes to stdout, reporting a closed pipe as a write error instead of panicking.
pub fn write_stdout(data: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(data)
        .and_then(|_| out.flush())
        .map_err(|e| CliError::write_failed(format!("Could not write to stdout: {e}")))
}

/// Writes a command's result where the flags say: back over FILE (`-i`), to `--output`,
/// or to stdout.
pub fn write_result(
    common: &crate::args::CommonArgs,
    file: &Path,
    data: &[u8],
    contents: Contents,
    locked: bool,
) -> Result<(), CliError> {
    if common.in_place {
        write_file(file, data, contents, Destination::InPlace, locked)
    } else if let Some(out) = common.output.as_ref().filter(|o| !o.as_os_str().is_empty()) {
        write_file(out, data, contents, Destination::Output, false)
    } else {
        write_stdout(data)
    }
}
