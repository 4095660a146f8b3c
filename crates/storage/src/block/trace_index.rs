//! A block's trace index (`traces.idx`, format v1): for every trace in the block, where its rows
//! are and a summary of them, sorted by trace id so a lookup is a binary search.
//!
//! Layout: magic `CMBRYTIX`, version `u32` LE, then a postcard-encoded [`TraceIndex`], then a
//! CRC-32 (`u32` LE) of everything before it.

use combray_model::TraceId;
use serde::{Deserialize, Serialize};

use crate::StorageError;

const MAGIC: &[u8; 8] = b"CMBRYTIX";
const VERSION: u32 = 1;

/// One trace's rows in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// The trace.
    pub trace_id: TraceId,
    /// First row of the trace (rows are sorted by trace id).
    pub first_row: u32,
    /// Rows of the trace.
    pub row_count: u32,
    /// Earliest span start in this block.
    pub start_unix_nano: u64,
    /// Latest span end in this block.
    pub end_unix_nano: u64,
    /// Spans with status error.
    pub error_count: u32,
    /// Index into [`TraceIndex::names`] of the root's (or earliest span's) service.
    pub root_service: u32,
    /// Index into [`TraceIndex::names`] of the root's (or earliest span's) name.
    pub root_name: u32,
    /// Whether a span without a parent is in this block.
    pub has_root: bool,
}

/// Every trace of a block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceIndex {
    /// Strings the entries refer to.
    pub names: Vec<String>,
    /// Entries sorted by trace id.
    pub entries: Vec<TraceEntry>,
}

impl TraceIndex {
    /// The entry of a trace.
    pub fn find(&self, trace_id: &TraceId) -> Option<&TraceEntry> {
        let position = self
            .entries
            .binary_search_by(|entry| entry.trace_id.cmp(trace_id))
            .ok()?;
        Some(&self.entries[position])
    }

    /// Bytes the index takes in memory.
    pub fn memory_bytes(&self) -> usize {
        let names: usize = self
            .names
            .iter()
            .map(|n| n.capacity() + std::mem::size_of::<String>())
            .sum();
        self.entries.capacity() * std::mem::size_of::<TraceEntry>() + names
    }

    /// A name the entries refer to.
    pub fn name(&self, index: u32) -> &str {
        self.names
            .get(index as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Serialized form.
    pub fn encode(&self) -> Result<Vec<u8>, StorageError> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        postcard::to_io(self, &mut bytes).map_err(|e| StorageError::Codec(e.to_string()))?;
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        Ok(bytes)
    }

    /// Parses the serialized form, checking magic, version and checksum.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err("not a trace index".into());
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != VERSION {
            return Err(format!("trace index version {version} is not supported"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("trace index checksum does not match".into());
        }
        postcard::from_bytes(&body[12..]).map_err(|e| e.to_string())
    }
}
