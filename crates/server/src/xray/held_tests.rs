use std::path::Path;

use combray_ingest::xray::parse_document;
use combray_storage::wal::FsyncPolicy;

use super::*;

fn document(id: u32) -> HeldDocument {
    let text = format!(
        r#"{{"type":"subsegment","trace_id":"1-5759e988-bd862e3fe1be46a994272793","parent_id":"00000000000000a1","id":"{id:016x}","name":"q","start_time":1.0,"end_time":2.0}}"#
    );
    let parsed = parse_document(&text).expect("valid document");
    HeldDocument {
        trace_id: parsed.trace_id,
        id: parsed.id,
        text,
    }
}

fn key_of(text: &str) -> Option<(TraceId, SpanId)> {
    parse_document(text).ok().map(|d| (d.trace_id, d.id))
}

fn open(dir: &Path) -> (HeldJournal, Vec<(String, String)>) {
    HeldJournal::open(dir, FsyncPolicy::Always, &key_of).expect("journal opens")
}

fn bytes_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|entry| entry.expect("entry").metadata().expect("metadata").len())
        .sum()
}

fn ids(restored: &[(String, String)]) -> Vec<(String, SpanId)> {
    restored
        .iter()
        .map(|(environment, text)| (environment.clone(), key_of(text).expect("parses").1))
        .collect()
}

#[tokio::test]
async fn held_documents_come_back_after_a_reopen_and_released_ones_do_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, restored) = open(dir.path());
    assert!(restored.is_empty());
    let (one, two, three) = (document(1), document(2), document(3));
    let released = (one.trace_id, one.id);
    let kept = [(two.id), (three.id)];
    journal
        .record("prod", vec![one, two], &[])
        .await
        .expect("durable");
    journal
        .record("staging", vec![three], &[])
        .await
        .expect("durable");
    // A departure in another environment, or of a document never journaled, changes nothing.
    journal
        .record("staging", Vec::new(), &[released])
        .await
        .expect("durable");
    journal
        .record("prod", Vec::new(), &[released])
        .await
        .expect("durable");
    assert_eq!(journal.len(), 2);
    drop(journal);

    let (journal, restored) = open(dir.path());
    assert_eq!(
        ids(&restored),
        vec![("prod".into(), kept[0]), ("staging".into(), kept[1])]
    );
    assert_eq!(journal.len(), 2);
}

#[tokio::test]
async fn compaction_keeps_exactly_what_is_held_and_drops_old_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut journal, _) = open(dir.path());
    journal.compact_after_bytes = 1_000;
    for id in 1..=40 {
        let doc = document(id);
        let departed = if id % 2 == 0 {
            vec![(doc.trace_id, document(id - 1).id)]
        } else {
            Vec::new()
        };
        journal
            .record("prod", vec![doc], &departed)
            .await
            .expect("durable");
    }
    let before = bytes_on_disk(dir.path());
    journal.compact_if_due().await.expect("compacts");
    let after = bytes_on_disk(dir.path());
    // 40 holds and 20 releases became 20 holds.
    assert!(
        after * 3 < before * 2,
        "{after} bytes after, {before} before"
    );
    // Below the threshold nothing happens.
    journal.compact_if_due().await.expect("no-op");
    drop(journal);

    let (_, restored) = open(dir.path());
    let mut restored = ids(&restored);
    restored.sort();
    let expected: Vec<(String, SpanId)> = (1..=40)
        .filter(|id| id % 2 == 0)
        .map(|id| ("prod".to_owned(), document(id).id))
        .collect();
    assert_eq!(restored, expected);
}

#[tokio::test]
async fn a_document_held_and_released_in_one_batch_is_not_restored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(dir.path());
    let (orphan, other) = (document(7), document(8));
    let released = [(orphan.trace_id, orphan.id)];
    journal
        .record("prod", vec![orphan, other], &released)
        .await
        .expect("durable");
    assert_eq!(journal.len(), 1);
    drop(journal);
    let (_, restored) = open(dir.path());
    assert_eq!(ids(&restored), vec![("prod".into(), document(8).id)]);
}
