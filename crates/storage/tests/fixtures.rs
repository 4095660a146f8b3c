//! One block of every format version, committed under `tests/fixtures/v<N>/objects`, must stay
//! readable by every later version. `regenerate` writes the current version's fixture; run it
//! only when deliberately starting a new format version:
//! `cargo test -p combray-storage --test fixtures -- --ignored regenerate`.

use std::path::PathBuf;
use std::sync::Arc;

use combray_model::{
    AttributeValue, Event, KeyValue, Protocol, Scope, Span, SpanBatch, SpanGroup, SpanKind, Status,
    StatusCode, TraceId,
};
use combray_storage::internals::{build_block, to_record_batch, BlockOrigin, Chunk};
use combray_storage::Blocks;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;

/// The format version `regenerate` writes.
const CURRENT_FORMAT: u32 = 2;

fn fixture_dir(format: u32) -> PathBuf {
    // Read at run time, so a test binary reused from another checkout's build looks here.
    let package = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets the package dir");
    PathBuf::from(package).join(format!("tests/fixtures/v{format}/objects"))
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
    let dir = fixture_dir(CURRENT_FORMAT);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap());
    let chunk = Arc::new(Chunk::new(to_record_batch(&fixture_spans()).unwrap()).unwrap());
    let origin = BlockOrigin {
        environment: "default",
        node_id: "fixture",
        wal_through_segment: 1,
        now_unix_nano: 1_700_000_002_000_000_000,
        zstd_level: combray_storage::internals::COMPACTED_ZSTD_LEVEL,
        pause_while: None,
    };
    let blocks = Blocks::load_read_only(Arc::clone(&store), &|_, _| {})
        .await
        .unwrap();
    blocks
        .publish(build_block(&[chunk], &origin).unwrap())
        .await
        .unwrap();
}

async fn read_fixture(format: u32) -> Vec<combray_model::SpanRecord> {
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(fixture_dir(format)).unwrap());
    let blocks = Blocks::load_read_only(Arc::clone(&store), &|_, _| {})
        .await
        .unwrap();
    let all = blocks.all();
    assert_eq!(all.len(), 1, "exactly one fixture block");
    let block = &all[0];
    assert_eq!(
        (
            block.meta.format_version,
            block.meta.span_count,
            block.meta.trace_count
        ),
        (format, 2, 1)
    );
    assert_eq!(block.meta.span_schema_version, format.to_string());
    let trace_id: TraceId = "5b8efff798038103d269b633813fc60c".parse().unwrap();
    let index = blocks.trace_index(block).await.unwrap();
    let entry = index.find(&trace_id).unwrap();
    assert!(entry.has_root);
    assert_eq!(index.name(entry.root_name), "GET /api/activities/home");
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
    records
}

#[tokio::test]
async fn the_committed_v1_block_still_reads_exactly() {
    read_fixture(1).await;
}

#[tokio::test]
async fn the_committed_v2_block_still_reads_exactly() {
    let records = read_fixture(2).await;
    // Only the array attribute had no column; it came back from the overflow list.
    assert_eq!(records[0].span.attributes.len(), 3);
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(fixture_dir(2)).unwrap());
    let blocks = Blocks::load_read_only(store, &|_, _| {}).await.unwrap();
    let columns: Vec<(String, String)> = blocks.all()[0]
        .meta
        .columns
        .iter()
        .map(|(name, t)| (name.clone(), format!("{t:?}")))
        .collect();
    let expected = [
        ("attr.app.result_length", "Int"),
        ("attr.http.route", "String"),
        ("attr.http.status_code", "Int"),
        ("resource.service.name", "String"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(columns, expected);
}
