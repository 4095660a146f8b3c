use combray_model::{AttributeValue as V, KeyValue, Span, SpanId, SpanKind, SpanRecord, TraceId};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;
use crate::block::{BlockMeta, TraceIndex};
use crate::head::Chunk;
use crate::test_support::{self, chunk, origin};

fn span(trace: u8, id: u8, start: u64, attributes: Vec<KeyValue>) -> Span {
    let mut span = test_support::span(trace, id, start);
    span.parent_span_id = id
        .is_multiple_of(2)
        .then(|| SpanId::from_bytes([id - 1; 8]));
    span.kind = SpanKind::Client;
    span.duration_nano = 5;
    span.attributes = attributes;
    span
}

fn stored_batches(built: &BuiltBlock) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(built.data.clone())
        .unwrap()
        .with_batch_size(2)
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A cut block as compaction reads it: its meta, and its rows as stored (two per batch).
fn stored(chunks: &[Arc<Chunk>]) -> (Arc<Block>, Vec<RecordBatch>) {
    let built = build_block(chunks, &origin(0)).unwrap();
    let batches = stored_batches(&built);
    (Arc::new(Block::new(built.meta)), batches)
}

/// Every span of a built block, in row order, with its attributes sorted by key (the block
/// layout keeps a span's attributes, not their order).
fn records(built: &BuiltBlock) -> Vec<SpanRecord> {
    let block = Block::new(built.meta.clone());
    let mut records = Vec::new();
    for batch in stored_batches(built) {
        let chunk = block.to_chunk(batch).unwrap();
        for row in 0..chunk.len() {
            let mut record = chunk.record(row).unwrap();
            record.span.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            records.push(record);
        }
    }
    records
}

fn kv(key: &str, value: V) -> KeyValue {
    KeyValue::new(key, value)
}

fn first_block() -> Vec<Arc<Chunk>> {
    vec![chunk(
        "api",
        vec![kv("service.version", V::String("1.2".into()))],
        vec![
            span(
                3,
                1,
                30,
                vec![kv("http.status", V::Int(200)), kv("mixed", V::Int(1))],
            ),
            span(1, 2, 10, vec![kv("only.a", V::String("x".into()))]),
            // `mixed` is mostly an int here: this text goes to the overflow list.
            span(1, 3, 12, vec![kv("mixed", V::String("text".into()))]),
            span(3, 4, 31, vec![kv("mixed", V::Int(2))]),
        ],
    )]
}

fn second_block() -> Vec<Arc<Chunk>> {
    vec![chunk(
        "db",
        vec![kv("cloud.region", V::String("eu-west-1".into()))],
        vec![
            span(
                2,
                5,
                20,
                vec![kv("http.status", V::Int(500)), kv("only.b", V::Bool(true))],
            ),
            span(
                1,
                6,
                11,
                vec![kv("tags", V::Array(vec![V::Int(1), V::Int(2)]))],
            ),
            span(3, 7, 29, Vec::new()),
        ],
    )]
}

#[test]
fn blocks_with_different_columns_merge_column_by_column_and_keep_every_value() {
    let (a, b) = (stored(&first_block()), stored(&second_block()));
    let batches: Vec<&RecordBatch> = a.1.iter().chain(&b.1).collect();
    let layout = joint_layout(&batches).expect("the blocks agree on every column");
    let mut union = a.0.meta.columns.clone();
    union.extend(b.0.meta.columns.clone());
    assert_eq!(layout.columns, union);
    assert!(
        layout.columns.contains_key("attr.only.a")
            && layout.columns.contains_key("resource.cloud.region")
    );

    let merged = merge_blocks(vec![a, b], &origin(0)).unwrap();
    assert_eq!(merged.meta.columns, union);
    // The same spans, block and index, as merging the head's chunks would give.
    let chunks: Vec<Arc<Chunk>> = first_block().into_iter().chain(second_block()).collect();
    let expected = build_block(&chunks, &origin(0)).unwrap();
    assert_eq!(records(&merged), records(&expected));
    assert_eq!(
        TraceIndex::decode(&merged.traces).unwrap(),
        TraceIndex::decode(&expected.traces).unwrap()
    );
    let summary = |m: &BlockMeta| {
        (
            m.span_count,
            m.trace_count,
            m.min_start_unix_nano,
            m.max_end_unix_nano,
            m.operations.clone(),
        )
    };
    assert_eq!(summary(&merged.meta), summary(&expected.meta));
    // Sorted by trace, then start; the overflow values came through.
    let rows: Vec<(u8, u64)> = records(&merged)
        .iter()
        .map(|r| (r.span.trace_id.as_bytes()[0], r.span.start_unix_nano))
        .collect();
    assert_eq!(
        rows,
        [
            (1, 10),
            (1, 11),
            (1, 12),
            (2, 20),
            (3, 29),
            (3, 30),
            (3, 31)
        ]
    );
    let text = records(&merged)
        .into_iter()
        .find(|r| r.span.start_unix_nano == 12)
        .unwrap();
    assert_eq!(
        text.span.attributes,
        [kv("mixed", V::String("text".into()))]
    );
}

#[test]
fn a_column_typed_differently_in_two_blocks_is_chosen_afresh() {
    let int_block = vec![chunk(
        "api",
        Vec::new(),
        vec![span(1, 1, 10, vec![kv("code", V::Int(7))])],
    )];
    let text_block = vec![chunk(
        "api",
        Vec::new(),
        vec![
            span(2, 2, 20, vec![kv("code", V::String("E7".into()))]),
            span(2, 3, 21, vec![kv("code", V::String("E8".into()))]),
        ],
    )];
    let (a, b) = (stored(&int_block), stored(&text_block));
    let batches: Vec<&RecordBatch> = a.1.iter().chain(&b.1).collect();
    assert!(joint_layout(&batches).is_none());
    let merged = merge_blocks(vec![a, b], &origin(0)).unwrap();
    // Widened afresh: the more common type wins the column, and the int stays in the overflow.
    assert_eq!(
        merged.meta.columns.get("attr.code"),
        Some(&ColumnType::String)
    );
    let values: Vec<Vec<KeyValue>> = records(&merged)
        .into_iter()
        .map(|r| r.span.attributes)
        .collect();
    assert_eq!(
        values,
        [
            vec![kv("code", V::Int(7))],
            vec![kv("code", V::String("E7".into()))],
            vec![kv("code", V::String("E8".into()))],
        ]
    );
}

#[test]
fn a_span_held_by_two_merged_blocks_is_kept_once() {
    let first = first_block();
    // The second block holds two of the first block's spans again (a resent batch cut later),
    // and one span of its own.
    let resent = chunk(
        "api",
        vec![kv("service.version", V::String("1.2".into()))],
        vec![
            span(1, 2, 10, vec![kv("only.a", V::String("x".into()))]),
            span(3, 4, 31, vec![kv("mixed", V::Int(2))]),
            span(2, 9, 21, Vec::new()),
        ],
    );
    let (a, b) = (stored(&first), stored(&[resent]));
    let merged = merge_blocks(vec![a, b], &origin(0)).unwrap();
    let keys: Vec<(u8, u8)> = records(&merged)
        .iter()
        .map(|r| (r.span.trace_id.as_bytes()[0], r.span.span_id.as_bytes()[0]))
        .collect();
    assert_eq!(keys, vec![(1, 2), (1, 3), (2, 9), (3, 1), (3, 4)]);
    assert_eq!(merged.meta.span_count, 5);
    let index = TraceIndex::decode(&merged.traces).unwrap();
    let rows: Vec<u32> = index.entries.iter().map(|e| e.row_count).collect();
    assert_eq!(rows, vec![2, 1, 2]);
}

#[test]
fn a_root_named_after_its_service_is_listed_by_its_request_in_head_cut_and_merged_blocks() {
    // An X-Ray segment's span: named after its service, its request in attributes.
    let mut segment = span(7, 1, 40, Vec::new());
    segment.name = "api".into();
    segment.attributes = vec![
        kv("http.method", V::String("POST".into())),
        kv("http.url", V::String("http://api:4567/orders?x=1".into())),
    ];
    let head = crate::head::Head::default();
    let batch = test_support::batch("api", Vec::new(), vec![segment]);
    head.insert(&batch).unwrap();
    let chunks = head.chunks("prod");
    let from_head = head.trace_summaries("prod", vec![TraceId::from_bytes([7; 16])]);
    assert_eq!(from_head[0].root_name, "POST /orders");

    let label_of = |built: &BuiltBlock| {
        let index = TraceIndex::decode(&built.traces).unwrap();
        index.name(index.entries[0].root_name).to_owned()
    };
    let cut = build_block(&chunks, &origin(0)).unwrap();
    assert_eq!(
        label_of(&cut),
        "POST /orders",
        "from the head's attribute lists"
    );
    let merged = merge_blocks(vec![stored(&chunks), stored(&first_block())], &origin(0)).unwrap();
    let index = TraceIndex::decode(&merged.traces).unwrap();
    let entry = index.find(&TraceId::from_bytes([7; 16])).unwrap();
    assert_eq!(
        index.name(entry.root_name),
        "POST /orders",
        "from typed columns"
    );
}
