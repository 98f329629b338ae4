//! Plaintext that must not outlive an interrupted keytap: paths registered here are
//! removed when a signal that would end keytap arrives (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
//! the user and timer signals, resource limits), before keytap exits. (On every other exit
//! path their owners remove them when dropped; SIGKILL cannot be caught.)

use std::path::PathBuf;
use std::sync::{Mutex, Once};

use keytap_core::error::exit_code;

static REGISTERED: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static HANDLER: Once = Once::new();

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
            if let Ok(r) = REGISTERED.lock() {
                for (_, dir) in r.iter() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            eprintln!("Interrupted: the plaintext copy was removed and the file was not changed.");
            std::process::exit(if sig == SIGINT {
                exit_code::KEYBOARD_INTERRUPT
            } else {
                128 + sig
            });
        }
    });
}
