//! The service graph over a whole window is built from span facts (a few columns per span);
//! it must equal the graph built from every trace's documents, for X-Ray traces (streamed
//! subsegments, orphans, in-progress copies, AWS and remote calls), OTLP traces, and a trace
//! that crosses both, stored partly in a block and partly in the head.

use std::sync::Arc;
use std::time::{Duration, Instant};

use combray_ingest::xray::{group_spans, parse_document, Assembler, ResolvedSpan};
use combray_model::{
    AttributeValue, KeyValue, Protocol, Scope, Span, SpanBatch, SpanGroup, SpanId, SpanKind,
    Status, StatusCode,
};
use combray_query::sql::{SqlEngine, SqlLimits};
use combray_storage::{SpanStore, Storage, StorageConfig};
use combray_xray::filter::eval::Evaluated;
use combray_xray::filter::{self, Filter};
use combray_xray::graph::GraphBuilder;
use combray_xray::read_graph::{service_graph, time_series, GraphScope};
use combray_xray::shape::TraceShape;
use combray_xray::trace::XTrace;
use object_store::local::LocalFileSystem;
use serde_json::{json, Value};

const DATASET: &str = include_str!("fixtures/filter-dataset.json");
const ENV: &str = "default";
const CROSSING: &str = "1-6553f100-0000000000000000000000c1";

fn xray_batch(spans: Vec<ResolvedSpan>) -> SpanBatch {
    SpanBatch {
        environment: ENV.into(),
        protocol: Protocol::XRay,
        received_unix_nano: 0,
        groups: group_spans(spans),
    }
}

/// Documents through the assembler as UDP would; each inner list is released on its own.
fn xray_batches(rounds: Vec<Vec<Value>>) -> Vec<SpanBatch> {
    rounds
        .into_iter()
        .map(|documents| {
            let mut assembler = Assembler::new(Duration::from_secs(10), 1000);
            let mut spans = Vec::new();
            for document in documents {
                let document = parse_document(&document.to_string()).unwrap();
                spans.extend(assembler.push(document, Instant::now()).ready);
            }
            spans.extend(assembler.drain());
            xray_batch(spans)
        })
        .collect()
}

fn fixture_documents() -> Vec<Vec<Value>> {
    let dataset: Value = serde_json::from_str(DATASET).unwrap();
    dataset["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["documents"].as_array().unwrap().clone())
        .collect()
}

/// An X-Ray service `orders` called by an OTLP frontend, with an in-progress copy of its
/// segment stored before the complete one, and an orphan streamed subsegment.
fn crossing_documents() -> Vec<Vec<Value>> {
    let segment = |in_progress: bool| {
        let mut doc = json!({
            "trace_id": CROSSING, "id": "00000000000000c3", "parent_id": "0000000000000002",
            "name": "order-service", "start_time": 1_700_000_100.01, "origin": "AWS::ECS::Container",
            "aws": { "account_id": "123456789012" },
            "subsegments": [
                { "id": "00000000000000c4", "name": "DynamoDB", "namespace": "aws",
                  "start_time": 1_700_000_100.02, "end_time": 1_700_000_100.05,
                  "aws": { "table_name": "orders-table", "operation": "GetItem" } },
                { "id": "00000000000000c5", "name": "SQS", "namespace": "aws", "throttle": true,
                  "error": true, "start_time": 1_700_000_100.05, "end_time": 1_700_000_100.06,
                  "aws": { "queue_url": "https://sqs.us-east-1.amazonaws.com/1/jobs" } },
                { "id": "00000000000000c6", "name": "payments.example.com", "namespace": "remote",
                  "fault": true, "start_time": 1_700_000_100.06, "end_time": 1_700_000_100.09 }
            ]
        });
        if in_progress {
            doc["in_progress"] = json!(true);
            doc["subsegments"].as_array_mut().unwrap().truncate(1);
        } else {
            doc["end_time"] = json!(1_700_000_100.2);
            doc["fault"] = json!(true);
        }
        doc
    };
    let orphan = json!({
        "trace_id": CROSSING, "id": "00000000000000c7", "parent_id": "00000000000000ff",
        "type": "subsegment", "name": "cache", "namespace": "remote",
        "start_time": 1_700_000_100.1, "end_time": 1_700_000_100.12
    });
    vec![vec![segment(true)], vec![segment(false)], vec![orphan]]
}

fn otlp_span(n: u64, parent: Option<u64>, kind: SpanKind, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: combray_model::TraceId::from_xray(CROSSING).unwrap(),
        span_id: SpanId::from_bytes(n.to_be_bytes()),
        parent_span_id: parent.map(|p| SpanId::from_bytes(p.to_be_bytes())),
        trace_state: String::new(),
        name: format!("op-{n}"),
        kind,
        start_unix_nano: 1_700_000_100_000_000_000 + n * 1_000_000,
        duration_nano: 300_000_000 / n,
        status: Status {
            code: if n == 4 {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
            message: String::new(),
        },
        attributes,
        events: Vec::new(),
        links: Vec::new(),
        flags: 0,
        sample_rate: 1,
        dropped_counts: [0; 3],
    }
}

/// The OTLP side of the crossing trace: a frontend that calls `orders` (X-Ray), an AWS API
/// (throttled), and a failing internal call into a service of its own.
fn otlp_batch() -> SpanBatch {
    let text = |k: &str, v: &str| KeyValue::new(k, AttributeValue::String(v.into()));
    let frontend = vec![
        otlp_span(
            1,
            None,
            SpanKind::Server,
            vec![KeyValue::new(
                "http.response.status_code",
                AttributeValue::Int(503),
            )],
        ),
        otlp_span(
            2,
            Some(1),
            SpanKind::Client,
            vec![text("peer.service", "order-service")],
        ),
        otlp_span(
            3,
            Some(1),
            SpanKind::Client,
            vec![
                text("rpc.system", "aws-api"),
                KeyValue::new("http.status_code", AttributeValue::Int(429)),
            ],
        ),
        otlp_span(5, Some(1), SpanKind::Internal, vec![]),
    ];
    let worker = vec![otlp_span(4, Some(5), SpanKind::Internal, vec![])];
    let group = |service: &str, platform: &str, spans| SpanGroup {
        dataset: service.into(),
        resource: vec![
            text("service.name", service),
            text("cloud.platform", platform),
        ],
        scope: Scope::default(),
        spans,
    };
    SpanBatch {
        environment: ENV.into(),
        protocol: Protocol::OtlpHttpProtobuf,
        received_unix_nano: 0,
        groups: vec![
            group("storefront", "aws_eks", frontend),
            group("stock-worker", "aws_ec2", worker),
        ],
    }
}

async fn storage(dir: &std::path::Path) -> Arc<Storage> {
    std::fs::create_dir_all(dir.join("objects")).unwrap();
    let objects = Arc::new(LocalFileSystem::new_with_prefix(dir.join("objects")).unwrap());
    let storage = Storage::open(StorageConfig::new(dir.to_path_buf(), objects))
        .await
        .unwrap();
    let mut batches = xray_batches(fixture_documents());
    let in_head = batches.split_off(batches.len() / 2);
    for batch in &batches {
        storage.append(batch).await.unwrap();
    }
    storage.cut().await.unwrap().expect("a cut");
    for batch in in_head
        .iter()
        .chain(&xray_batches(crossing_documents()))
        .chain([&otlp_batch()])
    {
        storage.append(batch).await.unwrap();
    }
    Arc::new(storage)
}

/// The graph of every stored trace the filter keeps, each built from its documents.
async fn documents_graph(store: &dyn SpanStore, filter: Option<&Filter>) -> Value {
    let ids = store
        .trace_ids_starting_between(ENV, 0, u64::MAX)
        .await
        .unwrap();
    let mut builder = GraphBuilder::default();
    for (id, records) in store.many_trace_records(ENV, &ids).await.unwrap() {
        let trace = XTrace::from_records(id, &records);
        let evaluated = Evaluated::new(&trace);
        if filter.is_none_or(|f| evaluated.matches(f, &|_| None)) {
            builder.add(&TraceShape::of(&evaluated.graph));
        }
    }
    json!(builder.services())
}

/// Equal, but for float rounding (seconds went through nanoseconds on the facts path).
fn assert_close(left: &Value, right: &Value, path: &str) {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() < 1e-5, "{path}: {a} != {b}");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: {left} vs {right}");
            for (i, (a, b)) in a.iter().zip(b).enumerate() {
                assert_close(a, b, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(a), keys(b), "{path}");
            for (key, value) in a {
                assert_close(value, &b[key], &format!("{path}.{key}"));
            }
        }
        _ => assert_eq!(left, right, "{path}"),
    }
}

fn service<'a>(services: &'a Value, name: &str) -> &'a Value {
    services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Name"] == name && s["Type"] != "client")
        .unwrap_or_else(|| panic!("no service {name} in {services}"))
}

fn edge_to<'a>(services: &Value, from: &'a Value, to: &str) -> &'a Value {
    let target = service(services, to)["ReferenceId"].clone();
    from["Edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ReferenceId"] == target)
        .unwrap_or_else(|| panic!("no edge to {to} in {from}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_from_span_facts_equals_the_graph_from_documents() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path()).await;
    let engine = SqlEngine::new(SqlLimits::default()).unwrap();
    let scope = GraphScope {
        engine: &engine,
        store: storage.as_ref(),
        environment: ENV,
        window: (1_600_000_000.0, 1_800_000_000.0),
        filter: None,
    };
    let from_facts = service_graph(&scope, &|_| None).await.unwrap()["Services"].clone();
    let from_documents = documents_graph(storage.as_ref(), None).await;
    assert_close(&from_facts, &from_documents, "Services");

    // A group that asks only for services and calls is answered from facts too; one that
    // asks more reads documents. Either way the graph is that of the traces it keeps.
    for expression in [
        r#"service("order-service") OR edge("api.example.com", "backend")"#,
        r#"!service(id(type: "AWS::EC2::Instance"))"#,
        r#"service("order-service") { fault } OR http.status = 404"#,
    ] {
        let group = filter::parse(expression).unwrap();
        let scope = GraphScope {
            filter: Some(&group),
            ..scope
        };
        let from_facts = service_graph(&scope, &|_| None).await.unwrap()["Services"].clone();
        let from_documents = documents_graph(storage.as_ref(), Some(&group)).await;
        assert!(from_facts.as_array().unwrap().len() > 2, "{expression}");
        assert_close(&from_facts, &from_documents, expression);
        assert_ne!(
            from_facts,
            documents_graph(storage.as_ref(), None).await,
            "{expression}"
        );
    }

    // The crossing trace is in it, with both worlds' edges and statistics.
    let frontend = service(&from_facts, "storefront");
    assert_eq!(frontend["Type"], "AWS::EKS::Container");
    assert_eq!(
        frontend["SummaryStatistics"]["FaultStatistics"]["TotalCount"],
        1
    );
    let orders = service(&from_facts, "order-service");
    assert_eq!(orders["Type"], "AWS::ECS::Container");
    assert_eq!(
        orders["SummaryStatistics"]["TotalCount"], 1,
        "one copy of the segment"
    );
    assert_eq!(
        edge_to(&from_facts, frontend, "order-service")["SummaryStatistics"]["TotalCount"],
        1
    );
    assert_eq!(
        edge_to(&from_facts, frontend, "stock-worker")["SummaryStatistics"]["TotalCount"],
        1
    );
    let throttled = edge_to(&from_facts, orders, "jobs")["SummaryStatistics"].clone();
    assert_eq!(throttled["ErrorStatistics"]["ThrottleCount"], 1);
    assert_eq!(
        service(&from_facts, "orders-table")["Type"],
        "AWS::DynamoDB"
    );
    let remote = edge_to(&from_facts, orders, "payments.example.com");
    assert_eq!(
        remote["SummaryStatistics"]["FaultStatistics"]["TotalCount"],
        1
    );
    assert_eq!(service(&from_facts, "op-3")["Type"], "AWS::op-3");
    assert_eq!(service(&from_facts, "cache")["Type"], "remote");

    // The entry services' time series counts each trace's entry segment once.
    let series = time_series(&scope, None, 60, &|_| None).await.unwrap();
    let entries: u64 = series["TimeSeriesServiceStatistics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["ServiceSummaryStatistics"]["TotalCount"]
                .as_u64()
                .unwrap()
        })
        .sum();
    let traces = storage
        .trace_ids_starting_between(ENV, 0, u64::MAX)
        .await
        .unwrap()
        .len();
    assert_eq!(entries as usize, traces);
}
