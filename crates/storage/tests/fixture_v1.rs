//! A block of format v1, committed under `tests/fixtures/objects`, must stay readable by every
//! later version. Regenerate only when deliberately starting a new fixture:
//! `cargo test -p combray-storage --test fixture_v1 -- --ignored regenerate`.

use std::path::PathBuf;
use std::sync::Arc;

use combray_model::{
    AttributeValue, Event, KeyValue, Protocol, Scope, Span, SpanBatch, SpanGroup, SpanKind, Status,
    StatusCode, TraceId,
};
use combray_storage::block::{build_block, BlockOrigin, Blocks};
use combray_storage::head::{to_record_batch, Chunk};
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/objects")
}

fn fixture_spans() -> SpanBatch {
    let root = Span {
        trace_id: "5b8efff798038103d269b633813fc60c".parse().unwrap(),
        span_id: "eee19b7ec3c1b174".parse().unwrap(),
        parent_span_id: None,
        trace_state: "vendor=1".into(),
        name: "GET /api/activities/home".into(),
        kind: SpanKind::Server,
        start_unix_nano: 1_700_000_000_000_000_000,
        duration_nano: 25_000_000,
        status: Status {
            code: StatusCode::Error,
            message: "boom".into(),
        },
        attributes: vec![
            KeyValue::new(
                "http.route",
                AttributeValue::String("/api/activities/home".into()),
            ),
            KeyValue::new("http.status_code", AttributeValue::Int(500)),
            KeyValue::new(
                "tags",
                AttributeValue::Array(vec![
                    AttributeValue::Bool(true),
                    AttributeValue::Double(0.5),
                ]),
            ),
        ],
        events: vec![Event {
            time_unix_nano: 1_700_000_000_010_000_000,
            name: "exception".into(),
            attributes: vec![KeyValue::new(
                "exception.type",
                AttributeValue::String("ValueError".into()),
            )],
            dropped_attributes_count: 0,
        }],
        links: Vec::new(),
        flags: 0x100,
        sample_rate: 4,
        dropped_counts: [0, 0, 0],
    };
    let child = Span {
        span_id: "0102030405060708".parse().unwrap(),
        parent_span_id: Some(root.span_id),
        name: "home-activities-mock-data".into(),
        kind: SpanKind::Internal,
        start_unix_nano: root.start_unix_nano + 1_000_000,
        duration_nano: 2_000_000,
        status: Status {
            code: StatusCode::Unset,
            message: String::new(),
        },
        attributes: vec![KeyValue::new("app.result_length", AttributeValue::Int(1))],
        events: Vec::new(),
        trace_state: String::new(),
        ..root.clone()
    };
    SpanBatch {
        environment: "default".into(),
        protocol: Protocol::OtlpHttpProtobuf,
        received_unix_nano: 1_700_000_001_000_000_000,
        groups: vec![SpanGroup {
            dataset: "backend-flask".into(),
            resource: vec![KeyValue::new(
                "service.name",
                AttributeValue::String("backend-flask".into()),
            )],
            scope: Scope {
                name: "opentelemetry.instrumentation.flask".into(),
                version: "0.59b0".into(),
                attributes: Vec::new(),
            },
            spans: vec![root, child],
        }],
    }
}

#[tokio::test]
#[ignore = "rewrites the committed fixture"]
async fn regenerate() {
    let _ = std::fs::remove_dir_all(fixture_dir());
    std::fs::create_dir_all(fixture_dir()).unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(fixture_dir()).unwrap());
    let chunk = Arc::new(Chunk::new(to_record_batch(&fixture_spans()).unwrap()).unwrap());
    let origin = BlockOrigin {
        environment: "default",
        node_id: "fixture",
        wal_through_segment: 1,
        now_unix_nano: 1_700_000_002_000_000_000,
    };
    let blocks = Blocks::load_read_only(Arc::clone(&store)).await.unwrap();
    blocks
        .publish(build_block(&[chunk], &origin).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_committed_v1_block_still_reads_exactly() {
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(fixture_dir()).unwrap());
    let blocks = Blocks::load_read_only(Arc::clone(&store)).await.unwrap();
    let all = blocks.all();
    assert_eq!(all.len(), 1, "exactly one fixture block");
    let block = &all[0];
    assert_eq!(
        (
            block.meta.format_version,
            block.meta.span_count,
            block.meta.trace_count
        ),
        (1, 2, 1)
    );
    assert_eq!(block.meta.span_schema_version, "1");
    let trace_id: TraceId = "5b8efff798038103d269b633813fc60c".parse().unwrap();
    let entry = block.traces.find(&trace_id).unwrap();
    assert!(entry.has_root);
    assert_eq!(
        block.traces.name(entry.root_name),
        "GET /api/activities/home"
    );
    let chunks = block
        .read_rows(
            blocks.store(),
            entry.first_row as usize,
            entry.row_count as usize,
        )
        .await
        .unwrap();
    let records: Vec<_> = chunks
        .iter()
        .flat_map(|c| (0..c.len()).map(move |r| c.record(r).unwrap()))
        .collect();
    let expected = fixture_spans();
    let spans: Vec<Span> = records.iter().map(|r| r.span.clone()).collect();
    assert_eq!(spans, expected.groups[0].spans);
    assert_eq!(&*records[0].dataset, "backend-flask");
    assert_eq!(records[0].scope.name, "opentelemetry.instrumentation.flask");
    assert_eq!(records[0].resource.to_vec(), expected.groups[0].resource);
}
