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
