//! Scalar functions that read one event or link of a span, by its index in the span's list,
//! so that a query can turn each span event and link into a row of its own (Honeycomb's
//! `meta.annotation_type` rows): `unnest(range(span_list_len(events)))` gives the indexes.
//!
//! - `span_event_name(events, i)`, `span_event_time(events, i)` (Unix nanoseconds),
//!   `span_event_attr(events, i, key)` (the attribute as text);
//! - `span_link_trace(links, i)`, `span_link_span(links, i)` (lowercase hex),
//!   `span_link_attr(links, i, key)`.
//!
//! An index past the list, a null list or one that does not decode reads as null.

use std::sync::Arc;

use super::lists::text_argument;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, StringArray};
use arrow_schema::DataType;
use combray_model::{AttributeValue, Event, KeyValue, Link};
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Field {
    EventName,
    EventTime,
    EventAttribute,
    LinkTrace,
    LinkSpan,
    LinkAttribute,
}

impl Field {
    const ALL: [Self; 6] = [
        Self::EventName,
        Self::EventTime,
        Self::EventAttribute,
        Self::LinkTrace,
        Self::LinkSpan,
        Self::LinkAttribute,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::EventName => "span_event_name",
            Self::EventTime => "span_event_time",
            Self::EventAttribute => "span_event_attr",
            Self::LinkTrace => "span_link_trace",
            Self::LinkSpan => "span_link_span",
            Self::LinkAttribute => "span_link_attr",
        }
    }

    fn takes_key(self) -> bool {
        matches!(self, Self::EventAttribute | Self::LinkAttribute)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SpanRowFunction {
    field: Field,
    signature: Signature,
}

/// Every function of this module.
pub(crate) fn functions() -> Vec<ScalarUDF> {
    Field::ALL
        .into_iter()
        .map(|field| {
            let arity = if field.takes_key() { 3 } else { 2 };
            ScalarUDF::new_from_impl(SpanRowFunction {
                field,
                signature: Signature::any(arity, Volatility::Immutable),
            })
        })
        .collect()
}

fn text_of(value: &AttributeValue) -> String {
    match value.to_json() {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| text_of(&kv.value))
}

impl SpanRowFunction {
    /// The text answer for one list and index.
    fn text(&self, bytes: &[u8], index: usize, key: &str) -> Option<String> {
        match self.field {
            Field::EventName | Field::EventAttribute => {
                let events: Vec<Event> = postcard::from_bytes(bytes).ok()?;
                let event = events.get(index)?;
                match self.field {
                    Field::EventName => Some(event.name.clone()),
                    _ => attribute(&event.attributes, key),
                }
            }
            Field::LinkTrace | Field::LinkSpan | Field::LinkAttribute => {
                let links: Vec<Link> = postcard::from_bytes(bytes).ok()?;
                let link = links.get(index)?;
                match self.field {
                    Field::LinkTrace => Some(link.trace_id.to_hex()),
                    Field::LinkSpan => Some(link.span_id.to_hex()),
                    _ => attribute(&link.attributes, key),
                }
            }
            Field::EventTime => None,
        }
    }

    fn time(bytes: &[u8], index: usize) -> Option<i64> {
        let events: Vec<Event> = postcard::from_bytes(bytes).ok()?;
        i64::try_from(events.get(index)?.time_unix_nano).ok()
    }
}

impl ScalarUDFImpl for SpanRowFunction {
    fn name(&self) -> &str {
        self.field.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(if self.field == Field::EventTime {
            DataType::Int64
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let key = if self.field.takes_key() {
            text_argument(&args.args[2], "key")?
        } else {
            String::new()
        };
        let lists = args.args[0].clone().into_array(rows)?;
        let lists = if lists.data_type() == &DataType::Null {
            Arc::new(arrow_array::BinaryArray::new_null(rows)) as ArrayRef
        } else {
            lists
        };
        let Some(binary) = lists.as_binary_opt::<i32>() else {
            return exec_err!("span lists are binary, not {}", lists.data_type());
        };
        let indexes = datafusion::arrow::compute::cast(
            &args.args[1].clone().into_array(rows)?,
            &DataType::Int64,
        )?;
        let indexes = indexes.as_primitive::<Int64Type>();
        let at = |row: usize| -> Option<(&[u8], usize)> {
            if binary.is_null(row) || indexes.is_null(row) {
                return None;
            }
            Some((binary.value(row), usize::try_from(indexes.value(row)).ok()?))
        };
        let answer: ArrayRef = if self.field == Field::EventTime {
            Arc::new(
                (0..rows)
                    .map(|row| at(row).and_then(|(b, i)| Self::time(b, i)))
                    .collect::<Int64Array>(),
            )
        } else {
            Arc::new(
                (0..rows)
                    .map(|row| at(row).and_then(|(b, i)| self.text(b, i, &key)))
                    .collect::<StringArray>(),
            )
        };
        Ok(ColumnarValue::Array(answer))
    }
}

#[cfg(test)]
mod tests {
    use combray_model::{SpanId, TraceId};

    use super::*;

    #[test]
    fn events_and_links_are_read_by_index() {
        let events = vec![Event {
            time_unix_nano: 42,
            name: "exception".into(),
            attributes: vec![KeyValue::new("attempt", AttributeValue::Int(3))],
            dropped_attributes_count: 0,
        }];
        let bytes = postcard::to_allocvec(&events).unwrap();
        let function = |field| SpanRowFunction {
            field,
            signature: Signature::any(3, Volatility::Immutable),
        };
        assert_eq!(
            function(Field::EventName).text(&bytes, 0, "").as_deref(),
            Some("exception")
        );
        assert_eq!(
            function(Field::EventAttribute)
                .text(&bytes, 0, "attempt")
                .as_deref(),
            Some("3")
        );
        assert_eq!(function(Field::EventName).text(&bytes, 1, ""), None);
        assert_eq!(SpanRowFunction::time(&bytes, 0), Some(42));
        let links = vec![Link {
            trace_id: TraceId::from_bytes([7; 16]),
            span_id: SpanId::from_bytes([9; 8]),
            trace_state: String::new(),
            attributes: vec![KeyValue::new(
                "kind",
                AttributeValue::String("retry".into()),
            )],
            dropped_attributes_count: 0,
            flags: 0,
        }];
        let bytes = postcard::to_allocvec(&links).unwrap();
        assert_eq!(
            function(Field::LinkTrace).text(&bytes, 0, "").unwrap(),
            "07".repeat(16)
        );
        assert_eq!(
            function(Field::LinkSpan).text(&bytes, 0, "").unwrap(),
            "09".repeat(8)
        );
        assert_eq!(
            function(Field::LinkAttribute)
                .text(&bytes, 0, "kind")
                .as_deref(),
            Some("retry")
        );
        assert_eq!(
            function(Field::EventName).text(b"\x05", 0, ""),
            None,
            "a list that does not decode"
        );
    }
}
