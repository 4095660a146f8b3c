//! Damaged segments, kept aside in `<wal>/quarantine/` instead of being repaired away.
//!
//! A segment lands here when replay finds damage that a torn last write cannot explain. While it
//! is named `wal-<sequence>.log` the server refuses to start; once an operator starts with
//! `--wal-skip-damaged` it is renamed `wal-<sequence>.log.skipped`, and from then on its intact
//! records are replayed like any segment's until a checkpoint covers them. The file itself is
//! never deleted by Combray: it is the evidence, and the only copy of what lies past the damage.

use std::path::{Path, PathBuf};

use super::segment::{segment_file_name, sequence_of};
use crate::durable::sync_dir;
use crate::StorageError;

const DIR: &str = "quarantine";
const SKIPPED: &str = ".skipped";

/// Whether an operator has accepted a quarantined segment's damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarantineState {
    /// Found damaged; start-up is refused until an operator decides.
    Refused,
    /// Started once with `--wal-skip-damaged`: its intact records are replayed, the rest kept.
    Skipped,
}

/// The quarantine directory of the WAL in `wal_dir`.
pub(crate) fn quarantine_dir(wal_dir: &Path) -> PathBuf {
    wal_dir.join(DIR)
}

/// Every quarantined segment, oldest first.
pub(crate) fn list(wal_dir: &Path) -> Result<Vec<(u64, PathBuf, QuarantineState)>, StorageError> {
    let dir = quarantine_dir(wal_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(StorageError::io("list", &dir, error)),
    };
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list", &dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let (name, state) = match name.strip_suffix(SKIPPED) {
            Some(name) => (name.to_owned(), QuarantineState::Skipped),
            None => (name, QuarantineState::Refused),
        };
        if let Some(sequence) = sequence_of(&name) {
            segments.push((sequence, entry.path(), state));
        }
    }
    segments.sort_unstable_by_key(|(sequence, _, _)| *sequence);
    Ok(segments)
}

/// Moves a live segment into quarantine in `state`; returns its new path. Both directories are
/// synced, so a crash leaves the segment in exactly one of them.
pub(crate) fn admit(
    wal_dir: &Path,
    segment: &Path,
    sequence: u64,
    state: QuarantineState,
) -> Result<PathBuf, StorageError> {
    let dir = quarantine_dir(wal_dir);
    std::fs::create_dir_all(&dir).map_err(|e| StorageError::io("create", &dir, e))?;
    sync_dir(wal_dir)?;
    let target = dir.join(file_name(sequence, state));
    std::fs::rename(segment, &target).map_err(|e| StorageError::io("quarantine", segment, e))?;
    sync_dir(&dir)?;
    sync_dir(wal_dir)?;
    Ok(target)
}

/// Marks a refused quarantined segment as skipped by the operator; returns its new path.
pub(crate) fn mark_skipped(
    wal_dir: &Path,
    path: &Path,
    sequence: u64,
) -> Result<PathBuf, StorageError> {
    let dir = quarantine_dir(wal_dir);
    let target = dir.join(file_name(sequence, QuarantineState::Skipped));
    std::fs::rename(path, &target).map_err(|e| StorageError::io("rename", path, e))?;
    sync_dir(&dir)?;
    Ok(target)
}

fn file_name(sequence: u64, state: QuarantineState) -> String {
    let name = segment_file_name(sequence);
    match state {
        QuarantineState::Refused => name,
        QuarantineState::Skipped => format!("{name}{SKIPPED}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admitted_segments_are_listed_with_their_state() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path();
        for sequence in [3, 7] {
            std::fs::write(super::super::segment::segment_path(wal, sequence), b"x").unwrap();
        }
        let seven = admit(
            wal,
            &super::super::segment::segment_path(wal, 7),
            7,
            QuarantineState::Refused,
        )
        .unwrap();
        admit(
            wal,
            &super::super::segment::segment_path(wal, 3),
            3,
            QuarantineState::Skipped,
        )
        .unwrap();
        let listed = list(wal).unwrap();
        let states: Vec<_> = listed.iter().map(|(s, _, state)| (*s, *state)).collect();
        assert_eq!(
            states,
            vec![(3, QuarantineState::Skipped), (7, QuarantineState::Refused)]
        );
        let skipped = mark_skipped(wal, &seven, 7).unwrap();
        assert!(skipped.to_string_lossy().ends_with(".log.skipped"));
        assert!(list(wal)
            .unwrap()
            .iter()
            .all(|(_, _, state)| *state == QuarantineState::Skipped));
        assert!(!super::super::segment::segment_path(wal, 7).exists());
    }
}
