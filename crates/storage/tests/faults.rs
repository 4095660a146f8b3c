//! Crash at every step of a cut's publish, then restart: every acknowledged span exactly once.
//!
//! A fault-injecting object store counts the cut's writes (data, trace index, meta per block,
//! then the node checkpoint). "Crash at write N" lets the first N-1 writes land and fails the
//! Nth and everything after it, as a dead process would; "crash after write N" lets the Nth land
//! but its answer never arrive. The storage is then dropped without closing (the crash) and
//! reopened on the real store, and the spans are counted.

mod common;

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use combray_model::TraceId;
use combray_storage::{SpanStore, Storage, StorageConfig};
use common::local_store;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// When the simulated process dies.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// The Nth write (1-based) and everything after it fail.
    AtWrite(usize),
    /// The Nth write lands, but it and everything after it report failure.
    AfterWrite(usize),
}

/// Passes calls to `inner` until the armed crash point, then fails every call.
#[derive(Debug)]
struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    armed: AtomicBool,
    writes: AtomicUsize,
    crash: parking_lot::Mutex<Option<Crash>>,
    dead: AtomicBool,
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

fn injected(operation: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: format!("injected crash during {operation}").into(),
    }
}

impl FaultyStore {
    fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            armed: AtomicBool::new(false),
            writes: AtomicUsize::new(0),
            crash: parking_lot::Mutex::new(None),
            dead: AtomicBool::new(false),
        }
    }

    /// Starts counting writes from zero, with this crash point (`None`: only count).
    fn arm(&self, crash: Option<Crash>) {
        self.writes.store(0, Ordering::SeqCst);
        *self.crash.lock() = crash;
        self.armed.store(true, Ordering::SeqCst);
    }

    fn check_alive(&self, operation: &str) -> object_store::Result<()> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(injected(operation));
        }
        Ok(())
    }

    /// Counts a write; `Ok(true)` means "do it, then die".
    fn before_write(&self, operation: &str) -> object_store::Result<bool> {
        self.check_alive(operation)?;
        if !self.armed.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        match *self.crash.lock() {
            Some(Crash::AtWrite(at)) if n >= at => {
                self.dead.store(true, Ordering::SeqCst);
                Err(injected(operation))
            }
            Some(Crash::AfterWrite(at)) if n >= at => Ok(true),
            _ => Ok(false),
        }
    }

    fn after_write<T>(
        &self,
        result: object_store::Result<T>,
        die: bool,
        operation: &str,
    ) -> object_store::Result<T> {
        if die {
            self.dead.store(true, Ordering::SeqCst);
            return Err(injected(operation));
        }
        result
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let die = self.before_write("put")?;
        let result = self.inner.put_opts(location, payload, opts).await;
        self.after_write(result, die, "put")
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let die = self.before_write("multipart put")?;
        let result = self.inner.put_multipart_opts(location, opts).await;
        self.after_write(result, die, "multipart put")
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.check_alive("get")?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.check_alive("get")?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        if let Err(error) = self.before_write("delete") {
            return futures::stream::once(async move { Err(error) }).boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        if let Err(error) = self.check_alive("list") {
            return futures::stream::once(async move { Err(error) }).boxed();
        }
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.check_alive("list")?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let die = self.before_write("copy")?;
        let result = self.inner.copy_opts(from, to, options).await;
        self.after_write(result, die, "copy")
    }
}

fn config(dir: &std::path::Path, store: Arc<dyn ObjectStore>) -> StorageConfig {
    let mut config = StorageConfig::new(dir.to_path_buf(), store);
    config.node_id = "node-a".into();
    config
}

/// The spans acknowledged in every scenario: prod gets traces 1 and 2, dev trace 3. Span 1 is
/// cut into a block first (so a block index cache exists when there is one); the rest is in the
/// head when the crash comes.
async fn acknowledge(storage: &Storage) {
    storage
        .append(&common::batch(
            "prod",
            "api",
            vec![common::span(1, 1, None)],
        ))
        .await
        .unwrap();
    storage.cut().await.unwrap().expect("a first cut");
    storage
        .append(&common::batch(
            "prod",
            "api",
            vec![common::span(2, 2, None)],
        ))
        .await
        .unwrap();
    storage
        .append(&common::batch("dev", "api", vec![common::span(3, 3, None)]))
        .await
        .unwrap();
    storage
        .append(&common::batch(
            "prod",
            "api",
            vec![common::span(1, 4, None)],
        ))
        .await
        .unwrap();
}

/// Every span id of an environment, sorted; duplicates show as repeats.
async fn span_ids(storage: &Arc<Storage>, environment: &'static str) -> Vec<u8> {
    let mut ids = Vec::new();
    for trace in [1u8, 2, 3] {
        let records = storage
            .trace_records(environment, &TraceId::from_bytes([trace; 16]))
            .await
            .unwrap();
        ids.extend(records.iter().map(|r| r.span.span_id.as_bytes()[0]));
    }
    assert_eq!(
        common::scanned_rows(storage, environment).await,
        ids.len(),
        "{environment}: the scan and the trace lookups disagree"
    );
    ids.sort_unstable();
    ids
}

async fn assert_exactly_once(storage: &Arc<Storage>, context: &str) {
    assert_eq!(
        span_ids(storage, "prod").await,
        [1, 2, 4],
        "prod, {context}"
    );
    assert_eq!(span_ids(storage, "dev").await, [3], "dev, {context}");
}

/// Restarts on the real store (as the server does: open, then a first refresh), checks, cuts
/// again, restarts again and checks once more.
async fn restart_and_verify(dir: &std::path::Path, context: &str) {
    let storage = Arc::new(Storage::open(config(dir, local_store(dir))).await.unwrap());
    storage.refresh_blocks().await.unwrap();
    assert_exactly_once(&storage, &format!("{context}, after restart")).await;
    storage.cut().await.unwrap();
    assert_exactly_once(&storage, &format!("{context}, after the next cut")).await;
    drop(storage);
    let storage = Arc::new(Storage::open(config(dir, local_store(dir))).await.unwrap());
    storage.refresh_blocks().await.unwrap();
    assert_eq!(
        storage.replay_report().records,
        0,
        "{context}: the second cut covered the WAL"
    );
    assert_exactly_once(&storage, &format!("{context}, after the second restart")).await;
}

/// Runs one scenario; returns how many writes the cut attempted.
async fn crash_during_cut(crash: Option<Crash>, with_cache: bool) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let faulty = Arc::new(FaultyStore::new(local_store(dir.path())));
    let mut config = config(dir.path(), Arc::clone(&faulty) as Arc<dyn ObjectStore>);
    if !with_cache {
        config.block_index_cache = None;
    }
    let storage = Arc::new(Storage::open(config).await.unwrap());
    acknowledge(&storage).await;
    faulty.arm(crash);
    let outcome = storage.cut().await;
    if crash.is_none() {
        outcome.unwrap().expect("a cut");
    }
    let writes = faulty.writes.load(Ordering::SeqCst);
    drop(storage);
    restart_and_verify(dir.path(), &format!("{crash:?}, cache {with_cache}")).await;
    writes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_write_of_a_cut_loses_nothing_and_duplicates_nothing() {
    let writes = crash_during_cut(None, true).await;
    // Two blocks (data, trace index, meta each) and the node checkpoint.
    assert!(writes >= 7, "a clean cut made {writes} writes");
    for with_cache in [true, false] {
        for n in 1..=writes {
            crash_during_cut(Some(Crash::AtWrite(n)), with_cache).await;
            crash_during_cut(Some(Crash::AfterWrite(n)), with_cache).await;
        }
    }
}
