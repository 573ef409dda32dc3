//! `Db::updates_since` and WAL retention: a follower database kept in sync
//! with a leader by applying the leader's logged batches, across flushes,
//! compactions, reopens and concurrent writers (obsolete logs archived, not
//! deleted); gap errors after `disable_wal` writes and once logs are gone;
//! the archive's size limit and its life across reopens.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{first_difference, read_forward, small_options, Model, TestRng};
use lsmkit::{
    Db, Error, FlushOptions, Options, ReadOptions, WalIterator, WriteBatch, WriteOptions,
    WAL_ARCHIVE_DIR_NAME,
};
use lsmkit_base::filename::{log_file_name, parse_file_name, FileType};
use lsmkit_base::fs::{FileSystem, MemFs, StdFs};
use lsmkit_base::key::ValueKind;
use lsmkit_wal::{LogReader, RecoveryMode};

/// A leader's options: small memtables (frequent flushes and compactions)
/// and a WAL time to live far longer than any test, so obsolete logs are
/// archived.
fn retaining_options(fs: Arc<dyn FileSystem>) -> Options {
    Options { wal_ttl: Duration::from_secs(3600), ..small_options(fs, false) }
}

/// The numbers of the logs in `dir`'s archive (none if it does not exist).
fn archived_logs(fs: &dyn FileSystem, dir: &Path) -> Vec<u64> {
    let mut logs: Vec<u64> = fs
        .list_dir(&dir.join(WAL_ARCHIVE_DIR_NAME))
        .unwrap_or_default()
        .iter()
        .filter_map(|name| match parse_file_name(name) {
            Some((number, FileType::Log)) => Some(number),
            _ => None,
        })
        .collect();
    logs.sort_unstable();
    logs
}

/// Writes `count` random batches (1 to 5 puts and deletes over 400 keys,
/// values up to 300 bytes) to `db`, and applies them to `model`.
fn write_random_batches(db: &Db, rng: &mut TestRng, model: &mut Model, count: usize) {
    for _ in 0..count {
        let mut batch = WriteBatch::new();
        for _ in 0..1 + rng.index(5) {
            let key = format!("key{:04}", rng.below(400)).into_bytes();
            if rng.percent(20) {
                batch.delete(&key);
                model.remove(&key);
            } else {
                let value = vec![b'a' + rng.below(26) as u8; 1 + rng.index(300)];
                batch.put(&key, &value);
                model.insert(key, value);
            }
        }
        db.write(WriteOptions::default(), batch).unwrap();
    }
}

/// Applies every batch `updates` has now to `follower`, each as one write;
/// returns how many were applied.
fn catch_up(updates: &mut WalIterator, follower: &Db) -> usize {
    let mut applied = 0;
    while let Some(batch) = updates.next_batch() {
        let batch = batch.unwrap().batch;
        assert_eq!(batch.sequence(), follower.latest_sequence() + 1, "batches arrive in order, contiguous");
        follower.write(WriteOptions::default(), batch).unwrap();
        applied += 1;
    }
    applied
}

/// Both databases hold `model`, at the same sequence.
fn assert_same(leader: &Db, follower: &Db, model: &Model) {
    assert_eq!(follower.latest_sequence(), leader.latest_sequence());
    let leader_view = read_forward(leader, ReadOptions::new()).unwrap();
    let follower_view = read_forward(follower, ReadOptions::new()).unwrap();
    assert_eq!(first_difference(&leader_view, model), None, "leader");
    assert_eq!(first_difference(&follower_view, model), None, "follower");
}

/// The error of an `updates_since` call that must fail.
fn refused(result: lsmkit::Result<WalIterator>) -> Error {
    match result {
        Ok(_) => panic!("updates_since succeeded where the WAL has a gap"),
        Err(e) => e,
    }
}

fn is_gap(error: &Error) -> bool {
    matches!(error, Error::InvalidArgument(m) if m.contains("sequence"))
}

fn follower_stays_in_sync(fs: Arc<dyn FileSystem>, root: &Path) {
    let leader_dir = root.join("leader");
    let mut leader = Db::open(&leader_dir, retaining_options(fs.clone())).unwrap();
    let follower = Db::open(root.join("follower"), small_options(fs.clone(), false)).unwrap();
    let mut rng = TestRng::new(7);
    let mut model = Model::new();
    // Opened before anything is written: it follows every log as it comes.
    let mut updates = leader.updates_since(0).unwrap();
    let mut applied = 0;
    for round in 0..10 {
        write_random_batches(&leader, &mut rng, &mut model, 120);
        match round % 4 {
            1 => leader.flush(FlushOptions::default()).unwrap(),
            3 => leader.compact_range(None, None).unwrap(),
            _ => {}
        }
        if round == 5 {
            // A restart: the leader's logs are replayed, flushed and archived.
            drop(leader);
            leader = Db::open(&leader_dir, retaining_options(fs.clone())).unwrap();
            assert_eq!(first_difference(&read_forward(&leader, ReadOptions::new()).unwrap(), &model), None);
        }
        applied += catch_up(&mut updates, &follower);
        assert_same(&leader, &follower, &model);
    }
    assert_eq!(applied, 1200, "every write was one batch (a single writer makes no groups)");
    let level1_files: u64 = leader.property("lsmkit.num-files-at-level1").unwrap().parse().unwrap();
    assert!(level1_files > 0, "the leader compacted into level 1");

    // The early logs are obsolete, so only the archive still has them: a
    // second follower starting from nothing needs it.
    let archived = archived_logs(&*fs, &leader_dir);
    assert!(archived.len() >= 5, "obsolete logs are archived: {archived:?}");
    assert!(!fs.exists(&log_file_name(&leader_dir, archived[0])));
    let late_follower = Db::open(root.join("late-follower"), small_options(fs.clone(), false)).unwrap();
    let mut from_start = leader.updates_since(1).unwrap();
    assert_eq!(catch_up(&mut from_start, &late_follower), 1200);
    assert_same(&leader, &late_follower, &model);
}

#[test]
fn follower_stays_in_sync_across_flushes_compactions_and_a_restart() {
    follower_stays_in_sync(Arc::new(MemFs::new()), Path::new("/db"));
}

#[test]
fn follower_stays_in_sync_on_a_real_file_system() {
    let dir = tempfile::tempdir().unwrap();
    follower_stays_in_sync(Arc::new(StdFs::new()), dir.path());
}

#[test]
fn follower_keeps_up_with_concurrent_writers() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let leader = Db::open("/leader", retaining_options(fs.clone())).unwrap();
    let follower = Db::open("/follower", small_options(fs.clone(), false)).unwrap();
    let mut updates = leader.updates_since(1).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    // Writers use disjoint keys, so the final contents do not depend on
    // how their writes interleave.
    let writers: Vec<_> = (0..3u64)
        .map(|writer| {
            let leader = leader.clone();
            std::thread::spawn(move || {
                let mut model = Model::new();
                let mut rng = TestRng::new(100 + writer);
                for i in 0..600 {
                    let key = format!("w{writer}-{:03}", rng.below(200)).into_bytes();
                    let value = format!("{i}-{}", "x".repeat(rng.index(200))).into_bytes();
                    leader.put(&key, &value).unwrap();
                    model.insert(key, value);
                }
                model
            })
        })
        .collect();
    let waiter = {
        let done = done.clone();
        std::thread::spawn(move || {
            let models: Vec<Model> = writers.into_iter().map(|w| w.join().unwrap()).collect();
            done.store(true, Ordering::Release);
            models
        })
    };
    // Catch up while the writers write (and the leader flushes and compacts).
    while !done.load(Ordering::Acquire) {
        if catch_up(&mut updates, &follower) == 0 {
            std::thread::yield_now();
        }
    }
    let model: Model = waiter.join().unwrap().into_iter().flatten().collect();
    catch_up(&mut updates, &follower);
    assert_eq!(leader.latest_sequence(), 1800);
    assert_same(&leader, &follower, &model);
}

#[test]
fn operations_forward_and_backward_across_archived_logs() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open("/db", retaining_options(fs.clone())).unwrap();
    // Batch i (1-based) holds i % 3 + 1 operations; operation n sets key n.
    let mut ops: Vec<(u64, ValueKind, Vec<u8>)> = Vec::new();
    for i in 1..=300u64 {
        let mut batch = WriteBatch::new();
        for _ in 0..i % 3 + 1 {
            let sequence = ops.len() as u64 + 1;
            let key = format!("k{sequence:05}").into_bytes();
            if sequence % 7 == 0 {
                batch.delete(&key);
                ops.push((sequence, ValueKind::Deletion, key));
            } else {
                batch.put(&key, &[b'v'; 400]);
                ops.push((sequence, ValueKind::Value, key));
            }
        }
        db.write(WriteOptions::default(), batch).unwrap();
        if i % 60 == 0 {
            db.flush(FlushOptions::default()).unwrap();
        }
    }
    assert!(archived_logs(&*fs, Path::new("/db")).len() >= 4);
    let seen = |op: lsmkit::WalOp| (op.sequence, op.kind, op.key.to_vec());

    // Sequence 101 is the middle operation of a 3-operation batch (99..=101).
    let mut updates = db.updates_since(101).unwrap();
    let forward: Vec<_> = std::iter::from_fn(|| updates.next_op()).map(|op| seen(op.unwrap())).collect();
    assert_eq!(forward, ops[98..]);
    let backward: Vec<_> = std::iter::from_fn(|| updates.prev_op()).map(|op| seen(op.unwrap())).collect();
    assert_eq!(backward, ops[98..].iter().rev().cloned().collect::<Vec<_>>());
    let first = updates.next_batch().unwrap().unwrap();
    assert_eq!((first.batch.sequence(), first.batch.count()), (99, 3));
    // Whole batches from there cover every operation once.
    let mut next_sequence = 102;
    while let Some(batch) = updates.next_batch() {
        let batch = batch.unwrap().batch;
        assert_eq!(batch.sequence(), next_sequence);
        next_sequence += u64::from(batch.count());
    }
    assert_eq!(next_sequence, db.latest_sequence() + 1);
    // Following the tail: a new write shows up.
    db.put(b"late", b"v").unwrap();
    let late = updates.next_op().unwrap().unwrap();
    assert_eq!((late.sequence, &late.key[..]), (next_sequence, &b"late"[..]));
}

#[test]
fn disable_wal_writes_are_a_gap() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let db = Db::open("/db", retaining_options(fs)).unwrap();
    let unlogged = WriteOptions { disable_wal: true, ..WriteOptions::default() };
    db.put(b"a", b"1").unwrap(); // 1
    db.put(b"b", b"2").unwrap(); // 2
    db.put_opt(unlogged, b"c", b"3").unwrap(); // 3, not logged
    db.put(b"d", b"4").unwrap(); // 4

    let mut updates = db.updates_since(1).unwrap();
    assert_eq!(updates.next_batch().unwrap().unwrap().batch.sequence(), 1);
    assert_eq!(updates.next_batch().unwrap().unwrap().batch.sequence(), 2);
    let error = updates.next_batch().unwrap().unwrap_err();
    assert!(is_gap(&error) && error.to_string().contains("sequence 3 is missing"), "{error}");
    // Asking for the unlogged write itself fails at once.
    let error = refused(db.updates_since(3));
    assert!(is_gap(&error), "{error}");
    let mut after = db.updates_since(4).unwrap();
    assert_eq!(after.next_op().unwrap().unwrap().sequence, 4);

    // An unlogged write at the end: nothing logged holds it.
    db.put_opt(unlogged, b"e", b"5").unwrap(); // 5
    let error = refused(db.updates_since(5));
    assert!(is_gap(&error) && error.to_string().contains("disable_wal"), "{error}");
    // Past it, a follower waits for the next logged write.
    let mut waiting = db.updates_since(6).unwrap();
    assert!(waiting.next_op().is_none());
    db.put(b"f", b"6").unwrap();
    assert_eq!(waiting.next_op().unwrap().unwrap().sequence, 6);
}

#[test]
fn without_retention_obsolete_logs_are_deleted_and_a_gap() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let dir = Path::new("/db");
    let options = small_options(fs.clone(), false);
    assert_eq!((options.wal_ttl, options.wal_size_limit), (Duration::ZERO, 0), "retention is off by default");
    let db = Db::open(dir, options.clone()).unwrap();
    let mut rng = TestRng::new(3);
    let mut model = Model::new();
    write_random_batches(&db, &mut rng, &mut model, 50);
    db.flush(FlushOptions::default()).unwrap();
    assert!(!fs.exists(&dir.join(WAL_ARCHIVE_DIR_NAME)), "nothing is archived");

    let error = refused(db.updates_since(1));
    assert!(is_gap(&error), "{error}");
    let error = refused(db.updates_since(db.latest_sequence()));
    assert!(is_gap(&error), "{error}");
    let next = db.latest_sequence() + 1;
    let mut from_now = db.updates_since(next).unwrap();
    assert!(from_now.next_op().is_none());
    db.put(b"new", b"v").unwrap();
    assert_eq!(from_now.next_op().unwrap().unwrap().sequence, next);

    // After a restart the replayed log is deleted too.
    drop(db);
    let db = Db::open(dir, options).unwrap();
    assert!(is_gap(&refused(db.updates_since(next))));
    assert!(db.updates_since(next + 1).unwrap().next_op().is_none());
}

#[test]
fn size_limit_keeps_the_newest_archived_logs() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let dir = Path::new("/db");
    let limit = 300 << 10;
    let options = Options { wal_size_limit: limit, ..small_options(fs.clone(), false) };
    let db = Db::open(dir, options).unwrap();
    let mut rng = TestRng::new(11);
    let mut model = Model::new();
    for _ in 0..8 {
        write_random_batches(&db, &mut rng, &mut model, 200);
        db.flush(FlushOptions::default()).unwrap();
    }
    let archived = archived_logs(&*fs, dir);
    let archive = dir.join(WAL_ARCHIVE_DIR_NAME);
    let total: u64 = archived.iter().map(|&n| fs.file_size(&log_file_name(&archive, n)).unwrap()).sum();
    assert!(!archived.is_empty() && total <= limit, "{} archived logs, {total} bytes", archived.len());
    assert!(is_gap(&refused(db.updates_since(1))), "the oldest logs were deleted");

    // The updates are available from the first batch of the oldest archived log on.
    let oldest = log_file_name(&archive, archived[0]);
    let mut reader = LogReader::new(fs.open_sequential(&oldest).unwrap(), &oldest, RecoveryMode::default());
    let first = WriteBatch::from_data(reader.read_record().unwrap().unwrap()).unwrap().sequence();
    assert!(is_gap(&refused(db.updates_since(first - 1))));
    let mut updates = db.updates_since(first).unwrap();
    let mut next_sequence = first;
    while let Some(batch) = updates.next_batch() {
        let batch = batch.unwrap().batch;
        assert_eq!(batch.sequence(), next_sequence);
        next_sequence += u64::from(batch.count());
    }
    assert_eq!(next_sequence, db.latest_sequence() + 1);
}

#[test]
fn archived_logs_outlive_a_restart_until_retention_is_off() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let dir = Path::new("/db");
    let mut rng = TestRng::new(5);
    let mut model = Model::new();
    {
        let db = Db::open(dir, retaining_options(fs.clone())).unwrap();
        write_random_batches(&db, &mut rng, &mut model, 300);
        db.flush(FlushOptions::default()).unwrap();
    }
    let before = archived_logs(&*fs, dir);
    assert!(!before.is_empty());
    let latest = {
        // Archived logs found at open are kept (their age counts from now).
        let db = Db::open(dir, retaining_options(fs.clone())).unwrap();
        let after = archived_logs(&*fs, dir);
        assert!(before.iter().all(|n| after.contains(n)), "{before:?} kept in {after:?}");
        let follower = Db::open("/follower", small_options(fs.clone(), false)).unwrap();
        assert_eq!(catch_up(&mut db.updates_since(1).unwrap(), &follower), 300);
        assert_same(&db, &follower, &model);
        db.latest_sequence()
    };
    // Opened without retention, the archive is emptied.
    let db = Db::open(dir, small_options(fs.clone(), false)).unwrap();
    assert!(archived_logs(&*fs, dir).is_empty());
    assert!(is_gap(&refused(db.updates_since(1))));
    assert_eq!(db.latest_sequence(), latest);
}
