//! `spans`: one environment's head and blocks as a DataFusion table.
//!
//! The table's columns are the span columns of the block schema plus every attribute column any
//! block or the head has (`attr.*`, `resource.*`); a block without a column reads it as null. The
//! postcard-encoded columns (resource, scope, events, links, attribute overflow) are not exposed:
//! they mean nothing to SQL. Blocks are pruned by their meta (time range, services) before any
//! object is read; what survives becomes a Parquet scan with projection, row-group, page and
//! (late-materialized) row filtering. The head is widened to the same layout and scanned from
//! memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use arrow_array::{new_null_array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use combray_storage::block::wide::{widen, ColumnType, OVERFLOW_COLUMN};
use combray_storage::block::Block;
use combray_storage::head::schema::{column, span_schema};
use combray_storage::Snapshot;
use datafusion::arrow::compute::cast;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, ParquetSource};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::ExecutionPlan;

use super::prune::BlockFilter;

/// Where the table's blocks are registered in the session's object store registry.
pub(crate) const BLOCKS_URL: &str = "combray://blocks/";

/// Columns of the block layout that SQL does not see: postcard lists mean nothing to SQL.
const HIDDEN: [&str; 4] = [
    column::RESOURCE,
    column::SCOPE,
    column::EVENTS,
    column::LINKS,
];

/// Whether the table has the postcard attribute lists (`attributes` of v1 blocks,
/// `attributes_overflow` and `resource`), which only search reads, through its own functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListColumns {
    /// SQL's table: typed columns only.
    Hidden,
    /// Search's table: the lists too.
    Exposed,
}

/// One environment's spans at one moment.
pub(crate) struct SpanTable {
    schema: SchemaRef,
    blocks: Vec<Arc<Block>>,
    /// Head chunks widened and aligned to `schema`.
    head: Vec<RecordBatch>,
}

impl fmt::Debug for SpanTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanTable")
            .field("blocks", &self.blocks.len())
            .field("head_batches", &self.head.len())
            .finish()
    }
}

/// When blocks disagree on a column's type, the one every value can be cast to.
fn unify(types: &BTreeSet<ColumnType>) -> ColumnType {
    match types.iter().copied().collect::<Vec<_>>().as_slice() {
        [only] => *only,
        [ColumnType::Int, ColumnType::Double] => ColumnType::Double,
        _ => ColumnType::String,
    }
}

fn storage_error(error: combray_storage::StorageError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

impl SpanTable {
    pub(crate) fn new(snapshot: Snapshot, lists: ListColumns) -> Result<Self> {
        let mut types: BTreeMap<String, BTreeSet<ColumnType>> = BTreeMap::new();
        for block in &snapshot.blocks {
            for (name, column_type) in &block.meta.columns {
                types.entry(name.clone()).or_default().insert(*column_type);
            }
        }
        let mut widened = Vec::with_capacity(snapshot.head.len());
        for chunk in &snapshot.head {
            let wide = widen(chunk).map_err(storage_error)?;
            for (name, column_type) in &wide.columns {
                types.entry(name.clone()).or_default().insert(*column_type);
            }
            widened.push(wide.batch);
        }
        let exposed = lists == ListColumns::Exposed;
        let mut fields: Vec<Field> = span_schema()
            .fields()
            .iter()
            .filter(|f| match f.name().as_str() {
                column::RESOURCE => exposed,
                // Only v1 blocks have the whole list; newer data reads it as null.
                column::ATTRIBUTES => exposed,
                name => !HIDDEN.contains(&name),
            })
            .map(|f| {
                let data_type = as_view(f.data_type().clone());
                f.as_ref()
                    .clone()
                    .with_data_type(data_type)
                    .with_nullable(true)
            })
            .collect();
        if exposed {
            fields.push(Field::new(OVERFLOW_COLUMN, DataType::Binary, true));
        }
        fields.extend(
            types
                .iter()
                .map(|(name, t)| Field::new(name, as_view(unify(t).data_type()), true)),
        );
        let schema = Arc::new(Schema::new(fields));
        let head = widened
            .iter()
            .map(|batch| align(batch, &schema))
            .collect::<Result<_>>()?;
        Ok(Self {
            schema,
            blocks: snapshot.blocks,
            head,
        })
    }

    fn parquet_files(&self, filter: &BlockFilter) -> Vec<PartitionedFile> {
        self.blocks
            .iter()
            .filter(|block| filter.may_match(block))
            .map(|block| {
                PartitionedFile::new(block.paths().data.to_string(), block.meta.data_bytes)
            })
            .collect()
    }
}

/// Text reads as string views: Parquet's dictionary pages decode into views of the dictionary
/// rather than a copy of every value, and DataFusion groups views column-wise, where a
/// dictionary or plain text column sends a `GROUP BY` through its much slower row format.
fn as_view(data_type: DataType) -> DataType {
    match data_type {
        DataType::Utf8 => DataType::Utf8View,
        DataType::Dictionary(_, value) if *value == DataType::Utf8 => DataType::Utf8View,
        other => other,
    }
}

/// A head batch in the table's layout: missing columns as nulls, types cast to the table's.
fn align(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(array) if array.data_type() == field.data_type() => Ok(Arc::clone(array)),
            Some(array) => Ok(cast(array, field.data_type())?),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

#[async_trait]
impl TableProvider for SpanTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters prune blocks and row groups but DataFusion still applies them to every row.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let filter = BlockFilter::from_exprs(filters);
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        let files = self.parquet_files(&filter);
        if !files.is_empty() {
            let source = Arc::new(ParquetSource::new(Arc::clone(&self.schema)));
            let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(BLOCKS_URL)?, source)
                .with_file_group(files.into_iter().collect())
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
            let format =
                ParquetFormat::default().with_options(state.table_options().parquet.clone());
            inputs.push(format.create_physical_plan(state, config).await?);
        }
        if !self.head.is_empty() {
            let head = MemorySourceConfig::try_new_exec(
                std::slice::from_ref(&self.head),
                Arc::clone(&self.schema),
                projection.cloned(),
            )?;
            inputs.push(head);
        }
        if inputs.is_empty() {
            let projected = match projection {
                Some(indices) => Arc::new(self.schema.project(indices)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        UnionExec::try_new(inputs)
    }
}
