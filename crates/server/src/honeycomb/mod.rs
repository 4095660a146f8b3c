//! Honeycomb's API on the API port: `/1/auth`, the Events API, datasets, columns, the Query
//! Data API, saved calculated fields, markers and BubbleUp.
//! Each handler is a thin translation onto `combray-honeycomb`; `reply` maps its errors.

mod bubbleup;
mod datasets;
mod events;
mod queries;
mod reply;
mod settings;
mod store;

use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};
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
        .route(
            "/1/datasets",
            get(datasets::list_datasets).post(settings::create_dataset),
        )
        .route("/1/datasets/{dataset}", get(datasets::get_dataset))
        .route("/1/columns/{dataset}", get(datasets::list_columns))
        .route(
            "/1/derived_columns/{dataset}",
            get(settings::list_derived).post(settings::save_derived),
        )
        .route(
            "/1/derived_columns/{dataset}/{id}",
            get(settings::get_derived)
                .put(settings::save_derived)
                .delete(settings::delete_derived),
        )
        .route(
            "/1/markers/{dataset}",
            get(settings::list_markers).post(settings::change_marker),
        )
        .route(
            "/1/markers/{dataset}/{id}",
            put(settings::change_marker).delete(settings::change_marker),
        )
        .route(
            "/1/marker_settings/{dataset}",
            get(settings::get_marker_settings).post(settings::change_marker_setting),
        )
        .route(
            "/1/marker_settings/{dataset}/{id}",
            get(settings::get_marker_settings)
                .put(settings::change_marker_setting)
                .delete(settings::change_marker_setting),
        )
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
