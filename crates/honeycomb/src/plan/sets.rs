//! Results, total and time series in one pass over the events: one `GROUP BY GROUPING SETS`
//! answers the groups, the whole window and every (time bucket, group), so the events are read
//! and filtered once instead of once per part of the answer. Havings and the ranking are
//! computed over the results' rows in the same statement; the caller keeps the first `limit`.
//!
//! With a series and calculations whose values merge exactly (COUNT, MIN, MAX, percentiles over
//! their sketches), the events are grouped once, by (bucket, group), and the grouping sets run
//! over those few rows, merging the buckets into the groups and the total: grouping every event
//! once per set costs as much again as the series itself.
//!
//! A RATE_* value is a difference between buckets and CONCURRENCY spreads a span over the
//! buckets it covers, so queries with either are answered part by part instead.

use crate::ops::CalcOp;
use crate::plan::aggregate::{having_condition, order_by, rate_base, with_formulas};
use crate::plan::{float_literal, Events};
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
        // Without breakdowns or a series the answer is one row: nothing to group or rank.
        let single = groups.is_empty() && !series;
        let (sets, select) = self.sets_and_select(query, &groups, total, series);
        let events = format!(
            "(SELECT *, {} AS {BUCKET} FROM ({}) AS e0) AS e",
            self.bucket_sql(),
            self.sql
        );
        let condition = self.condition(&query.filters, query.any);
        let source = format!("{events} WHERE {condition}");
        let aggregated = match self.merged_over_buckets(query, series) {
            Some(parts) => merged_statement(&groups, &select, &sets, &parts, &source),
            // One row, the window's: a plain aggregate (same answer on no events, one row).
            None if single => format!("SELECT {} FROM {source}", select.join(", ")),
            None => format!(
                "SELECT {} FROM {source} GROUP BY GROUPING SETS ({})",
                select.join(", "),
                sets.join(", ")
            ),
        };
        let mut columns = vec![
            "\"__s\"".to_owned(),
            format!(
                "COALESCE({}, false) AS \"__h\"",
                having_condition(query).unwrap_or_else(|| "true".into())
            ),
            if single {
                "CAST(1 AS BIGINT) AS \"__r\"".to_owned()
            } else {
                format!(
                    "ROW_NUMBER() OVER (PARTITION BY \"__s\" ORDER BY {}) AS \"__r\"",
                    order_by(query).join(", ")
                )
            },
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

    /// The grouping sets, and the select list over the events: `__s`, `__b`, `g0…`, `a0…`.
    fn sets_and_select(
        &self,
        query: &Validated,
        groups: &[String],
        total: bool,
        series: bool,
    ) -> (Vec<String>, Vec<String>) {
        let mut sets = vec![format!("({})", groups.join(", "))];
        if total && !groups.is_empty() {
            sets.push("()".to_owned());
        }
        if series {
            let mut by_bucket = vec![BUCKET.to_owned()];
            by_bucket.extend(groups.iter().cloned());
            sets.push(format!("({})", by_bucket.join(", ")));
        }
        // Results rows have the bucket grouped out (1) and the groups in (0); the total both
        // out (3); series rows both in (0).
        let in_bucket = if series {
            format!("GROUPING({BUCKET})")
        } else {
            "1".to_owned()
        };
        let set = match groups.first() {
            Some(first) => format!("{in_bucket} + 2 * GROUPING({first})"),
            None => in_bucket,
        };
        let bucket = if series {
            BUCKET
        } else {
            "CAST(NULL AS BIGINT)"
        };
        let mut select = vec![
            format!("CAST({set} AS BIGINT) AS \"__s\""),
            format!("{bucket} AS \"__b\""),
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
        (sets, select)
    }

    /// Each calculation as a per-(bucket, group) partial and the merge of partials, when
    /// `series` and every calculation merges exactly.
    fn merged_over_buckets(
        &self,
        query: &Validated,
        series: bool,
    ) -> Option<Vec<(String, String)>> {
        if !series {
            return None;
        }
        query
            .calculations
            .iter()
            .enumerate()
            .map(|(i, calc)| {
                let partial = format!("\"p{i}\"");
                // A COUNT, MIN or MAX of a bucket is its own partial; a percentile's is a sketch.
                Some(match calc.op {
                    CalcOp::Count => (self.aggregate(calc), format!("COALESCE(SUM({partial}), 0)")),
                    CalcOp::Min => (self.aggregate(calc), format!("MIN({partial})")),
                    CalcOp::Max => (self.aggregate(calc), format!("MAX({partial})")),
                    CalcOp::Percentile(_, fraction) => (
                        format!(
                            "weighted_percentile_sketch({}, \"__w\"){}",
                            self.number(calc.column.as_deref().unwrap_or_default()),
                            self.calculation_filter(calc)
                        ),
                        format!("merged_percentile({partial}, {})", float_literal(fraction)),
                    ),
                    CalcOp::Heatmap => (self.aggregate(calc), self.aggregate(calc)),
                    _ => return None,
                })
            })
            .collect()
    }
}

/// The bucket column the events get.
const BUCKET: &str = "\"__bk\"";

/// The events grouped once by (bucket, group) into `parts`' partials (`p0…`), then the
/// grouping sets over those rows with each partial merged. The inner grouping keeps the groups'
/// names, so `select`'s leading columns and `sets` read its rows unchanged.
fn merged_statement(
    groups: &[String],
    select: &[String],
    sets: &[String],
    parts: &[(String, String)],
    source: &str,
) -> String {
    let mut keys = vec![BUCKET.to_owned()];
    keys.extend(groups.iter().cloned());
    let inner: Vec<String> = keys
        .iter()
        .cloned()
        .chain(
            parts
                .iter()
                .enumerate()
                .map(|(i, (partial, _))| format!("{partial} AS \"p{i}\"")),
        )
        .collect();
    let outer: Vec<String> = select
        .iter()
        .take(2 + groups.len())
        .cloned()
        .chain(
            parts
                .iter()
                .enumerate()
                .map(|(i, (_, merge))| format!("{merge} AS \"a{i}\"")),
        )
        .collect();
    format!(
        "SELECT {} FROM (SELECT {} FROM {source} GROUP BY {}) AS m GROUP BY GROUPING SETS ({})",
        outer.join(", "),
        inner.join(", "),
        keys.join(", "),
        sets.join(", ")
    )
}
