//! Recovery with `paranoid_checks` from a MANIFEST whose end is missing
//! (`manifest_completeness`): a crash-torn record of an edit that was never
//! acknowledged must still recover (the old state), while lost acknowledged
//! records — detected because the WAL or tables the recovered state needs
//! were deleted after those records became durable — are `Corruption`
//! naming the MANIFEST. Without `paranoid_checks`, recovery stays lenient,
//! as LevelDB's.
//!
//! The databases here are driven like the engine drives its VersionSet:
//! WAL and table files really exist in the directory, flushes move the log
//! number on and then delete the older WAL, compactions delete their inputs
//! after their edit is durable.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit_base::comparator::BytewiseComparator;
use lsmkit_base::filename::{current_file_name, log_file_name, manifest_file_name, table_file_name};
use lsmkit_base::fs::{read_file_to_vec, write_file, FaultFs, FileSystem, MemFs};
use lsmkit_base::key::{make_internal_key, InternalKeyComparator, ValueKind};
use lsmkit_base::{Error, Result};
use lsmkit_version::current_file::read_current_file;
use lsmkit_version::{FileMetaData, VersionEdit, VersionSet, VersionSetOptions};

const DIR: &str = "db";

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn icmp() -> InternalKeyComparator {
    InternalKeyComparator::new(BytewiseComparator::shared())
}

fn ik(user_key: &[u8], sequence: u64) -> Vec<u8> {
    make_internal_key(user_key, sequence, ValueKind::Value)
}

fn options(paranoid_checks: bool) -> VersionSetOptions {
    VersionSetOptions { paranoid_checks, ..VersionSetOptions::default() }
}

/// What recovery must get right: files per level, log number, sequence.
#[derive(Debug, Clone, PartialEq)]
struct State {
    files: Vec<Vec<u64>>,
    log_number: u64,
    last_sequence: u64,
}

fn state(versions: &VersionSet) -> State {
    State {
        files: versions.current().levels().iter().map(|l| l.iter().map(|f| f.number).collect()).collect(),
        log_number: versions.log_number(),
        last_sequence: versions.last_sequence(),
    }
}

/// A database driven as the engine drives it: the VersionSet and the
/// files it names.
struct Db {
    fs: Arc<dyn FileSystem>,
    versions: VersionSet,
}

impl Db {
    /// Creates the database if needed, recovers, starts a new WAL and
    /// records it (a new MANIFEST), then deletes the older WALs.
    fn open(fs: Arc<dyn FileSystem>, paranoid_checks: bool) -> Result<Db> {
        fs.create_dir_all(dir())?;
        let mut versions = VersionSet::new(DIR, fs.clone(), icmp(), options(paranoid_checks));
        if !fs.exists(&current_file_name(dir())) {
            versions.create_new_db()?;
        }
        versions.recover()?;
        let old_log = versions.log_number();
        let log = versions.new_file_number();
        write_file(fs.as_ref(), &log_file_name(dir(), log), b"", true)?;
        fs.sync_dir(dir())?;
        let mut edit = VersionEdit::new();
        edit.set_log_number(log);
        versions.log_and_apply(&mut edit)?;
        if old_log != 0 {
            fs.remove_file(&log_file_name(dir(), old_log))?;
        }
        Ok(Db { fs, versions })
    }

    /// A memtable switch and its flush: a new WAL, a level-0 table holding
    /// `key`, an edit naming both; once it is durable, the older WAL goes.
    /// With `acknowledge` false the process "dies" right after writing the
    /// edit: nothing is deleted.
    fn flush(&mut self, key: u8, acknowledge: bool) -> Result<()> {
        let old_log = self.versions.log_number();
        let log = self.versions.new_file_number();
        write_file(self.fs.as_ref(), &log_file_name(dir(), log), b"", true)?;
        let table = self.versions.new_file_number();
        write_file(self.fs.as_ref(), &table_file_name(dir(), table), &[key; 100], true)?;
        self.fs.sync_dir(dir())?;
        let sequence = self.versions.last_sequence() + 10;
        self.versions.set_last_sequence(sequence);
        let mut edit = VersionEdit::new();
        edit.set_log_number(log);
        edit.add_file(0, FileMetaData::new(table, 100, ik(&[key], sequence), ik(&[key, b'z'], sequence)));
        self.versions.log_and_apply(&mut edit)?;
        if acknowledge {
            self.fs.remove_file(&log_file_name(dir(), old_log))?;
        }
        Ok(())
    }

    /// Every level-0 table merged into one level-1 table; once the edit is
    /// durable (and `acknowledge` is true), the inputs are deleted.
    fn compact(&mut self, acknowledge: bool) -> Result<()> {
        let inputs: Vec<u64> = self.versions.current().files(0).iter().map(|f| f.number).collect();
        let output = self.versions.new_file_number();
        write_file(self.fs.as_ref(), &table_file_name(dir(), output), &[0; 300], true)?;
        self.fs.sync_dir(dir())?;
        let sequence = self.versions.last_sequence();
        let mut edit = VersionEdit::new();
        for &number in &inputs {
            edit.remove_file(0, number);
        }
        edit.add_file(1, FileMetaData::new(output, 300, ik(b"\x00", sequence), ik(b"\xff", sequence)));
        self.versions.log_and_apply(&mut edit)?;
        if acknowledge {
            for number in inputs {
                self.fs.remove_file(&table_file_name(dir(), number))?;
            }
        }
        Ok(())
    }
}

fn manifest_path(fs: &dyn FileSystem) -> PathBuf {
    let (_, number) = read_current_file(fs, dir()).expect("CURRENT");
    manifest_file_name(dir(), number)
}

fn manifest_len(fs: &dyn FileSystem) -> u64 {
    fs.file_size(&manifest_path(fs)).expect("MANIFEST size")
}

/// A copy of the database in `mem` with its MANIFEST cut to `len` bytes.
fn copy_with_manifest_cut(mem: &MemFs, len: u64) -> Arc<dyn FileSystem> {
    let copy = MemFs::new();
    copy.create_dir_all(dir()).unwrap();
    for name in mem.list_dir(dir()).unwrap() {
        let mut bytes = read_file_to_vec(mem, &dir().join(&name)).unwrap();
        if name.starts_with("MANIFEST-") && dir().join(&name) == manifest_path(mem) {
            bytes.truncate(len as usize);
        }
        write_file(&copy, &dir().join(&name), &bytes, false).unwrap();
    }
    Arc::new(copy)
}

fn recover(fs: Arc<dyn FileSystem>, paranoid_checks: bool) -> Result<State> {
    let mut versions = VersionSet::new(DIR, fs, icmp(), options(paranoid_checks));
    versions.recover()?;
    Ok(state(&versions))
}

/// Checks that `result` is a `Corruption` in the MANIFEST at an offset in
/// `offsets`, whose message mentions `what`.
fn assert_lost_records(
    result: Result<State>,
    manifest: &Path,
    offsets: std::ops::RangeInclusive<u64>,
    what: &str,
) {
    match result {
        Err(Error::Corruption { file, offset, message }) => {
            assert_eq!(file.as_deref(), Some(manifest), "{message}");
            let offset = offset.unwrap_or_else(|| panic!("no offset: {message}"));
            assert!(offsets.contains(&offset), "offset {offset} outside {offsets:?}: {message}");
            assert!(message.contains(what), "{message:?} does not mention {what:?}");
        }
        other => panic!("expected a Corruption in {}, got {other:?}", manifest.display()),
    }
}

#[test]
fn a_torn_record_of_an_unacknowledged_edit_recovers_the_old_state() {
    for unacknowledged_compaction in [false, true] {
        let mem = MemFs::new();
        let mut db = Db::open(Arc::new(mem.clone()), true).unwrap();
        db.flush(b'a', true).unwrap();
        db.flush(b'c', true).unwrap();
        let old = state(&db.versions);
        let before = manifest_len(&mem);
        // The process dies while its last edit is being written.
        if unacknowledged_compaction {
            db.compact(false).unwrap();
        } else {
            db.flush(b'e', false).unwrap();
        }
        let after = manifest_len(&mem);
        assert!(after > before + 7);
        drop(db);
        for len in before..after {
            let fs = copy_with_manifest_cut(&mem, len);
            let recovered = recover(fs.clone(), true).unwrap_or_else(|e| panic!("cut to {len}: {e}"));
            assert_eq!(recovered, old, "cut to {len}");
            // And the database opens on: the new MANIFEST names the same state.
            let reopened = Db::open(fs, true).unwrap_or_else(|e| panic!("cut to {len}: open: {e}"));
            assert_eq!(state(&reopened.versions).files, old.files, "cut to {len}: reopened");
        }
    }
}

#[test]
fn lost_records_whose_flush_deleted_the_recovered_wal_are_corruption_naming_the_manifest() {
    let mem = MemFs::new();
    let mut db = Db::open(Arc::new(mem.clone()), true).unwrap();
    db.flush(b'a', true).unwrap();
    let after_first_flush = manifest_len(&mem);
    let old = state(&db.versions);
    db.flush(b'c', true).unwrap();
    let end = manifest_len(&mem);
    drop(db);
    let manifest = manifest_path(&mem);
    // Cut between records (nothing looks torn) or inside the last record
    // (it looks torn): either way the second flush, acknowledged, is lost,
    // and the WAL the first flush left current was deleted after it.
    for len in after_first_flush..end {
        let fs = copy_with_manifest_cut(&mem, len);
        assert_lost_records(recover(fs.clone(), true), &manifest, len.min(after_first_flush)..=len, ".log");
        // Nothing was deleted: the files are as they were.
        let names = |fs: &dyn FileSystem| {
            let mut names = fs.list_dir(dir()).unwrap();
            names.sort();
            names
        };
        let before = names(fs.as_ref());
        assert!(Db::open(fs.clone(), true).is_err(), "cut to {len}: the engine-like open succeeded");
        assert_eq!(names(fs.as_ref()), before, "cut to {len}: files changed by a failed open");
        // Without paranoid_checks, LevelDB's lenient reading: the older state.
        assert_eq!(recover(fs, false).unwrap(), old, "cut to {len}");
    }
}

#[test]
fn a_length_field_running_past_the_end_is_corruption_under_paranoid_checks() {
    let mem = MemFs::new();
    let mut db = Db::open(Arc::new(mem.clone()), true).unwrap();
    db.flush(b'a', true).unwrap();
    let last_record = manifest_len(&mem);
    db.flush(b'c', true).unwrap();
    drop(db);
    let manifest = manifest_path(&mem);
    let mut bytes = read_file_to_vec(&mem, &manifest).unwrap();
    // The last record's 2-byte length (after its 4-byte checksum), made huge.
    bytes[last_record as usize + 4] = 0xff;
    bytes[last_record as usize + 5] = 0x7f;
    write_file(&mem, &manifest, &bytes, false).unwrap();
    assert_lost_records(recover(Arc::new(mem.clone()), true), &manifest, last_record..=last_record, ".log");
    assert!(recover(Arc::new(mem), false).is_ok(), "without paranoid_checks a torn-looking tail is ignored");
}

#[test]
fn a_lost_compaction_record_whose_inputs_were_deleted_is_corruption_naming_the_manifest() {
    let mem = MemFs::new();
    let mut db = Db::open(Arc::new(mem.clone()), true).unwrap();
    db.flush(b'a', true).unwrap();
    db.flush(b'c', true).unwrap();
    let before = manifest_len(&mem);
    db.compact(true).unwrap();
    let end = manifest_len(&mem);
    drop(db);
    let manifest = manifest_path(&mem);
    for len in before..end {
        let fs = copy_with_manifest_cut(&mem, len);
        assert_lost_records(recover(fs.clone(), true), &manifest, before..=len, "live table");
        assert!(
            recover(fs, false).is_ok(),
            "cut to {len}: without paranoid_checks the tables are not checked"
        );
    }
}

#[test]
fn a_missing_wal_of_an_intact_manifest_is_corruption_too() {
    let mem = MemFs::new();
    let mut db = Db::open(Arc::new(mem.clone()), true).unwrap();
    db.flush(b'a', true).unwrap();
    let log = db.versions.log_number();
    drop(db);
    mem.remove_file(&log_file_name(dir(), log)).unwrap();
    let manifest = manifest_path(&mem);
    let end = manifest_len(&mem);
    assert_lost_records(recover(Arc::new(mem.clone()), true), &manifest, end..=end, ".log");
    assert!(recover(Arc::new(mem), false).is_ok());
}

#[test]
fn a_new_database_without_a_wal_recovers() {
    // MANIFEST-000001 names log number 0: no WAL is expected.
    let mem = MemFs::new();
    let fs: Arc<dyn FileSystem> = Arc::new(mem.clone());
    fs.create_dir_all(dir()).unwrap();
    VersionSet::new(DIR, fs.clone(), icmp(), options(true)).create_new_db().unwrap();
    assert_eq!(recover(fs.clone(), true).unwrap().log_number, 0);
    Db::open(fs, true).unwrap();
}

/// The engine's step sequence of a flush (and of a compaction) on a
/// `FaultFs`: for every N, operation N and every later one fail (the
/// process is dying), then power is lost. Whatever state the crash leaves,
/// the database recovers with `paranoid_checks`, to the old state or the
/// new one (the new one whenever the step was acknowledged).
#[test]
fn every_crash_during_a_flush_or_compaction_recovers_with_paranoid_checks() {
    for compaction in [false, true] {
        let step = |db: &mut Db| if compaction { db.compact(true) } else { db.flush(b'e', true) };
        // A reference run counts the step's operations.
        let reference = |fault: &FaultFs| {
            let mut db = Db::open(Arc::new(fault.clone()), true).unwrap();
            db.flush(b'a', true).unwrap();
            db.flush(b'c', true).unwrap();
            db
        };
        let fault = FaultFs::new(Arc::new(MemFs::new()));
        let mut db = reference(&fault);
        let old = state(&db.versions);
        let start = fault.op_count();
        step(&mut db).unwrap();
        let new = state(&db.versions);
        let ops = fault.op_count() - start;
        assert!(ops >= 4, "the step used only {ops} operations");
        let mut saw = (false, false);
        for n in 0..=ops {
            let fault = FaultFs::new(Arc::new(MemFs::new()));
            let mut db = reference(&fault);
            for k in 0..64 {
                fault.fail_nth(n + k, ErrorKind::Other);
            }
            let acknowledged = step(&mut db).is_ok();
            drop(db);
            fault.clear_faults();
            fault.crash().unwrap();
            let recovered = recover(fault.inner().clone(), true)
                .unwrap_or_else(|e| panic!("compaction {compaction}, crash at {n}: {e}"));
            if acknowledged {
                assert_eq!(recovered, new, "compaction {compaction}: acknowledged at {n}, not durable");
            } else {
                assert!(recovered == old || recovered == new, "crash at {n}: {recovered:?}");
            }
            if recovered == old {
                saw.0 = true;
            } else {
                saw.1 = true;
            }
            Db::open(fault.inner().clone(), true)
                .unwrap_or_else(|e| panic!("compaction {compaction}, crash at {n}: open: {e}"));
        }
        assert_eq!(saw, (true, true), "compaction {compaction}: crashes gave only one of the states");
    }
}
