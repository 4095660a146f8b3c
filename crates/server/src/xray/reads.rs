//! Trace reads: BatchGetTraces, GetTraceSummaries, GetServiceGraph, GetTraceGraph and
//! GetTimeSeriesServiceStatistics, run on the read threads over the caller's environment.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use combray_storage::Storage;
use combray_xray::filter::eval::GroupLookup;
use combray_xray::filter::{self, Filter};
use combray_xray::groups::DEFAULT_GROUP;
use combray_xray::read::{self, SummaryQuery, TimeRange};
use combray_xray::read_graph::{self, GraphScope};
use combray_xray::{XRayError, XRayResult};
use serde::Deserialize;
use serde_json::Value;

use super::reply::{answer, parse, XRayCaller};
use crate::state::AppState;

type Shared = State<Arc<AppState>>;

/// Every group's filter by name and by ARN (`None`: no filter, every trace).
type GroupFilters = HashMap<String, Option<Filter>>;

async fn group_filters(state: &AppState, environment: &str) -> XRayResult<GroupFilters> {
    let mut filters = HashMap::new();
    for group in state.xray.control.groups(environment).await? {
        // Stored filters were checked when they were set.
        let parsed = group
            .filter_expression
            .as_deref()
            .and_then(|f| filter::parse(f).ok());
        filters.insert(group.group_arn.clone(), parsed.clone());
        filters.insert(group.group_name.clone(), parsed);
    }
    Ok(filters)
}

fn parse_filter(text: Option<&str>) -> XRayResult<Option<Filter>> {
    text.filter(|t| !t.trim().is_empty())
        .map(|t| filter::parse(t).map_err(|e| XRayError::invalid(e.to_string())))
        .transpose()
}

/// Runs a read over storage on the read threads, under the read gate's limits (past them,
/// ThrottledException).
async fn on_storage<F, R>(state: &Arc<AppState>, read: F) -> XRayResult<Value>
where
    F: FnOnce(Arc<Storage>) -> R + Send + 'static,
    R: Future<Output = XRayResult<Value>> + Send + 'static,
{
    let storage = Arc::clone(
        state
            .storage()
            .map_err(|e| XRayError::Throttled(e.to_string()))?,
    );
    match state.reads.run(read(storage)).await {
        Ok(result) => result,
        Err(refused) => Err(XRayError::Throttled(refused.to_string())),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TraceIdsInput {
    trace_ids: Option<Vec<String>>,
}

/// The operations on a list of trace ids.
#[derive(Clone, Copy)]
enum TraceIdsRead {
    BatchGetTraces,
    GetTraceGraph,
}

/// An operation on a list of trace ids.
async fn on_trace_ids(
    state: Arc<AppState>,
    caller: XRayCaller,
    body: Bytes,
    operation: TraceIdsRead,
) -> Response {
    let result = async {
        let input: TraceIdsInput = parse(&body)?;
        let ids = input
            .trace_ids
            .ok_or_else(|| XRayError::invalid("TraceIds is required"))?;
        on_storage(&state, move |storage| async move {
            let (store, environment) = (storage.as_ref(), &caller.environment);
            match operation {
                TraceIdsRead::BatchGetTraces => {
                    read::batch_get_traces(store, environment, &ids).await
                }
                TraceIdsRead::GetTraceGraph => {
                    read_graph::trace_graph(store, environment, &ids).await
                }
            }
        })
        .await
    }
    .await;
    answer(result, state.retry_after_seconds)
}

/// BatchGetTraces.
pub(super) async fn batch_get_traces(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    on_trace_ids(state, caller, body, TraceIdsRead::BatchGetTraces).await
}

/// GetTraceGraph.
pub(super) async fn get_trace_graph(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    on_trace_ids(state, caller, body, TraceIdsRead::GetTraceGraph).await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SamplingStrategy {
    name: Option<String>,
    value: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SummariesInput {
    #[serde(default, deserialize_with = "combray_xray::time::optional")]
    start_time: Option<f64>,
    #[serde(default, deserialize_with = "combray_xray::time::optional")]
    end_time: Option<f64>,
    time_range_type: Option<String>,
    sampling: Option<bool>,
    sampling_strategy: Option<SamplingStrategy>,
    filter_expression: Option<String>,
    next_token: Option<String>,
}

fn window(start: Option<f64>, end: Option<f64>) -> XRayResult<(f64, f64)> {
    let start = start.ok_or_else(|| XRayError::invalid("StartTime is required"))?;
    let end = end.ok_or_else(|| XRayError::invalid("EndTime is required"))?;
    if end < start {
        return Err(XRayError::invalid("EndTime is before StartTime"));
    }
    Ok((start, end))
}

fn sample_rate(input: &SummariesInput) -> XRayResult<Option<f64>> {
    if input.sampling != Some(true) {
        return Ok(None);
    }
    let Some(strategy) = &input.sampling_strategy else {
        return Ok(Some(0.1));
    };
    match strategy.name.as_deref() {
        None | Some("FixedRate" | "PartialScan") => {}
        Some(other) => {
            return Err(XRayError::invalid(format!(
                "SamplingStrategy.Name must be PartialScan or FixedRate; got {other:?}"
            )))
        }
    }
    let rate = strategy.value.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&rate) {
        return Err(XRayError::invalid(format!(
            "SamplingStrategy.Value must be from 0 to 1; got {rate}"
        )));
    }
    Ok(Some(rate))
}

/// GetTraceSummaries.
pub(super) async fn get_trace_summaries(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    let result = async {
        let input: SummariesInput = parse(&body)?;
        let (start, end) = window(input.start_time, input.end_time)?;
        let query = SummaryQuery {
            start,
            end,
            time_range: TimeRange::parse(input.time_range_type.as_deref())?,
            filter: parse_filter(input.filter_expression.as_deref())?,
            sample_rate: sample_rate(&input)?,
            next_token: input.next_token,
        };
        let groups = group_filters(&state, &caller.environment).await?;
        let shared = Arc::clone(&state);
        on_storage(&state, move |storage| async move {
            let lookup = |name: &str| groups.get(name).cloned();
            let store = storage.as_ref();
            read::trace_summaries(&shared.sql, store, &caller.environment, &query, &lookup).await
        })
        .await
    }
    .await;
    answer(result, state.retry_after_seconds)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GraphInput {
    #[serde(default, deserialize_with = "combray_xray::time::optional")]
    start_time: Option<f64>,
    #[serde(default, deserialize_with = "combray_xray::time::optional")]
    end_time: Option<f64>,
    group_name: Option<String>,
    #[serde(rename = "GroupARN")]
    group_arn: Option<String>,
    entity_selector_expression: Option<String>,
    period: Option<u64>,
}

/// The filter of the group a graph request names (none for `Default` or no group).
fn selected_group(groups: &GroupFilters, input: &GraphInput) -> XRayResult<Option<Filter>> {
    let Some(reference) = input.group_arn.as_ref().or(input.group_name.as_ref()) else {
        return Ok(None);
    };
    if reference == DEFAULT_GROUP {
        return Ok(None);
    }
    groups
        .get(reference)
        .cloned()
        .ok_or_else(|| XRayError::invalid(format!("Group not found: {reference}")))
}

/// The graph reads of a window.
enum GraphRead {
    ServiceGraph,
    /// The statistics of what the selector picks, in buckets of `period` seconds.
    TimeSeries {
        selector: Option<Filter>,
        period: u64,
    },
}

impl GraphRead {
    async fn run(&self, scope: &GraphScope<'_>, groups: &GroupLookup<'_>) -> XRayResult<Value> {
        match self {
            Self::ServiceGraph => read_graph::service_graph(scope, groups).await,
            Self::TimeSeries { selector, period } => {
                read_graph::time_series(scope, selector.as_ref(), *period, groups).await
            }
        }
    }
}

/// Runs a graph read over `window` and the group the input names, on the read threads.
async fn on_graph(
    state: &Arc<AppState>,
    caller: XRayCaller,
    input: &GraphInput,
    window: (f64, f64),
    read: GraphRead,
) -> XRayResult<Value> {
    let groups = group_filters(state, &caller.environment).await?;
    let group = selected_group(&groups, input)?;
    let shared = Arc::clone(state);
    on_storage(state, move |storage| async move {
        let lookup = |name: &str| groups.get(name).cloned();
        let scope = GraphScope {
            engine: &shared.sql,
            store: storage.as_ref(),
            environment: &caller.environment,
            window,
            filter: group.as_ref(),
        };
        read.run(&scope, &lookup).await
    })
    .await
}

/// GetServiceGraph.
pub(super) async fn get_service_graph(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    let result = async {
        let input: GraphInput = parse(&body)?;
        let window = window(input.start_time, input.end_time)?;
        on_graph(&state, caller, &input, window, GraphRead::ServiceGraph).await
    }
    .await;
    answer(result, state.retry_after_seconds)
}

/// GetTimeSeriesServiceStatistics. `EntitySelectorExpression` is `service(...)`,
/// `edge(...)` or a bare `id(...)`; without one, the entry services.
pub(super) async fn get_time_series_service_statistics(
    State(state): Shared,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    let result = async {
        let input: GraphInput = parse(&body)?;
        let window = window(input.start_time, input.end_time)?;
        let period = input.period.unwrap_or(60);
        if period == 0 || !period.is_multiple_of(60) {
            return Err(XRayError::invalid(format!(
                "Period must be a positive multiple of 60; got {period}"
            )));
        }
        let selector = input.entity_selector_expression.as_deref().map(|text| {
            let trimmed = text.trim();
            if trimmed.starts_with("id(") {
                format!("service({trimmed})")
            } else {
                trimmed.to_owned()
            }
        });
        let selector = parse_filter(selector.as_deref())?;
        if selector
            .as_ref()
            .is_some_and(|s| !matches!(s, Filter::Service { .. } | Filter::Edge { .. }))
        {
            return Err(XRayError::invalid(
                "EntitySelectorExpression must be service(...), edge(...) or id(...)",
            ));
        }
        let read = GraphRead::TimeSeries { selector, period };
        on_graph(&state, caller, &input, window, read).await
    }
    .await;
    answer(result, state.retry_after_seconds)
}
