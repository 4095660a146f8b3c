//! Scalar functions over the postcard-encoded attribute lists that have no typed columns: the
//! whole `attributes` list of v1 blocks, the `attributes_overflow` list of v2 blocks and the head,
//! and the `resource` list. Search needs them so that a value that did not fit its key's column
//! (or a block written before columns existed) is still found.
//!
//! - `attribute_list_has(list, key)`: whether the list holds `key`;
//! - `attribute_list_matches(list, key, text)`: whether it holds `key` with a value equal to
//!   `text` as a user types it (see `AttributeValue::matches_text`).
//!
//! A null list holds nothing. A dictionary-encoded list (the resource) is decoded once per
//! distinct value, not once per row.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, BooleanArray};
use arrow_schema::DataType;

use datafusion::common::{exec_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// What the function asks of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Question {
    Has,
    Matches,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct AttributeListFunction {
    question: Question,
    signature: Signature,
}

/// `attribute_list_has(list, key)`.
pub fn attribute_list_has() -> ScalarUDF {
    ScalarUDF::new_from_impl(AttributeListFunction {
        question: Question::Has,
        signature: Signature::any(2, Volatility::Immutable),
    })
}

/// `attribute_list_matches(list, key, text)`.
pub fn attribute_list_matches() -> ScalarUDF {
    ScalarUDF::new_from_impl(AttributeListFunction {
        question: Question::Matches,
        signature: Signature::any(3, Volatility::Immutable),
    })
}

/// A text literal argument of a list function; `what` names it in the error.
pub(crate) fn text_argument(value: &ColumnarValue, what: &str) -> Result<String> {
    match value {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(text))
            | ScalarValue::LargeUtf8(Some(text))
            | ScalarValue::Utf8View(Some(text)),
        ) => Ok(text.clone()),
        _ => exec_err!("the {what} of a list function must be a text literal"),
    }
}

impl AttributeListFunction {
    fn answer(&self, list: &[u8], key: &str, text: &str) -> bool {
        let Some(attributes) = combray_storage::scan::decode_attribute_list(list) else {
            return false;
        };
        attributes.iter().any(|kv| {
            kv.key == key && (self.question == Question::Has || kv.value.matches_text(text))
        })
    }

    /// One answer per row of a plain binary array.
    fn answer_rows(&self, lists: &dyn Array, key: &str, text: &str) -> Result<BooleanArray> {
        let Some(binary) = lists.as_binary_opt::<i32>() else {
            return exec_err!("attribute lists are binary, not {}", lists.data_type());
        };
        Ok((0..binary.len())
            .map(|row| Some(binary.is_valid(row) && self.answer(binary.value(row), key, text)))
            .collect())
    }
}

impl ScalarUDFImpl for AttributeListFunction {
    fn name(&self) -> &str {
        match self.question {
            Question::Has => "attribute_list_has",
            Question::Matches => "attribute_list_matches",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let key = text_argument(&args.args[1], "key")?;
        let text = match self.question {
            Question::Has => String::new(),
            Question::Matches => text_argument(&args.args[2], "text")?,
        };
        let lists = args.args[0].clone().into_array(args.number_rows)?;
        let answers: ArrayRef = match lists.data_type() {
            DataType::Dictionary(_, _) => {
                let Some(dictionary) = lists.as_dictionary_opt::<Int32Type>() else {
                    return exec_err!("attribute list dictionaries have Int32 keys");
                };
                let per_value = self.answer_rows(dictionary.values().as_ref(), &key, &text)?;
                let rows: BooleanArray = dictionary
                    .keys()
                    .iter()
                    .map(|k| Some(k.is_some_and(|k| per_value.value(k as usize))))
                    .collect();
                Arc::new(rows)
            }
            _ => Arc::new(self.answer_rows(lists.as_ref(), &key, &text)?),
        };
        Ok(ColumnarValue::Array(answers))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{BinaryArray, DictionaryArray, Int32Array};
    use arrow_schema::Field;
    use combray_model::{AttributeValue, KeyValue};
    use datafusion::common::config::ConfigOptions;

    use super::*;

    fn encoded(pairs: &[(&str, AttributeValue)]) -> Vec<u8> {
        let list: Vec<KeyValue> = pairs
            .iter()
            .map(|(k, v)| KeyValue::new(*k, v.clone()))
            .collect();
        postcard::to_allocvec(&list).unwrap()
    }

    fn call(function: ScalarUDF, lists: ArrayRef, key: &str, text: Option<&str>) -> Vec<bool> {
        let rows = lists.len();
        let mut args = vec![
            ColumnarValue::Array(Arc::clone(&lists)),
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(key.into()))),
        ];
        args.extend(text.map(|t| ColumnarValue::Scalar(ScalarValue::Utf8(Some(t.into())))));
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        let result = function
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: rows,
                return_field: Arc::new(Field::new("r", DataType::Boolean, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap()
            .into_array(rows)
            .unwrap();
        result.as_boolean().iter().map(|v| v.unwrap()).collect()
    }

    #[test]
    fn lists_answer_by_key_and_typed_value() {
        let first = encoded(&[
            ("code", AttributeValue::Int(200)),
            ("user", AttributeValue::String("ann".into())),
        ]);
        let second = encoded(&[("code", AttributeValue::String("x".into()))]);
        let lists: ArrayRef = Arc::new(BinaryArray::from(vec![
            Some(first.as_slice()),
            Some(second.as_slice()),
            None,
        ]));
        assert_eq!(
            call(
                attribute_list_matches(),
                Arc::clone(&lists),
                "code",
                Some("200")
            ),
            [true, false, false]
        );
        assert_eq!(
            call(
                attribute_list_matches(),
                Arc::clone(&lists),
                "code",
                Some("x")
            ),
            [false, true, false]
        );
        assert_eq!(
            call(attribute_list_has(), Arc::clone(&lists), "user", None),
            [true, false, false]
        );
        assert_eq!(
            call(attribute_list_has(), lists, "code", None),
            [true, true, false]
        );
    }

    #[test]
    fn dictionary_lists_are_answered_per_row() {
        let values = BinaryArray::from(vec![
            encoded(&[("host.name", AttributeValue::String("a".into()))]).as_slice(),
            encoded(&[("host.name", AttributeValue::String("b".into()))]).as_slice(),
        ]);
        let keys = Int32Array::from(vec![1, 0, 1]);
        let lists: ArrayRef = Arc::new(DictionaryArray::new(keys, Arc::new(values)));
        assert_eq!(
            call(attribute_list_matches(), lists, "host.name", Some("b")),
            [true, false, true]
        );
    }
}
