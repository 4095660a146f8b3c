//! A journal of the PutTraceSegments documents that wait in the assembler, so acknowledging
//! them means what it means for every other span: they survive a crash.
//!
//! A document that waits (a subsegment whose parent has not come, an in-progress segment) is
//! not in the storage WAL yet: its service is not known, or a complete version may replace it.
//! PutTraceSegments answers only after the document's text is in this journal; when the
//! document leaves the waiting room (its spans made durable in the storage WAL, or superseded)
//! a release record follows. At start, documents held and never released are put back into the
//! assembler, so a parent that arrives after the restart still adopts them.
//!
//! The journal is a storage [`Wal`] of its own (`<data dir>/xray-held`); each append is a JSON
//! list of `{"environment", "hold": [document text], "release": [[trace id, id]]}`. Once enough
//! bytes have been written, it is compacted: the log is rotated, everything still held is
//! written again in one record, and the older segments are deleted.
//!
//! Delivery is at least once: a crash after a released document's spans are in the storage WAL
//! but before its release record is written stores it again at the next start (X-Ray reads keep
//! one copy per id). Documents that came by UDP are never acknowledged and are not journaled.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use combray_model::{SpanId, TraceId};
use combray_storage::wal::{FsyncPolicy, Wal, WalConfig};
use combray_storage::StorageError;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Bytes written after which the journal is compacted.
const COMPACT_AFTER_BYTES: u64 = 16 * 1024 * 1024;

/// A waiting document's key within its environment: trace id, document id.
type Key = (TraceId, SpanId);

/// Journaled documents' texts by environment, then key. Keyed by environment first so that a
/// lookup (one per departure, on the UDP path too) allocates nothing.
type HeldMap = HashMap<String, HashMap<Key, String>>;

#[derive(Serialize, Deserialize, Default)]
struct Record {
    environment: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hold: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    release: Vec<Key>,
}

/// A document to journal as held: its key and its original text.
pub(crate) struct HeldDocument {
    /// Trace id.
    pub trace_id: TraceId,
    /// Document id.
    pub id: SpanId,
    /// The document as received.
    pub text: String,
}

/// The journal. Its map is what the journal says is held, kept in step with the log.
pub(crate) struct HeldJournal {
    wal: Wal,
    held: Mutex<HeldMap>,
    compacted_at_bytes: AtomicU64,
    compact_after_bytes: u64,
}

/// Finds a held document's key (trace id, id) in its text; `None` if it no longer parses.
pub(crate) type KeyOf<'a> = &'a dyn Fn(&str) -> Option<Key>;

impl HeldJournal {
    /// Opens the journal in `dir`; returns it and the documents (environment, text) that were
    /// held and never released, oldest first.
    pub(crate) fn open(
        dir: &Path,
        fsync: FsyncPolicy,
        key_of: KeyOf<'_>,
    ) -> Result<(Self, Vec<(String, String)>), StorageError> {
        let mut config = WalConfig::new(dir.to_path_buf());
        config.fsync = fsync;
        config.segment_bytes = 4 * COMPACT_AFTER_BYTES;
        let mut held = HeldMap::new();
        let mut order: Vec<(String, Key)> = Vec::new();
        let (wal, _) = Wal::open(config, |payload| {
            match serde_json::from_slice::<Vec<Record>>(payload) {
                Ok(records) => {
                    for record in records {
                        replay_record(record, key_of, &mut held, &mut order);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "skipping an X-Ray held-documents record that does not decode");
                }
            }
            Ok(())
        })?;
        // A key held, released and held again appears twice in `order`; restore it once.
        let mut restored_keys = HashSet::new();
        let restored = order
            .into_iter()
            .filter_map(|(environment, key)| {
                let text = held.get(&environment)?.get(&key)?.clone();
                restored_keys
                    .insert((environment.clone(), key))
                    .then_some((environment, text))
            })
            .collect();
        let journal = Self {
            wal,
            held: Mutex::new(held),
            compacted_at_bytes: AtomicU64::new(0),
            compact_after_bytes: COMPACT_AFTER_BYTES,
        };
        Ok((journal, restored))
    }

    /// Documents the journal holds now.
    pub(crate) fn len(&self) -> usize {
        self.held.lock().values().map(HashMap::len).sum()
    }

    /// Records that documents now wait and that others left; returns once that is durable.
    /// Departures of documents the journal never held (UDP's) cost a map lookup and no write.
    pub(crate) async fn record(
        &self,
        environment: &str,
        held: Vec<HeldDocument>,
        departed: &[Key],
    ) -> Result<(), StorageError> {
        if held.is_empty() && !self.holds_any(environment, departed) {
            return Ok(());
        }
        let slot = self.wal.reserve().await?;
        // The map changes and the record is queued under one lock, so the log's order is the
        // map's order even when requests race.
        let durable = {
            let mut held_by_environment = self.held.lock();
            let map = held_by_environment
                .entry(environment.to_owned())
                .or_default();
            let mut record = Record {
                environment: environment.to_owned(),
                ..Record::default()
            };
            // Holds first: a document held and released within one batch (its parent came
            // later in the same request) must end up released, here and on replay, which
            // applies a record's holds before its releases.
            for document in held {
                let key = (document.trace_id, document.id);
                if map.get(&key) != Some(&document.text) {
                    map.insert(key, document.text.clone());
                    record.hold.push(document.text);
                }
            }
            for key in departed {
                if map.remove(key).is_some() {
                    record.release.push(*key);
                }
            }
            if record.hold.is_empty() && record.release.is_empty() {
                return Ok(());
            }
            slot.append(encode(std::slice::from_ref(&record))?)
        };
        durable.await
    }

    /// Whether any of these documents is journaled (most departures are of UDP documents).
    fn holds_any(&self, environment: &str, keys: &[Key]) -> bool {
        if keys.is_empty() {
            return false;
        }
        let held = self.held.lock();
        held.get(environment)
            .is_some_and(|map| keys.iter().any(|key| map.contains_key(key)))
    }

    /// Rewrites the journal as only what is held now, once enough has been written since the
    /// last time. Records appended meanwhile land after the rotation and stay valid.
    pub(crate) async fn compact_if_due(&self) -> Result<(), StorageError> {
        let written = self.wal.stats().bytes.load(Ordering::Relaxed);
        let compacted_at = self.compacted_at_bytes.load(Ordering::Relaxed);
        if written.saturating_sub(compacted_at) < self.compact_after_bytes {
            return Ok(());
        }
        let sealed = self.wal.rotate().await?;
        let slot = self.wal.reserve().await?;
        let durable = {
            let held = self.held.lock();
            let records: Vec<Record> = held
                .iter()
                .filter(|(_, map)| !map.is_empty())
                .map(|(environment, map)| Record {
                    environment: environment.clone(),
                    hold: map.values().cloned().collect(),
                    release: Vec::new(),
                })
                .collect();
            slot.append(encode(&records)?)
        };
        durable.await?;
        self.wal.remove_segments_through(sealed)?;
        let written = self.wal.stats().bytes.load(Ordering::Relaxed);
        self.compacted_at_bytes.store(written, Ordering::Relaxed);
        Ok(())
    }
}

fn encode(records: &[Record]) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(records).map_err(|e| StorageError::Codec(e.to_string()))
}

fn replay_record(
    record: Record,
    key_of: KeyOf<'_>,
    held: &mut HeldMap,
    order: &mut Vec<(String, Key)>,
) {
    let map = held.entry(record.environment.clone()).or_default();
    for text in record.hold {
        let Some(key) = key_of(&text) else {
            tracing::error!("skipping a held X-Ray document that no longer parses");
            continue;
        };
        if map.insert(key, text).is_none() {
            order.push((record.environment.clone(), key));
        }
    }
    for key in record.release {
        map.remove(&key);
    }
}

#[cfg(test)]
#[path = "held_tests.rs"]
mod tests;
