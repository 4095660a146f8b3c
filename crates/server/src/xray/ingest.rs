//! X-Ray ingest shared by the UDP port and PutTraceSegments: documents go through one
//! assembler (so a subsegment sent over UDP finds a parent that came by HTTP), and ready spans
//! go through the same write path as OTLP.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use combray_ingest::otlp::Normalized;
use combray_ingest::xray::{group_spans, parse_document, Assembler, Document, ResolvedSpan};
use combray_model::{Protocol, SpanBatch, SpanId, TraceId};
use combray_xray::control::ControlPlane;
use combray_xray::sampling::Sampling;
use object_store::ObjectStore;
use parking_lot::Mutex;

use super::held::{HeldDocument, HeldJournal};
use crate::config::Config;
use crate::http::error::ApiError;
use crate::state::{now_unix_nano, AppState, PendingCommit};

/// Most documents the assembler of one environment holds at once (past it, documents are
/// stored at once, orphans with an unknown service).
const MAX_WAITING_DOCUMENTS: usize = 100_000;

/// Counters of the X-Ray receivers, for `/metrics`.
#[derive(Default)]
pub(crate) struct XRayCounters {
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
    /// Released spans given up after their append kept failing (see `release.rs`).
    pub spans_lost: AtomicU64,
}

impl XRayCounters {
    /// Adds to a counter.
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

impl XRayService {
    /// Appends the X-Ray receivers' metrics in the Prometheus text format.
    pub(crate) fn render_metrics(&self, out: &mut String) {
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
            (
                "combray_xray_spans_lost_total",
                "Spans released by the assembler and given up after their append kept failing.",
                load(&c.spans_lost),
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
        gauge(
            out,
            "combray_xray_waiting_bytes",
            "Memory of the documents waiting in the assemblers (estimated).",
            self.waiting_bytes() as u64,
        );
        gauge(
            out,
            "combray_xray_journaled_documents",
            "Waiting PutTraceSegments documents kept in the held journal.",
            self.journal.len() as u64,
        );
    }
}

/// Everything the X-Ray API and receivers share.
pub(crate) struct XRayService {
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
    /// Memory the waiting documents of all environments may take (part of the memory ceiling
    /// in docs/reliability.md); past it, the longest-waiting are stored as they are.
    max_waiting_bytes: usize,
    /// PutTraceSegments documents waiting in the assemblers, durably.
    journal: HeldJournal,
    /// Documents the journal held at start, until [`restore_held`] puts them back.
    restored: Mutex<Vec<(String, String)>>,
    /// Released spans whose append failed, kept to be tried again (see `release.rs`).
    pub(super) unsettled: Mutex<std::collections::VecDeque<super::release::Unsettled>>,
    /// Counters.
    pub counters: XRayCounters,
}

/// Ids that left an assembler's waiting room.
pub(super) type Departed = Vec<(TraceId, SpanId)>;

/// What an assembler made of a batch: spans to store, documents to journal as waiting, and
/// documents that stopped waiting.
#[derive(Default)]
pub(super) struct Assembled {
    pub(super) ready: Vec<ResolvedSpan>,
    held: Vec<HeldDocument>,
    pub(super) departed: Departed,
}

impl XRayService {
    /// The service for a configuration, keeping its settings in `store` and its waiting
    /// PutTraceSegments documents in a journal under the data directory.
    pub(crate) fn new(config: &Config, store: Arc<dyn ObjectStore>) -> anyhow::Result<Self> {
        let key_of = |text: &str| parse_document(text).ok().map(|d| (d.trace_id, d.id));
        let (journal, restored) = HeldJournal::open(
            &config.server.data_dir.join("xray-held"),
            config.storage.wal_fsync,
            &key_of,
        )?;
        if !restored.is_empty() {
            tracing::info!(
                documents = restored.len(),
                "X-Ray documents that were waiting at the last stop"
            );
        }
        Ok(Self {
            environment: config.xray.environment.clone(),
            control: ControlPlane::new(store, config.xray.arns.clone()),
            sampling: Sampling::default(),
            assemblers: Mutex::new(HashMap::new()),
            orphan_wait: config.xray.orphan_wait,
            max_waiting: MAX_WAITING_DOCUMENTS,
            max_waiting_bytes: config.xray.max_waiting_bytes,
            journal,
            restored: Mutex::new(restored),
            unsettled: Mutex::new(std::collections::VecDeque::new()),
            counters: XRayCounters::default(),
        })
    }
}

impl XRayService {
    /// Puts documents (with their text when the sender was promised durability) through an
    /// environment's assembler.
    fn assemble(
        &self,
        environment: &str,
        documents: impl IntoIterator<Item = (Document, Option<String>)>,
    ) -> Assembled {
        let now = Instant::now();
        let mut assemblers = self.assemblers.lock();
        let others: usize = assemblers
            .iter()
            .filter(|(name, _)| *name != environment)
            .map(|(_, a)| a.waiting_bytes())
            .sum();
        let assembler = assemblers
            .entry(environment.to_owned())
            .or_insert_with(|| Assembler::new(self.orphan_wait, self.max_waiting));
        let mut assembled = Assembled::default();
        for (document, text) in documents {
            let (trace_id, id) = (document.trace_id, document.id);
            let pushed = assembler.push(document, now);
            assembled.ready.extend(pushed.ready);
            if let (true, Some(text)) = (pushed.held, text) {
                assembled.held.push(HeldDocument { trace_id, id, text });
            }
        }
        // Over the budget, this environment's longest-waiting documents make room (shedding a
        // tenth more, so that the next batches do not each pay for a pass over them all).
        let room = self.max_waiting_bytes.saturating_sub(others);
        if assembler.waiting_bytes() > room {
            assembled
                .ready
                .extend(assembler.release_oldest_until(room - room / 10));
        }
        assembled.departed = assembler.take_departed();
        assembled
    }

    /// Documents that waited long enough (or all, at shutdown), by environment.
    pub(super) fn release(&self, everything: bool) -> Vec<(String, Assembled)> {
        let now = Instant::now();
        let mut assemblers = self.assemblers.lock();
        assemblers
            .iter_mut()
            .map(|(environment, assembler)| {
                let ready = if everything {
                    assembler.drain()
                } else {
                    assembler.expire(now)
                };
                let released = Assembled {
                    ready,
                    held: Vec::new(),
                    departed: assembler.take_departed(),
                };
                (environment.clone(), released)
            })
            .filter(|(_, released)| !released.ready.is_empty() || !released.departed.is_empty())
            .collect()
    }

    /// Memory of the documents waiting in every assembler.
    pub(crate) fn waiting_bytes(&self) -> usize {
        self.assemblers
            .lock()
            .values()
            .map(Assembler::waiting_bytes)
            .sum()
    }

    /// Documents waiting in every assembler.
    pub(crate) fn waiting_documents(&self) -> usize {
        self.assemblers
            .lock()
            .values()
            .map(|a| a.counts().waiting)
            .sum()
    }
}

/// Spans as one write-path batch.
pub(super) fn normalized(environment: &str, spans: Vec<ResolvedSpan>) -> Normalized {
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

/// What an assembler released, on its way to durability, with the journal entries that must
/// wait for it: a departure is written only after the spans it released are durable, so a
/// crash in between stores them twice rather than never.
#[must_use = "nothing is stored or journaled until `finish` has run"]
pub(crate) struct Settling {
    pub(super) environment: String,
    pub(super) spans: Option<PendingCommit>,
    pub(super) held: Vec<HeldDocument>,
    pub(super) departed: Departed,
    pub(super) accepted_documents: u64,
    /// Released spans, kept until they are durable so a failed append can be tried again.
    pub(super) retry: Option<Normalized>,
}

impl Settling {
    /// Waits for the released spans to be durable, journals what now waits and what left, and
    /// counts the documents of the batch as accepted.
    pub(crate) async fn finish(self, state: &AppState) -> Result<(), ApiError> {
        if let Some(spans) = self.spans {
            if let Err(error) = spans.finish(state).await {
                if let Some(batch) = self.retry {
                    super::release::keep(state, &self.environment, batch, self.departed);
                }
                return Err(error);
            }
        }
        state
            .xray
            .journal
            .record(&self.environment, self.held, &self.departed)
            .await
            .map_err(ApiError::from)?;
        XRayCounters::bump(
            &state.xray.counters.documents_accepted,
            self.accepted_documents,
        );
        Ok(())
    }

    /// Documents of the batch this settles (none for what the assembler released on its own).
    pub(crate) fn documents(&self) -> u64 {
        self.accepted_documents
    }
}

/// Queues the WAL record of what is ready; see [`Settling`].
async fn begin_settle(
    state: &AppState,
    environment: &str,
    assembled: Assembled,
    accepted_documents: u64,
) -> Result<Settling, ApiError> {
    let spans = if assembled.ready.is_empty() {
        None
    } else {
        let batch = normalized(environment, assembled.ready);
        Some(state.begin_commit(&batch).await?)
    };
    Ok(Settling {
        environment: environment.to_owned(),
        spans,
        held: assembled.held,
        departed: assembled.departed,
        accepted_documents,
        retry: None,
    })
}

/// Takes valid documents from the UDP port and queues the WAL record of what is ready, without
/// waiting for it: nothing is acknowledged to a UDP sender, so the receiver may go on with its
/// next batch. Documents that wait in the assembler are stored by `release::flush_expired` or at
/// shutdown; nothing was acknowledged to their sender, so they are not journaled.
pub(crate) async fn begin_ingest(
    state: &AppState,
    environment: &str,
    documents: Vec<Document>,
) -> Result<Settling, ApiError> {
    let count = documents.len() as u64;
    let assembled = state
        .xray
        .assemble(environment, documents.into_iter().map(|d| (d, None)));
    begin_settle(state, environment, assembled, count).await
}

/// Takes valid documents with their text (PutTraceSegments); returns once every one is
/// durable, in the storage WAL or, while it waits in the assembler, in the held journal.
pub(crate) async fn ingest_acknowledged(
    state: &AppState,
    environment: &str,
    documents: Vec<(Document, String)>,
) -> Result<(), ApiError> {
    let count = documents.len() as u64;
    let documents = documents.into_iter().map(|(d, text)| (d, Some(text)));
    let assembled = state.xray.assemble(environment, documents);
    begin_settle(state, environment, assembled, count)
        .await?
        .finish(state)
        .await
}

/// Rewrites the held journal as what is held now, once it has grown enough.
pub(crate) async fn compact_journal(state: &AppState) {
    if let Err(error) = state.xray.journal.compact_if_due().await {
        tracing::error!(%error, "cannot compact the X-Ray held-documents journal");
    }
}

/// Puts the documents the journal held at the last stop back into their assemblers, so a
/// parent that arrives now still adopts its subsegments. Call once storage is attached.
pub(crate) async fn restore_held(state: &AppState) {
    let restored = std::mem::take(&mut *state.xray.restored.lock());
    let mut by_environment: HashMap<String, Vec<(Document, String)>> = HashMap::new();
    for (environment, text) in restored {
        if let Ok(document) = parse_document(&text) {
            by_environment
                .entry(environment)
                .or_default()
                .push((document, text));
        }
    }
    for (environment, documents) in by_environment {
        let count = documents.len();
        if let Err(error) = ingest_acknowledged(state, &environment, documents).await {
            tracing::error!(%error, documents = count, %environment, "cannot restore waiting X-Ray documents; they stay in the journal");
        }
    }
}
