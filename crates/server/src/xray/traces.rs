//! Trace data operations: PutTraceSegments and PutTelemetryRecords (the daemon's two calls).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use combray_ingest::xray::parse_document;
use combray_xray::XRayError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ingest::{ingest_acknowledged, XRayCounters};
use super::reply::{answer, parse, XRayCaller};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutSegmentsInput {
    trace_segment_documents: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Unprocessed {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    error_code: &'static str,
    message: String,
}

/// PutTraceSegments: invalid documents are listed in `UnprocessedTraceSegments` and the rest
/// are stored; the answer comes once they are durable (in the WAL, or in the held journal
/// while they wait in the assembler).
pub(super) async fn put_trace_segments(
    State(state): State<Arc<AppState>>,
    caller: XRayCaller,
    body: Bytes,
) -> Response {
    let result = async {
        if state.is_closing() {
            // The assembler's final drain has run: a document taken now would wait in it
            // with nobody left to store it.
            return Err(XRayError::Unavailable(
                "Combray is shutting down; send the segments again once it is back".into(),
            ));
        }
        let input: PutSegmentsInput = parse(&body)?;
        let documents = input
            .trace_segment_documents
            .ok_or_else(|| XRayError::invalid("TraceSegmentDocuments is required"))?;
        let mut valid = Vec::with_capacity(documents.len());
        let mut unprocessed = Vec::new();
        for text in documents {
            match parse_document(&text) {
                Ok(document) => valid.push((document, text)),
                Err(error) => unprocessed.push(Unprocessed {
                    id: error.id,
                    error_code: error.code,
                    message: error.message,
                }),
            }
        }
        let counters = &state.xray.counters;
        XRayCounters::bump(&counters.documents_rejected, unprocessed.len() as u64);
        ingest_acknowledged(&state, &caller.environment, valid)
            .await
            .map_err(super::reply::from_api_error)?;
        Ok(json!({ "UnprocessedTraceSegments": unprocessed }))
    }
    .await;
    answer(result, state.retry_after_seconds)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TelemetryInput {
    telemetry_records: Option<Vec<serde_json::Value>>,
}

/// PutTelemetryRecords: daemons report their own counters; Combray counts the records.
pub(super) async fn put_telemetry_records(
    State(state): State<Arc<AppState>>,
    _caller: XRayCaller,
    body: Bytes,
) -> Response {
    let result = parse::<TelemetryInput>(&body).and_then(|input| {
        let records = input
            .telemetry_records
            .ok_or_else(|| XRayError::invalid("TelemetryRecords is required"))?;
        if let Some(index) = records
            .iter()
            .position(|r| r.get("Timestamp").is_none_or(|t| t.is_null()))
        {
            return Err(XRayError::invalid(format!(
                "TelemetryRecords[{index}] has no Timestamp"
            )));
        }
        XRayCounters::bump(&state.xray.counters.telemetry_records, records.len() as u64);
        Ok(json!({}))
    });
    answer(result, state.retry_after_seconds)
}
