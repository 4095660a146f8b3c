//! The storage facade: WAL-then-head on the write path, the head on the read path.

use std::path::PathBuf;
use std::sync::Arc;

use combray_model::SpanBatch;

use crate::head::Head;
use crate::wal::{ReplayReport, Wal, WalConfig, WalStats};
use crate::StorageError;

/// Record type byte of a WAL record holding a postcard-encoded [`SpanBatch`].
const RECORD_SPAN_BATCH: u8 = 1;

/// Where and how storage keeps data.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The write-ahead log.
    pub wal: WalConfig,
    /// Appends are refused with [`StorageError::HeadFull`] while the head holds more than this.
    pub max_head_bytes: usize,
}

impl StorageConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            wal: WalConfig::new(data_dir.join("wal")),
            max_head_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

/// Durable span storage.
pub struct Storage {
    wal: Wal,
    head: Arc<Head>,
    replay: ReplayReport,
    max_head_bytes: usize,
}

fn encode_record(batch: &SpanBatch) -> Result<Vec<u8>, StorageError> {
    let mut payload = vec![RECORD_SPAN_BATCH];
    postcard::to_io(batch, &mut payload).map_err(|e| StorageError::Codec(e.to_string()))?;
    Ok(payload)
}

fn decode_record(payload: &[u8]) -> Result<SpanBatch, StorageError> {
    match payload.split_first() {
        Some((&RECORD_SPAN_BATCH, body)) => {
            postcard::from_bytes(body).map_err(|e| StorageError::Codec(e.to_string()))
        }
        Some((other, _)) => Err(StorageError::Codec(format!(
            "unknown WAL record type {other}"
        ))),
        None => Err(StorageError::Codec("empty WAL record".into())),
    }
}

impl Storage {
    /// Opens storage: replays the WAL into a fresh head, then accepts appends. Blocking.
    pub fn open(config: StorageConfig) -> Result<Self, StorageError> {
        let head = Arc::new(Head::new());
        let mut undecodable = 0u64;
        let (wal, replay) = Wal::open(config.wal, |payload| {
            // A record that passed its checksum but does not decode was written by a build with
            // a different record layout; skipping it (loudly) beats refusing to start.
            match decode_record(payload) {
                Ok(batch) => head.insert(&batch),
                Err(error) => {
                    undecodable += 1;
                    tracing::error!(%error, "skipping a WAL record that does not decode");
                    Ok(())
                }
            }
        })?;
        tracing::info!(
            segments = replay.segments,
            records = replay.records,
            truncated_bytes = replay.truncated_bytes,
            undecodable,
            spans = head.span_count(),
            "write-ahead log replayed"
        );
        Ok(Self {
            wal,
            head,
            replay,
            max_head_bytes: config.max_head_bytes,
        })
    }

    /// Makes a batch durable, then queryable. Returns only once the WAL policy is satisfied, so a
    /// caller that acknowledges after this returns never acknowledges data a crash could lose.
    pub async fn append(&self, batch: &SpanBatch) -> Result<(), StorageError> {
        if batch.span_count() == 0 {
            return Ok(());
        }
        let held = self.head.memory_bytes();
        if held > self.max_head_bytes {
            return Err(StorageError::HeadFull {
                bytes: held,
                limit: self.max_head_bytes,
            });
        }
        self.wal.append(encode_record(batch)?).await?;
        self.head.insert(batch)
    }

    /// The in-memory head, for reads.
    pub fn head(&self) -> &Arc<Head> {
        &self.head
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
