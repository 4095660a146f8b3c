//! Every documented filter expression, evaluated on a fixture dataset of X-Ray traces sent
//! through the real ingest path (document parsing and the assembler), must select exactly the
//! traces `fixtures/filter-expectations.txt` lists.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use combray_ingest::xray::{parse_document, Assembler};
use combray_model::{Protocol, Scope, SpanRecord};
use combray_query::xray::filter;
use combray_xray::eval::Evaluated;
use combray_xray::trace::XTrace;

const DATASET: &str = include_str!("fixtures/filter-dataset.json");
const EXPECTATIONS: &str = include_str!("fixtures/filter-expectations.txt");
const DOCUMENTED: &str = include_str!("../../query/tests/fixtures/xray-filter-expressions.txt");

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
            spans.extend(assembler.push(document, Instant::now()));
        }
        spans.extend(assembler.drain());
        let records: Vec<SpanRecord> = spans
            .into_iter()
            .map(|s| SpanRecord {
                span: s.span,
                dataset: Arc::from(s.owner.service.as_str()),
                resource: Arc::from(s.owner.resource.clone()),
                scope: Arc::new(Scope::default()),
                protocol: Protocol::XRay,
            })
            .collect();
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
    let mut spans = assembler.push(streamed, Instant::now());
    for segment in &game.segments {
        spans.extend(assembler.push(
            parse_document(&segment.document_text()).unwrap(),
            Instant::now(),
        ));
    }
    let records: Vec<SpanRecord> = spans
        .into_iter()
        .map(|s| SpanRecord {
            span: s.span,
            dataset: Arc::from(s.owner.service.as_str()),
            resource: Arc::from(s.owner.resource.clone()),
            scope: Arc::new(Scope::default()),
            protocol: Protocol::XRay,
        })
        .collect();
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
