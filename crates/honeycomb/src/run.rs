//! Running a validated query and shaping its answer as Honeycomb's `data` object.

use std::collections::HashMap;

use combray_query::sql::{json_rows, SqlEngine};
use combray_storage::scan::Columns;
use combray_storage::SpanStore;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::columns::Catalog;
use crate::error::HoneycombResult;
use crate::heatmap::{heatmap, Cells};
use crate::ops::CalcOp;
use crate::plan::{formulas_of, Events, Part, LEADING_COLUMNS};
use crate::spec::Validated;
use crate::window::Window;

/// What a result includes besides its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Include {
    /// The time series.
    pub series: bool,
    /// The aggregates over every event (`total_by_aggregate`).
    pub total: bool,
    /// The aggregates over the groups the limit left out (`other_by_aggregate`).
    pub other: bool,
    /// Most groups in `results`.
    pub limit: usize,
}

/// One group's values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Breakdown columns and calculation keys to their values; nulls are left out.
    pub data: Map<String, Value>,
}

/// One time bucket of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The bucket's start, RFC 3339.
    pub time: String,
    /// As in [`Row`].
    pub data: Map<String, Value>,
}

/// A finished query's `data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryData {
    /// Every bucket of every group in `results`, bucket by bucket.
    pub series: Vec<Point>,
    /// One row per group, ranked, after havings and the limit.
    pub results: Vec<Row>,
    /// The calculations over all events, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_by_aggregate: Option<Map<String, Value>>,
    /// The calculations over the events of the groups the limit left out, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_by_aggregate: Option<Map<String, Value>>,
}

/// A grouped row as SQL answered it: the group's values, then the calculations'.
struct Grouped {
    key: String,
    groups: Vec<Value>,
    values: Vec<Value>,
}

fn grouped(rows: Vec<Vec<Value>>, skip: usize, breakdowns: usize) -> Vec<Grouped> {
    rows.into_iter()
        .map(|row| {
            let groups: Vec<Value> = row[skip..skip + breakdowns].to_vec();
            Grouped {
                key: Value::Array(groups.clone()).to_string(),
                groups,
                values: row[skip + breakdowns..].to_vec(),
            }
        })
        .collect()
}

/// The `data` object of a group: breakdowns, then calculations (or, when the query has
/// formulas, the formulas instead), nulls left out. `values` are the calculations' then the
/// formulas'.
fn data_of(query: &Validated, groups: &[Value], values: &[Value]) -> Map<String, Value> {
    let mut data = Map::new();
    for (name, value) in query.breakdowns.iter().zip(groups) {
        if !value.is_null() {
            data.insert(name.clone(), value.clone());
        }
    }
    let shown: Vec<&String> = if query.formulas.is_empty() {
        query.calculations.iter().map(|c| &c.key).collect()
    } else {
        query.formulas.iter().map(|f| &f.name).collect()
    };
    let skip = if query.formulas.is_empty() {
        0
    } else {
        query.calculations.len()
    };
    for (key, value) in shown.into_iter().zip(values.iter().skip(skip)) {
        if !value.is_null() {
            data.insert(key.clone(), value.clone());
        }
    }
    data
}

/// A bucket without events: zero for the sums and CONCURRENCY, nothing for the rest, then the
/// formulas over those.
async fn empty_bucket(context: &SessionContext, query: &Validated) -> HoneycombResult<Vec<Value>> {
    let zero = |c: &crate::spec::ValidCalculation| {
        matches!(c.op, CalcOp::Count | CalcOp::Sum | CalcOp::Concurrency)
    };
    let mut values: Vec<Value> = query
        .calculations
        .iter()
        .map(|c| if zero(c) { Value::from(0) } else { Value::Null })
        .collect();
    if !query.formulas.is_empty() {
        let literals: Vec<String> = query
            .calculations
            .iter()
            .map(|c| {
                if zero(c) {
                    "CAST(0 AS DOUBLE)".to_owned()
                } else {
                    "CAST(NULL AS DOUBLE)".to_owned()
                }
            })
            .collect();
        let rows = json_rows(context, &formulas_of(query, &literals)).await?;
        values.extend(rows.into_iter().next().unwrap_or_default());
    }
    Ok(values)
}

/// An ungrouped row's `data`: HEATMAP left out.
fn ungrouped(query: &Validated, rows: Vec<Vec<Value>>) -> Map<String, Value> {
    let values = rows.into_iter().next().unwrap_or_default();
    let mut data = data_of(query, &[], &values);
    for calc in &query.calculations {
        if calc.op == CalcOp::Heatmap {
            data.remove(&calc.key);
        }
    }
    data
}

fn rfc3339(seconds: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The groups, the series rows (`__b`, `g0…`, values) and the total row (values), as far as
/// `include` asks for them.
struct Parts {
    groups: Vec<Grouped>,
    /// Whether the limit (or a having) left out some group.
    left_out: bool,
    series: Vec<Vec<Value>>,
    total: Option<Vec<Value>>,
}

/// Every part in one pass ([`Events::grouping_sets`]).
async fn in_one_pass(
    context: &SessionContext,
    events: &Events,
    query: &Validated,
    include: Include,
) -> HoneycombResult<Parts> {
    let sql = events.grouping_sets(query, include.total, include.series);
    let mut results = Vec::new();
    let mut series = Vec::new();
    let mut total = None;
    for mut row in json_rows(context, &sql).await? {
        let part = Part::of(row[0].as_i64().unwrap_or(1));
        let kept_by_havings = row[1].as_bool().unwrap_or(false);
        let rank = row[2].as_i64().unwrap_or(i64::MAX);
        let rest = row.split_off(LEADING_COLUMNS);
        match part {
            Part::Series => series.push(rest),
            Part::Total => total = Some(rest[1 + query.breakdowns.len()..].to_vec()),
            Part::Results => results.push((kept_by_havings, rank, rest)),
        }
    }
    if query.breakdowns.is_empty() && include.total {
        total = results.first().map(|(_, _, rest)| rest[1..].to_vec());
    }
    let all = results.len();
    results.retain(|(kept, _, _)| *kept);
    results.sort_by_key(|(_, rank, _)| *rank);
    results.truncate(include.limit);
    let left_out = results.len() < all;
    let rows = results.into_iter().map(|(_, _, rest)| rest).collect();
    Ok(Parts {
        groups: grouped(rows, 1, query.breakdowns.len()),
        left_out,
        series,
        total,
    })
}

/// Each part with a statement of its own (queries with RATE_* or CONCURRENCY).
async fn part_by_part(
    context: &SessionContext,
    events: &Events,
    query: &Validated,
    include: Include,
) -> HoneycombResult<Parts> {
    let groups = grouped(
        json_rows(context, &events.results(query, include.limit)).await?,
        0,
        query.breakdowns.len(),
    );
    let series = if include.series {
        json_rows(context, &events.series(query)).await?
    } else {
        Vec::new()
    };
    let total = if include.total {
        let rows = json_rows(context, &events.total(query)).await?;
        Some(rows.into_iter().next().unwrap_or_default())
    } else {
        None
    };
    Ok(Parts {
        groups,
        left_out: true,
        series,
        total,
    })
}

async fn answer(
    context: SessionContext,
    query: Validated,
    window: Window,
    services: Option<Vec<String>>,
    include: Include,
) -> HoneycombResult<QueryData> {
    let catalog = Catalog::of_session(&context, &query).await?;
    let events = Events::build(
        &context,
        &query,
        &window,
        &catalog,
        services.as_deref(),
        &[],
    )
    .await?;
    let breakdowns = query.breakdowns.len();
    let heatmaps: Vec<usize> = (0..query.calculations.len())
        .filter(|&i| query.calculations[i].op == CalcOp::Heatmap)
        .collect();

    let only_heatmaps = heatmaps.len() == query.calculations.len();
    // With nothing but HEATMAPs and no breakdowns there is one group, and the cells are all.
    let parts = if only_heatmaps && breakdowns == 0 {
        Parts {
            groups: vec![Grouped {
                key: Value::Array(Vec::new()).to_string(),
                groups: Vec::new(),
                values: vec![Value::Null; query.calculations.len()],
            }],
            left_out: false,
            series: Vec::new(),
            total: include.total.then(Vec::new),
        }
    } else if Events::one_pass(&query) {
        in_one_pass(&context, &events, &query, include).await?
    } else {
        part_by_part(&context, &events, &query, include).await?
    };
    let mut cells = HashMap::new();
    for &i in &heatmaps {
        cells.insert(
            i,
            heatmap(&context, &events, &query, i, include.series).await?,
        );
    }
    let mut results = Vec::with_capacity(parts.groups.len());
    for group in &parts.groups {
        let mut values = group.values.clone();
        for &i in &heatmaps {
            values[i] = cells[&i]
                .get(&(None, group.key.clone()))
                .cloned()
                .unwrap_or(Value::Null);
        }
        results.push(Row {
            data: data_of(&query, &group.groups, &values),
        });
    }

    let series = if include.series {
        series(
            &context,
            parts.series,
            &query,
            &window,
            &parts.groups,
            &cells,
        )
        .await?
    } else {
        Vec::new()
    };
    let total_by_aggregate = parts.total.map(|values| ungrouped(&query, vec![values]));
    let other_by_aggregate = if include.other {
        let sql = if parts.left_out {
            events.other(&query, include.limit)
        } else {
            events.over_nothing(&query)
        };
        Some(ungrouped(&query, json_rows(&context, &sql).await?))
    } else {
        None
    };
    Ok(QueryData {
        series,
        results,
        total_by_aggregate,
        other_by_aggregate,
    })
}

/// Every bucket of the window for every group of `kept`, in the results' order.
/// `rows` are the series' rows as SQL answered them: `__b`, `g0…`, the values.
async fn series(
    context: &SessionContext,
    rows: Vec<Vec<Value>>,
    query: &Validated,
    window: &Window,
    kept: &[Grouped],
    cells: &HashMap<usize, Cells>,
) -> HoneycombResult<Vec<Point>> {
    let mut table: HashMap<(i64, String), Vec<Value>> = HashMap::new();
    for row in rows {
        let bucket = row[0].as_i64().unwrap_or_default();
        let groups = row[1..1 + query.breakdowns.len()].to_vec();
        let values = row[1 + groups.len()..].to_vec();
        table.insert((bucket, Value::Array(groups).to_string()), values);
    }
    let empty = empty_bucket(context, query).await?;
    let mut points = Vec::new();
    for bucket in window.buckets() {
        for group in kept {
            let mut values = table
                .get(&(bucket, group.key.clone()))
                .cloned()
                .unwrap_or_else(|| empty.clone());
            for (&i, cells) in cells {
                values[i] = cells
                    .get(&(Some(bucket), group.key.clone()))
                    .cloned()
                    .unwrap_or(Value::Null);
            }
            points.push(Point {
                time: rfc3339(bucket),
                data: data_of(query, &group.groups, &values),
            });
        }
    }
    Ok(points)
}

/// Runs `query` over `window` of the environment's spans (of `services` only, when given).
pub async fn run(
    engine: &SqlEngine,
    store: &dyn SpanStore,
    environment: &str,
    query: Validated,
    window: Window,
    services: Option<Vec<String>>,
    include: Include,
) -> HoneycombResult<QueryData> {
    let outcome =
        engine
            .with_session(
                store,
                environment,
                Columns::WithSpanLists,
                move |context| async move {
                    Ok(answer(context, query, window, services, include).await)
                },
            )
            .await?;
    outcome
}
