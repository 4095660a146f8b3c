//! Time ranges storage applies itself, and what parts know without being read: the rows a
//! required range keeps are exactly those an evaluation over every row keeps, settled row
//! groups are read without judging it, and exact counts and extremes agree with reading.

mod common;
mod scan_data;

use std::collections::BTreeSet;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use combray_storage::scan::{column, Columns, CompareOp, Condition, Known, Literal, ScanFilter};
use combray_storage::SpanStore;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use scan_data::*;

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
        let facts = part.known();
        let exact = facts.as_ref().map(Known::rows);
        let extremes = facts.as_ref().and_then(|k| k.extremes("attr.n"));
        let (rows, min, max) = read_extremes(part).await;
        if described.contains("judging 1 conditions") {
            // The row group the range cuts through is judged row by row.
            assert_eq!((exact, extremes.is_none()), (None, true), "{described}");
            unknown += 1;
            continue;
        }
        known += 1;
        assert_eq!(exact, Some(rows), "{described}");
        let (low, high) = extremes.expect("a settled part knows its extremes");
        assert_eq!((low, high), (min, max), "{described}");
    }
    assert!(
        known >= 2 && unknown == 1,
        "{known} known, {unknown} judged"
    );
    // Text columns and sampled scans claim nothing.
    let mut sampled = filter;
    sampled.sample(0.5);
    for part in table.plan(None, sampled, None, 3).await.unwrap().concat() {
        assert_eq!(part.known().map(|k| k.rows()), None);
        assert!(part.known().and_then(|k| k.extremes("attr.n")).is_none());
    }
    let part = &table.plan(None, ScanFilter::all(), None, 1).await.unwrap()[0][0];
    assert!(part.known().and_then(|k| k.extremes("attr.tier")).is_none());
}
