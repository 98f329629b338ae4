//! Writing results: atomic file replacement and stdout.

use std::fs::{self, File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::CliError;
use keytap_core::error::exit_code;

/// Replaces `path` with `data` atomically: a temp file in the same directory, fsync,
/// rename, then fsync of the directory. The old file stays untouched on any failure, and
/// an existing file keeps its mode (a new one gets `new_mode`).
pub fn write_atomic(path: &Path, data: &[u8], new_mode: u32) -> Result<(), CliError> {
    let fail = |what: &str, e: std::io::Error| {
        CliError::new(
            exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("Could not write {}: {what}: {e}", path.display()),
        )
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mode = match fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(_) => new_mode,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("keytap")
        ))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| fail("could not create a temporary file beside it", e))?;
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))
        .map_err(|e| fail("could not set permissions", e))?;
    tmp.write_all(data)
        .map_err(|e| fail("could not write", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| fail("could not sync", e))?;
    tmp.persist(path)
        .map_err(|e| fail("could not replace the file", e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes to stdout, reporting a closed pipe as a write error instead of panicking.
pub fn write_stdout(data: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(data).and_then(|_| out.flush()).map_err(|e| {
        CliError::new(
            exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
            format!("Could not write to stdout: {e}"),
        )
    })
}

/// Writes a command's result where the flags say: back over FILE (`-i`), to `--output`,
/// or to stdout. New files get `new_mode`.
pub fn write_result(
    common: &crate::args::CommonArgs,
    file: &str,
    data: &[u8],
    new_mode: u32,
) -> Result<(), CliError> {
    if common.in_place {
        write_atomic(Path::new(file), data, new_mode)
    } else if let Some(out) = &common.output {
        write_atomic(Path::new(out), data, new_mode)
    } else {
        write_stdout(data)
    }
}
