//! msgpack bodies, as libhoney-go sends its batches (`Content-Type: application/msgpack`), read
//! as the JSON values the Events API takes. A msgpack timestamp (extension type -1, which
//! libhoney-go uses for `time`) becomes its Unix time in nanoseconds.

use serde_json::{Map, Number, Value};

/// How deep arrays and maps may nest.
const MAX_DEPTH: usize = 64;
/// msgpack's timestamp extension type.
const TIMESTAMP: i8 = -1;

/// The one msgpack value of `bytes`, as JSON.
pub fn to_json(bytes: &[u8]) -> Result<Value, String> {
    let mut reader = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_DEPTH)
        .map_err(|e| format!("not msgpack: {e}"))?;
    if !reader.is_empty() {
        return Err(format!("{} bytes follow the msgpack value", reader.len()));
    }
    convert(value)
}

fn convert(value: rmpv::Value) -> Result<Value, String> {
    use rmpv::Value as M;
    Ok(match value {
        M::Nil => Value::Null,
        M::Boolean(b) => Value::Bool(b),
        M::Integer(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(u)) => Value::from(u),
            _ => Value::Null,
        },
        M::F32(f) => Number::from_f64(f64::from(f)).map_or(Value::Null, Value::Number),
        M::F64(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        M::String(s) => Value::String(match s.into_str() {
            Some(text) => text,
            None => return Err("a msgpack string is not UTF-8".into()),
        }),
        M::Binary(bytes) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        M::Array(items) => Value::Array(items.into_iter().map(convert).collect::<Result<_, _>>()?),
        M::Map(pairs) => {
            let mut map = Map::with_capacity(pairs.len());
            for (key, value) in pairs {
                let key = match key {
                    M::String(s) => s.into_str().ok_or("a msgpack map key is not UTF-8")?,
                    other => other.to_string(),
                };
                map.insert(key, convert(value)?);
            }
            Value::Object(map)
        }
        M::Ext(TIMESTAMP, data) => timestamp(&data)
            .map(Value::from)
            .ok_or("a msgpack timestamp is malformed or before 1970")?,
        M::Ext(kind, _) => {
            return Err(format!("msgpack extension type {kind} is not a value here"))
        }
    })
}

/// A msgpack timestamp's Unix time in nanoseconds (its 32-, 64- and 96-bit forms).
fn timestamp(data: &[u8]) -> Option<u64> {
    let (seconds, nanos): (i64, u64) = match data.len() {
        4 => (i64::from(u32::from_be_bytes(data.try_into().ok()?)), 0),
        8 => {
            let packed = u64::from_be_bytes(data.try_into().ok()?);
            ((packed & 0x3_ffff_ffff) as i64, packed >> 34)
        }
        12 => (
            i64::from_be_bytes(data[4..12].try_into().ok()?),
            u64::from(u32::from_be_bytes(data[0..4].try_into().ok()?)),
        ),
        _ => return None,
    };
    if nanos >= 1_000_000_000 {
        return None;
    }
    u64::try_from(seconds)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &rmpv::Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, value).unwrap();
        out
    }

    #[test]
    fn a_libhoney_go_batch_reads_as_json_with_its_timestamps_in_nanoseconds() {
        use rmpv::Value as M;
        // 2023-11-14T22:13:20.5Z in the 64-bit form: nanoseconds in the top 30 bits.
        let packed: u64 = (500_000_000u64 << 34) | 1_700_000_000;
        let item = M::Map(vec![
            (
                M::from("data"),
                M::Map(vec![
                    (M::from("duration_ms"), M::F64(1.5)),
                    (M::from("n"), M::from(-3)),
                ]),
            ),
            (M::from("time"), M::Ext(-1, packed.to_be_bytes().to_vec())),
            (M::from("samplerate"), M::from(4u32)),
        ]);
        let json = to_json(&encode(&M::Array(vec![item]))).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"data": {"duration_ms": 1.5, "n": -3}, "time": 1_700_000_000_500_000_000u64, "samplerate": 4}])
        );
        let seconds_only = M::Ext(-1, 1_700_000_000u32.to_be_bytes().to_vec());
        assert_eq!(
            to_json(&encode(&seconds_only)).unwrap(),
            serde_json::json!(1_700_000_000_000_000_000u64)
        );
        let mut wide = 7u32.to_be_bytes().to_vec();
        wide.extend(1_700_000_000i64.to_be_bytes());
        assert_eq!(
            to_json(&encode(&M::Ext(-1, wide))).unwrap(),
            serde_json::json!(1_700_000_000_000_000_007u64)
        );
    }

    #[test]
    fn damaged_or_hostile_msgpack_is_an_error_not_a_panic() {
        assert!(to_json(&[0xd9]).is_err(), "a string without its length");
        assert!(to_json(&[0x92, 0x01]).is_err(), "a truncated array");
        assert!(to_json(&[0x01, 0x02]).unwrap_err().contains("follow"));
        let deep: Vec<u8> = std::iter::repeat_n(0x91, 100_000).chain([0xc0]).collect();
        assert!(to_json(&deep).is_err(), "nesting past the limit");
        assert!(to_json(&encode(&rmpv::Value::Ext(5, vec![1]))).is_err());
        assert!(to_json(&encode(&rmpv::Value::Ext(-1, vec![1, 2, 3]))).is_err());
    }
}
