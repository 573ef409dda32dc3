//! The split form of `log_and_apply` the engine uses to write the MANIFEST
//! without its mutex: `prepare_apply` (build the Version, encode the record),
//! `PreparedEdit::write` (append and sync, no lock), `finish_apply`
//! (install). Checked here: one edit at a time, nothing visible before
//! `finish_apply`, the record durable once `write` returned, a failed write
//! installing nothing and making the next edit start a fresh MANIFEST, and
//! other version-set calls (file numbers, last sequence) going on while an
//! edit is out.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::fs::{FaultFs, FaultOp, FaultRule, FileSystem, MemFs};
use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
use lsmkit_base::Error;
use lsmkit_version::{FileMetaData, VersionEdit, VersionSet, VersionSetOptions};

const DIR: &str = "db";

fn icmp() -> InternalKeyComparator {
    InternalKeyComparator::new(BytewiseComparator::shared())
}

fn table_edit(versions: &mut VersionSet, key: u8) -> (VersionEdit, u64) {
    let number = versions.new_file_number();
    let sequence = versions.last_sequence() + 1;
    versions.set_last_sequence(sequence);
    let mut edit = VersionEdit::new();
    edit.add_file(
        0,
        FileMetaData::new(
            number,
            100,
            make_internal_key(&[key], sequence, ValueKind::Value),
            make_internal_key(&[key, b'z'], sequence, ValueKind::Value),
        ),
    );
    (edit, number)
}

fn open(fs: Arc<dyn FileSystem>) -> VersionSet {
    let mut versions = VersionSet::new(DIR, fs, icmp(), VersionSetOptions::default());
    versions.recover().expect("recover");
    versions
}

fn new_database(fs: &Arc<dyn FileSystem>) -> VersionSet {
    fs.create_dir_all(Path::new(DIR)).unwrap();
    let versions = VersionSet::new(DIR, fs.clone(), icmp(), VersionSetOptions::default());
    versions.create_new_db().unwrap();
    open(fs.clone())
}

#[test]
fn an_edit_is_invisible_until_finished_and_durable_once_written() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let mut versions = new_database(&fs);
    // The first edit after opening writes a new MANIFEST inside prepare_apply.
    let (mut first, first_table) = table_edit(&mut versions, b'a');
    versions.log_and_apply(&mut first).unwrap();

    let (mut edit, table) = table_edit(&mut versions, b'c');
    let mut prepared = versions.prepare_apply(&mut edit).unwrap();
    assert!(prepared.version().table_numbers().any(|n| n == table));
    assert!(!versions.current().table_numbers().any(|n| n == table), "installed before finish_apply");

    // While the edit is out, the set still hands out file numbers and
    // takes sequence numbers, but refuses a second edit.
    let number = versions.new_file_number();
    assert!(number > table);
    versions.set_last_sequence(versions.last_sequence() + 5);
    let (mut second, _) = table_edit(&mut versions, b'e');
    match versions.prepare_apply(&mut second) {
        Err(Error::InvalidArgument(message)) => assert!(message.contains("being written"), "{message}"),
        other => panic!("a second edit was accepted: {other:?}"),
    }

    prepared.write().unwrap();
    // Durable before finish_apply: a fresh open of the same files sees it.
    let reopened = open(fs.clone());
    assert!(reopened.current().table_numbers().any(|n| n == table));
    drop(reopened);

    versions.finish_apply(prepared, Ok(())).unwrap();
    let live: Vec<u64> = versions.current().table_numbers().collect();
    assert!(live.contains(&first_table) && live.contains(&table), "{live:?}");
    // The slot is free again.
    let (mut third, third_table) = table_edit(&mut versions, b'g');
    versions.log_and_apply(&mut third).unwrap();
    let reopened = open(fs);
    assert!(reopened.current().table_numbers().any(|n| n == third_table));
}

#[test]
fn a_failed_write_installs_nothing_and_the_next_edit_starts_a_new_manifest() {
    let mem: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let fault = FaultFs::new(mem);
    let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
    let mut versions = new_database(&fs);
    let (mut first, _) = table_edit(&mut versions, b'a');
    versions.log_and_apply(&mut first).unwrap();
    let manifest_before = versions.manifest_file_number();

    let (mut edit, table) = table_edit(&mut versions, b'c');
    let mut prepared = versions.prepare_apply(&mut edit).unwrap();
    fault.add_rule(FaultRule::new(ErrorKind::Other).on_path("MANIFEST").on_ops([FaultOp::Sync]).times(1));
    let written = prepared.write();
    assert!(written.is_err(), "the injected sync failure was not reported");
    assert!(versions.finish_apply(prepared, written).is_err());
    assert!(!versions.current().table_numbers().any(|n| n == table), "a failed edit was installed");

    // The torn MANIFEST is never appended to again.
    let (mut next, next_table) = table_edit(&mut versions, b'e');
    versions.log_and_apply(&mut next).unwrap();
    assert!(versions.manifest_file_number() > manifest_before, "kept writing the failed MANIFEST");
    let reopened = open(fs);
    assert!(reopened.current().table_numbers().any(|n| n == next_table));
}
