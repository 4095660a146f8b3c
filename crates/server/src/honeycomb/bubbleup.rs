//! `POST /api/v1/bubbleup`: Combray's own endpoint (Honeycomb has no public one). The body is
//! `{"dataset", "query": QuerySpec, "selection": {...}}`; see docs/api.md.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use combray_honeycomb::bubbleup::{bubbleup, Selection};
use combray_honeycomb::spec::QuerySpec;
use combray_honeycomb::window::Window;
use serde::Deserialize;

use super::datasets::{services_of, ALL};
use super::reply::{body, environment, Failure};
use crate::keys::Access;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BubbleUpRequest {
    #[serde(default = "all")]
    dataset: String,
    #[serde(default)]
    query: QuerySpec,
    selection: Selection,
}

fn all() -> String {
    ALL.to_owned()
}

/// Runs BubbleUp over the query's events.
pub(super) async fn run_bubbleup(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let outcome = async {
        let environment = environment(&state, &headers, Access::Read)?;
        let request: BubbleUpRequest = body(&bytes)?;
        let mut query = request.query.validate()?;
        let window = Window::of(&request.query, super::queries::now_seconds(), false)?;
        let services = services_of(&state, &environment, &request.dataset).await?;
        let key = super::datasets::settings_key(&request.dataset);
        query.saved_fields = super::settings::saved_fields(&state, &environment, &key).await?;
        let storage = state.storage()?;
        let answer = bubbleup(
            &state.sql,
            storage.as_ref(),
            &environment,
            query,
            window,
            services,
            request.selection,
        )
        .await?;
        Ok::<_, Failure>(answer)
    }
    .await;
    match outcome {
        Ok(answer) => Json(answer).into_response(),
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}
