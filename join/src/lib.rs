//! Runs two pieces of work at once, the second on a standing helper thread.
//!
//! keytap cuts a large file's parse, walk and output in two (keytap-core's `split`). A
//! thread started for each half cost 100-250 us of the ~8 ms a 10,000-value decrypt takes
//! on a 2-core machine, three times: the start itself (a fresh stack and allocator heap),
//! waking the idle CPU, and the join. [`start`] starts one helper thread, early, that spins
//! for a moment between jobs before it sleeps, and [`join`] hands it a half in about a
//! microsecond.
//!
//! [`join`] takes the helper only when it is free: a nested or concurrent call gets its
//! work back and runs it some other way. The helper runs the work borrowed from the
//! caller's stack, which is why this is unsafe code in a crate of its own: [`join`] does
//! not return, or unwind, before the helper has finished with it.

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long the helper and a waiting caller spin before they sleep: longer than the gaps
/// between the halves of one command (reading the data key between the parse and the
/// walk takes ~0.3 ms), short against a whole command.
const SPIN: Duration = Duration::from_millis(2);

/// Spins between two looks at the clock.
const SPINS_PER_CLOCK: u32 = 16;

/// One spin: a `sched_yield`, which returns at once on an otherwise idle CPU (~0.5 us) and
/// lets anything else runnable there go first. A busy loop of `pause` instead took the
/// CPU from the kernel's and other processes' work: in runs alternating with sops, whose
/// exit leaves work behind, a 10,000-value decrypt took 10.7 ms against 8.7 ms yielding.
fn spin() {
    thread::yield_now();
}

/// What the helper and its callers share.
struct Shared {
    /// Set by the caller that has the helper, until its work is done.
    taken: AtomicBool,
    /// The job posted for the helper, null when there is none.
    posted: AtomicPtr<Header>,
    /// Whether the helper is asleep (or about to be) and needs an unpark to see a job.
    sleeping: AtomicBool,
}

static SHARED: Shared = Shared {
    taken: AtomicBool::new(false),
    posted: AtomicPtr::new(null_mut()),
    sleeping: AtomicBool::new(false),
};

/// The helper thread, once started (None if it could not be).
static HELPER: OnceLock<Option<Thread>> = OnceLock::new();

/// The process that started the helper: a child forked since has no helper thread.
static STARTED_IN: OnceLock<u32> = OnceLock::new();

/// Starts the helper thread with a stack of `stack_size` bytes, unless one was started
/// already. Returns whether a helper runs.
pub fn start(stack_size: usize) -> bool {
    HELPER
        .get_or_init(|| {
            let _ = STARTED_IN.set(std::process::id());
            thread::Builder::new()
                .name("keytap-helper".into())
                .stack_size(stack_size)
                .spawn(serve)
                // Detached: the helper sleeps when idle and ends with the process.
                .map(|handle| handle.thread().clone())
                .ok()
        })
        .is_some()
}

/// Runs `here` on this thread and `there` on the helper, at the same time, and returns
/// both results; a panic in either continues here once both have finished. Gives the
/// work back, untouched, when no helper runs or another caller has it (so nested calls,
/// made from either side, do).
#[allow(clippy::type_complexity)]
pub fn join<A, B, H, T>(here: H, there: T) -> Result<(A, B), (H, T)>
where
    H: FnOnce() -> A,
    T: FnOnce() -> B + Send,
    B: Send,
{
    let Some(Some(helper)) = HELPER.get() else {
        return Err((here, there));
    };
    if STARTED_IN.get() != Some(&std::process::id()) {
        return Err((here, there)); // a forked child: the helper stayed in the parent
    }
    let waiter = thread::current();
    if SHARED
        .taken
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Err((here, there));
    }
    let job = Job {
        header: Header {
            run: run::<T, B>,
            done: AtomicBool::new(false),
            waiter,
        },
        work: UnsafeCell::new(Some(there)),
        result: UnsafeCell::new(None),
    };
    // From here until `done` is seen, the helper may use `job`, which lives in this frame:
    // nothing may unwind out of it meanwhile (`here` cannot: its panic is caught).
    let abort_on_unwind = AbortOnUnwind;
    // SeqCst with `sleeping`: either the helper sees the job before it sleeps, or this
    // sees that it sleeps and wakes it. The pointer is to the whole job (the header comes
    // first), which `run` reaches through it.
    SHARED.posted.store(
        std::ptr::addr_of!(job).cast::<Header>().cast_mut(),
        Ordering::SeqCst,
    );
    if SHARED.sleeping.load(Ordering::SeqCst) {
        helper.unpark();
    }
    let a = catch_unwind(AssertUnwindSafe(here));
    wait_until(&job.header.done);
    std::mem::forget(abort_on_unwind);
    SHARED.taken.store(false, Ordering::Release);
    let b = job
        .result
        .into_inner()
        .expect("the helper stores a result before it sets `done`");
    let a = a.unwrap_or_else(|panic| resume_unwind(panic));
    let b = b.unwrap_or_else(|panic| resume_unwind(panic));
    Ok((a, b))
}

/// Aborts the process if dropped, that is, if a panic unwinds past it where unwinding would
/// free memory another thread still uses.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        std::process::abort();
    }
}

/// The part of a job the helper sees without knowing its types.
struct Header {
    /// Runs the job this header begins (a `Job<T, B>` made by [`join`]).
    run: unsafe fn(*const Header),
    /// Set by the helper, last, when it is done with the job.
    done: AtomicBool,
    /// The caller, to wake if it sleeps.
    waiter: Thread,
}

/// A job: `header` first, so a pointer to it is a pointer to the job.
#[repr(C)]
struct Job<T, B> {
    header: Header,
    work: UnsafeCell<Option<T>>,
    result: UnsafeCell<Option<thread::Result<B>>>,
}

/// Runs the `Job<T, B>` that `header` begins.
///
/// # Safety
/// `header` points into a live `Job<T, B>` whose owner does not touch `work` or `result`
/// until `done` is set.
unsafe fn run<T: FnOnce() -> B, B>(header: *const Header) {
    // SAFETY: the caller's contract; `Job` is repr(C) with the header first.
    let job = unsafe { &*(header as *const Job<T, B>) };
    // SAFETY: until `done`, only this thread touches `work` and `result`.
    let work = unsafe { (*job.work.get()).take() }.expect("a job runs once");
    let result = catch_unwind(AssertUnwindSafe(work));
    unsafe { *job.result.get() = Some(result) };
    let waiter = job.header.waiter.clone();
    // After this store the job may be gone: nothing of it is touched again.
    job.header.done.store(true, Ordering::Release);
    waiter.unpark();
}

/// The helper's life: run each job posted, spinning for [`SPIN`] after each before
/// sleeping.
fn serve() {
    // A helper that died would leave callers waiting for ever: a panic outside the jobs
    // (which catch their own) is a bug, and ends the process.
    let _abort_on_unwind = AbortOnUnwind;
    loop {
        let job = next_job();
        // SAFETY: a posted job stays alive until its `done` is set (`join` waits for it),
        // and its owner leaves `work` and `result` alone until then.
        unsafe { ((*job).run)(job) };
    }
}

/// Waits for a job and takes it.
fn next_job() -> *const Header {
    let mut since = Instant::now();
    let mut spins = 0u32;
    loop {
        if !SHARED.posted.load(Ordering::Relaxed).is_null() {
            let job = SHARED.posted.swap(null_mut(), Ordering::Acquire);
            if !job.is_null() {
                return job;
            }
        }
        spins = spins.wrapping_add(1);
        if spins % SPINS_PER_CLOCK != 0 || since.elapsed() < SPIN {
            spin();
            continue;
        }
        SHARED.sleeping.store(true, Ordering::SeqCst);
        if SHARED.posted.load(Ordering::SeqCst).is_null() {
            // Returns at the next unpark, or spuriously: the loop looks again either way.
            thread::park();
        }
        SHARED.sleeping.store(false, Ordering::SeqCst);
        since = Instant::now();
    }
}

/// Spins, then sleeps, until `done` is set.
fn wait_until(done: &AtomicBool) {
    let since = Instant::now();
    let mut spins = 0u32;
    while !done.load(Ordering::Acquire) {
        spins = spins.wrapping_add(1);
        if spins % SPINS_PER_CLOCK != 0 || since.elapsed() < SPIN {
            spin();
        } else {
            // The helper unparks this thread after setting `done`; a token left over from
            // an earlier job only makes this look again.
            thread::park();
        }
    }
}

#[cfg(test)]
mod tests;
