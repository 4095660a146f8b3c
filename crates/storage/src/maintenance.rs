//! Background maintenance over published blocks: compaction and retention, run by whichever node
//! holds the maintenance lease.
//!
//! The lease is taken per time window with a conditional create (`PutMode::Create`) of
//! `leases/maintenance/<window>`: the one node whose create succeeds runs maintenance for that
//! window, and stops starting new work once the window is over. Any object store with
//! create-if-absent (a local directory, S3) can coordinate nodes this way.
//!
//! Compaction merges blocks of one environment, time window and size tier into one (which ones:
//! `policy.rs`). The merged block's meta lists the blocks it `replaces`, and writing that meta is
//! the commit point: from then on every reader ignores the inputs, so no span is ever seen twice,
//! and a crash before it leaves the inputs as they were. The inputs' objects are deleted after a
//! grace period, so queries that already hold them finish.

use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::block::{merge_blocks, Block, BlockOrigin, COMPACTED_ZSTD_LEVEL};

/// Rows per batch read from a block being compacted: a row group's worth, so the merge
/// interleaves a few large batches rather than thousands of small ones.
const MERGE_BATCH_ROWS: usize = 65_536;

mod policy;
pub use policy::MaintenancePolicy;

use crate::priority::{compaction_gives_way, on_thread_at_nice, COMPACTION_NICE};
use crate::{Storage, StorageError};

/// What one maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Whether this node held the lease (nothing else happens without it).
    pub leased: bool,
    /// Blocks written by compaction.
    pub compacted_into: usize,
    /// Blocks merged away.
    pub compacted_from: usize,
    /// Blocks past retention.
    pub expired: usize,
    /// Blocks whose objects were deleted after their grace period.
    pub deleted: usize,
}

/// Where a node publishes its WAL checkpoint for other nodes' compaction to read.
pub(crate) fn node_checkpoint_path(node_id: &str) -> object_store::path::Path {
    object_store::path::Path::from(format!("nodes/{node_id}/checkpoint.json"))
}

impl Storage {
    fn lease_window(&self) -> u64 {
        crate::now_unix_nano() / (self.config.maintenance.lease_window.as_nanos().max(1) as u64)
    }

    /// Takes the maintenance lease for the current window, or learns another node has it.
    pub async fn try_lease(&self) -> Result<bool, StorageError> {
        let window = self.lease_window();
        let path = object_store::path::Path::from(format!("leases/maintenance/{window:020}"));
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let payload = PutPayload::from(self.config.node_id.clone().into_bytes());
        let store = self.blocks.store();
        match store.put_opts(&path, payload, options).await {
            Ok(_) => {
                let previous = object_store::path::Path::from(format!(
                    "leases/maintenance/{:020}",
                    window.saturating_sub(1)
                ));
                let _ = store.delete(&previous).await;
                Ok(true)
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {
                let holder = store
                    .get(&path)
                    .await
                    .map_err(|e| StorageError::object_store("read lease", e))?;
                let holder = holder
                    .bytes()
                    .await
                    .map_err(|e| StorageError::object_store("read lease", e))?;
                Ok(holder.as_ref() == self.config.node_id.as_bytes())
            }
            Err(error) => Err(StorageError::object_store("take lease in", error)),
        }
    }

    /// One maintenance pass: deletes objects whose grace is over, then, if this node holds the
    /// lease, expires old blocks and compacts small ones.
    pub async fn maintain(&self) -> Result<MaintenanceReport, StorageError> {
        let mut report = MaintenanceReport {
            deleted: self.delete_after_grace().await?,
            ..Default::default()
        };
        let window = self.lease_window();
        if !self.try_lease().await? {
            return Ok(report);
        }
        report.leased = true;
        report.expired = self.expire();
        let checkpoints = self.node_checkpoints().await;
        for environment in self.environments_with_blocks() {
            while self.lease_window() == window {
                let Some(inputs) = self.compaction_candidates(&environment, &checkpoints) else {
                    break;
                };
                if !self.compact(&environment, &inputs, window).await? {
                    // The lease ran out mid-compaction: the next holder takes over.
                    break;
                }
                report.compacted_into += 1;
                report.compacted_from += inputs.len();
            }
        }
        Ok(report)
    }

    fn environments_with_blocks(&self) -> Vec<String> {
        let mut environments: Vec<String> = self
            .blocks
            .all()
            .iter()
            .map(|b| b.meta.environment.clone())
            .collect();
        environments.dedup();
        environments
    }

    fn expire(&self) -> usize {
        self.expire_with(self.config.maintenance.retention)
    }

    fn expire_with(&self, retention: Duration) -> usize {
        let horizon = crate::now_unix_nano().saturating_sub(retention.as_nanos() as u64);
        let expired: Vec<Arc<Block>> = self
            .blocks
            .all()
            .into_iter()
            .filter(|b| b.meta.retention_start_unix_nano() < horizon)
            .collect();
        for block in &expired {
            self.blocks.forget(block);
            tracing::info!(block = %block.meta.block_id, environment = %block.meta.environment, "block is past retention");
        }
        let count = expired.len();
        self.schedule_deletion(expired);
        count
    }

    /// Published WAL checkpoints of the nodes whose cut blocks are in the list.
    async fn node_checkpoints(&self) -> std::collections::HashMap<String, u64> {
        let mut nodes: Vec<String> = self
            .blocks
            .all()
            .iter()
            .filter(|b| b.meta.wal_through_segment > 0)
            .map(|b| b.meta.node_id.clone())
            .collect();
        nodes.sort();
        nodes.dedup();
        let mut checkpoints = std::collections::HashMap::new();
        for node in nodes {
            let Ok(object) = self.blocks.store().get(&node_checkpoint_path(&node)).await else {
                continue;
            };
            let Ok(bytes) = object.bytes().await else {
                continue;
            };
            let through = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["through_segment"].as_u64());
            if let Some(through) = through {
                checkpoints.insert(node, through);
            }
        }
        checkpoints
    }

    /// The blocks of an environment to merge next (see [`MaintenancePolicy::pick`]). A cut
    /// block qualifies only once its node's published checkpoint covers it: until then a crash
    /// of that node could undo the cut and replay the spans.
    fn compaction_candidates(
        &self,
        environment: &str,
        checkpoints: &std::collections::HashMap<String, u64>,
    ) -> Option<Vec<Arc<Block>>> {
        let eligible: Vec<Arc<Block>> = self
            .blocks
            .blocks(environment)
            .into_iter()
            .filter(|b| {
                b.meta.wal_through_segment == 0
                    || checkpoints
                        .get(&b.meta.node_id)
                        .is_some_and(|through| *through >= b.meta.wal_through_segment)
            })
            .collect();
        self.config.maintenance.pick(eligible)
    }

    /// Whether this node still holds the lease of `window`: the window is current and the
    /// lease object names this node. Checked right before a compaction's commit point.
    async fn holds_lease(&self, window: u64) -> bool {
        if self.lease_window() != window {
            return false;
        }
        let path = object_store::path::Path::from(format!("leases/maintenance/{window:020}"));
        match self.blocks.store().get(&path).await {
            Ok(holder) => holder
                .bytes()
                .await
                .is_ok_and(|holder| holder.as_ref() == self.config.node_id.as_bytes()),
            Err(_) => false,
        }
    }

    /// Merges `inputs` into one block under the lease of `window`. Returns false, publishing
    /// nothing, when the lease is no longer this node's at the commit point: another node may
    /// be compacting the same inputs under the next window, and two merged blocks replacing
    /// the same inputs would show their spans twice.
    async fn compact(
        &self,
        environment: &str,
        inputs: &[Arc<Block>],
        window: u64,
    ) -> Result<bool, StorageError> {
        let (environment_name, node) = (environment.to_owned(), self.config.node_id.clone());
        // What the inputs replaced is replaced too: their leftovers may outlive them (a stop
        // within the grace period), and once an input's own meta is gone, only this list keeps
        // a listing from taking those leftovers for live blocks.
        let replaces: Vec<String> = inputs
            .iter()
            .flat_map(|b| std::iter::once(&b.meta.block_id).chain(&b.meta.replaces))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let oldest_ingest = inputs
            .iter()
            .map(|b| b.meta.retention_start_unix_nano())
            .min()
            .unwrap_or(0);
        // Oldest block first (ids sort by creation): where two inputs hold a span, the merge
        // keeps the copy of the later one.
        let mut blocks = inputs.to_vec();
        blocks.sort_by(|a, b| a.meta.block_id.cmp(&b.meta.block_id));
        let store = Arc::clone(self.blocks.store());
        let (head, max_head_bytes) = (Arc::clone(&self.head), self.config.max_head_bytes);
        let cuts_running = Arc::clone(&self.cuts_running);
        let built = on_thread_at_nice("combray-compact", COMPACTION_NICE, move |runtime| {
            let cuts_behind = move || {
                cuts_running.load(std::sync::atomic::Ordering::SeqCst) > 0
                    && compaction_gives_way(head.memory_bytes(), max_head_bytes)
            };
            let origin = BlockOrigin {
                environment: &environment_name,
                node_id: &node,
                wal_through_segment: 0,
                now_unix_nano: crate::now_unix_nano(),
                zstd_level: COMPACTED_ZSTD_LEVEL,
                pause_while: Some(&cuts_behind),
            };
            let mut inputs = Vec::with_capacity(blocks.len());
            for block in blocks {
                origin.wait_while_paused();
                let batches = runtime.block_on(block.read_all_stored(&store, MERGE_BATCH_ROWS))?;
                inputs.push((block, batches));
            }
            let mut built = merge_blocks(inputs, &origin)?;
            built.meta.replaces = replaces;
            built.meta.ingested_unix_nano = oldest_ingest;
            Ok(built)
        })
        .await?;
        #[cfg(test)]
        tokio::time::sleep(self.config.maintenance.pause_before_commit).await;
        let mut built = built;
        built.meta.lease_window = Some(window);
        let Some(merged) = self
            .blocks
            .publish_if(built, self.holds_lease(window))
            .await?
        else {
            tracing::warn!(
                window,
                inputs = inputs.len(),
                "the maintenance lease ran out before this compaction's commit point; abandoned it"
            );
            return Ok(false);
        };
        tracing::info!(block = %merged.meta.block_id, inputs = inputs.len(), spans = merged.meta.span_count, "compacted blocks");
        self.blocks.add(merged);
        self.schedule_deletion(inputs.to_vec());
        Ok(true)
    }

    fn schedule_deletion(&self, blocks: Vec<Arc<Block>>) {
        let due = Instant::now() + self.config.maintenance.deletion_grace;
        self.pending_deletions
            .lock()
            .extend(blocks.into_iter().map(|b| (due, b)));
    }

    async fn delete_after_grace(&self) -> Result<usize, StorageError> {
        // The cache must stop naming these blocks before their objects go.
        self.save_block_cache_or_drop().await;
        let due: Vec<Arc<Block>> = {
            let mut pending = self.pending_deletions.lock();
            let now = Instant::now();
            let (due, waiting): (Vec<_>, Vec<_>) =
                pending.drain(..).partition(|(at, _)| *at <= now);
            *pending = waiting;
            due.into_iter().map(|(_, block)| block).collect()
        };
        for (index, block) in due.iter().enumerate() {
            if let Err(error) = self.blocks.delete(block).await {
                let later = Instant::now() + self.config.maintenance.deletion_grace;
                self.pending_deletions
                    .lock()
                    .extend(due[index..].iter().cloned().map(|b| (later, b)));
                return Err(error);
            }
        }
        Ok(due.len())
    }
}

#[cfg(test)]
mod tests;
