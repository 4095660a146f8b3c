//! `combray bubbleup`: BubbleUp from the terminal. The query comes from the same flags as
//! `combray query` (or a QuerySpec file), the selection from one of `--selection-where`,
//! `--selection-group` or `--selection-box`; it runs through `POST /api/v1/bubbleup` and prints
//! the columns most different first, each with its score and the selection's and the
//! baseline's shares of its top values (or bins) side by side.

use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Map, Value};

use crate::query_cli::{filter, post, seconds, spec, typed, QueryArgs};

/// The query and what to compare with the rest of its events.
#[derive(Debug, Clone, clap::Args)]
pub struct BubbleUpArgs {
    #[command(flatten)]
    pub query: QueryArgs,
    /// The selection as filters, such as 'duration_ms > 500' (repeatable)
    #[arg(long = "selection-where")]
    pub selection_filters: Vec<String>,
    /// The selection as one result group, such as 'http.route=/api/messages' (repeatable)
    #[arg(long = "selection-group")]
    pub selection_group: Vec<String>,
    /// The selection as a box on the HEATMAP: COLUMN:MIN:MAX over the whole range
    #[arg(long = "selection-box")]
    pub selection_box: Option<String>,
    /// How many columns to print
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Values (or bins) to print per column
    #[arg(long, default_value_t = 5)]
    pub values: usize,
}

/// The `selection` of the request.
fn selection(args: &BubbleUpArgs, now: u64) -> anyhow::Result<Value> {
    let given = usize::from(!args.selection_filters.is_empty())
        + usize::from(!args.selection_group.is_empty())
        + usize::from(args.selection_box.is_some());
    anyhow::ensure!(
        given == 1,
        "give exactly one of --selection-where, --selection-group or --selection-box"
    );
    if !args.selection_filters.is_empty() {
        let filters = args
            .selection_filters
            .iter()
            .map(|f| filter(f))
            .collect::<anyhow::Result<Vec<_>>>()?;
        return Ok(json!({"filters": filters}));
    }
    if !args.selection_group.is_empty() {
        let mut group = Map::new();
        for pair in &args.selection_group {
            let (column, value) = pair
                .split_once('=')
                .with_context(|| format!("{pair:?}: a group is COLUMN=VALUE"))?;
            group.insert(column.trim().to_owned(), typed(value.trim()));
        }
        return Ok(json!({"group": group}));
    }
    let text = args.selection_box.as_deref().unwrap_or_default();
    let parts: Vec<&str> = text.rsplitn(3, ':').collect();
    let [max, min, column] = parts.as_slice() else {
        anyhow::bail!("--selection-box {text:?}: use COLUMN:MIN:MAX");
    };
    let number = |s: &str| {
        s.parse::<f64>()
            .with_context(|| format!("--selection-box: {s:?} is not a number"))
    };
    let range = seconds(&args.query.range)?;
    Ok(json!({"heatmap": {
        "column": column, "min": number(min)?, "max": number(max)?,
        "start_time": now.saturating_sub(range), "end_time": now + 1,
    }}))
}

fn percent(value: &Value) -> String {
    format!("{:5.1}%", value.as_f64().unwrap_or(0.0) * 100.0)
}

/// A share's label: the value, or the bin's bounds.
fn label(share: &Value) -> String {
    match share.get("value") {
        Some(Value::Null) => "(none)".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => format!("{} – {}", share["min"], share["max"]),
    }
}

/// A weighted count: whole numbers without a fraction.
fn count(value: &Value) -> String {
    let n = value.as_f64().unwrap_or(0.0);
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n:.1}")
    }
}

fn print_answer(answer: &Value, top: usize, values: usize) {
    println!(
        "selection: {} events, baseline: {} events",
        count(&answer["selection_count"]),
        count(&answer["baseline_count"])
    );
    let columns = answer["columns"].as_array().cloned().unwrap_or_default();
    for column in columns.iter().take(top) {
        println!(
            "\n{}  score {:.3}  ({})",
            column["column"].as_str().unwrap_or_default(),
            column["score"].as_f64().unwrap_or(0.0),
            column["kind"].as_str().unwrap_or_default()
        );
        let mut shares = column["shares"].as_array().cloned().unwrap_or_default();
        shares.sort_by(|a, b| {
            let gap = |s: &Value| {
                (s["selection"].as_f64().unwrap_or(0.0) - s["baseline"].as_f64().unwrap_or(0.0))
                    .abs()
            };
            gap(b).total_cmp(&gap(a))
        });
        for share in shares.iter().take(values) {
            println!(
                "  {:<40} selection {}  baseline {}",
                label(share),
                percent(&share["selection"]),
                percent(&share["baseline"])
            );
        }
    }
}

/// Runs BubbleUp and prints its columns.
pub async fn run(args: BubbleUpArgs) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let body = json!({
        "dataset": args.query.dataset,
        "query": spec(&args.query)?,
        "selection": selection(&args, now)?,
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let (_, answer) = post(&client, &args.query, "/api/v1/bubbleup", &body).await?;
    if args.query.json {
        println!("{answer}");
    } else {
        print_answer(&answer, args.top, args.values);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BubbleUpArgs,
    }

    fn parse(flags: &[&str]) -> BubbleUpArgs {
        Cli::parse_from(std::iter::once("bubbleup").chain(flags.iter().copied())).args
    }

    #[test]
    fn each_kind_of_selection_becomes_the_request_body() {
        let by_filter = parse(&["--selection-where", "duration_ms > 500"]);
        assert_eq!(
            selection(&by_filter, 1000).unwrap(),
            json!({"filters": [{"column": "duration_ms", "op": ">", "value": 500}]})
        );
        let by_group = parse(&[
            "--selection-group",
            "http.route=/a",
            "--selection-group",
            "code=500",
        ]);
        assert_eq!(
            selection(&by_group, 1000).unwrap(),
            json!({"group": {"http.route": "/a", "code": 500}})
        );
        let by_box = parse(&["--selection-box", "duration_ms:100:2.5e3", "--range", "10m"]);
        assert_eq!(
            selection(&by_box, 1000).unwrap(),
            json!({"heatmap": {"column": "duration_ms", "min": 100.0, "max": 2500.0, "start_time": 400, "end_time": 1001}})
        );
        assert!(selection(&parse(&[]), 0).is_err());
        assert!(selection(&parse(&["--selection-box", "x:1"]), 0).is_err());
        assert!(selection(&parse(&["--selection-group", "novalue"]), 0).is_err());
    }
}
