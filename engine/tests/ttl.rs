//! Entry expiry (TTL): expired entries vanish from gets, iterators and
//! ranges as soon as the (injected) clock reaches their expiry time,
//! compactions remove them, expiry times survive reopening, and the
//! database marking keeps LevelDB 1.23 (through python3-plyvel, driven by
//! interop/ttl_leveldb.py via /usr/bin/python3) and lsmkit without
//! `enable_ttl` from opening a database that uses the extension
//! (`docs/format-extensions.md`, "Entry expiry (TTL)").

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::cmp::Ordering as KeyOrdering;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lsmkit::{Clock, Db, Error, Options, ReadOptions, WriteBatch};
use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::fs::{FileSystem, MemFs};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{parse_internal_key, ValueKind};
use lsmkit_sstable::{Table, TableOptions};
use proptest::prelude::*;

use common::{first_difference, read_backward, read_forward, small_options, Model, TestRng};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/ttl_leveldb.py");

/// What LevelDB 1.23 says when asked to open a database with entry expiry
/// (its default bytewise comparator against the mark in the MANIFEST).
const LEVELDB_REFUSAL: &str = "Invalid argument: lsmkit.ttl.leveldb.BytewiseComparator does not match \
                               existing comparator : leveldb.BytewiseComparator";

/// The clock's reading when a test starts (milliseconds since the epoch).
const START: u64 = 1_700_000_000_000;

/// A clock the test moves by hand.
fn test_clock() -> (Arc<AtomicU64>, Clock) {
    let now = Arc::new(AtomicU64::new(START));
    let reader = Arc::clone(&now);
    (now, Arc::new(move || reader.load(Ordering::SeqCst)))
}

fn ttl_options(fs: Arc<dyn FileSystem>, clock: &Clock) -> Options {
    Options { enable_ttl: true, clock: Some(Arc::clone(clock)), ..small_options(fs, false) }
}

fn dir() -> &'static Path {
    Path::new("/db")
}

/// Checks every way of reading `db` against `expected` (sorted by key),
/// for the keys in `probe`.
fn check_view(db: &Db, expected: &[(&[u8], &[u8])], probe: &[&[u8]], what: &str) {
    let model: Model = expected.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
    for key in probe {
        let got = db.get(key).unwrap_or_else(|e| panic!("{what}: get: {e}"));
        assert_eq!(got.as_deref(), model.get(*key).map(Vec::as_slice), "{what}: get {}", common::show(key));
    }
    let forward = read_forward(db, ReadOptions::new()).unwrap_or_else(|e| panic!("{what}: forward: {e}"));
    assert_eq!(first_difference(&forward, &model), None, "{what}: forward scan");
    let backward = read_backward(db, ReadOptions::new()).unwrap_or_else(|e| panic!("{what}: backward: {e}"));
    let model_entries: Vec<_> = model.clone().into_iter().collect();
    assert_eq!(backward, model_entries, "{what}: backward scan");

    let range: Vec<_> = db
        .range(&b"a"[..]..&b"zz"[..])
        .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<lsmkit::Result<_>>()
        .unwrap_or_else(|e| panic!("{what}: range: {e}"));
    assert_eq!(range, model_entries, "{what}: range");
    let mut range_back: Vec<_> = db
        .range::<&[u8]>(..)
        .rev()
        .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<lsmkit::Result<_>>()
        .unwrap_or_else(|e| panic!("{what}: range from the back: {e}"));
    range_back.reverse();
    assert_eq!(range_back, model_entries, "{what}: range from the back");
    let with_prefix_a: Vec<_> = db
        .prefix(b"a")
        .map(|e| e.map(|(k, _)| k.to_vec()))
        .collect::<lsmkit::Result<_>>()
        .unwrap_or_else(|e| panic!("{what}: prefix: {e}"));
    let model_prefix_a: Vec<_> = model.keys().filter(|k| k.starts_with(b"a")).cloned().collect();
    assert_eq!(with_prefix_a, model_prefix_a, "{what}: prefix");
}

#[test]
fn expired_entries_vanish_at_once_from_gets_iterators_and_ranges() {
    for flushed in [false, true] {
        let where_ = if flushed { "tables" } else { "memtable" };
        let (now, clock) = test_clock();
        let db = Db::open(dir(), ttl_options(Arc::new(MemFs::new()), &clock)).expect("open");
        db.put(b"a", b"old a").expect("put"); // must not come back when the newer value expires
        db.put_with_ttl(b"a", b"short", Duration::from_secs(10)).expect("put_with_ttl");
        db.put(b"b", b"forever").expect("put");
        db.put_with_ttl(b"c", b"long", Duration::from_secs(60)).expect("put_with_ttl");
        let mut batch = WriteBatch::new();
        batch.put(b"d", b"batch plain");
        batch.put_with_expiry(b"e", b"batch ttl", START + 10_000);
        batch.delete(b"zz");
        db.write(Default::default(), batch).expect("write");
        if flushed {
            db.flush(Default::default()).expect("flush");
        }
        let probe: [&[u8]; 6] = [b"a", b"b", b"c", b"d", b"e", b"zz"];

        let all: [(&[u8], &[u8]); 5] = [
            (b"a", b"short"),
            (b"b", b"forever"),
            (b"c", b"long"),
            (b"d", b"batch plain"),
            (b"e", b"batch ttl"),
        ];
        check_view(&db, &all, &probe, &format!("{where_}, at the start"));
        now.store(START + 9_999, Ordering::SeqCst);
        check_view(&db, &all, &probe, &format!("{where_}, 1 ms before expiry"));

        // An iterator judges expiry when it is created.
        let mut older_iterator = db.iter(ReadOptions::new());
        now.store(START + 10_000, Ordering::SeqCst);
        let after_ten_seconds: [(&[u8], &[u8]); 3] =
            [(b"b", b"forever"), (b"c", b"long"), (b"d", b"batch plain")];
        check_view(&db, &after_ten_seconds, &probe, &format!("{where_}, at the expiry of a and e"));
        older_iterator.seek(b"a");
        assert_eq!((older_iterator.key(), older_iterator.value()), (&b"a"[..], &b"short"[..]));

        now.store(START + 3_600_000, Ordering::SeqCst);
        let after_an_hour: [(&[u8], &[u8]); 2] = [(b"b", b"forever"), (b"d", b"batch plain")];
        check_view(&db, &after_an_hour, &probe, &format!("{where_}, an hour later"));

        // Writing the key again brings it back, with its new value only.
        db.put(b"a", b"new a").expect("put");
        assert_eq!(db.get(b"a").expect("get").as_deref(), Some(&b"new a"[..]));
    }
}

/// The numbers of the tables in the database's current Version, from the
/// `lsmkit.sstables` property (one line `number:size[smallest .. largest]`
/// per table). Obsolete tables may stay on disk a while, so scans of the
/// directory would count them too.
fn live_tables(db: &Db) -> Vec<u64> {
    let listing = db.property("lsmkit.sstables").expect("lsmkit.sstables property");
    let tables: Vec<u64> = listing
        .lines()
        .filter_map(|line| line.trim().split_once(':'))
        .filter_map(|(number, _)| number.parse().ok())
        .collect();
    assert!(!tables.is_empty(), "no table in {listing}");
    tables
}

/// Counts the values and deletion markers whose user key starts with
/// `prefix` in every live table of `db` (in `dir` on `fs`), read raw.
fn count_table_entries(db: &Db, fs: &Arc<MemFs>, dir: &Path, prefix: &[u8]) -> (usize, usize) {
    let (mut values, mut deletions) = (0, 0);
    for number in live_tables(db) {
        let path = lsmkit_base::filename::table_file_name(dir, number);
        let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
        let table = Arc::new(Table::open_path(&**fs, &path, options).expect("open table"));
        let mut it = table.iter(Default::default());
        it.seek_to_first();
        while it.valid() {
            let entry = parse_internal_key(it.key()).expect("internal key");
            if entry.user_key.starts_with(prefix) {
                match entry.kind {
                    ValueKind::Value => values += 1,
                    ValueKind::Deletion => deletions += 1,
                    ValueKind::Merge => panic!("a merge operand in a TTL database"),
                    ValueKind::RangeDeletion => panic!("a range tombstone among a table's entries"),
                }
            }
            it.next();
        }
        it.status().expect("table scan");
    }
    (values, deletions)
}

#[test]
fn compaction_removes_expired_entries() {
    let fs = Arc::new(MemFs::new());
    let (now, clock) = test_clock();
    let db = Db::open(dir(), ttl_options(fs.clone(), &clock)).expect("open");
    let mut rng = TestRng::new(7);
    let value = |rng: &mut TestRng| (0..100).map(|_| rng.below(256) as u8).collect::<Vec<u8>>();
    for i in 0..2000 {
        db.put_with_ttl(format!("t/{i:04}").as_bytes(), &value(&mut rng), Duration::from_secs(10))
            .expect("put");
    }
    for i in 0..200 {
        db.put(format!("p/{i:04}").as_bytes(), &value(&mut rng)).expect("put");
    }
    db.compact_range(None, None).expect("compact");
    assert_eq!(count_table_entries(&db, &fs, dir(), b"t/"), (2000, 0), "before expiry");
    let size_before = db.approximate_sizes(&[(b"t/", b"t/~")])[0];
    assert!(size_before > 150_000, "2000 incompressible 100-byte values take {size_before} bytes");

    now.store(START + 10_000, Ordering::SeqCst);
    // Invisible at once, long before any compaction.
    assert_eq!(db.get(b"t/0000").expect("get"), None);
    assert_eq!(db.prefix(b"t/").count(), 0);
    assert_eq!(db.prefix(b"p/").count(), 200);

    // A table spanning every key makes the compaction rewrite every table.
    db.put(b"a", b"first").expect("put");
    db.put(b"z", b"last").expect("put");
    db.compact_range(None, None).expect("compact");
    assert_eq!(count_table_entries(&db, &fs, dir(), b"t/"), (0, 0), "after expiry and compaction");
    assert_eq!(count_table_entries(&db, &fs, dir(), b"p/"), (200, 0), "entries without expiry stay");
    let size_after = db.approximate_sizes(&[(b"t/", b"t/~")])[0];
    assert!(
        size_after < size_before / 10,
        "expired range shrank from {size_before} to only {size_after} bytes"
    );
    assert_eq!(db.prefix(b"p/").count(), 200);
    assert_eq!(db.get(b"z").expect("get").as_deref(), Some(&b"last"[..]));
}

#[test]
fn compaction_keeps_entries_a_snapshot_sees_until_it_is_released() {
    let fs = Arc::new(MemFs::new());
    let (now, clock) = test_clock();
    let db = Db::open(dir(), ttl_options(fs.clone(), &clock)).expect("open");
    db.put(b"k", b"old").expect("put");
    db.put_with_ttl(b"k", b"new", Duration::from_secs(1)).expect("put_with_ttl");
    let snapshot = db.snapshot();
    now.store(START + 1_000, Ordering::SeqCst);
    db.put(b"a", b"x").expect("put");
    db.put(b"z", b"x").expect("put");
    db.compact_range(None, None).expect("compact");
    // The snapshot sees the expired value: compaction leaves it, and reads
    // (which judge expiry by the clock) hide it without the older value.
    assert_eq!(count_table_entries(&db, &fs, dir(), b"k").0, 2);
    let at_snapshot = ReadOptions { snapshot: Some(snapshot.clone()), ..ReadOptions::new() };
    assert_eq!(db.get_opt(&at_snapshot, b"k").expect("get"), None);
    assert_eq!(db.get(b"k").expect("get"), None);
    drop(at_snapshot);
    drop(snapshot);
    db.put(b"a", b"y").expect("put");
    db.put(b"z", b"y").expect("put");
    db.compact_range(None, None).expect("compact");
    assert_eq!(count_table_entries(&db, &fs, dir(), b"k"), (0, 0));
    assert_eq!(db.get(b"k").expect("get"), None);
}

#[test]
fn expiry_survives_reopen() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let (now, clock) = test_clock();
    let reopen = || Db::open(dir(), ttl_options(fs.clone(), &clock)).expect("open");
    let db = reopen();
    db.put_with_ttl(b"a", b"ten seconds", Duration::from_secs(10)).expect("put_with_ttl");
    db.put(b"b", b"forever").expect("put");
    let mut batch = WriteBatch::new();
    batch.put_with_expiry(b"c", b"twenty seconds", START + 20_000);
    db.write(Default::default(), batch).expect("write");
    drop(db);

    let probe: [&[u8]; 3] = [b"a", b"b", b"c"];
    let all: [(&[u8], &[u8]); 3] = [(b"a", b"ten seconds"), (b"b", b"forever"), (b"c", b"twenty seconds")];
    let db = reopen();
    check_view(&db, &all, &probe, "recovered from the WAL");
    db.flush(Default::default()).expect("flush");
    drop(db);
    let db = reopen();
    check_view(&db, &all, &probe, "reopened from tables");
    drop(db);

    now.store(START + 10_000, Ordering::SeqCst);
    let db = reopen();
    check_view(&db, &[(b"b", b"forever"), (b"c", b"twenty seconds")], &probe, "reopened after 10 s");
    drop(db);
    now.store(START + 20_000, Ordering::SeqCst);
    let db = reopen();
    check_view(&db, &[(b"b", b"forever")], &probe, "reopened after 20 s");
}

fn invalid_argument_message(result: lsmkit::Result<Db>) -> String {
    match result {
        Err(Error::InvalidArgument(message)) => message,
        Err(other) => panic!("expected InvalidArgument, got {other}"),
        Ok(_) => panic!("expected InvalidArgument, the database opened"),
    }
}

#[test]
fn lsmkit_without_ttl_refuses_a_ttl_database() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let (_now, clock) = test_clock();
    let db = Db::open(dir(), ttl_options(fs.clone(), &clock)).expect("create");
    db.put_with_ttl(b"k", b"v", Duration::from_secs(60)).expect("put_with_ttl");
    drop(db);

    let message = invalid_argument_message(Db::open(dir(), small_options(fs.clone(), false)));
    assert!(
        message.starts_with(
            "lsmkit.ttl.leveldb.BytewiseComparator does not match existing comparator leveldb.BytewiseComparator"
        ),
        "{message}"
    );
    // Refusing changed nothing.
    let db = Db::open(dir(), ttl_options(fs, &clock)).expect("reopen with TTL");
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
}

#[test]
fn ttl_cannot_be_enabled_on_a_database_created_without_it() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let (_now, clock) = test_clock();
    let db = Db::open(dir(), small_options(fs.clone(), false)).expect("create");
    db.put(b"k", b"v").expect("put");
    drop(db);

    let message = invalid_argument_message(Db::open(dir(), ttl_options(fs.clone(), &clock)));
    assert!(
        message.starts_with(
            "leveldb.BytewiseComparator does not match existing comparator lsmkit.ttl.leveldb.BytewiseComparator"
        ),
        "{message}"
    );
    let db = Db::open(dir(), small_options(fs, false)).expect("reopen without TTL");
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
}

#[test]
fn repair_keeps_the_ttl_mark_and_refuses_the_wrong_comparator() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let (_now, clock) = test_clock();
    let db = Db::open(dir(), ttl_options(fs.clone(), &clock)).expect("create");
    db.put_with_ttl(b"k", b"v", Duration::from_secs(60)).expect("put_with_ttl");
    db.put(b"plain", b"forever").expect("put");
    drop(db);
    let files_before = fs.list_dir(dir()).expect("list");

    // Without enable_ttl the MANIFEST's mark says no: nothing is touched.
    let refused = Db::repair(dir(), &small_options(fs.clone(), false)).expect_err("comparator mismatch");
    let Error::InvalidArgument(message) = refused else { panic!("expected InvalidArgument, got {refused}") };
    assert!(message.contains("repair it with Options::enable_ttl"), "{message}");
    assert_eq!(fs.list_dir(dir()).expect("list"), files_before);

    // With it, the repaired database keeps the mark and the expiry.
    Db::repair(dir(), &ttl_options(fs.clone(), &clock)).expect("repair with TTL");
    invalid_argument_message(Db::open(dir(), small_options(fs.clone(), false)));
    let db = Db::open(dir(), ttl_options(fs.clone(), &clock)).expect("reopen with TTL");
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
    assert_eq!(db.get(b"plain").expect("get").as_deref(), Some(&b"forever"[..]));
    drop(db);

    // And the other way round: a plain database repaired with enable_ttl.
    let plain: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open(dir(), small_options(plain.clone(), false)).expect("create");
    db.put(b"k", b"v").expect("put");
    drop(db);
    let refused = Db::repair(dir(), &ttl_options(plain.clone(), &clock)).expect_err("comparator mismatch");
    assert!(
        matches!(&refused, Error::InvalidArgument(m) if m.contains("without Options::enable_ttl")),
        "{refused}"
    );
    let db = Db::open(dir(), small_options(plain, false)).expect("still opens without TTL");
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_ttl_follower_replays_the_leaders_wal_with_expiry_kept() {
    let (now, clock) = test_clock();
    let leader_fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let follower_fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let leader = Db::open(dir(), ttl_options(leader_fs, &clock)).expect("leader");
    let follower = Db::open(dir(), ttl_options(follower_fs, &clock)).expect("follower");
    leader.put_with_ttl_opt(Default::default(), b"short", b"s", Duration::from_secs(10)).expect("put");
    leader.put(b"forever", b"f").expect("put");
    let mut batch = WriteBatch::new();
    batch.put_with_expiry(b"long", b"l", leader.now_millis() + 3_600_000);
    batch.delete(b"nothing");
    leader.write(Default::default(), batch).expect("write");

    let mut updates = leader.updates_since(1).expect("updates");
    while let Some(logged) = updates.next_batch() {
        let logged = logged.expect("batch").batch;
        let replay = WriteBatch::from_ttl_framed_data(logged.data().to_vec()).expect("framed");
        follower.write(Default::default(), replay).expect("replay");
    }
    assert_eq!(follower.latest_sequence(), leader.latest_sequence());
    for db in [&leader, &follower] {
        assert_eq!(db.get(b"short").expect("get").as_deref(), Some(&b"s"[..]));
        assert_eq!(db.get(b"forever").expect("get").as_deref(), Some(&b"f"[..]));
        assert_eq!(db.get(b"long").expect("get").as_deref(), Some(&b"l"[..]));
    }
    // The expiry times came across: eleven seconds later "short" is gone on both.
    now.fetch_add(11_000, Ordering::SeqCst);
    for db in [&leader, &follower] {
        assert_eq!(db.get(b"short").expect("get"), None);
        assert_eq!(db.get(b"long").expect("get").as_deref(), Some(&b"l"[..]));
    }
    // A plain value is not a frame.
    let mut plain = WriteBatch::new();
    plain.put(b"k", &[0x7f, 1, 2]);
    assert!(WriteBatch::from_ttl_framed_data(plain.data().to_vec()).expect_err("no frame").is_corruption());
}

#[test]
fn writes_with_a_ttl_need_enable_ttl() {
    let db = Db::open(dir(), small_options(Arc::new(MemFs::new()), false)).expect("open");
    let err = db.put_with_ttl(b"k", b"v", Duration::from_secs(1)).expect_err("no TTL support");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let mut batch = WriteBatch::new();
    batch.put(b"j", b"v");
    batch.put_with_ttl(b"k", b"v", Duration::from_secs(1));
    let err = db.write(Default::default(), batch).expect_err("no TTL support");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!(db.get(b"j").expect("get"), None);
    assert_eq!(db.get(b"k").expect("get"), None);
    // Plain writes are stored as LevelDB stores them.
    db.put(b"k", b"plain").expect("put");
    let mut it = db.iter(ReadOptions::new());
    it.seek_to_first();
    assert_eq!(it.value(), b"plain");
}

/// Orders keys bytewise under the name of the TTL mark, so a test can write
/// values that are not TTL frames into a database with the mark.
struct PreMarkedComparator;

impl Comparator for PreMarkedComparator {
    fn name(&self) -> &str {
        "lsmkit.ttl.leveldb.BytewiseComparator"
    }

    fn compare(&self, a: &[u8], b: &[u8]) -> KeyOrdering {
        a.cmp(b)
    }

    fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
        start.to_vec()
    }

    fn short_successor(&self, key: &[u8]) -> Vec<u8> {
        key.to_vec()
    }
}

#[test]
fn malformed_frames_are_corruption() {
    for flushed in [false, true] {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let raw = Options { comparator: Arc::new(PreMarkedComparator), ..small_options(fs.clone(), false) };
        let db = Db::open(dir(), raw).expect("create");
        db.put(b"k", b"\x07unknown tag").expect("put");
        db.put(b"m", b"\x01\x00\x00").expect("put"); // truncated expiry time
        db.put(b"ok", b"\x00fine").expect("put"); // a well-formed frame
        if flushed {
            db.flush(Default::default()).expect("flush");
        }
        drop(db);

        let (_now, clock) = test_clock();
        let db = Db::open(dir(), ttl_options(fs, &clock)).expect("open with TTL");
        for key in [&b"k"[..], b"m"] {
            let err = db.get(key).expect_err("malformed frame");
            assert!(err.is_corruption(), "get {}: {err}", common::show(key));
        }
        assert_eq!(db.get(b"ok").expect("get").as_deref(), Some(&b"fine"[..]));

        let mut it = db.iter(ReadOptions::new());
        it.seek_to_first();
        assert!(!it.valid());
        assert!(it.status().expect_err("forward over a malformed frame").is_corruption());
        let mut it = db.iter(ReadOptions::new());
        it.seek_to_last();
        assert_eq!((it.key(), it.value()), (&b"ok"[..], &b"fine"[..]));
        it.prev();
        assert!(!it.valid());
        assert!(it.status().expect_err("backward over a malformed frame").is_corruption());
        let results: Vec<_> = db.range::<&[u8]>(..).collect();
        assert!(matches!(results.as_slice(), [Err(e)] if e.is_corruption()), "{results:?}");
    }
}

/// Runs the script; panics with its output unless it succeeds. Returns its stdout.
fn run_script(args: &[&str]) -> String {
    let output =
        Command::new("/usr/bin/python3").arg(SCRIPT).args(args).output().expect("run /usr/bin/python3");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{SCRIPT} {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("ttl_leveldb.py {}: {}", args[0], stdout.trim());
    stdout
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

#[test]
fn leveldb_refuses_a_ttl_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options { create_if_missing: true, enable_ttl: true, ..Options::default() };
    let db = Db::open(dir.path(), options.clone()).expect("create");
    db.put_with_ttl(b"k", b"v", Duration::from_secs(3600)).expect("put_with_ttl");
    db.put(b"plain", b"p").expect("put");
    db.flush(Default::default()).expect("flush");
    db.put(b"in-wal", b"w").expect("put");
    drop(db);

    let message = run_script(&["refuse", path_str(dir.path())]);
    assert_eq!(message.trim_end(), LEVELDB_REFUSAL);

    let db = Db::open(dir.path(), options).expect("reopen with TTL after LevelDB refused");
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
    assert_eq!(db.get(b"plain").expect("get").as_deref(), Some(&b"p"[..]));
    assert_eq!(db.get(b"in-wal").expect("get").as_deref(), Some(&b"w"[..]));
}

#[test]
fn a_database_without_ttl_round_trips_through_leveldb() {
    const COUNT: usize = 300;
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options { create_if_missing: true, ..Options::default() };
    let db = Db::open(dir.path(), options.clone()).expect("create");
    for i in 0..COUNT {
        db.put(format!("key-{i:04}").as_bytes(), format!("value-{i}").as_bytes()).expect("put");
        if i == COUNT / 2 {
            db.flush(Default::default()).expect("flush"); // half in a table, half in the WAL
        }
    }
    for i in (0..COUNT).step_by(7) {
        db.delete(format!("key-{i:04}").as_bytes()).expect("delete");
    }
    drop(db);

    run_script(&["roundtrip", path_str(dir.path()), &COUNT.to_string()]);

    let db = Db::open(dir.path(), options).expect("reopen after LevelDB");
    assert_eq!(db.get(b"from-leveldb").expect("get").as_deref(), Some(&b"hello"[..]));
    assert_eq!(db.get(b"key-0001").expect("get"), None);
    assert_eq!(db.get(b"key-0002").expect("get").as_deref(), Some(&b"value-2"[..]));
    assert_eq!(db.get(b"key-0007").expect("get"), None);
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
    Put(usize, u8),
    PutWithTtl(usize, u8, u64),
    Delete(usize),
    Advance(u64),
    Flush,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..8usize, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        4 => (0..8usize, any::<u8>(), 0..4u64).prop_map(|(k, v, t)| Op::PutWithTtl(k, v, t)),
        2 => (0..8usize).prop_map(Op::Delete),
        3 => (1..3u64).prop_map(Op::Advance),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
    ]
}

/// The model: key → (value, expiry time).
type TtlModel = std::collections::BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

fn visible(model: &TtlModel, now: u64) -> Model {
    model
        .iter()
        .filter(|(_, (_, expire_at))| expire_at.is_none_or(|t| now < t))
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Gets and scans match a model of expiring entries through writes,
    /// clock steps of whole seconds, flushes and compactions.
    #[test]
    fn matches_a_model_of_expiring_entries(ops in prop::collection::vec(op(), 1..40)) {
        let (now, clock) = test_clock();
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let db = Db::open(dir(), ttl_options(fs, &clock)).expect("open");
        let mut model = TtlModel::new();
        let key = |k: usize| format!("key{k}").into_bytes();
        for op in &ops {
            let t = now.load(Ordering::SeqCst);
            match *op {
                Op::Put(k, v) => {
                    db.put(&key(k), &[v; 3]).expect("put");
                    model.insert(key(k), (vec![v; 3], None));
                }
                Op::PutWithTtl(k, v, seconds) => {
                    db.put_with_ttl(&key(k), &[v; 2], Duration::from_secs(seconds)).expect("put_with_ttl");
                    model.insert(key(k), (vec![v; 2], Some(t + seconds * 1000)));
                }
                Op::Delete(k) => {
                    db.delete(&key(k)).expect("delete");
                    model.remove(&key(k));
                }
                Op::Advance(seconds) => {
                    now.store(t + seconds * 1000, Ordering::SeqCst);
                }
                Op::Flush => db.flush(Default::default()).expect("flush"),
                Op::Compact => db.compact_range(None, None).expect("compact"),
            }
            let expected = visible(&model, now.load(Ordering::SeqCst));
            let forward = read_forward(&db, ReadOptions::new()).expect("forward");
            prop_assert_eq!(first_difference(&forward, &expected), None, "after {:?}", op);
            let backward = read_backward(&db, ReadOptions::new()).expect("backward");
            prop_assert_eq!(backward, expected.clone().into_iter().collect::<Vec<_>>(), "after {:?}", op);
            for k in 0..8 {
                let got = db.get(&key(k)).expect("get");
                prop_assert_eq!(got.as_deref(), expected.get(&key(k)).map(Vec::as_slice), "get key{} after {:?}", k, op);
            }
        }
    }
}
