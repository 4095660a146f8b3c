//! A block's meta document (`meta.json`, format v1), written last: a block exists only once its
//! meta does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::wide::ColumnType;

/// Format version this code writes. Version 2 added `columns` (and blocks of span schema v2);
/// version 1 metas are still read.
pub(crate) const META_FORMAT_VERSION: u32 = 2;
/// Every format version this code reads.
pub(crate) const READABLE_META_FORMAT_VERSIONS: [u32; 2] = [1, 2];

/// What a reader needs to know about a block without opening its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Always [`META_FORMAT_VERSION`] for blocks this code writes.
    pub format_version: u32,
    /// Unique, time-ordered id.
    pub block_id: String,
    /// Environment all spans belong to.
    pub environment: String,
    /// Node that wrote the block.
    pub node_id: String,
    /// The writer's WAL segments up to this one are covered by this block (and its siblings of
    /// the same cut).
    pub wal_through_segment: u64,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_unix_nano: u64,
    /// When the oldest of its spans was ingested (the cut time; for a compacted block, the
    /// oldest input's). Retention counts from here, not from span timestamps, so back-filled or
    /// clock-skewed spans are kept as long as any other.
    #[serde(default)]
    pub ingested_unix_nano: u64,
    /// Version of the span schema the data uses.
    pub span_schema_version: String,
    /// Spans (rows).
    pub span_count: u64,
    /// Distinct traces.
    pub trace_count: u64,
    /// Earliest span start.
    pub min_start_unix_nano: u64,
    /// Latest span end.
    pub max_end_unix_nano: u64,
    /// Bytes of `data.parquet`.
    pub data_bytes: u64,
    /// service → span name → span kinds (OTLP numbers).
    pub operations: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// The block's attribute columns (`attr.*`, `resource.*`) and their types, so a query
    /// knows every block's schema without opening its data. Empty for span schema v1.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, ColumnType>,
    /// Blocks this one was compacted from. Once this meta exists they are superseded: readers
    /// ignore them and maintenance deletes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
    /// For a compacted block, the maintenance lease window it was made under (the fencing
    /// token): the node re-checked that it still held that window's lease before writing this
    /// meta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_window: Option<u64>,
}

impl BlockMeta {
    /// When retention starts counting for this block.
    pub fn retention_start_unix_nano(&self) -> u64 {
        if self.ingested_unix_nano == 0 {
            self.created_unix_nano
        } else {
            self.ingested_unix_nano
        }
    }
}
