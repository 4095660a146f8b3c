//! Result batches as JSON rows: numbers and booleans as themselves, binary (ids) as lowercase
//! hex, timestamps as RFC 3339 text, lists as arrays, and everything else as DataFusion displays
//! it.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use datafusion::arrow::compute::cast;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::Result;
use serde_json::Value;

fn number(value: impl Into<serde_json::Number>) -> Value {
    Value::Number(value.into())
}

fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(value.to_string()))
}

/// The JSON value of every row of one column.
fn column_values(array: &ArrayRef) -> Result<Vec<Value>> {
    let array = match array.data_type() {
        DataType::Dictionary(_, value) => cast(array, value)?,
        _ => array.clone(),
    };
    let rows = 0..array.len();
    let values = match array.data_type() {
        DataType::Int8 => rows
            .map(|r| number(array.as_primitive::<Int8Type>().value(r)))
            .collect(),
        DataType::Int16 => rows
            .map(|r| number(array.as_primitive::<Int16Type>().value(r)))
            .collect(),
        DataType::Int32 => rows
            .map(|r| number(array.as_primitive::<Int32Type>().value(r)))
            .collect(),
        DataType::Int64 => rows
            .map(|r| number(array.as_primitive::<Int64Type>().value(r)))
            .collect(),
        DataType::UInt8 => rows
            .map(|r| number(array.as_primitive::<UInt8Type>().value(r)))
            .collect(),
        DataType::UInt16 => rows
            .map(|r| number(array.as_primitive::<UInt16Type>().value(r)))
            .collect(),
        DataType::UInt32 => rows
            .map(|r| number(array.as_primitive::<UInt32Type>().value(r)))
            .collect(),
        DataType::UInt64 => rows
            .map(|r| number(array.as_primitive::<UInt64Type>().value(r)))
            .collect(),
        DataType::Float32 => rows
            .map(|r| float(f64::from(array.as_primitive::<Float32Type>().value(r))))
            .collect(),
        DataType::Float64 => rows
            .map(|r| float(array.as_primitive::<Float64Type>().value(r)))
            .collect(),
        DataType::Boolean => rows
            .map(|r| Value::Bool(array.as_boolean().value(r)))
            .collect(),
        DataType::FixedSizeBinary(_) => {
            let binary = array.as_fixed_size_binary();
            rows.map(|r| Value::String(hex::encode(binary.value(r))))
                .collect()
        }
        DataType::Binary => {
            let binary = array.as_binary::<i32>();
            rows.map(|r| Value::String(hex::encode(binary.value(r))))
                .collect()
        }
        DataType::List(_) => {
            let lists = array.as_list::<i32>();
            rows.map(|r| column_values(&lists.value(r)).map(Value::Array))
                .collect::<Result<Vec<_>>>()?
        }
        _ => {
            let options = FormatOptions::default();
            let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
            rows.map(|r| Value::String(formatter.value(r).to_string()))
                .collect()
        }
    };
    let values: Vec<Value> = values;
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(row, value)| {
            if array.is_null(row) {
                Value::Null
            } else {
                value
            }
        })
        .collect())
}

/// Appends a batch's rows to `rows`, at most `room` of them.
pub(crate) fn append_rows(
    batch: &RecordBatch,
    rows: &mut Vec<Vec<Value>>,
    room: usize,
) -> Result<()> {
    let take = batch.num_rows().min(room);
    let batch = batch.slice(0, take);
    let columns = batch
        .columns()
        .iter()
        .map(column_values)
        .collect::<Result<Vec<_>>>()?;
    for row in 0..take {
        rows.push(columns.iter().map(|c| c[row].clone()).collect());
    }
    Ok(())
}
