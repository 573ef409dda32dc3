//! Range deletions (`Options::range_deletions`, `Db::delete_range`): gets,
//! iterators in both directions and seeks hide what a tombstone covers in
//! memtables and in every level, compactions drop covered keys and keep
//! what live snapshots see, output files never make a level overlap, the
//! WAL, reopen, repair, checkpoints and the WAL iterator keep tombstones,
//! and the database mark keeps LevelDB 1.23 (python3-plyvel, through
//! interop/ttl_leveldb.py) and lsmkit without the option away
//! (docs/format-extensions.md, "Range deletions"). Ends with a model test
//! against a BTreeMap.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::cmp::Ordering;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use lsmkit::{Db, Error, Options, ReadOptions, StringAppendOperator, WriteBatch};
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::fs::{FileSystem, MemFs};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{InternalKeyComparator, ValueKind};
use lsmkit_base::range_tombstone::table_bounds;
use lsmkit_sstable::{Table, TableOptions};
use proptest::prelude::*;

use common::{assert_reads_match, first_difference, read_backward, read_forward, small_options, Model};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/ttl_leveldb.py");

fn dir() -> &'static Path {
    Path::new("/db")
}

fn rd_options(fs: Arc<dyn FileSystem>) -> Options {
    Options { range_deletions: true, ..small_options(fs, false) }
}

fn open_error(options: Options) -> Error {
    match Db::open(dir(), options) {
        Ok(_) => panic!("the open succeeded"),
        Err(e) => e,
    }
}

fn get(db: &Db, key: &[u8]) -> Option<Vec<u8>> {
    db.get(key).expect("get").map(|v| v.to_vec())
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn keys_forward(db: &Db) -> Vec<Vec<u8>> {
    read_forward(db, ReadOptions::new()).expect("scan").into_keys().collect()
}

/// The live tables of `db`, level by level: (level, file number).
fn tables_by_level(db: &Db) -> Vec<(usize, u64)> {
    common::live_tables(db).into_iter().map(|t| (t.level, t.number)).collect()
}

/// Opens each live table and checks that, in every level but 0, the
/// tables' key ranges — their entries widened by their range tombstones —
/// never overlap. Returns the number of range tombstone fragments seen.
fn assert_levels_do_not_overlap(db: &Db, fs: &Arc<dyn FileSystem>) -> usize {
    let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
    // Per level: (smallest, largest, file number).
    type Bounds = (Vec<u8>, Vec<u8>, u64);
    let mut per_level: Vec<Vec<Bounds>> = vec![Vec::new(); 7];
    let mut fragments = 0;
    for (level, number) in tables_by_level(db) {
        let path = lsmkit_base::filename::table_file_name(dir(), number);
        let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
        let table = Arc::new(Table::open_path(&**fs, &path, options).expect("open table"));
        let mut it = table.iter(Default::default());
        it.seek_to_first();
        let points = it.valid().then(|| {
            let first = it.key().to_vec();
            it.seek_to_last();
            (first, it.key().to_vec())
        });
        let bounds = match table.range_tombstones() {
            Some(t) => {
                fragments += t.fragments().len();
                table_bounds(&icmp, points, t)
            }
            None => points,
        };
        let (smallest, largest) = bounds.expect("a live table holds something");
        per_level[level].push((smallest, largest, number));
    }
    for (level, files) in per_level.iter_mut().enumerate().skip(1) {
        files.sort_by(|a, b| icmp.compare_internal_keys(&a.0, &b.0));
        for pair in files.windows(2) {
            assert_eq!(
                icmp.compare_internal_keys(&pair[0].1, &pair[1].0),
                Ordering::Less,
                "level {level}: table {} overlaps table {}",
                pair[0].2,
                pair[1].2
            );
        }
    }
    fragments
}

#[test]
fn a_range_deletion_hides_keys_in_memtables_tables_and_every_level() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), rd_options(fs.clone())).expect("open");
    for i in 0..100 {
        db.put(&key(i), b"old").expect("put");
    }
    db.flush(Default::default()).expect("flush");
    db.compact_range(None, None).expect("compact");
    for i in 100..200 {
        db.put(&key(i), b"table").expect("put");
    }
    db.flush(Default::default()).expect("flush");
    for i in 200..300 {
        db.put(&key(i), b"mem").expect("put");
    }
    let before = db.snapshot();
    db.delete_range(&key(50), &key(250)).expect("delete_range");
    db.put(&key(120), b"new").expect("put after");
    let expect_live = |i: u32| !(50..250).contains(&i) || i == 120;
    let check = |db: &Db, what: &str| {
        for i in (0..300).step_by(7).chain([49, 50, 120, 249, 250]) {
            assert_eq!(get(db, &key(i)).is_some(), expect_live(i), "{what}: get key {i}");
        }
        let expected: Vec<Vec<u8>> = (0..300).filter(|&i| expect_live(i)).map(key).collect();
        assert_eq!(keys_forward(db), expected, "{what}: forward scan");
        let backward: Vec<Vec<u8>> =
            read_backward(db, ReadOptions::new()).expect("backward").into_iter().map(|(k, _)| k).collect();
        assert_eq!(backward, expected, "{what}: backward scan");
        let mut it = db.iter(ReadOptions::new());
        it.seek(&key(60));
        assert_eq!(it.key(), &key(120)[..], "{what}: seek into the range");
        it.seek(&key(121));
        assert_eq!(it.key(), &key(250)[..], "{what}: seek past the re-put key");
        it.prev();
        assert_eq!(it.key(), &key(120)[..], "{what}: prev over the range");
        it.prev();
        assert_eq!(it.key(), &key(49)[..], "{what}: prev before the range");
        // The snapshot taken before still sees everything.
        let old = ReadOptions { snapshot: Some(before.clone()), ..ReadOptions::new() };
        assert_eq!(read_forward(db, old.clone()).expect("snapshot scan").len(), 300, "{what}: snapshot");
        assert!(db.get_opt(&old, &key(100)).expect("get").is_some(), "{what}: snapshot get");
    };
    check(&db, "in the memtable");
    db.flush(Default::default()).expect("flush");
    check(&db, "flushed");
    db.compact_range(None, None).expect("compact");
    check(&db, "compacted with a snapshot");
    assert_levels_do_not_overlap(&db, &fs);
    drop(db);
    let db = Db::open(dir(), rd_options(fs.clone())).expect("reopen");
    let expected: Vec<Vec<u8>> = (0..300).filter(|&i| expect_live(i)).map(key).collect();
    assert_eq!(keys_forward(&db), expected, "after reopen");
    db.compact_range(None, None).expect("compact");
    assert_eq!(keys_forward(&db), expected, "after compaction without snapshot");
}

/// Entries in the live tables of `db`, read raw.
fn table_entry_count(db: &Db, fs: &Arc<dyn FileSystem>) -> usize {
    let mut count = 0;
    for (_, number) in tables_by_level(db) {
        let path = lsmkit_base::filename::table_file_name(dir(), number);
        let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
        let table = Arc::new(Table::open_path(&**fs, &path, options).expect("open table"));
        let mut it = table.iter(Default::default());
        it.seek_to_first();
        while it.valid() {
            count += 1;
            it.next();
        }
    }
    count
}

#[test]
fn compactions_drop_covered_keys_and_bottom_tombstones_unless_a_snapshot_needs_them() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), rd_options(fs.clone())).expect("open");
    for i in 0..100 {
        db.put(&key(i), b"v").expect("put");
    }
    db.flush(Default::default()).expect("flush");
    db.compact_range(None, None).expect("compact into level 1");
    let snapshot = db.snapshot();
    db.delete_range(&key(10), &key(90)).expect("delete_range");
    db.flush(Default::default()).expect("flush");
    db.compact_range(None, None).expect("compact with the snapshot");
    assert_eq!(table_entry_count(&db, &fs), 100, "the snapshot keeps the covered keys");
    assert_eq!(assert_levels_do_not_overlap(&db, &fs), 1, "and the tombstone");
    assert_eq!(keys_forward(&db).len(), 20);
    drop(snapshot);
    // A new table over the whole range, so that the next compaction
    // rewrites every table.
    db.put(&key(0), b"w").expect("put");
    db.put(&key(200), b"v").expect("put");
    db.flush(Default::default()).expect("flush");
    db.compact_range(None, None).expect("compact without snapshots");
    let listing = db.property("lsmkit.sstables").unwrap_or_default();
    assert_eq!(table_entry_count(&db, &fs), 21, "covered keys are dropped: {listing}");
    assert_eq!(assert_levels_do_not_overlap(&db, &fs), 0, "so is the tombstone, at the bottom");
    assert_eq!(keys_forward(&db).len(), 21);
}

#[test]
fn tombstones_survive_the_wal_and_reopen() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), rd_options(fs.clone())).expect("open");
    for i in 0..20 {
        db.put(&key(i), b"v").expect("put");
    }
    db.flush(Default::default()).expect("flush");
    let mut batch = WriteBatch::new();
    batch.delete_range(&key(5), &key(15));
    batch.put(&key(7), b"again");
    db.write(Default::default(), batch).expect("write");
    drop(db);
    let db = Db::open(dir(), rd_options(fs.clone())).expect("reopen from the WAL");
    let live: Vec<Vec<u8>> = (0..20).filter(|i| !(5..15).contains(i) || *i == 7).map(key).collect();
    assert_eq!(keys_forward(&db), live);
    assert_eq!(get(&db, &key(7)).as_deref(), Some(&b"again"[..]));
}

#[test]
fn invalid_ranges_and_databases_without_the_option() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), small_options(fs.clone(), false)).expect("open");
    let refused = db.delete_range(b"a", b"b").unwrap_err();
    assert!(matches!(refused, Error::InvalidArgument(_)), "{refused}");
    assert!(refused.to_string().contains("Options::range_deletions"), "{refused}");
    drop(db);
    let other: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), rd_options(other)).expect("open");
    db.put(b"b", b"v").expect("put");
    let backwards = db.delete_range(b"c", b"a").unwrap_err();
    assert!(matches!(backwards, Error::InvalidArgument(_)), "{backwards}");
    let sequence = db.latest_sequence();
    db.delete_range(b"b", b"b").expect("an empty range is accepted");
    assert_eq!(db.latest_sequence(), sequence + 1, "it takes a sequence number");
    assert_eq!(get(&db, b"b").as_deref(), Some(&b"v"[..]), "and deletes nothing");
}

#[test]
fn the_mark_keeps_lsmkit_without_the_option_away_and_composes_with_merge() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), rd_options(fs.clone())).expect("create");
    db.put(b"k", b"v").expect("put");
    drop(db);
    let refused = open_error(small_options(fs.clone(), false));
    assert!(matches!(refused, Error::InvalidArgument(_)), "{refused}");
    assert!(
        refused.to_string().contains(
            "lsmkit.rangedel.leveldb.BytewiseComparator does not match existing comparator \
             leveldb.BytewiseComparator"
        ),
        "{refused}"
    );

    let plain: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    drop(Db::open(dir(), small_options(plain.clone(), false)).expect("create plain"));
    let refused = open_error(rd_options(plain));
    assert!(
        refused.to_string().contains(
            "leveldb.BytewiseComparator does not match existing comparator lsmkit.rangedel.leveldb.BytewiseComparator"
        ),
        "{refused}"
    );

    // With a merge operator: one canonical name, the range-deletion mark outside.
    let both: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let options = Options {
        merge_operator: Some(Arc::new(StringAppendOperator::new(b","))),
        ..rd_options(both.clone())
    };
    let db = Db::open(dir(), options.clone()).expect("create with both");
    db.put(b"k", b"a").expect("put");
    db.merge(b"k", b"b").expect("merge");
    db.flush(Default::default()).expect("flush");
    db.delete_range(b"k", b"l").expect("delete_range");
    db.merge(b"k", b"c").expect("merge");
    assert_eq!(get(&db, b"k").as_deref(), Some(&b"c"[..]), "operands below the tombstone are gone");
    db.compact_range(None, None).expect("compact");
    assert_eq!(get(&db, b"k").as_deref(), Some(&b"c"[..]), "after compaction");
    drop(db);
    let merge_only = Options { range_deletions: false, ..options.clone() };
    let refused = open_error(merge_only);
    assert!(
        refused.to_string().contains("lsmkit.rangedel.lsmkit.merge.leveldb.BytewiseComparator"),
        "{refused}"
    );
    let db = Db::open(dir(), options).expect("reopen with both");
    assert_eq!(get(&db, b"k").as_deref(), Some(&b"c"[..]));
}

#[test]
fn leveldb_refuses_a_database_with_range_deletions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options { create_if_missing: true, range_deletions: true, ..Options::default() };
    let db = Db::open(dir.path(), options.clone()).expect("create");
    db.put(b"a", b"1").expect("put");
    db.put(b"b", b"2").expect("put");
    db.delete_range(b"a", b"b").expect("delete_range");
    db.flush(Default::default()).expect("flush");
    drop(db);
    let output = Command::new("/usr/bin/python3")
        .arg(SCRIPT)
        .args(["refuse", dir.path().to_str().expect("UTF-8 path")])
        .output()
        .expect("run /usr/bin/python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "LevelDB opened the database: {stdout}");
    assert_eq!(
        stdout.trim_end(),
        "Invalid argument: lsmkit.rangedel.leveldb.BytewiseComparator does not match existing comparator : \
         leveldb.BytewiseComparator"
    );
    let db = Db::open(dir.path(), options).expect("reopen");
    assert_eq!(get(&db, b"a"), None);
    assert_eq!(get(&db, b"b").as_deref(), Some(&b"2"[..]));
}

#[test]
fn compaction_outputs_cut_tombstones_so_levels_never_overlap() {
    outputs_cut_tombstones(1);
}

#[test]
fn outputs_cut_tombstones_with_four_subcompactions_allowed() {
    outputs_cut_tombstones(4);
}

fn outputs_cut_tombstones(max_subcompactions: usize) {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let options = Options {
        write_buffer_size: 256 << 10,
        compression: lsmkit::Compression::None,
        max_subcompactions,
        ..rd_options(fs.clone())
    };
    let db = Db::open(dir(), options.clone()).expect("open");
    let value = vec![b'x'; 200];
    // About 6 MiB: several output files of 1 MiB per compaction.
    for i in 0..30_000 {
        db.put(&key(i), &value).expect("put");
    }
    db.flush(Default::default()).expect("flush");
    db.compact_range(None, None).expect("compact");
    let snapshot = db.snapshot();
    // Many tombstones spread over the range, some overlapping, some wide.
    for i in (0..30_000).step_by(1000) {
        db.delete_range(&key(i + 100), &key(i + 400)).expect("delete_range");
    }
    db.delete_range(&key(5_000), &key(21_000)).expect("wide delete_range");
    db.put(&key(10_000), b"kept").expect("put");
    db.flush(Default::default()).expect("flush");
    db.compact_range(None, None).expect("compact with a snapshot");
    let fragments = assert_levels_do_not_overlap(&db, &fs);
    assert!(fragments > 1, "the tombstones were shared out over several outputs: {fragments}");
    let live = |i: u32| i == 10_000 || !((5_000..21_000).contains(&i) || (100..400).contains(&(i % 1000)));
    let expected: Vec<Vec<u8>> = (0..30_000).filter(|&i| live(i)).map(key).collect();
    assert_eq!(keys_forward(&db), expected);
    let at_snapshot = ReadOptions { snapshot: Some(snapshot), ..ReadOptions::new() };
    assert_eq!(read_forward(&db, at_snapshot).expect("snapshot scan").len(), 30_000);
    drop(db);
    let db = Db::open(dir(), options).expect("reopen");
    db.compact_range(None, None).expect("compact without the snapshot");
    assert_levels_do_not_overlap(&db, &fs);
    assert_eq!(keys_forward(&db), expected);
}

/// A seeded workload big enough for background flushes and compactions
/// (several MiB through a 64 KiB write buffer): puts over 4000 keys, range
/// deletions of up to 400 keys, point deletions; every key and both scans
/// checked against a model at the end, again after a reopen, and every
/// level checked for overlapping tables.
#[test]
fn a_seeded_workload_with_background_compactions_matches_a_model() {
    for tiered in [false, true] {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let options = Options { range_deletions: true, ..small_options(fs.clone(), tiered) };
        let db = Db::open(dir(), options.clone()).expect("open");
        let mut rng = common::TestRng::new(if tiered { 7 } else { 17 });
        let mut model = Model::new();
        for step in 0..30_000u32 {
            let k = rng.below(4000) as u32;
            match rng.below(100) {
                0..=1 => {
                    let end = k + 1 + rng.below(400) as u32;
                    db.delete_range(&key(k), &key(end)).expect("delete_range");
                    let doomed: Vec<Vec<u8>> =
                        model.range(key(k)..key(end)).map(|(k, _)| k.clone()).collect();
                    for d in doomed {
                        model.remove(&d);
                    }
                }
                2..=6 => {
                    db.delete(&key(k)).expect("delete");
                    model.remove(&key(k));
                }
                _ => {
                    let value = format!("{step:08}").repeat(25).into_bytes();
                    db.put(&key(k), &value).expect("put");
                    model.insert(key(k), value);
                }
            }
        }
        let check = |db: &Db, what: &str| {
            for k in 0..4400 {
                assert_eq!(get(db, &key(k)), model.get(&key(k)).cloned(), "{what}: get {k}");
            }
            let forward = read_forward(db, ReadOptions::new()).expect("forward");
            assert_eq!(first_difference(&forward, &model), None, "{what}: forward");
            let backward = read_backward(db, ReadOptions::new()).expect("backward");
            assert_eq!(backward.len(), model.len(), "{what}: backward");
            assert_levels_do_not_overlap(db, &fs);
        };
        check(&db, &format!("tiered {tiered}"));
        let levels: Vec<usize> = tables_by_level(&db).iter().map(|(level, _)| *level).collect();
        assert!(levels.iter().any(|&l| l >= 1), "background compactions ran: {levels:?}");
        drop(db);
        let db = Db::open(dir(), options).expect("reopen");
        check(&db, &format!("tiered {tiered}, reopened"));
        db.compact_range(None, None).expect("compact");
        check(&db, &format!("tiered {tiered}, compacted"));
    }
}

// ----- model test ---------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    DeleteRange(u8, u8),
    Snapshot,
    ReleaseSnapshot,
    Flush,
    Compact,
    CompactPart(u8, u8),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..24, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        1 => (0u8..24).prop_map(Op::Delete),
        3 => (0u8..25, 0u8..25).prop_map(|(b, e)| Op::DeleteRange(b.min(e), b.max(e))),
        1 => Just(Op::Snapshot),
        1 => Just(Op::ReleaseSnapshot),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => (0u8..25, 0u8..25).prop_map(|(b, e)| Op::CompactPart(b.min(e), b.max(e))),
        1 => Just(Op::Reopen),
    ]
}

fn mkey(k: u8) -> Vec<u8> {
    format!("k{k:02}").into_bytes()
}

/// Checks gets, both scans and seeks in both directions of `db` at
/// `snapshot` (or now) against `model`.
fn check(db: &Db, snapshot: Option<lsmkit::Snapshot>, model: &Model, what: &str) {
    let options = ReadOptions { snapshot, ..ReadOptions::new() };
    assert_reads_match(db, &options, (0..25).map(mkey), model, what);
    let mut it = db.iter(options);
    for k in (0..25).step_by(3) {
        it.seek(&mkey(k));
        let expected = model.range(mkey(k)..).next().map(|(k, _)| k.clone());
        assert_eq!(it.valid().then(|| it.key().to_vec()), expected, "{what}: seek k{k}");
        if it.valid() {
            it.prev();
            let before = model.range(..mkey(k)).next_back().map(|(k, _)| k.clone());
            assert_eq!(it.valid().then(|| it.key().to_vec()), before, "{what}: prev after seek k{k}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn matches_a_model_with_snapshots_flushes_compactions_and_reopens(
        ops in prop::collection::vec(op(), 1..60),
        tiered in any::<bool>(),
    ) {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let options = || Options { range_deletions: true, ..small_options(fs.clone(), tiered) };
        let mut db = Db::open(dir(), options()).expect("open");
        let mut model = Model::new();
        let mut snapshots: Vec<(lsmkit::Snapshot, Model)> = Vec::new();
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Put(k, v) => {
                    db.put(&mkey(*k), &[*v]).expect("put");
                    model.insert(mkey(*k), vec![*v]);
                }
                Op::Delete(k) => {
                    db.delete(&mkey(*k)).expect("delete");
                    model.remove(&mkey(*k));
                }
                Op::DeleteRange(b, e) => {
                    db.delete_range(&mkey(*b), &mkey(*e)).expect("delete_range");
                    let doomed: Vec<Vec<u8>> = model.range(mkey(*b)..mkey(*e)).map(|(k, _)| k.clone()).collect();
                    for k in doomed {
                        model.remove(&k);
                    }
                }
                Op::Snapshot => snapshots.push((db.snapshot(), model.clone())),
                Op::ReleaseSnapshot => {
                    if !snapshots.is_empty() {
                        snapshots.remove(step % snapshots.len());
                    }
                }
                Op::Flush => db.flush(Default::default()).expect("flush"),
                Op::Compact => db.compact_range(None, None).expect("compact"),
                Op::CompactPart(b, e) => db.compact_range(Some(&mkey(*b)), Some(&mkey(*e))).expect("compact part"),
                Op::Reopen => {
                    snapshots.clear();
                    drop(db);
                    db = Db::open(dir(), options()).expect("reopen");
                }
            }
            check(&db, None, &model, &format!("step {step} {op:?}"));
        }
        for (i, (snapshot, seen)) in snapshots.iter().enumerate() {
            check(&db, Some(snapshot.clone()), seen, &format!("snapshot {i}"));
        }
        db.compact_range(None, None).expect("final compaction");
        check(&db, None, &model, "after the final compaction");
        for (i, (snapshot, seen)) in snapshots.iter().enumerate() {
            check(&db, Some(snapshot.clone()), seen, &format!("snapshot {i} after the final compaction"));
        }
        assert_levels_do_not_overlap(&db, &fs);
    }
}

#[test]
fn kinds_in_tables_are_only_points() {
    // A flushed table holds the tombstone in its meta block, not among its entries.
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), rd_options(fs.clone())).expect("open");
    db.put(b"a", b"1").expect("put");
    db.delete_range(b"a", b"c").expect("delete_range");
    db.flush(Default::default()).expect("flush");
    let (_, number) = tables_by_level(&db)[0];
    let path = lsmkit_base::filename::table_file_name(dir(), number);
    let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
    let table = Arc::new(Table::open_path(&*fs, &path, options).expect("open table"));
    let mut it = table.iter(Default::default());
    it.seek_to_first();
    let mut kinds = Vec::new();
    while it.valid() {
        kinds.push(lsmkit_base::key::parse_internal_key(it.key()).expect("key").kind);
        it.next();
    }
    assert_eq!(kinds, [ValueKind::Value]);
    let tombstones = table.range_tombstones().expect("range tombstones");
    assert_eq!(tombstones.fragments().len(), 1);
    assert_eq!(tombstones.fragments()[0].start, b"a");
    assert_eq!(tombstones.fragments()[0].end, b"c");
}

#[test]
fn repair_checkpoint_and_the_wal_iterator_keep_tombstones() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let options = Options { wal_ttl: std::time::Duration::from_secs(3600), ..rd_options(fs.clone()) };
    let db = Db::open(dir(), options.clone()).expect("open");
    for i in 0..40 {
        db.put(&key(i), b"v").expect("put");
    }
    db.flush(Default::default()).expect("flush");
    let first = db.latest_sequence() + 1;
    db.delete_range(&key(0), &key(10)).expect("delete_range into a table");
    db.flush(Default::default()).expect("flush");
    db.delete_range(&key(20), &key(30)).expect("delete_range in the WAL");
    let live: Vec<Vec<u8>> =
        (0..40).filter(|i| !(0..10).contains(i) && !(20..30).contains(i)).map(key).collect();

    // The WAL iterator yields the records as range deletions.
    let ops: Vec<_> = db
        .updates_since(first)
        .expect("updates_since")
        .map(|op| op.expect("op"))
        .map(|op| (op.sequence, op.kind, op.key.to_vec(), op.value.to_vec()))
        .collect();
    assert_eq!(
        ops,
        [
            (first, ValueKind::RangeDeletion, key(0), key(10)),
            (first + 1, ValueKind::RangeDeletion, key(20), key(30))
        ]
    );

    db.checkpoint("/copy").expect("checkpoint");
    let copy =
        Db::open("/copy", Options { wal_ttl: Default::default(), ..options.clone() }).expect("open the copy");
    assert_eq!(keys_forward(&copy), live, "checkpoint");
    drop(copy);
    drop(db);

    let refused = Db::repair(dir(), &small_options(fs.clone(), false)).unwrap_err();
    assert!(refused.to_string().contains("repair it with Options::range_deletions"), "{refused}");
    Db::repair(dir(), &options).expect("repair");
    let db = Db::open(dir(), options).expect("open after repair");
    assert_eq!(keys_forward(&db), live, "after repair (tables and log)");
    db.compact_range(None, None).expect("compact");
    assert_eq!(keys_forward(&db), live, "after repair and compaction");
}

#[test]
fn range_deletions_work_with_entry_expiry_under_one_composed_mark() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let options = Options { enable_ttl: true, ..rd_options(fs.clone()) };
    let db = Db::open(dir(), options.clone()).expect("open");
    db.put(b"a", b"1").expect("put");
    db.put_with_ttl(b"b", b"2", std::time::Duration::from_secs(3600)).expect("put_with_ttl");
    db.put(b"c", b"3").expect("put");
    db.delete_range(b"a", b"c").expect("delete_range");
    db.flush(Default::default()).expect("flush");
    assert_eq!(keys_forward(&db), [b"c".to_vec()]);
    assert_eq!(get(&db, b"c").as_deref(), Some(&b"3"[..]), "values keep their frame off");
    drop(db);
    let refused = open_error(Options { enable_ttl: false, ..options.clone() });
    assert!(
        refused.to_string().contains("lsmkit.rangedel.lsmkit.ttl.leveldb.BytewiseComparator"),
        "{refused}"
    );
    let db = Db::open(dir(), options).expect("reopen");
    assert_eq!(keys_forward(&db), [b"c".to_vec()]);
}

/// A flush combines a key's merge operands, but never across a range
/// tombstone of the same memtable: with a value, an operand, a range
/// deletion and more operands all in one memtable, the operands above the
/// tombstone merge over nothing (merged over the older entries, the
/// deleted value would come back); with a snapshot taken before the
/// deletion, the snapshot still reads the older chain.
#[test]
fn a_flush_does_not_merge_operands_across_a_range_deletion_in_its_memtable() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let options =
        Options { merge_operator: Some(Arc::new(StringAppendOperator::new(b","))), ..rd_options(fs) };
    let db = Db::open(dir(), options).expect("create");
    let at = |snapshot: Option<&lsmkit::Snapshot>, key: &[u8]| {
        let options = ReadOptions { snapshot: snapshot.cloned(), ..ReadOptions::new() };
        db.get_opt(&options, key).expect("get")
    };
    // No snapshot: one stripe holds the whole chain.
    db.put(b"k", b"a").expect("put");
    db.merge(b"k", b"b").expect("merge");
    db.delete_range(b"k", b"l").expect("delete_range");
    db.merge(b"k", b"c").expect("merge");
    db.merge(b"k", b"d").expect("merge");
    assert_eq!(at(None, b"k").as_deref(), Some(&b"c,d"[..]), "in the memtable");
    db.flush(Default::default()).expect("flush");
    assert_eq!(at(None, b"k").as_deref(), Some(&b"c,d"[..]), "after the flush");

    // A snapshot between the older chain and the deletion.
    db.put(b"m", b"a").expect("put");
    db.merge(b"m", b"b").expect("merge");
    let before = db.snapshot();
    db.delete_range(b"m", b"n").expect("delete_range");
    db.merge(b"m", b"c").expect("merge");
    db.flush(Default::default()).expect("flush");
    assert_eq!(at(None, b"m").as_deref(), Some(&b"c"[..]), "after the flush");
    assert_eq!(at(Some(&before), b"m").as_deref(), Some(&b"a,b"[..]), "the snapshot after the flush");
    drop(before);
    db.compact_range(None, None).expect("compact");
    assert_eq!(at(None, b"k").as_deref(), Some(&b"c,d"[..]), "after compaction");
    assert_eq!(at(None, b"m").as_deref(), Some(&b"c"[..]), "after compaction");
}
