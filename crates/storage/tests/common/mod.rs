//! Spans and batches for the storage integration tests.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;

use combray_model::{
    Protocol, Scope, Span, SpanBatch, SpanGroup, SpanId, SpanKind, Status, StatusCode, TraceId,
};
use combray_storage::StorageConfig;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;

/// A 10 ns server span; ids repeat their byte, and it starts at `1000 + id`.
pub(crate) fn span(trace: u8, id: u8, parent: Option<u8>) -> Span {
    Span {
        trace_id: TraceId::from_bytes([trace; 16]),
        span_id: SpanId::from_bytes([id; 8]),
        parent_span_id: parent.map(|p| SpanId::from_bytes([p; 8])),
        trace_state: String::new(),
        name: format!("op-{id}"),
        kind: SpanKind::Server,
        start_unix_nano: 1_000 + u64::from(id),
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

/// One group of spans of `service` in `environment`.
pub(crate) fn batch(environment: &str, service: &str, spans: Vec<Span>) -> SpanBatch {
    SpanBatch {
        environment: environment.into(),
        protocol: Protocol::OtlpGrpc,
        received_unix_nano: 0,
        groups: vec![SpanGroup {
            dataset: service.into(),
            resource: Vec::new(),
            scope: Scope::default(),
            spans,
        }],
    }
}

/// A local-directory object store under `dir/objects`.
pub(crate) fn local_store(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
    std::fs::create_dir_all(dir.join("objects")).unwrap();
    Arc::new(LocalFileSystem::new_with_prefix(dir.join("objects")).unwrap())
}

/// Default storage configuration over `dir` with blocks in [`local_store`].
pub(crate) fn config(dir: &std::path::Path) -> StorageConfig {
    StorageConfig::new(dir.to_path_buf(), local_store(dir))
}

/// How many rows a full scan of the environment reads (every block and head chunk, unfiltered).
pub(crate) async fn scanned_rows(storage: &combray_storage::Storage, environment: &str) -> usize {
    use combray_storage::scan::{read_parts, Columns, ScanFilter};
    use combray_storage::SpanStore;
    use futures::StreamExt;
    let table = storage
        .snapshot(environment)
        .into_scan(Columns::Typed)
        .unwrap();
    let mut rows = 0;
    for parts in table
        .plan(None, ScanFilter::default(), None, 2)
        .await
        .unwrap()
    {
        let mut stream = read_parts(parts);
        while let Some(batch) = stream.next().await {
            rows += batch.unwrap().num_rows();
        }
    }
    rows
}
