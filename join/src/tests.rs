use super::*;
use std::sync::atomic::AtomicUsize;

fn started() {
    assert!(start(1 << 20));
}

/// [`join`], waiting while other tests have the helper.
fn join_when_free<A, B: Send>(
    here: impl FnOnce() -> A,
    there: impl FnOnce() -> B + Send,
) -> (A, B) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut work = (here, there);
    loop {
        match join(work.0, work.1) {
            Ok(results) => return results,
            Err(back) => work = back,
        }
        assert!(Instant::now() < deadline, "the helper is never free");
        thread::yield_now();
    }
}

#[test]
fn both_sides_run_at_once_on_two_threads() {
    started();
    let here = thread::current().id();
    // Each side waits for the other to have started: run one after the other, this hangs.
    let (a_in, b_in) = (AtomicBool::new(false), AtomicBool::new(false));
    let meet = |mine: &AtomicBool, theirs: &AtomicBool| {
        mine.store(true, Ordering::SeqCst);
        while !theirs.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        thread::current().id()
    };
    let (a, b) = join_when_free(|| meet(&a_in, &b_in), || meet(&b_in, &a_in));
    assert_eq!(a, here);
    assert_ne!(b, here);
}

#[test]
fn the_helper_serves_borrowed_work_again_and_again() {
    started();
    let mut data: Vec<u64> = (0..1000).collect();
    for round in 0..200u64 {
        let (front, back) = data.split_at_mut(500);
        let result = join(
            || front.iter_mut().for_each(|x| *x += 1),
            || {
                back.iter_mut().for_each(|x| *x += 1);
                back.len() as u64 + round
            },
        );
        match result {
            Ok(((), n)) => assert_eq!(n, 500 + round),
            // Another test has the helper at the moment: do it here.
            Err((a, b)) => {
                a();
                b();
            }
        }
    }
    assert!(data.iter().enumerate().all(|(i, &x)| x == i as u64 + 200));
}

#[test]
fn a_sleeping_helper_wakes_for_a_job() {
    started();
    for _ in 0..3 {
        // Other tests keep the helper awake while they use it: wait until it sleeps.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !SHARED.sleeping.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the helper never goes to sleep");
            thread::sleep(SPIN);
        }
        let (_, helper) = join_when_free(|| (), || thread::current().id());
        assert_ne!(helper, thread::current().id());
    }
}

#[test]
fn a_nested_join_gets_its_work_back() {
    started();
    let (nested_here, nested_there) =
        join_when_free(|| join(|| 1, || 2).is_err(), || join(|| 3, || 4).is_err());
    assert!(nested_here, "the helper is taken while it works");
    assert!(nested_there, "the helper cannot wait for itself");
}

#[test]
fn a_panic_on_either_side_reaches_the_caller_after_both_finish() {
    started();
    for helper_panics in [false, true] {
        let other_finished = AtomicBool::new(false);
        let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
            join_when_free(
                || {
                    if !helper_panics {
                        panic!("here");
                    }
                    other_finished.store(true, Ordering::SeqCst);
                },
                || {
                    if helper_panics {
                        panic!("there");
                    }
                    thread::sleep(Duration::from_millis(20));
                    other_finished.store(true, Ordering::SeqCst);
                },
            )
        }));
        let message = caught.expect_err("the panic comes through");
        let text = message.downcast_ref::<&str>().copied().unwrap_or_default();
        assert_eq!(text, if helper_panics { "there" } else { "here" });
        assert!(other_finished.load(Ordering::SeqCst));
    }
    // The helper survives a panic in its work.
    let (_, helper) = join_when_free(|| (), || thread::current().id());
    assert_ne!(helper, thread::current().id());
}

#[test]
fn concurrent_callers_never_share_the_helper() {
    started();
    let inside = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..200 {
                    let _ = join(
                        || (),
                        || {
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                            std::hint::spin_loop();
                            inside.fetch_sub(1, Ordering::SeqCst);
                        },
                    );
                }
            });
        }
    });
}
