//! BubbleUp: which columns set a selection of a query's events apart from the rest.
//!
//! The selection is a box on the query's HEATMAP (a time range and a value range of one
//! column), one result group (breakdown values), or filters. The baseline is every other event
//! of the query. For each column, the weighted share of each value (dimensions: strings and
//! booleans) or of each bin on shared edges (measures: numbers) is computed on both sides; the
//! column's score is the total variation distance between the two distributions,
//! ½ Σ |p_selection − p_baseline|, with "no value" counted as a value of its own. Columns are
//! sorted by score, most different first.
//!
//! Left out: identifier-like columns (trace and span ids, and columns with more distinct values
//! than half the events or than [`MAX_VALUES`]), and the columns the selection itself is made of.
//!
//! Three scans: one counts both sides exactly; one counts distinct values and finds numeric
//! ranges for every column; the last groups every kept column at once (`GROUPING SETS`) on
//! both sides. Over many events the last two read a sample: a uniform draw that storage makes
//! (about `PRESAMPLED_EVENTS`, more when the selection needs them; runs of a few random traces
//! of each block, so the rows left out are never decoded), thinned to about
//! [`SAMPLED_EVENTS`] per side. Shares of a sample that large are within about half a
//! percentage point of the whole side's, and the cost stays flat however many events there are.

use combray_query::sql::{json_rows, register_sample, SqlEngine};
use combray_storage::scan::Columns;
use combray_storage::SpanStore;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::columns::{Catalog, Kind};
use crate::error::{HoneycombError, HoneycombResult};
use crate::plan::{float_literal, Events};
use crate::spec::{Filter, Validated};
use crate::window::Window;

mod scan;

use scan::{bin_step, counts, profiles, Counts, Profile};

/// Columns with more distinct values than this are identifier-like and left out.
pub const MAX_VALUES: usize = 10_000;
/// Bins of a measure's histogram.
pub const BINS: usize = 20;
/// Events per side the distributions are computed from, at most (about).
pub const SAMPLED_EVENTS: f64 = 50_000.0;
/// Events read for the distributions before each side is thinned, at least (about).
const PRESAMPLED_EVENTS: f64 = 500_000.0;
/// The session's sample of `spans` the distributions are read from.
const SAMPLED_TABLE: &str = "bubbleup_sample";
/// Values shown per dimension (the score uses all of them).
const SHOWN_VALUES: usize = 10;
/// Never compared: they identify events rather than describe them.
const IDENTIFIERS: [&str; 3] = ["trace.trace_id", "trace.span_id", "trace.parent_id"];

/// What is selected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Selection {
    /// A box on a HEATMAP: a time range (Unix seconds) and a value range of `column`.
    Heatmap {
        /// The heatmap's column.
        column: String,
        /// First second selected.
        start_time: i64,
        /// First second not selected.
        end_time: i64,
        /// Smallest value selected.
        min: f64,
        /// First value above the selection.
        max: f64,
    },
    /// One result group: breakdown columns and their values.
    Group(serde_json::Map<String, Value>),
    /// Events that pass every one of these filters.
    Filters(Vec<Filter>),
}

/// One value's (or bin's) share on each side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    /// The value; null for events without the column. Absent for bins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// A bin's lower edge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// A bin's upper edge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Its weighted share of the selection, 0 to 1.
    pub selection: f64,
    /// Its weighted share of the baseline, 0 to 1.
    pub baseline: f64,
}

/// One column's comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnDifference {
    /// The column.
    pub column: String,
    /// `string`, `integer`, `float` or `boolean`.
    pub r#type: &'static str,
    /// `dimension` (values) or `measure` (bins).
    pub kind: &'static str,
    /// Total variation distance between selection and baseline, 0 to 1.
    pub score: f64,
    /// The most common values (dimensions) or every bin (measures).
    pub shares: Vec<Share>,
}

/// A BubbleUp answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BubbleUp {
    /// Weighted events selected.
    pub selection_count: f64,
    /// Weighted events of the baseline.
    pub baseline_count: f64,
    /// Columns, most different first.
    pub columns: Vec<ColumnDifference>,
}

/// The selection's condition, and the columns it is made of.
fn selection_sql(selection: &Selection, events: &Events) -> HoneycombResult<String> {
    Ok(match selection {
        Selection::Heatmap {
            column,
            start_time,
            end_time,
            min,
            max,
        } => format!(
            "(\"__ns\" >= {} AND \"__ns\" < {} AND {number} >= {} AND {number} < {})",
            start_time.saturating_mul(1_000_000_000),
            end_time.saturating_mul(1_000_000_000),
            float_literal(*min),
            float_literal(*max),
            number = events.number(column)
        ),
        Selection::Group(group) => {
            let filters: Vec<Filter> = group
                .iter()
                .map(|(column, value)| Filter {
                    column: Some(column.clone()),
                    op: if value.is_null() {
                        "does-not-exist"
                    } else {
                        "="
                    }
                    .into(),
                    value: (!value.is_null()).then(|| value.clone()),
                })
                .collect();
            filters_sql(&filters, events)?
        }
        Selection::Filters(filters) => filters_sql(filters, events)?,
    })
}

fn filters_sql(filters: &[Filter], events: &Events) -> HoneycombResult<String> {
    let valid = crate::validate::validate_filters(filters, "selection.filters")?;
    Ok(events.condition(&valid, false))
}

/// The columns a selection is made of.
fn selection_columns(selection: &Selection) -> Vec<String> {
    match selection {
        Selection::Heatmap { column, .. } => vec![column.clone()],
        Selection::Group(group) => group.keys().cloned().collect(),
        Selection::Filters(filters) => filters.iter().filter_map(|f| f.column.clone()).collect(),
    }
}

fn difference(
    profile: &Profile,
    index: usize,
    counts: &Counts,
    totals: (f64, f64),
) -> ColumnDifference {
    let share = |n: f64, total: f64| if total > 0.0 { n / total } else { 0.0 };
    let mut values: Vec<(Option<String>, f64, f64)> = counts
        .iter()
        .filter(|((column, _), _)| *column == index)
        .map(|((_, value), (s, b))| (value.clone(), share(*s, totals.0), share(*b, totals.1)))
        .collect();
    let score = values.iter().map(|(_, s, b)| (s - b).abs()).sum::<f64>() / 2.0;
    let measure = profile.kind.is_numeric() && profile.range.is_some();
    let shares = if measure {
        let (low, high) = profile.range.unwrap_or_default();
        let step = bin_step(low, high);
        let mut bins: Vec<Share> = (0..BINS)
            .map(|i| Share {
                value: None,
                min: Some(low + step * i as f64),
                max: Some(low + step * (i + 1) as f64),
                selection: 0.0,
                baseline: 0.0,
            })
            .collect();
        for (value, s, b) in &values {
            if let Some(bin) = value.as_deref().and_then(|v| v.parse::<usize>().ok()) {
                if let Some(slot) = bins.get_mut(bin) {
                    slot.selection += s;
                    slot.baseline += b;
                }
            }
        }
        bins
    } else {
        values.sort_by(|a, b| {
            let (x, y) = (a.1.max(a.2), b.1.max(b.2));
            y.total_cmp(&x).then_with(|| a.0.cmp(&b.0))
        });
        values
            .into_iter()
            .take(SHOWN_VALUES)
            .map(|(value, selection, baseline)| Share {
                value: Some(value.map_or(Value::Null, |v| typed(&v, profile.kind))),
                min: None,
                max: None,
                selection,
                baseline,
            })
            .collect()
    };
    ColumnDifference {
        column: profile.name.clone(),
        r#type: profile.kind.name(),
        kind: if measure { "measure" } else { "dimension" },
        score,
        shares,
    }
}

fn typed(text: &str, kind: Kind) -> Value {
    match kind {
        Kind::Boolean => text
            .parse::<bool>()
            .map_or_else(|_| Value::from(text), Value::from),
        _ => Value::from(text),
    }
}

async fn compare(
    context: SessionContext,
    query: Validated,
    window: Window,
    services: Option<Vec<String>>,
    selection: Selection,
) -> HoneycombResult<BubbleUp> {
    let catalog = Catalog::of_session(&context, &query).await?;
    let left_out = selection_columns(&selection);
    let mut names: Vec<String> = catalog
        .columns()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !IDENTIFIERS.contains(&name.as_str()) && !left_out.contains(name))
        .filter(|name| name != "meta.signal_type" && name != "meta.annotation_type")
        .collect();
    names.sort();
    let mut all = names.clone();
    all.extend(left_out.iter().cloned());
    let events = Events::build(
        &context,
        &query,
        &window,
        &catalog,
        services.as_deref(),
        &all,
    )
    .await?;
    let condition = events.condition(&query.filters, query.any);
    let selected = selection_sql(&selection, &events)?;
    let side = format!("COALESCE({selected}, false)");
    let totals_sql = format!(
        "SELECT SUM(\"__w\") FILTER (WHERE {side}), SUM(\"__w\") FILTER (WHERE NOT {side}), \
         COUNT(*) FILTER (WHERE {side}), COUNT(*) FILTER (WHERE NOT {side}) FROM ({}) AS e WHERE {condition}",
        events.sql
    );
    let row = json_rows(&context, &totals_sql)
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let number = |i: usize| row.get(i).and_then(Value::as_f64).unwrap_or(0.0);
    let totals = (number(0), number(1));
    if totals.0 == 0.0 {
        return Err(HoneycombError::invalid(
            "selection",
            "the selection holds no events",
        ));
    }
    // A uniform sample first, drawn by storage so that the rows left out are not even decoded
    // (runs of a few random traces of each block; see `register_sample`); then each side is
    // thinned to about SAMPLED_EVENTS.
    let (selection_rows, baseline_rows) = (number(2), number(3));
    let rate = (SAMPLED_EVENTS / selection_rows.max(1.0))
        .max(PRESAMPLED_EVENTS / (selection_rows + baseline_rows).max(1.0))
        .min(1.0);
    let events = if rate < 1.0 {
        register_sample(&context, SAMPLED_TABLE, rate).await?;
        events.reading(SAMPLED_TABLE)
    } else {
        events
    };
    let sampled = sample_condition(&side, selection_rows * rate, baseline_rows * rate);
    let condition = match &sampled {
        Some(sample) => format!("({condition}) AND {sample}"),
        None => condition,
    };
    let (_, profiles) = profiles(&context, &events, &condition, &names).await?;
    let profiles: Vec<Profile> = profiles.into_iter().filter(|p| p.distinct > 0).collect();
    let counts = if profiles.is_empty() {
        Counts::new()
    } else {
        counts(&context, &events, &condition, &selected, &profiles).await?
    };
    // Shares are of what was read: the sample's own totals (every event has a value, or none,
    // of column 0).
    let read = if sampled.is_some() || rate < 1.0 {
        counts
            .iter()
            .filter(|((column, _), _)| *column == 0)
            .fold((0.0, 0.0), |(s, b), (_, (x, y))| (s + x, b + y))
    } else {
        totals
    };
    let mut columns: Vec<ColumnDifference> = profiles
        .iter()
        .enumerate()
        .map(|(i, profile)| difference(profile, i, &counts, read))
        .collect();
    columns.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.column.cmp(&b.column))
    });
    Ok(BubbleUp {
        selection_count: totals.0,
        baseline_count: totals.1,
        columns,
    })
}

/// A condition keeping about [`SAMPLED_EVENTS`] random events of each side that has more
/// (`rows` of it); none when both sides are small enough to read whole.
fn sample_condition(side: &str, selection_rows: f64, baseline_rows: f64) -> Option<String> {
    let rate = |rows: f64| (SAMPLED_EVENTS / rows.max(1.0)).min(1.0);
    let (selection, baseline) = (rate(selection_rows), rate(baseline_rows));
    if selection >= 1.0 && baseline >= 1.0 {
        return None;
    }
    Some(format!(
        "(random() < CASE WHEN {side} THEN {} ELSE {} END)",
        float_literal(selection),
        float_literal(baseline)
    ))
}

/// Compares `selection` with the rest of `query`'s events over `window`.
pub async fn bubbleup(
    engine: &SqlEngine,
    store: &dyn SpanStore,
    environment: &str,
    query: Validated,
    window: Window,
    services: Option<Vec<String>>,
    selection: Selection,
) -> HoneycombResult<BubbleUp> {
    engine
        .with_session(store, environment, Columns::WithSpanLists, move |context| async move {
            Ok(compare(context, query, window, services, selection).await)
        })
        .await?
}
