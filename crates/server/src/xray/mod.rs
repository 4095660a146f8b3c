//! The X-Ray side of the server: the daemon's UDP port, and the X-Ray REST API (rest-json:
//! POST to fixed paths) on the API port and on TCP at the daemon's address.
//!
//! - [`udp`]: datagrams → documents → the assembler → the write path.
//! - [`ingest`]: the assembler shared by UDP and PutTraceSegments, and its counters.
//! - `control`, `traces`, `reads`: the operations, each a thin translation onto `combray_xray`.

mod control;
mod held;
pub(crate) mod ingest;
mod reads;
pub(crate) mod release;
mod reply;
mod settings;
mod sigv4;
mod traces;
pub(crate) mod udp;

pub use settings::XRaySettings;

#[cfg(test)]
mod flush_tests;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use combray_xray::XRayError;

use crate::state::AppState;

/// Which environment a listener's X-Ray calls act in (see `reply::authenticate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    /// The daemon's TCP port: always the configured X-Ray environment, like a daemon of one
    /// account.
    Daemon,
    /// The API port: the environment of the caller's key, when keys exist.
    Api,
}

/// What the daemon's TCP port serves: what the X-Ray daemon's proxy forwards for the SDKs
/// (sampling rules and targets) and segments. Reads and the control plane need a key or a
/// signature, so they are on the API port only.
const DAEMON_OPERATIONS: [&str; 3] = ["/TraceSegments", "/GetSamplingRules", "/SamplingTargets"];

/// The X-Ray operations, for one listener.
pub(crate) fn xray_router(state: Arc<AppState>, port: Port) -> Router {
    let limit = state.max_body_bytes;
    let routes: [(&str, axum::routing::MethodRouter<Arc<AppState>>); 23] = [
        ("/TraceSegments", post(traces::put_trace_segments)),
        ("/TelemetryRecords", post(traces::put_telemetry_records)),
        ("/Traces", post(reads::batch_get_traces)),
        ("/TraceSummaries", post(reads::get_trace_summaries)),
        ("/ServiceGraph", post(reads::get_service_graph)),
        ("/TraceGraph", post(reads::get_trace_graph)),
        (
            "/TimeSeriesServiceStatistics",
            post(reads::get_time_series_service_statistics),
        ),
        ("/CreateGroup", post(control::create_group)),
        ("/GetGroup", post(control::get_group)),
        ("/Groups", post(control::get_groups)),
        ("/UpdateGroup", post(control::update_group)),
        ("/DeleteGroup", post(control::delete_group)),
        ("/CreateSamplingRule", post(control::create_sampling_rule)),
        ("/GetSamplingRules", post(control::get_sampling_rules)),
        ("/UpdateSamplingRule", post(control::update_sampling_rule)),
        ("/DeleteSamplingRule", post(control::delete_sampling_rule)),
        ("/SamplingTargets", post(control::get_sampling_targets)),
        (
            "/SamplingStatisticSummaries",
            post(control::get_sampling_statistic_summaries),
        ),
        ("/TagResource", post(control::tag_resource)),
        ("/UntagResource", post(control::untag_resource)),
        (
            "/ListTagsForResource",
            post(control::list_tags_for_resource),
        ),
        ("/EncryptionConfig", post(control::get_encryption_config)),
        ("/PutEncryptionConfig", post(control::put_encryption_config)),
    ];
    let mut router = Router::new();
    for (path, handler) in routes {
        if port == Port::Daemon && !DAEMON_OPERATIONS.contains(&path) {
            continue;
        }
        // The SDKs never add a trailing slash, but hand-written clients do.
        router = router
            .route(path, handler.clone())
            .route(&format!("{path}/"), handler);
    }
    if port == Port::Daemon {
        router = router.fallback(unknown_operation);
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            reply::authenticate,
        ))
        .layer(axum::Extension(port))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            catch_panics,
        ))
        .with_state(state)
}

/// A panic in an X-Ray operation: a 500 `InternalFailure` in the rest-json shape the SDKs parse,
/// counted like every other port's.
async fn catch_panics(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let run = async { Ok(next.run(request).await) };
    match crate::panics::caught(&state, run).await {
        Ok(response) => response,
        Err(error) => reply::error(&XRayError::Internal(error.to_string()), 1),
    }
}

async fn unknown_operation(uri: Uri) -> Response {
    let operation = uri.path().trim_end_matches('/');
    if !operation.is_empty() && !DAEMON_OPERATIONS.contains(&operation) {
        return reply::error(
            &XRayError::AccessDenied(format!(
                "{operation} is not served on the X-Ray daemon's port, which takes only TraceSegments, GetSamplingRules and SamplingTargets (as the daemon's proxy does); call it on the API port with an x-honeycomb-team key or a SigV4 signature"
            )),
            1,
        );
    }
    reply::error(
        &XRayError::invalid(format!("no X-Ray operation at {}", uri.path())),
        1,
    )
}
