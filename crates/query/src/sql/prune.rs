//! Which blocks a query can skip by their meta alone: the pushed-down filters that bound
//! `start_time` or name services, read conservatively (anything not understood keeps a block).

use std::collections::BTreeSet;

use combray_storage::block::BlockMeta;
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

    fn restrict_services(&mut self, names: BTreeSet<String>) {
        self.services = Some(match self.services.take() {
            Some(known) => known.intersection(&names).cloned().collect(),
            None => names,
        });
    }

    /// Whether a block may hold a matching span.
    pub(crate) fn may_match(&self, meta: &BlockMeta) -> bool {
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
