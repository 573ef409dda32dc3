//! Recovery from CURRENT + MANIFEST: every docs/format.md §10.2/§10.3 rule, and
//! damaged input giving a clear error (never a panic, never a wrong Version).

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::path::Path;
use std::sync::Arc;

use lsmkit_base::comparator::{BytewiseComparator, Comparator};
use lsmkit_base::filename::{current_file_name, manifest_file_name};
use lsmkit_base::fs::{read_file_to_vec, write_file, FileSystem, MemFs, WriteMode};
use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
use lsmkit_base::Error;
use lsmkit_version::current_file::set_current_file;
use lsmkit_version::{FileMetaData, VersionEdit, VersionSet, VersionSetOptions};
use lsmkit_wal::LogWriter;

const DIR: &str = "db";

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn new_fs() -> Arc<dyn FileSystem> {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    fs.create_dir_all(dir()).unwrap();
    fs
}

fn icmp() -> InternalKeyComparator {
    InternalKeyComparator::new(BytewiseComparator::shared())
}

fn recover(fs: &Arc<dyn FileSystem>) -> Result<VersionSet, Error> {
    let mut versions = VersionSet::new(DIR, fs.clone(), icmp(), VersionSetOptions::default());
    versions.recover()?;
    Ok(versions)
}

fn ik(user_key: &[u8], sequence: u64) -> Vec<u8> {
    make_internal_key(user_key, sequence, ValueKind::Value)
}

/// An edit with the three counters recovery requires.
fn base_edit() -> VersionEdit {
    let mut edit = VersionEdit::new();
    edit.set_comparator_name("leveldb.BytewiseComparator");
    edit.set_log_number(3);
    edit.set_next_file_number(10);
    edit.set_last_sequence(42);
    edit
}

/// Writes MANIFEST-000005 holding `records` and points CURRENT at it.
fn write_manifest(fs: &Arc<dyn FileSystem>, records: &[Vec<u8>]) -> Vec<u8> {
    let path = manifest_file_name(dir(), 5);
    let mut writer = LogWriter::new(fs.create_writable(&path, WriteMode::Buffered).unwrap());
    for record in records {
        writer.add_record(record).unwrap();
    }
    writer.close().unwrap();
    set_current_file(fs.as_ref(), dir(), 5).unwrap();
    read_file_to_vec(fs.as_ref(), &path).unwrap()
}

fn overwrite_manifest(fs: &Arc<dyn FileSystem>, bytes: &[u8]) {
    write_file(fs.as_ref(), &manifest_file_name(dir(), 5), bytes, false).unwrap();
}

fn corruption_message(result: Result<VersionSet, Error>) -> String {
    match result {
        Err(e @ Error::Corruption { .. }) => e.to_string(),
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(v) => panic!("expected corruption, recovered {v:?}"),
    }
}

#[test]
fn recovers_files_counters_and_pointers() {
    let fs = new_fs();
    let mut first = base_edit();
    first.add_file(1, FileMetaData::new(7, 700, ik(b"a", 5), ik(b"c", 6)));
    first.add_file(0, FileMetaData::new(8, 800, ik(b"b", 9), ik(b"z", 8)));
    let mut second = VersionEdit::new();
    second.set_prev_log_number(2);
    second.set_last_sequence(50);
    second.set_compact_pointer(1, &ik(b"c", 6));
    second.remove_file(0, 8);
    second.add_file(2, FileMetaData::new(9, 900, ik(b"b", 9), ik(b"z", 8)));
    write_manifest(&fs, &[first.encode(), second.encode()]);
    let versions = recover(&fs).unwrap();
    let current = versions.current();
    let numbers: Vec<Vec<u64>> =
        current.levels().iter().map(|l| l.iter().map(|f| f.number).collect()).collect();
    assert_eq!(numbers, [vec![], vec![7], vec![9], vec![], vec![], vec![], vec![]]);
    assert_eq!(current.files(2)[0].file_size, 900);
    assert_eq!((versions.log_number(), versions.prev_log_number(), versions.last_sequence()), (3, 2, 50));
    // The new MANIFEST takes number 10; the next file is 11.
    assert_eq!(versions.next_file_number(), 11);
    assert_eq!(versions.manifest_file_number(), 5);
    assert_eq!(versions.compact_pointer(1), Some(&ik(b"c", 6)[..]));
    assert_eq!(versions.live_files().into_iter().collect::<Vec<_>>(), [7, 9]);
}

#[test]
fn missing_current_or_manifest_is_corruption() {
    let fs = new_fs();
    let message = corruption_message(recover(&fs));
    assert!(message.contains("CURRENT file missing"), "{message}");
    set_current_file(fs.as_ref(), dir(), 5).unwrap();
    let message = corruption_message(recover(&fs));
    assert!(message.contains("CURRENT names MANIFEST-000005, which does not exist"), "{message}");
    assert!(message.contains("MANIFEST-000005"), "{message}");
    write_file(fs.as_ref(), &current_file_name(dir()), b"MANIFEST-000005", false).unwrap();
    let message = corruption_message(recover(&fs));
    assert!(message.contains("CURRENT file does not end with newline"), "{message}");
}

#[test]
fn required_counters() {
    type RemoveField = fn(&mut VersionEdit);
    let cases: [(RemoveField, &str); 3] = [
        (|e| e.next_file_number = None, "no meta-nextfile entry in descriptor"),
        (|e| e.log_number = None, "no meta-lognumber entry in descriptor"),
        (|e| e.last_sequence = None, "no last-sequence-number entry in descriptor"),
    ];
    for (remove, expected) in cases {
        let fs = new_fs();
        let mut edit = base_edit();
        remove(&mut edit);
        write_manifest(&fs, &[edit.encode()]);
        let message = corruption_message(recover(&fs));
        assert!(message.contains(expected) && message.contains("MANIFEST-000005"), "{message}");
    }
    // The previous log number defaults to 0, and no comparator record is fine.
    let fs = new_fs();
    let mut edit = base_edit();
    edit.comparator_name = None;
    write_manifest(&fs, &[edit.encode()]);
    assert_eq!(recover(&fs).unwrap().prev_log_number(), 0);
}

#[test]
fn comparator_name_must_match() {
    struct Reverse;
    impl Comparator for Reverse {
        fn name(&self) -> &str {
            "test.Reverse"
        }
        fn compare(&self, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
            b.cmp(a)
        }
        fn shortest_separator(&self, start: &[u8], _limit: &[u8]) -> Vec<u8> {
            start.to_vec()
        }
        fn short_successor(&self, key: &[u8]) -> Vec<u8> {
            key.to_vec()
        }
    }
    let fs = new_fs();
    write_manifest(&fs, &[base_edit().encode()]);
    let mut versions = VersionSet::new(
        DIR,
        fs.clone(),
        InternalKeyComparator::new(Arc::new(Reverse)),
        VersionSetOptions::default(),
    );
    match versions.recover() {
        Err(Error::InvalidArgument(message)) => {
            assert!(message
                .contains("leveldb.BytewiseComparator does not match existing comparator test.Reverse"));
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn undecodable_edit_names_file_and_record_offset() {
    let fs = new_fs();
    let good = base_edit().encode();
    let mut bad = VersionEdit::new().encode();
    bad.extend_from_slice(&[0x08, 0x00]); // retired tag 8
    write_manifest(&fs, &[good.clone(), bad]);
    let message = corruption_message(recover(&fs));
    let expected_offset = 7 + good.len();
    assert!(message.contains("unknown tag 8"), "{message}");
    assert!(message.contains(&format!("MANIFEST-000005 at offset {expected_offset}")), "{message}");
}

#[test]
fn impossible_file_sets_are_corruption() {
    let fs = new_fs();
    let mut edit = base_edit();
    edit.add_file(1, FileMetaData::new(7, 1, ik(b"a", 5), ik(b"m", 6)));
    edit.add_file(1, FileMetaData::new(8, 1, ik(b"k", 5), ik(b"z", 6)));
    write_manifest(&fs, &[edit.encode()]);
    let message = corruption_message(recover(&fs));
    assert!(message.contains("overlapping ranges in level 1"), "{message}");

    let mut edit = base_edit();
    edit.set_last_sequence(1 << 56);
    write_manifest(&fs, &[edit.encode()]);
    assert!(corruption_message(recover(&fs)).contains("above the maximum"));

    let mut edit = base_edit();
    edit.set_next_file_number(u64::MAX);
    write_manifest(&fs, &[edit.encode()]);
    assert!(corruption_message(recover(&fs)).contains("implausibly large"));
}

#[test]
fn numbers_in_use_stay_below_next_file_number() {
    let fs = new_fs();
    let mut edit = base_edit();
    edit.set_next_file_number(4);
    edit.set_log_number(6);
    edit.add_file(0, FileMetaData::new(20, 1, ik(b"a", 5), ik(b"m", 6)));
    write_manifest(&fs, &[edit.encode()]);
    let mut versions = recover(&fs).unwrap();
    // 21 is reserved for the new MANIFEST.
    assert_eq!(versions.new_file_number(), 22);
    versions.mark_file_number_used(30).unwrap();
    versions.mark_file_number_used(25).unwrap();
    assert_eq!(versions.new_file_number(), 31);
    versions.reuse_file_number(31);
    assert_eq!(versions.new_file_number(), 31);
    versions.reuse_file_number(5);
    assert_eq!(versions.next_file_number(), 32);
    assert!(versions.mark_file_number_used(u64::MAX).unwrap_err().is_corruption());
    assert_eq!(versions.next_file_number(), 32);
}

#[test]
fn damaged_records_fail_recovery() {
    let fs = new_fs();
    let mut middle = VersionEdit::new();
    middle.set_last_sequence(43);
    let records = [base_edit().encode(), middle.encode(), base_edit().encode()];
    let clean = write_manifest(&fs, &records);
    assert!(recover(&fs).is_ok());
    // A flipped payload byte in the second record: checksum mismatch.
    let second = 7 + records[0].len();
    let mut flipped = clean.clone();
    flipped[second + 7] ^= 0x01;
    overwrite_manifest(&fs, &flipped);
    let message = corruption_message(recover(&fs));
    assert!(message.contains("checksum mismatch"), "{message}");
    assert!(message.contains(&format!("at offset {second}")), "{message}");
    // The same damage in the last record is not tolerated either (LevelDB reports it).
    let last = clean.len() - records[2].len() - 7;
    let mut flipped = clean.clone();
    flipped[last + 7] ^= 0x01;
    overwrite_manifest(&fs, &flipped);
    assert!(corruption_message(recover(&fs)).contains("checksum mismatch"));
    // An unknown record type with a good checksum.
    let mut unknown = clean.clone();
    unknown[second + 6] = 9;
    let crc = lsmkit_base::crc::mask(lsmkit_base::crc::extend(
        lsmkit_base::crc::value(&[9]),
        &clean[second + 7..second + 7 + records[1].len()],
    ));
    unknown[second..second + 4].copy_from_slice(&crc.to_le_bytes());
    overwrite_manifest(&fs, &unknown);
    assert!(corruption_message(recover(&fs)).contains("unknown record type 9"));
}

#[test]
fn torn_tails_are_tolerated_silently() {
    let fs = new_fs();
    let mut second = VersionEdit::new();
    second.set_last_sequence(99);
    let clean = write_manifest(&fs, &[base_edit().encode(), second.encode()]);
    let first_len = 7 + base_edit().encode().len();
    // Every cut inside the last record: it is lost, the first survives.
    for cut in first_len..clean.len() {
        overwrite_manifest(&fs, &clean[..cut]);
        let versions = recover(&fs).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(versions.last_sequence(), 42, "cut at {cut}");
    }
    // Three garbage bytes at the tail (docs/format.md §3.3 [real]).
    let mut tail = clean.clone();
    tail.extend_from_slice(&[0xab, 0xcd, 0xef]);
    overwrite_manifest(&fs, &tail);
    assert_eq!(recover(&fs).unwrap().last_sequence(), 99);
    // A header at the end whose length runs past the file (and its block).
    let mut long = clean.clone();
    long.extend_from_slice(&[1, 2, 3, 4, 0xff, 0xff, 1, 0]);
    overwrite_manifest(&fs, &long);
    assert_eq!(recover(&fs).unwrap().last_sequence(), 99);
    // Zeros after the last record.
    let mut zeros = clean.clone();
    zeros.extend_from_slice(&vec![0; 40_000]);
    overwrite_manifest(&fs, &zeros);
    assert_eq!(recover(&fs).unwrap().last_sequence(), 99);
    // An empty MANIFEST has no counters.
    overwrite_manifest(&fs, &[]);
    assert!(corruption_message(recover(&fs)).contains("no meta-nextfile entry"));
}

#[test]
fn reuse_manifest_appends_to_a_clean_manifest() {
    let fs = new_fs();
    let clean = write_manifest(&fs, &[base_edit().encode()]);
    let options = VersionSetOptions { reuse_manifest: true, ..VersionSetOptions::default() };
    let mut versions = VersionSet::new(DIR, fs.clone(), icmp(), options.clone());
    assert!(!versions.recover().unwrap());
    assert_eq!(versions.manifest_file_number(), 5);
    let mut edit = VersionEdit::new();
    edit.add_file(0, FileMetaData::new(12, 1, ik(b"a", 5), ik(b"m", 6)));
    versions.log_and_apply(&mut edit).unwrap();
    let after = read_file_to_vec(fs.as_ref(), &manifest_file_name(dir(), 5)).unwrap();
    assert_eq!(&after[..clean.len()], &clean[..]);
    assert!(!fs.exists(&manifest_file_name(dir(), 10)));
    let reopened = recover(&fs).unwrap();
    assert_eq!(*reopened.current(), *versions.current());

    // A MANIFEST with a torn tail is not appended to.
    let mut torn = after.clone();
    torn.extend_from_slice(&[1, 2, 3]);
    overwrite_manifest(&fs, &torn);
    let mut versions = VersionSet::new(DIR, fs.clone(), icmp(), options);
    assert!(versions.recover().unwrap());
}

#[test]
fn log_and_apply_refuses_bad_edits() {
    let fs = new_fs();
    write_manifest(&fs, &[base_edit().encode()]);
    let mut versions = recover(&fs).unwrap();
    let before = versions.current();
    let mut overlapping = VersionEdit::new();
    overlapping.add_file(1, FileMetaData::new(7, 1, ik(b"a", 5), ik(b"m", 6)));
    overlapping.add_file(1, FileMetaData::new(8, 1, ik(b"k", 5), ik(b"z", 6)));
    let mut short_key = VersionEdit::new();
    short_key.add_file(0, FileMetaData::new(7, 1, b"a".to_vec(), ik(b"m", 6)));
    let mut old_log = VersionEdit::new();
    old_log.set_log_number(2);
    let mut future_log = VersionEdit::new();
    future_log.set_log_number(1000);
    let mut other_comparator = VersionEdit::new();
    other_comparator.set_comparator_name("x");
    for mut edit in [overlapping, short_key, old_log, future_log, other_comparator] {
        match versions.log_and_apply(&mut edit) {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("expected InvalidArgument for {edit:?}, got {other:?}"),
        }
    }
    assert!(Arc::ptr_eq(&before, &versions.current()));
    // Nothing was written: MANIFEST-000010 does not exist yet.
    assert!(!fs.exists(&manifest_file_name(dir(), 10)));

    let mut unrecovered = VersionSet::new(DIR, fs.clone(), icmp(), VersionSetOptions::default());
    assert!(matches!(unrecovered.log_and_apply(&mut VersionEdit::new()), Err(Error::InvalidArgument(_))));
}
