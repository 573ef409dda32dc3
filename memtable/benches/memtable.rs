//! Memtable benchmarks, each run side by side with a `Mutex<BTreeMap>` doing
//! the same work (keyed by the same internal keys):
//! - inserts/s with 1 and 2 threads (100k entries per measured run);
//! - random gets/s in a table of 1M entries;
//! - full-scan MB/s over 1M entries.
//!
//! A third contender, the memtable under a user comparator (bytewise order,
//! not declared bytewise), measures what the bytewise fast path saves.
//!
//! Keys and values are shaped as in LevelDB's db_bench: 16-digit decimal
//! numbers (here a random permutation of `0..entries`, so no key repeats)
//! and 100-byte values.
//! After criterion's report, the run prints each pair's throughput and the
//! ratio memtable / `Mutex<BTreeMap>`, from the same measured iterations.
//!
//! Run: `cargo bench -p lsmkit-memtable --bench memtable`

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    extract_trailer, extract_user_key, make_internal_key, InternalKeyComparator, ValueKind,
    MAX_SEQUENCE_NUMBER, VALUE_KIND_FOR_SEEK,
};
use lsmkit_memtable::{Memtable, MemtableGet};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
const INSERTS_PER_RUN: usize = 100_000;
const TABLE_ENTRIES: usize = 1_000_000;
const GETS_PER_ITERATION: usize = 1_000;

/// What both contenders do.
trait Contender: Sync {
    const NAME: &'static str;
    fn empty() -> Self;
    fn add(&self, sequence: u64, user_key: &[u8], value: &[u8]);
    /// Finds the newest value of `user_key` and returns its length.
    fn get_len(&self, user_key: &[u8]) -> Option<usize>;
    /// Visits every entry in order, reading its key and value, and returns
    /// the key and value bytes seen.
    fn scan(&self) -> usize;
}

/// Reads an entry the way a consumer would look at it: its lengths and its
/// bytes (here, the key's last byte and the value's first), so a scan
/// cannot skip dereferencing the data.
#[inline]
fn visit(key: &[u8], value: &[u8]) -> usize {
    black_box((key.last(), value.first()));
    key.len() + value.len()
}

impl Contender for Memtable {
    const NAME: &'static str = "memtable";

    fn empty() -> Self {
        Memtable::new(InternalKeyComparator::new(BytewiseComparator::shared()))
    }

    fn add(&self, sequence: u64, user_key: &[u8], value: &[u8]) {
        Memtable::add(self, sequence, ValueKind::Value, user_key, value);
    }

    fn get_len(&self, user_key: &[u8]) -> Option<usize> {
        match self.get(user_key, MAX_SEQUENCE_NUMBER) {
            MemtableGet::Found(value) => Some(value.len()),
            MemtableGet::Deleted | MemtableGet::NotFound => None,
        }
    }

    fn scan(&self) -> usize {
        let mut it = self.iter();
        it.seek_to_first();
        let mut bytes = 0;
        while it.valid() {
            bytes += visit(it.key(), it.value());
            it.next();
        }
        bytes
    }
}

/// Bytewise order through a comparator that does not declare itself
/// bytewise: the general path (an `Arc` per key, a dynamic call per
/// comparison), to show what the bytewise fast path saves.
struct SlowBytewise;

impl Comparator for SlowBytewise {
    fn name(&self) -> &str {
        "bench.SlowBytewise"
    }
    fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }
    fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
        start.to_vec()
    }
    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        key.to_vec()
    }
}

/// A memtable on the general (user-comparator) path.
struct GeneralPathMemtable(Memtable);

impl Contender for GeneralPathMemtable {
    const NAME: &'static str = "memtable_user_comparator";

    fn empty() -> Self {
        GeneralPathMemtable(Memtable::new(InternalKeyComparator::new(Arc::new(SlowBytewise))))
    }

    fn add(&self, sequence: u64, user_key: &[u8], value: &[u8]) {
        Contender::add(&self.0, sequence, user_key, value);
    }

    fn get_len(&self, user_key: &[u8]) -> Option<usize> {
        self.0.get_len(user_key)
    }

    fn scan(&self) -> usize {
        self.0.scan()
    }
}

/// The simple alternative: one lock around an ordered map of internal keys.
struct MutexBTreeMap(Mutex<BTreeMap<Vec<u8>, Vec<u8>>>);

impl Contender for MutexBTreeMap {
    const NAME: &'static str = "mutex_btreemap";

    fn empty() -> Self {
        MutexBTreeMap(Mutex::new(BTreeMap::new()))
    }

    fn add(&self, sequence: u64, user_key: &[u8], value: &[u8]) {
        let internal_key = make_internal_key(user_key, sequence, ValueKind::Value);
        let value = value.to_vec();
        self.0.lock().expect("lock").insert(internal_key, value);
    }

    fn get_len(&self, user_key: &[u8]) -> Option<usize> {
        // Byte order of internal keys differs from internal-key order only
        // among versions of one user key; every key here has one version,
        // so the first key at or after (user_key, 0) is the one to check.
        let target = make_internal_key(user_key, 0, VALUE_KIND_FOR_SEEK);
        let found: Option<Bytes> = {
            let map = self.0.lock().expect("lock");
            // The value must leave the lock, so it is copied.
            map.range(target..).next().and_then(|(key, value)| {
                (extract_user_key(key) == user_key && extract_trailer(key) & 0xff == ValueKind::Value as u64)
                    .then(|| Bytes::copy_from_slice(value))
            })
        };
        found.map(|value| value.len())
    }

    fn scan(&self) -> usize {
        let map = self.0.lock().expect("lock");
        map.iter().map(|(key, value)| visit(key, value)).sum()
    }
}

/// Distinct user keys in random order, and one value.
struct Workload {
    keys: Vec<[u8; KEY_LEN]>,
    value: Vec<u8>,
}

fn workload(entries: usize, seed: u64) -> Workload {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut numbers: Vec<usize> = (0..entries).collect();
    numbers.shuffle(&mut rng);
    let keys = numbers
        .into_iter()
        .map(|n| {
            let mut key = [0u8; KEY_LEN];
            key.copy_from_slice(format!("{n:016}").as_bytes());
            key
        })
        .collect();
    let value = (0..VALUE_LEN).map(|i| b'a' + (i % 26) as u8).collect();
    Workload { keys, value }
}

/// Per benchmark: total measured time and operations, for the ratios.
fn records() -> &'static Mutex<HashMap<String, (Duration, u64)>> {
    static RECORDS: OnceLock<Mutex<HashMap<String, (Duration, u64)>>> = OnceLock::new();
    RECORDS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn record(name: String, elapsed: Duration, operations: u64) {
    let mut records = records().lock().expect("records");
    let entry = records.entry(name).or_insert((Duration::ZERO, 0));
    entry.0 += elapsed;
    entry.1 += operations;
}

/// Inserts `load` into a fresh contender from `threads` threads; returns the
/// time from the first to the last insert.
fn timed_load<C: Contender>(load: &Workload, threads: usize) -> Duration {
    let table = C::empty();
    let chunk = load.keys.len().div_ceil(threads);
    let start = Instant::now();
    thread::scope(|scope| {
        for (part, keys) in load.keys.chunks(chunk).enumerate() {
            let table = &table;
            scope.spawn(move || {
                for (i, key) in keys.iter().enumerate() {
                    table.add((part * chunk + i + 1) as u64, key, &load.value);
                }
            });
        }
    });
    let elapsed = start.elapsed();
    black_box(&table);
    elapsed
}

fn bench_insert_with<C: Contender>(c: &mut Criterion, load: &Workload, threads: usize) {
    let mut group = c.benchmark_group(format!("insert_{threads}_thread"));
    group.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(INSERTS_PER_RUN as u64));
    group.bench_function(BenchmarkId::from_parameter(C::NAME), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                total += timed_load::<C>(load, threads);
            }
            record(
                format!("insert_{threads}_thread/{}", C::NAME),
                total,
                iterations * INSERTS_PER_RUN as u64,
            );
            total
        })
    });
    group.finish();
}

fn bench_inserts(c: &mut Criterion) {
    let load = workload(INSERTS_PER_RUN, 1);
    for threads in [1, 2] {
        bench_insert_with::<Memtable>(c, &load, threads);
        bench_insert_with::<MutexBTreeMap>(c, &load, threads);
    }
    bench_insert_with::<GeneralPathMemtable>(c, &load, 1);
}

fn filled<C: Contender>(load: &Workload) -> C {
    let table = C::empty();
    for (i, key) in load.keys.iter().enumerate() {
        table.add(i as u64 + 1, key, &load.value);
    }
    table
}

fn bench_reads_with<C: Contender>(c: &mut Criterion, load: &Workload) {
    let table: C = filled(load);
    let bytes_per_scan = table.scan();

    let mut group = c.benchmark_group("random_get_1M");
    group.sample_size(20).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(GETS_PER_ITERATION as u64));
    let mut rng = StdRng::seed_from_u64(2);
    group.bench_function(BenchmarkId::from_parameter(C::NAME), |b| {
        b.iter_custom(|iterations| {
            let picks: Vec<usize> = (0..iterations as usize * GETS_PER_ITERATION)
                .map(|_| rng.random_range(0..load.keys.len()))
                .collect();
            let start = Instant::now();
            for &pick in &picks {
                assert_eq!(table.get_len(&load.keys[pick]), Some(VALUE_LEN));
            }
            let elapsed = start.elapsed();
            record(format!("random_get_1M/{}", C::NAME), elapsed, iterations * GETS_PER_ITERATION as u64);
            elapsed
        })
    });
    group.finish();

    let mut group = c.benchmark_group("full_scan_1M");
    group.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes(bytes_per_scan as u64));
    group.bench_function(BenchmarkId::from_parameter(C::NAME), |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                assert_eq!(black_box(table.scan()), bytes_per_scan);
            }
            let elapsed = start.elapsed();
            record(format!("full_scan_1M/{}", C::NAME), elapsed, iterations * bytes_per_scan as u64);
            elapsed
        })
    });
    group.finish();
}

fn bench_reads(c: &mut Criterion) {
    let load = workload(TABLE_ENTRIES, 3);
    bench_reads_with::<Memtable>(c, &load);
    bench_reads_with::<MutexBTreeMap>(c, &load);
    bench_reads_with::<GeneralPathMemtable>(c, &load);
}

/// Prints each benchmark's mean throughput and the memtable / `Mutex<BTreeMap>` ratio.
fn print_ratios() {
    let records = records().lock().expect("records");
    let rate = |name: &str| records.get(name).map(|(time, ops)| *ops as f64 / time.as_secs_f64());
    println!("\nmemtable vs Mutex<BTreeMap> (mean over all measured iterations):");
    for (bench, unit, scale) in [
        ("insert_1_thread", "inserts/s", 1.0),
        ("insert_2_thread", "inserts/s", 1.0),
        ("random_get_1M", "gets/s", 1.0),
        ("full_scan_1M", "MB/s", 1e-6),
    ] {
        if let (Some(ours), Some(theirs)) =
            (rate(&format!("{bench}/{}", Memtable::NAME)), rate(&format!("{bench}/{}", MutexBTreeMap::NAME)))
        {
            println!(
                "  {bench:<16} memtable {:>12.1} {unit:<9}  Mutex<BTreeMap> {:>12.1} {unit:<9}  ratio {:.2}",
                ours * scale,
                theirs * scale,
                ours / theirs
            );
        }
    }
    println!("general (user comparator) path / bytewise fast path:");
    for bench in ["insert_1_thread", "random_get_1M", "full_scan_1M"] {
        if let (Some(general), Some(bytewise)) = (
            rate(&format!("{bench}/{}", GeneralPathMemtable::NAME)),
            rate(&format!("{bench}/{}", Memtable::NAME)),
        ) {
            println!("  {bench:<16} ratio {:.2}", general / bytewise);
        }
    }
}

criterion_group!(benches, bench_inserts, bench_reads);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_ratios();
}
