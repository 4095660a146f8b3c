//! The gRPC receiver's doorstep, in front of tonic: the key, then the message read and (when
//! compressed) decompressed under the ingest budget, before tonic decodes it. Tonic itself would
//! read, decompress and decode a message of up to `--max-body-bytes` before any handler could
//! reserve memory for it, so many concurrent requests could hold gigabytes outside every budget.
//! Here each step takes its bytes from the budget before it allocates them, exactly as the
//! OTLP/HTTP receiver does; tonic then decodes a plain message whose memory is already held.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use combray_ingest::body::{decompress_within, ContentEncoding};
use combray_ingest::IngestError;
use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::server::NamedService;
use tower::Service;

use super::Authorized;
use crate::admission::Admitted;
use crate::http::error::ApiError;
use crate::keys::{Access, KEY_HEADER};
use crate::state::AppState;

/// A gRPC message's prefix: a compressed flag and a big-endian length.
const FRAME_HEADER: usize = 5;
/// What decoded protobuf structs take for each byte of message, reserved before tonic decodes.
const DECODED_EXPANSION: usize = 2;
/// Messages larger than this are decompressed on the blocking pool, not on the reactor.
const INLINE_DECOMPRESS_BYTES: usize = 256 * 1024;

/// Wraps the tonic trace service; the budget it reserved is held until the service answers.
#[derive(Clone)]
pub(crate) struct Admit<S> {
    inner: S,
    state: Arc<AppState>,
}

impl<S> Admit<S> {
    pub(crate) fn new(inner: S, state: Arc<AppState>) -> Self {
        Self { inner, state }
    }
}

impl<S: NamedService> NamedService for Admit<S> {
    const NAME: &'static str = S::NAME;
}

type Answer = Result<http::Response<Body>, Infallible>;

impl<S> Service<http::Request<Body>> for Admit<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The ready service answers this call; a clone waits for the next, as tower expects.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            match admit(&state, request).await {
                Ok((request, admitted)) => {
                    let answer = inner.call(request).await;
                    drop(admitted);
                    answer
                }
                Err(error) => {
                    state.metrics.request_rejected(error.rejection());
                    Ok(error.grpc_status().into_http())
                }
            }
        })
    }
}

/// The environment a request's key may write to, once start-up is done.
pub(super) fn authorize(state: &AppState, headers: &http::HeaderMap) -> Result<String, ApiError> {
    let key = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok());
    let environment = state.keys.authorize(key, Access::Ingest)?;
    state.storage()?;
    Ok(environment)
}

/// Checks the key, then reads the message into budgeted memory and hands tonic a plain one.
async fn admit(
    state: &AppState,
    request: http::Request<Body>,
) -> Result<(http::Request<Body>, Admitted), ApiError> {
    let (mut parts, body) = request.into_parts();
    let environment = authorize(state, &parts.headers)?;
    let encoding = ContentEncoding::parse(
        parts
            .headers
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok()),
    )?;
    let mut admitted = state
        .admission
        .try_admit(FRAME_HEADER)
        .ok_or(ApiError::Overloaded)?;
    let frame = read_frame(state, body, &mut admitted).await?;
    let (compressed, message) = split_frame(&frame)?;
    // A plain message goes on as it came; only an inflated one needs a new prefix.
    let (plain, mut admitted) = if compressed {
        let (message, admitted) = decompress(state, encoding, message, admitted).await?;
        (plain_frame(state, &message)?, admitted)
    } else {
        (frame, admitted)
    };
    let decoded = (plain.len() - FRAME_HEADER) * DECODED_EXPANSION;
    if !state.admission.try_grow(&mut admitted, decoded) {
        return Err(ApiError::Overloaded);
    }
    parts.headers.remove("grpc-encoding");
    parts.extensions.insert(Authorized(environment));
    let body = Body::new(http_body_util::Full::new(plain));
    Ok((http::Request::from_parts(parts, body), admitted))
}

/// An uncompressed gRPC frame holding `message`.
fn plain_frame(state: &AppState, message: &[u8]) -> Result<Bytes, ApiError> {
    let mut plain = BytesMut::with_capacity(FRAME_HEADER + message.len());
    plain.put_u8(0);
    plain.put_u32(u32::try_from(message.len()).map_err(|_| too_large(state))?);
    plain.put_slice(message);
    Ok(plain.freeze())
}

fn too_large(state: &AppState) -> ApiError {
    IngestError::TooLarge {
        limit: state.max_body_bytes,
    }
    .into()
}

/// Reads the request body, taking each piece from the budget before keeping it.
async fn read_frame(
    state: &AppState,
    mut body: Body,
    admitted: &mut Admitted,
) -> Result<Bytes, ApiError> {
    let limit = state.max_body_bytes + FRAME_HEADER;
    let mut read = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| IngestError::Decode {
            format: "gRPC",
            reason: format!("cannot read the request body: {error}"),
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if read.len() + data.len() > limit {
            return Err(too_large(state));
        }
        if !state.admission.try_grow(admitted, data.len()) {
            return Err(ApiError::Overloaded);
        }
        read.extend_from_slice(&data);
    }
    Ok(read.freeze())
}

/// Export is unary: the body is exactly one length-prefixed message.
fn split_frame(frame: &Bytes) -> Result<(bool, Bytes), ApiError> {
    let malformed = |reason: String| -> ApiError {
        IngestError::Decode {
            format: "gRPC",
            reason,
        }
        .into()
    };
    if frame.len() < FRAME_HEADER {
        return Err(malformed(format!(
            "the body holds {} bytes, less than a message's 5-byte prefix",
            frame.len()
        )));
    }
    let compressed = match frame[0] {
        0 => false,
        1 => true,
        flag => {
            return Err(malformed(format!(
                "compressed flag {flag} is neither 0 nor 1"
            )))
        }
    };
    let length = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    if frame.len() - FRAME_HEADER != length {
        return Err(malformed(format!(
            "the message prefix says {length} bytes but {} follow (Export takes one message)",
            frame.len() - FRAME_HEADER
        )));
    }
    Ok((compressed, frame.slice(FRAME_HEADER..)))
}

/// Decompresses under the budget, on the blocking pool past a small size.
async fn decompress(
    state: &AppState,
    encoding: ContentEncoding,
    message: Bytes,
    mut admitted: Admitted,
) -> Result<(Bytes, Admitted), ApiError> {
    if encoding == ContentEncoding::Identity {
        return Err(IngestError::Decode {
            format: "gRPC",
            reason: "the message is flagged compressed but grpc-encoding names no compression"
                .into(),
        }
        .into());
    }
    let (limit, admission) = (state.max_body_bytes, state.admission.clone());
    let inline = message.len() <= INLINE_DECOMPRESS_BYTES;
    let run = move || {
        let mut reserve = |bytes| admission.try_grow(&mut admitted, bytes);
        let decompressed = decompress_within(encoding, &message, limit, &mut reserve);
        (decompressed, admitted)
    };
    let (decompressed, admitted) = if inline {
        run()
    } else {
        crate::panics::joined(tokio::task::spawn_blocking(run).await)?
    };
    Ok((Bytes::from(decompressed?), admitted))
}
