//! Whether a command may run on the main thread instead of keytap-core's deep-stack thread.
//!
//! Starting that thread (a 256 MiB stack, a second allocator heap) costs about 0.4 ms, a
//! tenth of decrypting a small file at a shell prompt (direnv, `exec-env`). It is skipped
//! only for the commands run there, and only when every input they parse provably nests
//! shallowly; anything else, including stdin, pipes and large files, keeps the deep stack.
//! The bytes checked are the bytes parsed: the command takes them from here
//! ([`checked_bytes`]) instead of reading the file again, which could have changed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::args::{Cli, Command, DecryptArgs, ExecEnvArgs, ExecFileArgs, Lazy};

/// Nesting levels the main thread's stack takes with a wide margin. A release build uses
/// about 1 KiB of stack per level (8 MiB, the usual main stack, overflows near 8,000
/// levels); a debug build decrypts 350 levels in 2 MiB.
const MAIN_STACK_LEVELS: u64 = 512;

/// The main stack this needs at least (`ulimit -s`); with less, the deep stack.
const MIN_MAIN_STACK_BYTES: u64 = 8 << 20;

/// Files larger than this take the deep stack without being read twice.
const MAX_SCANNED_BYTES: u64 = 256 * 1024;

/// The files [`fits_main_stack`] read and checked, until the command takes them.
static CHECKED: Mutex<Vec<(PathBuf, Vec<u8>)>> = Mutex::new(Vec::new());

/// Whether `cli` is a `decrypt`, `exec-env` or `exec-file` of one named regular file such
/// that this file and the `.sops.yaml` consulted for store options cannot, together, nest
/// deeper than [`MAIN_STACK_LEVELS`]. When true, their bytes wait in [`checked_bytes`].
pub fn fits_main_stack(cli: &Cli) -> bool {
    let file = match &cli.command {
        Some(Command::Decrypt(Lazy(DecryptArgs {
            common,
            files,
            output_dir: None,
            ..
        }))) if files.len() == 1 && !common.in_place => &files[0],
        Some(
            Command::ExecEnv(Lazy(ExecEnvArgs {
                file: Some(file), ..
            }))
            | Command::ExecFile(Lazy(ExecFileArgs {
                file: Some(file), ..
            })),
        ) => file,
        _ => return false,
    };
    if crate::context::is_stdin(file) || !main_stack_is_large_enough() {
        return false;
    }
    let mut budget = MAIN_STACK_LEVELS;
    // The file first: a large one is refused by one stat, before .sops.yaml is looked for.
    let Some(bytes) = read_within_budget(file, &mut budget) else {
        return false;
    };
    let mut checked = vec![(file.clone(), bytes)];
    if let Some(config) = &crate::config_rules::chosen_config(cli.global.config.as_deref()).path {
        match read_within_budget(config, &mut budget) {
            Some(bytes) => checked.push((config.clone(), bytes)),
            None => return false,
        }
    }
    if let Ok(mut slot) = CHECKED.lock() {
        *slot = checked;
        return true;
    }
    false
}

/// Whether `cli` works on a file large enough for keytap-core to cut its work in two
/// (`stack::worth_a_helper`): one stat per file named, for the commands that read one.
pub fn names_a_large_file(cli: &Cli) -> bool {
    let files: Vec<&Path> = match &cli.command {
        Some(Command::Encrypt(Lazy(a))) => a.file.iter().map(PathBuf::as_path).collect(),
        Some(Command::Decrypt(Lazy(a))) => a.files.iter().map(PathBuf::as_path).collect(),
        Some(Command::Edit(Lazy(a))) => a.file.iter().map(PathBuf::as_path).collect(),
        Some(Command::Set(Lazy(a))) => a.file.iter().map(PathBuf::as_path).collect(),
        Some(Command::Unset(Lazy(a))) => a.file.iter().map(PathBuf::as_path).collect(),
        Some(Command::Rotate(Lazy(a))) => a.files.iter().map(PathBuf::as_path).collect(),
        Some(Command::Updatekeys(Lazy(a))) => a.files.iter().map(PathBuf::as_path).collect(),
        Some(Command::ExecEnv(Lazy(a))) => a.file.iter().map(PathBuf::as_path).collect(),
        Some(Command::ExecFile(Lazy(a))) => a.file.iter().map(PathBuf::as_path).collect(),
        Some(Command::Merge(Lazy(a))) => vec![&a.base, &a.ours, &a.theirs],
        _ => return false,
    };
    files.into_iter().any(|path| {
        std::fs::metadata(path).is_ok_and(|m| keytap_core::stack::worth_a_helper(m.len()))
    })
}

/// The bytes of `path` if [`fits_main_stack`] checked them: every read of it in this run
/// parses what was checked.
pub fn checked_bytes(path: &Path) -> Option<Vec<u8>> {
    let checked = CHECKED.lock().ok()?;
    checked
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, bytes)| bytes.clone())
}

fn main_stack_is_large_enough() -> bool {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Stack);
    limit
        .current
        .is_none_or(|bytes| bytes >= MIN_MAIN_STACK_BYTES)
}

/// The bytes of `path`, after taking from `budget` those that can open a nesting level in
/// any store: `[` and `{` (flow collections, JSON), `-`, `:` and `?` (YAML block
/// collections). No tree is deeper than its number of collections, each of which needs
/// one of them; aliases do not change that (a path through them meets each anchored node
/// once). None when the file cannot be read as a regular file of at most
/// [`MAX_SCANNED_BYTES`], or when the budget runs out.
fn read_within_budget(path: &Path, budget: &mut u64) -> Option<Vec<u8>> {
    // A FIFO or device would block here or lose bytes the command needs: regular only.
    let regular = |m: std::fs::Metadata| m.is_file() && m.len() <= MAX_SCANNED_BYTES;
    if !std::fs::metadata(path).is_ok_and(regular) {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().is_ok_and(regular) {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_SCANNED_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()
        .filter(|_| bytes.len() as u64 <= MAX_SCANNED_BYTES)?;
    let openers = bytes
        .iter()
        .filter(|b| matches!(b, b'[' | b'{' | b'-' | b':' | b'?'))
        .count() as u64;
    *budget = budget.checked_sub(openers)?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(content: &[u8], budget: u64) -> (bool, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, content).unwrap();
        let mut left = budget;
        let read = read_within_budget(&path, &mut left);
        if let Some(bytes) = &read {
            assert_eq!(bytes, content, "the bytes checked are the bytes handed on");
        }
        (read.is_some(), left)
    }

    #[test]
    fn a_large_file_named_by_any_file_command_starts_the_helper_early() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let (small, large) = (dir.path().join("small.json"), dir.path().join("large.json"));
        std::fs::write(&small, "{}").unwrap();
        std::fs::write(&large, vec![b' '; 512 << 10]).unwrap();
        let named = |line: &[&str]| {
            let cli = Cli::try_parse_from(std::iter::once("keytap").chain(line.iter().copied()))
                .unwrap_or_else(|e| panic!("{line:?}: {e}"));
            names_a_large_file(&cli)
        };
        let (s, l) = (small.to_str().unwrap(), large.to_str().unwrap());
        for line in [
            vec!["decrypt", l],
            vec!["decrypt", s, l],
            vec!["encrypt", l],
            vec!["edit", l],
            vec!["set", l, "[\"a\"]", "1"],
            vec!["exec-env", l, "true"],
            vec!["merge", s, s, l, "x.json"],
        ] {
            assert!(named(&line), "{line:?}");
        }
        for line in [
            vec!["decrypt", s],
            vec!["encrypt", s],
            vec!["decrypt", "missing.json"],
            vec!["filestatus", l],
            vec!["keygen"],
        ] {
            assert!(!named(&line), "{line:?}");
        }
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
        assert!(read_within_budget(&dir.path().join("missing"), &mut budget).is_none());
        assert!(read_within_budget(dir.path(), &mut budget).is_none());
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; MAX_SCANNED_BYTES as usize + 1]).unwrap();
        assert!(read_within_budget(&big, &mut budget).is_none());
        assert!(read_within_budget(Path::new("/dev/null"), &mut budget).is_none());
    }

    #[test]
    fn checked_bytes_are_what_every_read_gets() {
        *CHECKED.lock().unwrap() = vec![(PathBuf::from("a"), b"x".to_vec())];
        assert_eq!(checked_bytes(Path::new("b")), None);
        assert_eq!(checked_bytes(Path::new("a")), Some(b"x".to_vec()));
        assert_eq!(checked_bytes(Path::new("a")), Some(b"x".to_vec()));
    }
}
