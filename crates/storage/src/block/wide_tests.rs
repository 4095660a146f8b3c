use combray_model::{AttributeValue as V, KeyValue, Protocol, Scope, Span, SpanBatch, SpanGroup};

use super::*;
use crate::head::to_record_batch;

fn span(id: u8, attributes: Vec<KeyValue>) -> Span {
    let mut span = crate::test_support::span(1, id, 1);
    span.name = "op".into();
    span.duration_nano = 1;
    span.attributes = attributes;
    span
}

fn group(resource: Vec<KeyValue>, spans: Vec<Span>) -> SpanGroup {
    SpanGroup {
        dataset: "svc".into(),
        resource,
        scope: Scope::default(),
        spans,
    }
}

fn chunk(groups: Vec<SpanGroup>) -> Chunk {
    let batch = SpanBatch {
        environment: "prod".into(),
        protocol: Protocol::OtlpGrpc,
        received_unix_nano: 0,
        groups,
    };
    Chunk::new(to_record_batch(&batch).unwrap()).unwrap()
}

fn sorted(mut attributes: Vec<KeyValue>) -> Vec<String> {
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
    attributes.iter().map(|kv| format!("{kv:?}")).collect()
}

fn assert_round_trip(source: &Chunk) -> WideBatch {
    let wide = widen(source).unwrap();
    let back = Chunk::new(narrow(&wide.batch).unwrap()).unwrap();
    assert_eq!(back.len(), source.len());
    for row in 0..source.len() {
        assert_eq!(
            sorted(back.attributes(row).unwrap()),
            sorted(source.attributes(row).unwrap()),
            "row {row}"
        );
        assert_eq!(back.record(row).unwrap().span.span_id, source.span_id(row));
    }
    wide
}

#[test]
fn every_attribute_survives_the_round_trip_whatever_its_shape() {
    let kv = KeyValue::new;
    let source = chunk(vec![group(
        Vec::new(),
        vec![
            span(
                1,
                vec![kv("mixed", V::Int(1)), kv("route", V::String("/a".into()))],
            ),
            span(2, vec![kv("mixed", V::Int(2)), kv("flag", V::Bool(true))]),
            span(
                3,
                vec![
                    kv("mixed", V::String("three".into())),
                    kv("ratio", V::Double(0.5)),
                    kv("list", V::Array(vec![V::Int(1), V::Bool(false)])),
                    kv("map", V::Map(vec![kv("inner", V::Bytes(vec![1, 2]))])),
                    kv("empty", V::Empty),
                    kv("route", V::String("/b".into())),
                    kv("route", V::String("/duplicate".into())),
                ],
            ),
            span(4, Vec::new()),
        ],
    )]);
    let wide = assert_round_trip(&source);
    let expected = BTreeMap::from([
        ("attr.flag".to_owned(), ColumnType::Bool),
        ("attr.mixed".to_owned(), ColumnType::Int),
        ("attr.ratio".to_owned(), ColumnType::Double),
        ("attr.route".to_owned(), ColumnType::String),
    ]);
    assert_eq!(wide.columns, expected);
    let overflow = wide
        .batch
        .column_by_name(OVERFLOW_COLUMN)
        .unwrap()
        .as_binary::<i32>();
    // Only the third span has attributes without a column.
    let with_overflow: Vec<bool> = (0..4).map(|row| overflow.is_valid(row)).collect();
    assert_eq!(with_overflow, [false, false, true, false]);
}

#[test]
fn keys_past_the_column_limit_stay_in_the_overflow() {
    let attributes: Vec<KeyValue> = (0..MAX_ATTRIBUTE_COLUMNS + 5)
        .map(|i| KeyValue::new(format!("k{i:05}"), V::Int(i as i64)))
        .collect();
    let source = chunk(vec![group(Vec::new(), vec![span(1, attributes)])]);
    let wide = assert_round_trip(&source);
    assert_eq!(wide.columns.len(), MAX_ATTRIBUTE_COLUMNS);
}

#[test]
fn resource_attributes_become_columns_weighted_by_rows() {
    let kv = KeyValue::new;
    let host = |name: &str| kv("host.name", V::String(name.into()));
    let source = chunk(vec![
        group(
            vec![host("a"), kv("pid", V::Int(7))],
            vec![span(1, Vec::new()), span(2, Vec::new())],
        ),
        // One row where host.name is a number: the column keeps the majority type.
        group(vec![kv("host.name", V::Int(3))], vec![span(3, Vec::new())]),
    ]);
    let wide = assert_round_trip(&source);
    assert_eq!(wide.columns["resource.host.name"], ColumnType::String);
    assert_eq!(wide.columns["resource.pid"], ColumnType::Int);
    let hosts = wide
        .batch
        .column_by_name("resource.host.name")
        .unwrap()
        .as_string::<i32>();
    let hosts: Vec<Option<&str>> = hosts.iter().collect();
    assert_eq!(hosts, [Some("a"), Some("a"), None]);
}
