//! `FaultFs`: injected failures hit exactly the chosen operation, and
//! `crash()` leaves exactly what the documented model says survives (synced
//! bytes, and the preallocated zeros synced after them), over a
//! `MemFs` and over a `StdFs` in a temporary directory.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit_base::fs::{
    read_file_to_vec, write_file, FaultFs, FaultOp, FaultRule, FileSystem, MemFs, ReadMode, StdFs, WriteMode,
};
use lsmkit_base::Error;
use proptest::prelude::*;

/// A `FaultFs` over some inner file system, and a directory to work in.
struct Setup {
    name: &'static str,
    fs: FaultFs,
    dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
}

fn setups() -> Vec<Setup> {
    let mem = MemFs::new();
    mem.create_dir_all(Path::new("/db")).unwrap();
    let tempdir = tempfile::tempdir().unwrap();
    let dir = tempdir.path().join("db");
    std::fs::create_dir(&dir).unwrap();
    vec![
        Setup { name: "MemFs", fs: FaultFs::new(Arc::new(mem)), dir: PathBuf::from("/db"), _tempdir: None },
        Setup { name: "StdFs", fs: FaultFs::new(Arc::new(StdFs::new())), dir, _tempdir: Some(tempdir) },
    ]
}

/// The bytes at `path`, or `None` if it does not exist.
fn contents(fs: &dyn FileSystem, path: &Path) -> Option<Vec<u8>> {
    fs.exists(path).then(|| read_file_to_vec(fs, path).unwrap())
}

#[test]
fn unsynced_bytes_are_dropped() {
    for s in setups() {
        for mode in [WriteMode::Buffered, WriteMode::Mmap { chunk_size: 100 }] {
            let path = s.dir.join("000001.log");
            let mut w = s.fs.create_writable(&path, mode).unwrap();
            s.fs.sync_dir(&s.dir).unwrap();
            w.append(b"first record;").unwrap();
            w.sync().unwrap();
            w.append(b"flushed but not synced;").unwrap();
            w.flush().unwrap();
            w.append(b"still in the buffer").unwrap();
            s.fs.crash().unwrap();
            assert_eq!(contents(&s.fs, &path).unwrap(), b"first record;", "{} {mode:?}", s.name);
            assert!(w.append(b"x").is_err(), "{}: writer from before the crash", s.name);
            assert!(w.sync().is_err(), "{}", s.name);
            drop(w); // Must not write anything now.
            assert_eq!(contents(s.fs.inner().as_ref(), &path).unwrap(), b"first record;", "{}", s.name);
        }
    }
}

#[test]
fn new_file_survives_only_after_its_directory_is_synced() {
    for s in setups() {
        let synced = s.dir.join("000005.ldb");
        let unsynced = s.dir.join("000006.ldb");
        write_file(&s.fs, &synced, b"table five", true).unwrap();
        s.fs.sync_dir(&s.dir).unwrap();
        write_file(&s.fs, &unsynced, b"table six", true).unwrap();
        // Syncing another directory does not help.
        s.fs.create_dir_all(&s.dir.join("other")).unwrap();
        s.fs.sync_dir(&s.dir.join("other")).unwrap();
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &synced).unwrap(), b"table five", "{}", s.name);
        assert_eq!(contents(&s.fs, &unsynced), None, "{}", s.name);
        let mut names = s.fs.list_dir(&s.dir).unwrap();
        names.sort();
        assert_eq!(names, ["000005.ldb", "other"], "{}", s.name);
    }
}

#[test]
fn created_but_never_synced_file_in_synced_directory_is_empty() {
    for s in setups() {
        let path = s.dir.join("MANIFEST-000002");
        let mut w = s.fs.create_writable(&path, WriteMode::Buffered).unwrap();
        w.append(b"edit").unwrap();
        w.close().unwrap();
        s.fs.sync_dir(&s.dir).unwrap();
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &path).unwrap(), b"", "{}", s.name);
    }
}

#[test]
fn existing_content_is_durable_and_truncation_is_not() {
    for s in setups() {
        let appended = s.dir.join("old.log");
        let truncated = s.dir.join("LOG");
        // Written straight to the inner file system: durable already.
        write_file(s.fs.inner().as_ref(), &appended, b"from before", true).unwrap();
        write_file(s.fs.inner().as_ref(), &truncated, b"old info", true).unwrap();
        let mut w = s.fs.open_appendable(&appended).unwrap();
        w.append(b" + unsynced").unwrap();
        w.close().unwrap();
        let mut w = s.fs.create_writable(&truncated, WriteMode::Buffered).unwrap();
        w.append(b"new info").unwrap();
        w.close().unwrap();
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &appended).unwrap(), b"from before", "{}", s.name);
        assert_eq!(contents(&s.fs, &truncated).unwrap(), b"", "{}", s.name);
    }
}

/// Writes CURRENT the way a database does: temp file, sync, rename.
fn set_current(fs: &FaultFs, dir: &Path, manifest: &str, sync_dir: bool) {
    let tmp = dir.join("000009.dbtmp");
    write_file(fs, &tmp, format!("{manifest}\n").as_bytes(), true).unwrap();
    fs.rename(&tmp, &dir.join("CURRENT")).unwrap();
    if sync_dir {
        fs.sync_dir(dir).unwrap();
    }
}

#[test]
fn rename_is_undone_unless_the_directory_was_synced() {
    for s in setups() {
        let current = s.dir.join("CURRENT");
        set_current(&s.fs, &s.dir, "MANIFEST-000001", true);
        set_current(&s.fs, &s.dir, "MANIFEST-000002", false);
        set_current(&s.fs, &s.dir, "MANIFEST-000003", false);
        assert_eq!(contents(&s.fs, &current).unwrap(), b"MANIFEST-000003\n");
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &current).unwrap(), b"MANIFEST-000001\n", "{}", s.name);
        assert!(!s.fs.exists(&s.dir.join("000009.dbtmp")), "{}: the temp file was never durable", s.name);

        set_current(&s.fs, &s.dir, "MANIFEST-000004", true);
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &current).unwrap(), b"MANIFEST-000004\n", "{}", s.name);
    }
}

#[test]
fn rename_of_a_durable_file_moves_back() {
    for s in setups() {
        let (a, b) = (s.dir.join("a"), s.dir.join("b"));
        write_file(&s.fs, &a, b"payload", true).unwrap();
        s.fs.sync_dir(&s.dir).unwrap();
        s.fs.rename(&a, &b).unwrap();
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &a).unwrap(), b"payload", "{}", s.name);
        assert_eq!(contents(&s.fs, &b), None, "{}", s.name);
    }
}

#[test]
fn file_replaced_by_a_rename_comes_back_even_if_the_renamed_file_is_removed() {
    for s in setups() {
        let (a, b) = (s.dir.join("a"), s.dir.join("b"));
        write_file(&s.fs, &a, b"new", true).unwrap();
        write_file(&s.fs, &b, b"old", true).unwrap();
        s.fs.sync_dir(&s.dir).unwrap();
        s.fs.rename(&a, &b).unwrap();
        s.fs.remove_file(&b).unwrap();
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &a), None, "{}: the removed file stays removed", s.name);
        assert_eq!(contents(&s.fs, &b).unwrap(), b"old", "{}: the replaced file is back", s.name);
    }
}

#[test]
fn removals_and_links() {
    for s in setups() {
        let (table, link, gone) =
            (s.dir.join("000007.ldb"), s.dir.join("backup.ldb"), s.dir.join("000003.log"));
        write_file(&s.fs, &table, b"t", true).unwrap();
        write_file(&s.fs, &gone, b"g", true).unwrap();
        s.fs.sync_dir(&s.dir).unwrap();
        s.fs.hard_link(&table, &link).unwrap();
        s.fs.remove_file(&gone).unwrap();
        s.fs.crash().unwrap();
        assert!(s.fs.exists(&table), "{}", s.name);
        assert!(!s.fs.exists(&link), "{}: the link's directory entry was not synced", s.name);
        assert!(!s.fs.exists(&gone), "{}: removals are durable at once", s.name);

        s.fs.hard_link(&table, &link).unwrap();
        s.fs.sync_dir(&s.dir).unwrap();
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &link).unwrap(), b"t", "{}", s.name);
    }
}

#[test]
fn handles_from_before_a_crash_fail_and_the_file_system_keeps_working() {
    for s in setups() {
        let path = s.dir.join("f");
        write_file(&s.fs, &path, b"data", true).unwrap();
        s.fs.sync_dir(&s.dir).unwrap();
        let mut seq = s.fs.open_sequential(&path).unwrap();
        let random = s.fs.open_random_access(&path, ReadMode::Mmap).unwrap();
        s.fs.crash().unwrap();
        let mut buf = [0u8; 4];
        assert!(seq.read(&mut buf).is_err(), "{}", s.name);
        assert!(seq.skip(1).is_err(), "{}", s.name);
        assert!(random.read_at(0, 4).is_err(), "{}", s.name);
        let fresh = s.fs.open_random_access(&path, ReadMode::Mmap).unwrap();
        assert_eq!(&fresh.read_at(0, 4).unwrap()[..], b"data", "{}", s.name);
    }
}

#[test]
fn crash_releases_locks_like_process_death() {
    for s in setups() {
        let path = s.dir.join("LOCK");
        let old = s.fs.lock_file(&path).unwrap();
        assert!(matches!(s.fs.inner().lock_file(&path), Err(Error::Busy(_))), "{}", s.name);
        s.fs.crash().unwrap();
        // Free on the inner file system too (for StdFs: the fcntl lock and
        // the in-process set).
        drop(s.fs.inner().lock_file(&path).unwrap());
        let new = s.fs.lock_file(&path).unwrap();
        drop(old);
        assert!(matches!(s.fs.lock_file(&path), Err(Error::Busy(_))), "{}", s.name);
        drop(new);
    }
}

/// A small workload; returns the first error, with the counter at that point.
fn workload(fs: &FaultFs, dir: &Path) -> Result<(), (Error, u64)> {
    let at = |e: Error| (e, fs.op_count());
    let tmp = dir.join("tmp");
    let mut w = fs.create_writable(&tmp, WriteMode::Buffered).map_err(at)?;
    w.append(b"abc").map_err(at)?;
    w.append(b"def").map_err(at)?;
    w.sync().map_err(at)?;
    w.close().map_err(at)?;
    fs.rename(&tmp, &dir.join("final")).map_err(at)?;
    fs.sync_dir(dir).map_err(at)?;
    let mut r = fs.open_sequential(&dir.join("final")).map_err(at)?;
    let mut buf = [0u8; 16];
    r.read(&mut buf).map_err(at)?;
    fs.list_dir(dir).map_err(at)?;
    fs.file_size(&dir.join("final")).map_err(at)?;
    fs.remove_file(&dir.join("final")).map_err(at)?;
    Ok(())
}

const WORKLOAD_OPS: [&str; 12] = [
    "create", "write", "write", "sync", "close", "rename", "sync_dir", "open", "read", "list", "stat",
    "remove",
];

#[test]
fn fail_nth_fails_exactly_the_nth_operation() {
    for s in setups() {
        let start = s.fs.op_count();
        workload(&s.fs, &s.dir).unwrap();
        assert_eq!(s.fs.op_count() - start, WORKLOAD_OPS.len() as u64, "{}", s.name);
        for (n, expected_op) in WORKLOAD_OPS.iter().enumerate() {
            let before = s.fs.op_count();
            s.fs.fail_nth(n as u64, io::ErrorKind::StorageFull);
            let (err, count) = workload(&s.fs, &s.dir).unwrap_err();
            assert_eq!(count - before, n as u64 + 1, "{}: failed at the wrong operation", s.name);
            match err {
                Error::Io { op, source, .. } => {
                    assert_eq!(op, *expected_op, "{} n={n}", s.name);
                    assert_eq!(source.kind(), io::ErrorKind::StorageFull);
                }
                other => panic!("{}: unexpected {other:?}", s.name),
            }
            // Only once: the next run goes through (after tidying up).
            let _ = s.fs.remove_file(&s.dir.join("final"));
            workload(&s.fs, &s.dir).unwrap();
        }
    }
}

#[test]
fn rules_hit_chosen_paths_until_exhausted() {
    for s in setups() {
        s.fs.add_rule(FaultRule {
            path_contains: Some(".ldb".into()),
            ops: vec![FaultOp::Create],
            kind: io::ErrorKind::StorageFull,
            remaining: Some(2),
        });
        let table = s.dir.join("000010.ldb");
        let log = s.dir.join("000011.log");
        for _ in 0..2 {
            let err = s.fs.create_writable(&table, WriteMode::Buffered).err().unwrap();
            assert!(matches!(&err, Error::Io { op: "create", .. }), "{}: {err}", s.name);
            assert!(!s.fs.exists(&table), "{}: a failed create creates nothing", s.name);
            write_file(&s.fs, &log, b"ok", false).unwrap();
        }
        write_file(&s.fs, &table, b"ok", false).unwrap();
        s.fs.add_rule(FaultRule::new(io::ErrorKind::PermissionDenied).on_ops([FaultOp::Write]));
        let mut w = s.fs.open_appendable(&log).unwrap();
        assert!(w.append(b"x").is_err(), "{}", s.name);
        assert!(w.sync().is_ok(), "{}", s.name);
        s.fs.clear_faults();
        w.append(b"x").unwrap();
        w.close().unwrap();
        assert_eq!(contents(&s.fs, &log).unwrap(), b"okx", "{}", s.name);
    }
}

// A model of the crash semantics in terms of inodes: a name points at a file;
// a file keeps the bytes made durable by its last sync; `sync_dir` makes the
// current names durable; a removal destroys the file for good.

const NAMES: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Step {
    Write { name: usize, data: Vec<u8>, append: bool, sync: bool, mmap: bool },
    Rename { from: usize, to: usize },
    Remove { name: usize },
    SyncDir,
    Crash,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (0..3usize, prop::collection::vec(any::<u8>(), 0..40), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(name, data, append, sync, mmap)| Step::Write { name, data, append, sync, mmap }),
        3 => (0..3usize, 1..3usize).prop_map(|(from, shift)| Step::Rename { from, to: (from + shift) % 3 }),
        1 => (0..3usize).prop_map(|name| Step::Remove { name }),
        2 => Just(Step::SyncDir),
        1 => Just(Step::Crash),
    ]
}

#[derive(Default)]
struct Model {
    /// File id -> (bytes, durable length).
    files: Vec<(Vec<u8>, usize)>,
    current: BTreeMap<usize, usize>,
    durable: BTreeMap<usize, usize>,
}

impl Model {
    fn write(&mut self, name: usize, data: &[u8], append: bool, sync: bool) {
        let id = match self.current.get(&name) {
            Some(&id) => {
                if !append {
                    self.files[id] = (Vec::new(), 0);
                }
                id
            }
            None => {
                self.files.push((Vec::new(), 0));
                self.current.insert(name, self.files.len() - 1);
                self.files.len() - 1
            }
        };
        let file = &mut self.files[id];
        file.0.extend_from_slice(data);
        if sync {
            file.1 = file.0.len();
        }
    }

    fn crash(&mut self) -> BTreeMap<usize, Vec<u8>> {
        let survivors: BTreeMap<usize, Vec<u8>> = self
            .durable
            .iter()
            .map(|(&name, &id)| (name, self.files[id].0[..self.files[id].1].to_vec()))
            .collect();
        self.files.clear();
        self.current.clear();
        for (&name, bytes) in &survivors {
            self.files.push((bytes.clone(), bytes.len()));
            self.current.insert(name, self.files.len() - 1);
        }
        self.durable = self.current.clone();
        survivors
    }
}

fn on_disk(fs: &FaultFs, dir: &Path) -> BTreeMap<usize, Vec<u8>> {
    let mut found = BTreeMap::new();
    for name in fs.list_dir(dir).unwrap() {
        let index = NAMES.iter().position(|n| *n == name).expect("only model names exist");
        found.insert(index, read_file_to_vec(fs, &dir.join(&name)).unwrap());
    }
    found
}

fn run_model(s: &Setup, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    let path = |i: usize| s.dir.join(NAMES[i]);
    for step in steps {
        match step {
            Step::Write { name, data, append, sync, mmap } => {
                let mut w = if *append {
                    s.fs.open_appendable(&path(*name)).unwrap()
                } else {
                    let mode = if *mmap { WriteMode::Mmap { chunk_size: 64 } } else { WriteMode::Buffered };
                    s.fs.create_writable(&path(*name), mode).unwrap()
                };
                w.append(data).unwrap();
                if *sync {
                    w.sync().unwrap();
                }
                w.close().unwrap();
                model.write(*name, data, *append, *sync);
            }
            Step::Rename { from, to } => {
                let result = s.fs.rename(&path(*from), &path(*to));
                match model.current.remove(from) {
                    Some(id) => {
                        result.unwrap();
                        model.current.insert(*to, id);
                    }
                    None => prop_assert!(result.unwrap_err().is_not_found()),
                }
            }
            Step::Remove { name } => {
                let result = s.fs.remove_file(&path(*name));
                match model.current.remove(name) {
                    Some(id) => {
                        result.unwrap();
                        model.durable.retain(|_, file| *file != id);
                    }
                    None => prop_assert!(result.unwrap_err().is_not_found()),
                }
            }
            Step::SyncDir => {
                s.fs.sync_dir(&s.dir).unwrap();
                model.durable = model.current.clone();
            }
            Step::Crash => {
                s.fs.crash().unwrap();
                prop_assert_eq!(on_disk(&s.fs, &s.dir), model.crash(), "{} mid-run", s.name);
            }
        }
    }
    s.fs.crash().unwrap();
    prop_assert_eq!(on_disk(&s.fs, &s.dir), model.crash(), "{} at the end", s.name);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random writes, renames, removals, directory syncs and crashes leave
    /// what the inode model predicts, on both inner file systems.
    #[test]
    fn crash_matches_the_inode_model(steps in prop::collection::vec(step(), 1..25)) {
        for s in setups() {
            run_model(&s, &steps)?;
        }
    }
}

// Preallocation: zeros written after the appended bytes.

/// `bytes` followed by zeros up to `len`.
fn zero_padded(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.resize(len, 0);
    out
}

#[test]
fn preallocated_zeros_are_durable_after_a_sync_and_unsynced_appends_read_as_zeros() {
    for s in setups() {
        let path = s.dir.join("000003.log");
        let mut w = s.fs.create_writable(&path, WriteMode::Buffered).unwrap();
        s.fs.sync_dir(&s.dir).unwrap();
        w.append(b"durable").unwrap();
        assert_eq!(w.preallocate(64).unwrap(), 64, "{}", s.name);
        assert_eq!(w.len(), 7, "preallocation does not count as appended");
        w.flush().unwrap();
        assert_eq!(contents(&s.fs, &path).unwrap(), zero_padded(b"durable", 64), "{}", s.name);
        w.sync().unwrap();
        // Appends overwrite the zeros in place.
        w.append(b" lost").unwrap();
        w.flush().unwrap();
        assert_eq!(contents(&s.fs, &path).unwrap(), zero_padded(b"durable lost", 64), "{}", s.name);
        assert_eq!(w.preallocate(10).unwrap(), 64, "{}: nothing to do", s.name);
        // Zeros preallocated after the last sync are not durable.
        assert_eq!(w.preallocate(200).unwrap(), 200, "{}", s.name);
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &path).unwrap(), zero_padded(b"durable", 64), "{}", s.name);
    }
}

#[test]
fn appends_past_the_preallocated_zeros_extend_the_file() {
    for s in setups() {
        let path = s.dir.join("000003.log");
        let mut w = s.fs.create_writable(&path, WriteMode::Buffered).unwrap();
        s.fs.sync_dir(&s.dir).unwrap();
        w.append(b"0123").unwrap();
        w.preallocate(8).unwrap();
        w.append(b"456789ab").unwrap();
        w.sync().unwrap();
        assert_eq!(contents(&s.fs, &path).unwrap(), b"0123456789ab", "{}", s.name);
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &path).unwrap(), b"0123456789ab", "{}", s.name);
    }
}

#[test]
fn close_cuts_the_zeros_but_a_crash_brings_the_durable_ones_back() {
    for s in setups() {
        let path = s.dir.join("000003.log");
        let mut w = s.fs.create_writable(&path, WriteMode::Buffered).unwrap();
        s.fs.sync_dir(&s.dir).unwrap();
        w.append(b"abc").unwrap();
        w.preallocate(100).unwrap();
        w.sync().unwrap();
        w.append(b"def").unwrap();
        w.close().unwrap();
        assert_eq!(contents(&s.fs, &path).unwrap(), b"abcdef", "{}", s.name);
        // Dropping an unclosed handle cuts them too.
        let other = s.dir.join("000004.log");
        let mut dropped = s.fs.create_writable(&other, WriteMode::Buffered).unwrap();
        dropped.append(b"xyz").unwrap();
        dropped.preallocate(50).unwrap();
        drop(dropped);
        assert_eq!(contents(&s.fs, &other).unwrap(), b"xyz", "{}", s.name);
        // The cut is not synced; the unsynced "def" is lost.
        s.fs.crash().unwrap();
        assert_eq!(contents(&s.fs, &path).unwrap(), zero_padded(b"abc", 100), "{}", s.name);
    }
}

#[test]
fn appendable_and_mmap_files_do_not_preallocate() {
    for s in setups() {
        let path = s.dir.join("f");
        write_file(&s.fs, &path, b"abc", true).unwrap();
        let mut w = s.fs.open_appendable(&path).unwrap();
        assert_eq!(w.preallocate(100).unwrap(), 3, "{}", s.name);
        w.append(b"d").unwrap();
        w.close().unwrap();
        assert_eq!(contents(&s.fs, &path).unwrap(), b"abcd", "{}", s.name);
        if s.name == "StdFs" {
            // The mapping grows in its own chunks (MemFs has no mmap mode).
            let mut m = s.fs.create_writable(&path, WriteMode::Mmap { chunk_size: 64 }).unwrap();
            m.append(b"xy").unwrap();
            assert_eq!(m.preallocate(1000).unwrap(), 2);
            m.close().unwrap();
            assert_eq!(contents(&s.fs, &path).unwrap(), b"xy");
        }
    }
}

#[test]
fn failed_preallocate_has_no_effect() {
    for s in setups() {
        let path = s.dir.join("000003.log");
        let mut w = s.fs.create_writable(&path, WriteMode::Buffered).unwrap();
        w.append(b"abc").unwrap();
        w.flush().unwrap();
        s.fs.fail_nth(0, io::ErrorKind::StorageFull);
        match w.preallocate(100).unwrap_err() {
            Error::Io { op, source, .. } => {
                assert_eq!((op, source.kind()), ("preallocate", io::ErrorKind::StorageFull), "{}", s.name)
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(contents(&s.fs, &path).unwrap(), b"abc", "{}", s.name);
        s.fs.add_rule(FaultRule::new(io::ErrorKind::Other).on_ops([FaultOp::Preallocate]).times(1));
        assert!(w.preallocate(100).is_err());
        assert_eq!(w.preallocate(100).unwrap(), 100, "{}", s.name);
        w.close().unwrap();
        assert_eq!(contents(&s.fs, &path).unwrap(), b"abc", "{}", s.name);
    }
}
