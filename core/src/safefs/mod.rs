//! File-system operations for files that hold secrets.
//!
//! * [`bounded`]: whole inputs read up to a bound, never until memory runs out.
//! * [`lock`]: read-modify-write under an exclusive advisory lock, so two concurrent
//!   `set`s never lose an update.
//! * [`replace`]: write a file atomically where a rename is possible (through symlinks,
//!   keeping owner, group and mode), in place where it is not (hard links, a read-only
//!   directory), and refuse what sops refuses (a file the user cannot write).
//! * [`private`]: directories only their owner can enter, whatever the umask, for
//!   plaintext that has to exist as a file for a while (the editor's copy, exec-file).

pub mod bounded;
pub mod lock;
pub mod private;
pub mod replace;

pub use bounded::{
    read_bounded, read_file_bounded, read_text_bounded, read_text_file_bounded, MAX_INPUT_BYTES,
};
pub use lock::{LockWait, LockedFile};
pub use private::PrivateDir;
pub use replace::{replace, Replace, ReplaceError, Written};

use rand::Rng;

/// Six random alphanumeric characters, for temporary names.
fn random_suffix() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// Tests that change or depend on the process umask run one at a time.
#[cfg(test)]
pub(crate) static UMASK_TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
