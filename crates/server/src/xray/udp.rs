//! The daemon's UDP port: one datagram is `{"format":"json","version":1}\n<document>`.
//!
//! Two stages, so both cores work: a reader task receives datagrams and validates their
//! documents, and moves valid ones into a bounded queue; when the queue is full the document is
//! dropped and counted (UDP has no way to push back). A writer task puts documents through the
//! assembler and stores what is ready, many per write, and once a second releases documents
//! that have waited long enough.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use combray_ingest::xray::{parse_document, split_datagram, Document};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::ingest::{flush_expired, ingest, XRayCounters};
use crate::state::AppState;

/// Largest datagram read (the UDP maximum); the daemon's own buffer is 64 KiB.
const MAX_DATAGRAM: usize = 65_536;
/// Most datagrams validated by one parse task.
const PARSE_BATCH: usize = 256;
/// Most documents written in one batch.
const BATCH: usize = 2_048;

/// Receive buffer asked of the kernel: bursts of SDK traffic queue here while the reader is
/// busy. Linux caps it at `net.core.rmem_max` (often 4 MiB) unless the process may exceed it.
const RECEIVE_BUFFER_BYTES: usize = 32 * 1024 * 1024;

/// Binds the UDP socket with a large receive buffer.
pub fn bind(address: std::net::SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if let Err(error) = socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES) {
        tracing::warn!(%error, "cannot enlarge the X-Ray UDP receive buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}

/// Runs the UDP receiver until `stop`, then stores everything still waiting.
pub async fn run_udp(
    socket: UdpSocket,
    state: Arc<AppState>,
    queue: usize,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (sender, receiver) = mpsc::channel::<Document>(queue.max(1));
    let reader = tokio::spawn(read(socket, Arc::clone(&state), sender, stop.clone()));
    write(state, receiver).await;
    reader.await??;
    Ok(())
}

async fn read(
    socket: UdpSocket,
    state: Arc<AppState>,
    queue: mpsc::Sender<Document>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let counters = &state.xray.counters;
    let mut buffer = vec![0_u8; MAX_DATAGRAM];
    loop {
        // Wait for one datagram, then take whatever else is already queued in the socket, and
        // validate the lot on another task: parsing is most of the cost, and this way both
        // cores share it while this task goes back to the socket.
        let first = tokio::select! {
            received = socket.recv_from(&mut buffer) => match received {
                Ok((length, _)) => Bytes::copy_from_slice(&buffer[..length]),
                Err(error) => {
                    // ICMP errors from earlier sends and the like: not fatal for a receiver.
                    tracing::debug!(%error, "UDP receive error");
                    continue;
                }
            },
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
        };
        let mut datagrams = vec![first];
        while datagrams.len() < PARSE_BATCH {
            match socket.try_recv_from(&mut buffer) {
                Ok((length, _)) => datagrams.push(Bytes::copy_from_slice(&buffer[..length])),
                Err(_) => break,
            }
        }
        XRayCounters::bump(&counters.datagrams_received, datagrams.len() as u64);
        let (state, queue) = (Arc::clone(&state), queue.clone());
        tokio::spawn(async move { parse_batch(&state, &queue, datagrams) });
    }
}

fn parse_batch(state: &AppState, queue: &mpsc::Sender<Document>, datagrams: Vec<Bytes>) {
    let counters = &state.xray.counters;
    for datagram in datagrams {
        let document = match parse(&datagram) {
            Ok(document) => document,
            Err(reason) => {
                XRayCounters::bump(&counters.datagrams_rejected, 1);
                tracing::debug!(%reason, "rejected an X-Ray datagram");
                continue;
            }
        };
        if queue.try_send(document).is_err() {
            XRayCounters::bump(&counters.datagrams_dropped, 1);
        }
    }
}

fn parse(datagram: &[u8]) -> Result<Document, String> {
    let body = split_datagram(datagram).map_err(|e| e.to_string())?;
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    parse_document(text).map_err(|e| e.to_string())
}

async fn write(state: Arc<AppState>, mut queue: mpsc::Receiver<Document>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut documents = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = queue.recv_many(&mut documents, BATCH) => {
                if received == 0 {
                    break;
                }
                store(&state, std::mem::take(&mut documents)).await;
            }
            _ = tick.tick() => flush_expired(&state, false).await,
        }
    }
    flush_expired(&state, true).await;
}

async fn store(state: &AppState, documents: Vec<Document>) {
    let count = documents.len() as u64;
    let environment = state.xray.environment.clone();
    if let Err(error) = ingest(state, &environment, documents).await {
        XRayCounters::bump(&state.xray.counters.datagrams_dropped, count);
        tracing::warn!(%error, documents = count, "dropped X-Ray documents: the write path refused them");
    }
}
