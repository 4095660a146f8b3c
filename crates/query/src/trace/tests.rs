use combray_storage::Head;

use super::*;
use crate::fixtures::{insert, span};

#[tokio::test]
async fn spans_come_in_waterfall_order_with_depth_and_offsets() {
    let head = Head::new();
    // Children arrive before their parents, across services and batches.
    insert(
        &head,
        "prod",
        "db",
        vec![span(1, 4, Some(2), "SELECT", 1_300, 100)],
    );
    insert(
        &head,
        "prod",
        "api",
        vec![
            span(1, 3, Some(1), "render", 1_500, 100),
            span(1, 2, Some(1), "load", 1_200, 250),
            span(1, 1, None, "GET /home", 1_000, 1_000),
            span(1, 9, Some(77), "late orphan", 1_100, 10),
        ],
    );
    let trace = get_trace(&head, "prod", "01010101010101010101010101010101")
        .await
        .unwrap();
    let order: Vec<(&str, usize)> = trace
        .spans
        .iter()
        .map(|s| (s.name.as_str(), s.depth))
        .collect();
    assert_eq!(
        order,
        [
            ("GET /home", 0),
            ("load", 1),
            ("SELECT", 2),
            ("render", 1),
            ("late orphan", 0)
        ]
    );
    assert!(trace.spans[4].orphan);
    assert!(!trace.spans[0].orphan);
    assert_eq!(trace.spans[2].offset_nano, 300);
    assert_eq!(trace.spans[2].service, "db");
    assert_eq!(trace.services, ["api", "db"]);
    assert_eq!(trace.duration_nano, 1_000);
    assert_eq!(trace.start_unix_nano, "1000");
    assert_eq!(trace.spans[0].attributes["http.status_code"], 200);
    assert_eq!(trace.spans[0].resource["service.name"], "api");
}

#[tokio::test]
async fn a_retried_span_appears_once() {
    let head = Head::new();
    insert(&head, "prod", "api", vec![span(1, 1, None, "GET /", 0, 5)]);
    insert(&head, "prod", "api", vec![span(1, 1, None, "GET /", 0, 5)]);
    let trace = get_trace(&head, "prod", &"01".repeat(16)).await.unwrap();
    assert_eq!(trace.span_count, 1);
    assert_eq!(trace.spans.len(), 1);
}

#[tokio::test]
async fn other_environments_and_bad_ids_are_refused_precisely() {
    let head = Head::new();
    insert(&head, "prod", "api", vec![span(1, 1, None, "GET /", 0, 5)]);
    let id = "01".repeat(16);
    assert!(matches!(
        get_trace(&head, "dev", &id).await,
        Err(QueryError::NotFound(_))
    ));
    let error = get_trace(&head, "prod", "xyz").await.unwrap_err();
    assert!(matches!(error, QueryError::InvalidArgument(_)), "{error}");
    assert!(error.to_string().contains("32 hexadecimal"), "{error}");
}

#[tokio::test]
async fn a_trace_is_found_by_its_x_ray_id_too_and_a_bad_id_names_both_forms() {
    let head = Head::new();
    insert(
        &head,
        "prod",
        "api",
        vec![span(1, 1, None, "GET /", 1_000, 10)],
    );
    let by_hex = get_trace(&head, "prod", "01010101010101010101010101010101")
        .await
        .unwrap();
    let by_xray = get_trace(&head, "prod", "1-01010101-010101010101010101010101")
        .await
        .unwrap();
    assert_eq!(by_hex.spans.len(), 1);
    assert_eq!(by_xray.spans.len(), by_hex.spans.len());
    let Err(QueryError::InvalidArgument(message)) = get_trace(&head, "prod", "1-0101").await else {
        panic!("a malformed id is an invalid argument");
    };
    assert!(
        message.contains("32 hexadecimal") && message.contains("X-Ray id"),
        "{message}"
    );
}
