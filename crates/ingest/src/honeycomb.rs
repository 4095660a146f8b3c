//! Honeycomb's Events API: the JSON bodies libhoney and the Beelines send to `/1/batch/{dataset}`
//! (an array of `{data, time?, samplerate?}`) and `/1/events/{dataset}` (one `data` object, with
//! time and sample rate in headers), turned into spans of the unified model.
//!
//! An event is a span: `trace.trace_id`, `trace.span_id` and `trace.parent_id` are its ids (hex
//! of the right length as is, a UUID without its dashes, anything else hashed to a stable id),
//! `name`, `duration_ms`, `service.name` (else the dataset), `span.kind`, `error` and
//! `status_message` fill the span's fields, and every other key is an attribute. An event without
//! `trace.trace_id` gets ids of its own and `meta.signal_type = "event"`.

use combray_model::{
    AttributeValue, KeyValue, Protocol, Scope, Span, SpanBatch, SpanGroup, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::IngestError;

/// Most fields one event may have (Honeycomb's limit).
pub const MAX_FIELDS: usize = 2000;

/// One item of a batch.
#[derive(Debug, Deserialize)]
struct BatchItem {
    data: Option<Map<String, Value>>,
    #[serde(default)]
    time: Option<Value>,
    #[serde(default)]
    samplerate: Option<Value>,
}

/// What applies to events that do not say: the request's headers and arrival.
#[derive(Debug, Clone)]
pub struct Defaults<'a> {
    /// The dataset in the URL: the service of events that name none.
    pub dataset: &'a str,
    /// `X-Honeycomb-Event-Time`, or the arrival time, in nanoseconds.
    pub time_unix_nano: u64,
    /// `X-Honeycomb-Samplerate`, or 1.
    pub sample_rate: u32,
}

/// How an Events API body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` (and anything not msgpack).
    Json,
    /// `application/msgpack` or `application/x-msgpack`.
    Msgpack,
}

impl BodyFormat {
    /// The format a `Content-Type` names.
    pub fn of_content_type(content_type: Option<&str>) -> Self {
        let essence = content_type
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase());
        match essence.as_deref() {
            Some("application/msgpack" | "application/x-msgpack") => Self::Msgpack,
            _ => Self::Json,
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(self, body: &[u8]) -> Result<T, IngestError> {
        match self {
            Self::Json => serde_json::from_slice(body).map_err(|e| malformed(&e)),
            Self::Msgpack => crate::msgpack::to_json(body)
                .map_err(|reason| IngestError::Decode {
                    format: "Honeycomb events",
                    reason: format!("Request body is malformed and cannot be read. ({reason})"),
                })
                .and_then(|value| serde_json::from_value(value).map_err(|e| malformed(&e))),
        }
    }
}

/// The answer for one event: accepted, or why not.
pub type EventOutcome = Result<(), String>;

/// A time as Honeycomb takes it: RFC 3339 text, or a Unix epoch number in seconds,
/// milliseconds, microseconds or nanoseconds (told apart by magnitude).
pub fn parse_time(value: &Value) -> Option<u64> {
    match value {
        // humantime reads UTC only; `+00:00` is how Python writes an aware UTC time.
        Value::String(text) => {
            humantime::parse_rfc3339_weak(text.trim_end_matches("+00:00").trim_end_matches('Z'))
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as u64)
                .or_else(|| text.trim().parse::<f64>().ok().and_then(epoch_nanos))
        }
        Value::Number(n) => match n.as_u64() {
            // Whole numbers are scaled exactly; a float cannot hold nanoseconds of today.
            Some(whole) => Some(match whole {
                w if w < 100_000_000_000 => w.saturating_mul(1_000_000_000),
                w if w < 100_000_000_000_000 => w.saturating_mul(1_000_000),
                w if w < 100_000_000_000_000_000 => w.saturating_mul(1_000),
                w => w,
            }),
            None => n.as_f64().and_then(epoch_nanos),
        },
        _ => None,
    }
}

fn epoch_nanos(number: f64) -> Option<u64> {
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    let nanos = match number {
        n if n < 1e11 => n * 1e9,
        n if n < 1e14 => n * 1e6,
        n if n < 1e17 => n * 1e3,
        n => n,
    };
    Some(nanos as u64)
}

/// A sample rate as a positive integer (Honeycomb rounds; 0 and below mean 1).
pub fn parse_sample_rate(value: &Value) -> Option<u32> {
    let rate = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Some(if rate >= 1.0 {
        rate.round().min(f64::from(u32::MAX)) as u32
    } else {
        1
    })
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn trace_id_of(text: &str) -> TraceId {
    let plain: String = text.chars().filter(|c| *c != '-').collect();
    if plain.len() == 32 {
        if let Ok(id) = plain.parse::<TraceId>() {
            return id;
        }
    }
    let bytes = digest(text);
    TraceId::from_slice(&bytes[..16]).unwrap_or_else(|_| random_trace_id())
}

fn span_id_of(text: &str) -> SpanId {
    if text.len() == 16 {
        if let Ok(id) = text.parse::<SpanId>() {
            return id;
        }
    }
    let bytes = digest(text);
    SpanId::from_slice(&bytes[..8]).unwrap_or_else(|_| random_span_id())
}

fn random_trace_id() -> TraceId {
    loop {
        if let Ok(id) = TraceId::from_slice(&rand_bytes::<16>()) {
            return id;
        }
    }
}

fn random_span_id() -> SpanId {
    loop {
        if let Ok(id) = SpanId::from_slice(&rand_bytes::<8>()) {
            return id;
        }
    }
}

/// Unpredictable bytes without a new dependency: a digest of the time, a counter and the
/// process id, which only need to be unique.
fn rand_bytes<const N: usize>() -> [u8; N] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!(
        "{now}:{}:{}",
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    );
    let bytes = digest(&seed);
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => s == "true",
        _ => false,
    }
}

fn attribute(value: &Value) -> Option<AttributeValue> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AttributeValue::Int(i),
            None => AttributeValue::Double(n.as_f64()?),
        },
        Value::String(s) => AttributeValue::String(s.clone()),
        // Honeycomb keeps nested JSON as its text unless the dataset expands it.
        other => AttributeValue::String(other.to_string()),
    })
}

fn kind_of(text: &str) -> SpanKind {
    match text.to_ascii_lowercase().as_str() {
        "internal" => SpanKind::Internal,
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

/// One event as a span and its service.
fn event_span(
    data: Map<String, Value>,
    time_unix_nano: u64,
    sample_rate: u32,
    dataset: &str,
) -> Result<(String, Span), String> {
    if data.is_empty() {
        return Err("the event has no fields".into());
    }
    if data.len() > MAX_FIELDS {
        return Err("Event has too many columns.".into());
    }
    let mut span = Span {
        // Replaced below when the event names its trace; otherwise it stays an event, not a trace.
        trace_id: TraceId::for_untraced_event(rand_bytes::<8>()),
        span_id: random_span_id(),
        parent_span_id: None,
        trace_state: String::new(),
        name: String::new(),
        kind: SpanKind::Unspecified,
        start_unix_nano: time_unix_nano,
        duration_nano: 0,
        status: Status {
            code: StatusCode::Unset,
            message: String::new(),
        },
        attributes: Vec::with_capacity(data.len()),
        events: Vec::new(),
        links: Vec::new(),
        flags: 0,
        sample_rate,
        dropped_counts: [0; 3],
    };
    let mut service = None;
    let mut traced = false;
    for (key, value) in data {
        match key.as_str() {
            "trace.trace_id" => {
                if let Some(text) = text_of(&value) {
                    span.trace_id = trace_id_of(&text);
                    traced = true;
                }
            }
            "trace.span_id" => {
                if let Some(text) = text_of(&value) {
                    span.span_id = span_id_of(&text);
                }
            }
            "trace.parent_id" => span.parent_span_id = text_of(&value).map(|t| span_id_of(&t)),
            "name" => span.name = text_of(&value).unwrap_or_default(),
            "service.name" | "service_name" => service = text_of(&value),
            "duration_ms" => {
                let ms = value.as_f64().or_else(|| text_of(&value)?.parse().ok());
                span.duration_nano = ms.filter(|m| *m > 0.0).map_or(0, |m| (m * 1e6) as u64);
            }
            "span.kind" => {
                span.kind = text_of(&value).map_or(SpanKind::Unspecified, |t| kind_of(&t))
            }
            "error" if truthy(&value) => span.status.code = StatusCode::Error,
            "error" => {}
            "status_message" => span.status.message = text_of(&value).unwrap_or_default(),
            _ => {
                if let Some(value) = attribute(&value) {
                    span.attributes.push(KeyValue { key, value });
                }
            }
        }
    }
    if !traced {
        span.attributes.push(KeyValue {
            key: "meta.signal_type".into(),
            value: AttributeValue::String("event".into()),
        });
    }
    let service =
        combray_model::dataset_for_service_name(Some(service.as_deref().unwrap_or(dataset)));
    Ok((service, span))
}

/// The spans of a `/1/batch` body, grouped by service, and one outcome per item, in order.
pub fn decode_batch(
    body: &[u8],
    format: BodyFormat,
    environment: &str,
    defaults: &Defaults<'_>,
    received_unix_nano: u64,
) -> Result<(SpanBatch, Vec<EventOutcome>), IngestError> {
    let items: Vec<Value> = format.parse(body)?;
    if items.is_empty() {
        return Err(IngestError::Decode {
            format: "Honeycomb batch",
            reason: "Request body should not be empty.".into(),
        });
    }
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        events.push(
            serde_json::from_value::<BatchItem>(item)
                .map_err(|e| e.to_string())
                .and_then(|item| {
                    let data = item.data.ok_or("the event has no data")?;
                    let time = item
                        .time
                        .as_ref()
                        .and_then(parse_time)
                        .unwrap_or(defaults.time_unix_nano);
                    let rate = item
                        .samplerate
                        .as_ref()
                        .and_then(parse_sample_rate)
                        .unwrap_or(defaults.sample_rate);
                    Ok((data, time, rate))
                }),
        );
    }
    Ok(assemble(events, environment, defaults, received_unix_nano))
}

/// The span of a `/1/events` body (one JSON object).
pub fn decode_event(
    body: &[u8],
    format: BodyFormat,
    environment: &str,
    defaults: &Defaults<'_>,
    received_unix_nano: u64,
) -> Result<SpanBatch, IngestError> {
    let data: Map<String, Value> = format.parse(body)?;
    let (batch, outcomes) = assemble(
        vec![Ok((data, defaults.time_unix_nano, defaults.sample_rate))],
        environment,
        defaults,
        received_unix_nano,
    );
    match outcomes.into_iter().next() {
        Some(Err(reason)) => Err(IngestError::Decode {
            format: "Honeycomb event",
            reason,
        }),
        _ => Ok(batch),
    }
}

type Parsed = Result<(Map<String, Value>, u64, u32), String>;

fn assemble(
    events: Vec<Parsed>,
    environment: &str,
    defaults: &Defaults<'_>,
    received_unix_nano: u64,
) -> (SpanBatch, Vec<EventOutcome>) {
    let mut groups: Vec<SpanGroup> = Vec::new();
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        let span =
            event.and_then(|(data, time, rate)| event_span(data, time, rate, defaults.dataset));
        match span {
            Ok((service, span)) => {
                outcomes.push(Ok(()));
                match groups.iter_mut().find(|g| g.dataset == service) {
                    Some(group) => group.spans.push(span),
                    None => groups.push(SpanGroup {
                        resource: vec![KeyValue {
                            key: "service.name".into(),
                            value: AttributeValue::String(service.clone()),
                        }],
                        dataset: service,
                        scope: Scope {
                            name: "honeycomb-events".into(),
                            version: String::new(),
                            attributes: Vec::new(),
                        },
                        spans: vec![span],
                    }),
                }
            }
            Err(reason) => outcomes.push(Err(reason)),
        }
    }
    let batch = SpanBatch {
        environment: environment.to_owned(),
        protocol: Protocol::HoneycombEvent,
        received_unix_nano,
        groups,
    };
    (batch, outcomes)
}

fn malformed(error: &serde_json::Error) -> IngestError {
    IngestError::Decode {
        format: "Honeycomb events",
        reason: format!("Request body is malformed and cannot be read. ({error})"),
    }
}

#[cfg(test)]
mod tests;
