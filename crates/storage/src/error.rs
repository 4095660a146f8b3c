//! The storage crate's error type.

use std::path::PathBuf;

/// What kind of storage failure happened, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The operating system refused a read, write or sync.
    Io,
    /// Stored bytes are not what Combray wrote.
    Corrupt,
    /// The storage is shutting down or its writer died.
    Closed,
    /// The in-memory head is full; the caller should retry later.
    Full,
}

/// A storage failure with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O call failed on a path.
    #[error("{action} {path}: {source}")]
    Io {
        /// What Combray was doing.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file does not hold what Combray writes.
    #[error("{path} is not a valid {what}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the file should be.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A WAL segment holds damage a torn last write cannot explain; it was moved to quarantine.
    #[error("WAL segment {segment} is damaged at byte {offset}: {reason}. It may hold acknowledged spans, so Combray will not start without it. The segment is kept in {quarantined} (`combray wal dump` reads it). To start anyway, replaying its intact records and keeping the damaged copy, pass --wal-skip-damaged")]
    WalDamaged {
        /// Where the segment was found.
        segment: PathBuf,
        /// Where it is kept now.
        quarantined: PathBuf,
        /// Byte offset of the damage in the segment.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A record could not be serialized or deserialized.
    #[error("cannot encode or decode a WAL record: {0}")]
    Codec(String),
    /// The write-ahead log no longer accepts appends.
    #[error("the write-ahead log is closed: {0}")]
    Closed(String),
    /// The in-memory head holds as much as it may.
    #[error("the in-memory head is full ({bytes} bytes of at most {limit})")]
    HeadFull {
        /// Bytes held now.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },
}

impl StorageError {
    /// The kind, for branching without matching on messages.
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            Self::Io { .. } => StorageErrorKind::Io,
            Self::Corrupt { .. } | Self::WalDamaged { .. } | Self::Codec(_) => {
                StorageErrorKind::Corrupt
            }
            Self::Closed(_) => StorageErrorKind::Closed,
            Self::HeadFull { .. } => StorageErrorKind::Full,
        }
    }

    pub(crate) fn object_store(action: &'static str, error: object_store::Error) -> Self {
        Self::io(
            action,
            "object store",
            std::io::Error::other(error.to_string()),
        )
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
