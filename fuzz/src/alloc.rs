//! The memory bound of a campaign: a global allocator that counts live bytes and refuses any allocation that
//! would take them more than [`MEMORY_BOUND`] above what was live when the current input started.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How much one input may make live at once: far more than any bounded parse of a 64 KiB input needs, far less
/// than a machine has.
pub const MEMORY_BOUND: usize = 512 * 1024 * 1024;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Live bytes past which allocations are refused while an input runs (usize::MAX: no input running).
static CEILING: AtomicUsize = AtomicUsize::new(usize::MAX);
static TARGET: std::sync::Mutex<&'static str> = std::sync::Mutex::new("");
static REPORTED: AtomicBool = AtomicBool::new(false);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which got it from the system allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let grow = new_size.saturating_sub(layout.size());
        if !admit(grow) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            LIVE.fetch_sub(grow, Ordering::SeqCst);
        } else if new_size < layout.size() {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
        }
        p
    }
}

/// Counts `size` more live bytes, unless that passes the ceiling: then says which target did it (once, without
/// allocating) and refuses, which aborts the process as the server would have.
fn admit(size: usize) -> bool {
    let live = LIVE.fetch_add(size, Ordering::SeqCst) + size;
    if live <= CEILING.load(Ordering::SeqCst) {
        return true;
    }
    LIVE.fetch_sub(size, Ordering::SeqCst);
    if !REPORTED.swap(true, Ordering::SeqCst) {
        let target = TARGET.try_lock().map(|t| *t).unwrap_or("?");
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(b"runlet-fuzz: target ");
        let _ = err.write_all(target.as_bytes());
        let _ = err.write_all(b" allocated past the memory bound (replay the campaign with the same --seed)\n");
    }
    false
}

pub(crate) fn begin_input(target: &'static str) {
    if let Ok(mut t) = TARGET.lock() {
        *t = target;
    }
    CEILING.store(LIVE.load(Ordering::SeqCst).saturating_add(MEMORY_BOUND), Ordering::SeqCst);
}

pub(crate) fn end_input() {
    CEILING.store(usize::MAX, Ordering::SeqCst);
}
