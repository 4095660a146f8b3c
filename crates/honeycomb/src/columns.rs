//! Honeycomb's column names over Combray's `spans` table.
//!
//! Honeycomb's translator turns a span into an event whose columns are its own fields under
//! fixed names (`trace.trace_id`, `duration_ms`, `service.name`, …) and every attribute under its
//! key, the span's over its resource's. [`Catalog`] resolves such a name into a SQL expression
//! over the table's columns (`attr.KEY`, `resource.KEY` and the span columns). A name nothing
//! resolves is a column no event has: null everywhere, as in Honeycomb.

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::{DataType, Schema};

/// What a column's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    String,
    /// Whole numbers.
    Integer,
    /// Other numbers.
    Float,
    /// true or false.
    Boolean,
}

impl Kind {
    /// As Honeycomb's columns API names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Float => "float",
            Self::Boolean => "boolean",
        }
    }

    /// Whether values are numbers.
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Integer | Self::Float)
    }

    fn of(data_type: &DataType) -> Self {
        match data_type {
            DataType::Boolean => Self::Boolean,
            t if t.is_integer() => Self::Integer,
            t if t.is_floating() => Self::Float,
            _ => Self::String,
        }
    }
}

/// A resolved column: SQL that computes it for each span, and its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// A SQL expression over the `spans` table.
    pub sql: String,
    /// What its values are.
    pub kind: Kind,
}

/// A SQL identifier, quoted.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal.
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

const SIGNAL_TYPE: &str = "meta.signal_type";

/// `trace.trace_id`. An event sent without a trace has an id in a reserved range
/// ([`combray_model::TraceId::for_untraced_event`]), not a trace: it shows no trace id, as in
/// Honeycomb.
fn trace_id_column() -> Column {
    let hex = "encode(\"trace_id\", 'hex')";
    Column {
        sql: format!(
            "CASE WHEN starts_with({hex}, '{}') THEN NULL ELSE {hex} END",
            combray_model::UNTRACED_EVENT_HEX_PREFIX
        ),
        kind: Kind::String,
    }
}

/// The span's own fields, by Honeycomb's names.
fn span_field(name: &str) -> Option<Column> {
    let (sql, kind) = match name {
        "trace.trace_id" => return Some(trace_id_column()),
        "trace.span_id" => ("encode(\"span_id\", 'hex')", Kind::String),
        "trace.parent_id" => ("encode(\"parent_span_id\", 'hex')", Kind::String),
        "name" => ("CAST(\"name\" AS VARCHAR)", Kind::String),
        "service.name" => ("CAST(\"service\" AS VARCHAR)", Kind::String),
        "span.kind" => (
            "CASE \"kind\" WHEN 1 THEN 'internal' WHEN 2 THEN 'server' WHEN 3 THEN 'client' \
             WHEN 4 THEN 'producer' WHEN 5 THEN 'consumer' ELSE 'unspecified' END",
            Kind::String,
        ),
        "duration_ms" => ("CAST(\"duration_nano\" AS DOUBLE) / 1e6", Kind::Float),
        "status_code" => ("CAST(\"status_code\" AS BIGINT)", Kind::Integer),
        "error" => ("CASE WHEN \"status_code\" = 2 THEN true END", Kind::Boolean),
        "status_message" => ("\"status_message\"", Kind::String),
        "trace.trace_state" => ("\"trace_state\"", Kind::String),
        "meta.signal_type" => ("'trace'", Kind::String),
        "meta.annotation_type" => ("CAST(NULL AS VARCHAR)", Kind::String),
        "span.num_dropped_attributes" => (
            "CAST(\"dropped_attributes_count\" AS BIGINT)",
            Kind::Integer,
        ),
        "span.num_dropped_events" => ("CAST(\"dropped_events_count\" AS BIGINT)", Kind::Integer),
        "span.num_dropped_links" => ("CAST(\"dropped_links_count\" AS BIGINT)", Kind::Integer),
        "span.num_events" => ("span_list_len(\"events\")", Kind::Integer),
        "span.num_links" => ("span_list_len(\"links\")", Kind::Integer),
        "library.name" => ("span_scope(\"scope\", 'name')", Kind::String),
        "library.version" => ("span_scope(\"scope\", 'version')", Kind::String),
        _ => return None,
    };
    Some(Column {
        sql: sql.to_owned(),
        kind,
    })
}

/// The span fields every event has, for listing columns.
pub const SPAN_FIELDS: [&str; 20] = [
    "trace.trace_id",
    "trace.span_id",
    "trace.parent_id",
    "name",
    "service.name",
    "span.kind",
    "duration_ms",
    "status_code",
    "error",
    "status_message",
    "trace.trace_state",
    "meta.signal_type",
    "meta.annotation_type",
    "span.num_dropped_attributes",
    "span.num_dropped_events",
    "span.num_dropped_links",
    "span.num_events",
    "span.num_links",
    "library.name",
    "library.version",
];

/// The attributes of a span's `exception` event that Honeycomb promotes onto the span.
const EXCEPTION_FIELDS: [&str; 4] = [
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "exception.escaped",
];

/// The columns of one environment's spans, as Honeycomb names them.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Span attribute keys and their types.
    span: BTreeMap<String, DataType>,
    /// Resource attribute keys and their types.
    resource: BTreeMap<String, DataType>,
    /// Calculated fields, compiled, by name.
    fields: BTreeMap<String, Column>,
    /// Calculated fields' expressions, by name, to compile again for span events and links.
    sources: BTreeMap<String, String>,
}

impl Catalog {
    /// The catalog of a `spans` table with this schema.
    pub fn of(schema: &Schema) -> Self {
        let mut catalog = Self::default();
        for field in schema.fields() {
            let name = field.name();
            if let Some(key) = name.strip_prefix("attr.") {
                catalog
                    .span
                    .insert(key.to_owned(), field.data_type().clone());
            } else if let Some(key) = name.strip_prefix("resource.") {
                catalog
                    .resource
                    .insert(key.to_owned(), field.data_type().clone());
            }
        }
        catalog
    }

    /// The column Honeycomb calls `name`: a span field, else the span attribute of that key
    /// over the resource attribute, else null.
    pub fn resolve(&self, name: &str) -> Column {
        if let Some(field) = self.fields.get(name) {
            return field.clone();
        }
        // Events API events without a trace say `meta.signal_type = "event"`; spans do not.
        if name == SIGNAL_TYPE && self.span.contains_key(name) {
            return Column {
                sql: format!("COALESCE({}, 'trace')", quote("attr.meta.signal_type")),
                kind: Kind::String,
            };
        }
        if let Some(field) = span_field(name) {
            return field;
        }
        if EXCEPTION_FIELDS.contains(&name) {
            return self.exception(name);
        }
        let span = self.span.get(name);
        let resource = self.resource.get(name);
        let span_sql = quote(&format!("attr.{name}"));
        let resource_sql = quote(&format!("resource.{name}"));
        match (span, resource) {
            (Some(t), None) => Column {
                sql: span_sql,
                kind: Kind::of(t),
            },
            (None, Some(t)) => Column {
                sql: resource_sql,
                kind: Kind::of(t),
            },
            (Some(a), Some(b)) if Kind::of(a) == Kind::of(b) => Column {
                sql: format!("COALESCE({span_sql}, {resource_sql})"),
                kind: Kind::of(a),
            },
            (Some(a), Some(b)) if Kind::of(a).is_numeric() && Kind::of(b).is_numeric() => Column {
                sql: format!(
                    "COALESCE(CAST({span_sql} AS DOUBLE), CAST({resource_sql} AS DOUBLE))"
                ),
                kind: Kind::Float,
            },
            (Some(_), Some(_)) => Column {
                sql: format!(
                    "COALESCE(CAST({span_sql} AS VARCHAR), CAST({resource_sql} AS VARCHAR))"
                ),
                kind: Kind::String,
            },
            (None, None) => Column {
                sql: "CAST(NULL AS VARCHAR)".into(),
                kind: Kind::String,
            },
        }
    }

    /// An `exception.*` column: the span's own attribute, else its exception event's.
    fn exception(&self, name: &str) -> Column {
        let from_event = format!("span_exception(\"events\", {})", string_literal(name));
        let sql = match self.span.get(name) {
            Some(_) => format!(
                "COALESCE(CAST({} AS VARCHAR), {from_event})",
                quote(&format!("attr.{name}"))
            ),
            None => from_event,
        };
        Column {
            sql,
            kind: Kind::String,
        }
    }

    /// Whether any event can have `name`.
    pub fn knows(&self, name: &str) -> bool {
        self.fields.contains_key(name)
            || span_field(name).is_some()
            || EXCEPTION_FIELDS.contains(&name)
            || self.span.contains_key(name)
            || self.resource.contains_key(name)
    }

    /// Adds calculated fields, in order (each may use the ones before it); a field whose
    /// expression is broken or names an unknown column is refused, naming it.
    pub fn define(
        &mut self,
        fields: &[crate::spec::NamedExpression],
    ) -> crate::HoneycombResult<()> {
        for (i, field) in fields.iter().enumerate() {
            let compiled = crate::derived::compile(&field.expression, &|name| {
                self.knows(name).then(|| self.resolve(name))
            })
            .map_err(|e| {
                crate::HoneycombError::invalid(format!("calculated_fields[{i}].expression"), e)
            })?;
            self.fields.insert(field.name.clone(), compiled);
            self.sources
                .insert(field.name.clone(), field.expression.clone());
        }
        Ok(())
    }

    /// Adds the calculated fields saved for a dataset; one that no longer compiles (a
    /// column it names is gone) is refused, naming it.
    pub fn define_saved(
        &mut self,
        fields: &[crate::spec::NamedExpression],
    ) -> crate::HoneycombResult<()> {
        for field in fields {
            let compiled = crate::derived::compile(&field.expression, &|name| {
                self.knows(name).then(|| self.resolve(name))
            })
            .map_err(|e| {
                crate::HoneycombError::BadRequest(format!(
                    "the saved calculated field {:?} cannot be used: {e}",
                    field.name
                ))
            })?;
            self.fields.insert(field.name.clone(), compiled);
            self.sources
                .insert(field.name.clone(), field.expression.clone());
        }
        Ok(())
    }

    /// The expression of the calculated field `name`.
    pub(crate) fn source_of(&self, name: &str) -> Option<&str> {
        self.sources.get(name).map(String::as_str)
    }

    /// The resource attribute `key`, when some resource has it.
    pub(crate) fn resource_of(&self, key: &str) -> Option<Column> {
        self.resource.get(key).map(|t| Column {
            sql: quote(&format!("resource.{key}")),
            kind: Kind::of(t),
        })
    }

    /// Whether `expression` compiles against these columns (and fields).
    pub fn check(&self, expression: &str) -> Result<(), String> {
        crate::derived::compile(expression, &|name| {
            self.knows(name).then(|| self.resolve(name))
        })
        .map(|_| ())
    }

    /// The catalog of the session's `spans` table, with a query's saved and inline
    /// calculated fields defined.
    pub async fn of_session(
        context: &datafusion::prelude::SessionContext,
        query: &crate::spec::Validated,
    ) -> crate::HoneycombResult<Self> {
        let table = context
            .table_provider(combray_query::sql::TABLE)
            .await
            .map_err(combray_query::QueryError::from)?;
        let mut catalog = Self::of(&table.schema());
        catalog.define_saved(&query.saved_fields)?;
        catalog.define(&query.calculated_fields)?;
        Ok(catalog)
    }

    /// Every column and its kind: the span fields, then the attribute keys.
    pub fn columns(&self) -> Vec<(String, Kind)> {
        let mut columns: Vec<(String, Kind)> = SPAN_FIELDS
            .iter()
            .map(|name| ((*name).to_owned(), self.resolve(name).kind))
            .collect();
        let keys: std::collections::BTreeSet<&String> =
            self.span.keys().chain(self.resource.keys()).collect();
        for key in keys {
            if span_field(key).is_none() {
                columns.push((key.clone(), self.resolve(key).kind));
            }
        }
        columns
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::Field;

    use super::*;

    #[test]
    fn span_attributes_win_over_resource_ones_and_unknown_names_are_null() {
        let schema = Schema::new(vec![
            Field::new("attr.http.route", DataType::Utf8, true),
            Field::new("attr.shared", DataType::Int64, true),
            Field::new("resource.shared", DataType::Float64, true),
            Field::new("resource.host.name", DataType::Utf8, true),
        ]);
        let catalog = Catalog::of(&schema);
        assert_eq!(catalog.resolve("http.route").sql, "\"attr.http.route\"");
        assert_eq!(catalog.resolve("host.name").sql, "\"resource.host.name\"");
        let shared = catalog.resolve("shared");
        assert_eq!(shared.kind, Kind::Float);
        assert!(shared.sql.starts_with("COALESCE(CAST(\"attr.shared\""));
        assert_eq!(catalog.resolve("duration_ms").kind, Kind::Float);
        assert_eq!(catalog.resolve("nope").sql, "CAST(NULL AS VARCHAR)");
        assert!(!catalog.knows("nope"));
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }
}
