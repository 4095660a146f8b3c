//! `spans`: one environment's head and blocks as a DataFusion table.
//!
//! Storage does the reading ([`combray_storage::scan`]): its table has the span columns plus
//! every attribute column any block or the head has (`attr.*`, `resource.*`), and a source
//! without a column reads it as null. This provider passes DataFusion's projection, limit and
//! the filters storage understands (see `pushdown`) to storage's plan, and runs the parts it
//! returns, one partition per query thread.

use std::fmt;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use async_trait::async_trait;
use combray_storage::scan::{Columns, SpanScan};
use combray_storage::Snapshot;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::exec::SpanScanExec;
use super::pushdown::{required_condition, scan_filter};

/// One environment's spans at one moment, or a uniform sample of them.
pub(crate) struct SpanTable {
    scan: SpanScan,
    /// The fraction of rows read, when the table is a sample.
    sample: Option<f64>,
}

impl fmt::Debug for SpanTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.scan.fmt(f)
    }
}

fn storage_error(error: combray_storage::StorageError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

impl SpanTable {
    /// The table over a snapshot; head chunks not yet widened are widened here.
    pub(crate) fn new(snapshot: Snapshot, columns: Columns) -> Result<Self> {
        Ok(Self {
            scan: snapshot.into_scan(columns).map_err(storage_error)?,
            sample: None,
        })
    }

    /// The same spans, of which a scan reads only about `fraction` (see
    /// [`ScanFilter::sample`](combray_storage::scan::ScanFilter::sample)).
    pub(crate) fn sampled(&self, fraction: f64) -> Self {
        Self {
            scan: self.scan.clone(),
            sample: Some(fraction),
        }
    }
}

#[async_trait]
impl TableProvider for SpanTable {
    fn schema(&self) -> SchemaRef {
        self.scan.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters prune blocks, row groups and rows, but DataFusion still applies them, except
        // the time ranges storage applies itself.
        let schema = self.scan.schema();
        Ok(filters
            .iter()
            .map(|expr| match required_condition(expr, &schema) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.scan.schema();
        let mut filter = scan_filter(filters, &schema);
        if let Some(fraction) = self.sample {
            filter.sample(fraction);
        }
        let partitions = state.config().target_partitions();
        let parts = self
            .scan
            .plan(projection.map(Vec::as_slice), filter, limit, partitions)
            .await
            .map_err(storage_error)?;
        let projected = match projection {
            Some(indices) => Arc::new(schema.project(indices)?),
            None => schema,
        };
        let exact_rows = filters.is_empty() && limit.is_none() && self.sample.is_none();
        Ok(Arc::new(SpanScanExec::new(projected, parts, exact_rows)))
    }
}
