//! Reading a published block: whole, or just the row range of one trace.

use std::sync::Arc;

use std::ops::Range;

use arrow_array::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector,
};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};

use super::meta::BlockMeta;
use super::paths::BlockPaths;
use super::wide::{narrow, WIDE_SCHEMA_VERSION};
use crate::head::Chunk;
use crate::StorageError;

/// One Parquet row group of a block.
#[derive(Debug, Clone)]
pub struct RowGroupLayout {
    /// Rows in the group.
    pub rows: u64,
    /// Column name and compressed bytes.
    pub columns: Vec<(String, u64)>,
}

/// A published block with its meta in memory; its trace index is read through
/// [`Blocks::trace_index`](super::Blocks::trace_index), which keeps recently used ones.
pub struct Block {
    /// Meta document.
    pub meta: BlockMeta,
    paths: BlockPaths,
    metadata: parking_lot::Mutex<Option<ArrowReaderMetadata>>,
    /// The footer again, with text read as string views: what scans read with.
    scan_metadata: parking_lot::Mutex<Option<ArrowReaderMetadata>>,
}

fn read_error(paths: &BlockPaths, error: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        path: paths.data.as_ref().into(),
        what: "block",
        reason: error.to_string(),
    }
}

impl Block {
    /// A block from its meta.
    pub fn new(meta: BlockMeta) -> Self {
        let paths = BlockPaths::new(&meta.environment, &meta.block_id);
        Self {
            meta,
            paths,
            metadata: parking_lot::Mutex::new(None),
            scan_metadata: parking_lot::Mutex::new(None),
        }
    }

    /// The block's object paths.
    pub fn paths(&self) -> &BlockPaths {
        &self.paths
    }

    /// The Parquet footer and page index, read once per block and kept: a lookup then costs only
    /// the reads of the pages it needs.
    async fn reader_metadata(
        &self,
        reader: &mut BlockFileReader,
    ) -> Result<ArrowReaderMetadata, StorageError> {
        if let Some(cached) = self.metadata.lock().clone() {
            return Ok(cached);
        }
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let loaded = ArrowReaderMetadata::load_async(reader, options)
            .await
            .map_err(|e| read_error(&self.paths, e))?;
        *self.metadata.lock() = Some(loaded.clone());
        Ok(loaded)
    }

    /// Ranged reads of the data file.
    pub(crate) fn file_reader(&self, store: &Arc<dyn ObjectStore>) -> BlockFileReader {
        BlockFileReader {
            store: Arc::clone(store),
            path: self.paths.data.clone(),
            size: self.meta.data_bytes,
        }
    }

    /// The footer as scans read it: plain text columns as string views (see
    /// `scan::schema::read_type`), read once per block and kept.
    pub(crate) async fn scan_metadata(
        &self,
        store: &Arc<dyn ObjectStore>,
    ) -> Result<ArrowReaderMetadata, StorageError> {
        if let Some(cached) = self.scan_metadata.lock().clone() {
            return Ok(cached);
        }
        let plain = self.reader_metadata(&mut self.file_reader(store)).await?;
        let fields: Vec<arrow_schema::Field> = plain
            .schema()
            .fields()
            .iter()
            .map(|f| {
                let viewed = crate::scan::read_type(f.data_type());
                f.as_ref().clone().with_data_type(viewed)
            })
            .collect();
        let hint = Arc::new(arrow_schema::Schema::new_with_metadata(
            fields,
            plain.schema().metadata().clone(),
        ));
        let options = ArrowReaderOptions::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .with_schema(hint);
        let loaded = ArrowReaderMetadata::try_new(Arc::clone(plain.metadata()), options)
            .map_err(|e| read_error(&self.paths, e))?;
        *self.scan_metadata.lock() = Some(loaded.clone());
        Ok(loaded)
    }

    /// The error of a failed read of this block.
    pub(crate) fn read_error(&self, error: impl std::fmt::Display) -> StorageError {
        read_error(&self.paths, error)
    }

    /// Rows as stored: in the block layout (span schema v2) or, for old blocks, the head's.
    async fn read_stored(
        &self,
        store: &Arc<dyn ObjectStore>,
        selection: Option<RowSelection>,
        batch_rows: Option<usize>,
    ) -> Result<Vec<RecordBatch>, StorageError> {
        let mut reader = self.file_reader(store);
        let metadata = self.reader_metadata(&mut reader).await?;
        let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata);
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        if let Some(rows) = batch_rows {
            builder = builder.with_batch_size(rows);
        }
        let stream = builder.build().map_err(|e| read_error(&self.paths, e))?;
        stream
            .try_collect()
            .await
            .map_err(|e| read_error(&self.paths, e))
    }

    async fn read(
        &self,
        store: &Arc<dyn ObjectStore>,
        selection: Option<RowSelection>,
    ) -> Result<Vec<Chunk>, StorageError> {
        let batches = self.read_stored(store, selection, None).await?;
        batches.into_iter().map(|b| self.to_chunk(b)).collect()
    }

    /// A batch of this block's rows in the head's layout.
    pub fn to_chunk(&self, batch: RecordBatch) -> Result<Chunk, StorageError> {
        let batch = if self.is_wide() {
            narrow(&batch).map_err(|e| read_error(&self.paths, e))?
        } else {
            batch
        };
        Chunk::new(batch)
    }

    /// Whether the data is in the block layout (span schema v2).
    pub fn is_wide(&self) -> bool {
        self.meta.span_schema_version == WIDE_SCHEMA_VERSION
    }

    /// Every row as stored, in batches of up to `batch_rows`: what compaction merges.
    pub async fn read_all_stored(
        &self,
        store: &Arc<dyn ObjectStore>,
        batch_rows: usize,
    ) -> Result<Vec<RecordBatch>, StorageError> {
        self.read_stored(store, None, Some(batch_rows)).await
    }

    /// Row groups of the data file: rows, and compressed bytes per column.
    pub async fn parquet_layout(
        &self,
        store: &Arc<dyn ObjectStore>,
    ) -> Result<Vec<RowGroupLayout>, StorageError> {
        let mut reader = self.file_reader(store);
        let metadata = reader
            .get_metadata(None)
            .await
            .map_err(|e| read_error(&self.paths, e))?;
        Ok(metadata
            .row_groups()
            .iter()
            .map(|group| RowGroupLayout {
                rows: group.num_rows() as u64,
                columns: group
                    .columns()
                    .iter()
                    .map(|column| {
                        (
                            column.column_path().string(),
                            column.compressed_size() as u64,
                        )
                    })
                    .collect(),
            })
            .collect())
    }

    /// Every row.
    pub async fn read_all(&self, store: &Arc<dyn ObjectStore>) -> Result<Vec<Chunk>, StorageError> {
        self.read(store, None).await
    }

    /// The rows of several `(first, count)` ranges, in one pass over the file: with the page
    /// index, only the pages holding them are read. Ranges must be sorted and apart.
    pub async fn read_row_ranges(
        &self,
        store: &Arc<dyn ObjectStore>,
        ranges: &[(usize, usize)],
    ) -> Result<Vec<Chunk>, StorageError> {
        let mut selectors = Vec::with_capacity(ranges.len() * 2);
        let mut next_row = 0;
        for &(first, count) in ranges {
            debug_assert!(first >= next_row, "ranges must be sorted and apart");
            if first > next_row {
                selectors.push(RowSelector::skip(first - next_row));
            }
            selectors.push(RowSelector::select(count));
            next_row = first + count;
        }
        self.read(store, Some(RowSelection::from(selectors))).await
    }

    /// Only `count` rows from `first`: with the page index, only the pages holding them are read.
    pub async fn read_rows(
        &self,
        store: &Arc<dyn ObjectStore>,
        first: usize,
        count: usize,
    ) -> Result<Vec<Chunk>, StorageError> {
        let selection =
            RowSelection::from(vec![RowSelector::skip(first), RowSelector::select(count)]);
        self.read(store, Some(selection)).await
    }
}

/// Ranged reads of a block's Parquet file from the object store. The size comes from the meta,
/// so opening a block costs no extra request.
pub(crate) struct BlockFileReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

fn parquet_error(error: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(error))
}

impl AsyncFileReader for BlockFileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(parquet_error)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(parquet_error)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Optional)
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
