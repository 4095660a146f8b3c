//! The scan's table layout: the span columns of the block layout plus every attribute column any
//! block or head chunk of the snapshot has (`attr.*`, `resource.*`). A source without a column
//! reads it as null; a source whose column has another type is cast to the table's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::{new_null_array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::block::wide::{ColumnType, OVERFLOW_COLUMN};
use crate::head::schema::{column, span_schema};
use crate::StorageError;

/// Which of the postcard-encoded lists a scan's table has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    /// Typed columns only: what SQL sees (the lists mean nothing to it).
    Typed,
    /// The attribute lists too (`attributes` of v1 blocks, `attributes_overflow` and
    /// `resource`), which search reads to find values that have no typed column.
    WithLists,
    /// Typed columns and each span's scope, events and links, which Honeycomb's columns read
    /// (`library.name`, `span.num_events`, `exception.*`).
    WithSpanLists,
}

/// Lists only analysis scans show: otherwise scope, events and links are read whole, by trace.
const NEVER_SCANNED: [&str; 3] = [column::SCOPE, column::EVENTS, column::LINKS];

/// When sources disagree on a column's type, the one every value can be cast to.
fn unify(types: &BTreeSet<ColumnType>) -> ColumnType {
    match types.iter().copied().collect::<Vec<_>>().as_slice() {
        [only] => *only,
        [ColumnType::Int, ColumnType::Double] => ColumnType::Double,
        _ => ColumnType::String,
    }
}

/// Text reads as string views: Parquet's dictionary pages decode into views of the dictionary
/// rather than a copy of every value, and DataFusion groups views column-wise, where a
/// dictionary or plain text column sends a `GROUP BY` through its much slower row format.
pub(crate) fn as_view(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8 => DataType::Utf8View,
        DataType::Dictionary(_, value) if **value == DataType::Utf8 => DataType::Utf8View,
        other => other.clone(),
    }
}

/// The type a block's column is read as: plain text as views (what DataFusion does too);
/// dictionary-encoded text stays a dictionary and is cast when aligned.
pub(crate) fn read_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8 => DataType::Utf8View,
        other => other.clone(),
    }
}

/// The table's schema over sources whose attribute columns have these types.
pub(crate) fn table_schema(
    types: &BTreeMap<String, BTreeSet<ColumnType>>,
    columns: Columns,
) -> SchemaRef {
    let lists = columns == Columns::WithLists;
    let mut fields: Vec<Field> = span_schema()
        .fields()
        .iter()
        .filter(|f| match f.name().as_str() {
            // Only v1 blocks have the whole list; newer data reads it as null.
            column::RESOURCE | column::ATTRIBUTES => lists,
            name => columns == Columns::WithSpanLists || !NEVER_SCANNED.contains(&name),
        })
        .map(|f| {
            f.as_ref()
                .clone()
                .with_data_type(as_view(f.data_type()))
                .with_nullable(true)
        })
        .collect();
    if lists {
        fields.push(Field::new(OVERFLOW_COLUMN, DataType::Binary, true));
    }
    fields.extend(
        types
            .iter()
            .map(|(name, t)| Field::new(name, as_view(&unify(t).data_type()), true)),
    );
    Arc::new(Schema::new(fields))
}

/// A source's batch in the (projected) table layout: missing columns as nulls, other types cast
/// to the table's.
pub(crate) fn align(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, StorageError> {
    let codec = |e: arrow_schema::ArrowError| StorageError::Codec(e.to_string());
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(array) if array.data_type() == field.data_type() => Ok(Arc::clone(array)),
            Some(array) => arrow_cast::cast(array, field.data_type()).map_err(codec),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<Vec<ArrayRef>, StorageError>>()?;
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options).map_err(codec)
}
