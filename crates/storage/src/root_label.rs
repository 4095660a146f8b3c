//! What a trace is called in listings: its root span's name, unless that name only repeats the
//! service. An X-Ray segment is named after its service (`backend-flask`), which a listing that
//! already shows the service learns nothing from; such a root is called by its request instead
//! (`GET /api/activities/home`), as OpenTelemetry's HTTP servers name their spans, or by the
//! AWS operation it made.

use combray_model::{AttributeValueRef, KeyValueRef};

/// The label of a root span named `name` in `service`; `attributes` is asked for only when the
/// name repeats the service.
pub(crate) fn root_label<'n, 'a>(
    name: &'n str,
    service: &str,
    attributes: impl FnOnce() -> Vec<KeyValueRef<'a>>,
) -> std::borrow::Cow<'n, str> {
    if name != service {
        return name.into();
    }
    let attributes = attributes();
    let text = |key: &str| {
        attributes.iter().find_map(|kv| match kv.value {
            AttributeValueRef::String(value) if kv.key == key && !value.is_empty() => Some(value),
            _ => None,
        })
    };
    if let (Some(method), Some(url)) = (text("http.method"), text("http.url")) {
        return format!("{method} {}", url_path(url)).into();
    }
    if let Some(operation) = text("aws.operation") {
        return format!("{name} {operation}").into();
    }
    name.into()
}

/// The path of a URL (`http://host:4567/api/x?y=1` → `/api/x`); a bare path stays as it is.
fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = if url.contains("://") {
        after_scheme.find('/').map_or("/", |at| &after_scheme[at..])
    } else {
        after_scheme
    };
    path.split(['?', '#']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(key: &'a str, value: &'a str) -> KeyValueRef<'a> {
        KeyValueRef {
            key,
            value: AttributeValueRef::String(value),
        }
    }

    #[test]
    fn a_root_named_after_its_service_is_called_by_its_request_or_operation() {
        let request = || {
            vec![
                text("http.method", "GET"),
                text(
                    "http.url",
                    "http://backend-flask:4567/api/activities/home?page=2",
                ),
            ]
        };
        assert_eq!(
            root_label("backend-flask", "backend-flask", request),
            "GET /api/activities/home"
        );
        let operation = || vec![text("aws.operation", "PutItem")];
        assert_eq!(root_label("worker", "worker", operation), "worker PutItem");
        assert_eq!(root_label("worker", "worker", Vec::new), "worker");
        let asked = std::cell::Cell::new(false);
        let named = root_label("GET /users", "api", || {
            asked.set(true);
            Vec::new()
        });
        assert_eq!(named, "GET /users");
        assert!(!asked.get(), "a real name needs no attributes");
    }

    #[test]
    fn url_paths_drop_scheme_host_query_and_fragment() {
        assert_eq!(url_path("https://h/a/b?c=d#e"), "/a/b");
        assert_eq!(url_path("http://h:80"), "/");
        assert_eq!(url_path("/bare/path?x"), "/bare/path");
    }
}
