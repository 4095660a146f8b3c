//! The web UI: the files of `ui/` in the repository, embedded in the binary and served on the
//! API port. Every page path answers the one `index.html`; the page's own router reads the path
//! and query string, so a pasted link opens the same view. Assets live under `/ui/`.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::Embed;

use crate::http::error::ApiError;

#[derive(Embed)]
#[folder = "../../ui/"]
struct Files;

/// The page paths of the UI; each is drawn by `ui/app.js` from the URL.
const PAGES: [&str; 6] = ["/", "/traces", "/trace/{id}", "/map", "/query", "/settings"];

/// Routes of the UI, merged into the API port's router (they hold no state).
pub(crate) fn ui_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route("/ui/{*path}", get(asset))
        .route("/favicon.ico", get(favicon));
    for page in PAGES {
        router = router.route(page, get(index));
    }
    router
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// Browsers ask for `/favicon.ico` whatever the page links; it is the UI's icon.
async fn favicon(headers: HeaderMap) -> Response {
    serve("icon.svg", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// Answers one embedded file, or 304 when the browser's copy (by ETag) is current. Files are
/// not versioned by name, so the browser revalidates each load (`no-cache`), which costs a
/// round trip on loopback but never shows a stale module after an upgrade.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Files::get(path) else {
        return ApiError::NoRoute(format!("/ui/{path}")).json_response(1);
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, file.data.into_owned()).into_response()
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, content_type(path));
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    response_headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The media type of a UI file by its extension; the UI holds only these kinds.
fn content_type(path: &str) -> HeaderValue {
    let kind = match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        _ => "application/octet-stream",
    };
    HeaderValue::from_static(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_holds_the_page_and_its_modules() {
        let index = Files::get("index.html").expect("index.html is embedded");
        let text = String::from_utf8_lossy(&index.data);
        assert!(text.contains("/ui/app.js"), "the page loads the app module");
        for name in Files::iter() {
            let kind = content_type(&name);
            assert_ne!(kind, "application/octet-stream", "{name} has no media type");
        }
    }
}
