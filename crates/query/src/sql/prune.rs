//! Which blocks a query can skip before reading any data: the pushed-down filters that bound
//! `start_time`, name services (both against the meta) or name trace ids (against the block's
//! trace index), read conservatively (anything not understood keeps a block).

use std::collections::BTreeSet;

use combray_model::TraceId;
use combray_storage::block::Block;
use combray_storage::head::schema::column;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;

/// What the filters say about blocks.
#[derive(Debug, Default)]
pub(crate) struct BlockFilter {
    /// Spans start at or after this (nanoseconds since the epoch).
    start_at_least: Option<i64>,
    /// Spans start at or before this.
    start_at_most: Option<i64>,
    /// Spans belong to one of these services.
    services: Option<BTreeSet<String>>,
    /// Spans belong to one of these traces.
    traces: Option<BTreeSet<TraceId>>,
}

fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value),
        Expr::Cast(cast) => literal(&cast.expr),
        _ => None,
    }
}

fn column_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(cast) => column_name(&cast.expr),
        _ => None,
    }
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
    match value {
        ScalarValue::Utf8(Some(v))
        | ScalarValue::LargeUtf8(Some(v))
        | ScalarValue::Utf8View(Some(v)) => Some(v.clone()),
        ScalarValue::Dictionary(_, inner) => text(inner),
        _ => None,
    }
}

fn trace_id(value: &ScalarValue) -> Option<TraceId> {
    match value {
        ScalarValue::FixedSizeBinary(16, Some(bytes))
        | ScalarValue::Binary(Some(bytes))
        | ScalarValue::LargeBinary(Some(bytes))
        | ScalarValue::BinaryView(Some(bytes)) => TraceId::from_slice(bytes).ok(),
        ScalarValue::Dictionary(_, inner) => trace_id(inner),
        _ => None,
    }
}

/// The trace ids a condition allows, when it only compares `trace_id` with literals.
fn trace_ids_of(expr: &Expr) -> Option<BTreeSet<TraceId>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut ids = trace_ids_of(left)?;
            ids.extend(trace_ids_of(right)?);
            Some(ids)
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let (column, value) = match (column_name(left), column_name(right)) {
                (Some(name), _) => (name, literal(right)?),
                (_, Some(name)) => (name, literal(left)?),
                _ => return None,
            };
            if column != column::TRACE_ID {
                return None;
            }
            Some(BTreeSet::from([trace_id(value)?]))
        }
        Expr::InList(list)
            if !list.negated && column_name(&list.expr) == Some(column::TRACE_ID) =>
        {
            list.list
                .iter()
                .map(|e| literal(e).and_then(trace_id))
                .collect()
        }
        _ => None,
    }
}

fn flip(op: Operator) -> Option<Operator> {
    Some(match op {
        Operator::Eq => Operator::Eq,
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        _ => return None,
    })
}

impl BlockFilter {
    /// Reads every filter (they are ANDed).
    pub(crate) fn from_exprs(filters: &[Expr]) -> Self {
        let mut filter = Self::default();
        for expr in filters {
            filter.absorb(expr);
        }
        filter
    }

    fn absorb(&mut self, expr: &Expr) {
        // `trace_id = a OR trace_id = b` (what `IN (a, b)` becomes) and `IN` lists.
        if let Some(ids) = trace_ids_of(expr) {
            self.restrict_traces(ids);
            return;
        }
        match expr {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::And,
                right,
            }) => {
                self.absorb(left);
                self.absorb(right);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if let (Some(name), Some(value)) = (column_name(left), literal(right)) {
                    self.compare(name, *op, value);
                } else if let (Some(value), Some(name), Some(op)) =
                    (literal(left), column_name(right), flip(*op))
                {
                    self.compare(name, op, value);
                }
            }
            Expr::Between(between) if !between.negated => {
                if let (Some(name), Some(low), Some(high)) = (
                    column_name(&between.expr),
                    literal(&between.low),
                    literal(&between.high),
                ) {
                    self.compare(name, Operator::GtEq, low);
                    self.compare(name, Operator::LtEq, high);
                }
            }
            Expr::InList(list)
                if !list.negated && column_name(&list.expr) == Some(column::SERVICE) =>
            {
                let names: Option<BTreeSet<String>> = list
                    .list
                    .iter()
                    .map(|e| literal(e).and_then(text))
                    .collect();
                if let Some(names) = names {
                    self.restrict_services(names);
                }
            }
            _ => {}
        }
    }

    fn compare(&mut self, name: &str, op: Operator, value: &ScalarValue) {
        if name == column::START_TIME {
            let Some(nanos) = timestamp_nanos(value) else {
                return;
            };
            if matches!(op, Operator::Gt | Operator::GtEq | Operator::Eq) {
                self.start_at_least = Some(self.start_at_least.map_or(nanos, |v| v.max(nanos)));
            }
            if matches!(op, Operator::Lt | Operator::LtEq | Operator::Eq) {
                self.start_at_most = Some(self.start_at_most.map_or(nanos, |v| v.min(nanos)));
            }
        } else if name == column::SERVICE && op == Operator::Eq {
            if let Some(service) = text(value) {
                self.restrict_services(BTreeSet::from([service]));
            }
        }
    }

    fn restrict_traces(&mut self, ids: BTreeSet<TraceId>) {
        self.traces = Some(match self.traces.take() {
            Some(known) => known.intersection(&ids).copied().collect(),
            None => ids,
        });
    }

    fn restrict_services(&mut self, names: BTreeSet<String>) {
        self.services = Some(match self.services.take() {
            Some(known) => known.intersection(&names).cloned().collect(),
            None => names,
        });
    }

    /// Whether a block may hold a matching span.
    pub(crate) fn may_match(&self, block: &Block) -> bool {
        let meta = &block.meta;
        // A trace id the block's index does not hold rules the block out without a read.
        if let Some(traces) = &self.traces {
            if !traces.iter().any(|id| block.traces.find(id).is_some()) {
                return false;
            }
        }
        let min_start = i64::try_from(meta.min_start_unix_nano).unwrap_or(i64::MAX);
        // No span of the block starts after its latest end.
        let max_start = i64::try_from(meta.max_end_unix_nano).unwrap_or(i64::MAX);
        if self
            .start_at_least
            .is_some_and(|at_least| max_start < at_least)
        {
            return false;
        }
        if self
            .start_at_most
            .is_some_and(|at_most| min_start > at_most)
        {
            return false;
        }
        match &self.services {
            Some(services) => services.iter().any(|s| meta.operations.contains_key(s)),
            None => true,
        }
    }
}
