//! The per-span work of the write and cut paths, on spans shaped like converted X-Ray segments:
//! encoding a batch into the head's layout, widening a head chunk into block columns, building a
//! block, and merging blocks as compaction does.

use combray_model::{
    AttributeValue, KeyValue, Protocol, Scope, Span, SpanBatch, SpanGroup, SpanId, SpanKind,
    Status, StatusCode, TraceId, XRAY_DOCUMENT_ATTRIBUTE,
};
use std::sync::Arc;

use arrow_array::RecordBatch;
use combray_storage::internals::{
    build_block, merge_blocks, to_record_batch, widen, Block, BlockColumns, BlockOrigin, Chunk,
    COMPACTED_ZSTD_LEVEL, CUT_ZSTD_LEVEL,
};
use combray_storage::WalRecord;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const SPANS: usize = 2_048;

/// Who writes the bench's blocks.
fn origin(wal_through_segment: u64, zstd_level: i32) -> BlockOrigin<'static> {
    BlockOrigin {
        environment: "default",
        node_id: "bench",
        wal_through_segment,
        now_unix_nano: 1,
        zstd_level,
        pause_while: None,
    }
}
/// Segment documents ride on their top span; about one span in three is a segment.
const DOCUMENT_EVERY: usize = 3;

fn text(key: &str, value: String) -> KeyValue {
    KeyValue::new(key, AttributeValue::String(value))
}

fn span(index: usize) -> Span {
    let mut attributes = vec![
        text("http.method", "GET".into()),
        text(
            "http.url",
            format!("https://api.example.com/users/{}", index % 97),
        ),
        KeyValue::new("http.status_code", AttributeValue::Int(200)),
        KeyValue::new("http.response_content_length", AttributeValue::Int(1234)),
        text("aws.xray.origin", "AWS::EC2::Instance".into()),
        text("annotation.customer", format!("customer-{}", index % 13)),
        KeyValue::new("annotation.tier", AttributeValue::Int((index % 3) as i64)),
    ];
    if index.is_multiple_of(DOCUMENT_EVERY) {
        let document = format!(
            r#"{{"trace_id":"1-5f84c7a5-{index:024x}","id":"{index:016x}","name":"checkout","start_time":1602537381.123,"end_time":1602537381.456,"http":{{"request":{{"method":"GET","url":"https://api.example.com/users/{index}"}},"response":{{"status":200,"content_length":1234}}}},"annotations":{{"customer":"customer-{index}"}},"metadata":{{"debug":{{"padding":"{}"}}}}}}"#,
            "x".repeat(400)
        );
        attributes.push(text(XRAY_DOCUMENT_ATTRIBUTE, document));
    }
    Span {
        trace_id: TraceId::from_bytes(((index / 3) as u128).to_be_bytes()),
        span_id: SpanId::from_bytes((index as u64 + 1).to_be_bytes()),
        parent_span_id: None,
        trace_state: String::new(),
        name: "checkout".into(),
        kind: SpanKind::Server,
        start_unix_nano: 1_700_000_000_000_000_000 + index as u64,
        duration_nano: 1_000_000,
        status: Status {
            code: StatusCode::Unset,
            message: String::new(),
        },
        attributes,
        events: Vec::new(),
        links: Vec::new(),
        flags: 0,
        sample_rate: 1,
        dropped_counts: [0; 3],
    }
}

fn batch(offset: usize) -> SpanBatch {
    let groups = (offset / 4..(offset + SPANS) / 4)
        .map(|group| SpanGroup {
            dataset: format!("service-{}", group % 8),
            resource: vec![text("cloud.provider", "aws".into())],
            scope: Scope::default(),
            spans: (group * 4..group * 4 + 4).map(span).collect(),
        })
        .collect();
    SpanBatch {
        environment: "default".into(),
        protocol: Protocol::XRay,
        received_unix_nano: 0,
        groups,
    }
}

fn cut_path(c: &mut Criterion) {
    let batch = batch(0);
    let mut group = c.benchmark_group("cut_path");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("head_encode_2048_spans", |b| {
        b.iter(|| to_record_batch(&batch).unwrap())
    });
    let chunk = Chunk::new(to_record_batch(&batch).unwrap()).unwrap();
    group.bench_function("widen_2048_spans", |b| b.iter(|| widen(&chunk).unwrap()));
    group.finish();

    // What an append encodes: the WAL record and the head's columns. Before record type 2 the
    // WAL held the batch in postcard and the head encoded it again.
    let mut group = c.benchmark_group("append_encode");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.bench_function("postcard_record_and_head_2048_spans", |b| {
        b.iter(|| {
            let payload = postcard::to_allocvec(&batch).unwrap();
            (payload, to_record_batch(&batch).unwrap())
        })
    });
    group.bench_function("columns_record_2048_spans", |b| {
        b.iter(|| {
            let record = WalRecord::of(&batch).unwrap();
            (record.encode().unwrap(), record)
        })
    });
    group.finish();
    let postcard_bytes = postcard::to_allocvec(&batch).unwrap().len();
    let columns_bytes = WalRecord::of(&batch).unwrap().encode().unwrap().len();
    eprintln!(
        "WAL record of {SPANS} spans: postcard {postcard_bytes} B, columns {columns_bytes} B"
    );
}

/// A cut of 16 head chunks (32,768 spans): sort by trace, widen, write Parquet.
fn build(c: &mut Criterion) {
    const CHUNKS: usize = 16;
    let chunks: Vec<Arc<Chunk>> = (0..CHUNKS)
        .map(|i| Arc::new(Chunk::new(to_record_batch(&batch(i * SPANS)).unwrap()).unwrap()))
        .collect();
    let origin = origin(1, CUT_ZSTD_LEVEL);
    let built = build_block(&chunks, &origin).unwrap();
    eprintln!(
        "block of {} spans: {} bytes",
        CHUNKS * SPANS,
        built.data.len()
    );
    let mut group = c.benchmark_group("cut_path");
    group.throughput(Throughput::Elements((CHUNKS * SPANS) as u64));
    group.sample_size(10);
    group.bench_function("build_block_32768_spans", |b| {
        b.iter(|| build_block(&chunks, &origin).unwrap())
    });
    group.finish();
}

/// Trace ids as they arrive in production: in no order. Each trace keeps its spans.
fn scrambled(mut batch: SpanBatch) -> SpanBatch {
    const ODD: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;
    for span in batch.groups.iter_mut().flat_map(|g| g.spans.iter_mut()) {
        let ordered = u128::from_be_bytes(*span.trace_id.as_bytes());
        span.trace_id = TraceId::from_bytes(ordered.wrapping_mul(ODD).to_be_bytes());
    }
    batch
}

/// Cuts of random trace ids, small and large: the sort makes every output row come from
/// anywhere in the head, so the per-span cost shows how the cut's size (its working set)
/// matters.
fn build_scrambled(c: &mut Criterion) {
    let origin = origin(1, CUT_ZSTD_LEVEL);
    let mut group = c.benchmark_group("cut_scrambled");
    group.sample_size(10);
    for chunks in [16, 256] {
        let head: Vec<Arc<Chunk>> = (0..chunks)
            .map(|i| {
                let batch = scrambled(batch(i * SPANS));
                Arc::new(Chunk::new(to_record_batch(&batch).unwrap()).unwrap())
            })
            .collect();
        group.throughput(Throughput::Elements((chunks * SPANS) as u64));
        group.bench_function(format!("build_block_{}_spans", chunks * SPANS), |b| {
            b.iter(|| build_block(&head, &origin).unwrap())
        });
        group.bench_function(format!("choose_columns_{}_spans", chunks * SPANS), |b| {
            b.iter(|| BlockColumns::choose(head.iter().map(|c| c.as_ref())).unwrap())
        });
    }
    group.finish();
}

/// Compaction of 4 cut blocks of 16,384 spans each, from their stored (Parquet-decoded)
/// batches: merged column by column, against narrowing every row and building afresh.
fn compact(c: &mut Criterion) {
    const BLOCKS: usize = 4;
    const CHUNKS_PER_BLOCK: usize = 8;
    let origin = origin(0, COMPACTED_ZSTD_LEVEL);
    let inputs: Vec<(Arc<Block>, Vec<RecordBatch>)> = (0..BLOCKS)
        .map(|b| {
            let chunks: Vec<Arc<Chunk>> = (0..CHUNKS_PER_BLOCK)
                .map(|i| {
                    let offset = (b * CHUNKS_PER_BLOCK + i) * SPANS;
                    Arc::new(Chunk::new(to_record_batch(&batch(offset)).unwrap()).unwrap())
                })
                .collect();
            let built = build_block(&chunks, &origin).unwrap();
            let batches = ParquetRecordBatchReaderBuilder::try_new(built.data.clone())
                .unwrap()
                .with_batch_size(65_536)
                .build()
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (Arc::new(Block::new(built.meta)), batches)
        })
        .collect();
    let spans = BLOCKS * CHUNKS_PER_BLOCK * SPANS;
    let mut group = c.benchmark_group("compact");
    group.throughput(Throughput::Elements(spans as u64));
    group.sample_size(10);
    group.bench_function("merge_columns_65536_spans", |b| {
        b.iter(|| merge_blocks(inputs.clone(), &origin).unwrap())
    });
    group.bench_function("narrow_and_rebuild_65536_spans", |b| {
        b.iter(|| {
            let chunks: Vec<Arc<Chunk>> = inputs
                .iter()
                .flat_map(|(block, batches)| {
                    batches
                        .iter()
                        .map(|batch| Arc::new(block.to_chunk(batch.clone()).unwrap()))
                })
                .collect();
            build_block(&chunks, &origin).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, cut_path, build, build_scrambled, compact);
criterion_main!(benches);
