//! Honeycomb's API on the API port: `/1/auth`, the Events API, datasets, columns, the Query
//! Data API, and BubbleUp.
//! Each handler is a thin translation onto `combray-honeycomb`; `reply` maps its errors.

mod bubbleup;
mod datasets;
mod events;
mod queries;
mod reply;
mod store;

use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub(crate) use store::QueryStore;

/// Honeycomb's routes.
pub(crate) fn honeycomb_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/1/auth", get(datasets::auth))
        .route("/1/batch/{dataset}", post(events::batch))
        .route("/1/events/{dataset}", post(events::event))
        .route("/api/v1/bubbleup", post(bubbleup::run_bubbleup))
        .route("/1/datasets", get(datasets::list_datasets))
        .route("/1/datasets/{dataset}", get(datasets::get_dataset))
        .route("/1/columns/{dataset}", get(datasets::list_columns))
        .route("/1/queries/{dataset}", post(queries::create_query))
        .route("/1/queries/{dataset}/{id}", get(queries::get_query))
        .route("/1/query_results/{dataset}", post(queries::create_result))
        .route("/1/query_results/{dataset}/{id}", get(queries::get_result))
        .layer(from_fn_with_state(
            Arc::clone(&state),
            crate::panics::catch_panics,
        ))
        .with_state(state)
}
