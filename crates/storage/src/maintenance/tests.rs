use std::sync::Arc;
use std::time::Duration;

use combray_model::{Span, SpanBatch, TraceId};
use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::ObjectStore;

use crate::test_support::span;
use crate::{MaintenancePolicy, SpanStore, Storage, StorageConfig};

fn batch(spans: Vec<Span>) -> SpanBatch {
    crate::test_support::batch("api", Vec::new(), spans)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

async fn open(dir: &std::path::Path, store: &Arc<dyn ObjectStore>, node: &str) -> Arc<Storage> {
    let mut config = StorageConfig::new(dir.to_path_buf(), Arc::clone(store));
    config.node_id = node.into();
    config.maintenance = MaintenancePolicy {
        deletion_grace: Duration::ZERO,
        ..MaintenancePolicy::default()
    };
    Arc::new(Storage::open(config).await.unwrap())
}

async fn spans_of(storage: &Arc<Storage>, trace: u8) -> usize {
    storage
        .trace_records("prod", &TraceId::from_bytes([trace; 16]))
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_blocks_merge_into_one_and_every_span_stays_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let storage = open(dir.path(), &store, "node-a").await;
    let base = now();
    for round in 0..3u8 {
        storage
            .append(&batch(vec![
                span(1, round + 1, base + u64::from(round)),
                span(round + 2, 9, base),
            ]))
            .await
            .unwrap();
        storage.cut().await.unwrap();
    }
    assert_eq!(storage.blocks().blocks("prod").len(), 3);
    let report = storage.maintain().await.unwrap();
    assert!(report.leased);
    assert_eq!((report.compacted_into, report.compacted_from), (1, 3));
    let blocks = storage.blocks().blocks("prod");
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].meta.span_count, 6);
    assert_eq!(blocks[0].meta.replaces.len(), 3);
    assert_eq!(spans_of(&storage, 1).await, 3);
    // The grace period (zero here) passes at the next pass: the inputs' objects go.
    assert_eq!(storage.maintain().await.unwrap().deleted, 3);

    // A restart sees only the merged block.
    drop(storage);
    let storage = open(dir.path(), &store, "node-a").await;
    assert_eq!(storage.blocks().blocks("prod").len(), 1);
    assert_eq!(spans_of(&storage, 1).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_blocks_left_behind_by_a_crash_are_ignored_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let storage = open(dir.path(), &store, "node-a").await;
    let base = now();
    for round in 0..2u8 {
        storage
            .append(&batch(vec![span(1, round + 1, base)]))
            .await
            .unwrap();
        storage.cut().await.unwrap();
    }
    // Deletion of the inputs waits for the next pass: a crash now leaves all their objects.
    storage.maintain().await.unwrap();
    drop(storage);
    let metas = |store: Arc<dyn ObjectStore>| async move {
        use futures::TryStreamExt;
        let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
        listed
            .iter()
            .filter(|o| o.location.as_ref().ends_with("meta.json"))
            .count()
    };
    // Another node (its own data directory) sharing the store.
    let other = tempfile::tempdir().unwrap();
    let storage = open(other.path(), &store, "node-b").await;
    assert_eq!(
        storage.blocks().blocks("prod").len(),
        1,
        "replaced blocks are ignored"
    );
    assert_eq!(spans_of(&storage, 1).await, 2);
    drop(storage);
    // A node that lists the store (no local block cache) deletes the leftovers.
    let fresh = tempfile::tempdir().unwrap();
    let _owner = open(fresh.path(), &store, "node-c").await;
    assert_eq!(
        metas(Arc::clone(&store)).await,
        1,
        "a loading node deletes the leftovers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_node_holds_the_lease_and_old_blocks_expire() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node_a = open(dir_a.path(), &store, "node-a").await;
    let node_b = open(dir_b.path(), &store, "node-b").await;
    let first = node_a.try_lease().await.unwrap();
    let second = node_b.try_lease().await.unwrap();
    assert!(
        first != second || node_a.lease_window() != node_b.lease_window(),
        "never both in one window"
    );
    assert!(
        node_a.try_lease().await.unwrap() == first
            || node_a.lease_window() != node_b.lease_window()
    );

    let holder = if first { &node_a } else { &node_b };
    // Span timestamps do not matter for retention (this one is 40 days old); ingest time does.
    let old = now() - 40 * 24 * 3600 * 1_000_000_000;
    holder.append(&batch(vec![span(7, 1, old)])).await.unwrap();
    holder.cut().await.unwrap();
    assert_eq!(holder.maintain().await.unwrap().expired, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    holder
        .append(&batch(vec![span(8, 1, now())]))
        .await
        .unwrap();
    holder.cut().await.unwrap();
    let mut short = holder.config.maintenance;
    short.retention = Duration::from_millis(100);
    let expired = holder.expire_with(short.retention);
    assert_eq!(expired, 1, "only the block ingested before the horizon");
    assert_eq!(spans_of(holder, 7).await, 0);
    assert_eq!(spans_of(holder, 8).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_are_compacted_only_once_their_cut_is_final() {
    use object_store::ObjectStoreExt;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let storage = open(dir.path(), &store, "node-a").await;
    for round in 0..2u8 {
        storage
            .append(&batch(vec![span(1, round + 1, now())]))
            .await
            .unwrap();
        storage.cut().await.unwrap();
    }
    // As if the node had crashed between publishing its blocks and its checkpoint.
    store
        .delete(&super::node_checkpoint_path("node-a"))
        .await
        .unwrap();
    assert_eq!(storage.maintain().await.unwrap().compacted_into, 0);
    storage
        .append(&batch(vec![span(1, 3, now())]))
        .await
        .unwrap();
    storage.cut().await.unwrap();
    let report = storage.maintain().await.unwrap();
    assert_eq!((report.compacted_into, report.compacted_from), (1, 3));
    assert_eq!(spans_of(&storage, 1).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_compacted_block_stay_replaced_after_it_is_compacted_again() {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let storage = open(dir.path(), &store, "node-a").await;
    let cut_one = |id: u8| {
        let storage = Arc::clone(&storage);
        async move {
            storage
                .append(&batch(vec![span(1, id, now())]))
                .await
                .unwrap();
            storage.cut().await.unwrap();
        }
    };
    cut_one(1).await;
    cut_one(2).await;
    // Generation one: A and B into C. The node stops before A's and B's objects go.
    assert_eq!(storage.maintain().await.unwrap().compacted_from, 2);
    let first = storage.blocks().blocks("prod")[0].clone();
    storage.pending_deletions.lock().clear();
    // Generation two: C and D into E; then C's own objects are deleted after its grace.
    cut_one(3).await;
    assert_eq!(storage.maintain().await.unwrap().compacted_from, 2);
    let merged = storage.blocks().blocks("prod")[0].clone();
    assert_eq!(merged.meta.replaces.len(), 4, "C, D, and what C replaced");
    let prefix = object_store::path::Path::from(format!("blocks/prod/{}", first.meta.block_id));
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
    for object in objects {
        store.delete(&object.location).await.unwrap();
    }
    drop(storage);
    // A node that lists the store finds A's and B's leftovers and must not take them for live.
    let fresh = tempfile::tempdir().unwrap();
    let other = open(fresh.path(), &store, "node-b").await;
    assert_eq!(other.blocks().blocks("prod").len(), 1);
    assert_eq!(spans_of(&other, 1).await, 3);
}

/// At shutdown the final cut waits for maintenance: a compaction that waited for a full head
/// to shrink while no cut runs would never end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_with_a_full_head_and_no_cut_running_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut config = StorageConfig::new(dir.path().to_path_buf(), Arc::clone(&store));
    config.node_id = "node-a".into();
    let storage = Arc::new(Storage::open(config.clone()).await.unwrap());
    let base = now();
    for round in 0..2u8 {
        storage
            .append(&batch(vec![span(round + 1, 1, base)]))
            .await
            .unwrap();
        storage.cut().await.unwrap();
    }
    drop(storage);
    // Reopened with a head limit the next append passes an eighth of.
    config.max_head_bytes = 1;
    let storage = Arc::new(Storage::open(config).await.unwrap());
    storage
        .append(&batch(vec![span(9, 1, base)]))
        .await
        .unwrap();
    let report = tokio::time::timeout(Duration::from_secs(30), storage.maintain())
        .await
        .expect("compaction must not wait for a cut that is not running")
        .unwrap();
    assert_eq!((report.compacted_into, report.compacted_from), (1, 2));
}

/// Two nodes share a store; node A's compaction is slowed past its lease window, node B takes
/// the next window and compacts the same blocks. A must not publish: every span stays once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_whose_lease_ran_out_does_not_publish() {
    const WINDOW: Duration = Duration::from_secs(2);
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let open_with = |dir: std::path::PathBuf, node: &'static str, pause: Duration| {
        let store = Arc::clone(&store);
        async move {
            let mut config = StorageConfig::new(dir, store);
            config.node_id = node.into();
            config.maintenance = MaintenancePolicy {
                deletion_grace: Duration::ZERO,
                lease_window: WINDOW,
                pause_before_commit: pause,
                ..MaintenancePolicy::default()
            };
            Arc::new(Storage::open(config).await.unwrap())
        }
    };
    let node_a = open_with(dir_a.path().into(), "node-a", Duration::from_millis(5000)).await;
    let base = now();
    for round in 0..3u8 {
        node_a
            .append(&batch(vec![span(1, round + 1, base + u64::from(round))]))
            .await
            .unwrap();
        node_a.cut().await.unwrap();
    }
    let node_b = open_with(dir_b.path().into(), "node-b", Duration::ZERO).await;
    assert_eq!(node_b.blocks().blocks("prod").len(), 3);

    // Start at the beginning of a window, so A's pause surely outlasts it.
    let window = WINDOW.as_nanos() as u64;
    let into_window = now() % window;
    tokio::time::sleep(Duration::from_nanos(window - into_window + 20_000_000)).await;
    let slow = tokio::spawn({
        let node_a = Arc::clone(&node_a);
        async move { node_a.maintain().await.unwrap() }
    });
    // Into the next window, with most of it left for B's compaction.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let taken_over = node_b.maintain().await.unwrap();
    assert!(taken_over.leased, "B holds the next window's lease");
    assert_eq!(taken_over.compacted_from, 3);
    let abandoned = slow.await.unwrap();
    assert!(abandoned.leased);
    assert_eq!(
        abandoned.compacted_into, 0,
        "A's lease ran out before its commit point"
    );

    for node in [&node_a, &node_b] {
        node.refresh_blocks().await.unwrap();
        assert_eq!(node.blocks().blocks("prod").len(), 1);
        assert_eq!(spans_of(node, 1).await, 3, "every span once");
    }
    let metas: Vec<_> = store
        .list(Some(&object_store::path::Path::from("blocks/prod")))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|meta| meta.unwrap().location.to_string())
        .filter(|path| path.ends_with("meta.json"))
        .collect();
    assert_eq!(
        metas.len(),
        1 + 3,
        "B's block and the inputs (deleted after grace)"
    );
}
