//! `combray query`: Honeycomb's query model from the terminal. Builds a Query Specification from
//! flags (or reads one from a file), runs it through a server's Query Data API (`/1/queries`,
//! `/1/query_results`) and prints the groups as a table, a sparkline per group and calculation
//! when a granularity is given, and HEATMAP values as rows of shaded cells.

use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Map, Value};

use crate::sql_cli::{cell, render_table};

/// What to ask, of which server.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// Calculations, such as 'COUNT', 'P99(duration_ms)' or 'HEATMAP(duration_ms)'
    #[arg(long = "calc")]
    pub calculations: Vec<String>,
    /// Filters, such as 'http.status_code >= 500', 'error exists' or 'http.route in /a,/b'
    #[arg(long = "where")]
    pub filters: Vec<String>,
    /// Columns to group by
    #[arg(long = "group-by")]
    pub breakdowns: Vec<String>,
    /// How far back: 1h, 30m, 7200 (seconds)
    #[arg(long, default_value = "2h")]
    pub range: String,
    /// Seconds per time-series bucket; prints a sparkline per group
    #[arg(long)]
    pub granularity: Option<u64>,
    /// Most groups
    #[arg(long)]
    pub limit: Option<u64>,
    /// The dataset (a service), or __all__
    #[arg(long, default_value = "__all__")]
    pub dataset: String,
    /// A Query Specification JSON file instead of the flags
    #[arg(long)]
    pub file: Option<std::path::PathBuf>,
    /// The server's API address
    #[arg(long, env = "COMBRAY_API_URL", default_value = "http://127.0.0.1:4320")]
    pub api_url: String,
    /// A configuration key, when the server has keys
    #[arg(long, env = "COMBRAY_KEY")]
    pub key: Option<String>,
    /// Print the result's JSON instead
    #[arg(long)]
    pub json: bool,
}

/// `P99(duration_ms)` → `{"op": "P99", "column": "duration_ms"}`.
fn calculation(text: &str) -> anyhow::Result<Value> {
    let text = text.trim();
    match text.split_once('(') {
        Some((op, rest)) => {
            let column = rest
                .strip_suffix(')')
                .with_context(|| format!("{text:?}: a calculation is OP or OP(column)"))?;
            Ok(json!({"op": op.trim().to_uppercase(), "column": column.trim()}))
        }
        None => Ok(json!({"op": text.to_uppercase()})),
    }
}

/// A value as typed on a command line: a number or boolean when it reads as one.
pub(crate) fn typed(text: &str) -> Value {
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| v.is_number() || v.is_boolean())
        .unwrap_or_else(|| Value::from(text))
}

/// `http.status_code >= 500` → `{"column", "op", "value"}`.
pub(crate) fn filter(text: &str) -> anyhow::Result<Value> {
    let mut parts = text.trim().splitn(3, char::is_whitespace);
    let column = parts
        .next()
        .filter(|c| !c.is_empty())
        .context("a filter needs a column")?;
    let op = parts
        .next()
        .with_context(|| format!("{text:?}: a filter is COLUMN OP [VALUE]"))?;
    let value = parts.next().map(str::trim);
    Ok(match (op, value) {
        ("in" | "not-in", Some(list)) => {
            json!({"column": column, "op": op, "value": list.split(',').map(|v| typed(v.trim())).collect::<Vec<_>>()})
        }
        (_, Some(value)) => json!({"column": column, "op": op, "value": typed(value)}),
        (_, None) => json!({"column": column, "op": op}),
    })
}

pub(crate) fn seconds(range: &str) -> anyhow::Result<u64> {
    range.parse::<u64>().or_else(|_| {
        humantime::parse_duration(range)
            .map(|d| d.as_secs())
            .with_context(|| format!("--range {range:?}: use 1h, 30m or seconds"))
    })
}

/// The Query Specification the flags describe.
pub(crate) fn spec(args: &QueryArgs) -> anyhow::Result<Value> {
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()));
    }
    let mut spec = json!({
        "calculations": args.calculations.iter().map(|c| calculation(c)).collect::<anyhow::Result<Vec<_>>>()?,
        "filters": args.filters.iter().map(|f| filter(f)).collect::<anyhow::Result<Vec<_>>>()?,
        "breakdowns": args.breakdowns,
        "time_range": seconds(&args.range)?,
    });
    if let Some(g) = args.granularity {
        spec["granularity"] = g.into();
    }
    if let Some(limit) = args.limit {
        spec["limit"] = limit.into();
    }
    Ok(spec)
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

/// One bar per value, scaled between the smallest and the largest.
fn sparkline(values: &[f64]) -> String {
    let (low, high) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    values
        .iter()
        .map(|v| {
            let level = if high > low {
                (v - low) / (high - low)
            } else {
                0.0
            };
            BARS[((level * 7.0).round() as usize).min(7)]
        })
        .collect()
}

/// A HEATMAP value as one row of shaded cells, lowest values on the left.
fn heat_row(value: &Value) -> String {
    let counts: Vec<f64> = value["counts"]
        .as_array()
        .map(|c| c.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let most = counts.iter().copied().fold(0.0, f64::max);
    let cells: String = counts
        .iter()
        .map(|c| {
            let level = if most > 0.0 { c / most } else { 0.0 };
            SHADES[if *c > 0.0 {
                ((level * 4.0).ceil() as usize).clamp(1, 4)
            } else {
                0
            }]
        })
        .collect();
    format!(
        "{} |{cells}| {}",
        cell(&value["min_value"]),
        cell(&value["max_value"])
    )
}

fn group_label(data: &Map<String, Value>, breakdowns: &[String]) -> String {
    let parts: Vec<String> = breakdowns
        .iter()
        .map(|b| data.get(b).map_or("(none)".into(), cell))
        .collect();
    if parts.is_empty() {
        "all".into()
    } else {
        parts.join(", ")
    }
}

fn print_result(spec: &Value, data: &Value) {
    let breakdowns: Vec<String> = spec["breakdowns"]
        .as_array()
        .map(|b| {
            b.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let keys: Vec<String> = spec["calculations"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| {
                    let op = c["op"].as_str().unwrap_or("COUNT");
                    c["name"].as_str().map(String::from).unwrap_or_else(|| {
                        match c["column"].as_str() {
                            Some(column) => format!("{op}({column})"),
                            None => op.to_owned(),
                        }
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let results = data["results"].as_array().cloned().unwrap_or_default();
    let mut headers = breakdowns.clone();
    headers.extend(keys.iter().cloned());
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            headers
                .iter()
                .map(|h| {
                    r["data"].get(h).map_or(String::new(), |v| {
                        if v.is_object() {
                            "(heatmap)".into()
                        } else {
                            cell(v)
                        }
                    })
                })
                .collect()
        })
        .collect();
    println!("{}", render_table(&headers, &rows));
    for row in &results {
        let Some(data) = row["data"].as_object() else {
            continue;
        };
        for key in &keys {
            if let Some(heat) = data.get(key).filter(|v| v.is_object()) {
                println!(
                    "{key} [{}]  {}",
                    group_label(data, &breakdowns),
                    heat_row(heat)
                );
            }
        }
    }
    let series = data["series"].as_array().cloned().unwrap_or_default();
    if series.is_empty() {
        return;
    }
    for row in &results {
        let Some(group) = row["data"].as_object() else {
            continue;
        };
        let label = group_label(group, &breakdowns);
        for key in keys.iter().filter(|k| !k.starts_with("HEATMAP")) {
            let values: Vec<f64> = series
                .iter()
                .filter(|p| {
                    p["data"]
                        .as_object()
                        .is_some_and(|d| group_label(d, &breakdowns) == label)
                })
                .map(|p| p["data"][key.as_str()].as_f64().unwrap_or(0.0))
                .collect();
            println!("{key} [{label}]  {}", sparkline(&values));
        }
    }
}

pub(crate) async fn post(
    client: &reqwest::Client,
    args: &QueryArgs,
    path: &str,
    body: &Value,
) -> anyhow::Result<(reqwest::header::HeaderMap, Value)> {
    let url = format!("{}{path}", args.api_url.trim_end_matches('/'));
    let mut request = client
        .post(&url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = &args.key {
        request = request.header(crate::keys::KEY_HEADER, key);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}; is `combray serve` running?"))?;
    let (status, headers) = (response.status(), response.headers().clone());
    let answer: Value = serde_json::from_str(&response.text().await?)
        .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
    if !status.is_success() {
        anyhow::bail!(
            "{status}: {}",
            answer["error"].as_str().unwrap_or("no message")
        );
    }
    Ok((headers, answer))
}

/// Runs the query and prints its result.
pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let spec = spec(&args)?;
    let dataset = &args.dataset;
    let (_, saved) = post(&client, &args, &format!("/1/queries/{dataset}"), &spec).await?;
    let run = json!({"query_id": saved["id"], "disable_series": args.granularity.is_none() && args.file.is_none()});
    let (headers, _) = post(&client, &args, &format!("/1/query_results/{dataset}"), &run).await?;
    let location = headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("the result has no Location")?;
    let mut request = client.get(format!("{}{location}", args.api_url.trim_end_matches('/')));
    if let Some(key) = &args.key {
        request = request.header(crate::keys::KEY_HEADER, key);
    }
    let result: Value = serde_json::from_str(&request.send().await?.text().await?)
        .context("the result is not JSON")?;
    if args.json {
        println!("{result}");
        return Ok(());
    }
    print_result(&saved, &result["data"]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_a_query_specification() {
        assert_eq!(
            calculation("p99(duration_ms)").unwrap(),
            json!({"op": "P99", "column": "duration_ms"})
        );
        assert_eq!(calculation("COUNT").unwrap(), json!({"op": "COUNT"}));
        assert_eq!(
            filter("http.status_code >= 500").unwrap(),
            json!({"column": "http.status_code", "op": ">=", "value": 500})
        );
        assert_eq!(
            filter("error exists").unwrap(),
            json!({"column": "error", "op": "exists"})
        );
        assert_eq!(
            filter("route in /a,/b").unwrap(),
            json!({"column": "route", "op": "in", "value": ["/a", "/b"]})
        );
        assert_eq!(filter("name = GET /x").unwrap()["value"], json!("GET /x"));
        assert_eq!(seconds("1h").unwrap(), 3600);
        assert_eq!(seconds("90").unwrap(), 90);
        assert_eq!(sparkline(&[0.0, 7.0, 3.5]), "▁█▅");
    }
}
