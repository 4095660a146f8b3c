//! `heatmap_counts(value, weight, min, step, bins)`: the weighted count of a group's values in
//! each of `bins` equal bins from `min`, as a list of `bins` numbers. Bin `i` holds the values
//! with `floor((value - min) / step) = i`; values past the last bin count in the last, values
//! before the first in the first. Null values, null weights and NaN count nowhere.
//!
//! A HEATMAP is this per time bucket and group. Grouping by bucket and bin in SQL costs a
//! two-column hash lookup per span; counting into a group's bins here is an index and an add.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Builder, ListArray, ListBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{format_state_name, AggregateOrderSensitivity};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

/// At most this many bins: a heatmap is read by eye.
const MAX_BINS: usize = 1_000;

pub(crate) fn function() -> AggregateUDF {
    AggregateUDF::from(HeatmapCounts {
        signature: Signature::any(5, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HeatmapCounts {
    signature: Signature,
}

/// Where the bins are: the constant arguments.
#[derive(Debug, Clone, Copy)]
struct Axis {
    min: f64,
    step: f64,
    bins: usize,
}

impl Axis {
    fn of(args: &AccumulatorArgs) -> Result<Self> {
        let constant = |at: usize, to: &DataType| {
            args.exprs
                .get(at)
                .and_then(|e| (**e).downcast_ref::<Literal>())
                .map(|l| l.value().cast_to(to))
                .transpose()
        };
        let min = constant(2, &DataType::Float64)?;
        let step = constant(3, &DataType::Float64)?;
        let bins = constant(4, &DataType::Int64)?;
        match (min, step, bins) {
            (
                Some(ScalarValue::Float64(Some(min))),
                Some(ScalarValue::Float64(Some(step))),
                Some(ScalarValue::Int64(Some(bins))),
            ) if min.is_finite()
                && step.is_finite()
                && step > 0.0
                && (1..=MAX_BINS as i64).contains(&bins) =>
            {
                Ok(Self {
                    min,
                    step,
                    bins: bins as usize,
                })
            }
            _ => plan_err!(
                "heatmap_counts needs constants after its value and weight: a finite min, a \
                 step above 0 and from 1 to {MAX_BINS} bins"
            ),
        }
    }

    /// The bin of `value` (finite or not; NaN has none).
    fn bin(&self, value: f64) -> Option<usize> {
        if value.is_nan() {
            return None;
        }
        let at = ((value - self.min) / self.step).floor();
        // `as` saturates: -inf and anything below 0 land in bin 0.
        Some((at as i64).clamp(0, self.bins as i64 - 1) as usize)
    }
}

impl AggregateUDFImpl for HeatmapCounts {
    fn name(&self) -> &str {
        "heatmap_counts"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !arg_types.iter().all(DataType::is_numeric) {
            return plan_err!("heatmap_counts takes numbers, not {arg_types:?}");
        }
        Ok(list_type())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(Bins::new(Axis::of(&args)?))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = format_state_name(args.name, "counts");
        Ok(vec![Arc::new(Field::new(name, list_type(), true))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Bins::new(Axis::of(&args)?)))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

/// Every group's bins, group after group.
#[derive(Debug)]
struct Bins {
    axis: Axis,
    counts: Vec<f64>,
}

impl Bins {
    fn new(axis: Axis) -> Self {
        Self {
            axis,
            counts: Vec::new(),
        }
    }

    fn grow(&mut self, groups: usize) {
        let wanted = groups * self.axis.bins;
        if self.counts.len() < wanted {
            self.counts.resize(wanted, 0.0);
        }
    }

    /// Counts each kept row's value, weighted, into the bins of group `group_of_row(row)`.
    fn add(
        &mut self,
        inputs: &[ArrayRef],
        group_of_row: impl Fn(usize) -> usize,
        filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let values = cast(&inputs[0], &DataType::Float64)?;
        let values = values.as_primitive::<Float64Type>();
        let weights = cast(&inputs[1], &DataType::Int64)?;
        let weights = weights.as_primitive::<Int64Type>();
        let bins = self.axis.bins;
        for row in 0..values.len() {
            if values.is_null(row)
                || weights.is_null(row)
                || filter.is_some_and(|f| !f.is_valid(row) || !f.value(row))
            {
                continue;
            }
            if let Some(bin) = self.axis.bin(values.value(row)) {
                self.counts[group_of_row(row) * bins + bin] += weights.value(row) as f64;
            }
        }
        Ok(())
    }

    /// Adds lists of counts (states) into the bins of their groups.
    fn merge(&mut self, states: &ArrayRef, group_of_row: impl Fn(usize) -> usize) -> Result<()> {
        let lists = states.as_list::<i32>();
        let bins = self.axis.bins;
        for row in 0..lists.len() {
            if lists.is_null(row) {
                continue;
            }
            let counts = lists.value(row);
            let counts = counts.as_primitive::<Float64Type>();
            if counts.len() != bins {
                return exec_err!("a partial heatmap has {} bins, not {bins}", counts.len());
            }
            let group = group_of_row(row);
            for (bin, count) in counts.values().iter().enumerate() {
                self.counts[group * bins + bin] += count;
            }
        }
        Ok(())
    }

    /// The first `groups` groups' bins as lists, taken out.
    fn take(&mut self, groups: usize) -> ListArray {
        let bins = self.axis.bins;
        let rest = self.counts.split_off(groups * bins);
        let taken = std::mem::replace(&mut self.counts, rest);
        let mut builder =
            ListBuilder::with_capacity(Float64Builder::with_capacity(taken.len()), groups)
                .with_field(Arc::new(Field::new_list_field(DataType::Float64, true)));
        for counts in taken.chunks(bins) {
            builder.values().append_slice(counts);
            builder.append(true);
        }
        builder.finish()
    }

    fn groups(&self) -> usize {
        self.counts.len() / self.axis.bins
    }
}

impl GroupsAccumulator for Bins {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        self.add(values, |row| group_indices[row], opt_filter)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = match emit_to {
            EmitTo::All => self.groups(),
            EmitTo::First(n) => n,
        };
        Ok(Arc::new(self.take(groups)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(emit_to)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        self.merge(&values[0], |row| group_indices[row])
    }

    /// Each row as bins of its own (for when DataFusion skips partial aggregation, groups
    /// nearly as many as rows).
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values[0].len();
        let mut each = Bins::new(self.axis);
        each.grow(rows);
        each.add(values, |row| row, opt_filter)?;
        Ok(vec![Arc::new(each.take(rows))])
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.counts.capacity() * std::mem::size_of::<f64>()
    }
}

/// One group, for plans without grouping.
#[derive(Debug)]
struct OneGroup(Bins);

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0.grow(1);
        self.0.add(values, |_| 0, None)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.grow(1);
        let list = self.0.take(1);
        self.0.grow(1);
        ScalarValue::try_from_array(&list, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.0.counts.capacity() * std::mem::size_of::<f64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.0.grow(1);
        self.0.merge(&states[0], |_| 0)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    /// The bins SQL's own arithmetic gives, the oracle: `LEAST(GREATEST(floor(...), 0), last)`
    /// grouped and summed.
    #[tokio::test]
    async fn counts_agree_with_grouping_by_bin_in_sql_weighted_and_with_nulls() {
        let context = SessionContext::new();
        context.register_udaf(function());
        context
            .sql(
                "CREATE TABLE t (g BIGINT, v DOUBLE, w BIGINT) AS VALUES \
                 (1, 0.0, 1), (1, 0.5, 3), (1, 9.99, 1), (1, 10.0, 2), (1, NULL, 5), \
                 (2, 4.2, 2), (2, -3.0, 1), (2, 100.0, 1), (2, 5.0, NULL), (3, NULL, 1)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let rows = |sql: &str| {
            let context = context.clone();
            let sql = sql.to_owned();
            async move {
                let batches = context.sql(&sql).await.unwrap().collect().await.unwrap();
                let mut rows = Vec::new();
                for batch in batches {
                    crate::sql::json::append_rows(&batch, &mut rows, usize::MAX).unwrap();
                }
                rows.sort_by_key(|r| r[0].as_i64());
                rows
            }
        };
        let ours = rows("SELECT g, heatmap_counts(v, w, 0.0, 2.5, 4) FROM t GROUP BY g").await;
        let by_sql = rows(
            "SELECT g, LEAST(GREATEST(CAST(floor((v - 0.0) / 2.5) AS BIGINT), 0), 3) AS b, SUM(w) \
             FROM t WHERE v IS NOT NULL AND w IS NOT NULL GROUP BY g, b",
        )
        .await;
        let mut expected = std::collections::BTreeMap::<i64, Vec<f64>>::new();
        for row in &by_sql {
            let g = row[0].as_i64().unwrap();
            let bins = expected.entry(g).or_insert_with(|| vec![0.0; 4]);
            bins[row[1].as_i64().unwrap() as usize] += row[2].as_f64().unwrap();
        }
        expected.entry(3).or_insert_with(|| vec![0.0; 4]);
        let got: std::collections::BTreeMap<i64, Vec<f64>> = ours
            .iter()
            .map(|r| {
                let counts = r[1].as_array().unwrap().iter().map(|c| c.as_f64().unwrap());
                (r[0].as_i64().unwrap(), counts.collect())
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(got[&1], vec![4.0, 0.0, 0.0, 3.0]);
    }

    #[tokio::test]
    async fn an_axis_that_is_not_constant_is_a_plan_error() {
        let context = SessionContext::new();
        context.register_udaf(function());
        let error = context
            .sql("SELECT heatmap_counts(1.0, 1, 0.0, 0.0, 50)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("a step above 0"), "{error}");
    }
}
