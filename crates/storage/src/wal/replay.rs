//! Reading every segment back at start-up, repairing a torn or corrupt tail instead of failing.

use std::fs::OpenOptions;
use std::path::Path;

use super::frame::{self, Decoded, HeaderProblem};
use super::segment::{list_segments, sync_dir};
use crate::StorageError;

/// What replay found, for logs and metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Segments read.
    pub segments: usize,
    /// Intact records handed to the consumer.
    pub records: u64,
    /// Bytes cut off damaged tails.
    pub truncated_bytes: u64,
    /// Highest segment sequence seen; new segments continue after it.
    pub last_sequence: u64,
}

/// Reads every segment in order and calls `consume` with each intact record's payload.
///
/// A segment whose bytes stop inside a record, or whose record fails its checksum, is cut back to
/// the last intact record and the cut is logged: such bytes were never acknowledged, because an
/// append is acknowledged only after its whole record is durable. Only a segment written by a
/// newer format version stops start-up, since reading it as v1 would lose data silently.
pub(super) fn replay(
    dir: &Path,
    checkpoint: u64,
    mut consume: impl FnMut(&[u8]) -> Result<(), StorageError>,
) -> Result<ReplayReport, StorageError> {
    let mut report = ReplayReport::default();
    for (sequence, path) in list_segments(dir)? {
        report.last_sequence = sequence;
        if sequence <= checkpoint {
            // Published in blocks before the last shutdown or crash; its deletion did not finish.
            std::fs::remove_file(&path).map_err(|e| StorageError::io("remove", &path, e))?;
            continue;
        }
        report.segments += 1;
        let bytes = std::fs::read(&path).map_err(|e| StorageError::io("read", &path, e))?;
        let valid_len = match frame::check_header(&bytes) {
            Ok(()) => replay_records(&path, &bytes, &mut consume, &mut report)?,
            Err(HeaderProblem::UnsupportedVersion(version)) => {
                return Err(StorageError::Corrupt {
                    path,
                    what: "WAL segment",
                    reason: format!(
                        "format version {version} is newer than this Combray reads (1)"
                    ),
                });
            }
            Err(problem) => {
                tracing::warn!(path = %path.display(), ?problem, "removing WAL segment with a damaged header");
                std::fs::remove_file(&path).map_err(|e| StorageError::io("remove", &path, e))?;
                sync_dir(dir)?;
                report.truncated_bytes += bytes.len() as u64;
                continue;
            }
        };
        if valid_len < bytes.len() {
            truncate(&path, valid_len)?;
            report.truncated_bytes += (bytes.len() - valid_len) as u64;
        }
    }
    Ok(report)
}

fn replay_records(
    path: &Path,
    bytes: &[u8],
    consume: &mut impl FnMut(&[u8]) -> Result<(), StorageError>,
    report: &mut ReplayReport,
) -> Result<usize, StorageError> {
    let mut offset = frame::HEADER_LEN;
    loop {
        match frame::decode_record(bytes, offset) {
            Decoded::Record {
                payload,
                next_offset,
            } => {
                consume(payload)?;
                report.records += 1;
                offset = next_offset;
            }
            Decoded::End => return Ok(offset),
            Decoded::Torn => {
                tracing::warn!(path = %path.display(), offset, discarded = bytes.len() - offset, "WAL segment ends inside a record; truncating the torn tail");
                return Ok(offset);
            }
            Decoded::Corrupt(reason) => {
                tracing::warn!(path = %path.display(), offset, discarded = bytes.len() - offset, reason, "WAL record is corrupt; truncating the segment from there");
                return Ok(offset);
            }
        }
    }
}

fn truncate(path: &Path, len: usize) -> Result<(), StorageError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io("open", path, e))?;
    file.set_len(len as u64)
        .map_err(|e| StorageError::io("truncate", path, e))?;
    file.sync_all()
        .map_err(|e| StorageError::io("sync", path, e))
}
