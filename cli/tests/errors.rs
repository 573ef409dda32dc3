//! Failures of the `lsmkit` binary: a missing database, a locked one,
//! corrupt files, bad hex and bad command lines each give one clear
//! `lsmkit: …` line on stderr and the documented exit code (1 for a failed
//! command, 2 for a bad command line), never a panic or a backtrace.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::path::{Path, PathBuf};

use common::{db_arg, files_ending, lsmkit};
use lsmkit::{Db, FlushOptions, Options};

/// A database with 2000 entries in a table and, unless `flush` is false, none in its WAL.
fn make_db(dir: &Path, flush: bool) {
    let db = Db::open(dir, Options { create_if_missing: true, ..Options::default() }).unwrap();
    for i in 0..2000u32 {
        db.put(format!("key{i:05}").as_bytes(), format!("value {i} {}", "x".repeat(50)).as_bytes()).unwrap();
    }
    if flush {
        db.flush(FlushOptions { wait: true }).unwrap();
    }
}

/// Flips the bits of the byte at `at` (from the end if negative).
fn flip_byte(path: &Path, at: i64) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = if at < 0 { bytes.len() as i64 + at } else { at } as usize;
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

fn only(files: Vec<PathBuf>) -> PathBuf {
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

fn manifest_of(dir: &Path) -> PathBuf {
    only(files_ending(dir, "").into_iter().filter(|p| p.to_string_lossy().contains("MANIFEST-")).collect())
}

#[test]
fn missing_database() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let db = db_arg(&missing);
    for args in [
        vec!["get", "k"],
        vec!["put", "k", "v"],
        vec!["delete", "k"],
        vec!["batchput", "k", "v"],
        vec!["scan"],
        vec!["verify"],
        vec!["manifest"],
        vec!["stats"],
        vec!["compact"],
        vec!["wal", "--since=1"],
        vec!["approxsize", "--from=a", "--to=b"],
    ] {
        let message = lsmkit([db.as_str()].into_iter().chain(args.clone())).fails(1);
        assert!(message.contains("no such directory"), "{args:?}: {message}");
    }
    assert!(!missing.exists(), "nothing is created without --create_if_missing");

    // A directory that holds no database.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for command in ["scan", "verify", "manifest"] {
        let message = lsmkit([&db_arg(&empty), command]).fails(1);
        assert!(message.contains("not a database (no CURRENT file"), "{message}");
    }
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    // No --db at all is a usage error.
    assert!(lsmkit(["get", "k"]).fails(2).contains("needs --db=DIR"));
    // A file to dump that is not there.
    let message = lsmkit([Path::new("dump"), &tmp.path().join("000001.log")]).fails(1);
    assert!(message.contains("No such file"), "{message}");
}

#[test]
fn locked_database() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let held = Db::open(&dir, Options { create_if_missing: true, ..Options::default() }).unwrap();
    held.put(b"k", b"v").unwrap();
    let db = db_arg(&dir);
    for args in
        [vec!["get", "k"], vec!["delete", "k"], vec!["compact"], vec!["approxsize", "--from=a", "--to=z"]]
    {
        let message = lsmkit([db.as_str()].into_iter().chain(args)).fails(1);
        assert!(message.starts_with("lsmkit: database is locked"), "{message}");
        assert!(message.contains("LOCK"), "{message}");
    }
    drop(held);
    assert_eq!(lsmkit([&db, "get", "k"]).ok(), "v\n");
}

#[test]
fn corrupt_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    make_db(&dir, true);
    let db = db_arg(&dir);
    assert!(lsmkit([&db, "verify"]).ok().ends_with(": 0 problems\n"));
    let table = only(files_ending(&dir, ".ldb"));
    flip_byte(&table, 5000);

    let report = lsmkit([&db, "verify"]);
    let message = report.fails(1);
    assert!(message.contains("verify found 1 problem(s)"), "{message}");
    let text = report.text();
    assert!(
        text.contains(&format!("problem: {}: corruption: block checksum mismatch", table.display())),
        "{text}"
    );
    assert!(text.contains("ok: ") && text.contains(": 1 problems\n"), "{text}");

    let message = lsmkit([&db, "scan"]).fails(1);
    assert!(message.contains("corruption") && message.contains(".ldb"), "{message}");
    let dump = lsmkit([Path::new("dump"), &table]);
    assert!(dump.fails(1).contains("1 damaged part(s)"));
    assert!(dump.text().contains("--- damage: corruption: block checksum mismatch"), "{}", dump.text());

    // A table cut short is not a table.
    let bytes = std::fs::read(&table).unwrap();
    std::fs::write(&table, &bytes[..bytes.len() - 20]).unwrap();
    let text = lsmkit([&db, "verify"]).text();
    assert!(text.contains("the MANIFEST says"), "{text}");
    assert!(lsmkit([Path::new("dump"), &table]).fails(1).contains("corruption"));
}

#[test]
fn corrupt_manifest_and_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    make_db(&dir, false);
    let db = db_arg(&dir);
    let log = only(files_ending(&dir, ".log"));
    flip_byte(&log, 40_000);
    let report = lsmkit([&db, "verify"]);
    report.fails(1);
    let text = report.text();
    assert!(text.contains(&format!("problem: {}: dropping ", log.display())), "{text}");
    assert!(text.contains("checksum mismatch"), "{text}");
    let dump = lsmkit([Path::new("dump"), &log]);
    dump.fails(1);
    assert!(dump.text().contains("--- damage: dropping "), "{}", dump.text());

    let manifest = manifest_of(&dir);
    flip_byte(&manifest, 10);
    for command in ["verify", "manifest", "scan"] {
        let message = lsmkit([&db, command]).fails(1);
        assert!(message.contains("corruption") || message.contains("problem"), "{command}: {message}");
    }
    assert!(lsmkit([Path::new("dump"), &manifest]).text().contains("--- damage: "));

    // CURRENT naming a MANIFEST that is not there.
    std::fs::write(dir.join("CURRENT"), "MANIFEST-999999\n").unwrap();
    let message = lsmkit([&db, "get", "k"]).fails(1);
    assert!(message.contains("MANIFEST-999999"), "{message}");
    assert!(lsmkit([&db, "verify"]).fails(1).contains("MANIFEST-999999"));
}

#[test]
fn bad_hex_and_bad_command_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = db_arg(&dir);
    assert_eq!(lsmkit([&db, "--create_if_missing", "put", "k", "v"]).ok(), "OK\n");
    let manifest = manifest_of(&dir);
    for args in [
        vec!["--hex", "get", "0xZZ"],
        vec!["--hex", "get", "6B"],
        vec!["--key_hex", "put", "0x6", "v"],
        vec!["--value_hex", "put", "k", "v"],
        vec!["--hex", "batchput", "0x01", "0x02", "0x03", "0xG4"],
        vec!["--hex", "scan", "--from=zz"],
        vec!["--key_hex", "compact", "--to=0x1"],
        vec!["--hex", "approxsize", "--from=0x00", "--to=ff"],
    ] {
        let message = lsmkit([db.as_str()].into_iter().chain(args.clone())).fails(2);
        assert!(message.starts_with("lsmkit: bad hex"), "{args:?}: {message}");
    }
    // Nothing was opened: the MANIFEST is still the one `put` left.
    assert_eq!(manifest_of(&dir), manifest);

    for (args, expected) in [
        (vec!["batchput", "k1", "v1", "k2"], "in pairs"),
        (vec!["frobnicate"], "unrecognized subcommand"),
        (vec!["get"], "required"),
        (vec!["scan", "--limit=many"], "invalid value"),
        (vec!["wal"], "--since"),
        (vec!["dump", "CURRENT"], "cannot tell the kind of file"),
    ] {
        let message = lsmkit([db.as_str()].into_iter().chain(args.clone())).fails(2);
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    assert!(lsmkit(["--help"]).ok().contains("Exit status: 0 success"));
}

/// Appends `record` to the log at `path` with a valid checksum (written by
/// a `LogWriter` through an in-memory copy of the file); returns the
/// record's offset.
fn append_record(path: &Path, record: &[u8]) -> u64 {
    use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs};
    let bytes = std::fs::read(path).unwrap();
    let offset = bytes.len() as u64;
    let fs = MemFs::new();
    let copy = Path::new("copy.log");
    write_file(&fs, copy, &bytes, false).unwrap();
    let mut writer = lsmkit_wal::LogWriter::new_with_offset(fs.open_appendable(copy).unwrap(), offset);
    writer.add_record(record).unwrap();
    writer.close().unwrap();
    std::fs::write(path, read_file_to_vec(&fs, copy).unwrap()).unwrap();
    offset
}

#[test]
fn wal_batch_with_sequence_past_the_maximum() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    make_db(&dir, false);
    let db = db_arg(&dir);
    let log = only(files_ending(&dir, ".log"));
    // A batch of two puts from sequence 2^56 - 1: the second would be 2^56.
    let mut batch = lsmkit::WriteBatch::new();
    batch.set_sequence((1 << 56) - 1);
    batch.put(b"p", b"1");
    batch.put(b"q", b"2");
    let offset = append_record(&log, batch.data());
    let location = format!("(in {} at offset {offset})", log.display());

    let dump = lsmkit([Path::new("dump"), &log]);
    dump.fails(1);
    assert!(dump.text().contains("largest sequence number"), "{}", dump.text());
    assert!(dump.text().contains(&location), "{}", dump.text());
    let verify = lsmkit([&db, "verify"]);
    verify.fails(1);
    assert!(verify.text().contains("largest sequence number"), "{}", verify.text());
    // `wal` reads the log as complete but tolerates damage at its tail.
    let wal = lsmkit([&db, "wal", "--since=1"]).ok();
    assert_eq!(wal.lines().count(), 2000, "{wal}");
    // The default recovery mode (point in time) ends the log before the record.
    let scan = lsmkit([&db, "scan"]).ok();
    assert_eq!(scan.lines().count(), 2000);
    assert!(!scan.contains("\np :"), "{scan}");

    // Sequence numbers that would pass 2^64 are shown as far as they go.
    let lone = tmp.path().join("000009.log");
    std::fs::write(&lone, b"").unwrap();
    let mut batch = lsmkit::WriteBatch::new();
    batch.set_sequence(u64::MAX);
    batch.put(b"p", b"1");
    batch.put(b"q", b"2");
    append_record(&lone, batch.data());
    let dump = lsmkit([Path::new("dump"), &lone]);
    dump.fails(1);
    let text = dump.text();
    assert!(text.contains(&format!("  {} put 'p' => '1'\n  ? put 'q' => '2'\n", u64::MAX)), "{text}");
    assert!(text.contains("largest sequence number"), "{text}");
}
