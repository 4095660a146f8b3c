//! The data directory a server owns: an exclusive lock, so one server at a time replays, cuts
//! and deletes its WAL, and the node id kept beside it.
//!
//! Two servers on one directory would each replay the other's WAL, cut it into blocks and delete
//! segments the other is still appending acknowledged spans to. The lock is an OS file lock
//! (`flock` on Linux), so it goes with the process however the process ends: a `kill -9` leaves
//! no stale lock behind. The file also holds the holder's pid, for the message a second server
//! prints. `keys create` and the read-only tools do not take it: the first writes `keys.json`
//! under a lock of its own, which a running server reads, and the others change nothing.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

use anyhow::Context;

const LOCK_FILE: &str = "LOCK";

/// Held for as long as the server runs; dropping it releases the directory.
#[derive(Debug)]
pub(crate) struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the directory, or fails at once naming the process that holds it.
    pub(crate) fn acquire(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let holder = if holder.is_empty() { "unknown" } else { holder };
                anyhow::bail!(
                    "data directory {} is in use by another combray serve (pid {holder}); \
                     stop that server or give this one its own --data-dir",
                    data_dir.display()
                );
            }
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self { _file: file })
    }
}

/// The configured node id, or the one kept in the data directory (made on first start).
pub(crate) fn node_id(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<String> {
    if let Some(node_id) = configured {
        return Ok(node_id.to_owned());
    }
    let path = data_dir.join("node_id");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        _ => {
            let node_id = format!("node-{:016x}", rand::random::<u64>());
            combray_storage::write_file_durably(&path, node_id.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(node_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let refused = DataDirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            refused.contains("in use by another combray serve"),
            "{refused}"
        );
        assert!(
            refused.contains(&format!("pid {}", std::process::id())),
            "{refused}"
        );
        drop(first);
        let _again = DataDirLock::acquire(dir.path()).unwrap();
        let holder = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(holder.trim(), std::process::id().to_string());
    }

    #[test]
    fn the_node_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let made = node_id(None, dir.path()).unwrap();
        assert!(made.starts_with("node-"));
        assert_eq!(node_id(None, dir.path()).unwrap(), made);
        assert_eq!(node_id(Some("node-a"), dir.path()).unwrap(), "node-a");
    }
}
