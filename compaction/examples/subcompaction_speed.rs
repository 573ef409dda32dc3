//! Measures what subcompactions buy: builds a level-0 + level-1 compaction
//! of about N MiB of real tables in a scratch directory under the system
//! temporary directory, then runs the same compaction with each requested
//! `max_subcompactions` (alternating, several rounds) and prints the wall
//! time of each run. Not a test; run it in release mode:
//!
//! ```text
//! cargo run --release -p lsmkit-compaction --example subcompaction_speed -- [MiB] [threads,...] [rounds]
//! ```
//!
//! Defaults: 64 MiB, threads 1,2, 3 rounds. Keys are 16-digit decimal
//! numbers, values 100 bytes that Snappy halves (as db_bench's). The
//! tables have no filter policy (this crate does not depend on the bloom
//! crate); outputs are cut at 2 MiB like LevelDB's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::filename::table_file_name;
use lsmkit_base::fs::{FileSystem, StdFs, WriteMode};
use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
use lsmkit_compaction::{Compaction, CompactionInputs, CompactionJob, CompactionReason};
use lsmkit_sstable::{TableBuilder, TableCache, TableOptions};
use lsmkit_version::version_builder::VersionBuilder;
use lsmkit_version::{FileMetaData, Version, VersionEdit};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MAX_FILE_SIZE: u64 = 2 << 20;
const VALUE_LEN: usize = 100;
/// Approximate bytes one entry takes in a table (key, value, overhead).
const ENTRY_BYTES: u64 = 16 + 8 + VALUE_LEN as u64 + 3;

fn value(rng: &mut StdRng) -> Vec<u8> {
    let half: Vec<u8> = (0..VALUE_LEN / 2).map(|_| rng.random_range(b' '..=b'~')).collect();
    [half.clone(), half].concat()
}

/// Writes one table of `keys` (sorted user keys) at `sequence`.
fn write_table(
    fs: &StdFs,
    dir: &Path,
    options: &TableOptions,
    number: u64,
    keys: &[u64],
    sequence: u64,
    rng: &mut StdRng,
) -> FileMetaData {
    let file = fs.create_writable(&table_file_name(dir, number), WriteMode::Buffered).expect("create table");
    let mut builder = TableBuilder::new(options.clone(), file);
    for key in keys {
        let internal = make_internal_key(format!("{key:016}").as_bytes(), sequence, ValueKind::Value);
        builder.add(&internal, &value(rng)).expect("add");
    }
    let summary = builder.finish(false).expect("finish");
    FileMetaData::new(number, summary.file_size, summary.smallest_key, summary.largest_key)
}

/// CPU seconds (user + system) this process has used so far, from
/// `/proc/self/stat` (Linux; `None` elsewhere). Assumes 100 ticks a second.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = args.get(1).map_or(64, |a| a.parse().expect("MiB"));
    let threads: Vec<usize> = args
        .get(2)
        .map_or_else(|| vec![1, 2], |a| a.split(',').map(|t| t.parse().expect("thread count")).collect());
    let rounds: usize = args.get(3).map_or(3, |a| a.parse().expect("rounds"));

    let fs = StdFs::new();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("lsmkit-subcompaction-speed-{}", std::process::id()));
    fs.create_dir_all(&dir).expect("scratch directory");
    let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
    let mut rng = StdRng::seed_from_u64(42);

    // Level 1: half the bytes, sorted keys in 2 MiB tables. Level 0: four
    // tables of random keys over the same key space (the other half).
    let key_space = mib * (1 << 20) / ENTRY_BYTES;
    let mut edit = VersionEdit::new();
    let mut number = 1;
    let level1_keys: Vec<u64> = (0..key_space / 2).map(|i| i * 2).collect();
    for chunk in level1_keys.chunks((MAX_FILE_SIZE / ENTRY_BYTES) as usize) {
        edit.add_file(1, write_table(&fs, &dir, &options, number, chunk, 1, &mut rng));
        number += 1;
    }
    for file in 0..4u64 {
        let mut keys: Vec<u64> = (0..key_space / 8).map(|_| rng.random_range(0..key_space)).collect();
        keys.sort_unstable();
        keys.dedup();
        edit.add_file(0, write_table(&fs, &dir, &options, number, &keys, 2 + file, &mut rng));
        number += 1;
    }
    let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
    let mut builder = VersionBuilder::new(icmp.clone(), Arc::new(Version::empty(icmp)));
    builder.apply(&edit);
    let version = Arc::new(builder.build().expect("valid version"));
    let fs_dyn: Arc<dyn FileSystem> = Arc::new(StdFs::new());

    println!(
        "inputs: {} level-0 + {} level-1 tables, {:.1} MiB",
        version.files(0).len(),
        version.files(1).len(),
        (edit.new_files.iter().map(|(_, f)| f.file_size).sum::<u64>() as f64) / f64::from(1 << 20)
    );
    for round in 0..rounds {
        for &n in &threads {
            let mut compaction = Compaction::new(
                Arc::clone(&version),
                CompactionReason::Manual,
                vec![
                    CompactionInputs { level: 0, files: version.files(0).to_vec() },
                    CompactionInputs { level: 1, files: version.files(1).to_vec() },
                ],
                1,
                Vec::new(),
                MAX_FILE_SIZE,
                None,
            );
            let cache = Arc::new(TableCache::new(Arc::clone(&fs_dyn), dir.clone(), options.clone(), 1000));
            let mut next = 1_000_000;
            let cpu_before = process_cpu_seconds();
            let started = Instant::now();
            let outcome = CompactionJob::new(&fs, &dir, &cache)
                .max_subcompactions(n)
                .run(&mut compaction, &mut || {
                    next += 1;
                    next
                })
                .expect("compaction");
            let elapsed = started.elapsed();
            let cpu = match (cpu_before, process_cpu_seconds()) {
                (Some(before), Some(after)) => format!("{:.2} s", after - before),
                _ => "n/a".to_owned(),
            };
            println!(
                "round {round}: max_subcompactions {n}: {:.3} s wall, {cpu} cpu, {} outputs, {} entries written",
                elapsed.as_secs_f64(),
                outcome.outputs.len(),
                outcome.stats.output_entries
            );
            for output in &outcome.outputs {
                cache.evict(output.number);
                fs.remove_file(&table_file_name(&dir, output.number)).expect("remove output");
            }
        }
    }
    for entry in fs.list_dir(&dir).expect("list") {
        let _ = fs.remove_file(&dir.join(entry));
    }
    let _ = std::fs::remove_dir(&dir);
}
