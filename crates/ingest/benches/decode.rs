//! Decode + normalize of a Python-SDK-shaped 512-span OTLP/protobuf request.

use combray_ingest::body::ContentType;
use combray_ingest::otlp::normalize_http_body;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn request(spans: usize) -> Vec<u8> {
    let spans = (0..spans)
        .map(|index| Span {
            trace_id: (index as u128 + 1).to_be_bytes().to_vec(),
            span_id: (index as u64 + 1).to_be_bytes().to_vec(),
            name: "GET /api/activities/home".into(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_050_000_000,
            attributes: vec![
                string("http.method", "GET"),
                string("http.route", "/api/activities/home"),
                string("http.target", "/api/activities/home"),
                string("http.scheme", "http"),
                string("http.host", "localhost:4567"),
                string("net.peer.ip", "127.0.0.1"),
                string("http.user_agent", "python-requests/2.32"),
                string("http.flavor", "1.1"),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", "backend-flask")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn decode_and_normalize(c: &mut Criterion) {
    let body = request(512);
    let mut group = c.benchmark_group("otlp");
    group.throughput(Throughput::Elements(512));
    group.bench_function("decode_normalize_512_spans", |b| {
        b.iter(|| normalize_http_body(ContentType::Protobuf, &body, "default", 0).unwrap())
    });
    group.finish();
}

criterion_group!(benches, decode_and_normalize);
criterion_main!(benches);
