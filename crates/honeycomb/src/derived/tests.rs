//! Every function of the calculated-field language, its null and type rules, evaluated by
//! DataFusion over one row: `$s` = "Hello World", `$i` = 5, `$f` = 2.5, `$b` = true,
//! `$t` = "true", `$n` = "42", `$z` = 0, `$e` = "", `$missing` null (a text column no value fills),
//! and the event time 1700000000.25 s.

use combray_query::sql::json_rows;
use datafusion::prelude::SessionContext;
use serde_json::{json, Value};

use super::*;
use crate::columns::Kind;

const ROW: &str = "SELECT 'Hello World' AS s, CAST(5 AS BIGINT) AS i, CAST(2.5 AS DOUBLE) AS f, \
    true AS b, 'true' AS t, '42' AS n, CAST(0 AS BIGINT) AS z, '' AS e, CAST(NULL AS VARCHAR) AS missing, \
    to_timestamp_nanos(1700000000250000000) AS start_time";

fn resolve(name: &str) -> Option<Column> {
    let kind = match name {
        "s" | "t" | "n" | "e" | "missing" => Kind::String,
        "i" | "z" => Kind::Integer,
        "f" => Kind::Float,
        "b" => Kind::Boolean,
        _ => return None,
    };
    Some(Column {
        sql: format!("\"{name}\""),
        kind,
    })
}

async fn evaluate(expression: &str) -> Result<Value, String> {
    let column = compile(expression, &resolve)?;
    let sql = format!("SELECT {} FROM ({ROW}) AS r", column.sql);
    let rows = json_rows(&SessionContext::new(), &sql)
        .await
        .map_err(|e| format!("{expression}: {e} in {sql}"))?;
    Ok(rows[0][0].clone())
}

#[tokio::test]
async fn every_function_follows_its_type_and_null_rules() {
    let cases: Vec<(&str, Value)> = vec![
        // Conditionals.
        ("IF($b, \"yes\", \"no\")", json!("yes")),
        ("IF($z, \"yes\", \"no\")", json!("no")),
        ("IF($t, 1)", json!(1)),
        ("IF($missing, 1)", Value::Null),
        (
            "IF(LT($i, 3), \"low\", LT($i, 10), \"mid\", \"high\")",
            json!("mid"),
        ),
        ("IF($b, 1, 2.5)", json!(1.0)),
        (
            "SWITCH($n, \"41\", \"a\", \"42\", \"b\", \"c\")",
            json!("b"),
        ),
        ("SWITCH($n, \"1\", \"a\")", Value::Null),
        ("COALESCE($missing, $e, $s)", json!("Hello World")),
        // Comparisons: numbers by value, text by text, mixed types false, null false.
        ("LT($i, $f)", json!(false)),
        ("GTE($i, 5)", json!(true)),
        ("LTE($f, 2.5)", json!(true)),
        ("GT($s, \"A\")", json!(true)),
        ("LT($n, 100)", json!(false)),
        ("LT($missing, \"z\")", json!(false)),
        ("EQUALS($n, 42)", json!(false)),
        ("EQUALS($n, \"42\")", json!(true)),
        ("EQUALS($i, 5.0)", json!(true)),
        ("$i = 5", json!(true)),
        ("$i != 5", json!(false)),
        ("IN($i, 1, 5, 9)", json!(true)),
        ("IN($s, \"a\", \"b\")", json!(false)),
        ("EXISTS($missing)", json!(false)),
        ("EXISTS($s)", json!(true)),
        // Logic on truthiness.
        ("NOT($z)", json!(true)),
        ("!$b", json!(false)),
        ("AND($b, $t, $i)", json!(true)),
        ("OR($z, $missing)", json!(false)),
        ("$b AND $z", json!(false)),
        ("$b OR $z", json!(true)),
        // Arithmetic: non-numbers count as 0, every result is a float, DIV by 0 is null.
        ("SUM($i, $f, $n, $s)", json!(49.5)),
        ("MUL($i, $f)", json!(12.5)),
        ("SUB($i, 1)", json!(4.0)),
        ("DIV($i, 2)", json!(2.5)),
        ("DIV($i, $z)", Value::Null),
        ("MOD($i, 3)", json!(2.0)),
        ("$i + 1 * 2", json!(7.0)),
        ("($i + 1) * 2", json!(12.0)),
        ("$i - 1 + 2", json!(6.0)),
        ("-2 * $i", json!(-10.0)),
        ("MIN($i, $f, 9)", json!(2.5)),
        ("MAX($i, $f, 9)", json!(9.0)),
        ("MAX($s, \"Z\")", json!("Z")),
        ("LOG10(1000)", json!(3.0)),
        ("LOG10($z)", Value::Null),
        ("LOG10($s)", Value::Null),
        // Conversions.
        ("INT($f)", json!(2)),
        ("INT($s)", json!(0)),
        ("FLOAT($n)", json!(42.0)),
        ("FLOAT($s)", json!(0.0)),
        ("BOOL($t)", json!(true)),
        ("BOOL($s)", json!(false)),
        ("STRING($i)", json!("5")),
        ("STRING($missing)", json!("")),
        // Text.
        ("CONCAT($s, \"-\", $i, $missing)", json!("Hello World-5")),
        ("STARTS_WITH($s, \"Hello\")", json!(true)),
        ("ENDS_WITH($s, \"World\")", json!(true)),
        ("CONTAINS($s, \"o W\")", json!(true)),
        ("CONTAINS($i, \"5\")", json!(false)),
        ("STARTS_WITH($missing, \"a\")", json!(false)),
        ("TO_LOWER($s)", json!("hello world")),
        ("LENGTH($s)", json!(11)),
        ("LENGTH(\"é\", \"bytes\")", json!(2)),
        ("LENGTH(\"é\", \"chars\")", json!(1)),
        ("REG_MATCH($s, `^H.*d$`)", json!(true)),
        ("REG_MATCH($e, `.*`)", json!(false)),
        ("REG_MATCH($i, `5`)", json!(false)),
        ("REG_VALUE($s, `(W\\w+)`)", json!("World")),
        ("REG_VALUE($s, `(\\d+)`)", json!("")),
        ("REG_COUNT($s, `o`)", json!(2)),
        ("REG_COUNT($i, `o`)", json!(0)),
        // Time.
        ("EVENT_TIMESTAMP()", json!(1_700_000_000.25)),
        (
            "FORMAT_TIME(\"%Y-%m-%d\", EVENT_TIMESTAMP())",
            json!("2023-11-14"),
        ),
        (
            "UNIX_TIMESTAMP(\"2023-11-14T22:13:20Z\")",
            json!(1_700_000_000.0),
        ),
        (
            "UNIX_TIMESTAMP(\"2023-11-15T00:13:20.5+02:00\")",
            json!(1_700_000_000.5),
        ),
        ("UNIX_TIMESTAMP($s)", Value::Null),
        // BUCKET: bins hold their upper bound; bounds outside are labelled.
        ("BUCKET($i, 10)", json!("0 - 10")),
        ("BUCKET($z, 10)", json!("-10 - 0")),
        ("BUCKET($i, 5)", json!("0 - 5")),
        ("BUCKET($f, 1)", json!("2 - 3")),
        ("BUCKET($i, 2, 6)", json!("< 6")),
        ("BUCKET($i, 2, 0, 4)", json!("> 4")),
        ("BUCKET($i, 2, 0, 5)", json!("4 - 5")),
        ("BUCKET($f, 0.5)", json!("2.0 - 2.5")),
        ("BUCKET($s, 10)", Value::Null),
        ("BUCKET($missing, 10)", Value::Null),
        // Literals and quoting.
        ("\"tab\\there\"", json!("tab\there")),
        ("\"\\u00e9\\x41\\101\"", json!("éAA")),
        ("$\"s\"", json!("Hello World")),
        ("CONCAT(1.5e1, true, null,)", json!("15.0true")),
    ];
    let mut failures = Vec::new();
    for (expression, expected) in cases {
        match evaluate(expression).await {
            Ok(got) if got == expected => {}
            other => failures.push(format!("{expression}: expected {expected}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn broken_expressions_are_refused_with_honeycombs_messages() {
    let cases = [
        ("", "empty expression"),
        (
            "IF($b)",
            "invalid arguments for op IF, got 1, expected 2 or more",
        ),
        ("FOOBAR(1)", "invalid function: FOOBAR"),
        ("$i +", "mismatched input '<EOF>'"),
        ("LT(1, 2", "extraneous input"),
        ("$nope", "unknown column nope"),
        ("REG_MATCH($s, $s)", "must be a string literal"),
        ("REG_MATCH($s, `(`)", "invalid regular expression"),
        ("\"open", "unterminated string"),
        ("1 2", "extraneous input"),
        ("$", "must be followed by a column name"),
        ("BUCKET($i, 0)", "size must be greater than 0"),
        ("BUCKET($i, $i)", "size must be a number literal"),
        ("BUCKET($i, 1, 5, 2)", "max must be greater than its min"),
        ("INGEST_TIMESTAMP()", "INGEST_TIMESTAMP is not available"),
    ];
    for (expression, message) in cases {
        let error = compile(expression, &resolve).expect_err(expression);
        assert!(error.contains(message), "{expression}: {error}");
    }
    // `$a-1` is one column name; a minus after a column needs a space.
    assert!(compile("$i-1", &resolve)
        .unwrap_err()
        .contains("unknown column i-1"));
    assert!(compile("$i - 1", &resolve).is_ok());
}
