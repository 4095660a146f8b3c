//! Segment documents → spans of the unified model. The mapping follows the OpenTelemetry
//! Collector's X-Ray receiver where one exists (resource from the segment, `http`, `aws`, `sql`
//! fields to semantic-convention attributes, exceptions to `exception` events), with two
//! choices of ours: annotations become `annotation.<key>` attributes (so the X-Ray API can tell
//! them from other attributes), and the whole document rides on its top span as
//! `aws.xray.document`, so BatchGetTraces returns it byte for byte.

use combray_model::{
    AttributeValue, Event, KeyValue, Span, SpanId, SpanKind, Status, StatusCode, TraceId,
};
use serde_json::Value;

use super::assemble::Owner;
use super::document::span_id;
use super::segment::{Cause, Entity};

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue::new(key, AttributeValue::String(value.to_owned()))
}

/// X-Ray's float seconds as nanoseconds. Whole seconds and the fraction are converted apart:
/// `seconds * 1e9` would round to a multiple of 256 ns at today's epoch (past 2^53), so a
/// segment of 0.25 s would last 249.999872 ms.
pub(crate) fn seconds_to_nanos(seconds: Option<f64>) -> Option<u64> {
    let seconds = seconds?;
    if !(0.0..1.8e10).contains(&seconds) {
        return None;
    }
    let whole = seconds.trunc();
    let fraction = ((seconds - whole) * 1e9).round() as u64;
    Some(whole as u64 * 1_000_000_000 + fraction)
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

/// Copies the fields that are present (and not null) under their attribute keys.
fn copy<const N: usize>(fields: [(&Option<Value>, &str); N], attributes: &mut Vec<KeyValue>) {
    for (value, key) in fields {
        if let Some(value) = value.as_ref().filter(|v| !v.is_null()) {
            attributes.push(KeyValue::new(key, json_value(value)));
        }
    }
}

fn is_true(flag: Option<bool>) -> bool {
    flag == Some(true)
}

/// The `http`, `aws` and `sql` blocks as semantic-convention attributes.
fn block_attributes(entity: &Entity<'_>, attributes: &mut Vec<KeyValue>) {
    if let Some(http) = &entity.http {
        if let Some(request) = &http.request {
            copy(
                [
                    (&request.method, "http.method"),
                    (&request.url, "http.url"),
                    (&request.user_agent, "http.user_agent"),
                    (&request.client_ip, "http.client_ip"),
                ],
                attributes,
            );
            if request.traced == Some(Value::Bool(true)) {
                attributes.push(KeyValue::new("aws.xray.traced", AttributeValue::Bool(true)));
            }
        }
        if let Some(response) = &http.response {
            copy(
                [
                    (&response.status, "http.status_code"),
                    (&response.content_length, "http.response_content_length"),
                ],
                attributes,
            );
        }
    }
    if let Some(aws) = &entity.aws {
        copy(
            [
                (&aws.operation, "aws.operation"),
                (&aws.account_id, "aws.account_id"),
                (&aws.region, "aws.region"),
                (&aws.request_id, "aws.request_id"),
                (&aws.queue_url, "aws.queue_url"),
                (&aws.table_name, "aws.table_name"),
                (&aws.retries, "aws.xray.retries"),
            ],
            attributes,
        );
    }
    if let Some(sql) = &entity.sql {
        copy(
            [
                (&sql.url, "db.connection_string"),
                (&sql.database_type, "db.system"),
                (&sql.sanitized_query, "db.statement"),
                (&sql.user, "db.user"),
                (&sql.database_version, "db.version"),
            ],
            attributes,
        );
    }
}

/// The entity's own attributes (not the resource).
fn attributes(entity: &Entity<'_>) -> Vec<KeyValue> {
    let mut attributes = Vec::new();
    block_attributes(entity, &mut attributes);
    if let Some(user) = &entity.user {
        attributes.push(text("enduser.id", user));
    }
    for (key, flag) in [
        ("aws.xray.error", entity.error),
        ("aws.xray.fault", entity.fault),
        ("aws.xray.throttle", entity.throttle),
        ("aws.xray.in_progress", entity.in_progress),
    ] {
        if is_true(flag) {
            attributes.push(KeyValue::new(key, AttributeValue::Bool(true)));
        }
    }
    for (value, key) in [
        (&entity.namespace, "aws.xray.namespace"),
        (&entity.origin, "aws.xray.origin"),
        (&entity.resource_arn, "aws.xray.resource_arn"),
    ] {
        if let Some(value) = value {
            attributes.push(text(key, value));
        }
    }
    if let Some(precursors) = &entity.precursor_ids {
        let ids = precursors.iter().map(json_value).collect();
        attributes.push(KeyValue::new(
            "aws.xray.precursor_ids",
            AttributeValue::Array(ids),
        ));
    }
    for (key, value) in entity.annotations.iter().flatten() {
        attributes.push(KeyValue::new(
            format!("annotation.{key}"),
            json_value(value),
        ));
    }
    for (namespace, value) in entity.metadata.iter().flatten() {
        attributes.push(text(&format!("aws.xray.metadata.{namespace}"), value.get()));
    }
    attributes
}

/// Resource attributes of a segment.
fn resource(segment: &Entity<'_>, service: &str) -> Vec<KeyValue> {
    let mut resource = vec![text("service.name", service)];
    let aws = segment.aws.as_ref();
    resource.push(text(
        "cloud.provider",
        if aws.is_some() { "aws" } else { "unknown" },
    ));
    if let Some(aws) = aws {
        let none = None;
        let xray = aws.xray.as_ref();
        let ec2 = aws.ec2.as_ref();
        let ecs = aws.ecs.as_ref();
        let eks = aws.eks.as_ref();
        copy(
            [
                (xray.map_or(&none, |x| &x.sdk), "telemetry.sdk.name"),
                (
                    xray.map_or(&none, |x| &x.sdk_version),
                    "telemetry.sdk.version",
                ),
                (&aws.account_id, "cloud.account.id"),
                (ec2.map_or(&none, |e| &e.instance_id), "host.id"),
                (ec2.map_or(&none, |e| &e.instance_size), "host.type"),
                (
                    ec2.map_or(&none, |e| &e.availability_zone),
                    "cloud.availability_zone",
                ),
                (ecs.map_or(&none, |e| &e.container), "container.name"),
                (ecs.map_or(&none, |e| &e.container_id), "container.id"),
                (eks.map_or(&none, |e| &e.cluster_name), "k8s.cluster.name"),
                (eks.map_or(&none, |e| &e.pod), "k8s.pod.name"),
            ],
            &mut resource,
        );
    }
    if let Some(Value::String(version)) = segment.service.as_ref().and_then(|s| s.version.as_ref())
    {
        resource.push(text("service.version", version));
    }
    resource
}

/// Exceptions of a `cause` object as `exception` events at the entity's end; a cause that is
/// only an exception id becomes the status message.
fn exceptions(entity: &Entity<'_>, at: u64) -> (Vec<Event>, Option<String>) {
    match entity.cause.and_then(Cause::read) {
        Some(Cause::Id(id)) => (Vec::new(), Some(format!("cause: exception {id}"))),
        Some(Cause::Details(exceptions)) => {
            let events = exceptions
                .iter()
                .map(|exception| {
                    let mut attributes = Vec::new();
                    copy(
                        [
                            (&exception.kind, "exception.type"),
                            (&exception.message, "exception.message"),
                            (&exception.id, "aws.xray.exception.id"),
                            (&exception.remote, "aws.xray.exception.remote"),
                        ],
                        &mut attributes,
                    );
                    if let Some(stack) = exception.stack.filter(|s| s.get().starts_with('[')) {
                        attributes.push(text("exception.stacktrace", stack.get()));
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
        None => (Vec::new(), None),
    }
}

fn status(
    entity: &Entity<'_>,
    kind: SpanKind,
    message: Option<String>,
    has_exceptions: bool,
) -> Status {
    // A fault (5xx) is an error on any span; a 4xx is the caller's error, so only a client
    // span (a downstream call) fails with it, as OpenTelemetry's HTTP conventions say.
    let failed = is_true(entity.fault)
        || has_exceptions
        || (kind == SpanKind::Client && is_true(entity.error));
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
        entity: &Entity<'_>,
        parent: Option<SpanId>,
        top: bool,
        raw: Option<String>,
    ) {
        let Some(id) = entity.id.as_deref().and_then(span_id) else {
            return;
        };
        let start = seconds_to_nanos(entity.start_time).unwrap_or(0);
        // An in-progress entity has no end yet: it lasts zero until its complete version comes.
        let end = seconds_to_nanos(entity.end_time).unwrap_or(start);
        let is_segment = top && entity.kind.as_deref() != Some("subsegment");
        let kind = if is_segment {
            SpanKind::Server
        } else if matches!(entity.namespace.as_deref(), Some("remote" | "aws")) {
            SpanKind::Client
        } else {
            SpanKind::Internal
        };
        let (events, cause_message) = exceptions(entity, end);
        let mut attributes = attributes(entity);
        if let Some(raw) = raw {
            attributes.push(KeyValue::new(
                combray_model::XRAY_DOCUMENT_ATTRIBUTE,
                AttributeValue::String(raw),
            ));
        }
        let span = Span {
            trace_id: self.trace_id,
            span_id: id,
            parent_span_id: parent,
            trace_state: String::new(),
            name: entity.name.as_deref().unwrap_or_default().to_owned(),
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
        for child in entity.subsegments.iter().flatten() {
            self.entity(child, Some(id), false, None);
        }
    }
}

/// The service and resource a segment gives its spans and its streamed subsegments.
pub(crate) fn segment_owner(segment: &Entity<'_>) -> Owner {
    let service = combray_model::dataset_for_service_name(segment.name.as_deref());
    let resource = resource(segment, &service);
    Owner { service, resource }
}

/// A document's entity (child of `parent`) and every subsegment inside it as spans, the
/// document's own first (carrying `raw`, the whole document).
pub(crate) fn document_spans(
    body: &Entity<'_>,
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
