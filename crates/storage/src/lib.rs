//! Combray's storage: the durable write path and the read API over what it holds.
//!
//! Write path: [`Storage::append`] encodes a [`combray_model::SpanBatch`] into the head's columns
//! once, appends those (as a [`WalRecord`]) to the [`wal`] and waits until they are durable under
//! the configured [`wal::FsyncPolicy`]; only then are the columns added to the in-memory
//! [`Head`], where they are queryable at once, and only then may the caller acknowledge them. On
//! start, the WAL is replayed into the head.
//!
//! Read path: [`SpanStore`] answers over the columnar head (Arrow record batches) and the
//! immutable Parquet blocks the head is cut into; query engines read both through [`scan`], in
//! one table layout, without knowing either.
//!
//! Maintenance: [`Storage::cut`] turns the head into Parquet blocks in an object store and
//! truncates the WAL, in an order that survives a crash at any step.

mod append;
mod backend;
mod block;
mod checkpoint;
mod cut;
mod durable;
mod error;
mod head;
mod maintenance;
mod metrics;
mod priority;
mod read;
mod record;
mod root_label;
pub mod scan;
mod settings;
mod store;
#[cfg(test)]
mod test_support;
pub mod wal;

pub use append::PendingAppend;
pub use backend::open_object_store;
pub use block::Blocks;
pub use cut::CutReport;
pub use durable::{sync_dir, write_file_durably};
pub use error::{StorageError, StorageErrorKind};
pub use head::{Head, TraceSummary};
pub use maintenance::{MaintenancePolicy, MaintenanceReport};
pub use metrics::{HistogramSnapshot, LATENCY_BUCKETS_SECONDS};
pub use read::{Snapshot, SpanStore};
pub use record::WalRecord;
pub use settings::StorageSettings;
pub use store::{decode_wal_record, CutPolicy, Storage, StorageConfig};

pub(crate) use combray_model::now_unix_nano;

/// Storage's inner parts, for the crate's own benchmarks and fixture tests and for the fuzz
/// targets, which drive them directly. Other crates read through [`SpanStore`] and [`scan`].
#[doc(hidden)]
pub mod internals {
    pub use crate::block::wide::{widen, BlockColumns};
    pub use crate::block::{
        build_block, merge_blocks, Block, BlockMeta, BlockOrigin, TraceIndex, COMPACTED_ZSTD_LEVEL,
        CUT_ZSTD_LEVEL,
    };
    pub use crate::head::{to_record_batch, Chunk};
}
