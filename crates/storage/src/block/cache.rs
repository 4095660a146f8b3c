//! The local block index cache (`<data-dir>/block-index.bin`, format v2): every known block's
//! meta, so start-up reads one local file instead of listing the store and reading every meta.
//! The store stays the truth: the first refresh after start reconciles. Trace indexes are not
//! in it (v1 held them): they are read when a read needs them (see `indexes`), so the file
//! stays a few kilobytes per block and rewriting it after every cut costs nothing.
//!
//! Layout: magic `CMBRYBIX`, version `u32` LE, postcard `Vec<meta JSON bytes>` then postcard
//! `Vec<String>` (superseded block ids), then CRC-32 of all before it. A v1 file is not read
//! (start-up lists the store instead) and is replaced by the first save.

use std::path::Path;
use std::sync::Arc;

use super::meta::BlockMeta;
use super::read::Block;
use super::Blocks;
use crate::StorageError;

const MAGIC: &[u8; 8] = b"CMBRYBIX";
const VERSION: u32 = 2;

type Entries = Vec<Vec<u8>>;

fn codec(error: impl std::fmt::Display) -> StorageError {
    StorageError::Codec(error.to_string())
}

impl Blocks {
    /// Writes the cache atomically (temporary file, rename).
    pub fn save_cache(&self, path: &Path) -> Result<(), StorageError> {
        let mut entries: Entries = Vec::new();
        for block in self.all() {
            entries.push(serde_json::to_vec(&block.meta).map_err(codec)?);
        }
        let superseded: Vec<String> = self.superseded.read().iter().cloned().collect();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        postcard::to_io(&entries, &mut bytes).map_err(codec)?;
        postcard::to_io(&superseded, &mut bytes).map_err(codec)?;
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        crate::durable::write_file_durably(path, &bytes)
    }

    /// Reads the cache; `None` when it is missing or unusable (then the store is listed instead).
    pub fn load_cache(store: Arc<dyn object_store::ObjectStore>, path: &Path) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        match Self::decode_cache(store, &bytes) {
            Ok(blocks) => Some(blocks),
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "ignoring the block index cache; listing the store instead");
                None
            }
        }
    }

    fn decode_cache(
        store: Arc<dyn object_store::ObjectStore>,
        bytes: &[u8],
    ) -> Result<Self, String> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err("not a block index cache".into());
        }
        if u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) != VERSION {
            return Err("unsupported version".into());
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("checksum does not match".into());
        }
        let (entries, rest): (Entries, _) =
            postcard::take_from_bytes(&body[12..]).map_err(|e| e.to_string())?;
        let (superseded, _): (Vec<String>, _) =
            postcard::take_from_bytes(rest).map_err(|e| e.to_string())?;
        let blocks = Self::empty(store);
        blocks.superseded.write().extend(superseded);
        for meta in entries {
            let meta: BlockMeta = serde_json::from_slice(&meta).map_err(|e| e.to_string())?;
            blocks.add(Arc::new(Block::new(meta)));
        }
        blocks.mark_clean();
        Ok(blocks)
    }
}
