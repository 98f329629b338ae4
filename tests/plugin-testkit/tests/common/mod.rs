//! The test kit's helpers: the shared plugin harness, with this crate's plugin binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

#[path = "../../../support/plugin_harness.rs"]
mod harness;
pub use harness::*;

pub fn plugin_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_age-plugin-testkit"))
}

/// Runs the real `age` with `args` on a pseudo-terminal, typing `typed` into it.
pub fn age_on_tty(args: &[&str], typed: &str, env: &[(&str, &str)], timeout: Duration) -> Output {
    on_tty("age", args, typed, env, timeout)
}

/// What `--generate` printed: (recipient, identity).
pub fn generate(extra: &[&str]) -> (String, String) {
    let out = run(plugin().arg("--generate").args(extra), b"", TIMEOUT);
    assert!(out.success(), "generate failed: {out:?}");
    let stdout = out.stdout_str();
    let recipient = stdout
        .lines()
        .find_map(|l| l.strip_prefix("# recipient: "))
        .unwrap_or_else(|| panic!("no recipient line in {stdout}"))
        .to_owned();
    let identity = stdout.lines().last().unwrap().to_owned();
    (recipient, identity)
}
