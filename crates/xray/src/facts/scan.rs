//! The few facts of every span that X-Ray's service graph needs, read with one DataFusion scan
//! of narrow columns: ids, service, name, kind, times, status, and a chosen handful of span and
//! resource attributes as text. Never the segment documents, which are most of a block's bytes,
//! so a graph over a million traces reads a small part of the store.
//!
//! Attribute values come from their typed columns; a value that did not fit its key's column
//! (the overflow list) or a block written before columns existed (the whole list) is found in
//! the postcard list instead, so nothing the spans hold is missed. Text is interned: a graph
//! sees few distinct services, names and attribute values, and millions of spans.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray};
use arrow_schema::DataType;
use combray_model::{AttributeValue, KeyValue, Protocol, SpanId, SpanKind, StatusCode, TraceId};
use combray_storage::scan::column;
use combray_storage::scan::column::ATTRIBUTES_OVERFLOW as OVERFLOW_COLUMN;
use combray_storage::SpanStore;
use datafusion::arrow::compute::cast;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{lit, Expr};
use datafusion::prelude::{ident, SessionContext};
use futures::StreamExt;

use combray_query::sql::{SqlEngine, TABLE};
use combray_query::QueryError;
use combray_storage::scan::Columns;

/// Which spans and which of their attributes a scan reads.
#[derive(Debug, Clone)]
pub(crate) struct FactsRequest {
    /// Only spans starting at or after this time.
    pub since_unix_nano: u64,
    /// Only traces from this id…
    pub first_trace: TraceId,
    /// …to this one, both included.
    pub last_trace: TraceId,
    /// Span attribute keys to read, in the order [`SpanFacts::value`] numbers them.
    pub attributes: Vec<String>,
    /// Resource attribute keys to read, numbered after the span attributes.
    pub resource: Vec<String>,
}

/// One span's facts; its text and attribute values are in the [`SpanFacts`] that holds it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpanFact {
    /// The trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// Its parent, if any.
    pub parent: Option<SpanId>,
    /// Service (dataset), interned.
    pub service: u32,
    /// Span name, interned.
    pub name: u32,
    /// Span kind.
    pub kind: SpanKind,
    /// How it arrived.
    pub protocol: Option<Protocol>,
    /// Start, Unix nanoseconds.
    pub start_unix_nano: u64,
    /// Duration in nanoseconds.
    pub duration_nano: u64,
    /// Its status is an error.
    pub failed: bool,
}

/// The spans a scan found, with their interned text and attribute values.
#[derive(Debug, Default)]
pub(crate) struct SpanFacts {
    /// The spans, in no particular order.
    pub spans: Vec<SpanFact>,
    /// For span `i`, value `k` is at `i * keys + k`: 0 when absent, else the text's index + 1.
    values: Vec<u32>,
    keys: usize,
    texts: Vec<Arc<str>>,
    interned: HashMap<Arc<str>, u32>,
}

impl SpanFacts {
    fn with_keys(keys: usize) -> Self {
        Self {
            keys,
            ..Self::default()
        }
    }

    fn intern(&mut self, text: &str) -> u32 {
        if let Some(&index) = self.interned.get(text) {
            return index;
        }
        let text: Arc<str> = Arc::from(text);
        let index = self.texts.len() as u32;
        self.texts.push(Arc::clone(&text));
        self.interned.insert(text, index);
        index
    }

    /// Interned text.
    pub(crate) fn text(&self, index: u32) -> &str {
        &self.texts[index as usize]
    }

    /// Attribute `key` (numbered as in the request: span attributes, then resource) of span
    /// `span`, as text.
    pub(crate) fn value(&self, span: usize, key: usize) -> Option<&str> {
        match self.values[span * self.keys + key] {
            0 => None,
            n => Some(&self.texts[n as usize - 1]),
        }
    }
}

/// An attribute value as text, the way the X-Ray side reads scalars: strings as they are,
/// anything else as JSON.
fn value_text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::String(text) => text.clone(),
        other => other.to_json().to_string(),
    }
}

/// Reads the facts of every span the request selects, on the engine's query threads.
pub(crate) async fn span_facts(
    engine: &SqlEngine,
    store: &dyn SpanStore,
    environment: &str,
    request: FactsRequest,
) -> Result<SpanFacts, QueryError> {
    let work = move |context: SessionContext| async move {
        let frame = context.table(TABLE).await.map_err(QueryError::from)?;
        let schema = frame.schema().clone();
        let has = |name: &str| schema.field_with_unqualified_name(name).is_ok();
        let mut projection: Vec<Expr> = [
            column::TRACE_ID,
            column::SPAN_ID,
            column::PARENT_SPAN_ID,
            column::SERVICE,
            column::NAME,
            column::KIND,
            column::START_TIME,
            column::DURATION_NANO,
            column::STATUS_CODE,
            column::PROTOCOL,
            column::RESOURCE,
        ]
        .into_iter()
        .map(ident)
        .collect();
        for list in [column::ATTRIBUTES, OVERFLOW_COLUMN] {
            projection.push(if has(list) {
                ident(list)
            } else {
                lit(ScalarValue::Binary(None)).alias(list)
            });
        }
        let typed = request
            .attributes
            .iter()
            .map(|k| format!("attr.{k}"))
            .chain(request.resource.iter().map(|k| format!("resource.{k}")));
        for (index, name) in typed.enumerate() {
            let alias = format!("value{index}");
            projection.push(if has(&name) {
                ident(name).alias(alias)
            } else {
                lit(ScalarValue::Utf8(None)).alias(alias)
            });
        }
        let trace_bound = |id: TraceId| {
            lit(ScalarValue::FixedSizeBinary(
                16,
                Some(id.as_bytes().to_vec()),
            ))
        };
        let since = i64::try_from(request.since_unix_nano).unwrap_or(i64::MAX);
        let frame = frame
            .filter(
                ident(column::START_TIME)
                    .gt_eq(lit(ScalarValue::TimestampNanosecond(
                        Some(since),
                        Some("UTC".into()),
                    )))
                    .and(ident(column::TRACE_ID).gt_eq(trace_bound(request.first_trace)))
                    .and(ident(column::TRACE_ID).lt_eq(trace_bound(request.last_trace))),
            )
            .and_then(|f| f.select(projection))
            .map_err(QueryError::from)?;
        let mut stream = frame.execute_stream().await.map_err(QueryError::from)?;
        let keys = request.attributes.len() + request.resource.len();
        let mut facts = SpanFacts::with_keys(keys);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(QueryError::from)?;
            append(&mut facts, &batch, &request).map_err(QueryError::from)?;
        }
        Ok(facts)
    };
    engine
        .with_session(store, environment, Columns::WithLists, work)
        .await
}

fn as_text(array: &ArrayRef) -> Result<StringArray, DataFusionError> {
    Ok(cast(array, &DataType::Utf8)?.as_string::<i32>().clone())
}

fn as_binary(array: &ArrayRef) -> Result<BinaryArray, DataFusionError> {
    Ok(cast(array, &DataType::Binary)?.as_binary::<i32>().clone())
}

fn as_i64(array: &ArrayRef) -> Result<Vec<i64>, DataFusionError> {
    let array = cast(array, &DataType::Int64)?;
    let values = array.as_primitive::<Int64Type>();
    Ok((0..values.len())
        .map(|row| {
            if values.is_null(row) {
                0
            } else {
                values.value(row)
            }
        })
        .collect())
}

fn fixed<const N: usize>(array: &ArrayRef, row: usize) -> Option<[u8; N]> {
    let array = array.as_fixed_size_binary_opt()?;
    if array.is_null(row) {
        return None;
    }
    array.value(row).try_into().ok()
}

/// Postcard attribute lists, decoded once per distinct list (a resource repeats on every span
/// of its batch).
#[derive(Default)]
struct ListCache {
    last: Option<(Vec<u8>, Vec<KeyValue>)>,
}

impl ListCache {
    fn decode(&mut self, bytes: &[u8]) -> &[KeyValue] {
        let fresh = self.last.as_ref().is_none_or(|(b, _)| b != bytes);
        if fresh {
            let list = combray_storage::scan::decode_attribute_list(bytes).unwrap_or_default();
            self.last = Some((bytes.to_vec(), list));
        }
        self.last.as_ref().map_or(&[], |(_, list)| list)
    }
}

fn find<'a>(list: &'a [KeyValue], key: &str) -> Option<&'a AttributeValue> {
    list.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

fn append(
    facts: &mut SpanFacts,
    batch: &RecordBatch,
    request: &FactsRequest,
) -> Result<(), DataFusionError> {
    let column = |name: &str| -> Result<&ArrayRef, DataFusionError> {
        batch
            .column_by_name(name)
            .ok_or_else(|| DataFusionError::Internal(format!("the scan lost column {name}")))
    };
    let trace_ids = column(column::TRACE_ID)?;
    let span_ids = column(column::SPAN_ID)?;
    let parents = column(column::PARENT_SPAN_ID)?;
    let services = as_text(column(column::SERVICE)?)?;
    let names = as_text(column(column::NAME)?)?;
    let kinds = as_i64(column(column::KIND)?)?;
    let starts = as_i64(column(column::START_TIME)?)?;
    let durations = as_i64(column(column::DURATION_NANO)?)?;
    let statuses = as_i64(column(column::STATUS_CODE)?)?;
    let protocols = as_i64(column(column::PROTOCOL)?)?;
    let resources = as_binary(column(column::RESOURCE)?)?;
    let whole_lists = as_binary(column(column::ATTRIBUTES)?)?;
    let overflows = as_binary(column(OVERFLOW_COLUMN)?)?;
    let keys = request.attributes.len() + request.resource.len();
    let values: Vec<StringArray> = (0..keys)
        .map(|index| as_text(column(&format!("value{index}"))?))
        .collect::<Result<_, _>>()?;
    let mut resource_lists = ListCache::default();
    for row in 0..batch.num_rows() {
        let (Some(trace), Some(span)) = (fixed::<16>(trace_ids, row), fixed::<8>(span_ids, row))
        else {
            continue;
        };
        let service = facts.intern(services.value(row));
        let name = facts.intern(names.value(row));
        facts.spans.push(SpanFact {
            trace_id: TraceId::from_bytes(trace),
            span_id: SpanId::from_bytes(span),
            parent: fixed::<8>(parents, row).map(SpanId::from_bytes),
            service,
            name,
            kind: SpanKind::from_otlp(kinds[row] as i32),
            protocol: Protocol::from_u8(protocols[row] as u8),
            start_unix_nano: starts[row].max(0) as u64,
            duration_nano: durations[row].max(0) as u64,
            failed: statuses[row] == StatusCode::Error as i64,
        });
        // The postcard lists are decoded only when a typed column lacks a value.
        let mut lists: Option<Vec<KeyValue>> = None;
        for (index, typed) in values.iter().enumerate() {
            let value = if !typed.is_null(row) {
                facts.intern(typed.value(row)) + 1
            } else {
                let text = match request.attributes.get(index) {
                    Some(key) => {
                        let lists = lists.get_or_insert_with(|| {
                            [&whole_lists, &overflows]
                                .into_iter()
                                .filter(|list| !list.is_null(row))
                                .flat_map(|list| {
                                    combray_storage::scan::decode_attribute_list(list.value(row))
                                        .unwrap_or_default()
                                })
                                .collect()
                        });
                        find(lists, key).map(value_text)
                    }
                    None if resources.is_null(row) => None,
                    None => {
                        let key = &request.resource[index - request.attributes.len()];
                        find(resource_lists.decode(resources.value(row)), key).map(value_text)
                    }
                };
                text.map_or(0, |text| facts.intern(&text) + 1)
            };
            facts.values.push(value);
        }
    }
    Ok(())
}
