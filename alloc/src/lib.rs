//! keytap's global allocator: the system's for the few allocations of a short command,
//! mimalloc for the bulk work of a large file.
//!
//! The command run most, decrypting a small file at a shell prompt (direnv, `exec-env`),
//! makes a few hundred allocations: mimalloc's first page per size class costs it ~85
//! page faults, where the system allocator packs them into a few pages. A large file makes
//! hundreds of thousands, which mimalloc serves 20-40% faster. keytap does its bulk work
//! inside [`with_mimalloc`] (on the deep-stack thread, see `keytap_core::stack`); every
//! other allocation comes from the system.
//!
//! A block must go back to the allocator that made it, whatever thread frees it. mimalloc
//! cannot say exactly whether it made a block (v2's segment map ignores addresses above
//! 48 TiB, where Linux maps memory), so the blocks are told apart by address instead:
//! mimalloc allocates only inside one arena reserved here, exclusive to the heaps this crate
//! creates. A heap bound to an exclusive arena never takes memory from anywhere else (when
//! the arena is full it fails, and the system allocator serves the request), so a block is
//! mimalloc's exactly when it lies in that arena's address range.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::c_void;
use std::ops::Range;
use std::ptr::null_mut;
use std::sync::OnceLock;

use libmimalloc_sys::{self as mi, mi_arena_id_t, mi_heap_t};

extern "C" {
    // In mimalloc's arena.c but not in libmimalloc-sys's bindings: the start and size of
    // an arena.
    fn mi_arena_area(arena_id: mi_arena_id_t, size: *mut usize) -> *mut c_void;
}

/// Arena sizes tried in turn, largest first. The arena is reserved uncommitted (no access,
/// not charged against the commit limit, even under `vm.overcommit_memory=2`); mimalloc
/// commits each 32 MiB block as it takes it. Under an address-space limit (`ulimit -v`)
/// only sizes up to a quarter of it are tried, leaving the rest to the system allocator.
/// Where none can be had, everything comes from the system allocator.
const ARENA_SIZES: &[usize] = if cfg!(test) {
    &[64 << 20] // two of mimalloc's 32 MiB segments: small enough to fill in a test
} else {
    &[64 << 30, 4 << 30, 1 << 30, 256 << 20]
};

/// The largest alignment taken to the arena: mimalloc serves larger ones only from fresh
/// OS memory, which a heap bound to the arena refuses after a costly search.
const MAX_ARENA_ALIGN: usize = 1 << 20;

// mimalloc v2.3's option numbers (mimalloc.h) that libmimalloc-sys has no names for.
const MI_OPTION_DESTROY_ON_EXIT: mi::mi_option_t = 22;
const MI_OPTION_ARENA_RESERVE: mi::mi_option_t = 23;
const MI_OPTION_DISALLOW_ARENA_ALLOC: mi::mi_option_t = 27;

/// Fixes the mimalloc options that would break routing by address or write to stderr,
/// whatever `MIMALLOC_*` variables the environment sets: no unmapping of the arena at
/// exit while other threads still free into it, arenas allowed, no reservation of a
/// second (shared) 1 GiB arena for the heap's own bookkeeping, no messages.
fn configure_mimalloc() {
    // SAFETY: mi_option_set only stores the value.
    unsafe {
        for option in [
            mi::mi_option_show_errors,
            mi::mi_option_show_stats,
            mi::mi_option_verbose,
        ] {
            mi::mi_option_set(option, 0);
        }
        mi::mi_option_set(MI_OPTION_DESTROY_ON_EXIT, 0);
        mi::mi_option_set(MI_OPTION_ARENA_RESERVE, 0);
        mi::mi_option_set(MI_OPTION_DISALLOW_ARENA_ALLOC, 0);
    }
}

/// The soft address-space limit (`ulimit -v`), if any.
fn address_space_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only `limit`.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as usize)
}

/// Lets every thread allocate from glibc's main heap (`M_ARENA_MAX` 1), for use under an
/// address-space limit. A thread's first glibc allocation otherwise reserves a 64 MiB heap
/// of its own; where that reservation fails, glibc maps a fresh page for each allocation
/// the thread makes (trying the reservation again every time), and a large file ran out
/// of address space under a `ulimit -v` of a few hundred MiB.
fn share_glibc_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of glibc's allocator; heaps made before keep
    // their blocks, and a thread without a heap of its own takes the main one from now on.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The exclusive arena, once reserved (None if no size could be reserved).
struct Arena {
    id: mi_arena_id_t,
    range: Range<usize>,
}

static ARENA: OnceLock<Option<Arena>> = OnceLock::new();

fn arena() -> Option<&'static Arena> {
    ARENA
        .get_or_init(|| {
            configure_mimalloc();
            let limit = address_space_limit();
            if limit.is_some() {
                share_glibc_heap();
            }
            let most = limit.map_or(usize::MAX, |limit| limit / 4);
            ARENA_SIZES
                .iter()
                .filter(|&&size| size <= most)
                .find_map(|&size| {
                    let mut id: mi_arena_id_t = 0;
                    // SAFETY: plain FFI calls; `id` and `len` outlive them.
                    unsafe {
                        if mi::mi_reserve_os_memory_ex(size, false, false, true, &mut id) != 0 {
                            return None;
                        }
                        let mut len = 0;
                        let start = mi_arena_area(id, &mut len) as usize;
                        (start != 0 && len != 0).then_some(Arena {
                            id,
                            range: start..start + len,
                        })
                    }
                })
        })
        .as_ref()
}

thread_local! {
    // Const-initialized without a destructor, so readable from inside the allocator at any
    // point of a thread's life, without allocating.
    /// The heap this thread allocates from, while in [`with_mimalloc`]; null otherwise.
    static ACTIVE_HEAP: Cell<*mut mi_heap_t> = const { Cell::new(null_mut()) };
    /// The heap made for this thread, kept for its next [`with_mimalloc`]. mimalloc frees
    /// it when the thread ends (its pthread-key destructor, after Rust's thread-local
    /// destructors); blocks still in use stay in the arena, abandoned, and any thread may
    /// free them.
    static THREAD_HEAP: Cell<*mut mi_heap_t> = const { Cell::new(null_mut()) };
    /// Whether this thread wipes each block before it frees it, inside [`wiping_frees`].
    static WIPE_FREES: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every block this thread frees meanwhile wiped first. For work whose
/// copies of plaintext live in buffers keytap does not own: the environment block the
/// standard library builds for a child (`exec-env`) is an ordinary `CString` array, freed
/// after the child starts.
pub fn wiping_frees<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            WIPE_FREES.set(self.0);
        }
    }
    let _restore = Restore(WIPE_FREES.replace(true));
    f()
}

/// Runs `f` with this thread's allocations served by mimalloc (from the arena). Without
/// an arena, or if mimalloc cannot make a heap, `f` runs on the system allocator; once
/// the arena cannot serve a request, the rest of `f` does. Not for code that runs while
/// the thread is torn down (pthread-key destructors): mimalloc has freed the heap then.
pub fn with_mimalloc<T>(f: impl FnOnce() -> T) -> T {
    if !ACTIVE_HEAP.get().is_null() {
        return f();
    }
    let mut heap = THREAD_HEAP.get();
    if heap.is_null() {
        // SAFETY: mimalloc's process and thread set-up (idempotent), which reserving an
        // arena needs: it draws address hints from the thread's heap.
        unsafe { mi::mi_thread_init() };
        if let Some(arena) = arena() {
            // SAFETY: the arena id came from mimalloc; the heap belongs to this thread,
            // which is the only one that allocates from it (the thread-locals above).
            heap = unsafe { mi::mi_heap_new_in_arena(arena.id) };
            THREAD_HEAP.set(heap);
        }
    }
    struct Deactivate;
    impl Drop for Deactivate {
        fn drop(&mut self) {
            ACTIVE_HEAP.set(null_mut());
        }
    }
    ACTIVE_HEAP.set(heap);
    let _deactivate = Deactivate;
    f()
}

/// The heap to serve `layout` from: this thread's while in [`with_mimalloc`], unless the
/// request cannot fit the arena; null for the system allocator.
#[inline]
fn arena_heap_for(layout: &Layout) -> *mut mi_heap_t {
    let heap = ACTIVE_HEAP.get();
    if heap.is_null() || layout.align() > MAX_ARENA_ALIGN || layout.size() > ARENA_SIZES[0] {
        return null_mut();
    }
    heap
}

/// After mimalloc could not serve a request from the arena (which it reports only after
/// collecting the whole heap), the rest of this [`with_mimalloc`] uses the system
/// allocator instead of paying that again on every allocation.
#[cold]
fn arena_full() {
    ACTIVE_HEAP.set(null_mut());
}

/// Whether mimalloc made the block at `ptr`: exactly when it lies in the arena. The
/// arena is reserved before any block is made there; a thread freeing a block got it
/// through something that orders that reservation first.
#[inline]
fn in_arena(ptr: *mut u8) -> bool {
    ARENA
        .get()
        .and_then(Option::as_ref)
        .is_some_and(|arena| arena.range.contains(&(ptr as usize)))
}

/// The system allocator, or mimalloc inside [`with_mimalloc`].
pub struct SplitAlloc;

// SAFETY: each block comes from one of two allocators that uphold GlobalAlloc's contract
// and goes back to the one that made it (`in_arena`); mimalloc's heap is only allocated
// from on the thread that owns it (ACTIVE_HEAP is thread-local); mi_free takes a block of
// any heap on any thread.
unsafe impl GlobalAlloc for SplitAlloc {
    // Out of line: inlined, the dispatch bloated every caller (4.4% more instructions on
    // a 10,000-value file against 1.9-2.8% out of line, measured).
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let heap = arena_heap_for(&layout);
        if !heap.is_null() {
            let p = mi::mi_heap_malloc_aligned(heap, layout.size(), layout.align());
            if !p.is_null() {
                return p.cast();
            }
            arena_full();
        }
        System.alloc(layout)
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let heap = arena_heap_for(&layout);
        if !heap.is_null() {
            let p = mi::mi_heap_zalloc_aligned(heap, layout.size(), layout.align());
            if !p.is_null() {
                return p.cast();
            }
            arena_full();
        }
        System.alloc_zeroed(layout)
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        wipe_if_wiping(ptr, layout);
        if in_arena(ptr) {
            mi::mi_free(ptr.cast());
        } else {
            System.dealloc(ptr, layout)
        }
    }

    /// Never leaves a copy behind: a block that moves is wiped before it is freed, and
    /// the tail a shrinking block gives up is wiped in place. A growing `Zeroizing`
    /// buffer (or an output text that outgrew its estimate) would otherwise leave each
    /// earlier copy of its plaintext in freed memory. Geometric growth wipes at most the
    /// final size once more.
    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if in_arena(ptr) {
            // Moved by this thread's heap, or to the system outside `with_mimalloc`.
            realloc_wiping(self, ptr, layout, new_size, mi::mi_usable_size(ptr.cast()))
        } else {
            // A system block stays a system block.
            realloc_wiping(&System, ptr, layout, new_size, system_usable_size(ptr))
        }
    }
}

/// [`GlobalAlloc::realloc`] through `alloc`'s `alloc` and `dealloc` for a block of
/// `usable` bytes (what its allocator really gave, at least `layout.size()`). The block
/// stays where it is while `new_size` fits and uses at least half of it (the rule of
/// mimalloc's own realloc); otherwise the bytes move to a new block and the old one is
/// wiped, then freed.
unsafe fn realloc_wiping(
    alloc: &impl GlobalAlloc,
    ptr: *mut u8,
    layout: Layout,
    new_size: usize,
    usable: usize,
) -> *mut u8 {
    let old_size = layout.size();
    if new_size <= usable && new_size >= usable / 2 {
        if new_size < old_size {
            wipe(ptr.add(new_size), old_size - new_size);
        }
        return ptr;
    }
    let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
    let new = alloc.alloc(new_layout);
    if !new.is_null() {
        std::ptr::copy_nonoverlapping(ptr, new, old_size.min(new_size));
        wipe(ptr, old_size);
        alloc.dealloc(ptr, layout);
    }
    new
}

/// Wipes the block about to be freed inside [`wiping_frees`].
#[inline]
unsafe fn wipe_if_wiping(ptr: *mut u8, layout: Layout) {
    if WIPE_FREES.get() {
        wipe(ptr, layout.size());
    }
}

/// The bytes the system allocator really gave the block at `ptr`.
unsafe fn system_usable_size(ptr: *mut u8) -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    return libc::malloc_usable_size(ptr.cast());
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = ptr;
        0 // unknown: every resize moves (and wipes)
    }
}

/// Zeroes `len` bytes at `ptr` in a way the compiler cannot drop as a dead store before
/// the block is freed (`free` is a builtin it reasons about).
unsafe fn wipe(ptr: *mut u8, len: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    libc::explicit_bzero(ptr.cast(), len);
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        std::ptr::write_bytes(ptr, 0, len);
        std::hint::black_box(ptr);
    }
}

#[cfg(test)]
mod tests;
