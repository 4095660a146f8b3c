//! `combray sql "SELECT ..."`: sends a query to a running server's `POST /api/v1/sql` and prints
//! the answer as a table.

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::progress::with_spinner;

/// Where to send the query, and as whom.
#[derive(Debug, Clone, clap::Args)]
pub struct SqlArgs {
    /// The query; the table is `spans`, attribute columns are "attr.<key>" and "resource.<key>"
    pub sql: String,
    /// The server's API address
    #[arg(long, env = "COMBRAY_API_URL", default_value = "http://127.0.0.1:4320")]
    pub api_url: String,
    /// A configuration key, when the server has keys; it selects the environment
    #[arg(long, env = "COMBRAY_KEY")]
    pub key: Option<String>,
    /// Rows at most (the server's own limit still applies)
    #[arg(long)]
    pub max_rows: Option<usize>,
    /// Print the JSON answer instead of a table
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Lays rows out under their headers, each column as wide as its widest cell.
pub(crate) fn render_table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, value) in widths.iter_mut().zip(row) {
            *width = (*width).max(value.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = vec![line(headers), format!("|-{}-|", rule.join("-|-"))];
    out.extend(rows.iter().map(|r| line(r)));
    out.join("\n")
}

/// Runs the query and prints the result.
pub async fn run(args: SqlArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut body = serde_json::json!({ "sql": args.sql });
    if let Some(max_rows) = args.max_rows {
        body["max_rows"] = max_rows.into();
    }
    let url = format!("{}/api/v1/sql", args.api_url.trim_end_matches('/'));
    let mut request = client
        .post(&url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = &args.key {
        request = request.header(crate::keys::KEY_HEADER, key);
    }
    let exchange = async {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}; is `combray serve` running?"))?;
        let status = response.status();
        anyhow::Ok((status, response.text().await?))
    };
    let (status, body) = with_spinner("running query", exchange).await?;
    let answer: Value = serde_json::from_str(&body)
        .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
    if !status.is_success() {
        let message = answer["error"].as_str().unwrap_or("no message");
        anyhow::bail!("{status}: {message}");
    }
    if args.json {
        println!("{answer}");
        return Ok(());
    }
    let headers: Vec<String> = answer["columns"]
        .as_array()
        .map(|c| c.iter().map(|c| cell(&c["name"])).collect())
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = answer["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    r.as_array()
                        .map(|r| r.iter().map(cell).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    println!("{}", render_table(&headers, &rows));
    let truncated = if answer["truncated"].as_bool() == Some(true) {
        " (cut off at the row limit)"
    } else {
        ""
    };
    eprintln!(
        "{}{truncated} in {:.1} ms",
        count_of(rows.len(), "row"),
        answer["elapsed_ms"].as_f64().unwrap_or(0.0)
    );
    Ok(())
}

/// "1 row", "2 rows".
pub(crate) fn count_of(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_is_a_row() {
        assert_eq!(count_of(1, "row"), "1 row");
        assert_eq!(count_of(0, "row"), "0 rows");
        assert_eq!(count_of(12, "row"), "12 rows");
    }

    #[test]
    fn tables_pad_every_column_to_its_widest_cell() {
        let table = render_table(
            &["service".into(), "n".into()],
            &[
                vec!["api".into(), "12345".into()],
                vec!["web-frontend".into(), "7".into()],
            ],
        );
        let expected = "\
| service      | n     |
|--------------|-------|
| api          | 12345 |
| web-frontend | 7     |";
        assert_eq!(table, expected);
    }
}
