//! The time functions: `EVENT_TIMESTAMP()`, `UNIX_TIMESTAMP(text)`, `FORMAT_TIME(format, t)`.

use super::functions::{arity, literal_text, number, text, typed, Typed};
use super::parser::Expr;
use crate::columns::{string_literal, Kind};

/// Nanoseconds since 1970 (a BIGINT SQL expression) as float seconds: whole seconds and the
/// fraction apart, since the nanoseconds do not fit a float's 53 bits.
pub(super) fn seconds_of_nanos(nanos: &str) -> String {
    format!(
        "(CAST(({nanos}) / 1000000000 AS DOUBLE) + CAST(({nanos}) % 1000000000 AS DOUBLE) / 1e9)"
    )
}

/// The SQL of a call to one of the time functions, or the error for an unknown name.
pub(super) fn call(
    name: &str,
    args: &[Typed],
    exprs: &[Expr],
    event_time: &str,
) -> Result<Typed, String> {
    let n = args.len();
    Ok(match name {
        "EVENT_TIMESTAMP" => {
            arity(name, n, 0, Some(0))?;
            typed(event_time.to_owned(), Kind::Float)
        }
        "UNIX_TIMESTAMP" => {
            arity(name, n, 1, Some(1))?;
            // An RFC 3339 text (any offset) read as UTC nanoseconds; what does not parse is null.
            let nanos = format!("CAST(TRY_CAST({} AS TIMESTAMP) AS BIGINT)", text(&args[0]));
            typed(seconds_of_nanos(&nanos), Kind::Float)
        }
        "INGEST_TIMESTAMP" => {
            return Err(
                "INGEST_TIMESTAMP is not available: Combray does not keep the time a span was \
                 received; use EVENT_TIMESTAMP()"
                    .into(),
            )
        }
        "FORMAT_TIME" => {
            arity(name, n, 2, Some(2))?;
            let format = literal_text(&exprs[0], "FORMAT_TIME's format")?;
            typed(
                format!(
                    "to_char(to_timestamp_nanos(CAST({} * 1e9 AS BIGINT)), {})",
                    number(&args[1]),
                    string_literal(&format)
                ),
                Kind::String,
            )
        }
        other => return Err(format!("invalid function: {other}")),
    })
}
