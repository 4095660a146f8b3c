//! A read-only look at the WAL for operators (`combray wal dump`): nothing is repaired.

use std::path::{Path, PathBuf};

use super::frame::{self, Decoded};
use super::quarantine::{self, QuarantineState};
use super::segment::list_segments;
use crate::StorageError;

/// One segment as found on disk.
#[derive(Debug, Clone)]
pub struct SegmentDump {
    /// Sequence number.
    pub sequence: u64,
    /// File.
    pub path: PathBuf,
    /// File size.
    pub bytes: u64,
    /// Intact records: offset and payload.
    pub records: Vec<(usize, Vec<u8>)>,
    /// What is wrong past the last intact record, if anything.
    pub problem: Option<String>,
    /// Set for a segment kept in `wal/quarantine/`.
    pub quarantine: Option<QuarantineState>,
}

/// Reads every segment, live and quarantined, in sequence order, without changing any.
/// `progress` is told `(segments read, segments)` before each segment and once at the end.
pub fn dump(dir: &Path, progress: &dyn Fn(usize, usize)) -> Result<Vec<SegmentDump>, StorageError> {
    let mut listed: Vec<_> = list_segments(dir)?
        .into_iter()
        .map(|(sequence, path)| (sequence, path, None))
        .collect();
    for (sequence, path, state) in quarantine::list(dir)? {
        listed.push((sequence, path, Some(state)));
    }
    listed.sort_by_key(|(sequence, _, _)| *sequence);
    let total = listed.len();
    let mut segments = Vec::new();
    for (index, (sequence, path, quarantine)) in listed.into_iter().enumerate() {
        progress(index, total);
        let bytes = std::fs::read(&path).map_err(|e| StorageError::io("read", &path, e))?;
        let (records, problem) = scan_segment(&bytes);
        segments.push(SegmentDump {
            sequence,
            bytes: bytes.len() as u64,
            records: records
                .into_iter()
                .map(|(offset, payload)| (offset, payload.to_vec()))
                .collect(),
            problem,
            quarantine,
            path,
        });
    }
    progress(total, total);
    Ok(segments)
}

/// The intact records of a segment's bytes (offset and payload), and what is wrong past the
/// last of them, if anything. Reads only; a pure function of the bytes.
pub fn scan_segment(bytes: &[u8]) -> (Vec<(usize, &[u8])>, Option<String>) {
    if let Err(problem) = frame::check_header(bytes) {
        return (Vec::new(), Some(format!("header: {problem:?}")));
    }
    let mut records = Vec::new();
    let mut offset = frame::HEADER_LEN;
    loop {
        match frame::decode_record(bytes, offset) {
            Decoded::Record {
                payload,
                next_offset,
            } => {
                records.push((offset, payload));
                offset = next_offset;
            }
            Decoded::End => return (records, None),
            Decoded::Torn => {
                let problem = format!(
                    "torn record at offset {offset} ({} bytes)",
                    bytes.len() - offset
                );
                return (records, Some(problem));
            }
            Decoded::Corrupt(reason) => {
                return (records, Some(format!("{reason} at offset {offset}")));
            }
        }
    }
}
