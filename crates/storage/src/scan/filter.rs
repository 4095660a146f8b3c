//! What a scan may skip: conditions a query engine pushes down, read conservatively.
//!
//! A [`ScanFilter`] is a conjunction. Every condition is *necessary* for a row the caller wants,
//! so a block, a row group or a row that cannot meet one is left out; the caller still applies
//! its whole filter to what comes back, so a condition this cannot judge (an unknown column, a
//! literal of another type, statistics that are missing) keeps the data in. The exception is a
//! *required* condition ([`ScanFilter::require`]): the scan guarantees every row it returns
//! meets it, so the caller need not read its column or judge it again.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, FixedSizeBinaryArray, Float64Array, Int64Array,
    Scalar, StringArray, StringViewArray, TimestampNanosecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use combray_model::TraceId;

use crate::block::Block;
use crate::head::schema::column;

/// How a column compares with a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

impl CompareOp {
    /// The operator seen from the other side: `a < b` is `b > a`.
    pub fn flipped(self) -> Self {
        match self {
            Self::Eq => Self::Eq,
            Self::NotEq => Self::NotEq,
            Self::Lt => Self::Gt,
            Self::LtEq => Self::GtEq,
            Self::Gt => Self::Lt,
            Self::GtEq => Self::LtEq,
        }
    }
}

/// A literal a column is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTC timestamp in nanoseconds since the epoch (`start_time`).
    TimeNanos(i64),
    /// Bytes (ids).
    Bytes(Vec<u8>),
}

impl Literal {
    /// The literal as a one-element array of a column's type (its value type when
    /// dictionary-encoded), or `None` when it does not convert exactly: a condition that cannot
    /// be compared keeps everything.
    pub(crate) fn as_scalar_of(&self, data_type: &DataType) -> Option<Scalar<ArrayRef>> {
        let target = match data_type {
            DataType::Dictionary(_, value) => value.as_ref(),
            other => other,
        };
        // Integers convert to floats only where every integer is exact.
        const EXACT_IN_F64: i64 = 1 << 53;
        let array: ArrayRef = match (self, target) {
            (Self::Text(v), DataType::Utf8) => Arc::new(StringArray::from(vec![v.as_str()])),
            (Self::Text(v), DataType::Utf8View) => {
                Arc::new(StringViewArray::from(vec![v.as_str()]))
            }
            (Self::Int(v), DataType::Int64) => Arc::new(Int64Array::from(vec![*v])),
            (Self::Int(v), DataType::Float64) if v.abs() <= EXACT_IN_F64 => {
                Arc::new(Float64Array::from(vec![*v as f64]))
            }
            (Self::Float(v), DataType::Float64) => Arc::new(Float64Array::from(vec![*v])),
            (Self::Bool(v), DataType::Boolean) => Arc::new(BooleanArray::from(vec![*v])),
            (Self::TimeNanos(v), DataType::Timestamp(TimeUnit::Nanosecond, zone)) => {
                Arc::new(TimestampNanosecondArray::from(vec![*v]).with_timezone_opt(zone.clone()))
            }
            (Self::Bytes(v), DataType::FixedSizeBinary(width))
                if usize::try_from(*width).ok() == Some(v.len()) =>
            {
                Arc::new(FixedSizeBinaryArray::try_from_iter(std::iter::once(v)).ok()?)
            }
            (Self::Bytes(v), DataType::Binary) => Arc::new(BinaryArray::from(vec![v.as_slice()])),
            _ => return None,
        };
        Some(Scalar::new(array))
    }
}

/// `column <op> literal`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The column, as the scan's schema names it.
    pub column: String,
    /// The comparison.
    pub op: CompareOp,
    /// The literal.
    pub value: Literal,
}

/// Rows of a block read together when a scan samples.
pub const SAMPLE_RUN_ROWS: usize = 2048;

/// Conditions every wanted row meets (ANDed), and sets of services and traces it belongs to.
#[derive(Debug, Clone, Default)]
pub struct ScanFilter {
    pub(crate) conditions: Vec<Condition>,
    /// Columns every wanted row has a value in.
    present: BTreeSet<String>,
    services: Option<BTreeSet<String>>,
    traces: Option<BTreeSet<TraceId>>,
    /// Read only about this fraction of the rows (see [`ScanFilter::sample`]).
    sample: Option<f64>,
    /// Conditions every returned row meets (also in `conditions`).
    required: Vec<Condition>,
}

impl ScanFilter {
    /// A filter that keeps everything.
    pub fn all() -> Self {
        Self::default()
    }

    /// Wanted rows meet `condition` too.
    pub fn and(&mut self, condition: Condition) {
        if condition.op == CompareOp::Eq {
            match (condition.column.as_str(), &condition.value) {
                (column::SERVICE, Literal::Text(name)) => {
                    self.services_in(BTreeSet::from([name.clone()]));
                }
                (column::TRACE_ID, Literal::Bytes(bytes)) => {
                    if let Ok(id) = TraceId::from_slice(bytes) {
                        self.traces_in(BTreeSet::from([id]));
                    }
                }
                _ => {}
            }
        }
        self.conditions.push(condition);
    }

    /// Every row the scan returns meets `condition`, which must be a comparison of `start_time`
    /// with a timestamp (the one column every source has in one type): the caller may leave it
    /// to the scan. A row group whose statistics show every row meets it is read without
    /// judging it at all.
    pub fn require(&mut self, condition: Condition) {
        debug_assert!(
            condition.column == column::START_TIME
                && matches!(condition.value, Literal::TimeNanos(_))
        );
        self.required.push(condition.clone());
        self.and(condition);
    }

    /// The conditions the scan must apply itself.
    pub(crate) fn required(&self) -> &[Condition] {
        &self.required
    }

    /// Wanted rows have a value (not null) in `column`: a source without the column, or whose
    /// statistics say it is null on every row, is skipped.
    pub fn and_present(&mut self, column: impl Into<String>) {
        self.present.insert(column.into());
    }

    /// The columns wanted rows have a value in: the `present` ones and every compared one.
    pub(crate) fn valued_columns(&self) -> BTreeSet<&str> {
        self.conditions
            .iter()
            .map(|c| c.column.as_str())
            .chain(self.present())
            .collect()
    }

    /// The columns wanted rows have a value in, as [`ScanFilter::and_present`] named them.
    pub(crate) fn present(&self) -> impl Iterator<Item = &str> {
        self.present.iter().map(String::as_str)
    }

    /// Wanted rows belong to one of these services.
    pub fn services_in(&mut self, names: BTreeSet<String>) {
        self.services = Some(match self.services.take() {
            Some(known) => known.intersection(&names).cloned().collect(),
            None => names,
        });
    }

    /// Wanted rows belong to one of these traces.
    pub fn traces_in(&mut self, ids: BTreeSet<TraceId>) {
        self.traces = Some(match self.traces.take() {
            Some(known) => known.intersection(&ids).copied().collect(),
            None => ids,
        });
    }

    /// Reads only a uniform sample of about `fraction` of the rows, in runs of
    /// [`SAMPLE_RUN_ROWS`] rows of blocks (rows of a block are in trace id order, so a run is a
    /// few random traces) and single rows of the head; a fraction of 1 or more reads every row.
    /// Unlike everything else here this leaves out rows the filter keeps: it is for estimates
    /// (BubbleUp's distributions), which then decode a tenth of the data for a tenth of the cost.
    /// A scan that names traces reads them whole.
    pub fn sample(&mut self, fraction: f64) {
        self.sample = (fraction < 1.0).then_some(fraction.max(0.0));
    }

    /// The fraction of rows to read, when sampling.
    pub(crate) fn sample_fraction(&self) -> Option<f64> {
        self.sample.filter(|_| self.traces.is_none())
    }

    /// The traces wanted rows belong to, when the filter names them.
    pub(crate) fn traces(&self) -> Option<&BTreeSet<TraceId>> {
        self.traces.as_ref()
    }

    /// Bounds on `start_time` (nanoseconds): wanted rows start within them.
    fn start_bounds(&self) -> (Option<i64>, Option<i64>) {
        let (mut at_least, mut at_most): (Option<i64>, Option<i64>) = (None, None);
        for condition in &self.conditions {
            let (column::START_TIME, Literal::TimeNanos(nanos)) =
                (condition.column.as_str(), &condition.value)
            else {
                continue;
            };
            if matches!(
                condition.op,
                CompareOp::Gt | CompareOp::GtEq | CompareOp::Eq
            ) {
                at_least = Some(at_least.map_or(*nanos, |v| v.max(*nanos)));
            }
            if matches!(
                condition.op,
                CompareOp::Lt | CompareOp::LtEq | CompareOp::Eq
            ) {
                at_most = Some(at_most.map_or(*nanos, |v| v.min(*nanos)));
            }
        }
        (at_least, at_most)
    }

    /// Whether a block may hold a wanted row, judged from its meta alone (the trace ids it
    /// names are looked up in the block's index by the caller).
    pub(crate) fn may_match_block(&self, block: &Block) -> bool {
        let meta = &block.meta;
        let min_start = i64::try_from(meta.min_start_unix_nano).unwrap_or(i64::MAX);
        // No span of the block starts after its latest end.
        let max_start = i64::try_from(meta.max_end_unix_nano).unwrap_or(i64::MAX);
        let (at_least, at_most) = self.start_bounds();
        if at_least.is_some_and(|bound| max_start < bound) {
            return false;
        }
        if at_most.is_some_and(|bound| min_start > bound) {
            return false;
        }
        if let Some(services) = &self.services {
            if !services.iter().any(|s| meta.operations.contains_key(s)) {
                return false;
            }
        }
        true
    }

    /// Whether the filter needs a column that a source lacks: every row of it reads the column
    /// as null, which no comparison accepts and no `present` column may be, so the source holds
    /// no wanted row.
    pub(crate) fn needs_missing_column(&self, has: impl Fn(&str) -> bool) -> bool {
        self.valued_columns().into_iter().any(|name| !has(name))
    }
}

/// Whether a value range `[min, max]` (a row group's statistics) may hold a value meeting
/// `op literal`; `None` bounds are unknown and keep the range.
pub(crate) fn range_may_match(
    op: CompareOp,
    literal: &Scalar<ArrayRef>,
    min: Option<&ArrayRef>,
    max: Option<&ArrayRef>,
) -> bool {
    use arrow_ord::cmp;
    let holds = |result: Result<BooleanArray, arrow_schema::ArrowError>| match result {
        Ok(answer) => answer.is_null(0) || answer.value(0),
        Err(_) => true,
    };
    let (min, max) = (min.filter(|a| !a.is_null(0)), max.filter(|a| !a.is_null(0)));
    match op {
        CompareOp::Eq => {
            min.is_none_or(|min| holds(cmp::lt_eq(min, literal)))
                && max.is_none_or(|max| holds(cmp::gt_eq(max, literal)))
        }
        CompareOp::NotEq => match (min, max) {
            (Some(min), Some(max)) => {
                !(holds_strict(cmp::eq(min, literal)) && holds_strict(cmp::eq(max, literal)))
            }
            _ => true,
        },
        CompareOp::Lt => min.is_none_or(|min| holds(cmp::lt(min, literal))),
        CompareOp::LtEq => min.is_none_or(|min| holds(cmp::lt_eq(min, literal))),
        CompareOp::Gt => max.is_none_or(|max| holds(cmp::gt(max, literal))),
        CompareOp::GtEq => max.is_none_or(|max| holds(cmp::gt_eq(max, literal))),
    }
}

/// Whether every value of a range `[min, max]` without nulls (a row group's statistics) meets
/// `op literal`; unknown bounds prove nothing.
pub(crate) fn range_must_match(
    op: CompareOp,
    literal: &Scalar<ArrayRef>,
    min: Option<&ArrayRef>,
    max: Option<&ArrayRef>,
) -> bool {
    use arrow_ord::cmp;
    let (Some(min), Some(max)) = (min.filter(|a| !a.is_null(0)), max.filter(|a| !a.is_null(0)))
    else {
        return false;
    };
    match op {
        CompareOp::Eq => holds_strict(cmp::eq(min, literal)) && holds_strict(cmp::eq(max, literal)),
        CompareOp::NotEq => {
            holds_strict(cmp::gt(min, literal)) || holds_strict(cmp::lt(max, literal))
        }
        CompareOp::Lt => holds_strict(cmp::lt(max, literal)),
        CompareOp::LtEq => holds_strict(cmp::lt_eq(max, literal)),
        CompareOp::Gt => holds_strict(cmp::gt(min, literal)),
        CompareOp::GtEq => holds_strict(cmp::gt_eq(min, literal)),
    }
}

/// A comparison known to be true (an error or null is not).
fn holds_strict(result: Result<BooleanArray, arrow_schema::ArrowError>) -> bool {
    result.is_ok_and(|answer| !answer.is_null(0) && answer.value(0))
}

/// The rows of `array` meeting `op literal`, as a mask (nulls do not). An array that cannot be
/// compared keeps every row.
pub(crate) fn rows_matching(
    array: &ArrayRef,
    op: CompareOp,
    literal: &Scalar<ArrayRef>,
) -> BooleanArray {
    match compare(array, op, literal) {
        Ok(mask) => mask,
        Err(_) => BooleanArray::from(vec![true; array.len()]),
    }
}

/// `array op literal`, row by row (null where the value is).
pub(crate) fn compare(
    array: &ArrayRef,
    op: CompareOp,
    literal: &Scalar<ArrayRef>,
) -> Result<BooleanArray, arrow_schema::ArrowError> {
    use arrow_ord::cmp;
    if matches!(op, CompareOp::Eq | CompareOp::NotEq) {
        if let Some(mask) = super::views::equal_views(
            array,
            arrow_array::Datum::get(literal).0,
            op == CompareOp::NotEq,
        ) {
            return Ok(mask);
        }
    }
    match op {
        CompareOp::Eq => cmp::eq(array, literal),
        CompareOp::NotEq => cmp::neq(array, literal),
        CompareOp::Lt => cmp::lt(array, literal),
        CompareOp::LtEq => cmp::lt_eq(array, literal),
        CompareOp::Gt => cmp::gt(array, literal),
        CompareOp::GtEq => cmp::gt_eq(array, literal),
    }
}
