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
//! After criterion's report (wall clock), the run prints each pair's
//! throughput and the ratio memtable / `Mutex<BTreeMap>`, from the same
//! measured iterations, both per wall-clock second and per CPU second of the
//! working threads; the CPU figures stay meaningful on a machine shared with
//! other work.
//!
//! Run: `cargo bench -p lsmkit-memtable --bench memtable`

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
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
            MemtableGet::Deleted | MemtableGet::NotFound | MemtableGet::Merge => None,
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

/// Time spent on a measured piece of work: wall clock, and CPU time of the
/// threads doing it (robust against other processes competing for cores).
#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    wall: Duration,
    cpu: Duration,
}

impl std::ops::AddAssign for Spent {
    fn add_assign(&mut self, other: Spent) {
        self.wall += other.wall;
        self.cpu += other.cpu;
    }
}

/// CPU time consumed so far by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable `timespec`; CLOCK_THREAD_CPUTIME_ID
    // is supported on every Linux the project runs on.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Runs `work` on this thread and reports its wall and CPU time.
fn measure(work: impl FnOnce()) -> Spent {
    let (wall, cpu) = (Instant::now(), thread_cpu_time());
    work();
    Spent { wall: wall.elapsed(), cpu: thread_cpu_time() - cpu }
}

/// Per benchmark: total time and operations, for the summary.
fn records() -> &'static Mutex<HashMap<String, (Spent, u64)>> {
    static RECORDS: OnceLock<Mutex<HashMap<String, (Spent, u64)>>> = OnceLock::new();
    RECORDS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn record(name: String, spent: Spent, operations: u64) {
    let mut records = records().lock().expect("records");
    let entry = records.entry(name).or_insert((Spent::default(), 0));
    entry.0 += spent;
    entry.1 += operations;
}

/// Inserts `load` into a fresh contender from `threads` threads; the wall
/// time runs from the first to the last insert, the CPU time is the
/// inserting threads' total.
fn timed_load<C: Contender>(load: &Workload, threads: usize) -> Spent {
    let table = C::empty();
    let chunk = load.keys.len().div_ceil(threads);
    let start = Instant::now();
    let cpu = thread::scope(|scope| {
        let workers: Vec<_> = load
            .keys
            .chunks(chunk)
            .enumerate()
            .map(|(part, keys)| {
                let table = &table;
                scope.spawn(move || {
                    measure(|| {
                        for (i, key) in keys.iter().enumerate() {
                            table.add((part * chunk + i + 1) as u64, key, &load.value);
                        }
                    })
                    .cpu
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().expect("insert thread")).sum()
    });
    let wall = start.elapsed();
    black_box(&table);
    Spent { wall, cpu }
}

fn bench_insert_with<C: Contender>(c: &mut Criterion, load: &Workload, threads: usize) {
    let mut group = c.benchmark_group(format!("insert_{threads}_thread"));
    group.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(INSERTS_PER_RUN as u64));
    group.bench_function(BenchmarkId::from_parameter(C::NAME), |b| {
        b.iter_custom(|iterations| {
            let mut total = Spent::default();
            for _ in 0..iterations {
                total += timed_load::<C>(load, threads);
            }
            record(
                format!("insert_{threads}_thread/{}", C::NAME),
                total,
                iterations * INSERTS_PER_RUN as u64,
            );
            total.wall
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
            let spent = measure(|| {
                for &pick in &picks {
                    assert_eq!(table.get_len(&load.keys[pick]), Some(VALUE_LEN));
                }
            });
            record(format!("random_get_1M/{}", C::NAME), spent, iterations * GETS_PER_ITERATION as u64);
            spent.wall
        })
    });
    group.finish();

    let mut group = c.benchmark_group("full_scan_1M");
    group.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes(bytes_per_scan as u64));
    group.bench_function(BenchmarkId::from_parameter(C::NAME), |b| {
        b.iter_custom(|iterations| {
            let spent = measure(|| {
                for _ in 0..iterations {
                    assert_eq!(black_box(table.scan()), bytes_per_scan);
                }
            });
            record(format!("full_scan_1M/{}", C::NAME), spent, iterations * bytes_per_scan as u64);
            spent.wall
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

/// Prints each benchmark's mean throughput by wall clock and by CPU time,
/// and the memtable / `Mutex<BTreeMap>` and general / bytewise ratios.
fn print_summary() {
    let records = records().lock().expect("records");
    // Operations per second of wall time and per second of CPU time.
    let rates = |name: &str| {
        records.get(name).map(|(spent, ops)| {
            (
                *ops as f64 / spent.wall.as_secs_f64(),
                *ops as f64 / spent.cpu.as_secs_f64().max(f64::MIN_POSITIVE),
            )
        })
    };
    let benches = [
        ("insert_1_thread", "inserts/s", 1.0),
        ("insert_2_thread", "inserts/s", 1.0),
        ("random_get_1M", "gets/s", 1.0),
        ("full_scan_1M", "MB/s", 1e-6),
    ];
    println!("\nmemtable vs Mutex<BTreeMap>, mean over all measured iterations");
    println!("(per wall-clock second, then per CPU second of the working threads):");
    for (bench, unit, scale) in benches {
        let ours = rates(&format!("{bench}/{}", Memtable::NAME));
        let theirs = rates(&format!("{bench}/{}", MutexBTreeMap::NAME));
        if let (Some((ours_wall, ours_cpu)), Some((theirs_wall, theirs_cpu))) = (ours, theirs) {
            println!(
                "  {bench:<16} wall: memtable {:>11.1} {unit:<9} Mutex<BTreeMap> {:>11.1}  ratio {:.2}",
                ours_wall * scale,
                theirs_wall * scale,
                ours_wall / theirs_wall
            );
            println!(
                "  {:<16} cpu:  memtable {:>11.1} {unit:<9} Mutex<BTreeMap> {:>11.1}  ratio {:.2}",
                "",
                ours_cpu * scale,
                theirs_cpu * scale,
                ours_cpu / theirs_cpu
            );
        }
    }
    println!("memtable with a user comparator / bytewise fast path:");
    for (bench, _, _) in benches {
        let general = rates(&format!("{bench}/{}", GeneralPathMemtable::NAME));
        let bytewise = rates(&format!("{bench}/{}", Memtable::NAME));
        if let (Some((general_wall, general_cpu)), Some((bytewise_wall, bytewise_cpu))) = (general, bytewise)
        {
            println!(
                "  {bench:<16} wall ratio {:.2}  cpu ratio {:.2}",
                general_wall / bytewise_wall,
                general_cpu / bytewise_cpu
            );
        }
    }
}

/// Runs every benchmark of this file (what `criterion_group!` defines,
/// written out so that it can be documented).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_inserts(&mut criterion);
    bench_reads(&mut criterion);
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_summary();
}
