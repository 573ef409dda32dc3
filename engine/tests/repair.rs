//! `Db::repair` and `Db::destroy`. Repair is tested on LevelDB's
//! corruption scenarios — a missing MANIFEST, a damaged log, a damaged
//! table, a table that does not open — and on what it must get right
//! beyond them: new writes are numbered after everything recovered, and
//! level-0 tables end up in an order where a lookup finds the newest value
//! (tables from different levels, a log converted twice). A property test
//! repairs random healthy databases and compares them with a model.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{first_difference, read_forward, Model, TestRng};
use lsmkit::{
    Db, FlushOptions, Options, ReadOptions, RepairReport, WriteBatch, WriteOptions, LOST_DIR_NAME,
    WAL_ARCHIVE_DIR_NAME,
};
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::filename::{parse_file_name, table_file_name, FileType};
use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs, StdFs, WriteMode};
use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
use lsmkit_sstable::{TableBuilder, TableOptions};
use proptest::prelude::*;

const DIR: &str = "/db";

fn options(fs: &Arc<MemFs>) -> Options {
    Options { create_if_missing: true, fs: fs.clone(), block_size: 1024, ..Options::default() }
}

/// The numbers of the files of `file_type` in `dir`, ascending.
fn files_of(fs: &dyn FileSystem, dir: &Path, file_type: FileType) -> Vec<u64> {
    let mut numbers: Vec<u64> = fs
        .list_dir(dir)
        .unwrap()
        .iter()
        .filter_map(|name| parse_file_name(name).filter(|(_, t)| *t == file_type).map(|(n, _)| n))
        .collect();
    numbers.sort_unstable();
    numbers
}

/// Flips the bits of `len` bytes of `path` from `offset` on.
fn corrupt(fs: &dyn FileSystem, path: &Path, offset: usize, len: usize) {
    let mut data = read_file_to_vec(fs, path).unwrap();
    for byte in &mut data[offset..offset + len] {
        *byte ^= 0xff;
    }
    write_file(fs, path, &data, true).unwrap();
}

/// Removes CURRENT and every MANIFEST: the database no longer opens.
fn remove_manifest(fs: &dyn FileSystem, dir: &Path) {
    for number in files_of(fs, dir, FileType::Manifest) {
        fs.remove_file(&lsmkit_base::filename::manifest_file_name(dir, number)).unwrap();
    }
    fs.remove_file(&lsmkit_base::filename::current_file_name(dir)).unwrap();
}

fn reopen(options: &Options) -> Db {
    Db::open(DIR, Options { create_if_missing: false, ..options.clone() }).unwrap()
}

fn assert_state(db: &Db, expected: &Model) {
    let actual = read_forward(db, ReadOptions::new()).unwrap();
    if let Some(difference) = first_difference(&actual, expected) {
        panic!("after repair: {difference}");
    }
    for (key, value) in expected {
        assert_eq!(db.get(key).unwrap().as_deref(), Some(&value[..]), "get {}", common::show(key));
    }
}

/// Writes `count` keys `prefix0000`.. with values naming `round`.
fn put_keys(db: &Db, expected: &mut Model, prefix: &str, count: usize, round: usize) {
    for i in 0..count {
        let key = format!("{prefix}{i:04}");
        let value = format!("{key}-round{round}-{}", "v".repeat(i % 40));
        db.put(key.as_bytes(), value.as_bytes()).unwrap();
        expected.insert(key.into_bytes(), value.into_bytes());
    }
}

#[test]
fn repair_without_a_manifest_keeps_every_table_and_log() {
    let fs = Arc::new(MemFs::new());
    let options = Options { write_buffer_size: 64 << 10, l0_compaction_trigger: 2, ..options(&fs) };
    let db = Db::open(DIR, options.clone()).unwrap();
    let mut expected = Model::new();
    for round in 0..4 {
        put_keys(&db, &mut expected, "key", 600, round);
        match round {
            0 => db.compact_range(None, None).unwrap(),
            1 => db.compact_range(Some(b"key0100"), Some(b"key0200")).unwrap(),
            _ => db.flush(FlushOptions::default()).unwrap(),
        }
    }
    for i in (0..600).step_by(5) {
        let key = format!("key{i:04}");
        db.delete(key.as_bytes()).unwrap();
        expected.remove(key.as_bytes());
    }
    put_keys(&db, &mut expected, "tail", 30, 9);
    let last_sequence = db.latest_sequence();
    drop(db);
    let logs = files_of(&*fs, Path::new(DIR), FileType::Log);
    assert_eq!(logs.len(), 1);

    remove_manifest(&*fs, Path::new(DIR));
    assert!(Db::open(DIR, Options { create_if_missing: false, ..options.clone() }).is_err());
    let report = Db::repair(DIR, &options).unwrap();
    assert_eq!(report.converted_logs, logs);
    assert!(report.lost_tables.is_empty() && report.salvaged_tables.is_empty(), "{report:?}");
    assert_eq!((report.log_records_dropped, report.log_bytes_dropped), (0, 0));
    assert_eq!((report.table_entries_dropped, report.table_bytes_dropped), (0, 0));
    assert_eq!(report.last_sequence, last_sequence);
    assert_eq!(files_of(&*fs, Path::new(DIR), FileType::Table), report.tables);
    assert_eq!(files_of(&*fs, Path::new(DIR), FileType::Log), Vec::<u64>::new());
    let lost: Vec<String> = fs.list_dir(&Path::new(DIR).join(LOST_DIR_NAME)).unwrap();
    assert!(lost.contains(&format!("{:06}.log", logs[0])), "{lost:?}");

    let db = reopen(&options);
    assert_eq!(db.latest_sequence(), last_sequence);
    assert_state(&db, &expected);
    drop(db);
    // Repairing the repaired database (compacted since) changes nothing.
    let again = Db::repair(DIR, &options).unwrap();
    assert_eq!(again.last_sequence, last_sequence);
    assert_state(&reopen(&options), &expected);
}

#[test]
fn keys_written_after_repair_win_over_keys_written_before() {
    let fs = Arc::new(MemFs::new());
    let options = options(&fs);
    let db = Db::open(DIR, options.clone()).unwrap();
    db.put(b"key", b"before").unwrap();
    db.put(b"gone", b"soon deleted").unwrap();
    db.flush(FlushOptions::default()).unwrap();
    db.put(b"key", b"before, again").unwrap();
    db.delete(b"gone").unwrap();
    let last_sequence = db.latest_sequence();
    drop(db);
    remove_manifest(&*fs, Path::new(DIR));

    let report = Db::repair(DIR, &options).unwrap();
    assert_eq!(report.last_sequence, last_sequence);
    let db = reopen(&options);
    assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"before, again"[..]));
    assert_eq!(db.get(b"gone").unwrap(), None);
    db.put(b"key", b"after").unwrap();
    assert_eq!(db.latest_sequence(), last_sequence + 1);
    assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"after"[..]));
    drop(db);
    // Still the newest once the write is in a table below the repaired ones.
    let db = reopen(&options);
    assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"after"[..]));
    db.compact_range(None, None).unwrap();
    assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"after"[..]));
    assert_eq!(db.get(b"gone").unwrap(), None);
}

#[test]
fn repair_of_a_damaged_log_drops_only_the_damaged_records() {
    let fs = Arc::new(MemFs::new());
    let options = options(&fs);
    let db = Db::open(DIR, options.clone()).unwrap();
    // About three 32 KiB log blocks of records of about 1 KiB.
    let value = |i: usize| format!("{i:04}").repeat(250);
    for i in 0..100 {
        db.put(format!("key{i:04}").as_bytes(), value(i).as_bytes()).unwrap();
    }
    drop(db);
    let log = files_of(&*fs, Path::new(DIR), FileType::Log)[0];
    corrupt(&*fs, &lsmkit_base::filename::log_file_name(Path::new(DIR), log), 40_000, 4);

    let report = Db::repair(DIR, &options).unwrap();
    assert_eq!(report.converted_logs, [log]);
    assert!(report.log_bytes_dropped > 0, "{report:?}");
    let db = reopen(&options);
    let present: Vec<usize> =
        (0..100).filter(|i| db.get(format!("key{i:04}").as_bytes()).unwrap().is_some()).collect();
    // The rest of the damaged block is lost (LevelDB's reader drops it);
    // records before it and in later blocks are kept.
    let missing: Vec<usize> = (0..100).filter(|i| !present.contains(i)).collect();
    assert!(!missing.is_empty() && missing.len() < 40, "missing {missing:?}");
    assert_eq!(missing.last().unwrap() - missing[0] + 1, missing.len(), "not one run: {missing:?}");
    assert!(missing[0] > 20 && *missing.last().unwrap() < 99, "missing {missing:?}");
    for i in present {
        assert_eq!(db.get(format!("key{i:04}").as_bytes()).unwrap().as_deref(), Some(value(i).as_bytes()));
    }
    assert_eq!(db.latest_sequence(), 100);
}

/// A database whose only table holds `key0000`..`key0999`, closed.
fn one_table_database(fs: &Arc<MemFs>) -> (Options, Model, u64) {
    let options = Options { compression: lsmkit_sstable::Compression::None, ..options(fs) };
    let db = Db::open(DIR, options.clone()).unwrap();
    let mut expected = Model::new();
    put_keys(&db, &mut expected, "key", 1000, 0);
    db.flush(FlushOptions::default()).unwrap();
    drop(db);
    let tables = files_of(&**fs, Path::new(DIR), FileType::Table);
    assert_eq!(tables.len(), 1);
    (options, expected, tables[0])
}

#[test]
fn repair_of_a_damaged_table_keeps_its_readable_blocks() {
    let fs = Arc::new(MemFs::new());
    let (options, expected, table) = one_table_database(&fs);
    let path = table_file_name(Path::new(DIR), table);
    let size = fs.file_size(&path).unwrap() as usize;
    corrupt(&*fs, &path, size / 3, 2);
    // Reading the damaged block fails before the repair.
    let db = reopen(&options);
    let read = ReadOptions { verify_checksums: true, ..ReadOptions::new() };
    assert!(read_forward(&db, read).unwrap_err().is_corruption());
    drop(db);

    let report = Db::repair(DIR, &options).unwrap();
    assert_eq!(report.salvaged_tables, [table]);
    assert!(report.lost_tables.is_empty());
    assert!(report.table_bytes_dropped > 0 && report.table_bytes_dropped < 3 * 1024, "{report:?}");
    assert_eq!(report.tables.len(), 1);
    assert_ne!(report.tables[0], table);
    let lost = fs.list_dir(&Path::new(DIR).join(LOST_DIR_NAME)).unwrap();
    assert!(lost.contains(&format!("{table:06}.ldb")), "{lost:?}");

    let db = reopen(&options);
    let actual = read_forward(&db, ReadOptions { verify_checksums: true, ..ReadOptions::new() }).unwrap();
    let lost_keys: Vec<&Vec<u8>> = expected.keys().filter(|k| !actual.contains_key(*k)).collect();
    // One block's worth of entries, in one run.
    assert!(!lost_keys.is_empty() && lost_keys.len() < 40, "{} keys lost", lost_keys.len());
    for (key, value) in &actual {
        assert_eq!(expected.get(key), Some(value));
    }
    assert_eq!(db.latest_sequence(), 1000);
}

#[test]
fn repair_sets_aside_a_table_that_does_not_open() {
    let fs = Arc::new(MemFs::new());
    let options = options(&fs);
    let db = Db::open(DIR, options.clone()).unwrap();
    let (mut first, mut second) = (Model::new(), Model::new());
    put_keys(&db, &mut first, "a", 300, 0);
    db.flush(FlushOptions::default()).unwrap();
    put_keys(&db, &mut second, "b", 300, 0);
    db.flush(FlushOptions::default()).unwrap();
    drop(db);
    let tables = files_of(&*fs, Path::new(DIR), FileType::Table);
    assert_eq!(tables.len(), 2);
    // The second table's footer (its last 48 bytes) is garbage.
    let path = table_file_name(Path::new(DIR), tables[1]);
    let size = fs.file_size(&path).unwrap() as usize;
    corrupt(&*fs, &path, size - 10, 8);

    let report = Db::repair(DIR, &options).unwrap();
    assert_eq!(report.lost_tables, [tables[1]]);
    assert_eq!(report.tables, [tables[0]]);
    assert_eq!(report.table_bytes_dropped, size as u64);
    assert!(report.set_aside.contains(&format!("{:06}.ldb", tables[1])));
    let db = reopen(&options);
    assert_state(&db, &first);
    assert_eq!(db.latest_sequence(), 300);
}

/// A table entry to write: user key, sequence, value (`None`: a deletion).
type Entry<'a> = (&'a str, u64, Option<&'a str>);

/// Writes table `number` of `dir` holding `entries`, as the engine would.
fn write_table(fs: &dyn FileSystem, dir: &Path, number: u64, entries: &[Entry<'_>]) {
    let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
    let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
    let mut keys: Vec<(Vec<u8>, &str)> = entries
        .iter()
        .map(|&(key, sequence, value)| {
            let kind = if value.is_some() { ValueKind::Value } else { ValueKind::Deletion };
            (make_internal_key(key.as_bytes(), sequence, kind), value.unwrap_or(""))
        })
        .collect();
    keys.sort_by(|a, b| icmp.compare_internal_keys(&a.0, &b.0));
    let file = fs.create_writable(&table_file_name(dir, number), WriteMode::Buffered).unwrap();
    let mut builder = TableBuilder::new(options, file);
    for (key, value) in &keys {
        builder.add(key, value.as_bytes()).unwrap();
    }
    builder.finish(true).unwrap();
}

/// Repairs a directory holding only the tables `(number, entries)`.
fn repair_tables(tables: &[(u64, &[Entry<'_>])]) -> (Arc<MemFs>, Options, RepairReport) {
    let fs = Arc::new(MemFs::new());
    fs.create_dir_all(Path::new(DIR)).unwrap();
    for (number, entries) in tables {
        write_table(&*fs, Path::new(DIR), *number, entries);
    }
    let options = options(&fs);
    let report = Db::repair(DIR, &options).unwrap();
    (fs, options, report)
}

#[test]
fn repaired_tables_are_numbered_in_sequence_order() {
    // Table 9 (say, written by a compaction at a deeper level) holds older
    // entries than table 5; a level-0 lookup reads table 9 first.
    let (_fs, options, report) = repair_tables(&[
        (5, &[("a", 20, Some("new")), ("m", 21, None)]),
        (9, &[("a", 5, Some("old")), ("m", 6, Some("old")), ("z", 7, Some("z"))]),
    ]);
    assert_eq!(report.renumbered_tables, [5]);
    assert!(report.merged_tables.is_empty());
    assert_eq!(report.tables, [9, 10]);
    assert_eq!(report.last_sequence, 21);
    let db = reopen(&options);
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(db.get(b"m").unwrap(), None);
    assert_eq!(db.get(b"z").unwrap().as_deref(), Some(&b"z"[..]));
    let all = read_forward(&db, ReadOptions::new()).unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), [&b"a"[..], &b"z"[..]]);
    assert_eq!(all[&b"a"[..]], b"new");
}

#[test]
fn tables_with_interleaved_sequences_are_merged() {
    // No numbering is right: `a` is newer in table 5, `z` in table 9.
    let (fs, options, report) = repair_tables(&[
        (5, &[("a", 20, Some("new")), ("z", 3, Some("old"))]),
        (9, &[("a", 5, Some("old")), ("z", 30, Some("new"))]),
        (12, &[("zz", 100, Some("unrelated"))]),
    ]);
    assert_eq!(report.merged_tables, [5, 9]);
    assert_eq!(report.tables, [12, 13]);
    assert!(report.renumbered_tables.is_empty());
    let lost = fs.list_dir(&Path::new(DIR).join(LOST_DIR_NAME)).unwrap();
    assert!(lost.contains(&"000005.ldb".to_string()) && lost.contains(&"000009.ldb".to_string()));
    let db = reopen(&options);
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(db.get(b"z").unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(db.get(b"zz").unwrap().as_deref(), Some(&b"unrelated"[..]));
    assert_eq!(db.latest_sequence(), 100);
}

#[test]
fn a_log_already_flushed_to_a_table_is_merged_with_it() {
    let fs = Arc::new(MemFs::new());
    let options = options(&fs);
    let db = Db::open(DIR, options.clone()).unwrap();
    let mut expected = Model::new();
    put_keys(&db, &mut expected, "key", 200, 0);
    drop(db);
    // Keep the log; the next open flushes it to a table and deletes it.
    let log = files_of(&*fs, Path::new(DIR), FileType::Log)[0];
    let log_path = lsmkit_base::filename::log_file_name(Path::new(DIR), log);
    let saved = read_file_to_vec(&*fs, &log_path).unwrap();
    let db = reopen(&options);
    put_keys(&db, &mut expected, "key", 50, 1);
    drop(db);
    write_file(&*fs, &log_path, &saved, true).unwrap();

    let report = Db::repair(DIR, &options).unwrap();
    assert_eq!(report.converted_logs.len(), 2, "{report:?}");
    assert_eq!(report.merged_tables.len(), 2, "{report:?}");
    let db = reopen(&options);
    assert_state(&db, &expected);
    assert_eq!(db.latest_sequence(), 250);
}

#[test]
fn repair_and_destroy_refuse_an_open_database() {
    let fs = Arc::new(MemFs::new());
    let options = options(&fs);
    let db = Db::open(DIR, options.clone()).unwrap();
    db.put(b"k", b"v").unwrap();
    assert!(matches!(Db::repair(DIR, &options), Err(lsmkit::Error::Busy(_))));
    assert!(matches!(Db::destroy(DIR, &options), Err(lsmkit::Error::Busy(_))));
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    drop(db);
    // Nothing to repair: no directory, or no database files in it.
    assert!(Db::repair("/nowhere", &options).is_err());
    fs.create_dir_all(Path::new("/empty")).unwrap();
    write_file(&*fs, Path::new("/empty/notes.txt"), b"", false).unwrap();
    assert!(Db::repair("/empty", &options).is_err());
}

#[test]
fn destroy_deletes_every_database_file() {
    let temp = tempfile::tempdir().unwrap();
    // WAL retention on, so obsolete logs are kept in `archive/`.
    let options = Options {
        create_if_missing: true,
        fs: Arc::new(StdFs::new()),
        wal_ttl: std::time::Duration::from_secs(3600),
        ..Options::default()
    };
    for keep_other_file in [false, true] {
        let dir = temp.path().join(format!("db-{keep_other_file}"));
        let db = Db::open(&dir, options.clone()).unwrap();
        let mut expected = Model::new();
        put_keys(&db, &mut expected, "key", 100, 0);
        db.flush(FlushOptions::default()).unwrap();
        put_keys(&db, &mut expected, "key", 10, 1);
        db.flush(FlushOptions::default()).unwrap();
        drop(db);
        let archived = std::fs::read_dir(dir.join(WAL_ARCHIVE_DIR_NAME)).unwrap().count();
        assert!(archived > 0, "the flushes archived their logs");
        if keep_other_file {
            std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        }
        Db::destroy(&dir, &options).unwrap();
        if keep_other_file {
            let left: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(left, ["notes.txt"]);
        } else {
            assert!(!dir.exists());
        }
        // Destroying what is not there is fine; a new database starts empty.
        Db::destroy(temp.path().join("never-created"), &options).unwrap();
        let db = Db::open(&dir, options.clone()).unwrap();
        assert!(read_forward(&db, ReadOptions::new()).unwrap().is_empty());
        assert_eq!(db.latest_sequence(), 0);
    }
}

/// One step of the random workload.
#[derive(Debug, Clone)]
enum Step {
    Write(Vec<(u16, Option<u16>)>),
    Flush,
    Compact(Option<(u16, u16)>),
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        20 => prop::collection::vec((0u16..300, prop::option::weighted(0.8, 0u16..1000)), 1..6).prop_map(Step::Write),
        2 => Just(Step::Flush),
        2 => prop::option::of((0u16..300, 0u16..300)).prop_map(Step::Compact),
        1 => Just(Step::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// A healthy database, its MANIFEST removed (or not), repairs to
    /// exactly its state, and new writes after the repair win.
    #[test]
    fn repair_of_a_healthy_database_keeps_its_state(
        steps in prop::collection::vec(step(), 1..120),
        remove in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let fs = Arc::new(MemFs::new());
        let options = Options { write_buffer_size: 64 << 10, l0_compaction_trigger: 2, ..options(&fs) };
        let mut db = Db::open(DIR, options.clone()).unwrap();
        let mut expected = Model::new();
        let mut rng = TestRng::new(seed);
        let key = |k: u16| format!("key{k:04}").into_bytes();
        for step in steps {
            match step {
                Step::Write(ops) => {
                    let mut batch = WriteBatch::new();
                    for (k, value) in ops {
                        match value {
                            Some(v) => {
                                let value = format!("{v}-{}", "x".repeat(rng.index(300))).into_bytes();
                                batch.put(&key(k), &value);
                                expected.insert(key(k), value);
                            }
                            None => {
                                batch.delete(&key(k));
                                expected.remove(&key(k));
                            }
                        }
                    }
                    db.write(WriteOptions::default(), batch).unwrap();
                }
                Step::Flush => db.flush(FlushOptions::default()).unwrap(),
                Step::Compact(range) => {
                    let range = range.map(|(a, b)| (key(a.min(b)), key(a.max(b))));
                    db.compact_range(range.as_ref().map(|r| &r.0[..]), range.as_ref().map(|r| &r.1[..])).unwrap();
                }
                Step::Reopen => {
                    drop(db);
                    db = reopen(&options);
                }
            }
        }
        let last_sequence = db.latest_sequence();
        drop(db);
        if remove {
            remove_manifest(&*fs, Path::new(DIR));
        }
        let report = Db::repair(DIR, &options).unwrap();
        prop_assert!(report.lost_tables.is_empty() && report.salvaged_tables.is_empty());
        prop_assert_eq!(report.log_bytes_dropped + report.table_bytes_dropped, 0);
        prop_assert!(report.last_sequence <= last_sequence);
        let db = reopen(&options);
        let actual = read_forward(&db, ReadOptions::new()).unwrap();
        prop_assert_eq!(first_difference(&actual, &expected), None);
        for k in 0..300u16 {
            prop_assert_eq!(db.get(&key(k)).unwrap().map(|v| v.to_vec()), expected.get(&key(k)).cloned());
        }
        db.put(&key(7), b"after repair").unwrap();
        db.compact_range(None, None).unwrap();
        let after = db.get(&key(7)).unwrap();
        prop_assert_eq!(after.as_deref(), Some(&b"after repair"[..]));
    }
}
