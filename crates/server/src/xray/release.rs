//! What the assemblers let go of on their own (documents that waited long enough, or all of
//! them at shutdown), on its way to the WAL. Nothing was acknowledged to their senders, but they
//! are accepted data all the same: spans whose append fails (a full head, a full disk) are kept
//! here and tried again at the next release, before anything newer, instead of being dropped.
//! Only past [`MAX_UNSETTLED_SPANS`] are the oldest given up, logged and counted.

use std::future::Future;

use combray_ingest::otlp::Normalized;

use super::ingest::{normalized, Departed, Settling, XRayCounters};
use crate::state::AppState;

/// Most released spans kept for another try; beyond it the oldest are given up (counted in
/// `combray_xray_spans_lost_total`), so a WAL that fails for hours cannot take all memory.
const MAX_UNSETTLED_SPANS: usize = 200_000;

/// Released spans whose append failed, with the departures to journal once they are durable.
pub(super) struct Unsettled {
    environment: String,
    batch: Normalized,
    departed: Departed,
}

/// Keeps released spans whose append failed, to be tried again.
pub(super) fn keep(state: &AppState, environment: &str, batch: Normalized, departed: Departed) {
    let mut unsettled = state.xray.unsettled.lock();
    unsettled.push_back(Unsettled {
        environment: environment.to_owned(),
        batch,
        departed,
    });
    let mut held: usize = unsettled.iter().map(|u| u.batch.batch.span_count()).sum();
    while held > MAX_UNSETTLED_SPANS && unsettled.len() > 1 {
        let Some(oldest) = unsettled.pop_front() else {
            break;
        };
        let spans = oldest.batch.batch.span_count();
        held -= spans;
        XRayCounters::bump(&state.xray.counters.spans_lost, spans as u64);
        tracing::error!(spans, environment = %oldest.environment, "giving up X-Ray spans released by the assembler: their append kept failing and too many wait for another try");
    }
}

/// Spans kept for another try.
pub(crate) fn unsettled_spans(state: &AppState) -> usize {
    let unsettled = state.xray.unsettled.lock();
    unsettled.iter().map(|u| u.batch.batch.span_count()).sum()
}

/// Queues the WAL records of spans kept from an earlier failure, then of documents that have
/// waited long enough (or all of them, at shutdown), one batch at a time, and gives each
/// settling to `hand_over` before the next is begun. A settling holds the cut's gate shared
/// until it is finished: begun two at once, a cut that queued for the gate in between would
/// wait for the first while the second waited behind the cut, and every later append behind
/// both.
pub(crate) async fn flush_expired<F, Fut>(state: &AppState, everything: bool, mut hand_over: F)
where
    F: FnMut(Settling) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut batches = Vec::from(std::mem::take(&mut *state.xray.unsettled.lock()));
    for (environment, released) in state.xray.release(everything) {
        batches.push(Unsettled {
            batch: normalized(&environment, released.ready),
            environment,
            departed: released.departed,
        });
    }
    for Unsettled {
        environment,
        batch,
        departed,
    } in batches
    {
        let spans = if batch.batch.span_count() == 0 {
            None
        } else {
            match state.begin_commit(&batch).await {
                Ok(pending) => Some(pending),
                Err(error) => {
                    tracing::warn!(%error, spans = batch.batch.span_count(), %environment, "cannot store X-Ray spans released by the assembler yet; trying again at the next release");
                    keep(state, &environment, batch, departed);
                    continue;
                }
            }
        };
        hand_over(Settling {
            environment,
            spans,
            held: Vec::new(),
            departed,
            accepted_documents: 0,
            retry: Some(batch),
        })
        .await;
    }
}
