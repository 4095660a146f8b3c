//! SQL for power users: Apache DataFusion over one environment's head and blocks.
//!
//! Each query gets a fresh session whose only table is `spans` (the caller's environment); other
//! environments are not in its catalog at all. The session is read-only (no DDL, DML, `COPY` or
//! `SET`), URL tables are off, and every query runs under a row limit, a time limit and a memory
//! pool shared by all queries, so one query cannot take the server down.

mod json;
pub(crate) mod lists;
mod percentile;
mod prune;
mod sketch;
mod table;

use std::sync::Arc;
use std::time::{Duration, Instant};

use combray_storage::SpanStore;
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use serde::Serialize;

use crate::QueryError;
pub(crate) use table::ListColumns;
use table::{SpanTable, BLOCKS_URL};

/// The name of the table SQL sees.
pub const TABLE: &str = "spans";

/// What any one query may use.
#[derive(Debug, Clone, Copy)]
pub struct SqlLimits {
    /// Rows returned at most; a query with more is cut off and says so.
    pub max_rows: usize,
    /// Wall time at most.
    pub timeout: Duration,
    /// Memory for sorts, joins and aggregations, shared by all running queries.
    pub memory_bytes: usize,
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

/// Runs SQL queries; one per server, shared by every request.
pub struct SqlEngine {
    runtime: Arc<RuntimeEnv>,
    limits: SqlLimits,
    threads: QueryThreads,
    /// Query threads, and so the partitions a plan is split into.
    parallelism: usize,
}

/// The threads queries run on. DataFusion's operators can keep a thread busy for long stretches;
/// on threads of their own they cannot starve ingest or the API, and the caller's timer, which
/// runs elsewhere, always fires.
struct QueryThreads(Option<tokio::runtime::Runtime>);

impl QueryThreads {
    fn new(threads: usize) -> Result<Self, QueryError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("combray-query")
            .enable_all()
            .build()
            .map_err(|e| QueryError::Engine(format!("cannot start the query threads: {e}")))?;
        Ok(Self(Some(runtime)))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("present until dropped").handle()
    }
}

impl Drop for QueryThreads {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async context forbids; abandon its tasks instead.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

pub(crate) fn engine_error(error: DataFusionError) -> QueryError {
    match error {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_) => QueryError::InvalidArgument(error.to_string()),
        DataFusionError::ResourcesExhausted(reason) => QueryError::LimitExceeded(format!(
            "the query needs more memory than it may use: {reason}"
        )),
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
            threads: QueryThreads::new(parallelism)?,
            parallelism,
        })
    }

    /// Runs `work` on the query threads under the time limit; past it, the work is cancelled.
    pub(crate) async fn on_query_threads<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, QueryError>> + Send + 'static,
    ) -> Result<T, QueryError> {
        let timeout = self.limits.timeout;
        let mut task = self.threads.handle().spawn(work);
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(failure)) => Err(QueryError::Engine(format!("the query stopped: {failure}"))),
            Err(_) => {
                task.abort();
                Err(QueryError::LimitExceeded(format!(
                    "the query ran longer than its limit of {} s; add a time range or a LIMIT",
                    timeout.as_secs_f64()
                )))
            }
        }
    }

    /// A fresh session whose only table is the environment's `spans`, with or without the
    /// attribute lists (search's expressions carry the functions that read them).
    pub(crate) fn session(
        &self,
        store: &dyn SpanStore,
        environment: &str,
        list_columns: ListColumns,
    ) -> Result<SessionContext, QueryError> {
        let snapshot = store.snapshot(environment);
        if let Some(object_store) = &snapshot.store {
            let url = ObjectStoreUrl::parse(BLOCKS_URL).map_err(engine_error)?;
            self.runtime
                .register_object_store(url.as_ref(), Arc::clone(object_store));
        }
        let mut config = SessionConfig::new()
            .with_target_partitions(self.parallelism)
            .with_information_schema(true);
        let parquet = &mut config.options_mut().execution.parquet;
        // Late materialization: evaluate filters on their own columns first and decode the
        // rest only for matching rows, which is what makes attribute filters cheap.
        parquet.pushdown_filters = true;
        parquet.reorder_filters = true;
        let context = SessionContext::new_with_config_rt(config, Arc::clone(&self.runtime));
        for function in percentile::functions() {
            context.register_udaf(function);
        }
        let table = SpanTable::new(snapshot, list_columns).map_err(engine_error)?;
        context
            .register_table(TABLE, Arc::new(table))
            .map_err(engine_error)?;
        Ok(context)
    }

    /// Parses and plans a query over the environment's spans without running it: what the
    /// SQL entry does before any data is read (the fuzz target `sql_plan` drives it).
    pub async fn plan(
        &self,
        store: &dyn SpanStore,
        environment: &str,
        sql: &str,
    ) -> Result<(), QueryError> {
        let context = self.session(store, environment, ListColumns::Hidden)?;
        context
            .sql_with_options(sql, read_only())
            .await
            .map_err(engine_error)?;
        Ok(())
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
        let context = self.session(store, environment, ListColumns::Hidden)?;
        let options = read_only();
        let sql = sql.to_owned();
        let work = async move {
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
        let (columns, rows, truncated) = self.on_query_threads(work).await?;
        Ok(SqlResult {
            columns,
            rows,
            truncated,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}

#[cfg(test)]
mod tests;
