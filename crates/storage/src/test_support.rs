//! Fixtures shared by the crate's unit tests.

use std::sync::Arc;

use combray_model::{
    KeyValue, Protocol, Scope, Span, SpanBatch, SpanGroup, SpanId, SpanKind, Status, StatusCode,
    TraceId,
};

use crate::block::{BlockOrigin, CUT_ZSTD_LEVEL};
use crate::head::{to_record_batch, Chunk};

/// A root server span `op-<id>` of trace `[trace; 16]`, id `[id; 8]`, starting at `start` and
/// lasting 10 ns, with no attributes; tests change the fields they care about.
pub(crate) fn span(trace: u8, id: u8, start: u64) -> Span {
    Span {
        trace_id: TraceId::from_bytes([trace; 16]),
        span_id: SpanId::from_bytes([id; 8]),
        parent_span_id: None,
        trace_state: String::new(),
        name: format!("op-{id}"),
        kind: SpanKind::Server,
        start_unix_nano: start,
        duration_nano: 10,
        status: Status {
            code: StatusCode::Unset,
            message: String::new(),
        },
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        flags: 0,
        sample_rate: 1,
        dropped_counts: [0; 3],
    }
}

/// One environment's batch (`prod`, over OTLP/gRPC) of one service's spans.
pub(crate) fn batch(service: &str, resource: Vec<KeyValue>, spans: Vec<Span>) -> SpanBatch {
    SpanBatch {
        environment: "prod".into(),
        protocol: Protocol::OtlpGrpc,
        received_unix_nano: 0,
        groups: vec![SpanGroup {
            dataset: service.into(),
            resource,
            scope: Scope::default(),
            spans,
        }],
    }
}

/// That batch as a head chunk.
pub(crate) fn chunk(service: &str, resource: Vec<KeyValue>, spans: Vec<Span>) -> Arc<Chunk> {
    let batch = batch(service, resource, spans);
    Arc::new(Chunk::new(to_record_batch(&batch).unwrap()).unwrap())
}

/// Who writes the test blocks: node `node-a`, environment `prod`, a fixed time, cut zstd level.
pub(crate) fn origin(wal_through_segment: u64) -> BlockOrigin<'static> {
    BlockOrigin {
        environment: "prod",
        node_id: "node-a",
        wal_through_segment,
        now_unix_nano: 1_700_000_000_000_000_000,
        zstd_level: CUT_ZSTD_LEVEL,
        pause_while: None,
    }
}
