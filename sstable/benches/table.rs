//! Table benchmarks on real files (StdFs in a temporary directory):
//! build throughput, random `get` latency with the block cache warm and
//! cold, full-scan throughput, each for positional reads and mmap, with and
//! without Snappy.
//!
//! Run: `cargo bench -p lsmkit-sstable --bench table`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{black_box, criterion_main, BatchSize, Criterion, Throughput};
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::fs::{FileSystem, ReadMode, StdFs, WriteMode};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{make_internal_key, ValueKind, MAX_SEQUENCE_NUMBER};
use lsmkit_bloom::LevelDbBloom;
use lsmkit_sstable::{BlockCache, Compression, ReadOptions, Table, TableBuilder, TableOptions};
use rand::{Rng, SeedableRng};

const ENTRIES: u64 = 100_000;
const VALUE_LEN: usize = 100;

fn user_key(i: u64) -> Vec<u8> {
    format!("user{:012}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 1_000_000_000_000).into_bytes()
}

/// Sorted internal-key entries: 16-byte user keys, 100-byte values that are
/// half random, half repeated (Snappy shrinks them to roughly 60%).
fn entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut user_keys: Vec<Vec<u8>> = (0..ENTRIES).map(user_key).collect();
    user_keys.sort();
    user_keys.dedup();
    user_keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let mut value = vec![b'v'; VALUE_LEN];
            rng.fill(&mut value[..VALUE_LEN / 2]);
            (make_internal_key(&key, i as u64 + 1, ValueKind::Value), value)
        })
        .collect()
}

fn options(compression: Compression) -> TableOptions {
    TableOptions {
        compression,
        ..TableOptions::for_internal_keys(BytewiseComparator::shared(), Some(Arc::new(LevelDbBloom::new(10))))
    }
}

fn build(fs: &StdFs, path: &Path, options: &TableOptions, entries: &[(Vec<u8>, Vec<u8>)]) -> u64 {
    let file = fs.create_writable(path, WriteMode::Buffered).expect("create table file");
    let mut builder = TableBuilder::new(options.clone(), file);
    for (key, value) in entries {
        builder.add(key, value).expect("add entry");
    }
    builder.finish(false).expect("finish table").file_size
}

fn raw_bytes(entries: &[(Vec<u8>, Vec<u8>)]) -> u64 {
    entries.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum()
}

struct Fixture {
    _dir: tempfile::TempDir,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    paths: Vec<(Compression, PathBuf)>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let entries = entries();
    let fs = StdFs::new();
    let mut paths = Vec::new();
    for (compression, name) in [(Compression::None, "plain.ldb"), (Compression::Snappy, "snappy.ldb")] {
        let path = dir.path().join(name);
        build(&fs, &path, &options(compression), &entries);
        paths.push((compression, path));
    }
    Fixture { _dir: dir, entries, paths }
}

fn compression_name(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "plain",
        Compression::Snappy => "snappy",
    }
}

fn mode_name(mode: ReadMode) -> &'static str {
    match mode {
        ReadMode::Positional => "pread",
        ReadMode::Mmap => "mmap",
    }
}

fn bench_build(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let entries = entries();
    let fs = StdFs::new();
    let mut group = c.benchmark_group("build");
    group.throughput(Throughput::Bytes(raw_bytes(&entries)));
    group.sample_size(10);
    for compression in [Compression::None, Compression::Snappy] {
        let options = options(compression);
        let path = dir.path().join("build.ldb");
        group.bench_function(compression_name(compression), |b| {
            b.iter(|| build(&fs, &path, &options, &entries))
        });
    }
    group.finish();
}

fn open(path: &Path, compression: Compression, mode: ReadMode, cache: Option<Arc<BlockCache>>) -> Arc<Table> {
    let options = TableOptions { read_mode: mode, block_cache: cache, ..options(compression) };
    Arc::new(Table::open_path(&StdFs::new(), path, options).expect("open table"))
}

fn bench_get(c: &mut Criterion) {
    let fx = fixture();
    let mut group = c.benchmark_group("get");
    group.measurement_time(Duration::from_secs(3));
    let lookups: Vec<Vec<u8>> = {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        (0..4096)
            .map(|_| {
                let (key, _) = &fx.entries[rng.random_range(0..fx.entries.len())];
                let user_key = &key[..key.len() - 8];
                make_internal_key(user_key, MAX_SEQUENCE_NUMBER, ValueKind::Value)
            })
            .collect()
    };
    for (compression, path) in &fx.paths {
        for mode in [ReadMode::Positional, ReadMode::Mmap] {
            // Warm: a block cache that holds the whole table, filled first.
            let cache = Arc::new(BlockCache::new(64 << 20));
            let table = open(path, *compression, mode, Some(cache));
            for key in &lookups {
                table.get(&ReadOptions::default(), key).expect("get");
            }
            let mut i = 0;
            group.bench_function(
                format!("{}/{}/cache-warm", compression_name(*compression), mode_name(mode)),
                |b| {
                    b.iter(|| {
                        i = (i + 1) % lookups.len();
                        black_box(table.get(&ReadOptions::default(), &lookups[i]).expect("get"))
                    })
                },
            );
            // Cold: no block cache, every get reads (and maybe decompresses) its block.
            let table = open(path, *compression, mode, None);
            group.bench_function(
                format!("{}/{}/cache-cold", compression_name(*compression), mode_name(mode)),
                |b| {
                    b.iter(|| {
                        i = (i + 1) % lookups.len();
                        black_box(table.get(&ReadOptions::default(), &lookups[i]).expect("get"))
                    })
                },
            );
        }
    }
    // A miss answered by the bloom filter, without reading a block.
    let table = open(&fx.paths[0].1, Compression::None, ReadMode::Positional, None);
    let absent = make_internal_key(b"absent-user-key!", MAX_SEQUENCE_NUMBER, ValueKind::Value);
    group.bench_function("absent-key", |b| {
        b.iter(|| black_box(table.get(&ReadOptions::default(), &absent).expect("get")))
    });
    group.finish();
}

fn bench_scan(c: &mut Criterion) {
    let fx = fixture();
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(raw_bytes(&fx.entries)));
    group.sample_size(10);
    for (compression, path) in &fx.paths {
        for mode in [ReadMode::Positional, ReadMode::Mmap] {
            let table = open(path, *compression, mode, None);
            let read = ReadOptions { fill_cache: false, ..ReadOptions::default() };
            group.bench_function(format!("{}/{}", compression_name(*compression), mode_name(mode)), |b| {
                b.iter_batched(
                    || table.iter(read),
                    |mut it| {
                        let mut bytes = 0usize;
                        it.seek_to_first();
                        while it.valid() {
                            bytes += it.key().len() + it.value().len();
                            it.next();
                        }
                        assert!(it.status().is_ok());
                        black_box(bytes)
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

/// Runs every benchmark of this file (what `criterion_group!` defines,
/// written out so that it can be documented).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_build(&mut criterion);
    bench_get(&mut criterion);
    bench_scan(&mut criterion);
}
criterion_main!(benches);
