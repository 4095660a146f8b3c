//! One environment never sees another's data: random traces written into three environments
//! through every keyed ingest path (OTLP/HTTP protobuf and JSON, OTLP/gRPC, PutTraceSegments),
//! then every read path (trace by id, search, SQL, services, BatchGetTraces, trace summaries,
//! the service graph) asked with each environment's key finds its own traces and nothing else.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use proptest::prelude::*;
use prost::Message;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::keys::{create_key, KeyKind, KEY_HEADER};
use crate::state::AppState;

const ENVIRONMENTS: [&str; 3] = ["alpha", "beta", "gamma"];
const SERVICES: [&str; 3] = ["checkout", "payments", "web"];

/// One generated trace: how it is sent, its service, its id's random part and its span count.
#[derive(Debug, Clone)]
struct Trace {
    path: u8,
    service: usize,
    id: [u8; 12],
    spans: u8,
}

impl Trace {
    /// 16 bytes whose first 4 are a recent Unix time, so the id is valid in X-Ray form too.
    fn id_bytes(&self, now: u32) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&now.to_be_bytes());
        bytes[4..].copy_from_slice(&self.id);
        bytes
    }
}

fn traces() -> impl Strategy<Value = Vec<Vec<Trace>>> {
    let trace = (0u8..4, 0..SERVICES.len(), any::<[u8; 12]>(), 1u8..4).prop_map(
        |(path, service, id, spans)| Trace {
            path,
            service,
            id,
            spans,
        },
    );
    proptest::collection::vec(proptest::collection::vec(trace, 0..4), ENVIRONMENTS.len())
}

struct World {
    state: Arc<AppState>,
    otlp: Router,
    api: Router,
    keys: Vec<(String, String)>,
    now: u32,
}

async fn call(router: &Router, request: Request<Body>) -> (u16, Value) {
    let response = router.clone().oneshot(request).await.expect("an answer");
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .expect("a body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn otlp_request(
    trace: &Trace,
    trace_id: [u8; 16],
    environment: &str,
    now: u32,
) -> ExportTraceServiceRequest {
    let start = u64::from(now - 60) * 1_000_000_000;
    let spans = (0..trace.spans)
        .map(|n| Span {
            trace_id: trace_id.to_vec(),
            span_id: vec![n + 1; 8],
            parent_span_id: if n == 0 { Vec::new() } else { vec![1; 8] },
            name: format!("op-{n}"),
            kind: 2,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 10_000_000,
            attributes: vec![KeyValue {
                key: "marker".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(environment.into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(
                            SERVICES[trace.service].into(),
                        )),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn xray_documents(trace: &Trace, trace_id: [u8; 16], now: u32) -> Vec<String> {
    let id = hex::encode(trace_id);
    let xray_id = format!("1-{}-{}", &id[..8], &id[8..]);
    let start = f64::from(now - 60);
    let subsegments: Vec<Value> = (1..trace.spans)
        .map(|n| json!({"id": hex::encode([n + 1; 8]), "name": format!("op-{n}"), "start_time": start, "end_time": start + 0.01}))
        .collect();
    vec![
        json!({"trace_id": xray_id, "id": hex::encode([1u8; 8]), "name": SERVICES[trace.service],
                "start_time": start, "end_time": start + 0.01, "subsegments": subsegments})
        .to_string(),
    ]
}

impl World {
    async fn send(&self, environment: usize, trace: &Trace) {
        let (ingest, read) = (&self.keys[environment].0, &self.keys[environment].1);
        let trace_id = trace.id_bytes(self.now);
        let env = ENVIRONMENTS[environment];
        let message = otlp_request(trace, trace_id, env, self.now);
        let (status, body) = match trace.path {
            0 => {
                let request = Request::post("/v1/traces")
                    .header("content-type", "application/x-protobuf")
                    .header(KEY_HEADER, ingest)
                    .body(Body::from(message.encode_to_vec()))
                    .expect("request");
                call(&self.otlp, request).await
            }
            1 => {
                let request = Request::post("/v1/traces")
                    .header("content-type", "application/json")
                    .header(KEY_HEADER, ingest)
                    .body(Body::from(serde_json::to_vec(&message).expect("json")))
                    .expect("request");
                call(&self.otlp, request).await
            }
            2 => {
                let mut request = tonic::Request::new(message);
                request
                    .metadata_mut()
                    .insert(KEY_HEADER, ingest.parse().expect("metadata"));
                let answer = crate::grpc::export_in_process(&self.state, request).await;
                (if answer.is_ok() { 200 } else { 500 }, Value::Null)
            }
            _ => {
                let body =
                    json!({"TraceSegmentDocuments": xray_documents(trace, trace_id, self.now)});
                let request = Request::post("/TraceSegments")
                    .header(KEY_HEADER, read)
                    .body(Body::from(body.to_string()))
                    .expect("request");
                call(&self.api, request).await
            }
        };
        assert_eq!(status, 200, "path {} refused: {body}", trace.path);
    }

    async fn get(&self, environment: usize, uri: &str) -> (u16, Value) {
        let request = Request::get(uri)
            .header(KEY_HEADER, &self.keys[environment].1)
            .body(Body::empty())
            .expect("request");
        call(&self.api, request).await
    }

    async fn post(&self, environment: usize, uri: &str, body: Value) -> Value {
        let request = Request::post(uri)
            .header(KEY_HEADER, &self.keys[environment].1)
            .body(Body::from(body.to_string()))
            .expect("request");
        let (status, answer) = call(&self.api, request).await;
        assert_eq!(status, 200, "{uri}: {answer}");
        answer
    }
}

fn strings(values: &Value, pointer: &str, field: &str) -> BTreeSet<String> {
    values
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.get(field).and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn check(world: &World, sent: &[Vec<Trace>]) {
    let ids: Vec<BTreeSet<String>> = sent
        .iter()
        .map(|traces| {
            traces
                .iter()
                .map(|t| hex::encode(t.id_bytes(world.now)))
                .collect()
        })
        .collect();
    let xray_ids: Vec<String> = ids
        .iter()
        .flatten()
        .map(|id| format!("1-{}-{}", &id[..8], &id[8..]))
        .collect();
    let window = json!({"StartTime": world.now - 3600, "EndTime": world.now + 60});
    for (environment, own) in ids.iter().enumerate() {
        let services: BTreeSet<String> = sent[environment]
            .iter()
            .map(|t| SERVICES[t.service].to_owned())
            .collect();
        for (other, their) in ids.iter().enumerate() {
            for id in their {
                let (status, _) = world
                    .get(environment, &format!("/api/v1/traces/{id}"))
                    .await;
                let visible = own.contains(id);
                assert_eq!(
                    status == 200,
                    visible,
                    "{} reading {}'s trace {id}",
                    ENVIRONMENTS[environment],
                    ENVIRONMENTS[other]
                );
            }
        }
        let (_, search) = world.get(environment, "/api/v1/traces?limit=1000").await;
        assert_eq!(&strings(&search, "/traces", "trace_id"), own, "search");
        let sql = world
            .post(
                environment,
                "/api/v1/sql",
                json!({"sql": "SELECT DISTINCT trace_id FROM spans"}),
            )
            .await;
        let rows: BTreeSet<String> = sql["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|row| row[0].as_str().map(str::to_owned))
            .collect();
        assert_eq!(&rows, own, "SQL");
        let (_, listed) = world.get(environment, "/api/v1/services").await;
        let listed: BTreeSet<String> = listed["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().or_else(|| s["name"].as_str()).map(str::to_owned))
            .collect();
        assert_eq!(listed, services, "services");
        let batch = world
            .post(environment, "/Traces", json!({"TraceIds": xray_ids}))
            .await;
        let own_xray: BTreeSet<String> = own
            .iter()
            .map(|id| format!("1-{}-{}", &id[..8], &id[8..]))
            .collect();
        assert_eq!(strings(&batch, "/Traces", "Id"), own_xray, "BatchGetTraces");
        let summaries = world
            .post(environment, "/TraceSummaries", window.clone())
            .await;
        assert!(
            strings(&summaries, "/TraceSummaries", "Id").is_subset(&own_xray),
            "summaries"
        );
        let graph = world
            .post(environment, "/ServiceGraph", window.clone())
            .await;
        assert!(
            strings(&graph, "/Services", "Name").is_subset(&services),
            "service graph: {graph}"
        );
    }
}

async fn run_case(sent: Vec<Vec<Trace>>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Vec<(String, String)> = ENVIRONMENTS
        .iter()
        .map(|environment| {
            let ingest = create_key(dir.path(), environment, KeyKind::Ingest)
                .expect("key")
                .1;
            let read = create_key(dir.path(), environment, KeyKind::Configuration)
                .expect("key")
                .1;
            (ingest, read)
        })
        .collect();
    let (state, _storage) = crate::test_state::state(dir.path()).await;
    let now = u32::try_from(combray_xray::time::now_seconds() as u64).expect("a recent time");
    let world = World {
        otlp: crate::http::otlp_router(Arc::clone(&state)),
        api: crate::http::api_router(Arc::clone(&state)).merge(crate::xray::xray_router(
            Arc::clone(&state),
            crate::xray::Port::Api,
        )),
        state,
        keys,
        now,
    };
    for (environment, traces) in sent.iter().enumerate() {
        for trace in traces {
            world.send(environment, trace).await;
        }
    }
    check(&world, &sent).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn no_environment_reads_another_environments_data(sent in traces()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(run_case(sent));
    }
}
