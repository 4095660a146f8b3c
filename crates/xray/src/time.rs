//! Timestamps as X-Ray's rest-json protocol writes them: epoch seconds as JSON numbers. boto3
//! sends integers, the Go and Java SDKs floats; ISO-8601 text is accepted too, leniently.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Seconds since the Unix epoch.
pub type Seconds = f64;

/// Now, in epoch seconds.
pub fn now_seconds() -> Seconds {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Parses a timestamp value: a number of seconds, or RFC 3339 text.
pub fn parse_timestamp(value: &Value) -> Result<Seconds, String> {
    match value {
        Value::Number(n) => n
            .as_f64()
            .filter(|s| s.is_finite())
            .ok_or_else(|| format!("timestamp {n} is not a finite number")),
        Value::String(text) => parse_rfc3339(text)
            .or_else(|| text.parse::<f64>().ok().filter(|s| s.is_finite()))
            .ok_or_else(|| format!("timestamp {text:?} is neither epoch seconds nor RFC 3339")),
        other => Err(format!("timestamp {other} is not a number")),
    }
}

/// `2024-01-02T03:04:05(.fff)?(Z|±hh:mm)` → epoch seconds.
fn parse_rfc3339(text: &str) -> Option<Seconds> {
    let bytes = text.as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        fraction = format!("0.{}", &after_dot[..digits]).parse().ok()?;
        rest = &after_dot[digits..];
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(seconds as f64 + fraction)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Serde adapter for a required timestamp field.
pub fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Seconds, D::Error> {
    let value = Value::deserialize(deserializer)?;
    parse_timestamp(&value).map_err(serde::de::Error::custom)
}

/// Serde adapter for an optional timestamp field.
pub fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Seconds>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => parse_timestamp(&value)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_rfc3339_text_are_both_timestamps() {
        assert_eq!(
            parse_timestamp(&serde_json::json!(1704164645)),
            Ok(1704164645.0)
        );
        assert_eq!(parse_timestamp(&serde_json::json!(1.5)), Ok(1.5));
        assert_eq!(
            parse_timestamp(&serde_json::json!("2024-01-02T03:04:05Z")),
            Ok(1704164645.0)
        );
        assert_eq!(
            parse_timestamp(&serde_json::json!("2024-01-02T05:04:05.25+02:00")),
            Ok(1704164645.25)
        );
        assert!(parse_timestamp(&serde_json::json!("yesterday")).is_err());
        assert!(parse_timestamp(&serde_json::json!(true)).is_err());
    }
}
