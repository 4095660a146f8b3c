//! Spans for the query tests.

use combray_model::{
    AttributeValue, KeyValue, Protocol, Scope, Span, SpanBatch, SpanGroup, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};
use combray_storage::Head;

pub(crate) fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    name: &str,
    start: u64,
    duration: u64,
) -> Span {
    Span {
        trace_id: TraceId::from_bytes([trace; 16]),
        span_id: SpanId::from_bytes([id; 8]),
        parent_span_id: parent.map(|p| SpanId::from_bytes([p; 8])),
        trace_state: String::new(),
        name: name.into(),
        kind: SpanKind::Server,
        start_unix_nano: start,
        duration_nano: duration,
        status: Status {
            code: StatusCode::Unset,
            message: String::new(),
        },
        attributes: vec![KeyValue::new("http.status_code", AttributeValue::Int(200))],
        events: Vec::new(),
        links: Vec::new(),
        flags: 0,
        sample_rate: 1,
        dropped_counts: [0; 3],
    }
}

pub(crate) fn insert(head: &Head, environment: &str, service: &str, spans: Vec<Span>) {
    head.insert(&SpanBatch {
        environment: environment.into(),
        protocol: Protocol::OtlpHttpProtobuf,
        received_unix_nano: 0,
        groups: vec![SpanGroup {
            dataset: service.into(),
            resource: vec![
                KeyValue::new("service.name", AttributeValue::String(service.into())),
                KeyValue::new(
                    "deployment.environment",
                    AttributeValue::String("prod".into()),
                ),
            ],
            scope: Scope::default(),
            spans,
        }],
    })
    .unwrap();
}
