//! Span events and links as events of their own, as Honeycomb stores them: each is a row with
//! `meta.annotation_type` `span_event` or `link`, the span's trace, `trace.parent_id` the span's
//! id, `parent_name` the span's name, the span's service, scope, resource attributes and sample
//! rate, and its own attributes. A span event's time is its own, a link's the span's start.
//! Span fields an annotation does not have (`duration_ms`, `span.kind`, `error`, …) are null.
//!
//! One scan gives every annotation of the window's spans: `range(events + links)` per span,
//! unnested, the first indexes the events and the rest the links.

use crate::columns::{string_literal, Catalog, Column, Kind};
use crate::derived::sql_type;

/// The index of the row's annotation among the span's events, then its links.
const INDEX: &str = "\"__i\"";
const EVENTS: &str = "span_list_len(\"events\")";
const LINKS: &str = "span_list_len(\"links\")";

fn is_event() -> String {
    format!("{INDEX} < {EVENTS}")
}

/// `event` for a span event's row, `link` for a link's, as SQL.
fn pick(event: &str, link: &str) -> String {
    format!("(CASE WHEN {} THEN {event} ELSE {link} END)", is_event())
}

fn link_index() -> String {
    format!("{INDEX} - {EVENTS}")
}

fn null(kind: Kind) -> Column {
    Column {
        sql: format!("CAST(NULL AS {})", sql_type(kind)),
        kind,
    }
}

/// The annotation's own attribute `key` as text: the event's or the link's.
fn own_attribute(key: &str) -> String {
    let key = string_literal(key);
    pick(
        &format!("span_event_attr(\"events\", {INDEX}, {key})"),
        &format!("span_link_attr(\"links\", {}, {key})", link_index()),
    )
}

/// Column `name` of annotation rows, in the kind the span rows have it (`kind`).
pub(crate) fn resolve(catalog: &Catalog, name: &str, kind: Kind, depth: usize) -> Column {
    if let Some(expression) = catalog.source_of(name) {
        if depth > 16 {
            return null(kind);
        }
        let compiled = crate::derived::compile(expression, &|inner| {
            let inner_kind = catalog.resolve(inner).kind;
            Some(resolve(catalog, inner, inner_kind, depth + 1))
        });
        return compiled.unwrap_or_else(|_| null(kind));
    }
    let text = |sql: String| Column {
        sql,
        kind: Kind::String,
    };
    match name {
        "trace.trace_id" | "service.name" | "library.name" | "library.version" => {
            catalog.resolve(name)
        }
        "trace.parent_id" => text("encode(\"span_id\", 'hex')".into()),
        "parent_name" => text("CAST(\"name\" AS VARCHAR)".into()),
        "name" => text(pick(
            &format!("span_event_name(\"events\", {INDEX})"),
            "CAST(NULL AS VARCHAR)",
        )),
        "meta.annotation_type" => text(pick("'span_event'", "'link'")),
        "meta.signal_type" => text("'trace'".into()),
        "trace.link.trace_id" => text(pick(
            "CAST(NULL AS VARCHAR)",
            &format!("span_link_trace(\"links\", {})", link_index()),
        )),
        "trace.link.span_id" => text(pick(
            "CAST(NULL AS VARCHAR)",
            &format!("span_link_span(\"links\", {})", link_index()),
        )),
        // Fields of spans themselves, which annotations do not have.
        _ if crate::columns::SPAN_FIELDS.contains(&name) => null(kind),
        key => attribute(catalog, key, kind),
    }
}

/// An attribute: the annotation's own, else the span's resource's, in `kind`.
fn attribute(catalog: &Catalog, key: &str, kind: Kind) -> Column {
    let own = own_attribute(key);
    let typed = match kind {
        Kind::String => own,
        Kind::Boolean => format!("(CASE {own} WHEN 'true' THEN true WHEN 'false' THEN false END)"),
        numeric => format!("TRY_CAST({own} AS {})", sql_type(numeric)),
    };
    let sql = match catalog.resource_of(key) {
        Some(resource) => format!(
            "COALESCE({typed}, CAST({} AS {}))",
            resource.sql,
            sql_type(kind)
        ),
        None => typed,
    };
    Column { sql, kind }
}

/// Span fields annotations have (every other span field is null on their rows).
const SHARED_FIELDS: [&str; 7] = [
    "trace.trace_id",
    "trace.parent_id",
    "service.name",
    "library.name",
    "library.version",
    "name",
    "meta.signal_type",
];

/// Whether any annotation row can pass the query's filters: not when the filters must all hold
/// and one needs a span field annotations lack (every operator but `does-not-exist` needs its
/// column), or says `meta.annotation_type does-not-exist`. Then the query scans spans only.
pub(crate) fn can_match(query: &crate::spec::Validated, catalog: &Catalog) -> bool {
    if query.any {
        return true;
    }
    !query.filters.iter().any(|f| {
        let column = f.column.as_str();
        let span_only = crate::columns::SPAN_FIELDS.contains(&column)
            && !SHARED_FIELDS.contains(&column)
            && catalog.source_of(column).is_none();
        match f.op {
            crate::ops::FilterOp::NotExists => column == "meta.annotation_type",
            _ => span_only && column != "meta.annotation_type",
        }
    })
}

/// Whether the query's events include annotation rows: its filters let them pass and some span
/// of the window (of `services`) has an event or a link. A span without events (links) has a
/// null `events` (`links`) column, and a scan skips every row group whose statistics say the
/// column is null throughout, so where there are none the probe reads no data at all; where
/// there are some it stops at the first. Either way every query of the request is spared the
/// annotation scan when there is nothing for it to find.
pub(crate) async fn present(
    context: &datafusion::prelude::SessionContext,
    query: &crate::spec::Validated,
    catalog: &Catalog,
    in_window: &str,
    services: &str,
) -> crate::HoneycombResult<bool> {
    if !can_match(query, catalog) {
        return Ok(false);
    }
    // Both lists are probed at once: each probe is a short scan of block statistics.
    let probe = |list: &str| {
        let sql = format!(
            "SELECT 1 FROM spans WHERE {in_window} AND {services} AND \"{list}\" IS NOT NULL LIMIT 1"
        );
        async move { combray_query::sql::json_rows(context, &sql).await }
    };
    let (events, links) = futures::future::try_join(probe("events"), probe("links")).await?;
    Ok(!events.is_empty() || !links.is_empty())
}

/// The annotation rows' source: the window's spans with events or links, one row per
/// annotation, `__i` its index. `spans_in_window` keeps the window's spans.
pub(crate) fn source(table: &str, spans_in_window: &str) -> String {
    format!(
        "(SELECT *, unnest(range({EVENTS} + {LINKS})) AS {INDEX} FROM {table} \
         WHERE {spans_in_window} AND ({EVENTS} + {LINKS}) > 0) AS spans"
    )
}

/// The annotation's time in Unix nanoseconds: a span event's own, a link's span's start.
pub(crate) fn time() -> String {
    pick(
        &format!("span_event_time(\"events\", {INDEX})"),
        "CAST(\"start_time\" AS BIGINT)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::QuerySpec;

    fn query(filters: serde_json::Value, combination: Option<&str>) -> crate::spec::Validated {
        let spec: QuerySpec = serde_json::from_value(serde_json::json!({
            "filters": filters, "filter_combination": combination,
        }))
        .unwrap();
        spec.validate().unwrap()
    }

    #[test]
    fn annotation_rows_are_skipped_only_when_no_filter_could_pass_them() {
        let catalog = Catalog::default();
        let can = |filters, combination| can_match(&query(filters, combination), &catalog);
        assert!(can(serde_json::json!([]), None));
        assert!(!can(
            serde_json::json!([{"column": "duration_ms", "op": ">", "value": 5}]),
            None
        ));
        assert!(!can(
            serde_json::json!([{"column": "meta.annotation_type", "op": "does-not-exist"}]),
            None
        ));
        assert!(can(
            serde_json::json!([{"column": "meta.annotation_type", "op": "=", "value": "link"}]),
            None
        ));
        assert!(can(
            serde_json::json!([{"column": "duration_ms", "op": "does-not-exist"}]),
            None
        ));
        assert!(can(
            serde_json::json!([{"column": "user.id", "op": "=", "value": "u1"}]),
            None
        ));
        assert!(can(
            serde_json::json!([{"column": "name", "op": "=", "value": "x"}]),
            None
        ));
        let either = serde_json::json!([{"column": "duration_ms", "op": ">", "value": 5},
                                        {"column": "user.id", "op": "exists"}]);
        assert!(can(either, Some("OR")));
    }
}
