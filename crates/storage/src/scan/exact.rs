//! What a part returns, known without reading it: its row count, and the smallest and largest
//! value of a whole-number column, when nothing the part applies removes rows the statistics
//! count. Row groups every one of whose rows meets the scan's conditions (settled by their
//! statistics) qualify; so do head chunks, whose rows are in memory. A query engine answers
//! `count(*)`, `MIN` and `MAX` over such parts from this alone: a HEATMAP's value range over an
//! hour of blocks reads no page.

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, BooleanArray, UInt64Array};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;

use super::parts::{rows_meeting, ScanPart, Source};

/// A part whose returned rows are known without reading it; see [`ScanPart::known`].
pub struct Known<'a> {
    part: &'a ScanPart,
    rows: usize,
    /// The head chunk's rows the part returns, when some are left out.
    kept: Option<BooleanArray>,
}

/// The smallest and largest value, each `None` when every value is null.
pub type Extremes = (Option<i64>, Option<i64>);

impl ScanPart {
    /// What the part returns, when that is known without reading it: a head chunk's rows
    /// meeting the required conditions, or a block's row groups when every condition is
    /// settled for them; `None` when the part selects, samples or limits rows.
    pub fn known(&self) -> Option<Known<'_>> {
        if self.filter.sample_fraction().is_some() || self.limit.is_some() {
            // A sample is drawn anew each time the part is read; a limit keeps any rows.
            return None;
        }
        match &self.source {
            Source::Head(wide) => {
                let mut kept: Option<BooleanArray> = None;
                for condition in self.filter.required() {
                    let meeting = rows_meeting(&wide.batch, condition).ok()?;
                    kept = Some(match kept {
                        None => meeting,
                        Some(kept) => BooleanArray::new(kept.values() & meeting.values(), None),
                    });
                }
                let rows = kept
                    .as_ref()
                    .map_or(wide.batch.num_rows(), BooleanArray::true_count);
                Some(Known {
                    part: self,
                    rows,
                    kept,
                })
            }
            Source::Block {
                selection: None,
                settled,
                ..
            } if settled.iter().all(|s| *s) => Some(Known {
                part: self,
                rows: self.rows(),
                kept: None,
            }),
            Source::Block { .. } => None,
        }
    }
}

impl Known<'_> {
    /// The rows the part returns.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The smallest and largest value of column `name` among the rows the part returns, when
    /// the part stores it as `Int64` (or not at all: nulls only). Integer statistics are exact
    /// in Parquet (only text is truncated).
    pub fn extremes(&self, name: &str) -> Option<Extremes> {
        match &self.part.source {
            Source::Head(wide) => match wide.batch.column_by_name(name) {
                None => Some((None, None)),
                Some(values) => head_extremes(values, self.kept.as_ref()),
            },
            Source::Block {
                metadata,
                row_groups,
                ..
            } => {
                let file = metadata.schema();
                match file.field_with_name(name) {
                    Err(_) => Some((None, None)),
                    Ok(field) if *field.data_type() != DataType::Int64 => None,
                    Ok(_) => {
                        let converter =
                            StatisticsConverter::try_new(name, file, metadata.parquet_schema())
                                .ok()?;
                        let groups = row_groups.iter().map(|&g| metadata.metadata().row_group(g));
                        let mins = converter.row_group_mins(groups.clone()).ok()?;
                        let maxes = converter.row_group_maxes(groups.clone()).ok()?;
                        let nulls = converter.row_group_null_counts(groups.clone()).ok()?;
                        extremes_of_groups(&mins, &maxes, &nulls, groups.map(|g| g.num_rows()))
                    }
                }
            }
        }
    }
}

/// The extremes of a head chunk's `Int64` column over the rows `kept` (all when `None`).
fn head_extremes(values: &ArrayRef, kept: Option<&BooleanArray>) -> Option<Extremes> {
    let values = values.as_primitive_opt::<Int64Type>()?;
    let kept_values = (0..values.len())
        .filter(|&row| values.is_valid(row) && kept.is_none_or(|kept| kept.value(row)))
        .map(|row| values.value(row));
    Some(kept_values.fold((None, None), |(low, high), v| {
        (
            Some(low.map_or(v, |low: i64| low.min(v))),
            Some(high.map_or(v, |high: i64| high.max(v))),
        )
    }))
}

/// The extremes over row groups from their statistics; `None` when a group that has values
/// lacks a minimum or maximum (statistics not written), so nothing is claimed.
fn extremes_of_groups(
    mins: &ArrayRef,
    maxes: &ArrayRef,
    nulls: &UInt64Array,
    rows: impl Iterator<Item = i64>,
) -> Option<Extremes> {
    let (mins, maxes) = (
        mins.as_primitive_opt::<Int64Type>()?,
        maxes.as_primitive_opt::<Int64Type>()?,
    );
    let (mut lowest, mut highest): Extremes = (None, None);
    for (at, rows) in rows.enumerate() {
        let all_null = nulls.is_valid(at) && i64::try_from(nulls.value(at)).ok() == Some(rows);
        if all_null || rows == 0 {
            continue;
        }
        if mins.is_null(at) || maxes.is_null(at) {
            return None;
        }
        lowest = Some(lowest.map_or(mins.value(at), |v| v.min(mins.value(at))));
        highest = Some(highest.map_or(maxes.value(at), |v| v.max(maxes.value(at))));
    }
    Some((lowest, highest))
}
