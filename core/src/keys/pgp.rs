//! PGP master keys, through the GnuPG binary as sops does: `gpg` (or `SOPS_GPG_EXEC`)
//! encrypts the data key to a fingerprint and decrypts it with whatever secret key and
//! agent (pinentry, smartcard) GnuPG has. sops first tries Go's OpenPGP library on the
//! legacy `pubring.gpg`/`secring.gpg`, which GnuPG 2.1 and later no longer write, then the
//! binary; keytap goes straight to the binary. The arguments are sops's, so a `gpg`
//! wrapper written for sops works unchanged; the data key travels on stdin, never argv.

use std::io::Write;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::metadata::MasterKey;
use crate::tree::{Branch, Item, Value};

/// The metadata list PGP keys go in.
pub const KIND: &str = "pgp";

/// A GnuPG home for this process's GnuPG runs in place of `GNUPGHOME`: the installer's
/// throwaway home for converted SSH keys. It goes into each run's environment; setting it
/// in this process's would race with threads reading the environment.
static HOME: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);

/// Sets (or with None, drops) the GnuPG home every later GnuPG run gets.
pub fn set_home(home: Option<std::path::PathBuf>) {
    *HOME.lock().unwrap_or_else(|e| e.into_inner()) = home;
}

/// A command for `program` with the home [`set_home`] gave, if any.
fn gnupg_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    if let Some(home) = HOME.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        command.env("GNUPGHOME", home);
    }
    command
}

/// The GnuPG program: `SOPS_GPG_EXEC` when set and not empty, else `gpg` from `PATH`.
fn gpg_program() -> std::ffi::OsString {
    std::env::var_os("SOPS_GPG_EXEC")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "gpg".into())
}

/// A new PGP master key for `fingerprint` (spaces removed, as sops does), created now and
/// not yet holding a data key. Its fields are in sops's order: `created_at`, `enc`, `fp`.
pub fn master_key(fingerprint: &str) -> MasterKey {
    let fields: Branch = vec![
        Item::Entry(
            "created_at".into(),
            Value::Str(crate::metadata::now_rfc3339()),
        ),
        Item::Entry("enc".into(), Value::Str(String::new())),
        Item::Entry("fp".into(), Value::Str(fingerprint.replace(' ', ""))),
    ];
    MasterKey::Other {
        kind: KIND.into(),
        fields,
    }
}

/// The master keys of a comma-separated fingerprint list (`--pgp`, `SOPS_PGP_FP`, a
/// creation rule's `pgp:`); empty entries are skipped.
pub fn master_keys(fingerprints: &str) -> Vec<MasterKey> {
    fingerprints
        .split(',')
        .filter(|f| !f.trim().is_empty())
        .map(master_key)
        .collect()
}

/// The last 16 hex digits of a fingerprint (with a trailing `!`, 17 characters), which
/// older GnuPG versions want for `--trusted-key` (sops's `shortenFingerprint`).
fn short_id(fingerprint: &str) -> &str {
    let keep = if fingerprint.ends_with('!') { 17 } else { 16 };
    match fingerprint.len().checked_sub(keep) {
        Some(start) if start > 0 && fingerprint.is_char_boundary(start) => &fingerprint[start..],
        _ => fingerprint,
    }
}

/// The most GnuPG may write to stdout when it decrypts a data key (32 bytes) and when it
/// encrypts one (an armored message per recipient, ~0.6 KiB). A message in `enc` is the
/// file's author's to choose: a compressed literal packet expands to gigabytes.
const MAX_KEY_OUTPUT: u64 = 4 << 10;
const MAX_MESSAGE_OUTPUT: u64 = 256 << 10;

/// The most of GnuPG's stderr kept for an error message.
const MAX_STDERR: u64 = 64 << 10;

/// Runs GnuPG with `args`, `input` on its stdin: its stdout, or its trimmed stderr. Input
/// is written while the output is read (GnuPG may write before it has read everything, and
/// a full pipe either way would block both), stdout past `max_stdout` stops GnuPG, and
/// only the start of stderr is kept. The writer and the stderr reader are threads of
/// their own, left behind when GnuPG is stopped: a wrapper's child may hold the pipes open.
fn run_gpg(args: &[&str], input: &[u8], max_stdout: u64) -> Result<Zeroizing<Vec<u8>>, String> {
    use std::io::Read;
    let program = gpg_program();
    let mut child = gnupg_command(&program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| crate::goerr::start_reason(&program.to_string_lossy(), &e))?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let input = Zeroizing::new(input.to_vec());
    let writer = std::thread::spawn(move || stdin.map_or(Ok(()), |mut s| s.write_all(&input)));
    let errors = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut stderr) = stderr {
            let _ = (&mut stderr).take(MAX_STDERR).read_to_end(&mut text);
            // Keep draining, so GnuPG never blocks on a full stderr pipe.
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        }
        text
    });
    // Room for all it may write up front: growing would leave copies of the key behind.
    let limit = usize::try_from(max_stdout).unwrap_or(usize::MAX);
    let mut out = Zeroizing::new(Vec::with_capacity(limit + 1));
    let read = stdout.map_or(Ok(0), |stdout| {
        stdout.take(max_stdout + 1).read_to_end(&mut out)
    });
    if out.len() > limit {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "GnuPG wrote more than {max_stdout} bytes; stopped it"
        ));
    }
    let written = writer.join().unwrap_or(Ok(()));
    let errors = errors.join().unwrap_or_default();
    let status = child.wait().map_err(|e| crate::goerr::io_reason(&e))?;
    match (status.success(), written, read) {
        (true, Ok(()), Ok(_)) => Ok(out),
        _ => Err(String::from_utf8_lossy(&errors).trim().to_string()),
    }
}

/// Encrypts `data_key` to `fingerprint`: the ASCII-armored message sops stores as `enc`.
pub fn wrap(fingerprint: &str, data_key: &[u8]) -> Result<String, String> {
    let args = [
        "--no-default-recipient",
        "--yes",
        "--encrypt",
        "-a",
        "-r",
        fingerprint,
        "--trusted-key",
        short_id(fingerprint),
        "--no-encrypt-to",
    ];
    let armored = run_gpg(&args, data_key, MAX_MESSAGE_OUTPUT).map_err(|stderr| {
        format!(
            "could not encrypt data key with PGP key: GnuPG binary error: failed to encrypt sops data key with pgp: {stderr}"
        )
    })?;
    Ok(String::from_utf8_lossy(&armored).trim().to_string())
}

/// Decrypts an `enc` message with GnuPG's secret keys.
pub fn unwrap(enc: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let failed = |why: String| {
        format!(
            "could not decrypt data key with PGP key: GnuPG binary error: failed to decrypt sops data key with pgp: {why}"
        )
    };
    let key = run_gpg(&["-d"], enc.as_bytes(), MAX_KEY_OUTPUT).map_err(failed)?;
    if key.is_empty() {
        // An old GnuPG drops AEAD packets it cannot read and succeeds with nothing.
        return Err(failed("zero bytes returned".into()));
    }
    Ok(key)
}

/// Imports OpenPGP keys (binary or armored, secret ones too) into GnuPG's home.
pub fn import_keys(keys: &[u8]) -> Result<(), String> {
    run_gpg(
        &["--batch", "--quiet", "--import"],
        keys,
        MAX_MESSAGE_OUTPUT,
    )
    .map(drop)
}

/// Stops the gpg-agent serving the GnuPG home `home` and removes its socket directory
/// (under `/run/user/UID/gnupg/` when that exists), with the `gpgconf` beside the GnuPG
/// program (or on `PATH`): a home about to be removed must not leave them behind. Best
/// effort: an agent that is not running is not an error, and `gpgconf` starts none.
pub fn stop_agent(home: &std::path::Path) {
    let program = std::path::PathBuf::from(gpg_program());
    let beside = program.with_file_name("gpgconf");
    let gpgconf = if program.parent().is_some_and(|p| !p.as_os_str().is_empty()) && beside.exists()
    {
        beside
    } else {
        "gpgconf".into()
    };
    for args in [&["--kill", "gpg-agent"][..], &["--remove-socketdir"]] {
        let _ = Command::new(&gpgconf)
            .args(args)
            .env("GNUPGHOME", home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The fingerprint of a PGP master key (its `fp` field).
pub fn fingerprint(key: &MasterKey) -> Option<&str> {
    match key {
        MasterKey::Other { kind, fields } if kind == KIND => match crate::tree::get(fields, "fp") {
            Some(Value::Str(fp)) => Some(fp),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_sops_s() {
        assert_eq!(
            short_id("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
            "3D16CEE4A27381B4"
        );
        assert_eq!(
            short_id("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4!"),
            "3D16CEE4A27381B4!"
        );
        assert_eq!(short_id("ABCD"), "ABCD");
        assert_eq!(short_id("0123456789ABCDEF"), "0123456789ABCDEF");
    }

    #[test]
    fn fingerprint_lists_split_like_sops() {
        let keys = master_keys("AB CD, EF01,,");
        let fps: Vec<&str> = keys.iter().filter_map(fingerprint).collect();
        assert_eq!(fps, ["ABCD", "EF01"]);
        assert_eq!(keys[0].kind(), "pgp");
        assert_eq!(keys[0].enc(), "");
    }
}
