//! Counters for `GET /metrics`, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use combray_model::Protocol;
use combray_storage::{HistogramSnapshot, Storage, LATENCY_BUCKETS_SECONDS};

/// Why a request or its spans were turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Individually invalid spans (bad ids), reported as partial success.
    InvalidSpan,
    /// The body could not be decoded or decompressed.
    Malformed,
    /// The content type or encoding is not supported.
    UnsupportedMedia,
    /// The body passed the size cap.
    TooLarge,
    /// Missing, unknown or insufficient key.
    Unauthorized,
    /// The server could not take more (memory budget, full head).
    Overloaded,
    /// The WAL failed.
    StorageError,
    /// Combray failed on the request (a panic).
    Internal,
}

impl Rejection {
    const ALL: [Self; 8] = [
        Self::InvalidSpan,
        Self::Malformed,
        Self::UnsupportedMedia,
        Self::TooLarge,
        Self::Unauthorized,
        Self::Overloaded,
        Self::StorageError,
        Self::Internal,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::InvalidSpan => "invalid_span",
            Self::Malformed => "malformed",
            Self::UnsupportedMedia => "unsupported_media",
            Self::TooLarge => "too_large",
            Self::Unauthorized => "unauthorized",
            Self::Overloaded => "overloaded",
            Self::StorageError => "storage_error",
            Self::Internal => "internal",
        }
    }
}

const PROTOCOLS: [Protocol; 5] = [
    Protocol::OtlpHttpProtobuf,
    Protocol::OtlpHttpJson,
    Protocol::OtlpGrpc,
    Protocol::XRay,
    Protocol::HoneycombEvent,
];

/// Ingest counters.
#[derive(Default)]
pub(crate) struct Metrics {
    spans_accepted: [AtomicU64; 5],
    spans_rejected: [AtomicU64; 8],
    requests_rejected: [AtomicU64; 8],
    request_panics: AtomicU64,
    bytes_received: AtomicU64,
    bytes_decompressed: AtomicU64,
}

fn protocol_index(protocol: Protocol) -> usize {
    PROTOCOLS.iter().position(|p| *p == protocol).unwrap_or(0)
}

impl Metrics {
    /// Counts spans made durable.
    pub(crate) fn spans_accepted(&self, protocol: Protocol, spans: u64) {
        self.spans_accepted[protocol_index(protocol)].fetch_add(spans, Ordering::Relaxed);
    }

    /// Counts spans turned away, when their number is known.
    pub(crate) fn spans_rejected(&self, reason: Rejection, spans: u64) {
        self.spans_rejected[reason as usize].fetch_add(spans, Ordering::Relaxed);
    }

    /// Counts a request answered with an error.
    pub(crate) fn request_rejected(&self, reason: Rejection) {
        self.requests_rejected[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request (of any port) that panicked.
    pub(crate) fn request_panicked(&self) {
        self.request_panics.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts request bytes as received and after decompression.
    pub(crate) fn bytes_in(&self, received: usize, decompressed: usize) {
        self.bytes_received
            .fetch_add(received as u64, Ordering::Relaxed);
        self.bytes_decompressed
            .fetch_add(decompressed as u64, Ordering::Relaxed);
    }

    /// Renders every metric, including storage's, as Prometheus text.
    pub(crate) fn render(&self, storage: Option<&Storage>, inflight_bytes: usize) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "combray_spans_accepted_total",
            "counter",
            "Spans made durable and acknowledged.",
        );
        for protocol in PROTOCOLS {
            let value = self.spans_accepted[protocol_index(protocol)].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "combray_spans_accepted_total{{protocol=\"{}\"}} {value}",
                protocol.as_str()
            );
        }
        header(
            &mut out,
            "combray_spans_rejected_total",
            "counter",
            "Spans turned away, by reason.",
        );
        header(
            &mut out,
            "combray_requests_rejected_total",
            "counter",
            "Ingest requests answered with an error, by reason.",
        );
        for reason in Rejection::ALL {
            let spans = self.spans_rejected[reason as usize].load(Ordering::Relaxed);
            let requests = self.requests_rejected[reason as usize].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "combray_spans_rejected_total{{reason=\"{}\"}} {spans}",
                reason.label()
            );
            let _ = writeln!(
                out,
                "combray_requests_rejected_total{{reason=\"{}\"}} {requests}",
                reason.label()
            );
        }
        header(
            &mut out,
            "combray_ingest_bytes_total",
            "counter",
            "Request body bytes, as received and after decompression.",
        );
        let _ = writeln!(
            out,
            "combray_ingest_bytes_total{{stage=\"received\"}} {}",
            self.bytes_received.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "combray_ingest_bytes_total{{stage=\"decompressed\"}} {}",
            self.bytes_decompressed.load(Ordering::Relaxed)
        );
        counter(
            &mut out,
            "combray_request_panics_total",
            "Requests on any port that panicked (answered 500): a bug to report.",
            self.request_panics.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "combray_ingest_inflight_bytes",
            "Memory held by requests being ingested.",
            inflight_bytes as u64,
        );
        if let Some(storage) = storage {
            render_storage(&mut out, storage);
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Appends a gauge in the Prometheus text format.
pub(crate) fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

/// Appends a counter in the Prometheus text format.
pub(crate) fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

fn render_storage(out: &mut String, storage: &Storage) {
    let wal = storage.wal_stats();
    counter(
        out,
        "combray_wal_records_total",
        "Records made durable in the WAL.",
        wal.records.load(Ordering::Relaxed),
    );
    counter(
        out,
        "combray_wal_commits_total",
        "WAL commit groups (one sync each).",
        wal.commits.load(Ordering::Relaxed),
    );
    counter(
        out,
        "combray_wal_bytes_total",
        "Framed bytes written to the WAL.",
        wal.bytes.load(Ordering::Relaxed),
    );
    histogram(
        out,
        "combray_wal_fsync_seconds",
        "WAL fdatasync latency.",
        &wal.fsync_latency.snapshot(),
    );
    let (blocks, block_spans) = storage.blocks().totals();
    gauge(out, "combray_blocks", "Published blocks.", blocks as u64);
    gauge(
        out,
        "combray_block_spans",
        "Spans in published blocks.",
        block_spans,
    );
    let (index_bytes, index_loads) = storage.blocks().trace_index_usage();
    gauge(
        out,
        "combray_trace_index_cache_bytes",
        "Memory held by blocks' trace indexes kept between reads (the --trace-index-cache-bytes budget).",
        index_bytes as u64,
    );
    counter(
        out,
        "combray_trace_index_loads_total",
        "Trace indexes read from the object store because none was kept in memory.",
        index_loads,
    );
    let head = storage.head();
    gauge(
        out,
        "combray_head_spans",
        "Spans in the in-memory head.",
        head.span_count(),
    );
    gauge(
        out,
        "combray_head_bytes",
        "Memory held by the in-memory head, with what cuts hold building blocks from it (the --max-head-bytes budget).",
        head.memory_bytes() as u64,
    );
    gauge(
        out,
        "combray_cut_working_bytes",
        "Memory held by running cuts beside the head (part of combray_head_bytes).",
        head.cut_working_bytes() as u64,
    );
    counter(
        out,
        "combray_head_repeated_spans_total",
        "Spans not added to the head because it already held them (a resent batch).",
        head.repeats_dropped(),
    );
}

fn histogram(out: &mut String, name: &str, help: &str, snapshot: &HistogramSnapshot) {
    header(out, name, "histogram", help);
    for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(&snapshot.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", snapshot.count);
    let _ = writeln!(out, "{name}_sum {}", snapshot.sum_seconds);
    let _ = writeln!(out, "{name}_count {}", snapshot.count);
}
