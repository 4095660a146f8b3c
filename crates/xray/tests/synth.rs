//! OTLP spans as X-Ray segments, and a trace that crosses OTLP and X-Ray services.

use std::sync::Arc;

use combray_model::{
    AttributeValue, Event, KeyValue, Protocol, Scope, Span, SpanId, SpanKind, SpanRecord, Status,
    StatusCode, TraceId,
};
use combray_xray::analysis::TraceGraph;
use combray_xray::trace::XTrace;

const TRACE: &str = "6b06a84169cb3a08896fab530b612e6d";

fn id(n: u64) -> SpanId {
    SpanId::from_bytes(n.to_be_bytes())
}

fn record(
    service: &str,
    n: u64,
    parent: Option<u64>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
) -> SpanRecord {
    let start = 1_700_000_000_000_000_000 + n * 1_000_000;
    SpanRecord {
        span: Span {
            trace_id: TRACE.parse().unwrap(),
            span_id: id(n),
            parent_span_id: parent.map(id),
            trace_state: String::new(),
            name: format!("op-{n}"),
            kind,
            start_unix_nano: start,
            duration_nano: 100_000_000 / n,
            status: Status {
                code: StatusCode::Unset,
                message: String::new(),
            },
            attributes,
            events: Vec::new(),
            links: Vec::new(),
            flags: 0,
            sample_rate: 1,
            dropped_counts: [0; 3],
        },
        dataset: Arc::from(service),
        resource: Arc::from(vec![KeyValue::new(
            "cloud.platform",
            AttributeValue::String("aws_ecs".into()),
        )]),
        scope: Arc::new(Scope::default()),
        protocol: Protocol::OtlpHttpProtobuf,
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue::new(key, AttributeValue::String(value.into()))
}

#[test]
fn otlp_spans_become_segments_with_remote_calls_and_annotations() {
    let mut call = record(
        "frontend",
        2,
        Some(1),
        SpanKind::Client,
        vec![
            text("http.url", "http://backend/api"),
            text("peer.service", "backend-flask"),
            KeyValue::new("http.status_code", AttributeValue::Int(503)),
        ],
    );
    call.span.status.code = StatusCode::Error;
    let mut inner = record(
        "backend-flask",
        4,
        Some(3),
        SpanKind::Internal,
        vec![text("app.tier", "gold")],
    );
    inner.span.events.push(Event {
        time_unix_nano: inner.span.start_unix_nano,
        name: "exception".into(),
        attributes: vec![
            text("exception.type", "ValueError"),
            text("exception.message", "boom"),
        ],
        dropped_attributes_count: 0,
    });
    let records = vec![
        record(
            "frontend",
            1,
            None,
            SpanKind::Server,
            vec![text("http.route", "/home")],
        ),
        call,
        record("backend-flask", 3, Some(2), SpanKind::Server, vec![]),
        inner,
    ];
    let trace = XTrace::from_records(TRACE.parse::<TraceId>().unwrap(), &records);
    assert_eq!(trace.xray_id(), "1-6b06a841-69cb3a08896fab530b612e6d");
    assert_eq!(trace.segments.len(), 2);
    let frontend = trace.segments[0].entity();
    assert_eq!(
        (frontend.name(), frontend.origin()),
        ("frontend", Some("AWS::ECS::Container"))
    );
    assert!(frontend.parent_id().is_none());
    let annotations: Vec<_> = frontend.annotations().map(|(k, _)| k.as_str()).collect();
    assert_eq!(annotations, vec!["http_route"]);
    let remote = frontend.children().next().unwrap();
    assert_eq!(remote.name(), "backend-flask");
    assert_eq!(remote.namespace(), Some("remote"));
    assert!(remote.fault() && remote.http_status() == Some(503.0));
    let backend = trace.segments[1].entity();
    assert_eq!(backend.parent_id(), Some(id(2).to_hex().as_str()));
    let failing = backend.children().next().unwrap();
    assert_eq!(
        failing.exceptions().collect::<Vec<_>>(),
        vec![("ValueError", "boom")]
    );

    let graph = TraceGraph::of(&trace);
    let names: Vec<_> = graph.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, vec!["frontend", "backend-flask"]);
    assert_eq!(
        (graph.calls.len(), graph.calls[0].from, graph.calls[0].to),
        (1, 0, 1)
    );
}

#[test]
fn an_xray_segment_called_from_an_otlp_span_joins_its_trace() {
    let document = format!(
        r#"{{"trace_id":"1-6b06a841-69cb3a08896fab530b612e6d","id":"00000000000000aa","parent_id":"{}","name":"backend-flask","start_time":1700000000.01,"end_time":1700000000.05}}"#,
        id(2).to_hex()
    );
    let parsed = combray_ingest::xray::parse_document(&document).unwrap();
    let mut records = vec![
        record("frontend", 1, None, SpanKind::Server, vec![]),
        record("frontend", 2, Some(1), SpanKind::Client, vec![]),
    ];
    let owner = parsed.owner.clone().expect("a segment has an owner");
    for span in parsed.spans {
        records.push(SpanRecord {
            span,
            dataset: Arc::from("backend-flask"),
            resource: Arc::from(owner.resource.clone()),
            scope: Arc::new(Scope::default()),
            protocol: Protocol::XRay,
        });
    }
    let trace = XTrace::from_records(TRACE.parse().unwrap(), &records);
    let texts: Vec<String> = trace.segments.iter().map(|s| s.document_text()).collect();
    assert_eq!(texts.len(), 2);
    assert_eq!(
        texts[1], document,
        "the X-Ray document is served as received"
    );
    let graph = TraceGraph::of(&trace);
    let call = &graph.calls[0];
    assert_eq!(
        (
            graph.nodes[call.from].name.as_str(),
            graph.nodes[call.to].name.as_str()
        ),
        ("frontend", "backend-flask")
    );
}
