//! How much memory the query threads hold, counted by the allocator.
//!
//! DataFusion's memory pool sees only what its operators reserve, and several operators hold
//! more than they reserve (a cross join concatenates its buffered side into a second copy; batches
//! in flight between operators are not reserved at all): a query under a 1 GiB pool took the
//! server to 3 GB. So the query threads ([`mark_query_thread`]) count every byte they allocate
//! and free in one [`Account`], and each query's operators fail once it passes the engine's
//! memory limit (see `sql::guard`).
//!
//! The count is approximate where memory crosses threads: a result allocated on a query thread
//! and freed by the HTTP handler stays counted, a head chunk allocated by ingest and freed by a
//! query is subtracted. The engine sets the count back to zero whenever no query runs, so what
//! crosses over never accumulates beyond one busy stretch.

use std::sync::{Arc, LazyLock};

use combray_heap::Account;

static QUERY_THREADS: LazyLock<Arc<Account>> = LazyLock::new(Account::new);

/// Marks the calling thread as a query thread: its allocations count from now on.
pub fn mark_query_thread() {
    combray_heap::count_this_thread_in(Arc::clone(&QUERY_THREADS));
}

/// Bytes the query threads hold, as far as the allocator can tell (0 without
/// `combray_heap::CountingAllocator` installed).
pub fn query_thread_bytes() -> usize {
    QUERY_THREADS.bytes()
}

/// Starts counting from zero (the engine does so when no query runs).
pub(crate) fn reset_query_thread_bytes() {
    QUERY_THREADS.reset();
}
