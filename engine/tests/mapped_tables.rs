//! A database that reads its tables through memory mappings
//! (`table_read_mode: Mmap`) and whose table file is truncated behind its
//! back, as a failing disk or a stray `truncate` would leave it: reads of
//! the lost pages are `Error::Io` naming the table (the `SIGBUS` guard,
//! base/src/fs/mapped_read_guard.rs), not a crash; blocks cached before the
//! damage stay intact, and the rest of the process keeps working.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use lsmkit::{Db, FlushOptions, Options, ReadOptions};
use lsmkit_base::fs::ReadMode;
use lsmkit_base::Error;

fn options() -> Options {
    Options { create_if_missing: true, table_read_mode: ReadMode::Mmap, ..Options::default() }
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

/// 1 000-byte values that compress poorly, so the table spans many pages.
fn value(i: u32) -> Vec<u8> {
    let mut state = u64::from(i) + 1;
    (0..1000)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// The table files of the database in `dir`.
fn tables(dir: &Path) -> Vec<PathBuf> {
    common::files_with_extension(dir, "ldb")
}

/// A database in `dir` holding keys 0..n in tables only (flushed), with
/// key 0's block read once (so its table is open and that block cached).
fn filled(dir: &Path, n: u32) -> Db {
    let db = Db::open(dir, options()).unwrap();
    for i in 0..n {
        db.put(&key(i), &value(i)).unwrap();
    }
    db.flush(FlushOptions::default()).unwrap();
    assert_eq!(db.get(&key(0)).unwrap().unwrap(), value(0));
    db
}

/// Asserts that `err` is an I/O error on one of `tables`.
fn assert_table_io_error(err: &Error, tables: &[PathBuf]) {
    match err {
        Error::Io { path, source, .. } => {
            assert!(tables.contains(path), "error names {path:?}, not a table: {err}");
            assert!(source.to_string().contains("SIGBUS"), "{err}");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn a_truncated_mapped_table_gives_errors_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let db = filled(dir.path(), n);
    let files = tables(dir.path());
    assert!(!files.is_empty());
    for path in &files {
        OpenOptions::new().write(true).open(path).unwrap().set_len(0).unwrap();
    }

    // A point read of a block that is not cached fails with the table's name.
    let uncached = ReadOptions { fill_cache: false, ..ReadOptions::new() };
    let err = db.get_opt(&uncached, &key(n / 2)).unwrap_err();
    assert_table_io_error(&err, &files);
    // So does a scan, through its status.
    let mut it = db.iter(ReadOptions::new());
    it.seek_to_first();
    let mut seen = 0;
    while it.valid() {
        seen += 1;
        it.next();
    }
    let err = it.status().unwrap_err();
    assert_table_io_error(&err, &files);
    assert!(seen < n as usize, "the scan stopped at the error after {seen} entries");
    drop(it);
    // Every read of the lost table that needs its file fails, not just the
    // first (keys far from key 0, whose block is cached).
    for i in [100, n / 3, n / 2 + 7, n - 1] {
        assert_table_io_error(&db.get_opt(&uncached, &key(i)).unwrap_err(), &files);
    }

    // The block read before the damage was cached as a copy: it is intact.
    assert_eq!(db.get(&key(0)).unwrap().unwrap(), value(0));

    // The process keeps working: the memtable takes writes and serves them,
    // and another mapped database works from end to end.
    db.put(b"after", b"the damage").unwrap();
    assert_eq!(&db.get(b"after").unwrap().unwrap()[..], b"the damage");
    let other_dir = tempfile::tempdir().unwrap();
    let other = filled(other_dir.path(), 500);
    for i in (0..500).step_by(37) {
        assert_eq!(other.get_opt(&uncached, &key(i)).unwrap().unwrap(), value(i));
    }
    drop(other);
    drop(db);
}
