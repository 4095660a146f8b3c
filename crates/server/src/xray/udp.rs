//! The daemon's UDP port: one datagram is `{"format":"json","version":1}\n<document>`.
//!
//! Two stages, so both cores work: a reader task receives datagrams and validates their
//! documents, and moves valid ones into a bounded queue; when the queue is full the document is
//! dropped and counted (UDP has no way to push back). The queue is bounded in memory as well as
//! in documents, and when parsing falls behind the reader parses on its own thread instead of
//! spawning more work, leaving bursts in the kernel's receive buffer (which drops past it).
//! A writer task puts documents through the
//! assembler and stores what is ready, many per write, and once a second releases documents
//! that have waited long enough.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use combray_ingest::xray::{parse_document, split_datagram, Document};
use std::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::ingest::{begin_ingest, compact_journal, Settling, XRayCounters};
use super::release::{flush_expired, unsettled_spans};
use crate::http::error::ApiError;
use crate::state::AppState;

/// Largest datagram read (the UDP maximum); the daemon's own buffer is 64 KiB.
const MAX_DATAGRAM: usize = 65_536;
/// Most datagrams validated by one parse task.
const PARSE_BATCH: usize = 256;
/// Longest a received datagram waits for its batch to fill before it is parsed.
const BATCH_WAIT: Duration = Duration::from_millis(5);
/// How often the receiver thread looks at the stop flag when nothing arrives.
const POLL: Duration = Duration::from_millis(50);
/// Most documents written in one batch.
const BATCH: usize = 2_048;
/// Parse batches that may wait for or run on the runtime at once; past it, the reader parses.
const MAX_PARSING: usize = 16;

/// Batches whose WAL records may wait for their fsync at once: about 2.5 s of 50,000
/// documents/s, holding ~1 MiB of encoded record each.
const IN_FLIGHT_BATCHES: usize = 64;
/// Receive buffer asked of the kernel: bursts of SDK traffic queue here while the reader is
/// busy. Linux caps it at `net.core.rmem_max` (often 4 MiB) unless the process may exceed it.
const RECEIVE_BUFFER_BYTES: usize = 32 * 1024 * 1024;

/// Binds the UDP socket with a large receive buffer.
pub(crate) fn bind(address: std::net::SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if let Err(error) = socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES) {
        tracing::warn!(%error, "cannot enlarge the X-Ray UDP receive buffer");
    }
    socket.bind(&address.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(POLL))?;
    Ok(socket)
}

/// How much the queue between the reader and the writer holds before it drops documents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    /// Documents.
    pub documents: usize,
    /// Their memory (`memory_bytes`), part of the memory ceiling in docs/reliability.md: 64 Ki
    /// documents of 64 KiB each would otherwise be 8 GiB.
    pub bytes: usize,
}

/// Runs the UDP receiver until `stop`, then stores everything still waiting.
pub(crate) async fn run_udp(
    socket: UdpSocket,
    state: Arc<AppState>,
    limits: QueueLimits,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (sender, receiver) = mpsc::channel::<Document>(limits.documents.max(1));
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let sender = Queue {
        sender,
        queued_bytes: Arc::clone(&queued_bytes),
        max_bytes: limits.bytes,
    };
    let stopped = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Handle::current();
    let receiver_thread = {
        let (state, stopped) = (Arc::clone(&state), Arc::clone(&stopped));
        std::thread::Builder::new()
            .name("combray-xray-udp".into())
            .spawn(move || receive(&socket, &state, &sender, &stopped, &runtime))?
    };
    let writer = tokio::spawn(write(Arc::clone(&state), receiver, queued_bytes));
    let _ = stop.wait_for(|stopped| *stopped).await;
    stopped.store(true, Ordering::Relaxed);
    // The thread drops the last sender when it ends, which ends the writer after it has
    // stored everything queued and waiting.
    tokio::task::spawn_blocking(move || receiver_thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the X-Ray UDP receiver thread panicked"))?;
    writer.await?;
    Ok(())
}

/// The queue from parsing to the writer, with the memory its documents take.
#[derive(Clone)]
struct Queue {
    sender: mpsc::Sender<Document>,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

impl Queue {
    /// Queues a document unless the queue is full in documents or in bytes.
    fn offer(&self, document: Document) -> bool {
        let bytes = document.memory_bytes;
        let before = self.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.max_bytes || self.sender.try_send(document).is_err() {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// The receiver thread: reads datagrams and hands them to parse tasks in batches.
fn receive(
    socket: &UdpSocket,
    state: &Arc<AppState>,
    queue: &Queue,
    stopped: &AtomicBool,
    runtime: &tokio::runtime::Handle,
) {
    let counters = &state.xray.counters;
    let mut buffer = vec![0_u8; MAX_DATAGRAM];
    let mut batch: Vec<Bytes> = Vec::with_capacity(PARSE_BATCH);
    let mut batch_started = Instant::now();
    let parsing = Arc::new(AtomicUsize::new(0));
    while !stopped.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buffer) {
            Ok((length, _)) => {
                if batch.is_empty() {
                    batch_started = Instant::now();
                }
                batch.push(Bytes::copy_from_slice(&buffer[..length]));
            }
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // ICMP errors from earlier sends and the like: not fatal for a receiver.
            Err(error) => tracing::debug!(%error, "UDP receive error"),
        }
        let full = batch.len() >= PARSE_BATCH;
        if !batch.is_empty() && (full || batch_started.elapsed() >= BATCH_WAIT) {
            let datagrams = std::mem::replace(&mut batch, Vec::with_capacity(PARSE_BATCH));
            XRayCounters::bump(&counters.datagrams_received, datagrams.len() as u64);
            if parsing.fetch_add(1, Ordering::Relaxed) >= MAX_PARSING {
                parsing.fetch_sub(1, Ordering::Relaxed);
                parse_batch(state, queue, datagrams);
                continue;
            }
            let (state, queue, parsing) = (Arc::clone(state), queue.clone(), Arc::clone(&parsing));
            runtime.spawn(async move {
                parse_batch(&state, &queue, datagrams);
                parsing.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
    if !batch.is_empty() {
        XRayCounters::bump(&counters.datagrams_received, batch.len() as u64);
        parse_batch(state, queue, batch);
    }
}

fn parse_batch(state: &AppState, queue: &Queue, datagrams: Vec<Bytes>) {
    let counters = &state.xray.counters;
    for datagram in datagrams {
        let document = match parse(&datagram) {
            Ok(document) => document,
            Err(reason) => {
                XRayCounters::bump(&counters.datagrams_rejected, 1);
                log_rejection(&reason);
                continue;
            }
        };
        if !queue.offer(document) {
            XRayCounters::bump(&counters.datagrams_dropped, 1);
        }
    }
}

/// Seconds between two logged rejections: a misconfigured sender can send thousands a second.
const REJECTION_LOG_EVERY_SECONDS: u64 = 10;

/// Logs why a datagram was rejected, at most once every ten seconds, with how many were
/// rejected in between (all are counted in `combray_xray_datagrams_rejected_total`).
fn log_rejection(reason: &str) {
    static LAST_LOGGED: AtomicU64 = AtomicU64::new(0);
    static SINCE: AtomicU64 = AtomicU64::new(0);
    let now = crate::state::now_unix_nano() / 1_000_000_000;
    let unlogged = SINCE.fetch_add(1, Ordering::Relaxed) + 1;
    let last = LAST_LOGGED.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= REJECTION_LOG_EVERY_SECONDS
        && LAST_LOGGED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        SINCE.store(0, Ordering::Relaxed);
        tracing::warn!(
            reason,
            rejected = unlogged,
            "rejected X-Ray datagrams (the reason is the latest one's)"
        );
    }
}

fn parse(datagram: &[u8]) -> Result<Document, String> {
    let body = split_datagram(datagram).map_err(|e| e.to_string())?;
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    parse_document(text).map_err(|e| e.to_string())
}

/// The writer: assembles each batch of documents and queues its WAL record, then goes on to
/// the next while a second task waits for each record to be durable and makes it queryable, in
/// order. So a slow fsync (seconds, while a cut writes a block to the same disk) delays when
/// spans become queryable, not how fast the port is drained.
async fn write(
    state: Arc<AppState>,
    mut queue: mpsc::Receiver<Document>,
    queued_bytes: Arc<AtomicUsize>,
) {
    let (landing, in_flight) = mpsc::channel::<Settling>(IN_FLIGHT_BATCHES);
    let lander = tokio::spawn(land(Arc::clone(&state), in_flight));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut documents = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = queue.recv_many(&mut documents, BATCH) => {
                if received == 0 {
                    break;
                }
                let bytes: usize = documents.iter().map(|d| d.memory_bytes).sum();
                queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                let count = documents.len() as u64;
                let environment = state.xray.environment.clone();
                match begin_ingest(&state, &environment, std::mem::take(&mut documents)).await {
                    Ok(settling) => hand_over(&state, &landing, settling).await,
                    Err(error) => refused(&state, count, &error),
                }
            }
            _ = tick.tick() => {
                flush_expired(&state, false, |settling| hand_over(&state, &landing, settling)).await;
                compact_journal(&state).await;
            }
        }
    }
    flush_expired(&state, true, |settling| {
        hand_over(&state, &landing, settling)
    })
    .await;
    drop(landing);
    if lander.await.is_err() {
        tracing::error!("the X-Ray UDP lander panicked");
    }
    let left = unsettled_spans(&state);
    if left > 0 {
        tracing::error!(spans = left, "X-Ray spans released by the assembler could not be stored before shutdown: their appends kept failing");
    }
    compact_journal(&state).await;
}

/// Passes a queued batch to the lander; should the lander be gone, finishes it here.
async fn hand_over(state: &AppState, landing: &mpsc::Sender<Settling>, settling: Settling) {
    if let Err(mpsc::error::SendError(settling)) = landing.send(settling).await {
        land_one(state, settling).await;
    }
}

/// Finishes queued batches in the order they were queued.
async fn land(state: Arc<AppState>, mut in_flight: mpsc::Receiver<Settling>) {
    while let Some(settling) = in_flight.recv().await {
        land_one(&state, settling).await;
    }
}

async fn land_one(state: &AppState, settling: Settling) {
    let count = settling.documents();
    if let Err(error) = settling.finish(state).await {
        refused(state, count, &error);
    }
}

fn refused(state: &AppState, documents: u64, error: &ApiError) {
    XRayCounters::bump(&state.xray.counters.datagrams_dropped, documents);
    tracing::warn!(%error, documents, "dropped X-Ray documents: the write path refused them");
}
