//! X-Ray ingest shared by the UDP port and PutTraceSegments: documents go through one
//! assembler (so a subsegment sent over UDP finds a parent that came by HTTP), and ready spans
//! go through the same write path as OTLP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use combray_ingest::otlp::Normalized;
use combray_ingest::xray::{group_spans, Assembler, Document, ResolvedSpan};
use combray_model::{Protocol, SpanBatch};
use combray_xray::control::{ArnScope, ControlPlane};
use combray_xray::sampling::Sampling;
use object_store::ObjectStore;
use parking_lot::Mutex;

use crate::config::Config;
use crate::http::error::ApiError;
use crate::state::{now_unix_nano, AppState};

/// Most documents the assembler of one environment holds at once (past it, documents are
/// stored at once, orphans with an unknown service).
const MAX_WAITING_DOCUMENTS: usize = 100_000;

/// Counters of the X-Ray receivers, for `/metrics`.
#[derive(Default)]
pub struct XRayCounters {
    /// Datagrams read from the UDP socket.
    pub datagrams_received: AtomicU64,
    /// Datagrams without a valid header or document.
    pub datagrams_rejected: AtomicU64,
    /// Datagrams dropped because the queue was full or the write path refused them.
    pub datagrams_dropped: AtomicU64,
    /// Documents accepted (UDP and PutTraceSegments).
    pub documents_accepted: AtomicU64,
    /// Documents rejected by PutTraceSegments (`UnprocessedTraceSegments`).
    pub documents_rejected: AtomicU64,
    /// Telemetry records received from daemons.
    pub telemetry_records: AtomicU64,
}

impl XRayCounters {
    /// Adds to a counter.
    pub fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

impl XRayService {
    /// Appends the X-Ray receivers' metrics in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        use crate::metrics::{counter, gauge};
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "combray_xray_datagrams_received_total",
                "UDP datagrams read.",
                load(&c.datagrams_received),
            ),
            (
                "combray_xray_datagrams_rejected_total",
                "UDP datagrams without a valid header or document.",
                load(&c.datagrams_rejected),
            ),
            (
                "combray_xray_datagrams_dropped_total",
                "UDP datagrams dropped: queue full or the write path refused them.",
                load(&c.datagrams_dropped),
            ),
            (
                "combray_xray_documents_accepted_total",
                "Segment documents accepted (UDP and PutTraceSegments).",
                load(&c.documents_accepted),
            ),
            (
                "combray_xray_documents_rejected_total",
                "Documents PutTraceSegments returned as unprocessed.",
                load(&c.documents_rejected),
            ),
            (
                "combray_xray_telemetry_records_total",
                "Telemetry records received from daemons.",
                load(&c.telemetry_records),
            ),
        ] {
            counter(out, name, help, value);
        }
        gauge(
            out,
            "combray_xray_waiting_documents",
            "Documents waiting for their parent segment or complete version.",
            self.waiting_documents() as u64,
        );
    }
}

/// Everything the X-Ray API and receivers share.
pub struct XRayService {
    /// The environment the daemon port writes to.
    pub environment: String,
    /// Groups, rules, tags, encryption.
    pub control: ControlPlane,
    /// Quotas and sampling statistics.
    pub sampling: Sampling,
    /// Out-of-order documents, by environment.
    assemblers: Mutex<HashMap<String, Assembler>>,
    orphan_wait: Duration,
    max_waiting: usize,
    /// Counters.
    pub counters: XRayCounters,
}

impl XRayService {
    /// The service for a configuration, keeping its settings in `store`.
    pub fn new(config: &Config, store: Arc<dyn ObjectStore>) -> Self {
        Self {
            environment: config.xray_environment.clone(),
            control: ControlPlane::new(
                store,
                ArnScope {
                    region: config.xray_region.clone(),
                    account: config.xray_account_id.clone(),
                },
            ),
            sampling: Sampling::default(),
            assemblers: Mutex::new(HashMap::new()),
            orphan_wait: Duration::from_secs(config.xray_orphan_wait_seconds),
            max_waiting: MAX_WAITING_DOCUMENTS,
            counters: XRayCounters::default(),
        }
    }
}

impl XRayService {
    /// Puts documents through an environment's assembler; returns the spans ready to store.
    fn assemble(&self, environment: &str, documents: Vec<Document>) -> Vec<ResolvedSpan> {
        let now = Instant::now();
        let mut assemblers = self.assemblers.lock();
        let assembler = assemblers
            .entry(environment.to_owned())
            .or_insert_with(|| Assembler::new(self.orphan_wait, self.max_waiting));
        documents
            .into_iter()
            .flat_map(|d| assembler.push(d, now))
            .collect()
    }

    /// Documents that waited long enough (or all, at shutdown), by environment.
    fn release(&self, everything: bool) -> Vec<(String, Vec<ResolvedSpan>)> {
        let now = Instant::now();
        let mut assemblers = self.assemblers.lock();
        assemblers
            .iter_mut()
            .map(|(environment, assembler)| {
                let spans = if everything {
                    assembler.drain()
                } else {
                    assembler.expire(now)
                };
                (environment.clone(), spans)
            })
            .filter(|(_, spans)| !spans.is_empty())
            .collect()
    }

    /// Documents waiting in every assembler.
    pub fn waiting_documents(&self) -> usize {
        self.assemblers
            .lock()
            .values()
            .map(|a| a.counts().waiting)
            .sum()
    }
}

/// Spans as one write-path batch.
fn normalized(environment: &str, spans: Vec<ResolvedSpan>) -> Normalized {
    Normalized {
        batch: SpanBatch {
            environment: environment.to_owned(),
            protocol: Protocol::XRay,
            received_unix_nano: now_unix_nano(),
            groups: group_spans(spans),
        },
        rejected_spans: 0,
        rejection_reason: String::new(),
    }
}

/// Makes spans durable in an environment.
pub async fn commit(
    state: &AppState,
    environment: &str,
    spans: Vec<ResolvedSpan>,
) -> Result<(), ApiError> {
    if spans.is_empty() {
        return Ok(());
    }
    state.commit(&normalized(environment, spans)).await
}

/// Takes valid documents and stores what is ready. Documents that wait in the assembler are
/// stored by [`flush_expired`] or at shutdown.
pub async fn ingest(
    state: &AppState,
    environment: &str,
    documents: Vec<Document>,
) -> Result<(), ApiError> {
    let count = documents.len() as u64;
    let ready = state.xray.assemble(environment, documents);
    commit(state, environment, ready).await?;
    XRayCounters::bump(&state.xray.counters.documents_accepted, count);
    Ok(())
}

/// Stores documents that have waited long enough (or all of them, at shutdown).
pub async fn flush_expired(state: &AppState, everything: bool) {
    for (environment, spans) in state.xray.release(everything) {
        let count = spans.len();
        if let Err(error) = commit(state, &environment, spans).await {
            tracing::error!(%error, spans = count, %environment, "cannot store X-Ray documents released by the assembler");
        }
    }
}
