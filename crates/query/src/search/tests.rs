use combray_model::{AttributeValue, KeyValue, StatusCode};
use combray_storage::Head;

use super::*;
use crate::fixtures::{insert, span};

fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
    query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ids(result: &SearchResult) -> Vec<String> {
    result
        .traces
        .iter()
        .map(|t| t.trace_id[..2].to_owned())
        .collect()
}

fn sample_head() -> Head {
    let head = Head::new();
    let mut slow_error = span(2, 21, Some(20), "SELECT", 2_100, 900_000_000);
    slow_error.status.code = StatusCode::Error;
    insert(
        &head,
        "prod",
        "api",
        vec![span(1, 10, None, "GET /home", 1_000, 5_000_000)],
    );
    insert(
        &head,
        "prod",
        "api",
        vec![span(2, 20, None, "GET /users", 2_000, 950_000_000)],
    );
    insert(&head, "prod", "db", vec![slow_error]);
    insert(
        &head,
        "prod",
        "api",
        vec![span(3, 30, None, "GET /home", 3_000, 1_000_000)],
    );
    insert(
        &head,
        "dev",
        "api",
        vec![span(4, 40, None, "GET /home", 4_000, 1_000)],
    );
    head
}

async fn run(head: &Head, query: &[(&str, &str)]) -> SearchResult {
    run_params(head, &SearchParams::from_pairs(&pairs(query)).unwrap()).await
}

async fn run_params(store: &dyn SpanStore, params: &SearchParams) -> SearchResult {
    let engine = SqlEngine::new(crate::sql::SqlLimits::default()).unwrap();
    search(&engine, store, "prod", params).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_conditions_lists_the_environment_newest_first() {
    let head = sample_head();
    let result = run(&head, &[]).await;
    assert_eq!(ids(&result), ["03", "02", "01"]);
    assert_eq!(result.traces[1].root_name, "GET /users");
    assert_eq!(result.traces[1].span_count, 2);
    assert!(result.traces[1].error);
    assert_eq!(ids(&run(&head, &[("limit", "1")]).await), ["03"]);
    assert_eq!(run(&head, &[("limit", "1")]).await.matched, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_conditions_must_hold_on_one_span() {
    let head = sample_head();
    assert_eq!(ids(&run(&head, &[("service", "db")]).await), ["02"]);
    assert_eq!(
        ids(&run(&head, &[("name", "GET /home")]).await),
        ["03", "01"]
    );
    assert_eq!(ids(&run(&head, &[("status", "error")]).await), ["02"]);
    assert_eq!(ids(&run(&head, &[("min_duration", "900ms")]).await), ["02"]);
    assert_eq!(ids(&run(&head, &[("max_duration", "1ms")]).await), ["03"]);
    assert_eq!(
        ids(&run(&head, &[("service", "db"), ("name", "GET /users")]).await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&run(&head, &[("attr.http.status_code", "200")]).await).len(),
        3
    );
    assert_eq!(
        ids(&run(&head, &[("attr.http.status_code", "500")]).await).len(),
        0
    );
    assert_eq!(
        ids(&run(
            &head,
            &[("attr.deployment.environment", "prod"), ("service", "db")]
        )
        .await),
        ["02"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_range_applies_to_the_trace_start() {
    let head = sample_head();
    let result = run(
        &head,
        &[
            ("start", "2000000000000000000"),
            ("end", "2000000000000000000"),
        ],
    )
    .await;
    assert!(result.traces.is_empty());
    let from_ns =
        SearchParams::from_pairs(&pairs(&[("start", "1970-01-01T00:00:00.000002Z")])).unwrap();
    assert_eq!(from_ns.start_unix_nano, Some(2_000));
    let narrow = SearchParams {
        start_unix_nano: Some(1_500),
        end_unix_nano: Some(2_500),
        ..from_ns
    };
    assert_eq!(
        ids(&run_params(
            &head,
            &SearchParams {
                limit: 20,
                ..narrow
            }
        )
        .await),
        ["02"]
    );
}

#[test]
fn bad_parameters_name_themselves() {
    for (query, needle) in [
        (vec![("bogus", "1")], "unknown parameter \"bogus\""),
        (vec![("min_duration", "fast")], "min_duration"),
        (vec![("status", "broken")], "status"),
        (vec![("limit", "0")], "limit"),
        (vec![("start", "yesterday")], "start"),
        (
            vec![("min_duration", "2s"), ("max_duration", "1s")],
            "min_duration is larger",
        ),
        (vec![("start", "200"), ("end", "100")], "start is later"),
        (vec![("attr.", "x")], "unknown parameter"),
    ] {
        let error = SearchParams::from_pairs(&pairs(&query)).unwrap_err();
        assert!(error.to_string().contains(needle), "{query:?}: {error}");
    }
}

#[test]
fn durations_and_epochs_parse_in_every_unit() {
    assert_eq!(parse_duration("d", "250").unwrap(), 250_000_000);
    assert_eq!(parse_duration("d", "1.5s").unwrap(), 1_500_000_000);
    assert_eq!(parse_duration("d", "10us").unwrap(), 10_000);
    assert_eq!(parse_duration("d", "2m").unwrap(), 120_000_000_000);
    assert_eq!(
        parse_time("t", "1700000000").unwrap(),
        1_700_000_000_000_000_000
    );
    assert_eq!(
        parse_time("t", "1700000000000").unwrap(),
        1_700_000_000_000_000_000
    );
    assert_eq!(
        parse_time("t", "1700000000000000000").unwrap(),
        1_700_000_000_000_000_000
    );
}

/// Searches over blocks and the head alike, including values that live in the overflow list
/// (a key whose type differs within a block) and resource attributes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_conditions_find_typed_overflow_and_resource_values_in_blocks() {
    use combray_storage::{Storage, StorageConfig};
    use object_store::local::LocalFileSystem;

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("objects")).unwrap();
    let store =
        std::sync::Arc::new(LocalFileSystem::new_with_prefix(dir.path().join("objects")).unwrap());
    let storage = Storage::open(StorageConfig::new(dir.path().to_path_buf(), store))
        .await
        .unwrap();
    let with_code = |trace: u8, code: AttributeValue| {
        let mut s = span(trace, trace, None, "GET /x", u64::from(trace) * 1_000, 10);
        s.attributes = vec![KeyValue::new("code", code)];
        s
    };
    let blocked = vec![
        with_code(1, AttributeValue::Int(7)),
        with_code(2, AttributeValue::Int(8)),
        with_code(3, AttributeValue::Int(9)),
        // The block's column for `code` is an int: this one goes to the overflow list.
        with_code(4, AttributeValue::String("seven".into())),
    ];
    let batch = |spans| combray_model::SpanBatch {
        environment: "prod".into(),
        protocol: combray_model::Protocol::OtlpGrpc,
        received_unix_nano: 0,
        groups: vec![combray_model::SpanGroup {
            dataset: "api".into(),
            resource: vec![KeyValue::new("region", AttributeValue::String("eu".into()))],
            scope: combray_model::Scope::default(),
            spans,
        }],
    };
    storage.append(&batch(blocked)).await.unwrap();
    storage.cut().await.unwrap().expect("a cut");
    storage
        .append(&batch(vec![with_code(5, AttributeValue::Double(7.0))]))
        .await
        .unwrap();

    let find = |query: &'static [(&'static str, &'static str)]| {
        let params = SearchParams::from_pairs(&pairs(query)).unwrap();
        let storage = &storage;
        async move {
            let mut found = ids(&run_params(storage, &params).await);
            found.sort();
            found
        }
    };
    assert_eq!(find(&[("attr.code", "7")]).await, ["01", "05"]);
    assert_eq!(find(&[("attr.code", "seven")]).await, ["04"]);
    assert_eq!(
        find(&[("attr.region", "eu")]).await,
        ["01", "02", "03", "04", "05"]
    );
    assert_eq!(find(&[("attr.region", "us")]).await, Vec::<String>::new());
    assert_eq!(
        find(&[("attr.code", "9"), ("name", "GET /x")]).await,
        ["03"]
    );
    assert_eq!(find(&[("attr.missing", "1")]).await, Vec::<String>::new());
}
