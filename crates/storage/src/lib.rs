//! Combray's storage: the durable write path and the read API over what it holds.
//!
//! Write path: [`Storage::append`] encodes a [`combray_model::SpanBatch`] into the head's columns
//! once, appends those (as a [`WalRecord`]) to the [`wal`] and waits until they are durable under
//! the configured [`wal::FsyncPolicy`]; only then are the columns added to the in-memory
//! [`head`], where they are queryable at once, and only then may the caller acknowledge them. On
//! start, the WAL is replayed into the head.
//!
//! Read path: [`SpanStore`] answers over the columnar head (Arrow record batches with the schema
//! in [`head::schema`]) and the immutable [`block`]s the head is cut into; query engines read
//! both through [`scan`], in one table layout, without knowing either.
//!
//! Maintenance: [`Storage::cut`] turns the head into Parquet blocks in an object store and
//! truncates the WAL, in an order that survives a crash at any step.

mod append;
mod backend;
pub mod block;
mod checkpoint;
mod cut;
mod durable;
mod error;
pub mod head;
mod maintenance;
pub mod metrics;
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
pub use cut::CutReport;
pub use durable::{sync_dir, write_file_durably};
pub use error::{StorageError, StorageErrorKind};
pub use head::{Head, TraceSummary};
pub use maintenance::{MaintenancePolicy, MaintenanceReport};
pub use read::{Snapshot, SpanStore};
pub use record::WalRecord;
pub use settings::StorageSettings;
pub use store::{decode_wal_record, CutPolicy, Storage, StorageConfig};

pub(crate) use combray_model::now_unix_nano;
