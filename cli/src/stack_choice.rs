//! Whether a command may run on the main thread instead of keytap-core's deep-stack thread.
//!
//! Starting that thread (a 256 MiB stack, a second allocator heap) costs about 0.4 ms, a
//! tenth of decrypting a small file at a shell prompt (direnv, `exec-env`). It is skipped
//! only for the commands run there, and only when every input they parse provably nests
//! shallowly; anything else, including stdin, pipes and large files, keeps the deep stack.

use std::io::Read;
use std::path::Path;

use crate::args::{Cli, Command};

/// Nesting levels the main thread's stack takes with a wide margin. A release build uses
/// about 1 KiB of stack per level (8 MiB, the usual main stack, overflows near 8,000
/// levels); debug builds' frames are several times larger.
const MAIN_STACK_LEVELS: u64 = 512;

/// Files larger than this take the deep stack without being read twice.
const MAX_SCANNED_BYTES: u64 = 256 * 1024;

/// Whether `cli` is a `decrypt`, `exec-env` or `exec-file` of one named regular file such
/// that this file and the `.sops.yaml` consulted for store options cannot, together, nest
/// deeper than [`MAIN_STACK_LEVELS`].
pub fn fits_main_stack(cli: &Cli) -> bool {
    let file = match &cli.command {
        Some(Command::Decrypt {
            files,
            output_dir: None,
            ..
        }) if files.len() == 1 => &files[0],
        Some(Command::ExecEnv { file, .. } | Command::ExecFile { file, .. }) => file,
        _ => return false,
    };
    if file.as_os_str() == "-" {
        return false;
    }
    let config = keytap_core::config::choose_config(cli.config.as_deref(), None).path;
    let mut budget = MAIN_STACK_LEVELS;
    spend_openers(file, &mut budget)
        && config.is_none_or(|config| spend_openers(&config, &mut budget))
}

/// Takes from `budget` the characters of `path` that can open a nesting level in any
/// store: `[` and `{` (flow collections, JSON), `-`, `:` and `?` (YAML block collections).
/// No tree is deeper than its number of collections, each of which needs one of them;
/// aliases do not change that (a path through them meets each anchored node once).
/// False when the file cannot be read as a regular file of at most
/// [`MAX_SCANNED_BYTES`], or when the budget runs out.
fn spend_openers(path: &Path, budget: &mut u64) -> bool {
    // A FIFO or device would block here or lose bytes the command needs: regular only.
    let regular = |m: std::fs::Metadata| m.is_file() && m.len() <= MAX_SCANNED_BYTES;
    if !std::fs::metadata(path).is_ok_and(regular) {
        return false;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if !file.metadata().is_ok_and(regular) {
        return false;
    }
    let mut bytes = Vec::new();
    if file
        .take(MAX_SCANNED_BYTES + 1)
        .read_to_end(&mut bytes)
        .is_err()
        || bytes.len() as u64 > MAX_SCANNED_BYTES
    {
        return false;
    }
    let openers = bytes
        .iter()
        .filter(|b| matches!(b, b'[' | b'{' | b'-' | b':' | b'?'))
        .count() as u64;
    match budget.checked_sub(openers) {
        Some(left) => {
            *budget = left;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(content: &[u8], budget: u64) -> (bool, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, content).unwrap();
        let mut left = budget;
        (spend_openers(&path, &mut left), left)
    }

    #[test]
    fn counts_every_opener_and_stops_at_the_budget() {
        assert_eq!(spend(b"a: [1, {b: 2}]\n- ? x\n", 100), (true, 94));
        assert_eq!(spend(b"[[[[", 4), (true, 0));
        assert!(!spend(b"[[[[[", 4).0);
        // UTF-16 text (YAML accepts it) still carries its openers as bytes.
        assert_eq!(spend(b"\xff\xfe[\0[\0", 10), (true, 8));
    }

    #[test]
    fn refuses_what_is_not_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut budget = 1 << 20;
        assert!(!spend_openers(&dir.path().join("missing"), &mut budget));
        assert!(!spend_openers(dir.path(), &mut budget));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; MAX_SCANNED_BYTES as usize + 1]).unwrap();
        assert!(!spend_openers(&big, &mut budget));
        assert!(!spend_openers(Path::new("/dev/null"), &mut budget));
    }
}
