//! Equality of a string or binary view column with one value, judged on the 16-byte views.
//!
//! Scans read text as views (see [`super::as_view`]), and `attribute = value` is the most common
//! condition a query pushes down. Arrow's general kernel compares view by view through the
//! values; but a view of at most 12 bytes holds its whole value inline, so two such values are
//! equal exactly when their views are, and a longer value can only equal a view with the same
//! length and first four bytes. Comparing views as integers lets the compiler vectorize the loop,
//! and only candidates that share a long value's length and prefix look at the bytes.

use arrow_array::cast::AsArray;
use arrow_array::types::ByteViewType;
use arrow_array::{Array, BooleanArray, GenericByteViewArray};
use arrow_buffer::BooleanBuffer;
use arrow_schema::DataType;

/// Views longer than this keep their bytes in a data buffer, not inline.
const INLINE_BYTES: usize = 12;

/// `array = value` (or `!=` when `negated`), null where `array` is, when `array` is a string or
/// binary view array and `literal` a one-value array of text or bytes; `None` for anything else,
/// which the general kernel answers.
pub(super) fn equal_views(
    array: &dyn Array,
    literal: &dyn Array,
    negated: bool,
) -> Option<BooleanArray> {
    let value = literal_bytes(literal)?;
    let equal = match array.data_type() {
        DataType::Utf8View => equal(array.as_string_view(), value),
        DataType::BinaryView => equal(array.as_binary_view(), value),
        _ => return None,
    };
    let values = if negated { !&equal } else { equal };
    Some(BooleanArray::new(values, array.nulls().cloned()))
}

/// The bytes of a literal's one value.
fn literal_bytes(literal: &dyn Array) -> Option<&[u8]> {
    if literal.len() != 1 || literal.is_null(0) {
        return None;
    }
    Some(match literal.data_type() {
        DataType::Utf8View => literal.as_string_view().value(0).as_bytes(),
        DataType::Utf8 => literal.as_string::<i32>().value(0).as_bytes(),
        DataType::LargeUtf8 => literal.as_string::<i64>().value(0).as_bytes(),
        DataType::BinaryView => literal.as_binary_view().value(0),
        DataType::Binary => literal.as_binary::<i32>().value(0),
        DataType::LargeBinary => literal.as_binary::<i64>().value(0),
        _ => return None,
    })
}

/// A view's layout: length in the low 4 bytes, then the value (inline) or its first 4 bytes.
fn view_of_inline(value: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&(value.len() as u32).to_le_bytes());
    bytes[4..4 + value.len()].copy_from_slice(value);
    u128::from_le_bytes(bytes)
}

fn equal<T: ByteViewType + ?Sized>(array: &GenericByteViewArray<T>, value: &[u8]) -> BooleanBuffer {
    let views = array.views();
    if value.len() <= INLINE_BYTES {
        let wanted = view_of_inline(value);
        return BooleanBuffer::collect_bool(views.len(), |i| views[i] == wanted);
    }
    // Length and prefix, the view's low 8 bytes, rule out almost every row; the rest compare
    // their bytes.
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(&(value.len() as u32).to_le_bytes());
    head[4..].copy_from_slice(&value[..4]);
    let wanted = u64::from_le_bytes(head);
    BooleanBuffer::collect_bool(views.len(), |i| {
        views[i] as u64 == wanted && AsRef::<[u8]>::as_ref(array.value(i)) == value
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, BinaryViewArray, StringArray, StringViewArray};

    use super::*;

    /// What Arrow's general kernel answers, the oracle.
    fn kernel(array: &ArrayRef, literal: &ArrayRef, negated: bool) -> BooleanArray {
        let literal = arrow_array::Scalar::new(Arc::clone(literal));
        if negated {
            arrow_ord::cmp::neq(array, &literal).unwrap()
        } else {
            arrow_ord::cmp::eq(array, &literal).unwrap()
        }
    }

    #[test]
    fn equality_on_views_agrees_with_arrow_for_short_long_and_null_values() {
        let long = "a value well past twelve bytes";
        let values = vec![
            Some("user-4242"),
            None,
            Some("user-42420"),
            Some(""),
            Some(long),
            Some("a value well past twelve bytez"),
            Some("a value"),
            Some("user-4242"),
            Some("exactly12byt"),
        ];
        let array: ArrayRef = Arc::new(StringViewArray::from(values.clone()));
        for wanted in ["user-4242", "", long, "exactly12byt", "absent"] {
            for literal in [
                Arc::new(StringViewArray::from(vec![wanted])) as ArrayRef,
                Arc::new(StringArray::from(vec![wanted])) as ArrayRef,
            ] {
                for negated in [false, true] {
                    let fast = equal_views(&array, &literal, negated).unwrap();
                    let view_literal: ArrayRef = Arc::new(StringViewArray::from(vec![wanted]));
                    assert_eq!(fast, kernel(&array, &view_literal, negated), "{wanted:?}");
                }
            }
        }
        // A slice keeps its own rows and nulls.
        let sliced = array.slice(1, 5);
        let literal: ArrayRef = Arc::new(StringViewArray::from(vec!["user-42420"]));
        assert_eq!(
            equal_views(&sliced, &literal, false).unwrap(),
            kernel(&sliced, &literal, false)
        );
    }

    #[test]
    fn binary_views_compare_by_bytes_and_other_types_are_left_to_arrow() {
        let bytes: ArrayRef = Arc::new(BinaryViewArray::from(vec![
            &b"\x00\x01"[..],
            &[7u8; 20][..],
            &b"\x00\x01\x02"[..],
        ]));
        let literal: ArrayRef = Arc::new(BinaryViewArray::from(vec![&[7u8; 20][..]]));
        assert_eq!(
            equal_views(&bytes, &literal, false).unwrap(),
            BooleanArray::from(vec![false, true, false])
        );
        let plain: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        assert!(equal_views(&plain, &literal, false).is_none());
    }
}
