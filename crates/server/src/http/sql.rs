//! `POST /api/v1/sql`: read-only SQL over the caller's environment.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use combray_query::QueryError;
use serde::Deserialize;

use super::error::ApiError;
use crate::keys::{Access, KEY_HEADER};
use crate::state::AppState;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    /// One SQL statement; the table is `spans`.
    sql: String,
    /// Fewer rows than the server's limit, if wanted.
    #[serde(default)]
    max_rows: Option<usize>,
}

fn parse(body: &[u8]) -> Result<SqlRequest, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        QueryError::InvalidArgument(format!(
            "the body must be JSON like {{\"sql\": \"SELECT count(*) FROM spans\"}}: {error}"
        ))
        .into()
    })
}

/// Runs the query and answers `{columns, rows, truncated, elapsed_ms}`.
pub(super) async fn run_sql(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let retry_after = state.retry_after_seconds;
    let outcome = async {
        let key = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok());
        let environment = state.keys.authorize(key, Access::Read)?;
        let request = parse(&body)?;
        let storage = state.storage()?;
        Ok::<_, ApiError>(
            state
                .sql
                .run(
                    storage.as_ref(),
                    &environment,
                    &request.sql,
                    request.max_rows,
                )
                .await?,
        )
    }
    .await;
    match outcome {
        Ok(result) => Json(result).into_response(),
        Err(error) => error.json_response(retry_after),
    }
}
