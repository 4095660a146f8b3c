//! Honeycomb's percentile aggregates for SQL: `p50(x)`, `p75`, `p90`, `p95`, `p99`, `p999`,
//! `percentile(x, fraction)`, and `weighted_percentile(x, weight, fraction)` (each value counted
//! `weight` times, for sampled spans), computed over a [`LogSketch`] per group.
//!
//! DataFusion's `approx_percentile_cont` builds a t-digest, which sorts as it goes; on 10 M spans
//! that is most of a second on two cores. Bucketing a value here is a shift and an increment, with
//! a relative error of at most 0.39%, which is finer than anyone reads a latency percentile.
//! The result is a `Float64`; the input may be any numeric column.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BinaryArray, BinaryBuilder, BooleanArray,
    Float64Array, PrimitiveArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type, UInt64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{format_state_name, AggregateOrderSensitivity};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

use super::sketch::LogSketch;

/// Every percentile function a session gets.
pub(crate) fn functions() -> Vec<AggregateUDF> {
    let fixed = [
        ("p50", 0.5),
        ("p75", 0.75),
        ("p90", 0.9),
        ("p95", 0.95),
        ("p99", 0.99),
        ("p999", 0.999),
    ];
    let mut functions: Vec<AggregateUDF> = fixed
        .into_iter()
        .map(|(name, fraction)| AggregateUDF::from(Percentile::fixed(name, fraction)))
        .collect();
    functions.push(AggregateUDF::from(Percentile::with_argument()));
    functions.push(AggregateUDF::from(Percentile::weighted()));
    functions
}

/// One percentile function: a fixed fraction (`p99`), or the fraction as a second argument.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Percentile {
    name: &'static str,
    /// The fraction's bits, for the fixed ones (f64 is neither `Eq` nor `Hash`).
    fixed_fraction: Option<u64>,
    /// Whether the second argument is each value's weight (a non-negative integer).
    weighted: bool,
    signature: Signature,
}

impl Percentile {
    fn fixed(name: &'static str, fraction: f64) -> Self {
        Self {
            name,
            fixed_fraction: Some(fraction.to_bits()),
            weighted: false,
            signature: Signature::numeric(1, Volatility::Immutable),
        }
    }

    fn with_argument() -> Self {
        Self {
            name: "percentile",
            fixed_fraction: None,
            weighted: false,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }

    fn weighted() -> Self {
        Self {
            name: "weighted_percentile",
            fixed_fraction: None,
            weighted: true,
            signature: Signature::any(3, Volatility::Immutable),
        }
    }

    fn fraction(&self, args: &AccumulatorArgs) -> Result<f64> {
        if let Some(bits) = self.fixed_fraction {
            return Ok(f64::from_bits(bits));
        }
        let position = if self.weighted { 2 } else { 1 };
        let literal = args
            .exprs
            .get(position)
            .and_then(|e| (**e).downcast_ref::<Literal>());
        let fraction = literal
            .map(|l| l.value().cast_to(&DataType::Float64))
            .transpose()?;
        match fraction {
            Some(ScalarValue::Float64(Some(f))) if (0.0..=1.0).contains(&f) => Ok(f),
            _ => plan_err!(
                "{} needs a constant fraction from 0 to 1, such as 0.99, as its last argument",
                self.name
            ),
        }
    }
}

impl AggregateUDFImpl for Percentile {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !arg_types.iter().all(DataType::is_numeric) {
            return plan_err!("{} takes numbers, not {arg_types:?}", self.name);
        }
        Ok(DataType::Float64)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SketchAccumulator {
            fraction: self.fraction(&args)?,
            weighted: self.weighted,
            sketch: LogSketch::default(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = format_state_name(args.name, "sketch");
        Ok(vec![Arc::new(Field::new(name, DataType::Binary, true))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SketchGroups {
            fraction: self.fraction(&args)?,
            weighted: self.weighted,
            sketches: Vec::new(),
        }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}

/// Calls `add(row, value)` for every non-null value not filtered out. Int64 and Float64 columns
/// (durations, and most numeric attributes) are read in place; other numbers are cast first.
fn for_each_value(
    values: &ArrayRef,
    opt_filter: Option<&BooleanArray>,
    mut add: impl FnMut(usize, f64),
) -> Result<()> {
    fn each<T: ArrowPrimitiveType>(
        array: &PrimitiveArray<T>,
        opt_filter: Option<&BooleanArray>,
        add: &mut impl FnMut(usize, f64),
        to_float: impl Fn(T::Native) -> f64,
    ) {
        if array.null_count() == 0 && opt_filter.is_none() {
            for (row, &value) in array.values().iter().enumerate() {
                add(row, to_float(value));
            }
            return;
        }
        for row in 0..array.len() {
            let kept = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if kept && array.is_valid(row) {
                add(row, to_float(array.value(row)));
            }
        }
    }
    match values.data_type() {
        DataType::Int64 => each(
            values.as_primitive::<Int64Type>(),
            opt_filter,
            &mut add,
            |v| v as f64,
        ),
        DataType::Float64 => each(
            values.as_primitive::<Float64Type>(),
            opt_filter,
            &mut add,
            |v| v,
        ),
        _ => {
            let floats = cast(values, &DataType::Float64)?;
            each(
                floats.as_primitive::<Float64Type>(),
                opt_filter,
                &mut add,
                |v| v,
            );
        }
    }
    Ok(())
}

/// Calls `add(row, value, weight)` for every value [`for_each_value`] passes on, with the row's
/// weight from `inputs[1]` when `weighted` (rows whose weight is null or negative are skipped),
/// else 1.
fn for_each_weighted(
    inputs: &[ArrayRef],
    weighted: bool,
    opt_filter: Option<&BooleanArray>,
    mut add: impl FnMut(usize, f64, u64),
) -> Result<()> {
    if !weighted {
        return for_each_value(&inputs[0], opt_filter, |row, value| add(row, value, 1));
    }
    let weights = cast(&inputs[1], &DataType::UInt64)?;
    let weights = weights.as_primitive::<UInt64Type>();
    for_each_value(&inputs[0], opt_filter, |row, value| {
        if weights.is_valid(row) {
            add(row, value, weights.value(row));
        }
    })
}

fn decode(bytes: &[u8]) -> Result<LogSketch> {
    match LogSketch::decode(bytes) {
        Some(sketch) => Ok(sketch),
        None => exec_err!("a partial percentile sketch is malformed"),
    }
}

/// One group, for plans without grouping.
#[derive(Debug)]
struct SketchAccumulator {
    fraction: f64,
    weighted: bool,
    sketch: LogSketch,
}

impl Accumulator for SketchAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let sketch = &mut self.sketch;
        for_each_weighted(values, self.weighted, None, |_, value, weight| {
            sketch.add_weighted(value, weight)
        })
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.sketch.quantile(self.fraction)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.sketch.heap_bytes()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.sketch.encode()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for bytes in states[0].as_binary::<i32>().iter().flatten() {
            self.sketch.merge(&decode(bytes)?);
        }
        Ok(())
    }
}

/// Many groups at once: the path grouped queries take.
struct SketchGroups {
    fraction: f64,
    weighted: bool,
    sketches: Vec<LogSketch>,
}

impl SketchGroups {
    fn grow(&mut self, total_num_groups: usize) {
        if self.sketches.len() < total_num_groups {
            self.sketches
                .resize_with(total_num_groups, LogSketch::default);
        }
    }
}

impl GroupsAccumulator for SketchGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let sketches = &mut self.sketches;
        for_each_weighted(values, self.weighted, opt_filter, |row, value, weight| {
            sketches[group_indices[row]].add_weighted(value, weight)
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let sketches = emit_to.take_needed(&mut self.sketches);
        let results: Float64Array = sketches.iter().map(|s| s.quantile(self.fraction)).collect();
        Ok(Arc::new(results))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let sketches = emit_to.take_needed(&mut self.sketches);
        let mut builder = BinaryBuilder::with_capacity(sketches.len(), sketches.len() * 64);
        for sketch in &sketches {
            builder.append_value(sketch.encode());
        }
        Ok(vec![Arc::new(builder.finish())])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let states = values[0].as_binary::<i32>();
        for (row, &group) in group_indices.iter().enumerate() {
            if states.is_valid(row) {
                self.sketches[group].merge(&decode(states.value(row))?);
            }
        }
        Ok(())
    }

    /// Each row as a sketch of its one value, for when DataFusion skips partial aggregation
    /// (groups nearly as many as rows).
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut states: Vec<Option<Vec<u8>>> = vec![None; values[0].len()];
        for_each_weighted(values, self.weighted, opt_filter, |row, value, weight| {
            let mut sketch = LogSketch::default();
            sketch.add_weighted(value, weight);
            states[row] = Some(sketch.encode());
        })?;
        Ok(vec![Arc::new(BinaryArray::from_iter(states))])
    }

    fn size(&self) -> usize {
        self.sketches.capacity() * std::mem::size_of::<LogSketch>()
            + self
                .sketches
                .iter()
                .map(LogSketch::heap_bytes)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;

    use super::*;

    fn groups() -> SketchGroups {
        SketchGroups {
            fraction: 0.5,
            weighted: false,
            sketches: Vec::new(),
        }
    }

    /// Skipping partial aggregation turns rows into one-value states; merging those must give
    /// what updating with the rows gives, nulls and filtered rows left out either way.
    #[test]
    fn rows_turned_into_states_merge_to_the_same_answer_as_updates() {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(5),
            None,
            Some(7),
            Some(9),
            Some(1_000),
        ]));
        let filter = BooleanArray::from(vec![true, true, true, false, true]);
        let group_of_row = [0, 0, 0, 1, 1];

        let mut updated = groups();
        updated
            .update_batch(&[Arc::clone(&values)], &group_of_row, Some(&filter), 2)
            .unwrap();
        let mut merged = groups();
        let states = merged.convert_to_state(&[values], Some(&filter)).unwrap();
        assert_eq!(states[0].null_count(), 2, "the null and the filtered row");
        merged.merge_batch(&states, &group_of_row, 2).unwrap();

        let expected = updated.evaluate(EmitTo::All).unwrap();
        let got = merged.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            got.as_primitive::<Float64Type>(),
            expected.as_primitive::<Float64Type>()
        );
        let medians: Vec<Option<f64>> = got.as_primitive::<Float64Type>().iter().collect();
        assert_eq!(medians, vec![Some(5.0), Some(1_000.0)]);
    }

    /// A value of weight 9 stands for nine values: the weighted median of 1 (once) and 10
    /// (nine times) is 10, where the plain median of the two rows is 1; a null weight drops
    /// its row.
    #[test]
    fn weights_count_each_value_that_many_times() {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![1, 10, 500]));
        let weights: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(9), None]));
        let mut weighted = SketchGroups {
            fraction: 0.5,
            weighted: true,
            sketches: Vec::new(),
        };
        weighted
            .update_batch(&[Arc::clone(&values), weights], &[0, 0, 0], None, 1)
            .unwrap();
        let mut plain = groups();
        plain
            .update_batch(&[values.slice(0, 2)], &[0, 0], None, 1)
            .unwrap();
        let median = |mut g: SketchGroups| {
            g.evaluate(EmitTo::All)
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(0)
        };
        assert_eq!(median(weighted), 10.0);
        assert_eq!(median(plain), 1.0);
    }
}
