//! The options that shape background work, each shown doing what its doc
//! says: `l0_compaction_trigger` (how many level-0 files start a
//! compaction) and `max_background_jobs` (compactions on disjoint key ranges
//! run at once; the thread count is checked in `background_threads.rs`,
//! alone in its process).

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::GatedFs;
use lsmkit::{Compression, Db, FlushOptions, Options};
use lsmkit_base::fs::{FileSystem, MemFs};

/// A bound on waiting for background work that must happen, so that a
/// broken engine fails the test instead of hanging it; not a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

fn options(fs: Arc<dyn FileSystem>) -> Options {
    Options {
        create_if_missing: true,
        fs,
        compression: Compression::None,
        write_buffer_size: 1 << 20,
        // Far above anything these tests reach: writes never stall.
        l0_slowdown_trigger: 100,
        l0_stop_trigger: 100,
        ..Options::default()
    }
}

fn files_at(db: &Db, level: usize) -> usize {
    db.property(&format!("lsmkit.num-files-at-level{level}")).expect("property").parse().expect("number")
}

/// One flushed table holding `first` and `last` and a few keys between.
fn flush_range(db: &Db, first: &str, last: &str) {
    for key in [first, last] {
        db.put(key.as_bytes(), b"value").expect("put");
    }
    db.flush(FlushOptions { wait: true }).expect("flush");
}

/// Tables covering "a".."z" all overlap each other: from the third one on
/// (the first two are placed at levels 2 and 1, as LevelDB places a table
/// that overlaps nothing above), they stay at level 0 until compacted.
fn level0_files_after(db: &Db, flushes: usize) {
    for i in 0..flushes {
        flush_range(db, &format!("a{i:03}"), &format!("z{i:03}"));
    }
}

#[test]
fn a_high_level0_trigger_lets_level0_fill_up() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open("/db", Options { l0_compaction_trigger: 8, ..options(fs) }).expect("open");
    level0_files_after(&db, 2 + 5);
    // Five level-0 files are below a trigger of 8 (and far below LevelDB's
    // constant 4 is not what counts): nothing compacts them. No read is
    // made, so no seek-triggered compaction can start either.
    assert_eq!(files_at(&db, 0), 5);
    assert_eq!(db.property("lsmkit.compaction-pending").as_deref(), Some("0"));
}

#[test]
fn a_low_level0_trigger_compacts_level0_early() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open("/db", Options { l0_compaction_trigger: 2, ..options(fs) }).expect("open");
    level0_files_after(&db, 2 + 2);
    // Two level-0 files reach the trigger: they are compacted away (with the
    // default trigger of 4 they would stay, as the test above shows for 5 < 8).
    let started = Instant::now();
    while files_at(&db, 0) != 0 {
        assert!(started.elapsed() < PATIENCE, "level 0 was never compacted: {}", files_at(&db, 0));
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Two level-0 tables on disjoint key ranges, each over its own level-1
/// table, give two compactions that share no file and write disjoint
/// ranges of level 1. With three background jobs (two compaction threads)
/// both run at once: each is held at a gate when it creates its output, and
/// the test sees two waiting there together.
#[test]
fn compactions_on_disjoint_ranges_run_at_once() {
    let memory: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let gated = GatedFs::new(memory, ".ldb").only_threads("lsmkit-compact");
    let options =
        Options { max_background_jobs: 3, l0_compaction_trigger: 1, ..options(Arc::new(gated.clone())) };
    let db = Db::open("/db", options).expect("open");
    // Level 2: one table spanning everything (an empty database places it there).
    flush_range(&db, "a", "z");
    // Level 1: "b".."m" and "n".."y", each placed above the level-2 table.
    flush_range(&db, "b", "m");
    flush_range(&db, "n", "y");
    assert_eq!((files_at(&db, 0), files_at(&db, 1), files_at(&db, 2)), (0, 2, 1));

    gated.close_gate();
    // Level 0: "c".."d" over "b".."m", then "p".."q" over "n".."y". A trigger
    // of one file starts a compaction for each; the first holds its inputs
    // while the second is picked.
    flush_range(&db, "c", "d");
    flush_range(&db, "p", "q");
    let waiting = gated.wait_for_waiters(2, PATIENCE);
    gated.open_gate();
    assert_eq!(waiting, 2, "the two compactions never ran at the same time");
    let started = Instant::now();
    while files_at(&db, 0) != 0 {
        assert!(started.elapsed() < PATIENCE, "level 0 was never compacted");
        std::thread::sleep(Duration::from_millis(10));
    }
    for (key, expected) in [("c", "value"), ("q", "value"), ("z", "value"), ("e", "")] {
        let found = db.get(key.as_bytes()).expect("get");
        assert_eq!(found.as_deref().unwrap_or_default(), expected.as_bytes(), "{key}");
    }
    assert!(db.background_error().is_none());
}

/// `max_subcompactions` (default 2): a manual compaction of more than twice
/// `max_file_size` of input spread over several tables is split, and its
/// ranges write their outputs at the same time (two creations wait at a
/// gate together); the compacted database holds exactly what was written.
#[test]
fn max_subcompactions_splits_one_large_compaction_across_threads() {
    let memory: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let gated = GatedFs::new(memory, ".ldb");
    let options = options(Arc::new(gated.clone()));
    assert_eq!(options.max_subcompactions, 2, "the default");
    let db = Db::open("/db", options).expect("open");
    let mut model = std::collections::BTreeMap::new();
    // About 6 MiB in several flushed tables, spread over the key space.
    for i in 0..6000u32 {
        let key = format!("key{:06}", (i * 7919) % 6000).into_bytes();
        let value = format!("{i:08}").repeat(128).into_bytes();
        db.put(&key, &value).expect("put");
        model.insert(key, value);
    }
    db.flush(FlushOptions { wait: true }).expect("flush");
    let started = Instant::now();
    while db.property("lsmkit.num-running-compactions").as_deref() != Some("0")
        || db.property("lsmkit.compaction-pending").as_deref() != Some("0")
    {
        assert!(started.elapsed() < PATIENCE, "background compactions never settled");
        std::thread::sleep(Duration::from_millis(10));
    }

    gated.close_gate();
    let compactor = {
        let db = db.clone();
        std::thread::spawn(move || db.compact_range(None, None))
    };
    let waiting = gated.wait_for_waiters(2, PATIENCE);
    gated.open_gate();
    compactor.join().expect("compact_range thread").expect("compact_range");
    assert_eq!(waiting, 2, "the compaction's ranges never wrote at the same time");

    let mut found = std::collections::BTreeMap::new();
    let mut iter = db.iter(lsmkit::ReadOptions::new());
    iter.seek_to_first();
    while iter.valid() {
        found.insert(iter.key().to_vec(), iter.value().to_vec());
        iter.next();
    }
    iter.status().expect("scan");
    assert!(found == model, "the compacted database differs from what was written");
    assert_eq!(files_at(&db, 0), 0);
}

/// Flushes completed so far, from the `lsmkit.stats` property.
fn flushes(db: &Db) -> u64 {
    let stats = db.property("lsmkit.stats").expect("stats");
    let after = stats.split("flushes: ").nth(1).expect("flushes in stats");
    after.split_whitespace().next().expect("count").parse().expect("number")
}

/// `write_buffer_size` counts what LevelDB's memtable would: 16-byte keys
/// and 100-byte values take 1 + 24 + 1 + 100 bytes encoded plus a 19-byte
/// node, 145 bytes an entry, so a 64 KiB buffer takes 451 of them and the
/// write after the 452nd switches the memtable (LevelDB flushes at the same
/// point; counting this list's real, larger nodes would flush earlier and
/// write more, smaller tables).
#[test]
fn write_buffer_size_counts_entries_as_leveldb_does() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open("/db", Options { write_buffer_size: 64 << 10, ..options(fs.clone()) }).expect("open");
    // A memtable switch starts a new WAL: the log files name the memtables.
    let logs = || -> Vec<String> {
        let mut names = fs.list_dir(std::path::Path::new("/db")).expect("list");
        names.retain(|name| name.ends_with(".log"));
        names
    };
    let first_log = logs();
    let value = [b'v'; 100];
    let per_entry = 1 + 24 + 1 + 100 + lsmkit_memtable::LEVELDB_NODE_BYTES;
    let fits = (64 << 10) / per_entry;
    for i in 0..=fits {
        db.put(format!("{i:016}").as_bytes(), &value).expect("put");
    }
    // Every write so far found room (the check runs before each write).
    assert_eq!(logs(), first_log, "the memtable was switched early");
    db.put(b"one more", &value).expect("put");
    let started = Instant::now();
    while flushes(&db) == 0 {
        assert!(started.elapsed() < PATIENCE, "the full memtable was never flushed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writers of large batches at once: groups of 64 KiB and more have each
/// member insert its own batch in parallel (smaller groups are inserted by
/// their leader). Every entry of every batch is there afterwards, and the
/// last sequence number counts each entry once.
#[test]
fn large_concurrent_batches_are_inserted_whole() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open("/db", Options { write_buffer_size: 8 << 20, ..options(fs) }).expect("open");
    let writers: Vec<_> = (0..4u32)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                for b in 0..20u32 {
                    let mut batch = lsmkit::WriteBatch::new();
                    for k in 0..200u32 {
                        batch.put(format!("w{w}-b{b:02}-k{k:03}").as_bytes(), &[b'x'; 512]);
                    }
                    batch.put(format!("marker-w{w}-b{b:02}").as_bytes(), b"done");
                    db.write(lsmkit::WriteOptions::default(), batch).expect("write");
                }
            })
        })
        .collect();
    for t in writers {
        t.join().expect("writer");
    }
    for w in 0..4u32 {
        for b in 0..20u32 {
            assert!(db.get(format!("marker-w{w}-b{b:02}").as_bytes()).expect("get").is_some());
            for k in 0..200u32 {
                let value = db.get(format!("w{w}-b{b:02}-k{k:03}").as_bytes()).expect("get");
                assert_eq!(value.as_deref(), Some(&[b'x'; 512][..]), "w{w} b{b} k{k}");
            }
        }
    }
    assert_eq!(db.latest_sequence(), 4 * 20 * 201);
}
