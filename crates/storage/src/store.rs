//! The storage facade: WAL-then-head on the write path, head plus blocks on the read path, and
//! the cut that turns the head into blocks (in `cut.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use parking_lot::Mutex;
use tokio::sync::RwLock;

use crate::block::{Block, Blocks, Owner};
use crate::head::Head;
use crate::maintenance::MaintenancePolicy;
use crate::record::WalRecord;
use crate::wal::{ReplayReport, Wal, WalConfig, WalStats};
use crate::{checkpoint, StorageError};

/// When the head is cut into blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CutPolicy {
    /// Cut once the head holds this many bytes.
    pub max_head_bytes: usize,
    /// Cut once the oldest span in the head has waited this long.
    pub max_age: Duration,
}

impl Default for CutPolicy {
    /// 64 MiB makes blocks of some hundreds of thousands of spans, large enough for Parquet's
    /// encodings to pay; 30 s bounds how much WAL a restart replays when traffic is light.
    fn default() -> Self {
        Self {
            max_head_bytes: 64 * 1024 * 1024,
            max_age: Duration::from_secs(30),
        }
    }
}

/// Where and how storage keeps data.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The write-ahead log.
    pub wal: WalConfig,
    /// Appends are refused with [`StorageError::HeadFull`] while the head holds more than this.
    pub max_head_bytes: usize,
    /// Where blocks live.
    pub object_store: Arc<dyn ObjectStore>,
    /// This node's identity in the object store.
    pub node_id: String,
    /// When to cut blocks.
    pub cut: CutPolicy,
    /// Compaction, retention and the lease that coordinates them.
    pub maintenance: MaintenancePolicy,
    /// Local cache of the block list, read at start instead of listing the store.
    pub block_index_cache: Option<PathBuf>,
    /// Bytes of blocks' trace indexes kept in memory between reads (least recently used go).
    pub trace_index_cache_bytes: usize,
}

impl StorageConfig {
    /// Defaults for a data directory with blocks in `object_store`.
    pub fn new(data_dir: PathBuf, object_store: Arc<dyn ObjectStore>) -> Self {
        Self {
            wal: WalConfig::new(data_dir.join("wal")),
            max_head_bytes: 4 * 1024 * 1024 * 1024,
            object_store,
            node_id: "local".into(),
            cut: CutPolicy::default(),
            maintenance: MaintenancePolicy::default(),
            block_index_cache: Some(data_dir.join("block-index.bin")),
            trace_index_cache_bytes: crate::block::DEFAULT_TRACE_INDEX_CACHE_BYTES,
        }
    }
}

/// Durable span storage.
pub struct Storage {
    pub(crate) wal: Wal,
    pub(crate) head: Arc<Head>,
    pub(crate) blocks: Blocks,
    replay: ReplayReport,
    pub(crate) config: StorageConfig,
    /// Appends hold it shared from WAL append to head insert; a cut holds it exclusively while
    /// it rotates the WAL and snapshots the head, so the two always agree.
    pub(crate) gate: Arc<RwLock<()>>,
    /// Blocks of a failed cut that could not be deleted yet; the next cut deletes them first.
    pub(crate) orphans: Mutex<Vec<Arc<Block>>>,
    /// Blocks of the running cut that are listed while the head still holds their spans;
    /// snapshots take it shared and leave these blocks out.
    pub(crate) cut_in_flight: parking_lot::RwLock<std::collections::HashSet<String>>,
    /// Cuts running now. Compaction gives way to them only while one runs: with none (at
    /// shutdown, the final cut waits for maintenance), waiting for the head to shrink would
    /// wait forever.
    pub(crate) cuts_running: Arc<std::sync::atomic::AtomicUsize>,
    /// Replaced or expired blocks whose objects go once their grace period is over.
    pub(crate) pending_deletions: Mutex<Vec<(std::time::Instant, Arc<Block>)>>,
    owner: Owner,
}

/// Decodes a WAL record's payload, for operator tools.
pub fn decode_wal_record(payload: &[u8]) -> Result<WalRecord, StorageError> {
    WalRecord::decode(payload)
}

fn replay_wal(
    config: &StorageConfig,
    checkpoint: u64,
    head: &Head,
) -> Result<(Wal, ReplayReport), StorageError> {
    let (wal, replay) = Wal::open_after_checkpoint(config.wal.clone(), checkpoint, |payload| {
        // A record that passed its checksum but does not decode is damage (a decode error is of
        // kind Corrupt): replay quarantines its segment rather than drop acknowledged spans.
        let record = WalRecord::decode(payload)?;
        head.insert_columns(&record.environment, record.columns)
    })?;
    tracing::info!(
        segments = replay.segments,
        records = replay.records,
        truncated_bytes = replay.truncated_bytes,
        skipped_segments = replay.skipped_segments,
        skipped_records = replay.skipped_records,
        spans = head.span_count(),
        "write-ahead log replayed"
    );
    Ok((wal, replay))
}

impl Storage {
    /// Opens storage: loads the block list, replays the WAL past the last checkpoint into a
    /// fresh head, then accepts appends.
    pub async fn open(config: StorageConfig) -> Result<Self, StorageError> {
        let checkpoint = checkpoint::read(&config.wal.dir)?;
        let owner = Owner {
            node_id: config.node_id.clone(),
            started_unix_nano: crate::now_unix_nano(),
            checkpoint_at_start: checkpoint,
        };
        let store = Arc::clone(&config.object_store);
        let cached = config
            .block_index_cache
            .as_deref()
            .and_then(|path| Blocks::load_cache(Arc::clone(&store), path));
        let blocks = match cached {
            // The first refresh reconciles the cache with the store.
            Some(blocks) => {
                blocks
                    .drop_unfinished_cuts(&config.node_id, checkpoint)
                    .await?;
                tracing::info!(
                    blocks = blocks.all().len(),
                    "block list read from the local cache"
                );
                blocks
            }
            None => {
                let blocks = Blocks::load(store, &config.node_id, checkpoint).await?;
                tracing::info!(
                    blocks = blocks.all().len(),
                    "block list read from the object store"
                );
                blocks
            }
        };
        blocks.set_trace_index_budget(config.trace_index_cache_bytes);
        let head = Arc::new(Head::new());
        let (wal, replay) = tokio::task::spawn_blocking({
            let (config, head) = (config.clone(), Arc::clone(&head));
            move || replay_wal(&config, checkpoint, &head)
        })
        .await
        .map_err(|e| StorageError::Closed(format!("WAL replay panicked: {e}")))??;
        let storage = Self {
            wal,
            head,
            blocks,
            replay,
            config,
            gate: Arc::new(RwLock::new(())),
            orphans: Mutex::new(Vec::new()),
            cut_in_flight: parking_lot::RwLock::new(std::collections::HashSet::new()),
            cuts_running: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            pending_deletions: Mutex::new(Vec::new()),
            owner,
        };
        // The local checkpoint is durable and this node's unfinished cuts are gone, so other
        // nodes may compact everything it covers (this also repairs a publish lost to a crash).
        if checkpoint > 0 {
            storage.publish_checkpoint(checkpoint).await;
        }
        Ok(storage)
    }

    /// The in-memory head.
    pub fn head(&self) -> &Arc<Head> {
        &self.head
    }

    /// Published blocks.
    pub fn blocks(&self) -> &Blocks {
        &self.blocks
    }

    /// Picks up blocks other nodes sharing the object store published or deleted.
    pub async fn refresh_blocks(&self) -> Result<(usize, usize), StorageError> {
        self.blocks.refresh(&self.owner).await
    }

    /// Writes the local block index cache if the block list changed since it was last written.
    pub async fn save_block_cache(&self) -> Result<(), StorageError> {
        let Some(path) = self.config.block_index_cache.clone() else {
            return Ok(());
        };
        if !self.blocks.is_dirty() {
            return Ok(());
        }
        self.blocks.mark_clean();
        // A small local file: written in place rather than on the blocking pool.
        let result = self.blocks.save_cache(&path);
        if result.is_err() {
            self.blocks.dirty_again();
        }
        result
    }

    /// Saves the cache; if that fails, removes it, so the next start lists the store instead of
    /// trusting a cache that misses blocks.
    pub(crate) async fn save_block_cache_or_drop(&self) {
        if let Err(error) = self.save_block_cache().await {
            tracing::warn!(%error, "cannot write the block index cache; removing it so start-up lists the store");
            if let Some(path) = &self.config.block_index_cache {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The WAL's counters.
    pub fn wal_stats(&self) -> &Arc<WalStats> {
        self.wal.stats()
    }

    /// What start-up replay found.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.replay
    }

    /// Stops the WAL writer after it commits what is queued. Blocking.
    pub fn close(&mut self) {
        self.wal.close();
    }
}
