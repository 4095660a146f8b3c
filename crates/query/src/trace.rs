//! One whole trace, in the order and shape a waterfall draws: parents before children, children
//! by start time, each span with its depth and its offset from the trace's start.

use std::collections::{BTreeSet, HashMap};

use combray_model::{KeyValue, SpanRecord, TraceId};
use combray_storage::SpanStore;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::QueryError;

/// A trace as `GET /api/v1/traces/{id}` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct TraceView {
    /// Lower-case hex.
    pub trace_id: String,
    /// Earliest span start, nanoseconds since the Unix epoch, as a decimal string (exact in JS).
    pub start_unix_nano: String,
    /// Latest span end minus earliest start.
    pub duration_nano: u64,
    /// The same in milliseconds.
    pub duration_ms: f64,
    /// Distinct spans.
    pub span_count: usize,
    /// Services in the trace, sorted.
    pub services: Vec<String>,
    /// Spans in waterfall order.
    pub spans: Vec<SpanView>,
}

/// One span of a [`TraceView`].
#[derive(Debug, Clone, Serialize)]
pub struct SpanView {
    /// Lower-case hex.
    pub span_id: String,
    /// Parent's id, `null` for a root.
    pub parent_span_id: Option<String>,
    /// Nesting level in the waterfall (roots and orphans are 0).
    pub depth: usize,
    /// The span names a parent that is not (yet) in the trace.
    pub orphan: bool,
    /// Service (dataset).
    pub service: String,
    /// Span name.
    pub name: String,
    /// `server`, `client`, `internal`, `producer`, `consumer` or `unspecified`.
    pub kind: &'static str,
    /// Start, nanoseconds since the Unix epoch, as a decimal string.
    pub start_unix_nano: String,
    /// Start relative to the trace's start.
    pub offset_nano: u64,
    /// Duration in nanoseconds.
    pub duration_nano: u64,
    /// Duration in milliseconds.
    pub duration_ms: f64,
    /// `{"code": "unset"|"ok"|"error", "message": ...}`.
    pub status: Value,
    /// Span attributes.
    pub attributes: Map<String, Value>,
    /// Resource attributes.
    pub resource: Map<String, Value>,
    /// Instrumentation scope.
    pub scope: Value,
    /// Events, with offsets from the trace's start.
    pub events: Vec<Value>,
    /// Links to other spans.
    pub links: Vec<Value>,
    /// How many spans this one stands for.
    pub sample_rate: u32,
    /// Protocol it arrived on.
    pub protocol: &'static str,
    /// W3C tracestate, when set.
    pub trace_state: Option<String>,
    /// W3C flags and OTLP's remote bits.
    pub flags: u32,
    /// Attributes, events and links the producer dropped.
    pub dropped: Value,
}

/// Fetches a whole trace from the caller's environment; no time range is needed.
pub async fn get_trace(
    store: &dyn SpanStore,
    environment: &str,
    trace_id: &str,
) -> Result<TraceView, QueryError> {
    let id = match trace_id.parse::<TraceId>() {
        Ok(id) => id,
        Err(error) => TraceId::from_xray(trace_id).ok_or_else(|| {
            QueryError::InvalidArgument(format!(
                "trace id {trace_id:?} is neither 32 hexadecimal characters ({error}) nor an \
                 X-Ray id like 1-5759e988-bd862e3fe1be46a994272793"
            ))
        })?,
    };
    let rows = store.trace_records(environment, &id).await?;
    if rows.is_empty() {
        return Err(QueryError::NotFound(format!("trace {trace_id} not found")));
    }
    // A client that retries after a lost acknowledgement sends the same span twice (and a span
    // is briefly in both the head and a new block during a cut); the last copy wins.
    let mut by_span_id = HashMap::with_capacity(rows.len());
    for record in rows {
        by_span_id.insert(record.span.span_id, record);
    }
    let records: Vec<SpanRecord> = by_span_id.into_values().collect();
    Ok(assemble(id, records))
}

fn assemble(trace_id: TraceId, records: Vec<SpanRecord>) -> TraceView {
    let trace_start = records
        .iter()
        .map(|r| r.span.start_unix_nano)
        .min()
        .unwrap_or(0);
    let trace_end = records
        .iter()
        .map(|r| r.span.end_unix_nano())
        .max()
        .unwrap_or(0);
    let services: BTreeSet<String> = records.iter().map(|r| r.dataset.to_string()).collect();
    let order = waterfall_order(&records);
    let spans = order
        .into_iter()
        .map(|(index, depth, orphan)| span_view(&records[index], depth, orphan, trace_start))
        .collect();
    let duration_nano = trace_end.saturating_sub(trace_start);
    TraceView {
        trace_id: trace_id.to_hex(),
        start_unix_nano: trace_start.to_string(),
        duration_nano,
        duration_ms: duration_nano as f64 / 1e6,
        span_count: records.len(),
        services: services.into_iter().collect(),
        spans,
    }
}

/// Depth-first order from the roots: (record index, depth, orphan). Spans whose parent is missing
/// start their own subtree; spans caught in a parent cycle come last so none is ever lost.
fn waterfall_order(records: &[SpanRecord]) -> Vec<(usize, usize, bool)> {
    let position: HashMap<_, _> = records
        .iter()
        .enumerate()
        .map(|(index, r)| (r.span.span_id, index))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match record
            .span
            .parent_span_id
            .and_then(|parent| position.get(&parent))
        {
            Some(&parent) if parent != index => children.entry(parent).or_default().push(index),
            _ => roots.push(index),
        }
    }
    let by_start = |a: &usize, b: &usize| {
        let (left, right) = (&records[*a].span, &records[*b].span);
        (left.start_unix_nano, &left.name).cmp(&(right.start_unix_nano, &right.name))
    };
    roots.sort_by(by_start);
    for siblings in children.values_mut() {
        siblings.sort_by(by_start);
    }
    let mut visited = vec![false; records.len()];
    let mut order = Vec::with_capacity(records.len());
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|root| (*root, 0)).collect();
    while let Some((index, depth)) = stack.pop() {
        if std::mem::replace(&mut visited[index], true) {
            continue;
        }
        order.push((
            index,
            depth,
            records[index].span.parent_span_id.is_some() && depth == 0,
        ));
        if let Some(kids) = children.get(&index) {
            stack.extend(kids.iter().rev().map(|kid| (*kid, depth + 1)));
        }
    }
    for (index, seen) in visited.iter().enumerate() {
        if !seen {
            order.push((index, 0, true));
        }
    }
    order
}

fn attributes_object(attributes: &[KeyValue]) -> Map<String, Value> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.to_json()))
        .collect()
}

fn span_view(record: &SpanRecord, depth: usize, orphan: bool, trace_start: u64) -> SpanView {
    let span = &record.span;
    let events = span
        .events
        .iter()
        .map(|event| {
            serde_json::json!({
                "name": event.name,
                "time_unix_nano": event.time_unix_nano.to_string(),
                "offset_nano": event.time_unix_nano.saturating_sub(trace_start),
                "attributes": attributes_object(&event.attributes),
                "dropped_attributes_count": event.dropped_attributes_count,
            })
        })
        .collect();
    let links = span
        .links
        .iter()
        .map(|link| {
            serde_json::json!({
                "trace_id": link.trace_id.to_hex(),
                "span_id": link.span_id.to_hex(),
                "trace_state": link.trace_state,
                "attributes": attributes_object(&link.attributes),
                "flags": link.flags,
            })
        })
        .collect();
    SpanView {
        span_id: span.span_id.to_hex(),
        parent_span_id: span.parent_span_id.map(|parent| parent.to_hex()),
        depth,
        orphan,
        service: record.dataset.to_string(),
        name: span.name.clone(),
        kind: span.kind.as_str(),
        start_unix_nano: span.start_unix_nano.to_string(),
        offset_nano: span.start_unix_nano.saturating_sub(trace_start),
        duration_nano: span.duration_nano,
        duration_ms: span.duration_nano as f64 / 1e6,
        status: serde_json::json!({"code": span.status.code.as_str(), "message": span.status.message}),
        attributes: attributes_object(&span.attributes),
        resource: attributes_object(&record.resource),
        scope: serde_json::json!({
            "name": record.scope.name,
            "version": record.scope.version,
            "attributes": attributes_object(&record.scope.attributes),
        }),
        events,
        links,
        sample_rate: span.sample_rate,
        protocol: record.protocol.as_str(),
        trace_state: (!span.trace_state.is_empty()).then(|| span.trace_state.clone()),
        flags: span.flags,
        dropped: serde_json::json!({
            "attributes": span.dropped_counts[0],
            "events": span.dropped_counts[1],
            "links": span.dropped_counts[2],
        }),
    }
}

#[cfg(test)]
mod tests;
