//! What a cut holds while it builds blocks counts against the head budget: with the head just
//! under its limit, appends are refused while the cut runs, and once it is done the count is
//! back where the head alone puts it.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use combray_heap::CountingAllocator;
use combray_model::{AttributeValue, KeyValue, SpanBatch, SpanId, TraceId};
use combray_storage::{Storage, StorageError};
use common::{batch, config, span};

#[global_allocator]
static ALLOCATOR: CountingAllocator<std::alloc::System> = CountingAllocator(std::alloc::System);

const MIB: usize = 1024 * 1024;

/// 400 batches of 100 spans with a few attributes each, the same every call.
fn batches() -> Vec<SpanBatch> {
    (0..400u32)
        .map(|b| {
            let spans = (0..100u32)
                .map(|i| {
                    let n = b * 100 + i;
                    let mut s = span(0, 0, None);
                    let mut trace = [0u8; 16];
                    trace[..4].copy_from_slice(&(n.wrapping_mul(2_654_435_761)).to_be_bytes());
                    s.trace_id = TraceId::from_bytes(trace);
                    s.span_id = SpanId::from_bytes(u64::from(n + 1).to_be_bytes());
                    s.attributes = vec![
                        KeyValue::new(
                            "http.route",
                            AttributeValue::String(format!("/r/{}", n % 37)),
                        ),
                        KeyValue::new("user.id", AttributeValue::String(format!("user-{n}"))),
                        KeyValue::new("size", AttributeValue::Int(i64::from(n))),
                    ];
                    s
                })
                .collect();
            batch("default", "api", spans)
        })
        .collect()
}

async fn filled(dir: &std::path::Path, max_head_bytes: usize) -> Storage {
    let mut config = config(dir);
    config.max_head_bytes = max_head_bytes;
    let storage = Storage::open(config).await.unwrap();
    for batch in batches() {
        storage.append(&batch).await.unwrap();
    }
    storage
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_refused_while_a_cut_holds_the_rest_of_the_head_budget() {
    // The head's own bytes for these spans, measured with no cut running.
    let measuring = tempfile::tempdir().unwrap();
    let head_bytes = filled(measuring.path(), usize::MAX)
        .await
        .head()
        .memory_bytes();
    assert!(head_bytes > 4 * MIB, "{head_bytes}");

    let dir = tempfile::tempdir().unwrap();
    let limit = head_bytes + MIB;
    let storage = Arc::new(filled(dir.path(), limit).await);
    assert_eq!(storage.head().memory_bytes(), head_bytes);
    assert_eq!(storage.head().cut_working_bytes(), 0);

    let cut_done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (storage, cut_done) = (Arc::clone(&storage), Arc::clone(&cut_done));
        tokio::spawn(async move {
            let one = batch("default", "api", vec![span(9, 9, None)]);
            let mut most_seen = 0;
            while !cut_done.load(Ordering::SeqCst) {
                let held = storage.head().memory_bytes();
                most_seen = most_seen.max(storage.head().cut_working_bytes());
                if held > limit {
                    if let Err(StorageError::HeadFull { bytes, .. }) =
                        storage.begin_append(&one).await
                    {
                        return (Some(bytes), most_seen);
                    }
                }
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            }
            (None, most_seen)
        })
    };
    let report = storage
        .cut()
        .await
        .unwrap()
        .expect("the head was not empty");
    cut_done.store(true, Ordering::SeqCst);
    let (refused_at, most_seen) = watcher.await.unwrap();

    assert_eq!(report.spans, 40_000);
    assert!(
        most_seen > MIB,
        "the cut's working set was never counted (most seen: {most_seen} bytes)"
    );
    let refused_at = refused_at.expect("an append was accepted past the budget during the cut");
    assert!(refused_at > limit);
    // The blocks are published and the head let go: nothing is left counted.
    assert!(storage.head().cut_working_bytes() < MIB);
    assert!(storage.head().memory_bytes() < MIB);
}
