//! Scans over blocks and the head: pruning never loses a wanted row, and does prune.
//!
//! One block of 70,000 spans (two row groups) and a head of 300 more; every filter is checked
//! against a plain evaluation of the same conditions over every row, read without any filter.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampNanosecondType};
use arrow_array::{Array, RecordBatch};
use combray_model::{AttributeValue, Event, KeyValue, TraceId};
use combray_storage::scan::{column, Columns, CompareOp, Condition, Literal, ScanFilter};
use combray_storage::{SpanStore, Storage};
use common::{batch, config, span};
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const BLOCK_TRACES: u32 = 7_000;
const HEAD_TRACES: u32 = 30;
const SPANS_PER_TRACE: u8 = 10;
const SERVICES: [&str; 3] = ["api", "db", "web"];
/// Traces whose first span has a span event: two in the block's second row group, one in the
/// head's chunk of the first service.
const WITH_EVENTS: [u32; 3] = [6_900, 6_901, 7_005];

fn trace_id(trace: u32) -> TraceId {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&trace.to_be_bytes());
    TraceId::from_bytes(bytes)
}

fn start_of(trace: u32, span: u8) -> i64 {
    1_000_000 + i64::from(trace) * 1_000 + i64::from(span)
}

/// One row as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Row {
    trace: u32,
    span: u8,
    service: String,
    n: Option<i64>,
    tier: Option<String>,
    late: Option<bool>,
    start: i64,
}

async fn append_traces(storage: &Storage, traces: std::ops::Range<u32>, late: bool) {
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

fn rows_of(batch: &RecordBatch) -> Vec<Row> {
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
async fn scan(storage: &Storage, filter: ScanFilter) -> (Vec<Row>, Vec<String>) {
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

fn holds(row: &Row, condition: &Condition) -> bool {
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

fn random_condition(rng: &mut StdRng) -> Condition {
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
async fn block_and_head() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(config(dir.path())).await.unwrap();
    append_traces(&storage, 0..BLOCK_TRACES, false).await;
    storage.cut().await.unwrap().expect("spans to cut");
    append_traces(&storage, BLOCK_TRACES..BLOCK_TRACES + HEAD_TRACES, true).await;
    (dir, storage)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_prune_blocks_row_groups_and_rows_without_losing_a_wanted_row() {
    let (_dir, storage) = block_and_head().await;

    let (every_row, _) = scan(&storage, ScanFilter::all()).await;
    let total = (BLOCK_TRACES + HEAD_TRACES) as usize * usize::from(SPANS_PER_TRACE);
    assert_eq!(every_row.len(), total);
    let distinct: BTreeSet<(u32, u8)> = every_row.iter().map(|r| (r.trace, r.span)).collect();
    assert_eq!(distinct.len(), total, "every span once");

    let mut rng = StdRng::seed_from_u64(20261202);
    for case in 0..150 {
        let mut filter = ScanFilter::all();
        let conditions: Vec<Condition> = (0..rng.random_range(1..=3))
            .map(|_| random_condition(&mut rng))
            .collect();
        for condition in &conditions {
            filter.and(condition.clone());
        }
        let wanted: Vec<&Row> = every_row
            .iter()
            .filter(|row| conditions.iter().all(|c| holds(row, c)))
            .collect();
        let (read, _) = scan(&storage, filter).await;
        let mut read_count: HashMap<(u32, u8), usize> = HashMap::new();
        for row in &read {
            *read_count.entry((row.trace, row.span)).or_default() += 1;
        }
        assert!(
            read_count.values().all(|n| *n == 1),
            "case {case}: a row twice"
        );
        for row in wanted {
            assert!(
                read_count.contains_key(&(row.trace, row.span)),
                "case {case}: {conditions:?} lost {row:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_read_only_what_the_filter_can_match() {
    let (_dir, storage) = block_and_head().await;
    let condition = |column: &str, op, value| {
        let mut filter = ScanFilter::all();
        filter.and(Condition {
            column: column.into(),
            op,
            value,
        });
        filter
    };

    // A column only the head has: the block is not read at all.
    let (rows, parts) = scan(
        &storage,
        condition("attr.late", CompareOp::Eq, Literal::Bool(true)),
    )
    .await;
    assert!(parts.iter().all(|p| p.starts_with("head")), "{parts:?}");
    assert_eq!(
        rows.len(),
        HEAD_TRACES as usize * usize::from(SPANS_PER_TRACE)
    );

    // A value only the first row group's statistics allow: the second is not read, and rows
    // that do not match are dropped before they are decoded.
    let (rows, parts) = scan(
        &storage,
        condition("attr.n", CompareOp::Eq, Literal::Int(5)),
    )
    .await;
    let block_parts: Vec<&String> = parts.iter().filter(|p| p.starts_with("block")).collect();
    assert_eq!(block_parts.len(), 1, "{parts:?}");
    assert!(block_parts[0].ends_with("row groups [0]"), "{parts:?}");
    let from_block: Vec<&Row> = rows.iter().filter(|r| r.trace < BLOCK_TRACES).collect();
    assert_eq!(from_block.len(), usize::from(SPANS_PER_TRACE));
    assert!(from_block.iter().all(|r| r.n == Some(5)));

    // One trace: its rows alone, found through the trace index.
    let wanted = trace_id(6_999);
    let (rows, _) = scan(
        &storage,
        condition(
            column::TRACE_ID,
            CompareOp::Eq,
            Literal::Bytes(wanted.as_bytes().to_vec()),
        ),
    )
    .await;
    let from_block: Vec<&Row> = rows.iter().filter(|r| r.trace < BLOCK_TRACES).collect();
    assert_eq!(from_block.len(), usize::from(SPANS_PER_TRACE));
    assert!(from_block.iter().all(|r| r.trace == 6_999));

    // A service the block's meta does not list, and a time after everything: nothing.
    let (rows, parts) = scan(
        &storage,
        condition(column::SERVICE, CompareOp::Eq, Literal::Text("nope".into())),
    )
    .await;
    assert!(parts.iter().all(|p| p.starts_with("head")), "{parts:?}");
    assert!(
        rows.iter().all(|r| r.trace >= BLOCK_TRACES),
        "head rows only"
    );
    let after = start_of(BLOCK_TRACES + HEAD_TRACES + 1, 0);
    let (_, parts) = scan(
        &storage,
        condition(column::START_TIME, CompareOp::Gt, Literal::TimeNanos(after)),
    )
    .await;
    assert!(parts.iter().all(|p| p.starts_with("head")), "{parts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_where_a_wanted_column_is_null_throughout_are_not_read() {
    let (_dir, storage) = block_and_head().await;
    let mut filter = ScanFilter::all();
    filter.and_present(column::EVENTS);
    let (rows, parts) = scan(&storage, filter).await;
    let block_parts: Vec<&String> = parts.iter().filter(|p| p.starts_with("block")).collect();
    assert_eq!(block_parts.len(), 1, "{parts:?}");
    assert!(block_parts[0].ends_with("row groups [1]"), "{parts:?}");
    let head_parts = parts.iter().filter(|p| p.starts_with("head")).count();
    assert_eq!(
        head_parts, 1,
        "only the head chunk with an event: {parts:?}"
    );
    for trace in WITH_EVENTS {
        assert!(
            rows.iter().any(|r| r.trace == trace && r.span == 1),
            "{trace}"
        );
    }

    // A column no source has a value in: nothing is read.
    let mut filter = ScanFilter::all();
    filter.and_present(column::LINKS);
    let (rows, parts) = scan(&storage, filter).await;
    assert!(rows.is_empty() && parts.is_empty(), "{parts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_chunks_are_widened_once_and_counted_in_the_head_until_they_go() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(Storage::open(config(dir.path())).await.unwrap());
    append_traces(&storage, 0..300, false).await;
    let before = storage.head().memory_bytes();
    let first = storage.snapshot("prod").into_scan(Columns::Typed).unwrap();
    let widened = storage.head().memory_bytes();
    assert!(
        widened > before,
        "the widened columns count: {before} → {widened}"
    );
    let second = storage.snapshot("prod").into_scan(Columns::Typed).unwrap();
    assert_eq!(
        storage.head().memory_bytes(),
        widened,
        "widened once, not per scan"
    );
    assert_eq!(first.schema(), second.schema());
    drop((first, second));
    storage.cut().await.unwrap().expect("spans to cut");
    assert_eq!(
        storage.head().memory_bytes(),
        0,
        "the widened forms went with their chunks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_scan_reads_about_its_fraction_each_row_once_and_named_traces_whole() {
    let (_dir, storage) = block_and_head().await;
    let (every_row, _) = scan(&storage, ScanFilter::all()).await;
    let every: BTreeSet<(u32, u8)> = every_row.iter().map(|r| (r.trace, r.span)).collect();
    let (rounds, fraction) = (40, 0.2);
    let (mut read, mut from_head) = (0, 0);
    for _ in 0..rounds {
        let mut filter = ScanFilter::all();
        filter.sample(fraction);
        let (rows, _) = scan(&storage, filter).await;
        let distinct: BTreeSet<(u32, u8)> = rows.iter().map(|r| (r.trace, r.span)).collect();
        assert_eq!(distinct.len(), rows.len(), "a row twice");
        assert!(distinct.is_subset(&every), "a row that is not stored");
        read += rows.len();
        from_head += rows.iter().filter(|r| r.trace >= BLOCK_TRACES).count();
    }
    // The block's 70,000 rows are 35 runs, each taken with probability 0.2: the mean share
    // over 40 rounds is within 0.05 of it by more than four standard deviations.
    let share = read as f64 / (rounds * every.len()) as f64;
    assert!((share - fraction).abs() < 0.05, "read {share} of the rows");
    let head_rows = (HEAD_TRACES as usize * usize::from(SPANS_PER_TRACE)) * rounds;
    let head_share = from_head as f64 / head_rows as f64;
    assert!(
        (head_share - fraction).abs() < 0.05,
        "read {head_share} of the head"
    );

    // A scan that names a trace reads all of it, sampling or not.
    let mut filter = ScanFilter::all();
    filter.traces_in(BTreeSet::from([trace_id(123)]));
    filter.sample(0.01);
    let (rows, _) = scan(&storage, filter).await;
    let of_trace = rows.iter().filter(|r| r.trace == 123).count();
    assert_eq!(of_trace, usize::from(SPANS_PER_TRACE));
}

/// The `(trace, span)` of every row a plan of `projection` reads.
async fn keys(storage: &Storage, projection: &[&str], filter: ScanFilter) -> Vec<(u32, u8)> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_time_ranges_are_applied_exactly_even_when_their_column_is_not_read() {
    let (_dir, storage) = block_and_head().await;
    let (every_row, _) = scan(&storage, ScanFilter::all()).await;
    let all = BLOCK_TRACES + HEAD_TRACES;
    let mut rng = StdRng::seed_from_u64(20261204);
    const RANGE_OPS: [CompareOp; 4] = [
        CompareOp::Lt,
        CompareOp::LtEq,
        CompareOp::Gt,
        CompareOp::GtEq,
    ];
    for case in 0..60 {
        let mut filter = ScanFilter::all();
        let mut conditions = Vec::new();
        for _ in 0..2 {
            let required = Condition {
                column: column::START_TIME.into(),
                op: RANGE_OPS[rng.random_range(0..RANGE_OPS.len())],
                value: Literal::TimeNanos(start_of(
                    rng.random_range(0..all + 2),
                    rng.random_range(0..SPANS_PER_TRACE),
                )),
            };
            filter.require(required.clone());
            conditions.push(required);
        }
        let wanted: Vec<(u32, u8)> = every_row
            .iter()
            .filter(|row| conditions.iter().all(|c| holds(row, c)))
            .map(|row| (row.trace, row.span))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let read = keys(&storage, &[column::TRACE_ID, column::SPAN_ID], filter).await;
        assert_eq!(read, wanted, "case {case}: {conditions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_groups_inside_a_required_range_are_read_without_judging_it() {
    let (_dir, storage) = block_and_head().await;
    // Spans start in trace order, and the block's first row group holds the first 6,553.6
    // traces: a range from trace 100 cuts through it and holds the whole second group.
    let mut filter = ScanFilter::all();
    filter.require(Condition {
        column: column::START_TIME.into(),
        op: CompareOp::GtEq,
        value: Literal::TimeNanos(start_of(100, 0)),
    });
    let (rows, parts) = scan(&storage, filter).await;
    let block_parts: Vec<&String> = parts.iter().filter(|p| p.starts_with("block")).collect();
    assert_eq!(block_parts.len(), 2, "{parts:?}");
    assert!(
        block_parts[0].contains("judging 1 conditions, row groups [0]"),
        "{parts:?}"
    );
    assert!(
        block_parts[1].contains("judging 0 conditions, row groups [1]"),
        "{parts:?}"
    );
    assert_eq!(
        rows.len(),
        (all_traces() - 100) as usize * usize::from(SPANS_PER_TRACE)
    );
}

fn all_traces() -> u32 {
    BLOCK_TRACES + HEAD_TRACES
}

/// The smallest and largest `attr.n` of what a part returns, read.
async fn read_extremes(part: combray_storage::scan::ScanPart) -> (usize, Option<i64>, Option<i64>) {
    let mut stream = combray_storage::scan::read_parts(vec![part]);
    let (mut rows, mut values) = (0, Vec::new());
    while let Some(batch) = stream.next().await {
        let batch = batch.unwrap();
        rows += batch.num_rows();
        let n = batch
            .column_by_name("attr.n")
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone();
        values.extend(n.iter().flatten());
    }
    (
        rows,
        values.iter().copied().min(),
        values.iter().copied().max(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_know_rows_and_extremes_only_where_nothing_they_judge_removes_rows() {
    let (_dir, storage) = block_and_head().await;
    let table = storage.snapshot("prod").into_scan(Columns::Typed).unwrap();
    let mut filter = ScanFilter::all();
    filter.require(Condition {
        column: column::START_TIME.into(),
        op: CompareOp::GtEq,
        value: Literal::TimeNanos(start_of(100, 0)),
    });
    let parts: Vec<_> = table
        .plan(None, filter.clone(), None, 3)
        .await
        .unwrap()
        .concat();
    let (mut known, mut unknown) = (0, 0);
    for part in parts {
        let described = format!("{part:?}");
        let (exact, extremes) = (part.exact_rows(), part.extremes("attr.n"));
        let (rows, min, max) = read_extremes(part).await;
        if described.contains("judging 1 conditions") {
            // The row group the range cuts through is judged row by row.
            assert_eq!((exact, extremes.is_none()), (None, true), "{described}");
            unknown += 1;
            continue;
        }
        known += 1;
        assert_eq!(exact, Some(rows), "{described}");
        let [low, high] = extremes.expect("a settled part knows its extremes");
        let value = |a: &arrow_array::ArrayRef| {
            let a = a.as_primitive::<Int64Type>();
            (!a.is_null(0)).then(|| a.value(0))
        };
        assert_eq!((value(&low), value(&high)), (min, max), "{described}");
    }
    assert!(
        known >= 2 && unknown == 1,
        "{known} known, {unknown} judged"
    );
    // Text columns and sampled scans claim nothing.
    let mut sampled = filter;
    sampled.sample(0.5);
    for part in table.plan(None, sampled, None, 3).await.unwrap().concat() {
        assert_eq!(part.exact_rows(), None);
        assert!(part.extremes("attr.n").is_none());
    }
    let part = &table.plan(None, ScanFilter::all(), None, 1).await.unwrap()[0][0];
    assert!(part.extremes("attr.tier").is_none());
}
