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
        let mut dump = SegmentDump {
            sequence,
            path,
            bytes: bytes.len() as u64,
            records: Vec::new(),
            problem: None,
            quarantine,
        };
        if let Err(problem) = frame::check_header(&bytes) {
            dump.problem = Some(format!("header: {problem:?}"));
            segments.push(dump);
            continue;
        }
        let mut offset = frame::HEADER_LEN;
        loop {
            match frame::decode_record(&bytes, offset) {
                Decoded::Record {
                    payload,
                    next_offset,
                } => {
                    dump.records.push((offset, payload.to_vec()));
                    offset = next_offset;
                }
                Decoded::End => break,
                Decoded::Torn => {
                    dump.problem = Some(format!(
                        "torn record at offset {offset} ({} bytes)",
                        bytes.len() - offset
                    ));
                    break;
                }
                Decoded::Corrupt(reason) => {
                    dump.problem = Some(format!("{reason} at offset {offset}"));
                    break;
                }
            }
        }
        segments.push(dump);
    }
    progress(total, total);
    Ok(segments)
}
