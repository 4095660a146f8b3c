//! What an operator chooses about storage (the `[wal]`, `[blocks]` and `[storage]` sections of
//! the configuration), with its defaults. [`StorageConfig`] adds where it runs: the data
//! directory, the opened object store and the node's id.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;

use crate::maintenance::MaintenancePolicy;
use crate::store::{CutPolicy, StorageConfig};
use crate::wal::{FsyncPolicy, WalConfig};

/// How often a node looks for blocks other nodes published and runs a maintenance pass.
const POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Storage's operator settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSettings {
    /// Where blocks live (a directory, `file://` or `s3://` URL); `None`: `<data-dir>/objects`.
    pub url: Option<String>,
    /// This node's id in the object store; `None`: the one kept in the data directory.
    pub node_id: Option<String>,
    /// When the WAL syncs.
    pub wal_fsync: FsyncPolicy,
    /// Size at which a WAL segment is closed.
    pub wal_segment_bytes: u64,
    /// Start despite damaged WAL segments, keeping them in quarantine.
    pub wal_skip_damaged: bool,
    /// Memory the head may hold before appends are refused.
    pub max_head_bytes: usize,
    /// When the head is cut into a block.
    pub cut: CutPolicy,
    /// How often to look for other nodes' blocks and run maintenance.
    pub poll_interval: Duration,
    /// How long blocks are kept.
    pub retention: Duration,
    /// Length of one maintenance lease window.
    pub lease_window: Duration,
    /// Memory the inputs of one compaction may take decoded.
    pub compact_max_input_bytes: u64,
    /// Memory blocks' trace indexes are kept in between reads.
    pub trace_index_cache_bytes: usize,
}

impl StorageSettings {
    /// The defaults for a server sized to `memory_bytes`: the head may take 5/16 of it, one
    /// compaction 1/8 for its inputs (and as much again for the block it builds), and the trace
    /// indexes kept between reads 1/16.
    pub fn for_memory(memory_bytes: u64) -> Self {
        let wal = WalConfig::new(PathBuf::new());
        let maintenance = MaintenancePolicy::default();
        Self {
            url: None,
            node_id: None,
            wal_fsync: wal.fsync,
            wal_segment_bytes: wal.segment_bytes,
            wal_skip_damaged: wal.skip_damaged,
            max_head_bytes: usize::try_from(memory_bytes / 16 * 5).unwrap_or(usize::MAX),
            cut: CutPolicy::default(),
            poll_interval: POLL_INTERVAL,
            retention: maintenance.retention,
            lease_window: maintenance.lease_window,
            compact_max_input_bytes: memory_bytes / 8,
            trace_index_cache_bytes: usize::try_from(memory_bytes / 16).unwrap_or(usize::MAX),
        }
    }

    /// The configuration of a node `node_id` over `data_dir` and `object_store`.
    pub fn config(
        &self,
        data_dir: PathBuf,
        object_store: Arc<dyn ObjectStore>,
        node_id: String,
    ) -> StorageConfig {
        let mut config = StorageConfig::new(data_dir, object_store);
        config.wal.fsync = self.wal_fsync;
        config.wal.segment_bytes = self.wal_segment_bytes;
        config.wal.skip_damaged = self.wal_skip_damaged;
        config.max_head_bytes = self.max_head_bytes;
        config.node_id = node_id;
        config.cut = self.cut;
        config.maintenance.retention = self.retention;
        config.maintenance.lease_window = self.lease_window;
        config.maintenance.compact_max_input_bytes = self.compact_max_input_bytes;
        config.trace_index_cache_bytes = self.trace_index_cache_bytes;
        config
    }
}
