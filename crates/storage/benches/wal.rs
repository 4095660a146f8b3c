//! WAL append throughput: 64 concurrent appenders of 64 KiB records under each fsync policy.

use std::sync::Arc;

use combray_storage::wal::{FsyncPolicy, Wal, WalConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const APPENDERS: usize = 64;
const RECORD_BYTES: usize = 64 * 1024;

fn wal_append(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("wal_append");
    group.throughput(Throughput::Bytes((APPENDERS * RECORD_BYTES) as u64));
    group.sample_size(20);
    for policy in [FsyncPolicy::Group, FsyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = WalConfig::new(dir.path().to_path_buf());
        config.fsync = policy;
        let (wal, _) = Wal::open(config, |_| Ok(())).unwrap();
        let wal = Arc::new(wal);
        group.bench_function(format!("{policy}_{APPENDERS}x64KiB"), |b| {
            b.to_async(&runtime).iter(|| {
                let wal = Arc::clone(&wal);
                async move {
                    let appends = (0..APPENDERS).map(|_| {
                        let wal = Arc::clone(&wal);
                        tokio::spawn(async move { wal.append(vec![7u8; RECORD_BYTES]).await })
                    });
                    for append in appends.collect::<Vec<_>>() {
                        append.await.unwrap().unwrap();
                    }
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, wal_append);
criterion_main!(benches);
