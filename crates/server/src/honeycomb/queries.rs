//! `/1/queries/{dataset}` and `/1/query_results/{dataset}`: Honeycomb's Query Data API.
//!
//! A query is saved (`POST /1/queries`, 200 with its id), then run by creating a result
//! (`POST /1/query_results`, 201 with `Location`). Combray runs the query before it answers the
//! create, under the SQL engine's time and memory limits, so `GET` of the result always finds it
//! complete.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use combray_honeycomb::run::{run, Include};
use combray_honeycomb::settings::SavedQuery;
use combray_honeycomb::spec::QuerySpec;
use combray_honeycomb::window::Window;
use combray_honeycomb::HoneycombError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::datasets::services_of;
use super::reply::{body, environment, Failure};
use super::store::{QueryStore, StoredResult};
use crate::keys::Access;
use crate::state::AppState;

/// The body of `POST /1/query_results/{dataset}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateResult {
    query_id: String,
    #[serde(default)]
    disable_series: bool,
    #[serde(default = "yes")]
    disable_total_by_aggregate: bool,
    #[serde(default = "yes")]
    disable_other_by_aggregate: bool,
    #[serde(default)]
    limit: Option<usize>,
}

fn yes() -> bool {
    true
}

/// Groups in results while series are on (Honeycomb's default and ceiling then).
const SERIES_LIMIT: usize = 1000;
/// The most groups a result may ask for with series off.
const MAX_LIMIT: usize = 10_000;

pub(super) fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The saved query as Honeycomb echoes it: the spec, a bare COUNT filled in when it had no
/// calculations, and its id.
fn query_json(spec: &QuerySpec, id: &str) -> Value {
    let mut spec = spec.clone();
    if spec.calculations.is_empty() {
        spec.calculations
            .push(combray_honeycomb::spec::Calculation {
                op: "COUNT".into(),
                column: None,
                name: None,
                filters: Vec::new(),
                filter_combination: None,
            });
    }
    if spec.filter_combination.as_deref() == Some("AND") {
        spec.filter_combination = None;
    }
    let mut value = serde_json::to_value(spec).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("id".into(), Value::from(id));
    }
    value
}

/// `POST /1/queries/{dataset}`.
pub(super) async fn create_query(
    State(state): State<Arc<AppState>>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let outcome = async {
        let environment = environment(&state, &headers, Access::Read)?;
        let spec: QuerySpec = body(&bytes)?;
        spec.validate()?;
        Window::of(&spec, now_seconds(), false)?;
        services_of(&state, &environment, &dataset).await?;
        let id = QueryStore::query_id(&environment, &dataset, &spec);
        if state.honeycomb.query(&environment, &id).is_none() {
            let saved = SavedQuery {
                dataset: dataset.clone(),
                query: spec.clone(),
            };
            state
                .honeycomb_settings
                .put_query(&environment, &id, &saved)
                .await?;
            state
                .honeycomb
                .remember(&environment, &id, &dataset, spec.clone());
        }
        Ok::<_, Failure>(query_json(&spec, &id))
    }
    .await;
    match outcome {
        Ok(query) => Json(query).into_response(),
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}

/// A saved query and its dataset: from memory, else from the object store (after a restart).
async fn saved_query(
    state: &AppState,
    environment: &str,
    id: &str,
) -> Result<Option<(String, QuerySpec)>, Failure> {
    if let Some(found) = state.honeycomb.query(environment, id) {
        return Ok(Some(found));
    }
    let Some(saved) = state.honeycomb_settings.get_query(environment, id).await? else {
        return Ok(None);
    };
    state
        .honeycomb
        .remember(environment, id, &saved.dataset, saved.query.clone());
    Ok(Some((saved.dataset, saved.query)))
}

/// `GET /1/queries/{dataset}/{id}`.
pub(super) async fn get_query(
    State(state): State<Arc<AppState>>,
    Path((dataset, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let environment = environment(&state, &headers, Access::Read)?;
        match saved_query(&state, &environment, &id).await? {
            Some((saved, spec)) if saved == dataset => Ok(query_json(&spec, &id)),
            _ => Err(Failure::from(HoneycombError::NotFound(
                "query not found".into(),
            ))),
        }
    }
    .await;
    match outcome {
        Ok(query) => Json(query).into_response(),
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}

fn links(dataset: &str, id: &str) -> Value {
    json!({
        "query_url": format!("/query?dataset={dataset}&result_id={id}"),
        "graph_image_url": Value::Null,
    })
}

async fn run_result(
    state: &AppState,
    environment: &str,
    dataset: &str,
    request: &CreateResult,
) -> Result<StoredResult, Failure> {
    let (saved, spec) = saved_query(state, environment, &request.query_id)
        .await?
        .filter(|(saved, _)| saved == dataset)
        .ok_or_else(|| {
            HoneycombError::invalid("query_id", "Query ID included in body is invalid")
        })?;
    let limit = match (request.disable_series, request.limit) {
        (true, Some(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        (true, Some(_)) => {
            return Err(HoneycombError::invalid("limit", "must be between 1 and 10000").into())
        }
        _ => usize::try_from(spec.limit.unwrap_or(SERIES_LIMIT as u64))
            .unwrap_or(SERIES_LIMIT)
            .min(if request.disable_series {
                MAX_LIMIT
            } else {
                SERIES_LIMIT
            }),
    };
    let mut validated = spec.validate()?;
    let window = Window::of(&spec, now_seconds(), true)?;
    let services = services_of(state, environment, &saved).await?;
    let key = super::datasets::settings_key(&saved);
    validated.saved_fields = super::settings::saved_fields(state, environment, &key).await?;
    let markers =
        super::settings::markers_for(state, environment, &key, window.start, window.end).await?;
    let storage = state.storage()?;
    let include = Include {
        series: !request.disable_series,
        total: !request.disable_total_by_aggregate,
        other: !request.disable_other_by_aggregate,
        limit,
    };
    let data = run(
        &state.sql,
        storage.as_ref(),
        environment,
        validated,
        window,
        services,
        include,
    )
    .await?;
    Ok(StoredResult {
        dataset: saved,
        query_id: request.query_id.clone(),
        query: spec,
        data,
        markers,
        finished: SystemTime::now(),
    })
}

/// `POST /1/query_results/{dataset}`.
pub(super) async fn create_result(
    State(state): State<Arc<AppState>>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let outcome = async {
        let environment = environment(&state, &headers, Access::Read)?;
        let request: CreateResult = body(&bytes)?;
        let result = run_result(&state, &environment, &dataset, &request).await?;
        let query = query_json(&result.query, &result.query_id);
        let id = state.honeycomb.save_result(&environment, result);
        Ok::<_, Failure>((id, query))
    }
    .await;
    match outcome {
        Ok((id, query)) => {
            let location = format!("/1/query_results/{dataset}/{id}");
            let body =
                json!({"id": id, "complete": false, "query": query, "links": links(&dataset, &id)});
            let mut response = (StatusCode::CREATED, Json(body)).into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}

/// `GET /1/query_results/{dataset}/{id}`.
pub(super) async fn get_result(
    State(state): State<Arc<AppState>>,
    Path((dataset, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let outcome = (|| {
        let environment = environment(&state, &headers, Access::Read)?;
        match state.honeycomb.result(&environment, &id) {
            Some(result) if result.dataset == dataset => Ok(result),
            _ => Err(Failure::from(HoneycombError::NotFound(
                "query result not found".into(),
            ))),
        }
    })();
    match outcome {
        Ok(result) => {
            let body = json!({
                "id": id,
                "complete": true,
                "query": query_json(&result.query, &result.query_id),
                "data": result.data,
                "markers": result.markers,
                "links": links(&dataset, &id),
            });
            let mut response = Json(body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400"),
            );
            let modified = httpdate::fmt_http_date(result.finished);
            if let Ok(value) = HeaderValue::from_str(&modified) {
                headers.insert(header::LAST_MODIFIED, value);
            }
            response
        }
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}
