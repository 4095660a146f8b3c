//! The X-Ray read operations over an environment's stored spans. Each reads traces through
//! the same [`SpanStore`] the rest of Combray uses, so X-Ray and OpenTelemetry services answer
//! in one place.

use std::collections::HashMap;

use crate::filter::prefilter::candidate_traces;
use crate::filter::Filter;
use combray_model::TraceId;
use combray_query::sql::SqlEngine;
use combray_storage::SpanStore;
use serde_json::{json, Value};

use crate::error::{XRayError, XRayResult};
use crate::filter::eval::{check_group_references, Evaluated, GroupLookup};
use crate::summary::trace_summary;
use crate::trace::XTrace;

/// Most summaries on one page.
pub const PAGE_SUMMARIES: usize = 100;
/// Most traces one page looks at; past it the page ends early with a NextToken.
pub const PAGE_SCAN: usize = 2_000;
/// Most trace ids BatchGetTraces and GetTraceGraph take.
pub const MAX_TRACE_IDS: usize = 100;

pub(crate) fn nanos(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1e9) as u64
}

/// Traces read in the first pass over the blocks: a page of summaries (100) usually needs
/// about this many. Each further pass reads twice as many, up to [`MAX_READ_BATCH`].
const FIRST_READ_BATCH: usize = 128;
const MAX_READ_BATCH: usize = 1_024;

/// Reads many traces, each block once rather than once per trace; absent ids had nothing stored.
pub(crate) async fn read_traces(
    store: &dyn SpanStore,
    environment: &str,
    ids: &[TraceId],
) -> XRayResult<HashMap<TraceId, XTrace>> {
    Ok(store
        .many_trace_records(environment, ids)
        .await?
        .into_iter()
        .map(|(id, records)| (id, XTrace::from_records(id, &records)))
        .collect())
}

/// `items` in consecutive slices of growing size: [`FIRST_READ_BATCH`], then doubling.
pub(crate) fn read_batches<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    let mut size = FIRST_READ_BATCH;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (batch, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        size = (size * 2).min(MAX_READ_BATCH);
        Some(batch)
    })
}

pub(crate) fn parse_ids(ids: &[String]) -> XRayResult<Vec<(String, Option<TraceId>)>> {
    if ids.len() > MAX_TRACE_IDS {
        return Err(XRayError::invalid(format!(
            "at most {MAX_TRACE_IDS} TraceIds; got {}",
            ids.len()
        )));
    }
    Ok(ids
        .iter()
        .map(|text| {
            let id = TraceId::from_xray(text).or_else(|| text.parse().ok());
            (text.clone(), id)
        })
        .collect())
}

/// BatchGetTraces: every segment document of each trace; unknown ids are unprocessed.
pub async fn batch_get_traces(
    store: &dyn SpanStore,
    environment: &str,
    ids: &[String],
) -> XRayResult<Value> {
    let ids = parse_ids(ids)?;
    let known: Vec<TraceId> = ids.iter().filter_map(|(_, id)| *id).collect();
    let stored = read_traces(store, environment, &known).await?;
    let mut traces = Vec::new();
    let mut unprocessed = Vec::new();
    for (text, id) in ids {
        let Some(trace) = id.and_then(|id| stored.get(&id)) else {
            unprocessed.push(text);
            continue;
        };
        let segments: Vec<Value> = trace
            .segments
            .iter()
            .map(|s| json!({ "Id": s.entity().id(), "Document": s.document_text() }))
            .collect();
        traces.push(json!({
            "Id": trace.xray_id(),
            "Duration": trace.duration(),
            "LimitExceeded": false,
            "Segments": segments,
        }));
    }
    Ok(json!({ "Traces": traces, "UnprocessedTraceIds": unprocessed }))
}

/// Which time of a trace GetTraceSummaries' window selects on (`TimeRangeType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TimeRange {
    /// Traces that started in the window (the time in the trace id), newest start first.
    #[default]
    TraceId,
    /// Traces active in the window (started before its end, ended after its start), the most
    /// recently updated first.
    Event,
    /// Traces with a segment or subsegment that ended in the window, the most recently updated
    /// first.
    Service,
}

impl TimeRange {
    /// Parses the API's name for it.
    pub fn parse(text: Option<&str>) -> XRayResult<Self> {
        match text {
            None | Some("TraceId") => Ok(Self::TraceId),
            Some("Event") => Ok(Self::Event),
            Some("Service") => Ok(Self::Service),
            Some(other) => Err(XRayError::invalid(format!(
                "TimeRangeType must be TraceId, Event or Service; got {other:?}"
            ))),
        }
    }
}

/// What GetTraceSummaries asks.
pub struct SummaryQuery {
    /// Window start, epoch seconds.
    pub start: f64,
    /// Window end.
    pub end: f64,
    /// Which time of a trace the window selects on.
    pub time_range: TimeRange,
    /// The parsed filter.
    pub filter: Option<Filter>,
    /// Keep about this fraction of traces (`Sampling`).
    pub sample_rate: Option<f64>,
    /// Where the previous page stopped.
    pub next_token: Option<String>,
}

/// Trace ids the window selects, newest first, each with the time it is ordered by: its start
/// for [`TimeRange::TraceId`], else its end (when it was last updated). Also the earliest
/// start among them, where a scan for their spans must begin.
pub(crate) async fn newest_first(
    store: &dyn SpanStore,
    environment: &str,
    (start, end): (f64, f64),
    time_range: TimeRange,
) -> XRayResult<(Vec<(u64, TraceId)>, u64)> {
    let (start, end) = (nanos(start), nanos(end));
    let by_start = time_range == TimeRange::TraceId;
    let ids = if by_start {
        store
            .trace_ids_starting_between(environment, start, end)
            .await?
    } else {
        store
            .trace_ids_active_between(environment, start, end)
            .await?
    };
    let mut earliest = start;
    let mut found: Vec<(u64, TraceId)> = store
        .trace_summaries(environment, ids)
        .await?
        .into_iter()
        .filter_map(|s| {
            earliest = earliest.min(s.start_unix_nano);
            let last = s.start_unix_nano.saturating_add(s.duration_nano);
            let selected = if by_start {
                (start..=end).contains(&s.start_unix_nano)
            } else {
                s.start_unix_nano <= end && last >= start
            };
            selected.then_some((if by_start { s.start_unix_nano } else { last }, s.trace_id))
        })
        .collect();
    found.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok((found, earliest))
}

fn cursor(token: &str) -> XRayResult<(u64, TraceId)> {
    let invalid = || XRayError::invalid(format!("NextToken {token:?} is not one this server gave"));
    let (start, id) = token.split_once(':').ok_or_else(invalid)?;
    Ok((
        start.parse().map_err(|_| invalid())?,
        id.parse().map_err(|_| invalid())?,
    ))
}

fn sampled(id: &TraceId, rate: f64) -> bool {
    let bytes = id.as_bytes();
    let tail = u64::from_be_bytes(bytes[8..16].try_into().unwrap_or_default());
    (tail as f64 / u64::MAX as f64) < rate
}

/// The candidates a filter may match (found by a scan of the columns it needs), in order, at
/// most `most` of them.
pub(crate) async fn narrow(
    engine: &SqlEngine,
    store: &dyn SpanStore,
    environment: &str,
    filter: &Filter,
    start_unix_nano: u64,
    candidates: &[(u64, TraceId)],
    most: usize,
) -> XRayResult<Vec<(u64, TraceId)>> {
    let possible = candidate_traces(engine, store, environment, filter, start_unix_nano).await?;
    Ok(candidates
        .iter()
        .filter(|(_, id)| possible.as_ref().is_none_or(|p| p.contains(id)))
        .take(most)
        .copied()
        .collect())
}

/// Traces of the window (newest first) up to and including `last`, or all when the page ended
/// the window.
fn processed_through(window: &[(u64, TraceId)], last: Option<(u64, TraceId)>) -> usize {
    let key = |c: &(u64, TraceId)| (c.0, std::cmp::Reverse(c.1));
    match last {
        Some(last) => window.partition_point(|c| key(c) >= key(&last)),
        None => window.len(),
    }
}

/// GetTraceSummaries: newest first, a page at a time.
pub async fn trace_summaries(
    engine: &SqlEngine,
    store: &dyn SpanStore,
    environment: &str,
    query: &SummaryQuery,
    groups: &GroupLookup<'_>,
) -> XRayResult<Value> {
    if query.end < query.start {
        return Err(XRayError::invalid("EndTime is before StartTime"));
    }
    if let Some(filter) = &query.filter {
        check_group_references(filter, groups)?;
    }
    let (mut candidates, earliest) = newest_first(
        store,
        environment,
        (query.start, query.end),
        query.time_range,
    )
    .await?;
    if let Some(token) = &query.next_token {
        let after = cursor(token)?;
        candidates
            .retain(|c| (c.0, std::cmp::Reverse(c.1)) < (after.0, std::cmp::Reverse(after.1)));
    }
    // One more than a page scans, so a full page can tell whether more follow.
    let scanned = match &query.filter {
        Some(filter) => {
            narrow(
                engine,
                store,
                environment,
                filter,
                earliest,
                &candidates,
                PAGE_SCAN + 1,
            )
            .await?
        }
        None => candidates[..candidates.len().min(PAGE_SCAN + 1)].to_vec(),
    };
    let mut summaries = Vec::new();
    let mut processed = 0_u64;
    let mut last = None;
    let kept = |id: &TraceId| query.sample_rate.is_none_or(|rate| sampled(id, rate));
    let scan = &scanned[..scanned.len().min(PAGE_SCAN)];
    'scan: for batch in read_batches(scan) {
        let ids: Vec<TraceId> = batch.iter().map(|&(_, id)| id).filter(kept).collect();
        let mut traces = read_traces(store, environment, &ids).await?;
        for &(start, id) in batch {
            if summaries.len() >= PAGE_SUMMARIES {
                break 'scan;
            }
            processed += 1;
            last = Some((start, id));
            let Some(trace) = traces.remove(&id) else {
                continue; // sampled out, or nothing stored
            };
            if query.time_range == TimeRange::Service && !ends_within(&trace, query) {
                continue;
            }
            let evaluated = Evaluated::new(&trace);
            if query
                .filter
                .as_ref()
                .is_none_or(|f| evaluated.matches(f, groups))
            {
                summaries.push(trace_summary(&evaluated));
            }
        }
    }
    let more = last.is_some_and(|l| scanned.last() != Some(&l));
    if query.filter.is_some() {
        // Every trace of the window counts as processed, whether or not the filter matches it
        // (X-Ray's definition), including those the prefilter ruled out unread.
        processed = processed_through(&candidates, last.filter(|_| more)) as u64;
    }
    let mut page = json!({
        "TraceSummaries": summaries,
        "TracesProcessedCount": processed,
        "ApproximateTime": last.map_or(query.end, |(start, _)| start as f64 / 1e9),
    });
    if let (true, Some((start, id))) = (more, last) {
        page["NextToken"] = json!(format!("{start}:{}", id.to_hex()));
    }
    Ok(page)
}

/// Whether a segment or subsegment of the trace ended within the query's window.
fn ends_within(trace: &XTrace, query: &SummaryQuery) -> bool {
    trace.segments.iter().any(|segment| {
        let top = segment.entity();
        std::iter::once(top).chain(top.descendants()).any(|entity| {
            !entity.in_progress() && (query.start..=query.end).contains(&entity.end())
        })
    })
}
