//! A span delivered twice is held once. Exporters resend a batch whose answer they missed, and
//! every copy passes the WAL; the head keeps the first and drops copies that are the same span
//! again, so SQL and every aggregate over the head count it once.
//!
//! A second copy that differs (an X-Ray segment stored in progress, then complete) is kept: the
//! later copy is the one that counts, and it cannot replace a row of an immutable chunk. Readers
//! of whole traces already keep the later copy, and blocks keep only it when they are built and
//! merged (see `block::rows::SortedRow::sorted`).

use std::collections::HashMap;

use arrow_array::{BooleanArray, RecordBatch};
use combray_model::TraceId;

use super::{Chunk, EnvironmentHead};
use crate::StorageError;

/// Where the copy of a span seen so far is: a chunk of the head, or a row of the new chunk.
#[derive(Clone, Copy)]
enum Seen<'a> {
    Held(&'a Chunk, usize),
    New(usize),
}

type Copies<'a> = HashMap<(TraceId, [u8; 8]), Seen<'a>, foldhash::fast::RandomState>;

/// Which rows of `chunk` to keep: `None` when no row repeats a span; otherwise a mask without
/// the rows that are the same span as one the head holds or an earlier row of the chunk.
pub(super) fn new_rows_mask(head: &EnvironmentHead, chunk: &Chunk) -> Option<BooleanArray> {
    let mut copies = Copies::default();
    let mut loaded: std::collections::HashSet<TraceId, foldhash::fast::RandomState> =
        Default::default();
    let mut keep: Option<Vec<bool>> = None;
    for row in 0..chunk.len() {
        let trace = chunk.trace_id(row);
        if let Some(entry) = head.traces.get(&trace) {
            if loaded.insert(trace) {
                for reference in &entry.rows {
                    let (held, held_row) = head.row(*reference);
                    let key = (trace, *held.span_id(held_row).as_bytes());
                    copies.insert(key, Seen::Held(held, held_row));
                }
            }
        }
        let key = (trace, *chunk.span_id(row).as_bytes());
        let repeated = match copies.get(&key) {
            Some(Seen::Held(held, held_row)) => same_span(held, *held_row, chunk, row),
            Some(Seen::New(earlier)) => same_span(chunk, *earlier, chunk, row),
            None => false,
        };
        if repeated {
            keep.get_or_insert_with(|| vec![true; chunk.len()])[row] = false;
        } else {
            copies.insert(key, Seen::New(row));
        }
    }
    keep.map(BooleanArray::from)
}

/// Whether two rows with one trace and span id are the same span: what a resend repeats byte
/// for byte (an updated copy differs in its end, status or attributes).
fn same_span(a: &Chunk, row_a: usize, b: &Chunk, row_b: usize) -> bool {
    a.start_unix_nano(row_a) == b.start_unix_nano(row_b)
        && a.duration_nano(row_a) == b.duration_nano(row_b)
        && a.status_code(row_a) == b.status_code(row_b)
        && a.name(row_a) == b.name(row_b)
        && a.attribute_bytes(row_a) == b.attribute_bytes(row_b)
}

/// The rows of `batch` the mask keeps.
pub(super) fn keep_rows(
    batch: &RecordBatch,
    mask: &BooleanArray,
) -> Result<RecordBatch, StorageError> {
    arrow_select::filter::filter_record_batch(batch, mask)
        .map_err(|e| StorageError::Codec(e.to_string()))
}
