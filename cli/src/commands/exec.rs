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

/// How the command runs: `--user`, `--background`, `--same-process`.
#[derive(Debug, Default)]
pub struct Launch<'a> {
    /// Become this user after decrypting (see [`crate::run_as`]).
    pub user: Option<&'a str>,
    /// Start the command and return without waiting for it (sops: deprecated).
    pub background: bool,
    /// Replace keytap with the command (`exec-env` only).
    pub same_process: bool,
}

/// The warning sops prints for `--background`, which it deprecated.
fn warn_background(command: &str) {
    eprintln!(
        "{command}'s --background option is deprecated and will be removed in a future version of sops"
    );
}

/// Starts `cmd` with nothing attached to it, as Go's `Cmd.Start` with no streams set.
fn start_detached(mut cmd: Command) -> Result<std::process::Child, CliError> {
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(could_not_run)
}

fn could_not_run(e: std::io::Error) -> CliError {
    CliError::new(exit_code::GENERIC, format!("could not run command: {e}"))
}

fn run_child(mut cmd: Command) -> Result<i32, CliError> {
    let status = cmd.status().map_err(could_not_run)?;
    // Like sops: Go's exec error for a failed child, and its exit code (255 after a signal).
    match status.code() {
        Some(0) => Ok(0),
        code => {
            if code.is_none() {
                crate::cleanup::yield_to_interruption();
            }
            eprintln!("{}", keytap_core::goerr::exit_reason(status));
            Ok(code.unwrap_or(255))
        }
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
    file: &Path,
    command: &OsStr,
    pristine: bool,
    launch: &Launch<'_>,
) -> Result<i32, CliError> {
    if launch.background {
        warn_background("exec-env");
        if launch.same_process {
            return Err(CliError::new(
                exit_code::CONFLICTING_PARAMETERS,
                "Error: The --same-process flag cannot be used with --background",
            ));
        }
    }
    let Opened { open, .. } = open_file(&common_for(None, None), file, false, OpenMode::READ)?;
    let mut values = Vec::new();
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
        let value = zeroize::Zeroizing::new(keytap_core::stores::flatten::val_to_string(value));
        if value.contains('\0') {
            return Err(CliError::new(
                exit_code::GENERIC,
                format!("value of {key} contains a NUL byte"),
            ));
        }
        values.push((key.as_str(), value));
    }
    let user_env = launch.user.map(crate::run_as::become_user).transpose()?;
    // The standard library copies the values into the command's environment map and the
    // child's environment block, and frees both unwiped: every free until the command is
    // dropped wipes its block.
    keytap_alloc::wiping_frees(move || {
        let mut cmd = shell(command);
        if pristine {
            cmd.env_clear();
        }
        crate::run_as::set_user_env(&mut cmd, user_env.as_ref());
        for (key, value) in &values {
            cmd.env(key, value.as_str());
        }
        drop(values);
        if launch.same_process {
            use std::os::unix::process::CommandExt;
            return Err(could_not_run(cmd.exec()));
        }
        if launch.background {
            start_detached(cmd)?;
            return Ok(0);
        }
        run_child(cmd)
    })
}

/// Runs `exec-file FILE COMMAND`: the plaintext is offered at `{}` inside a directory only
/// this user can open (0700 whatever the umask), as a FIFO read once or with `--no-fifo` a
/// 0600 file; the directory is removed when the command ends or keytap is interrupted.
/// With `--background`, keytap returns once the command has read the FIFO (sops removes
/// the directory at once, racing the command; with `--no-fifo`, keytap waits for it).
pub fn run_file(
    input_type: Option<&str>,
    output_type: Option<&str>,
    filename: Option<&OsStr>,
    file: &Path,
    command: &OsStr,
    no_fifo: bool,
    launch: &Launch<'_>,
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
    if launch.background {
        warn_background("exec-file");
    }
    let user_env = launch.user.map(crate::run_as::become_user).transpose()?;
    let cannot = |what: &str, e: std::io::Error| {
        CliError::write_failed(format!("could not create {what}: {e}"))
    };
    let dir = PrivateDir::create("keytap-exec-").map_err(|e| cannot("temporary directory", e))?;
    let _on_signal = crate::cleanup::on_signal_remove(dir.path().to_path_buf());
    let (read_tx, read_rx) = std::sync::mpsc::channel::<()>();
    let path = if no_fifo {
        dir.create_file(name, &plain)
            .map_err(|e| cannot("temporary file", e))?
    } else {
        let fifo = dir.create_fifo(name).map_err(|e| cannot("FIFO", e))?;
        let writer_path = fifo.clone();
        let data = plain.to_vec();
        // One reader gets the plaintext once, as with sops; if the child never opens the
        // FIFO, the blocked writer thread ends with the process.
        let read = read_tx.clone();
        std::thread::spawn(move || {
            let data = zeroize::Zeroizing::new(data);
            if let Ok(mut w) = PrivateDir::open_fifo_writer(&writer_path) {
                let _ = w.write_all(&data);
            }
            let _ = read.send(());
        });
        fifo
    };
    drop(plain);
    let mut cmd = shell(&substitute(command, &path));
    crate::run_as::set_user_env(&mut cmd, user_env.as_ref());
    if !launch.background {
        let code = run_child(cmd)?;
        drop(dir);
        return Ok(code);
    }
    let mut child = start_detached(cmd)?;
    if no_fifo {
        let _ = child.wait();
    } else {
        // Whichever comes first: the FIFO read to its end, or the command gone without it.
        std::thread::spawn(move || {
            let _ = child.wait();
            let _ = read_tx.send(());
        });
        let _ = read_rx.recv();
    }
    drop(dir);
    Ok(0)
}
