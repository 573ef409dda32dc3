//! The `lsmkit` binary against a database that lsmkit itself wrote — through
//! the binary, and through a [`lsmkit::Db`] that stays open in this process
//! while the binary reads its files — and LevelDB 1.23 (python3-plyvel)
//! reading the result.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::collections::BTreeMap;

use common::{db_arg, files_ending, hex, hex_scan_text, leveldb, lsmkit};
use lsmkit::{Db, Options};

#[test]
fn a_database_written_by_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new");
    let db = db_arg(&dir);
    let mut model = BTreeMap::new();

    assert_eq!(lsmkit([&db, "--create_if_missing", "put", "apple", "red"]).ok(), "OK\n");
    model.insert(b"apple".to_vec(), b"red".to_vec());
    // 300 binary keys in one atomic batch.
    let mut args = vec![db.clone(), "--hex".into(), "batchput".into()];
    for i in 0u32..300 {
        let key = [&[0u8, 0xff][..], &i.to_be_bytes()].concat();
        let value = vec![(i % 256) as u8; (i % 50) as usize];
        args.push(hex(&key));
        args.push(hex(&value));
        model.insert(key, value);
    }
    assert_eq!(lsmkit(&args).ok(), "OK\n");
    for i in (0u32..300).step_by(37) {
        let key = [&[0u8, 0xff][..], &i.to_be_bytes()].concat();
        assert_eq!(lsmkit([&db, "--key_hex", "delete", &hex(&key)]).ok(), "OK\n");
        model.remove(&key);
    }
    assert_eq!(lsmkit([&db, "put", "apple", "green"]).ok(), "OK\n");
    model.insert(b"apple".to_vec(), b"green".to_vec());
    assert_eq!(lsmkit([&db, "get", "apple"]).ok(), "green\n");
    assert_eq!(lsmkit([&db, "scan", "--from=a"]).ok(), "apple : green\n");

    let expected: Vec<_> = model.into_iter().collect();
    assert_eq!(lsmkit([&db, "--hex", "scan"]).ok(), hex_scan_text(&expected));
    assert_eq!(lsmkit([&db, "compact"]).ok(), "OK\n");
    assert_eq!(lsmkit([&db, "--hex", "scan"]).ok(), hex_scan_text(&expected));

    let report = lsmkit([&db, "verify"]).ok();
    assert!(report.contains(".ldb (level ") && report.ends_with(": 0 problems\n"), "{report}");
    let manifest = lsmkit([&db, "manifest", "--verbose"]).ok();
    assert!(
        manifest.contains("--- edit at offset 0\n  comparator 'leveldb.BytewiseComparator'\n"),
        "{manifest}"
    );
    for table in files_ending(&dir, ".ldb") {
        let dump = lsmkit([std::path::Path::new("dump"), &table]).ok();
        // lsmkit's tables carry its properties block (docs/format-extensions.md).
        assert!(dump.lines().nth(1).is_some_and(|line| line.starts_with("# properties: ")), "{dump}");
    }

    // LevelDB opens the database the CLI wrote and reads the same entries.
    assert_eq!(leveldb("dump", &dir), hex_scan_text(&expected));
}

#[test]
fn read_only_commands_work_while_the_database_is_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = Db::open(&dir, Options { create_if_missing: true, ..Options::default() }).unwrap();
    db.put(b"k1", b"v1").unwrap();
    let start = db.latest_sequence();
    db.put(b"k2", b"v2").unwrap();
    db.delete(b"k1").unwrap();
    let arg = db_arg(&dir);

    let wal = lsmkit([&arg, "wal", &format!("--since={start}")]).ok();
    assert_eq!(
        wal,
        format!("{start} put 'k1' => 'v1'\n{} put 'k2' => 'v2'\n{} del 'k1'\n", start + 1, start + 2)
    );
    let report = lsmkit([&arg, "verify"]).ok();
    assert!(report.contains("(3 records, 3 operations)"), "{report}");
    assert!(lsmkit([&arg, "manifest"]).ok().contains("total: 0 files, 0 bytes"));

    // Commands that open the database find it locked.
    for args in [vec!["get", "k2"], vec!["put", "k", "v"], vec!["scan"], vec!["stats"]] {
        let message = lsmkit([arg.as_str()].into_iter().chain(args)).fails(1);
        assert!(message.contains("database is locked"), "{message}");
    }
    drop(db);
    assert_eq!(lsmkit([&arg, "get", "k2"]).ok(), "v2\n");
}

#[test]
fn range_deletions_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ranges");
    let db = db_arg(&dir);
    let rd = "--range_deletions";
    assert_eq!(
        lsmkit([&db, "--create_if_missing", rd, "batchput", "a", "1", "b", "2", "c", "3"]).ok(),
        "OK\n"
    );
    assert_eq!(lsmkit([&db, rd, "deleterange", "a", "c"]).ok(), "OK\n");
    // The log (until the next open moves it into a table) shows the record
    // as a range deletion.
    assert_eq!(lsmkit([&db, "wal", "--since=4"]).ok(), "4 delrange 'a' .. 'c'\n");
    let log = files_ending(&dir, ".log").pop().expect("a log");
    let dump = lsmkit(["dump", log.to_str().unwrap()]).ok();
    assert!(dump.contains("4 delrange 'a' .. 'c'"), "{dump}");
    assert_eq!(lsmkit([&db, rd, "scan"]).ok(), "c : 3\n");
    assert_eq!(lsmkit([&db, rd, "compact"]).ok(), "OK\n");
    assert_eq!(lsmkit([&db, rd, "get", "b"]).fails(1).trim_end(), "lsmkit: NotFound: 'b'");
    // Without the option the database is refused; `deleterange` needs it.
    let refused = lsmkit([&db, "get", "c"]).fails(1);
    assert!(refused.contains("lsmkit.rangedel.leveldb.BytewiseComparator"), "{refused}");
    assert!(lsmkit([&db, "deleterange", "a", "b"]).fails(2).contains("--range_deletions"));
    // A table holding a tombstone dumps it after its entries.
    assert_eq!(lsmkit([&db, rd, "put", "x", "9"]).ok(), "OK\n");
    assert_eq!(lsmkit([&db, rd, "deleterange", "c", "d"]).ok(), "OK\n");
    // Opening moves the log into a table (a compaction could drop the
    // tombstone: nothing is left below it).
    assert!(!lsmkit([&db, rd, "stats"]).ok().is_empty());
    let tables = files_ending(&dir, ".ldb");
    let dumps: String = tables.iter().map(|t| lsmkit(["dump", t.to_str().unwrap()]).ok()).collect();
    assert!(dumps.contains(" : delrange .. 'd'"), "{dumps}");
    assert_eq!(lsmkit([&db, rd, "scan"]).ok(), "x : 9\n");
}

#[test]
fn merge_operands_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("counters");
    let db = db_arg(&dir);
    let append = "--merge_operator=append:+";
    assert_eq!(lsmkit([&db, "--create_if_missing", append, "put", "k", "a"]).ok(), "OK\n");
    assert_eq!(lsmkit([&db, append, "merge", "k", "b"]).ok(), "OK\n");
    assert_eq!(lsmkit([&db, append, "merge", "k", "c"]).ok(), "OK\n");
    // The log (each open moves the previous log into a table) shows the
    // operand as a merge record.
    let wal = lsmkit([&db, "wal", "--since=3"]).ok();
    assert_eq!(wal, "3 merge 'k' => 'c'\n");
    assert_eq!(lsmkit([&db, append, "get", "k"]).ok(), "a+b+c\n");
    assert_eq!(lsmkit([&db, append, "scan"]).ok(), "k : a+b+c\n");
    assert_eq!(lsmkit([&db, append, "compact"]).ok(), "OK\n");
    let table = files_ending(&dir, ".ldb").pop().expect("a table after compact");
    let dump = lsmkit(["dump", table.to_str().unwrap()]).ok();
    assert!(dump.contains("'k' @ 3 : put => 'a+b+c'"), "{dump}");
    // Without the operator the database is refused; `merge` needs one.
    let refused = lsmkit([&db, "get", "k"]).fails(1);
    assert!(refused.contains("lsmkit.merge.leveldb.BytewiseComparator"), "{refused}");
    assert!(lsmkit([&db, "merge", "k", "d"]).fails(2).contains("--merge_operator"));
    assert!(lsmkit([&db, "--merge_operator=sum", "get", "k"]).fails(2).contains("unknown merge operator"));
    let counters = tmp.path().join("plain");
    let db = db_arg(&counters);
    assert_eq!(
        lsmkit([
            &db,
            "--create_if_missing",
            "--merge_operator=u64add",
            "--value_hex",
            "merge",
            "n",
            "0x0500000000000000"
        ])
        .ok(),
        "OK\n"
    );
    assert_eq!(
        lsmkit([&db, "--merge_operator=u64add", "--value_hex", "merge", "n", "0x0700000000000000"]).ok(),
        "OK\n"
    );
    assert_eq!(
        lsmkit([&db, "--merge_operator=u64add", "--value_hex", "get", "n"]).ok(),
        "0x0C00000000000000\n"
    );
}
