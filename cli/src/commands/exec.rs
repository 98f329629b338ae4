//! `exec-env` and `exec-file`: give decrypted values to a child process, never to disk
//! (a FIFO by default) or only to a private 0600 file, and pass its exit code through.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::Command;

use keytap_core::error::exit_code;
use keytap_core::safefs::PrivateDir;
use keytap_core::tree::Item;

use crate::args::CommonArgs;
use crate::error::CliError;
use crate::open::{open_file, OpenMode, Opened};

fn common_for(input_type: Option<&str>, output_type: Option<&str>) -> CommonArgs {
    CommonArgs {
        input_type: input_type.map(String::from),
        output_type: output_type.map(String::from),
        ..CommonArgs::default()
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

fn shell(command: &OsStr) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    cmd
}

/// `command` with every `{}` replaced by `path` (bytes: neither need be UTF-8).
fn substitute(command: &OsStr, path: &Path) -> OsString {
    let (c, p) = (command.as_bytes(), path.as_os_str().as_bytes());
    let mut out = Vec::with_capacity(c.len() + p.len());
    let mut i = 0;
    while i < c.len() {
        if c[i..].starts_with(b"{}") {
            out.extend_from_slice(p);
            i += 2;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    OsString::from_vec(out)
}

/// Runs `exec-env FILE COMMAND`.
pub fn run_env(
    input_type: Option<&str>,
    file: &Path,
    command: &OsStr,
    pristine: bool,
) -> Result<i32, CliError> {
    let Opened { open, .. } =
        open_file(&common_for(input_type, None), file, false, OpenMode::READ)?;
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
        // sops's ValToString, as its dotenv output uses.
        let value = keytap_core::stores::flatten::val_to_string(value);
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

/// Runs `exec-file FILE COMMAND`: the plaintext is offered at `{}` inside a directory only
/// this user can open (0700 whatever the umask), as a FIFO read once or with `--no-fifo` a
/// 0600 file; the directory is removed when the command ends or keytap is interrupted.
pub fn run_file(
    input_type: Option<&str>,
    output_type: Option<&str>,
    filename: Option<&OsStr>,
    file: &Path,
    command: &OsStr,
    no_fifo: bool,
) -> Result<i32, CliError> {
    let name = filename
        .filter(|n| !n.is_empty())
        .unwrap_or("tmp-file".as_ref());
    if name.as_bytes().contains(&b'/') || name == ".." || name == "." {
        return Err(CliError::new(
            exit_code::GENERIC,
            format!(
                "--filename must be a plain file name, not {}",
                keytap_core::goerr::quote(name.as_bytes())
            ),
        ));
    }
    let Opened {
        open, formats: f, ..
    } = open_file(
        &common_for(input_type, output_type),
        file,
        false,
        OpenMode::READ,
    )?;
    let plain = zeroize::Zeroizing::new(
        f.output_store
            .emit_plain(&open.docs)
            .map_err(|e| CliError::new(exit_code::ERROR_DUMPING_TREE, e.to_string()))?,
    );
    drop(open);
    let cannot = |what: &str, e: std::io::Error| {
        CliError::write_failed(format!("could not create {what}: {e}"))
    };
    let dir = PrivateDir::create("keytap-exec-").map_err(|e| cannot("temporary directory", e))?;
    let _on_signal = crate::cleanup::on_signal_remove(dir.path().to_path_buf());
    let path = if no_fifo {
        dir.create_file(name, &plain)
            .map_err(|e| cannot("temporary file", e))?
    } else {
        let fifo = dir.create_fifo(name).map_err(|e| cannot("FIFO", e))?;
        let writer_path = fifo.clone();
        let data = plain.to_vec();
        // One reader gets the plaintext once, as with sops; if the child never opens the
        // FIFO, the blocked writer thread ends with the process.
        std::thread::spawn(move || {
            let data = zeroize::Zeroizing::new(data);
            if let Ok(mut w) = PrivateDir::open_fifo_writer(&writer_path) {
                let _ = w.write_all(&data);
            }
        });
        fifo
    };
    drop(plain);
    let code = run_child(shell(&substitute(command, &path)))?;
    drop(dir);
    Ok(code)
}
