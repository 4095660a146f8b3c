//! Cutting the head into blocks: every span readable exactly once, before and after restarts.

mod common;

use std::sync::Arc;

use combray_model::TraceId;
use combray_storage::{SpanStore, Storage};
use common::{batch, config, span};

async fn span_ids(storage: &Arc<Storage>, environment: &'static str, trace: u8) -> Vec<u8> {
    let storage = Arc::clone(storage);
    tokio::task::spawn_blocking(move || {
        let records = storage
            .trace_records(environment, &TraceId::from_bytes([trace; 16]))
            .unwrap();
        let mut ids: Vec<u8> = records
            .iter()
            .map(|r| r.span.span_id.as_bytes()[0])
            .collect();
        ids.sort_unstable();
        ids
    })
    .await
    .unwrap()
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
    let summary = &storage.trace_summaries("prod", vec![TraceId::from_bytes([1; 16])])[0];
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
    let mut scanned = 0;
    let counting = Arc::clone(&storage);
    tokio::task::spawn_blocking(move || {
        counting
            .scan("prod", 0, u64::MAX, &mut |chunk| {
                scanned += chunk.len();
                Ok(())
            })
            .unwrap();
        assert_eq!(scanned, 3);
    })
    .await
    .unwrap();
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
