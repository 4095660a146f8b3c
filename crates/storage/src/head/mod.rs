//! The in-memory head: recent spans as columnar chunks, per environment, queryable the moment
//! their WAL record is durable.
//!
//! Each accepted batch becomes one immutable [`Chunk`]. An index from trace id to rows makes a
//! whole-trace fetch independent of how much the head holds, and a small catalogue of services
//! and operations answers the service listings without a scan.

mod chunk;
mod encode;
pub mod schema;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use combray_model::{SpanBatch, SpanKind, TraceId};
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

#[derive(Default)]
struct EnvironmentHead {
    chunks: Vec<Arc<Chunk>>,
    traces: HashMap<TraceId, Vec<RowRef>>,
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
            self.traces
                .entry(chunk.trace_id(row))
                .or_default()
                .push(reference);
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
}

/// A service's operation: a span name and the kinds it was seen with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Span name.
    pub name: String,
    /// Kinds the name was seen with.
    pub kinds: Vec<SpanKind>,
}

/// Recent spans of every environment.
#[derive(Default)]
pub struct Head {
    environments: RwLock<HashMap<String, Arc<RwLock<EnvironmentHead>>>>,
    memory_bytes: AtomicUsize,
    spans: AtomicU64,
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

    /// Adds a batch. The columnar encoding happens before any lock is taken.
    pub fn insert(&self, batch: &SpanBatch) -> Result<(), StorageError> {
        if batch.span_count() == 0 {
            return Ok(());
        }
        let chunk = Arc::new(Chunk::new(to_record_batch(batch)?)?);
        let bytes = chunk.memory_bytes();
        let rows = chunk.len() as u64;
        self.environment_or_create(&batch.environment)
            .write()
            .add(chunk);
        self.memory_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.spans.fetch_add(rows, Ordering::Relaxed);
        Ok(())
    }

    /// Bytes of memory held by chunks.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes.load(Ordering::Relaxed)
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
        let Some(rows) = head.traces.get(trace_id) else {
            return Vec::new();
        };
        rows.iter()
            .map(|reference| {
                (
                    Arc::clone(&head.chunks[reference.chunk as usize]),
                    reference.row as usize,
                )
            })
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
