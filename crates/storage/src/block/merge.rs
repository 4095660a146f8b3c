//! Compaction's merge: blocks become one block sorted by trace id, then start.
//!
//! Blocks in the block layout (span schema v2) are merged as they are stored: their attribute
//! columns are joined by name, a block without a column gets nulls for it, and the rows are
//! interleaved into order. Nothing is decoded into per-span attribute lists and re-sorted into
//! columns, which was 40% of a compaction's time. Each row keeps exactly its values: its
//! non-null columns plus its overflow list, as in its input.
//!
//! Column by column is possible only when the inputs agree: one type per column name, no more
//! columns than a block may have, the same key columns. Otherwise (or for a block of span
//! schema v1) every row is narrowed back to the head's layout and widened again, which chooses
//! every column afresh.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, FieldRef, Schema, SchemaRef};

use super::read::Block;
use super::wide::{
    ColumnType, ATTRIBUTE_PREFIX, MAX_ATTRIBUTE_COLUMNS, MAX_RESOURCE_COLUMNS, RESOURCE_PREFIX,
    WIDE_SCHEMA_VERSION,
};
use super::write::{build_block, write_sorted, BlockOrigin, BuiltBlock};
use crate::head::schema::VERSION_KEY;
use crate::StorageError;

fn codec(error: impl std::fmt::Display) -> StorageError {
    StorageError::Codec(error.to_string())
}

/// Merges the rows of `inputs` (each block with its stored batches) into one block.
pub fn merge_blocks(
    inputs: Vec<(Arc<Block>, Vec<RecordBatch>)>,
    origin: &BlockOrigin<'_>,
) -> Result<BuiltBlock, StorageError> {
    if inputs.iter().all(|(block, _)| block.is_wide()) {
        let batches: Vec<&RecordBatch> = inputs.iter().flat_map(|(_, b)| b).collect();
        if let Some(layout) = joint_layout(&batches) {
            return merge_columns(&batches, layout, origin);
        }
    }
    let mut chunks = Vec::new();
    for (block, batches) in inputs {
        for batch in batches {
            chunks.push(Arc::new(block.to_chunk(batch)?));
        }
    }
    build_block(&chunks, origin)
}

/// The merged block's schema: the key columns, then every input's attribute columns.
struct Layout {
    schema: SchemaRef,
    columns: BTreeMap<String, ColumnType>,
}

fn is_attribute_column(field: &Field) -> bool {
    field.name().starts_with(ATTRIBUTE_PREFIX) || field.name().starts_with(RESOURCE_PREFIX)
}

fn column_type(data_type: &DataType) -> Option<ColumnType> {
    match data_type {
        DataType::Utf8 => Some(ColumnType::String),
        DataType::Int64 => Some(ColumnType::Int),
        DataType::Float64 => Some(ColumnType::Double),
        DataType::Boolean => Some(ColumnType::Bool),
        _ => None,
    }
}

/// The layout every batch fits, if they agree on their key columns and their column types,
/// and the union stays within a block's column limits.
fn joint_layout(batches: &[&RecordBatch]) -> Option<Layout> {
    let first = batches.first()?.schema();
    let key_fields: Vec<FieldRef> = first
        .fields()
        .iter()
        .filter(|f| !is_attribute_column(f))
        .cloned()
        .collect();
    let mut columns: BTreeMap<String, ColumnType> = BTreeMap::new();
    for batch in batches {
        let schema = batch.schema();
        let (keys, attributes): (Vec<&FieldRef>, Vec<&FieldRef>) = schema
            .fields()
            .iter()
            .partition(|f| !is_attribute_column(f));
        let same_keys = keys.len() == key_fields.len()
            && keys.iter().zip(&key_fields).all(|(a, b)| {
                a.name() == b.name()
                    && a.data_type() == b.data_type()
                    && a.is_nullable() == b.is_nullable()
            });
        if !same_keys {
            return None;
        }
        for field in attributes {
            let wanted = column_type(field.data_type())?;
            if *columns.entry(field.name().clone()).or_insert(wanted) != wanted {
                return None;
            }
        }
    }
    let span_columns = columns
        .keys()
        .filter(|name| name.starts_with(ATTRIBUTE_PREFIX))
        .count();
    if span_columns > MAX_ATTRIBUTE_COLUMNS || columns.len() - span_columns > MAX_RESOURCE_COLUMNS {
        return None;
    }
    // Names sort `attr.*` before `resource.*`, each by key: the order `widen` writes.
    let fields: Vec<FieldRef> = key_fields
        .into_iter()
        .chain(
            columns
                .iter()
                .map(|(name, t)| Arc::new(Field::new(name, t.data_type(), true))),
        )
        .collect();
    let metadata = HashMap::from([(VERSION_KEY.to_owned(), WIDE_SCHEMA_VERSION.to_owned())]);
    Some(Layout {
        schema: Arc::new(Schema::new_with_metadata(fields, metadata)),
        columns,
    })
}

fn merge_columns(
    batches: &[&RecordBatch],
    layout: Layout,
    origin: &BlockOrigin<'_>,
) -> Result<BuiltBlock, StorageError> {
    let longest = batches.iter().map(|b| b.num_rows()).max().unwrap_or(0);
    // One all-null array per column type, sliced for every batch that lacks a column: a block
    // of many columns merged with blocks that lack them costs no memory per missing column.
    let nulls: HashMap<ColumnType, ArrayRef> = layout
        .columns
        .values()
        .map(|t| (*t, new_null_array(&t.data_type(), longest)))
        .collect();
    let conformed = batches
        .iter()
        .map(|batch| {
            let arrays = layout
                .schema
                .fields()
                .iter()
                .map(|field| match batch.column_by_name(field.name()) {
                    Some(array) => Ok(Arc::clone(array)),
                    None => layout
                        .columns
                        .get(field.name())
                        .map(|t| nulls[t].slice(0, batch.num_rows()))
                        .ok_or_else(|| codec(format!("a block lacks the {} column", field.name()))),
                })
                .collect::<Result<Vec<ArrayRef>, StorageError>>()?;
            RecordBatch::try_new(Arc::clone(&layout.schema), arrays).map_err(codec)
        })
        .collect::<Result<Vec<RecordBatch>, StorageError>>()?;
    let sources: Vec<&RecordBatch> = conformed.iter().collect();
    write_sorted(&sources, layout.columns, origin, Ok)
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
