//! `GET /1/auth`, `/1/datasets` and `/1/columns/{dataset}`.
//!
//! Honeycomb's datasets are an environment's services: each service that sent spans is a
//! dataset, its slug the name lower-cased with runs of other characters as `-`, and `__all__`
//! spans them all.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use combray_honeycomb::columns::Catalog;
use combray_honeycomb::settings::DatasetRecord;
use combray_honeycomb::usage::column_usage;
use combray_honeycomb::HoneycombError;
use combray_query::sql::TABLE;
use combray_storage::scan::Columns;
use serde_json::{json, Value};

use super::reply::{environment, Failure};
use crate::keys::{Access, KeyKind, KEY_HEADER};
use crate::state::AppState;

/// The dataset every query may name to mean every service.
pub(super) const ALL: &str = "__all__";

/// A dataset's slug: lower case, every run of characters other than letters and digits a `-`.
pub(super) fn slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug
}

/// The services a dataset names (none for `__all__`: no restriction). Honeycomb's dataset
/// names are case-insensitive. A dataset created through the API that no service has sent to
/// yet names no service; a name or slug that matches neither is 404.
pub(super) async fn services_of(
    state: &AppState,
    environment: &str,
    dataset: &str,
) -> Result<Option<Vec<String>>, Failure> {
    if dataset == ALL {
        return Ok(None);
    }
    let storage = state.storage()?;
    let wanted = dataset.to_lowercase();
    let services: Vec<String> = combray_query::catalog::services(storage.as_ref(), environment)
        .into_iter()
        .filter(|s| s.to_lowercase() == wanted || slug(s) == wanted)
        .collect();
    if !services.is_empty() {
        return Ok(Some(services));
    }
    let wanted = slug(dataset);
    let created = state
        .honeycomb_settings
        .read(environment, |d| {
            Ok(d.datasets.iter().any(|r| r.slug == wanted))
        })
        .await?;
    if created {
        return Ok(Some(Vec::new()));
    }
    Err(HoneycombError::NotFound("dataset not found".into()).into())
}

/// The key a dataset's settings are kept under: its slug, or `__all__`; 404 for a dataset
/// that does not exist.
pub(super) async fn dataset_key(
    state: &AppState,
    environment: &str,
    dataset: &str,
) -> Result<String, Failure> {
    services_of(state, environment, dataset).await?;
    Ok(settings_key(dataset))
}

/// The key the settings of a dataset already found are kept under: its slug, or `__all__`.
pub(super) fn settings_key(dataset: &str) -> String {
    if dataset == ALL {
        ALL.to_owned()
    } else {
        slug(dataset)
    }
}

/// The columns of the environment's spans.
pub(super) async fn catalog(state: &AppState, environment: &str) -> Result<Catalog, Failure> {
    let storage = state.storage()?;
    Ok(state
        .sql
        .with_session(
            storage.as_ref(),
            environment,
            Columns::WithSpanLists,
            |context| async move {
                let table = context.table_provider(TABLE).await?;
                Ok(Catalog::of(&table.schema()))
            },
        )
        .await?)
}

fn dataset_json(name: &str, record: Option<&DatasetRecord>) -> Value {
    json!({
        "name": record.map_or(name, |r| r.name.as_str()),
        "slug": slug(name),
        "description": record.map_or("", |r| r.description.as_str()),
        "settings": {"delete_protected": false},
        "expand_json_depth": record.map_or(0, |r| r.expand_json_depth),
        "regular_columns_count": Value::Null,
        "last_written_at": Value::Null,
        "created_at": record.map_or(Value::Null, |r| json!(r.created_at)),
    })
}

/// A created dataset as the API answers it.
pub(super) fn record_json(record: &DatasetRecord) -> Value {
    dataset_json(&record.name, Some(record))
}

/// Every dataset: each service, and each dataset created through the API.
async fn all_datasets(state: &AppState, environment: &str) -> Result<Vec<Value>, Failure> {
    let storage = state.storage()?;
    let services = combray_query::catalog::services(storage.as_ref(), environment);
    let records = state
        .honeycomb_settings
        .read(environment, |d| Ok(d.datasets.clone()))
        .await?;
    let mut list: Vec<(String, Value)> = services
        .iter()
        .map(|s| {
            let record = records.iter().find(|r| r.slug == slug(s));
            (slug(s), dataset_json(s, record))
        })
        .collect();
    for record in &records {
        if !list.iter().any(|(s, _)| *s == record.slug) {
            list.push((
                record.slug.clone(),
                dataset_json(&record.name, Some(record)),
            ));
        }
    }
    list.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(list.into_iter().map(|(_, v)| v).collect())
}

/// `GET /1/datasets`.
pub(super) async fn list_datasets(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let environment = environment(&state, &headers, Access::Read)?;
        all_datasets(&state, &environment).await
    }
    .await;
    match outcome {
        Ok(list) => Json(list).into_response(),
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}

/// `GET /1/datasets/{slug}`.
pub(super) async fn get_dataset(
    State(state): State<Arc<AppState>>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let environment = environment(&state, &headers, Access::Read)?;
        let wanted = slug(&dataset);
        let found = all_datasets(&state, &environment)
            .await?
            .into_iter()
            .find(|d| d["slug"] == json!(wanted) && dataset != ALL);
        found.ok_or_else(|| Failure::from(HoneycombError::NotFound("dataset not found".into())))
    }
    .await;
    match outcome {
        Ok(dataset) => Json(dataset).into_response(),
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}

/// `GET /1/columns/{dataset}`: every column the dataset's events have, with its type and the
/// time it was last written.
pub(super) async fn list_columns(
    State(state): State<Arc<AppState>>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let environment = environment(&state, &headers, Access::Read)?;
        let services = services_of(&state, &environment, &dataset).await?;
        let storage = state.storage()?;
        let usage = column_usage(&state.sql, storage.as_ref(), &environment, services).await?;
        let columns: Vec<Value> = usage
            .into_iter()
            .map(|column| {
                let written = rfc3339_nanos(column.last_written_unix_nano);
                json!({
                    "id": super::store::column_id(&column.name),
                    "key_name": column.name,
                    "type": column.kind.name(),
                    "description": "",
                    "hidden": false,
                    "last_written": written,
                    "created_at": Value::Null,
                    "updated_at": Value::Null,
                })
            })
            .collect();
        Ok::<_, Failure>(columns)
    }
    .await;
    match outcome {
        Ok(columns) => Json(columns).into_response(),
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}

/// Unix nanoseconds as RFC 3339, to the second.
fn rfc3339_nanos(nanos: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// `GET /1/auth`: who the key is. An ingest key may only send events (and create datasets, as
/// sending to a new service does); a configuration key may do everything this API offers.
pub(super) async fn auth(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let key = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok());
    match state.keys.describe(key) {
        Ok(identity) => {
            let ingest = identity.kind == Some(KeyKind::Ingest);
            let access = if ingest {
                json!({"createDatasets": true})
            } else {
                json!({
                    "events": true, "markers": true, "triggers": false, "boards": false,
                    "queries": true, "columns": true, "createDatasets": true, "slos": false,
                    "recipients": false, "privateBoards": false,
                })
            };
            let environment = &identity.environment;
            Json(json!({
                "id": identity.id.unwrap_or_default(),
                "type": if ingest { "ingest" } else { "configuration" },
                "api_key_access": access,
                "environment": {"name": environment, "slug": slug(environment)},
                "team": {"name": "Combray", "slug": "combray"},
            }))
            .into_response()
        }
        Err(error) => Failure::from(error).response(state.retry_after_seconds),
    }
}
