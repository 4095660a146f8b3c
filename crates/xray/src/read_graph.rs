//! The graph reads: GetServiceGraph, GetTraceGraph and GetTimeSeriesServiceStatistics.
//!
//! A graph of a whole window is built from span facts, a few narrow columns of every span
//! ([`crate::facts`]), so it covers every trace that started in the window without reading a
//! single document. So is a graph under a group whose filter only asks which services and
//! calls a trace has (`service("api")`, `edge("a", "b")`, under AND, OR and NOT). Any other
//! filter needs whole traces to evaluate: its candidates are narrowed by a column scan, and the
//! newest [`MAX_FILTERED_GRAPH_TRACES`] of them are read and evaluated exactly.

use std::collections::{BTreeMap, HashMap};

use crate::facts::{span_facts, FactsRequest};
use crate::filter::ast::NodeRef;
use crate::filter::Filter;
use combray_model::TraceId;
use combray_query::sql::SqlEngine;
use combray_storage::SpanStore;
use serde_json::{json, Value};

use crate::error::{XRayError, XRayResult};
use crate::facts::{Shaper, RESOURCE_KEYS, SPAN_KEYS};
use crate::filter::eval::{check_group_references, Evaluated, GroupLookup};
use crate::graph::{GraphBuilder, Statistics};
use crate::read::{nanos, narrow, newest_first, parse_ids, read_batches, read_traces, TimeRange};
use crate::shape::{shape_matches, TraceShape};

/// Most traces a graph under a filter that needs documents evaluates (the newest candidates).
pub const MAX_FILTERED_GRAPH_TRACES: usize = 20_000;
/// Traces whose span facts one pass holds in memory.
const FACTS_TRACES_PER_PASS: usize = 200_000;

/// The window's traces and what a graph over them may read.
pub struct GraphScope<'a> {
    /// The SQL engine the column scans run on.
    pub engine: &'a SqlEngine,
    /// The environment's spans.
    pub store: &'a dyn SpanStore,
    /// The caller's environment.
    pub environment: &'a str,
    /// Traces that started in `(start, end)`, epoch seconds.
    pub window: (f64, f64),
    /// The group's filter, if any.
    pub filter: Option<&'a Filter>,
}

/// Visits the shape of every trace of the window that the filter keeps.
async fn for_shapes_in(
    scope: &GraphScope<'_>,
    groups: &GroupLookup<'_>,
    mut visit: impl FnMut(&TraceShape) + Send,
) -> XRayResult<()> {
    let (start, end) = scope.window;
    if end < start {
        return Err(XRayError::invalid("EndTime is before StartTime"));
    }
    if let Some(filter) = scope.filter {
        check_group_references(filter, groups)?;
    }
    let (found, _) = newest_first(
        scope.store,
        scope.environment,
        scope.window,
        TimeRange::TraceId,
    )
    .await?;
    let needs_documents = scope
        .filter
        .is_some_and(|f| shape_matches(f, &TraceShape::default()).is_none());
    match scope.filter {
        Some(filter) if needs_documents => {
            shapes_from_documents(scope, filter, groups, found, visit).await
        }
        filter => {
            let mut ids: Vec<TraceId> = found.into_iter().map(|(_, id)| id).collect();
            ids.sort_unstable();
            shapes_from_facts(scope, &ids, nanos(start), |shape| {
                if filter.is_none_or(|f| shape_matches(f, shape) == Some(true)) {
                    visit(shape);
                }
            })
            .await
        }
    }
}

/// Every trace of `ids` (sorted), from span facts read a pass of traces at a time.
async fn shapes_from_facts(
    scope: &GraphScope<'_>,
    ids: &[TraceId],
    since_unix_nano: u64,
    mut visit: impl FnMut(&TraceShape) + Send,
) -> XRayResult<()> {
    for pass in ids.chunks(FACTS_TRACES_PER_PASS) {
        let (Some(&first_trace), Some(&last_trace)) = (pass.first(), pass.last()) else {
            continue;
        };
        let request = FactsRequest {
            since_unix_nano,
            first_trace,
            last_trace,
            attributes: SPAN_KEYS.iter().map(|k| (*k).to_owned()).collect(),
            resource: RESOURCE_KEYS.iter().map(|k| (*k).to_owned()).collect(),
        };
        let facts = span_facts(scope.engine, scope.store, scope.environment, request).await?;
        let mut by_trace: HashMap<TraceId, Vec<usize>> = HashMap::new();
        for (index, fact) in facts.spans.iter().enumerate() {
            if pass.binary_search(&fact.trace_id).is_ok() {
                by_trace.entry(fact.trace_id).or_default().push(index);
            }
        }
        let shaper = Shaper::new(&facts);
        for spans in by_trace.values() {
            visit(&shaper.shape(spans));
        }
    }
    Ok(())
}

/// The newest candidates a filter may match, read whole and evaluated exactly.
async fn shapes_from_documents(
    scope: &GraphScope<'_>,
    filter: &Filter,
    groups: &GroupLookup<'_>,
    found: Vec<(u64, TraceId)>,
    mut visit: impl FnMut(&TraceShape) + Send,
) -> XRayResult<()> {
    let since = nanos(scope.window.0);
    let newest = narrow(
        scope.engine,
        scope.store,
        scope.environment,
        filter,
        since,
        &found,
        MAX_FILTERED_GRAPH_TRACES,
    )
    .await?;
    let ids: Vec<TraceId> = newest.into_iter().map(|(_, id)| id).collect();
    for batch in read_batches(&ids) {
        let traces = read_traces(scope.store, scope.environment, batch).await?;
        for id in batch {
            if let Some(trace) = traces.get(id) {
                let evaluated = Evaluated::new(trace);
                if evaluated.matches(filter, groups) {
                    visit(&TraceShape::of(&evaluated.graph));
                }
            }
        }
    }
    Ok(())
}

/// GetServiceGraph.
pub async fn service_graph(scope: &GraphScope<'_>, groups: &GroupLookup<'_>) -> XRayResult<Value> {
    let mut builder = GraphBuilder::default();
    for_shapes_in(scope, groups, |shape| builder.add(shape)).await?;
    Ok(json!({
        "StartTime": scope.window.0,
        "EndTime": scope.window.1,
        "Services": builder.services(),
        "ContainsOldGroupVersions": false,
    }))
}

/// GetTraceGraph.
pub async fn trace_graph(
    store: &dyn SpanStore,
    environment: &str,
    ids: &[String],
) -> XRayResult<Value> {
    let ids: Vec<TraceId> = parse_ids(ids)?
        .into_iter()
        .filter_map(|(_, id)| id)
        .collect();
    let stored = read_traces(store, environment, &ids).await?;
    let mut builder = GraphBuilder::default();
    for id in &ids {
        if let Some(trace) = stored.get(id) {
            builder.add(&TraceShape::of(&Evaluated::new(trace).graph));
        }
    }
    Ok(json!({ "Services": builder.services() }))
}

/// GetTimeSeriesServiceStatistics: the selected node's (or edge's, or the entry services')
/// statistics in `period`-second buckets.
pub async fn time_series(
    scope: &GraphScope<'_>,
    selector: Option<&Filter>,
    period: u64,
    groups: &GroupLookup<'_>,
) -> XRayResult<Value> {
    let period = period.max(1) as f64;
    let mut buckets: BTreeMap<i64, Statistics> = BTreeMap::new();
    let is_edge = matches!(selector, Some(Filter::Edge { .. }));
    for_shapes_in(scope, groups, |shape| {
        let matches = |node: usize, reference: Option<&NodeRef>| {
            reference.is_none_or(|r| crate::filter::eval::node_matches(&shape.nodes[node], r))
        };
        let samples: Vec<_> = match selector {
            Some(Filter::Edge { from, to, .. }) => shape
                .calls
                .iter()
                .filter(|c| matches(c.from, Some(from)) && matches(c.to, Some(to)))
                .map(|c| c.sample)
                .collect(),
            Some(Filter::Service { node, .. }) => shape
                .hops
                .iter()
                .filter(|h| matches(h.node, node.as_ref()))
                .map(|h| h.sample)
                .collect(),
            _ => shape
                .hops
                .iter()
                .filter(|h| h.root)
                .map(|h| h.sample)
                .collect(),
        };
        for sample in samples {
            let bucket = (sample.start / period).floor() as i64;
            buckets.entry(bucket).or_default().add(&sample);
        }
    })
    .await?;
    let key = if is_edge {
        "EdgeSummaryStatistics"
    } else {
        "ServiceSummaryStatistics"
    };
    let series: Vec<Value> = buckets
        .iter()
        .map(|(bucket, stats)| {
            let mut point = json!({
                "Timestamp": *bucket as f64 * period,
                "ResponseTimeHistogram": stats.histogram_json(),
            });
            point[key] = stats.to_json();
            point
        })
        .collect();
    Ok(json!({ "TimeSeriesServiceStatistics": series, "ContainsOldGroupVersions": false }))
}
