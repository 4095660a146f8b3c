//! The WAL writer: one thread that owns the open segment and commits appends in groups.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::frame;
use super::segment::segment_path;
use super::{FsyncPolicy, WalConfig, WalStats};
use crate::durable::sync_dir;
use crate::StorageError;

/// An append waiting in a commit group: its payload and whom to tell.
type PendingAppend = (Vec<u8>, oneshot::Sender<Result<(), StorageError>>);

/// Why a commit group failed, told to each of its appenders as a [`StorageError`].
#[derive(Clone)]
struct Failure {
    path: PathBuf,
    kind: std::io::ErrorKind,
    message: String,
    /// The WAL takes no more appends (a failed write could not be cut back off the segment).
    broken: bool,
}

impl Failure {
    fn to_error(&self) -> StorageError {
        if self.broken {
            return StorageError::Closed(self.message.clone());
        }
        StorageError::io(
            "append to the write-ahead log",
            &self.path,
            std::io::Error::new(self.kind, self.message.clone()),
        )
    }
}

pub(super) enum WalRequest {
    /// Make a record durable.
    Append {
        payload: Vec<u8>,
        done: oneshot::Sender<Result<(), StorageError>>,
    },
    /// Close the open segment and start the next; answers with the closed segment's sequence.
    Rotate {
        done: oneshot::Sender<Result<u64, StorageError>>,
    },
}

struct OpenSegment {
    path: PathBuf,
    file: File,
    len: u64,
    sequence: u64,
}

impl OpenSegment {
    fn create(dir: &Path, sequence: u64) -> Result<Self, StorageError> {
        let path = segment_path(dir, sequence);
        let mut file = File::options()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| StorageError::io("create", &path, e))?;
        let ready = file
            .write_all(&frame::header())
            .and_then(|()| file.sync_all())
            .map_err(|e| StorageError::io("write", &path, e))
            .and_then(|()| sync_dir(dir));
        if let Err(error) = ready {
            // Leave no half-made segment behind (a full disk), so the next try can create it.
            let _ = std::fs::remove_file(&path);
            return Err(error);
        }
        Ok(Self {
            path,
            file,
            len: frame::HEADER_LEN as u64,
            sequence,
        })
    }
}

pub(super) struct Writer {
    config: WalConfig,
    segment: OpenSegment,
    stats: Arc<WalStats>,
    buffer: Vec<u8>,
    /// Set once a failed write could not be rolled back; every later append fails with it.
    broken: Option<String>,
}

impl Writer {
    pub(super) fn new(
        config: WalConfig,
        next_sequence: u64,
        stats: Arc<WalStats>,
    ) -> Result<Self, StorageError> {
        let segment = OpenSegment::create(&config.dir, next_sequence)?;
        Ok(Self {
            config,
            segment,
            stats,
            buffer: Vec::new(),
            broken: None,
        })
    }

    /// Runs until every sender is gone, committing whatever has queued up since the last commit.
    /// A rotation request commits the appends queued before it first, so it seals exactly them.
    pub(super) fn run(mut self, mut requests: mpsc::Receiver<WalRequest>) {
        let group_limit = match self.config.fsync {
            FsyncPolicy::Always => 1,
            FsyncPolicy::Group | FsyncPolicy::Never => usize::MAX,
        };
        let mut pending = None;
        loop {
            let first = match pending.take() {
                Some(request) => request,
                None => match requests.blocking_recv() {
                    Some(request) => request,
                    None => return,
                },
            };
            let (payload, done) = match first {
                WalRequest::Append { payload, done } => (payload, done),
                WalRequest::Rotate { done } => {
                    let _ = done.send(self.rotate_on_request());
                    continue;
                }
            };
            let mut group = vec![(payload, done)];
            let mut group_bytes = group[0].0.len();
            while group.len() < group_limit && group_bytes < self.config.max_group_bytes {
                match requests.try_recv() {
                    Ok(WalRequest::Append { payload, done }) => {
                        group_bytes += payload.len();
                        group.push((payload, done));
                    }
                    Ok(rotate) => {
                        pending = Some(rotate);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let outcome = self.commit(&group);
            for (_, done) in group {
                let _ = done.send(outcome.clone().map_err(|failure| failure.to_error()));
            }
        }
    }

    fn rotate_on_request(&mut self) -> Result<u64, StorageError> {
        if let Some(reason) = &self.broken {
            return Err(StorageError::Closed(reason.clone()));
        }
        let sealed = self.segment.sequence;
        self.rotate()?;
        Ok(sealed)
    }

    fn commit(&mut self, group: &[PendingAppend]) -> Result<(), Failure> {
        if let Some(reason) = &self.broken {
            return Err(Failure {
                path: self.segment.path.clone(),
                kind: std::io::ErrorKind::Other,
                message: reason.clone(),
                broken: true,
            });
        }
        let committed_len = self.segment.len;
        self.buffer.clear();
        for (payload, _) in group {
            frame::encode_record(&mut self.buffer, payload);
        }
        if let Err(error) = self.write_and_sync() {
            tracing::error!(%error, "WAL append failed; nothing of this group is acknowledged");
            self.roll_back(committed_len);
            let kind = match &error {
                StorageError::Io { source, .. } => source.kind(),
                _ => std::io::ErrorKind::Other,
            };
            return Err(Failure {
                path: self.segment.path.clone(),
                kind,
                message: error.to_string(),
                broken: self.broken.is_some(),
            });
        }
        self.stats
            .record_commit(group.len() as u64, self.buffer.len() as u64);
        if self.segment.len >= self.config.segment_bytes {
            // A full disk can refuse the new segment; the group is durable all the same, so
            // keep appending to this one and try again after the next commit.
            if let Err(error) = self.rotate() {
                tracing::warn!(%error, "cannot start a new WAL segment yet; the current one grows");
            }
        }
        Ok(())
    }

    fn write_and_sync(&mut self) -> Result<(), StorageError> {
        let path = &self.segment.path;
        self.segment
            .file
            .write_all(&self.buffer)
            .map_err(|e| StorageError::io("write", path, e))?;
        if self.config.fsync != FsyncPolicy::Never {
            let started = Instant::now();
            self.sync_segment()
                .map_err(|e| StorageError::io("sync", path, e))?;
            self.stats.record_fsync(started.elapsed());
        }
        self.segment.len += self.buffer.len() as u64;
        Ok(())
    }

    fn sync_segment(&self) -> std::io::Result<()> {
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering;
            let failing = &self.config.failing_syncs;
            if failing
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(std::io::Error::other("injected fsync failure"));
            }
        }
        self.segment.file.sync_data()
    }

    /// Cuts a partially written group off the segment so later records stay framed; if even
    /// that fails, the WAL stops taking appends rather than write after garbage.
    fn roll_back(&mut self, committed: u64) {
        let reset = self
            .segment
            .file
            .set_len(committed)
            .and_then(|()| self.segment.file.sync_all());
        match reset {
            Ok(()) => self.segment.len = committed,
            Err(error) => {
                let message = format!("cannot roll back a failed WAL write: {error}");
                tracing::error!(path = %self.segment.path.display(), %message);
                self.broken = Some(message);
            }
        }
    }

    fn rotate(&mut self) -> Result<(), StorageError> {
        self.segment = OpenSegment::create(&self.config.dir, self.segment.sequence + 1)?;
        self.stats.record_rotation();
        Ok(())
    }
}
