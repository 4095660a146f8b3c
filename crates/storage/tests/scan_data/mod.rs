//! The scan tests' data: one block of 70,000 spans (two row groups) and a head of 300 more,
//! each row as the checks see it, and a plain evaluation of conditions over rows.

// Each scan test file compiles this module on its own and uses only part of it.
#![allow(dead_code, unused_imports)]

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampNanosecondType};
use arrow_array::{Array, RecordBatch};
use combray_model::{AttributeValue, Event, KeyValue, TraceId};
use combray_storage::scan::{column, Columns, CompareOp, Condition, Literal, ScanFilter};
use combray_storage::{SpanStore, Storage};
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::{batch, config, span};

pub(crate) const BLOCK_TRACES: u32 = 7_000;
pub(crate) const HEAD_TRACES: u32 = 30;
pub(crate) const SPANS_PER_TRACE: u8 = 10;
pub(crate) const SERVICES: [&str; 3] = ["api", "db", "web"];
/// Traces whose first span has a span event: two in the block's second row group, one in the
/// head's chunk of the first service.
pub(crate) const WITH_EVENTS: [u32; 3] = [6_900, 6_901, 7_005];

pub(crate) fn trace_id(trace: u32) -> TraceId {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&trace.to_be_bytes());
    TraceId::from_bytes(bytes)
}

pub(crate) fn start_of(trace: u32, span: u8) -> i64 {
    1_000_000 + i64::from(trace) * 1_000 + i64::from(span)
}

/// One row as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Row {
    pub(crate) trace: u32,
    pub(crate) span: u8,
    pub(crate) service: String,
    pub(crate) n: Option<i64>,
    pub(crate) tier: Option<String>,
    pub(crate) late: Option<bool>,
    pub(crate) start: i64,
}

pub(crate) async fn append_traces(storage: &Storage, traces: std::ops::Range<u32>, late: bool) {
    for first in traces.clone().step_by(100) {
        for (s, service) in SERVICES.iter().enumerate() {
            let spans = (first..(first + 100).min(traces.end))
                .filter(|t| *t as usize % SERVICES.len() == s)
                .flat_map(|t| {
                    (0..SPANS_PER_TRACE).map(move |i| {
                        let mut span = span(0, i + 1, None);
                        span.trace_id = trace_id(t);
                        span.start_unix_nano = start_of(t, i) as u64;
                        span.attributes = vec![
                            KeyValue {
                                key: "n".into(),
                                value: AttributeValue::Int(i64::from(t)),
                            },
                            KeyValue {
                                key: "tier".into(),
                                value: AttributeValue::String(
                                    if t % 2 == 0 { "gold" } else { "free" }.into(),
                                ),
                            },
                        ];
                        if i == 0 && WITH_EVENTS.contains(&t) {
                            span.events = vec![Event {
                                time_unix_nano: start_of(t, i) as u64,
                                name: "exception".into(),
                                attributes: Vec::new(),
                                dropped_attributes_count: 0,
                            }];
                        }
                        if late {
                            span.attributes.push(KeyValue {
                                key: "late".into(),
                                value: AttributeValue::Bool(true),
                            });
                        }
                        span
                    })
                })
                .collect::<Vec<_>>();
            if !spans.is_empty() {
                storage
                    .append(&batch("prod", service, spans))
                    .await
                    .unwrap();
            }
        }
    }
}

pub(crate) fn rows_of(batch: &RecordBatch) -> Vec<Row> {
    let get = |name: &str| batch.column_by_name(name).unwrap();
    let traces = get(column::TRACE_ID).as_fixed_size_binary().clone();
    let spans = get(column::SPAN_ID).as_fixed_size_binary().clone();
    let services = arrow_cast::cast(get(column::SERVICE), &arrow_schema::DataType::Utf8).unwrap();
    let services = services.as_string::<i32>();
    let n = get("attr.n").as_primitive::<Int64Type>().clone();
    let tier = arrow_cast::cast(get("attr.tier"), &arrow_schema::DataType::Utf8).unwrap();
    let tier = tier.as_string::<i32>();
    let late = batch
        .column_by_name("attr.late")
        .map(|a| a.as_boolean().clone());
    let start = get(column::START_TIME)
        .as_primitive::<TimestampNanosecondType>()
        .clone();
    (0..batch.num_rows())
        .map(|row| Row {
            trace: u32::from_be_bytes(traces.value(row)[..4].try_into().unwrap()),
            span: spans.value(row)[0],
            service: services.value(row).to_owned(),
            n: (!n.is_null(row)).then(|| n.value(row)),
            tier: (!tier.is_null(row)).then(|| tier.value(row).to_owned()),
            late: late
                .as_ref()
                .and_then(|l| (!l.is_null(row)).then(|| l.value(row))),
            start: start.value(row),
        })
        .collect()
}

/// Every row the filter's plan reads, and a description of the plan's parts.
pub(crate) async fn scan(storage: &Storage, filter: ScanFilter) -> (Vec<Row>, Vec<String>) {
    let table = storage.snapshot("prod").into_scan(Columns::Typed).unwrap();
    let partitions = table.plan(None, filter, None, 3).await.unwrap();
    let mut described = Vec::new();
    let mut rows = Vec::new();
    for parts in partitions {
        described.extend(parts.iter().map(|p| format!("{p:?}")));
        let mut stream = combray_storage::scan::read_parts(parts);
        while let Some(batch) = stream.next().await {
            rows.extend(rows_of(&batch.unwrap()));
        }
    }
    (rows, described)
}

pub(crate) fn holds(row: &Row, condition: &Condition) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (condition.column.as_str(), &condition.value) {
        ("attr.n", Literal::Int(v)) => row.n.map(|n| n.cmp(v)),
        ("attr.tier", Literal::Text(v)) => row.tier.as_ref().map(|t| t.as_str().cmp(v)),
        ("attr.late", Literal::Bool(v)) => row.late.map(|l| l.cmp(v)),
        (column::SERVICE, Literal::Text(v)) => Some(row.service.as_str().cmp(v)),
        (column::START_TIME, Literal::TimeNanos(v)) => Some(row.start.cmp(v)),
        (column::TRACE_ID, Literal::Bytes(v)) => {
            Some(trace_id(row.trace).as_bytes().as_slice().cmp(v.as_slice()))
        }
        other => panic!("no reference for {other:?}"),
    };
    let Some(ordering) = ordering else {
        return false; // null meets no comparison
    };
    match condition.op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::NotEq => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::LtEq => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::GtEq => ordering != Ordering::Less,
    }
}

pub(crate) fn random_condition(rng: &mut StdRng) -> Condition {
    const OPS: [CompareOp; 6] = [
        CompareOp::Eq,
        CompareOp::NotEq,
        CompareOp::Lt,
        CompareOp::LtEq,
        CompareOp::Gt,
        CompareOp::GtEq,
    ];
    let op = OPS[rng.random_range(0..OPS.len())];
    let all = BLOCK_TRACES + HEAD_TRACES;
    let (column, value) = match rng.random_range(0..6) {
        0 => (
            "attr.n",
            Literal::Int(rng.random_range(-5..i64::from(all) + 5)),
        ),
        1 => (
            "attr.tier",
            Literal::Text(["gold", "free", "none"][rng.random_range(0..3)].into()),
        ),
        2 => ("attr.late", Literal::Bool(rng.random())),
        3 => (
            column::SERVICE,
            Literal::Text(["api", "db", "web", "nope"][rng.random_range(0..4)].into()),
        ),
        4 => (
            column::START_TIME,
            Literal::TimeNanos(start_of(rng.random_range(0..all + 2), 3)),
        ),
        _ => (
            column::TRACE_ID,
            Literal::Bytes(trace_id(rng.random_range(0..all + 2)).as_bytes().to_vec()),
        ),
    };
    Condition {
        column: column.into(),
        op,
        value,
    }
}

/// The block of [`BLOCK_TRACES`] traces (without `late`), then the head of [`HEAD_TRACES`].
pub(crate) async fn block_and_head() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    append_traces(&storage, 0..BLOCK_TRACES, false).await;
    storage.cut().await.unwrap().expect("spans to cut");
    append_traces(&storage, BLOCK_TRACES..BLOCK_TRACES + HEAD_TRACES, true).await;
    (dir, storage)
}

/// The `(trace, span)` of every row a plan of `projection` reads.
pub(crate) async fn keys(
    storage: &Storage,
    projection: &[&str],
    filter: ScanFilter,
) -> Vec<(u32, u8)> {
    let table = storage.snapshot("prod").into_scan(Columns::Typed).unwrap();
    let schema = table.schema();
    let indices: Vec<usize> = projection
        .iter()
        .map(|name| schema.index_of(name).unwrap())
        .collect();
    let partitions = table.plan(Some(&indices), filter, None, 3).await.unwrap();
    let mut keys = Vec::new();
    for parts in partitions {
        let mut stream = combray_storage::scan::read_parts(parts);
        while let Some(batch) = stream.next().await {
            let batch = batch.unwrap();
            let traces = batch.column(0).as_fixed_size_binary().clone();
            let spans = batch.column(1).as_fixed_size_binary().clone();
            keys.extend((0..batch.num_rows()).map(|row| {
                (
                    u32::from_be_bytes(traces.value(row)[..4].try_into().unwrap()),
                    spans.value(row)[0],
                )
            }));
        }
    }
    keys.sort_unstable();
    keys
}

pub(crate) fn all_traces() -> u32 {
    BLOCK_TRACES + HEAD_TRACES
}
