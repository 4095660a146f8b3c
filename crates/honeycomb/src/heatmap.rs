//! HEATMAP values: the smallest and largest value the calculation sees, then the weighted
//! counts of every (time bucket, group)'s value bins in one pass (`heatmap_counts`). Results
//! take the sum over the buckets, so a query with series reads its events twice per HEATMAP,
//! not four times.

use std::collections::HashMap;

use combray_query::sql::json_rows;
use datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::error::HoneycombResult;
use crate::plan::{Events, HEATMAP_BUCKETS};
use crate::spec::Validated;

/// HEATMAP values by (bucket start, group key); bucket `None` is the whole window.
pub(crate) type Cells = HashMap<(Option<i64>, String), Value>;

/// The value of one HEATMAP cell set: counts per bin and the axis.
fn heatmap_value(counts: &[f64], min: f64, step: f64) -> Value {
    serde_json::json!({
        "counts": counts,
        "min_value": min,
        "max_value": min + step * HEATMAP_BUCKETS as f64,
        "step_size": step,
    })
}

/// The cells of calculation `index` per group over the window, and per time bucket too when
/// `by_time`.
pub(crate) async fn heatmap(
    context: &SessionContext,
    events: &Events,
    query: &Validated,
    index: usize,
    by_time: bool,
) -> HoneycombResult<Cells> {
    let calc = &query.calculations[index];
    let range = json_rows(context, &events.heatmap_range(query, calc)).await?;
    let (Some(min), Some(max)) = (
        range.first().and_then(|r| r[0].as_f64()),
        range.first().and_then(|r| r[1].as_f64()),
    ) else {
        return Ok(HashMap::new());
    };
    let step = if max > min {
        (max - min) / HEATMAP_BUCKETS as f64
    } else {
        1.0
    };
    let sql = events.heatmap_counts(query, calc, min, step, by_time);
    let skip = usize::from(by_time);
    let mut counts: HashMap<(Option<i64>, String), Vec<f64>> = HashMap::new();
    for row in json_rows(context, &sql).await? {
        let groups = &row[skip..skip + query.breakdowns.len()];
        let Some(bins) = row[skip + groups.len()].as_array() else {
            continue;
        };
        let group = Value::Array(groups.to_vec()).to_string();
        let mut add = |key: (Option<i64>, String)| {
            let total = counts
                .entry(key)
                .or_insert_with(|| vec![0.0; HEATMAP_BUCKETS]);
            for (sum, count) in total.iter_mut().zip(bins) {
                *sum += count.as_f64().unwrap_or(0.0);
            }
        };
        if by_time {
            add((row[0].as_i64(), group.clone()));
        }
        add((None, group));
    }
    Ok(counts
        .into_iter()
        .map(|(key, counts)| (key, heatmap_value(&counts, min, step)))
        .collect())
}
