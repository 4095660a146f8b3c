//! `/1/derived_columns/{dataset}`, `/1/markers/{dataset}`, `/1/marker_settings/{dataset}` and
//! `POST /1/datasets`: thin translations onto `combray_honeycomb::settings`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use combray_honeycomb::settings::{DerivedColumnInput, Document, MarkerInput, MarkerSettingInput};
use combray_honeycomb::{HoneycombError, HoneycombResult};
use serde::Deserialize;
use serde_json::Value;

use super::datasets::{catalog, dataset_key};
use super::reply::{body, environment, Failure};
use crate::keys::Access;
use crate::state::AppState;

type Outcome = Result<(StatusCode, Value), Failure>;

fn respond(state: &AppState, outcome: Outcome) -> Response {
    match outcome {
        Ok((StatusCode::NO_CONTENT, _)) => StatusCode::NO_CONTENT.into_response(),
        Ok((status, value)) => (status, Json(value)).into_response(),
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}

fn now_seconds() -> i64 {
    (crate::state::now_unix_nano() / 1_000_000_000) as i64
}

/// Reads the caller's settings.
async fn read<T>(
    state: &AppState,
    environment: &str,
    read: impl FnOnce(&Document) -> HoneycombResult<T>,
) -> Result<T, Failure> {
    Ok(state.honeycomb_settings.read(environment, read).await?)
}

/// Changes the caller's settings.
async fn change<T>(
    state: &AppState,
    environment: &str,
    change: impl FnOnce(&mut Document) -> HoneycombResult<T>,
) -> Result<T, Failure> {
    Ok(state.honeycomb_settings.change(environment, change).await?)
}

/// A function that compiles an expression against the environment's columns and the
/// calculated fields `dataset` can already use.
async fn expression_check(
    state: &AppState,
    environment: &str,
    dataset: &str,
) -> Result<impl Fn(&str) -> Result<(), String>, Failure> {
    let saved = read(state, environment, |d| Ok(d.usable_fields(dataset))).await?;
    let mut catalog = catalog(state, environment).await?;
    catalog.define_saved(&saved)?;
    Ok(move |expression: &str| catalog.check(expression))
}

#[derive(Deserialize)]
pub(super) struct AliasQuery {
    alias: Option<String>,
}

/// `GET /1/derived_columns/{dataset}`, or one field with `?alias=`.
pub(super) async fn list_derived(
    State(state): State<Arc<AppState>>,
    Path(dataset): Path<String>,
    Query(query): Query<AliasQuery>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let env = environment(&state, &headers, Access::Read)?;
        let key = dataset_key(&state, &env, &dataset).await?;
        let fields = read(&state, &env, |d| {
            Ok(d.derived_columns_of(&key)
                .into_iter()
                .map(|c| (c.alias.clone(), c.to_api()))
                .collect::<Vec<_>>())
        })
        .await?;
        match query.alias {
            Some(alias) => fields
                .into_iter()
                .find(|(a, _)| *a == alias)
                .map(|(_, v)| (StatusCode::OK, v))
                .ok_or_else(|| {
                    HoneycombError::NotFound("calculated field not found".into()).into()
                }),
            None => Ok((
                StatusCode::OK,
                Value::Array(fields.into_iter().map(|(_, v)| v).collect()),
            )),
        }
    }
    .await;
    respond(&state, outcome)
}

/// `GET /1/derived_columns/{dataset}/{id}`.
pub(super) async fn get_derived(
    State(state): State<Arc<AppState>>,
    Path((dataset, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let env = environment(&state, &headers, Access::Read)?;
        let key = dataset_key(&state, &env, &dataset).await?;
        let field = read(&state, &env, |d| {
            d.derived_columns_of(&key)
                .into_iter()
                .find(|c| c.id == id)
                .map(|c| c.to_api())
                .ok_or_else(|| HoneycombError::NotFound("calculated field not found".into()))
        })
        .await?;
        Ok((StatusCode::OK, field))
    }
    .await;
    respond(&state, outcome)
}

/// `POST /1/derived_columns/{dataset}` (201) and `PUT …/{id}` (200).
pub(super) async fn save_derived(
    State(state): State<Arc<AppState>>,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let outcome = async {
        let env = environment(&state, &headers, Access::Read)?;
        let key = dataset_key(&state, &env, &path["dataset"]).await?;
        let input: DerivedColumnInput = body(&bytes)?;
        let check = expression_check(&state, &env, &key).await?;
        let (status, saved) = match path.get("id") {
            None => (
                StatusCode::CREATED,
                change(&state, &env, |d| d.create_derived(&key, input, &check)).await?,
            ),
            Some(id) => (
                StatusCode::OK,
                change(&state, &env, |d| d.update_derived(&key, id, input, &check)).await?,
            ),
        };
        Ok((status, saved.to_api()))
    }
    .await;
    respond(&state, outcome)
}

/// `DELETE /1/derived_columns/{dataset}/{id}`: 204.
pub(super) async fn delete_derived(
    State(state): State<Arc<AppState>>,
    Path((dataset, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let env = environment(&state, &headers, Access::Read)?;
        let key = dataset_key(&state, &env, &dataset).await?;
        change(&state, &env, |d| d.delete_derived(&key, &id)).await?;
        Ok((StatusCode::NO_CONTENT, Value::Null))
    }
    .await;
    respond(&state, outcome)
}

/// `GET /1/markers/{dataset}`.
pub(super) async fn list_markers(
    State(state): State<Arc<AppState>>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let env = environment(&state, &headers, Access::Read)?;
        let key = dataset_key(&state, &env, &dataset).await?;
        let list = read(&state, &env, |d| {
            Ok(d.markers_of(&key)
                .into_iter()
                .map(|m| d.marker_json(m))
                .collect::<Vec<_>>())
        })
        .await?;
        Ok((StatusCode::OK, Value::Array(list)))
    }
    .await;
    respond(&state, outcome)
}

/// `POST /1/markers/{dataset}` (201), `PUT …/{id}` (200, omitted fields erased) and
/// `DELETE …/{id}` (200 with the marker).
pub(super) async fn change_marker(
    State(state): State<Arc<AppState>>,
    Path(path): Path<HashMap<String, String>>,
    method: axum::http::Method,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let outcome = async {
        let env = environment(&state, &headers, Access::Read)?;
        let key = dataset_key(&state, &env, &path["dataset"]).await?;
        let now = now_seconds();
        let (status, marker) = match (path.get("id"), method) {
            (None, _) => {
                let input: MarkerInput = body(&bytes)?;
                (
                    StatusCode::CREATED,
                    change(&state, &env, |d| d.create_marker(&key, input, now)).await?,
                )
            }
            (Some(id), axum::http::Method::PUT) => {
                let input: MarkerInput = body(&bytes)?;
                (
                    StatusCode::OK,
                    change(&state, &env, |d| d.update_marker(&key, id, input, now)).await?,
                )
            }
            (Some(id), _) => (
                StatusCode::OK,
                change(&state, &env, |d| d.delete_marker(&key, id)).await?,
            ),
        };
        let value = read(&state, &env, |d| Ok(d.marker_json(&marker))).await?;
        Ok((status, value))
    }
    .await;
    respond(&state, outcome)
}

/// `GET /1/marker_settings/{dataset}` and `GET …/{id}`.
pub(super) async fn get_marker_settings(
    State(state): State<Arc<AppState>>,
    Path(path): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let env = environment(&state, &headers, Access::Read)?;
        let key = dataset_key(&state, &env, &path["dataset"]).await?;
        let value = read(&state, &env, |d| match path.get("id") {
            Some(id) => Ok(d.marker_setting(&key, id)?.to_api()),
            None => Ok(Value::Array(
                d.marker_settings_of(&key)
                    .into_iter()
                    .map(|s| s.to_api())
                    .collect(),
            )),
        })
        .await?;
        Ok((StatusCode::OK, value))
    }
    .await;
    respond(&state, outcome)
}

/// `POST /1/marker_settings/{dataset}` (201), `PUT …/{id}` and `DELETE …/{id}` (200 with it).
pub(super) async fn change_marker_setting(
    State(state): State<Arc<AppState>>,
    Path(path): Path<HashMap<String, String>>,
    method: axum::http::Method,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let outcome = async {
        let env = environment(&state, &headers, Access::Read)?;
        let key = dataset_key(&state, &env, &path["dataset"]).await?;
        let (status, setting) = match (path.get("id"), method) {
            (None, _) => {
                let input: MarkerSettingInput = body(&bytes)?;
                (
                    StatusCode::CREATED,
                    change(&state, &env, |d| d.create_marker_setting(&key, input)).await?,
                )
            }
            (Some(id), axum::http::Method::PUT) => {
                let input: MarkerSettingInput = body(&bytes)?;
                (
                    StatusCode::OK,
                    change(&state, &env, |d| d.update_marker_setting(&key, id, input)).await?,
                )
            }
            (Some(id), _) => (
                StatusCode::OK,
                change(&state, &env, |d| d.delete_marker_setting(&key, id)).await?,
            ),
        };
        Ok((status, setting.to_api()))
    }
    .await;
    respond(&state, outcome)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewDataset {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expand_json_depth: u8,
}

/// `POST /1/datasets`: 201 with a new dataset, 200 with the one that exists.
pub(super) async fn create_dataset(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let outcome = async {
        let env = environment(&state, &headers, Access::Ingest)?;
        let input: NewDataset = body(&bytes)?;
        let slug = super::datasets::slug(&input.name);
        if slug == super::datasets::ALL
            || slug.trim_matches('-').is_empty() && !input.name.is_empty()
        {
            return Err(HoneycombError::invalid("name", "is not a name a dataset can have").into());
        }
        let existing = super::datasets::services_of(&state, &env, &input.name)
            .await
            .ok()
            .flatten();
        let (record, created) = change(&state, &env, |d| {
            d.create_dataset(
                &input.name,
                &input.description,
                input.expand_json_depth,
                slug,
            )
        })
        .await?;
        let status = if created && existing.is_none() {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((status, super::datasets::record_json(&record)))
    }
    .await;
    respond(&state, outcome)
}

/// The markers a result over `[start, end)` of `dataset` draws, as the API answers markers.
pub(super) async fn markers_for(
    state: &AppState,
    environment: &str,
    dataset: &str,
    start: i64,
    end: i64,
) -> Result<Vec<Value>, Failure> {
    read(state, environment, |d| {
        Ok(d.markers_in(dataset, start, end)
            .into_iter()
            .map(|m| d.marker_json(m))
            .collect())
    })
    .await
}

/// The calculated fields a query of `dataset` may use by name.
pub(super) async fn saved_fields(
    state: &AppState,
    environment: &str,
    dataset: &str,
) -> Result<Vec<combray_honeycomb::spec::NamedExpression>, Failure> {
    read(state, environment, |d| Ok(d.usable_fields(dataset))).await
}
