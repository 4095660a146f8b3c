//! Spans that arrived over OTLP, as X-Ray segments: the same choices as the OpenTelemetry
//! Collector's X-Ray exporter where it has one. A server or consumer span, a root, or a span
//! whose parent is in another service (or absent) starts a segment named after its service;
//! every other span is a subsegment of its parent. Client and producer spans are remote calls
//! (`namespace: remote`, or `aws` for AWS SDK calls). Scalar attributes become annotations
//! (keys with `.` and other characters X-Ray does not allow turned into `_`), so filter
//! expressions reach every OpenTelemetry attribute.

use std::collections::HashMap;

use combray_model::{AttributeValue, KeyValue, SpanKind, SpanRecord, StatusCode, TraceId};
use serde_json::{json, Map, Value};

use super::Segment;

fn find<'a>(attributes: &'a [KeyValue], keys: &[&str]) -> Option<&'a AttributeValue> {
    keys.iter().find_map(|key| {
        attributes
            .iter()
            .find(|kv| kv.key == *key)
            .map(|kv| &kv.value)
    })
}

fn find_text(attributes: &[KeyValue], keys: &[&str]) -> Option<String> {
    match find(attributes, keys)? {
        AttributeValue::String(text) => Some(text.clone()),
        other => Some(other.to_json().to_string()),
    }
}

fn seconds(nanos: u64) -> Value {
    json!(nanos as f64 / 1e9)
}

/// An annotation key as X-Ray allows it: letters, digits and `_`.
pub(super) fn annotation_key(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `AWS::…` node type from OpenTelemetry's `cloud.platform`.
pub(crate) fn origin_of_platform(platform: &str) -> Option<&'static str> {
    Some(match platform {
        "aws_ec2" => "AWS::EC2::Instance",
        "aws_ecs" => "AWS::ECS::Container",
        "aws_eks" => "AWS::EKS::Container",
        "aws_lambda" => "AWS::Lambda::Function",
        "aws_elastic_beanstalk" => "AWS::ElasticBeanstalk::Environment",
        _ => return None,
    })
}

fn origin(resource: &[KeyValue]) -> Option<&'static str> {
    origin_of_platform(&find_text(resource, &["cloud.platform"])?)
}

/// Where a span's HTTP status is, newest convention first.
pub(crate) const STATUS_KEYS: [&str; 2] = ["http.response.status_code", "http.status_code"];
/// What a client span calls, in order of preference; else the span's name.
pub(crate) const PEER_KEYS: [&str; 4] = [
    "peer.service",
    "server.address",
    "net.peer.name",
    "db.system",
];

/// `(fault, error, throttle)` of a span from its HTTP status and its status code.
pub(crate) fn outcome(status: Option<i64>, failed: bool) -> (bool, bool, bool) {
    match status {
        Some(429) => (false, true, true),
        Some(400..=499) => (false, true, false),
        Some(500..) => (true, false, false),
        _ => (failed, false, false),
    }
}

/// The namespace of a client or producer span's subsegment: `aws` for AWS SDK calls.
pub(crate) fn remote_namespace(rpc_system: Option<&str>) -> &'static str {
    if rpc_system == Some("aws-api") {
        "aws"
    } else {
        "remote"
    }
}

fn http_block(attributes: &[KeyValue]) -> Option<Value> {
    let mut request = Map::new();
    for (field, keys) in [
        ("method", &["http.request.method", "http.method"][..]),
        ("url", &["url.full", "http.url"][..]),
        (
            "user_agent",
            &["user_agent.original", "http.user_agent"][..],
        ),
        ("client_ip", &["client.address", "http.client_ip"][..]),
    ] {
        if let Some(value) = find_text(attributes, keys) {
            request.insert(field.into(), Value::String(value));
        }
    }
    if !request.contains_key("url") {
        let host = find_text(
            attributes,
            &["server.address", "http.host", "net.host.name"],
        );
        let target = find_text(attributes, &["url.path", "http.target"]);
        if let (Some(host), Some(target)) = (host, target) {
            let scheme =
                find_text(attributes, &["url.scheme", "http.scheme"]).unwrap_or("http".into());
            request.insert(
                "url".into(),
                Value::String(format!("{scheme}://{host}{target}")),
            );
        }
    }
    let status = http_status(attributes);
    if request.is_empty() && status.is_none() {
        return None;
    }
    let mut http = Map::new();
    http.insert("request".into(), Value::Object(request));
    if let Some(status) = status {
        http.insert("response".into(), json!({ "status": status }));
    }
    Some(Value::Object(http))
}

fn http_status(attributes: &[KeyValue]) -> Option<i64> {
    match find(attributes, &STATUS_KEYS)? {
        AttributeValue::Int(code) => Some(*code),
        AttributeValue::String(text) => text.parse().ok(),
        AttributeValue::Double(code) => Some(*code as i64),
        _ => None,
    }
}

fn entity(record: &SpanRecord, name: String, is_segment: bool) -> Map<String, Value> {
    let span = &record.span;
    let attributes = &span.attributes;
    let mut doc = Map::new();
    doc.insert("id".into(), Value::String(span.span_id.to_hex()));
    doc.insert("name".into(), Value::String(name));
    doc.insert("start_time".into(), seconds(span.start_unix_nano));
    doc.insert("end_time".into(), seconds(span.end_unix_nano()));
    if let Some(http) = http_block(attributes) {
        doc.insert("http".into(), http);
    }
    let (fault, error, throttle) = outcome(
        http_status(attributes),
        span.status.code == StatusCode::Error,
    );
    for (flag, set) in [("fault", fault), ("error", error), ("throttle", throttle)] {
        if set {
            doc.insert(flag.into(), json!(true));
        }
    }
    if !is_segment && matches!(span.kind, SpanKind::Client | SpanKind::Producer) {
        let rpc_system = find_text(attributes, &["rpc.system"]);
        doc.insert(
            "namespace".into(),
            json!(remote_namespace(rpc_system.as_deref())),
        );
    }
    if let Some(user) = find_text(attributes, &["enduser.id"]) {
        doc.insert("user".into(), Value::String(user));
    }
    if let Some(statement) = find_text(attributes, &["db.query.text", "db.statement"]) {
        let system = find_text(attributes, &["db.system.name", "db.system"]).unwrap_or_default();
        doc.insert(
            "sql".into(),
            json!({ "sanitized_query": statement, "database_type": system }),
        );
    }
    let annotations: Map<String, Value> = attributes
        .iter()
        .filter(|kv| {
            matches!(
                kv.value,
                AttributeValue::String(_)
                    | AttributeValue::Bool(_)
                    | AttributeValue::Int(_)
                    | AttributeValue::Double(_)
            )
        })
        .map(|kv| (annotation_key(&kv.key), kv.value.to_json()))
        .collect();
    if !annotations.is_empty() {
        doc.insert("annotations".into(), Value::Object(annotations));
    }
    doc.insert(
        "metadata".into(),
        json!({ "default": { "otel.span.name": span.name, "otel.span.kind": span.kind.as_str() } }),
    );
    let exceptions: Vec<Value> = span
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .map(|e| {
            json!({
                "type": find_text(&e.attributes, &["exception.type"]).unwrap_or_default(),
                "message": find_text(&e.attributes, &["exception.message"]).unwrap_or_default(),
            })
        })
        .collect();
    if !exceptions.is_empty() {
        doc.insert("cause".into(), json!({ "exceptions": exceptions }));
    }
    doc
}

/// The segments of a trace's OTLP spans, sorted by start.
pub(super) fn segments(trace_id: &TraceId, records: &[&SpanRecord]) -> Vec<Segment> {
    let by_id: HashMap<[u8; 8], &SpanRecord> = records
        .iter()
        .map(|r| (*r.span.span_id.as_bytes(), *r))
        .collect();
    let starts_segment = |record: &SpanRecord| {
        let parent = record
            .span
            .parent_span_id
            .and_then(|p| by_id.get(p.as_bytes()));
        match parent {
            None => true,
            Some(parent) => {
                parent.dataset != record.dataset
                    || matches!(record.span.kind, SpanKind::Server | SpanKind::Consumer)
            }
        }
    };
    // Children by parent id, in start order (records come sorted by start).
    let mut children: HashMap<[u8; 8], Vec<&SpanRecord>> = HashMap::new();
    let mut tops = Vec::new();
    for record in records {
        if starts_segment(record) {
            tops.push(*record);
        } else if let Some(parent) = record.span.parent_span_id {
            children
                .entry(*parent.as_bytes())
                .or_default()
                .push(*record);
        }
    }
    let xray_id = trace_id.to_xray();
    tops.into_iter()
        .map(|top| {
            let mut document = entity(top, top.dataset.to_string(), true);
            document.insert("trace_id".into(), Value::String(xray_id.clone()));
            if let Some(parent) = top.span.parent_span_id {
                document.insert("parent_id".into(), Value::String(parent.to_hex()));
            }
            if let Some(origin) = origin(&top.resource) {
                document.insert("origin".into(), json!(origin));
            }
            add_subsegments(&mut document, top, &children, 0);
            Segment {
                document,
                raw: None,
            }
        })
        .collect()
}

fn subsegment_name(record: &SpanRecord) -> String {
    if matches!(record.span.kind, SpanKind::Client | SpanKind::Producer) {
        if let Some(peer) = find_text(&record.span.attributes, &PEER_KEYS) {
            return peer;
        }
    }
    record.span.name.clone()
}

fn add_subsegments(
    document: &mut Map<String, Value>,
    record: &SpanRecord,
    children: &HashMap<[u8; 8], Vec<&SpanRecord>>,
    depth: usize,
) {
    // Deeper than any real trace: stop rather than recurse without bound on a cycle.
    if depth > 256 {
        return;
    }
    let Some(kids) = children.get(record.span.span_id.as_bytes()) else {
        return;
    };
    let subsegments: Vec<Value> = kids
        .iter()
        .map(|child| {
            let mut sub = entity(child, subsegment_name(child), false);
            add_subsegments(&mut sub, child, children, depth + 1);
            Value::Object(sub)
        })
        .collect();
    document.insert("subsegments".into(), Value::Array(subsegments));
}
