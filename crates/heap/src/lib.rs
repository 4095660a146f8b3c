//! Memory accounts kept by the global allocator.
//!
//! A budget that counts only what our code reserves misses what libraries allocate on the way:
//! DataFusion operators hold more than they reserve from their pool (a cross join under a 1 GiB
//! pool took the server to 3 GB), and a cut's sort, gather and Parquet encoding hold a working
//! set beside the head it reads. So the binary installs [`CountingAllocator`], which adds every
//! byte allocated, and takes off every byte freed, on a thread to the [`Account`] that thread
//! works for. Threads working for no account pay one thread-local read per call.
//!
//! An account is approximate where memory crosses threads: what a counted thread allocates and
//! another frees stays counted, and the other way round. Two ways keep that from accumulating:
//! [`counted_in`] takes back out, when its work returns, whatever the work left allocated (it was
//! handed on); and the owner of a long-lived account ([`count_this_thread_in`]) calls
//! [`Account::reset`] whenever none of its work runs.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

/// Bytes held by the threads that work for one purpose.
#[derive(Debug, Default)]
pub struct Account {
    bytes: AtomicIsize,
    peak: AtomicIsize,
}

impl Account {
    /// A new account at zero.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Bytes held now, as far as the allocator can tell (0 without [`CountingAllocator`]).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed).max(0) as usize
    }

    /// The most [`Account::bytes`] has been since the last call, which starts the next peak at
    /// the present value.
    pub fn take_peak(&self) -> usize {
        let now = self.bytes.load(Ordering::Relaxed);
        self.peak.swap(now, Ordering::Relaxed).max(now).max(0) as usize
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        self.bytes.store(0, Ordering::Relaxed);
        self.peak.store(0, Ordering::Relaxed);
    }

    /// Counts `bytes` held outside any counted thread (a result handed on from counted work)
    /// until the returned guard is dropped.
    pub fn hold(self: &Arc<Self>, bytes: usize) -> Held {
        let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
        self.add(bytes);
        Held {
            account: Arc::clone(self),
            bytes,
        }
    }

    fn add(&self, delta: isize) {
        let now = self.bytes.fetch_add(delta, Ordering::Relaxed) + delta;
        if delta > 0 {
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
    }
}

/// Bytes counted in an account by [`Account::hold`] until this is dropped.
#[derive(Debug)]
pub struct Held {
    account: Arc<Account>,
    bytes: isize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.account.add(-self.bytes);
    }
}

thread_local! {
    /// The account this thread's allocations go to.
    static WORKING_FOR: RefCell<Option<Arc<Account>>> = const { RefCell::new(None) };
    /// Bytes this thread added to its account since [`counted_in`] began.
    static NET: Cell<isize> = const { Cell::new(0) };
}

/// Counts the calling thread's allocations in `account` from now on, for the rest of its life
/// (for pool threads that do nothing else).
pub fn count_this_thread_in(account: Arc<Account>) {
    let previous = WORKING_FOR.with(|slot| slot.replace(Some(account)));
    // Dropped outside the borrow: freeing the last reference calls back into the allocator.
    drop(previous);
}

/// Runs `work` with the calling thread's allocations counted in `account`. What `work` leaves
/// allocated when it returns (its answer, handed on to whoever frees it) is taken back out of the
/// account, so the account holds only what running work holds.
pub fn counted_in<T>(account: &Arc<Account>, work: impl FnOnce() -> T) -> T {
    let _counting = Counting {
        account: Arc::clone(account),
        outer: WORKING_FOR.with(|slot| slot.replace(Some(Arc::clone(account)))),
        outer_net: NET.with(|net| net.replace(0)),
    };
    work()
}

/// While it lives, the thread counts for `account`; dropped (also by a panic), the thread goes
/// back to the account it counted for before.
struct Counting {
    account: Arc<Account>,
    outer: Option<Arc<Account>>,
    outer_net: isize,
}

impl Drop for Counting {
    fn drop(&mut self) {
        let left = NET.with(|net| net.replace(self.outer_net));
        self.account.add(-left);
        let this = WORKING_FOR.with(|slot| slot.replace(self.outer.take()));
        drop(this);
    }
}

fn count(delta: isize) {
    // During a thread's teardown the slot may be gone, and while it is being replaced it is
    // borrowed: such calls are not counted.
    let _ = WORKING_FOR.try_with(|slot| {
        if let Ok(slot) = slot.try_borrow() {
            if let Some(account) = slot.as_ref() {
                account.add(delta);
                let _ = NET.try_with(|net| net.set(net.get() + delta));
            }
        }
    });
}

/// A global allocator that counts each thread's allocations in its account, over the allocator
/// `A`. The binary installs it (`#[global_allocator]`).
pub struct CountingAllocator<A>(pub A);

// One of the workspace's allowed uses of `unsafe` (Cargo.toml): a global allocator cannot be
// written without it.
// SAFETY: every call is passed on to `A` unchanged; counting only reads thread-locals and
// updates atomics, none of which allocates or unwinds.
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
