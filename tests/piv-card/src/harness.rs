//! For tests and demos: starts pcscd in the foreground by PID, inserts and removes software
//! cards, and stops everything it started. pcscd is machine-global, so [`Pcscd::start`] holds
//! an exclusive lock (a `flock` on a file in the temp dir, plus a process-wide mutex) until
//! it is dropped: tests that use it run one at a time, across test binaries too.

use std::ffi::CString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::applet::Counters;

/// The socket pcscd's clients use.
pub const PCSCD_SOCKET: &str = "/run/pcscd/pcscd.comm";

static IN_PROCESS: Mutex<()> = Mutex::new(());

/// The name pcscd gives vpcd reader `index`.
pub fn reader_name(index: u16) -> String {
    format!("Virtual PCD 00 {index:02}")
}

/// The `keytap-piv-card` binary next to the running test (target/<profile>/), or
/// `$KEYTAP_PIV_CARD_BIN`.
pub fn card_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYTAP_PIV_CARD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let mut dir = exe.parent().expect("dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("keytap-piv-card");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build -p keytap-piv-card` first",
        bin.display()
    );
    bin
}

fn pcsc_context() -> Option<pcsc::Context> {
    pcsc::Context::establish(pcsc::Scope::User).ok()
}

/// Waits until pcscd answers and lists vpcd's first reader.
pub fn wait_for_pcscd(timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    let want = reader_name(0);
    loop {
        if let Some(ctx) = pcsc_context() {
            if let Ok(readers) = ctx.list_readers_owned() {
                if readers.iter().any(|r| r.to_string_lossy() == want) {
                    return Ok(());
                }
            }
        }
        if start.elapsed() >= timeout {
            return Err(format!("pcscd did not list '{want}' within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until reader `index` has a card (`present`) or none, with pcscd's
/// `SCardGetStatusChange`.
pub fn wait_for_card(index: u16, present: bool, timeout: Duration) -> Result<(), String> {
    let ctx = pcsc_context().ok_or("pcscd is not running")?;
    let name = CString::new(reader_name(index)).expect("no NUL");
    let mut states = [pcsc::ReaderState::new(name, pcsc::State::UNAWARE)];
    let deadline = Instant::now() + timeout;
    loop {
        let ev = states[0].event_state();
        let has = ev.contains(pcsc::State::PRESENT);
        let empty = ev.contains(pcsc::State::EMPTY);
        if (present && has) || (!present && empty) {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "reader '{}' did not become {} within {timeout:?} (state {ev:?})",
                reader_name(index),
                if present { "present" } else { "empty" }
            ));
        }
        states[0].sync_current_state();
        match ctx.get_status_change(left.min(Duration::from_millis(500)), &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => return Err(format!("SCardGetStatusChange: {e}")),
        }
    }
}

/// A pcscd started in the foreground (`pcscd -f -a`), stopped (by PID) on drop. Holds the
/// machine-wide lock for its whole life.
pub struct Pcscd {
    child: Option<Child>,
    /// Where its output goes.
    pub log: PathBuf,
    _lock: File,
    _guard: MutexGuard<'static, ()>,
}

fn lock_file() -> Result<File, String> {
    let path = std::env::temp_dir().join("keytap-pcscd.lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("flock {}: {}", path.display(), std::io::Error::from(e)))?;
    Ok(f)
}

impl Pcscd {
    /// Starts pcscd (root is needed for /run/pcscd) with its output in `log`, and waits
    /// until it lists vpcd's readers. Fails if another pcscd is running.
    pub fn start(log: &Path) -> Result<Pcscd, String> {
        let guard = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
        let lock = lock_file()?;
        if std::os::unix::net::UnixStream::connect(PCSCD_SOCKET).is_ok() {
            return Err(format!(
                "a pcscd not started by this harness is running ({PCSCD_SOCKET} answers): stop it first"
            ));
        }
        let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new("pcscd")
            .args(["-f", "-a"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| {
                format!("cannot start pcscd (apt-get install pcscd vsmartcard-vpcd): {e}")
            })?;
        let mut me = Pcscd {
            child: Some(child),
            log: log.to_path_buf(),
            _lock: lock,
            _guard: guard,
        };
        let start = Instant::now();
        let want = reader_name(0);
        loop {
            if let Some(status) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                me.child = None;
                return Err(format!("pcscd exited ({status}): {text}"));
            }
            let listed = pcsc_context()
                .and_then(|ctx| ctx.list_readers_owned().ok())
                .is_some_and(|rs| rs.iter().any(|r| r.to_string_lossy() == want));
            if listed {
                return Ok(me);
            }
            if start.elapsed() > Duration::from_secs(20) {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(format!("pcscd did not list '{want}' within 20 s: {text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// pcscd's PID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Signal the child we started, by its PID.
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let start = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if start.elapsed() < Duration::from_secs(5) => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }
}

/// A software card inserted in a vpcd reader: the `keytap-piv-card run` process. Dropping
/// it (or [`Card::remove`]) removes the card.
pub struct Card {
    child: Option<Child>,
    /// The reader index (0 or 1).
    pub reader: u16,
    /// The state file.
    pub state: PathBuf,
    /// The counters file.
    pub counters: PathBuf,
    /// The card's stderr.
    pub log: PathBuf,
}

/// How to start a card.
#[derive(Clone, Debug, Default)]
pub struct CardOptions {
    /// The serial of a new card (when the state file does not exist yet).
    pub serial: Option<u32>,
    /// Remove the card right after this many ECDH operations.
    pub remove_after_ecdh: Option<u64>,
    /// How long a touch takes, in milliseconds.
    pub touch_delay_ms: Option<u64>,
}

impl Card {
    /// Starts the card emulator on reader `reader` with state in `dir/card-<reader>.json`
    /// (kept between insertions) and waits until pcscd sees the card.
    pub fn insert(dir: &Path, reader: u16, opts: &CardOptions) -> Result<Card, String> {
        Self::insert_state(dir, &dir.join(format!("card-{reader}.json")), reader, opts)
    }

    /// Like [`Card::insert`] with an explicit state file.
    pub fn insert_state(
        dir: &Path,
        state: &Path,
        reader: u16,
        opts: &CardOptions,
    ) -> Result<Card, String> {
        let counters = dir.join(format!("card-{reader}.counters"));
        let log = dir.join(format!("card-{reader}.log"));
        let mut cmd = Command::new(card_bin());
        cmd.arg("run")
            .arg("--reader")
            .arg(reader.to_string())
            .arg("--state")
            .arg(state)
            .arg("--counters")
            .arg(&counters)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).map_err(|e| e.to_string())?);
        if let Some(s) = opts.serial {
            cmd.arg("--serial").arg(s.to_string());
        }
        if let Some(n) = opts.remove_after_ecdh {
            cmd.arg("--remove-after-ecdh").arg(n.to_string());
        }
        if let Some(ms) = opts.touch_delay_ms {
            cmd.arg("--touch-delay-ms").arg(ms.to_string());
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("start keytap-piv-card: {e}"))?;
        let card = Card {
            child: Some(child),
            reader,
            state: state.to_path_buf(),
            counters,
            log,
        };
        wait_for_card(reader, true, Duration::from_secs(20)).map_err(|e| {
            format!(
                "{e}; card log: {}",
                std::fs::read_to_string(&card.log).unwrap_or_default()
            )
        })?;
        Ok(card)
    }

    /// The counters the card wrote so far.
    pub fn counters(&self) -> Counters {
        Counters::parse(&std::fs::read_to_string(&self.counters).unwrap_or_default())
    }

    /// Whether the emulator process is still running (it exits when it removes itself).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Removes the card (stops the emulator) and waits until pcscd sees the reader empty.
    pub fn remove(mut self) -> Result<(), String> {
        self.stop();
        wait_for_card(self.reader, false, Duration::from_secs(20))
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        self.stop();
    }
}
