//! Plaintext that must not outlive an interrupted keytap: paths registered here are
//! removed when a signal that would end keytap arrives (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
//! the user and timer signals, resource limits), before keytap exits. (On every other exit
//! path their owners remove them when dropped; SIGKILL cannot be caught.)
//!
//! An editor may outlive keytap (it ignores SIGINT, or the server of a client/server editor
//! keeps the buffer after its client is killed, which keytap cannot see) and save again.
//! The editor's directory is therefore emptied but kept: in a shared `/tmp`, another user
//! could otherwise make a directory of the same name and receive that save.

use std::path::PathBuf;
use std::sync::{Mutex, Once};

use keytap_core::error::exit_code;

static REGISTERED: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static HANDLER: Once = Once::new();
/// Set as a terminating signal is handled.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Set once keytap has started an editor, which (or whose server) may outlive it.
static EDITOR_STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records that an editor was started: from then on, a signal empties the registered
/// directories but keeps them.
pub fn editor_started() {
    EDITOR_STARTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Called when a command keytap waited for died of a signal, which a terminal sends to
/// keytap too (Ctrl-C, Ctrl-\, a hangup): if keytap is being ended meanwhile, waits for
/// that to finish, so that the run ends as interrupted, once.
pub fn yield_to_interruption() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
    while std::time::Instant::now() < deadline {
        if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
            loop {
                std::thread::park();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Removes what `dir` holds, keeping the directory itself.
fn empty(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    let _ = std::fs::remove_dir_all(&path);
                }
                _ => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}

/// Removes its directory from the registry when dropped (the directory's own owner
/// deletes it).
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut r) = REGISTERED.lock() {
            r.retain(|(id, _)| *id != self.0);
        }
    }
}

/// Registers a directory of plaintext to remove on a terminating signal.
pub fn on_signal_remove(dir: PathBuf) -> Registration {
    HANDLER.call_once(install_handler);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut r) = REGISTERED.lock() {
        r.push((id, dir));
    }
    Registration(id)
}

fn install_handler() {
    use signal_hook::consts::*;
    // The signals that end a process by default and are sent to it from outside (a
    // terminal, kill, timers, resource limits; SIGQUIT's default would also dump the
    // plaintext in memory to a core file). Faults (SIGSEGV, SIGBUS) stay with the runtime.
    let terminating = [
        SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU,
        SIGXFSZ, SIGIO,
    ];
    let Ok(mut signals) = signal_hook::iterator::Signals::new(terminating) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            let editing = EDITOR_STARTED.load(std::sync::atomic::Ordering::SeqCst);
            let mut kept = Vec::new();
            if let Ok(r) = REGISTERED.lock() {
                for (_, dir) in r.iter() {
                    if editing {
                        empty(dir);
                        kept.push(dir.display().to_string());
                    } else {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                }
            }
            eprintln!("Interrupted: the plaintext copy was removed and the file was not changed.");
            for dir in kept {
                eprintln!(
                    "The editor may still be running: its directory {dir} is kept, empty and only yours, so that no one else can take its name. Delete it once the editor is closed."
                );
            }
            std::process::exit(if sig == SIGINT {
                exit_code::KEYBOARD_INTERRUPT
            } else {
                128 + sig
            });
        }
    });
}
