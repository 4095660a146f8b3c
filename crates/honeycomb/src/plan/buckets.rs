//! The per-time-bucket queries: the series (aggregates per bucket and group, CONCURRENCY
//! spread over the buckets each span covers, RATE_* as differences between buckets) and
//! HEATMAP's value range and cell counts.

use crate::ops::CalcOp;
use crate::plan::aggregate::{formula_columns, rate_base, same_groups, with_formulas};
use crate::plan::{float_literal, Events, HEATMAP_BUCKETS};
use crate::spec::{ValidCalculation, Validated};

impl Events {
    /// The start (Unix seconds) of the time bucket an event falls in.
    pub(crate) fn bucket_sql(&self) -> String {
        let seconds = self.window.granularity;
        let g = seconds.saturating_mul(1_000_000_000);
        format!("(\"__ns\" / {g}) * {seconds}")
    }

    /// One row per time bucket and group: `__b` (the bucket's start in seconds), `g0…`, `a0…`,
    /// `f0…`. Buckets and groups without events have no row.
    pub(crate) fn series(&self, query: &Validated) -> String {
        let groups = self.groups(query);
        let bucket = self.bucket_sql();
        let mut select = vec![format!("{bucket} AS \"__b\"")];
        select.extend(
            groups
                .iter()
                .enumerate()
                .map(|(i, g)| format!("{g} AS \"g{i}\"")),
        );
        for (i, calc) in query.calculations.iter().enumerate() {
            let aggregate = if calc.op == CalcOp::Concurrency {
                "CAST(NULL AS DOUBLE)".to_owned()
            } else {
                self.aggregate(calc)
            };
            select.push(format!("{aggregate} AS \"a{i}\""));
        }
        let mut group_by = vec![bucket];
        group_by.extend(groups);
        let mut sql = format!(
            "SELECT {} {} GROUP BY {}",
            select.join(", "),
            self.source(query, None),
            group_by.join(", ")
        );
        for (i, calc) in query.calculations.iter().enumerate() {
            if calc.op == CalcOp::Concurrency {
                sql = self.join_concurrency(query, sql, i);
            }
        }
        with_formulas(query, rates_between_buckets(query, sql))
    }

    /// `base` (a series) with calculation `index`, a CONCURRENCY, filled in: the weighted
    /// fraction of each bucket every span covers, summed. A bucket only in-flight spans reach
    /// gets a row of its own.
    fn join_concurrency(&self, query: &Validated, base: String, index: usize) -> String {
        let calc = &query.calculations[index];
        let n = query.breakdowns.len();
        let g = self.window.granularity.saturating_mul(1_000_000_000);
        let (_, end) = self.window_nanos();
        let keys = self.groups(query);
        let mut select = vec![format!("\"__k\" * {} AS \"__b\"", self.window.granularity)];
        select.extend(
            keys.iter()
                .enumerate()
                .map(|(j, k)| format!("{k} AS \"g{j}\"")),
        );
        select.push(format!(
            "SUM(CAST(\"__w\" AS DOUBLE) * CAST(GREATEST(LEAST(\"__end\", (\"__k\" + 1) * {g}, {end}) \
             - GREATEST(\"__ns\", \"__k\" * {g}), 0) AS DOUBLE)) / {}.0 AS \"v\"",
            g
        ));
        let mut by = vec!["\"__k\"".to_owned()];
        by.extend(keys);
        let spread = format!(
            "SELECT {} FROM (SELECT e.*, unnest(range(\"__ns\" / {g}, (LEAST(\"__end\", {end}) - 1) / {g} + 1)) AS \"__k\" \
             FROM ({}) AS e WHERE {} AND {}) AS s GROUP BY {}",
            select.join(", "),
            self.sql,
            self.condition(&query.filters, query.any),
            self.condition(&calc.filters, calc.any),
            by.join(", ")
        );
        let mut columns = vec!["COALESCE(m.\"__b\", c.\"__b\") AS \"__b\"".to_owned()];
        columns.extend((0..n).map(|j| format!("COALESCE(m.\"g{j}\", c.\"g{j}\") AS \"g{j}\"")));
        for (i, other) in query.calculations.iter().enumerate() {
            columns.push(match other.op {
                _ if i == index => format!("COALESCE(c.\"v\", 0.0) AS \"a{i}\""),
                CalcOp::Count | CalcOp::Sum => format!("COALESCE(m.\"a{i}\", 0) AS \"a{i}\""),
                _ => format!("m.\"a{i}\""),
            });
        }
        format!(
            "SELECT {} FROM ({base}) AS m FULL JOIN ({spread}) AS c ON m.\"__b\" = c.\"__b\" AND {}",
            columns.join(", "),
            same_groups(n, "m", "c")
        )
    }

    /// The smallest and largest value a HEATMAP calculation sees.
    pub(crate) fn heatmap_range(&self, query: &Validated, calc: &ValidCalculation) -> String {
        let name = calc.column.as_deref().unwrap_or_default();
        let conditions = format!(
            "{} AND {}",
            self.source(query, None),
            self.condition(&calc.filters, calc.any)
        );
        match self.ordered.get(name) {
            // The extremes of the raw column, which storage may know without reading it.
            Some(ordered) => {
                let of = |extreme: &str| ordered.template.replace("{}", extreme);
                format!(
                    "SELECT CAST({} AS DOUBLE), CAST({} AS DOUBLE) FROM (SELECT MIN({raw}) AS \"__lo\", \
                     MAX({raw}) AS \"__hi\" {conditions}) AS m",
                    of("\"__lo\""),
                    of("\"__hi\""),
                    raw = ordered.raw,
                )
            }
            None => {
                let number = self.number(name);
                format!("SELECT MIN({number}), MAX({number}) {conditions}")
            }
        }
    }

    /// Weighted counts per HEATMAP bin: `[__b,] g0…, counts` (a list of [`HEATMAP_BUCKETS`]
    /// numbers). `min` and `step` place the bins; `by_time` adds the time bucket.
    pub(crate) fn heatmap_counts(
        &self,
        query: &Validated,
        calc: &ValidCalculation,
        min: f64,
        step: f64,
        by_time: bool,
    ) -> String {
        let number = self.number(calc.column.as_deref().unwrap_or_default());
        let counts = format!(
            "heatmap_counts({number}, \"__w\", {}, {}, {HEATMAP_BUCKETS})",
            float_literal(min),
            float_literal(step),
        );
        let mut keys: Vec<String> = by_time.then(|| self.bucket_sql()).into_iter().collect();
        keys.extend(self.groups(query));
        let grouping = if keys.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", keys.join(", "))
        };
        let select: Vec<String> = keys.into_iter().chain([counts]).collect();
        format!(
            "SELECT {} {} AND {} AND {number} IS NOT NULL{grouping}",
            select.join(", "),
            self.source(query, None),
            self.condition(&calc.filters, calc.any),
        )
    }
}

/// A series with each RATE_* value replaced by its change from the group's previous bucket
/// (null for a group's first bucket).
fn rates_between_buckets(query: &Validated, base: String) -> String {
    if !query.calculations.iter().any(|c| rate_base(c.op).is_some()) {
        return base;
    }
    let n = query.breakdowns.len();
    let partition = if n == 0 {
        String::new()
    } else {
        let groups: Vec<String> = (0..n).map(|j| format!("\"g{j}\"")).collect();
        format!("PARTITION BY {} ", groups.join(", "))
    };
    let mut select = vec!["\"__b\"".to_owned()];
    select.extend((0..n).map(|j| format!("\"g{j}\"")));
    for (i, calc) in query.calculations.iter().enumerate() {
        select.push(if rate_base(calc.op).is_some() {
            format!("\"a{i}\" - LAG(\"a{i}\") OVER ({partition}ORDER BY \"__b\") AS \"a{i}\"")
        } else {
            format!("\"a{i}\"")
        });
    }
    format!("SELECT {} FROM ({base}) AS s", select.join(", "))
}

/// The formulas over a bucket without events, whose aggregates are `values` (SQL literals).
pub(crate) fn formulas_of(query: &Validated, values: &[String]) -> String {
    let columns: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{v} AS \"a{i}\""))
        .collect();
    format!(
        "SELECT {} FROM (SELECT {}) AS j",
        formula_columns(query),
        columns.join(", ")
    )
}
