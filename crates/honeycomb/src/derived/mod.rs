//! Honeycomb's calculated-field language (derived columns): `IF(LT($duration_ms, 100), "fast",
//! "slow")`, `$a * 2 + 1`, `REG_VALUE($url, ` + "`/users/([0-9]+)`" + `)`, compiled to SQL over the
//! `spans` table so a field can be filtered, grouped by and aggregated like any column.
//!
//! Syntax, precedence and the functions' type and null rules follow Honeycomb's reference
//! (docs/api.md lists what differs): comparisons of different types are false, arithmetic
//! counts what is not a number as 0, division by 0 is null, truthiness is a non-zero number,
//! `true` or the text "true".

mod bucket;
mod functions;
mod lexer;
mod parser;
mod time;

pub(crate) use functions::sql_type;

use crate::columns::Column;
use functions::{call, column, literal, Typed};
use parser::Expr;

/// The SQL of the event's time, in float seconds (`EVENT_TIMESTAMP()`): whole seconds and the
/// fraction apart, since nanoseconds since 1970 do not fit a float's 53 bits.
const EVENT_TIME: &str = "(CAST(CAST(\"start_time\" AS BIGINT) / 1000000000 AS DOUBLE) \
     + CAST(CAST(\"start_time\" AS BIGINT) % 1000000000 AS DOUBLE) / 1e9)";
/// How deep calls may nest.
const MAX_DEPTH: usize = 64;

/// Whether `expression` is well formed: its syntax, functions, argument counts and literal
/// arguments (whether its columns exist is checked by [`compile`], against the data).
pub fn check(expression: &str) -> Result<(), String> {
    let any_column = |_: &str| {
        Some(Column {
            sql: "NULL".into(),
            kind: crate::columns::Kind::String,
        })
    };
    compile(expression, &any_column).map(|_| ())
}

fn translate(
    expr: &Expr,
    resolve: &dyn Fn(&str) -> Option<Column>,
    depth: usize,
) -> Result<Typed, String> {
    if depth > MAX_DEPTH {
        return Err("the expression nests too deeply".into());
    }
    match expr {
        Expr::Column(name) => resolve(name)
            .map(column)
            .ok_or_else(|| format!("unknown column {name}")),
        Expr::Literal(value) => Ok(literal(value)),
        Expr::Call(name, arguments) => {
            let args = arguments
                .iter()
                .map(|a| translate(a, resolve, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            call(name, &args, arguments, EVENT_TIME)
        }
    }
}

/// `expression` as a column: SQL over the `spans` table and its kind. `resolve` finds the
/// columns it names (none for a column no event has: then the expression is refused).
pub fn compile(
    expression: &str,
    resolve: &dyn Fn(&str) -> Option<Column>,
) -> Result<Column, String> {
    let expr = parser::parse(expression)?;
    let typed = translate(&expr, resolve, 0)?;
    Ok(Column {
        sql: format!("({})", typed.sql),
        kind: typed.kind.unwrap_or(crate::columns::Kind::String),
    })
}

#[cfg(test)]
mod tests;
