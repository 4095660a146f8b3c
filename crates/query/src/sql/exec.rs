//! The physical scan of `spans`: storage's scan parts as a DataFusion execution plan, one
//! partition per run of parts.

use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, SchemaRef};
use combray_storage::scan::{read_parts, Extremes, Known, ScanPart};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, Statistics,
    StatisticsArgs,
};
use futures::TryStreamExt;

/// Reads `spans` through storage.
pub(crate) struct SpanScanExec {
    schema: SchemaRef,
    partitions: Vec<Vec<ScanPart>>,
    /// Whether the parts' row counts are the rows the scan returns (nothing filters them).
    exact_rows: bool,
    properties: Arc<PlanProperties>,
}

impl SpanScanExec {
    pub(crate) fn new(schema: SchemaRef, partitions: Vec<Vec<ScanPart>>, exact_rows: bool) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self {
            schema,
            partitions,
            exact_rows,
            properties: Arc::new(properties),
        }
    }
}

impl fmt::Debug for SpanScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanScanExec")
            .field("partitions", &self.partitions.len())
            .finish()
    }
}

impl DisplayAs for SpanScanExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: usize = self.partitions.iter().map(Vec::len).sum();
        write!(
            f,
            "SpanScanExec: partitions={}, parts={parts}",
            self.partitions.len()
        )
    }
}

impl ExecutionPlan for SpanScanExec {
    fn name(&self) -> &str {
        "SpanScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    /// Row counts, so the optimizer builds joins on the small side; exact counts and extremes
    /// where storage knows them without reading, so `count(*)`, `MIN` and `MAX` of a window
    /// of whole row groups are answered from statistics.
    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let parts: Vec<&ScanPart> = match args.partition() {
            Some(partition) => self
                .partitions
                .get(partition)
                .into_iter()
                .flatten()
                .collect(),
            None => self.partitions.iter().flatten().collect(),
        };
        let mut statistics = Statistics::new_unknown(&self.schema);
        let known: Option<Vec<Known>> = parts.iter().map(|part| part.known()).collect();
        let Some(known) = known else {
            let rows: usize = parts.iter().map(|part| part.rows()).sum();
            statistics.num_rows = if self.exact_rows {
                Precision::Exact(rows)
            } else {
                Precision::Inexact(rows)
            };
            return Ok(Arc::new(statistics));
        };
        statistics.num_rows = Precision::Exact(known.iter().map(Known::rows).sum());
        for (field, column) in self
            .schema
            .fields()
            .iter()
            .zip(&mut statistics.column_statistics)
        {
            if *field.data_type() != DataType::Int64 {
                continue;
            }
            if let Some((min, max)) = extremes(&known, field.name()) {
                column.min_value = Precision::Exact(ScalarValue::Int64(min));
                column.max_value = Precision::Exact(ScalarValue::Int64(max));
            }
        }
        Ok(Arc::new(statistics))
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return Err(DataFusionError::Internal(
                "SpanScanExec has no inputs".to_owned(),
            ));
        }
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let parts = self.partitions.get(partition).cloned().unwrap_or_default();
        let stream = read_parts(parts).map_err(|error| DataFusionError::External(Box::new(error)));
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}

/// The smallest and largest value of a column over every part, when each part knows its own.
fn extremes(known: &[Known], name: &str) -> Option<Extremes> {
    let mut all: Extremes = (None, None);
    for part in known {
        let (low, high) = part.extremes(name)?;
        all.0 = all.0.into_iter().chain(low).min();
        all.1 = all.1.into_iter().chain(high).max();
    }
    Some(all)
}
