//! `BUCKET($column, size[, min[, max]])`: a number as the label of the bin it falls in.
//!
//! Bins are `size` wide from `min` (0 without it), each holding its upper bound, so a value on
//! a boundary goes to the lower bin: with size 10, 10 is in "0 - 10" and 10.5 in "10 - 20".
//! Below `min` is "< min", above `max` is "> max"; the last bin stops at `max`. Integer
//! arguments give integer labels. A value that is not a number has no bin (null).

use super::functions::{arity, number, Typed};
use super::parser::{Expr, Literal};
use crate::columns::{string_literal, Kind};

/// A numeric literal argument: its value and whether it is an integer.
fn numeric_literal(expr: &Expr, what: &str) -> Result<(f64, bool), String> {
    match expr {
        Expr::Literal(Literal::Integer(n)) => Ok((*n as f64, true)),
        Expr::Literal(Literal::Float(f)) => Ok((*f, false)),
        _ => Err(format!("BUCKET's {what} must be a number literal")),
    }
}

fn label_of(value: f64, integers: bool) -> String {
    if integers {
        format!("{}", value as i64)
    } else {
        format!("{value:?}")
    }
}

/// The SQL of a `BUCKET` call.
pub(super) fn bucket(args: &[Typed], exprs: &[Expr]) -> Result<Typed, String> {
    arity("BUCKET", args.len(), 2, Some(4))?;
    let (size, mut integers) = numeric_literal(&exprs[1], "size")?;
    if !(size > 0.0 && size.is_finite()) {
        return Err("BUCKET's size must be greater than 0".into());
    }
    let mut bound = |i: usize, what: &str| -> Result<Option<f64>, String> {
        exprs
            .get(i)
            .map(|e| {
                let (value, integer) = numeric_literal(e, what)?;
                integers &= integer;
                Ok(value)
            })
            .transpose()
    };
    let min = bound(2, "min")?;
    let max = bound(3, "max")?;
    if let (Some(lo), Some(hi)) = (min, max) {
        if hi <= lo {
            return Err("BUCKET's max must be greater than its min".into());
        }
    }
    let kind = Some(Kind::String);
    if !args[0].kind.is_some_and(Kind::is_numeric) {
        return Ok(Typed {
            sql: "CAST(NULL AS VARCHAR)".into(),
            kind,
        });
    }
    let v = number(&args[0]);
    let base = min.unwrap_or(0.0);
    let n = if integers { "BIGINT" } else { "DOUBLE" };
    let literal = |x: f64| {
        if integers {
            format!("CAST({} AS BIGINT)", x as i64)
        } else {
            format!("CAST({x:?} AS DOUBLE)")
        }
    };
    let mut index = format!("CAST(ceil(({v} - {base:?}) / {size:?}) AS BIGINT) - 1");
    if min.is_some() {
        index = format!("GREATEST({index}, 0)");
    }
    let lower = format!(
        "({} + CAST({index} AS {n}) * {})",
        literal(base),
        literal(size)
    );
    let mut upper = format!("({lower} + {})", literal(size));
    if let Some(hi) = max {
        upper = format!("LEAST({upper}, {})", literal(hi));
    }
    let mut cases = vec![format!("WHEN {v} IS NULL THEN NULL")];
    if let Some(lo) = min {
        let label = string_literal(&format!("< {}", label_of(lo, integers)));
        cases.push(format!("WHEN {v} < {lo:?} THEN {label}"));
    }
    if let Some(hi) = max {
        let label = string_literal(&format!("> {}", label_of(hi, integers)));
        cases.push(format!("WHEN {v} > {hi:?} THEN {label}"));
    }
    Ok(Typed {
        sql: format!(
            "CASE {} ELSE concat(CAST({lower} AS VARCHAR), ' - ', CAST({upper} AS VARCHAR)) END",
            cases.join(" ")
        ),
        kind,
    })
}
