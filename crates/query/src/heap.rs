//! How much memory the query threads hold, counted by the allocator.
//!
//! DataFusion's memory pool sees only what its operators reserve, and several operators hold
//! more than they reserve (a cross join concatenates its buffered side into a second copy; batches
//! in flight between operators are not reserved at all): a query under a 1 GiB pool took the
//! server to 3 GB. So the binary's allocator counts every byte allocated, and every byte freed,
//! on the threads that run queries ([`mark_query_thread`]), and each query's operators fail once
//! that count passes the engine's memory limit (see `sql::guard`).
//!
//! The count is approximate where memory crosses threads: a result allocated on a query thread
//! and freed by the HTTP handler stays counted, a head chunk allocated by ingest and freed by a
//! query is subtracted. The engine sets the count back to zero whenever no query runs, so what
//! crosses over never accumulates beyond one busy stretch.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

/// Bytes allocated minus bytes freed on query threads since the count was last reset.
static QUERY_THREAD_BYTES: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static ON_QUERY_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as a query thread: its allocations count from now on.
pub fn mark_query_thread() {
    ON_QUERY_THREAD.with(|flag| flag.set(true));
}

/// Bytes the query threads hold, as far as the allocator can tell (0 without
/// [`CountingAllocator`] installed).
pub fn query_thread_bytes() -> usize {
    QUERY_THREAD_BYTES.load(Ordering::Relaxed).max(0) as usize
}

/// Starts counting from zero (the engine does so when no query runs).
pub(crate) fn reset_query_thread_bytes() {
    QUERY_THREAD_BYTES.store(0, Ordering::Relaxed);
}

fn on_query_thread() -> bool {
    // During a thread's teardown the flag may be gone; such frees are not counted.
    ON_QUERY_THREAD.try_with(Cell::get).unwrap_or(false)
}

fn count(delta: isize) {
    if on_query_thread() {
        QUERY_THREAD_BYTES.fetch_add(delta, Ordering::Relaxed);
    }
}

/// A global allocator that counts what query threads allocate, over the allocator `A`.
/// The binary installs it (`#[global_allocator]`); other threads pay one thread-local read.
pub struct CountingAllocator<A>(pub A);

// The second of the workspace's two allowed uses of `unsafe` (Cargo.toml): a global allocator
// cannot be written without it.
// SAFETY: every call is passed on to `A` unchanged; counting only reads a thread-local and
// updates an atomic, neither of which allocates or unwinds.
#[allow(unsafe_code)]
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let pointer = unsafe { self.0.alloc(layout) };
        if !pointer.is_null() {
            count(layout.size() as isize);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let pointer = unsafe { self.0.alloc_zeroed(layout) };
        if !pointer.is_null() {
            count(layout.size() as isize);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { self.0.dealloc(pointer, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let moved = unsafe { self.0.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        moved
    }
}
