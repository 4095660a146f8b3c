//! The write-ahead log: every accepted batch is framed, appended and made durable under a named
//! fsync policy before the caller may acknowledge it.
//!
//! One writer thread owns the open segment. Appenders hand it a payload and wait on a oneshot;
//! the thread takes everything that has queued up since its last commit, writes it with one
//! `write` and one `fdatasync` ([`FsyncPolicy::Group`], the default), and answers every waiter.
//! Under load this turns hundreds of concurrent requests into one disk sync.

mod dump;
mod frame;
mod quarantine;
mod replay;
mod segment;
mod writer;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use dump::{dump, scan_segment, SegmentDump};
pub use quarantine::QuarantineState;
pub use replay::ReplayReport;

use crate::metrics::LatencyHistogram;
use crate::StorageError;

/// When appended records are forced to disk before they are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Concurrent appends share one `fdatasync`: durable and fast (the default).
    #[default]
    Group,
    /// Every append gets its own `fdatasync`: durable, slowest, simplest to reason about.
    Always,
    /// Never sync; the OS writes back when it likes. Survives a process crash, not a power cut.
    Never,
}

impl FromStr for FsyncPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "group" => Ok(Self::Group),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => Err(format!(
                "unknown fsync policy {other:?}: use group, always or never"
            )),
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Group => "group",
            Self::Always => "always",
            Self::Never => "never",
        })
    }
}

/// How the WAL is laid out and synced.
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// Directory holding the segments.
    pub dir: PathBuf,
    /// Durability policy.
    pub fsync: FsyncPolicy,
    /// A segment is closed and a new one started once it passes this size.
    pub segment_bytes: u64,
    /// Most payload bytes committed with one sync.
    pub max_group_bytes: usize,
    /// Appends that may wait for the writer at once.
    pub queue_depth: usize,
    /// Start even when a segment is damaged beyond a torn last write: replay its intact
    /// records and keep the damaged copy in quarantine (`--wal-skip-damaged`).
    pub skip_damaged: bool,
    /// Tests: how many of the next syncs fail, as a failing disk's would.
    #[cfg(test)]
    pub(crate) failing_syncs: Arc<AtomicU64>,
}

impl WalConfig {
    /// Defaults for a WAL in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            fsync: FsyncPolicy::Group,
            segment_bytes: 128 * 1024 * 1024,
            max_group_bytes: 32 * 1024 * 1024,
            queue_depth: 4096,
            skip_damaged: false,
            #[cfg(test)]
            failing_syncs: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// Counters the WAL keeps for `/metrics`.
#[derive(Debug, Default)]
pub struct WalStats {
    /// Records made durable.
    pub records: AtomicU64,
    /// Commit groups written (one sync each under the group policy).
    pub commits: AtomicU64,
    /// Framed bytes written.
    pub bytes: AtomicU64,
    /// Segments started after the first.
    pub rotations: AtomicU64,
    /// Time spent in `fdatasync`.
    pub fsync_latency: LatencyHistogram,
}

impl WalStats {
    fn record_commit(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn record_fsync(&self, elapsed: Duration) {
        self.fsync_latency.observe(elapsed);
    }

    fn record_rotation(&self) {
        self.rotations.fetch_add(1, Ordering::Relaxed);
    }
}

/// An open write-ahead log.
pub struct Wal {
    dir: PathBuf,
    sender: Option<mpsc::Sender<writer::WalRequest>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<WalStats>,
}

impl Wal {
    /// Replays every intact record into `consume`, oldest first, then opens a fresh segment for
    /// appends. A torn last write is truncated and reported; other damage quarantines its
    /// segment and fails with [`StorageError::WalDamaged`] unless `skip_damaged` is set.
    pub fn open(
        config: WalConfig,
        consume: impl FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<(Self, ReplayReport), StorageError> {
        Self::open_after_checkpoint(config, 0, consume)
    }

    /// Like [`Wal::open`], but segments at or below `checkpoint` hold records already published
    /// elsewhere (blocks): they are deleted instead of replayed.
    pub fn open_after_checkpoint(
        config: WalConfig,
        checkpoint: u64,
        consume: impl FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<(Self, ReplayReport), StorageError> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| StorageError::io("create", &config.dir, e))?;
        let options = replay::ReplayOptions {
            skip_damaged: config.skip_damaged,
            // A commit group takes appends until it passes max_group_bytes, so it ends at most
            // one record past it; records come from bodies far smaller than the group limit.
            torn_tail_limit: config.max_group_bytes.saturating_mul(2),
        };
        let report = replay::replay(&config.dir, checkpoint, options, consume)?;
        let dir = config.dir.clone();
        let stats = Arc::new(WalStats::default());
        let (sender, receiver) = mpsc::channel(config.queue_depth.max(1));
        let next_sequence = report.last_sequence.max(checkpoint) + 1;
        let writer = writer::Writer::new(config, next_sequence, Arc::clone(&stats))?;
        let thread = std::thread::Builder::new()
            .name("combray-wal".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| StorageError::io("spawn WAL writer thread", PathBuf::new(), e))?;
        let wal = Self {
            dir,
            sender: Some(sender),
            thread: Some(thread),
            stats,
        };
        Ok((wal, report))
    }

    fn sender(&self) -> Result<&mpsc::Sender<writer::WalRequest>, StorageError> {
        self.sender.as_ref().ok_or_else(closed)
    }

    /// Appends one record and returns once it is durable under the configured policy.
    pub async fn append(&self, payload: Vec<u8>) -> Result<(), StorageError> {
        let (done, acknowledged) = oneshot::channel();
        let request = writer::WalRequest::Append { payload, done };
        self.sender()?.send(request).await.map_err(|_| closed())?;
        acknowledged.await.map_err(|_| closed())?
    }

    /// Takes a place in the writer's queue. Records go to the log in the order their slots'
    /// [`WalSlot::append`] calls are made, so a caller that must keep its records in step with
    /// its own state can append under its own lock without awaiting there.
    pub async fn reserve(&self) -> Result<WalSlot<'_>, StorageError> {
        let permit = self.sender()?.reserve().await.map_err(|_| closed())?;
        Ok(WalSlot { permit })
    }

    /// Seals the open segment (after committing everything queued before this call) and starts
    /// a new one. Returns the sealed segment's sequence: every record appended before this call
    /// lies in a segment at or below it, every later one above it.
    pub async fn rotate(&self) -> Result<u64, StorageError> {
        let (done, sealed) = oneshot::channel();
        let request = writer::WalRequest::Rotate { done };
        self.sender()?.send(request).await.map_err(|_| closed())?;
        sealed.await.map_err(|_| closed())?
    }

    /// Deletes every segment at or below `sequence`, once their records are safely elsewhere.
    /// Call it only with a sequence returned by [`Wal::rotate`], so the open segment survives.
    pub fn remove_segments_through(&self, sequence: u64) -> Result<usize, StorageError> {
        let mut removed = 0;
        for (segment_sequence, path) in segment::list_segments(&self.dir)? {
            if segment_sequence > sequence {
                break;
            }
            std::fs::remove_file(&path).map_err(|e| StorageError::io("remove", &path, e))?;
            removed += 1;
        }
        if removed > 0 {
            crate::durable::sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// The WAL's counters.
    pub fn stats(&self) -> &Arc<WalStats> {
        &self.stats
    }

    /// Stops taking appends, lets the writer commit what is queued, and waits for it.
    pub fn close(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the WAL writer thread panicked");
            }
        }
    }
}

/// A reserved place in the WAL's queue (see [`Wal::reserve`]).
pub struct WalSlot<'a> {
    permit: mpsc::Permit<'a, writer::WalRequest>,
}

impl WalSlot<'_> {
    /// Queues one record at once; the returned future resolves once it is durable.
    pub fn append(
        self,
        payload: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<(), StorageError>> + Send + 'static {
        let (done, acknowledged) = oneshot::channel();
        self.permit
            .send(writer::WalRequest::Append { payload, done });
        async move { acknowledged.await.map_err(|_| closed())? }
    }
}

fn closed() -> StorageError {
    StorageError::Closed("the WAL writer has stopped".into())
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;
