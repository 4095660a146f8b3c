use combray_model::{AttributeValue, SpanKind, StatusCode};

use super::*;

/// Shaped like what aws-xray-sdk 2.15 sends for a Flask request that failed (see the X-Ray
/// reference notes, §2.13), with an embedded remote subsegment.
const SEGMENT: &str = r#"{"id":"14433295f04e6806","name":"backend-flask","start_time":1795598401.6366334,"in_progress":false,
"http":{"request":{"url":"http://example.com/a","method":"GET"},"response":{"status":500}},
"annotations":{"customer_id":42,"tier":"gold"},"metadata":{"default":{"debug":{"a":1}}},
"aws":{"xray":{"sdk":"X-Ray for Python","sdk_version":"2.15.0"}},
"cause":{"working_directory":"/srv/app","exceptions":[{"id":"14a9e99477d1b019","message":"boom","type":"ValueError","remote":false,"stack":[{"path":"app.py","line":16,"label":"<module>"}]}]},
"subsegments":[{"id":"2b8e0b24b1ec7f1a","name":"user-service","start_time":1795598401.637,"end_time":1795598401.6375,
  "namespace":"remote","http":{"request":{"url":"http://user-service/u/1","method":"GET","traced":true},"response":{"status":404}},"error":true}],
"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d","user":"alice","service":{"runtime":"CPython","runtime_version":"3.11.7"},"fault":true,"end_time":1795598401.6377404}"#;

#[test]
fn datagrams_need_the_daemon_header() {
    let body = split_datagram(b"{\"format\": \"JSON\", \"version\": 1}\n{\"a\":1}").unwrap();
    assert_eq!(body, b"{\"a\":1}");
    assert_eq!(
        split_datagram(b"{\"format\":\"json\",\"version\":1}\n"),
        Err(DatagramError::Missing)
    );
    assert_eq!(split_datagram(b"no newline"), Err(DatagramError::Missing));
    assert!(matches!(
        split_datagram(b"{\"format\":\"json\",\"version\":2}\n{}"),
        Err(DatagramError::Header(_))
    ));
    assert!(matches!(
        split_datagram(b"garbage\n{}"),
        Err(DatagramError::Header(_))
    ));
}

#[test]
fn a_segment_and_its_subsegments_become_spans() {
    let document = parse_document(SEGMENT).unwrap();
    assert!(!document.independent_subsegment);
    let spans = &document.spans;
    assert_eq!(spans.len(), 2);
    let (segment, call) = (&spans[0], &spans[1]);
    // The segment and the subsegments inside it share one owner.
    let owner = document.owner.as_ref().expect("a segment has an owner");
    assert_eq!(owner.service, "backend-flask");
    assert_eq!(
        segment.trace_id.to_hex(),
        "6b06a84169cb3a08896fab530b612e6d"
    );
    assert_eq!(segment.span_id.to_hex(), "14433295f04e6806");
    assert_eq!(segment.parent_span_id, None);
    assert_eq!(call.parent_span_id, Some(segment.span_id));
    assert_eq!(
        (segment.kind, call.kind),
        (SpanKind::Server, SpanKind::Client)
    );
    // 1795598401.6366334 as the nearest double holds it, to the nanosecond.
    assert_eq!(segment.start_unix_nano, 1_795_598_401_636_633_396);
    let nanos = |seconds: Option<f64>| super::convert::seconds_to_nanos(seconds).unwrap();
    assert_eq!(
        segment.duration_nano,
        nanos(Some(1795598401.6377404)) - nanos(Some(1795598401.6366334))
    );
    // A fault fails the segment; a 404 fails the downstream call (it is the caller's error).
    assert_eq!(
        (segment.status.code, call.status.code),
        (StatusCode::Error, StatusCode::Error)
    );

    let attribute = |i: usize, key: &str| spans[i].attribute(key).cloned();
    assert_eq!(
        attribute(0, "http.status_code"),
        Some(AttributeValue::Int(500))
    );
    assert_eq!(
        attribute(0, "annotation.customer_id"),
        Some(AttributeValue::Int(42))
    );
    assert_eq!(
        attribute(0, "annotation.tier"),
        Some(AttributeValue::String("gold".into()))
    );
    assert_eq!(
        attribute(0, "enduser.id"),
        Some(AttributeValue::String("alice".into()))
    );
    assert_eq!(
        attribute(0, "aws.xray.fault"),
        Some(AttributeValue::Bool(true))
    );
    assert_eq!(
        attribute(0, "aws.xray.metadata.default"),
        Some(AttributeValue::String(r#"{"debug":{"a":1}}"#.into()))
    );
    assert_eq!(
        attribute(0, "aws.xray.document"),
        Some(AttributeValue::String(SEGMENT.into()))
    );
    assert_eq!(
        attribute(1, "aws.xray.document"),
        None,
        "the document rides on its top span only"
    );
    assert_eq!(
        attribute(1, "aws.xray.traced"),
        Some(AttributeValue::Bool(true))
    );
    assert_eq!(
        attribute(1, "aws.xray.namespace"),
        Some(AttributeValue::String("remote".into()))
    );

    let resource: Vec<(&str, String)> = owner
        .resource
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.to_json().to_string()))
        .collect();
    assert!(resource.contains(&("service.name", "\"backend-flask\"".into())));
    assert!(resource.contains(&("telemetry.sdk.name", "\"X-Ray for Python\"".into())));
    assert!(resource.contains(&("cloud.provider", "\"aws\"".into())));

    let exception = &segment.events[0];
    assert_eq!(exception.name, "exception");
    assert_eq!(exception.time_unix_nano, segment.end_unix_nano());
    assert!(exception
        .attributes
        .iter()
        .any(|kv| kv.key == "exception.type"
            && kv.value == AttributeValue::String("ValueError".into())));
}

#[test]
fn independent_and_in_progress_documents() {
    let streamed = r#"{"type":"subsegment","id":"aaaaaaaaaaaaaaaa","parent_id":"14433295f04e6806","trace_id":"1-6b06a841-69cb3a08896fab530b612e6d","name":"call-0","start_time":1795598401.7,"end_time":1795598401.8,"namespace":"local"}"#;
    let document = parse_document(streamed).unwrap();
    assert!(document.independent_subsegment);
    let spans = &document.spans;
    assert_eq!(
        document.owner, None,
        "the parent's service is looked up by the caller"
    );
    assert_eq!(
        spans[0].parent_span_id.map(|p| p.to_hex()).as_deref(),
        Some("14433295f04e6806")
    );
    assert_eq!(spans[0].kind, SpanKind::Internal);

    let open = r#"{"id":"14433295f04e6806","name":"api","start_time":1795598401.6,"in_progress":true,"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d"}"#;
    let spans = parse_document(open).unwrap().spans;
    assert_eq!(spans[0].duration_nano, 0);
    assert_eq!(
        spans[0].attribute("aws.xray.in_progress"),
        Some(&AttributeValue::Bool(true))
    );
}

#[test]
fn invalid_documents_get_a_code_and_keep_their_id() {
    let cases = [
        ("not json", None, "MalformedSegment"),
        ("[1]", None, "MalformedSegment"),
        (
            r#"{"id":"14433295f04e6806","name":"a","start_time":1,"end_time":2}"#,
            Some("14433295f04e6806"),
            "MissingRequiredFields",
        ),
        (
            r#"{"id":"14433295f04e6806","name":"a","start_time":1,"end_time":2,"trace_id":"1-xyz"}"#,
            Some("14433295f04e6806"),
            "InvalidTraceId",
        ),
        (
            r#"{"id":"123","name":"a","start_time":1,"end_time":2,"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d"}"#,
            Some("123"),
            "InvalidSegmentId",
        ),
        (
            r#"{"id":"14433295f04e6806","name":"a","start_time":1,"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d"}"#,
            Some("14433295f04e6806"),
            "MissingRequiredFields",
        ),
        (
            r#"{"id":"14433295f04e6806","start_time":1,"end_time":2,"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d"}"#,
            Some("14433295f04e6806"),
            "MissingRequiredFields",
        ),
        (
            r#"{"type":"subsegment","id":"14433295f04e6806","name":"a","start_time":1,"end_time":2,"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d"}"#,
            Some("14433295f04e6806"),
            "MissingRequiredFields",
        ),
        (
            r#"{"id":"14433295f04e6806","name":"a","start_time":1,"end_time":2,"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d","subsegments":[{"id":"x","name":"b","start_time":1,"end_time":2}]}"#,
            Some("14433295f04e6806"),
            "InvalidSegmentId",
        ),
        // A mapped field of the wrong type: malformed, but the id is still found for the daemon.
        (
            r#"{"id":"14433295f04e6806","name":"a","start_time":"soon","end_time":2,"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d"}"#,
            Some("14433295f04e6806"),
            "MalformedSegment",
        ),
        (
            r#"{"id":"14433295f04e6806","name":"a","start_time":1,"end_time":2,"http":"GET /","trace_id":"1-6b06a841-69cb3a08896fab530b612e6d"}"#,
            Some("14433295f04e6806"),
            "MalformedSegment",
        ),
    ];
    for (raw, id, code) in cases {
        let error = parse_document(raw).expect_err(raw);
        assert_eq!(
            (error.id.as_deref(), error.code),
            (id, code),
            "{raw}: {error}"
        );
        assert!(!error.message.is_empty());
    }
    let huge = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_DOCUMENT_BYTES));
    assert_eq!(parse_document(&huge).unwrap_err().code, "SegmentTooLarge");
}

#[test]
fn an_invalid_nested_subsegment_is_named_by_its_path() {
    let raw = r#"{"id":"14433295f04e6806","name":"a","start_time":1,"end_time":2,"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d","subsegments":[{"id":"2b8e0b24b1ec7f1a","name":"b","start_time":1,"end_time":2},{"id":"3b8e0b24b1ec7f1a","name":"c","start_time":1,"end_time":2,"subsegments":[{"id":"4b8e0b24b1ec7f1a","start_time":1,"end_time":2}]}]}"#;
    let error = parse_document(raw).unwrap_err();
    assert_eq!(error.code, "MissingRequiredFields");
    assert_eq!(
        error.message,
        "the document.subsegments[1].subsegments[0] has no name"
    );
}

#[test]
fn unmapped_fields_are_ignored_and_a_cause_may_be_an_exception_id() {
    let raw = r#"{"id":"14433295f04e6806","name":"api","start_time":1.5,"end_time":2.5,"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d",
"cause":"0123456789abcdef","fault":true,"some_future_field":{"nested":[1,2,{"x":null}]},"metadata":{"debug":{"text":"a \"quoted\" word"}},
"annotations":{"escaped\u00e9":"caf\u00e9"}}"#;
    let span = &parse_document(raw).unwrap().spans[0];
    assert_eq!(span.status.message, "cause: exception 0123456789abcdef");
    assert_eq!(span.status.code, StatusCode::Error);
    assert_eq!(
        span.attribute("aws.xray.metadata.debug"),
        Some(&AttributeValue::String(
            r#"{"text":"a \"quoted\" word"}"#.into()
        ))
    );
    assert_eq!(
        span.attribute("annotation.escaped\u{e9}"),
        Some(&AttributeValue::String("caf\u{e9}".into()))
    );
}
