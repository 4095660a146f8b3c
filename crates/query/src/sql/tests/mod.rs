use std::sync::Arc;

use combray_model::{AttributeValue, KeyValue, Protocol, Scope, SpanBatch, SpanGroup};
use combray_storage::{Storage, StorageConfig};
use object_store::local::LocalFileSystem;
use serde_json::{json, Value};

use super::*;
use crate::fixtures::span;

fn batch(environment: &str, service: &str, spans: Vec<combray_model::Span>) -> SpanBatch {
    SpanBatch {
        environment: environment.into(),
        protocol: Protocol::OtlpGrpc,
        received_unix_nano: 0,
        groups: vec![SpanGroup {
            dataset: service.into(),
            resource: vec![KeyValue::new(
                "host.name",
                AttributeValue::String(format!("{service}-1")),
            )],
            scope: Scope::default(),
            spans,
        }],
    }
}

fn with_attribute(
    mut s: combray_model::Span,
    key: &str,
    value: AttributeValue,
) -> combray_model::Span {
    s.attributes.push(KeyValue::new(key, value));
    s
}

/// Environment `prod`: two traces cut into a block, one more in the head; `dev`: one trace.
/// `attr.code` is an int in the block and a string in the head.
async fn storage(dir: &std::path::Path) -> Arc<Storage> {
    std::fs::create_dir_all(dir.join("objects")).unwrap();
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir.join("objects")).unwrap());
    let storage = Storage::open(StorageConfig::new(dir.to_path_buf(), store))
        .await
        .unwrap();
    let code = |v: i64| AttributeValue::Int(v);
    let blocked = vec![
        with_attribute(span(1, 1, None, "GET /a", 1_000, 100), "code", code(1)),
        with_attribute(span(1, 2, Some(1), "db", 1_010, 50), "code", code(2)),
        with_attribute(
            span(2, 3, None, "GET /b", 2_000, 300),
            "user.id",
            AttributeValue::String("u7".into()),
        ),
    ];
    storage
        .append(&batch("prod", "api", blocked))
        .await
        .unwrap();
    storage.cut().await.unwrap().expect("a cut");
    let in_head = vec![with_attribute(
        span(3, 4, None, "GET /c", 3_000, 700),
        "code",
        AttributeValue::String("x".into()),
    )];
    storage
        .append(&batch("prod", "web", in_head))
        .await
        .unwrap();
    storage
        .append(&batch(
            "dev",
            "api",
            vec![span(9, 9, None, "GET /dev", 1, 1)],
        ))
        .await
        .unwrap();
    Arc::new(storage)
}

async fn query(
    storage: &Arc<Storage>,
    environment: &str,
    sql: &str,
) -> Result<SqlResult, QueryError> {
    let engine = SqlEngine::new(SqlLimits::default()).unwrap();
    engine.run(storage.as_ref(), environment, sql, None).await
}

async fn rows(storage: &Arc<Storage>, environment: &str, sql: &str) -> Vec<Vec<Value>> {
    query(storage, environment, sql).await.unwrap().rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_reads_head_and_blocks_of_the_callers_environment_only() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path()).await;
    let counts = rows(
        &storage,
        "prod",
        "SELECT service, count(*) AS n FROM spans GROUP BY service ORDER BY service",
    )
    .await;
    assert_eq!(
        counts,
        vec![vec![json!("api"), json!(3)], vec![json!("web"), json!(1)]]
    );
    let dev = rows(&storage, "dev", "SELECT name FROM spans").await;
    assert_eq!(dev, vec![vec![json!("GET /dev")]]);
    let nobody = rows(&storage, "staging", "SELECT count(*) FROM spans").await;
    assert_eq!(nobody, vec![vec![json!(0)]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_columns_filter_and_unify_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path()).await;
    let users = rows(
        &storage,
        "prod",
        r#"SELECT name, "resource.host.name" FROM spans WHERE "attr.user.id" = 'u7'"#,
    )
    .await;
    assert_eq!(users, vec![vec![json!("GET /b"), json!("api-1")]]);
    // An int in the block and a string in the head: the column is text, and both read.
    let codes = rows(
        &storage,
        "prod",
        r#"SELECT "attr.code" FROM spans WHERE "attr.code" IS NOT NULL ORDER BY 1"#,
    )
    .await;
    assert_eq!(
        codes,
        vec![vec![json!("1")], vec![json!("2")], vec![json!("x")]]
    );
    let ids = rows(
        &storage,
        "prod",
        "SELECT trace_id, span_id FROM spans WHERE name = 'db'",
    )
    .await;
    assert_eq!(
        ids,
        vec![vec![json!("01".repeat(16)), json!("02".repeat(8))]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentiles_and_time_ranges_work_over_every_source() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path()).await;
    let p = rows(&storage, "prod", "SELECT max(duration_nano), approx_percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_nano) FROM spans").await;
    assert_eq!(p[0][0], json!(700));
    // start_time is nanoseconds; 2500 ns after the epoch leaves only the head's span.
    let late = rows(
        &storage,
        "prod",
        "SELECT name FROM spans WHERE start_time > to_timestamp_nanos(2500)",
    )
    .await;
    assert_eq!(late, vec![vec![json!("GET /c")]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_files_and_settings_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path()).await;
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "DROP TABLE spans",
        "INSERT INTO spans (name) VALUES ('x')",
        "COPY (SELECT 1) TO '/tmp/combray-sql-test.csv'",
        "SET datafusion.execution.batch_size = 1",
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc'",
        "SELECT * FROM '/etc/passwd'",
        "SELEC 1",
        "SELECT nope FROM spans",
    ] {
        match query(&storage, "prod", sql).await {
            Err(QueryError::InvalidArgument(message)) => assert!(!message.is_empty(), "{sql}"),
            other => panic!("{sql}: expected a 400-class error, got {other:?}"),
        }
    }
    assert!(!std::path::Path::new("/tmp/combray-sql-test.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_row_limit_cuts_results_off_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path()).await;
    let engine = SqlEngine::new(SqlLimits {
        max_rows: 2,
        ..SqlLimits::default()
    })
    .unwrap();
    let result = engine
        .run(storage.as_ref(), "prod", "SELECT name FROM spans", None)
        .await
        .unwrap();
    assert_eq!((result.rows.len(), result.truncated), (2, true));
    let result = engine
        .run(storage.as_ref(), "prod", "SELECT name FROM spans", Some(1))
        .await
        .unwrap();
    assert_eq!((result.rows.len(), result.truncated), (1, true));
    let result = engine
        .run(storage.as_ref(), "dev", "SELECT name FROM spans", None)
        .await
        .unwrap();
    assert_eq!((result.rows.len(), result.truncated), (1, false));
}

/// While appends, cuts and compaction run, every query counts each acknowledged span once:
/// never fewer than were acknowledged before it started, never more than after it ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_stay_exact_while_cuts_and_compaction_run() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("objects")).unwrap();
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path().join("objects")).unwrap());
    let mut config = StorageConfig::new(dir.path().to_path_buf(), store);
    // Replaced blocks stay for queries that started before the swap, as in the server.
    config.maintenance.deletion_grace = std::time::Duration::from_secs(60);
    let storage = Arc::new(Storage::open(config).await.unwrap());
    let acknowledged = Arc::new(AtomicU64::new(0));
    // Spans whose append has begun: a query may see an append that has not returned yet.
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let writer = {
        let (storage, acknowledged, sent, done) = (
            Arc::clone(&storage),
            Arc::clone(&acknowledged),
            Arc::clone(&sent),
            Arc::clone(&done),
        );
        tokio::spawn(async move {
            for round in 0..40u8 {
                let spans = (0..10u8)
                    .map(|i| span(round + 1, i + 1, None, "op", now + u64::from(i), 5))
                    .collect();
                sent.fetch_add(10, Ordering::SeqCst);
                storage.append(&batch("prod", "api", spans)).await.unwrap();
                acknowledged.fetch_add(10, Ordering::SeqCst);
                if round % 3 == 2 {
                    storage.cut().await.unwrap();
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    // Compaction runs in a task of its own, as in the server, overlapping the cuts.
    let compactor = {
        let (storage, done) = (Arc::clone(&storage), Arc::clone(&done));
        tokio::spawn(async move {
            let mut compacted = 0;
            while !done.load(Ordering::SeqCst) || compacted == 0 {
                compacted += storage.maintain().await.unwrap().compacted_from;
                tokio::task::yield_now().await;
            }
            compacted
        })
    };
    let engine = SqlEngine::new(SqlLimits::default()).unwrap();
    let mut queries = 0;
    while !done.load(Ordering::SeqCst) || queries == 0 {
        let before = acknowledged.load(Ordering::SeqCst);
        let result = engine
            .run(storage.as_ref(), "prod", "SELECT count(*) FROM spans", None)
            .await
            .unwrap();
        let after = sent.load(Ordering::SeqCst);
        let counted = result.rows[0][0].as_u64().unwrap();
        assert!(
            (before..=after).contains(&counted),
            "counted {counted}, acknowledged before {before}, sent after {after}"
        );
        queries += 1;
    }
    writer.await.unwrap();
    let compacted = compactor.await.unwrap();
    assert!(
        compacted > 0,
        "compaction should have run during the queries"
    );
    assert!(queries > 5, "only {queries} queries overlapped the writes");
    let total = engine.run(storage.as_ref(), "prod", "SELECT count(*) AS n, (SELECT count(*) FROM (SELECT DISTINCT trace_id, span_id FROM spans)) AS d FROM spans", None).await.unwrap();
    assert_eq!(total.rows, vec![vec![json!(400), json!(400)]]);
}

/// `trace_id = …` and `trace_id IN (…)` skip blocks whose trace index lacks the id: with the
/// block's data gone, a query for a head-only trace still answers, and one that needs the block
/// reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_id_conditions_skip_blocks_by_their_trace_index() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path()).await;
    let in_block = rows(
        &storage,
        "prod",
        &format!(
            "SELECT name FROM spans WHERE trace_id = X'{}' ORDER BY 1",
            "01".repeat(16)
        ),
    )
    .await;
    assert_eq!(in_block, vec![vec![json!("GET /a")], vec![json!("db")]]);
    for data in glob_data_files(&dir.path().join("objects")) {
        std::fs::remove_file(data).unwrap();
    }
    let head_only = format!(
        "SELECT name FROM spans WHERE trace_id = X'{}'",
        "03".repeat(16)
    );
    assert_eq!(
        rows(&storage, "prod", &head_only).await,
        vec![vec![json!("GET /c")]]
    );
    let listed = format!(
        "SELECT count(*) FROM spans WHERE trace_id IN (X'{}', X'{}')",
        "03".repeat(16),
        "09".repeat(16)
    );
    assert_eq!(rows(&storage, "prod", &listed).await, vec![vec![json!(1)]]);
    let needs_block = format!(
        "SELECT name FROM spans WHERE trace_id = X'{}'",
        "02".repeat(16)
    );
    assert!(query(&storage, "prod", &needs_block).await.is_err());
}

fn glob_data_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "data.parquet") {
                found.push(path);
            }
        }
    }
    found
}

/// Durations 1..=n µs-ish, spread over a block and the head, two services.
async fn durations(dir: &std::path::Path, n: u64) -> Arc<Storage> {
    let storage = storage(dir).await;
    let spans = |range: std::ops::Range<u64>| -> Vec<combray_model::Span> {
        range
            .map(|i| {
                let mut span = span(
                    20 + (i % 200) as u8,
                    (i % 250) as u8,
                    None,
                    "op",
                    i,
                    i * 997,
                );
                // Every span distinct: storage keeps one row per (trace, span id).
                span.span_id = combray_model::SpanId::from_bytes((i + 1).to_be_bytes());
                span
            })
            .collect()
    };
    storage
        .append(&batch("perf", "fast", spans(1..n / 2)))
        .await
        .unwrap();
    storage.cut().await.unwrap().expect("a cut");
    storage
        .append(&batch("perf", "fast", spans(n / 2..n + 1)))
        .await
        .unwrap();
    storage
        .append(&batch(
            "perf",
            "slow",
            vec![span(7, 7, None, "op", 1, 5_000_000)],
        ))
        .await
        .unwrap();
    storage
}

fn close_to(got: &Value, exact: f64) -> bool {
    let got = got.as_f64().expect("a number");
    (got - exact).abs() <= exact / 256.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honeycomb_percentiles_are_within_their_bucket_error_across_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let storage = durations(dir.path(), 2_000).await;
    let grouped = rows(
        &storage,
        "perf",
        "SELECT service, p50(duration_nano), P99(duration_nano), percentile(duration_nano, 0.9), \
         count(*) FROM spans GROUP BY service ORDER BY service",
    )
    .await;
    // Nearest rank over durations k * 997 ns, k = 1..=2000.
    let exact = |fraction: f64| (fraction * 2_000f64).ceil() * 997.0;
    let fast = &grouped[0];
    assert_eq!(fast[0], json!("fast"));
    assert!(close_to(&fast[1], exact(0.5)), "p50 {}", fast[1]);
    assert!(close_to(&fast[2], exact(0.99)), "p99 {}", fast[2]);
    assert!(close_to(&fast[3], exact(0.9)), "p90 {}", fast[3]);
    assert_eq!(fast[4], json!(2_000));
    // One value: exact, whatever the bucket.
    assert_eq!(
        grouped[1][..3],
        [json!("slow"), json!(5_000_000.0), json!(5_000_000.0)]
    );
    let overall = rows(
        &storage,
        "perf",
        "SELECT p999(duration_nano), p75(duration_nano), percentile(duration_nano, 1) FROM spans",
    )
    .await;
    // 2001 values: the outlier is the top one; p999 is rank 1999.
    assert!(
        close_to(&overall[0][0], 1_999.0 * 997.0),
        "p999 {}",
        overall[0][0]
    );
    assert!(close_to(&overall[0][1], (0.75f64 * 2_001.0).ceil() * 997.0));
    assert_eq!(overall[0][2], json!(5_000_000.0));
    let none = rows(
        &storage,
        "perf",
        "SELECT p99(duration_nano) FROM spans WHERE name = 'nope'",
    )
    .await;
    assert_eq!(none, vec![vec![Value::Null]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentile_arguments_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path()).await;
    for (sql, says) in [
        (
            "SELECT percentile(duration_nano, 1.5) FROM spans",
            "constant fraction from 0 to 1",
        ),
        (
            "SELECT percentile(duration_nano, duration_nano) FROM spans",
            "constant fraction",
        ),
        ("SELECT p99(name) FROM spans", "p99"),
    ] {
        match query(&storage, "prod", sql).await {
            Err(QueryError::InvalidArgument(message)) => {
                assert!(message.contains(says), "{sql}: {message}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
}

mod ranges;
