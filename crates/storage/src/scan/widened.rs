//! A head chunk in the block layout, made the first time a scan needs it and kept as long as the
//! chunk lives: chunks are immutable, so every later query reads the same widened batch.
//!
//! The widened columns are memory the head holds, so they count in the head's bytes (and so
//! against `--max-head-bytes`) from when they are made until the chunk is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::block::wide::{widen, WideBatch};
use crate::head::Chunk;
use crate::StorageError;

/// Where a chunk keeps its widened form.
#[derive(Default)]
pub(crate) struct WideSlot {
    wide: OnceLock<(Arc<WideBatch>, usize)>,
    /// The head's count of widened bytes, for chunks that are in a head.
    ledger: OnceLock<Arc<AtomicUsize>>,
}

impl WideSlot {
    /// Counts this chunk's widened bytes in `ledger` from now on.
    pub(crate) fn count_in(&self, ledger: Arc<AtomicUsize>) {
        let _ = self.ledger.set(ledger);
    }

    /// The chunk in the block layout, widened now if no scan has yet.
    pub(crate) fn get_or_widen(&self, chunk: &Chunk) -> Result<Arc<WideBatch>, StorageError> {
        if let Some((wide, _)) = self.wide.get() {
            return Ok(Arc::clone(wide));
        }
        let wide = Arc::new(widen(chunk)?);
        let bytes = added_bytes(chunk, &wide);
        // Two scans may widen the same chunk at once; the first to finish is kept.
        if self.wide.set((Arc::clone(&wide), bytes)).is_ok() {
            if let Some(ledger) = self.ledger.get() {
                ledger.fetch_add(bytes, Ordering::Relaxed);
            }
            return Ok(wide);
        }
        let (kept, _) = self.wide.get().expect("set by the scan that won");
        Ok(Arc::clone(kept))
    }
}

impl Drop for WideSlot {
    fn drop(&mut self) {
        if let (Some((_, bytes)), Some(ledger)) = (self.wide.get(), self.ledger.get()) {
            ledger.fetch_sub(*bytes, Ordering::Relaxed);
        }
    }
}

/// Bytes the widened batch holds beyond the chunk's: the span columns are shared, not copied.
fn added_bytes(chunk: &Chunk, wide: &WideBatch) -> usize {
    let source = chunk.record_batch();
    let schema = wide.batch.schema();
    schema
        .fields()
        .iter()
        .zip(wide.batch.columns())
        .filter(|(field, array)| {
            source
                .column_by_name(field.name())
                .is_none_or(|shared| !Arc::ptr_eq(shared, array))
        })
        .map(|(_, array)| array.get_array_memory_size())
        .sum()
}
