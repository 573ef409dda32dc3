//! `Db::checkpoint`: the copy opens as a database holding exactly the
//! writes numbered up to the sequence the call returned — taken while
//! other threads write, flushes and compactions run, with memtables
//! waiting for a flush, with tables copied instead of linked, and with an
//! mmap WAL whose file is longer than what was written.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{first_difference, read_forward, small_options, FsHooks, GatedFs, HookedFs, Model, TestRng};
use lsmkit::{Db, FlushOptions, Options, ReadOptions, WalIoMode, WriteBatch, WriteOptions};
use lsmkit_base::filename::{parse_file_name, FileType};
use lsmkit_base::fs::{FaultFs, FaultOp, FaultRule, FileSystem, MemFs, StdFs};
use lsmkit_wal::{LogReader, RecoveryMode};

/// A file system that never deletes a WAL (`*.log`), so that a test can
/// read back every write batch the database ever logged, with its sequence.
#[derive(Debug)]
struct KeepLogs;

impl FsHooks for KeepLogs {
    fn remove_file(&self, inner: &dyn FileSystem, path: &Path) -> lsmkit::Result<()> {
        if path.extension().is_some_and(|e| e == "log") {
            return Ok(());
        }
        inner.remove_file(path)
    }
}

/// One logged operation: key and value (`None`: a deletion).
type LoggedOp = (Vec<u8>, Option<Vec<u8>>);

/// Every operation in the WALs of `dir`, by sequence number.
fn logged_operations(fs: &dyn FileSystem, dir: &Path) -> BTreeMap<u64, LoggedOp> {
    let mut logs: Vec<u64> = fs
        .list_dir(dir)
        .unwrap()
        .iter()
        .filter_map(|name| match parse_file_name(name) {
            Some((number, FileType::Log)) => Some(number),
            _ => None,
        })
        .collect();
    logs.sort_unstable();
    let mut ops = BTreeMap::new();
    for number in logs {
        let path = lsmkit_base::filename::log_file_name(dir, number);
        let mut reader =
            LogReader::new(fs.open_sequential(&path).unwrap(), &path, RecoveryMode::AbsoluteConsistency);
        while let Some(record) = reader.read_record().unwrap() {
            let batch = WriteBatch::from_data(record).unwrap();
            for (i, op) in batch.ops().enumerate() {
                let op = op.unwrap();
                let value = (op.kind == lsmkit_base::key::ValueKind::Value).then(|| op.value.to_vec());
                let previous = ops.insert(batch.sequence() + i as u64, (op.key.to_vec(), value));
                assert!(previous.is_none(), "sequence logged twice");
            }
        }
    }
    ops
}

/// The state after applying the logged operations numbered up to `sequence`.
fn state_at(ops: &BTreeMap<u64, LoggedOp>, sequence: u64) -> Model {
    let mut model = Model::new();
    for (key, value) in ops.range(..=sequence).map(|(_, op)| op) {
        match value {
            Some(v) => model.insert(key.clone(), v.clone()),
            None => model.remove(key),
        };
    }
    model
}

/// Opens the checkpoint in `dir` and checks it holds exactly `expected`,
/// at sequence `sequence`.
fn check_checkpoint(options: &Options, dir: &Path, sequence: u64, expected: &Model) {
    let db = Db::open(dir, Options { create_if_missing: false, ..options.clone() }).unwrap();
    assert_eq!(db.latest_sequence(), sequence, "{}", dir.display());
    let actual = read_forward(&db, ReadOptions::new()).unwrap();
    if let Some(difference) = first_difference(&actual, expected) {
        panic!("checkpoint {} at sequence {sequence}: {difference}", dir.display());
    }
    for (key, value) in expected.iter().take(50) {
        assert_eq!(db.get(key).unwrap().as_deref(), Some(&value[..]));
    }
}

#[test]
fn checkpoints_under_concurrent_writers_hold_exactly_the_writes_up_to_their_sequence() {
    const WRITERS: u64 = 4;
    const WRITES_PER_WRITER: usize = 700;
    const CHECKPOINTS: usize = 8;
    let memory = Arc::new(MemFs::new());
    let keep_logs: Arc<dyn FileSystem> = Arc::new(HookedFs { inner: memory.clone(), hooks: KeepLogs });
    let options = small_options(keep_logs.clone(), false);
    let db = Db::open("/db", options.clone()).unwrap();

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut rng = TestRng::new(writer);
                for i in 0..WRITES_PER_WRITER {
                    let mut batch = WriteBatch::new();
                    for op in 0..1 + rng.below(3) {
                        let key = format!("key{:04}", rng.below(300));
                        if rng.percent(20) {
                            batch.delete(key.as_bytes());
                        } else {
                            let value = format!("{writer}-{i}-{op}-{}", "v".repeat(rng.index(200)));
                            batch.put(key.as_bytes(), value.as_bytes());
                        }
                    }
                    db.write(WriteOptions::default(), batch).unwrap();
                }
            })
        })
        .collect();

    // Checkpoints spread over the run: each waits for some more writes.
    let total = WRITERS * WRITES_PER_WRITER as u64;
    let mut taken = Vec::new();
    for k in 0..CHECKPOINTS {
        let target = total * (k as u64 + 1) / (CHECKPOINTS as u64 + 1);
        while db.latest_sequence() < target {
            std::thread::yield_now();
        }
        // A write acknowledged before the call must be in the checkpoint.
        db.put(format!("marker{k}").as_bytes(), b"acknowledged").unwrap();
        let before = db.latest_sequence();
        let dir = PathBuf::from(format!("/checkpoint{k}"));
        let sequence = db.checkpoint(&dir).unwrap();
        assert!(sequence >= before, "checkpoint at {sequence} misses writes up to {before}");
        taken.push((dir, sequence));
    }
    for writer in writers {
        writer.join().unwrap();
    }

    // Every write ever made, numbered, from the WALs the file system kept.
    let ops = logged_operations(&*memory, Path::new("/db"));
    let numbered: Vec<u64> = ops.keys().copied().collect();
    assert_eq!(numbered, (1..=db.latest_sequence()).collect::<Vec<_>>());
    let final_state = read_forward(&db, ReadOptions::new()).unwrap();
    assert!(first_difference(&final_state, &state_at(&ops, db.latest_sequence())).is_none());

    // Memtables were flushed while the checkpoints were taken: most hold
    // tables as well as WALs.
    let with_tables = taken
        .iter()
        .filter(|(dir, _)| {
            let names = memory.list_dir(dir).unwrap();
            names.iter().any(|name| matches!(parse_file_name(name), Some((_, FileType::Table))))
        })
        .count();
    assert!(with_tables >= CHECKPOINTS / 2, "{with_tables} checkpoints with tables");

    let checkpoint_options = Options { fs: memory.clone(), ..options.clone() };
    for (k, (dir, sequence)) in taken.iter().enumerate() {
        let expected = state_at(&ops, *sequence);
        assert!(expected.contains_key(format!("marker{k}").as_bytes()));
        check_checkpoint(&checkpoint_options, dir, *sequence, &expected);
        // Opened twice: the first open replayed its WALs into tables.
        check_checkpoint(&checkpoint_options, dir, *sequence, &expected);
    }
}

#[test]
fn checkpoint_includes_memtables_waiting_for_a_flush() {
    let memory: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let gated = GatedFs::new(memory.clone(), ".ldb");
    let options = small_options(Arc::new(gated.clone()), false);
    let db = Db::open("/db", options.clone()).unwrap();
    let mut expected = Model::new();
    for i in 0..200 {
        let (key, value) = (format!("old{i:03}"), format!("value{i}"));
        db.put(key.as_bytes(), value.as_bytes()).unwrap();
        expected.insert(key.into_bytes(), value.into_bytes());
    }
    // The memtable is switched out, but its flush cannot write its table.
    gated.close_gate();
    db.flush(FlushOptions { wait: false }).unwrap();
    for i in 0..100 {
        let (key, value) = (format!("new{i:03}"), format!("value{i}"));
        db.put(key.as_bytes(), value.as_bytes()).unwrap();
        expected.insert(key.into_bytes(), value.into_bytes());
    }
    db.delete(b"old007").unwrap();
    expected.remove(&b"old007"[..]);
    let tables_before = db.property("lsmkit.num-files-at-level0");
    let sequence = db.checkpoint("/checkpoint").unwrap();
    let tables_after = db.property("lsmkit.num-files-at-level0");
    gated.open_gate();
    assert_eq!(tables_before.as_deref(), Some("0"));
    assert_eq!(tables_after.as_deref(), Some("0"), "the flush ran before the checkpoint was taken");
    assert_eq!(sequence, 301);
    // Two WALs: the waiting memtable's and the active one.
    let logs = memory
        .list_dir(Path::new("/checkpoint"))
        .unwrap()
        .iter()
        .filter(|name| matches!(parse_file_name(name), Some((_, FileType::Log))))
        .count();
    assert_eq!(logs, 2);
    db.flush(FlushOptions { wait: true }).unwrap();
    db.put(b"after", b"checkpoint").unwrap();
    check_checkpoint(&Options { fs: memory, ..options }, Path::new("/checkpoint"), sequence, &expected);
}

/// Inode numbers of the tables in `dir`, by file name.
#[cfg(unix)]
fn table_inodes(dir: &Path) -> BTreeMap<String, u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".ldb"))
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), entry.metadata().unwrap().ino()))
        .collect()
}

/// Fills a database with tables at several levels and unflushed writes;
/// returns the expected state.
fn fill(db: &Db) -> Model {
    let mut expected = Model::new();
    for round in 0..3 {
        for i in 0..400 {
            let (key, value) = (format!("key{i:04}"), format!("round{round}-{}", "x".repeat(i % 50)));
            db.put(key.as_bytes(), value.as_bytes()).unwrap();
            expected.insert(key.into_bytes(), value.into_bytes());
        }
        if round == 0 {
            db.compact_range(None, None).unwrap();
        } else {
            db.flush(FlushOptions::default()).unwrap();
        }
    }
    for i in 0..50 {
        let key = format!("key{:04}", i * 7);
        db.delete(key.as_bytes()).unwrap();
        expected.remove(key.as_bytes());
    }
    expected
}

#[cfg(unix)]
#[test]
fn checkpoint_links_tables_and_copies_them_when_links_fail() {
    let temp = tempfile::tempdir().unwrap();
    let faulty = Arc::new(FaultFs::new(Arc::new(StdFs::new())));
    // Only manual compactions: the tables stay as `fill` leaves them.
    let options = Options { l0_compaction_trigger: 100, ..small_options(faulty.clone(), false) };
    let db = Db::open(temp.path().join("db"), options.clone()).unwrap();
    let expected = fill(&db);
    let source_tables = table_inodes(&temp.path().join("db"));
    assert!(source_tables.len() >= 2, "{source_tables:?}");

    let linked = temp.path().join("linked");
    let sequence = db.checkpoint(&linked).unwrap();
    faulty.add_rule(FaultRule::new(std::io::ErrorKind::Unsupported).on_ops([FaultOp::Link]));
    let copied = temp.path().join("copied");
    assert_eq!(db.checkpoint(&copied).unwrap(), sequence);
    faulty.clear_faults();

    // Same files for the link, new ones for the copy, all of them.
    let linked_tables = table_inodes(&linked);
    let copied_tables = table_inodes(&copied);
    assert_eq!(linked_tables, source_tables);
    assert_eq!(copied_tables.keys().collect::<Vec<_>>(), source_tables.keys().collect::<Vec<_>>());
    for (name, inode) in &copied_tables {
        assert_ne!(*inode, source_tables[name], "{name} was linked");
        assert_eq!(
            std::fs::read(copied.join(name)).unwrap(),
            std::fs::read(temp.path().join("db").join(name)).unwrap()
        );
    }
    // The source goes on; both copies stay as they were.
    db.put(b"key0001", b"changed").unwrap();
    db.compact_range(None, None).unwrap();
    drop(db);
    let plain = Options { fs: Arc::new(StdFs::new()), ..options };
    check_checkpoint(&plain, &linked, sequence, &expected);
    check_checkpoint(&plain, &copied, sequence, &expected);
}

#[test]
fn checkpoint_of_an_mmap_wal_copies_only_what_was_written() {
    let temp = tempfile::tempdir().unwrap();
    let options = Options {
        wal_io_mode: WalIoMode::Mmap { chunk_size: 1 << 20 },
        ..small_options(Arc::new(StdFs::new()), false)
    };
    let db = Db::open(temp.path().join("db"), options.clone()).unwrap();
    let mut expected = Model::new();
    for i in 0..100 {
        let (key, value) = (format!("key{i:03}"), format!("value{i}"));
        db.put(key.as_bytes(), value.as_bytes()).unwrap();
        expected.insert(key.into_bytes(), value.into_bytes());
    }
    let dir = temp.path().join("checkpoint");
    let sequence = db.checkpoint(&dir).unwrap();
    assert_eq!(sequence, 100);
    db.put(b"key200", b"later").unwrap();
    // The copied WAL is the written prefix, not the preallocated chunk.
    let log_sizes: Vec<u64> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
        .map(|entry| entry.metadata().unwrap().len())
        .collect();
    assert_eq!(log_sizes.len(), 1);
    assert!(log_sizes[0] > 0 && log_sizes[0] < 1 << 20, "{log_sizes:?}");
    check_checkpoint(&options, &dir, sequence, &expected);
}

#[test]
fn checkpoint_needs_a_new_directory_and_is_independent_of_the_source() {
    let memory: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let options = small_options(memory.clone(), false);
    let db = Db::open("/db", options.clone()).unwrap();
    let expected = fill(&db);
    memory.create_dir_all(Path::new("/exists")).unwrap();
    let err = db.checkpoint("/exists").unwrap_err();
    assert!(matches!(err, lsmkit::Error::InvalidArgument(_)), "{err}");
    assert!(db.checkpoint("/db").is_err());

    let sequence = db.checkpoint("/checkpoint").unwrap();
    assert_eq!(sequence, db.latest_sequence());
    // Writes to either side do not show in the other.
    db.put(b"source-only", b"1").unwrap();
    let copy = Db::open("/checkpoint", options.clone()).unwrap();
    copy.put(b"copy-only", b"1").unwrap();
    copy.delete(b"key0003").unwrap();
    assert_eq!(db.get(b"copy-only").unwrap(), None);
    assert!(db.get(b"key0003").unwrap().is_some());
    assert_eq!(copy.get(b"source-only").unwrap(), None);
    // A checkpoint of the checkpoint, while both are open.
    let sequence2 = copy.checkpoint("/checkpoint2").unwrap();
    assert_eq!(sequence2, sequence + 2);
    let mut expected2 = expected.clone();
    expected2.insert(b"copy-only".to_vec(), b"1".to_vec());
    expected2.remove(&b"key0003"[..]);
    drop(copy);
    check_checkpoint(&options, Path::new("/checkpoint"), sequence2, &expected2);
    check_checkpoint(&options, Path::new("/checkpoint2"), sequence2, &expected2);
    let mut source_expected = expected;
    source_expected.insert(b"source-only".to_vec(), b"1".to_vec());
    let actual = read_forward(&db, ReadOptions::new()).unwrap();
    assert!(first_difference(&actual, &source_expected).is_none());
}
