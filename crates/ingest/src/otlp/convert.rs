//! OTLP protobuf types → the unified span model, validating each span on its own.

use std::collections::BTreeMap;

use combray_model::{
    dataset_for_service_name, AttributeValue, Event, KeyValue, Link, Protocol, Scope, Span,
    SpanBatch, SpanGroup, SpanId, SpanKind, Status, StatusCode, TraceId,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as OtlpKeyValue};
use opentelemetry_proto::tonic::trace::v1 as otlp;

use super::Normalized;

const SAMPLE_RATE_KEYS: [&str; 2] = ["sampleRate", "SampleRate"];

/// Normalizes a decoded request. Spans with invalid ids are left out and counted, never fail the
/// whole request; everything else is kept as sent.
pub fn to_span_batch(
    request: ExportTraceServiceRequest,
    environment: &str,
    protocol: Protocol,
    received_unix_nano: u64,
) -> Normalized {
    let mut rejections = Rejections::default();
    let mut groups = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = convert_attributes(
            resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        let service_name = resource
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match &kv.value {
                AttributeValue::String(name) => Some(name.as_str()),
                _ => None,
            });
        let dataset = dataset_for_service_name(service_name);
        for scope_spans in resource_spans.scope_spans {
            let scope = convert_scope(scope_spans.scope);
            let inherited_rate =
                sample_rate_in(&scope.attributes).or_else(|| sample_rate_in(&resource));
            let spans: Vec<Span> = scope_spans
                .spans
                .into_iter()
                .filter_map(|span| match convert_span(span, inherited_rate) {
                    Ok(span) => Some(span),
                    Err(reason) => {
                        rejections.add(reason);
                        None
                    }
                })
                .collect();
            if !spans.is_empty() {
                groups.push(SpanGroup {
                    dataset: dataset.clone(),
                    resource: resource.clone(),
                    scope,
                    spans,
                });
            }
        }
    }
    Normalized {
        batch: SpanBatch {
            environment: environment.to_owned(),
            protocol,
            received_unix_nano,
            groups,
        },
        rejected_spans: rejections.total,
        rejection_reason: rejections.describe(),
    }
}

/// Counts rejected spans per reason, so the client hears every distinct problem once.
#[derive(Default)]
struct Rejections {
    total: u64,
    by_reason: BTreeMap<String, u64>,
}

impl Rejections {
    fn add(&mut self, reason: String) {
        self.total += 1;
        *self.by_reason.entry(reason).or_default() += 1;
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .by_reason
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        parts.join("; ")
    }
}

fn convert_span(span: otlp::Span, inherited_rate: Option<u32>) -> Result<Span, String> {
    let trace_id = TraceId::from_slice(&span.trace_id)
        .map_err(|error| format!("span(s) with an invalid trace_id ({error})"))?;
    let span_id = SpanId::from_slice(&span.span_id)
        .map_err(|error| format!("span(s) with an invalid span_id ({error})"))?;
    let parent_span_id = parent_id(&span.parent_span_id)?;
    let mut attributes = convert_attributes(span.attributes);
    let own_rate = sample_rate_in(&attributes);
    attributes.retain(|kv| !SAMPLE_RATE_KEYS.contains(&kv.key.as_str()));
    let (links, invalid_links) = convert_links(span.links);
    let status = span.status.unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: span.trace_state,
        name: span.name,
        kind: SpanKind::from_otlp(span.kind),
        start_unix_nano: span.start_time_unix_nano,
        duration_nano: span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano),
        status: Status {
            code: StatusCode::from_otlp(status.code),
            message: status.message,
        },
        attributes,
        events: span.events.into_iter().map(convert_event).collect(),
        links,
        flags: span.flags,
        sample_rate: own_rate.or(inherited_rate).unwrap_or(1),
        dropped_counts: [
            span.dropped_attributes_count,
            span.dropped_events_count,
            span.dropped_links_count.saturating_add(invalid_links),
        ],
    })
}

/// An empty or all-zero parent means a root span; any other length is invalid.
fn parent_id(bytes: &[u8]) -> Result<Option<SpanId>, String> {
    if bytes.is_empty() || (bytes.len() == SpanId::LEN && bytes.iter().all(|b| *b == 0)) {
        return Ok(None);
    }
    SpanId::from_slice(bytes)
        .map(Some)
        .map_err(|error| format!("span(s) with an invalid parent_span_id ({error})"))
}

/// Links with invalid ids cannot be followed; they are dropped and counted as dropped links.
fn convert_links(links: Vec<otlp::span::Link>) -> (Vec<Link>, u32) {
    let mut invalid = 0u32;
    let mut converted = Vec::with_capacity(links.len());
    for link in links {
        match (
            TraceId::from_slice(&link.trace_id),
            SpanId::from_slice(&link.span_id),
        ) {
            (Ok(trace_id), Ok(span_id)) => converted.push(Link {
                trace_id,
                span_id,
                trace_state: link.trace_state,
                attributes: convert_attributes(link.attributes),
                dropped_attributes_count: link.dropped_attributes_count,
                flags: link.flags,
            }),
            _ => invalid = invalid.saturating_add(1),
        }
    }
    (converted, invalid)
}

fn convert_event(event: otlp::span::Event) -> Event {
    Event {
        time_unix_nano: event.time_unix_nano,
        name: event.name,
        attributes: convert_attributes(event.attributes),
        dropped_attributes_count: event.dropped_attributes_count,
    }
}

fn convert_scope(
    scope: Option<opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
) -> Scope {
    let Some(scope) = scope else {
        return Scope::default();
    };
    Scope {
        name: scope.name,
        version: scope.version,
        attributes: convert_attributes(scope.attributes),
    }
}

fn convert_attributes(attributes: Vec<OtlpKeyValue>) -> Vec<KeyValue> {
    attributes
        .into_iter()
        .filter(|kv| !kv.key.is_empty())
        .map(|kv| KeyValue::new(kv.key, convert_value(kv.value)))
        .collect()
}

fn convert_value(value: Option<AnyValue>) -> AttributeValue {
    let Some(value) = value.and_then(|any| any.value) else {
        return AttributeValue::Empty;
    };
    match value {
        any_value::Value::StringValue(text) => AttributeValue::String(text),
        any_value::Value::BoolValue(flag) => AttributeValue::Bool(flag),
        any_value::Value::IntValue(number) => AttributeValue::Int(number),
        any_value::Value::DoubleValue(number) => AttributeValue::Double(number),
        any_value::Value::BytesValue(bytes) => AttributeValue::Bytes(bytes),
        any_value::Value::ArrayValue(array) => AttributeValue::Array(
            array
                .values
                .into_iter()
                .map(|item| convert_value(Some(item)))
                .collect(),
        ),
        any_value::Value::KvlistValue(list) => AttributeValue::Map(convert_attributes(list.values)),
        // A profiles-only string-table reference means nothing outside the profiles signal.
        any_value::Value::StringValueStrindex(_) => AttributeValue::Empty,
    }
}

/// Honeycomb's sample rate rule: `sampleRate` (preferred) or `SampleRate`, numbers or numeric
/// text, rounded, and at least 1.
fn sample_rate_in(attributes: &[KeyValue]) -> Option<u32> {
    SAMPLE_RATE_KEYS.iter().find_map(|key| {
        let value = &attributes.iter().find(|kv| kv.key == *key)?.value;
        let rate = match value {
            AttributeValue::Int(number) => *number as f64,
            AttributeValue::Double(number) => *number,
            AttributeValue::String(text) => text.trim().parse::<f64>().ok()?,
            _ => return None,
        };
        Some(if rate.is_finite() && rate >= 1.0 {
            rate.round().min(u32::MAX as f64) as u32
        } else {
            1
        })
    })
}
