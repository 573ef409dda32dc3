//! The merge operator (`Options::merge_operator`, `Db::merge`): operands
//! resolve across memtables and every level for gets and iterators in both
//! directions, compactions combine them without changing what any live
//! snapshot reads, the WAL and reopen keep them, and the database mark
//! keeps LevelDB 1.23 (python3-plyvel, driven by interop/ttl_leveldb.py)
//! and lsmkit without a merge operator away (docs/format-extensions.md,
//! "Merge operator"). Ends with a model test against a BTreeMap.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use lsmkit::{
    Db, Error, MaxOperator, MergeOperator, Options, ReadOptions, StringAppendOperator, U64AddOperator,
    WriteBatch,
};
use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::fs::{FileSystem, MemFs};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{parse_internal_key, ValueKind};
use lsmkit_sstable::{Table, TableOptions};
use proptest::prelude::*;

use common::{assert_reads_match, first_difference, read_backward, read_forward, small_options, Model};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/ttl_leveldb.py");

fn dir() -> &'static Path {
    Path::new("/db")
}

fn merge_options(fs: Arc<dyn FileSystem>, operator: Arc<dyn MergeOperator>) -> Options {
    Options { merge_operator: Some(operator), ..small_options(fs, false) }
}

fn append() -> Arc<dyn MergeOperator> {
    Arc::new(StringAppendOperator::new(b","))
}

fn get(db: &Db, key: &[u8]) -> Option<Vec<u8>> {
    db.get(key).expect("get").map(|v| v.to_vec())
}

fn counter(db: &Db, key: &[u8]) -> Option<u64> {
    get(db, key).map(|v| u64::from_le_bytes(v.try_into().expect("8-byte counter")))
}

/// Counts the entries of each kind (values, deletions, merge operands)
/// whose user key is `key` in the live tables of `db`, read raw.
fn table_entries(db: &Db, fs: &Arc<MemFs>, key: &[u8]) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for number in common::live_tables(db).into_iter().map(|t| t.number) {
        let path = lsmkit_base::filename::table_file_name(dir(), number);
        let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
        let table = Arc::new(Table::open_path(&**fs, &path, options).expect("open table"));
        let mut it = table.iter(Default::default());
        it.seek_to_first();
        while it.valid() {
            let entry = parse_internal_key(it.key()).expect("internal key");
            if entry.user_key == key {
                match entry.kind {
                    ValueKind::Value => counts.0 += 1,
                    ValueKind::Deletion => counts.1 += 1,
                    ValueKind::Merge => counts.2 += 1,
                    ValueKind::RangeDeletion => panic!("a range tombstone among a table's entries"),
                }
            }
            it.next();
        }
        it.status().expect("table scan");
    }
    counts
}

#[test]
fn counters_add_up_across_memtables_tables_and_levels() {
    let fs = Arc::new(MemFs::new());
    let db = Db::open(dir(), merge_options(fs.clone(), Arc::new(U64AddOperator))).expect("open");
    let one = 1u64.to_le_bytes();
    db.merge(b"fresh", &one).expect("merge");
    assert_eq!(counter(&db, b"fresh"), Some(1), "merge with no value below counts from 0");
    db.put(b"hits", &10u64.to_le_bytes()).expect("put");
    for _ in 0..5 {
        db.merge(b"hits", &one).expect("merge");
    }
    assert_eq!(counter(&db, b"hits"), Some(15), "operands in the memtable over a value there");
    db.flush(Default::default()).expect("flush");
    assert_eq!(counter(&db, b"hits"), Some(15), "operands and value in a table");
    db.merge(b"hits", &100u64.to_le_bytes()).expect("merge");
    assert_eq!(counter(&db, b"hits"), Some(115), "operand in the memtable over a table chain");
    db.flush(Default::default()).expect("flush");
    db.merge(b"hits", &one).expect("merge");
    db.compact_range(None, None).expect("compact");
    assert_eq!(counter(&db, b"hits"), Some(116), "after a full compaction");
    assert_eq!(
        table_entries(&db, &fs, b"hits"),
        (1, 0, 0),
        "the compaction collapsed the chain to one value"
    );
    db.delete(b"hits").expect("delete");
    db.merge(b"hits", &7u64.to_le_bytes()).expect("merge");
    assert_eq!(counter(&db, b"hits"), Some(7), "a deletion ends the chain");
    db.flush(Default::default()).expect("flush");
    assert_eq!(counter(&db, b"hits"), Some(7), "deletion under the operand in tables");
    assert_eq!(counter(&db, b"fresh"), Some(1));

    // A malformed operand is corruption for the reader, not a panic.
    db.merge(b"bad", b"xyz").expect("merge");
    assert!(db.get(b"bad").unwrap_err().is_corruption());
}

#[test]
fn operands_survive_reopen_through_the_wal_and_tables() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), merge_options(fs.clone(), append())).expect("open");
    db.put(b"k", b"a").expect("put");
    db.merge(b"k", b"b").expect("merge");
    db.flush(Default::default()).expect("flush");
    let mut batch = WriteBatch::new();
    batch.merge(b"k", b"c");
    batch.merge(b"other", b"x");
    batch.delete(b"gone");
    db.write(Default::default(), batch).expect("write batch");
    drop(db);
    let db = Db::open(dir(), merge_options(fs, append())).expect("reopen");
    assert_eq!(get(&db, b"k").as_deref(), Some(&b"a,b,c"[..]));
    assert_eq!(get(&db, b"other").as_deref(), Some(&b"x"[..]));
}

#[test]
fn updates_since_shows_merge_records_as_such() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), merge_options(fs, append())).expect("open");
    db.put(b"k", b"a").expect("put");
    db.merge(b"k", b"b").expect("merge");
    let ops: Vec<_> = db.updates_since(0).expect("updates_since").map(|op| op.expect("op")).collect();
    let kinds: Vec<_> = ops.iter().map(|op| (op.kind, &op.key[..], &op.value[..])).collect();
    assert_eq!(kinds, [(ValueKind::Value, &b"k"[..], &b"a"[..]), (ValueKind::Merge, &b"k"[..], &b"b"[..])]);
}

#[test]
fn iterators_merge_in_both_directions_and_when_turning() {
    let fs = Arc::new(MemFs::new());
    let db = Db::open(dir(), merge_options(fs.clone(), append())).expect("open");
    db.put(b"a", b"1").expect("put");
    db.merge(b"b", b"x").expect("merge");
    db.put(b"c", b"3").expect("put");
    db.merge(b"c", b"4").expect("merge");
    db.flush(Default::default()).expect("flush");
    db.merge(b"b", b"y").expect("merge");
    db.merge(b"c", b"5").expect("merge");
    db.delete(b"a").expect("delete");
    db.merge(b"a", b"new").expect("merge");
    db.put(b"d", b"4").expect("put");
    let expected: Model = [
        (b"a".to_vec(), b"new".to_vec()),
        (b"b".to_vec(), b"x,y".to_vec()),
        (b"c".to_vec(), b"3,4,5".to_vec()),
        (b"d".to_vec(), b"4".to_vec()),
    ]
    .into_iter()
    .collect();
    let forward = read_forward(&db, ReadOptions::new()).expect("forward");
    assert_eq!(first_difference(&forward, &expected), None);
    let backward = read_backward(&db, ReadOptions::new()).expect("backward");
    assert_eq!(backward, expected.clone().into_iter().collect::<Vec<_>>());

    // Turning around on and next to merged keys.
    let mut it = db.iter(ReadOptions::new());
    it.seek(b"b");
    assert_eq!((it.key(), it.value()), (&b"b"[..], &b"x,y"[..]));
    it.next();
    assert_eq!((it.key(), it.value()), (&b"c"[..], &b"3,4,5"[..]));
    it.prev();
    assert_eq!((it.key(), it.value()), (&b"b"[..], &b"x,y"[..]));
    it.prev();
    assert_eq!((it.key(), it.value()), (&b"a"[..], &b"new"[..]));
    it.next();
    assert_eq!(
        (it.key(), it.value_bytes().as_ref(), it.key_bytes().as_ref()),
        (&b"b"[..], &b"x,y"[..], &b"b"[..])
    );
    it.next();
    it.next();
    assert_eq!(it.key(), b"d");
    it.prev();
    assert_eq!((it.key(), it.value()), (&b"c"[..], &b"3,4,5"[..]));
    it.seek_to_last();
    it.prev();
    it.prev();
    it.next();
    assert_eq!((it.key(), it.value()), (&b"c"[..], &b"3,4,5"[..]));
    it.seek(b"c");
    it.next();
    it.next();
    assert!(!it.valid());
    it.status().expect("status");
    // The last key merged, then prev from the end.
    db.merge(b"d", b"5").expect("merge");
    let mut it = db.iter(ReadOptions::new());
    it.seek(b"d");
    assert_eq!(it.value(), b"4,5");
    it.prev();
    assert_eq!((it.key(), it.value()), (&b"c"[..], &b"3,4,5"[..]));
    let range: Vec<_> = db
        .range::<&[u8]>(..)
        .rev()
        .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<Result<_, _>>()
        .expect("range");
    assert_eq!(range[0], (b"d".to_vec(), b"4,5".to_vec()));
}

#[test]
fn snapshots_keep_their_view_while_compactions_combine_operands() {
    let fs = Arc::new(MemFs::new());
    let db = Db::open(dir(), merge_options(fs.clone(), Arc::new(U64AddOperator))).expect("open");
    let add = |n: u64| n.to_le_bytes();
    db.merge(b"k", &add(1)).expect("merge");
    db.merge(b"k", &add(2)).expect("merge");
    let at_3 = db.snapshot();
    db.merge(b"k", &add(4)).expect("merge");
    // Two tables, so that the compaction below is not a trivial move.
    db.flush(Default::default()).expect("flush");
    db.merge(b"k", &add(8)).expect("merge");
    let at_15 = db.snapshot();
    db.merge(b"k", &add(16)).expect("merge");
    db.compact_range(None, None).expect("compact");
    let read_at = |snapshot: &lsmkit::Snapshot| {
        let options = ReadOptions { snapshot: Some(snapshot.clone()), ..ReadOptions::new() };
        let value = db.get_opt(&options, b"k").expect("get").expect("present");
        let forward = read_forward(&db, options.clone()).expect("forward");
        let backward = read_backward(&db, options).expect("backward");
        assert_eq!(forward.get(&b"k"[..]), Some(&value.to_vec()));
        assert_eq!(backward, vec![(b"k".to_vec(), value.to_vec())]);
        u64::from_le_bytes(value[..].try_into().expect("8 bytes"))
    };
    assert_eq!((read_at(&at_3), read_at(&at_15), counter(&db, b"k")), (3, 15, Some(31)));
    // One entry per snapshot stripe: the bottom one merged fully (no level below), the others partially.
    assert_eq!(table_entries(&db, &fs, b"k"), (1, 0, 2));
    drop((at_3, at_15));
    db.merge(b"k", &add(32)).expect("merge");
    db.compact_range(None, None).expect("compact again");
    assert_eq!(table_entries(&db, &fs, b"k"), (1, 0, 0));
    assert_eq!(counter(&db, b"k"), Some(63));
}

#[test]
fn a_get_that_merges_a_long_chain_writes_the_value_back() {
    let fs = Arc::new(MemFs::new());
    let options =
        Options { max_merge_chain_length: 8, ..merge_options(fs.clone(), Arc::new(U64AddOperator)) };
    let db = Db::open(dir(), options).expect("open");
    for i in 0..8u64 {
        db.merge(b"short", &i.to_le_bytes()).expect("merge");
    }
    for i in 0..20u64 {
        db.merge(b"long", &i.to_le_bytes()).expect("merge");
    }
    let before = db.snapshot().sequence();
    assert_eq!(counter(&db, b"short"), Some(28));
    assert_eq!(db.snapshot().sequence(), before, "a chain at the limit is not written back");
    let snapshot = db.snapshot();
    let options = ReadOptions { snapshot: Some(snapshot.clone()), ..ReadOptions::new() };
    assert_eq!(db.get_opt(&options, b"long").expect("get").map(|v| v.len()), Some(8));
    assert_eq!(db.snapshot().sequence(), before, "a snapshot read writes nothing back");
    assert_eq!(counter(&db, b"long"), Some(190));
    assert_eq!(db.snapshot().sequence(), before + 1, "the merged value was written back");
    assert_eq!(counter(&db, b"long"), Some(190));
    assert_eq!(db.snapshot().sequence(), before + 1, "the next get stops at the written-back value");
    db.merge(b"long", &10u64.to_le_bytes()).expect("merge");
    assert_eq!(counter(&db, b"long"), Some(200));
    // The write-back is an ordinary logged put: it survives reopening, and
    // the snapshot still reads the chain as it was.
    let at_snapshot = db.get_opt(&options, b"long").expect("get").expect("value");
    assert_eq!(u64::from_le_bytes(at_snapshot[..].try_into().expect("8 bytes")), 190);
    db.flush(Default::default()).expect("flush");
    assert_eq!(
        table_entries(&db, &fs, b"long"),
        (2, 0, 0),
        "the flush merged the operand over the put into one value, and the 20 operands the snapshot \
         sees into another"
    );
    let at_snapshot = db.get_opt(&options, b"long").expect("get").expect("value");
    assert_eq!(u64::from_le_bytes(at_snapshot[..].try_into().expect("8 bytes")), 190);
    assert_eq!(counter(&db, b"long"), Some(200));
}

/// Options for watching what flushes write: no write-back of long chains
/// (reads would add puts) and no automatic compaction of the few tables
/// the tests write.
fn flush_options(fs: Arc<dyn FileSystem>, operator: Arc<dyn MergeOperator>) -> Options {
    Options { max_merge_chain_length: 0, l0_compaction_trigger: 10, ..merge_options(fs, operator) }
}

#[test]
fn flushes_combine_operands_within_snapshot_stripes() {
    let fs = Arc::new(MemFs::new());
    let db = Db::open(dir(), flush_options(fs.clone(), Arc::new(U64AddOperator))).expect("open");
    let one = 1u64.to_le_bytes();
    for _ in 0..1000 {
        db.merge(b"n", &one).expect("merge");
    }
    db.flush(Default::default()).expect("flush");
    assert_eq!(
        table_entries(&db, &fs, b"n"),
        (1, 0, 0),
        "no table held n: the 1000 operands became one value"
    );
    assert_eq!(counter(&db, b"n"), Some(1000));

    // Over a table holding the key, the chain stays an operand; a snapshot
    // in the middle splits it in two.
    for _ in 0..500 {
        db.merge(b"n", &one).expect("merge");
    }
    let snapshot = db.snapshot();
    for _ in 0..500 {
        db.merge(b"n", &one).expect("merge");
    }
    db.flush(Default::default()).expect("flush");
    assert_eq!(
        table_entries(&db, &fs, b"n"),
        (1, 0, 2),
        "one operand per stripe above the first table's value"
    );
    let at_snapshot = ReadOptions { snapshot: Some(snapshot.clone()), ..ReadOptions::new() };
    let value = db.get_opt(&at_snapshot, b"n").expect("get").expect("value");
    assert_eq!(u64::from_le_bytes(value[..].try_into().expect("8 bytes")), 1500);
    assert_eq!(counter(&db, b"n"), Some(2000));
    assert_eq!(read_forward(&db, at_snapshot).expect("scan").get(&b"n"[..]), Some(&value.to_vec()));

    // A value or a deletion below the operands in the same memtable and
    // stripe: one value.
    db.put(b"v", &10u64.to_le_bytes()).expect("put");
    db.delete(b"d").expect("delete");
    for _ in 0..3 {
        db.merge(b"v", &one).expect("merge");
        db.merge(b"d", &one).expect("merge");
    }
    db.flush(Default::default()).expect("flush");
    assert_eq!(table_entries(&db, &fs, b"v"), (1, 0, 0));
    assert_eq!(table_entries(&db, &fs, b"d"), (1, 0, 0));
    assert_eq!((counter(&db, b"v"), counter(&db, b"d")), (Some(13), Some(3)));
    drop(snapshot);

    // Recovery flushes the memtable it replays the same way: "z" is in no
    // table's key range, so its chain becomes a value; "r" falls inside
    // the range of the table holding "d" and "v", so its chain stays an
    // operand (the flush cannot tell that the table does not hold "r").
    for _ in 0..100 {
        db.merge(b"z", &one).expect("merge");
        db.merge(b"r", &one).expect("merge");
    }
    drop(db);
    let db = Db::open(dir(), flush_options(fs.clone(), Arc::new(U64AddOperator))).expect("reopen");
    assert_eq!(table_entries(&db, &fs, b"z"), (1, 0, 0));
    assert_eq!(table_entries(&db, &fs, b"r"), (0, 0, 1));
    assert_eq!((counter(&db, b"z"), counter(&db, b"r")), (Some(100), Some(100)));
    assert_eq!(counter(&db, b"n"), Some(2000));
}

#[test]
fn flushes_keep_operands_an_operator_cannot_combine() {
    let fs = Arc::new(MemFs::new());
    let db = Db::open(dir(), flush_options(fs.clone(), Arc::new(ListOperator))).expect("open");
    db.put(b"k", b"[").expect("put");
    db.flush(Default::default()).expect("flush");
    for part in [&b"a"[..], b"b", b"c"] {
        db.merge(b"k", part).expect("merge");
    }
    db.flush(Default::default()).expect("flush");
    assert_eq!(table_entries(&db, &fs, b"k"), (1, 0, 3), "no partial merge: the operands stay apart");
    db.merge(b"k", b"d").expect("merge");
    db.put(b"j", b"[x").expect("put");
    db.merge(b"j", b"y").expect("merge");
    db.flush(Default::default()).expect("flush");
    assert_eq!(
        table_entries(&db, &fs, b"j"),
        (1, 0, 0),
        "over a value, the full merge needs no partial merge"
    );
    assert_eq!(get(&db, b"k").as_deref(), Some(&b"[abcd"[..]));
    assert_eq!(get(&db, b"j").as_deref(), Some(&b"[xy"[..]));
}

/// An operator without partial merge: compactions above a snapshot keep
/// the operands apart and the result is still right.
struct ListOperator;

impl MergeOperator for ListOperator {
    fn name(&self) -> &str {
        "test.List"
    }

    fn full_merge(&self, _key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Option<Vec<u8>> {
        let mut out = existing.map_or_else(|| b"[".to_vec(), <[u8]>::to_vec);
        for op in operands {
            out.extend_from_slice(op);
        }
        Some(out)
    }
}

#[test]
fn operators_without_partial_merge_keep_operands_apart() {
    let fs = Arc::new(MemFs::new());
    let db = Db::open(dir(), merge_options(fs.clone(), Arc::new(ListOperator))).expect("open");
    db.merge(b"k", b"a").expect("merge");
    let snapshot = db.snapshot();
    db.merge(b"k", b"b").expect("merge");
    db.flush(Default::default()).expect("flush");
    db.merge(b"k", b"c").expect("merge");
    db.compact_range(None, None).expect("compact");
    assert_eq!(table_entries(&db, &fs, b"k"), (1, 0, 2));
    assert_eq!(get(&db, b"k").as_deref(), Some(&b"[abc"[..]));
    let options = ReadOptions { snapshot: Some(snapshot), ..ReadOptions::new() };
    assert_eq!(db.get_opt(&options, b"k").expect("get").as_deref(), Some(&b"[a"[..]));
}

fn invalid_argument(result: lsmkit::Result<Db>) -> String {
    match result {
        Err(Error::InvalidArgument(message)) => message,
        Err(other) => panic!("expected InvalidArgument, got {other}"),
        Ok(_) => panic!("expected InvalidArgument, the database opened"),
    }
}

#[test]
fn the_mark_keeps_other_openers_away_and_plain_databases_stay_plain() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), merge_options(fs.clone(), Arc::new(MaxOperator))).expect("create");
    db.merge(b"k", b"v").expect("merge");
    drop(db);
    let message = invalid_argument(Db::open(dir(), small_options(fs.clone(), false)));
    assert!(message.contains("lsmkit.merge.leveldb.BytewiseComparator"), "{message}");
    let db = Db::open(dir(), merge_options(fs.clone(), Arc::new(MaxOperator))).expect("reopen");
    assert_eq!(get(&db, b"k").as_deref(), Some(&b"v"[..]));
    drop(db);

    let plain = Path::new("/plain");
    let options = Options { ..small_options(fs.clone(), false) };
    let db = Db::open(plain, options.clone()).expect("create plain");
    let refused = db.merge(b"k", b"v").unwrap_err();
    assert!(matches!(refused, Error::InvalidArgument(_)), "{refused}");
    let mut batch = WriteBatch::new();
    batch.put(b"a", b"1");
    batch.merge(b"k", b"v");
    assert!(matches!(db.write(Default::default(), batch), Err(Error::InvalidArgument(_))));
    assert_eq!(db.get(b"a").expect("get"), None, "the refused batch wrote nothing");
    drop(db);
    let with_operator = Options { merge_operator: Some(append()), ..options };
    let message = invalid_argument(Db::open(plain, with_operator));
    assert!(message.contains("lsmkit.merge.leveldb.BytewiseComparator"), "{message}");

    let both = Options { enable_ttl: true, ..merge_options(fs, append()) };
    let message = invalid_argument(Db::open("/both", both));
    assert!(message.contains("cannot be combined"), "{message}");
}

#[test]
fn leveldb_refuses_a_database_with_a_merge_operator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        create_if_missing: true,
        merge_operator: Some(Arc::new(U64AddOperator)),
        ..Options::default()
    };
    let db = Db::open(dir.path(), options.clone()).expect("create");
    db.merge(b"n", &5u64.to_le_bytes()).expect("merge");
    db.flush(Default::default()).expect("flush");
    db.merge(b"n", &5u64.to_le_bytes()).expect("merge");
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
        "Invalid argument: lsmkit.merge.leveldb.BytewiseComparator does not match existing comparator : \
         leveldb.BytewiseComparator"
    );
    let db = Db::open(dir.path(), options).expect("reopen");
    assert_eq!(counter(&db, b"n"), Some(10));
}

// ----- model test ---------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    Merge(u8, u8),
    Snapshot,
    ReleaseSnapshot,
    Flush,
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        1 => (0u8..6).prop_map(Op::Delete),
        6 => (0u8..6, any::<u8>()).prop_map(|(k, v)| Op::Merge(k, v)),
        1 => Just(Op::Snapshot),
        1 => Just(Op::ReleaseSnapshot),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

fn key(k: u8) -> Vec<u8> {
    format!("key{k}").into_bytes()
}

/// Checks gets and both scans of `db` at `snapshot` (or now) against `model`.
fn check(db: &Db, snapshot: Option<lsmkit::Snapshot>, model: &Model, what: &str) {
    let options = ReadOptions { snapshot, ..ReadOptions::new() };
    assert_reads_match(db, &options, (0..6).map(key), model, what);
}

/// String append with "," and no partial merge: flushes and compactions
/// can only merge its chains fully, over a value, a deletion or nothing.
struct AppendWithoutPartialMerge(StringAppendOperator);

impl MergeOperator for AppendWithoutPartialMerge {
    fn name(&self) -> &str {
        "test.AppendWithoutPartialMerge"
    }

    fn full_merge(&self, key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Option<Vec<u8>> {
        self.0.full_merge(key, existing, operands)
    }
}

/// The operator and chain limit of a model run: 0 appends with partial
/// merge and writes chains longer than 2 back; 1 writes nothing back, so
/// that flushes meet long chains; 2 is 1 without partial merge.
fn model_options(fs: &Arc<dyn FileSystem>, variant: u8) -> Options {
    let operator: Arc<dyn MergeOperator> = match variant {
        2 => Arc::new(AppendWithoutPartialMerge(StringAppendOperator::new(b","))),
        _ => append(),
    };
    let max_merge_chain_length = if variant == 0 { 2 } else { 0 };
    Options { max_merge_chain_length, ..merge_options(fs.clone(), operator) }
}

fn run_model(ops: &[Op], variant: u8) {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let options = || model_options(&fs, variant);
    let mut db = Db::open(dir(), options()).expect("open");
    let mut model = Model::new();
    let mut snapshots: Vec<(lsmkit::Snapshot, Model)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Put(k, v) => {
                db.put(&key(*k), &[*v]).expect("put");
                model.insert(key(*k), vec![*v]);
            }
            Op::Delete(k) => {
                db.delete(&key(*k)).expect("delete");
                model.remove(&key(*k));
            }
            Op::Merge(k, v) => {
                db.merge(&key(*k), &[*v]).expect("merge");
                let merged = match model.get(&key(*k)) {
                    Some(old) => [&old[..], b",", &[*v]].concat(),
                    None => vec![*v],
                };
                model.insert(key(*k), merged);
            }
            Op::Snapshot => snapshots.push((db.snapshot(), model.clone())),
            Op::ReleaseSnapshot => {
                if !snapshots.is_empty() {
                    snapshots.remove(step % snapshots.len());
                }
            }
            Op::Flush => db.flush(Default::default()).expect("flush"),
            Op::Compact => db.compact_range(None, None).expect("compact"),
            Op::Reopen => {
                snapshots.clear();
                drop(db);
                db = Db::open(dir(), options()).expect("reopen");
            }
        }
        check(&db, None, &model, &format!("step {step} {op:?}"));
        if matches!(op, Op::Flush | Op::Compact) {
            // What each snapshot sees must survive every flush and compaction.
            for (i, (snapshot, seen)) in snapshots.iter().enumerate() {
                check(&db, Some(snapshot.clone()), seen, &format!("step {step} {op:?}, snapshot {i}"));
            }
        }
    }
    for (i, (snapshot, seen)) in snapshots.iter().enumerate() {
        check(&db, Some(snapshot.clone()), seen, &format!("snapshot {i}"));
    }
    db.compact_range(None, None).expect("final compaction");
    check(&db, None, &model, "after the final compaction");
    for (i, (snapshot, seen)) in snapshots.iter().enumerate() {
        check(&db, Some(snapshot.clone()), seen, &format!("snapshot {i} after the final compaction"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn matches_a_model_with_snapshots_flushes_compactions_and_reopens(
        ops in prop::collection::vec(op(), 1..60),
        variant in 0u8..3,
    ) {
        run_model(&ops, variant);
    }
}

/// A case the model test might take long to find: flushes of chains split
/// by several snapshots, over values, deletions and older tables.
#[test]
fn model_flushes_chains_split_by_snapshots() {
    use Op::*;
    let ops = [
        Put(1, b'a'),
        Flush,
        Merge(1, b'b'),
        Merge(2, b'x'),
        Snapshot,
        Merge(1, b'c'),
        Merge(2, b'y'),
        Delete(3),
        Merge(3, b'p'),
        Snapshot,
        Merge(1, b'd'),
        Merge(3, b'q'),
        Put(4, b'v'),
        Merge(4, b'w'),
        Merge(4, b'z'),
        Flush,
        Merge(1, b'e'),
        Snapshot,
        Merge(1, b'f'),
        Reopen,
        Merge(2, b'z'),
        Flush,
        Compact,
    ];
    for variant in 0..3 {
        run_model(&ops, variant);
    }
}

#[test]
fn repair_and_checkpoint_carry_operands_and_keep_the_mark() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let options = merge_options(fs.clone(), append());
    let db = Db::open(dir(), options.clone()).expect("open");
    db.put(b"k", b"a").expect("put");
    db.merge(b"k", b"b").expect("merge");
    db.flush(Default::default()).expect("flush");
    db.merge(b"k", b"c").expect("merge in the WAL");
    db.checkpoint("/copy").expect("checkpoint");
    drop(db);
    let copy = Db::open("/copy", options.clone()).expect("open the checkpoint");
    assert_eq!(get(&copy, b"k").as_deref(), Some(&b"a,b,c"[..]));
    drop(copy);

    let refused = Db::repair(dir(), &small_options(fs.clone(), false)).unwrap_err();
    assert!(refused.to_string().contains("repair it with Options::merge_operator"), "{refused}");
    Db::repair(dir(), &options).expect("repair");
    let db = Db::open(dir(), options).expect("open after repair");
    assert_eq!(get(&db, b"k").as_deref(), Some(&b"a,b,c"[..]));
}
