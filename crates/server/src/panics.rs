//! A panic inside a request is a bug in Combray, not overload: it is answered 500 with a message
//! and counted (`combray_request_panics_total`), never with a dropped connection or a 503, which
//! every OTLP exporter retries, sending the same poison payload again forever.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures::FutureExt;

use crate::http::error::ApiError;
use crate::state::AppState;

/// The text of a panic's payload.
fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Runs `work`; a panic inside it becomes [`ApiError::Internal`], counted and logged.
pub(crate) async fn caught<T>(
    state: &AppState,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => {
            let message = message(payload.as_ref());
            state.metrics.request_panicked();
            tracing::error!(panic = %message, "a request panicked; answering 500");
            Err(ApiError::Internal(message))
        }
    }
}

/// Axum middleware: every route's panics answered by [`caught`].
pub(crate) async fn catch_panics(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let run = async { Ok::<_, ApiError>(next.run(request).await) };
    match caught(&state, run).await {
        Ok(response) => response,
        Err(error) => error.json_response(state.retry_after_seconds),
    }
}

/// The outcome of work on the blocking pool: its panic goes on unwinding here (to be caught by
/// [`caught`]); a task cancelled at shutdown is "not now".
pub(crate) fn joined<T>(outcome: Result<T, tokio::task::JoinError>) -> Result<T, ApiError> {
    match outcome {
        Ok(value) => Ok(value),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(ApiError::NotReady),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panicking_route_answers_500_with_its_message_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (state, _storage) = crate::test_state::state(dir.path()).await;
        let blocking_panic = || async {
            let outcome = tokio::task::spawn_blocking(|| -> u32 { panic!("bad row 7") }).await;
            joined(outcome).map(|n| n.to_string()).unwrap_or_default()
        };
        let router = Router::new()
            .route(
                "/inline",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("index out of range");
                    }
                    "unreachable"
                }),
            )
            .route("/blocking", get(blocking_panic))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                catch_panics,
            ))
            .with_state(Arc::clone(&state));
        for (path, message) in [
            ("/inline", "index out of range"),
            ("/blocking", "bad row 7"),
        ] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 500);
            assert!(response.headers().get("retry-after").is_none());
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&body);
            assert!(text.contains(message), "{text}");
        }
        let metrics = state.metrics.render(None, 0);
        assert!(
            metrics.contains("combray_request_panics_total 2"),
            "{metrics}"
        );
    }
}
