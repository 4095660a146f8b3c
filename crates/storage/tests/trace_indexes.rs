//! Blocks' trace indexes stay in memory only up to their budget, and every read still finds
//! every trace: an index left out is read from the store again when a read needs it.

mod common;

use std::sync::Arc;

use combray_model::TraceId;
use combray_storage::{SpanStore, Storage};
use common::{batch, config, span};

/// Blocks of `traces` single-span traces each, in "prod".
async fn storage_with_blocks(
    dir: &std::path::Path,
    blocks: u8,
    traces: u8,
    budget: usize,
) -> Arc<Storage> {
    let mut config = config(dir);
    config.trace_index_cache_bytes = budget;
    let storage = Arc::new(Storage::open(config).await.unwrap());
    for block in 0..blocks {
        let spans = (0..traces)
            .map(|t| span(block * traces + t + 1, 1, None))
            .collect();
        storage.append(&batch("prod", "api", spans)).await.unwrap();
        storage.cut().await.unwrap().expect("a block");
    }
    storage
}

fn trace(n: u8) -> TraceId {
    TraceId::from_bytes([n; 16])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_past_the_budget_are_read_again_and_every_trace_is_still_found() {
    let dir = tempfile::tempdir().unwrap();
    // First the size of one block's index, from a store with a budget that keeps everything.
    let one = {
        let storage = storage_with_blocks(dir.path(), 1, 20, usize::MAX).await;
        storage.blocks().trace_index_usage().0
    };
    assert!(one > 0);
    let dir = tempfile::tempdir().unwrap();
    // Room for two of the four blocks' indexes.
    let storage = storage_with_blocks(dir.path(), 4, 20, one * 2 + one / 2).await;
    let (bytes, loads) = storage.blocks().trace_index_usage();
    assert!(bytes <= one * 2, "{bytes} bytes kept, budget {}", one * 2);
    assert_eq!(
        loads, 0,
        "a cut keeps the index it built without reading it"
    );

    // Every trace, each in its own block, from oldest to newest: the two oldest blocks' indexes
    // were let go, so they are read from the store, and still nothing is over the budget.
    for n in 1..=80 {
        let records = storage.trace_records("prod", &trace(n)).await.unwrap();
        assert_eq!(records.len(), 1, "trace {n}");
    }
    let ids = storage
        .trace_ids_starting_between("prod", 0, u64::MAX)
        .await
        .unwrap();
    assert_eq!(ids.len(), 80);
    let summaries = storage.trace_summaries("prod", ids).await.unwrap();
    assert_eq!(summaries.len(), 80);
    assert!(summaries.iter().all(|s| s.span_count == 1));
    let (bytes, loads) = storage.blocks().trace_index_usage();
    assert!(bytes <= one * 2, "{bytes} bytes kept, budget {}", one * 2);
    assert!(
        loads >= 2,
        "the indexes let go were read again ({loads} reads)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reads_no_index_until_a_read_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    drop(storage_with_blocks(dir.path(), 3, 10, usize::MAX).await);
    let storage = Arc::new(Storage::open(config(dir.path())).await.unwrap());
    assert_eq!(storage.blocks().all().len(), 3);
    assert_eq!(storage.blocks().trace_index_usage(), (0, 0));
    let records = storage.trace_records("prod", &trace(25)).await.unwrap();
    assert_eq!(records.len(), 1);
    // The lookup asked every block (none of them can say without its index).
    assert_eq!(storage.blocks().trace_index_usage().1, 3);
}
