//! The daemon's UDP port: one datagram is `{"format":"json","version":1}\n<document>`.
//!
//! A reader task only moves datagrams into a bounded queue, so a slow write path never stalls
//! the socket for long; when the queue is full the datagram is dropped and counted (UDP has no
//! way to push back). A writer task validates documents, puts them through the assembler and
//! stores what is ready, many datagrams per write, and once a second releases documents that
//! have waited long enough.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use combray_ingest::xray::{parse_document, split_datagram};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::ingest::{flush_expired, ingest, XRayCounters};
use crate::state::AppState;

/// Largest datagram read (the UDP maximum); the daemon's own buffer is 64 KiB.
const MAX_DATAGRAM: usize = 65_536;
/// Most datagrams written in one batch.
const BATCH: usize = 2_048;

/// Runs the UDP receiver until `stop`, then stores everything still waiting.
pub async fn run_udp(
    socket: UdpSocket,
    state: Arc<AppState>,
    queue: usize,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (sender, receiver) = mpsc::channel::<Bytes>(queue.max(1));
    let reader = tokio::spawn(read(socket, Arc::clone(&state), sender, stop.clone()));
    write(state, receiver).await;
    reader.await??;
    Ok(())
}

async fn read(
    socket: UdpSocket,
    state: Arc<AppState>,
    queue: mpsc::Sender<Bytes>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let counters = &state.xray.counters;
    let mut buffer = vec![0_u8; MAX_DATAGRAM];
    loop {
        let length = tokio::select! {
            received = socket.recv_from(&mut buffer) => match received {
                Ok((length, _)) => length,
                Err(error) => {
                    // ICMP errors from earlier sends and the like: not fatal for a receiver.
                    tracing::debug!(%error, "UDP receive error");
                    continue;
                }
            },
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
        };
        XRayCounters::bump(&counters.datagrams_received, 1);
        if queue
            .try_send(Bytes::copy_from_slice(&buffer[..length]))
            .is_err()
        {
            XRayCounters::bump(&counters.datagrams_dropped, 1);
        }
    }
}

async fn write(state: Arc<AppState>, mut queue: mpsc::Receiver<Bytes>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut datagrams = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = queue.recv_many(&mut datagrams, BATCH) => {
                if received == 0 {
                    break;
                }
                store(&state, std::mem::take(&mut datagrams)).await;
            }
            _ = tick.tick() => flush_expired(&state, false).await,
        }
    }
    flush_expired(&state, true).await;
}

async fn store(state: &AppState, datagrams: Vec<Bytes>) {
    let counters = &state.xray.counters;
    let count = datagrams.len() as u64;
    let documents: Vec<_> = datagrams
        .iter()
        .filter_map(|datagram| {
            let parsed = split_datagram(datagram)
                .map_err(|e| e.to_string())
                .and_then(|body| {
                    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
                    parse_document(text).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(document) => Some(document),
                Err(reason) => {
                    XRayCounters::bump(&counters.datagrams_rejected, 1);
                    tracing::debug!(%reason, "rejected an X-Ray datagram");
                    None
                }
            }
        })
        .collect();
    let valid = documents.len() as u64;
    let environment = state.xray.environment.clone();
    if let Err(error) = ingest(state, &environment, documents).await {
        XRayCounters::bump(&counters.datagrams_dropped, valid);
        tracing::warn!(%error, datagrams = count, "dropped X-Ray datagrams: the write path refused them");
    }
}
