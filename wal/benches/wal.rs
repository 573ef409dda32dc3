//! Criterion benchmarks of the WAL on real files (`StdFs` in a temporary
//! directory): append throughput for 100 B, 1 KiB and 64 KiB records in
//! buffered and mmap mode with `SyncPolicy::Os`, and read-back throughput.
//!
//! Run with `cargo bench -p lsmkit-wal --bench wal`.

use std::path::{Path, PathBuf};

use criterion::{criterion_main, BatchSize, Criterion, Throughput};
use lsmkit_base::fs::{FileSystem, StdFs};
use lsmkit_wal::{LogReader, RecoveryMode, SyncPolicy, WalIoMode, WalOptions, WalWriter};

/// Bytes of records written per measured iteration.
const BYTES_PER_ITERATION: usize = 8 << 20;

const RECORD_SIZES: [(usize, &str); 3] = [(100, "100B"), (1024, "1KiB"), (64 * 1024, "64KiB")];

fn record_of(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + 7) as u8).collect()
}

/// Writes `count` copies of `record` to a new log at `path` and closes it.
fn write_log(fs: &StdFs, path: &Path, io_mode: WalIoMode, record: &[u8], count: usize) {
    let options = WalOptions { sync_policy: SyncPolicy::Os, io_mode };
    let mut wal = WalWriter::create(fs, path, options).expect("create log");
    for _ in 0..count {
        wal.add_record(record).expect("append");
    }
    wal.close().expect("close");
}

fn bench_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = StdFs::new();
    let mut group = c.benchmark_group("wal_append");
    group.throughput(Throughput::Bytes(BYTES_PER_ITERATION as u64));
    group.sample_size(10);
    for (size, label) in RECORD_SIZES {
        let record = record_of(size);
        let count = BYTES_PER_ITERATION / size;
        let modes = [("buffered", WalIoMode::Buffered), ("mmap", WalIoMode::Mmap { chunk_size: 16 << 20 })];
        for (mode_name, io_mode) in modes {
            let path: PathBuf = dir.path().join(format!("append-{mode_name}-{label}.log"));
            group.bench_function(format!("{mode_name}/{label}"), |b| {
                b.iter(|| write_log(&fs, &path, io_mode, &record, count));
            });
        }
    }
    group.finish();
}

fn bench_read(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = StdFs::new();
    let mut group = c.benchmark_group("wal_read");
    group.throughput(Throughput::Bytes(BYTES_PER_ITERATION as u64));
    group.sample_size(10);
    for (size, label) in RECORD_SIZES {
        let record = record_of(size);
        let count = BYTES_PER_ITERATION / size;
        let path = dir.path().join(format!("read-{label}.log"));
        write_log(&fs, &path, WalIoMode::Buffered, &record, count);
        group.bench_function(label, |b| {
            b.iter_batched(
                || fs.open_sequential(&path).expect("open"),
                |file| {
                    let mut reader = LogReader::new(file, &path, RecoveryMode::AbsoluteConsistency);
                    let mut buffer = Vec::new();
                    let mut records = 0;
                    while reader.read_record_into(&mut buffer).expect("read") {
                        records += 1;
                    }
                    assert_eq!(records, count);
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

/// Runs every benchmark of this file (what `criterion_group!` defines,
/// written out so that it can be documented).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_append(&mut criterion);
    bench_read(&mut criterion);
}
criterion_main!(benches);
