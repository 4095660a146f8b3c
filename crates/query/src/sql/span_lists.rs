//! Scalar functions over a span's postcard-encoded scope, events and links, for the columns
//! Honeycomb derives from them:
//!
//! - `span_scope(scope, 'name' | 'version')`: the instrumentation library's name or version
//!   (`library.name`, `library.version`);
//! - `span_list_len(list)`: how many events or links a span has (`span.num_events`,
//!   `span.num_links`), read from the list's length prefix without decoding it; 0 for none;
//! - `span_exception(events, key)`: the attribute `key` (`exception.message`, …) of the span's
//!   first `exception` event, as text, the way Honeycomb promotes it onto the span.
//!
//! A scope column is dictionary-encoded: each distinct scope is decoded once, not once per row.

use std::sync::Arc;

use super::lists::text_argument;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, Int64Array, StringArray};
use arrow_schema::DataType;
use combray_model::{Event, Scope};
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Scope,
    Length,
    Exception,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SpanListFunction {
    kind: Kind,
    signature: Signature,
}

/// `span_scope(scope, 'name' | 'version')`, `span_list_len(list)` and
/// `span_exception(events, key)`.
pub(crate) fn functions() -> Vec<ScalarUDF> {
    [(Kind::Scope, 2), (Kind::Length, 1), (Kind::Exception, 2)]
        .into_iter()
        .map(|(kind, arity)| {
            ScalarUDF::new_from_impl(SpanListFunction {
                kind,
                signature: Signature::any(arity, Volatility::Immutable),
            })
        })
        .collect()
}

/// The length prefix of a postcard sequence: a LEB128 varint.
fn list_len(bytes: &[u8]) -> i64 {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return i64::try_from(value).unwrap_or(i64::MAX);
        }
    }
    0
}

fn scope_field(bytes: &[u8], field: &str) -> Option<String> {
    let scope: Scope = postcard::from_bytes(bytes).ok()?;
    let value = if field == "version" {
        scope.version
    } else {
        scope.name
    };
    (!value.is_empty()).then_some(value)
}

fn exception_field(bytes: &[u8], key: &str) -> Option<String> {
    let events: Vec<Event> = postcard::from_bytes(bytes).ok()?;
    let event = events.iter().find(|e| e.name == "exception")?;
    let value = event.attributes.iter().find(|kv| kv.key == key)?;
    Some(match value.value.to_json() {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    })
}

impl SpanListFunction {
    /// One answer per row of a plain binary array.
    fn answer_rows(&self, lists: &dyn Array, argument: &str) -> Result<ArrayRef> {
        let Some(binary) = lists.as_binary_opt::<i32>() else {
            return exec_err!("span lists are binary, not {}", lists.data_type());
        };
        let rows = 0..binary.len();
        let value = |row: usize| binary.is_valid(row).then(|| binary.value(row));
        Ok(match self.kind {
            Kind::Length => Arc::new(
                rows.map(|row| Some(value(row).map_or(0, list_len)))
                    .collect::<Int64Array>(),
            ),
            Kind::Scope => Arc::new(
                rows.map(|row| value(row).and_then(|b| scope_field(b, argument)))
                    .collect::<StringArray>(),
            ),
            Kind::Exception => Arc::new(
                rows.map(|row| value(row).and_then(|b| exception_field(b, argument)))
                    .collect::<StringArray>(),
            ),
        })
    }
}

impl ScalarUDFImpl for SpanListFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Scope => "span_scope",
            Kind::Length => "span_list_len",
            Kind::Exception => "span_exception",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Length => DataType::Int64,
            Kind::Scope | Kind::Exception => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let argument = match self.kind {
            Kind::Length => String::new(),
            _ => text_argument(&args.args[1], "second argument")?,
        };
        let lists = args.args[0].clone().into_array(args.number_rows)?;
        let answers = match lists.data_type() {
            DataType::Dictionary(_, _) => {
                let Some(dictionary) = lists.as_dictionary_opt::<Int32Type>() else {
                    return exec_err!("span list dictionaries have Int32 keys");
                };
                let per_value = self.answer_rows(dictionary.values().as_ref(), &argument)?;
                let keys: Vec<u32> = dictionary
                    .keys()
                    .iter()
                    .map(|k| k.map_or(u32::MAX, |k| k as u32))
                    .collect();
                let indices = arrow_array::UInt32Array::from_iter(
                    keys.iter().map(|&k| (k != u32::MAX).then_some(k)),
                );
                datafusion::arrow::compute::take(per_value.as_ref(), &indices, None)?
            }
            DataType::Null => {
                let empty: ArrayRef = Arc::new(arrow_array::BinaryArray::new_null(lists.len()));
                self.answer_rows(empty.as_ref(), &argument)?
            }
            _ => self.answer_rows(lists.as_ref(), &argument)?,
        };
        Ok(ColumnarValue::Array(answers))
    }
}

#[cfg(test)]
mod tests {
    use combray_model::{AttributeValue, KeyValue};

    use super::*;

    #[test]
    fn lengths_scopes_and_exceptions_are_read_from_the_encoded_lists() {
        let events = vec![
            Event {
                time_unix_nano: 1,
                name: "retry".into(),
                attributes: vec![KeyValue::new(
                    "exception.message",
                    AttributeValue::String("no".into()),
                )],
                dropped_attributes_count: 0,
            },
            Event {
                time_unix_nano: 2,
                name: "exception".into(),
                attributes: vec![
                    KeyValue::new("exception.type", AttributeValue::String("KeyError".into())),
                    KeyValue::new("exception.escaped", AttributeValue::Bool(true)),
                ],
                dropped_attributes_count: 0,
            },
        ];
        let encoded = postcard::to_allocvec(&events).unwrap();
        assert_eq!(list_len(&encoded), 2);
        let many: Vec<Event> = (0..300).map(|_| events[0].clone()).collect();
        assert_eq!(list_len(&postcard::to_allocvec(&many).unwrap()), 300);
        assert_eq!(
            exception_field(&encoded, "exception.type").as_deref(),
            Some("KeyError")
        );
        assert_eq!(
            exception_field(&encoded, "exception.escaped").as_deref(),
            Some("true")
        );
        assert_eq!(
            exception_field(&encoded, "exception.message"),
            None,
            "only the exception event counts"
        );
        assert_eq!(exception_field(b"\xff\xff", "exception.type"), None);
        let scope = Scope {
            name: "opentelemetry.instrumentation.flask".into(),
            version: "0.59b0".into(),
            attributes: Vec::new(),
        };
        let scope = postcard::to_allocvec(&scope).unwrap();
        assert_eq!(
            scope_field(&scope, "name").as_deref(),
            Some("opentelemetry.instrumentation.flask")
        );
        assert_eq!(scope_field(&scope, "version").as_deref(), Some("0.59b0"));
    }
}
