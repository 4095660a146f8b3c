//! Head chunks → one block: rows sorted by trace id (then start) so a trace is one contiguous row
//! range, Parquet with zstd and dictionaries, and the trace index beside it.

use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use combray_model::XRAY_DOCUMENT_ATTRIBUTE;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::meta::{BlockMeta, META_FORMAT_VERSION};
use super::rows::{index_rows, RowKeys};
use super::wide::{WideBatch, ATTRIBUTE_PREFIX, OVERFLOW_COLUMN, WIDE_SCHEMA_VERSION};
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
    let mut order: Vec<(usize, usize)> = chunks
        .iter()
        .enumerate()
        .flat_map(|(c, chunk)| (0..chunk.len()).map(move |r| (c, r)))
        .collect();
    order.sort_by(|a, b| {
        let key = |&(c, r): &(usize, usize)| (chunks[c].trace_id(r), chunks[c].start_unix_nano(r));
        key(a).cmp(&key(b))
    });
    let batches: Vec<&RecordBatch> = chunks.iter().map(|chunk| chunk.record_batch()).collect();
    let sorted =
        arrow_select::interleave::interleave_record_batch(&batches, &order).map_err(codec)?;
    let sorted = Chunk::new(sorted)?;
    finish_block(super::wide::widen(&sorted)?, origin)
}

/// A block from a batch in the block layout whose rows are sorted by trace id, then start.
pub(super) fn finish_block(
    wide: WideBatch,
    origin: &BlockOrigin<'_>,
) -> Result<BuiltBlock, StorageError> {
    let (traces, operations) = index_rows(&RowKeys::of(&wide.batch)?);
    let data = write_parquet(&wide.batch, origin.zstd_level)?;
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
        span_count: wide.batch.num_rows() as u64,
        trace_count: traces.entries.len() as u64,
        min_start_unix_nano: min_start,
        max_end_unix_nano: max_end,
        data_bytes: data.len() as u64,
        operations,
        columns: wide.columns,
        replaces: Vec::new(),
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

fn write_parquet(batch: &RecordBatch, zstd_level: i32) -> Result<Bytes, StorageError> {
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
    let properties = properties.build();
    let mut buffer = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut buffer, batch.schema(), Some(properties)).map_err(codec)?;
    writer.write(batch).map_err(codec)?;
    writer.close().map_err(codec)?;
    Ok(Bytes::from(buffer))
}
