//! The in-memory head: recent spans as columnar chunks, per environment, queryable the moment
//! their WAL record is durable.
//!
//! Each accepted batch becomes one immutable [`Chunk`]. An index from trace id to rows makes a
//! whole-trace fetch independent of how much the head holds, and a small catalogue of services
//! and operations answers the service listings without a scan.

mod chunk;
mod encode;
mod repeats;
pub(crate) mod schema;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use combray_heap::Account;
use combray_model::{SpanBatch, SpanKind, StatusCode, TraceId};
use parking_lot::RwLock;

pub use chunk::Chunk;
pub use encode::to_record_batch;

use crate::StorageError;

/// Where a span lives in the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowRef {
    chunk: u32,
    row: u32,
}

/// What the index knows of a trace without reading its rows.
#[derive(Debug, Clone)]
struct TraceEntry {
    rows: Vec<RowRef>,
    start_unix_nano: u64,
    end_unix_nano: u64,
    error_count: u32,
    /// The first span without a parent, if one has arrived.
    root: Option<RowRef>,
}

/// A trace as the head's index summarizes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSummary {
    /// The trace.
    pub trace_id: TraceId,
    /// Service of the root span (or of the earliest span while no root has arrived).
    pub root_service: String,
    /// What to call the trace: that span's name, or its request where the name only repeats
    /// the service (an X-Ray segment's).
    pub root_name: String,
    /// Whether a span without a parent has arrived.
    pub has_root: bool,
    /// Earliest span start, nanoseconds since the Unix epoch.
    pub start_unix_nano: u64,
    /// Latest span end minus earliest start.
    pub duration_nano: u64,
    /// Spans in the trace.
    pub span_count: usize,
    /// Spans with status error.
    pub error_count: u32,
}

#[derive(Default)]
struct EnvironmentHead {
    chunks: Vec<Arc<Chunk>>,
    traces: HashMap<TraceId, TraceEntry>,
    /// service → operation name → span kinds seen.
    operations: BTreeMap<String, BTreeMap<String, BTreeSet<u8>>>,
}

impl EnvironmentHead {
    fn add(&mut self, chunk: Arc<Chunk>) {
        let chunk_index = u32::try_from(self.chunks.len()).unwrap_or(u32::MAX);
        for row in 0..chunk.len() {
            let reference = RowRef {
                chunk: chunk_index,
                row: row as u32,
            };
            let start = chunk.start_unix_nano(row);
            let end = start.saturating_add(chunk.duration_nano(row));
            let entry = self
                .traces
                .entry(chunk.trace_id(row))
                .or_insert_with(|| TraceEntry {
                    rows: Vec::new(),
                    start_unix_nano: start,
                    end_unix_nano: end,
                    error_count: 0,
                    root: None,
                });
            entry.rows.push(reference);
            entry.start_unix_nano = entry.start_unix_nano.min(start);
            entry.end_unix_nano = entry.end_unix_nano.max(end);
            if chunk.status_code(row) == StatusCode::Error {
                entry.error_count += 1;
            }
            if entry.root.is_none() && chunk.parent_span_id(row).is_none() {
                entry.root = Some(reference);
            }
            let service = chunk.service(row);
            let operations = match self.operations.get_mut(service) {
                Some(operations) => operations,
                None => self.operations.entry(service.to_owned()).or_default(),
            };
            let kinds = match operations.get_mut(chunk.name(row)) {
                Some(kinds) => kinds,
                None => operations.entry(chunk.name(row).to_owned()).or_default(),
            };
            kinds.insert(chunk.kind(row) as u8);
        }
        self.chunks.push(chunk);
    }

    fn row(&self, reference: RowRef) -> (&Chunk, usize) {
        (
            &self.chunks[reference.chunk as usize],
            reference.row as usize,
        )
    }

    fn summarize(&self, trace_id: TraceId, entry: &TraceEntry) -> TraceSummary {
        let representative = entry.root.unwrap_or_else(|| {
            let earliest = entry.rows.iter().min_by_key(|reference| {
                let (chunk, row) = self.row(**reference);
                chunk.start_unix_nano(row)
            });
            *earliest.unwrap_or(&entry.rows[0])
        });
        let (chunk, row) = self.row(representative);
        let label = crate::root_label::root_label(chunk.name(row), chunk.service(row), || {
            chunk.attribute_views(row).unwrap_or_default()
        });
        TraceSummary {
            trace_id,
            root_service: chunk.service(row).to_owned(),
            root_name: label.into_owned(),
            has_root: entry.root.is_some(),
            start_unix_nano: entry.start_unix_nano,
            duration_nano: entry.end_unix_nano - entry.start_unix_nano,
            span_count: entry.rows.len(),
            error_count: entry.error_count,
        }
    }
}

/// A service's operation: a span name and the kinds it was seen with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Span name.
    pub name: String,
    /// Kinds the name was seen with.
    pub kinds: Vec<SpanKind>,
}

/// Chunks per environment, as [`Head::snapshot`] takes them.
pub(crate) type HeadSnapshot = Vec<(String, Vec<Arc<Chunk>>)>;

/// Recent spans of every environment.
#[derive(Default)]
pub struct Head {
    environments: RwLock<HashMap<String, Arc<RwLock<EnvironmentHead>>>>,
    /// When the oldest chunk still in the head arrived.
    oldest_insert: parking_lot::Mutex<Option<Instant>>,
    memory_bytes: AtomicUsize,
    /// Bytes of the widened forms scans made of chunks (see `scan::widened`).
    widened_bytes: Arc<AtomicUsize>,
    /// What cuts building blocks from the head hold beside it (sort keys, gathered row groups,
    /// Parquet pages and the encoded block), as the allocator counts it on their threads.
    cut_working: Arc<Account>,
    spans: AtomicU64,
    /// Spans dropped on insert because the head already held them.
    repeats_dropped: AtomicU64,
}

impl Head {
    /// An empty head.
    pub fn new() -> Self {
        Self::default()
    }

    fn environment(&self, environment: &str) -> Option<Arc<RwLock<EnvironmentHead>>> {
        self.environments.read().get(environment).cloned()
    }

    fn environment_or_create(&self, environment: &str) -> Arc<RwLock<EnvironmentHead>> {
        if let Some(existing) = self.environment(environment) {
            return existing;
        }
        let mut environments = self.environments.write();
        Arc::clone(environments.entry(environment.to_owned()).or_default())
    }

    /// Spans dropped on insert because the head already held them (or the batch held them twice).
    pub fn repeats_dropped(&self) -> u64 {
        self.repeats_dropped.load(Ordering::Relaxed)
    }

    /// Adds a batch. The columnar encoding happens before any lock is taken.
    pub fn insert(&self, batch: &SpanBatch) -> Result<(), StorageError> {
        if batch.span_count() == 0 {
            return Ok(());
        }
        self.insert_columns(&batch.environment, to_record_batch(batch)?)
    }

    /// Adds a batch already in the span schema (from [`to_record_batch`] or the WAL).
    pub fn insert_columns(
        &self,
        environment: &str,
        columns: RecordBatch,
    ) -> Result<(), StorageError> {
        if columns.num_rows() == 0 {
            return Ok(());
        }
        let mut chunk = Chunk::new(columns)?;
        let environment = self.environment_or_create(environment);
        // Repeats are found and dropped under the lock, so two copies arriving at once are
        // still one span.
        let mut head = environment.write();
        if let Some(keep) = repeats::new_rows_mask(&head, &chunk) {
            let kept = repeats::keep_rows(chunk.record_batch(), &keep)?;
            let dropped = chunk.len() - kept.num_rows();
            self.repeats_dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
            if kept.num_rows() == 0 {
                return Ok(());
            }
            chunk = Chunk::new(kept)?;
        }
        chunk.count_widened_in(Arc::clone(&self.widened_bytes));
        let chunk = Arc::new(chunk);
        let bytes = chunk.memory_bytes();
        let rows = chunk.len() as u64;
        head.add(chunk);
        drop(head);
        self.memory_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.spans.fetch_add(rows, Ordering::Relaxed);
        self.oldest_insert.lock().get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Every environment's chunks, to cut into blocks. Taken while no insert can run, the
    /// snapshot is a prefix of each environment's chunks, which [`Head::remove`] relies on.
    pub fn snapshot(&self) -> HeadSnapshot {
        let environments = self.environments.read();
        environments
            .iter()
            .map(|(name, head)| (name.clone(), head.read().chunks.clone()))
            .filter(|(_, chunks)| !chunks.is_empty())
            .collect()
    }

    /// Drops a snapshot's chunks once they are published in blocks, and rebuilds the index from
    /// what remains.
    pub fn remove(&self, snapshot: &HeadSnapshot) {
        let mut freed_bytes = 0;
        let mut freed_spans = 0;
        for (environment, chunks) in snapshot {
            let Some(head) = self.environment(environment) else {
                continue;
            };
            let mut head = head.write();
            debug_assert!(head
                .chunks
                .iter()
                .zip(chunks)
                .all(|(a, b)| Arc::ptr_eq(a, b)));
            let published = chunks.len().min(head.chunks.len());
            let remaining = head.chunks.split_off(published);
            *head = EnvironmentHead::default();
            for chunk in remaining {
                head.add(chunk);
            }
            freed_bytes += chunks.iter().map(|c| c.memory_bytes()).sum::<usize>();
            freed_spans += chunks.iter().map(|c| c.len() as u64).sum::<u64>();
        }
        self.memory_bytes.fetch_sub(freed_bytes, Ordering::Relaxed);
        self.spans.fetch_sub(freed_spans, Ordering::Relaxed);
        *self.oldest_insert.lock() = (self.span_count() > 0).then(Instant::now);
    }

    /// How long the oldest chunk has been in the head.
    pub fn age(&self) -> Option<Duration> {
        self.oldest_insert.lock().map(|since| since.elapsed())
    }

    /// Bytes of memory held by chunks, by the widened forms scans made of them, and by cuts
    /// building blocks from them: everything the head budget bounds.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes.load(Ordering::Relaxed)
            + self.widened_bytes.load(Ordering::Relaxed)
            + self.cut_working.bytes()
    }

    /// What running cuts hold beside the head (0 unless the binary's allocator counts it).
    pub fn cut_working_bytes(&self) -> usize {
        self.cut_working.bytes()
    }

    /// The account cut threads count their allocations in.
    pub(crate) fn working_account(&self) -> &Arc<Account> {
        &self.cut_working
    }

    /// Spans held, over every environment.
    pub fn span_count(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    /// A snapshot of an environment's chunks, to scan without holding any lock.
    pub fn chunks(&self, environment: &str) -> Vec<Arc<Chunk>> {
        self.environment(environment)
            .map(|head| head.read().chunks.clone())
            .unwrap_or_default()
    }

    /// Every row of a trace, as (chunk, row) pairs in arrival order.
    pub fn trace_rows(&self, environment: &str, trace_id: &TraceId) -> Vec<(Arc<Chunk>, usize)> {
        let Some(head) = self.environment(environment) else {
            return Vec::new();
        };
        let head = head.read();
        let Some(entry) = head.traces.get(trace_id) else {
            return Vec::new();
        };
        entry
            .rows
            .iter()
            .map(|reference| {
                (
                    Arc::clone(&head.chunks[reference.chunk as usize]),
                    reference.row as usize,
                )
            })
            .collect()
    }

    /// Summaries of the given traces; ids the head does not hold are skipped.
    pub fn trace_summaries(
        &self,
        environment: &str,
        trace_ids: impl IntoIterator<Item = TraceId>,
    ) -> Vec<TraceSummary> {
        let Some(head) = self.environment(environment) else {
            return Vec::new();
        };
        let head = head.read();
        trace_ids
            .into_iter()
            .filter_map(|trace_id| {
                head.traces
                    .get(&trace_id)
                    .map(|entry| head.summarize(trace_id, entry))
            })
            .collect()
    }

    /// Ids of every trace in an environment whose start lies in `[start, end]`.
    pub fn trace_ids_starting_between(
        &self,
        environment: &str,
        start: u64,
        end: u64,
    ) -> Vec<TraceId> {
        self.trace_ids_where(environment, starts_within(start, end))
    }

    /// Traces whose spans here (from the earliest start to the latest end) overlap
    /// `[start, end]`.
    pub fn trace_ids_active_between(
        &self,
        environment: &str,
        start: u64,
        end: u64,
    ) -> Vec<TraceId> {
        self.trace_ids_where(environment, overlaps(start, end))
    }

    /// Traces whose spans here, from the earliest start to the latest end, `keep` accepts.
    /// Events sent without a trace are spans but not traces, so they are left out.
    pub(crate) fn trace_ids_where(
        &self,
        environment: &str,
        keep: impl Fn(u64, u64) -> bool,
    ) -> Vec<TraceId> {
        let Some(head) = self.environment(environment) else {
            return Vec::new();
        };
        let head = head.read();
        head.traces
            .iter()
            .filter(|(trace_id, entry)| {
                !trace_id.is_untraced_event() && keep(entry.start_unix_nano, entry.end_unix_nano)
            })
            .map(|(trace_id, _)| *trace_id)
            .collect()
    }

    /// Services with spans in an environment, sorted.
    pub fn services(&self, environment: &str) -> Vec<String> {
        self.environment(environment)
            .map(|head| head.read().operations.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Operations of a service, sorted by name; `None` when the service is unknown.
    pub fn operations(&self, environment: &str, service: &str) -> Option<Vec<Operation>> {
        let head = self.environment(environment)?;
        let head = head.read();
        let operations = head.operations.get(service)?;
        Some(
            operations
                .iter()
                .map(|(name, kinds)| Operation {
                    name: name.clone(),
                    kinds: kinds
                        .iter()
                        .map(|kind| SpanKind::from_otlp(i32::from(*kind)))
                        .collect(),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests;

/// Whether a trace's part, from its earliest start to its latest end, starts in `[start, end]`.
pub(crate) fn starts_within(start: u64, end: u64) -> impl Fn(u64, u64) -> bool + Copy {
    move |first, _| (start..=end).contains(&first)
}

/// Whether a trace's part, from its earliest start to its latest end, overlaps `[start, end]`.
pub(crate) fn overlaps(start: u64, end: u64) -> impl Fn(u64, u64) -> bool + Copy {
    move |first, last| first <= end && last >= start
}
