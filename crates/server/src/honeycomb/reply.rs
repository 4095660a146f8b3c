//! What every Honeycomb endpoint shares: the caller's environment, reading the JSON body, and
//! answering errors in the shapes Honeycomb's clients parse. This is the one place a
//! [`HoneycombError`] becomes a status code.
//!
//! Honeycomb answers validation failures as RFC 7807 problems (`application/problem+json`,
//! `type_detail` naming the field) and most other failures with its legacy `{"error": "…"}`.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use combray_honeycomb::HoneycombError;
use combray_query::QueryError;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::http::error::{query_status, ApiError};
use crate::keys::{Access, AuthError, KEY_HEADER};
use crate::state::AppState;

const PROBLEMS: &str = "https://api.honeycomb.io/problems";

/// A failed Honeycomb call: an error of analysis, or one the server's edge raised.
pub(super) enum Failure {
    /// From the analysis crate.
    Honeycomb(HoneycombError),
    /// From keys, storage or the read limits.
    Api(ApiError),
}

impl From<HoneycombError> for Failure {
    fn from(error: HoneycombError) -> Self {
        Self::Honeycomb(error)
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<AuthError> for Failure {
    fn from(error: AuthError) -> Self {
        Self::Api(ApiError::Auth(error))
    }
}

impl From<QueryError> for Failure {
    fn from(error: QueryError) -> Self {
        Self::Honeycomb(HoneycombError::Query(error))
    }
}

fn problem(
    status: StatusCode,
    kind: &str,
    title: &str,
    error: &str,
    extra: serde_json::Value,
) -> Response {
    let mut body = json!({
        "status": status.as_u16(),
        "type": format!("{PROBLEMS}/{kind}"),
        "title": title,
        "error": error,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn legacy(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

impl Failure {
    /// The answer Honeycomb would give.
    pub(super) fn response(&self, retry_after_seconds: u64) -> Response {
        let error = match self {
            Self::Api(ApiError::Auth(AuthError::Missing | AuthError::Unknown)) => {
                return legacy(
                    StatusCode::UNAUTHORIZED,
                    "unknown API key - check your credentials",
                )
            }
            Self::Api(error) => return error.json_response(retry_after_seconds),
            Self::Honeycomb(error) => error,
        };
        let message = error.to_string();
        match error {
            HoneycombError::Unparseable(_) => problem(
                StatusCode::BAD_REQUEST,
                "unparseable",
                "The request body could not be parsed.",
                &message,
                json!({}),
            ),
            HoneycombError::Invalid {
                field,
                code,
                description,
            } => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                "The provided input is invalid.",
                &message,
                json!({"type_detail": [{"field": field, "code": code, "description": description}]}),
            ),
            HoneycombError::NotFound(_) => legacy(StatusCode::NOT_FOUND, &message),
            HoneycombError::BadRequest(_) => legacy(StatusCode::BAD_REQUEST, &message),
            HoneycombError::Conflict(_) => legacy(StatusCode::CONFLICT, &message),
            HoneycombError::Settings(_) => legacy(StatusCode::INTERNAL_SERVER_ERROR, &message),
            HoneycombError::Query(error) => legacy(query_status(error), &message),
        }
    }
}

/// The environment of the request's key, for `access`.
pub(super) fn environment(
    state: &AppState,
    headers: &HeaderMap,
    access: Access,
) -> Result<String, Failure> {
    let key = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok());
    Ok(state.keys.authorize(key, access)?)
}

/// The JSON body as `T`; a body that is not is Honeycomb's 400 `unparseable`.
pub(super) fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(HoneycombError::BadRequest(format!(
            "Body size is larger than maximum size of {MAX_BODY_BYTES} bytes"
        ))
        .into());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| HoneycombError::Unparseable(format!("the body is not valid here: {e}")).into())
}

/// Honeycomb's limit on bodies of its configuration API.
const MAX_BODY_BYTES: usize = 100_000;
