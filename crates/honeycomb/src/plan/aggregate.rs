//! The aggregate queries: one row per group (results), one over every event (total) or over the
//! events of the groups a limit left out (other), each in layers — the aggregates, the RATE_*
//! values joined on, the formulas over both, then havings, ranking and the limit.

use crate::ops::CalcOp;
use crate::plan::{float_literal, Events};
use crate::spec::{OrderTerm, ValidCalculation, Validated};

/// The aggregate a RATE_* calculation takes the differences of.
pub(crate) fn rate_base(op: CalcOp) -> Option<CalcOp> {
    match op {
        CalcOp::RateAvg => Some(CalcOp::Avg),
        CalcOp::RateSum => Some(CalcOp::Sum),
        CalcOp::RateMax => Some(CalcOp::Max),
        _ => None,
    }
}

/// Columns `g0…` of the n breakdowns, each prefixed.
fn group_columns(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}\"g{i}\"")).collect()
}

/// A join condition matching `left` and `right` on every group, nulls equal to nulls. Each term
/// is parenthesized: the SQL parser binds `IS NOT DISTINCT FROM` looser than `AND`.
pub(crate) fn same_groups(n: usize, left: &str, right: &str) -> String {
    if n == 0 {
        return "true".into();
    }
    (0..n)
        .map(|i| format!("({left}.\"g{i}\" IS NOT DISTINCT FROM {right}.\"g{i}\")"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

impl Events {
    /// A calculation's aggregate over the events: for CONCURRENCY over the whole window, for
    /// RATE_* the aggregate whose differences it takes, HEATMAP a placeholder (planned apart).
    pub(crate) fn aggregate(&self, calc: &ValidCalculation) -> String {
        let column = calc.column.as_deref().unwrap_or_default();
        let filter = self.calculation_filter(calc);
        match calc.op {
            // Zero, not null, where no event counts (a filtered calculation, an empty window).
            CalcOp::Count => format!("COALESCE(SUM(\"__w\"){filter}, 0)"),
            CalcOp::CountDistinct => {
                format!("COUNT(DISTINCT {}){filter}", self.column(column).0)
            }
            CalcOp::Sum => format!("SUM({} * \"__w\"){filter}", self.number(column)),
            CalcOp::Avg => {
                let number = self.number(column);
                format!(
                    "SUM({number} * \"__w\"){filter} / SUM(CASE WHEN {number} IS NOT NULL THEN \"__w\" END){filter}"
                )
            }
            CalcOp::Min => format!("MIN({}){filter}", self.number(column)),
            CalcOp::Max => format!("MAX({}){filter}", self.number(column)),
            CalcOp::Percentile(_, fraction) => format!(
                "weighted_percentile({}, \"__w\", {}){filter}",
                self.number(column),
                float_literal(fraction)
            ),
            CalcOp::Concurrency => {
                let (start, end) = self.window_nanos();
                format!(
                    "SUM(CAST(\"__w\" AS DOUBLE) * CAST(GREATEST(LEAST(\"__end\", {end}) - \"__ns\", 0) AS DOUBLE)){filter} / {}",
                    float_literal((end - start) as f64)
                )
            }
            CalcOp::RateAvg | CalcOp::RateSum | CalcOp::RateMax => {
                let base = ValidCalculation {
                    op: rate_base(calc.op).unwrap_or(CalcOp::Avg),
                    ..calc.clone()
                };
                self.aggregate(&base)
            }
            CalcOp::Heatmap => "CAST(NULL AS DOUBLE)".into(),
        }
    }

    /// A calculation's own filters as an aggregate's `FILTER` clause (empty without any).
    pub(crate) fn calculation_filter(&self, calc: &ValidCalculation) -> String {
        if calc.filters.is_empty() {
            return String::new();
        }
        format!(
            " FILTER (WHERE {})",
            self.condition(&calc.filters, calc.any)
        )
    }

    /// The window as nanoseconds since the epoch.
    pub(crate) fn window_nanos(&self) -> (i64, i64) {
        (
            self.window.start.saturating_mul(1_000_000_000),
            self.window.end.saturating_mul(1_000_000_000),
        )
    }

    /// Every calculation's aggregate as `a0…`; RATE_* as null when `rates` come apart.
    fn calculations(&self, query: &Validated, rates_apart: bool) -> Vec<String> {
        query
            .calculations
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if rates_apart && rate_base(c.op).is_some() {
                    format!("CAST(NULL AS DOUBLE) AS \"a{i}\"")
                } else {
                    format!("{} AS \"a{i}\"", self.aggregate(c))
                }
            })
            .collect()
    }

    /// The breakdown columns' aliases.
    pub(crate) fn groups(&self, query: &Validated) -> Vec<String> {
        query
            .breakdowns
            .iter()
            .map(|b| self.column(b).0.clone())
            .collect()
    }

    /// `FROM … WHERE …` over the query's events; `except` (a results query) leaves out the
    /// events of the groups it answers.
    pub(crate) fn source(&self, query: &Validated, except: Option<&str>) -> String {
        let mut from = format!("FROM ({}) AS e", self.sql);
        if let Some(kept) = except {
            let on: Vec<String> = self
                .groups(query)
                .iter()
                .enumerate()
                .map(|(i, g)| format!("(e.{g} IS NOT DISTINCT FROM k.\"g{i}\")"))
                .collect();
            let on = if on.is_empty() {
                "true".to_owned()
            } else {
                on.join(" AND ")
            };
            from = format!("{from} LEFT ANTI JOIN ({kept}) AS k ON {on}");
        }
        format!("{from} WHERE {}", self.condition(&query.filters, query.any))
    }

    /// One row per group (`g0…`) of the aggregates (`a0…`), RATE_* joined on, then formulas.
    fn grouped(&self, query: &Validated, source: &str, groups: bool) -> String {
        let keys = if groups {
            self.groups(query)
        } else {
            Vec::new()
        };
        let mut select: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, g)| format!("{g} AS \"g{i}\""))
            .collect();
        select.extend(self.calculations(query, true));
        let group_by = if keys.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", keys.join(", "))
        };
        let aggregated = format!("SELECT {} {source}{group_by}", select.join(", "));
        let rated = self.join_rates(query, aggregated, source, &keys);
        with_formulas(query, rated)
    }

    /// `base` with each RATE_* calculation's value: the mean change of its aggregate from one
    /// time bucket to the next, over the buckets that have one, per group.
    fn join_rates(&self, query: &Validated, base: String, source: &str, keys: &[String]) -> String {
        let rates: Vec<usize> = (0..query.calculations.len())
            .filter(|&i| rate_base(query.calculations[i].op).is_some())
            .collect();
        if rates.is_empty() {
            return base;
        }
        let bucket = self.bucket_sql();
        let n = keys.len();
        let mut select = group_columns(n, "m.");
        let mut joins = String::new();
        for (i, calc) in query.calculations.iter().enumerate() {
            if !rates.contains(&i) {
                select.push(format!("m.\"a{i}\""));
                continue;
            }
            let mut per_bucket = vec![format!("{bucket} AS \"__b\"")];
            per_bucket.extend(
                keys.iter()
                    .enumerate()
                    .map(|(j, g)| format!("{g} AS \"g{j}\"")),
            );
            per_bucket.push(format!("{} AS \"v\"", self.aggregate(calc)));
            let mut by = vec![bucket.clone()];
            by.extend(keys.iter().cloned());
            let groups = group_columns(n, "");
            let group_by = if n == 0 {
                String::new()
            } else {
                format!(" GROUP BY {}", groups.join(", "))
            };
            let mut outer = groups.clone();
            outer.push(
                "(last_value(\"v\" ORDER BY \"__b\") - first_value(\"v\" ORDER BY \"__b\")) \
                 / CAST(NULLIF(COUNT(\"v\") - 1, 0) AS DOUBLE) AS \"v\""
                    .into(),
            );
            let rate = format!(
                "SELECT {} FROM (SELECT {} {source} GROUP BY {}) AS b WHERE \"v\" IS NOT NULL{group_by}",
                outer.join(", "),
                per_bucket.join(", "),
                by.join(", ")
            );
            let alias = format!("r{i}");
            joins.push_str(&format!(
                " LEFT JOIN ({rate}) AS {alias} ON {}",
                same_groups(n, "m", &alias)
            ));
            select.push(format!("{alias}.\"v\" AS \"a{i}\""));
        }
        format!("SELECT {} FROM ({base}) AS m{joins}", select.join(", "))
    }

    /// One row per group: `g0…`, `a0…`, `f0…`; havings applied, ranked, at most `limit` rows.
    pub(crate) fn results(&self, query: &Validated, limit: usize) -> String {
        let grouped = self.grouped(query, &self.source(query, None), true);
        let having = match having_condition(query) {
            Some(condition) => format!(" WHERE {condition}"),
            None => String::new(),
        };
        format!(
            "SELECT * FROM ({grouped}) AS r{having} ORDER BY {} LIMIT {limit}",
            order_by(query).join(", ")
        )
    }

    /// The aggregates over every event of the query, no groups: `a0…`, `f0…`.
    pub(crate) fn total(&self, query: &Validated) -> String {
        self.grouped(query, &self.source(query, None), false)
    }

    /// The aggregates over the events of the groups that `results(query, limit)` leaves out.
    pub(crate) fn other(&self, query: &Validated, limit: usize) -> String {
        let kept = self.results(query, limit);
        self.grouped(query, &self.source(query, Some(&kept)), false)
    }

    /// The aggregates over no event at all (`a0…`, `f0…`): what `other` answers when the limit
    /// leaves no group out. Planned without reading anything.
    pub(crate) fn over_nothing(&self, query: &Validated) -> String {
        self.grouped(
            query,
            &format!("FROM ({}) AS e WHERE false", self.sql),
            false,
        )
    }
}

/// The havings over a grouped row's aliases, ANDed; `None` without havings.
pub(crate) fn having_condition(query: &Validated) -> Option<String> {
    let havings: Vec<String> = query
        .havings
        .iter()
        .map(|h| {
            format!(
                "{} {} {}",
                h.target.alias(),
                h.op.sql(),
                float_literal(h.value)
            )
        })
        .collect();
    (!havings.is_empty()).then(|| havings.join(" AND "))
}

/// `base` with every formula computed over its aggregates as `f0…`.
pub(crate) fn with_formulas(query: &Validated, base: String) -> String {
    if query.formulas.is_empty() {
        return base;
    }
    format!("SELECT *, {} FROM ({base}) AS j", formula_columns(query))
}

/// Every formula as `f0…`, over the aggregate columns `a0…`.
pub(crate) fn formula_columns(query: &Validated) -> String {
    query
        .formulas
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} AS \"f{i}\"", f.sql))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How results are ranked: the query's orders, else its first orderable aggregate descending;
/// then every breakdown ascending, so equal groups always come in one order.
pub(crate) fn order_by(query: &Validated) -> Vec<String> {
    let mut terms: Vec<String> = query
        .orders
        .iter()
        .map(|term| match term {
            OrderTerm::Breakdown(i, desc) => format!("\"g{i}\" {}", direction(*desc)),
            OrderTerm::Aggregate(aggregate, desc) => {
                format!("{} {}", aggregate.alias(), direction(*desc))
            }
        })
        .collect();
    if terms.is_empty() {
        if !query.formulas.is_empty() {
            terms.push("\"f0\" DESC NULLS LAST".into());
        } else if let Some(i) = query
            .calculations
            .iter()
            .position(|c| c.op != CalcOp::Heatmap)
        {
            terms.push(format!("\"a{i}\" DESC NULLS LAST"));
        }
    }
    terms.extend((0..query.breakdowns.len()).map(|i| format!("\"g{i}\" ASC NULLS LAST")));
    if terms.is_empty() {
        terms.push("1".into());
    }
    terms
}

fn direction(descending: bool) -> &'static str {
    if descending {
        "DESC NULLS LAST"
    } else {
        "ASC NULLS LAST"
    }
}
