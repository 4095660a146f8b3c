use std::io::Write;
use std::sync::atomic::Ordering;

use super::segment::list_segments;
use super::*;
use crate::StorageErrorKind;

fn open_collecting(config: &WalConfig) -> (Wal, ReplayReport, Vec<Vec<u8>>) {
    replay_with(config).unwrap()
}

fn payload(index: usize) -> Vec<u8> {
    format!("record-{index:05}-")
        .repeat(index % 7 + 1)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_all_replay_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    let (wal, _, replayed) = open_collecting(&config);
    assert!(replayed.is_empty());
    let wal = Arc::new(wal);
    let mut tasks = Vec::new();
    for index in 0..300 {
        let wal = Arc::clone(&wal);
        tasks.push(tokio::spawn(
            async move { wal.append(payload(index)).await },
        ));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stats = Arc::clone(wal.stats());
    assert_eq!(stats.records.load(Ordering::Relaxed), 300);
    assert!(stats.commits.load(Ordering::Relaxed) <= 300);
    assert_eq!(
        stats.fsync_latency.snapshot().count,
        stats.commits.load(Ordering::Relaxed)
    );
    drop(wal);

    let (_wal, report, mut replayed) = open_collecting(&config);
    assert_eq!(report.records, 300);
    assert_eq!(report.truncated_bytes, 0);
    replayed.sort();
    let mut expected: Vec<Vec<u8>> = (0..300).map(payload).collect();
    expected.sort();
    assert_eq!(replayed, expected);
}

#[tokio::test]
async fn a_torn_tail_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    let (wal, _, _) = open_collecting(&config);
    wal.append(b"kept-1".to_vec()).await.unwrap();
    wal.append(b"kept-2".to_vec()).await.unwrap();
    drop(wal);
    let (_, last) = list_segments(&config.dir).unwrap().pop().unwrap();
    // A record header promising 100 bytes, followed by only 3: a write cut off by a crash.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    file.write_all(&[100, 0, 0, 0, 1, 2, 3, 4, b'a', b'b', b'c'])
        .unwrap();
    drop(file);

    let (wal, report, replayed) = open_collecting(&config);
    assert_eq!(replayed, vec![b"kept-1".to_vec(), b"kept-2".to_vec()]);
    assert_eq!(report.truncated_bytes, 11);
    wal.append(b"after".to_vec()).await.unwrap();
    drop(wal);
    let (_, report, replayed) = open_collecting(&config);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(replayed.len(), 3);
    assert_eq!(replayed[2], b"after");
}

#[tokio::test]
async fn a_corrupt_record_cuts_the_segment_there() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    let (wal, _, _) = open_collecting(&config);
    wal.append(b"good".to_vec()).await.unwrap();
    wal.append(b"will be damaged".to_vec()).await.unwrap();
    drop(wal);
    let (_, last) = list_segments(&config.dir).unwrap().pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    let end = bytes.len();
    bytes[end - 2] ^= 0xff;
    std::fs::write(&last, &bytes).unwrap();

    let (_, report, replayed) = open_collecting(&config);
    assert_eq!(replayed, vec![b"good".to_vec()]);
    assert_eq!(report.truncated_bytes, (8 + "will be damaged".len()) as u64);
}

#[tokio::test]
async fn a_segment_with_a_torn_header_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    let (wal, _, _) = open_collecting(&config);
    wal.append(b"kept".to_vec()).await.unwrap();
    drop(wal);
    std::fs::write(segment::segment_path(&config.dir, 99), b"CMBR").unwrap();
    let (_, report, replayed) = open_collecting(&config);
    assert_eq!(replayed, vec![b"kept".to_vec()]);
    assert_eq!(report.truncated_bytes, 4);
    assert!(!segment::segment_path(&config.dir, 99).exists());
}

#[tokio::test]
async fn a_newer_format_version_refuses_to_be_misread() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    std::fs::create_dir_all(&config.dir).unwrap();
    let mut header = frame::header();
    header[8] = 2;
    std::fs::write(segment::segment_path(&config.dir, 1), header).unwrap();
    let error = Wal::open(config, |_| Ok(())).err().expect("must refuse");
    assert!(error.to_string().contains("version 2"), "{error}");
}

#[tokio::test]
async fn segments_rotate_and_replay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path().join("wal"));
    config.segment_bytes = 256;
    config.fsync = FsyncPolicy::Always;
    let (wal, _, _) = open_collecting(&config);
    for index in 0..40 {
        wal.append(payload(index)).await.unwrap();
    }
    assert_eq!(
        wal.stats().commits.load(Ordering::Relaxed),
        40,
        "always syncs every record"
    );
    drop(wal);
    assert!(list_segments(&config.dir).unwrap().len() > 5);
    let (_, _, replayed) = open_collecting(&config);
    assert_eq!(replayed, (0..40).map(payload).collect::<Vec<_>>());
}

#[test]
fn fsync_policies_parse_by_name() {
    assert_eq!("group".parse::<FsyncPolicy>(), Ok(FsyncPolicy::Group));
    assert_eq!("always".parse::<FsyncPolicy>(), Ok(FsyncPolicy::Always));
    assert_eq!("never".parse::<FsyncPolicy>(), Ok(FsyncPolicy::Never));
    assert!("sometimes".parse::<FsyncPolicy>().is_err());
    assert_eq!(FsyncPolicy::default().to_string(), "group");
}

#[tokio::test]
async fn rotation_seals_what_came_before_and_checkpointed_segments_are_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    let (wal, _, _) = open_collecting(&config);
    wal.append(b"published".to_vec()).await.unwrap();
    let sealed = wal.rotate().await.unwrap();
    wal.append(b"not yet".to_vec()).await.unwrap();
    drop(wal);

    // A crash after the checkpoint but before the segments were deleted.
    let mut replayed = Vec::new();
    let (wal, report) = Wal::open_after_checkpoint(config.clone(), sealed, |payload| {
        replayed.push(payload.to_vec());
        Ok(())
    })
    .unwrap();
    assert_eq!(replayed, vec![b"not yet".to_vec()]);
    assert_eq!(report.records, 1);
    assert!(!segment::segment_path(&config.dir, sealed).exists());

    let sealed_again = wal.rotate().await.unwrap();
    assert!(sealed_again > sealed);
    assert!(wal.remove_segments_through(sealed_again).unwrap() >= 1);
    wal.append(b"after".to_vec()).await.unwrap();
    drop(wal);
    let (_, _, replayed) = open_collecting(&config);
    assert_eq!(replayed, vec![b"after".to_vec()]);
}

/// A WAL with two sealed segments: `first` holds "a1", "a2", "a3"; the newest holds "b1".
async fn two_segments(config: &WalConfig) -> (u64, u64) {
    let (wal, _, _) = open_collecting(config);
    for payload in [&b"a1"[..], b"a2", b"a3"] {
        wal.append(payload.to_vec()).await.unwrap();
    }
    let first = wal.rotate().await.unwrap();
    wal.append(b"b1".to_vec()).await.unwrap();
    let second = wal.rotate().await.unwrap();
    drop(wal);
    (first, second)
}

/// Flips a byte inside the payload of the `index`-th record of a segment.
fn damage_record(path: &std::path::Path, index: usize) -> usize {
    let mut bytes = std::fs::read(path).unwrap();
    let mut offset = frame::HEADER_LEN;
    for _ in 0..index {
        let length = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        offset += frame::RECORD_PREFIX_LEN + length;
    }
    bytes[offset + frame::RECORD_PREFIX_LEN] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
    offset
}

fn replay_with(config: &WalConfig) -> Result<(Wal, ReplayReport, Vec<Vec<u8>>), StorageError> {
    let mut replayed = Vec::new();
    let (wal, report) = Wal::open(config.clone(), |payload| {
        replayed.push(payload.to_vec());
        Ok(())
    })?;
    Ok((wal, report, replayed))
}

#[tokio::test]
async fn damage_in_a_sealed_segment_is_quarantined_and_refused_until_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    let (first, _) = two_segments(&config).await;
    let original = segment::segment_path(&config.dir, first);
    let offset = damage_record(&original, 1);

    let error = replay_with(&config)
        .err()
        .expect("damage must refuse start-up");
    let message = error.to_string();
    let quarantined =
        quarantine::quarantine_dir(&config.dir).join(segment::segment_file_name(first));
    assert!(
        message.contains(&original.display().to_string()),
        "{message}"
    );
    assert!(message.contains(&format!("at byte {offset}")), "{message}");
    assert!(message.contains("--wal-skip-damaged"), "{message}");
    assert!(
        message.contains(&quarantined.display().to_string()),
        "{message}"
    );
    assert!(!original.exists() && quarantined.exists());
    assert_eq!(error.kind(), StorageErrorKind::Corrupt);

    // Moving it aside must not let the next start pass without it.
    let again = replay_with(&config).err().expect("still refused");
    assert!(again.to_string().contains("--wal-skip-damaged"), "{again}");
    let dumped = dump(&config.dir, &|_, _| {}).unwrap();
    let kept = dumped.iter().find(|s| s.sequence == first).unwrap();
    assert_eq!(kept.quarantine, Some(QuarantineState::Refused));
    assert_eq!(kept.records.len(), 1);
    assert!(kept.problem.is_some());

    let mut skipping = config.clone();
    skipping.skip_damaged = true;
    let (wal, report, replayed) = replay_with(&skipping).unwrap();
    assert_eq!(replayed, vec![b"a1".to_vec(), b"b1".to_vec()]);
    assert_eq!(report.skipped_segments, 1);
    drop(wal);
    let kept = quarantine::list(&config.dir).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].2, QuarantineState::Skipped);

    // Accepted once: later starts replay what is intact without the flag, until a checkpoint.
    let (wal, _, replayed) = replay_with(&config).unwrap();
    assert_eq!(replayed, vec![b"a1".to_vec(), b"b1".to_vec()]);
    let sealed = wal.rotate().await.unwrap();
    drop(wal);
    let mut replayed = Vec::new();
    let (_wal, _) = Wal::open_after_checkpoint(config.clone(), sealed, |payload| {
        replayed.push(payload.to_vec());
        Ok(())
    })
    .unwrap();
    assert!(replayed.is_empty());
    assert_eq!(
        quarantine::list(&config.dir).unwrap().len(),
        1,
        "the copy is kept"
    );
}

#[tokio::test]
async fn a_bad_record_far_from_the_newest_tail_is_not_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path().join("wal"));
    config.max_group_bytes = 16;
    config.fsync = FsyncPolicy::Always;
    let (wal, _, _) = open_collecting(&config);
    for index in 0..20 {
        wal.append(payload(index)).await.unwrap();
    }
    drop(wal);
    let (_, newest) = list_segments(&config.dir).unwrap().pop().unwrap();
    damage_record(&newest, 2);
    let error = replay_with(&config).err().expect("must refuse");
    assert!(matches!(error, StorageError::WalDamaged { .. }), "{error}");
}

#[tokio::test]
async fn a_zeroed_last_write_in_the_newest_segment_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    let (wal, _, _) = open_collecting(&config);
    wal.append(b"kept".to_vec()).await.unwrap();
    drop(wal);
    let (_, newest) = list_segments(&config.dir).unwrap().pop().unwrap();
    // The file's size reached the disk but the group's pages did not: they read as zeros.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .unwrap();
    file.write_all(&[0u8; 300]).unwrap();
    drop(file);
    let (_, report, replayed) = replay_with(&config).unwrap();
    assert_eq!(replayed, vec![b"kept".to_vec()]);
    assert_eq!(report.truncated_bytes, 300);
    assert!(quarantine::list(&config.dir).unwrap().is_empty());
}

#[tokio::test]
async fn an_older_segment_with_a_bad_header_is_quarantined_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    let (first, _) = two_segments(&config).await;
    let original = segment::segment_path(&config.dir, first);
    let mut bytes = std::fs::read(&original).unwrap();
    bytes[0] = b'X';
    std::fs::write(&original, &bytes).unwrap();
    let error = replay_with(&config).err().expect("must refuse");
    assert!(error.to_string().contains("at byte 0"), "{error}");
    let kept = quarantine::list(&config.dir).unwrap();
    assert_eq!(
        std::fs::read(&kept[0].1).unwrap(),
        bytes,
        "kept byte for byte"
    );
}

#[tokio::test]
async fn a_record_that_does_not_decode_refuses_start_or_is_skipped_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    two_segments(&config).await;
    let decode = |replayed: &mut Vec<Vec<u8>>, payload: &[u8]| {
        if payload == b"a2" {
            return Err(StorageError::Codec("unknown WAL record type".into()));
        }
        replayed.push(payload.to_vec());
        Ok(())
    };
    let mut replayed = Vec::new();
    let error = Wal::open(config.clone(), |p| decode(&mut replayed, p))
        .err()
        .expect("must refuse");
    assert!(error.to_string().contains("does not decode"), "{error}");

    let mut skipping = config.clone();
    skipping.skip_damaged = true;
    let mut replayed = Vec::new();
    let (_wal, report) = Wal::open(skipping, |p| decode(&mut replayed, p)).unwrap();
    assert_eq!(
        replayed,
        vec![b"a1".to_vec(), b"a3".to_vec(), b"b1".to_vec()]
    );
    assert_eq!(report.skipped_records, 1);
}

#[tokio::test]
async fn a_failed_fsync_fails_its_group_alone_and_later_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path().join("wal"));
    let (wal, _, _) = open_collecting(&config);
    wal.append(b"before".to_vec()).await.unwrap();
    config.failing_syncs.store(1, Ordering::SeqCst);
    let error = wal.append(b"lost".to_vec()).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::Io, "{error}");
    assert!(
        error.to_string().contains("injected fsync failure"),
        "{error}"
    );
    wal.append(b"after".to_vec()).await.unwrap();
    drop(wal);
    let (_, report, replayed) = open_collecting(&config);
    assert_eq!(replayed, vec![b"before".to_vec(), b"after".to_vec()]);
    assert_eq!(
        report.truncated_bytes, 0,
        "the failed group was cut off at once"
    );
}
