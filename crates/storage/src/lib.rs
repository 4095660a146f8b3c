//! Combray's storage: the durable write path and the read API over what it holds.
//!
//! Write path: [`Storage::append`] serializes a [`combray_model::SpanBatch`], appends it to the
//! [`wal`] and waits until it is durable under the configured [`wal::FsyncPolicy`]; only then is
//! the batch added to the in-memory [`head`], where it is queryable at once, and only then may the
//! caller acknowledge it. On start, the WAL is replayed into the head.
//!
//! Read path: [`Storage::head`] gives the columnar head (Arrow record batches with the schema in
//! [`head::schema`]), which is exactly what immutable blocks will hold.

pub mod block;
mod error;
pub mod head;
pub mod metrics;
mod store;
pub mod wal;

pub use error::{StorageError, StorageErrorKind};
pub use store::{Storage, StorageConfig};
