//! Segment documents → spans of the unified model. The mapping follows the OpenTelemetry
//! Collector's X-Ray receiver where one exists (resource from the segment, `http`, `aws`, `sql`
//! fields to semantic-convention attributes, exceptions to `exception` events), with two
//! choices of ours: annotations become `annotation.<key>` attributes (so the X-Ray API can tell
//! them from other attributes), and the whole document rides on its top span as
//! `aws.xray.document`, so BatchGetTraces returns it byte for byte.

use combray_model::{
    AttributeValue, Event, KeyValue, Span, SpanId, SpanKind, Status, StatusCode, TraceId,
};
use serde_json::{Map, Value};

use super::assemble::Owner;
use super::document::span_id;

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue::new(key, AttributeValue::String(value.to_owned()))
}

fn seconds_to_nanos(value: Option<&Value>) -> Option<u64> {
    let seconds = value?.as_f64()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1e9).round() as u64)
}

/// A JSON scalar as an attribute value; objects and arrays as their JSON text.
fn json_value(value: &Value) -> AttributeValue {
    match value {
        Value::String(s) => AttributeValue::String(s.clone()),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AttributeValue::Int(i),
            None => AttributeValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Null => AttributeValue::Empty,
        other => AttributeValue::String(other.to_string()),
    }
}

/// `(json path, attribute key)` pairs copied when present.
const HTTP_FIELDS: [(&str, &str, &str); 6] = [
    ("request", "method", "http.method"),
    ("request", "url", "http.url"),
    ("request", "user_agent", "http.user_agent"),
    ("request", "client_ip", "http.client_ip"),
    ("response", "status", "http.status_code"),
    ("response", "content_length", "http.response_content_length"),
];
const AWS_FIELDS: [(&str, &str); 7] = [
    ("operation", "aws.operation"),
    ("account_id", "aws.account_id"),
    ("region", "aws.region"),
    ("request_id", "aws.request_id"),
    ("queue_url", "aws.queue_url"),
    ("table_name", "aws.table_name"),
    ("retries", "aws.xray.retries"),
];
const SQL_FIELDS: [(&str, &str); 5] = [
    ("url", "db.connection_string"),
    ("database_type", "db.system"),
    ("sanitized_query", "db.statement"),
    ("user", "db.user"),
    ("database_version", "db.version"),
];

fn copy_fields(block: Option<&Value>, fields: &[(&str, &str)], attributes: &mut Vec<KeyValue>) {
    let Some(block) = block.and_then(Value::as_object) else {
        return;
    };
    for (field, key) in fields {
        if let Some(value) = block.get(*field).filter(|v| !v.is_null()) {
            attributes.push(KeyValue::new(*key, json_value(value)));
        }
    }
}

/// The entity's own attributes (not the resource).
fn attributes(entity: &Map<String, Value>) -> Vec<KeyValue> {
    let mut attributes = Vec::new();
    if let Some(http) = entity.get("http").and_then(Value::as_object) {
        for (part, field, key) in HTTP_FIELDS {
            if let Some(value) = http
                .get(part)
                .and_then(|p| p.get(field))
                .filter(|v| !v.is_null())
            {
                attributes.push(KeyValue::new(key, json_value(value)));
            }
        }
        if http.get("request").and_then(|r| r.get("traced")) == Some(&Value::Bool(true)) {
            attributes.push(KeyValue::new("aws.xray.traced", AttributeValue::Bool(true)));
        }
    }
    copy_fields(entity.get("aws"), &AWS_FIELDS, &mut attributes);
    copy_fields(entity.get("sql"), &SQL_FIELDS, &mut attributes);
    if let Some(user) = entity.get("user").and_then(Value::as_str) {
        attributes.push(text("enduser.id", user));
    }
    for (key, flag) in ["error", "fault", "throttle", "in_progress"].map(|k| (k, entity.get(k))) {
        if flag == Some(&Value::Bool(true)) {
            attributes.push(KeyValue::new(
                format!("aws.xray.{key}"),
                AttributeValue::Bool(true),
            ));
        }
    }
    for (field, key) in [
        ("namespace", "aws.xray.namespace"),
        ("origin", "aws.xray.origin"),
        ("resource_arn", "aws.xray.resource_arn"),
    ] {
        if let Some(value) = entity.get(field).and_then(Value::as_str) {
            attributes.push(text(key, value));
        }
    }
    if let Some(precursors) = entity.get("precursor_ids").and_then(Value::as_array) {
        let ids = precursors.iter().map(json_value).collect();
        attributes.push(KeyValue::new(
            "aws.xray.precursor_ids",
            AttributeValue::Array(ids),
        ));
    }
    if let Some(annotations) = entity.get("annotations").and_then(Value::as_object) {
        for (key, value) in annotations {
            attributes.push(KeyValue::new(
                format!("annotation.{key}"),
                json_value(value),
            ));
        }
    }
    if let Some(metadata) = entity.get("metadata").and_then(Value::as_object) {
        for (namespace, value) in metadata {
            attributes.push(text(
                &format!("aws.xray.metadata.{namespace}"),
                &value.to_string(),
            ));
        }
    }
    attributes
}

/// Resource attributes of a segment.
fn resource(segment: &Map<String, Value>, service: &str) -> Vec<KeyValue> {
    let mut resource = vec![text("service.name", service)];
    let aws = segment.get("aws").and_then(Value::as_object);
    resource.push(text(
        "cloud.provider",
        if aws.is_some() { "aws" } else { "unknown" },
    ));
    let read = |path: &[&str]| -> Option<&Value> {
        path.iter()
            .try_fold(segment.get("aws")?, |v, key| v.get(key))
    };
    for (path, key) in [
        (&["xray", "sdk"][..], "telemetry.sdk.name"),
        (&["xray", "sdk_version"][..], "telemetry.sdk.version"),
        (&["account_id"][..], "cloud.account.id"),
        (&["ec2", "instance_id"][..], "host.id"),
        (&["ec2", "instance_size"][..], "host.type"),
        (&["ec2", "availability_zone"][..], "cloud.availability_zone"),
        (&["ecs", "container"][..], "container.name"),
        (&["ecs", "container_id"][..], "container.id"),
        (&["eks", "cluster_name"][..], "k8s.cluster.name"),
        (&["eks", "pod"][..], "k8s.pod.name"),
    ] {
        if let Some(value) = read(path).filter(|v| !v.is_null()) {
            resource.push(KeyValue::new(key, json_value(value)));
        }
    }
    if let Some(version) = segment
        .get("service")
        .and_then(|s| s.get("version"))
        .and_then(Value::as_str)
    {
        resource.push(text("service.version", version));
    }
    resource
}

/// Exceptions of a `cause` object as `exception` events at the entity's end; a cause that is
/// only an exception id becomes the status message.
fn exceptions(entity: &Map<String, Value>, at: u64) -> (Vec<Event>, Option<String>) {
    match entity.get("cause") {
        Some(Value::String(id)) => (Vec::new(), Some(format!("cause: exception {id}"))),
        Some(Value::Object(cause)) => {
            let events = cause
                .get("exceptions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .map(|exception| {
                    let mut attributes = Vec::new();
                    for (field, key) in [
                        ("type", "exception.type"),
                        ("message", "exception.message"),
                        ("id", "aws.xray.exception.id"),
                        ("remote", "aws.xray.exception.remote"),
                    ] {
                        if let Some(value) = exception.get(field).filter(|v| !v.is_null()) {
                            attributes.push(KeyValue::new(key, json_value(value)));
                        }
                    }
                    if let Some(stack) = exception.get("stack").filter(|s| s.is_array()) {
                        attributes.push(text("exception.stacktrace", &stack.to_string()));
                    }
                    Event {
                        time_unix_nano: at,
                        name: "exception".into(),
                        attributes,
                        dropped_attributes_count: 0,
                    }
                })
                .collect();
            (events, None)
        }
        _ => (Vec::new(), None),
    }
}

fn status(
    entity: &Map<String, Value>,
    kind: SpanKind,
    message: Option<String>,
    has_exceptions: bool,
) -> Status {
    let flag = |key: &str| entity.get(key) == Some(&Value::Bool(true));
    // A fault (5xx) is an error on any span; a 4xx is the caller's error, so only a client
    // span (a downstream call) fails with it, as OpenTelemetry's HTTP conventions say.
    let failed = flag("fault") || has_exceptions || (kind == SpanKind::Client && flag("error"));
    Status {
        code: if failed {
            StatusCode::Error
        } else {
            StatusCode::Unset
        },
        message: message.unwrap_or_default(),
    }
}

struct Walk {
    trace_id: TraceId,
    out: Vec<Span>,
}

impl Walk {
    fn entity(
        &mut self,
        entity: &Map<String, Value>,
        parent: Option<SpanId>,
        top: bool,
        raw: Option<String>,
    ) {
        let Some(id) = entity.get("id").and_then(Value::as_str).and_then(span_id) else {
            return;
        };
        let start = seconds_to_nanos(entity.get("start_time")).unwrap_or(0);
        // An in-progress entity has no end yet: it lasts zero until its complete version comes.
        let end = seconds_to_nanos(entity.get("end_time")).unwrap_or(start);
        let is_segment = top && entity.get("type").and_then(Value::as_str) != Some("subsegment");
        let kind = if is_segment {
            SpanKind::Server
        } else if entity
            .get("namespace")
            .and_then(Value::as_str)
            .is_some_and(|n| n == "remote" || n == "aws")
        {
            SpanKind::Client
        } else {
            SpanKind::Internal
        };
        let (events, cause_message) = exceptions(entity, end);
        let mut attributes = attributes(entity);
        if let Some(raw) = raw {
            attributes.push(KeyValue::new(
                "aws.xray.document",
                AttributeValue::String(raw),
            ));
        }
        let span = Span {
            trace_id: self.trace_id,
            span_id: id,
            parent_span_id: parent,
            trace_state: String::new(),
            name: entity
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            kind,
            start_unix_nano: start,
            duration_nano: end.saturating_sub(start),
            status: status(entity, kind, cause_message, !events.is_empty()),
            attributes,
            events,
            links: Vec::new(),
            flags: 0x100,
            sample_rate: 1,
            dropped_counts: [0; 3],
        };
        self.out.push(span);
        for child in entity
            .get("subsegments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(child) = child.as_object() {
                self.entity(child, Some(id), false, None);
            }
        }
    }
}

/// The service and resource a segment gives its spans and its streamed subsegments.
pub(crate) fn segment_owner(segment: &Map<String, Value>) -> Owner {
    let name = segment.get("name").and_then(Value::as_str);
    let service = combray_model::dataset_for_service_name(name);
    let resource = resource(segment, &service);
    Owner { service, resource }
}

/// A document's entity (child of `parent`) and every subsegment inside it as spans, the
/// document's own first (carrying `raw`, the whole document).
pub(crate) fn document_spans(
    body: &Map<String, Value>,
    trace_id: TraceId,
    parent: Option<SpanId>,
    raw: String,
) -> Vec<Span> {
    let mut walk = Walk {
        trace_id,
        out: Vec::new(),
    };
    walk.entity(body, parent, true, Some(raw));
    walk.out
}
