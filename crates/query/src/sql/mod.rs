//! SQL for power users: Apache DataFusion over one environment's head and blocks.
//!
//! Each query gets a fresh session whose only table is `spans` (the caller's environment); other
//! environments are not in its catalog at all. The session is read-only (no DDL, DML, `COPY` or
//! `SET`), URL tables are off, and every query runs under a row limit, a time limit and a memory
//! pool shared by all queries, so one query cannot take the server down.

mod exec;
mod guard;
mod heatmap;
mod json;
pub mod lists;
mod percentile;
mod pushdown;
mod sketch;
mod span_lists;
mod span_rows;
mod table;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use combray_storage::scan::Columns;
use combray_storage::{Snapshot, SpanStore};
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use serde::Serialize;

use crate::threads::Threads;
use crate::QueryError;
use guard::{GuardError, GuardEveryOperator, QueryBudget};
use table::SpanTable;

/// The name of the table SQL sees.
pub const TABLE: &str = "spans";

/// What any one query may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SqlLimits {
    /// Rows returned at most; a query with more is cut off and says so.
    pub max_rows: usize,
    /// Wall time at most.
    pub timeout: Duration,
    /// Memory all running queries may hold together: DataFusion's pool for what its operators
    /// reserve, and the allocator's count of the query threads for everything (`heap`).
    pub memory_bytes: usize,
}

impl SqlLimits {
    /// The defaults for a server sized to `memory_bytes`, of which queries may hold 3/16.
    pub fn for_memory(memory_bytes: u64) -> Self {
        Self {
            memory_bytes: usize::try_from(memory_bytes / 16 * 3).unwrap_or(usize::MAX),
            ..Self::default()
        }
    }
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self {
            max_rows: 10_000,
            timeout: Duration::from_secs(30),
            memory_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// A result column.
#[derive(Debug, Clone, Serialize)]
pub struct SqlColumn {
    /// Its name.
    pub name: String,
    /// Its Arrow type, as DataFusion names it.
    pub r#type: String,
}

/// A query's answer.
#[derive(Debug, Clone, Serialize)]
pub struct SqlResult {
    /// Columns, in order.
    pub columns: Vec<SqlColumn>,
    /// Rows, each one value per column.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Whether more rows existed than the row limit let through.
    pub truncated: bool,
    /// Milliseconds from planning to the last row.
    pub elapsed_ms: f64,
}

/// Runs `sql` in `context` (a session from [`SqlEngine::with_session`]) and answers its rows as
/// JSON values, as the SQL API would: ids as hex, timestamps as RFC 3339, numbers as numbers.
/// For the APIs built on SQL (Honeycomb's queries), which shape the rows themselves.
pub async fn json_rows(
    context: &SessionContext,
    sql: &str,
) -> Result<Vec<Vec<serde_json::Value>>, QueryError> {
    let started = std::time::Instant::now();
    let frame = context
        .sql_with_options(sql, read_only())
        .await
        .map_err(engine_error)?;
    let mut stream = frame.execute_stream().await.map_err(engine_error)?;
    let mut rows = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(engine_error)?;
        json::append_rows(&batch, &mut rows, usize::MAX).map_err(engine_error)?;
    }
    // What an API translated a question into, and what it cost: the first thing to read when
    // an answer is slow or surprising.
    tracing::debug!(sql, rows = rows.len(), elapsed = ?started.elapsed(), "statement answered");
    Ok(rows)
}

/// Runs SQL queries; one per server, shared by every request.
pub struct SqlEngine {
    runtime: Arc<RuntimeEnv>,
    limits: SqlLimits,
    /// The threads queries run on (their allocations are counted, `heap`).
    threads: Threads,
    /// Query threads, and so the partitions a plan is split into.
    parallelism: usize,
    /// Queries running now; when none is, the query threads' memory count starts over.
    running: Arc<AtomicUsize>,
}

/// The guard's error somewhere in `error`'s chain (DataFusion wraps errors of shared inputs,
/// joins' build sides and Arrow kernels in layers of its own).
fn guard_error(error: &DataFusionError) -> Option<&GuardError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(guard) = error.downcast_ref::<GuardError>() {
            return Some(guard);
        }
        current = error.source();
    }
    None
}

/// The memory pool's refusal somewhere in `error`'s chain (a join's build side reports it
/// through a shared error, a spawned task through an external one).
fn pool_refusal(error: &DataFusionError) -> Option<&str> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(DataFusionError::ResourcesExhausted(reason)) = error.downcast_ref() {
            return Some(reason);
        }
        current = error.source();
    }
    None
}

fn engine_error(error: DataFusionError) -> QueryError {
    if let Some(guard) = guard_error(&error) {
        return QueryError::LimitExceeded(guard.0.to_string());
    }
    if let Some(reason) = pool_refusal(&error) {
        return QueryError::LimitExceeded(format!(
            "the query needs more memory than it may use: {reason}"
        ));
    }
    match error {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_) => QueryError::InvalidArgument(error.to_string()),
        DataFusionError::Context(context, inner) => match engine_error(*inner) {
            QueryError::InvalidArgument(m) => {
                QueryError::InvalidArgument(format!("{context}: {m}"))
            }
            other => other,
        },
        DataFusionError::Diagnostic(_, inner) => engine_error(*inner),
        other => QueryError::Engine(other.to_string()),
    }
}

impl From<DataFusionError> for QueryError {
    fn from(error: DataFusionError) -> Self {
        engine_error(error)
    }
}

/// What a query may be: no DDL, DML or statements.
fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

impl SqlEngine {
    /// An engine with these limits.
    pub fn new(limits: SqlLimits) -> Result<Self, QueryError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            .build_arc()
            .map_err(engine_error)?;
        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            runtime,
            limits,
            threads: Threads::new("combray-query", parallelism, crate::heap::mark_query_thread)?,
            parallelism,
            running: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs `work` on the query threads, under the time and memory limits, with a fresh session
    /// whose only table is the environment's `spans` (with or without the attribute lists,
    /// which search's expressions read). Building the table, which widens the head's chunks,
    /// happens there too, so it is timed and its memory counted like the rest of the query.
    pub async fn with_session<T, W, F>(
        &self,
        store: &dyn SpanStore,
        environment: &str,
        columns: Columns,
        work: W,
    ) -> Result<T, QueryError>
    where
        T: Send + 'static,
        W: FnOnce(SessionContext) -> F + Send + 'static,
        F: std::future::Future<Output = Result<T, QueryError>> + Send + 'static,
    {
        let snapshot = store.snapshot(environment);
        let budget = Arc::new(QueryBudget::new(
            self.limits.timeout,
            self.limits.memory_bytes,
        ));
        let (runtime, parallelism) = (Arc::clone(&self.runtime), self.parallelism);
        let query = async move {
            let context = session(snapshot, runtime, parallelism, columns, budget)?;
            work(context).await
        };
        let _running = Running::start(&self.running);
        let timeout = self.limits.timeout;
        let mut task = self.threads.handle().spawn(query);
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(failure)) => Err(QueryError::Engine(format!("the query stopped: {failure}"))),
            Err(_) => {
                task.abort();
                Err(guard::timed_out(timeout))
            }
        }
    }

    /// Parses and plans a query over the environment's spans without running it: what the
    /// SQL entry does before any data is read (the fuzz target `sql_plan` drives it).
    pub async fn plan(
        &self,
        store: &dyn SpanStore,
        environment: &str,
        sql: &str,
    ) -> Result<(), QueryError> {
        let sql = sql.to_owned();
        self.with_session(store, environment, Columns::Typed, |context| async move {
            context
                .sql_with_options(&sql, read_only())
                .await
                .map_err(engine_error)?;
            Ok(())
        })
        .await
    }

    /// Runs one read-only query over the environment's spans. `max_rows` can only lower the
    /// engine's row limit.
    pub async fn run(
        &self,
        store: &dyn SpanStore,
        environment: &str,
        sql: &str,
        max_rows: Option<usize>,
    ) -> Result<SqlResult, QueryError> {
        let started = Instant::now();
        let max_rows = max_rows.map_or(self.limits.max_rows, |n| n.min(self.limits.max_rows));
        let options = read_only();
        let sql = sql.to_owned();
        let work = move |context: SessionContext| async move {
            let frame = context
                .sql_with_options(&sql, options)
                .await
                .map_err(engine_error)?;
            let schema = frame.schema().as_arrow().clone();
            let mut stream = frame.execute_stream().await.map_err(engine_error)?;
            let mut rows = Vec::new();
            let mut truncated = false;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(engine_error)?;
                let room = max_rows - rows.len();
                json::append_rows(&batch, &mut rows, room).map_err(engine_error)?;
                if batch.num_rows() > room {
                    truncated = true;
                    break;
                }
            }
            let columns = schema
                .fields()
                .iter()
                .map(|f| SqlColumn {
                    name: f.name().clone(),
                    r#type: f.data_type().to_string(),
                })
                .collect();
            Ok::<_, QueryError>((columns, rows, truncated))
        };
        let (columns, rows, truncated) = self
            .with_session(store, environment, Columns::Typed, work)
            .await?;
        Ok(SqlResult {
            columns,
            rows,
            truncated,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}

/// A session over `snapshot` whose only table is `spans`, every operator under `budget`.
fn session(
    snapshot: Snapshot,
    runtime: Arc<RuntimeEnv>,
    parallelism: usize,
    columns: Columns,
    budget: Arc<QueryBudget>,
) -> Result<SessionContext, QueryError> {
    let config = SessionConfig::new()
        .with_target_partitions(parallelism)
        .with_information_schema(true);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(GuardEveryOperator(budget)))
        .build();
    let context = SessionContext::new_with_state(state);
    for function in percentile::functions()
        .into_iter()
        .chain([heatmap::function()])
    {
        context.register_udaf(function);
    }
    for function in span_lists::functions()
        .into_iter()
        .chain(span_rows::functions())
    {
        context.register_udf(function);
    }
    let table = SpanTable::new(snapshot, columns).map_err(engine_error)?;
    context
        .register_table(TABLE, Arc::new(table))
        .map_err(engine_error)?;
    Ok(context)
}

/// Adds to a session of [`SqlEngine::with_session`] the table `name`: its `spans`, of which a
/// scan reads only a uniform sample of about `fraction` of the rows, in runs of
/// [`SAMPLE_RUN_ROWS`](combray_storage::scan::SAMPLE_RUN_ROWS) rows of a block (a few random
/// traces) and single rows of the head. For estimates over many spans: shares and
/// distributions, never counts or sums of the whole.
pub async fn register_sample(
    context: &SessionContext,
    name: &str,
    fraction: f64,
) -> Result<(), QueryError> {
    let spans = context.table_provider(TABLE).await.map_err(engine_error)?;
    let table = spans
        .downcast_ref::<SpanTable>()
        .ok_or_else(|| QueryError::Engine("the session's spans are not a span table".into()))?;
    context
        .register_table(name, Arc::new(table.sampled(fraction)))
        .map_err(engine_error)?;
    Ok(())
}

/// Counts a query as running while it lives; the last one to end starts the query threads'
/// memory count over, so memory that moved between threads never accumulates.
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn start(running: &'a AtomicUsize) -> Self {
        running.fetch_add(1, Ordering::SeqCst);
        Self(running)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            crate::heap::reset_query_thread_bytes();
        }
    }
}

#[cfg(test)]
mod tests;
