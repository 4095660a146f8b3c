//! A validated query as SQL over the `spans` table.
//!
//! Every query reads one relation, the query's events: the spans of the window (and of the
//! dataset's services), with each column the query names computed once under an alias (`c0`,
//! `c1`, …), the event's weight (its sample rate, or 1 in usage mode) as `__w`, and its start
//! and end in nanoseconds as `__ns` and `__end`. The result, total and time-series queries
//! ([`aggregate`]) and the per-bucket ones ([`buckets`]) aggregate that relation; their output
//! columns are `g0…` for breakdowns, `a0…` for calculations and `f0…` for formulas.

mod aggregate;
mod annotations;
mod buckets;
mod related;
mod sets;

pub(crate) use buckets::formulas_of;
pub(crate) use sets::{Part, LEADING_COLUMNS};

use std::collections::BTreeMap;

use serde_json::Value;

use crate::columns::{quote, string_literal, Catalog, Kind};
use crate::ops::FilterOp;
use crate::spec::{ValidFilter, Validated};
use crate::window::Window;

/// Buckets of a HEATMAP's value axis.
pub(crate) const HEATMAP_BUCKETS: usize = 50;

/// The events relation and the aliases of the columns it computes.
#[derive(Clone)]
pub(crate) struct Events {
    /// `SELECT … FROM spans WHERE …`.
    pub(crate) sql: String,
    /// Each branch: spans, then span events and links.
    branches: Vec<Branch>,
    aliases: BTreeMap<String, (String, Kind)>,
    /// Columns that are an order-keeping function of one table column, which the spans
    /// branch also selects raw (only when there are no annotation rows).
    ordered: BTreeMap<String, Ordered>,
    window: Window,
}

/// A column whose SQL is `template` with `{}` the raw table column selected as `raw`: the
/// function keeps order, so the column's MIN is the function of the raw column's MIN, which
/// storage may know from statistics without reading a value.
#[derive(Clone)]
pub(crate) struct Ordered {
    pub(crate) raw: String,
    pub(crate) template: &'static str,
}

/// The order-keeping functions of one column that Honeycomb's columns resolve to.
const ORDER_KEEPING: [&str; 4] = [
    "{}",
    "CAST({} AS DOUBLE)",
    "CAST({} AS BIGINT)",
    "CAST({} AS DOUBLE) / 1e6",
];

/// The raw column and the function, when `sql` is an [`ORDER_KEEPING`] function of exactly one
/// quoted column.
fn order_keeping(sql: &str) -> Option<(&str, &'static str)> {
    let start = sql.find('"')?;
    let end = start + 1 + sql[start + 1..].find('"')?;
    let column = &sql[start..=end];
    let template = format!("{}{{}}{}", &sql[..start], &sql[end + 1..]);
    ORDER_KEEPING
        .into_iter()
        .find(|known| *known == template)
        .map(|known| (column, known))
}

/// One `SELECT` of the events relation, kept in parts so it can read another table.
#[derive(Clone)]
struct Branch {
    /// The select list.
    columns: String,
    /// Span rows, or one row per span event and link.
    annotations: bool,
    /// The relational joins (`root.`, `parent.`): always over every span.
    joins: String,
    condition: String,
}

impl Branch {
    /// The branch over `table` (`spans`, or a sample of it), which the select list and
    /// conditions know as `spans`.
    fn sql(&self, table: &str, in_window: &str) -> String {
        let from = if self.annotations {
            annotations::source(table, in_window)
        } else if table == "spans" {
            "spans".to_owned()
        } else {
            format!("{table} AS spans")
        };
        format!(
            "SELECT {} FROM {from}{} WHERE {}",
            self.columns, self.joins, self.condition
        )
    }
}

/// The SQL of branches over `table`, one after the other.
fn union(branches: &[Branch], table: &str, window: &Window) -> String {
    let in_window = in_window(window);
    branches
        .iter()
        .map(|branch| branch.sql(table, &in_window))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// The condition that keeps the spans starting in `window`.
fn in_window(window: &Window) -> String {
    format!(
        "\"start_time\" >= to_timestamp_nanos({}) AND \"start_time\" < to_timestamp_nanos({})",
        window.start.saturating_mul(1_000_000_000),
        window.end.saturating_mul(1_000_000_000)
    )
}

/// The condition that keeps the spans of `services` (all when none are given).
pub(crate) fn service_condition(services: Option<&[String]>) -> String {
    match services {
        None => "true".to_owned(),
        Some([]) => "false".to_owned(),
        Some(list) => {
            let names: Vec<String> = list.iter().map(|s| string_literal(s)).collect();
            format!("\"service\" IN ({})", names.join(", "))
        }
    }
}

impl Events {
    /// The events of `window` (of `services` only, when given) with every column `query`
    /// names, and the `extra` ones: spans, and span events and links where there are any.
    pub(crate) async fn build(
        context: &datafusion::prelude::SessionContext,
        query: &Validated,
        window: &Window,
        catalog: &Catalog,
        services: Option<&[String]>,
        extra: &[String],
    ) -> crate::HoneycombResult<Self> {
        let annotations = annotations::present(
            context,
            query,
            catalog,
            &in_window(window),
            &service_condition(services),
        )
        .await?;
        Ok(Self::new(
            query,
            window,
            catalog,
            services,
            extra,
            annotations,
        ))
    }

    fn new(
        query: &Validated,
        window: &Window,
        catalog: &Catalog,
        services: Option<&[String]>,
        extra: &[String],
        annotations: bool,
    ) -> Self {
        let mut names: Vec<&str> = Vec::new();
        let filters = query
            .filters
            .iter()
            .chain(query.calculations.iter().flat_map(|c| &c.filters))
            .map(|f| f.column.as_str());
        let columns = query
            .calculations
            .iter()
            .filter_map(|c| c.column.as_deref());
        for name in filters
            .chain(query.breakdowns.iter().map(String::as_str))
            .chain(columns)
            .chain(extra.iter().map(String::as_str))
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let mut aliases = BTreeMap::new();
        let weight = if query.usage_mode {
            "CAST(1 AS BIGINT)"
        } else {
            "CAST(\"sample_rate\" AS BIGINT)"
        };
        let mut spans = vec![
            format!("{weight} AS \"__w\""),
            "CAST(\"start_time\" AS BIGINT) AS \"__ns\"".to_owned(),
            "CAST(\"start_time\" AS BIGINT) + \"duration_nano\" AS \"__end\"".to_owned(),
        ];
        let at = annotations::time();
        let mut notes = vec![
            format!("{weight} AS \"__w\""),
            format!("{at} AS \"__ns\""),
            format!("{at} AS \"__end\""),
        ];
        let mut related = related::Related::default();
        let mut ordered = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let alias = quote(&format!("c{i}"));
            let (span, note) = match related::relation_of(name, catalog) {
                Some((relation, inner)) => {
                    let column = related.add(relation, inner, catalog);
                    (column.clone(), column)
                }
                None => {
                    let column = catalog.resolve(name);
                    let note = annotations::resolve(catalog, name, column.kind, 0);
                    (column, note)
                }
            };
            spans.push(format!("{} AS {alias}", span.sql));
            notes.push(format!("{} AS {alias}", note.sql));
            if let Some((column, template)) =
                order_keeping(&span.sql).filter(|_| span.kind.is_numeric() && !annotations)
            {
                let raw = quote(&format!("r{i}"));
                spans.push(format!("{column} AS {raw}"));
                ordered.insert((*name).to_owned(), Ordered { raw, template });
            }
            aliases.insert((*name).to_owned(), (alias, span.kind));
        }
        let (start, end) = (
            window.start.saturating_mul(1_000_000_000),
            window.end.saturating_mul(1_000_000_000),
        );
        let in_window = in_window(window);
        let services = service_condition(services);
        let span_conditions = [
            in_window.replace("\"start_time\"", "spans.\"start_time\""),
            services.clone(),
        ];
        let note_conditions = [format!("{at} >= {start} AND {at} < {end}"), services];
        let joins = related.joins(&in_window);
        let mut branches = vec![Branch {
            columns: spans.join(", "),
            annotations: false,
            joins: joins.clone(),
            condition: span_conditions.join(" AND "),
        }];
        if annotations {
            branches.push(Branch {
                columns: notes.join(", "),
                annotations: true,
                joins,
                condition: note_conditions.join(" AND "),
            });
        }
        Self {
            sql: union(&branches, "spans", window),
            branches,
            aliases,
            ordered,
            window: *window,
        }
    }

    /// The same events read from `table`, a sample of `spans` registered in the session
    /// (`combray_query::sql::register_sample`): what is computed of each event is unchanged,
    /// and relational columns still look up their root or parent among every span.
    pub(crate) fn reading(&self, table: &str) -> Self {
        Self {
            sql: union(&self.branches, table, &self.window),
            ..self.clone()
        }
    }

    pub(crate) fn column(&self, name: &str) -> &(String, Kind) {
        &self.aliases[name]
    }

    /// A column as a number (null where its value is not one).
    pub(crate) fn number(&self, name: &str) -> String {
        let (alias, kind) = self.column(name);
        if kind.is_numeric() {
            format!("CAST({alias} AS DOUBLE)")
        } else {
            format!("TRY_CAST({alias} AS DOUBLE)")
        }
    }

    /// The SQL condition of `filters`, all (or `any`) of them; `true` when there are none.
    pub(crate) fn condition(&self, filters: &[ValidFilter], any: bool) -> String {
        if filters.is_empty() {
            return "true".into();
        }
        let terms: Vec<String> = filters.iter().map(|f| self.filter(f)).collect();
        format!("({})", terms.join(if any { " OR " } else { " AND " }))
    }

    fn filter(&self, filter: &ValidFilter) -> String {
        let (alias, kind) = self.column(&filter.column);
        let text = format!("CAST({alias} AS VARCHAR)");
        let first = filter.values.first();
        let string_of =
            |value: Option<&Value>| string_literal(&value.map(plain_text).unwrap_or_default());
        match filter.op {
            FilterOp::Exists => format!("({alias} IS NOT NULL)"),
            FilterOp::NotExists => format!("({alias} IS NULL)"),
            FilterOp::Eq | FilterOp::Ne => {
                let sql_op = if filter.op == FilterOp::Eq { "=" } else { "<>" };
                let (left, right) = comparable(alias, *kind, first.unwrap_or(&Value::Null));
                format!("({left} {sql_op} {right})")
            }
            FilterOp::Gt | FilterOp::Ge | FilterOp::Lt | FilterOp::Le => {
                let sql_op = match filter.op {
                    FilterOp::Gt => ">",
                    FilterOp::Ge => ">=",
                    FilterOp::Lt => "<",
                    _ => "<=",
                };
                match first.and_then(number_of) {
                    Some(n) => format!(
                        "({} {sql_op} {})",
                        self.number(&filter.column),
                        float_literal(n)
                    ),
                    None => format!("({text} {sql_op} {})", string_of(first)),
                }
            }
            FilterOp::StartsWith => format!("starts_with({text}, {})", string_of(first)),
            FilterOp::NotStartsWith => format!("(NOT starts_with({text}, {}))", string_of(first)),
            FilterOp::EndsWith => format!("ends_with({text}, {})", string_of(first)),
            FilterOp::NotEndsWith => format!("(NOT ends_with({text}, {}))", string_of(first)),
            FilterOp::Contains => format!("(strpos({text}, {}) > 0)", string_of(first)),
            FilterOp::NotContains => format!("(strpos({text}, {}) = 0)", string_of(first)),
            FilterOp::In | FilterOp::NotIn => {
                let terms: Vec<String> = filter
                    .values
                    .iter()
                    .map(|value| {
                        let (left, right) = comparable(alias, *kind, value);
                        format!("{left} = {right}")
                    })
                    .collect();
                let any = format!("({})", terms.join(" OR "));
                if filter.op == FilterOp::In {
                    any
                } else {
                    format!("(NOT {any})")
                }
            }
        }
    }
}

/// A filter value as text: strings as they are, numbers and booleans as JSON writes them.
fn plain_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn float_literal(value: f64) -> String {
    if value.is_finite() {
        format!("CAST({value:?} AS DOUBLE)")
    } else {
        "CAST(NULL AS DOUBLE)".into()
    }
}

/// Both sides of an equality between a column of `kind` and a filter value, in one type: a
/// number against a numeric column, a boolean against a boolean one, otherwise both as text
/// (so `200` finds the string "200", and "200" the number 200).
fn comparable(alias: &str, kind: Kind, value: &Value) -> (String, String) {
    match (kind, value) {
        (Kind::Integer | Kind::Float, _) if number_of(value).is_some() => (
            format!("CAST({alias} AS DOUBLE)"),
            float_literal(number_of(value).unwrap_or_default()),
        ),
        (Kind::Boolean, Value::Bool(b)) => (alias.to_owned(), b.to_string()),
        (Kind::Boolean, Value::String(s)) if s == "true" || s == "false" => {
            (alias.to_owned(), s.clone())
        }
        // Text as it is, so the scan can take the comparison (and prune by it).
        (Kind::String, _) => (alias.to_owned(), string_literal(&plain_text(value))),
        _ => (
            format!("CAST({alias} AS VARCHAR)"),
            string_literal(&plain_text(value)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::order_keeping;

    #[test]
    fn only_order_keeping_functions_of_one_column_read_it_raw() {
        assert_eq!(
            order_keeping("CAST(\"duration_nano\" AS DOUBLE) / 1e6"),
            Some(("\"duration_nano\"", "CAST({} AS DOUBLE) / 1e6"))
        );
        assert_eq!(
            order_keeping("\"attr.size\""),
            Some(("\"attr.size\"", "{}"))
        );
        for other in [
            "CASE WHEN \"status_code\" = 2 THEN true END",
            "COALESCE(\"attr.n\", \"resource.n\")",
            "0 - \"attr.n\"",
            "'trace'",
        ] {
            assert_eq!(order_keeping(other), None, "{other}");
        }
    }
}
