//! Files that must survive a power cut: written whole beside their final name, synced, renamed
//! over it, and the directory synced, so after a crash the name holds the old bytes or the new
//! ones, never an empty or half-written file. They are created owner-only (0600): the data
//! directory's state files (keys with AWS secrets among them) are nobody else's business.

use std::io::Write;
use std::path::Path;

use crate::StorageError;

/// Replaces `path` with `bytes` atomically and durably.
pub fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = parent_of(path);
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.tmp"));
    // A temporary left by a crash may have other permissions; start from nothing.
    let _ = std::fs::remove_file(&temporary);
    let mut file = private_file(&temporary)?;
    file.write_all(bytes)
        .map_err(|e| StorageError::io("write", &temporary, e))?;
    file.sync_all()
        .map_err(|e| StorageError::io("sync", &temporary, e))?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(|e| StorageError::io("rename", path, e))?;
    sync_dir(dir)
}

fn private_file(path: &Path) -> Result<std::fs::File, StorageError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map_err(|e| StorageError::io("create", path, e))
}

/// Makes a directory's entries (a created, renamed or removed file) durable.
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    std::fs::File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|e| StorageError::io("sync directory", dir, e))
}

/// Syncs a file's bytes and then its directory entry.
pub(crate) fn sync_file_and_dir(path: &Path) -> Result<(), StorageError> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|e| StorageError::io("sync", path, e))?;
    sync_dir(parent_of(path))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_durable_write_replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_file_durably(&path, b"first").unwrap();
        write_file_durably(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }
}
