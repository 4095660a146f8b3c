//! Storage survives a reopen: what was appended is in the head again after WAL replay.

use combray_model::{
    AttributeValue, KeyValue, Protocol, Scope, Span, SpanBatch, SpanGroup, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};
use std::sync::Arc;

use combray_storage::{Storage, StorageConfig, StorageErrorKind};

fn batch(trace: u8, spans: u8) -> SpanBatch {
    let spans = (1..=spans)
        .map(|id| Span {
            trace_id: TraceId::from_bytes([trace; 16]),
            span_id: SpanId::from_bytes([id; 8]),
            parent_span_id: (id > 1).then(|| SpanId::from_bytes([1; 8])),
            trace_state: String::new(),
            name: format!("op-{id}"),
            kind: SpanKind::Internal,
            start_unix_nano: 10,
            duration_nano: 5,
            status: Status {
                code: StatusCode::Ok,
                message: String::new(),
            },
            attributes: vec![KeyValue::new("n", AttributeValue::Int(i64::from(id)))],
            events: Vec::new(),
            links: Vec::new(),
            flags: 0,
            sample_rate: 1,
            dropped_counts: [0; 3],
        })
        .collect();
    SpanBatch {
        environment: "default".into(),
        protocol: Protocol::OtlpHttpProtobuf,
        received_unix_nano: 1,
        groups: vec![SpanGroup {
            dataset: "svc".into(),
            resource: Vec::new(),
            scope: Scope::default(),
            spans,
        }],
    }
}

#[tokio::test]
async fn appended_batches_are_replayed_into_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig::new(
        dir.path().to_path_buf(),
        Arc::new(object_store::memory::InMemory::new()),
    );
    let mut storage = Storage::open(config.clone()).await.unwrap();
    storage.append(&batch(1, 3)).await.unwrap();
    storage.append(&batch(2, 2)).await.unwrap();
    assert_eq!(storage.head().span_count(), 5);
    storage.close();
    drop(storage);

    let storage = Storage::open(config).await.unwrap();
    assert_eq!(storage.replay_report().records, 2);
    assert_eq!(storage.head().span_count(), 5);
    let rows = storage
        .head()
        .trace_rows("default", &TraceId::from_bytes([1; 16]));
    let record = rows[2].0.record(rows[2].1).unwrap();
    assert_eq!(record.span, batch(1, 3).groups[0].spans[2]);
}

#[tokio::test]
async fn a_full_head_refuses_appends_without_touching_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StorageConfig::new(
        dir.path().to_path_buf(),
        Arc::new(object_store::memory::InMemory::new()),
    );
    config.max_head_bytes = 1;
    let storage = Storage::open(config).await.unwrap();
    storage.append(&batch(1, 1)).await.unwrap();
    let error = storage.append(&batch(2, 1)).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::Full);
    assert_eq!(
        storage
            .wal_stats()
            .records
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
