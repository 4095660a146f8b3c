//! The WAL checkpoint (`<wal-dir>/checkpoint.json`, format v1): the last WAL segment whose
//! records are all in published blocks. Written atomically (temporary file, fsync, rename,
//! directory fsync) after a cut's blocks are published and before its segments are deleted.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::StorageError;

const FILE: &str = "checkpoint.json";

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    version: u32,
    through_segment: u64,
}

/// The checkpointed segment, or 0 when there is none yet.
pub(crate) fn read(wal_dir: &Path) -> Result<u64, StorageError> {
    let path = wal_dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(StorageError::io("read", &path, error)),
    };
    let corrupt = |reason: String| StorageError::Corrupt {
        path: path.clone(),
        what: "WAL checkpoint",
        reason,
    };
    let checkpoint: Checkpoint = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if checkpoint.version != 1 {
        return Err(corrupt(format!(
            "version {} is not supported",
            checkpoint.version
        )));
    }
    Ok(checkpoint.through_segment)
}

/// Records that every segment up to `through_segment` is published.
pub(crate) fn write(wal_dir: &Path, through_segment: u64) -> Result<(), StorageError> {
    let text = serde_json::to_vec(&Checkpoint {
        version: 1,
        through_segment,
    })
    .map_err(|e| StorageError::Codec(e.to_string()))?;
    crate::durable::write_file_durably(&wal_dir.join(FILE), &text)
}
