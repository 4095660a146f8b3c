//! Results, total and time series in one pass over the events: one `GROUP BY GROUPING SETS`
//! answers the groups, the whole window and every (time bucket, group), so the events are read
//! and filtered once instead of once per part of the answer. Havings and the ranking are
//! computed over the results' rows in the same statement; the caller keeps the first `limit`.
//!
//! A RATE_* value is a difference between buckets and CONCURRENCY spreads a span over the
//! buckets it covers, so queries with either are answered part by part instead.

use crate::ops::CalcOp;
use crate::plan::aggregate::{having_condition, order_by, rate_base, with_formulas};
use crate::plan::Events;
use crate::spec::Validated;

/// Which part of the answer a row of [`Events::grouping_sets`] is, from its `__s` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// A group over the whole window.
    Results,
    /// Every event of the window (only with breakdowns; without, the one results row is it).
    Total,
    /// A group in one time bucket.
    Series,
}

impl Part {
    /// The part a row's `__s` value names.
    pub(crate) fn of(value: i64) -> Self {
        match value {
            0 => Self::Series,
            3 => Self::Total,
            _ => Self::Results,
        }
    }
}

/// Columns of a [`Events::grouping_sets`] row before the bucket, groups and values: `__s`, then
/// whether the havings keep it (`__h`), then its rank among the results (`__r`).
pub(crate) const LEADING_COLUMNS: usize = 3;

impl Events {
    /// Whether [`Events::grouping_sets`] can answer `query`: no RATE_* and no CONCURRENCY.
    pub(crate) fn one_pass(query: &Validated) -> bool {
        query
            .calculations
            .iter()
            .all(|c| rate_base(c.op).is_none() && c.op != CalcOp::Concurrency)
    }

    /// One row per results group, per (bucket, group) when `series`, and for the whole window
    /// when `total` and there are breakdowns: `__s` (see [`Part::of`]), `__h`, `__r`, then
    /// `__b` (the bucket's start in seconds, null outside the series), `g0…`, `a0…`, `f0…`.
    pub(crate) fn grouping_sets(&self, query: &Validated, total: bool, series: bool) -> String {
        let groups = self.groups(query);
        let bucket = "\"__bk\"";
        let mut sets = vec![format!("({})", groups.join(", "))];
        if total && !groups.is_empty() {
            sets.push("()".to_owned());
        }
        if series {
            let mut by_bucket = vec![bucket.to_owned()];
            by_bucket.extend(groups.iter().cloned());
            sets.push(format!("({})", by_bucket.join(", ")));
        }
        // Results rows have the bucket grouped out (1) and the groups in (0); the total both
        // out (3); series rows both in (0).
        let in_bucket = if series {
            format!("GROUPING({bucket})")
        } else {
            "1".to_owned()
        };
        let set = match groups.first() {
            Some(first) => format!("{in_bucket} + 2 * GROUPING({first})"),
            None => in_bucket,
        };
        let mut select = vec![
            format!("CAST({set} AS BIGINT) AS \"__s\""),
            format!(
                "{} AS \"__b\"",
                if series {
                    bucket
                } else {
                    "CAST(NULL AS BIGINT)"
                }
            ),
        ];
        select.extend(
            groups
                .iter()
                .enumerate()
                .map(|(i, g)| format!("{g} AS \"g{i}\"")),
        );
        select.extend(
            query
                .calculations
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{} AS \"a{i}\"", self.aggregate(c))),
        );
        let events = format!(
            "(SELECT *, {} AS {bucket} FROM ({}) AS e0) AS e",
            self.bucket_sql(),
            self.sql
        );
        let aggregated = format!(
            "SELECT {} FROM {events} WHERE {} GROUP BY GROUPING SETS ({})",
            select.join(", "),
            self.condition(&query.filters, query.any),
            sets.join(", ")
        );
        let mut columns = vec![
            "\"__s\"".to_owned(),
            format!(
                "COALESCE({}, false) AS \"__h\"",
                having_condition(query).unwrap_or_else(|| "true".into())
            ),
            format!(
                "ROW_NUMBER() OVER (PARTITION BY \"__s\" ORDER BY {}) AS \"__r\"",
                order_by(query).join(", ")
            ),
            "\"__b\"".to_owned(),
        ];
        columns.extend((0..groups.len()).map(|i| format!("\"g{i}\"")));
        columns.extend((0..query.calculations.len()).map(|i| format!("\"a{i}\"")));
        columns.extend((0..query.formulas.len()).map(|i| format!("\"f{i}\"")));
        format!(
            "SELECT {} FROM ({}) AS r",
            columns.join(", "),
            with_formulas(query, aggregated)
        )
    }
}
