//! Which columns a dataset's events have, and when each was last written: one pass over the
//! dataset's spans taking, per column, the latest start of a span that has it.

use combray_query::sql::{json_rows, SqlEngine};
use combray_storage::scan::Columns;
use combray_storage::SpanStore;

use crate::columns::{Catalog, Kind};
use crate::error::HoneycombResult;

/// A column events of the dataset have.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnUsage {
    /// Its Honeycomb name.
    pub name: String,
    /// What its values are.
    pub kind: Kind,
    /// Unix nanoseconds of the latest span that has it.
    pub last_written_unix_nano: i64,
}

/// The columns the spans of `services` (every service when none) have, in the catalog's order.
pub async fn column_usage(
    engine: &SqlEngine,
    store: &dyn SpanStore,
    environment: &str,
    services: Option<Vec<String>>,
) -> HoneycombResult<Vec<ColumnUsage>> {
    let outcome = engine
        .with_session(
            store,
            environment,
            Columns::WithSpanLists,
            move |context| async move { Ok(usage(&context, services.as_deref()).await) },
        )
        .await?;
    outcome
}

async fn usage(
    context: &datafusion::prelude::SessionContext,
    services: Option<&[String]>,
) -> HoneycombResult<Vec<ColumnUsage>> {
    let table = context
        .table_provider(combray_query::sql::TABLE)
        .await
        .map_err(combray_query::QueryError::from)?;
    let catalog = Catalog::of(&table.schema());
    let columns = catalog.columns();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let latest: Vec<String> = columns
        .iter()
        .map(|(name, _)| {
            format!(
                "CAST(max(\"start_time\") FILTER (WHERE {} IS NOT NULL) AS BIGINT)",
                catalog.resolve(name).sql
            )
        })
        .collect();
    let filter = crate::plan::service_condition(services);
    let sql = format!("SELECT {} FROM spans WHERE {filter}", latest.join(", "));
    let row = json_rows(context, &sql)
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    Ok(columns
        .into_iter()
        .zip(row)
        .filter_map(|((name, kind), at)| {
            at.as_i64().map(|at| ColumnUsage {
                name,
                kind,
                last_written_unix_nano: at,
            })
        })
        .collect())
}
