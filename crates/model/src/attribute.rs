//! Typed attribute values, kept as faithfully as OTLP's `AnyValue` carries them.

use serde::{Deserialize, Serialize};

/// The attribute on an X-Ray segment's top span holding the segment document as received
/// (so BatchGetTraces can return it byte for byte); distinct per document.
pub const XRAY_DOCUMENT_ATTRIBUTE: &str = "aws.xray.document";

/// One attribute: a key and its typed value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// Attribute name, such as `http.route`.
    pub key: String,
    /// Attribute value.
    pub value: AttributeValue,
}

impl KeyValue {
    /// Builds a key-value pair.
    pub fn new(key: impl Into<String>, value: AttributeValue) -> Self {
        Self {
            key: key.into(),
            value,
        }
    }
}

/// An attribute value. Arrays and maps nest, as in OTLP; nothing is flattened to text at ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AttributeValue {
    /// A value that was present but empty (OTLP's unset `AnyValue`).
    Empty,
    /// UTF-8 text.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An ordered list of values.
    Array(Vec<AttributeValue>),
    /// An ordered list of key-value pairs.
    Map(Vec<KeyValue>),
}

impl AttributeValue {
    /// The value as JSON: scalars as themselves, bytes as hex text, arrays and maps nested.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Self::Empty => Value::Null,
            Self::String(text) => Value::String(text.clone()),
            Self::Bool(flag) => Value::Bool(*flag),
            Self::Int(number) => Value::from(*number),
            Self::Double(number) => serde_json::Number::from_f64(*number)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(number.to_string())),
            Self::Bytes(bytes) => Value::String(hex::encode(bytes)),
            Self::Array(items) => Value::Array(items.iter().map(Self::to_json).collect()),
            Self::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|kv| (kv.key.clone(), kv.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// Whether this value equals `text` as a user would type it in a filter: strings compare
    /// exactly, numbers and booleans compare by their parsed value.
    pub fn matches_text(&self, text: &str) -> bool {
        match self {
            Self::String(value) => value == text,
            Self::Bool(flag) => text.parse::<bool>().is_ok_and(|parsed| parsed == *flag),
            Self::Int(number) => {
                text.parse::<i64>().is_ok_and(|parsed| parsed == *number)
                    || text
                        .parse::<f64>()
                        .is_ok_and(|parsed| parsed == *number as f64)
            }
            Self::Double(number) => text.parse::<f64>().is_ok_and(|parsed| parsed == *number),
            Self::Empty | Self::Bytes(_) | Self::Array(_) | Self::Map(_) => {
                let rendered = self.to_json().to_string();
                rendered == text
            }
        }
    }
}

/// Finds the value of `key` in a list of attributes.
pub(crate) fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AttributeValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_matching_follows_the_value_type() {
        assert!(AttributeValue::Int(200).matches_text("200"));
        assert!(!AttributeValue::Int(200).matches_text("20"));
        assert!(AttributeValue::Bool(true).matches_text("true"));
        assert!(AttributeValue::Double(1.5).matches_text("1.5"));
        assert!(AttributeValue::String("GET".into()).matches_text("GET"));
        assert!(!AttributeValue::String("GET".into()).matches_text("get"));
    }

    #[test]
    fn nested_values_render_as_json() {
        let value = AttributeValue::Map(vec![KeyValue::new(
            "list",
            AttributeValue::Array(vec![AttributeValue::Int(1), AttributeValue::Bool(false)]),
        )]);
        assert_eq!(value.to_json().to_string(), r#"{"list":[1,false]}"#);
    }
}
