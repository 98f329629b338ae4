//! keytap's global allocator: the system's for the few allocations of a short command,
//! mimalloc for threads that say they do bulk work.
//!
//! The command run most, decrypting a small file at a shell prompt (direnv, `exec-env`),
//! makes a few hundred allocations: mimalloc's first page per size class costs it ~85
//! page faults (330 instead of 245) and ~0.4 ms of a 3.5 ms run, where the system
//! allocator packs them into a few pages. A large file makes hundreds of thousands, which
//! mimalloc serves 20-40% faster. keytap runs its bulk work on its own thread (see
//! `keytap_core::stack`), which calls [`use_mimalloc_on_this_thread`]; every other thread
//! allocates from the system. A block goes back to whichever allocator it came from,
//! whatever thread frees it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use mimalloc::MiMalloc;

thread_local! {
    // Const-initialized without a destructor: readable from inside the allocator at any
    // point of a thread's life, without allocating.
    static BULK: Cell<bool> = const { Cell::new(false) };
}

/// From now on, allocations made on this thread come from mimalloc.
pub fn use_mimalloc_on_this_thread() {
    BULK.with(|bulk| bulk.set(true));
}

/// The system allocator, or mimalloc on threads that asked for it.
pub struct SplitAlloc;

#[inline]
fn bulk() -> bool {
    BULK.with(Cell::get)
}

/// The addresses every block the system allocator handed out lies between: a block
/// outside them is mimalloc's without asking it, which is most of them on a bulk thread
/// (the two allocators map their memory in different places).
static SYSTEM_LOW: AtomicUsize = AtomicUsize::new(usize::MAX);
static SYSTEM_HIGH: AtomicUsize = AtomicUsize::new(0);

/// Widens the system allocator's range to cover a block it returned (if any). Relaxed is
/// enough: a thread freeing the block got it through something that orders this first.
#[inline]
fn note_system_block(ptr: *mut u8, size: usize) -> *mut u8 {
    if !ptr.is_null() {
        let (start, end) = (ptr as usize, (ptr as usize).saturating_add(size));
        if start < SYSTEM_LOW.load(Relaxed) {
            SYSTEM_LOW.fetch_min(start, Relaxed);
        }
        if end > SYSTEM_HIGH.load(Relaxed) {
            SYSTEM_HIGH.fetch_max(end, Relaxed);
        }
    }
    ptr
}

/// Whether mimalloc handed out `ptr`.
#[inline]
fn from_mimalloc(ptr: *mut u8) -> bool {
    let address = ptr as usize;
    if address < SYSTEM_LOW.load(Relaxed) || address >= SYSTEM_HIGH.load(Relaxed) {
        return true;
    }
    // SAFETY: only reads mimalloc's own maps of the memory it manages; safe for any
    // pointer, and before mimalloc has allocated anything.
    unsafe { libmimalloc_sys::mi_is_in_heap_region(ptr.cast()) }
}

// SAFETY: every method forwards to one of two allocators that uphold GlobalAlloc's
// contract; a block is freed and resized by the allocator that returned it.
unsafe impl GlobalAlloc for SplitAlloc {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if bulk() {
            MiMalloc.alloc(layout)
        } else {
            note_system_block(System.alloc(layout), layout.size())
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if bulk() {
            MiMalloc.alloc_zeroed(layout)
        } else {
            note_system_block(System.alloc_zeroed(layout), layout.size())
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if from_mimalloc(ptr) {
            MiMalloc.dealloc(ptr, layout)
        } else {
            System.dealloc(ptr, layout)
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if from_mimalloc(ptr) {
            MiMalloc.realloc(ptr, layout, new_size)
        } else {
            note_system_block(System.realloc(ptr, layout, new_size), new_size)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static GLOBAL: SplitAlloc = SplitAlloc;

    #[test]
    fn the_system_range_covers_every_system_block() {
        let blocks: Vec<Vec<u8>> = (0..32).map(|i| vec![0; 1 << i.min(22)]).collect();
        for b in &blocks {
            let (start, end) = (b.as_ptr() as usize, b.as_ptr() as usize + b.len());
            assert!(SYSTEM_LOW.load(Relaxed) <= start && end <= SYSTEM_HIGH.load(Relaxed));
            assert!(!from_mimalloc(b.as_ptr().cast_mut()));
        }
    }

    #[test]
    fn blocks_go_back_to_their_allocator_from_any_thread() {
        let system: Vec<Vec<u8>> = (0..64).map(|i| vec![1; 1 << (i % 16)]).collect();
        assert!(system.iter().all(|v| !from_mimalloc(v.as_ptr().cast_mut())));
        let (system, bulk) = std::thread::spawn(move || {
            use_mimalloc_on_this_thread();
            let mut bulk: Vec<Vec<u8>> = (0..64).map(|i| vec![2; 1 << (i % 16)]).collect();
            assert!(bulk.iter().all(|v| from_mimalloc(v.as_ptr().cast_mut())));
            // Grown on the bulk thread, a system block stays a system block.
            let mut system = system;
            system
                .iter_mut()
                .for_each(|v| v.extend_from_slice(&[3; 4096]));
            assert!(system.iter().all(|v| !from_mimalloc(v.as_ptr().cast_mut())));
            bulk.iter_mut()
                .for_each(|v| v.extend_from_slice(&[4; 4096]));
            (system, bulk)
        })
        .join()
        .unwrap();
        // Freed and grown here, on a system thread.
        assert!(bulk.iter().all(|v| v[0] == 2 && v.ends_with(&[4; 4096])));
        let mut bulk = bulk;
        bulk.iter_mut()
            .for_each(|v| v.extend_from_slice(&[5; 100_000]));
        assert!(bulk.iter().all(|v| from_mimalloc(v.as_ptr().cast_mut())));
        assert!(system.iter().all(|v| v[0] == 1 && v.ends_with(&[3; 4096])));
        drop((system, bulk));
        let zeroed = vec![0u64; 1 << 20];
        assert!(zeroed.iter().all(|&x| x == 0));
    }
}
