use super::ast::*;
use super::*;

const CORPUS: &str = include_str!("../../tests/fixtures/xray-filter-expressions.txt");

fn compare(keyword: Keyword, test: Option<(Operator, Value)>) -> Filter {
    Filter::Compare(Comparison {
        field: Field::Keyword(keyword),
        test,
    })
}

#[test]
fn every_documented_expression_parses() {
    let expressions: Vec<&str> = CORPUS
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .collect();
    assert!(expressions.len() >= 38, "the corpus lost lines");
    for expression in expressions {
        if let Err(error) = parse(expression) {
            panic!("{expression}\n  {error}");
        }
    }
}

#[test]
fn juxtaposition_is_and_and_or_binds_loosest() {
    assert_eq!(
        parse("ok !partial duration <3").unwrap(),
        Filter::And(vec![
            compare(Keyword::Ok, None),
            Filter::Not(Box::new(compare(Keyword::Partial, None))),
            compare(Keyword::Duration, Some((Operator::Lt, Value::Number(3.0)))),
        ])
    );
    assert_eq!(
        parse("fault OR error and throttle").unwrap(),
        Filter::Or(vec![
            compare(Keyword::Fault, None),
            Filter::And(vec![
                compare(Keyword::Error, None),
                compare(Keyword::Throttle, None)
            ]),
        ])
    );
    assert_eq!(
        parse("responseTime > 2").unwrap(),
        parse("RESPONSETIME > 2").unwrap()
    );
}

#[test]
fn services_edges_ids_and_annotations_keep_their_parts() {
    assert_eq!(
        parse(r#"service(id(name: "fn", type: "AWS::Lambda::Function")) { error }"#).unwrap(),
        Filter::Service {
            node: Some(NodeRef {
                name: Some("fn".into()),
                node_type: Some("AWS::Lambda::Function".into()),
                account_id: None
            }),
            filter: Some(Box::new(compare(Keyword::Error, None))),
        }
    );
    let Filter::Edge { from, to, filter } = parse(r#"edge("a", "b")"#).unwrap() else {
        panic!("not an edge")
    };
    assert_eq!(
        (from.name.as_deref(), to.name.as_deref(), filter),
        (Some("a"), Some("b"), None)
    );
    assert_eq!(
        parse(r#"annotation[customer.tier] = "gold""#).unwrap(),
        parse(r#"annotation.customer.tier = "gold""#).unwrap()
    );
    let Filter::RootCauseJson(patterns) = parse(r#"rootcause.json = #[{"Services": []}]"#).unwrap()
    else {
        panic!("not rootcause.json")
    };
    assert_eq!(patterns, [serde_json::json!({"Services": []})]);
    // The documentation's own `name = traces`: a bare word is a string.
    let Filter::RootCause {
        kind,
        level,
        filter,
    } = parse("rootcause.fault.service { name = traces }").unwrap()
    else {
        panic!("not a root cause block")
    };
    assert_eq!(
        (kind, level),
        (RootCauseKind::Fault, RootCauseLevel::Service)
    );
    assert_eq!(
        *filter,
        compare(
            Keyword::Name,
            Some((Operator::Eq, Value::Text("traces".into())))
        )
    );
}

#[test]
fn syntax_errors_say_where_and_what() {
    for (expression, position, fragment) in [
        ("", 1, "empty"),
        ("responsetime >", 15, "a value after '>'"),
        ("responsetime > \"slow\"", 1, "compares only with a number"),
        ("http.url > 5", 1, "is text"),
        ("ok = 3", 1, "true or false"),
        ("fault AND", 10, "a keyword"),
        ("bogus = 1", 1, "unknown keyword 'bogus'"),
        ("(ok", 4, "')' to close the '(' at character 1"),
        (
            "service(\"a\") { fault",
            21,
            "'}' to close the '{' at character 14",
        ),
        ("ok )", 4, "')' has no matching '('"),
        ("http.url CONTAINS \"open", 19, "not closed"),
        ("edge(\"a\") { fault }", 9, "','"),
        (
            "service(id(colour: \"red\"))",
            12,
            "name, type or account.id",
        ),
        (
            "rootcause.latency.service { ok }",
            1,
            "fault, error or responsetime",
        ),
        ("rootcause.json = #[{]", 19, "not valid"),
        ("http.status = 200 $", 19, "unexpected character '$'"),
        ("name = \"é\" ok )", 15, "no matching"),
    ] {
        let error = parse(expression).expect_err(expression);
        assert_eq!(error.position, position, "{expression}: {error}");
        assert!(error.message.contains(fragment), "{expression}: {error}");
    }
}

#[test]
fn hostile_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}ok{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&deep).unwrap_err().message.contains("nests deeper"));
    let negations = format!("{}ok", "!".repeat(10_000));
    assert!(parse(&negations)
        .unwrap_err()
        .message
        .contains("nests deeper"));
}
