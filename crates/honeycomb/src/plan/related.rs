//! Relational columns: `root.X` is column X of the span's trace root, `parent.X` of its parent
//! span, as in Honeycomb's relational fields. Each is joined onto the events from the spans of
//! the same window: a root or parent outside it reads as null.

use crate::columns::{quote, Catalog, Column};

/// Which related span a column reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    /// The trace's root (its earliest span without a parent).
    Root,
    /// The span's parent.
    Parent,
}

/// The relation and inner column of `name`, when it is relational: `root.`/`parent.` and not a
/// key some span or resource attribute literally has.
pub(crate) fn relation_of<'a>(name: &'a str, catalog: &Catalog) -> Option<(Relation, &'a str)> {
    if catalog.knows(name) {
        return None;
    }
    if let Some(inner) = name.strip_prefix("root.") {
        return Some((Relation::Root, inner));
    }
    name.strip_prefix("parent.")
        .map(|inner| (Relation::Parent, inner))
}

/// The related columns a query reads, and the joins that bring them.
#[derive(Debug, Default)]
pub(crate) struct Related {
    root: Vec<String>,
    parent: Vec<String>,
}

impl Related {
    /// Adds `inner` of `relation` and answers the expression the events select it by.
    pub(crate) fn add(&mut self, relation: Relation, inner: &str, catalog: &Catalog) -> Column {
        let Column { sql, kind } = catalog.resolve(inner);
        let (list, table, prefix) = match relation {
            Relation::Root => (&mut self.root, "__root", "r"),
            Relation::Parent => (&mut self.parent, "__parent", "p"),
        };
        let alias = format!("{prefix}{}", list.len());
        list.push(format!("{sql} AS {}", quote(&alias)));
        Column {
            sql: format!("{}.{}", quote(table), quote(&alias)),
            kind,
        }
    }

    /// The `LEFT JOIN`s onto `spans`; `window` is the condition that keeps the window's spans.
    pub(crate) fn joins(&self, window: &str) -> String {
        let mut joins = String::new();
        if !self.root.is_empty() {
            joins.push_str(&format!(
                " LEFT JOIN (SELECT * FROM (SELECT \"trace_id\" AS \"__rt\", {}, \
                 row_number() OVER (PARTITION BY \"trace_id\" ORDER BY \"start_time\", \"span_id\") AS \"__n\" \
                 FROM spans WHERE \"parent_span_id\" IS NULL AND {window}) AS q WHERE \"__n\" = 1) AS \"__root\" \
                 ON spans.\"trace_id\" = \"__root\".\"__rt\"",
                self.root.join(", ")
            ));
        }
        if !self.parent.is_empty() {
            joins.push_str(&format!(
                " LEFT JOIN (SELECT \"trace_id\" AS \"__pt\", \"span_id\" AS \"__ps\", {} FROM spans WHERE {window}) \
                 AS \"__parent\" ON spans.\"trace_id\" = \"__parent\".\"__pt\" \
                 AND spans.\"parent_span_id\" = \"__parent\".\"__ps\"",
                self.parent.join(", ")
            ));
        }
        joins
    }
}
