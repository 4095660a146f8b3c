//! The OTLP/gRPC receiver (`TraceService/Export`).

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
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::{Request, Response, Status};

use crate::http::error::ApiError;
use crate::keys::{Access, KEY_HEADER};
use crate::panics::{caught, joined};
use crate::state::{now_unix_nano, AppState};

const DECODED_EXPANSION: usize = 2;
const INLINE_CONVERT_BYTES: usize = 256 * 1024;

/// The gRPC trace service.
pub(crate) struct OtlpGrpc {
    state: Arc<AppState>,
}

/// The environment the interceptor authorized the request for.
#[derive(Clone)]
struct Authorized(String);

/// Checks the key (and that start-up is done) from the request's metadata before tonic decodes
/// or decompresses the message: an unknown key costs no decoding, and no memory.
#[derive(Clone)]
pub(crate) struct Authenticate {
    state: Arc<AppState>,
}

impl Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let key = request
            .metadata()
            .get(KEY_HEADER)
            .and_then(|v| v.to_str().ok());
        let checked = self
            .state
            .keys
            .authorize(key, Access::Ingest)
            .map_err(ApiError::from)
            .and_then(|environment| self.state.storage().map(|_| environment));
        match checked {
            Ok(environment) => {
                request.extensions_mut().insert(Authorized(environment));
                Ok(request)
            }
            Err(error) => {
                self.state.metrics.request_rejected(error.rejection());
                Err(error.grpc_status())
            }
        }
    }
}

impl OtlpGrpc {
    /// The tonic service behind its key check, with gzip and zstd accepted and the body cap
    /// applied.
    pub(crate) fn service(
        state: Arc<AppState>,
    ) -> InterceptedService<TraceServiceServer<Self>, Authenticate> {
        let limit = state.max_body_bytes;
        let server = TraceServiceServer::new(Self {
            state: Arc::clone(&state),
        })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
        InterceptedService::new(server, Authenticate { state })
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
        let message = request.into_inner();
        let size = message.encoded_len();
        let admitted = state
            .admission
            .try_admit(size * DECODED_EXPANSION)
            .ok_or(ApiError::Overloaded)?;
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
        drop(admitted);
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

/// Tests: one Export as the listener runs it (the key check, then the service), without HTTP/2.
#[cfg(test)]
pub(crate) async fn export_in_process(
    state: &Arc<AppState>,
    request: Request<ExportTraceServiceRequest>,
) -> Result<ExportTraceServiceResponse, Status> {
    let (metadata, extensions, message) = request.into_parts();
    let checked = Authenticate {
        state: Arc::clone(state),
    }
    .call(Request::from_parts(metadata, extensions, ()))?;
    let (metadata, extensions, ()) = checked.into_parts();
    let service = OtlpGrpc {
        state: Arc::clone(state),
    };
    service
        .export(Request::from_parts(metadata, extensions, message))
        .await
        .map(Response::into_inner)
}
