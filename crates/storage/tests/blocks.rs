//! Cutting the head into blocks: every span readable exactly once, before and after restarts.

mod common;

use std::sync::Arc;

use combray_model::TraceId;
use combray_storage::{SpanStore, Storage};
use common::{batch, config, span};

/// The first byte of each span id, sorted.
fn sorted_span_ids(records: &[combray_model::SpanRecord]) -> Vec<u8> {
    let mut ids: Vec<u8> = records
        .iter()
        .map(|r| r.span.span_id.as_bytes()[0])
        .collect();
    ids.sort_unstable();
    ids
}

async fn span_ids(storage: &Arc<Storage>, environment: &'static str, trace: u8) -> Vec<u8> {
    let records = storage
        .trace_records(environment, &TraceId::from_bytes([trace; 16]))
        .await
        .unwrap();
    sorted_span_ids(&records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_moves_spans_into_blocks_exactly_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(Storage::open(config(dir.path())).await.unwrap());
    storage
        .append(&batch(
            "prod",
            "api",
            vec![span(1, 1, None), span(2, 5, None)],
        ))
        .await
        .unwrap();
    storage
        .append(&batch("dev", "api", vec![span(1, 9, None)]))
        .await
        .unwrap();
    let report = storage.cut().await.unwrap().expect("head was not empty");
    assert_eq!((report.blocks, report.spans), (2, 3));
    assert!(report.segments_removed >= 1);
    assert_eq!(storage.head().span_count(), 0);
    assert!(
        storage.cut().await.unwrap().is_none(),
        "nothing left to cut"
    );

    // A trace split between a block and the head reads as one.
    storage
        .append(&batch("prod", "db", vec![span(1, 2, Some(1))]))
        .await
        .unwrap();
    assert_eq!(span_ids(&storage, "prod", 1).await, [1, 2]);
    assert_eq!(span_ids(&storage, "dev", 1).await, [9]);
    let summary = &storage
        .trace_summaries("prod", vec![TraceId::from_bytes([1; 16])])
        .await
        .unwrap()[0];
    assert_eq!(
        (
            summary.span_count,
            summary.root_name.as_str(),
            summary.has_root
        ),
        (2, "op-1", true)
    );
    assert_eq!(storage.services("prod"), ["api", "db"]);
    assert_eq!(
        storage
            .trace_ids_starting_between("prod", 0, u64::MAX)
            .await
            .unwrap()
            .len(),
        2
    );

    // Crash (no close, no cut) and restart: blocks from the store, the rest from the WAL.
    drop(storage);
    let storage = Arc::new(Storage::open(config(dir.path())).await.unwrap());
    assert_eq!(
        storage.replay_report().records,
        1,
        "only the uncut record is replayed"
    );
    assert_eq!(span_ids(&storage, "prod", 1).await, [1, 2]);
    assert_eq!(span_ids(&storage, "prod", 2).await, [5]);

    // Cut again and restart once more: still exactly once.
    storage.cut().await.unwrap();
    drop(storage);
    let storage = Arc::new(Storage::open(config(dir.path())).await.unwrap());
    assert_eq!(storage.replay_report().records, 0);
    assert_eq!(storage.blocks().blocks("prod").len(), 2);
    assert_eq!(span_ids(&storage, "prod", 1).await, [1, 2]);
    assert_eq!(common::scanned_rows(&storage, "prod").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begun_append_is_queryable_once_finished_and_a_cut_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(Storage::open(config(dir.path())).await.unwrap());
    let first = storage
        .begin_append(&batch("prod", "api", vec![span(1, 1, None)]))
        .await
        .unwrap();
    let second = storage
        .begin_append(&batch("prod", "api", vec![span(1, 2, Some(1))]))
        .await
        .unwrap();
    assert_eq!(storage.head().span_count(), 0, "nothing is queryable yet");

    // The cut must not snapshot the head while records it would seal are not in it.
    let cut = tokio::spawn({
        let storage = Arc::clone(&storage);
        async move { storage.cut().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!cut.is_finished(), "the cut waits for begun appends");

    first.finish().await.unwrap();
    assert_eq!(storage.head().span_count(), 1);
    second.finish().await.unwrap();
    let report = cut.await.unwrap().unwrap().expect("head was not empty");
    assert_eq!(report.spans, 2);
    assert_eq!(span_ids(&storage, "prod", 1).await, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cut_policy_follows_size_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.cut.max_age = std::time::Duration::from_millis(50);
    config.cut.max_head_bytes = usize::MAX;
    let storage = Storage::open(config).await.unwrap();
    assert!(!storage.cut_is_due());
    storage
        .append(&batch("prod", "api", vec![span(1, 1, None)]))
        .await
        .unwrap();
    assert!(!storage.cut_is_due());
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    assert!(storage.cut_is_due());
    storage.cut().await.unwrap();
    assert!(!storage.cut_is_due());
}

/// Reading many traces at once (one pass per block, many row ranges) gives each trace exactly
/// what reading it alone gives: across blocks, the head, and ids stored nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_traces_read_in_one_pass_per_block_match_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(Storage::open(config(dir.path())).await.unwrap());
    // Block 1: traces 1..=40, three spans each; block 2: traces 20..=60 (so 20..=40 span both);
    // head: one more span for every fifth trace.
    let spans = |traces, first_id| spans_per_trace(traces, first_id, 3);
    storage
        .append(&batch("prod", "api", spans(1..=40, 1)))
        .await
        .unwrap();
    storage.cut().await.unwrap().expect("a cut");
    storage
        .append(&batch("prod", "db", spans(20..=60, 10)))
        .await
        .unwrap();
    storage.cut().await.unwrap().expect("a cut");
    let head: Vec<_> = (1..=60u8).step_by(5).map(|t| span(t, 99, None)).collect();
    storage.append(&batch("prod", "web", head)).await.unwrap();

    let wanted: Vec<TraceId> = [3u8, 1, 20, 40, 41, 60, 200, 7, 8, 9, 33]
        .into_iter()
        .map(|t| TraceId::from_bytes([t; 16]))
        .collect();
    let many = storage.many_trace_records("prod", &wanted).await.unwrap();
    let mut one_by_one = Vec::new();
    for id in &wanted {
        one_by_one.push((*id, storage.trace_records("prod", id).await.unwrap()));
    }
    for (id, alone) in &one_by_one {
        match many.get(id) {
            Some(records) => assert_eq!(sorted_span_ids(records), sorted_span_ids(alone), "{id:?}"),
            None => assert!(alone.is_empty(), "{id:?} is stored but was not read"),
        }
    }
    assert_eq!(many.len(), 10, "every id but 200");
    assert_eq!(
        sorted_span_ids(&many[&TraceId::from_bytes([20; 16])]),
        [1, 2, 3, 10, 11, 12]
    );
    assert_eq!(
        sorted_span_ids(&many[&TraceId::from_bytes([41; 16])]),
        [10, 11, 12, 99]
    );
}

/// Summaries asked for many traces at once (each block's index walked once) equal those asked
/// one trace at a time (a search per id): merged across blocks and the head, unknown ids left
/// out, whatever order the ids come in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_summaries_for_many_ids_match_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    let spans = |traces, first_id| spans_per_trace(traces, first_id, 2);
    storage
        .append(&batch("prod", "api", spans(1..=30, 1)))
        .await
        .unwrap();
    storage.cut().await.unwrap().expect("a cut");
    storage
        .append(&batch("prod", "db", spans(25..=90, 10)))
        .await
        .unwrap();
    storage.cut().await.unwrap().expect("a cut");
    let head: Vec<_> = (1..=90u8).step_by(7).map(|t| span(t, 99, None)).collect();
    storage.append(&batch("prod", "web", head)).await.unwrap();

    // Unsorted, with a duplicate and ids stored nowhere: enough ids that each block is walked.
    let mut wanted: Vec<TraceId> = (1..=120u8)
        .rev()
        .map(|t| TraceId::from_bytes([t; 16]))
        .collect();
    wanted.push(TraceId::from_bytes([5; 16]));
    let mut many = storage
        .trace_summaries("prod", wanted.clone())
        .await
        .unwrap();
    many.sort_by_key(|s| s.trace_id);
    let mut one_by_one = Vec::new();
    for id in &wanted[..120] {
        one_by_one.extend(storage.trace_summaries("prod", vec![*id]).await.unwrap());
    }
    one_by_one.sort_by_key(|s| s.trace_id);
    assert_eq!(many.len(), 90);
    assert_eq!(many, one_by_one);
    let both = &many[29];
    assert_eq!(both.trace_id, TraceId::from_bytes([30; 16]));
    assert_eq!(both.span_count, 4, "two spans in each block");
    let with_head = &many[28];
    assert_eq!(
        with_head.span_count, 5,
        "trace 29 also has a span in the head"
    );
}

/// `per_trace` root spans (ids `first_id`, `first_id + 1`, …) of each trace in `traces`.
fn spans_per_trace(
    traces: std::ops::RangeInclusive<u8>,
    first_id: u8,
    per_trace: u8,
) -> Vec<combray_model::Span> {
    traces
        .flat_map(|t| (0..per_trace).map(move |i| span(t, first_id + i, None)))
        .collect()
}
