//! Immutable blocks: the head, cut into Parquet files in an object store (a local directory by
//! default), each with a trace index and a meta document written last.

mod cache;
mod indexes;
mod key_types;
mod merge;
mod meta;
mod paths;
mod read;
mod rows;
mod trace_index;
pub(crate) mod wide;
mod write;

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parking_lot::RwLock;

pub(crate) use indexes::DEFAULT_TRACE_INDEX_CACHE_BYTES;
pub use merge::merge_blocks;
pub use meta::BlockMeta;
pub(crate) use meta::READABLE_META_FORMAT_VERSIONS;
pub(crate) use paths::{BlockPaths, BLOCKS_ROOT};
pub use read::Block;
pub(crate) use trace_index::TraceEntry;
pub use trace_index::TraceIndex;
pub(crate) use write::BuiltBlock;
pub use write::{build_block, BlockOrigin, COMPACTED_ZSTD_LEVEL, CUT_ZSTD_LEVEL};

use crate::StorageError;

/// Every published block, per environment, newest last.
pub struct Blocks {
    store: Arc<dyn ObjectStore>,
    by_environment: RwLock<HashMap<String, Vec<Arc<Block>>>>,
    /// Ids of blocks a known compacted block replaces.
    superseded: RwLock<std::collections::HashSet<String>>,
    /// Whether the list changed since the cache was last written.
    dirty: std::sync::atomic::AtomicBool,
    /// Recently used trace indexes.
    indexes: Arc<indexes::TraceIndexes>,
}

/// Where a snapshot's blocks are read from: the object store, and the trace indexes kept.
#[derive(Clone)]
pub(crate) struct BlockSource {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) indexes: Arc<indexes::TraceIndexes>,
}

/// Who this node is, for reconciling its own blocks with the store.
#[derive(Debug, Clone)]
pub struct Owner {
    /// This node's id.
    pub node_id: String,
    /// When this process started.
    pub started_unix_nano: u64,
    /// The WAL checkpoint when it started.
    pub checkpoint_at_start: u64,
}

impl Blocks {
    /// Loads the meta of every block in the store. Blocks this node wrote in a
    /// cut that never reached its checkpoint are deleted: their spans are still in the WAL and
    /// will be cut again, so keeping them would show those spans twice. A block that cannot be
    /// read is logged and left out; the rest stay queryable.
    pub async fn load(
        store: Arc<dyn ObjectStore>,
        node_id: &str,
        checkpoint: u64,
    ) -> Result<Self, StorageError> {
        Self::load_as(store, Some((node_id, checkpoint)), &|_, _| {}).await
    }

    fn empty(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            by_environment: RwLock::new(HashMap::new()),
            superseded: RwLock::new(std::collections::HashSet::new()),
            dirty: std::sync::atomic::AtomicBool::new(true),
            indexes: Arc::new(indexes::TraceIndexes::new(DEFAULT_TRACE_INDEX_CACHE_BYTES)),
        }
    }

    /// Sets how many bytes of trace indexes stay in memory between reads.
    pub fn set_trace_index_budget(&self, bytes: usize) {
        self.indexes.set_budget(bytes);
    }

    /// A block's trace index: kept from an earlier read, or read from the store. A block whose
    /// index is damaged is left out from then on, as start-up left out unreadable blocks when
    /// it read every index, and reads as holding no trace.
    pub async fn trace_index(&self, block: &Block) -> Result<Arc<TraceIndex>, StorageError> {
        match self.indexes.get(block, &self.store).await {
            Err(error @ StorageError::Corrupt { .. }) => {
                tracing::error!(block = %block.meta.block_id, %error, "leaving out a block whose trace index cannot be read");
                self.forget(block);
                Ok(Arc::new(TraceIndex::default()))
            }
            other => other,
        }
    }

    /// Bytes of trace indexes in memory, and how many indexes were read from the store.
    pub fn trace_index_usage(&self) -> (usize, u64) {
        self.indexes.usage()
    }

    /// Whether the list changed since the cache was last written.
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Removes (and deletes) this node's blocks whose cut never reached the checkpoint: a cache
    /// saved just before a crash can know them, but their spans are replayed from the WAL.
    pub async fn drop_unfinished_cuts(
        &self,
        node_id: &str,
        checkpoint: u64,
    ) -> Result<(), StorageError> {
        let unfinished: Vec<Arc<Block>> = self
            .all()
            .into_iter()
            .filter(|b| b.meta.node_id == node_id && b.meta.wal_through_segment > checkpoint)
            .collect();
        for block in unfinished {
            tracing::warn!(block = %block.meta.block_id, "deleting a block from a cut that did not finish; its spans are replayed from the WAL");
            self.forget(&block);
            self.delete(&block).await?;
        }
        Ok(())
    }

    /// Records that the cache must be written again (a write failed).
    pub fn dirty_again(&self) {
        self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records that the cache matches the list.
    pub fn mark_clean(&self) {
        self.dirty
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Loads every readable block and changes nothing, for operator tools. `progress` is told
    /// `(blocks read, blocks listed)` after each block: on S3 every block is a round trip.
    pub async fn load_read_only(
        store: Arc<dyn ObjectStore>,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<Self, StorageError> {
        Self::load_as(store, None, progress).await
    }

    async fn load_as(
        store: Arc<dyn ObjectStore>,
        owner: Option<(&str, u64)>,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<Self, StorageError> {
        let root = object_store::path::Path::from(BLOCKS_ROOT);
        let listed: Vec<_> = store
            .list(Some(&root))
            .try_collect()
            .await
            .map_err(|e| StorageError::object_store("list blocks in", e))?;
        let blocks = Self::empty(store);
        let metas: Vec<_> = listed
            .iter()
            .filter(|object| BlockPaths::is_meta(&object.location))
            .collect();
        for (index, object) in metas.iter().enumerate() {
            progress(index, metas.len());
            match blocks.load_one(&object.location).await {
                Ok(block)
                    if owner.is_some_and(|(node_id, checkpoint)| {
                        block.meta.node_id == node_id && block.meta.wal_through_segment > checkpoint
                    }) =>
                {
                    tracing::warn!(block = %block.meta.block_id, "deleting a block from a cut that did not finish; its spans are replayed from the WAL");
                    blocks.delete(&block).await?;
                }
                Ok(block) => {
                    blocks.add(Arc::new(block));
                }
                Err(error) => {
                    tracing::error!(meta = %object.location, %error, "leaving out a block that cannot be read")
                }
            }
        }
        progress(metas.len(), metas.len());
        if owner.is_some() {
            blocks.delete_superseded_leftovers(&listed).await;
        }
        Ok(blocks)
    }

    /// Blocks a compaction replaced but did not get to delete before it stopped.
    async fn delete_superseded_leftovers(&self, listed: &[object_store::ObjectMeta]) {
        for object in listed.iter().filter(|o| BlockPaths::is_meta(&o.location)) {
            let Some(block_id) = BlockPaths::block_id_of_meta(&object.location) else {
                continue;
            };
            if !self.is_superseded(&block_id) {
                continue;
            }
            if let Ok(block) = self.load_one(&object.location).await {
                if let Err(error) = self.delete(&block).await {
                    tracing::warn!(block = %block_id, %error, "cannot delete a compacted-away block yet");
                }
            }
        }
    }

    /// Brings in what other nodes published (or deleted) since the last look, so nodes sharing
    /// a bucket see each other's blocks. This node's own blocks are always known already.
    pub async fn refresh(&self, owner: &Owner) -> Result<(usize, usize), StorageError> {
        let node_id = owner.node_id.as_str();
        // Only blocks known before the listing can be judged by it: one added meanwhile (a cut
        // finishing concurrently) is simply not in it yet.
        let before = self.all();
        let known_before: std::collections::HashSet<String> =
            before.iter().map(|b| b.meta.block_id.clone()).collect();
        let known: std::collections::HashSet<String> =
            before.iter().map(|b| b.paths().meta.to_string()).collect();
        let root = object_store::path::Path::from(BLOCKS_ROOT);
        let listed: Vec<_> = self
            .store
            .list(Some(&root))
            .try_collect()
            .await
            .map_err(|e| StorageError::object_store("list blocks in", e))?;
        let present: std::collections::HashSet<String> = listed
            .iter()
            .filter(|o| BlockPaths::is_meta(&o.location))
            .map(|o| o.location.to_string())
            .collect();
        let mut added = 0;
        for meta_path in present.difference(&known) {
            let path = object_store::path::Path::from(meta_path.as_str());
            if BlockPaths::block_id_of_meta(&path).is_some_and(|id| self.is_superseded(&id)) {
                continue;
            }
            match self.load_one(&path).await {
                Ok(block) if block.meta.node_id != node_id => {
                    if self.add(Arc::new(block)) {
                        added += 1;
                    }
                }
                // This node's blocks from before this start that the cache did not know: an
                // unfinished cut is deleted (its spans were replayed), anything else is added.
                Ok(block) if block.meta.created_unix_nano < owner.started_unix_nano => {
                    let cut = block.meta.wal_through_segment;
                    if cut > owner.checkpoint_at_start {
                        tracing::warn!(block = %block.meta.block_id, "deleting a block from a cut that did not finish; its spans are replayed from the WAL");
                        self.delete(&block).await?;
                    } else if self.add(Arc::new(block)) {
                        added += 1;
                    }
                }
                // Published by a cut of this process that is still finishing: it adds it.
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(meta = %meta_path, %error, "leaving out a block that cannot be read")
                }
            }
        }
        let mut removed = 0;
        for blocks in self.by_environment.write().values_mut() {
            let before = blocks.len();
            blocks.retain(|b| {
                let kept = present.contains(&b.paths().meta.to_string())
                    || !known_before.contains(&b.meta.block_id);
                if !kept {
                    self.indexes.remove(&b.meta.block_id);
                }
                kept
            });
            removed += before - blocks.len();
        }
        if added + removed > 0 {
            self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok((added, removed))
    }

    async fn load_one(&self, meta_path: &object_store::path::Path) -> Result<Block, StorageError> {
        let corrupt = |reason: String| StorageError::Corrupt {
            path: meta_path.as_ref().into(),
            what: "block",
            reason,
        };
        let bytes = self
            .store
            .get(meta_path)
            .await
            .map_err(|e| StorageError::object_store("read", e))?
            .bytes()
            .await
            .map_err(|e| StorageError::object_store("read", e))?;
        let meta: BlockMeta = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if !READABLE_META_FORMAT_VERSIONS.contains(&meta.format_version) {
            return Err(corrupt(format!(
                "meta format version {} is not supported",
                meta.format_version
            )));
        }
        Ok(Block::new(meta))
    }

    pub(crate) async fn delete(&self, block: &Block) -> Result<(), StorageError> {
        self.indexes.remove(&block.meta.block_id);
        let paths = block.paths();
        // Meta first, so a crash midway leaves no half-block visible.
        for path in [&paths.meta, &paths.traces, &paths.data] {
            match self.store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(StorageError::object_store("delete", error)),
            }
        }
        Ok(())
    }

    /// Uploads a block: data, then trace index, then meta. Until the meta exists, no reader or
    /// restart sees the block.
    pub async fn publish(&self, built: BuiltBlock) -> Result<Arc<Block>, StorageError> {
        self.publish_if(built, async { true })
            .await?
            .ok_or_else(|| StorageError::Closed("a block was published under a condition".into()))
    }

    /// Like [`Blocks::publish`], but writes the meta (the commit point) only if `still_allowed`
    /// says so once data and trace index are up; otherwise removes them and answers `None`.
    pub async fn publish_if(
        &self,
        built: BuiltBlock,
        still_allowed: impl std::future::Future<Output = bool>,
    ) -> Result<Option<Arc<Block>>, StorageError> {
        let paths = BlockPaths::new(&built.meta.environment, &built.meta.block_id);
        let meta_json = serde_json::to_vec_pretty(&built.meta)
            .map_err(|e| StorageError::Codec(e.to_string()))?;
        self.store
            .put(&paths.data, PutPayload::from(built.data))
            .await
            .map_err(|e| StorageError::object_store("upload block data to", e))?;
        let traces = TraceIndex::decode(&built.traces).map_err(StorageError::Codec)?;
        self.store
            .put(&paths.traces, PutPayload::from(built.traces))
            .await
            .map_err(|e| StorageError::object_store("upload trace index to", e))?;
        if !still_allowed.await {
            for path in [&paths.traces, &paths.data] {
                let _ = self.store.delete(path).await;
            }
            return Ok(None);
        }
        self.store
            .put(&paths.meta, PutPayload::from(meta_json))
            .await
            .map_err(|e| StorageError::object_store("upload block meta to", e))?;
        self.indexes.insert(&built.meta.block_id, Arc::new(traces));
        Ok(Some(Arc::new(Block::new(built.meta))))
    }

    /// Makes a published block visible to readers. A compacted block hides the blocks it
    /// replaces; a block something already replaced is not added. Returns whether it was added.
    pub fn add(&self, block: Arc<Block>) -> bool {
        let mut by_environment = self.by_environment.write();
        let mut superseded = self.superseded.write();
        if superseded.contains(&block.meta.block_id) {
            return false;
        }
        superseded.extend(block.meta.replaces.iter().cloned());
        let blocks = by_environment
            .entry(block.meta.environment.clone())
            .or_default();
        blocks.retain(|existing| !block.meta.replaces.contains(&existing.meta.block_id));
        for replaced in &block.meta.replaces {
            self.indexes.remove(replaced);
        }
        blocks.push(block);
        self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// An environment's blocks, oldest first.
    pub fn blocks(&self, environment: &str) -> Vec<Arc<Block>> {
        self.by_environment
            .read()
            .get(environment)
            .cloned()
            .unwrap_or_default()
    }

    /// Hides a block (retention) without waiting for its objects to go.
    pub fn forget(&self, block: &Block) {
        self.indexes.remove(&block.meta.block_id);
        if let Some(blocks) = self.by_environment.write().get_mut(&block.meta.environment) {
            blocks.retain(|existing| existing.meta.block_id != block.meta.block_id);
        }
        self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a compacted block replaced this one.
    pub fn is_superseded(&self, block_id: &str) -> bool {
        self.superseded.read().contains(block_id)
    }

    /// Blocks and the spans they hold, over every environment.
    pub fn totals(&self) -> (usize, u64) {
        let by_environment = self.by_environment.read();
        let blocks = by_environment.values().map(Vec::len).sum();
        let spans = by_environment
            .values()
            .flatten()
            .map(|b| b.meta.span_count)
            .sum();
        (blocks, spans)
    }

    /// Every block, by environment then age.
    pub fn all(&self) -> Vec<Arc<Block>> {
        let by_environment = self.by_environment.read();
        let mut names: Vec<&String> = by_environment.keys().collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|name| by_environment[name].iter().cloned())
            .collect()
    }

    /// The object store blocks live in.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// What scans of these blocks read from.
    pub(crate) fn source(&self) -> BlockSource {
        BlockSource {
            store: Arc::clone(&self.store),
            indexes: Arc::clone(&self.indexes),
        }
    }
}

#[cfg(test)]
mod tests;
