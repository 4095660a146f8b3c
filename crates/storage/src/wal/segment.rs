//! Segment file naming and listing: `wal-<sequence:020>.log`, replayed in sequence order.

use std::path::{Path, PathBuf};

use crate::StorageError;

const PREFIX: &str = "wal-";
const SUFFIX: &str = ".log";

/// Path of the segment with this sequence number.
pub(crate) fn segment_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(segment_file_name(sequence))
}

/// File name of the segment with this sequence number.
pub(crate) fn segment_file_name(sequence: u64) -> String {
    format!("{PREFIX}{sequence:020}{SUFFIX}")
}

pub(crate) fn sequence_of(file_name: &str) -> Option<u64> {
    file_name
        .strip_prefix(PREFIX)?
        .strip_suffix(SUFFIX)?
        .parse()
        .ok()
}

/// Every segment in `dir`, oldest first.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io("list", dir, e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list", dir, e))?;
        let name = entry.file_name();
        if let Some(sequence) = name.to_str().and_then(sequence_of) {
            segments.push((sequence, entry.path()));
        }
    }
    segments.sort_unstable_by_key(|(sequence, _)| *sequence);
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_sequence() {
        let dir = Path::new("/wal");
        let path = segment_path(dir, 42);
        assert_eq!(path, Path::new("/wal/wal-00000000000000000042.log"));
        assert_eq!(sequence_of("wal-00000000000000000042.log"), Some(42));
        assert_eq!(sequence_of("wal-x.log"), None);
        assert_eq!(sequence_of("other.log"), None);
    }
}
