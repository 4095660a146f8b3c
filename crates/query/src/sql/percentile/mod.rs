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
    functions.push(AggregateUDF::from(Percentile::sketches_out()));
    functions.push(AggregateUDF::from(Percentile::of_sketches()));
    functions
}

/// What a percentile function reads and answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Mode {
    /// Values (weighted or not) in, the percentile out.
    Percentile,
    /// `weighted_percentile_sketch(x, weight)`: values in, the group's sketch (bytes) out, for
    /// a query that merges groups later (a time series' buckets into the whole window's).
    SketchOut,
    /// `merged_percentile(sketch, fraction)`: sketches in, merged, the percentile out.
    OfSketches,
}

/// One percentile function: a fixed fraction (`p99`), or the fraction as a second argument.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Percentile {
    name: &'static str,
    /// The fraction's bits, for the fixed ones (f64 is neither `Eq` nor `Hash`).
    fixed_fraction: Option<u64>,
    /// Whether the second argument is each value's weight (a non-negative integer).
    weighted: bool,
    mode: Mode,
    signature: Signature,
}

impl Percentile {
    fn fixed(name: &'static str, fraction: f64) -> Self {
        Self {
            name,
            fixed_fraction: Some(fraction.to_bits()),
            weighted: false,
            mode: Mode::Percentile,
            signature: Signature::numeric(1, Volatility::Immutable),
        }
    }

    fn with_argument() -> Self {
        Self {
            name: "percentile",
            fixed_fraction: None,
            weighted: false,
            mode: Mode::Percentile,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }

    fn weighted() -> Self {
        Self {
            name: "weighted_percentile",
            fixed_fraction: None,
            weighted: true,
            mode: Mode::Percentile,
            signature: Signature::any(3, Volatility::Immutable),
        }
    }

    fn sketches_out() -> Self {
        Self {
            name: "weighted_percentile_sketch",
            // No fraction is read: the answer is the sketch.
            fixed_fraction: Some(0.5f64.to_bits()),
            weighted: true,
            mode: Mode::SketchOut,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }

    fn of_sketches() -> Self {
        Self {
            name: "merged_percentile",
            fixed_fraction: None,
            weighted: false,
            mode: Mode::OfSketches,
            signature: Signature::any(2, Volatility::Immutable),
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
        let (first, rest) = arg_types.split_first().unwrap_or((&DataType::Null, &[]));
        let values_ok = match self.mode {
            Mode::OfSketches => matches!(first, DataType::Binary | DataType::Null),
            _ => first.is_numeric() || *first == DataType::Null,
        };
        if !values_ok || !rest.iter().all(DataType::is_numeric) {
            return plan_err!("{} does not take {arg_types:?}", self.name);
        }
        Ok(match self.mode {
            Mode::SketchOut => DataType::Binary,
            _ => DataType::Float64,
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SketchAccumulator {
            fraction: self.fraction(&args)?,
            weighted: self.weighted,
            mode: self.mode,
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
            mode: self.mode,
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
    mode: Mode,
    sketch: LogSketch,
}

impl Accumulator for SketchAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if self.mode == Mode::OfSketches {
            return self.merge_batch(&values[..1]);
        }
        let sketch = &mut self.sketch;
        for_each_weighted(values, self.weighted, None, |_, value, weight| {
            sketch.add_weighted(value, weight)
        })
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(match self.mode {
            Mode::SketchOut => ScalarValue::Binary(Some(self.sketch.encode())),
            _ => ScalarValue::Float64(self.sketch.quantile(self.fraction)),
        })
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
    mode: Mode,
    sketches: Vec<LogSketch>,
}

impl SketchGroups {
    /// Merges each kept row's sketch (bytes) into its group's.
    fn merge_sketches(
        &mut self,
        states: &ArrayRef,
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let states = states.as_binary_opt::<i32>().ok_or_else(|| {
            datafusion::error::DataFusionError::Execution(
                "merged_percentile takes the sketches weighted_percentile_sketch answers".into(),
            )
        })?;
        for (row, &group) in group_indices.iter().enumerate() {
            let kept = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if kept && states.is_valid(row) {
                self.sketches[group].merge(&decode(states.value(row))?);
            }
        }
        Ok(())
    }

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
        if self.mode == Mode::OfSketches {
            return self.merge_sketches(&values[0], group_indices, opt_filter);
        }
        let sketches = &mut self.sketches;
        for_each_weighted(values, self.weighted, opt_filter, |row, value, weight| {
            sketches[group_indices[row]].add_weighted(value, weight)
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        if self.mode == Mode::SketchOut {
            return Ok(self.state(emit_to)?.remove(0));
        }
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
        self.merge_sketches(&values[0], group_indices, None)
    }

    /// Each row as a sketch of its one value, for when DataFusion skips partial aggregation
    /// (groups nearly as many as rows).
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        if self.mode == Mode::OfSketches {
            let sketches = values[0].as_binary::<i32>();
            let kept = (0..sketches.len()).map(|row| {
                let kept = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
                (kept && sketches.is_valid(row)).then(|| sketches.value(row))
            });
            return Ok(vec![Arc::new(BinaryArray::from_iter(kept))]);
        }
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
mod tests;
