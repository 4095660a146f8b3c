//! Scans: the one read API a query engine uses over an environment's spans.
//!
//! A [`Snapshot`](crate::Snapshot) (blocks and head chunks at one moment) becomes a [`SpanScan`]:
//! one table in the block layout (span schema v2) whose columns are the span columns and every
//! attribute column any source has. [`SpanScan::plan`] prunes sources with what the engine
//! pushes down (a [`ScanFilter`]: time, services, trace ids, column comparisons), against block
//! metas, trace indexes and row-group statistics, and splits what is left into partitions of
//! [`ScanPart`]s; each part reads as a stream of Arrow batches in the projected layout, with the
//! comparisons evaluated on their own columns first so the rest is decoded only for matching
//! rows. Engines see neither Parquet nor the head's layout.

mod exact;
mod filter;
mod parts;
mod prune;
mod schema;
mod views;
mod widened;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_schema::SchemaRef;

pub use exact::{Extremes, Known};
pub use filter::{CompareOp, Condition, Literal, ScanFilter, SAMPLE_RUN_ROWS};
pub use parts::{read_parts, ScanPart};
pub use schema::Columns;
pub(crate) use schema::{as_view, read_type};
pub(crate) use widened::WideSlot;

use crate::block::wide::{ColumnType, WideBatch};
use crate::block::{Block, BlockSource};
use crate::{Snapshot, StorageError};

/// Names of the columns scans have, beside `attr.<key>` and `resource.<key>`.
pub mod column {
    pub use crate::block::wide::OVERFLOW_COLUMN as ATTRIBUTES_OVERFLOW;
    pub use crate::block::wide::{ATTRIBUTE_PREFIX, RESOURCE_PREFIX};
    pub use crate::head::schema::column::*;
}

/// The attributes of one value of a postcard list column (`attributes` of v1 blocks,
/// `attributes_overflow`, `resource`); `None` when the bytes are not such a list.
pub fn decode_attribute_list(bytes: &[u8]) -> Option<Vec<combray_model::KeyValue>> {
    postcard::from_bytes(bytes).ok()
}

/// One environment's spans at one moment, as a table. Cloning shares the data.
#[derive(Clone)]
pub struct SpanScan {
    schema: SchemaRef,
    blocks: Vec<Arc<Block>>,
    head: Vec<Arc<WideBatch>>,
    source: Option<BlockSource>,
}

impl std::fmt::Debug for SpanScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanScan")
            .field("blocks", &self.blocks.len())
            .field("head_chunks", &self.head.len())
            .finish()
    }
}

impl Snapshot {
    /// The snapshot as a table. Head chunks are widened into the block layout here, each only
    /// the first time any scan needs it, so call this where the query's limits apply.
    pub fn into_scan(self, columns: Columns) -> Result<SpanScan, StorageError> {
        let mut types: BTreeMap<String, BTreeSet<ColumnType>> = BTreeMap::new();
        for block in &self.blocks {
            for (name, column_type) in &block.meta.columns {
                types.entry(name.clone()).or_default().insert(*column_type);
            }
        }
        let mut head = Vec::with_capacity(self.head.len());
        for chunk in &self.head {
            let wide = chunk.wide()?;
            for (name, column_type) in &wide.columns {
                types.entry(name.clone()).or_default().insert(*column_type);
            }
            head.push(wide);
        }
        Ok(SpanScan {
            schema: schema::table_schema(&types, columns),
            blocks: self.blocks,
            head,
            source: self.source,
        })
    }
}

impl SpanScan {
    /// The table's columns.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The parts to read for `projection` (indices into [`SpanScan::schema`]) of the rows
    /// `filter` may keep, spread over at most `partitions` partitions of about equal size.
    /// Parts may return rows the filter does not keep; none it keeps is left out.
    pub async fn plan(
        &self,
        projection: Option<&[usize]>,
        filter: ScanFilter,
        limit: Option<usize>,
        partitions: usize,
    ) -> Result<Vec<Vec<ScanPart>>, StorageError> {
        let projected = match projection {
            Some(indices) => Arc::new(
                self.schema
                    .project(indices)
                    .map_err(|e| StorageError::Codec(e.to_string()))?,
            ),
            None => Arc::clone(&self.schema),
        };
        let request = parts::Request::new(projected, Arc::clone(&self.schema), filter, limit);
        let mut units = Vec::new();
        if let Some(source) = &self.source {
            for block in &self.blocks {
                units.extend(parts::block_units(block, source, &request).await?);
            }
        }
        units.extend(parts::head_units(&self.head, &request));
        Ok(parts::spread(units, partitions.max(1), &request))
    }
}
