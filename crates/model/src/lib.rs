//! Combray's unified span model.
//!
//! Every protocol Combray speaks (OTLP over HTTP or gRPC today, X-Ray segments and Honeycomb
//! events later) is normalized into these types at the edge, before the write path sees it.
//! The model is deliberately free of I/O and async so that every crate can depend on it.
//!
//! The unit of ingest is a [`SpanBatch`]: spans of one environment that arrived in one request,
//! grouped by the resource and instrumentation scope that produced them (so a resource shared by
//! 512 spans is stored once, not 512 times). Readers see flattened [`SpanRecord`]s.
#![deny(missing_docs)]

mod attribute;
mod borrowed;
mod dataset;
mod ids;
mod span;

pub use attribute::{AttributeValue, KeyValue, XRAY_DOCUMENT_ATTRIBUTE};
pub use borrowed::{AttributeValueRef, KeyValueRef};
pub use dataset::{dataset_for_service_name, UNKNOWN_SERVICE};
pub use ids::{IdError, SpanId, TraceId, UNTRACED_EVENT_HEX_PREFIX};
pub use span::{
    Event, Link, Protocol, Scope, Span, SpanBatch, SpanGroup, SpanKind, SpanRecord, Status,
    StatusCode,
};

/// Nanoseconds since the Unix epoch, now (0 before 1970, saturating in 2554).
pub fn now_unix_nano() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
