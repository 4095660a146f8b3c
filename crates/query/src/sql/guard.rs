//! A guard on every operator of a query: past its deadline, or once the query threads hold more
//! memory than the engine allows, the next batch any operator hands on is an error instead.
//!
//! Cancelling a task only takes effect when it yields, and a DataFusion operator that makes many
//! batches out of one (a cross join repeats each buffered row against every incoming batch) can
//! run for minutes inside one poll of its consumer, allocating as it goes. So the guard also
//! yields to the runtime every few batches, which makes the timer's abort effective within
//! a batch's work, and checks the limits on every batch, which stops a runaway query even
//! before the abort arrives.

use std::any::Any;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::{Stream, StreamExt};

use crate::QueryError;

/// Batches an operator hands on between yields to the runtime.
const YIELD_EVERY: u32 = 16;

/// What one query may spend.
#[derive(Debug)]
pub(crate) struct QueryBudget {
    deadline: Instant,
    timeout: Duration,
    memory_bytes: usize,
}

impl QueryBudget {
    pub(crate) fn new(timeout: Duration, memory_bytes: usize) -> Self {
        Self {
            deadline: Instant::now() + timeout,
            timeout,
            memory_bytes,
        }
    }

    /// The limit this query has passed, if any.
    fn exceeded(&self) -> Option<QueryError> {
        let held = crate::heap::query_thread_bytes();
        if held > self.memory_bytes {
            return Some(QueryError::LimitExceeded(format!(
                "the running queries hold {held} bytes, over the {} bytes they may use; \
                 narrow the query (a time range, a LIMIT, fewer joins)",
                self.memory_bytes
            )));
        }
        (Instant::now() >= self.deadline).then(|| timed_out(self.timeout))
    }
}

/// The answer to a query that ran past its time limit, whichever check caught it.
pub(crate) fn timed_out(timeout: Duration) -> QueryError {
    QueryError::LimitExceeded(format!(
        "the query ran longer than its limit of {} s; add a time range or a LIMIT",
        timeout.as_secs_f64()
    ))
}

/// The guard's own error, carried through DataFusion and turned back into [`QueryError`] by
/// `engine_error`.
#[derive(Debug)]
pub(crate) struct GuardError(pub(crate) QueryError);

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for GuardError {}

/// The physical optimizer rule, last of all, that puts a guard above every operator.
#[derive(Debug)]
pub(crate) struct GuardEveryOperator(pub(crate) Arc<QueryBudget>);

impl PhysicalOptimizerRule for GuardEveryOperator {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let any: &dyn Any = node.as_ref();
            if any.is::<GuardExec>() {
                return Ok(Transformed::no(node));
            }
            Ok(Transformed::yes(Arc::new(GuardExec {
                input: node,
                budget: Arc::clone(&self.0),
            }) as Arc<dyn ExecutionPlan>))
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "guard_every_operator"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct GuardExec {
    input: Arc<dyn ExecutionPlan>,
    budget: Arc<QueryBudget>,
}

impl DisplayAs for GuardExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GuardExec")
    }
}

impl ExecutionPlan for GuardExec {
    fn name(&self) -> &str {
        "GuardExec"
    }

    fn downcast_delegate(&self) -> Option<&dyn ExecutionPlan> {
        Some(self.input.as_ref())
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "GuardExec has one input, not {}",
                children.len()
            )));
        }
        Ok(Arc::new(GuardExec {
            input: children.swap_remove(0),
            budget: Arc::clone(&self.budget),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Ok(Box::pin(GuardStream {
            inner: self.input.execute(partition, context)?,
            budget: Arc::clone(&self.budget),
            since_yield: 0,
            stopped: false,
        }))
    }
}

struct GuardStream {
    inner: SendableRecordBatchStream,
    budget: Arc<QueryBudget>,
    since_yield: u32,
    stopped: bool,
}

impl Stream for GuardStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.stopped {
            return Poll::Ready(None);
        }
        if let Some(error) = self.budget.exceeded() {
            self.stopped = true;
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(GuardError(
                error,
            ))))));
        }
        self.since_yield += 1;
        if self.since_yield >= YIELD_EVERY {
            self.since_yield = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.inner.poll_next_unpin(cx)
    }
}

impl RecordBatchStream for GuardStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}
