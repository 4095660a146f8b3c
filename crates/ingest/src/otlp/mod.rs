//! OTLP trace requests: decoding, normalization into the span model, and responses.

mod convert;

use combray_model::{Protocol, SpanBatch};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use crate::body::ContentType;
use crate::IngestError;

pub use convert::to_span_batch;

/// The outcome of normalizing one export request.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The valid spans.
    pub batch: SpanBatch,
    /// How many spans were invalid and left out.
    pub rejected_spans: u64,
    /// Why, in words fit for `partial_success.error_message`; empty when nothing was rejected.
    pub rejection_reason: String,
}

/// Decodes an export request body in the given serialization.
pub fn decode_request(
    content_type: ContentType,
    body: &[u8],
) -> Result<ExportTraceServiceRequest, IngestError> {
    match content_type {
        ContentType::Protobuf => {
            ExportTraceServiceRequest::decode(body).map_err(|error| IngestError::Decode {
                format: "protobuf",
                reason: error.to_string(),
            })
        }
        ContentType::Json => serde_json::from_slice(body).map_err(|error| IngestError::Decode {
            format: "JSON",
            reason: error.to_string(),
        }),
    }
}

/// Decodes and normalizes an OTLP/HTTP body in one step.
pub fn normalize_http_body(
    content_type: ContentType,
    body: &[u8],
    environment: &str,
    received_unix_nano: u64,
) -> Result<Normalized, IngestError> {
    let request = decode_request(content_type, body)?;
    let protocol = match content_type {
        ContentType::Protobuf => Protocol::OtlpHttpProtobuf,
        ContentType::Json => Protocol::OtlpHttpJson,
    };
    Ok(to_span_batch(
        request,
        environment,
        protocol,
        received_unix_nano,
    ))
}

/// The `ExportTraceServiceResponse` for a normalized request: `partial_success` is set only when
/// spans were rejected, as the specification requires.
pub fn response_for(normalized: &Normalized) -> ExportTraceServiceResponse {
    let partial_success = (normalized.rejected_spans > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: i64::try_from(normalized.rejected_spans).unwrap_or(i64::MAX),
        error_message: normalized.rejection_reason.clone(),
    });
    ExportTraceServiceResponse { partial_success }
}

/// Encodes a response in the serialization the request used.
pub fn encode_response(
    content_type: ContentType,
    response: &ExportTraceServiceResponse,
) -> Vec<u8> {
    match content_type {
        ContentType::Protobuf => response.encode_to_vec(),
        ContentType::Json => serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

#[cfg(test)]
mod tests;
