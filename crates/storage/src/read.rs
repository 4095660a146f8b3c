//! The read API the query layer sees: one trait over the head alone (for tests) and over the
//! whole storage (head plus blocks), so no query needs to know where a span lives.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use std::sync::Arc;

use combray_model::{SpanKind, SpanRecord, TraceId};
use object_store::ObjectStore;

use crate::block::{Block, TraceEntry};
use crate::head::{overlaps, starts_within, Chunk, Head, Operation, TraceSummary};
use crate::{Storage, StorageError};

/// What queries read. The two reads of whole spans touch the object store and are async; the
/// rest answer from indexes in memory.
#[async_trait::async_trait]
pub trait SpanStore: Send + Sync {
    /// Every span of a trace, from every source (duplicates possible; callers deduplicate).
    async fn trace_records(
        &self,
        environment: &str,
        trace_id: &TraceId,
    ) -> Result<Vec<SpanRecord>, StorageError>;
    /// Every span of each of many traces, reading each block once rather than once per trace.
    /// Traces with nothing stored are absent.
    async fn many_trace_records(
        &self,
        environment: &str,
        trace_ids: &[TraceId],
    ) -> Result<HashMap<TraceId, Vec<SpanRecord>>, StorageError> {
        let mut traces = HashMap::new();
        for id in trace_ids {
            let records = self.trace_records(environment, id).await?;
            if !records.is_empty() {
                traces.insert(*id, records);
            }
        }
        Ok(traces)
    }
    /// Summaries of traces, merged across sources; unknown ids are skipped.
    fn trace_summaries(&self, environment: &str, trace_ids: Vec<TraceId>) -> Vec<TraceSummary>;
    /// Traces with a part that starts within `[start, end]`. Here and in
    /// [`SpanStore::trace_ids_active_between`], events sent without a trace are not traces.
    fn trace_ids_starting_between(&self, environment: &str, start: u64, end: u64) -> Vec<TraceId>;
    /// Traces with a part (a block's or the head's spans of it, from earliest start to latest
    /// end) that overlaps `[start, end]`: the traces active in the window.
    fn trace_ids_active_between(&self, environment: &str, start: u64, end: u64) -> Vec<TraceId>;
    /// Services, sorted.
    fn services(&self, environment: &str) -> Vec<String>;
    /// Everything an environment holds right now, for a query engine to scan
    /// ([`Snapshot::into_scan`]).
    fn snapshot(&self, environment: &str) -> Snapshot;
    /// Operations of a service, sorted by name; `None` when unknown.
    fn operations(&self, environment: &str, service: &str) -> Option<Vec<Operation>>;
}

/// An environment's blocks and head chunks at one moment. Both are immutable, so a query over a
/// snapshot sees a consistent set even while cuts and compaction go on.
pub struct Snapshot {
    /// Published blocks, oldest first.
    pub(crate) blocks: Vec<Arc<Block>>,
    /// Head chunks.
    pub(crate) head: Vec<Arc<Chunk>>,
    /// Where the blocks' objects live; `None` when there are no blocks (a head alone).
    pub(crate) store: Option<Arc<dyn ObjectStore>>,
}

fn head_records(
    head: &Head,
    environment: &str,
    trace_id: &TraceId,
) -> Result<Vec<SpanRecord>, StorageError> {
    head.trace_rows(environment, trace_id)
        .iter()
        .map(|(chunk, row)| chunk.record(*row))
        .collect()
}

#[async_trait::async_trait]
impl SpanStore for Head {
    async fn trace_records(
        &self,
        environment: &str,
        trace_id: &TraceId,
    ) -> Result<Vec<SpanRecord>, StorageError> {
        head_records(self, environment, trace_id)
    }

    fn trace_summaries(&self, environment: &str, trace_ids: Vec<TraceId>) -> Vec<TraceSummary> {
        Head::trace_summaries(self, environment, trace_ids)
    }

    fn trace_ids_starting_between(&self, environment: &str, start: u64, end: u64) -> Vec<TraceId> {
        Head::trace_ids_starting_between(self, environment, start, end)
    }

    fn trace_ids_active_between(&self, environment: &str, start: u64, end: u64) -> Vec<TraceId> {
        Head::trace_ids_active_between(self, environment, start, end)
    }

    fn services(&self, environment: &str) -> Vec<String> {
        Head::services(self, environment)
    }

    fn snapshot(&self, environment: &str) -> Snapshot {
        Snapshot {
            blocks: Vec::new(),
            head: self.chunks(environment),
            store: None,
        }
    }

    fn operations(&self, environment: &str, service: &str) -> Option<Vec<Operation>> {
        Head::operations(self, environment, service)
    }
}

fn block_summary(block: &Block, entry: &TraceEntry) -> TraceSummary {
    TraceSummary {
        trace_id: entry.trace_id,
        root_service: block.traces.name(entry.root_service).to_owned(),
        root_name: block.traces.name(entry.root_name).to_owned(),
        has_root: entry.has_root,
        start_unix_nano: entry.start_unix_nano,
        duration_nano: entry.end_unix_nano.saturating_sub(entry.start_unix_nano),
        span_count: entry.row_count as usize,
        error_count: entry.error_count,
    }
}

/// Folds another source's view of a trace into `into`.
fn merge(into: &mut TraceSummary, part: TraceSummary) {
    let end =
        (into.start_unix_nano + into.duration_nano).max(part.start_unix_nano + part.duration_nano);
    let earlier = part.start_unix_nano < into.start_unix_nano;
    if !into.has_root && (part.has_root || earlier) {
        into.root_service = part.root_service;
        into.root_name = part.root_name;
        into.has_root = part.has_root;
    }
    into.start_unix_nano = into.start_unix_nano.min(part.start_unix_nano);
    into.duration_nano = end - into.start_unix_nano;
    into.span_count += part.span_count;
    into.error_count += part.error_count;
}

#[async_trait::async_trait]
impl SpanStore for Storage {
    async fn trace_records(
        &self,
        environment: &str,
        trace_id: &TraceId,
    ) -> Result<Vec<SpanRecord>, StorageError> {
        let mut records = Vec::new();
        for block in self.blocks().blocks(environment) {
            let Some(entry) = block.traces.find(trace_id) else {
                continue;
            };
            let chunks = block
                .read_rows(
                    self.blocks().store(),
                    entry.first_row as usize,
                    entry.row_count as usize,
                )
                .await?;
            for chunk in &chunks {
                for row in 0..chunk.len() {
                    records.push(chunk.record(row)?);
                }
            }
        }
        records.extend(head_records(self.head(), environment, trace_id)?);
        Ok(records)
    }

    async fn many_trace_records(
        &self,
        environment: &str,
        trace_ids: &[TraceId],
    ) -> Result<HashMap<TraceId, Vec<SpanRecord>>, StorageError> {
        let mut traces: HashMap<TraceId, Vec<SpanRecord>> = HashMap::new();
        for block in self.blocks().blocks(environment) {
            let mut ranges: Vec<(usize, usize)> = trace_ids
                .iter()
                .filter_map(|id| block.traces.find(id))
                .map(|entry| (entry.first_row as usize, entry.row_count as usize))
                .collect();
            if ranges.is_empty() {
                continue;
            }
            ranges.sort_unstable();
            ranges.dedup();
            let chunks = block
                .read_row_ranges(self.blocks().store(), &ranges)
                .await?;
            for chunk in &chunks {
                for row in 0..chunk.len() {
                    let record = chunk.record(row)?;
                    traces.entry(record.span.trace_id).or_default().push(record);
                }
            }
        }
        for id in trace_ids {
            let records = head_records(self.head(), environment, id)?;
            if !records.is_empty() {
                traces.entry(*id).or_default().extend(records);
            }
        }
        Ok(traces)
    }

    fn trace_summaries(&self, environment: &str, mut trace_ids: Vec<TraceId>) -> Vec<TraceSummary> {
        if !trace_ids.is_sorted() {
            trace_ids.sort_unstable();
        }
        trace_ids.dedup();
        // One slot per id, found by position: a window's listing asks for every trace in it
        // (a million ids), where hash tables of that size spend their time on cache misses.
        let mut slots: Vec<Option<TraceSummary>> = (0..trace_ids.len()).map(|_| None).collect();
        let fold = |slot: &mut Option<TraceSummary>, part: TraceSummary| match slot {
            Some(existing) => merge(existing, part),
            None => *slot = Some(part),
        };
        for block in self.blocks().blocks(environment) {
            let entries = &block.traces.entries;
            let searches = trace_ids
                .len()
                .saturating_mul(entries.len().max(2).ilog2() as usize);
            if searches < entries.len() {
                // Few ids: a binary search of the block's index for each.
                for (slot, id) in slots.iter_mut().zip(&trace_ids) {
                    if let Some(entry) = block.traces.find(id) {
                        fold(slot, block_summary(&block, entry));
                    }
                }
                continue;
            }
            // Many: walk the block's entries and the ids together, both sorted by id.
            let mut at = 0;
            for entry in entries {
                at = seek(&trace_ids, at, &entry.trace_id);
                if at == trace_ids.len() {
                    break;
                }
                if trace_ids[at] == entry.trace_id {
                    fold(&mut slots[at], block_summary(&block, entry));
                }
            }
        }
        for part in self.head().trace_summaries(environment, trace_ids.clone()) {
            if let Ok(at) = trace_ids.binary_search(&part.trace_id) {
                fold(&mut slots[at], part);
            }
        }
        slots.into_iter().flatten().collect()
    }

    fn trace_ids_starting_between(&self, environment: &str, start: u64, end: u64) -> Vec<TraceId> {
        self.trace_ids_where(environment, start, end, starts_within(start, end))
    }

    fn trace_ids_active_between(&self, environment: &str, start: u64, end: u64) -> Vec<TraceId> {
        self.trace_ids_where(environment, start, end, overlaps(start, end))
    }

    fn services(&self, environment: &str) -> Vec<String> {
        let mut services: BTreeSet<String> =
            self.head().services(environment).into_iter().collect();
        for block in self.blocks().blocks(environment) {
            services.extend(block.meta.operations.keys().cloned());
        }
        services.into_iter().collect()
    }

    fn snapshot(&self, environment: &str) -> Snapshot {
        // Under the cut's lock, so a span is either in the head or in a listed block.
        let in_flight = self.cut_in_flight.read();
        let head = self.head().chunks(environment);
        let mut blocks = self.blocks().blocks(environment);
        blocks.retain(|block| !in_flight.contains(&block.meta.block_id));
        drop(in_flight);
        Snapshot {
            blocks,
            head,
            store: Some(Arc::clone(self.blocks().store())),
        }
    }

    fn operations(&self, environment: &str, service: &str) -> Option<Vec<Operation>> {
        let mut by_name: BTreeMap<String, BTreeSet<u8>> = BTreeMap::new();
        let mut known = false;
        if let Some(operations) = self.head().operations(environment, service) {
            known = true;
            for operation in operations {
                by_name
                    .entry(operation.name)
                    .or_default()
                    .extend(operation.kinds.iter().map(|k| *k as u8));
            }
        }
        for block in self.blocks().blocks(environment) {
            if let Some(names) = block.meta.operations.get(service) {
                known = true;
                for (name, kinds) in names {
                    by_name
                        .entry(name.clone())
                        .or_default()
                        .extend(kinds.iter().copied());
                }
            }
        }
        known.then(|| {
            by_name
                .into_iter()
                .map(|(name, kinds)| Operation {
                    name,
                    kinds: kinds
                        .into_iter()
                        .map(|k| SpanKind::from_otlp(i32::from(k)))
                        .collect(),
                })
                .collect()
        })
    }
}

impl Storage {
    /// Traces with a part, in the head or in a block overlapping `[start, end]`, whose earliest
    /// start and latest end `keep` accepts; sorted, each once.
    fn trace_ids_where(
        &self,
        environment: &str,
        start: u64,
        end: u64,
        keep: impl Fn(u64, u64) -> bool + Copy,
    ) -> Vec<TraceId> {
        let mut ids = self.head().trace_ids_where(environment, keep);
        for block in self.blocks().blocks(environment) {
            let (first, last) = (block.meta.min_start_unix_nano, block.meta.max_end_unix_nano);
            if !overlaps(start, end)(first, last) {
                continue;
            }
            ids.extend(
                block
                    .traces
                    .entries
                    .iter()
                    .filter(|e| {
                        !e.trace_id.is_untraced_event() && keep(e.start_unix_nano, e.end_unix_nano)
                    })
                    .map(|e| e.trace_id),
            );
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// The first position at or after `from` whose id is not below `target`, in sorted `ids`:
/// a galloping search, so walking a block's sorted entries through the ids costs about the
/// log of the gap between consecutive matches rather than of all the ids.
fn seek(ids: &[TraceId], from: usize, target: &TraceId) -> usize {
    let rest = &ids[from..];
    let mut bound = 1;
    while bound < rest.len() && rest[bound] < *target {
        bound *= 2;
    }
    let upto = (bound + 1).min(rest.len());
    from + rest[..upto].partition_point(|id| id < target)
}
