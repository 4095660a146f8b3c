//! Releasing documents of several environments while a cut waits for the gate.

use std::sync::Arc;
use std::time::Duration;

use combray_ingest::xray::parse_document;
use combray_storage::SpanStore;

use super::ingest::ingest_acknowledged;
use super::release::flush_expired;

/// A subsegment whose parent never arrives, so it waits in the assembler until released.
fn orphan(trace: u32) -> (combray_ingest::xray::Document, String) {
    let text = format!(
        r#"{{"type":"subsegment","trace_id":"1-5759e988-{trace:024x}","parent_id":"00000000000000a1","id":"{trace:016x}","name":"q","start_time":1.0,"end_time":2.0}}"#
    );
    (parse_document(&text).expect("valid document"), text)
}

/// A segment with no parent: stored at once.
fn segment(trace: u32) -> (combray_ingest::xray::Document, String) {
    let text = format!(
        r#"{{"trace_id":"1-5759e988-{trace:024x}","id":"{trace:016x}","name":"web","start_time":1.0,"end_time":2.0}}"#
    );
    (parse_document(&text).expect("valid document"), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_queued_between_two_environments_releases_does_not_stall_either() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, storage) = crate::test_state::state(dir.path()).await;
    for (environment, trace) in [("prod", 1), ("staging", 2)] {
        ingest_acknowledged(&state, environment, vec![orphan(trace)])
            .await
            .expect("held");
    }

    // The lander: finishes settlings in order, as the UDP port's second task does.
    let (landing, mut in_flight) = tokio::sync::mpsc::channel(8);
    let lander = tokio::spawn({
        let state = Arc::clone(&state);
        async move {
            while let Some(settling) = in_flight.recv().await {
                let settling: super::ingest::Settling = settling;
                settling.finish(&state).await.expect("stored");
            }
        }
    });
    let mut cut = None;
    let flush = flush_expired(&state, true, |settling| {
        // After the first environment's record is queued (holding the gate shared), a cut
        // queues for the gate exclusively before the second environment begins.
        if cut.is_none() {
            let storage = Arc::clone(&storage);
            cut = Some(tokio::spawn(async move { storage.cut().await }));
        }
        let landing = landing.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            landing.send(settling).await.expect("lander runs");
        }
    });
    tokio::time::timeout(Duration::from_secs(20), flush)
        .await
        .expect("releasing the second environment stalled behind the cut");
    let cut = cut.expect("a settling was handed over");
    tokio::time::timeout(Duration::from_secs(20), cut)
        .await
        .expect("the cut stalled")
        .expect("cut task")
        .expect("cut");
    drop(landing);
    lander.await.expect("lander");

    let services = tokio::task::spawn_blocking(move || {
        ["prod", "staging"].map(|environment| storage.services(environment))
    })
    .await
    .expect("read");
    for (environment, services) in ["prod", "staging"].iter().zip(services) {
        assert!(
            !services.is_empty(),
            "{environment} lost its released spans"
        );
    }
}

#[tokio::test]
async fn put_trace_segments_after_shutdown_began_is_refused_with_503() {
    use tower::ServiceExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, _storage) = crate::test_state::state(dir.path()).await;
    let router = super::xray_router(Arc::clone(&state), super::Port::Api);
    let put = || {
        let body = serde_json::json!({ "TraceSegmentDocuments": [orphan(3).1] }).to_string();
        axum::http::Request::post("/TraceSegments")
            .body(axum::body::Body::from(body))
            .expect("request")
    };
    let accepted = router.clone().oneshot(put()).await.expect("answer");
    assert_eq!(accepted.status(), 200);
    state.begin_shutdown();
    let refused = router.oneshot(put()).await.expect("answer");
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused.headers()["x-amzn-ErrorType"],
        "ServiceUnavailableException"
    );
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_spans_whose_append_fails_are_kept_and_stored_at_the_next_release() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, storage) = crate::test_state::state_with_head_limit(dir.path(), 1).await;
    ingest_acknowledged(&state, "prod", vec![orphan(4)])
        .await
        .expect("held");
    // Something in the head: with a head limit of one byte, every further append is refused.
    ingest_acknowledged(&state, "prod", vec![segment(5)])
        .await
        .expect("stored");
    let finish = |settling: super::ingest::Settling| {
        let state = Arc::clone(&state);
        async move {
            let _ = settling.finish(&state).await;
        }
    };
    flush_expired(&state, true, finish).await;
    assert_eq!(
        super::release::unsettled_spans(&state),
        1,
        "kept, not dropped"
    );

    storage.cut().await.expect("cut").expect("a block");
    flush_expired(&state, false, finish).await;
    assert_eq!(super::release::unsettled_spans(&state), 0);
    let trace = orphan(4).0.trace_id;
    let stored = storage
        .trace_records("prod", &trace)
        .await
        .expect("records");
    assert_eq!(stored.len(), 1, "the released span is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_waiting_budget_the_oldest_documents_are_stored_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = orphan(10).0.memory_bytes;
    // Room for about three waiting orphans.
    let args = crate::config::ServeArgs {
        xray_max_waiting_bytes: Some(3 * one as u64 + one as u64 / 2),
        ..Default::default()
    };
    let (state, storage) = crate::test_state::state_with_args(dir.path(), 4 << 30, args).await;
    for trace in 10..20 {
        ingest_acknowledged(&state, "prod", vec![orphan(trace)])
            .await
            .expect("accepted");
    }
    let waiting = state.xray.waiting_bytes();
    assert!(
        waiting <= 3 * one + one / 2,
        "{waiting} bytes wait, over the budget"
    );
    assert!(
        state.xray.waiting_documents() >= 2,
        "not everything was let go"
    );
    // Every document is either waiting or stored, none lost: the oldest are in the head.
    let mut stored = Vec::new();
    for trace in 10..20 {
        let id = orphan(trace).0.trace_id;
        stored.push(
            storage
                .trace_records("prod", &id)
                .await
                .expect("records")
                .len(),
        );
    }
    let stored_count = stored.iter().filter(|n| **n == 1).count();
    assert_eq!(stored_count + state.xray.waiting_documents(), 10);
    assert_eq!(stored[0], 1, "the oldest went first");
    assert_eq!(stored[9], 0, "the newest still waits");
}
