//! Power cuts, simulated with lsmkit's `FaultFs`: a failure injected at
//! each file-system operation of a snapshot install or build in turn,
//! followed by a crash that drops every unsynced byte and name; and a
//! crash while appends are in flight. After each, the stores reopen to a
//! complete state: the old one or the new one, never a mix, and every log
//! entry whose flush was reported.

use std::io;
use std::path::Path;
use std::sync::{mpsc, Arc};

use lsmkit_base::fs::{FaultFs, FileSystem, MemFs, StdFs};
use lsmkit_raft::{archive, LogEntry, LogStore, Request, StateMachineStore};
use openraft::storage::SnapshotMeta;
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, LogId, Vote};

fn put(index: u64, key: &str, value: &str) -> LogEntry {
    LogEntry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Request::Put { key: key.into(), value: value.into() }),
    }
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;
type Meta = SnapshotMeta<u64, BasicNode>;

/// A complete state: the data, the last applied id and the current
/// snapshot's metadata.
#[derive(Debug, Clone, PartialEq)]
struct State {
    pairs: Pairs,
    applied: Option<LogId<u64>>,
    snapshot: Option<Meta>,
}

/// A scratch directory, on tmpfs where there is one: `FaultFs` decides
/// what survives a crash, so real syncs only cost time here.
fn scratch() -> tempfile::TempDir {
    match tempfile::tempdir_in("/dev/shm") {
        Ok(dir) => dir,
        Err(_) => tempfile::tempdir().expect("scratch directory"),
    }
}

/// A short description of a state for failure messages.
fn summary(state: &State) -> String {
    format!("{} keys, applied {:?}, snapshot {:?}", state.pairs.len(), state.applied, state.snapshot)
}

fn state_of(sm: &StateMachineStore) -> State {
    State {
        pairs: sm.scan(b"", None, usize::MAX).expect("scan"),
        applied: sm.last_applied(),
        snapshot: sm.current_snapshot_meta(),
    }
}

/// Checks that the current snapshot archive is whole: it unpacks, and the
/// database in it holds what its metadata says.
fn check_snapshot_archive(sm: &StateMachineStore, scratch: &Path) {
    let Some(path) = sm.current_snapshot_path() else { return };
    let fs = StdFs::new();
    let dest = scratch.join("unpacked");
    let _ = std::fs::remove_dir_all(&dest);
    let header = archive::unpack(&fs, &path, &dest).expect("the current snapshot unpacks");
    let meta: Meta = serde_json::from_slice(&header).expect("snapshot header is JSON metadata");
    assert_eq!(Some(&meta), sm.current_snapshot_meta().as_ref());
    std::fs::remove_dir_all(&dest).expect("remove unpacked copy");
}

/// The leader's state and a snapshot of it, on the real file system.
fn leader(dir: &Path) -> (State, Meta, std::path::PathBuf) {
    let sm = StateMachineStore::open(dir, Arc::new(StdFs::new())).expect("open leader");
    let entries: Vec<LogEntry> =
        (1..=40).map(|i| put(i, &format!("leader-{i:03}"), &"L".repeat(i as usize))).collect();
    sm.apply_entries(entries).expect("apply on leader");
    let (meta, path) = sm.build_snapshot_now().expect("build leader snapshot");
    (state_of(&sm), meta, path)
}

/// A follower state machine with state of its own (and a snapshot of it)
/// on `fs`.
fn follower(dir: &Path, fs: Arc<dyn FileSystem>) -> (StateMachineStore, State) {
    let sm = StateMachineStore::open(dir, fs).expect("open follower");
    sm.apply_entries((1..=5).map(|i| put(i, &format!("follower-{i}"), "F"))).expect("apply on follower");
    sm.build_snapshot_now().expect("build follower snapshot");
    sm.apply_entries([put(6, "follower-6", "after the snapshot")]).expect("apply on follower");
    // Durable before the sweep starts (applies are not synced themselves).
    sm.build_snapshot_now().expect("build follower snapshot");
    let state = state_of(&sm);
    (sm, state)
}

/// Applies one more entry and reads it back: the reopened state is usable.
fn check_usable(sm: &StateMachineStore) {
    let next = sm.last_applied().map_or(1, |id| id.index + 1);
    sm.apply_entries([put(next, "usable", "yes")]).expect("apply to reopened state");
    assert_eq!(sm.get(b"usable").expect("get"), Some(b"yes".to_vec()));
}

#[test]
fn crash_at_every_step_of_a_snapshot_install() {
    let tmp = scratch();
    let (new_state, meta, archive_path) = leader(&tmp.path().join("leader"));
    let mut outcomes = (0, 0);
    let mut step = 0u64;
    loop {
        let dir = tmp.path().join(format!("follower-{step}"));
        let fault = FaultFs::new(Arc::new(StdFs::new()));
        let (sm, old_state) = follower(&dir, Arc::new(fault.clone()));
        let before = fault.op_count();
        fault.fail_nth(step, io::ErrorKind::Other);
        let mut data = std::fs::File::open(&archive_path).unwrap();
        let result = sm.install_snapshot_from(&meta, &mut data);
        let reached = fault.op_count() - before > step;
        fault.clear_faults();
        let in_memory = state_of(&sm);
        match &result {
            Ok(()) => assert!(in_memory == new_state, "step {step}: installed, but not in memory"),
            // A failed install leaves the process on the old state, except
            // when only the directory sync after the switch failed.
            Err(_) => assert!(in_memory == old_state || in_memory == new_state, "step {step}: a mixed state"),
        }
        drop(sm);
        fault.crash().unwrap();
        let sm = StateMachineStore::open(&dir, Arc::new(fault.clone())).unwrap();
        let state = state_of(&sm);
        if state == new_state {
            outcomes.1 += 1;
        } else {
            assert!(result.is_err(), "step {step}: a finished install was lost");
            assert!(
                state == old_state,
                "step {step}: neither the old nor the new state: {}",
                summary(&state)
            );
            outcomes.0 += 1;
        }
        check_snapshot_archive(&sm, tmp.path());
        check_usable(&sm);
        drop(sm);
        std::fs::remove_dir_all(&dir).unwrap();
        if !reached {
            assert!(result.is_ok(), "the install failed with no fault injected");
            break;
        }
        step += 1;
    }
    // Both outcomes happened: the sweep crossed the switch.
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "outcomes (old, new) = {outcomes:?}");
    eprintln!("install: {step} failure points; (old, new) = {outcomes:?}");
}

#[test]
fn crash_at_every_step_of_a_snapshot_build() {
    let tmp = scratch();
    let mut outcomes = (0, 0);
    let mut step = 0u64;
    loop {
        let dir = tmp.path().join(format!("node-{step}"));
        let fault = FaultFs::new(Arc::new(StdFs::new()));
        let (sm, old_state) = follower(&dir, Arc::new(fault.clone()));
        sm.apply_entries([put(7, "follower-7", "in the new snapshot only")]).unwrap();
        let data = sm.scan(b"", None, usize::MAX).unwrap();
        let before = fault.op_count();
        fault.fail_nth(step, io::ErrorKind::Other);
        let result = sm.build_snapshot_now();
        let reached = fault.op_count() - before > step;
        fault.clear_faults();
        drop(sm);
        fault.crash().unwrap();
        let sm = StateMachineStore::open(&dir, Arc::new(fault.clone())).unwrap();
        let state = state_of(&sm);
        // The build syncs the database first; the snapshot is the old or the new one.
        let new_meta = result.as_ref().ok().map(|(meta, _)| meta.clone());
        if state.snapshot == old_state.snapshot {
            outcomes.0 += 1;
        } else {
            let current = state.snapshot.clone().unwrap();
            assert_eq!(current.last_log_id.map(|id| id.index), Some(7), "step {step}");
            if let Some(meta) = &new_meta {
                assert_eq!(&current, meta);
            }
            assert!(state.pairs == data, "step {step}: a new snapshot without its data: {}", summary(&state));
            outcomes.1 += 1;
        }
        if result.is_ok() {
            assert!(state.pairs == data, "step {step}: {}", summary(&state));
            assert_eq!(state.snapshot, new_meta, "step {step}: a finished build was lost");
        }
        check_snapshot_archive(&sm, tmp.path());
        check_usable(&sm);
        drop(sm);
        std::fs::remove_dir_all(&dir).unwrap();
        if !reached {
            assert!(result.is_ok(), "the build failed with no fault injected");
            break;
        }
        step += 1;
    }
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "outcomes (old, new) = {outcomes:?}");
    eprintln!("build: {step} failure points; (old, new) = {outcomes:?}");
}

/// Appends with callbacks and a vote, then a power cut while more appends
/// are in flight: every entry whose callback reported success, and the
/// vote, are there after reopening; the log has no hole.
#[test]
fn power_cut_keeps_every_flushed_entry() {
    let fault = FaultFs::new(Arc::new(MemFs::new()));
    let fs: Arc<dyn FileSystem> = Arc::new(fault.clone());
    let dir = Path::new("/raft/log");
    fs.create_dir_all(dir).unwrap();
    let mut flushed_before = 0;
    for round in 0..3u64 {
        let log = LogStore::open(dir, Arc::clone(&fs)).unwrap();
        let start = log.log_state().unwrap().last_log_id.map_or(1, |id| id.index + 1);
        assert!(start > flushed_before, "round {round}: flushed entries lost");
        log.write_vote(&Vote::new(round + 1, 1)).unwrap();
        let (tx, rx) = mpsc::channel();
        for i in start..start + 200 {
            let tx = tx.clone();
            log.append_entries(vec![put(i, &format!("k{i}"), "v")], move |r| {
                if r.is_ok() {
                    let _ = tx.send(i);
                }
            })
            .unwrap();
        }
        // Wait for some callbacks, then cut the power with appends queued.
        let mut flushed = 0;
        for _ in 0..50 {
            flushed = flushed.max(rx.recv().unwrap());
        }
        fault.crash().unwrap();
        drop(log);
        flushed = flushed.max(rx.try_iter().max().unwrap_or(0));
        flushed_before = flushed;

        let log = LogStore::open(dir, Arc::clone(&fs)).unwrap();
        let last = log.log_state().unwrap().last_log_id.unwrap().index;
        assert!(last >= flushed, "round {round}: last {last} < flushed {flushed}");
        let entries = log.read_entries(..).unwrap();
        assert_eq!(entries.len() as u64, last, "round {round}: a hole");
        assert_eq!(log.vote().unwrap(), Some(Vote::new(round + 1, 1)), "round {round}");
    }
}

/// A first open interrupted at each of its file-system operations, then a
/// power cut: the next open gives an empty, usable state machine.
#[test]
fn crash_at_every_step_of_a_first_open() {
    let tmp = scratch();
    let mut step = 0u64;
    loop {
        let dir = tmp.path().join(format!("sm-{step}"));
        let fault = FaultFs::new(Arc::new(StdFs::new()));
        fault.fail_nth(step, io::ErrorKind::Other);
        let result = StateMachineStore::open(&dir, Arc::new(fault.clone()));
        let reached = fault.op_count() > step;
        fault.clear_faults();
        drop(result);
        fault.crash().expect("crash");
        let sm = StateMachineStore::open(&dir, Arc::new(fault.clone())).expect("reopen after a crash");
        assert_eq!(state_of(&sm), State { pairs: Vec::new(), applied: None, snapshot: None }, "step {step}");
        check_usable(&sm);
        drop(sm);
        std::fs::remove_dir_all(&dir).expect("remove");
        if !reached {
            break;
        }
        step += 1;
    }
    assert!(step > 5, "only {step} operations in a first open");
}

/// A state-machine directory whose pointer is gone, or names a database
/// that is gone while a snapshot exists, is refused, not started empty.
#[test]
fn lost_pointer_or_database_is_refused() {
    let tmp = scratch();
    let fs: Arc<dyn FileSystem> = Arc::new(StdFs::new());
    let dir = tmp.path().join("sm");
    let sm = StateMachineStore::open(&dir, Arc::clone(&fs)).expect("open");
    sm.apply_entries([put(1, "k", "v")]).expect("apply");
    drop(sm);
    std::fs::rename(dir.join("SM_CURRENT"), tmp.path().join("saved")).expect("hide the pointer");
    let err = StateMachineStore::open(&dir, Arc::clone(&fs)).expect_err("opened without a pointer");
    assert!(matches!(err, lsmkit_raft::Error::Corruption { .. }), "{err}");
    std::fs::rename(tmp.path().join("saved"), dir.join("SM_CURRENT")).expect("restore the pointer");
    let sm = StateMachineStore::open(&dir, Arc::clone(&fs)).expect("open");
    assert_eq!(sm.get(b"k").expect("get"), Some(b"v".to_vec()));
    sm.build_snapshot_now().expect("build");
    let db = std::fs::read_dir(&dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("db-"))
        .expect("a database directory");
    drop(sm);
    std::fs::remove_dir_all(dir.join(db)).expect("remove the database");
    let err = StateMachineStore::open(&dir, fs).expect_err("opened without its database");
    assert!(matches!(err, lsmkit_raft::Error::Corruption { .. }), "{err}");
}

/// A damaged archive, or one that is not the snapshot being installed, is
/// refused with a corruption error; the old state stays, and the failed
/// install leaves no files behind.
#[test]
fn malformed_or_mismatched_snapshot_is_refused() {
    let tmp = scratch();
    let (_, meta, archive_path) = leader(&tmp.path().join("leader"));
    let fs: Arc<dyn FileSystem> = Arc::new(StdFs::new());
    let dir = tmp.path().join("follower");
    let (sm, old_state) = follower(&dir, Arc::clone(&fs));
    let names_before = {
        let mut n: Vec<String> = fs.list_dir(&dir).expect("list");
        n.sort();
        n
    };
    let good = std::fs::read(&archive_path).expect("read archive");
    let bad_path = tmp.path().join("bad.snap");
    // A byte in the middle of the data, and a cut-off archive.
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    for (what, bytes) in [("flipped byte", flipped), ("truncated", good[..good.len() - 7].to_vec())] {
        std::fs::write(&bad_path, &bytes).expect("write bad archive");
        let mut file = std::fs::File::open(&bad_path).expect("open bad archive");
        let err = sm.install_snapshot_from(&meta, &mut file).expect_err(what);
        assert!(matches!(err, lsmkit_raft::Error::Corruption { .. }), "{what}: {err}");
        assert!(state_of(&sm) == old_state, "{what}: the state changed");
        let mut names: Vec<String> = fs.list_dir(&dir).expect("list");
        names.sort();
        assert_eq!(names, names_before, "{what}: leftovers");
    }
    // A whole archive, but of another snapshot than the metadata says.
    let mut other = meta.clone();
    other.last_log_id = Some(LogId::new(CommittedLeaderId::new(1, 1), 39));
    let mut file = std::fs::File::open(&archive_path).expect("open archive");
    let err = sm.install_snapshot_from(&other, &mut file).expect_err("mismatched metadata");
    assert!(matches!(err, lsmkit_raft::Error::Corruption { .. }), "{err}");
    assert!(state_of(&sm) == old_state);
    drop(sm);
    let sm = StateMachineStore::open(&dir, fs).expect("reopen");
    assert!(state_of(&sm) == old_state);
}
