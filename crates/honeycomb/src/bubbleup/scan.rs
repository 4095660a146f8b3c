//! The two scans over the events' columns: what each column is like (distinct values, numeric
//! range), then the weighted count of each of its values (or bins) on both sides.

use std::collections::HashMap;

use combray_query::sql::json_rows;
use datafusion::prelude::SessionContext;
use serde_json::Value;

use super::{BINS, MAX_VALUES};
use crate::columns::Kind;
use crate::error::HoneycombResult;
use crate::plan::{float_literal, Events};

/// What the first scan learns of one column.
pub(super) struct Profile {
    pub(super) name: String,
    pub(super) kind: Kind,
    pub(super) distinct: usize,
    pub(super) range: Option<(f64, f64)>,
}

pub(super) async fn profiles(
    context: &SessionContext,
    events: &Events,
    condition: &str,
    names: &[String],
) -> HoneycombResult<(f64, Vec<Profile>)> {
    let mut select = vec!["SUM(\"__w\")".to_owned(), "COUNT(*)".to_owned()];
    for name in names {
        let (alias, kind) = events.column(name);
        // Measures are binned however many values they have, so only whether they have any
        // matters (and approx_distinct takes no floats).
        if kind.is_numeric() {
            select.push(format!("COUNT({alias})"));
        } else {
            select.push(format!("approx_distinct({alias})"));
        }
        if kind.is_numeric() {
            let number = events.number(name);
            select.push(format!("MIN({number})"));
            select.push(format!("MAX({number})"));
        }
    }
    let sql = format!(
        "SELECT {} FROM ({}) AS e WHERE {condition}",
        select.join(", "),
        events.sql
    );
    let row = json_rows(context, &sql)
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let rows = row.get(1).and_then(Value::as_f64).unwrap_or(0.0);
    let mut at = 2;
    let mut profiles = Vec::new();
    for name in names {
        let kind = events.column(name).1;
        let distinct = row.get(at).and_then(Value::as_u64).unwrap_or(0) as usize;
        at += 1;
        let range = if kind.is_numeric() {
            at += 2;
            row.get(at - 2)
                .and_then(Value::as_f64)
                .zip(row.get(at - 1).and_then(Value::as_f64))
        } else {
            None
        };
        let identifier = distinct > MAX_VALUES || (distinct as f64 > rows / 2.0 && rows >= 20.0);
        if distinct > 0 && (!identifier || kind.is_numeric()) {
            profiles.push(Profile {
                name: name.clone(),
                kind,
                distinct,
                range,
            });
        }
    }
    Ok((rows, profiles))
}

/// The SQL key a column is grouped by: its value, or its bin for a measure.
fn grouping_key(events: &Events, profile: &Profile) -> String {
    match (profile.kind.is_numeric(), profile.range) {
        (true, Some((low, high))) => {
            let step = bin_step(low, high);
            format!(
                "GREATEST(LEAST(CAST(floor(({} - {}) / {}) AS BIGINT), {}), 0)",
                events.number(&profile.name),
                float_literal(low),
                float_literal(step),
                BINS - 1
            )
        }
        _ => format!("CAST({} AS VARCHAR)", events.column(&profile.name).0),
    }
}

pub(super) fn bin_step(low: f64, high: f64) -> f64 {
    if high > low {
        (high - low) / BINS as f64
    } else {
        1.0
    }
}

/// Weighted counts per (column, value) on each side.
pub(super) type Counts = HashMap<(usize, Option<String>), (f64, f64)>;

pub(super) async fn counts(
    context: &SessionContext,
    events: &Events,
    condition: &str,
    selected: &str,
    profiles: &[Profile],
) -> HoneycombResult<Counts> {
    let keys: Vec<String> = profiles.iter().map(|p| grouping_key(events, p)).collect();
    let inner: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| format!("{key} AS \"k{i}\""))
        .collect();
    let sets: Vec<String> = (0..keys.len()).map(|i| format!("(\"k{i}\")")).collect();
    let groupings: Vec<String> = (0..keys.len())
        .map(|i| format!("grouping(\"k{i}\")"))
        .collect();
    let plain: Vec<String> = (0..keys.len()).map(|i| format!("\"k{i}\"")).collect();
    let sql = format!(
        "SELECT {}, {}, SUM(\"__w\") FILTER (WHERE \"__s\"), SUM(\"__w\") FILTER (WHERE NOT \"__s\") \
         FROM (SELECT \"__w\", COALESCE({selected}, false) AS \"__s\", {} FROM ({}) AS e WHERE {condition}) AS k \
         GROUP BY GROUPING SETS ({})",
        plain.join(", "),
        groupings.join(", "),
        inner.join(", "),
        events.sql,
        sets.join(", ")
    );
    let mut counts = Counts::new();
    let n = keys.len();
    for row in json_rows(context, &sql).await? {
        // The one column this row groups is the one whose grouping() is 0.
        let Some(column) = (0..n).find(|&i| row[n + i].as_i64() == Some(0)) else {
            continue;
        };
        let value = match &row[column] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        let selection = row[2 * n].as_f64().unwrap_or(0.0);
        let baseline = row[2 * n + 1].as_f64().unwrap_or(0.0);
        counts.insert((column, value), (selection, baseline));
    }
    Ok(counts)
}
