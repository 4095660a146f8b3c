//! Borrowed views of attributes, decoded from serialized bytes without copying text.
//!
//! Storage keeps attribute lists serialized (postcard) and some paths only look at them once, to
//! sort them into columns. Decoding into [`KeyValue`] would allocate every key and every string
//! value only to drop them a moment later; these views point into the serialized bytes instead.
//! They serialize exactly like their owned twins (same fields, same variant order), so a list of
//! views can be written back where a `Vec<KeyValue>` is expected.

use serde::{Deserialize, Serialize};

use crate::attribute::{AttributeValue, KeyValue};

/// A [`KeyValue`] whose text borrows from the bytes it was decoded from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValueRef<'a> {
    /// Attribute name.
    pub key: &'a str,
    /// Attribute value.
    #[serde(borrow)]
    pub value: AttributeValueRef<'a>,
}

/// An [`AttributeValue`] whose text and bytes borrow from the bytes it was decoded from.
///
/// The variants must stay in the order of [`AttributeValue`]'s: serializers that number
/// variants (postcard does) would otherwise read one as the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AttributeValueRef<'a> {
    /// See [`AttributeValue::Empty`].
    Empty,
    /// See [`AttributeValue::String`].
    String(&'a str),
    /// See [`AttributeValue::Bool`].
    Bool(bool),
    /// See [`AttributeValue::Int`].
    Int(i64),
    /// See [`AttributeValue::Double`].
    Double(f64),
    /// See [`AttributeValue::Bytes`]. Owned: `Vec<u8>` serializes as a sequence, which cannot
    /// be borrowed, and byte values are rare in spans.
    Bytes(Vec<u8>),
    /// See [`AttributeValue::Array`].
    #[serde(borrow)]
    Array(Vec<AttributeValueRef<'a>>),
    /// See [`AttributeValue::Map`].
    #[serde(borrow)]
    Map(Vec<KeyValueRef<'a>>),
}

impl KeyValueRef<'_> {
    /// An owned copy.
    pub fn to_owned_value(&self) -> KeyValue {
        KeyValue::new(self.key, self.value.to_owned_value())
    }
}

impl AttributeValueRef<'_> {
    /// An owned copy.
    pub fn to_owned_value(&self) -> AttributeValue {
        match self {
            Self::Empty => AttributeValue::Empty,
            Self::String(text) => AttributeValue::String((*text).to_owned()),
            Self::Bool(flag) => AttributeValue::Bool(*flag),
            Self::Int(number) => AttributeValue::Int(*number),
            Self::Double(number) => AttributeValue::Double(*number),
            Self::Bytes(bytes) => AttributeValue::Bytes(bytes.clone()),
            Self::Array(items) => {
                AttributeValue::Array(items.iter().map(Self::to_owned_value).collect())
            }
            Self::Map(entries) => {
                AttributeValue::Map(entries.iter().map(KeyValueRef::to_owned_value).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<KeyValue> {
        vec![
            KeyValue::new("empty", AttributeValue::Empty),
            KeyValue::new("text", AttributeValue::String("GET /users".into())),
            KeyValue::new("flag", AttributeValue::Bool(true)),
            KeyValue::new("count", AttributeValue::Int(-42)),
            KeyValue::new("ratio", AttributeValue::Double(0.25)),
            KeyValue::new("raw", AttributeValue::Bytes(vec![0, 1, 255])),
            KeyValue::new(
                "list",
                AttributeValue::Array(vec![
                    AttributeValue::Int(1),
                    AttributeValue::String("a".into()),
                ]),
            ),
            KeyValue::new(
                "nested",
                AttributeValue::Map(vec![KeyValue::new("inner", AttributeValue::Bool(false))]),
            ),
        ]
    }

    #[test]
    fn views_decode_owned_bytes_and_borrow_their_text() {
        let owned = every_kind();
        let bytes = postcard::to_allocvec(&owned).unwrap();
        let views: Vec<KeyValueRef<'_>> = postcard::from_bytes(&bytes).unwrap();
        let back: Vec<KeyValue> = views.iter().map(KeyValueRef::to_owned_value).collect();
        assert_eq!(back, owned);
        let AttributeValueRef::String(text) = views[1].value else {
            panic!("the second attribute is text: {:?}", views[1]);
        };
        let range = bytes.as_ptr_range();
        assert!(range.contains(&text.as_ptr()), "the text was copied");
    }

    #[test]
    fn views_encode_to_the_same_bytes_as_owned_values() {
        let owned = every_kind();
        let bytes = postcard::to_allocvec(&owned).unwrap();
        let views: Vec<KeyValueRef<'_>> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(postcard::to_allocvec(&views).unwrap(), bytes);
    }
}
