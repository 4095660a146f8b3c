//! What a scan reads: row groups of blocks and widened head chunks, pruned, spread over
//! partitions, and read as streams of batches in the projected table layout.

use std::sync::Arc;

use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::SchemaRef;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, RowFilter, RowSelection, RowSelector,
};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};

use super::filter::{compare, rows_matching, Condition, ScanFilter};
use super::prune::{pushable, row_groups_to_read};
use super::schema::align;
use crate::block::wide::WideBatch;
use crate::block::{Block, BlockSource};
use crate::StorageError;

/// Batches are read this many rows at a time (DataFusion's default batch size).
const BATCH_ROWS: usize = 8192;

/// What one plan asks for.
pub(crate) struct Request {
    projected: SchemaRef,
    table: SchemaRef,
    filter: Arc<ScanFilter>,
    limit: Option<usize>,
}

impl Request {
    pub(crate) fn new(
        projected: SchemaRef,
        table: SchemaRef,
        filter: ScanFilter,
        limit: Option<usize>,
    ) -> Self {
        Self {
            projected,
            table,
            filter: Arc::new(filter),
            limit,
        }
    }
}

/// The smallest thing a scan reads: a block's row group (with the rows of it to read, when the
/// filter names traces) or a head chunk.
pub(crate) enum Unit {
    RowGroup {
        block: Arc<Block>,
        store: Arc<dyn ObjectStore>,
        metadata: ArrowReaderMetadata,
        row_group: usize,
        selection: Option<Vec<RowSelector>>,
        settled: Vec<bool>,
        bytes: u64,
    },
    Head(Arc<WideBatch>),
}

impl Unit {
    fn bytes(&self) -> u64 {
        match self {
            Self::RowGroup { bytes, .. } => *bytes,
            Self::Head(wide) => wide.batch.get_array_memory_size() as u64,
        }
    }
}

/// The row groups of a block that may hold wanted rows, each with its size.
pub(crate) async fn block_units(
    block: &Arc<Block>,
    blocks: &BlockSource,
    request: &Request,
) -> Result<Vec<Unit>, StorageError> {
    let filter = &request.filter;
    if !filter.may_match_block(block) {
        return Ok(Vec::new());
    }
    let store = &blocks.store;
    let index = match filter.traces() {
        Some(ids) => {
            let index = blocks.indexes.get(block, store).await?;
            if !ids.iter().any(|id| index.find(id).is_some()) {
                return Ok(Vec::new());
            }
            Some(index)
        }
        None => None,
    };
    let metadata = block.scan_metadata(store).await?;
    let file = Arc::clone(metadata.schema());
    if filter.needs_missing_column(|name| file.column_with_name(name).is_some()) {
        return Ok(Vec::new());
    }
    let groups = metadata.metadata().row_groups();
    let mut units = Vec::new();
    for group in row_groups_to_read(index.as_deref(), &metadata, filter, &request.table) {
        units.push(Unit::RowGroup {
            block: Arc::clone(block),
            store: Arc::clone(store),
            metadata: metadata.clone(),
            row_group: group.row_group,
            selection: group.selection,
            settled: group.settled,
            bytes: groups[group.row_group].compressed_size().max(1) as u64,
        });
    }
    Ok(units)
}

/// Head chunks that may hold wanted rows.
pub(crate) fn head_units(head: &[Arc<WideBatch>], request: &Request) -> Vec<Unit> {
    head.iter()
        .filter(|wide| {
            // A column missing from the chunk, or null on every row of it, rules it out.
            let batch = &wide.batch;
            !request.filter.needs_missing_column(|name| {
                batch
                    .column_by_name(name)
                    .is_some_and(|values| values.null_count() < batch.num_rows())
            })
        })
        .map(|wide| Unit::Head(Arc::clone(wide)))
        .collect()
}

/// Part of a scan: a run of one block's row groups, or one head chunk. Cloning is cheap (the
/// data is shared), so a plan can read a part more than once.
#[derive(Clone)]
pub struct ScanPart {
    pub(super) source: Source,
    projected: SchemaRef,
    table: SchemaRef,
    pub(super) filter: Arc<ScanFilter>,
    pub(super) limit: Option<usize>,
}

#[derive(Clone)]
pub(super) enum Source {
    Block {
        block: Arc<Block>,
        store: Arc<dyn ObjectStore>,
        metadata: ArrowReaderMetadata,
        row_groups: Vec<usize>,
        selection: Option<Vec<RowSelector>>,
        /// Which of the block's pushable conditions every row of these groups meets.
        settled: Vec<bool>,
    },
    Head(Arc<WideBatch>),
}

impl std::fmt::Debug for ScanPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Block {
                block,
                row_groups,
                settled,
                ..
            } => write!(
                f,
                "block {} judging {} conditions, row groups {:?}",
                block.meta.block_id,
                settled.iter().filter(|s| !**s).count(),
                row_groups
            ),
            Source::Head(wide) => write!(f, "head chunk of {} rows", wide.batch.num_rows()),
        }
    }
}

/// Units in order, cut into at most `partitions` runs of about equal bytes; a run's
/// consecutive row groups of one block become one part.
pub(crate) fn spread(units: Vec<Unit>, partitions: usize, request: &Request) -> Vec<Vec<ScanPart>> {
    let total: u64 = units.iter().map(Unit::bytes).sum();
    let target = total.div_ceil(partitions as u64).max(1);
    let mut spread = Vec::new();
    let mut current: Vec<ScanPart> = Vec::new();
    let mut filled = 0;
    for unit in units {
        filled += unit.bytes();
        add(&mut current, unit, request);
        if filled >= target && spread.len() + 1 < partitions {
            spread.push(std::mem::take(&mut current));
            filled = 0;
        }
    }
    if !current.is_empty() {
        spread.push(current);
    }
    spread
}

fn add(parts: &mut Vec<ScanPart>, unit: Unit, request: &Request) {
    let source = match unit {
        Unit::Head(wide) => Source::Head(wide),
        Unit::RowGroup {
            block,
            store,
            metadata,
            row_group,
            selection,
            settled,
            ..
        } => {
            if let Some(ScanPart {
                source:
                    Source::Block {
                        block: last,
                        row_groups,
                        selection: selected,
                        settled: last_settled,
                        ..
                    },
                ..
            }) = parts.last_mut()
            {
                // A part judges one set of conditions. Both select rows or neither: a filter
                // names traces (or samples) for the whole scan.
                if Arc::ptr_eq(last, &block)
                    && *last_settled == settled
                    && selected.is_some() == selection.is_some()
                {
                    row_groups.push(row_group);
                    if let (Some(selected), Some(more)) = (selected, selection) {
                        selected.extend(more);
                    }
                    return;
                }
            }
            Source::Block {
                block,
                store,
                metadata,
                row_groups: vec![row_group],
                selection,
                settled,
            }
        }
    };
    parts.push(ScanPart {
        source,
        projected: Arc::clone(&request.projected),
        table: Arc::clone(&request.table),
        filter: Arc::clone(&request.filter),
        limit: request.limit,
    });
}

/// Reads parts one after another, as one stream.
pub fn read_parts(parts: Vec<ScanPart>) -> BoxStream<'static, Result<RecordBatch, StorageError>> {
    stream::iter(parts).flat_map(ScanPart::into_stream).boxed()
}

impl ScanPart {
    /// Rows the part reads at most (before its filter): a head chunk's, or its row groups' or
    /// the selected rows of them. Exact for a scan without a filter.
    pub fn rows(&self) -> usize {
        let rows = match &self.source {
            Source::Head(wide) => wide.batch.num_rows(),
            Source::Block {
                selection: Some(selectors),
                ..
            } => selectors
                .iter()
                .filter(|s| !s.skip)
                .map(|s| s.row_count)
                .sum(),
            Source::Block {
                metadata,
                row_groups,
                ..
            } => row_groups
                .iter()
                .map(|&g| metadata.metadata().row_group(g).num_rows())
                .map(|n| usize::try_from(n).unwrap_or(0))
                .sum(),
        };
        self.limit.map_or(rows, |limit| rows.min(limit))
    }

    /// The part's batches, in the projected table layout.
    pub fn into_stream(self) -> BoxStream<'static, Result<RecordBatch, StorageError>> {
        let Self {
            source,
            projected,
            table,
            filter,
            limit,
        } = self;
        match source {
            Source::Head(wide) => {
                let batch = head_rows(&wide.batch, &filter, limit)
                    .and_then(|rows| align(&rows, &projected));
                stream::once(async move { batch }).boxed()
            }
            Source::Block {
                block,
                store,
                metadata,
                row_groups,
                selection,
                settled,
            } => {
                let open = BlockRead {
                    block,
                    store,
                    metadata,
                    row_groups,
                    selection,
                    settled,
                    projected,
                    table,
                    filter,
                    limit,
                };
                stream::once(open.open()).try_flatten().boxed()
            }
        }
    }
}

struct BlockRead {
    block: Arc<Block>,
    store: Arc<dyn ObjectStore>,
    metadata: ArrowReaderMetadata,
    row_groups: Vec<usize>,
    selection: Option<Vec<RowSelector>>,
    settled: Vec<bool>,
    projected: SchemaRef,
    table: SchemaRef,
    filter: Arc<ScanFilter>,
    limit: Option<usize>,
}

impl BlockRead {
    async fn open(
        self,
    ) -> Result<BoxStream<'static, Result<RecordBatch, StorageError>>, StorageError> {
        let file = Arc::clone(self.metadata.schema());
        let parquet_schema = self.metadata.parquet_schema();
        let roots: Vec<usize> = self
            .projected
            .fields()
            .iter()
            .filter_map(|f| file.index_of(f.name()).ok())
            .collect();
        let projection = ProjectionMask::roots(parquet_schema, roots);
        let conditions = pushable(&self.filter, &self.table, &file);
        for required in self.filter.required() {
            if !conditions.iter().any(|c| c.column == required.column) {
                // Every block has `start_time` in the table's type; one without cannot be read
                // correctly.
                return Err(self.block.read_error(format!(
                    "column {} cannot be compared as the scan requires",
                    required.column
                )));
            }
        }
        let predicates: Vec<Box<dyn ArrowPredicate>> = conditions
            .into_iter()
            .zip(&self.settled)
            .filter(|(_, settled)| !**settled)
            .map(|(condition, _)| {
                let mask = ProjectionMask::roots(parquet_schema, [condition.index]);
                let predicate = ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
                    Ok(without_nulls(rows_matching(
                        batch.column(0),
                        condition.op,
                        &condition.literal,
                    )))
                });
                Box::new(predicate) as Box<dyn ArrowPredicate>
            })
            .collect();
        let reader = self.block.file_reader(&self.store);
        let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, self.metadata)
            .with_projection(projection)
            .with_row_groups(self.row_groups)
            .with_batch_size(BATCH_ROWS);
        if let Some(selectors) = self.selection {
            builder = builder.with_row_selection(RowSelection::from(selectors));
        }
        if !predicates.is_empty() {
            builder = builder.with_row_filter(RowFilter::new(predicates));
        }
        if let Some(limit) = self.limit {
            builder = builder.with_limit(limit);
        }
        let block = self.block;
        let stream = builder.build().map_err(|e| block.read_error(e))?;
        let projected = self.projected;
        Ok(stream
            .map(move |batch| {
                let batch = batch.map_err(|e| block.read_error(e))?;
                align(&batch, &projected)
            })
            .boxed())
    }
}

/// The rows of a head chunk a part returns: those meeting the required conditions, then at most
/// `limit` of them, then the sample.
fn head_rows(
    batch: &RecordBatch,
    filter: &ScanFilter,
    limit: Option<usize>,
) -> Result<RecordBatch, StorageError> {
    let mut rows = batch.clone();
    for condition in filter.required() {
        rows = meeting(&rows, condition)?;
    }
    if let Some(limit) = limit {
        rows = rows.slice(0, limit.min(rows.num_rows()));
    }
    match filter.sample_fraction() {
        Some(fraction) => sample_rows(&rows, fraction),
        None => Ok(rows),
    }
}

/// The rows of `batch` meeting `condition`; a column that cannot be compared is an error, not
/// every row.
fn meeting(batch: &RecordBatch, condition: &Condition) -> Result<RecordBatch, StorageError> {
    let mask = rows_meeting(batch, condition)?;
    arrow_select::filter::filter_record_batch(batch, &mask)
        .map_err(|e| StorageError::Codec(e.to_string()))
}

/// Which rows of `batch` meet `condition` (none where the column is missing), without nulls.
pub(super) fn rows_meeting(
    batch: &RecordBatch,
    condition: &Condition,
) -> Result<BooleanArray, StorageError> {
    let Some(values) = batch.column_by_name(&condition.column) else {
        return Ok(BooleanArray::from(vec![false; batch.num_rows()]));
    };
    let literal = condition
        .value
        .as_scalar_of(values.data_type())
        .ok_or_else(|| {
            StorageError::Codec(format!(
                "{:?} cannot be compared with column {}",
                condition.value, condition.column
            ))
        })?;
    let mask =
        compare(values, condition.op, &literal).map_err(|e| StorageError::Codec(e.to_string()))?;
    Ok(without_nulls(mask))
}

/// Each row of `batch` kept with probability `fraction` (head chunks are in arrival order, so
/// runs of them would be moments rather than a sample).
fn sample_rows(batch: &RecordBatch, fraction: f64) -> Result<RecordBatch, StorageError> {
    use rand::Rng;
    let mut random = rand::rng();
    let mask: BooleanArray = (0..batch.num_rows())
        .map(|_| Some(random.random::<f64>() < fraction))
        .collect();
    arrow_select::filter::filter_record_batch(batch, &mask)
        .map_err(|e| StorageError::Codec(e.to_string()))
}

/// A null comparison keeps no row: the mask's values where it is valid, bit by bit.
fn without_nulls(mask: BooleanArray) -> BooleanArray {
    match mask.nulls() {
        None => mask,
        Some(nulls) => BooleanArray::new(mask.values() & nulls.inner(), None),
    }
}
