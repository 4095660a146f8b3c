//! The OTLP/HTTP receiver: `POST /v1/traces` (also `/v1/traces/` and `/`), and accept-and-drop
//! answers for `/v1/metrics` and `/v1/logs` so auto-instrumented apps do not log errors.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use combray_ingest::body::{decompress_within, ContentEncoding, ContentType};
use combray_ingest::otlp::{encode_response, normalize_http_body, response_for, Normalized};
use combray_ingest::IngestError;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::ApiError;
use crate::admission::Admitted;
use crate::keys::{Access, KEY_HEADER};
use crate::panics::joined;
use crate::state::{now_unix_nano, AppState};

/// Bodies larger than this are decoded on the blocking pool so they cannot stall the reactor.
const INLINE_DECODE_BYTES: usize = 256 * 1024;
/// Reservation for a body whose length is not announced.
const UNKNOWN_LENGTH_RESERVATION: usize = 64 * 1024;
/// Decoded spans take roughly this many times their protobuf size in memory.
const DECODED_EXPANSION: usize = 3;

fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn content_type_of(headers: &HeaderMap) -> Result<ContentType, ApiError> {
    let text = header_text(headers, header::CONTENT_TYPE).unwrap_or("");
    Ok(ContentType::parse(text)?)
}

/// `POST /v1/traces`.
pub(super) async fn export_traces(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = content_type_of(&headers).ok();
    match receive(&state, &headers, body).await {
        Ok(response) => response,
        Err(error) => {
            state.metrics.request_rejected(error.rejection());
            error.otlp_response(content_type, state.retry_after_seconds)
        }
    }
}

async fn receive(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let content_type = content_type_of(headers)?;
    let encoding = ContentEncoding::parse(header_text(headers, header::CONTENT_ENCODING))?;
    let environment = state
        .keys
        .authorize(header_text(headers, KEY_HEADER), Access::Ingest)?;
    state.storage()?;
    let limit = state.max_body_bytes;
    let announced =
        header_text(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|length| length > limit) {
        return Err(IngestError::TooLarge { limit }.into());
    }
    let reserved = announced.unwrap_or(UNKNOWN_LENGTH_RESERVATION);
    let mut admitted = state
        .admission
        .try_admit(reserved)
        .ok_or(ApiError::Overloaded)?;
    let raw = read_body(body, limit).await?;
    if raw.len() > reserved
        && !state
            .admission
            .try_grow(&mut admitted, raw.len() - reserved)
    {
        return Err(ApiError::Overloaded);
    }
    let (normalized, admitted) =
        decode(state, admitted, content_type, encoding, raw, environment).await?;
    state.commit(&normalized).await?;
    drop(admitted);
    let body = encode_response(content_type, &response_for(&normalized));
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type.header_value()),
        )],
        body,
    )
        .into_response())
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(IngestError::TooLarge { limit }.into())
        }
        Err(error) => Err(IngestError::Decode {
            format: "HTTP",
            reason: format!("cannot read the request body: {error}"),
        }
        .into()),
    }
}

/// Decompresses (on the blocking pool past a small size) and decodes a body. The decompressed
/// bytes are taken from the ingest budget step by step, before they are allocated, and the
/// decoded spans' share once their size is known; `admitted` holds all of it.
async fn decode(
    state: &AppState,
    admitted: Admitted,
    content_type: ContentType,
    encoding: ContentEncoding,
    raw: bytes::Bytes,
    environment: String,
) -> Result<(Normalized, Admitted), ApiError> {
    let limit = state.max_body_bytes;
    let received = raw.len();
    let admission = state.admission.clone();
    let mut admitted = admitted;
    let decompressed = if raw.len() > INLINE_DECODE_BYTES || encoding != ContentEncoding::Identity {
        let (decompressed, returned) = joined(
            tokio::task::spawn_blocking(move || {
                let mut reserve = |bytes| admission.try_grow(&mut admitted, bytes);
                let decompressed = decompress_within(encoding, &raw, limit, &mut reserve);
                (decompressed, admitted)
            })
            .await,
        )?;
        admitted = returned;
        decompressed?
    } else {
        let mut reserve = |bytes| admission.try_grow(&mut admitted, bytes);
        decompress_within(encoding, &raw, limit, &mut reserve)?
    };
    // The decompressed bytes are held already; the decoded spans take the rest of their share.
    if !state
        .admission
        .try_grow(&mut admitted, decompressed.len() * (DECODED_EXPANSION - 1))
    {
        return Err(ApiError::Overloaded);
    }
    state.metrics.bytes_in(received, decompressed.len());
    let now = now_unix_nano();
    let normalized = if decompressed.len() > INLINE_DECODE_BYTES {
        joined(
            tokio::task::spawn_blocking(move || {
                normalize_http_body(content_type, &decompressed, &environment, now)
            })
            .await,
        )??
    } else {
        normalize_http_body(content_type, &decompressed, &environment, now)?
    };
    Ok((normalized, admitted))
}

/// `POST /v1/metrics` and `POST /v1/logs`: accepted and dropped.
pub(super) async fn accept_and_drop(headers: HeaderMap) -> Response {
    match content_type_of(&headers) {
        Ok(content_type) => {
            let body: &'static [u8] = match content_type {
                ContentType::Protobuf => b"",
                ContentType::Json => b"{}",
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, content_type.header_value())],
                body,
            )
                .into_response()
        }
        Err(error) => error.otlp_response(None, 1),
    }
}
