use combray_model::StatusCode;
use combray_storage::head::Head;

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

fn run(head: &Head, query: &[(&str, &str)]) -> SearchResult {
    search(
        head,
        "prod",
        &SearchParams::from_pairs(&pairs(query)).unwrap(),
    )
    .unwrap()
}

#[test]
fn no_conditions_lists_the_environment_newest_first() {
    let head = sample_head();
    let result = run(&head, &[]);
    assert_eq!(ids(&result), ["03", "02", "01"]);
    assert_eq!(result.traces[1].root_name, "GET /users");
    assert_eq!(result.traces[1].span_count, 2);
    assert!(result.traces[1].error);
    assert_eq!(ids(&run(&head, &[("limit", "1")])), ["03"]);
    assert_eq!(run(&head, &[("limit", "1")]).matched, 3);
}

#[test]
fn span_conditions_must_hold_on_one_span() {
    let head = sample_head();
    assert_eq!(ids(&run(&head, &[("service", "db")])), ["02"]);
    assert_eq!(ids(&run(&head, &[("name", "GET /home")])), ["03", "01"]);
    assert_eq!(ids(&run(&head, &[("status", "error")])), ["02"]);
    assert_eq!(ids(&run(&head, &[("min_duration", "900ms")])), ["02"]);
    assert_eq!(ids(&run(&head, &[("max_duration", "1ms")])), ["03"]);
    assert_eq!(
        ids(&run(&head, &[("service", "db"), ("name", "GET /users")])),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&run(&head, &[("attr.http.status_code", "200")])).len(),
        3
    );
    assert_eq!(
        ids(&run(&head, &[("attr.http.status_code", "500")])).len(),
        0
    );
    assert_eq!(
        ids(&run(
            &head,
            &[("attr.deployment.environment", "prod"), ("service", "db")]
        )),
        ["02"]
    );
}

#[test]
fn the_time_range_applies_to_the_trace_start() {
    let head = sample_head();
    let result = run(
        &head,
        &[
            ("start", "2000000000000000000"),
            ("end", "2000000000000000000"),
        ],
    );
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
        ids(&search(
            &head,
            "prod",
            &SearchParams {
                limit: 20,
                ..narrow
            }
        )
        .unwrap()),
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
