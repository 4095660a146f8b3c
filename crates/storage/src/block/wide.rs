//! Span schema v2, the block layout: every scalar span attribute key becomes a typed column
//! (`attr.<key>`) and every resource attribute key a derived column (`resource.<key>`), so SQL
//! and scans read one small column instead of decoding every span's attribute list.
//!
//! [`widen`] turns a v1 batch (the head's layout, attributes as one postcard list per row) into
//! v2; [`narrow`] turns it back. The round trip keeps every attribute: values that do not fit
//! their key's column (another type, arrays, maps, bytes, empty values, duplicate keys, keys past
//! [`MAX_ATTRIBUTE_COLUMNS`]) stay in the per-row `attributes_overflow` list. Only the order of a
//! span's attributes is not kept (columns come back sorted by key, then the overflow), which
//! OTLP's map semantics allow. Resource columns are copies; the resource list stays
//! authoritative. The byte-level description is in `docs/formats/span-schema-v2.md`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, StringBuilder};
use arrow_array::builder::{BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use combray_model::{AttributeValueRef, KeyValueRef};
use serde::{Deserialize, Serialize};

use super::key_types::for_each_key_type;
use crate::head::schema::{column, span_schema, VERSION_KEY};
use crate::head::Chunk;
use crate::StorageError;

/// Span schema version of blocks with typed attribute columns.
pub(crate) const WIDE_SCHEMA_VERSION: &str = "2";
/// Name prefix of span attribute columns.
pub const ATTRIBUTE_PREFIX: &str = "attr.";
/// Name prefix of resource attribute columns.
pub const RESOURCE_PREFIX: &str = "resource.";
/// The per-row list of span attributes that have no column.
pub const OVERFLOW_COLUMN: &str = "attributes_overflow";
/// At most this many span attribute keys of one block get columns; the most frequent win.
pub(crate) const MAX_ATTRIBUTE_COLUMNS: usize = 1000;
/// At most this many resource attribute keys of one block get columns.
pub(crate) const MAX_RESOURCE_COLUMNS: usize = 200;

/// The type of an attribute column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Double,
    /// Boolean.
    Bool,
}

impl ColumnType {
    const ALL: [ColumnType; 4] = [Self::String, Self::Int, Self::Double, Self::Bool];

    /// The Arrow type of the column.
    pub fn data_type(self) -> DataType {
        match self {
            Self::String => DataType::Utf8,
            Self::Int => DataType::Int64,
            Self::Double => DataType::Float64,
            Self::Bool => DataType::Boolean,
        }
    }

    fn of(value: &AttributeValueRef<'_>) -> Option<Self> {
        match value {
            AttributeValueRef::String(_) => Some(Self::String),
            AttributeValueRef::Int(_) => Some(Self::Int),
            AttributeValueRef::Double(_) => Some(Self::Double),
            AttributeValueRef::Bool(_) => Some(Self::Bool),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A hash map with a fast, non-cryptographic hasher: its keys are attribute names of one
/// chunk, hashed once per attribute of every row.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

fn codec(error: impl std::fmt::Display) -> StorageError {
    StorageError::Codec(error.to_string())
}

/// How often each attribute key was seen with each scalar type.
#[derive(Default)]
struct ColumnCounts {
    counts: FastMap<String, [usize; 4]>,
}

impl ColumnCounts {
    fn observe(&mut self, key: &str, value: &AttributeValueRef<'_>, weight: usize) {
        self.observe_type(key, ColumnType::of(value), weight);
    }

    fn observe_type(&mut self, key: &str, column_type: Option<ColumnType>, weight: usize) {
        let Some(column_type) = column_type else {
            return;
        };
        // Keys repeat on every row: allocate one only the first time it is seen.
        match self.counts.get_mut(key) {
            Some(by_type) => by_type[column_type.index()] += weight,
            None => {
                let mut by_type = [0; 4];
                by_type[column_type.index()] = weight;
                self.counts.insert(key.to_owned(), by_type);
            }
        }
    }

    /// Each key's column type (its most common scalar type), for the `limit` most frequent keys.
    fn choose(self, limit: usize) -> BTreeMap<String, ColumnType> {
        let mut ranked: Vec<(String, usize, ColumnType)> = self
            .counts
            .into_iter()
            .map(|(key, by_type)| {
                let best = ColumnType::ALL
                    .into_iter()
                    .max_by_key(|t| (by_type[t.index()], std::cmp::Reverse(t.index())))
                    .unwrap_or(ColumnType::String);
                (key, by_type.iter().sum(), best)
            })
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(limit);
        ranked.into_iter().map(|(k, _, t)| (k, t)).collect()
    }
}

/// The attribute columns of a block, chosen once over all its rows, so that a block built slice
/// by slice has one schema.
pub struct BlockColumns {
    /// Span attribute key → column type.
    span: BTreeMap<String, ColumnType>,
    /// Resource attribute key → column type.
    resource: BTreeMap<String, ColumnType>,
}

impl BlockColumns {
    /// Chooses the columns for the rows of `chunks`: the most frequent keys, each with its most
    /// common scalar type (a resource counts once per span it applies to).
    pub fn choose<'c>(chunks: impl IntoIterator<Item = &'c Chunk>) -> Result<Self, StorageError> {
        let (mut span, mut resource) = (ColumnCounts::default(), ColumnCounts::default());
        for chunk in chunks {
            for row in 0..chunk.len() {
                for_each_key_type(chunk.attribute_bytes(row), |key, column_type| {
                    span.observe_type(key, column_type, 1)
                })?;
            }
            let (resources, resource_of_row) = chunk.distinct_resources()?;
            let mut weights = vec![0usize; resources.len()];
            for &index in &resource_of_row {
                weights[index] += 1;
            }
            for (attributes, weight) in resources.iter().zip(weights) {
                for attribute in attributes.iter().filter(|_| weight > 0) {
                    resource.observe(attribute.key, &attribute.value, weight);
                }
            }
        }
        Ok(Self {
            span: span.choose(MAX_ATTRIBUTE_COLUMNS),
            resource: resource.choose(MAX_RESOURCE_COLUMNS),
        })
    }

    /// Column name → type, as a block's meta lists them.
    pub fn names(&self) -> BTreeMap<String, ColumnType> {
        let span = self
            .span
            .iter()
            .map(|(k, t)| (format!("{ATTRIBUTE_PREFIX}{k}"), *t));
        let resource = self
            .resource
            .iter()
            .map(|(k, t)| (format!("{RESOURCE_PREFIX}{k}"), *t));
        span.chain(resource).collect()
    }
}

/// One typed column being filled row by row.
enum TypedBuilder {
    String(StringBuilder),
    Int(Int64Builder),
    Double(Float64Builder),
    Bool(BooleanBuilder),
}

impl TypedBuilder {
    fn new(column_type: ColumnType) -> Self {
        match column_type {
            ColumnType::String => Self::String(StringBuilder::new()),
            ColumnType::Int => Self::Int(Int64Builder::new()),
            ColumnType::Double => Self::Double(Float64Builder::new()),
            ColumnType::Bool => Self::Bool(BooleanBuilder::new()),
        }
    }

    /// Appends `value` if it has the column's type; `false` (nothing appended) otherwise.
    fn append(&mut self, value: &AttributeValueRef<'_>) -> bool {
        match (self, value) {
            (Self::String(b), AttributeValueRef::String(v)) => b.append_value(v),
            (Self::Int(b), AttributeValueRef::Int(v)) => b.append_value(*v),
            (Self::Double(b), AttributeValueRef::Double(v)) => b.append_value(*v),
            (Self::Bool(b), AttributeValueRef::Bool(v)) => b.append_value(*v),
            _ => return false,
        }
        true
    }

    fn append_null(&mut self) {
        match self {
            Self::String(b) => b.append_null(),
            Self::Int(b) => b.append_null(),
            Self::Double(b) => b.append_null(),
            Self::Bool(b) => b.append_null(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::String(b) => b.len(),
            Self::Int(b) => b.len(),
            Self::Double(b) => b.len(),
            Self::Bool(b) => b.len(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Self::String(mut b) => Arc::new(b.finish()),
            Self::Int(mut b) => Arc::new(b.finish()),
            Self::Double(mut b) => Arc::new(b.finish()),
            Self::Bool(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Typed columns for a set of chosen keys, filled one row at a time.
struct ColumnSet<'a> {
    /// Sorted by key, the order the columns are written in.
    columns: Vec<(&'a str, ColumnType, TypedBuilder)>,
    /// Key → position in `columns`.
    index: FastMap<&'a str, usize>,
}

impl<'a> ColumnSet<'a> {
    fn new(chosen: &'a BTreeMap<String, ColumnType>) -> Self {
        let columns: Vec<_> = chosen
            .iter()
            .map(|(key, t)| (key.as_str(), *t, TypedBuilder::new(*t)))
            .collect();
        let index = columns
            .iter()
            .enumerate()
            .map(|(position, (key, _, _))| (*key, position))
            .collect();
        Self { columns, index }
    }

    /// Puts a row's attributes into their columns; returns those that did not fit.
    fn push_row<'r, 'v>(
        &mut self,
        row: usize,
        attributes: &'r [KeyValueRef<'v>],
    ) -> Vec<&'r KeyValueRef<'v>> {
        let mut leftovers = Vec::new();
        for attribute in attributes {
            let builder = self
                .index
                .get(attribute.key)
                .map(|&position| &mut self.columns[position].2);
            let fitted = match builder {
                // A builder already longer than `row` holds this key for this row: a duplicate.
                Some(builder) if builder.len() == row => builder.append(&attribute.value),
                _ => false,
            };
            if !fitted {
                leftovers.push(attribute);
            }
        }
        for (_, _, builder) in &mut self.columns {
            if builder.len() == row {
                builder.append_null();
            }
        }
        leftovers
    }

    fn finish(self, prefix: &str, fields: &mut Vec<Field>, arrays: &mut Vec<ArrayRef>) {
        for (key, column_type, builder) in self.columns {
            fields.push(Field::new(
                format!("{prefix}{key}"),
                column_type.data_type(),
                true,
            ));
            arrays.push(builder.finish());
        }
    }
}

/// A v1 batch in the v2 layout, and the attribute columns it has (name → type).
pub struct WideBatch {
    /// The batch.
    pub batch: RecordBatch,
    /// `attr.*` and `resource.*` columns.
    pub columns: BTreeMap<String, ColumnType>,
}

/// v1 → v2, with columns chosen for this chunk alone.
pub fn widen(chunk: &Chunk) -> Result<WideBatch, StorageError> {
    let columns = BlockColumns::choose([chunk])?;
    Ok(WideBatch {
        batch: widen_with(chunk, &columns)?,
        columns: columns.names(),
    })
}

/// v1 → v2 with the block's columns: values that do not fit them go to the overflow list.
pub(crate) fn widen_with(
    chunk: &Chunk,
    columns: &BlockColumns,
) -> Result<RecordBatch, StorageError> {
    let mut span_columns = ColumnSet::new(&columns.span);
    let mut overflow = BinaryBuilder::new();
    let mut encoded = Vec::new();
    for row in 0..chunk.len() {
        // Borrowed views: keys and text point into the chunk, so sorting attributes into
        // columns allocates nothing per attribute.
        let attributes = chunk.attribute_views(row)?;
        let leftovers = span_columns.push_row(row, &attributes);
        if leftovers.is_empty() {
            overflow.append_null();
        } else {
            encoded.clear();
            postcard::to_io(&leftovers, &mut encoded).map_err(codec)?;
            overflow.append_value(&encoded);
        }
    }
    let (resources, resource_of_row) = chunk.distinct_resources()?;
    let mut resource_columns = ColumnSet::new(&columns.resource);
    for (row, &resource) in resource_of_row.iter().enumerate() {
        resource_columns.push_row(row, &resources[resource]);
    }

    let source = chunk.record_batch();
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (field, array) in source.schema().fields().iter().zip(source.columns()) {
        if field.name() == column::ATTRIBUTES {
            fields.push(Field::new(OVERFLOW_COLUMN, DataType::Binary, true));
            arrays.push(Arc::new(overflow.finish()) as ArrayRef);
        } else {
            fields.push(field.as_ref().clone());
            arrays.push(Arc::clone(array));
        }
    }
    span_columns.finish(ATTRIBUTE_PREFIX, &mut fields, &mut arrays);
    resource_columns.finish(RESOURCE_PREFIX, &mut fields, &mut arrays);
    let metadata = HashMap::from([(VERSION_KEY.to_owned(), WIDE_SCHEMA_VERSION.to_owned())]);
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    RecordBatch::try_new(schema, arrays).map_err(codec)
}

/// Reads the value of a typed column at a row, if present, borrowing text from the column.
fn typed_value(array: &dyn Array, row: usize) -> Option<AttributeValueRef<'_>> {
    if array.is_null(row) {
        return None;
    }
    use arrow_array::types::{Float64Type, Int64Type};
    Some(match array.data_type() {
        DataType::Int64 => AttributeValueRef::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float64 => {
            AttributeValueRef::Double(array.as_primitive::<Float64Type>().value(row))
        }
        DataType::Boolean => AttributeValueRef::Bool(array.as_boolean().value(row)),
        DataType::Utf8 => AttributeValueRef::String(array.as_string::<i32>().value(row)),
        DataType::Utf8View => AttributeValueRef::String(array.as_string_view().value(row)),
        DataType::LargeUtf8 => AttributeValueRef::String(array.as_string::<i64>().value(row)),
        _ => return None,
    })
}

/// v2 → v1: the attribute list of each row is rebuilt from its columns and its overflow.
pub(crate) fn narrow(batch: &RecordBatch) -> Result<RecordBatch, StorageError> {
    let schema = batch.schema();
    let attribute_columns: Vec<(&str, &ArrayRef)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter_map(|(f, a)| f.name().strip_prefix(ATTRIBUTE_PREFIX).map(|key| (key, a)))
        .collect();
    let overflow: Option<&BinaryArray> = batch
        .column_by_name(OVERFLOW_COLUMN)
        .and_then(|a| a.as_binary_opt::<i32>());
    let mut attributes = BinaryBuilder::new();
    let mut encoded = Vec::new();
    for row in 0..batch.num_rows() {
        let mut list: Vec<KeyValueRef<'_>> = attribute_columns
            .iter()
            .filter_map(|(key, array)| {
                typed_value(array.as_ref(), row).map(|value| KeyValueRef { key, value })
            })
            .collect();
        if let Some(overflow) = overflow.filter(|o| !o.is_null(row)) {
            let extra: Vec<KeyValueRef<'_>> =
                postcard::from_bytes(overflow.value(row)).map_err(codec)?;
            list.extend(extra);
        }
        encoded.clear();
        postcard::to_io(&list, &mut encoded).map_err(codec)?;
        attributes.append_value(&encoded);
    }
    let attributes: ArrayRef = Arc::new(attributes.finish());
    let v1 = span_schema();
    let arrays = v1
        .fields()
        .iter()
        .map(|field| {
            if field.name() == column::ATTRIBUTES {
                return Ok(Arc::clone(&attributes));
            }
            batch
                .column_by_name(field.name())
                .cloned()
                .ok_or_else(|| codec(format!("block batch has no {} column", field.name())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(v1, arrays).map_err(codec)
}

#[cfg(test)]
#[path = "wide_tests.rs"]
mod tests;
