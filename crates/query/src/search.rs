//! Trace search: traces that contain a span matching every given condition, newest first.

mod spans;

use combray_model::{StatusCode, TraceId};
use combray_storage::SpanStore;
use combray_storage::TraceSummary;
use serde::Serialize;

use crate::sql::SqlEngine;
use crate::QueryError;

/// Traces returned when the caller gives no `limit`.
pub const DEFAULT_LIMIT: usize = 20;
/// Most traces one search returns.
pub const MAX_LIMIT: usize = 1000;

/// What to search for. Span conditions (service, name, durations, status, attributes) must all
/// hold for one span of the trace; the time range applies to the trace's start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchParams {
    /// The span's service (dataset).
    pub service: Option<String>,
    /// The span's name.
    pub name: Option<String>,
    /// Smallest span duration, nanoseconds.
    pub min_duration_nano: Option<u64>,
    /// Largest span duration, nanoseconds.
    pub max_duration_nano: Option<u64>,
    /// The span's status.
    pub status: Option<StatusCode>,
    /// `attr.KEY=VALUE` pairs; a span attribute or, failing that, a resource attribute must match.
    pub attributes: Vec<(String, String)>,
    /// Earliest trace start, nanoseconds since the Unix epoch.
    pub start_unix_nano: Option<u64>,
    /// Latest trace start, nanoseconds since the Unix epoch.
    pub end_unix_nano: Option<u64>,
    /// Most traces to return.
    pub limit: usize,
}

fn invalid(message: String) -> QueryError {
    QueryError::InvalidArgument(message)
}

impl SearchParams {
    /// Parses query-string pairs, rejecting unknown keys and malformed values with a message that
    /// names the parameter.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, QueryError> {
        let mut params = Self {
            limit: DEFAULT_LIMIT,
            ..Self::default()
        };
        for (key, value) in pairs {
            match key.as_str() {
                "service" => params.service = Some(value.clone()),
                "name" | "operation" => params.name = Some(value.clone()),
                "min_duration" => params.min_duration_nano = Some(parse_duration(key, value)?),
                "max_duration" => params.max_duration_nano = Some(parse_duration(key, value)?),
                "status" => params.status = Some(parse_status(value)?),
                "start" => params.start_unix_nano = Some(parse_time(key, value)?),
                "end" => params.end_unix_nano = Some(parse_time(key, value)?),
                "limit" => params.limit = parse_limit(value)?,
                other => match other.strip_prefix("attr.") {
                    Some(attribute) if !attribute.is_empty() => {
                        params
                            .attributes
                            .push((attribute.to_owned(), value.clone()));
                    }
                    _ => {
                        return Err(invalid(format!(
                            "unknown parameter {other:?}: use service, name, min_duration, \
                             max_duration, status, attr.KEY, start, end or limit"
                        )))
                    }
                },
            }
        }
        if let (Some(low), Some(high)) = (params.min_duration_nano, params.max_duration_nano) {
            if low > high {
                return Err(invalid("min_duration is larger than max_duration".into()));
            }
        }
        if let (Some(start), Some(end)) = (params.start_unix_nano, params.end_unix_nano) {
            if start > end {
                return Err(invalid("start is later than end".into()));
            }
        }
        Ok(params)
    }

    fn has_span_conditions(&self) -> bool {
        self.service.is_some()
            || self.name.is_some()
            || self.min_duration_nano.is_some()
            || self.max_duration_nano.is_some()
            || self.status.is_some()
            || !self.attributes.is_empty()
    }
}

/// Durations are a number and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`); a bare number is
/// milliseconds, as Honeycomb's `duration_ms`.
fn parse_duration(key: &str, text: &str) -> Result<u64, QueryError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "" | "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => f64::NAN,
    };
    match number.parse::<f64>() {
        Ok(value) if scale.is_finite() && value.is_finite() => Ok((value * scale).round() as u64),
        _ => Err(invalid(format!(
            "{key} {text:?} is not a duration such as 250ms, 1.5s or 2m"
        ))),
    }
}

fn parse_status(text: &str) -> Result<StatusCode, QueryError> {
    match text.to_ascii_lowercase().as_str() {
        "error" => Ok(StatusCode::Error),
        "ok" => Ok(StatusCode::Ok),
        "unset" => Ok(StatusCode::Unset),
        _ => Err(invalid(format!(
            "status {text:?} is not one of error, ok or unset"
        ))),
    }
}

/// Times are RFC 3339 or Unix epoch integers in seconds, milliseconds, microseconds or
/// nanoseconds (told apart by their number of digits, as Refinery does).
fn parse_time(key: &str, text: &str) -> Result<u64, QueryError> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let value: u64 = trimmed
            .parse()
            .map_err(|_| invalid(format!("{key} {text:?} is too large")))?;
        let scale: u64 = match trimmed.len() {
            0..=10 => 1_000_000_000,
            11..=13 => 1_000_000,
            14..=16 => 1_000,
            _ => 1,
        };
        return value
            .checked_mul(scale)
            .ok_or_else(|| invalid(format!("{key} {text:?} is too large")));
    }
    let time = humantime::parse_rfc3339_weak(trimmed).map_err(|_| {
        invalid(format!(
            "{key} {text:?} is neither RFC 3339 nor a Unix epoch integer"
        ))
    })?;
    let since_epoch = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| invalid(format!("{key} {text:?} is before 1970")))?;
    Ok(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
}

fn parse_limit(text: &str) -> Result<usize, QueryError> {
    match text.trim().parse::<usize>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(invalid(format!(
            "limit {text:?} must be an integer from 1 to {MAX_LIMIT}"
        ))),
    }
}

/// One trace in a search result.
#[derive(Debug, Clone, Serialize)]
pub struct TraceHit {
    /// Lower-case hex.
    pub trace_id: String,
    /// Service of the root span.
    pub root_service: String,
    /// Name of the root span.
    pub root_name: String,
    /// Whether the root span has arrived (otherwise the earliest span stands in).
    pub has_root: bool,
    /// Trace start, nanoseconds since the Unix epoch, as a decimal string.
    pub start_unix_nano: String,
    /// Trace duration.
    pub duration_nano: u64,
    /// The same in milliseconds.
    pub duration_ms: f64,
    /// Spans in the trace.
    pub span_count: usize,
    /// Whether any span has status error.
    pub error: bool,
    /// Spans with status error.
    pub error_count: u32,
}

impl From<TraceSummary> for TraceHit {
    fn from(summary: TraceSummary) -> Self {
        Self {
            trace_id: summary.trace_id.to_hex(),
            root_service: summary.root_service,
            root_name: summary.root_name,
            has_root: summary.has_root,
            start_unix_nano: summary.start_unix_nano.to_string(),
            duration_nano: summary.duration_nano,
            duration_ms: summary.duration_nano as f64 / 1e6,
            span_count: summary.span_count,
            error: summary.error_count > 0,
            error_count: summary.error_count,
        }
    }
}

/// A search result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// Matching traces, newest first, at most `limit`.
    pub traces: Vec<TraceHit>,
    /// How many traces matched before the limit was applied.
    pub matched: usize,
    /// The limit that applied.
    pub limit: usize,
}

/// Runs a search in the caller's environment. Span conditions run as one DataFusion scan over
/// head and blocks; without them, the trace indexes answer alone.
pub async fn search(
    engine: &SqlEngine,
    store: &dyn SpanStore,
    environment: &str,
    params: &SearchParams,
) -> Result<SearchResult, QueryError> {
    let start = params.start_unix_nano.unwrap_or(0);
    let end = params.end_unix_nano.unwrap_or(u64::MAX);
    let candidates: Vec<TraceId> = if params.has_span_conditions() {
        spans::matching_traces(engine, store, environment, params).await?
    } else {
        store
            .trace_ids_starting_between(environment, start, end)
            .await?
    };
    let mut summaries: Vec<TraceSummary> = store
        .trace_summaries(environment, candidates)
        .await?
        .into_iter()
        // A span condition can match an event sent without a trace; it is not a trace.
        .filter(|summary| {
            !summary.trace_id.is_untraced_event()
                && (start..=end).contains(&summary.start_unix_nano)
        })
        .collect();
    let matched = summaries.len();
    summaries.sort_unstable_by(|a, b| {
        b.start_unix_nano
            .cmp(&a.start_unix_nano)
            .then(a.trace_id.cmp(&b.trace_id))
    });
    summaries.truncate(params.limit);
    Ok(SearchResult {
        traces: summaries.into_iter().map(TraceHit::from).collect(),
        matched,
        limit: params.limit,
    })
}

#[cfg(test)]
mod tests;
