//! State shared by every listener, and the last step of ingest common to HTTP and gRPC.

use std::sync::{Arc, OnceLock};

use combray_ingest::otlp::Normalized;
use combray_model::Protocol;
use combray_query::sql::SqlEngine;
use combray_storage::{PendingAppend, Storage, StorageError};

use object_store::ObjectStore;

use crate::admission::Admission;
use crate::config::Config;
use crate::http::error::ApiError;
use crate::keys::KeyRing;
use crate::metrics::{Metrics, Rejection};
use crate::xray::ingest::XRayService;

/// Everything a request handler needs.
pub(crate) struct AppState {
    storage: OnceLock<Arc<Storage>>,
    /// Set once shutdown began: the final drain has run or is running, so nothing new is taken.
    closing: std::sync::atomic::AtomicBool,
    /// API keys.
    pub keys: KeyRing,
    /// Ingest memory budget.
    pub admission: Admission,
    /// Ingest counters.
    pub metrics: Metrics,
    /// Body cap in bytes.
    pub max_body_bytes: usize,
    /// Retry-After seconds on 503.
    pub retry_after_seconds: u64,
    /// The SQL engine, shared by every query.
    pub sql: SqlEngine,
    /// The X-Ray API and receivers.
    pub xray: XRayService,
    /// The limits every read runs under.
    pub reads: crate::reads::ReadGate,
    /// Honeycomb's saved queries and their results.
    pub honeycomb: crate::honeycomb::QueryStore,
    /// Honeycomb's datasets, saved calculated fields and markers.
    pub honeycomb_settings: combray_honeycomb::settings::Settings,
}

pub(crate) use combray_model::now_unix_nano;

impl AppState {
    /// State for a configuration; storage is attached once WAL replay finishes.
    pub(crate) fn new(
        config: &Config,
        keys: KeyRing,
        store: Arc<dyn ObjectStore>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            storage: OnceLock::new(),
            closing: std::sync::atomic::AtomicBool::new(false),
            keys,
            admission: Admission::new(config.ingest.max_inflight_bytes),
            metrics: Metrics::default(),
            max_body_bytes: config.ingest.max_body_bytes,
            retry_after_seconds: config.server.retry_after_seconds,
            sql: SqlEngine::new(config.query.sql)?,
            honeycomb_settings: combray_honeycomb::settings::Settings::new(Arc::clone(&store)),
            xray: XRayService::new(config, store)?,
            reads: crate::reads::ReadGate::new(config.query.reads)?,
            honeycomb: crate::honeycomb::QueryStore::default(),
        })
    }

    /// Marks start-up done.
    pub(crate) fn attach_storage(&self, storage: Arc<Storage>) {
        if self.storage.set(storage).is_err() {
            tracing::error!("storage was attached twice; keeping the first");
        }
    }

    /// Storage, or [`ApiError::NotReady`] while the WAL is being replayed.
    pub(crate) fn storage(&self) -> Result<&Arc<Storage>, ApiError> {
        self.storage.get().ok_or(ApiError::NotReady)
    }

    /// Shutdown began: ingest still reachable (PutTraceSegments on the API port) is refused.
    pub(crate) fn begin_shutdown(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether shutdown began.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether WAL replay has finished.
    pub(crate) fn is_ready(&self) -> bool {
        self.storage.get().is_some()
    }

    /// Makes a normalized request durable and counts it. Returns once it may be acknowledged.
    pub(crate) async fn commit(&self, normalized: &Normalized) -> Result<(), ApiError> {
        self.begin_commit(normalized).await?.finish(self).await
    }

    /// Queues a normalized request's WAL record without waiting for it to be durable; see
    /// [`PendingAppend`] for how the returned commit must be driven.
    pub(crate) async fn begin_commit(
        &self,
        normalized: &Normalized,
    ) -> Result<PendingCommit, ApiError> {
        let storage = self.storage()?;
        let spans = normalized.batch.span_count() as u64;
        if normalized.rejected_spans > 0 {
            self.metrics
                .spans_rejected(Rejection::InvalidSpan, normalized.rejected_spans);
            tracing::debug!(rejected = normalized.rejected_spans, reason = %normalized.rejection_reason, "partial success");
        }
        match storage.begin_append(&normalized.batch).await {
            Ok(append) => Ok(PendingCommit {
                append,
                protocol: normalized.batch.protocol,
                spans,
            }),
            Err(error) => Err(self.refused(error, spans)),
        }
    }

    /// Counts spans the write path refused, as the error that says why.
    fn refused(&self, error: StorageError, spans: u64) -> ApiError {
        let error = ApiError::from(error);
        self.metrics.spans_rejected(error.rejection(), spans);
        error
    }
}

/// A request whose spans are on their way to durability; they are counted once they arrive.
#[must_use = "the spans are only stored and counted once `finish` has run"]
pub(crate) struct PendingCommit {
    append: PendingAppend,
    protocol: Protocol,
    spans: u64,
}

impl PendingCommit {
    /// Waits until the spans are durable and queryable, then counts them.
    pub(crate) async fn finish(self, state: &AppState) -> Result<(), ApiError> {
        match self.append.finish().await {
            Ok(()) => {
                state.metrics.spans_accepted(self.protocol, self.spans);
                Ok(())
            }
            Err(error) => Err(state.refused(error, self.spans)),
        }
    }
}
