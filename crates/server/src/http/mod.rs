//! HTTP listeners: the OTLP/HTTP receiver and the API port. One file per API family; `error`
//! is the single place errors become status codes.

mod api;
pub(crate) mod error;
mod otlp;
mod sql;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::panics::catch_panics;
use crate::state::AppState;
use error::ApiError;

/// Routes of the OTLP/HTTP port.
pub(crate) fn otlp_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/traces", post(otlp::export_traces))
        .route("/v1/traces/", post(otlp::export_traces))
        .route("/", post(otlp::export_traces))
        .route("/v1/metrics", post(otlp::accept_and_drop))
        .route("/v1/logs", post(otlp::accept_and_drop))
        .fallback(no_route)
        // The receiver enforces its own cap, before and after decompression.
        .layer(DefaultBodyLimit::disable())
        .layer(from_fn_with_state(Arc::clone(&state), catch_panics))
        .with_state(state)
}

/// Routes of the API port.
pub(crate) fn api_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/traces", get(api::search_traces))
        .route("/api/v1/traces/{trace_id}", get(api::get_trace))
        .route("/api/v1/services", get(api::list_services))
        .route(
            "/api/v1/services/{service}/operations",
            get(api::list_operations),
        )
        .route("/api/v1/sql", post(sql::run_sql))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .fallback(no_route)
        .layer(from_fn_with_state(Arc::clone(&state), catch_panics))
        .with_state(state)
}

async fn no_route(uri: Uri) -> Response {
    ApiError::NoRoute(uri.path().to_owned()).json_response(1)
}
