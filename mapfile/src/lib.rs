//! Reads a large input file by mapping it into memory instead of copying it.
//!
//! Copying a file into freshly allocated memory costs a page fault, a zeroed page and a
//! copy for every 4 KiB: 0.7 ms of a 10 ms decrypt of a 1.6 MB JSON file. Mapping it shares
//! the page cache's pages and costs 0.05 ms. The catch is that a mapped file another
//! process truncates meanwhile makes the next read of a vanished page raise `SIGBUS`,
//! which would kill keytap with a core dump. While a mapping is alive, a `SIGBUS` inside
//! it is therefore turned into what a failed `read` would give: one line on stderr
//! naming the file and exit status 2 (sops's "could not read input file"). Nothing has been
//! written at that point: callers parse the mapping into their own memory and drop it
//! before they decrypt or write anything.
//!
//! Only a file no other user can write is mapped ([`map`] checks); the parsers copy a
//! value before they check it, so even the owner changing the file meanwhile gives odd
//! text, never a broken invariant.
//!
//! One mapping is alive at a time (keytap maps the one file of a `decrypt`); [`map`]
//! returns `None` when the slot is taken, when the platform is not Linux, or when the
//! mapping fails, and the caller reads the file instead.

use std::fs::File;
use std::ops::Deref;
use std::path::Path;

/// Exit status of a run whose mapped input shrank under it (sops's
/// `CouldNotReadInputFile`).
pub const EXIT_FILE_SHRANK: i32 = 2;

/// A file mapped read-only; the mapping is removed on drop.
pub struct MappedFile {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only, private to this process and unmapped only on drop.
unsafe impl Send for MappedFile {}
// SAFETY: as above; shared references only read.
unsafe impl Sync for MappedFile {}

impl Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until drop. Pages the file loses meanwhile
        // raise SIGBUS on access, which the guard turns into a clean exit.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        guard::release();
        // SAFETY: `ptr`/`len` are exactly what mmap returned; no slice of it outlives
        // `self` (they borrow it).
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

/// Maps the whole of `file` (an open regular file of `len` bytes, `len` > 0) read-only.
/// `path` names the file in the message should it shrink while mapped. `None` when it
/// cannot be mapped: the caller reads it instead.
pub fn map(file: &File, len: u64, path: &Path) -> Option<MappedFile> {
    let len = usize::try_from(len).ok().filter(|&len| len > 0)?;
    if !cfg!(target_os = "linux") || !only_we_can_write(file) {
        return None;
    }
    let message = format!(
        "Error reading file: read {}: the file shrank while it was read\n",
        path.display()
    );
    if !guard::claim(message) {
        return None;
    }
    // SAFETY: a fresh private read-only mapping of an open file; the kernel picks the
    // address. Failure is reported as MAP_FAILED and handled.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            std::os::fd::AsRawFd::as_raw_fd(file),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        guard::release();
        return None;
    }
    guard::arm(ptr as usize, len);
    Some(MappedFile { ptr, len })
}

/// Whether `file` is a regular file that no other user can change while it is mapped:
/// ours, and not writable by group or others. Mapped bytes that change under the parser
/// break what it checked a moment before (text validated as UTF-8, then copied into a
/// `String`); an attacker able to write a shared file must not get that, and reading
/// such a file copies it once, as it is at that moment.
fn only_we_can_write(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid only reads the process's credentials.
    let euid = unsafe { libc::geteuid() };
    file.metadata()
        .is_ok_and(|m| m.is_file() && m.uid() == euid && m.mode() & 0o022 == 0)
}

/// The SIGBUS guard: one slot holding the live mapping's address range and the message
/// for it, read by the signal handler without locks.
mod guard {
    use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
    use std::sync::OnceLock;

    static TAKEN: AtomicBool = AtomicBool::new(false);
    static START: AtomicUsize = AtomicUsize::new(0);
    static END: AtomicUsize = AtomicUsize::new(0);
    static MESSAGE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
    static MESSAGE_LEN: AtomicUsize = AtomicUsize::new(0);
    /// The `SIGBUS` action before ours (Rust's stack-overflow handler, or the default),
    /// put back for a fault that is not in the mapping.
    static PREVIOUS: OnceLock<Option<libc::sigaction>> = OnceLock::new();

    /// Takes the slot (until [`release`]) and installs the handler (once per process).
    /// False if the slot is taken or the handler cannot be installed.
    pub(super) fn claim(message: String) -> bool {
        if TAKEN.swap(true, SeqCst) {
            return false;
        }
        if PREVIOUS.get_or_init(install).is_none() {
            TAKEN.store(false, SeqCst);
            return false;
        }
        let message = Box::leak(message.into_boxed_str());
        MESSAGE_LEN.store(message.len(), SeqCst);
        MESSAGE.store(message.as_mut_ptr(), SeqCst);
        true
    }

    /// Guards `len` bytes at `start` until [`release`].
    pub(super) fn arm(start: usize, len: usize) {
        START.store(start, SeqCst);
        END.store(start + len, SeqCst);
    }

    /// Ends the guard and frees the slot.
    pub(super) fn release() {
        END.store(0, SeqCst);
        START.store(0, SeqCst);
        let message = MESSAGE.swap(std::ptr::null_mut(), SeqCst);
        let len = MESSAGE_LEN.swap(0, SeqCst);
        if !message.is_null() {
            // SAFETY: the pointer and length of the string leaked in `claim`, no longer
            // reachable by the handler (the range is disarmed first).
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(message, len)) });
        }
        TAKEN.store(false, SeqCst);
    }

    fn install() -> Option<libc::sigaction> {
        // SAFETY: sigaction with a zeroed, then filled, struct; the handler only reads
        // atomics and calls async-signal-safe functions (write, _exit, sigaction).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            (libc::sigaction(libc::SIGBUS, &action, &mut previous) == 0).then_some(previous)
        }
    }

    extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
        let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
        // Only a fault carries an address (a signal sent with kill or sigqueue has a
        // non-positive code, and a pid where the address would be).
        let fault = code > 0;
        let (start, end) = (START.load(SeqCst), END.load(SeqCst));
        if fault && start <= addr && addr < end {
            let message = MESSAGE.load(SeqCst);
            let len = MESSAGE_LEN.load(SeqCst);
            // SAFETY: write and _exit are async-signal-safe; the message lives while the
            // range is armed.
            unsafe {
                if !message.is_null() {
                    libc::write(2, message.cast(), len);
                }
                libc::_exit(super::EXIT_FILE_SHRANK);
            }
        }
        // SAFETY: sigaction and raise are async-signal-safe.
        unsafe {
            if fault {
                // Not the mapping's: the action before ours handles the fault when the
                // instruction runs again.
                if let Some(Some(previous)) = PREVIOUS.get() {
                    libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut());
                }
            } else {
                // Sent by a process: it ends this one, as SIGBUS does by default (Rust's
                // handler, the action before ours, would let a first one pass and leave
                // the guard uninstalled). It stays blocked until this handler returns.
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
                libc::raise(libc::SIGBUS);
            }
        }
    }
}

#[cfg(test)]
mod tests;
