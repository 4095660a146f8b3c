//! The only place that knows how blocks are laid out in the object store:
//! `blocks/<environment>/<block_id>/{data.parquet, traces.idx, meta.json}`.

use object_store::path::Path;

/// Root of all blocks.
pub(crate) const BLOCKS_ROOT: &str = "blocks";

/// Objects of one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPaths {
    /// The Parquet data.
    pub data: Path,
    /// The trace index.
    pub traces: Path,
    /// The meta document, written last.
    pub meta: Path,
}

impl BlockPaths {
    /// Paths of a block.
    pub fn new(environment: &str, block_id: &str) -> Self {
        let directory = format!("{BLOCKS_ROOT}/{environment}/{block_id}");
        Self {
            data: Path::from(format!("{directory}/data.parquet")),
            traces: Path::from(format!("{directory}/traces.idx")),
            meta: Path::from(format!("{directory}/meta.json")),
        }
    }

    /// The block id in a meta document's path.
    pub fn block_id_of_meta(path: &Path) -> Option<String> {
        let parts: Vec<_> = path.parts().collect();
        let id = parts
            .len()
            .checked_sub(2)
            .map(|i| parts[i].as_ref().to_owned())?;
        Some(id)
    }

    /// Whether an object path is some block's meta document.
    pub fn is_meta(path: &Path) -> bool {
        path.filename() == Some("meta.json")
    }
}
