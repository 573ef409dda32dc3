//! Compares `table_read_mode: Positional` with `Mmap` on random point reads
//! and random seeks of a database larger than the block cache (issue 13).
//!
//! ```text
//! cargo run --release -p lsmkit --example read_modes -- DIR [NUM] [READS] [RUNS]
//! ```
//!
//! Fills DIR (if it holds no database yet) with NUM random keys in the
//! db_bench format (16-digit keys, 100-byte values half compressible),
//! and compacts it, then, RUNS times, reopens it with each read mode in turn
//! and times READS random `get`s, then READS random seeks (a new iterator
//! per seek, positioned at a random key, whose key is read, as `db_bench`'s
//! `seekrandom` does), with an 8 MiB block cache and the defaults
//! otherwise, in wall time and in the thread's CPU time (the fairer figure
//! on a busy machine). Both modes read the same files with a warm page
//! cache, so the difference is the cost of a `pread` system call against
//! decoding a block straight out of a (guarded) mapping.

use std::path::PathBuf;
use std::time::Instant;

use lsmkit::{Db, Options, ReadOptions, WriteBatch};
use lsmkit_base::fs::ReadMode;

/// splitmix64: a small, good-enough generator for keys and values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn key(k: u64) -> Vec<u8> {
    format!("{k:016}").into_bytes()
}

fn options(mode: ReadMode) -> Options {
    Options { create_if_missing: true, table_read_mode: mode, ..Options::default() }
}

fn fill(dir: &PathBuf, num: u64) -> lsmkit::Result<()> {
    let db = Db::open(dir, options(ReadMode::Positional))?;
    let mut rng = Rng(1);
    let mut batch = WriteBatch::new();
    let mut value = vec![0u8; 100];
    for i in 0..num {
        // Half random bytes, half a repeat of them: compresses about 2:1.
        for j in 0..50 {
            value[j] = b' ' + (rng.next() % 95) as u8;
            value[50 + j] = value[j];
        }
        batch.put(&key(rng.next() % num), &value);
        if i % 1000 == 999 {
            db.write(Default::default(), std::mem::take(&mut batch))?;
        }
    }
    db.write(Default::default(), batch)?;
    // A settled tree: no compaction runs while the modes are timed.
    db.compact_range(None, None)?;
    Ok(())
}

/// CPU time this thread has used, in seconds (user + system): unlike wall
/// time, it does not count time spent waiting for a busy CPU.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// What is timed.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// `get` of a random key.
    Get,
    /// A new iterator seeks to a random key and reads the key it lands on.
    Seek,
}

/// Times `reads` random `op`s: (wall µs per op, CPU µs per op, found).
fn time_reads(
    dir: &PathBuf,
    mode: ReadMode,
    op: Op,
    num: u64,
    reads: u64,
    seed: u64,
) -> lsmkit::Result<(f64, f64, u64)> {
    let db = Db::open(dir, options(mode))?;
    let mut rng = Rng(seed);
    let mut found = 0;
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    for _ in 0..reads {
        let k = key(rng.next() % num);
        let hit = match op {
            Op::Get => db.get(&k)?.is_some(),
            Op::Seek => {
                let mut it = db.iter(ReadOptions::new());
                it.seek(&k);
                let hit = it.valid() && it.key() == &k[..];
                it.status()?;
                hit
            }
        };
        if hit {
            found += 1;
        }
    }
    let cpu = (thread_cpu_seconds() - cpu_start) * 1e6 / reads as f64;
    let wall = start.elapsed().as_secs_f64() * 1e6 / reads as f64;
    Ok((wall, cpu, found))
}

fn main() -> lsmkit::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().map_or("/tmp/lsmkit-read-modes", String::as_str));
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (num, reads, runs) = (arg(1, 3_000_000), arg(2, 300_000), arg(3, 3));
    if !dir.join("CURRENT").exists() {
        let start = Instant::now();
        fill(&dir, num)?;
        println!("filled {num} entries in {:.1} s", start.elapsed().as_secs_f64());
    }
    // Warm the page cache once so that neither mode pays for disk reads.
    time_reads(&dir, ReadMode::Positional, Op::Get, num, reads, 99)?;
    for run in 0..runs {
        for op in [Op::Get, Op::Seek] {
            for mode in [ReadMode::Positional, ReadMode::Mmap] {
                let (wall, cpu, found) = time_reads(&dir, mode, op, num, reads, 1000 + run)?;
                println!(
                    "run {run} {op:?} {mode:?}: {wall:.3} us/op wall, {cpu:.3} us/op CPU ({found} of {reads} \
                     found)"
                );
            }
        }
    }
    Ok(())
}
