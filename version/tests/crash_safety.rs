//! Crash safety of `log_and_apply` with `FaultFs`: for every N, the N-th I/O
//! operation of `log_and_apply` fails (once, or with every operation after
//! it, as when the process dies), then the machine "loses power". Reopening
//! must always succeed and give either the old state or the new one — the
//! Version and the counters together, never a mix — and the new one
//! whenever `log_and_apply` reported success.
//!
//! Three situations are covered: the first `log_and_apply` after opening
//! (which writes a new MANIFEST and switches CURRENT), an append to the open
//! MANIFEST, and a MANIFEST rollover once the size limit is passed. After a
//! failure without a crash, a retry on the same VersionSet must succeed and
//! be durable.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::fs::{FaultFs, FileSystem, MemFs};
use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
use lsmkit_version::{FileMetaData, Version, VersionEdit, VersionSet, VersionSetOptions};

const DIR: &str = "db";

fn icmp() -> InternalKeyComparator {
    InternalKeyComparator::new(BytewiseComparator::shared())
}

fn ik(user_key: &[u8], sequence: u64) -> Vec<u8> {
    make_internal_key(user_key, sequence, ValueKind::Value)
}

/// What must be recovered atomically.
#[derive(Debug, PartialEq)]
struct State {
    files: Vec<Vec<(u64, u64)>>,
    log_number: u64,
    last_sequence: u64,
    compact_pointer: Option<Vec<u8>>,
}

fn state(versions: &VersionSet) -> State {
    let current: Arc<Version> = versions.current();
    State {
        files: current.levels().iter().map(|l| l.iter().map(|f| (f.number, f.file_size)).collect()).collect(),
        log_number: versions.log_number(),
        last_sequence: versions.last_sequence(),
        compact_pointer: versions.compact_pointer(1).map(<[u8]>::to_vec),
    }
}

/// A flush-like edit: new table at level 0, new log, sequence advanced.
fn flush(versions: &mut VersionSet, key: u8) -> VersionEdit {
    let table = versions.new_file_number();
    let log = versions.new_file_number();
    let sequence = versions.last_sequence() + 10;
    versions.set_last_sequence(sequence);
    let mut edit = VersionEdit::new();
    edit.set_log_number(log);
    edit.add_file(
        0,
        FileMetaData::new(table, 1000 + u64::from(key), ik(&[key], sequence), ik(&[key, b'z'], sequence)),
    );
    edit
}

/// A compaction-like edit: every level-0 file merged into one level-1 file.
fn compaction(versions: &mut VersionSet) -> VersionEdit {
    let current = versions.current();
    let mut edit = VersionEdit::new();
    for f in current.files(0) {
        edit.remove_file(0, f.number);
    }
    let output = versions.new_file_number();
    let sequence = versions.last_sequence();
    edit.add_file(1, FileMetaData::new(output, 5000, ik(b"\x00", sequence), ik(b"\xff", sequence)));
    edit.set_compact_pointer(1, &ik(b"m", sequence));
    edit
}

/// A database with history: created, opened, two flushes, closed.
fn existing_database(mem: &MemFs) {
    let fs: Arc<dyn FileSystem> = Arc::new(mem.clone());
    fs.create_dir_all(Path::new(DIR)).unwrap();
    let mut versions = VersionSet::new(DIR, fs.clone(), icmp(), VersionSetOptions::default());
    versions.create_new_db().unwrap();
    versions.recover().unwrap();
    for key in [b'a', b'c'] {
        let mut edit = flush(&mut versions, key);
        versions.log_and_apply(&mut edit).unwrap();
    }
}

#[derive(Debug, Clone, Copy)]
enum Situation {
    /// The first log_and_apply after recovery: new MANIFEST + CURRENT switch.
    FirstAfterOpen,
    /// Appending to the MANIFEST opened by an earlier log_and_apply.
    Append,
    /// The open MANIFEST is over the size limit: rollover.
    Rollover,
}

#[derive(Debug, Clone, Copy)]
enum Failure {
    /// Only the N-th operation fails; clean-up after it runs.
    Once,
    /// The N-th and every later operation fail: the process is dying.
    FromThenOn,
}

/// Opens the database on `fs`, brings it to the situation, and returns the
/// VersionSet, the durable state, and the edit the faulty call will apply.
fn prepare(fs: Arc<dyn FileSystem>, situation: Situation) -> (VersionSet, State, VersionEdit) {
    let max_manifest_file_size = match situation {
        Situation::Rollover => 1,
        _ => u64::MAX,
    };
    let options = VersionSetOptions { max_manifest_file_size, ..VersionSetOptions::default() };
    let mut versions = VersionSet::new(DIR, fs, icmp(), options);
    versions.recover().unwrap();
    if !matches!(situation, Situation::FirstAfterOpen) {
        let mut edit = flush(&mut versions, b'e');
        versions.log_and_apply(&mut edit).unwrap();
    }
    let old = state(&versions);
    let edit = match situation {
        Situation::FirstAfterOpen => flush(&mut versions, b'g'),
        Situation::Append | Situation::Rollover => compaction(&mut versions),
    };
    (versions, old, edit)
}

fn recover(fs: Arc<dyn FileSystem>) -> VersionSet {
    let mut versions = VersionSet::new(DIR, fs, icmp(), VersionSetOptions::default());
    versions.recover().unwrap_or_else(|e| panic!("recovery failed: {e}"));
    versions
}

/// The old and new states, from a run without faults.
fn reference(situation: Situation) -> (State, State, u64) {
    let mem = MemFs::new();
    existing_database(&mem);
    let fault = FaultFs::new(Arc::new(mem));
    let (mut versions, old, mut edit) = prepare(Arc::new(fault.clone()), situation);
    let start = fault.op_count();
    versions.log_and_apply(&mut edit).unwrap();
    let ops = fault.op_count() - start;
    let new = state(&versions);
    assert_ne!(old, new);
    (old, new, ops)
}

fn crash_after_each_operation(situation: Situation, failure: Failure) {
    let (old, new, ops) = reference(situation);
    assert!(ops >= 3, "{situation:?} used only {ops} operations");
    let mut saw_old = false;
    for n in 0..=ops {
        let mem = MemFs::new();
        existing_database(&mem);
        let fault = FaultFs::new(Arc::new(mem));
        let (mut versions, durable, edit) = prepare(Arc::new(fault.clone()), situation);
        assert_eq!(durable, old);
        match failure {
            Failure::Once => fault.fail_nth(n, ErrorKind::Other),
            Failure::FromThenOn => {
                for k in 0..64 {
                    fault.fail_nth(n + k, ErrorKind::Other);
                }
            }
        }
        let mut attempt = edit.clone();
        let result = versions.log_and_apply(&mut attempt);
        // A failure may be harmless (closing the old, fully synced MANIFEST),
        // but with no failure at all the call must succeed.
        if n == ops {
            assert!(result.is_ok(), "{situation:?} {failure:?}: no fault, yet {result:?}");
        }
        fault.clear_faults();

        // Without a crash, the live files already hold old or new.
        let live = state(&recover(Arc::new(fault.clone())));
        assert!(live == old || live == new, "{situation:?} {failure:?} op {n}: live state {live:?}");

        fault.crash().unwrap();
        let recovered = state(&recover(fault.inner().clone()));
        if result.is_ok() {
            assert_eq!(recovered, new, "{situation:?} {failure:?}: success at {n} was not durable");
        } else if recovered == old {
            saw_old = true;
        } else {
            assert_eq!(recovered, new, "{situation:?} {failure:?} op {n}: a mix of old and new");
        }
    }
    assert!(saw_old, "{situation:?} {failure:?}: no failure ever kept the old state");
}

/// After a failed log_and_apply (no crash), retrying on the same VersionSet
/// succeeds, and the result survives a crash.
fn retry_after_each_failure(situation: Situation) {
    let (_, new, ops) = reference(situation);
    for n in 0..ops {
        let mem = MemFs::new();
        existing_database(&mem);
        let fault = FaultFs::new(Arc::new(mem));
        let (mut versions, _, edit) = prepare(Arc::new(fault.clone()), situation);
        fault.fail_nth(n, ErrorKind::Other);
        let mut attempt = edit.clone();
        if versions.log_and_apply(&mut attempt).is_ok() {
            continue; // The failed operation did not matter.
        }
        let mut retry = edit.clone();
        versions
            .log_and_apply(&mut retry)
            .unwrap_or_else(|e| panic!("{situation:?} retry after op {n}: {e}"));
        assert_eq!(state(&versions), new);
        fault.crash().unwrap();
        assert_eq!(state(&recover(fault.inner().clone())), new, "{situation:?} retry after op {n}");
    }
}

#[test]
fn first_log_and_apply_after_open() {
    crash_after_each_operation(Situation::FirstAfterOpen, Failure::Once);
    crash_after_each_operation(Situation::FirstAfterOpen, Failure::FromThenOn);
    retry_after_each_failure(Situation::FirstAfterOpen);
}

#[test]
fn append_to_open_manifest() {
    crash_after_each_operation(Situation::Append, Failure::Once);
    crash_after_each_operation(Situation::Append, Failure::FromThenOn);
    retry_after_each_failure(Situation::Append);
}

#[test]
fn manifest_rollover() {
    crash_after_each_operation(Situation::Rollover, Failure::Once);
    crash_after_each_operation(Situation::Rollover, Failure::FromThenOn);
    retry_after_each_failure(Situation::Rollover);
}

#[test]
fn create_new_db_is_atomic() {
    // Counting run.
    let fault = FaultFs::new(Arc::new(MemFs::new()));
    let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
    fs.create_dir_all(Path::new(DIR)).unwrap();
    let start = fault.op_count();
    VersionSet::new(DIR, fs, icmp(), VersionSetOptions::default()).create_new_db().unwrap();
    let ops = fault.op_count() - start;
    for n in 0..=ops {
        let fault = FaultFs::new(Arc::new(MemFs::new()));
        let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
        fs.create_dir_all(Path::new(DIR)).unwrap();
        fault.fail_nth(n, ErrorKind::Other);
        let result = VersionSet::new(DIR, fs, icmp(), VersionSetOptions::default()).create_new_db();
        fault.clear_faults();
        fault.crash().unwrap();
        let mut versions = VersionSet::new(DIR, fault.inner().clone(), icmp(), VersionSetOptions::default());
        match versions.recover() {
            Ok(_) => assert_eq!(versions.last_sequence(), 0),
            // Before CURRENT is durable there is no database: a clear corruption, never garbage.
            Err(e) => {
                assert!(result.is_err(), "create_new_db succeeded at {n} but recovery failed: {e}");
                assert!(e.to_string().contains("CURRENT file missing"), "{e}");
            }
        }
    }
}
