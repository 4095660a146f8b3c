//! Head chunks (or compaction's merged batches) → one block: rows sorted by trace id (then
//! start) so a trace is one contiguous row range, Parquet with zstd and dictionaries written one
//! row group at a time, and the trace index beside it.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_select::interleave::interleave_record_batch;
use bytes::Bytes;
use combray_model::XRAY_DOCUMENT_ATTRIBUTE;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::meta::{BlockMeta, META_FORMAT_VERSION};
use super::rows::{index_rows, Operations, RowKeys, SortedRow};
use super::trace_index::TraceIndex;
use super::wide::{
    widen_with, BlockColumns, ColumnType, ATTRIBUTE_PREFIX, OVERFLOW_COLUMN, WIDE_SCHEMA_VERSION,
};
use crate::head::schema::column;
use crate::head::Chunk;
use crate::StorageError;

/// Rows per Parquet row group: small enough that reading one trace touches little data.
const ROW_GROUP_ROWS: usize = 65_536;

/// A block ready to publish.
pub struct BuiltBlock {
    /// Its meta document.
    pub meta: BlockMeta,
    /// `data.parquet`.
    pub data: Bytes,
    /// `traces.idx`.
    pub traces: Bytes,
}

/// Who is writing, and what WAL range the block covers.
pub struct BlockOrigin<'a> {
    /// Environment of every chunk.
    pub environment: &'a str,
    /// Writing node.
    pub node_id: &'a str,
    /// Last WAL segment covered.
    pub wal_through_segment: u64,
    /// Creation time.
    pub now_unix_nano: u64,
    /// zstd level of the data pages: [`CUT_ZSTD_LEVEL`] or [`COMPACTED_ZSTD_LEVEL`].
    pub zstd_level: i32,
    /// Asked before each row group is written; while it answers `true` the writer sleeps.
    /// Compaction gives way with it to cuts that fall behind.
    pub pause_while: Option<&'a (dyn Fn() -> bool + Sync)>,
}

/// How often a paused writer asks again.
const PAUSE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

impl BlockOrigin<'_> {
    /// Returns once [`BlockOrigin::pause_while`] (if any) says the writer may go on.
    pub fn wait_while_paused(&self) {
        if let Some(paused) = self.pause_while {
            while paused() {
                std::thread::sleep(PAUSE_POLL);
            }
        }
    }
}

/// zstd level of blocks cut from the head. Cuts run beside ingest, so they take the fastest
/// level; the small ones are rewritten by compaction, and a large one stays somewhat bigger.
pub const CUT_ZSTD_LEVEL: i32 = 1;
/// zstd level of compacted blocks, which are written once, at low priority, and kept long.
pub const COMPACTED_ZSTD_LEVEL: i32 = 3;

fn codec(error: impl std::fmt::Display) -> StorageError {
    StorageError::Codec(error.to_string())
}

/// A new time-ordered block id: creation milliseconds, then randomness.
pub(super) fn new_block_id(now_unix_nano: u64) -> String {
    format!(
        "{:013x}{:012x}",
        now_unix_nano / 1_000_000,
        rand::random::<u64>() & 0xffff_ffff_ffff
    )
}

/// Builds a block from chunks of one environment.
pub fn build_block(
    chunks: &[Arc<Chunk>],
    origin: &BlockOrigin<'_>,
) -> Result<BuiltBlock, StorageError> {
    let columns = BlockColumns::choose(chunks.iter().map(|chunk| chunk.as_ref()))?;
    let batches: Vec<&RecordBatch> = chunks.iter().map(|chunk| chunk.record_batch()).collect();
    write_sorted(&batches, columns.names(), origin, |rows| {
        widen_with(&Chunk::new(rows)?, &columns)
    })
}

/// Writes the rows of `batches` as a block, sorted by trace id, then start (a stable sort:
/// ties keep input order). `to_block_layout` turns each row group's gathered rows into the
/// block layout with `columns`.
///
/// One row group at a time: its rows are gathered, converted and encoded before the next is
/// gathered, so the working memory is a row group's, not the whole block's (whole-block buffers
/// of a few hundred thousand spans were faulted in afresh at every cut).
pub(super) fn write_sorted(
    batches: &[&RecordBatch],
    columns: BTreeMap<String, ColumnType>,
    origin: &BlockOrigin<'_>,
    to_block_layout: impl Fn(RecordBatch) -> Result<RecordBatch, StorageError>,
) -> Result<BuiltBlock, StorageError> {
    let keys: Vec<RowKeys<'_>> = batches
        .iter()
        .map(|batch| RowKeys::of(batch))
        .collect::<Result<_, _>>()?;
    let sorted = SortedRow::sorted(&keys);
    let index = index_rows(&keys, &sorted);
    let order: Vec<(usize, usize)> = sorted.iter().map(SortedRow::position).collect();
    drop(sorted);
    let mut writer = ParquetSink::new(origin.zstd_level);
    let mut groups = order.chunks(ROW_GROUP_ROWS).peekable();
    if groups.peek().is_none() {
        // No rows: the file still needs its schema.
        let empty = interleave_record_batch(batches, &[]).map_err(codec)?;
        writer.write(&to_block_layout(empty)?)?;
    }
    for group in groups {
        origin.wait_while_paused();
        let rows = interleave_record_batch(batches, group).map_err(codec)?;
        writer.write(&to_block_layout(rows)?)?;
    }
    assemble(index, columns, writer.finish()?, order.len(), origin)
}

/// The meta, data and trace index of a block.
fn assemble(
    (traces, operations): (TraceIndex, Operations),
    columns: BTreeMap<String, ColumnType>,
    data: Bytes,
    spans: usize,
    origin: &BlockOrigin<'_>,
) -> Result<BuiltBlock, StorageError> {
    let min_start = traces
        .entries
        .iter()
        .map(|e| e.start_unix_nano)
        .min()
        .unwrap_or(0);
    let max_end = traces
        .entries
        .iter()
        .map(|e| e.end_unix_nano)
        .max()
        .unwrap_or(0);
    let meta = BlockMeta {
        format_version: META_FORMAT_VERSION,
        block_id: new_block_id(origin.now_unix_nano),
        environment: origin.environment.to_owned(),
        node_id: origin.node_id.to_owned(),
        wal_through_segment: origin.wal_through_segment,
        created_unix_nano: origin.now_unix_nano,
        ingested_unix_nano: origin.now_unix_nano,
        span_schema_version: WIDE_SCHEMA_VERSION.to_owned(),
        span_count: spans as u64,
        trace_count: traces.entries.len() as u64,
        min_start_unix_nano: min_start,
        max_end_unix_nano: max_end,
        data_bytes: data.len() as u64,
        operations,
        columns,
        replaces: Vec::new(),
        lease_window: None,
    };
    Ok(BuiltBlock {
        meta,
        data,
        traces: Bytes::from(traces.encode()?),
    })
}

/// Columns whose values are (nearly) all distinct, besides the X-Ray document's attribute
/// column. A dictionary of them would be as large as the values plus an index per row, and
/// filling it hashes every value; plain pages under zstd are smaller and cheaper.
const DISTINCT_VALUE_COLUMNS: [&str; 7] = [
    column::SPAN_ID,
    column::PARENT_SPAN_ID,
    column::START_TIME,
    column::DURATION_NANO,
    column::EVENTS,
    column::LINKS,
    OVERFLOW_COLUMN,
];

/// Columns no query prunes by value (they are decoded, never compared), besides the X-Ray
/// document's: their min/max statistics would cost a comparison per value and help nothing.
const UNPRUNED_COLUMNS: [&str; 1] = [OVERFLOW_COLUMN];

/// Columns whose row-group null counts prune (`IS NOT NULL`: does any span here have span
/// events, links?) but whose values are never compared. Most spans have none, so the per-value
/// cost of statistics is small; page statistics would add nothing a row-group count does not.
const NULL_COUNTED_COLUMNS: [&str; 2] = [column::EVENTS, column::LINKS];

/// `data.parquet`, written batch by batch; the writer starts with the first batch's schema.
struct ParquetSink {
    zstd_level: i32,
    writer: Option<ArrowWriter<Vec<u8>>>,
}

impl ParquetSink {
    fn new(zstd_level: i32) -> Self {
        Self {
            zstd_level,
            writer: None,
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), StorageError> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let properties = writer_properties(self.zstd_level)?;
                let writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties))
                    .map_err(codec)?;
                self.writer.insert(writer)
            }
        };
        writer.write(batch).map_err(codec)
    }

    fn finish(self) -> Result<Bytes, StorageError> {
        let writer = self
            .writer
            .ok_or_else(|| codec("a block needs at least one batch"))?;
        Ok(Bytes::from(writer.into_inner().map_err(codec)?))
    }
}

fn writer_properties(zstd_level: i32) -> Result<WriterProperties, StorageError> {
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(zstd_level).map_err(codec)?,
        ))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    let document_column = format!("{ATTRIBUTE_PREFIX}{XRAY_DOCUMENT_ATTRIBUTE}");
    for name in DISTINCT_VALUE_COLUMNS
        .into_iter()
        .chain([document_column.as_str()])
    {
        properties = properties.set_column_dictionary_enabled(ColumnPath::from(name), false);
    }
    for name in UNPRUNED_COLUMNS
        .into_iter()
        .chain([document_column.as_str()])
    {
        properties = properties
            .set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::None);
    }
    for name in NULL_COUNTED_COLUMNS {
        properties = properties
            .set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::Chunk);
    }
    Ok(properties.build())
}
