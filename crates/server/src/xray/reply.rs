//! What every X-Ray operation shares: who the caller is, reading the JSON body, and answering
//! in the rest-json shape the AWS SDKs parse (errors as `x-amzn-ErrorType` plus
//! `{"__type", "message"}`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use combray_xray::XRayError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{sigv4, Port};
use crate::http::error::ApiError;
use crate::keys::{Access, AuthError, KEY_HEADER};
use crate::state::AppState;

/// The environment an X-Ray call acts in, as [`authenticate`] decided.
pub(super) struct XRayCaller {
    /// The environment.
    pub(super) environment: String,
}

#[derive(Clone)]
struct CallerEnvironment(String);

impl FromRequestParts<Arc<AppState>> for XRayCaller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<CallerEnvironment>() {
            Some(CallerEnvironment(environment)) => Ok(Self {
                environment: environment.clone(),
            }),
            None => Err(error(
                &XRayError::Internal("the caller was not authenticated".into()),
                1,
            )),
        }
    }
}

fn forbidden(code: &str, message: &str) -> Response {
    respond(StatusCode::FORBIDDEN, code, message, None, None)
}

/// Decides the environment of an X-Ray call. On the daemon port it is the configured X-Ray
/// environment. On the API port: the environment of an `x-honeycomb-team` key, or of the AWS
/// access key that SigV4-signed the request (the signature is checked); while no keys exist at
/// all, unauthenticated calls act in the X-Ray environment.
pub(super) async fn authenticate(
    State(state): State<Arc<AppState>>,
    Extension(port): Extension<Port>,
    request: Request,
    next: Next,
) -> Response {
    let (environment, request) = match port {
        Port::Daemon => (state.xray.environment.clone(), request),
        Port::Api => match api_caller(&state, request).await {
            Ok(found) => found,
            Err(response) => return response,
        },
    };
    let mut request = request;
    request
        .extensions_mut()
        .insert(CallerEnvironment(environment));
    next.run(request).await
}

async fn api_caller(state: &AppState, request: Request) -> Result<(String, Request), Response> {
    let headers = request.headers();
    if let Some(key) = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok()) {
        let environment = state
            .keys
            .authorize(Some(key), Access::Read)
            .map_err(|e| auth_error(&e))?;
        return Ok((environment, request));
    }
    let signed = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(sigv4::parse);
    let Some(signed) = signed else {
        if state.keys.has_keys() {
            return Err(auth_error(&AuthError::Missing));
        }
        return Ok((state.xray.environment.clone(), request));
    };
    let authorization = signed.map_err(|reason| {
        forbidden(
            "IncompleteSignatureException",
            &format!("the Authorization header is not valid SigV4: {reason}"),
        )
    })?;
    let Some((secret, environment)) = state.keys.aws_key(&authorization.access_key_id) else {
        if state.keys.has_keys() {
            return Err(forbidden(
                "UnrecognizedClientException",
                "The security token included in the request is invalid: unknown access key id (create one with `combray keys create --kind aws`)",
            ));
        }
        return Ok((state.xray.environment.clone(), request));
    };
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|e| error(&XRayError::invalid(format!("cannot read the body: {e}")), 1))?;
    let now = combray_xray::time::now_seconds() as i64;
    let signed_request = sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
    };
    sigv4::verify(&authorization, &signed_request, &secret, now)
        .map_err(|rejected| forbidden(rejected.code, &rejected.message))?;
    Ok((environment, Request::from_parts(parts, Body::from(body))))
}

fn auth_error(error: &AuthError) -> Response {
    let message = format!(
        "{error} (X-Ray calls on the API port need the {KEY_HEADER} header or a SigV4 signature with an AWS key of Combray's once keys exist)"
    );
    forbidden("UnrecognizedClientException", &message)
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
    let retry_after = matches!(error, XRayError::Throttled(_) | XRayError::Unavailable(_))
        .then_some(retry_after_seconds);
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
