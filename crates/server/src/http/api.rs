//! The query API on the API port: traces by id, trace search, services, health and metrics.

use std::future::Future;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use combray_query::{catalog, search, trace};
use combray_storage::SpanStore;

use super::error::ApiError;
use crate::keys::{Access, KEY_HEADER};
use crate::state::AppState;

/// Runs a read in the caller's environment on the read threads, under the read gate's limits,
/// and renders its result or error as JSON.
async fn read<T, F, R>(state: Arc<AppState>, headers: &HeaderMap, query: F) -> Response
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce(Arc<AppState>, String) -> R + Send + 'static,
    R: Future<Output = Result<T, ApiError>> + Send + 'static,
{
    let key = headers
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let retry_after = state.retry_after_seconds;
    let gate = state.reads.clone();
    let outcome = gate
        .run(async move {
            let environment = state.keys.authorize(key.as_deref(), Access::Read)?;
            query(state, environment).await
        })
        .await;
    match outcome {
        Ok(Ok(value)) => Json(value).into_response(),
        Ok(Err(error)) => error.json_response(retry_after),
        Err(refused) => ApiError::from(refused).json_response(retry_after),
    }
}

/// `GET /api/v1/traces/{trace_id}`.
pub(super) async fn get_trace(
    State(state): State<Arc<AppState>>,
    Path(trace_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    read(state, &headers, move |state, environment| async move {
        let store: &dyn SpanStore = state.storage()?.as_ref();
        Ok(trace::get_trace(store, &environment, &trace_id).await?)
    })
    .await
}

/// `GET /api/v1/traces?service=&name=&min_duration=&max_duration=&status=&attr.KEY=&start=&end=&limit=`.
pub(super) async fn search_traces(
    State(state): State<Arc<AppState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    read(state, &headers, move |state, environment| async move {
        let Query(pairs) = query.map_err(|rejection| {
            combray_query::QueryError::InvalidArgument(format!(
                "malformed query string: {}",
                rejection.body_text()
            ))
        })?;
        let params = search::SearchParams::from_pairs(&pairs)?;
        let store: &dyn SpanStore = state.storage()?.as_ref();
        Ok(search::search(&state.sql, store, &environment, &params).await?)
    })
    .await
}

/// `GET /api/v1/services`.
pub(super) async fn list_services(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    read(state, &headers, |state, environment| async move {
        let store: &dyn SpanStore = state.storage()?.as_ref();
        let services = catalog::services(store, &environment);
        Ok(serde_json::json!({ "services": services }))
    })
    .await
}

/// `GET /api/v1/services/{service}/operations`.
pub(super) async fn list_operations(
    State(state): State<Arc<AppState>>,
    Path(service): Path<String>,
    headers: HeaderMap,
) -> Response {
    read(state, &headers, move |state, environment| async move {
        let store: &dyn SpanStore = state.storage()?.as_ref();
        let operations = catalog::operations(store, &environment, &service)?;
        Ok(serde_json::json!({ "service": service, "operations": operations }))
    })
    .await
}

/// `GET /healthz`: the process is up.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: WAL replay has finished and ingest is open.
pub(super) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        ApiError::NotReady.json_response(state.retry_after_seconds)
    }
}

/// `GET /metrics`: Prometheus text format.
pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let storage = state.storage().ok().map(Arc::as_ref);
    let mut text = state
        .metrics
        .render(storage, state.admission.in_use_bytes());
    state.xray.render_metrics(&mut text);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
