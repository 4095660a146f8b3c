//! Honeycomb's Events API on the API port: `POST /1/batch/{dataset}` (libhoney's only call) and
//! `POST /1/events/{dataset}`. Bodies are JSON or msgpack, plain, gzip or zstd; each event becomes a span
//! (`combray_ingest::honeycomb`) and is in the WAL before the answer, as OTLP spans are.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use combray_ingest::body::{decompress_within, ContentEncoding};
use combray_ingest::honeycomb::{
    decode_batch, decode_event, parse_sample_rate, parse_time, BodyFormat, Defaults,
};
use combray_ingest::otlp::Normalized;
use combray_ingest::IngestError;
use serde_json::{json, Value};

use super::reply::Failure;
use crate::http::error::ApiError;
use crate::keys::{Access, KEY_HEADER};
use crate::state::{now_unix_nano, AppState};

/// Decoded events take about this many times their JSON size in memory.
const DECODED_EXPANSION: usize = 3;

/// JSON, or msgpack when the body says so (libhoney-go).
fn format_of(headers: &HeaderMap) -> BodyFormat {
    BodyFormat::of_content_type(header_text(headers, header::CONTENT_TYPE.as_str()))
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The body, decompressed within the ingest budget, and what the headers say of its events.
async fn read(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, Vec<u8>, crate::admission::Admitted, u64, u32), Failure> {
    let environment = state
        .keys
        .authorize(header_text(headers, KEY_HEADER), Access::Ingest)?;
    let encoding = ContentEncoding::parse(header_text(headers, header::CONTENT_ENCODING.as_str()))
        .map_err(ApiError::from)?;
    state.storage()?;
    let limit = state.max_body_bytes;
    let raw: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::from(IngestError::TooLarge { limit }))?;
    if raw.is_empty() {
        return Err(ApiError::from(IngestError::Decode {
            format: "Honeycomb events",
            reason: "Request body should not be empty.".into(),
        })
        .into());
    }
    let mut admitted = state
        .admission
        .try_admit(raw.len())
        .ok_or(ApiError::Overloaded)?;
    let admission = state.admission.clone();
    let mut reserve = |bytes| admission.try_grow(&mut admitted, bytes);
    let decompressed =
        decompress_within(encoding, &raw, limit, &mut reserve).map_err(ApiError::from)?;
    if !state
        .admission
        .try_grow(&mut admitted, decompressed.len() * DECODED_EXPANSION)
    {
        return Err(ApiError::Overloaded.into());
    }
    state.metrics.bytes_in(raw.len(), decompressed.len());
    let time = header_text(headers, "x-honeycomb-event-time")
        .and_then(|t| parse_time(&Value::from(t)))
        .unwrap_or_else(now_unix_nano);
    let rate = header_text(headers, "x-honeycomb-samplerate")
        .and_then(|r| parse_sample_rate(&Value::from(r)))
        .unwrap_or(1);
    Ok((environment, decompressed, admitted, time, rate))
}

async fn commit(state: &AppState, normalized: &Normalized) -> Result<(), Failure> {
    if normalized.batch.span_count() > 0 {
        state.commit(normalized).await?;
    }
    Ok(())
}

/// `POST /1/batch/{dataset}`: `[{"status": 202} | {"status": 400, "error": "…"}]`, one per
/// event, in order.
pub(super) async fn batch(
    State(state): State<Arc<AppState>>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let outcome = async {
        let (environment, bytes, admitted, time, rate) = read(&state, &headers, body).await?;
        let defaults = Defaults {
            dataset: &dataset,
            time_unix_nano: time,
            sample_rate: rate,
        };
        let (batch, outcomes) = decode_batch(
            &bytes,
            format_of(&headers),
            &environment,
            &defaults,
            now_unix_nano(),
        )
        .map_err(ApiError::from)?;
        let failed = outcomes.iter().filter(|o| o.is_err()).count() as u64;
        let normalized = Normalized {
            batch,
            rejected_spans: failed,
            rejection_reason: outcomes
                .iter()
                .find_map(|o| o.clone().err())
                .unwrap_or_default(),
        };
        commit(&state, &normalized).await?;
        drop(admitted);
        let statuses: Vec<Value> = outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Ok(()) => json!({"status": 202}),
                Err(error) => json!({"status": 400, "error": error}),
            })
            .collect();
        Ok::<_, Failure>(statuses)
    }
    .await;
    match outcome {
        Ok(statuses) => Json(statuses).into_response(),
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}

/// `POST /1/events/{dataset}`: 200 with an empty body.
pub(super) async fn event(
    State(state): State<Arc<AppState>>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let outcome = async {
        let (environment, bytes, admitted, time, rate) = read(&state, &headers, body).await?;
        let defaults = Defaults {
            dataset: &dataset,
            time_unix_nano: time,
            sample_rate: rate,
        };
        let batch = decode_event(
            &bytes,
            format_of(&headers),
            &environment,
            &defaults,
            now_unix_nano(),
        )
        .map_err(ApiError::from)?;
        let normalized = Normalized {
            batch,
            rejected_spans: 0,
            rejection_reason: String::new(),
        };
        commit(&state, &normalized).await?;
        drop(admitted);
        Ok::<_, Failure>(())
    }
    .await;
    match outcome {
        Ok(()) => StatusCode::OK.into_response(),
        Err(failure) => failure.response(state.retry_after_seconds),
    }
}
