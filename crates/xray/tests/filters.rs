//! Every documented filter expression, evaluated on a fixture dataset of X-Ray traces sent
//! through the real ingest path (document parsing and the assembler), must select exactly the
//! traces `fixtures/filter-expectations.txt` lists.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use combray_ingest::xray::{parse_document, Assembler};
use combray_model::{Protocol, Scope, SpanRecord};
use combray_xray::filter;
use combray_xray::filter::eval::Evaluated;
use combray_xray::trace::XTrace;

const DATASET: &str = include_str!("fixtures/filter-dataset.json");
const EXPECTATIONS: &str = include_str!("fixtures/filter-expectations.txt");
const DOCUMENTED: &str = include_str!("fixtures/xray-filter-expressions.txt");

/// Spans as the store returns them.
fn records(spans: Vec<combray_ingest::xray::ResolvedSpan>) -> Vec<SpanRecord> {
    spans
        .into_iter()
        .map(|s| SpanRecord {
            span: s.span,
            dataset: Arc::from(s.owner.service.as_str()),
            resource: Arc::from(s.owner.resource.clone()),
            scope: Arc::new(Scope::default()),
            protocol: Protocol::XRay,
        })
        .collect()
}

/// The dataset's traces by name, each built from its documents as the server would store them.
fn traces() -> Vec<(String, XTrace)> {
    let dataset: serde_json::Value = serde_json::from_str(DATASET).unwrap();
    let mut out = Vec::new();
    for trace in dataset["traces"].as_array().unwrap() {
        let name = trace["name"].as_str().unwrap().to_owned();
        let mut assembler = Assembler::new(Duration::from_secs(10), 1000);
        let mut spans = Vec::new();
        let mut trace_id = None;
        for document in trace["documents"].as_array().unwrap() {
            let document = parse_document(&document.to_string()).unwrap();
            trace_id = Some(document.trace_id);
            spans.extend(assembler.push(document, Instant::now()).ready);
        }
        spans.extend(assembler.drain());
        let records = records(spans);
        out.push((name, XTrace::from_records(trace_id.unwrap(), &records)));
    }
    out
}

#[test]
fn every_documented_expression_selects_the_expected_traces() {
    let traces = traces();
    let group = filter::parse("responsetime > 5").unwrap();
    let groups = |name: &str| (name == "high_response_time").then(|| Some(group.clone()));
    let mut checked = BTreeSet::new();
    let mut failures = Vec::new();
    for line in EXPECTATIONS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (expression, expected) = line.rsplit_once("=>").unwrap();
        let expression = expression.trim();
        let expected: BTreeSet<&str> = expected.split_whitespace().collect();
        let parsed = filter::parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
        let selected: BTreeSet<&str> = traces
            .iter()
            .filter(|(_, trace)| Evaluated::new(trace).matches(&parsed, &groups))
            .map(|(name, _)| name.as_str())
            .collect();
        if selected != expected {
            failures.push(format!(
                "{expression}\n  expected {expected:?}\n  selected {selected:?}"
            ));
        }
        checked.insert(expression.to_owned());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let documented: BTreeSet<String> = DOCUMENTED
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .collect();
    let missing: Vec<_> = documented.difference(&checked).collect();
    assert!(
        missing.is_empty(),
        "documented expressions without expectations: {missing:?}"
    );
}

/// The column scan that narrows candidates before exact evaluation must never drop a trace the
/// expression matches: over the same dataset in a head, every expected trace is a candidate.
#[tokio::test(flavor = "multi_thread")]
async fn the_candidate_scan_keeps_every_matching_trace() {
    use crate::filter::prefilter::candidate_traces;
    use combray_ingest::xray::group_spans;
    use combray_model::SpanBatch;
    use combray_query::sql::{SqlEngine, SqlLimits};
    use combray_storage::Head;

    let dataset: serde_json::Value = serde_json::from_str(DATASET).unwrap();
    let head = Head::new();
    let mut ids = HashMap::new();
    for trace in dataset["traces"].as_array().unwrap() {
        let mut assembler = Assembler::new(Duration::from_secs(10), 1000);
        let mut spans = Vec::new();
        for document in trace["documents"].as_array().unwrap() {
            let document = parse_document(&document.to_string()).unwrap();
            ids.insert(
                trace["name"].as_str().unwrap().to_owned(),
                document.trace_id,
            );
            spans.extend(assembler.push(document, Instant::now()).ready);
        }
        spans.extend(assembler.drain());
        let batch = SpanBatch {
            environment: "default".into(),
            protocol: Protocol::XRay,
            received_unix_nano: 1,
            groups: group_spans(spans),
        };
        head.insert(&batch).unwrap();
    }
    let engine = SqlEngine::new(SqlLimits {
        max_rows: 1000,
        timeout: Duration::from_secs(30),
        memory_bytes: 256 << 20,
    })
    .unwrap();
    let mut narrowed = 0;
    for line in EXPECTATIONS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (expression, expected) = line.rsplit_once("=>").unwrap();
        let parsed = filter::parse(expression.trim()).unwrap();
        let Some(candidates) = candidate_traces(&engine, &head, "default", &parsed, 0)
            .await
            .unwrap()
        else {
            continue;
        };
        narrowed += 1;
        for name in expected.split_whitespace() {
            assert!(
                candidates.contains(&ids[name]),
                "{expression}: the scan dropped {name}"
            );
        }
        assert!(
            candidates.len() < ids.len(),
            "{expression}: nothing was narrowed"
        );
    }
    assert!(narrowed >= 15, "only {narrowed} expressions were narrowed");
}

#[test]
fn streamed_subsegments_are_served_inside_their_parent() {
    let names: HashMap<String, XTrace> = traces().into_iter().collect();
    let game = &names["game"];
    assert_eq!(game.segments.len(), 2);
    // Unchanged segments keep the exact text they arrived with.
    assert!(game.segments.iter().all(|s| s.raw.is_some()));
    let text = r#"{"trace_id":"1-6553f100-000000000000000000000001","id":"00000000000000f7","parent_id":"00000000000000a1","type":"subsegment","name":"cache","start_time":1700000000.5,"end_time":1700000000.6}"#;
    let streamed = parse_document(text).unwrap();
    let mut assembler = Assembler::new(Duration::from_secs(10), 10);
    let mut spans = assembler.push(streamed, Instant::now()).ready;
    for segment in &game.segments {
        let document = parse_document(&segment.document_text()).unwrap();
        spans.extend(assembler.push(document, Instant::now()).ready);
    }
    let records = records(spans);
    let rebuilt = XTrace::from_records(game.id, &records);
    let root = rebuilt.root().unwrap();
    assert!(
        root.raw.is_none(),
        "a segment with a subsegment put back is re-encoded"
    );
    let children: Vec<&str> = root.entity().children().map(|c| c.name()).collect();
    assert_eq!(children, vec!["backend.example.com", "cache"]);
    let cache = root.entity().children().nth(1).unwrap();
    assert!(cache.parent_id().is_none() && !cache.is_streamed_subsegment());
}
