//! What a part returns, known without reading it: its row count, and the smallest and largest
//! value of a whole-number column, when nothing the part applies removes rows the statistics
//! count. Row groups every one of whose rows meets the scan's conditions (settled by their
//! statistics) qualify; so do head chunks, whose rows are in memory. A query engine answers
//! `count(*)`, `MIN` and `MAX` over such parts from this alone: a HEATMAP's value range over an
//! hour of blocks reads no page.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;

use super::parts::{head_rows, ScanPart, Source};

impl ScanPart {
    /// The rows the part returns, when that is known without reading it: a head chunk's rows
    /// meeting the required conditions, or a block's row groups when every condition is settled
    /// for them and nothing selects, samples or limits rows.
    pub fn exact_rows(&self) -> Option<usize> {
        if self.filter.sample_fraction().is_some() {
            // A sample is drawn anew each time the part is read.
            return None;
        }
        match &self.source {
            Source::Head(wide) => head_rows(&wide.batch, &self.filter, self.limit)
                .ok()
                .map(|rows| rows.num_rows()),
            Source::Block {
                selection: None,
                settled,
                ..
            } if self.limit.is_none() && settled.iter().all(|s| *s) => Some(self.rows()),
            Source::Block { .. } => None,
        }
    }

    /// The smallest and largest value of whole-number column `name` among the rows the part
    /// returns (each a one-value array, null when every value is), when [`Self::exact_rows`]
    /// is known and the column is `Int64` in the table and where the part stores it. Integer
    /// statistics are exact in Parquet (only text is truncated); a block without the column
    /// holds nulls only.
    pub fn extremes(&self, name: &str) -> Option<[ArrayRef; 2]> {
        let wanted = self.table.field_with_name(name).ok()?;
        if *wanted.data_type() != DataType::Int64 {
            return None;
        }
        self.exact_rows()?;
        let (lowest, highest) = match &self.source {
            Source::Head(wide) => {
                let rows = head_rows(&wide.batch, &self.filter, self.limit).ok()?;
                match rows.column_by_name(name) {
                    None => (None, None),
                    Some(values) if *values.data_type() == DataType::Int64 => {
                        let values = values.as_primitive::<Int64Type>();
                        (values.iter().flatten().min(), values.iter().flatten().max())
                    }
                    Some(_) => return None,
                }
            }
            Source::Block {
                metadata,
                row_groups,
                ..
            } => {
                let file = metadata.schema();
                match file.field_with_name(name) {
                    Err(_) => (None, None),
                    Ok(field) if *field.data_type() != DataType::Int64 => return None,
                    Ok(_) => {
                        let converter =
                            StatisticsConverter::try_new(name, file, metadata.parquet_schema())
                                .ok()?;
                        let groups = row_groups.iter().map(|&g| metadata.metadata().row_group(g));
                        let mins = converter.row_group_mins(groups.clone()).ok()?;
                        let maxes = converter.row_group_maxes(groups.clone()).ok()?;
                        let nulls = converter.row_group_null_counts(groups.clone()).ok()?;
                        extremes_of_groups(&mins, &maxes, &nulls, groups.map(|g| g.num_rows()))?
                    }
                }
            }
        };
        let one = |value: Option<i64>| Arc::new(Int64Array::from(vec![value])) as ArrayRef;
        Some([one(lowest), one(highest)])
    }
}

/// The extremes over row groups from their statistics; `None` when a group that has values
/// lacks a minimum or maximum (statistics not written), so nothing is claimed.
fn extremes_of_groups(
    mins: &ArrayRef,
    maxes: &ArrayRef,
    nulls: &arrow_array::UInt64Array,
    rows: impl Iterator<Item = i64>,
) -> Option<(Option<i64>, Option<i64>)> {
    let (mins, maxes) = (
        mins.as_primitive_opt::<Int64Type>()?,
        maxes.as_primitive_opt::<Int64Type>()?,
    );
    let (mut lowest, mut highest): (Option<i64>, Option<i64>) = (None, None);
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
