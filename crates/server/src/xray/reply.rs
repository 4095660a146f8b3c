//! What every X-Ray operation shares: who the caller is, reading the JSON body, and answering
//! in the rest-json shape the AWS SDKs parse (errors as `x-amzn-ErrorType` plus
//! `{"__type", "message"}`).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use combray_xray::XRayError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Port;
use crate::http::error::ApiError;
use crate::keys::{Access, AuthError, KEY_HEADER};
use crate::state::AppState;

/// The environment an X-Ray call acts in.
pub(super) struct XRayCaller {
    /// The environment.
    pub(super) environment: String,
}

impl FromRequestParts<Arc<AppState>> for XRayCaller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let port = parts.extensions.get::<Port>().copied().unwrap_or(Port::Api);
        let xray_environment = state.xray.environment.clone();
        if port == Port::Daemon {
            return Ok(Self {
                environment: xray_environment,
            });
        }
        let key = parts
            .headers
            .get(KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let authorized = match key {
            Some(key) => state.keys.authorize(Some(&key), Access::Read),
            // No key: allowed only while no keys exist, like every other API.
            None => state
                .keys
                .authorize(None, Access::Read)
                .map(|_| xray_environment),
        };
        authorized
            .map(|environment| Self { environment })
            .map_err(|error| auth_error(&error))
    }
}

fn auth_error(error: &AuthError) -> Response {
    let message = format!(
        "{error} (X-Ray calls on the API port need the {KEY_HEADER} header once keys exist)"
    );
    respond(
        StatusCode::FORBIDDEN,
        "UnrecognizedClientException",
        &message,
        None,
        None,
    )
}

/// Parses a request body; an empty body is `{}`.
pub(super) fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, XRayError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text)
        .map_err(|e| XRayError::invalid(format!("the request body is not valid: {e}")))
}

fn request_id() -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        rand::random::<u32>(),
        rand::random::<u16>(),
        rand::random::<u16>(),
        rand::random::<u16>(),
        rand::random::<u64>() & 0xffff_ffff_ffff
    )
}

fn respond(
    status: StatusCode,
    code: &str,
    message: &str,
    resource_name: Option<&str>,
    retry_after: Option<u64>,
) -> Response {
    let mut body = serde_json::json!({ "__type": code, "message": message, "Message": message });
    if let Some(name) = resource_name {
        body["ResourceName"] = serde_json::Value::from(name);
    }
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(code) {
        headers.insert("x-amzn-ErrorType", value);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id()) {
        headers.insert("x-amzn-RequestId", value);
    }
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// An error answer.
pub(super) fn error(error: &XRayError, retry_after_seconds: u64) -> Response {
    let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let retry_after = matches!(error, XRayError::Throttled(_)).then_some(retry_after_seconds);
    respond(
        status,
        error.code(),
        &error.to_string(),
        error.resource_name(),
        retry_after,
    )
}

/// A success answer.
pub(super) fn ok(value: &impl Serialize) -> Response {
    let mut response = axum::Json(value).into_response();
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        response.headers_mut().insert("x-amzn-RequestId", id);
    }
    response
}

/// An operation's outcome as a response.
pub(super) fn answer<T: Serialize>(
    result: Result<T, XRayError>,
    retry_after_seconds: u64,
) -> Response {
    match result {
        Ok(value) => ok(&value),
        Err(e) => error(&e, retry_after_seconds),
    }
}

/// The write path's errors in X-Ray's terms: anything that means "later" is a throttle.
pub(super) fn from_api_error(error: ApiError) -> XRayError {
    if error.http_status() == StatusCode::SERVICE_UNAVAILABLE {
        XRayError::Throttled(error.to_string())
    } else {
        XRayError::Internal(error.to_string())
    }
}
