//! Spans, the groups they arrive in, and the flattened record readers see.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::attribute::{find, KeyValue};
use crate::ids::{SpanId, TraceId};

/// What role a span plays, as OTLP defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum SpanKind {
    /// Not given by the producer.
    Unspecified = 0,
    /// Work inside one service.
    Internal = 1,
    /// Handling an incoming request.
    Server = 2,
    /// Making an outgoing request.
    Client = 3,
    /// Sending a message.
    Producer = 4,
    /// Receiving a message.
    Consumer = 5,
}

impl SpanKind {
    /// Maps OTLP's enum number; unknown numbers become [`SpanKind::Unspecified`].
    pub fn from_otlp(number: i32) -> Self {
        match number {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }

    /// Lower-case name, as Honeycomb's `span.kind` column spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }
}

/// Outcome of a span, as OTLP defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum StatusCode {
    /// Not set by the producer.
    Unset = 0,
    /// Explicitly successful.
    Ok = 1,
    /// Failed.
    Error = 2,
}

impl StatusCode {
    /// Maps OTLP's enum number; unknown numbers become [`StatusCode::Unset`].
    pub fn from_otlp(number: i32) -> Self {
        match number {
            1 => Self::Ok,
            2 => Self::Error,
            _ => Self::Unset,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "unset",
            Self::Ok => "ok",
            Self::Error => "error",
        }
    }
}

/// A span's status: code and human-readable message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The outcome.
    pub code: StatusCode,
    /// Why, when the producer said so.
    pub message: String,
}

/// Which protocol a span arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Protocol {
    /// OTLP over HTTP with a protobuf body.
    OtlpHttpProtobuf = 1,
    /// OTLP over HTTP with a JSON body.
    OtlpHttpJson = 2,
    /// OTLP over gRPC.
    OtlpGrpc = 3,
    /// An AWS X-Ray segment document.
    XRay = 4,
    /// An event of Honeycomb's Events API (libhoney, Beelines): `/1/events` or `/1/batch`.
    HoneycombEvent = 5,
}

impl Protocol {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OtlpHttpProtobuf => "otlp_http_protobuf",
            Self::OtlpHttpJson => "otlp_http_json",
            Self::OtlpGrpc => "otlp_grpc",
            Self::XRay => "xray",
            Self::HoneycombEvent => "honeycomb_event",
        }
    }

    /// Inverse of the `repr(u8)` discriminant, for columnar storage.
    pub fn from_u8(number: u8) -> Option<Self> {
        match number {
            1 => Some(Self::OtlpHttpProtobuf),
            2 => Some(Self::OtlpHttpJson),
            3 => Some(Self::OtlpGrpc),
            4 => Some(Self::XRay),
            5 => Some(Self::HoneycombEvent),
            _ => None,
        }
    }
}

/// A timestamped annotation inside a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Event name, such as `exception`.
    pub name: String,
    /// Event attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the producer dropped.
    pub dropped_attributes_count: u32,
}

/// A reference from a span to another span, possibly in another trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Trace of the linked span.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// W3C tracestate of the link.
    pub trace_state: String,
    /// Link attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the producer dropped.
    pub dropped_attributes_count: u32,
    /// W3C trace flags and OTLP's remote bits.
    pub flags: u32,
}

/// The instrumentation library that produced spans.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    /// Library name, such as `opentelemetry.instrumentation.flask`.
    pub name: String,
    /// Library version.
    pub version: String,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
}

/// One span, without the resource and scope it shares with its group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Trace this span belongs to.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// The parent span; `None` for a root.
    pub parent_span_id: Option<SpanId>,
    /// W3C tracestate.
    pub trace_state: String,
    /// Operation name, such as `GET /api/activities/home`.
    pub name: String,
    /// Role of the span.
    pub kind: SpanKind,
    /// Start, nanoseconds since the Unix epoch.
    pub start_unix_nano: u64,
    /// Duration in nanoseconds; zero when the producer's end preceded its start.
    pub duration_nano: u64,
    /// Outcome.
    pub status: Status,
    /// Span attributes, with `sampleRate` already taken off.
    pub attributes: Vec<KeyValue>,
    /// Events in the span.
    pub events: Vec<Event>,
    /// Links to other spans.
    pub links: Vec<Link>,
    /// W3C trace flags and OTLP's remote bits.
    pub flags: u32,
    /// How many spans this one stands for (1 when unsampled).
    pub sample_rate: u32,
    /// Attributes, events and links the producer dropped, in that order.
    pub dropped_counts: [u32; 3],
}

impl Span {
    /// Value of a span attribute.
    pub fn attribute(&self, key: &str) -> Option<&crate::AttributeValue> {
        find(&self.attributes, key)
    }

    /// End, nanoseconds since the Unix epoch.
    pub fn end_unix_nano(&self) -> u64 {
        self.start_unix_nano.saturating_add(self.duration_nano)
    }
}

/// Spans that share one resource, scope and dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanGroup {
    /// Dataset (the normalized `service.name`).
    pub dataset: String,
    /// Resource attributes.
    pub resource: Vec<KeyValue>,
    /// Instrumentation scope.
    pub scope: Scope,
    /// The spans.
    pub spans: Vec<Span>,
}

/// Spans of one environment that arrived in one request: the unit of the write path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanBatch {
    /// Environment the spans belong to.
    pub environment: String,
    /// Protocol they arrived on.
    pub protocol: Protocol,
    /// When Combray received them, nanoseconds since the Unix epoch.
    pub received_unix_nano: u64,
    /// The spans, grouped by resource and scope.
    pub groups: Vec<SpanGroup>,
}

impl SpanBatch {
    /// Number of spans in the batch.
    pub fn span_count(&self) -> usize {
        self.groups.iter().map(|group| group.spans.len()).sum()
    }
}

/// A span together with everything it shares with its group: what the read path returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    /// The span itself.
    pub span: Span,
    /// Dataset (service).
    pub dataset: Arc<str>,
    /// Resource attributes.
    pub resource: Arc<[KeyValue]>,
    /// Instrumentation scope.
    pub scope: Arc<Scope>,
    /// Protocol it arrived on.
    pub protocol: Protocol,
}
