//! Figures for range deletions (issue 17): deleting N keys (default 1M)
//! with one `delete_range` against N individual `delete`s — the write time,
//! and the time to compact afterwards — and a `get` and a full scan over the
//! deleted range before and after the compaction. Wall-clock times on the
//! real file system, release build:
//!
//! ```text
//! cargo run --release -p lsmkit --example range_deletion_figures -- [N] [DIR]
//! ```
//!
//! With DIR, the keys are also left in `DIR/plain` (a database without
//! range deletions, before any deletion), for `scan_cpu`.

use std::path::Path;
use std::time::Instant;

use lsmkit::{Db, Options, ReadOptions, WriteBatch};

fn key(i: u64) -> Vec<u8> {
    format!("key{i:010}").into_bytes()
}

/// Writes keys 0..n with 100-byte values (pseudo-random bytes, which
/// Snappy cannot shrink) in batches of 1000, then flushes and compacts, so
/// that the keys sit in tables below level 0.
fn fill(db: &Db, n: u64) -> lsmkit::Result<()> {
    let mut value = [0u8; 100];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut batch = WriteBatch::new();
    for i in 0..n {
        for chunk in value.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        batch.put(&key(i), &value);
        if batch.count() == 1000 {
            db.write(Default::default(), std::mem::take(&mut batch))?;
        }
    }
    db.write(Default::default(), batch)?;
    db.flush(Default::default())?;
    db.compact_range(None, None)
}

/// The mean time of `count` gets of keys spread over 0..n, in microseconds,
/// and how many found a value.
fn gets(db: &Db, n: u64, count: u64) -> lsmkit::Result<(f64, u64)> {
    let start = Instant::now();
    let mut found = 0;
    for j in 0..count {
        let i = (j * 7_919 + 13) % n;
        found += u64::from(db.get(&key(i))?.is_some());
    }
    Ok((start.elapsed().as_secs_f64() * 1e6 / count as f64, found))
}

/// A full forward scan: milliseconds and entries.
fn scan(db: &Db) -> lsmkit::Result<(f64, u64)> {
    let start = Instant::now();
    let mut it = db.iter(ReadOptions::new());
    it.seek_to_first();
    let mut entries = 0;
    while it.valid() {
        entries += 1;
        it.next();
    }
    it.status()?;
    Ok((start.elapsed().as_secs_f64() * 1e3, entries))
}

fn report(db: &Db, n: u64, when: &str) -> lsmkit::Result<()> {
    let (get_us, found) = gets(db, n, 10_000)?;
    let (scan_ms, entries) = scan(db)?;
    println!("  {when}: get {get_us:.2} us mean ({found} of 10000 found); full scan {scan_ms:.1} ms ({entries} entries)");
    Ok(())
}

fn run(dir: &Path, n: u64, range: bool) -> lsmkit::Result<()> {
    let options = Options { create_if_missing: true, range_deletions: range, ..Options::default() };
    let db = Db::open(dir, options)?;
    fill(&db, n)?;
    println!("{}:", if range { "one delete_range" } else { "individual deletes" });
    report(&db, n, "before the deletion")?;
    let start = Instant::now();
    if range {
        db.delete_range(&key(0), &key(n))?;
    } else {
        for i in 0..n {
            db.delete(&key(i))?;
        }
    }
    let write_ms = start.elapsed().as_secs_f64() * 1e3;
    println!("  write: {write_ms:.3} ms ({} sequence numbers)", if range { 1 } else { n });
    report(&db, n, "after the write (in the memtable)")?;
    let start = Instant::now();
    db.flush(Default::default())?;
    println!("  flush: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
    report(&db, n, "after the flush, before compaction")?;
    let start = Instant::now();
    db.compact_range(None, None)?;
    println!("  compaction: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
    report(&db, n, "after compaction")?;
    Ok(())
}

fn main() -> lsmkit::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let keep = args.get(1).map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().map_err(|e| lsmkit::Error::InvalidArgument(e.to_string()))?;
    if let Some(keep) = &keep {
        let db = Db::open(keep.join("plain"), Options { create_if_missing: true, ..Options::default() })?;
        fill(&db, n)?;
    }
    run(&tmp.path().join("range"), n, true)?;
    run(&tmp.path().join("points"), n, false)?;
    Ok(())
}
