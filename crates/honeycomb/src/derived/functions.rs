//! Calculated-field calls as SQL over the `spans` table, with Honeycomb's type and null rules.

use super::parser::{Expr, Literal};
use crate::columns::{string_literal, Column, Kind};

/// A translated expression: SQL, and its kind (`None` for a bare `null`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Typed {
    pub(crate) sql: String,
    pub(crate) kind: Option<Kind>,
}

pub(super) fn typed(sql: impl Into<String>, kind: Kind) -> Typed {
    Typed {
        sql: sql.into(),
        kind: Some(kind),
    }
}

fn is_numeric(t: &Typed) -> bool {
    t.kind.is_some_and(Kind::is_numeric)
}

pub(super) fn number(t: &Typed) -> String {
    match t.kind {
        Some(Kind::Integer | Kind::Float) => format!("CAST({} AS DOUBLE)", t.sql),
        None => "CAST(NULL AS DOUBLE)".into(),
        _ => format!("TRY_CAST({} AS DOUBLE)", t.sql),
    }
}

/// A number, with what is not one counted as 0 (the arithmetic functions' rule).
fn number_or_zero(t: &Typed) -> String {
    format!("COALESCE({}, 0.0)", number(t))
}

pub(super) fn text(t: &Typed) -> String {
    match t.kind {
        Some(Kind::String) => t.sql.clone(),
        None => "CAST(NULL AS VARCHAR)".into(),
        _ => format!("CAST({} AS VARCHAR)", t.sql),
    }
}

/// Honeycomb's truthiness: non-zero numbers, `true`, and the text "true"; never null.
pub(crate) fn truthy(t: &Typed) -> String {
    match t.kind {
        Some(Kind::Boolean) => format!("COALESCE({}, false)", t.sql),
        Some(Kind::Integer | Kind::Float) => format!("COALESCE({} <> 0, false)", t.sql),
        Some(Kind::String) => format!("COALESCE({} = 'true', false)", t.sql),
        None => "false".into(),
    }
}

/// The kind several results share, and each result cast to it: one kind as is, numbers as
/// floats, anything else as text.
fn unify(values: &[Typed]) -> (Vec<String>, Option<Kind>) {
    let kinds: Vec<Kind> = values.iter().filter_map(|v| v.kind).collect();
    let Some(first) = kinds.first().copied() else {
        return (values.iter().map(|v| v.sql.clone()).collect(), None);
    };
    if kinds.iter().all(|k| *k == first) {
        let cast = |v: &Typed| match v.kind {
            None => format!("CAST(NULL AS {})", sql_type(first)),
            _ => v.sql.clone(),
        };
        return (values.iter().map(cast).collect(), Some(first));
    }
    if kinds.iter().all(|k| k.is_numeric()) {
        return (values.iter().map(number).collect(), Some(Kind::Float));
    }
    (values.iter().map(text).collect(), Some(Kind::String))
}

pub(crate) fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::String => "VARCHAR",
        Kind::Integer => "BIGINT",
        Kind::Float => "DOUBLE",
        Kind::Boolean => "BOOLEAN",
    }
}

pub(super) fn arity(name: &str, got: usize, min: usize, max: Option<usize>) -> Result<(), String> {
    let fits = got >= min && max.is_none_or(|m| got <= m);
    if fits {
        return Ok(());
    }
    let expected = match max {
        Some(m) if m == min => format!("{min}"),
        Some(m) => format!("{min} to {m}"),
        None => format!("{min} or more"),
    };
    Err(format!(
        "invalid arguments for op {name}, got {got}, expected {expected}"
    ))
}

pub(super) fn literal_text(expr: &Expr, what: &str) -> Result<String, String> {
    match expr {
        Expr::Literal(Literal::Text(text)) => Ok(text.clone()),
        _ => Err(format!("{what} must be a string literal")),
    }
}

fn compare(op: &str, a: &Typed, b: &Typed) -> String {
    match (a.kind, b.kind) {
        (Some(x), Some(y)) if x.is_numeric() && y.is_numeric() => {
            format!("COALESCE({} {op} {}, false)", number(a), number(b))
        }
        (Some(Kind::String), Some(Kind::String)) => {
            format!("COALESCE({} {op} {}, false)", a.sql, b.sql)
        }
        _ => "false".into(),
    }
}

fn equals(a: &Typed, b: &Typed) -> String {
    match (a.kind, b.kind) {
        (Some(x), Some(y)) if x.is_numeric() && y.is_numeric() => {
            format!("COALESCE({} = {}, false)", number(a), number(b))
        }
        (Some(x), Some(y)) if x == y => format!("COALESCE({} = {}, false)", a.sql, b.sql),
        _ => "false".into(),
    }
}

fn conditional(args: &[Typed]) -> Typed {
    let pairs = args.len() / 2;
    let mut values: Vec<Typed> = (0..pairs).map(|i| args[2 * i + 1].clone()).collect();
    if args.len() % 2 == 1 {
        values.push(args[args.len() - 1].clone());
    }
    let (values, kind) = unify(&values);
    let mut sql = String::from("CASE");
    for i in 0..pairs {
        sql.push_str(&format!(
            " WHEN {} THEN {}",
            truthy(&args[2 * i]),
            values[i]
        ));
    }
    if args.len() % 2 == 1 {
        sql.push_str(&format!(" ELSE {}", values[pairs]));
    }
    sql.push_str(" END");
    Typed { sql, kind }
}

fn switch(args: &[Typed], cases: &[Expr]) -> Result<Typed, String> {
    let subject = text(&args[0]);
    let rest = &args[1..];
    let pairs = rest.len() / 2;
    let mut values: Vec<Typed> = (0..pairs).map(|i| rest[2 * i + 1].clone()).collect();
    if rest.len() % 2 == 1 {
        values.push(rest[rest.len() - 1].clone());
    }
    let (values, kind) = unify(&values);
    let mut sql = String::from("CASE");
    for i in 0..pairs {
        let case = literal_text(&cases[1 + 2 * i], "a SWITCH case")?;
        sql.push_str(&format!(
            " WHEN {subject} = {} THEN {}",
            string_literal(&case),
            values[i]
        ));
    }
    if rest.len() % 2 == 1 {
        sql.push_str(&format!(" ELSE {}", values[pairs]));
    }
    sql.push_str(" END");
    Ok(Typed { sql, kind })
}

/// `name(args)`; `exprs` are the untranslated arguments, for those that must be literals.
pub(crate) fn call(
    name: &str,
    args: &[Typed],
    exprs: &[Expr],
    event_time: &str,
) -> Result<Typed, String> {
    let n = args.len();
    let string_pair = |f: &str| -> Typed {
        if args[0].kind == Some(Kind::String) && args[1].kind == Some(Kind::String) {
            typed(
                format!("COALESCE({f}({}, {}), false)", args[0].sql, args[1].sql),
                Kind::Boolean,
            )
        } else {
            typed("false", Kind::Boolean)
        }
    };
    Ok(match name {
        "IF" => {
            arity(name, n, 2, None)?;
            conditional(args)
        }
        "SWITCH" => {
            arity(name, n, 3, None)?;
            switch(args, exprs)?
        }
        "COALESCE" => {
            arity(name, n, 1, None)?;
            let (values, kind) = unify(args);
            let values: Vec<String> = values
                .into_iter()
                .map(|v| {
                    if kind == Some(Kind::String) {
                        format!("NULLIF({v}, '')")
                    } else {
                        v
                    }
                })
                .collect();
            Typed {
                sql: format!("COALESCE({})", values.join(", ")),
                kind,
            }
        }
        "LT" | "LTE" | "GT" | "GTE" => {
            arity(name, n, 2, Some(2))?;
            let op = match name {
                "LT" => "<",
                "LTE" => "<=",
                "GT" => ">",
                _ => ">=",
            };
            typed(compare(op, &args[0], &args[1]), Kind::Boolean)
        }
        "EQUALS" => {
            arity(name, n, 2, Some(2))?;
            typed(equals(&args[0], &args[1]), Kind::Boolean)
        }
        "IN" => {
            arity(name, n, 2, None)?;
            let terms: Vec<String> = args[1..].iter().map(|c| equals(&args[0], c)).collect();
            typed(format!("({})", terms.join(" OR ")), Kind::Boolean)
        }
        "EXISTS" => {
            arity(name, n, 1, Some(1))?;
            typed(
                match args[0].kind {
                    None => "false".into(),
                    _ => format!("({} IS NOT NULL)", args[0].sql),
                },
                Kind::Boolean,
            )
        }
        "NOT" => {
            arity(name, n, 1, Some(1))?;
            typed(format!("(NOT {})", truthy(&args[0])), Kind::Boolean)
        }
        "AND" | "OR" => {
            arity(name, n, 1, None)?;
            let terms: Vec<String> = args.iter().map(truthy).collect();
            typed(
                format!("({})", terms.join(&format!(" {name} "))),
                Kind::Boolean,
            )
        }
        "SUM" | "MUL" => {
            arity(name, n, 1, None)?;
            let terms: Vec<String> = args.iter().map(number_or_zero).collect();
            typed(
                format!(
                    "({})",
                    terms.join(if name == "SUM" { " + " } else { " * " })
                ),
                Kind::Float,
            )
        }
        "SUB" => {
            arity(name, n, 2, Some(2))?;
            typed(
                format!(
                    "({} - {})",
                    number_or_zero(&args[0]),
                    number_or_zero(&args[1])
                ),
                Kind::Float,
            )
        }
        "DIV" | "MOD" => {
            arity(name, n, 2, Some(2))?;
            let op = if name == "DIV" { "/" } else { "%" };
            let (a, b) = (number_or_zero(&args[0]), number_or_zero(&args[1]));
            typed(
                format!("CASE WHEN {b} = 0 THEN CAST(NULL AS DOUBLE) ELSE {a} {op} {b} END"),
                Kind::Float,
            )
        }
        "MIN" | "MAX" => {
            arity(name, n, 1, None)?;
            let function = if name == "MIN" { "LEAST" } else { "GREATEST" };
            let (values, kind) = if args.iter().all(|a| a.kind.is_none() || is_numeric(a)) {
                (
                    args.iter().map(number).collect::<Vec<_>>(),
                    Some(Kind::Float),
                )
            } else {
                (args.iter().map(text).collect(), Some(Kind::String))
            };
            Typed {
                sql: format!("{function}({})", values.join(", ")),
                kind,
            }
        }
        "LOG10" => {
            arity(name, n, 1, Some(1))?;
            let x = number(&args[0]);
            typed(
                format!("CASE WHEN {x} > 0 THEN log10({x}) END"),
                Kind::Float,
            )
        }
        "INT" => {
            arity(name, n, 1, Some(1))?;
            typed(
                format!("CAST(trunc({}) AS BIGINT)", number_or_zero(&args[0])),
                Kind::Integer,
            )
        }
        "FLOAT" => {
            arity(name, n, 1, Some(1))?;
            typed(number_or_zero(&args[0]), Kind::Float)
        }
        "BOOL" => {
            arity(name, n, 1, Some(1))?;
            typed(truthy(&args[0]), Kind::Boolean)
        }
        "STRING" => {
            arity(name, n, 1, Some(1))?;
            typed(format!("COALESCE({}, '')", text(&args[0])), Kind::String)
        }
        "CONCAT" => {
            arity(name, n, 1, None)?;
            let parts: Vec<String> = args.iter().map(text).collect();
            typed(format!("concat({})", parts.join(", ")), Kind::String)
        }
        "STARTS_WITH" => {
            arity(name, n, 2, Some(2))?;
            string_pair("starts_with")
        }
        "ENDS_WITH" => {
            arity(name, n, 2, Some(2))?;
            string_pair("ends_with")
        }
        "CONTAINS" => {
            arity(name, n, 2, Some(2))?;
            if args[0].kind == Some(Kind::String) && args[1].kind == Some(Kind::String) {
                typed(
                    format!(
                        "COALESCE(strpos({}, {}) > 0, false)",
                        args[0].sql, args[1].sql
                    ),
                    Kind::Boolean,
                )
            } else {
                typed("false", Kind::Boolean)
            }
        }
        "TO_LOWER" => {
            arity(name, n, 1, Some(1))?;
            typed(format!("lower({})", text(&args[0])), Kind::String)
        }
        "LENGTH" => {
            arity(name, n, 1, Some(2))?;
            let unit = match exprs.get(1) {
                None => "chars".to_owned(),
                Some(e) => literal_text(e, "LENGTH's unit")?,
            };
            let function = match unit.as_str() {
                "chars" => "character_length",
                "bytes" => "octet_length",
                other => {
                    return Err(format!(
                        "LENGTH counts \"bytes\" or \"chars\", not {other:?}"
                    ))
                }
            };
            typed(format!("{function}({})", text(&args[0])), Kind::Integer)
        }
        "REG_MATCH" | "REG_VALUE" | "REG_COUNT" => {
            arity(name, n, 2, Some(2))?;
            let pattern = literal_text(&exprs[1], "the regular expression")?;
            regex::Regex::new(&pattern).map_err(|e| format!("invalid regular expression: {e}"))?;
            let re = string_literal(&pattern);
            let s = &args[0];
            if s.kind != Some(Kind::String) {
                return Ok(match name {
                    "REG_MATCH" => typed("false", Kind::Boolean),
                    "REG_VALUE" => typed("''", Kind::String),
                    _ => typed("CAST(0 AS BIGINT)", Kind::Integer),
                });
            }
            match name {
                "REG_MATCH" => typed(
                    format!(
                        "COALESCE(({s} <> '') AND regexp_like({s}, {re}), false)",
                        s = s.sql
                    ),
                    Kind::Boolean,
                ),
                "REG_VALUE" => typed(
                    format!(
                        "COALESCE(array_element(regexp_match({}, {re}), 1), '')",
                        s.sql
                    ),
                    Kind::String,
                ),
                _ => typed(
                    format!("COALESCE(regexp_count({}, {re}), 0)", s.sql),
                    Kind::Integer,
                ),
            }
        }
        "BUCKET" => super::bucket::bucket(args, exprs)?,
        _ => return super::time::call(name, args, exprs, event_time),
    })
}

/// The SQL of a column reference.
pub(crate) fn column(column: Column) -> Typed {
    Typed {
        sql: column.sql,
        kind: Some(column.kind),
    }
}

/// The SQL of a literal.
pub(crate) fn literal(literal: &Literal) -> Typed {
    match literal {
        Literal::Text(text) => typed(string_literal(text), Kind::String),
        Literal::Integer(n) => typed(format!("CAST({n} AS BIGINT)"), Kind::Integer),
        Literal::Float(f) => typed(format!("CAST({f:?} AS DOUBLE)"), Kind::Float),
        Literal::Boolean(b) => typed(b.to_string(), Kind::Boolean),
        Literal::Null => Typed {
            sql: "NULL".into(),
            kind: None,
        },
    }
}
