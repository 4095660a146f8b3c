//! The read API the query layer sees: one trait over the head alone (for tests) and over the
//! whole storage (head plus blocks), so no query needs to know where a span lives.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use std::sync::Arc;

use combray_model::{SpanKind, SpanRecord, TraceId};

use crate::block::{Block, BlockSource, TraceEntry, TraceIndex};
use crate::head::{overlaps, starts_within, Chunk, Head, Operation, TraceSummary};
use crate::{Storage, StorageError};

/// What queries read. The reads of whole spans and of trace indexes may touch the object store
/// and are async (a block's trace index is in memory only while recently used); services,
/// operations and snapshots answer from block metas in memory.
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
    async fn trace_summaries(
        &self,
        environment: &str,
        trace_ids: Vec<TraceId>,
    ) -> Result<Vec<TraceSummary>, StorageError>;
    /// Traces with a part that starts within `[start, end]`. Here and in
    /// [`SpanStore::trace_ids_active_between`], events sent without a trace are not traces.
    async fn trace_ids_starting_between(
        &self,
        environment: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<TraceId>, StorageError>;
    /// Traces with a part (a block's or the head's spans of it, from earliest start to latest
    /// end) that overlaps `[start, end]`: the traces active in the window.
    async fn trace_ids_active_between(
        &self,
        environment: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<TraceId>, StorageError>;
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
    /// Where the blocks' objects and trace indexes come from; `None` without blocks (a head
    /// alone).
    pub(crate) source: Option<BlockSource>,
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

    async fn trace_summaries(
        &self,
        environment: &str,
        trace_ids: Vec<TraceId>,
    ) -> Result<Vec<TraceSummary>, StorageError> {
        Ok(Head::trace_summaries(self, environment, trace_ids))
    }

    async fn trace_ids_starting_between(
        &self,
        environment: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<TraceId>, StorageError> {
        Ok(Head::trace_ids_starting_between(
            self,
            environment,
            start,
            end,
        ))
    }

    async fn trace_ids_active_between(
        &self,
        environment: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<TraceId>, StorageError> {
        Ok(Head::trace_ids_active_between(
            self,
            environment,
            start,
            end,
        ))
    }

    fn services(&self, environment: &str) -> Vec<String> {
        Head::services(self, environment)
    }

    fn snapshot(&self, environment: &str) -> Snapshot {
        Snapshot {
            blocks: Vec::new(),
            head: self.chunks(environment),
            source: None,
        }
    }

    fn operations(&self, environment: &str, service: &str) -> Option<Vec<Operation>> {
        Head::operations(self, environment, service)
    }
}

fn block_summary(index: &TraceIndex, entry: &TraceEntry) -> TraceSummary {
    TraceSummary {
        trace_id: entry.trace_id,
        root_service: index.name(entry.root_service).to_owned(),
        root_name: index.name(entry.root_name).to_owned(),
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
            let index = self.blocks().trace_index(&block).await?;
            let Some(entry) = index.find(trace_id) else {
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
            let index = self.blocks().trace_index(&block).await?;
            let mut ranges: Vec<(usize, usize)> = trace_ids
                .iter()
                .filter_map(|id| index.find(id))
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

    async fn trace_summaries(
        &self,
        environment: &str,
        mut trace_ids: Vec<TraceId>,
    ) -> Result<Vec<TraceSummary>, StorageError> {
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
            let index = self.blocks().trace_index(&block).await?;
            let entries = &index.entries;
            let searches = trace_ids
                .len()
                .saturating_mul(entries.len().max(2).ilog2() as usize);
            if searches < entries.len() {
                // Few ids: a binary search of the block's index for each.
                for (slot, id) in slots.iter_mut().zip(&trace_ids) {
                    if let Some(entry) = index.find(id) {
                        fold(slot, block_summary(&index, entry));
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
                    fold(&mut slots[at], block_summary(&index, entry));
                }
            }
        }
        for part in self.head().trace_summaries(environment, trace_ids.clone()) {
            if let Ok(at) = trace_ids.binary_search(&part.trace_id) {
                fold(&mut slots[at], part);
            }
        }
        Ok(slots.into_iter().flatten().collect())
    }

    async fn trace_ids_starting_between(
        &self,
        environment: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<TraceId>, StorageError> {
        self.trace_ids_where(environment, start, end, starts_within(start, end))
            .await
    }

    async fn trace_ids_active_between(
        &self,
        environment: &str,
        start: u64,
        end: u64,
    ) -> Result<Vec<TraceId>, StorageError> {
        self.trace_ids_where(environment, start, end, overlaps(start, end))
            .await
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
            source: Some(self.blocks().source()),
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
    async fn trace_ids_where(
        &self,
        environment: &str,
        start: u64,
        end: u64,
        keep: impl Fn(u64, u64) -> bool + Copy + Send,
    ) -> Result<Vec<TraceId>, StorageError> {
        let mut ids = self.head().trace_ids_where(environment, keep);
        for block in self.blocks().blocks(environment) {
            let (first, last) = (block.meta.min_start_unix_nano, block.meta.max_end_unix_nano);
            if !overlaps(start, end)(first, last) {
                continue;
            }
            let index = self.blocks().trace_index(&block).await?;
            ids.extend(
                index
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
        Ok(ids)
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
