//! WAL records whose checksums are valid but whose write batches are
//! malformed (issue 14, "Hostile bytes never panic"): opening, repairing
//! and reading the updates of such a database gives `Error::Corruption`
//! with the file and offset, or drops the record as the WAL recovery mode
//! says, and never panics. One test per kind of malformed batch, then one
//! per reader of logged batches.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit::{Db, Error, Options, ReadOptions, RecoveryMode, WriteBatch};
use lsmkit_base::filename::{parse_file_name, FileType};
use lsmkit_base::fs::{FileSystem, MemFs};
use lsmkit_base::key::MAX_SEQUENCE_NUMBER;
use lsmkit_wal::LogWriter;

const DIR: &str = "/db";

fn options(fs: &Arc<MemFs>, mode: RecoveryMode) -> Options {
    Options { create_if_missing: true, wal_recovery_mode: mode, fs: fs.clone(), ..Options::default() }
}

/// A database holding `a` → `1` in its live WAL (no table yet).
fn database_with_one_key() -> Arc<MemFs> {
    let fs = Arc::new(MemFs::new());
    let db = Db::open(DIR, options(&fs, RecoveryMode::default())).unwrap();
    db.put(b"a", b"1").unwrap();
    drop(db);
    fs
}

/// The newest log of the database.
fn newest_log(fs: &MemFs) -> PathBuf {
    let newest = fs
        .list_dir(Path::new(DIR))
        .unwrap()
        .iter()
        .filter_map(|name| match parse_file_name(name) {
            Some((number, FileType::Log)) => Some(number),
            _ => None,
        })
        .max()
        .expect("a log");
    lsmkit_base::filename::log_file_name(Path::new(DIR), newest)
}

/// Appends `records` (with valid checksums) to the newest log; returns its
/// path and the file offset of the first one.
fn append_records(fs: &MemFs, records: &[&[u8]]) -> (PathBuf, u64) {
    let path = newest_log(fs);
    let len = fs.file_size(&path).unwrap();
    let mut writer = LogWriter::new_with_offset(fs.open_appendable(&path).unwrap(), len);
    for record in records {
        writer.add_record(record).unwrap();
    }
    writer.close().unwrap();
    (path, len)
}

/// The error of an open that must fail.
fn open_error(fs: &Arc<MemFs>, mode: RecoveryMode) -> Error {
    match Db::open(DIR, options(fs, mode)) {
        Ok(_) => panic!("the open succeeded in {mode:?}"),
        Err(e) => e,
    }
}

/// A batch of puts `keys` numbered from `sequence`.
fn batch(sequence: u64, keys: &[&[u8]]) -> Vec<u8> {
    let mut batch = WriteBatch::new();
    batch.set_sequence(sequence);
    for key in keys {
        batch.put(key, b"x");
    }
    batch.into_data()
}

fn keys(db: &Db) -> Vec<Vec<u8>> {
    let mut it = db.iter(ReadOptions::default());
    it.seek_to_first();
    let mut keys = Vec::new();
    while it.valid() {
        keys.push(it.key().to_vec());
        it.next();
    }
    it.status().unwrap();
    keys
}

/// Appends `bad` and then a valid batch after it, and checks what each
/// recovery mode makes of them (each on a fresh copy of the database).
fn check_every_mode(bad: &[u8], expected_message: &str) {
    let crafted = || {
        let fs = database_with_one_key();
        let (path, offset) = append_records(&fs, &[bad, &batch(1000, &[b"after"])]);
        (fs, path, offset)
    };

    // Absolute consistency: the open fails, naming the log and the record.
    let (fs, path, offset) = crafted();
    let error = open_error(&fs, RecoveryMode::AbsoluteConsistency);
    match &error {
        Error::Corruption { message, file, offset: at } => {
            assert!(message.contains(expected_message), "{error}");
            assert_eq!(file.as_deref(), Some(path.as_path()), "{error}");
            assert_eq!(*at, Some(offset), "{error}");
        }
        other => panic!("expected a corruption, got {other}"),
    }
    // Tolerating a corrupted tail: damage followed by a valid record is an error.
    let error = open_error(&fs, RecoveryMode::TolerateCorruptedTailRecords);
    assert!(error.is_corruption() && error.to_string().contains("valid records follow"), "{error}");

    // Point in time: the log ends before the bad record.
    let db = Db::open(DIR, options(&fs, RecoveryMode::PointInTimeRecovery)).unwrap();
    assert_eq!(keys(&db), [b"a".to_vec()]);
    drop(db);

    // Skipping corrupted records: the bad one is dropped, the one after it kept.
    let (fs, _, _) = crafted();
    let db = Db::open(DIR, options(&fs, RecoveryMode::SkipAnyCorruptedRecords)).unwrap();
    assert_eq!(keys(&db), [b"a".to_vec(), b"after".to_vec()]);
    // Writes after the reopen are numbered after everything recovered.
    db.put(b"b", b"2").unwrap();
    drop(db);
    let db = Db::open(DIR, options(&fs, RecoveryMode::AbsoluteConsistency)).unwrap();
    assert_eq!(keys(&db), [b"a".to_vec(), b"after".to_vec(), b"b".to_vec()]);
}

#[test]
fn sequence_past_the_maximum_is_corruption_not_a_panic() {
    // The second operation would get sequence 2^56.
    check_every_mode(&batch(MAX_SEQUENCE_NUMBER, &[b"p", b"q"]), "largest sequence number");
}

#[test]
fn sequence_near_u64_max_is_corruption() {
    check_every_mode(&batch(u64::MAX, &[b"p"]), "largest sequence number");
    check_every_mode(&batch(u64::MAX - 1, &[b"p", b"q", b"r"]), "largest sequence number");
}

#[test]
fn the_largest_sequence_itself_is_accepted() {
    let fs = database_with_one_key();
    append_records(&fs, &[&batch(MAX_SEQUENCE_NUMBER - 1, &[b"p", b"q"])]);
    let db = Db::open(DIR, options(&fs, RecoveryMode::AbsoluteConsistency)).unwrap();
    assert_eq!(keys(&db), [b"a".to_vec(), b"p".to_vec(), b"q".to_vec()]);
    // Every sequence number is used: a write is refused, not a panic, and
    // the database stays readable.
    let error = db.put(b"r", b"1").unwrap_err();
    assert!(matches!(&error, Error::InvalidArgument(m) if m.contains("exhausted")), "{error}");
    let mut batch = lsmkit::WriteBatch::new();
    batch.delete(b"a");
    assert!(db.write(lsmkit::WriteOptions::default(), batch).is_err());
    assert_eq!(keys(&db), [b"a".to_vec(), b"p".to_vec(), b"q".to_vec()]);
}

#[test]
fn count_larger_than_the_records_is_corruption() {
    let mut bad = batch(100, &[b"p"]);
    bad[8] = 3;
    check_every_mode(&bad, "wrong count");
}

#[test]
fn count_smaller_than_the_records_is_corruption() {
    let mut bad = batch(100, &[b"p", b"q"]);
    bad[8] = 1;
    check_every_mode(&bad, "trailing bytes");
}

#[test]
fn huge_count_is_corruption() {
    let mut bad = batch(MAX_SEQUENCE_NUMBER - 10, &[b"p"]);
    bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    check_every_mode(&bad, "largest sequence number");
    let mut bad = batch(1, &[b"p"]);
    bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    check_every_mode(&bad, "wrong count");
}

#[test]
fn truncated_varint_is_corruption() {
    let mut bad = batch(100, &[]);
    bad[8] = 1;
    bad.extend_from_slice(&[1, 0x80]); // a put whose key length never ends
    check_every_mode(&bad, "truncated length varint");
    let mut bad = batch(100, &[]);
    bad[8] = 1;
    bad.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    check_every_mode(&bad, "overlong length varint");
}

#[test]
fn length_past_the_record_is_corruption() {
    let mut bad = batch(100, &[]);
    bad[8] = 1;
    bad.extend_from_slice(&[0, 9, b'k']);
    check_every_mode(&bad, "length past the end");
}

#[test]
fn unknown_kind_is_corruption() {
    let mut bad = batch(100, &[b"p"]);
    bad[12] = 7;
    check_every_mode(&bad, "unknown WriteBatch tag 7");
}

#[test]
fn short_record_is_corruption() {
    check_every_mode(b"tiny", "too small");
    check_every_mode(b"", "too small");
}

#[test]
fn repair_drops_malformed_batches() {
    let fs = database_with_one_key();
    let bad = batch(MAX_SEQUENCE_NUMBER, &[b"p", b"q"]);
    let mut wrong_count = batch(50, &[b"r"]);
    wrong_count[8] = 0;
    append_records(&fs, &[&bad, &wrong_count, &batch(10, &[b"s"])]);
    let report = Db::repair(DIR, &options(&fs, RecoveryMode::default())).unwrap();
    assert_eq!(report.log_records_dropped, 2, "{report:?}");
    let db = Db::open(DIR, options(&fs, RecoveryMode::AbsoluteConsistency)).unwrap();
    assert_eq!(keys(&db), [b"a".to_vec(), b"s".to_vec()]);
}

#[test]
fn updates_since_reports_a_malformed_batch_with_its_location() {
    let fs = database_with_one_key();
    let db = Db::open(DIR, options(&fs, RecoveryMode::default())).unwrap();
    db.put(b"b", b"2").unwrap();
    let (path, offset) = append_records(&fs, &[&batch(3, &[b"p", b"q"])[..15]]);
    let mut updates = db
        .updates_since_opt(
            2,
            lsmkit::WalIteratorOptions {
                recovery_mode: RecoveryMode::AbsoluteConsistency,
                follow_tail: false,
            },
        )
        .unwrap();
    let mut seen = Vec::new();
    let error = loop {
        match updates.next_op() {
            Some(Ok(op)) => seen.push(op.key.to_vec()),
            Some(Err(e)) => break e,
            None => panic!("the malformed batch went unnoticed"),
        }
    };
    assert_eq!(seen, [b"b".to_vec()]);
    match &error {
        Error::Corruption { file, offset: at, .. } => {
            assert_eq!(file.as_deref(), Some(path.as_path()), "{error}");
            assert_eq!(*at, Some(offset), "{error}");
        }
        other => panic!("expected a corruption, got {other}"),
    }
}

#[test]
fn paranoid_checks_treat_a_malformed_batch_as_tail_damage() {
    let paranoid =
        |fs: &Arc<MemFs>| Options { paranoid_checks: true, ..options(fs, RecoveryMode::default()) };
    let bad = batch(MAX_SEQUENCE_NUMBER, &[b"p", b"q"]);

    // At the end of the log: dropped, the rest of the log recovered.
    let fs = database_with_one_key();
    append_records(&fs, &[&batch(4, &[b"before"]), &bad]);
    let db = Db::open(DIR, paranoid(&fs)).unwrap();
    assert_eq!(keys(&db), [b"a".to_vec(), b"before".to_vec()]);
    drop(db);

    // Followed by a valid record: records were lost from the middle.
    let fs = database_with_one_key();
    let (path, offset) = append_records(&fs, &[&bad, &batch(4, &[b"after"])]);
    match Db::open(DIR, paranoid(&fs)) {
        Ok(_) => panic!("the open succeeded"),
        Err(Error::Corruption { file, offset: at, message }) => {
            assert!(message.contains("valid records follow"), "{message}");
            assert_eq!((file.as_deref(), at), (Some(path.as_path()), Some(offset)));
        }
        Err(other) => panic!("expected a corruption, got {other}"),
    }
}
