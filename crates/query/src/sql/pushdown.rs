//! The filters DataFusion pushes into the `spans` scan, said in storage's terms
//! ([`ScanFilter`]): comparisons of a column with a literal, `IS NOT NULL`, `IN` lists and
//! `OR`s of trace ids and services. Anything else is left to DataFusion, which applies every filter to what the
//! scan returns anyway (the push-down is inexact), so leaving a filter out costs reading, never
//! a wrong answer.

use std::collections::BTreeSet;

use arrow_schema::{DataType, Schema, TimeUnit};
use combray_model::TraceId;
use combray_storage::scan::column;
use combray_storage::scan::{CompareOp, Condition, Literal, ScanFilter};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;

/// Every filter (they are ANDed) that storage can use; those [`required_condition`] takes,
/// storage applies itself.
pub(crate) fn scan_filter(filters: &[Expr], schema: &Schema) -> ScanFilter {
    let mut filter = ScanFilter::all();
    for expr in filters {
        match required_condition(expr, schema) {
            Some(condition) => filter.require(condition),
            None => absorb(&mut filter, expr, schema),
        }
    }
    filter
}

/// The filters storage applies exactly (DataFusion then does not apply them again, nor read
/// their column): a range on `start_time` against a nanosecond timestamp, the window every
/// Honeycomb, X-Ray and search query has. Row groups inside the window are then read without
/// decoding `start_time` at all.
pub(crate) fn required_condition(expr: &Expr, schema: &Schema) -> Option<Condition> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    let op = match op {
        Operator::Lt => CompareOp::Lt,
        Operator::LtEq => CompareOp::LtEq,
        Operator::Gt => CompareOp::Gt,
        Operator::GtEq => CompareOp::GtEq,
        _ => return None,
    };
    let nanos = |expr: &Expr| match expr {
        Expr::Literal(ScalarValue::TimestampNanosecond(Some(v), _), _) => Some(*v),
        _ => None,
    };
    let (op, nanos) = match (column_name(left), column_name(right)) {
        (Some(column::START_TIME), _) => (op, nanos(right)?),
        (_, Some(column::START_TIME)) => (op.flipped(), nanos(left)?),
        _ => return None,
    };
    let field = schema.field_with_name(column::START_TIME).ok()?;
    if !matches!(
        field.data_type(),
        DataType::Timestamp(TimeUnit::Nanosecond, _)
    ) {
        return None;
    }
    Some(Condition {
        column: column::START_TIME.to_owned(),
        op,
        value: Literal::TimeNanos(nanos),
    })
}

fn absorb(filter: &mut ScanFilter, expr: &Expr, schema: &Schema) {
    // `trace_id = a OR trace_id = b` (what `IN (a, b)` becomes) and `IN` lists; a single
    // `=` is a comparison like any other (below), which also names the trace or service.
    if let Some(ids) = one_of(expr, column::TRACE_ID, &trace_id).filter(|ids| ids.len() > 1) {
        filter.traces_in(ids);
        return;
    }
    if let Some(names) = one_of(expr, column::SERVICE, &text).filter(|names| names.len() > 1) {
        filter.services_in(names);
        return;
    }
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            absorb(filter, left, schema);
            absorb(filter, right, schema);
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let condition = match (column_name(left), literal(right), column_name(right)) {
                (Some(name), Some(value), _) => comparison(name, *op, value, schema),
                (None, _, Some(name)) => literal(left)
                    .and_then(|value| comparison(name, *op, value, schema))
                    .map(|c| Condition {
                        op: c.op.flipped(),
                        ..c
                    }),
                _ => None,
            };
            if let Some(condition) = condition {
                filter.and(condition);
            }
        }
        Expr::IsNotNull(inner) => {
            if let Some(name) = column_name(inner) {
                if schema.field_with_name(name).is_ok() {
                    filter.and_present(name);
                }
            }
        }
        Expr::Between(between) if !between.negated => {
            if let (Some(name), Some(low), Some(high)) = (
                column_name(&between.expr),
                literal(&between.low),
                literal(&between.high),
            ) {
                for (op, value) in [(Operator::GtEq, low), (Operator::LtEq, high)] {
                    if let Some(condition) = comparison(name, op, value, schema) {
                        filter.and(condition);
                    }
                }
            }
        }
        _ => {}
    }
}

/// `column <op> value`, when the literal means the same in storage's terms.
fn comparison(name: &str, op: Operator, value: &ScalarValue, schema: &Schema) -> Option<Condition> {
    let op = match op {
        Operator::Eq => CompareOp::Eq,
        Operator::NotEq => CompareOp::NotEq,
        Operator::Lt => CompareOp::Lt,
        Operator::LtEq => CompareOp::LtEq,
        Operator::Gt => CompareOp::Gt,
        Operator::GtEq => CompareOp::GtEq,
        _ => return None,
    };
    schema.field_with_name(name).ok()?;
    Some(Condition {
        column: name.to_owned(),
        op,
        value: to_literal(value)?,
    })
}

fn to_literal(value: &ScalarValue) -> Option<Literal> {
    Some(match value {
        ScalarValue::Dictionary(_, inner) => return to_literal(inner),
        ScalarValue::Utf8(Some(v))
        | ScalarValue::LargeUtf8(Some(v))
        | ScalarValue::Utf8View(Some(v)) => Literal::Text(v.clone()),
        ScalarValue::Int64(Some(v)) => Literal::Int(*v),
        ScalarValue::Float64(Some(v)) => Literal::Float(*v),
        ScalarValue::Boolean(Some(v)) => Literal::Bool(*v),
        value @ (ScalarValue::TimestampNanosecond(..)
        | ScalarValue::TimestampMicrosecond(..)
        | ScalarValue::TimestampMillisecond(..)
        | ScalarValue::TimestampSecond(..)) => Literal::TimeNanos(timestamp_nanos(value)?),
        ScalarValue::FixedSizeBinary(_, Some(bytes))
        | ScalarValue::Binary(Some(bytes))
        | ScalarValue::BinaryView(Some(bytes)) => Literal::Bytes(bytes.clone()),
        _ => return None,
    })
}

fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value),
        Expr::Cast(cast) => literal(&cast.expr),
        _ => None,
    }
}

/// The column an expression reads, through casts that only relabel its values (a timestamp's
/// zone, text or bytes to another text or bytes type): a cast that can round or truncate
/// (`CAST(start_time AS TIMESTAMP(0))`) would make a comparison mean something else.
fn column_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(cast) if relabels(cast.field.data_type()) => column_name(&cast.expr),
        _ => None,
    }
}

fn relabels(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(TimeUnit::Nanosecond, _)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

fn timestamp_nanos(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

fn text(value: &ScalarValue) -> Option<String> {
    match to_literal(value)? {
        Literal::Text(text) => Some(text),
        _ => None,
    }
}

fn trace_id(value: &ScalarValue) -> Option<TraceId> {
    match to_literal(value)? {
        Literal::Bytes(bytes) => TraceId::from_slice(&bytes).ok(),
        _ => None,
    }
}

/// The values a condition allows, when it only compares `column` for equality with literals
/// (`=`, `OR`s of `=`, `IN` lists); `None` when it is anything else.
fn one_of<T: Ord>(
    expr: &Expr,
    column: &str,
    value: &impl Fn(&ScalarValue) -> Option<T>,
) -> Option<BTreeSet<T>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut values = one_of(left, column, value)?;
            values.extend(one_of(right, column, value)?);
            Some(values)
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let (name, literal) = match (column_name(left), column_name(right)) {
                (Some(name), _) => (name, literal(right)?),
                (_, Some(name)) => (name, literal(left)?),
                _ => return None,
            };
            if name != column {
                return None;
            }
            Some(BTreeSet::from([value(literal)?]))
        }
        Expr::InList(list) if !list.negated && column_name(&list.expr) == Some(column) => list
            .list
            .iter()
            .map(|e| literal(e).and_then(value))
            .collect(),
        _ => None,
    }
}
