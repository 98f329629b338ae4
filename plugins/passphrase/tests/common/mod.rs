//! The passphrase plugin's test helpers: the shared plugin harness, with this crate's
//! plugin binary and its key-file generation.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[path = "../../../../tests/support/plugin_harness.rs"]
mod harness;
pub use harness::*;

pub fn plugin_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_age-plugin-passphrase"))
}

/// Runs the real `age` with `args` on a pseudo-terminal, typing `typed` into it.
pub fn age_on_tty(args: &[&str], typed: &str, env: &[(&str, &str)]) -> Output {
    on_tty("age", args, typed, env, TIMEOUT)
}

/// What `--generate` printed.
pub struct Generated {
    pub recipient: String,
    pub identity: String,
    pub stdout: String,
}

pub fn parse_generated(stdout: &str) -> Generated {
    let recipient = stdout
        .lines()
        .find_map(|l| l.strip_prefix("# recipient: "))
        .unwrap_or_else(|| panic!("no recipient line in {stdout}"))
        .to_owned();
    let identity = stdout
        .lines()
        .find(|l| l.starts_with("AGE-PLUGIN-"))
        .unwrap_or_else(|| panic!("no identity line in {stdout}"))
        .to_owned();
    Generated {
        recipient,
        identity,
        stdout: stdout.to_owned(),
    }
}

/// Generates a key file at `key` with the passphrase in `pass_file` (cheap scrypt).
pub fn generate(key: &Path, pass_file: &Path, extra: &[&str]) -> Generated {
    let out = run(
        plugin()
            .arg("--generate")
            .arg("-o")
            .arg(key)
            .arg("--passphrase-file")
            .arg(pass_file)
            .args(["--work-factor", "10"])
            .args(extra),
        b"",
        TIMEOUT,
    );
    assert!(out.success(), "generate failed: {out:?}");
    parse_generated(&out.stdout_str())
}

/// Prints an identity for an existing key file with the given source flags.
pub fn identity_for(key: &Path, flags: &[&str]) -> String {
    let out = run(
        plugin().arg("--identity").arg(key).args(flags),
        b"",
        TIMEOUT,
    );
    assert!(out.success(), "--identity failed: {out:?}");
    parse_generated(&format!("# recipient: none\n{}", out.stdout_str())).identity
}
