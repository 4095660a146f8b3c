//! What a scan reads: row groups of blocks and widened head chunks, pruned, spread over
//! partitions, and read as streams of batches in the projected table layout.

use std::sync::Arc;

use arrow_array::{Array, BooleanArray, RecordBatch, Scalar};
use arrow_schema::{Schema, SchemaRef};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, RowFilter, RowSelection, RowSelector,
};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::metadata::RowGroupMetaData;

use super::filter::{range_may_match, rows_matching, CompareOp, Condition, ScanFilter};
use super::schema::align;
use crate::block::wide::WideBatch;
use crate::block::Block;
use crate::head::schema::column;
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

/// A condition that can be judged on a source: the source's column has the table's type, and
/// the literal converts to it exactly.
struct Pushable {
    op: CompareOp,
    column: String,
    index: usize,
    literal: Scalar<arrow_array::ArrayRef>,
}

/// The conditions a block can judge, most selective first: Parquet's row filter decodes each
/// predicate's column only for the rows the ones before it kept, so an equality (a user, a
/// route) goes before ranges, and the start-time range (which block and row-group pruning
/// have mostly answered already) goes last.
fn pushable(filter: &ScanFilter, table: &Schema, file: &Schema) -> Vec<Pushable> {
    let mut conditions: Vec<&Condition> = filter.conditions.iter().collect();
    conditions.sort_by_key(|c| (c.column == column::START_TIME, c.op != CompareOp::Eq));
    conditions
        .into_iter()
        .filter_map(|condition| {
            let wanted = table.field_with_name(&condition.column).ok()?;
            let index = file.index_of(&condition.column).ok()?;
            let stored = file.field(index).data_type();
            if super::as_view(stored) != *wanted.data_type() {
                return None;
            }
            Some(Pushable {
                op: condition.op,
                column: condition.column.clone(),
                index,
                literal: condition.value.as_scalar_of(stored)?,
            })
        })
        .collect()
}

/// The row groups of a block that may hold wanted rows, each with its size.
pub(crate) async fn block_units(
    block: &Arc<Block>,
    store: &Arc<dyn ObjectStore>,
    request: &Request,
) -> Result<Vec<Unit>, StorageError> {
    let filter = &request.filter;
    if !filter.may_match_block(block) {
        return Ok(Vec::new());
    }
    let metadata = block.scan_metadata(store).await?;
    let file = Arc::clone(metadata.schema());
    if filter.needs_missing_column(|name| file.column_with_name(name).is_some()) {
        return Ok(Vec::new());
    }
    let groups = metadata.metadata().row_groups();
    let mut keep = vec![true; groups.len()];
    for condition in pushable(filter, &request.table, &file) {
        prune_by_statistics(&condition, &metadata, groups, &mut keep);
    }
    let mut selections = match filter.traces() {
        Some(ids) => trace_selections(block, groups, ids, &mut keep),
        None => vec![None; groups.len()],
    };
    let mut units = Vec::new();
    for (row_group, group) in groups.iter().enumerate() {
        if !keep[row_group] {
            continue;
        }
        units.push(Unit::RowGroup {
            block: Arc::clone(block),
            store: Arc::clone(store),
            metadata: metadata.clone(),
            row_group,
            selection: selections[row_group].take(),
            bytes: group.compressed_size().max(1) as u64,
        });
    }
    Ok(units)
}

/// Drops row groups whose statistics rule the condition out.
fn prune_by_statistics(
    condition: &Pushable,
    metadata: &ArrowReaderMetadata,
    groups: &[RowGroupMetaData],
    keep: &mut [bool],
) {
    let Ok(converter) = StatisticsConverter::try_new(
        &condition.column,
        metadata.schema(),
        metadata.parquet_schema(),
    ) else {
        return;
    };
    let (Ok(mins), Ok(maxes)) = (
        converter.row_group_mins(groups.iter()),
        converter.row_group_maxes(groups.iter()),
    ) else {
        return;
    };
    if mins.len() != keep.len() || maxes.len() != keep.len() {
        return;
    }
    for (at, kept) in keep.iter_mut().enumerate() {
        if *kept {
            let (min, max) = (mins.slice(at, 1), maxes.slice(at, 1));
            *kept = range_may_match(condition.op, &condition.literal, Some(&min), Some(&max));
        }
    }
}

/// For each row group, the rows of it that hold the named traces (from the block's trace
/// index); a row group with none is dropped.
fn trace_selections(
    block: &Block,
    groups: &[RowGroupMetaData],
    ids: &std::collections::BTreeSet<combray_model::TraceId>,
    keep: &mut [bool],
) -> Vec<Option<Vec<RowSelector>>> {
    let mut ranges: Vec<(usize, usize)> = ids
        .iter()
        .filter_map(|id| block.traces.find(id))
        .map(|entry| (entry.first_row as usize, entry.row_count as usize))
        .collect();
    ranges.sort_unstable();
    let mut selections = Vec::with_capacity(groups.len());
    let mut group_start = 0;
    for (at, group) in groups.iter().enumerate() {
        let group_rows = usize::try_from(group.num_rows()).unwrap_or(0);
        let group_end = group_start + group_rows;
        let mut selectors = Vec::new();
        let mut next = group_start;
        for &(first, count) in &ranges {
            let (from, to) = (first.max(next), (first + count).min(group_end));
            if from >= to {
                continue;
            }
            if from > next {
                selectors.push(RowSelector::skip(from - next));
            }
            selectors.push(RowSelector::select(to - from));
            next = to;
        }
        if selectors.is_empty() {
            keep[at] = false;
            selections.push(None);
        } else {
            if next < group_end {
                selectors.push(RowSelector::skip(group_end - next));
            }
            selections.push(Some(selectors));
        }
        group_start = group_end;
    }
    selections
}

/// Head chunks that may hold wanted rows.
pub(crate) fn head_units(head: &[Arc<WideBatch>], request: &Request) -> Vec<Unit> {
    head.iter()
        .filter(|wide| {
            let schema = wide.batch.schema();
            !request
                .filter
                .needs_missing_column(|name| schema.column_with_name(name).is_some())
        })
        .map(|wide| Unit::Head(Arc::clone(wide)))
        .collect()
}

/// Part of a scan: a run of one block's row groups, or one head chunk. Cloning is cheap (the
/// data is shared), so a plan can read a part more than once.
#[derive(Clone)]
pub struct ScanPart {
    source: Source,
    projected: SchemaRef,
    table: SchemaRef,
    filter: Arc<ScanFilter>,
    limit: Option<usize>,
}

#[derive(Clone)]
enum Source {
    Block {
        block: Arc<Block>,
        store: Arc<dyn ObjectStore>,
        metadata: ArrowReaderMetadata,
        row_groups: Vec<usize>,
        selection: Option<Vec<RowSelector>>,
    },
    Head(Arc<WideBatch>),
}

impl std::fmt::Debug for ScanPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Block {
                block, row_groups, ..
            } => write!(
                f,
                "block {} row groups {:?}",
                block.meta.block_id, row_groups
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
            ..
        } => {
            if let Some(ScanPart {
                source:
                    Source::Block {
                        block: last,
                        row_groups,
                        selection: selected,
                        ..
                    },
                ..
            }) = parts.last_mut()
            {
                // Both select rows or neither: a filter names traces for the whole scan.
                if Arc::ptr_eq(last, &block) && selected.is_some() == selection.is_some() {
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
                let rows = limit.map_or(wide.batch.num_rows(), |n| n.min(wide.batch.num_rows()));
                let batch = align(&wide.batch.slice(0, rows), &projected);
                stream::once(async move { batch }).boxed()
            }
            Source::Block {
                block,
                store,
                metadata,
                row_groups,
                selection,
            } => {
                let open = BlockRead {
                    block,
                    store,
                    metadata,
                    row_groups,
                    selection,
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
        let predicates: Vec<Box<dyn ArrowPredicate>> = pushable(&self.filter, &self.table, &file)
            .into_iter()
            .map(|condition| {
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

/// A null comparison keeps no row.
fn without_nulls(mask: BooleanArray) -> BooleanArray {
    if mask.null_count() == 0 {
        return mask;
    }
    mask.iter().map(|v| Some(v.unwrap_or(false))).collect()
}
