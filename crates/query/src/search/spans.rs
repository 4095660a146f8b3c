//! The span conditions of a search as one DataFusion filter over head and blocks: typed columns
//! where they exist (so Parquet statistics, page indexes and late materialization apply), and the
//! attribute-list functions for values that have no column.

use combray_model::TraceId;
use combray_storage::scan::column;
use combray_storage::SpanStore;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{cast, lit, Expr};
use datafusion::prelude::{ident, when, SessionContext};

use super::SearchParams;
use crate::sql::lists::{attribute_list_has, attribute_list_matches};
use crate::sql::{SqlEngine, TABLE};
use crate::QueryError;
use combray_storage::scan::Columns;

const OVERFLOW: &str = "attributes_overflow";

fn list_has(list: &str, key: &str) -> Expr {
    attribute_list_has().call(vec![ident(list), lit(key)])
}

fn list_matches(list: &str, key: &str, text: &str) -> Expr {
    attribute_list_matches().call(vec![ident(list), lit(key), lit(text)])
}

/// `column = text` as `AttributeValue::matches_text` reads it, for a typed column; `None` when
/// the table has no such column or the text cannot equal any of its values.
fn typed_equals(schema: &DFSchema, name: &str, text: &str) -> Option<Expr> {
    let field = schema.field_with_unqualified_name(name).ok()?;
    let column = ident(name);
    match field.data_type() {
        DataType::Int64 => match text.parse::<i64>() {
            Ok(number) => Some(column.eq(lit(number))),
            Err(_) => text
                .parse::<f64>()
                .ok()
                .map(|number| cast(column, DataType::Float64).eq(lit(number))),
        },
        DataType::Float64 => text
            .parse::<f64>()
            .ok()
            .map(|number| column.eq(lit(number))),
        DataType::Boolean => text.parse::<bool>().ok().map(|flag| column.eq(lit(flag))),
        _ => Some(column.eq(lit(text))),
    }
}

fn any_of(conditions: Vec<Expr>) -> Expr {
    conditions
        .into_iter()
        .reduce(Expr::or)
        .unwrap_or_else(|| lit(false))
}

/// A span attribute `key` equal to `text`; failing that (the span has no such attribute at all),
/// a resource attribute.
fn attribute_condition(schema: &DFSchema, key: &str, text: &str) -> Expr {
    let span_column = format!("attr.{key}");
    let lists = [column::ATTRIBUTES, OVERFLOW];
    let mut on_span: Vec<Expr> = typed_equals(schema, &span_column, text)
        .into_iter()
        .collect();
    let mut span_has: Vec<Expr> = Vec::new();
    if schema.has_column_with_unqualified_name(&span_column) {
        span_has.push(ident(&span_column).is_not_null());
    }
    for list in lists {
        on_span.push(list_matches(list, key, text));
        span_has.push(list_has(list, key));
    }
    let resource_column = format!("resource.{key}");
    let mut on_resource: Vec<Expr> = typed_equals(schema, &resource_column, text)
        .into_iter()
        .collect();
    on_resource.push(list_matches(column::RESOURCE, key, text));
    // CASE keeps the resource lookup off rows whose span answers for itself.
    when(any_of(span_has), any_of(on_span))
        .otherwise(any_of(on_resource))
        .unwrap_or_else(|_| lit(false))
}

fn span_conditions(params: &SearchParams, schema: &DFSchema) -> Vec<Expr> {
    let mut conditions = Vec::new();
    if let Some(service) = &params.service {
        conditions.push(ident(column::SERVICE).eq(lit(service.as_str())));
    }
    if let Some(name) = &params.name {
        conditions.push(ident(column::NAME).eq(lit(name.as_str())));
    }
    let nanos = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    if let Some(low) = params.min_duration_nano {
        conditions.push(ident(column::DURATION_NANO).gt_eq(lit(nanos(low))));
    }
    if let Some(high) = params.max_duration_nano {
        conditions.push(ident(column::DURATION_NANO).lt_eq(lit(nanos(high))));
    }
    if let Some(status) = params.status {
        conditions.push(ident(column::STATUS_CODE).eq(lit(ScalarValue::UInt8(Some(status as u8)))));
    }
    // A trace starts with its earliest span, so no span of a trace that starts at or after
    // `start` starts before it. (Nothing bounds spans from above: they may start after `end`.)
    if let Some(start) = params.start_unix_nano {
        conditions.push(
            ident(column::START_TIME).gt_eq(lit(ScalarValue::TimestampNanosecond(
                Some(nanos(start)),
                Some("UTC".into()),
            ))),
        );
    }
    for (key, text) in &params.attributes {
        conditions.push(attribute_condition(schema, key, text));
    }
    conditions
}

/// Every trace with a span that meets all span conditions of `params`.
pub(super) async fn matching_traces(
    engine: &SqlEngine,
    store: &dyn SpanStore,
    environment: &str,
    params: &SearchParams,
) -> Result<Vec<TraceId>, QueryError> {
    let params = params.clone();
    let work = move |context: SessionContext| async move {
        let frame = context.table(TABLE).await.map_err(QueryError::from)?;
        let conditions = span_conditions(&params, frame.schema());
        let filter = conditions
            .into_iter()
            .reduce(Expr::and)
            .unwrap_or_else(|| lit(true));
        let batches = frame
            .filter(filter)
            .and_then(|f| f.aggregate(vec![ident(column::TRACE_ID)], vec![]))
            .map_err(QueryError::from)?
            .collect()
            .await
            .map_err(QueryError::from)?;
        let mut traces = Vec::new();
        for batch in &batches {
            let ids = batch.column(0).as_fixed_size_binary();
            for row in 0..ids.len() {
                if let Ok(bytes) = <[u8; 16]>::try_from(ids.value(row)) {
                    traces.push(TraceId::from_bytes(bytes));
                }
            }
        }
        Ok(traces)
    };
    engine
        .with_session(store, environment, Columns::WithLists, work)
        .await
}
