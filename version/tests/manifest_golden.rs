//! Golden tests: the MANIFESTs and CURRENT files a VersionSet writes are byte
//! for byte those of LevelDB 1.23 (docs/format.md §10.2 and §10.3 [real] examples).

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::path::Path;
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::filename::{current_file_name, manifest_file_name};
use lsmkit_base::fs::{read_file_to_vec, FileSystem, MemFs};
use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
use lsmkit_version::{FileMetaData, VersionEdit, VersionSet, VersionSetOptions};
use lsmkit_wal::{LogReader, RecoveryMode};

const DIR: &str = "db";

fn new_fs() -> Arc<dyn FileSystem> {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    fs.create_dir_all(Path::new(DIR)).unwrap();
    fs
}

fn version_set(fs: &Arc<dyn FileSystem>) -> VersionSet {
    VersionSet::new(
        DIR,
        fs.clone(),
        InternalKeyComparator::new(BytewiseComparator::shared()),
        VersionSetOptions::default(),
    )
}

fn with_comparator(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    out.extend_from_slice(&[0x01, 0x1a]);
    out.extend_from_slice(b"leveldb.BytewiseComparator");
    out.extend_from_slice(rest);
    out
}

fn records(fs: &Arc<dyn FileSystem>, number: u64) -> Vec<Vec<u8>> {
    let path = manifest_file_name(Path::new(DIR), number);
    let mut reader =
        LogReader::new(fs.open_sequential(&path).unwrap(), &path, RecoveryMode::AbsoluteConsistency);
    let mut out = Vec::new();
    while let Some(record) = reader.read_record().unwrap() {
        out.push(record);
    }
    out
}

fn ik(user_key: &[u8], sequence: u64) -> Vec<u8> {
    make_internal_key(user_key, sequence, ValueKind::Value)
}

/// Create, then the first open as LevelDB does it: recover, allocate the WAL
/// number, log_and_apply.
fn create_and_open(fs: &Arc<dyn FileSystem>) -> VersionSet {
    version_set(fs).create_new_db().unwrap();
    let mut versions = version_set(fs);
    assert!(versions.recover().unwrap());
    let log_number = versions.new_file_number();
    assert_eq!(log_number, 3);
    let mut edit = VersionEdit::new();
    edit.set_log_number(log_number);
    versions.log_and_apply(&mut edit).unwrap();
    versions
}

#[test]
fn new_database_manifest_000001() {
    let fs = new_fs();
    version_set(&fs).create_new_db().unwrap();
    let expected =
        with_comparator(&[0x95, 0x7c, 0xb9, 0xc5, 0x22, 0x00, 0x01], &[0x02, 0x00, 0x03, 0x02, 0x04, 0x00]);
    assert_eq!(expected.len(), 41);
    assert_eq!(read_file_to_vec(fs.as_ref(), &manifest_file_name(Path::new(DIR), 1)).unwrap(), expected);
    assert_eq!(
        read_file_to_vec(fs.as_ref(), &current_file_name(Path::new(DIR))).unwrap(),
        b"MANIFEST-000001\n"
    );
    let mut names = fs.list_dir(Path::new(DIR)).unwrap();
    names.sort();
    assert_eq!(names, ["CURRENT", "MANIFEST-000001"]);
    // A second creation would destroy the database: refused.
    match version_set(&fs).create_new_db() {
        Err(lsmkit_base::Error::InvalidArgument(message)) => assert!(message.contains("already exists")),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn first_open_manifest_000002() {
    let fs = new_fs();
    let versions = create_and_open(&fs);
    let mut expected = with_comparator(
        &[0x56, 0xf9, 0xb8, 0xf8, 0x1c, 0x00, 0x01],
        &[0xa4, 0x9c, 0x8b, 0xbe, 0x08, 0x00, 0x01],
    );
    expected.extend_from_slice(&[0x02, 0x03, 0x09, 0x00, 0x03, 0x04, 0x04, 0x00]);
    assert_eq!(expected.len(), 50);
    assert_eq!(read_file_to_vec(fs.as_ref(), &manifest_file_name(Path::new(DIR), 2)).unwrap(), expected);
    assert_eq!(
        read_file_to_vec(fs.as_ref(), &current_file_name(Path::new(DIR))).unwrap(),
        b"MANIFEST-000002\n"
    );
    assert_eq!(
        (versions.manifest_file_number(), versions.log_number(), versions.next_file_number()),
        (2, 3, 4)
    );
    assert_eq!(versions.manifest_file_size(), Some(50));
    // MANIFEST-000001 is now obsolete; the temp file is gone.
    let names = fs.list_dir(Path::new(DIR)).unwrap();
    assert!(!names.iter().any(|n| n.ends_with(".dbtmp")), "{names:?}");
    let obsolete: Vec<String> =
        versions.obsolete_files(&names, &Default::default()).into_iter().map(|f| f.name).collect();
    assert_eq!(obsolete, ["MANIFEST-000001"]);
}

#[test]
fn reopen_after_one_put_manifest_000004() {
    let fs = new_fs();
    drop(create_and_open(&fs));
    // LevelDB's second open: MANIFEST number 4, table 5 from replaying WAL 3, new WAL 6.
    let mut versions = version_set(&fs);
    assert!(versions.recover().unwrap());
    assert_eq!(versions.manifest_file_number(), 2);
    let table = versions.new_file_number();
    let log_number = versions.new_file_number();
    assert_eq!((table, log_number), (5, 6));
    versions.set_last_sequence(1);
    let mut edit = VersionEdit::new();
    edit.set_log_number(log_number);
    edit.set_prev_log_number(0);
    edit.add_file(0, FileMetaData::new(table, 114, ik(b"k", 1), ik(b"k", 1)));
    versions.log_and_apply(&mut edit).unwrap();
    assert_eq!(versions.manifest_file_number(), 4);

    let written = records(&fs, 4);
    assert_eq!(written.len(), 2);
    assert_eq!(written[0], with_comparator(&[], &[]));
    let golden = [
        0x02, 0x06, 0x09, 0x00, 0x03, 0x07, 0x04, 0x01, 0x07, 0x00, 0x05, 0x72, 0x09, 0x6b, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x6b, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    assert_eq!(written[1], golden);

    // A third open writes MANIFEST-000007 whose snapshot lists table 5.
    let mut again = version_set(&fs);
    again.recover().unwrap();
    assert_eq!(*again.current(), *versions.current());
    let mut edit = VersionEdit::new();
    edit.set_log_number(again.new_file_number());
    again.log_and_apply(&mut edit).unwrap();
    let snapshot = &records(&fs, again.manifest_file_number())[0];
    assert_eq!(again.manifest_file_number(), 7);
    let mut expected_snapshot = with_comparator(&[], &[0x07, 0x00, 0x05, 0x72, 0x09]);
    expected_snapshot.extend_from_slice(&ik(b"k", 1));
    expected_snapshot.push(0x09);
    expected_snapshot.extend_from_slice(&ik(b"k", 1));
    assert_eq!(*snapshot, expected_snapshot);
}

#[test]
fn snapshot_with_compact_pointer_fragment() {
    let fs = new_fs();
    let mut versions = create_and_open(&fs);
    let mut edit = VersionEdit::new();
    edit.set_compact_pointer(0, &ik(b"key019996", 37061));
    let first = ik(b"key000000", 1);
    let last = ik(b"key019996", 37061);
    edit.add_file(0, FileMetaData::new(201, 50_346, first.clone(), last.clone()));
    versions.mark_file_number_used(201).unwrap();
    versions.set_last_sequence(37061);
    versions.log_and_apply(&mut edit).unwrap();
    assert_eq!(versions.compact_pointer(0), Some(&ik(b"key019996", 37061)[..]));

    let mut reopened = version_set(&fs);
    reopened.recover().unwrap();
    assert_eq!(reopened.compact_pointer(0), versions.compact_pointer(0));
    let mut edit = VersionEdit::new();
    reopened.log_and_apply(&mut edit).unwrap();
    let snapshot = &records(&fs, reopened.manifest_file_number())[0];
    let mut fragment = vec![0x05, 0x00, 0x11];
    fragment.extend_from_slice(b"key019996");
    fragment.extend_from_slice(&[0x01, 0xc5, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00]);
    fragment.extend_from_slice(&[0x07, 0x00, 0xc9, 0x01, 0xaa, 0x89, 0x03, 0x11]);
    let mut expected = with_comparator(&[], &fragment);
    expected.extend_from_slice(&first);
    expected.push(0x11);
    expected.extend_from_slice(&last);
    assert_eq!(*snapshot, expected);
}
