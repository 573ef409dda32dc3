//! A database that writes its log through memory mappings
//! (`wal_io_mode: WalIoMode::mmap()`) and whose live log is truncated behind
//! its back, as a failing disk or a stray `truncate` would leave it: the
//! next write's store into the mapping fails, and the `SIGBUS` guard
//! (base/src/fs/mapped_read_guard.rs) turns that into an `Error::Io` naming
//! the log, not a crash. The write is not applied, the error becomes the
//! database's background error and every later write gets it, reads keep
//! working, and the process (and the database, reopened) goes on.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use lsmkit::{Db, Error, FlushOptions, Options, WalIoMode, WriteOptions};

fn options() -> Options {
    Options { create_if_missing: true, wal_io_mode: WalIoMode::mmap(), ..Options::default() }
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    format!("value{i:06}-{}", "x".repeat(100)).into_bytes()
}

/// The log files of the database in `dir`, oldest first.
fn logs(dir: &Path) -> Vec<PathBuf> {
    common::files_with_extension(dir, "log")
}

/// Asserts that `err` is the guard's write error on `log`.
fn assert_log_write_error(err: &Error, log: &Path) {
    match err {
        Error::Io { path, source, .. } => {
            assert_eq!(path, log, "the error names the log: {err}");
            let message = source.to_string();
            assert!(message.contains("SIGBUS"), "{err}");
            assert!(message.contains("could not be written"), "{err}");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn a_truncated_mapped_log_gives_errors_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options()).unwrap();
    for i in 0..200 {
        db.put(&key(i), &value(i)).unwrap();
    }
    let live = logs(dir.path());
    let log = live.last().unwrap().clone();
    // The mapped log grows in whole chunks.
    assert_eq!(std::fs::metadata(&log).unwrap().len(), WalIoMode::DEFAULT_MMAP_CHUNK_SIZE as u64);
    OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();

    // The next write stores into a page the file no longer has.
    let err = db.put(b"lost", b"write").unwrap_err();
    assert_log_write_error(&err, &log);
    // It was not applied, and the database remembers why it stopped.
    assert_eq!(db.get(b"lost").unwrap(), None);
    assert_log_write_error(&db.background_error().expect("a background error"), &log);
    // Every later write fails with the same error, synced or not, and so
    // does a flush.
    assert_log_write_error(&db.put(b"later", b"write").unwrap_err(), &log);
    let synced = WriteOptions { sync: true, ..WriteOptions::default() };
    assert_log_write_error(&db.put_opt(synced, b"later", b"synced").unwrap_err(), &log);
    assert_log_write_error(&db.flush(FlushOptions::default()).unwrap_err(), &log);
    assert_eq!(db.get(b"later").unwrap(), None);

    // Reads are served as before.
    for i in (0..200).step_by(17) {
        assert_eq!(db.get(&key(i)).unwrap().unwrap(), value(i));
    }
    drop(db);

    // The process goes on, and so does the database: it opens again (the
    // log lost its records with the truncation) and takes writes.
    let db = Db::open(dir.path(), options()).unwrap();
    assert_eq!(db.get(b"lost").unwrap(), None);
    db.put(b"after", b"reopen").unwrap();
    assert_eq!(&db.get(b"after").unwrap().unwrap()[..], b"reopen");
    db.flush(FlushOptions::default()).unwrap();
    assert_eq!(&db.get(b"after").unwrap().unwrap()[..], b"reopen");
}
