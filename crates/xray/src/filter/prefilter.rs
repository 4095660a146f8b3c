//! Narrows the traces a filter expression can match with one DataFusion scan per condition,
//! before each candidate is read whole and evaluated exactly (by the X-Ray API).
//!
//! Each condition the expression needs becomes "some span of the trace has …", a *necessary*
//! condition: every trace the expression matches is a candidate (candidates that do not match
//! are then dropped by the exact evaluation). `AND` intersects, `OR` unites, and anything this
//! cannot narrow safely (negation, `ok`, `duration`, root causes, groups) leaves all traces in.
//! Values that may live outside the typed columns (the overflow list, v1 blocks) keep their
//! span in as a candidate.

use std::collections::HashSet;

use combray_model::TraceId;
use combray_storage::scan::column;
use combray_storage::SpanStore;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{cast, lit, Expr};
use datafusion::prelude::{ident, DataFrame, SessionContext};

use super::ast::{Comparison, Field, Filter, Keyword, NodeRef, Operator, Value};
use combray_query::sql::lists::attribute_list_has;
use combray_query::sql::{SqlEngine, TABLE};
use combray_query::QueryError;
use combray_storage::scan::Columns;

const OVERFLOW: &str = "attributes_overflow";

/// What a trace needs, in span terms.
enum Need {
    /// Nothing known: every trace.
    All,
    /// Some span meets the expression.
    Span(Expr),
    And(Vec<Need>),
    Or(Vec<Need>),
}

/// An attribute key as an X-Ray annotation key (what OTLP attributes are called there).
fn annotation_key(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// `column <operator> value` when the column's type can hold the value.
fn compare(schema: &DFSchema, name: &str, operator: Operator, value: &Value) -> Option<Expr> {
    let field = schema.field_with_unqualified_name(name).ok()?;
    let column = ident(name);
    let textual = matches!(
        field.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _)
    );
    let numeric = matches!(field.data_type(), DataType::Int64 | DataType::Float64);
    let (column, literal) = match value {
        Value::Number(n) if numeric => (cast(column, DataType::Float64), lit(*n)),
        Value::Text(t) if textual => (column, lit(t.as_str())),
        Value::Bool(b) if field.data_type() == &DataType::Boolean => (column, lit(*b)),
        _ => return None,
    };
    Some(match (operator, value) {
        (Operator::Eq, _) => column.eq(literal),
        (Operator::Ne, _) => column.not_eq(literal),
        (Operator::Lt, _) => column.lt(literal),
        (Operator::Le, _) => column.lt_eq(literal),
        (Operator::Gt, _) => column.gt(literal),
        (Operator::Ge, _) => column.gt_eq(literal),
        (Operator::Contains, Value::Text(t)) => column.like(lit(format!("%{}%", like_escape(t)))),
        (Operator::BeginsWith, Value::Text(t)) => column.like(lit(format!("{}%", like_escape(t)))),
        (Operator::EndsWith, Value::Text(t)) => column.like(lit(format!("%{}", like_escape(t)))),
        _ => return None,
    })
}

fn any_of(conditions: Vec<Expr>) -> Expr {
    conditions
        .into_iter()
        .reduce(Expr::or)
        .unwrap_or_else(|| lit(false))
}

/// Some span has one of these attributes meeting the test, or may have it outside the typed
/// columns.
fn attribute_need(schema: &DFSchema, keys: &[String], test: Option<&(Operator, Value)>) -> Need {
    let mut conditions = Vec::new();
    for key in keys {
        let name = format!("attr.{key}");
        match test {
            None if schema.has_column_with_unqualified_name(&name) => {
                conditions.push(ident(&name).is_not_null())
            }
            None => {}
            Some((operator, value)) => conditions.extend(compare(schema, &name, *operator, value)),
        }
        for list in [column::ATTRIBUTES, OVERFLOW] {
            if schema.has_column_with_unqualified_name(list) {
                conditions.push(attribute_list_has().call(vec![ident(list), lit(key.as_str())]));
            }
        }
    }
    Need::Span(any_of(conditions))
}

/// Attribute keys that read as annotation `key`: X-Ray's own, and OTLP attributes whose X-Ray
/// spelling it is.
fn annotation_sources(schema: &DFSchema, key: &str) -> Vec<String> {
    let mut keys = vec![format!("annotation.{key}")];
    for field in schema.fields() {
        if let Some(attribute) = field.name().strip_prefix("attr.") {
            if !attribute.starts_with("annotation.") && annotation_key(attribute) == key {
                keys.push(attribute.to_owned());
            }
        }
    }
    keys
}

/// Some span could be part of a node with this name: a service, or an inferred node named
/// after a subsegment, a table or a peer.
fn node_need(schema: &DFSchema, node: &NodeRef) -> Need {
    let Some(name) = &node.name else {
        return Need::All;
    };
    let mut conditions = vec![
        ident(column::SERVICE).eq(lit(name.as_str())),
        ident(column::NAME).eq(lit(name.as_str())),
    ];
    let keys: Vec<String> = [
        "aws.table_name",
        "peer.service",
        "server.address",
        "net.peer.name",
        "db.system",
    ]
    .iter()
    .map(|k| (*k).to_owned())
    .collect();
    if let Need::Span(expr) = attribute_need(
        schema,
        &keys,
        Some(&(Operator::Eq, Value::Text(name.clone()))),
    ) {
        conditions.push(expr);
    }
    Need::Span(any_of(conditions))
}

fn comparison_need(schema: &DFSchema, comparison: &Comparison) -> Need {
    let test = comparison.test.as_ref();
    let keyword = match &comparison.field {
        Field::Annotation(key) => {
            return attribute_need(schema, &annotation_sources(schema, key), test)
        }
        Field::Keyword(keyword) => *keyword,
    };
    match (keyword, test) {
        // The entry segment's time is one span's duration.
        (Keyword::ResponseTime, Some((Operator::Gt | Operator::Ge, Value::Number(n)))) => {
            let nanos = (n * 1e9).floor().max(0.0) as i64;
            Need::Span(ident(column::DURATION_NANO).gt_eq(lit(nanos)))
        }
        (Keyword::HttpStatus, Some(test)) if test.0 == Operator::Eq => {
            let keys = [
                "http.status_code".to_owned(),
                "http.response.status_code".to_owned(),
            ];
            attribute_need(schema, &keys, Some(test))
        }
        (Keyword::User, Some(test)) => {
            attribute_need(schema, &["enduser.id".to_owned()], Some(test))
        }
        (Keyword::Fault, None) | (Keyword::Fault, Some((Operator::Eq, Value::Bool(true)))) => {
            let mut conditions =
                vec![ident(column::STATUS_CODE).eq(lit(ScalarValue::UInt8(Some(2))))];
            for key in ["http.status_code", "http.response.status_code"] {
                conditions.extend(compare(
                    schema,
                    &format!("attr.{key}"),
                    Operator::Ge,
                    &Value::Number(500.0),
                ));
            }
            Need::Span(any_of(conditions))
        }
        _ => Need::All,
    }
}

fn need(filter: &Filter, schema: &DFSchema) -> Need {
    match filter {
        Filter::And(parts) => Need::And(parts.iter().map(|p| need(p, schema)).collect()),
        Filter::Or(parts) => Need::Or(parts.iter().map(|p| need(p, schema)).collect()),
        Filter::Compare(comparison) => comparison_need(schema, comparison),
        // What the braces ask of a segment or call is still "some span has …" of the trace.
        Filter::Service { node, filter } => Need::And(vec![
            node.as_ref().map_or(Need::All, |n| node_need(schema, n)),
            filter.as_ref().map_or(Need::All, |f| need(f, schema)),
        ]),
        Filter::Edge { from, to, filter } => Need::And(vec![
            node_need(schema, from),
            node_need(schema, to),
            filter.as_ref().map_or(Need::All, |f| need(f, schema)),
        ]),
        _ => Need::All,
    }
}

/// The plan for a need: a frame of distinct trace ids, or `None` for all traces.
fn plan(need: Need, base: &DataFrame) -> Result<Option<DataFrame>, QueryError> {
    match need {
        Need::All => Ok(None),
        Need::Span(expr) => base
            .clone()
            .filter(expr)
            .and_then(|f| f.select(vec![ident(column::TRACE_ID)]))
            .and_then(DataFrame::distinct)
            .map(Some)
            .map_err(QueryError::from),
        Need::And(parts) => {
            let mut combined: Option<DataFrame> = None;
            for part in parts {
                if let Some(frame) = plan(part, base)? {
                    combined = Some(match combined {
                        None => frame,
                        Some(left) => left.intersect(frame).map_err(QueryError::from)?,
                    });
                }
            }
            Ok(combined)
        }
        Need::Or(parts) => {
            let mut combined: Option<DataFrame> = None;
            for part in parts {
                let Some(frame) = plan(part, base)? else {
                    return Ok(None);
                };
                combined = Some(match combined {
                    None => frame,
                    Some(left) => left.union_distinct(frame).map_err(QueryError::from)?,
                });
            }
            Ok(combined)
        }
    }
}

/// Traces that may match `filter` among those with spans starting at or after `start`;
/// `None` when the expression cannot narrow them.
pub async fn candidate_traces(
    engine: &SqlEngine,
    store: &dyn SpanStore,
    environment: &str,
    filter: &Filter,
    start_unix_nano: u64,
) -> Result<Option<HashSet<TraceId>>, QueryError> {
    let filter = filter.clone();
    let work = move |context: SessionContext| async move {
        let since = i64::try_from(start_unix_nano).unwrap_or(i64::MAX);
        let base =
            context
                .table(TABLE)
                .await
                .and_then(|t| {
                    t.filter(ident(column::START_TIME).gt_eq(lit(
                        ScalarValue::TimestampNanosecond(Some(since), Some("UTC".into())),
                    )))
                })
                .map_err(QueryError::from)?;
        let need = need(&filter, base.schema());
        let Some(frame) = plan(need, &base)? else {
            return Ok(None);
        };
        let batches = frame.collect().await.map_err(QueryError::from)?;
        let mut traces = HashSet::new();
        for batch in &batches {
            let ids = batch.column(0).as_fixed_size_binary();
            for row in 0..ids.len() {
                if let Ok(bytes) = <[u8; 16]>::try_from(ids.value(row)) {
                    traces.insert(TraceId::from_bytes(bytes));
                }
            }
        }
        Ok(Some(traces))
    };
    engine
        .with_session(store, environment, Columns::WithLists, work)
        .await
}
