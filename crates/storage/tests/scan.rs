//! Scans over blocks and the head: pruning never loses a wanted row, and does prune.
//!
//! Every filter is checked against a plain evaluation of the same conditions over every row,
//! read without any filter (the data: `scan_data`).

mod common;
mod scan_data;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use combray_storage::scan::{column, Columns, CompareOp, Condition, Literal, ScanFilter};
use combray_storage::{SpanStore, Storage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::config;
use scan_data::*;

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
