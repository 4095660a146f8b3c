//! The OTLP/gRPC receiver (`TraceService/Export`), behind its doorstep ([`admit`]).

mod admit;

use std::sync::Arc;

use combray_ingest::otlp::{response_for, to_span_batch};
use combray_model::Protocol;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use self::admit::Admit;
use crate::http::error::ApiError;
use crate::panics::{caught, joined};
use crate::state::{now_unix_nano, AppState};

const INLINE_CONVERT_BYTES: usize = 256 * 1024;

/// The gRPC trace service.
pub(crate) struct OtlpGrpc {
    state: Arc<AppState>,
}

/// The environment the doorstep ([`admit`]) authorized the request for.
#[derive(Clone)]
struct Authorized(String);

impl OtlpGrpc {
    /// The tonic service behind its doorstep (the key check and the budgeted read), answering
    /// gzip-compressed when the client accepts it, with the body cap applied.
    pub(crate) fn service(state: Arc<AppState>) -> Admit<TraceServiceServer<Self>> {
        let limit = state.max_body_bytes;
        let server = TraceServiceServer::new(Self {
            state: Arc::clone(&state),
        })
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
        Admit::new(server, state)
    }

    async fn receive(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<ExportTraceServiceResponse, ApiError> {
        let state = &self.state;
        let Some(Authorized(environment)) = request.extensions().get::<Authorized>().cloned()
        else {
            return Err(ApiError::Internal("the request passed no key check".into()));
        };
        // The doorstep holds the message's memory until this answers.
        let message = request.into_inner();
        let size = message.encoded_len();
        state.metrics.bytes_in(size, size);
        let now = now_unix_nano();
        let normalized = if size > INLINE_CONVERT_BYTES {
            joined(
                tokio::task::spawn_blocking(move || {
                    to_span_batch(message, &environment, Protocol::OtlpGrpc, now)
                })
                .await,
            )?
        } else {
            to_span_batch(message, &environment, Protocol::OtlpGrpc, now)
        };
        state.commit(&normalized).await?;
        Ok(response_for(&normalized))
    }
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        match caught(&self.state, self.receive(request)).await {
            Ok(response) => Ok(Response::new(response)),
            Err(error) => {
                self.state.metrics.request_rejected(error.rejection());
                Err(error.grpc_status())
            }
        }
    }
}

/// tonic rejects an oversized message with OUT_OF_RANGE and an undecodable one with INTERNAL,
/// before our handler runs. OTLP asks for RESOURCE_EXHAUSTED and INVALID_ARGUMENT, and the
/// difference matters: clients retry OUT_OF_RANGE and INTERNAL-looking failures forever. Those
/// errors are trailers-only responses, so their `grpc-status` sits in the headers.
pub(crate) fn normalize_status<B>(mut response: http::Response<B>) -> http::Response<B> {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok());
    // grpc-message is percent-encoded on the wire.
    let message = response
        .headers()
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .replace("%20", " ");
    let replacement = match code {
        Some(11) if message.contains("too large") => Some(tonic::Code::ResourceExhausted),
        Some(13) if message.contains("decode") => Some(tonic::Code::InvalidArgument),
        _ => None,
    };
    if let Some(replacement) = replacement {
        response
            .headers_mut()
            .insert("grpc-status", http::HeaderValue::from(replacement as i32));
    }
    response
}

/// Tests: one Export with the doorstep's key check, then the service, without HTTP/2.
#[cfg(test)]
pub(crate) async fn export_in_process(
    state: &Arc<AppState>,
    request: Request<ExportTraceServiceRequest>,
) -> Result<ExportTraceServiceResponse, Status> {
    let (metadata, mut extensions, message) = request.into_parts();
    match admit::authorize(state, &metadata.clone().into_headers()) {
        Ok(environment) => extensions.insert(Authorized(environment)),
        Err(error) => return Err(error.grpc_status()),
    };
    let service = OtlpGrpc {
        state: Arc::clone(state),
    };
    service
        .export(Request::from_parts(metadata, extensions, message))
        .await
        .map(Response::into_inner)
}
