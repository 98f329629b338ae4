//! Deep documents need a deep stack: the stores and the tree walk recurse once per nesting
//! level, and sops reads documents 10,000 levels deep (plaintext JSON and YAML with
//! indentless sequences up to twice that). Callers that may meet such input run keytap's
//! work through [`with_deep_stack`]; the CLI runs every command this way.

/// The stack given to deep work. Only the pages touched are ever committed, but the whole
/// of it is address space, which an address-space limit (`ulimit -v`) counts.
pub const DEEP_STACK_BYTES: usize = 256 << 20;

/// The least stack taken for deep work under an address-space limit: what a main thread
/// usually has.
pub const MIN_DEEP_STACK_BYTES: usize = 8 << 20;

/// The deep stack for this process: [`DEEP_STACK_BYTES`], or a quarter of the soft
/// address-space limit when that is less (down to [`MIN_DEEP_STACK_BYTES`]). A 256 MiB
/// stack under `ulimit -v 300000` left the heap too little room to decrypt a large file
/// at all, where a smaller stack costs only nesting that file does not have.
pub fn deep_stack_bytes() -> usize {
    match address_space_limit() {
        Some(limit) => usize::try_from(limit / 4)
            .unwrap_or(usize::MAX)
            .clamp(MIN_DEEP_STACK_BYTES, DEEP_STACK_BYTES),
        None => DEEP_STACK_BYTES,
    }
}

fn address_space_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::As).current
}

/// How the threads started here run their work, once the program sets it.
static THREAD_WRAPPER: std::sync::OnceLock<fn(&mut dyn FnMut())> = std::sync::OnceLock::new();

/// Sets how the work [`with_deep_stack`] and [`join_deep`] run on other threads runs:
/// `wrap` calls the function it is given, once, inside whatever set-up the program wants
/// for its worker threads (keytap's CLI has them allocate from its bulk allocator, see
/// `keytap-alloc`: glibc would give each a heap of its own, grown an mprotect call at a
/// time). The first setting holds.
pub fn set_thread_wrapper(wrap: fn(&mut dyn FnMut())) {
    let _ = THREAD_WRAPPER.set(wrap);
}

/// Runs `f` through the thread wrapper, if one is set.
fn wrapped<T>(f: impl FnOnce() -> T) -> T {
    let Some(wrap) = THREAD_WRAPPER.get() else {
        return f();
    };
    let (mut f, mut out) = (Some(f), None);
    wrap(&mut || out = f.take().map(|f| f()));
    // A wrapper that did not run the work is a bug of the program that set it.
    out.expect("the thread wrapper runs the work it is given")
}

/// Runs `f` on a thread with a [`deep_stack_bytes`] stack and returns its result (a panic
/// in `f` continues in the caller). Where such a thread cannot be had, `f` runs here.
pub fn with_deep_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    beside_deep(|| (), || wrapped(f)).1
}

/// Runs `here` on this thread and `there` on a second thread with a [`deep_stack_bytes`]
/// stack, at the same time, and returns both results (a panic in either continues in the
/// caller). Under an address-space limit, or where no thread can be had, `there` runs
/// here after `here`: a second deep stack would take a quarter of the limit from the heap.
/// `there` goes to the standing helper thread of [`start_helper`], started here if it
/// was not, when that is free; to a thread started for it otherwise (a nested call).
pub fn join_deep<A, B: Send>(here: impl FnOnce() -> A, there: impl FnOnce() -> B + Send) -> (A, B) {
    if address_space_limit().is_some() {
        return (here(), there());
    }
    start_helper();
    match keytap_join::join(here, move || wrapped(there)) {
        Ok(both) => both,
        Err((here, there)) => beside_deep(here, there),
    }
}

/// Starts, once, the standing helper thread (with a [`deep_stack_bytes`] stack) that
/// [`join_deep`] hands its second part to: a thread started for each part cost 100-250 us
/// to start, to wake its CPU and to join, three times in a large file's decrypt (parse,
/// walk, output). The helper spins for a moment after each
/// part, then sleeps. Only where two CPUs and no address-space limit let `join_deep` run
/// parts at once.
pub fn start_helper() {
    if address_space_limit().is_none() && crate::split::two_cpus() {
        keytap_join::start(deep_stack_bytes());
    }
}

/// Whether a file of `len` bytes is large enough for its work to be cut in two (see
/// `split`), so that a program should [`start_helper`] early, beside its first work.
pub fn worth_a_helper(len: u64) -> bool {
    len >= crate::split::PARALLEL_TEXT_BYTES as u64
}

/// [`with_deep_stack`] for a program's main work, starting the helper of [`start_helper`]
/// on this thread meanwhile, so that neither start waits for the other.
pub fn run_deep_with_helper<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    beside_deep(start_helper, || wrapped(f)).1
}

/// [`join_deep`] whatever the address-space limit, on a thread started for `there` (which
/// callers wrap).
fn beside_deep<A, B: Send>(here: impl FnOnce() -> A, there: impl FnOnce() -> B + Send) -> (A, B) {
    beside_with_stack(deep_stack_bytes(), here, there)
}

/// [`beside_deep`] with a stack of `stack_bytes`; where no such thread can be had, both
/// run here.
fn beside_with_stack<A, B: Send>(
    stack_bytes: usize,
    here: impl FnOnce() -> A,
    there: impl FnOnce() -> B + Send,
) -> (A, B) {
    // Taken by the thread once it runs: a failed start drops what it was given, and the
    // work must then still be here.
    let there = std::sync::Mutex::new(Some(there));
    let take = || {
        there
            .lock()
            .ok()
            .and_then(|mut g| g.take())
            .expect("run once")
    };
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("keytap".into())
            .stack_size(stack_bytes)
            .spawn_scoped(scope, || take()())
        {
            Ok(handle) => {
                let a = here();
                let b = handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (a, b)
            }
            Err(_) => (here(), take()()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static WRAPPED: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn work_runs_here_when_no_thread_can_be_started() {
        let here = std::thread::current().id();
        // No such stack can be mapped: the start fails.
        let (a, b) = beside_with_stack(usize::MAX / 2, || 1, || (2, std::thread::current().id()));
        assert_eq!((a, b), (1, (2, here)));
    }

    #[test]
    fn parts_go_to_one_standing_helper() {
        let here = std::thread::current().id();
        let there = || join_deep(|| (), || std::thread::current().id()).1;
        if address_space_limit().is_some() {
            assert_eq!(there(), here, "one after the other, here");
            return;
        }
        if !crate::split::two_cpus() {
            assert_ne!(there(), here, "no helper: a thread started for the part");
            return;
        }
        // Tests running meanwhile may have the helper (their parts then get a thread of
        // their own), but not for ever: two parts of these end on the same thread.
        let mut seen = std::collections::HashSet::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let thread = there();
            assert_ne!(thread, here);
            if !seen.insert(thread) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} parts, each on a thread of its own",
                seen.len()
            );
        }
    }

    #[test]
    fn both_sides_run_and_started_threads_go_through_the_wrapper() {
        set_thread_wrapper(|work| {
            WRAPPED.fetch_add(1, Ordering::SeqCst);
            work()
        });
        let before = WRAPPED.load(Ordering::SeqCst);
        let here = std::thread::current().id();
        let (a, b) = join_deep(
            || (1, std::thread::current().id()),
            || (2, std::thread::current().id()),
        );
        assert_eq!((a.0, b.0), (1, 2));
        assert_eq!(a.1, here);
        let started = address_space_limit().is_none();
        assert_eq!(
            b.1 != here,
            started,
            "the second part runs on a thread of its own"
        );
        assert_eq!(with_deep_stack(|| 3), 3);
        let wrapped = WRAPPED.load(Ordering::SeqCst) - before;
        assert!(wrapped >= if started { 2 } else { 1 }, "{wrapped}");
    }
}
