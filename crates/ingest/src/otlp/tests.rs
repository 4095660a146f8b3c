use combray_model::{AttributeValue, Protocol, SpanKind, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use super::*;

const JSON_REQUEST: &str = r#"{
  "resourceSpans": [{
    "resource": {"attributes": [
      {"key": "service.name", "value": {"stringValue": " backend-flask "}},
      {"key": "sampleRate", "value": {"intValue": "4"}}
    ]},
    "scopeSpans": [{
      "scope": {"name": "opentelemetry.instrumentation.flask", "version": "0.48b0"},
      "spans": [
        {
          "traceId": "5B8EFFF798038103D269B633813FC60C",
          "spanId": "EEE19B7EC3C1B174",
          "parentSpanId": "",
          "name": "GET /api/activities/home",
          "kind": 2,
          "startTimeUnixNano": "1544712660000000000",
          "endTimeUnixNano": 1544712661000000000,
          "attributes": [
            {"key": "http.route", "value": {"stringValue": "/api/activities/home"}},
            {"key": "http.status_code", "value": {"intValue": 200}},
            {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"boolValue": true}]}}},
            {"key": "SampleRate", "value": {"doubleValue": 9.6}}
          ],
          "events": [{"timeUnixNano": "1544712660500000000", "name": "exception",
                      "attributes": [{"key": "exception.type", "value": {"stringValue": "ValueError"}}]}],
          "status": {"code": 2, "message": "boom"}
        },
        {"traceId": "00000000000000000000000000000000", "spanId": "EEE19B7EC3C1B174", "name": "bad"},
        {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "0102", "name": "short"}
      ]
    }]
  }]
}"#;

fn normalize_json(body: &str) -> Normalized {
    normalize_http_body(ContentType::Json, body.as_bytes(), "prod", 7).unwrap()
}

#[test]
fn otlp_json_is_decoded_with_hex_ids_and_int64_in_either_form() {
    let normalized = normalize_json(JSON_REQUEST);
    let batch = &normalized.batch;
    assert_eq!(batch.environment, "prod");
    assert_eq!(batch.protocol, Protocol::OtlpHttpJson);
    assert_eq!(batch.span_count(), 1);
    let group = &batch.groups[0];
    assert_eq!(group.dataset, "backend-flask");
    assert_eq!(group.scope.name, "opentelemetry.instrumentation.flask");
    let span = &group.spans[0];
    assert_eq!(span.trace_id.to_hex(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(span.parent_span_id, None);
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.start_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.duration_nano, 1_000_000_000);
    assert_eq!(span.status.code, StatusCode::Error);
    assert_eq!(span.status.message, "boom");
    assert_eq!(
        span.attribute("http.status_code"),
        Some(&AttributeValue::Int(200))
    );
    assert_eq!(
        span.attribute("tags"),
        Some(&AttributeValue::Array(vec![
            AttributeValue::String("a".into()),
            AttributeValue::Bool(true)
        ]))
    );
    assert_eq!(span.events[0].name, "exception");
}

#[test]
fn sample_rate_is_taken_off_the_span_and_span_level_wins() {
    let normalized = normalize_json(JSON_REQUEST);
    let span = &normalized.batch.groups[0].spans[0];
    assert_eq!(
        span.sample_rate, 10,
        "SampleRate 9.6 on the span rounds to 10"
    );
    assert!(span.attribute("SampleRate").is_none());
    assert!(span.attribute("sampleRate").is_none());
}

#[test]
fn invalid_spans_are_counted_and_explained_not_fatal() {
    let normalized = normalize_json(JSON_REQUEST);
    assert_eq!(normalized.rejected_spans, 2);
    assert!(
        normalized.rejection_reason.contains("invalid trace_id"),
        "{}",
        normalized.rejection_reason
    );
    assert!(
        normalized.rejection_reason.contains("invalid span_id"),
        "{}",
        normalized.rejection_reason
    );
    let response = response_for(&normalized);
    let partial = response
        .partial_success
        .expect("partial success must be set");
    assert_eq!(partial.rejected_spans, 2);
}

#[test]
fn a_clean_request_has_no_partial_success_in_either_encoding() {
    let normalized = normalize_json(r#"{"resourceSpans": []}"#);
    let response = response_for(&normalized);
    assert!(response.partial_success.is_none());
    let protobuf = encode_response(ContentType::Protobuf, &response);
    assert_eq!(
        ExportTraceServiceResponse::decode(&protobuf[..]).unwrap(),
        response
    );
    let json: serde_json::Value =
        serde_json::from_slice(&encode_response(ContentType::Json, &response)).unwrap();
    assert!(json
        .get("partialSuccess")
        .is_none_or(|value| value.is_null()));
}

#[test]
fn protobuf_round_trips_through_the_decoder() {
    let request = decode_request(ContentType::Json, JSON_REQUEST.as_bytes()).unwrap();
    let bytes = request.encode_to_vec();
    let normalized = normalize_http_body(ContentType::Protobuf, &bytes, "default", 1).unwrap();
    assert_eq!(normalized.batch.protocol, Protocol::OtlpHttpProtobuf);
    assert_eq!(normalized.batch.span_count(), 1);
    assert_eq!(normalized.rejected_spans, 2);
}

#[test]
fn undecodable_bodies_say_which_format_failed() {
    let error = normalize_http_body(ContentType::Json, b"{not json", "default", 1).unwrap_err();
    assert!(matches!(error, IngestError::Decode { format: "JSON", .. }));
    let error =
        normalize_http_body(ContentType::Protobuf, &[0xff, 0xff, 0xff], "default", 1).unwrap_err();
    assert!(matches!(
        error,
        IngestError::Decode {
            format: "protobuf",
            ..
        }
    ));
}

#[test]
fn missing_and_placeholder_service_names_become_unknown_service() {
    let body = r#"{"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "unknown_service:python"}}]},
        "scopeSpans": [{"spans": [{"traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174", "name": "x"}]}]}]}"#;
    let normalized = normalize_json(body);
    assert_eq!(normalized.batch.groups[0].dataset, "unknown_service");
    assert_eq!(normalized.batch.groups[0].spans[0].sample_rate, 1);
}
