//! The key and scalar type of each attribute in a head row's postcard list, and nothing else:
//! what choosing a block's columns needs. Full views of every value (a vector per row, UTF-8
//! checks of text as long as an X-Ray document) made choosing the columns ~18% of a cut.

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::wide::ColumnType;
use crate::StorageError;

/// An attribute value as its kind: the variants of `AttributeValueRef`, in its order (postcard
/// numbers variants), with text taken as raw bytes, so it is not checked here. Widening the
/// row decodes it fully, and checks it, anyway.
#[derive(Deserialize)]
#[allow(dead_code)]
enum ValueKind<'a> {
    Empty,
    String(&'a [u8]),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<ValueKind<'a>>),
    Map(Vec<KeyKind<'a>>),
}

/// A key and its value's kind, laid out as `KeyValueRef`.
#[derive(Deserialize)]
struct KeyKind<'a> {
    key: &'a str,
    value: ValueKind<'a>,
}

impl ValueKind<'_> {
    /// The column type a value of this kind fits, if any.
    fn column_type(&self) -> Option<ColumnType> {
        match self {
            Self::String(_) => Some(ColumnType::String),
            Self::Bool(_) => Some(ColumnType::Bool),
            Self::Int(_) => Some(ColumnType::Int),
            Self::Double(_) => Some(ColumnType::Double),
            Self::Empty | Self::Bytes(_) | Self::Array(_) | Self::Map(_) => None,
        }
    }
}

/// Calls `observe(key, type)` for every attribute of one encoded list, in order; `type` is
/// `None` for values no column can hold.
pub(super) fn for_each_key_type<'a>(
    encoded: &'a [u8],
    observe: impl FnMut(&'a str, Option<ColumnType>),
) -> Result<(), StorageError> {
    let mut deserializer = postcard::Deserializer::from_bytes(encoded);
    EachAttribute(observe)
        .deserialize(&mut deserializer)
        .map_err(|e| StorageError::Codec(e.to_string()))
}

/// Visits a list's elements one at a time, without collecting them.
struct EachAttribute<F>(F);

impl<'de, F: FnMut(&'de str, Option<ColumnType>)> DeserializeSeed<'de> for EachAttribute<F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(&'de str, Option<ColumnType>)> Visitor<'de> for EachAttribute<F> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a list of attributes")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut list: A) -> Result<(), A::Error> {
        while let Some(attribute) = list.next_element::<KeyKind<'de>>()? {
            (self.0)(attribute.key, attribute.value.column_type());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use combray_model::{AttributeValue, KeyValue};

    use super::*;

    #[test]
    fn every_kind_of_value_reads_as_the_full_decode_types_it() {
        let list = vec![
            KeyValue::new("empty", AttributeValue::Empty),
            KeyValue::new("text", AttributeValue::String("héllo".into())),
            KeyValue::new("flag", AttributeValue::Bool(true)),
            KeyValue::new("count", AttributeValue::Int(-7)),
            KeyValue::new("ratio", AttributeValue::Double(0.5)),
            KeyValue::new("raw", AttributeValue::Bytes(vec![0, 255, 3])),
            KeyValue::new(
                "list",
                AttributeValue::Array(vec![
                    AttributeValue::Int(1),
                    AttributeValue::String("x".into()),
                ]),
            ),
            KeyValue::new(
                "map",
                AttributeValue::Map(vec![KeyValue::new("inner", AttributeValue::Bool(false))]),
            ),
            KeyValue::new("after", AttributeValue::String("still in step".into())),
        ];
        let encoded = postcard::to_allocvec(&list).unwrap();
        let mut seen = Vec::new();
        for_each_key_type(&encoded, |key, column_type| seen.push((key, column_type))).unwrap();
        let expected = [
            ("empty", None),
            ("text", Some(ColumnType::String)),
            ("flag", Some(ColumnType::Bool)),
            ("count", Some(ColumnType::Int)),
            ("ratio", Some(ColumnType::Double)),
            ("raw", None),
            ("list", None),
            ("map", None),
            ("after", Some(ColumnType::String)),
        ];
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_truncated_list_is_an_error() {
        let list = vec![KeyValue::new("text", AttributeValue::String("abc".into()))];
        let encoded = postcard::to_allocvec(&list).unwrap();
        let result = for_each_key_type(&encoded[..encoded.len() - 1], |_, _| {});
        assert!(result.is_err());
    }
}
