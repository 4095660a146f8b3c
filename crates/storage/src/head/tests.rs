use combray_model::{
    AttributeValue, Event, KeyValue, Link, Protocol, Scope, Span, SpanBatch, SpanGroup, SpanId,
    SpanKind, Status, StatusCode, TraceId,
};

use super::*;

fn span(trace: u8, id: u8, parent: Option<u8>, name: &str) -> Span {
    Span {
        trace_id: TraceId::from_bytes([trace; 16]),
        span_id: SpanId::from_bytes([id; 8]),
        parent_span_id: parent.map(|p| SpanId::from_bytes([p; 8])),
        trace_state: String::new(),
        name: name.into(),
        kind: SpanKind::Server,
        start_unix_nano: 1_000 + u64::from(id),
        duration_nano: 50,
        status: Status {
            code: StatusCode::Unset,
            message: String::new(),
        },
        attributes: vec![KeyValue::new(
            "http.route",
            AttributeValue::String("/home".into()),
        )],
        events: Vec::new(),
        links: Vec::new(),
        flags: 0x100,
        sample_rate: 1,
        dropped_counts: [0, 0, 0],
    }
}

pub(crate) fn batch(environment: &str, dataset: &str, spans: Vec<Span>) -> SpanBatch {
    SpanBatch {
        environment: environment.into(),
        protocol: Protocol::OtlpGrpc,
        received_unix_nano: 5,
        groups: vec![SpanGroup {
            dataset: dataset.into(),
            resource: vec![KeyValue::new(
                "service.name",
                AttributeValue::String(dataset.into()),
            )],
            scope: Scope {
                name: "flask".into(),
                version: "1".into(),
                attributes: Vec::new(),
            },
            spans,
        }],
    }
}

#[test]
fn a_span_survives_the_columnar_round_trip_exactly() {
    let mut rich = span(1, 2, Some(1), "GET /api/activities/home");
    rich.trace_state = "vendor=x".into();
    rich.status = Status {
        code: StatusCode::Error,
        message: "boom".into(),
    };
    rich.attributes.push(KeyValue::new(
        "nested",
        AttributeValue::Map(vec![KeyValue::new(
            "list",
            AttributeValue::Array(vec![
                AttributeValue::Double(1.5),
                AttributeValue::Bytes(vec![1, 2]),
            ]),
        )]),
    ));
    rich.events.push(Event {
        time_unix_nano: 1_010,
        name: "exception".into(),
        attributes: vec![KeyValue::new(
            "exception.type",
            AttributeValue::String("E".into()),
        )],
        dropped_attributes_count: 1,
    });
    rich.links.push(Link {
        trace_id: TraceId::from_bytes([9; 16]),
        span_id: SpanId::from_bytes([9; 8]),
        trace_state: String::new(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        flags: 1,
    });
    rich.sample_rate = 20;
    rich.dropped_counts = [1, 2, 3];
    let input = batch("prod", "backend-flask", vec![rich.clone()]);
    let head = Head::new();
    head.insert(&input).unwrap();
    let rows = head.trace_rows("prod", &rich.trace_id);
    assert_eq!(rows.len(), 1);
    let record = rows[0].0.record(rows[0].1).unwrap();
    assert_eq!(record.span, rich);
    assert_eq!(&*record.dataset, "backend-flask");
    assert_eq!(record.resource.to_vec(), input.groups[0].resource);
    assert_eq!(record.scope.name, "flask");
    assert_eq!(record.protocol, Protocol::OtlpGrpc);
}

#[test]
fn traces_are_indexed_across_chunks_and_environments_are_separate() {
    let head = Head::new();
    head.insert(&batch(
        "a",
        "api",
        vec![span(1, 1, None, "root"), span(2, 5, None, "other")],
    ))
    .unwrap();
    head.insert(&batch("a", "db", vec![span(1, 2, Some(1), "query")]))
        .unwrap();
    head.insert(&batch("b", "api", vec![span(1, 3, None, "root-b")]))
        .unwrap();
    let trace = TraceId::from_bytes([1; 16]);
    let names: Vec<String> = head
        .trace_rows("a", &trace)
        .iter()
        .map(|(chunk, row)| chunk.name(*row).to_owned())
        .collect();
    assert_eq!(names, ["root", "query"]);
    assert_eq!(head.trace_rows("b", &trace).len(), 1);
    assert!(head.trace_rows("c", &trace).is_empty());
    assert_eq!(head.span_count(), 4);
    assert!(head.memory_bytes() > 0);
    assert_eq!(head.services("a"), ["api", "db"]);
    let operations = head.operations("a", "api").unwrap();
    assert_eq!(
        operations
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>(),
        ["other", "root"]
    );
    assert_eq!(operations[0].kinds, [SpanKind::Server]);
    assert!(head.operations("a", "nope").is_none());
}

#[test]
fn the_index_summarizes_traces_by_their_root() {
    let head = Head::new();
    let mut child = span(1, 2, Some(1), "query");
    child.status.code = StatusCode::Error;
    child.start_unix_nano = 900;
    child.duration_nano = 500;
    head.insert(&batch("a", "db", vec![child])).unwrap();
    let trace = TraceId::from_bytes([1; 16]);
    let early = head.trace_summaries("a", [trace]);
    assert_eq!(
        early[0].root_name, "query",
        "while the root is missing, the earliest span stands in"
    );
    assert!(!early[0].has_root);
    head.insert(&batch("a", "api", vec![span(1, 1, None, "GET /")]))
        .unwrap();
    let summary = &head.trace_summaries("a", [trace, TraceId::from_bytes([7; 16])])[0];
    assert_eq!(summary.root_service, "api");
    assert_eq!(summary.root_name, "GET /");
    assert!(summary.has_root);
    assert_eq!(summary.start_unix_nano, 900);
    assert_eq!(summary.duration_nano, 500);
    assert_eq!(summary.span_count, 2);
    assert_eq!(summary.error_count, 1);
    assert_eq!(
        head.trace_ids_starting_between("a", 0, 899),
        Vec::<TraceId>::new()
    );
    assert_eq!(head.trace_ids_starting_between("a", 900, 900), vec![trace]);
}

#[test]
fn a_resent_batch_and_a_repeat_within_a_batch_are_held_once() {
    let head = Head::new();
    let spans = vec![
        span(7, 1, None, "root"),
        span(7, 2, Some(1), "child"),
        span(8, 3, None, "other"),
    ];
    head.insert(&batch("prod", "api", spans.clone())).unwrap();
    head.insert(&batch("prod", "api", spans.clone())).unwrap();
    assert_eq!(head.span_count(), 3);
    // Partly new: only the new span is added; another environment is not affected.
    let mut partly = spans[..2].to_vec();
    partly.push(span(7, 4, Some(1), "late child"));
    partly.push(span(7, 4, Some(1), "late child"));
    head.insert(&batch("prod", "api", partly)).unwrap();
    head.insert(&batch("dev", "api", spans)).unwrap();
    assert_eq!(
        head.trace_rows("prod", &TraceId::from_bytes([7; 16])).len(),
        3
    );
    assert_eq!(
        head.trace_rows("dev", &TraceId::from_bytes([7; 16])).len(),
        2
    );
    assert_eq!(head.span_count(), 7);
    assert_eq!(head.repeats_dropped(), 3 + 3);
}

#[test]
fn a_changed_copy_of_a_span_is_kept_beside_the_first_and_the_block_keeps_the_later() {
    let head = Head::new();
    let first = span(7, 1, None, "root");
    let mut complete = first.clone();
    complete.duration_nano = 999;
    head.insert(&batch("prod", "api", vec![first])).unwrap();
    head.insert(&batch("prod", "api", vec![complete])).unwrap();
    assert_eq!(
        head.span_count(),
        2,
        "both copies are held until a block is built"
    );
    assert_eq!(head.repeats_dropped(), 0);
    let chunks = head.snapshot().remove(0).1;
    let built = crate::block::build_block(&chunks, &crate::test_support::origin(0)).unwrap();
    assert_eq!(built.meta.span_count, 1);
    let block = crate::block::Block::new(built.meta.clone());
    let batch = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(built.data)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let stored = block.to_chunk(batch).unwrap();
    assert_eq!(
        stored.duration_nano(0),
        999,
        "the later copy is the one kept"
    );
}
