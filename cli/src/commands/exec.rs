//! `exec-env` and `exec-file`: give decrypted values to a child process, never to disk
//! (a FIFO by default) or only to a private 0600 file, and pass its exit code through.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;

use keytap_core::error::exit_code;
use keytap_core::tree::{Item, Value};

use crate::args::CommonArgs;
use crate::commands::decrypt::open_file_read_only;
use crate::error::CliError;

fn common_for(input_type: Option<&str>, output_type: Option<&str>) -> CommonArgs {
    CommonArgs {
        input_type: input_type.map(String::from),
        output_type: output_type.map(String::from),
        ..CommonArgs::default()
    }
}

/// sops's `ValToString` for environment values.
fn env_value(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Time(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "<nil>".into(),
        Value::Float(f) => {
            let s = keytap_core::cipher::format_float_plain(*f);
            if s.contains('.') || s.contains('e') || s.contains("Inf") || s.contains("NaN") {
                s
            } else {
                format!("{s}.0")
            }
        }
        Value::Comment(c) => c.clone(),
        Value::Map(_) | Value::List(_) => String::new(),
    }
}

fn run_child(mut cmd: Command) -> Result<i32, CliError> {
    let status = cmd
        .status()
        .map_err(|e| CliError::new(exit_code::GENERIC, format!("could not run command: {e}")))?;
    // Like sops: Go's exec error for a failed child, and its exit code (255 after a signal).
    match status.code() {
        Some(0) => Ok(0),
        Some(code) => {
            eprintln!("exit status {code}");
            Ok(code)
        }
        None => {
            use std::os::unix::process::ExitStatusExt;
            eprintln!("signal: {}", signal_name(status.signal().unwrap_or(0)));
            Ok(255)
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "killed",
        libc::SIGTERM => "terminated",
        libc::SIGINT => "interrupt",
        libc::SIGSEGV => "segmentation fault",
        libc::SIGABRT => "aborted",
        libc::SIGHUP => "hangup",
        libc::SIGPIPE => "broken pipe",
        _ => "killed by a signal",
    }
}

fn shell(command: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    cmd
}

/// Runs `exec-env FILE COMMAND`.
pub fn run_env(
    input_type: Option<&str>,
    file: &str,
    command: &str,
    pristine: bool,
) -> Result<i32, CliError> {
    let (open, _) = open_file_read_only(&common_for(input_type, None), file, false)?;
    let mut cmd = shell(command);
    if pristine {
        cmd.env_clear();
    }
    for item in open.docs.first().map(|d| d.as_slice()).unwrap_or(&[]) {
        let Item::Entry(key, value) = item else {
            continue;
        };
        if value.is_collection() {
            return Err(CliError::new(
                exit_code::GENERIC,
                format!("cannot use complex value in environment; offending key {key}"),
            ));
        }
        if key.contains('=') || key.is_empty() || key.contains('\0') {
            return Err(CliError::new(
                exit_code::GENERIC,
                format!("cannot use keys with '=' in environment: {key}"),
            ));
        }
        let value = env_value(value);
        if value.contains('\0') {
            return Err(CliError::new(
                exit_code::GENERIC,
                format!("value of {key} contains a NUL byte"),
            ));
        }
        cmd.env(key, value);
    }
    run_child(cmd)
}

/// Runs `exec-file FILE COMMAND`.
pub fn run_file(
    input_type: Option<&str>,
    output_type: Option<&str>,
    filename: Option<&str>,
    file: &str,
    command: &str,
    no_fifo: bool,
) -> Result<i32, CliError> {
    let (open, f) = open_file_read_only(&common_for(input_type, output_type), file, false)?;
    let plain = zeroize::Zeroizing::new(
        f.output_store
            .emit_plain(&open.docs)
            .map_err(|e| CliError::new(exit_code::ERROR_DUMPING_TREE, e.to_string()))?,
    );
    let dir = tempfile::Builder::new()
        .prefix(".keytap")
        .tempdir()
        .map_err(|e| {
            CliError::new(
                exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("could not create temporary directory: {e}"),
            )
        })?;
    let name = filename.filter(|n| !n.is_empty()).unwrap_or("tmp-file");
    if name.contains('/') {
        return Err(CliError::new(
            exit_code::GENERIC,
            format!("--filename must be a plain file name, not {name:?}"),
        ));
    }
    let path = dir.path().join(name);
    if no_fifo {
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                CliError::new(
                    exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
                    format!("could not create {}: {e}", path.display()),
                )
            })?;
        out.write_all(&plain).map_err(|e| {
            CliError::new(
                exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
                format!("could not write {}: {e}", path.display()),
            )
        })?;
    } else {
        make_fifo(&path)?;
        let fifo = path.clone();
        let data = plain.to_vec();
        // One reader gets the plaintext once, as with sops; if the child never opens the
        // FIFO, the blocked writer thread is abandoned when the child exits.
        std::thread::spawn(move || {
            let data = zeroize::Zeroizing::new(data);
            if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                let _ = w.write_all(&data);
            }
        });
    }
    let placeholder = path.to_string_lossy().into_owned();
    let code = run_child(shell(&command.replace("{}", &placeholder)))?;
    drop(dir);
    Ok(code)
}

fn make_fifo(path: &Path) -> Result<(), CliError> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| CliError::new(exit_code::GENERIC, "temporary path contains a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated path; mkfifo does not retain the pointer.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    if rc != 0 {
        return Err(CliError::new(
            exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
            format!(
                "could not create FIFO {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ),
        ));
    }
    Ok(())
}
