//! Every error the server answers with, and the one place that maps it to HTTP and gRPC codes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use combray_ingest::body::ContentType;
use combray_ingest::status::{code, RpcStatus};
use combray_ingest::IngestError;
use combray_query::QueryError;
use combray_storage::{StorageError, StorageErrorKind};

use crate::keys::AuthError;
use crate::metrics::Rejection;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The payload is unusable.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The key is missing, unknown or may not do this.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The query is malformed or asks for something absent.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The memory budget is spent.
    #[error("Combray is at its ingest memory limit; retry shortly")]
    Overloaded,
    /// Start-up has not finished replaying the WAL.
    #[error("Combray is starting: the write-ahead log is being replayed")]
    NotReady,
    /// No such route.
    #[error("no route for {0}")]
    NoRoute(String),
    /// A read was not run to its end (too many at once, or past its deadline).
    #[error(transparent)]
    Read(#[from] crate::reads::ReadRefused),
    /// A bug: the request panicked.
    #[error("Combray failed on this request (an internal error, logged): {0}")]
    Internal(String),
}

/// The HTTP status of a read's error (also Honeycomb's, `honeycomb/reply.rs`).
pub(crate) fn query_status(error: &QueryError) -> StatusCode {
    match error {
        QueryError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
        QueryError::NotFound(_) => StatusCode::NOT_FOUND,
        QueryError::LimitExceeded(_) => StatusCode::UNPROCESSABLE_ENTITY,
        QueryError::Engine(_) => StatusCode::INTERNAL_SERVER_ERROR,
        QueryError::Storage(error) => storage_status(error),
    }
}

fn storage_status(error: &StorageError) -> StatusCode {
    match error.kind() {
        StorageErrorKind::Corrupt => StatusCode::INTERNAL_SERVER_ERROR,
        StorageErrorKind::Io | StorageErrorKind::Closed | StorageErrorKind::Full => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

impl ApiError {
    /// The HTTP status: the single mapping from errors to status codes.
    pub(crate) fn http_status(&self) -> StatusCode {
        match self {
            Self::Ingest(
                IngestError::UnsupportedContentType(_) | IngestError::UnsupportedContentEncoding(_),
            ) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Ingest(IngestError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Ingest(IngestError::Decompress { .. } | IngestError::Decode { .. }) => {
                StatusCode::BAD_REQUEST
            }
            Self::Auth(AuthError::IngestKeyCannotRead) => StatusCode::FORBIDDEN,
            Self::Auth(_) => StatusCode::UNAUTHORIZED,
            Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::Query(error) => query_status(error),
            Self::Storage(error) => storage_status(error),
            Self::Overloaded | Self::NotReady | Self::Ingest(IngestError::OverBudget) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Read(crate::reads::ReadRefused::Busy(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Read(crate::reads::ReadRefused::TimedOut(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The `google.rpc.Code`, derived from the HTTP status so the two never disagree.
    pub(crate) fn rpc_code(&self) -> i32 {
        match self.http_status() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => code::UNIMPLEMENTED,
            StatusCode::PAYLOAD_TOO_LARGE => code::RESOURCE_EXHAUSTED,
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => code::INVALID_ARGUMENT,
            StatusCode::UNAUTHORIZED => code::UNAUTHENTICATED,
            StatusCode::FORBIDDEN => code::PERMISSION_DENIED,
            StatusCode::SERVICE_UNAVAILABLE => code::UNAVAILABLE,
            _ => code::INTERNAL,
        }
    }

    /// The gRPC status for the OTLP/gRPC receiver.
    pub(crate) fn grpc_status(&self) -> tonic::Status {
        tonic::Status::new(tonic::Code::from_i32(self.rpc_code()), self.to_string())
    }

    /// Which ingest metric the error counts under.
    pub(crate) fn rejection(&self) -> Rejection {
        match self.http_status() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Rejection::UnsupportedMedia,
            StatusCode::PAYLOAD_TOO_LARGE => Rejection::TooLarge,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Rejection::Unauthorized,
            StatusCode::BAD_REQUEST => Rejection::Malformed,
            _ if matches!(
                self,
                Self::Overloaded | Self::NotReady | Self::Ingest(IngestError::OverBudget)
            ) =>
            {
                Rejection::Overloaded
            }
            _ if matches!(self, Self::Storage(e) if e.kind() == StorageErrorKind::Full) => {
                Rejection::Overloaded
            }
            _ if matches!(self, Self::Internal(_)) => Rejection::Internal,
            _ => Rejection::StorageError,
        }
    }

    /// An OTLP/HTTP error answer: `google.rpc.Status` in the request's encoding (JSON when the
    /// content type itself was the problem).
    pub(crate) fn otlp_response(
        &self,
        content_type: Option<ContentType>,
        retry_after_seconds: u64,
    ) -> Response {
        let status = RpcStatus {
            code: self.rpc_code(),
            message: self.to_string(),
        };
        let (body, media) = match content_type {
            Some(ContentType::Protobuf) => (status.to_protobuf(), ContentType::Protobuf),
            Some(ContentType::Json) | None => (status.to_json(), ContentType::Json),
        };
        let mut response = (self.http_status(), body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media.header_value()),
        );
        self.add_retry_after(&mut response, retry_after_seconds);
        response
    }

    /// A query API error answer: `{"error": message, "status": code}`.
    pub(crate) fn json_response(&self, retry_after_seconds: u64) -> Response {
        let status = self.http_status();
        let body = serde_json::json!({ "error": self.to_string(), "status": status.as_u16() });
        let mut response = (status, axum::Json(body)).into_response();
        self.add_retry_after(&mut response, retry_after_seconds);
        response
    }

    fn add_retry_after(&self, response: &mut Response, seconds: u64) {
        if self.http_status() == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
}
