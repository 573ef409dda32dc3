//! Crash tests (`FaultFs::crash`: a power cut, after which every byte not
//! synced is gone).
//!
//! The randomized test runs a database on a `FaultFs` over a `MemFs` (or,
//! for some seeds, over a real temporary directory, with mmap WAL and table
//! I/O) with random WAL sync policies and checks. Each round takes random
//! writes (some synced), flushes, compactions, `sync_wal` calls and clean
//! reopens, then loses power at a random point — between two writes while
//! background work runs, while another thread is writing, after an injected
//! I/O error, or without stopping the database first — and sometimes again
//! in the middle of the recovery that follows. Reopened on what survived,
//! the database must hold exactly the state after some prefix of the writes
//! attempted, at least as long as the last one acknowledged as durable: no
//! acknowledged write lost, no hole, no deleted value back.
//!
//! Targeted tests cover unlogged writes made durable by a flush, a synced
//! write in a new WAL while the previous memtable is not flushed yet, and a
//! MANIFEST write failing while a flush installs its table.

#![cfg(test)] // so that allow-unwrap-in-tests covers the helpers too (rust-clippy#11119)

mod common;

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{first_difference, read_backward, read_forward, show, small_options, GatedFs, Model, TestRng};
use lsmkit::{Db, FlushOptions, Options, ReadOptions, SyncPolicy, WalIoMode, WriteBatch, WriteOptions};
use lsmkit_base::fs::{FaultFs, FaultOp, FaultRule, FileSystem, MemFs, ReadMode, StdFs};

/// Seeds of the randomized crash test (each runs several crash rounds).
const CRASH_SEEDS: u64 = 24;
/// Crash rounds per seed, each on the state the previous one recovered.
const ROUNDS_PER_SEED: usize = 4;
/// Distinct keys written.
const KEY_SPACE: u64 = 400;

/// One write: puts (`Some(value)`) and deletes (`None`), applied atomically.
type Write = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn apply(model: &mut Model, write: &Write) {
    for (key, value) in write {
        match value {
            Some(v) => model.insert(key.clone(), v.clone()),
            None => model.remove(key),
        };
    }
}

fn batch_of(write: &Write) -> WriteBatch {
    let mut batch = WriteBatch::new();
    for (key, value) in write {
        match value {
            Some(v) => batch.put(key, v),
            None => batch.delete(key),
        }
    }
    batch
}

/// A random write of 1 to 8 operations; values are unique (they name the
/// round and write) and now and then several KiB, so memtables fill up.
fn random_write(rng: &mut TestRng, round: usize, index: usize) -> Write {
    let ops = if rng.percent(70) { 1 } else { 1 + rng.index(8) };
    (0..ops)
        .map(|op| {
            let key = format!("key{:05}", rng.below(KEY_SPACE)).into_bytes();
            if rng.percent(25) {
                return (key, None);
            }
            let mut value = format!("r{round}w{index}o{op}:").into_bytes();
            let len = if rng.percent(8) { 2000 + rng.index(8000) } else { rng.index(200) };
            value.resize(value.len() + len, b'a' + (index % 26) as u8);
            (key, Some(value))
        })
        .collect()
}

/// How a round ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrashMode {
    /// The test thread cuts the power between two of its own steps, while
    /// background flushes and compactions may be running.
    BetweenSteps,
    /// Another thread cuts the power after a random delay while the test
    /// thread keeps writing.
    Concurrent,
    /// One random file-system operation fails first; the round goes on
    /// until a write fails or it ends, then the power is cut.
    AfterIoError,
    /// The power is cut without first stopping the database's file
    /// operations: its threads may go on using the file system afterwards
    /// (handles opened before the crash fail, new ones work).
    Zombie,
}

/// Cuts the power: from now on every operation through `fault_fs` fails
/// (so the still-open database cannot change what survived), then the
/// crash drops every unsynced byte.
fn power_cut(fault_fs: &FaultFs) {
    fault_fs.add_rule(FaultRule::new(ErrorKind::Other));
    fault_fs.crash().expect("crash");
}

/// Where a seed's database lives and how it is configured.
struct Setup {
    /// The file system under the `FaultFs`: it holds what survives crashes.
    inner: Arc<dyn FileSystem>,
    dir: PathBuf,
    /// Keeps an on-disk database's directory alive.
    _tempdir: Option<tempfile::TempDir>,
    tiered: bool,
    sync_policy: SyncPolicy,
    wal_io_mode: WalIoMode,
    table_read_mode: ReadMode,
    paranoid_checks: bool,
}

impl Setup {
    /// A random configuration, in memory or (with `on_disk`) in a
    /// temporary directory of the real file system, where mmap I/O is real.
    fn random(rng: &mut TestRng, on_disk: bool) -> Setup {
        let (inner, dir, tempdir): (Arc<dyn FileSystem>, PathBuf, _) = if on_disk {
            let tempdir = tempfile::tempdir().expect("tempdir");
            (Arc::new(StdFs::new()), tempdir.path().join("db"), Some(tempdir))
        } else {
            (Arc::new(MemFs::new()), PathBuf::from("/db"), None)
        };
        let sync_policy = match rng.below(5) {
            0 if !on_disk => SyncPolicy::EveryWrite,
            1 => SyncPolicy::EveryBytes(64 << 10),
            _ => SyncPolicy::Os,
        };
        let mmap = on_disk && rng.percent(50);
        Setup {
            inner,
            dir,
            _tempdir: tempdir,
            tiered: rng.percent(25),
            sync_policy,
            wal_io_mode: if mmap { WalIoMode::Mmap { chunk_size: 64 << 10 } } else { WalIoMode::Buffered },
            table_read_mode: if on_disk && rng.percent(50) { ReadMode::Mmap } else { ReadMode::Positional },
            paranoid_checks: rng.percent(25),
        }
    }

    /// A fresh `FaultFs` over what survived so far.
    fn fault_fs(&self) -> FaultFs {
        FaultFs::new(Arc::clone(&self.inner))
    }

    fn options(&self, fault_fs: &FaultFs) -> Options {
        Options {
            wal_sync_policy: self.sync_policy,
            wal_io_mode: self.wal_io_mode,
            table_read_mode: self.table_read_mode,
            paranoid_checks: self.paranoid_checks,
            ..small_options(Arc::new(fault_fs.clone()), self.tiered)
        }
    }
}

/// What one round wrote.
struct RoundLog {
    /// Writes attempted, in order (the last may have failed).
    writes: Vec<Write>,
    /// `writes[..durable]` were acknowledged as durable.
    durable: usize,
}

/// Runs one round of random work on `db`; returns the writes it attempted.
fn run_round(
    rng: &mut TestRng,
    round: usize,
    setup: &Setup,
    fault_fs: &FaultFs,
    db: Db,
    base: &Model,
    mode: CrashMode,
) -> RoundLog {
    let options = setup.options(fault_fs);
    let steps = 100 + rng.index(1500);
    let crash_at = rng.index(steps + 1);
    let fault_at = (mode == CrashMode::AfterIoError).then(|| rng.index(steps));
    let mut log = RoundLog { writes: Vec::new(), durable: 0 };
    let mut latest = base.clone();
    let crasher = (mode == CrashMode::Concurrent).then(|| {
        let fault_fs = fault_fs.clone();
        let delay = Duration::from_micros(rng.below(40_000));
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            power_cut(&fault_fs);
        })
    });
    let mut db = Some(db);
    for step in 0..steps {
        if step == crash_at && mode != CrashMode::Concurrent {
            break;
        }
        if Some(step) == fault_at {
            let kind = if rng.percent(50) { ErrorKind::Other } else { ErrorKind::StorageFull };
            fault_fs.fail_nth(rng.below(40), kind);
        }
        let Some(open_db) = db.as_ref() else { break };
        let dice = rng.below(1000);
        let outcome: lsmkit::Result<()> = if dice < 20 {
            open_db.flush(FlushOptions { wait: rng.percent(70) })
        } else if dice < 24 {
            let a = format!("key{:05}", rng.below(KEY_SPACE)).into_bytes();
            let b = format!("key{:05}", rng.below(KEY_SPACE)).into_bytes();
            let (begin, end) = if a <= b { (a, b) } else { (b, a) };
            open_db.compact_range(Some(&begin), Some(&end))
        } else if dice < 34 {
            open_db.sync_wal().map(|()| log.durable = log.writes.len())
        } else if dice < 38 && mode != CrashMode::Concurrent {
            // A clean close and reopen: recovery writes what it replays to
            // synced tables, so everything written so far is durable.
            db = None;
            Db::open(&setup.dir, options.clone()).map(|reopened| {
                db = Some(reopened);
                log.durable = log.writes.len();
            })
        } else if dice < 90 {
            let key = format!("key{:05}", rng.below(KEY_SPACE)).into_bytes();
            open_db.get(&key).map(|got| {
                assert_eq!(
                    got.as_deref(),
                    latest.get(&key).map(Vec::as_slice),
                    "round {round} step {step}: live read of {} differs from the model",
                    show(&key)
                );
            })
        } else {
            let write = random_write(rng, round, log.writes.len());
            let sync = rng.percent(15);
            log.writes.push(write.clone());
            let result = open_db.write(WriteOptions { sync, ..WriteOptions::default() }, batch_of(&write));
            if result.is_ok() {
                apply(&mut latest, &write);
                if sync || setup.sync_policy == SyncPolicy::EveryWrite {
                    log.durable = log.writes.len();
                }
            }
            result
        };
        if let Err(e) = outcome {
            // Only a crash or an injected fault may make an operation fail.
            assert!(
                mode == CrashMode::Concurrent || mode == CrashMode::AfterIoError,
                "round {round} step {step} ({mode:?}): unexpected error {e}"
            );
            break;
        }
    }
    match crasher {
        Some(crasher) => crasher.join().expect("crasher thread"),
        None if mode == CrashMode::Zombie => fault_fs.crash().expect("crash"),
        None => power_cut(fault_fs),
    }
    drop(db);
    log
}

/// Checks that `recovered` is `base` after some prefix of `log.writes` at
/// least `log.durable` long; returns that prefix's length.
fn find_prefix(base: &Model, log: &RoundLog, recovered: &Model) -> Result<usize, String> {
    let mut state = base.clone();
    let mut durable_state = None;
    for p in 0..=log.writes.len() {
        if p > 0 {
            apply(&mut state, &log.writes[p - 1]);
        }
        if p == log.durable {
            durable_state = Some(state.clone());
        }
        if p >= log.durable && &state == recovered {
            return Ok(p);
        }
    }
    let durable_state = durable_state.unwrap_or_default();
    Err(format!(
        "the recovered state is the state after no prefix of the {} writes of at least {} writes; \
         against the state after {} writes: {}; against the state after all writes: {}",
        log.writes.len(),
        log.durable,
        log.durable,
        first_difference(recovered, &durable_state).unwrap_or_else(|| "equal".into()),
        first_difference(recovered, &state).unwrap_or_else(|| "equal".into()),
    ))
}

/// Opens the database on what survived and reads all of it, checking that
/// forward iteration, backward iteration and point reads agree.
fn recover(dir: &Path, options: &Options) -> Result<(Db, Model), String> {
    let db = Db::open(dir, options.clone()).map_err(|e| format!("reopen after the crash failed: {e}"))?;
    let forward = read_forward(&db, ReadOptions::new()).map_err(|e| format!("read failed: {e}"))?;
    let backward = read_backward(&db, ReadOptions::new()).map_err(|e| format!("read failed: {e}"))?;
    if backward.iter().cloned().collect::<Model>() != forward || backward.len() != forward.len() {
        return Err("backward iteration differs from forward iteration".into());
    }
    for k in 0..KEY_SPACE {
        let key = format!("key{k:05}").into_bytes();
        let got = db.get(&key).map_err(|e| format!("get failed: {e}"))?;
        if got.as_deref() != forward.get(&key).map(Vec::as_slice) {
            return Err(format!("get {} differs from iteration", show(&key)));
        }
    }
    Ok((db, forward))
}

fn run_seed(seed: u64) -> Result<(), String> {
    let mut rng = TestRng::new(seed);
    let setup = Setup::random(&mut rng, seed % 12 == 11);
    let mut base = Model::new();
    let modes = [CrashMode::BetweenSteps, CrashMode::Concurrent, CrashMode::AfterIoError, CrashMode::Zombie];
    for round in 0..ROUNDS_PER_SEED {
        // Every round runs on a fresh FaultFs over what survived so far.
        let fault_fs = setup.fault_fs();
        let (db, state) =
            recover(&setup.dir, &setup.options(&fault_fs)).map_err(|e| format!("round {round} open: {e}"))?;
        if let Some(diff) = first_difference(&state, &base) {
            return Err(format!(
                "round {round}: the database changed between a recovery and the next open: {diff}"
            ));
        }
        let mode = modes[rng.index(modes.len())];
        let log = run_round(&mut rng, round, &setup, &fault_fs, db, &base, mode);
        let context = format!("round {round} ({mode:?})");

        if rng.percent(30) {
            // The power goes again while the database recovers.
            let fault_fs = setup.fault_fs();
            fault_fs.fail_nth(rng.below(80), ErrorKind::Other);
            let db = Db::open(&setup.dir, setup.options(&fault_fs));
            power_cut(&fault_fs);
            drop(db);
        }
        let (db, recovered) =
            recover(&setup.dir, &setup.options(&setup.fault_fs())).map_err(|e| format!("{context}: {e}"))?;
        find_prefix(&base, &log, &recovered).map_err(|e| format!("{context}: {e}"))?;
        drop(db);
        base = recovered;
    }
    Ok(())
}

#[test]
fn acknowledged_writes_survive_crashes_and_nothing_else_does() {
    let seeds: u64 =
        std::env::var("LSMKIT_CRASH_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(CRASH_SEEDS);
    let failures: Vec<String> =
        (0..seeds).filter_map(|seed| run_seed(seed).err().map(|e| format!("seed {seed}: {e}"))).collect();
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

/// Writes made with `disable_wal` are durable once a `flush` that started
/// after them has completed, even though no log holds them.
#[test]
fn unlogged_writes_survive_a_crash_after_a_completed_flush() {
    for seed in 0..8u64 {
        let mut rng = TestRng::new(1000 + seed);
        let mem = MemFs::new();
        let mut model = Model::new();
        for round in 0..3 {
            let fault_fs = FaultFs::new(Arc::new(mem.clone()));
            let options = small_options(Arc::new(fault_fs.clone()), seed % 2 == 1);
            let db = Db::open("/db", options).expect("open");
            let writes = 50 + rng.index(800);
            for i in 0..writes {
                let write = random_write(&mut rng, round, i);
                // Mostly unlogged; some logged writes (never synced) in between.
                let disable_wal = rng.percent(80);
                db.write(WriteOptions { sync: false, disable_wal }, batch_of(&write)).expect("write");
                apply(&mut model, &write);
                if rng.percent(1) {
                    db.flush(FlushOptions { wait: rng.percent(50) }).expect("flush");
                }
            }
            if rng.percent(30) {
                db.compact_range(None, None).expect("compact_range");
            }
            db.flush(FlushOptions { wait: true }).expect("flush");
            // The power goes while the database is still open.
            power_cut(&fault_fs);
            drop(db);

            let options = small_options(Arc::new(FaultFs::new(Arc::new(mem.clone()))), seed % 2 == 1);
            let (db, recovered) = recover(Path::new("/db"), &options)
                .unwrap_or_else(|e| panic!("seed {seed} round {round}: {e}"));
            if let Some(diff) = first_difference(&recovered, &model) {
                panic!("seed {seed} round {round}: flushed unlogged writes lost: {diff}");
            }
            drop(db);
        }
    }
}

/// A MANIFEST write that fails while a flush installs its table stops the
/// database, but must leave it openable with every acknowledged write.
#[test]
fn failed_manifest_sync_during_flush_leaves_an_openable_database() {
    for fail_op in [FaultOp::Sync, FaultOp::Write] {
        let mem = MemFs::new();
        let fault_fs = FaultFs::new(Arc::new(mem.clone()));
        let options = small_options(Arc::new(fault_fs.clone()), false);
        let db = Db::open("/db", options.clone()).expect("open");
        let mut model = Model::new();
        for i in 0..200u32 {
            let key = format!("key{i:05}").into_bytes();
            let value = format!("value{i}").into_bytes();
            db.put(&key, &value).expect("put");
            model.insert(key, value);
        }
        fault_fs.add_rule(FaultRule::new(ErrorKind::Other).on_path("MANIFEST").on_ops([fail_op]).times(1));
        let flushed = db.flush(FlushOptions { wait: true });
        assert!(flushed.is_err(), "{fail_op:?}: the flush must report the MANIFEST failure");
        assert!(db.background_error().is_some(), "{fail_op:?}: the failure must stop the database");
        assert!(db.put(b"more", b"x").is_err(), "{fail_op:?}: writes must fail after a background error");
        // A clean close: what the failed MANIFEST write left in the file stays.
        drop(db);
        fault_fs.clear_faults();
        let (db, recovered) =
            recover(Path::new("/db"), &options).unwrap_or_else(|e| panic!("{fail_op:?}: {e}"));
        if let Some(diff) = first_difference(&recovered, &model) {
            panic!("{fail_op:?}: {diff}");
        }
        drop(db);
        // And the same after a crash instead of a clean close.
        let db = Db::open("/db", options.clone()).expect("open");
        db.put(b"after", b"reopen").expect("put");
        fault_fs.add_rule(FaultRule::new(ErrorKind::Other).on_path("MANIFEST").on_ops([fail_op]).times(1));
        assert!(db.flush(FlushOptions { wait: true }).is_err());
        power_cut(&fault_fs);
        drop(db);
        let options = small_options(Arc::new(FaultFs::new(Arc::new(mem.clone()))), false);
        let (_db, recovered) =
            recover(Path::new("/db"), &options).unwrap_or_else(|e| panic!("{fail_op:?} after crash: {e}"));
        model.insert(b"after".to_vec(), b"reopen".to_vec());
        // The unsynced put may be lost, nothing else.
        let mut without = model.clone();
        without.remove(&b"after"[..]);
        assert!(
            recovered == model || recovered == without,
            "{fail_op:?} after crash: {}",
            first_difference(&recovered, &model).unwrap_or_default()
        );
    }
}

/// A synced write that lands in a new WAL, after a memtable switch, makes
/// the unsynced writes of the previous WAL durable too: otherwise a crash
/// before the full memtable is flushed would keep the synced write and lose
/// earlier ones — a hole in the history.
#[test]
fn synced_write_after_a_memtable_switch_keeps_the_writes_before_it() {
    writes_before_a_sync_after_a_memtable_switch_survive(|db| {
        db.put_opt(WriteOptions { sync: true, ..WriteOptions::default() }, b"synced", b"last").expect("put");
        Some((b"synced".to_vec(), b"last".to_vec()))
    });
}

/// The same with `sync_wal` instead of a synced write: the WAL switched out
/// before it (left unsynced at the switch) is synced too.
#[test]
fn sync_wal_after_a_memtable_switch_keeps_the_writes_before_it() {
    writes_before_a_sync_after_a_memtable_switch_survive(|db| {
        db.sync_wal().expect("sync_wal");
        None
    });
}

/// Writes past one write buffer (the memtable is switched and its flush held
/// back at a gate), then `sync` (which may write one more entry), then a
/// power cut: everything written before the sync must be recovered.
fn writes_before_a_sync_after_a_memtable_switch_survive(
    sync: impl FnOnce(&Db) -> Option<(Vec<u8>, Vec<u8>)>,
) {
    let mem = MemFs::new();
    let fault_fs = FaultFs::new(Arc::new(mem.clone()));
    // Flushes wait at this gate, so the full memtable stays unflushed.
    let gated = GatedFs::new(Arc::new(fault_fs.clone()), ".ldb");
    let db = Db::open("/db", small_options(Arc::new(gated.clone()), false)).expect("open");
    gated.close_gate();
    let mut model = Model::new();
    // Unsynced writes, well past one 64 KiB write buffer: the memtable is
    // switched and a new WAL started.
    let value = vec![b'v'; 1000];
    for i in 0..100u32 {
        let key = format!("key{i:05}").into_bytes();
        db.put(&key, &value).expect("put");
        model.insert(key, value.clone());
    }
    if let Some((key, value)) = sync(&db) {
        model.insert(key, value);
    }
    power_cut(&fault_fs);
    gated.open_gate();
    drop(db);

    let options = small_options(Arc::new(FaultFs::new(Arc::new(mem.clone()))), false);
    let (_db, recovered) = recover(Path::new("/db"), &options).expect("recover");
    if let Some(diff) = first_difference(&recovered, &model) {
        panic!("after a crash, the database lost writes made before a synced write: {diff}");
    }
}
