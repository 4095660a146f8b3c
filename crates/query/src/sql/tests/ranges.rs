//! Time ranges storage applies itself, and what statistics answer over them.

use super::*;

/// Storage applies time ranges itself (DataFusion does not judge them again): counts, limits and
/// either side of the comparison still see exactly the spans in range, in blocks and the head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_ranges_storage_applies_keep_exactly_the_spans_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path()).await;
    let names = |sql: &'static str| {
        let storage = Arc::clone(&storage);
        async move {
            let mut names: Vec<String> = rows(&storage, "prod", sql)
                .await
                .into_iter()
                .map(|row| row[0].as_str().unwrap().to_owned())
                .collect();
            names.sort();
            names
        }
    };
    let window = "start_time >= to_timestamp_nanos(1010) AND start_time < to_timestamp_nanos(3000)";
    let count = rows(
        &storage,
        "prod",
        &format!("SELECT count(*) FROM spans WHERE {window}"),
    )
    .await;
    assert_eq!(count, vec![vec![json!(2)]]);
    assert_eq!(
        names("SELECT name FROM spans WHERE start_time >= to_timestamp_nanos(1005) LIMIT 10").await,
        ["GET /b", "GET /c", "db"]
    );
    assert_eq!(
        names("SELECT name FROM spans WHERE to_timestamp_nanos(2000) >= start_time").await,
        ["GET /a", "GET /b", "db"]
    );
    // A limit counts rows in range only: the block's first row is the one before 1005.
    assert_eq!(
        names("SELECT name FROM spans WHERE start_time < to_timestamp_nanos(1005) LIMIT 1").await,
        ["GET /a"]
    );
    assert_eq!(
        names("SELECT name FROM spans WHERE start_time > to_timestamp_nanos(2500) LIMIT 1").await,
        ["GET /c"]
    );
}

/// `count(*)`, `MIN` and `MAX` over a window: from statistics where the window holds whole row
/// groups (no scan in the plan), by reading where it cuts one; the same answers either way as
/// filtering every span in the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_extremes_and_counts_from_statistics_match_every_span_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path()).await;
    let every: Vec<(i64, i64)> = rows(
        &storage,
        "prod",
        "SELECT CAST(start_time AS BIGINT), duration_nano FROM spans",
    )
    .await
    .iter()
    .map(|r| (r[0].as_i64().unwrap(), r[1].as_i64().unwrap()))
    .collect();
    for (from, whole) in [(0, true), (1_005, false), (2_500, true)] {
        let window = format!(
            "start_time >= to_timestamp_nanos({from}) AND start_time < to_timestamp_nanos(10000)"
        );
        let sql = format!(
            "SELECT count(*), MIN(duration_nano), MAX(duration_nano) FROM spans WHERE {window}"
        );
        let kept: Vec<i64> = every
            .iter()
            .filter(|(start, _)| *start >= from && *start < 10_000)
            .map(|(_, duration)| *duration)
            .collect();
        let expected = vec![vec![
            json!(kept.len()),
            json!(kept.iter().min()),
            json!(kept.iter().max()),
        ]];
        assert_eq!(rows(&storage, "prod", &sql).await, expected, "from {from}");
        let plan = rows(&storage, "prod", &format!("EXPLAIN {sql}")).await;
        let physical = plan
            .iter()
            .find(|r| r[0] == json!("physical_plan"))
            .map(|r| r[1].as_str().unwrap().to_owned())
            .unwrap();
        assert_eq!(
            !physical.contains("SpanScanExec"),
            whole,
            "from {from}: {physical}"
        );
    }
}
