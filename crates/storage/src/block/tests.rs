use std::sync::Arc;

use combray_model::{
    AttributeValue, KeyValue, Span, SpanId, SpanKind, SpanRecord, StatusCode, TraceId,
};
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};

use super::*;
use crate::head::Chunk;
use crate::test_support::{self, origin};

fn span(trace: u8, id: u8, parent: Option<u8>, start: u64) -> Span {
    let mut span = test_support::span(trace, id, start);
    span.parent_span_id = parent.map(|p| SpanId::from_bytes([p; 8]));
    if id == 3 {
        span.status.code = StatusCode::Error;
    }
    span.attributes = vec![KeyValue::new("n", AttributeValue::Int(i64::from(id)))];
    span
}

fn chunk(service: &str, spans: Vec<Span>) -> Arc<Chunk> {
    test_support::chunk(service, Vec::new(), spans)
}

/// Every span of some chunks, in row order.
fn records_of(chunks: &[Chunk]) -> Vec<SpanRecord> {
    chunks
        .iter()
        .flat_map(|c| (0..c.len()).map(move |r| c.record(r).unwrap()))
        .collect()
}

fn sample_chunks() -> Vec<Arc<Chunk>> {
    vec![
        chunk("api", vec![span(2, 1, None, 100), span(1, 2, Some(9), 60)]),
        chunk(
            "db",
            vec![
                span(1, 3, Some(2), 70),
                span(2, 4, Some(1), 110),
                span(1, 9, None, 50),
            ],
        ),
    ]
}

#[tokio::test]
async fn a_block_keeps_every_span_and_finds_a_trace_by_its_row_range() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let blocks = Blocks::load(Arc::clone(&store), "node-a", 0).await.unwrap();
    let built = build_block(&sample_chunks(), &origin(0)).unwrap();
    assert_eq!(built.meta.span_count, 5);
    assert_eq!(built.meta.trace_count, 2);
    assert_eq!(built.meta.min_start_unix_nano, 50);
    assert_eq!(built.meta.max_end_unix_nano, 120);
    assert_eq!(
        built.meta.operations["db"]["op-3"],
        vec![SpanKind::Server as u8]
    );
    blocks.add(blocks.publish(built).await.unwrap());

    let reloaded = Blocks::load(Arc::clone(&store), "node-b", 0).await.unwrap();
    let block = &reloaded.blocks("prod")[0];
    // The reloaded list read only metas; the index comes from the store when first asked for.
    assert_eq!(reloaded.trace_index_usage(), (0, 0));
    let index = reloaded.trace_index(block).await.unwrap();
    assert_eq!(reloaded.trace_index_usage(), (index.memory_bytes(), 1));
    let entry = index.find(&TraceId::from_bytes([1; 16])).unwrap().clone();
    assert_eq!((entry.first_row, entry.row_count), (0, 3));
    assert!(entry.has_root);
    assert_eq!(index.name(entry.root_name), "op-9");
    assert_eq!(index.name(entry.root_service), "db");
    assert_eq!(entry.error_count, 1);
    let rows = block
        .read_rows(
            reloaded.store(),
            entry.first_row as usize,
            entry.row_count as usize,
        )
        .await
        .unwrap();
    let records = records_of(&rows);
    let names: Vec<&str> = records.iter().map(|r| r.span.name.as_str()).collect();
    assert_eq!(
        names,
        ["op-9", "op-2", "op-3"],
        "sorted by start within the trace"
    );
    assert_eq!(records[2].span, span(1, 3, Some(2), 70));
    assert_eq!(&*records[2].dataset, "db");
    let all: usize = block
        .read_all(reloaded.store())
        .await
        .unwrap()
        .iter()
        .map(|c| c.len())
        .sum();
    assert_eq!(all, 5);
    assert!(reloaded.blocks("dev").is_empty());
}

#[tokio::test]
async fn blocks_of_an_unfinished_cut_are_deleted_only_by_their_own_node() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let blocks = Blocks::load(Arc::clone(&store), "node-a", 0).await.unwrap();
    blocks
        .publish(build_block(&sample_chunks(), &origin(7)).unwrap())
        .await
        .unwrap();
    // Another node does not own that WAL: it keeps the block.
    assert_eq!(
        Blocks::load(Arc::clone(&store), "node-b", 0)
            .await
            .unwrap()
            .blocks("prod")
            .len(),
        1
    );
    // The writer's checkpoint reached 7: the cut finished.
    assert_eq!(
        Blocks::load(Arc::clone(&store), "node-a", 7)
            .await
            .unwrap()
            .blocks("prod")
            .len(),
        1
    );
    // The writer's checkpoint is older: the cut did not finish, the WAL still has the spans.
    assert!(Blocks::load(Arc::clone(&store), "node-a", 6)
        .await
        .unwrap()
        .blocks("prod")
        .is_empty());
    assert!(Blocks::load(Arc::clone(&store), "node-b", 0)
        .await
        .unwrap()
        .blocks("prod")
        .is_empty());
}

#[tokio::test]
async fn a_corrupt_block_is_left_out_and_the_rest_stay_readable() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let blocks = Blocks::load(Arc::clone(&store), "node-a", 0).await.unwrap();
    let good = blocks
        .publish(build_block(&sample_chunks(), &origin(0)).unwrap())
        .await
        .unwrap();
    let bad = blocks
        .publish(build_block(&sample_chunks(), &origin(0)).unwrap())
        .await
        .unwrap();
    store
        .put(&bad.paths().traces, b"garbage".to_vec().into())
        .await
        .unwrap();
    let reloaded = Blocks::load(Arc::clone(&store), "node-a", 0).await.unwrap();
    let ids = |blocks: &Blocks| -> Vec<String> {
        blocks
            .blocks("prod")
            .iter()
            .map(|b| b.meta.block_id.clone())
            .collect()
    };
    // Start-up reads metas only; the damage shows when a read first needs the index.
    assert_eq!(ids(&reloaded).len(), 2);
    let listed = reloaded.blocks("prod");
    let bad = listed
        .iter()
        .find(|b| b.meta.block_id == bad.meta.block_id)
        .unwrap();
    assert!(reloaded.trace_index(bad).await.unwrap().entries.is_empty());
    assert_eq!(ids(&reloaded), vec![good.meta.block_id.clone()]);
    let good = listed
        .iter()
        .find(|b| b.meta.block_id == good.meta.block_id)
        .unwrap();
    assert!(!reloaded.trace_index(good).await.unwrap().entries.is_empty());
}

#[test]
fn columns_of_distinct_values_are_written_without_a_dictionary() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let built = build_block(&sample_chunks(), &origin(0)).unwrap();
    let reader = SerializedFileReader::new(built.data).unwrap();
    let row_group = reader.metadata().row_group(0);
    let has_dictionary = |name: &str| {
        row_group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == name)
            .unwrap_or_else(|| panic!("the block has a {name} column"))
            .dictionary_page_offset()
            .is_some()
    };
    assert!(!has_dictionary("span_id"));
    assert!(!has_dictionary("start_time"));
    assert!(has_dictionary("service"));
    assert!(has_dictionary("name"));
}

/// A block is written a row group at a time, with its columns chosen over every row: a key seen
/// only in the last row group still has its column, in every row group, and every row reads
/// back with its values where the trace index says.
#[tokio::test]
async fn a_block_of_several_row_groups_has_one_schema_and_keeps_every_value() {
    const SPANS: usize = 70_000;
    let spans: Vec<Span> = (0..SPANS)
        .map(|i| {
            let mut span = span(1 + (i % 200) as u8, 1 + (i % 250) as u8, None, i as u64);
            // Every span distinct: a block keeps one row per (trace, span id).
            span.span_id = SpanId::from_bytes((i as u64 + 1).to_be_bytes());
            let (key, value) = if i >= SPANS - 5 {
                ("late", AttributeValue::String(format!("late-{i}")))
            } else {
                ("n", AttributeValue::Int(i as i64))
            };
            span.attributes = vec![KeyValue::new(key, value)];
            span
        })
        .collect();
    let built = build_block(&[chunk("api", spans)], &origin(0)).unwrap();
    assert_eq!(built.meta.span_count, SPANS as u64);
    assert_eq!(
        built.meta.columns.get("attr.late"),
        Some(&super::wide::ColumnType::String)
    );
    {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(built.data.clone()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 2);
        let schema = reader.metadata().file_metadata().schema_descr();
        assert!(schema.columns().iter().any(|c| c.name() == "attr.late"));
    }
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let blocks = Blocks::load(Arc::clone(&store), "node-a", 0).await.unwrap();
    let block = blocks.publish(built).await.unwrap();
    // Spans with i % 200 == 199 form the last trace; the five `late` ones are its newest.
    let entry = blocks
        .trace_index(&block)
        .await
        .unwrap()
        .find(&TraceId::from_bytes([200; 16]))
        .unwrap()
        .clone();
    assert_eq!(entry.row_count as usize, SPANS / 200);
    assert_eq!(entry.first_row as usize + entry.row_count as usize, SPANS);
    let rows = block
        .read_rows(&store, entry.first_row as usize, entry.row_count as usize)
        .await
        .unwrap();
    let records = records_of(&rows);
    assert!(records
        .iter()
        .all(|r| r.span.trace_id == TraceId::from_bytes([200; 16])));
    let last = &records[records.len() - 1].span;
    assert_eq!(last.start_unix_nano, (SPANS - 1) as u64);
    assert_eq!(
        last.attributes,
        [KeyValue::new(
            "late",
            AttributeValue::String(format!("late-{}", SPANS - 1))
        )]
    );
    let first = &records[0].span;
    assert_eq!(
        first.attributes,
        [KeyValue::new("n", AttributeValue::Int(199))]
    );
}

#[test]
fn a_paused_writer_waits_until_its_pause_ends_then_writes_every_row() {
    let asked = std::sync::atomic::AtomicUsize::new(0);
    // Paused for the first two questions: the writer must ask a third time before writing.
    let paused = || asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2;
    let origin = BlockOrigin {
        pause_while: Some(&paused),
        ..origin(1)
    };
    let built = build_block(&sample_chunks(), &origin).unwrap();
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 3);
    let spans: usize = sample_chunks().iter().map(|c| c.len()).sum();
    assert_eq!(built.meta.span_count, spans as u64);
}
