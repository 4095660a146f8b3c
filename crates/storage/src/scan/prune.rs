//! Which row groups of a block a scan must read, judged from the filter, the Parquet
//! statistics and the block's trace index.

use std::collections::BTreeSet;

use arrow_array::{Array, Datum, Scalar};
use arrow_schema::Schema;
use combray_model::TraceId;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, RowSelector};
use parquet::file::metadata::RowGroupMetaData;

use rand::Rng;

use super::filter::{
    range_may_match, range_must_match, CompareOp, Condition, ScanFilter, SAMPLE_RUN_ROWS,
};
use crate::block::TraceIndex;
use crate::head::schema::column;

/// A condition that can be judged on a source: the source's column has the table's type, and
/// the literal converts to it exactly.
pub(super) struct Pushable {
    pub(super) op: CompareOp,
    pub(super) column: String,
    pub(super) index: usize,
    pub(super) literal: Scalar<arrow_array::ArrayRef>,
}

/// The conditions a block can judge, most selective first: Parquet's row filter decodes each
/// predicate's column only for the rows the ones before it kept, so an equality (a user, a
/// route) goes before ranges, and the start-time range (which block and row-group pruning
/// have mostly answered already) goes last.
pub(super) fn pushable(filter: &ScanFilter, table: &Schema, file: &Schema) -> Vec<Pushable> {
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

/// A row group a scan reads.
pub(super) struct GroupRead {
    pub(super) row_group: usize,
    /// The rows of it to read (`None`: every row).
    pub(super) selection: Option<Vec<RowSelector>>,
    /// For each of the block's [`pushable`] conditions, whether the statistics show every row
    /// of the group meets it, so reading need not judge it.
    pub(super) settled: Vec<bool>,
}

/// The row groups of a block that may hold wanted rows, each with the rows of it to read when
/// the filter names traces or samples, found in the block's trace `index`.
pub(super) fn row_groups_to_read(
    index: Option<&TraceIndex>,
    metadata: &ArrowReaderMetadata,
    filter: &ScanFilter,
    table: &Schema,
) -> Vec<GroupRead> {
    let groups = metadata.metadata().row_groups();
    let mut keep = vec![true; groups.len()];
    let file = metadata.schema();
    let conditions = pushable(filter, table, file);
    let mut settled = vec![vec![false; conditions.len()]; groups.len()];
    for (at, condition) in conditions.iter().enumerate() {
        let judged = judge_by_statistics(condition, metadata, groups, &mut keep);
        for (group, proven) in settled.iter_mut().zip(judged) {
            group[at] = proven;
        }
    }
    // No comparison holds for a null, and `present` columns must have a value.
    for name in filter.valued_columns() {
        prune_all_null(name, metadata, groups, &mut keep);
    }
    let selections = match (filter.traces(), index, filter.sample_fraction()) {
        (Some(ids), Some(index), _) => trace_selections(index, groups, ids, &mut keep),
        (None, _, Some(fraction)) => sample_selections(groups, fraction, &mut keep),
        _ => vec![None; groups.len()],
    };
    selections
        .into_iter()
        .zip(settled)
        .enumerate()
        .filter(|(at, _)| keep[*at])
        .map(|(row_group, (selection, settled))| GroupRead {
            row_group,
            selection,
            settled,
        })
        .collect()
}

/// Drops row groups in which every value of `name` is null, by their null counts.
fn prune_all_null(
    name: &str,
    metadata: &ArrowReaderMetadata,
    groups: &[RowGroupMetaData],
    keep: &mut [bool],
) {
    let Ok(converter) =
        StatisticsConverter::try_new(name, metadata.schema(), metadata.parquet_schema())
    else {
        return;
    };
    let Ok(nulls) = converter.row_group_null_counts(groups.iter()) else {
        return;
    };
    for ((kept, group), nulls) in keep.iter_mut().zip(groups).zip(nulls.iter()) {
        if nulls.is_some_and(|nulls| i64::try_from(nulls).ok() == Some(group.num_rows())) {
            *kept = false;
        }
    }
}

/// Drops row groups whose statistics rule the condition out, and answers for each row group
/// whether they show every row meets it (no nulls, and the whole value range does).
fn judge_by_statistics(
    condition: &Pushable,
    metadata: &ArrowReaderMetadata,
    groups: &[RowGroupMetaData],
    keep: &mut [bool],
) -> Vec<bool> {
    let mut settled = vec![false; groups.len()];
    let Ok(converter) = StatisticsConverter::try_new(
        &condition.column,
        metadata.schema(),
        metadata.parquet_schema(),
    ) else {
        return settled;
    };
    let (Ok(mins), Ok(maxes)) = (
        converter.row_group_mins(groups.iter()),
        converter.row_group_maxes(groups.iter()),
    ) else {
        return settled;
    };
    if mins.len() != keep.len() || maxes.len() != keep.len() {
        return settled;
    }
    let nulls = converter.row_group_null_counts(groups.iter()).ok();
    // Float statistics leave NaN out, which compares above every number: they prove nothing.
    let provable = !condition.literal.get().0.data_type().is_floating();
    for (at, kept) in keep.iter_mut().enumerate() {
        if !*kept {
            continue;
        }
        let (min, max) = (mins.slice(at, 1), maxes.slice(at, 1));
        let literal = &condition.literal;
        *kept = range_may_match(condition.op, literal, Some(&min), Some(&max));
        let no_nulls = nulls
            .as_ref()
            .is_some_and(|n| n.len() == groups.len() && n.is_valid(at) && n.value(at) == 0);
        settled[at] =
            provable && no_nulls && range_must_match(condition.op, literal, Some(&min), Some(&max));
    }
    settled
}

/// For each row group, a uniform sample of its runs of [`SAMPLE_RUN_ROWS`] rows, each taken with
/// probability `fraction`; a row group none of whose runs is taken is dropped.
fn sample_selections(
    groups: &[RowGroupMetaData],
    fraction: f64,
    keep: &mut [bool],
) -> Vec<Option<Vec<RowSelector>>> {
    let mut random = rand::rng();
    let mut selections = Vec::with_capacity(groups.len());
    for (at, group) in groups.iter().enumerate() {
        let rows = usize::try_from(group.num_rows()).unwrap_or(0);
        let mut selectors: Vec<RowSelector> = Vec::new();
        let mut any = false;
        for start in (0..rows).step_by(SAMPLE_RUN_ROWS) {
            let run = SAMPLE_RUN_ROWS.min(rows - start);
            let taken = random.random::<f64>() < fraction;
            any |= taken;
            match selectors.last_mut() {
                Some(last) if last.skip != taken => last.row_count += run,
                _ => selectors.push(if taken {
                    RowSelector::select(run)
                } else {
                    RowSelector::skip(run)
                }),
            }
        }
        if !any {
            keep[at] = false;
        }
        selections.push(any.then_some(selectors));
    }
    selections
}

/// For each row group, the rows of it that hold the named traces (from the block's trace
/// index); a row group with none is dropped.
fn trace_selections(
    index: &TraceIndex,
    groups: &[RowGroupMetaData],
    ids: &BTreeSet<TraceId>,
    keep: &mut [bool],
) -> Vec<Option<Vec<RowSelector>>> {
    let mut ranges: Vec<(usize, usize)> = ids
        .iter()
        .filter_map(|id| index.find(id))
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
