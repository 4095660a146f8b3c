use std::io::Write;
use std::sync::atomic::Ordering;

use super::segment::list_segments;
use super::*;

fn open_collecting(config: &WalConfig) -> (Wal, ReplayReport, Vec<Vec<u8>>) {
    let mut replayed = Vec::new();
    let (wal, report) = Wal::open(config.clone(), |payload| {
        replayed.push(payload.to_vec());
        Ok(())
    })
    .unwrap();
    (wal, report, replayed)
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
