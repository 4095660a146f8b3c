//! Decoding Honeycomb event bodies: shapes, times, rates, ids and per-item errors.

use super::*;

fn defaults() -> Defaults<'static> {
    Defaults {
        dataset: "my-app",
        time_unix_nano: 7,
        sample_rate: 1,
    }
}

#[test]
fn a_batch_answers_each_item_in_order_and_joins_traces() {
    let body = br#"[
        {"data": {"trace.trace_id": "5b8efff798038103d269b633813fc60c", "trace.span_id": "eee19b7ec3c1b174",
                  "name": "GET /", "duration_ms": 12.5, "http.status_code": 200, "error": false},
         "time": "2026-12-01T21:58:10.230492Z", "samplerate": 5},
        {"time": 1},
        {"data": {"service.name": "billing", "amount": 3.5, "nested": {"a": 1}}, "time": 1452759330927}
    ]"#;
    let (batch, outcomes) = decode_batch(body, BodyFormat::Json, "prod", &defaults(), 9).unwrap();
    assert!(outcomes[0].is_ok() && outcomes[1].is_err() && outcomes[2].is_ok());
    assert_eq!(batch.groups.len(), 2);
    let traced = &batch.groups[0].spans[0];
    assert_eq!(batch.groups[0].dataset, "my-app");
    assert_eq!(
        traced.trace_id.to_string(),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(traced.duration_nano, 12_500_000);
    assert_eq!(traced.sample_rate, 5);
    assert_eq!(traced.start_unix_nano, 1_796_162_290_230_492_000);
    assert_eq!(traced.status.code, StatusCode::Unset);
    let untraced = &batch.groups[1].spans[0];
    assert_eq!(batch.groups[1].dataset, "billing");
    assert_eq!(untraced.start_unix_nano, 1_452_759_330_927_000_000);
    assert!(untraced
        .attributes
        .iter()
        .any(|kv| kv.key == "meta.signal_type"));
    assert!(untraced.trace_id.is_untraced_event());
    assert!(!traced.trace_id.is_untraced_event());
    assert!(untraced
        .attributes
        .iter()
        .any(|kv| kv.key == "nested" && kv.value == AttributeValue::String("{\"a\":1}".into())));
}

#[test]
fn uuid_ids_lose_their_dashes_and_other_ids_hash_to_the_same_id_every_time() {
    assert_eq!(
        trace_id_of("5b8efff7-9803-8103-d269-b633813fc60c").to_string(),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(span_id_of("not-hex"), span_id_of("not-hex"));
    assert_ne!(span_id_of("a"), span_id_of("b"));
    assert!(decode_batch(b"[]", BodyFormat::Json, "prod", &defaults(), 0).is_err());
    assert!(decode_batch(b"{", BodyFormat::Json, "prod", &defaults(), 0).is_err());
    assert_eq!(parse_sample_rate(&Value::from(0)), Some(1));
    assert_eq!(
        parse_time(&Value::from("1700000000")),
        Some(1_700_000_000_000_000_000)
    );
}
