//! The write path's one step: WAL first, then the head, with the two halves separable so a
//! caller that acknowledges nobody (the X-Ray UDP port) can encode its next batch while the
//! previous one waits for its fsync.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use combray_model::SpanBatch;
use tokio::sync::OwnedRwLockReadGuard;

use crate::head::Head;
use crate::record::WalRecord;
use crate::{Storage, StorageError};

type Durable = Pin<Box<dyn Future<Output = Result<(), StorageError>> + Send>>;

/// A batch whose WAL record is queued: [`PendingAppend::finish`] waits until it is durable,
/// then makes it queryable. Records reach the log, and so the head after a restart, in the
/// order their appends began.
///
/// It holds the cut's gate shared until it finishes, so a cut waits for it: drive `finish`
/// from a task that does not itself wait to begin another append, or a cut in between would
/// wait on it forever.
#[must_use = "the batch is only queryable once `finish` has run"]
pub struct PendingAppend {
    queued: Option<Queued>,
}

struct Queued {
    durable: Durable,
    record: WalRecord,
    head: Arc<Head>,
    _gate: OwnedRwLockReadGuard<()>,
}

impl PendingAppend {
    /// Waits for the record to be durable (as the WAL's fsync policy defines it), then inserts
    /// the batch into the head.
    pub async fn finish(self) -> Result<(), StorageError> {
        let Some(queued) = self.queued else {
            return Ok(());
        };
        queued.durable.await?;
        let WalRecord {
            environment,
            columns,
        } = queued.record;
        queued.head.insert_columns(&environment, columns)
    }
}

impl Storage {
    /// Makes a batch durable, then queryable. Returns only once the WAL policy is satisfied, so a
    /// caller that acknowledges after this returns never acknowledges data a crash could lose.
    pub async fn append(&self, batch: &SpanBatch) -> Result<(), StorageError> {
        self.begin_append(batch).await?.finish().await
    }

    /// Checks the head has room, encodes the batch and queues its WAL record, without waiting
    /// for the record to be durable. Fails (with [`StorageError::HeadFull`] and the like) before
    /// anything is written.
    pub async fn begin_append(&self, batch: &SpanBatch) -> Result<PendingAppend, StorageError> {
        if batch.span_count() == 0 {
            return Ok(PendingAppend { queued: None });
        }
        let held = self.head.memory_bytes();
        if held > self.config.max_head_bytes {
            return Err(StorageError::HeadFull {
                bytes: held,
                limit: self.config.max_head_bytes,
            });
        }
        let record = WalRecord::of(batch)?;
        let payload = record.encode()?;
        let gate = Arc::clone(&self.gate).read_owned().await;
        let slot = self.wal.reserve().await?;
        Ok(PendingAppend {
            queued: Some(Queued {
                durable: Box::pin(slot.append(payload)),
                record,
                head: Arc::clone(&self.head),
                _gate: gate,
            }),
        })
    }
}
