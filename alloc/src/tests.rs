use std::sync::Mutex;

use super::*;

#[global_allocator]
static GLOBAL: SplitAlloc = SplitAlloc;

/// The tests share one small arena (`ARENA_SIZES` under test); one fills it.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn addr<T>(v: &[T]) -> *mut u8 {
    v.as_ptr().cast_mut().cast()
}

/// Whether a block allocated now lies in the arena.
fn new_block_in_arena() -> bool {
    let block: Vec<u8> = Vec::with_capacity(100);
    in_arena(addr(&block))
}

#[test]
fn only_work_inside_with_mimalloc_allocates_in_the_arena() {
    let _serial = serial();
    let system: Vec<Vec<u8>> = (0..64).map(|i| vec![1; 1 << (i % 16)]).collect();
    assert!(system.iter().all(|v| !in_arena(addr(v))));
    let (system, bulk) = std::thread::spawn(move || {
        let mut system = system;
        let bulk = with_mimalloc(|| {
            let mut bulk: Vec<Vec<u8>> = (0..64).map(|i| vec![2; 1 << (i % 16)]).collect();
            assert!(bulk.iter().all(|v| in_arena(addr(v))));
            // Grown here, a system block stays a system block and an arena block stays
            // in the arena.
            system
                .iter_mut()
                .for_each(|v| v.extend_from_slice(&[3; 4096]));
            assert!(system.iter().all(|v| !in_arena(addr(v))));
            bulk.iter_mut()
                .for_each(|v| v.extend_from_slice(&[4; 4096]));
            assert!(bulk.iter().all(|v| in_arena(addr(v))));
            bulk
        });
        // After it, the system again.
        assert!(!new_block_in_arena());
        (system, bulk)
    })
    .join()
    .unwrap();
    // Grown on a thread outside with_mimalloc, an arena block moves to the system; the
    // contents come along.
    let mut bulk = bulk;
    bulk.iter_mut()
        .for_each(|v| v.extend_from_slice(&[5; 100_000]));
    assert!(bulk.iter().all(|v| !in_arena(addr(v))));
    assert!(bulk
        .iter()
        .all(|v| v[0] == 2 && v[v.len() - 100_001] == 4 && v.ends_with(&[5; 100_000])));
    assert!(system.iter().all(|v| v[0] == 1 && v.ends_with(&[3; 4096])));
    let zeroed = with_mimalloc(|| vec![0u64; 1 << 16]);
    assert!(in_arena(addr(&zeroed)) && zeroed.iter().all(|&x| x == 0));
}

#[test]
fn a_full_arena_falls_back_to_the_system() {
    let _serial = serial();
    let blocks = std::thread::spawn(|| {
        with_mimalloc(|| {
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            while blocks.iter().all(|b| in_arena(addr(b))) {
                assert!(blocks.len() < 1000, "the test arena never filled");
                let fill = blocks.len() as u8;
                blocks.push(vec![fill; 1 << 20]);
            }
            assert!(blocks.iter().any(|b| in_arena(addr(b))));
            // The rest of this with_mimalloc goes to the system without asking mimalloc.
            assert!(!new_block_in_arena());
            // Growing an arena block past what the arena holds moves it to the system.
            let first = &mut blocks[0];
            assert!(in_arena(addr(first)));
            first.resize(100 << 20, 0xaa);
            assert!(!in_arena(addr(first)));
            // Alignments beyond mimalloc's arena blocks come from the system too.
            let layout = Layout::from_size_align(4096, 64 << 20).unwrap();
            // SAFETY: a non-zero size; freed with the same layout.
            unsafe {
                let p = GLOBAL.alloc(layout);
                assert!(!p.is_null() && (p as usize) % (64 << 20) == 0);
                GLOBAL.dealloc(p, layout);
            }
            blocks
        })
    })
    .join()
    .unwrap();
    // Checked and freed on another thread, arena blocks and system blocks alike.
    assert!(blocks[0][..1 << 20].iter().all(|&b| b == 0));
    assert!(blocks[0][1 << 20..].iter().all(|&b| b == 0xaa));
    for (i, b) in blocks.iter().enumerate().skip(1) {
        assert!(b.iter().all(|&x| x == i as u8));
    }
    drop(blocks);
}

#[test]
fn a_panic_inside_with_mimalloc_leaves_the_system_allocator() {
    let _serial = serial();
    std::thread::spawn(|| {
        let caught = std::panic::catch_unwind(|| with_mimalloc(|| panic!("inside")));
        assert!(caught.is_err());
        assert!(ACTIVE_HEAP.get().is_null());
        assert!(!new_block_in_arena());
        // Nested calls keep the heap until the outer one ends.
        with_mimalloc(|| {
            with_mimalloc(|| ());
            assert!(new_block_in_arena());
        });
    })
    .join()
    .unwrap();
}

/// Blocks from the system allocator; a block freed while any of its bytes is not zero is
/// counted.
struct CheckWiped;

static FREED_UNWIPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe impl GlobalAlloc for CheckWiped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if std::slice::from_raw_parts(ptr, layout.size())
            .iter()
            .any(|&b| b != 0)
        {
            FREED_UNWIPED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        System.dealloc(ptr, layout)
    }
}

#[test]
fn a_block_that_moves_is_wiped_before_it_is_freed() {
    let before = FREED_UNWIPED.load(std::sync::atomic::Ordering::SeqCst);
    unsafe {
        let layout = Layout::from_size_align(100, 8).unwrap();
        let p = CheckWiped.alloc(layout);
        std::ptr::write_bytes(p, 0xa5, 100);
        // Grown past what it has: moved.
        let q = realloc_wiping(&CheckWiped, p, layout, 300, 100);
        assert!(!q.is_null());
        assert!(std::slice::from_raw_parts(q, 100)
            .iter()
            .all(|&b| b == 0xa5));
        // Shrunk below half of it: moved too.
        let layout = Layout::from_size_align(300, 8).unwrap();
        std::ptr::write_bytes(q.add(100), 0x5a, 200);
        let r = realloc_wiping(&CheckWiped, q, layout, 20, 300);
        assert!(std::slice::from_raw_parts(r, 20).iter().all(|&b| b == 0xa5));
        CheckWiped.dealloc(r, Layout::from_size_align(20, 8).unwrap());
    }
    // The last free above was of a block still holding its bytes: the only one counted.
    assert_eq!(
        FREED_UNWIPED.load(std::sync::atomic::Ordering::SeqCst) - before,
        1,
        "the moved blocks were freed with their bytes in them"
    );
}

#[test]
fn a_block_that_fits_stays_and_a_shrinking_one_wipes_its_tail() {
    unsafe {
        let layout = Layout::from_size_align(64, 8).unwrap();
        let p = System.alloc(layout);
        std::ptr::write_bytes(p, 0xa5, 64);
        let usable = system_usable_size(p);
        assert!(usable >= 64);
        let q = realloc_wiping(&System, p, layout, 40, usable);
        assert_eq!(q, p, "40 of {usable} bytes: kept in place");
        let bytes = std::slice::from_raw_parts(p, 64);
        assert!(bytes[..40].iter().all(|&b| b == 0xa5));
        assert!(
            bytes[40..].iter().all(|&b| b == 0),
            "the given-up tail is wiped"
        );
        let q = realloc_wiping(
            &System,
            p,
            Layout::from_size_align(40, 8).unwrap(),
            usable,
            usable,
        );
        assert_eq!(q, p, "grown within the block: in place");
        System.dealloc(q, Layout::from_size_align(usable, 8).unwrap());
    }
}

#[test]
fn growing_buffers_keep_their_bytes_in_both_allocators() {
    let _serial = serial();
    let grow = || {
        let mut v: Vec<u8> = Vec::new();
        for i in 0..100_000u32 {
            v.push(i as u8);
        }
        v.shrink_to(50_000);
        v.truncate(10);
        v.shrink_to_fit();
        v
    };
    let expected: Vec<u8> = (0..10).collect();
    assert_eq!(grow(), expected);
    let bulk = std::thread::spawn(move || with_mimalloc(grow))
        .join()
        .unwrap();
    assert_eq!(bulk, expected);
}

#[test]
fn inside_wiping_frees_a_block_about_to_be_freed_is_wiped() {
    let layout = Layout::from_size_align(4096, 8).unwrap();
    let wiped_by_the_free_path = || unsafe {
        let p = System.alloc(layout);
        std::ptr::write_bytes(p, 0xa5, 4096);
        wipe_if_wiping(p, layout); // what `dealloc` does first
        let wiped = std::slice::from_raw_parts(p, 4096).iter().all(|&b| b == 0);
        System.dealloc(p, layout);
        wiped
    };
    assert!(!wiped_by_the_free_path(), "not outside the scope");
    assert!(wiping_frees(|| {
        let nested = wiping_frees(wiped_by_the_free_path);
        nested && wiped_by_the_free_path()
    }));
    assert!(!wiped_by_the_free_path(), "the setting ends with the scope");
    let _ = std::panic::catch_unwind(|| wiping_frees(|| panic!("unwinds")));
    assert!(!wiped_by_the_free_path(), "and with a panic");
}
