use std::time::{Duration, Instant};

use super::*;
use crate::xray::parse_document;

const TRACE: &str = "1-6b06a841-69cb3a08896fab530b612e6d";

fn segment(id: &str, extra: &str) -> Document {
    parse_document(&format!(
        r#"{{"trace_id":"{TRACE}","id":"{id}","name":"backend-flask","start_time":1.0,{extra}}}"#
    ))
    .unwrap()
}

fn subsegment(id: &str, parent: &str) -> Document {
    parse_document(&format!(
        r#"{{"trace_id":"{TRACE}","id":"{id}","parent_id":"{parent}","type":"subsegment","name":"db","start_time":1.1,"end_time":1.2}}"#
    ))
    .unwrap()
}

fn names(spans: &[ResolvedSpan]) -> Vec<(String, String)> {
    spans
        .iter()
        .map(|s| (s.span.span_id.to_hex(), s.owner.service.clone()))
        .collect()
}

#[test]
fn a_streamed_subsegment_waits_for_its_segment_and_takes_its_service() {
    let mut assembler = Assembler::new(Duration::from_secs(10), 100);
    let now = Instant::now();
    // A grandchild first, then its parent subsegment, then the segment.
    assert!(
        assembler
            .push(subsegment("00000000000000c2", "00000000000000c1"), now)
            .held
    );
    assert!(
        assembler
            .push(subsegment("00000000000000c1", "00000000000000a1"), now)
            .held
    );
    assert_eq!(assembler.counts().waiting, 2);
    assert!(assembler.take_departed().is_empty());
    let pushed = assembler.push(segment("00000000000000a1", r#""end_time":2.0"#), now);
    assert!(!pushed.held);
    let ready = pushed.ready;
    let mut departed: Vec<String> = assembler
        .take_departed()
        .iter()
        .map(|(_, id)| id.to_hex())
        .collect();
    departed.sort();
    assert_eq!(departed, ["00000000000000c1", "00000000000000c2"]);
    assert_eq!(
        names(&ready),
        vec![
            ("00000000000000a1".into(), "backend-flask".into()),
            ("00000000000000c1".into(), "backend-flask".into()),
            ("00000000000000c2".into(), "backend-flask".into()),
        ]
    );
    assert_eq!(ready[1].owner.resource, ready[0].owner.resource);
    assert_eq!(assembler.counts().waiting, 0);
    // A late sibling resolves at once: the segment's id is remembered.
    let late = assembler.push(subsegment("00000000000000c3", "00000000000000a1"), now);
    assert!(!late.held);
    assert_eq!(late.ready[0].owner.service, "backend-flask");
}

#[test]
fn an_orphan_is_released_after_the_wait_with_an_unknown_service() {
    let mut assembler = Assembler::new(Duration::from_secs(10), 100);
    let now = Instant::now();
    assembler.push(subsegment("00000000000000c1", "00000000000000a1"), now);
    assert!(assembler.expire(now + Duration::from_secs(9)).is_empty());
    assert!(assembler.take_departed().is_empty());
    let released = assembler.expire(now + Duration::from_secs(10));
    assert_eq!(
        names(&released),
        vec![("00000000000000c1".into(), UNRESOLVED_SERVICE.into())]
    );
    assert_eq!(assembler.take_departed().len(), 1);
    assert_eq!(assembler.counts().unresolved, 1);
    assert_eq!(assembler.counts().waiting, 0);
}

#[test]
fn the_waiting_room_is_bounded_and_loses_nothing() {
    let mut assembler = Assembler::new(Duration::from_secs(10), 1);
    let now = Instant::now();
    assert!(
        assembler
            .push(subsegment("00000000000000c1", "00000000000000a1"), now)
            .held
    );
    // Full: the next orphan is stored at once rather than dropped.
    let released = assembler.push(subsegment("00000000000000c2", "00000000000000a1"), now);
    assert!(!released.held);
    assert_eq!(released.ready.len(), 1);
    assert_eq!(assembler.drain().len(), 1);
}

#[test]
fn a_complete_document_replaces_its_in_progress_version() {
    let mut assembler = Assembler::new(Duration::from_secs(10), 100);
    let now = Instant::now();
    let pushed = assembler.push(segment("00000000000000a1", r#""in_progress":true"#), now);
    assert!(pushed.held && pushed.ready.is_empty());
    // Its children resolve while it is in progress.
    let child = assembler.push(subsegment("00000000000000c1", "00000000000000a1"), now);
    assert_eq!(child.ready[0].owner.service, "backend-flask");
    let complete = assembler
        .push(segment("00000000000000a1", r#""end_time":3.0"#), now)
        .ready;
    // The in-progress version left the waiting room without being stored.
    assert_eq!(assembler.take_departed().len(), 1);
    assert_eq!(complete.len(), 1);
    assert_eq!(complete[0].span.duration_nano, 2_000_000_000);
    assert_eq!(assembler.counts().superseded, 1);
    assert!(assembler.drain().is_empty());
}

#[test]
fn an_in_progress_document_never_completed_is_stored_after_the_wait() {
    let mut assembler = Assembler::new(Duration::from_secs(5), 100);
    let now = Instant::now();
    assembler.push(segment("00000000000000a1", r#""in_progress":true"#), now);
    let released = assembler.expire(now + Duration::from_secs(5));
    assert_eq!(released.len(), 1);
    assert_eq!(
        released[0].span.attribute("aws.xray.in_progress"),
        Some(&combray_model::AttributeValue::Bool(true))
    );
}

#[test]
fn spans_are_grouped_by_service_and_resource() {
    let mut assembler = Assembler::new(Duration::from_secs(5), 100);
    let now = Instant::now();
    let mut spans = assembler
        .push(segment("00000000000000a1", r#""end_time":2.0"#), now)
        .ready;
    for document in [
        subsegment("00000000000000c1", "00000000000000a1"),
        subsegment("00000000000000c9", "00000000000000f9"),
    ] {
        spans.extend(assembler.push(document, now).ready);
    }
    spans.extend(assembler.drain());
    let groups = group_spans(spans);
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].dataset, "backend-flask");
    assert_eq!(groups[0].spans.len(), 2);
    assert_eq!(groups[1].dataset, UNRESOLVED_SERVICE);
}

#[test]
fn owners_are_remembered_for_at_least_a_generation_of_later_ids_then_forgotten() {
    // max_waiting 1 → generations of 1,024 ids.
    let mut assembler = Assembler::new(Duration::from_secs(10), 1);
    let now = Instant::now();
    let push_segments = |assembler: &mut Assembler, range: std::ops::Range<u64>| {
        for id in range {
            assert!(
                !assembler
                    .push(segment(&format!("{id:016x}"), r#""end_time":2.0"#), now)
                    .held
            );
        }
    };
    push_segments(&mut assembler, 1..2);
    // 1,024 later ids: the first segment's owner is still known.
    push_segments(&mut assembler, 100..1_124);
    let late = assembler.push(subsegment("00000000000000c1", "0000000000000001"), now);
    assert!(!late.held);
    assert_eq!(late.ready[0].owner.service, "backend-flask");
    // Two generations later it is forgotten: a subsegment naming it waits as an orphan.
    push_segments(&mut assembler, 2_000..4_100);
    let forgotten = assembler.push(subsegment("00000000000000c2", "0000000000000001"), now);
    assert!(forgotten.held);
    assert!(forgotten.ready.is_empty());
}

#[test]
fn documents_of_one_service_share_one_owner_and_others_keep_theirs() {
    let mut assembler = Assembler::new(Duration::from_secs(10), 100);
    let now = Instant::now();
    let first = assembler.push(segment("00000000000000a1", r#""end_time":2.0"#), now);
    let second = assembler.push(segment("00000000000000a2", r#""end_time":2.0"#), now);
    assert!(Arc::ptr_eq(&first.ready[0].owner, &second.ready[0].owner));
    let other = parse_document(&format!(
        r#"{{"trace_id":"{TRACE}","id":"00000000000000b1","name":"worker","start_time":1.0,"end_time":2.0}}"#
    ))
    .unwrap();
    let other = assembler.push(other, now);
    assert_eq!(other.ready[0].owner.service, "worker");
    assert_eq!(first.ready[0].owner.service, "backend-flask");
}

#[test]
fn waiting_memory_is_counted_and_the_oldest_documents_go_first_past_a_budget() {
    let mut assembler = Assembler::new(Duration::from_secs(10), 100);
    let start = Instant::now();
    let orphans: Vec<Document> = (1..=4u64)
        .map(|i| subsegment(&format!("{:016x}", 0xc0 + i), &format!("{:016x}", 0xa0 + i)))
        .collect();
    let sizes: Vec<usize> = orphans.iter().map(|d| d.memory_bytes).collect();
    for (i, orphan) in orphans.into_iter().enumerate() {
        assert!(
            assembler
                .push(orphan, start + Duration::from_millis(i as u64))
                .held
        );
    }
    let in_progress = segment("00000000000000e1", r#""in_progress":true"#);
    let in_progress_bytes = in_progress.memory_bytes;
    assert!(
        assembler
            .push(in_progress, start + Duration::from_millis(9))
            .held
    );
    let total: usize = sizes.iter().sum::<usize>() + in_progress_bytes;
    assert_eq!(assembler.waiting_bytes(), total);

    // Room for all but about one and a half orphans: the two oldest are released, as orphans.
    let released = assembler.release_oldest_until(total - sizes[0] - sizes[1] / 2);
    let mut released = names(&released);
    released.sort();
    assert_eq!(
        released,
        vec![
            ("00000000000000c1".to_owned(), UNRESOLVED_SERVICE.to_owned()),
            ("00000000000000c2".to_owned(), UNRESOLVED_SERVICE.to_owned()),
        ]
    );
    assert_eq!(assembler.waiting_bytes(), total - sizes[0] - sizes[1]);
    assert_eq!(assembler.counts().waiting, 3);
    assert_eq!(assembler.take_departed().len(), 2);
    // Within the budget, nothing moves.
    assert!(assembler.release_oldest_until(total).is_empty());

    // The complete version replaces the in-progress one, and its memory goes with it.
    let complete = assembler.push(segment("00000000000000e1", r#""end_time":2.0"#), start);
    assert!(!complete.held);
    assert_eq!(assembler.waiting_bytes(), sizes[2] + sizes[3]);
    // Their parents arrive: nothing waits, nothing is counted.
    for i in 3..=4u64 {
        let parent = format!("{:016x}", 0xa0 + i);
        assembler.push(segment(&parent, r#""end_time":2.0"#), start);
    }
    assert_eq!(assembler.waiting_bytes(), 0);
    assert_eq!(assembler.counts().waiting, 0);
}
