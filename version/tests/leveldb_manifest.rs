//! Interoperability with the real LevelDB 1.23 (Debian's python3-plyvel, run
//! through `/usr/bin/python3`; this test fails if it is missing).
//!
//! 1. LevelDB writes a database with many flushes, manual compactions and a
//!    reopen (so its MANIFEST starts with a snapshot record). Recovering its
//!    MANIFEST gives exactly the table files in the directory, with their
//!    sizes, and the last sequence number of the last flush (the WAL goes on
//!    from there).
//! 2. We then write a new MANIFEST (snapshot + edit, as at every open) and
//!    switch CURRENT; LevelDB opens the result with `paranoid_checks` and
//!    reads exactly the same contents as from an untouched copy.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::filename::{log_file_name, parse_file_name, FileType};
use lsmkit_base::fs::{FileSystem, StdFs};
use lsmkit_base::key::InternalKeyComparator;
use lsmkit_version::{VersionEdit, VersionSet, VersionSetOptions};
use lsmkit_wal::{LogReader, RecoveryMode, WriteBatch};

const MAKE_DB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/version_make_db.py");
const DUMP_DB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/version_dump_db.py");

fn python(script: &str, db: &Path) -> String {
    let output = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(db)
        .output()
        .unwrap_or_else(|e| panic!("cannot run /usr/bin/python3: {e}"));
    assert!(
        output.status.success(),
        "{script} failed (is python3-plyvel installed?):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn open(fs: &Arc<dyn FileSystem>, db: &Path) -> VersionSet {
    let icmp = InternalKeyComparator::new(BytewiseComparator::shared());
    let mut versions = VersionSet::new(db, fs.clone(), icmp, VersionSetOptions::default());
    versions.recover().unwrap_or_else(|e| panic!("recovering LevelDB's MANIFEST: {e}"));
    versions
}

/// Table number → size, for the tables of the current Version.
fn live_tables(versions: &VersionSet) -> BTreeMap<u64, u64> {
    versions.current().levels().iter().flatten().map(|f| (f.number, f.file_size)).collect()
}

/// Table number → size, for the table files in the directory.
fn tables_on_disk(fs: &Arc<dyn FileSystem>, db: &Path) -> BTreeMap<u64, u64> {
    let mut tables = BTreeMap::new();
    for name in fs.list_dir(db).unwrap() {
        if let Some((number, FileType::Table)) = parse_file_name(&name) {
            tables.insert(number, fs.file_size(&db.join(&name)).unwrap());
        }
    }
    tables
}

fn numbers_of(fs: &Arc<dyn FileSystem>, db: &Path, file_type: FileType) -> Vec<u64> {
    let mut numbers: Vec<u64> = fs
        .list_dir(db)
        .unwrap()
        .iter()
        .filter_map(|name| parse_file_name(name))
        .filter(|&(_, t)| t == file_type)
        .map(|(n, _)| n)
        .collect();
    numbers.sort_unstable();
    numbers
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn leveldb_manifest_recovers_to_the_tables_on_disk() {
    let temp = tempfile::tempdir().unwrap();
    let db: PathBuf = temp.path().join("db");
    let operations: u64 = python(MAKE_DB, &db).parse().expect("operation count");
    let fs: Arc<dyn FileSystem> = Arc::new(StdFs::new());

    let versions = open(&fs, &db);
    let live = live_tables(&versions);
    assert!(live.len() >= 4, "expected several tables, got {live:?}");
    assert_eq!(live, tables_on_disk(&fs, &db));
    // The MANIFEST holds the sequence of the last flush; the writes after it
    // are in the WAL, whose batches continue exactly from there.
    let (first_logged, last_logged) = logged_sequences(&fs, &db, versions.log_number());
    assert_eq!(first_logged, versions.last_sequence() + 1);
    assert_eq!(last_logged, operations);
    let current = versions.current();
    assert!((1..7).any(|level| current.num_level_files(level) > 0), "no compaction output: {current:?}");
    assert!(
        versions.compact_pointers().iter().next().is_some(),
        "LevelDB's compactions left no compaction pointer"
    );
    // LevelDB keeps exactly the WALs at or above the log number.
    let logs = numbers_of(&fs, &db, FileType::Log);
    assert!(!logs.is_empty() && logs.iter().all(|&n| n >= versions.log_number()), "{logs:?}");
    assert!(versions.next_file_number() > *live.keys().max().unwrap());
    drop(versions);

    // Reference contents, read by LevelDB from an untouched copy.
    let copy = temp.path().join("copy");
    copy_dir(&db, &copy);
    let expected = python(DUMP_DB, &copy);

    // Rewrite the MANIFEST ourselves, as an open does, keeping the log number
    // so LevelDB still replays the WAL.
    let mut versions = open(&fs, &db);
    let old_manifest = versions.manifest_file_number();
    versions.log_and_apply(&mut VersionEdit::new()).unwrap();
    assert!(versions.manifest_file_number() > old_manifest);
    let names = fs.list_dir(&db).unwrap();
    let obsolete: Vec<String> =
        versions.obsolete_files(&names, &Default::default()).into_iter().map(|f| f.name).collect();
    assert_eq!(obsolete, [format!("MANIFEST-{old_manifest:06}")]);
    for name in &obsolete {
        fs.remove_file(&db.join(name)).unwrap();
    }
    let tables = live_tables(&versions);
    drop(versions);

    assert_eq!(python(DUMP_DB, &db), expected, "LevelDB reads different contents through our MANIFEST");

    // And we read LevelDB's next MANIFEST again: the old tables plus the
    // table LevelDB flushed from the replayed WAL.
    let versions = open(&fs, &db);
    let live = live_tables(&versions);
    assert_eq!(live, tables_on_disk(&fs, &db));
    assert!(tables.iter().all(|(number, size)| live.get(number) == Some(size)));
    assert_eq!(versions.last_sequence(), operations);
}

/// The first and last sequence numbers in the WALs numbered at least `log_number`.
fn logged_sequences(fs: &Arc<dyn FileSystem>, db: &Path, log_number: u64) -> (u64, u64) {
    let mut first = u64::MAX;
    let mut last = 0;
    for number in numbers_of(fs, db, FileType::Log).into_iter().filter(|&n| n >= log_number) {
        let path = log_file_name(db, number);
        let mut reader =
            LogReader::new(fs.open_sequential(&path).unwrap(), &path, RecoveryMode::AbsoluteConsistency);
        while let Some(record) = reader.read_record().unwrap() {
            let batch = WriteBatch::from_data(record).unwrap();
            first = first.min(batch.sequence());
            last = last.max(batch.sequence() + u64::from(batch.count()) - 1);
        }
    }
    (first, last)
}
