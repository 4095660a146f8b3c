//! The trace indexes of blocks, in memory up to a budget.
//!
//! A trace index takes about 60 bytes per trace in memory, so keeping every block's would make
//! the server's memory grow with what it stores rather than with its load: 20 M single-span
//! traces took 1.1 GB. Indexes are read from the store (`traces.idx`) when a read needs them
//! and kept in a cache bounded in bytes; past the budget the least recently used go. An index a
//! read still holds stays alive until that read ends, so the cache can go over its budget by
//! what running reads hold, never by what is idle.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::{ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;

use super::read::Block;
use super::trace_index::TraceIndex;
use crate::StorageError;

/// The default budget: what one in-memory index of a million traces takes.
pub(crate) const DEFAULT_TRACE_INDEX_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Recently used trace indexes, by block id.
pub(crate) struct TraceIndexes {
    budget: std::sync::atomic::AtomicUsize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    by_block: HashMap<String, Cached>,
    bytes: usize,
    clock: u64,
    loads: u64,
}

struct Cached {
    index: Arc<TraceIndex>,
    bytes: usize,
    used: u64,
}

impl TraceIndexes {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget: std::sync::atomic::AtomicUsize::new(budget),
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn set_budget(&self, budget: usize) {
        self.budget
            .store(budget, std::sync::atomic::Ordering::Relaxed);
        self.state.lock().evict(budget);
    }

    /// Bytes the cached indexes take, and how many were read from the store so far.
    pub(crate) fn usage(&self) -> (usize, u64) {
        let state = self.state.lock();
        (state.bytes, state.loads)
    }

    /// A block's index: from the cache, or read from the store and cached.
    pub(crate) async fn get(
        &self,
        block: &Block,
        store: &Arc<dyn ObjectStore>,
    ) -> Result<Arc<TraceIndex>, StorageError> {
        if let Some(index) = self.state.lock().touch(&block.meta.block_id) {
            return Ok(index);
        }
        // Two reads missing at once may both load it; the second insert replaces the first.
        let path = &block.paths().traces;
        let bytes = store
            .get(path)
            .await
            .map_err(|e| StorageError::object_store("read", e))?
            .bytes()
            .await
            .map_err(|e| StorageError::object_store("read", e))?;
        let index = TraceIndex::decode(&bytes).map_err(|reason| StorageError::Corrupt {
            path: path.as_ref().into(),
            what: "trace index",
            reason,
        })?;
        let index = Arc::new(index);
        self.insert(&block.meta.block_id, Arc::clone(&index));
        self.state.lock().loads += 1;
        Ok(index)
    }

    /// Caches an index known without a read (a block just built).
    pub(crate) fn insert(&self, block_id: &str, index: Arc<TraceIndex>) {
        let budget = self.budget.load(std::sync::atomic::Ordering::Relaxed);
        let bytes = index.memory_bytes();
        let mut state = self.state.lock();
        state.clock += 1;
        let used = state.clock;
        if let Some(old) = state
            .by_block
            .insert(block_id.to_owned(), Cached { index, bytes, used })
        {
            state.bytes -= old.bytes;
        }
        state.bytes += bytes;
        state.evict(budget);
    }

    /// Forgets a block's index (the block is gone).
    pub(crate) fn remove(&self, block_id: &str) {
        let mut state = self.state.lock();
        if let Some(old) = state.by_block.remove(block_id) {
            state.bytes -= old.bytes;
        }
    }
}

impl State {
    fn touch(&mut self, block_id: &str) -> Option<Arc<TraceIndex>> {
        self.clock += 1;
        let clock = self.clock;
        let cached = self.by_block.get_mut(block_id)?;
        cached.used = clock;
        Some(Arc::clone(&cached.index))
    }

    /// Drops the least recently used indexes until the rest fit `budget`. A linear pass per
    /// eviction: there are as many entries as blocks, hundreds, not millions.
    fn evict(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some(oldest) = self
                .by_block
                .iter()
                .min_by_key(|(_, cached)| cached.used)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            if let Some(old) = self.by_block.remove(&oldest) {
                self.bytes -= old.bytes;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::TraceEntry;
    use combray_model::TraceId;

    fn index(traces: usize) -> Arc<TraceIndex> {
        let entries = (0..traces)
            .map(|i| TraceEntry {
                trace_id: TraceId::from_slice(&[(i % 250) as u8 + 1; 16]).unwrap(),
                first_row: i as u32,
                row_count: 1,
                start_unix_nano: 0,
                end_unix_nano: 1,
                error_count: 0,
                root_service: 0,
                root_name: 0,
                has_root: true,
            })
            .collect();
        Arc::new(TraceIndex {
            names: vec!["svc".into()],
            entries,
        })
    }

    #[test]
    fn the_least_recently_used_go_first_once_over_budget() {
        let one = index(1000).memory_bytes();
        let cache = TraceIndexes::new(one * 2 + one / 2);
        cache.insert("a", index(1000));
        cache.insert("b", index(1000));
        // Using "a" makes "b" the oldest.
        assert!(cache.state.lock().touch("a").is_some());
        cache.insert("c", index(1000));
        let state = cache.state.lock();
        let mut kept: Vec<&String> = state.by_block.keys().collect();
        kept.sort();
        assert_eq!(kept, ["a", "c"]);
        assert_eq!(state.bytes, one * 2);
    }

    #[test]
    fn removing_and_shrinking_the_budget_give_back_their_bytes() {
        let one = index(10).memory_bytes();
        let cache = TraceIndexes::new(usize::MAX);
        for id in ["a", "b", "c"] {
            cache.insert(id, index(10));
        }
        cache.remove("b");
        assert_eq!(cache.usage().0, one * 2);
        cache.set_budget(one);
        assert_eq!(cache.usage().0, one);
        cache.set_budget(0);
        assert_eq!(cache.usage(), (0, 0));
    }
}
