//! Concurrency test: four writer threads and two reader threads share one
//! database for over a million operations while it flushes and compacts.
//!
//! Writer `w` owns the keys `w{w}-{k}` and a progress key `p{w}`. Its
//! operation `i` is one atomic batch: it writes key `i % KEYS_PER_WRITER`
//! (a put of a value naming `i`, or, every fifth pass over the keys, a
//! delete) and sets `p{w}` to `i`. So the state of writer `w`'s keys is a
//! pure function of its progress, and readers check:
//!
//! - at a snapshot, every key of a writer is exactly what that writer's
//!   progress at the same snapshot implies (batches are atomic, snapshots
//!   consistent);
//! - without a snapshot, progress never goes backwards, and a key read
//!   between two progress reads shows an operation between them.
//!
//! Meanwhile writers also flush (waiting or not) and compact their own key
//! range, racing with the others. At the end every key is checked, before
//! and after a reopen.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{first_difference, read_backward, read_forward, Model, TestRng};
use lsmkit::{Db, DbRange, FlushOptions, Options, ReadOptions, WriteBatch, WriteOptions};

const WRITERS: u64 = 4;
const READERS: u64 = 2;
/// Batches written by each writer.
const OPS_PER_WRITER: u64 = 150_000;
/// Read operations (point reads, or entries checked by a scan) each reader
/// does at least.
const MIN_READS_PER_READER: u64 = 200_000;
const KEYS_PER_WRITER: u64 = 1000;

fn data_key(writer: u64, k: u64) -> Vec<u8> {
    format!("w{writer}-{k:05}").into_bytes()
}

fn progress_key(writer: u64) -> Vec<u8> {
    format!("p{writer}").into_bytes()
}

/// True if writer operation `i` deletes its key.
fn is_delete(i: u64) -> bool {
    (i / KEYS_PER_WRITER) % 5 == 4
}

/// The value writer `writer` puts at operation `i`: it names both, with
/// 8 to 100 bytes of filler.
fn make_value(writer: u64, i: u64) -> Vec<u8> {
    let mut value = format!("{writer}:{i:010}:").into_bytes();
    let filler = 8 + (i.wrapping_mul(2_654_435_761) % 93) as usize;
    value.resize(value.len() + filler, b'a' + (i % 26) as u8);
    value
}

/// The operation number a value names, checking that it is well formed.
fn parse_value(writer: u64, value: &[u8]) -> Result<u64, String> {
    let text = std::str::from_utf8(value).map_err(|_| "value is not text".to_string())?;
    let mut parts = text.splitn(3, ':');
    let (w, i) = (parts.next(), parts.next());
    let i: u64 = i.and_then(|i| i.parse().ok()).ok_or_else(|| format!("malformed value {text:?}"))?;
    if w != Some(writer.to_string().as_str()) || value != make_value(writer, i).as_slice() {
        return Err(format!("value {text:?} is not writer {writer}'s"));
    }
    Ok(i)
}

fn parse_progress(value: Option<&[u8]>) -> Result<Option<u64>, String> {
    value
        .map(|v| {
            std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()).ok_or("malformed progress".to_string())
        })
        .transpose()
}

/// The last operation of a writer at or before `progress` that touched key
/// `k`, if any.
fn last_op_on(k: u64, progress: Option<u64>) -> Option<u64> {
    let p = progress?;
    (k <= p).then(|| p - (p - k) % KEYS_PER_WRITER)
}

/// What key `k` of `writer` holds once the writer's progress is `progress`.
fn expected_value(writer: u64, k: u64, progress: Option<u64>) -> Option<Vec<u8>> {
    last_op_on(k, progress).filter(|&i| !is_delete(i)).map(|i| make_value(writer, i))
}

/// The whole database once every writer has reached `progress`.
fn expected_state(progress: u64) -> Model {
    let mut model = Model::new();
    for w in 0..WRITERS {
        model.insert(progress_key(w), progress.to_string().into_bytes());
        for k in 0..KEYS_PER_WRITER {
            if let Some(v) = expected_value(w, k, Some(progress)) {
                model.insert(data_key(w, k), v);
            }
        }
    }
    model
}

fn writer(db: Db, w: u64) -> Result<(), String> {
    for i in 0..OPS_PER_WRITER {
        let k = i % KEYS_PER_WRITER;
        let mut batch = WriteBatch::new();
        if is_delete(i) {
            batch.delete(&data_key(w, k));
        } else {
            batch.put(&data_key(w, k), &make_value(w, i));
        }
        batch.put(&progress_key(w), i.to_string().as_bytes());
        // Now and then a synced write.
        let sync = i % 20_000 == 19_999;
        db.write(WriteOptions { sync, ..WriteOptions::default() }, batch)
            .map_err(|e| format!("writer {w} op {i}: {e}"))?;
        // Maintenance from inside the workload: flushes (waiting or not)
        // and manual compactions race with the other writers.
        let maintenance = match w {
            0 if i % 50_000 == 25_000 => db.flush(FlushOptions { wait: false }),
            1 if i % 40_000 == 20_000 => db.flush(FlushOptions { wait: true }),
            2 if i % 50_000 == 30_000 => {
                db.compact_range(Some(&data_key(w, 0)), Some(&data_key(w, KEYS_PER_WRITER)))
            }
            _ => Ok(()),
        };
        maintenance.map_err(|e| format!("writer {w} maintenance at op {i}: {e}"))?;
    }
    Ok(())
}

/// Checks that every key of `writer` is what its progress implies, in the
/// view `options` selects, reading the progress in the same view.
fn check_view_of_writer(
    db: &Db,
    options: &ReadOptions,
    writer: u64,
    rng: &mut TestRng,
) -> Result<u64, String> {
    let progress = db.get_opt(options, &progress_key(writer)).map_err(|e| e.to_string())?;
    let progress = parse_progress(progress.as_deref())?;
    let mut reads = 1;
    if rng.percent(3) {
        // A whole writer's key range, from both ends.
        let prefix = format!("w{writer}-").into_bytes();
        let range = DbRange::prefix(db.iter(options.clone()), db.iter(options.clone()), &prefix);
        let mut got = Model::new();
        let mut expected = Model::new();
        for entry in range {
            let (key, value) = entry.map_err(|e| e.to_string())?;
            got.insert(key.to_vec(), value.to_vec());
        }
        for k in 0..KEYS_PER_WRITER {
            if let Some(v) = expected_value(writer, k, progress) {
                expected.insert(data_key(writer, k), v);
            }
        }
        reads += got.len() as u64;
        if let Some(diff) = first_difference(&got, &expected) {
            return Err(format!("writer {writer} at progress {progress:?}: scan: {diff}"));
        }
    } else {
        for _ in 0..16 {
            let k = rng.below(KEYS_PER_WRITER);
            let got = db.get_opt(options, &data_key(writer, k)).map_err(|e| e.to_string())?;
            reads += 1;
            let expected = expected_value(writer, k, progress);
            if got.as_deref() != expected.as_deref() {
                return Err(format!(
                    "writer {writer} key {k} at progress {progress:?}: {:?}, expected {:?}",
                    got.map(|v| String::from_utf8_lossy(&v).into_owned()),
                    expected.map(|v| String::from_utf8_lossy(&v).into_owned())
                ));
            }
        }
    }
    Ok(reads)
}

fn reader(db: Db, r: u64, writers_done: Arc<AtomicBool>, total_reads: Arc<AtomicU64>) -> Result<(), String> {
    let mut rng = TestRng::new(77 + r);
    let mut last_progress: Vec<Option<u64>> = vec![None; WRITERS as usize];
    let mut reads = 0u64;
    while reads < MIN_READS_PER_READER || !writers_done.load(Ordering::Acquire) {
        let w = rng.below(WRITERS);
        if rng.percent(50) {
            // Consistency at a snapshot.
            let snapshot = db.snapshot();
            let options = ReadOptions { snapshot: Some(snapshot), ..ReadOptions::new() };
            reads += check_view_of_writer(&db, &options, w, &mut rng)?;
        } else {
            // Monotonic progress and keys without a snapshot.
            let get = |key: &[u8]| db.get(key).map_err(|e| e.to_string());
            let before = parse_progress(get(&progress_key(w))?.as_deref())?;
            if before < last_progress[w as usize] {
                return Err(format!(
                    "writer {w} progress went back from {:?} to {before:?}",
                    last_progress[w as usize]
                ));
            }
            let k = rng.below(KEYS_PER_WRITER);
            let value = get(&data_key(w, k))?;
            let after = parse_progress(get(&progress_key(w))?.as_deref())?;
            reads += 3;
            if after < before {
                return Err(format!("writer {w} progress went back from {before:?} to {after:?}"));
            }
            last_progress[w as usize] = after;
            // The value read comes from an operation on key k between the
            // two progress reads (inclusive of the last one before them).
            let oldest = last_op_on(k, before);
            match value {
                Some(v) => {
                    let i = parse_value(w, &v)?;
                    if i % KEYS_PER_WRITER != k || is_delete(i) || Some(i) < oldest || Some(i) > after {
                        return Err(format!(
                            "writer {w} key {k}: read operation {i} between progress {before:?} and {after:?}"
                        ));
                    }
                }
                None => {
                    // Not written yet when progress was first read, or
                    // deleted by an operation since the last one before.
                    let deleted = oldest.is_none_or(|first| {
                        let newest = last_op_on(k, after).unwrap_or(first);
                        (first..=newest).step_by(KEYS_PER_WRITER as usize).any(is_delete)
                    });
                    if !deleted {
                        return Err(format!(
                            "writer {w} key {k}: absent between progress {before:?} and {after:?}"
                        ));
                    }
                }
            }
        }
        if rng.percent(1) {
            // An iterator walked back and forth at the latest state.
            let mut it = db.iter(ReadOptions::new());
            it.seek(&data_key(w, rng.below(KEYS_PER_WRITER)));
            for step in 0..20 {
                if !it.valid() {
                    break;
                }
                let before = it.key().to_vec();
                if step % 3 == 2 {
                    it.prev();
                    if it.valid() && it.key() >= before.as_slice() {
                        return Err("iterator prev did not move back".into());
                    }
                } else {
                    it.next();
                    if it.valid() && it.key() <= before.as_slice() {
                        return Err("iterator next did not move forward".into());
                    }
                }
                reads += 1;
            }
            it.status().map_err(|e| e.to_string())?;
        }
    }
    total_reads.fetch_add(reads, Ordering::Relaxed);
    Ok(())
}

fn check_final(db: &Db, what: &str) {
    let expected = expected_state(OPS_PER_WRITER - 1);
    let forward = read_forward(db, ReadOptions::new()).expect("read");
    if let Some(diff) = first_difference(&forward, &expected) {
        panic!("{what}: forward: {diff}");
    }
    let backward: Vec<_> = read_backward(db, ReadOptions::new()).expect("read");
    assert!(backward.into_iter().eq(expected.clone()), "{what}: backward iteration differs");
    for (key, value) in &expected {
        assert_eq!(db.get(key).expect("get").as_deref(), Some(value.as_slice()), "{what}");
    }
    for w in 0..WRITERS {
        for k in 0..KEYS_PER_WRITER {
            if expected_value(w, k, Some(OPS_PER_WRITER - 1)).is_none() {
                assert_eq!(db.get(&data_key(w, k)).expect("get"), None, "{what}: deleted key is back");
            }
        }
    }
}

#[test]
fn writers_and_readers_share_a_database() {
    let options = Options { create_if_missing: true, write_buffer_size: 512 << 10, ..Options::default() };
    share_a_database(options);
}

/// The same with three background jobs (a flush thread and two compaction
/// threads) and a MANIFEST so small that nearly every edit rolls it over:
/// readers race flushes, concurrent compactions and MANIFEST rewrites, none
/// of which they wait for.
#[test]
fn readers_race_parallel_compactions_and_manifest_rewrites() {
    let options = Options {
        create_if_missing: true,
        write_buffer_size: 256 << 10,
        max_background_jobs: 3,
        max_manifest_file_size: 4 << 10,
        ..Options::default()
    };
    let (first, last) = share_a_database(options);
    assert!(last > first, "the MANIFEST was never rewritten (MANIFEST-{first} throughout)");
}

/// The number of the newest MANIFEST in `dir` (an older one may linger
/// until obsolete files are next deleted).
fn manifest_number(dir: &std::path::Path) -> u64 {
    let numbers: Vec<u64> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("MANIFEST-")?.parse().ok())
        .collect();
    numbers.into_iter().max().expect("no MANIFEST")
}

/// Runs the writers and readers on a database opened with `options`, then
/// checks the final state before and after a reopen. Returns the MANIFEST
/// numbers just after the first open and just before the first close.
fn share_a_database(options: Options) -> (u64, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options.clone()).expect("open");
    let first_manifest = manifest_number(dir.path());
    let writers_done = Arc::new(AtomicBool::new(false));
    let total_reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (db, done, reads) = (db.clone(), Arc::clone(&writers_done), Arc::clone(&total_reads));
            std::thread::spawn(move || reader(db, r, done, reads))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || writer(db, w))
        })
        .collect();
    let mut errors = Vec::new();
    for t in writers {
        if let Err(e) = t.join().expect("writer thread") {
            errors.push(e);
        }
    }
    writers_done.store(true, Ordering::Release);
    for t in readers {
        if let Err(e) = t.join().expect("reader thread") {
            errors.push(e);
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let operations = WRITERS * OPS_PER_WRITER + total_reads.load(Ordering::Relaxed);
    assert!(operations >= 1_000_000, "only {operations} operations");
    assert!(db.background_error().is_none(), "{:?}", db.background_error());

    check_final(&db, "before reopen");
    let last_manifest = manifest_number(dir.path());
    drop(db);
    let db = Db::open(dir.path(), options).expect("reopen");
    check_final(&db, "after reopen");
    (first_manifest, last_manifest)
}
