//! Everything the stores accept survives closing and reopening them: log
//! appends, truncation, purge, the vote and the committed id, applies,
//! snapshot builds and snapshot installs.

use std::collections::BTreeSet;
use std::path::Path;

use lsmkit_raft::{open_stores, LogEntry, LogStore, Request, StateMachineStore};
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload, LogId, Membership, RaftSnapshotBuilder, Vote};

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn put(term: u64, index: u64, key: &str, value: &str) -> LogEntry {
    LogEntry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Request::Put { key: key.into(), value: value.into() }),
    }
}

fn delete(term: u64, index: u64, key: &str) -> LogEntry {
    LogEntry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Request::Delete { key: key.into() }),
    }
}

fn membership(term: u64, index: u64, voters: &[u64]) -> LogEntry {
    let voters: BTreeSet<u64> = voters.iter().copied().collect();
    LogEntry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(Membership::new(vec![voters], ())),
    }
}

fn reopen(dir: &Path, stores: (LogStore, StateMachineStore)) -> (LogStore, StateMachineStore) {
    drop(stores);
    open_stores(dir).expect("reopen")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// The names in a state-machine directory, sorted.
fn sm_dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Scans every application key.
fn all_pairs(sm: &StateMachineStore) -> Vec<(String, String)> {
    sm.scan(b"", None, usize::MAX)
        .expect("scan")
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).expect("UTF-8 key"), String::from_utf8(v).expect("UTF-8 value")))
        .collect()
}

#[test]
fn log_operations_survive_reopen() {
    rt().block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (mut log, sm) = open_stores(dir).unwrap();
        let entries: Vec<LogEntry> = (1..=10).map(|i| put(1, i, &format!("k{i}"), "v")).collect();
        log.blocking_append(entries[..4].to_vec()).await.unwrap();
        log.blocking_append(entries[4..].to_vec()).await.unwrap();

        // Append.
        let (mut log, sm) = reopen(dir, (log, sm));
        assert_eq!(log.try_get_log_entries(..).await.unwrap(), entries);
        let state = log.get_log_state().await.unwrap();
        assert_eq!((state.last_purged_log_id, state.last_log_id), (None, Some(log_id(1, 10))));

        // Truncate: a conflicting suffix goes, and a new term continues.
        log.truncate(log_id(1, 8)).await.unwrap();
        let (mut log, sm) = reopen(dir, (log, sm));
        assert_eq!(log.try_get_log_entries(..).await.unwrap(), entries[..7]);
        log.blocking_append(vec![put(2, 8, "k8", "new")]).await.unwrap();
        let (mut log, sm) = reopen(dir, (log, sm));
        assert_eq!(log.get_log_state().await.unwrap().last_log_id, Some(log_id(2, 8)));
        assert_eq!(log.try_get_log_entries(8..9).await.unwrap(), [put(2, 8, "k8", "new")]);

        // Purge.
        log.purge(log_id(1, 3)).await.unwrap();
        let (mut log, sm) = reopen(dir, (log, sm));
        let state = log.get_log_state().await.unwrap();
        assert_eq!((state.last_purged_log_id, state.last_log_id), (Some(log_id(1, 3)), Some(log_id(2, 8))));
        assert!(log.try_get_log_entries(..4).await.unwrap().is_empty());
        assert_eq!(log.try_get_log_entries(4..6).await.unwrap(), entries[3..5]);

        // Purge past the last entry: the log is empty and its last id is the purged one.
        log.purge(log_id(2, 8)).await.unwrap();
        let (mut log, sm) = reopen(dir, (log, sm));
        let state = log.get_log_state().await.unwrap();
        assert_eq!((state.last_purged_log_id, state.last_log_id), (Some(log_id(2, 8)), Some(log_id(2, 8))));
        assert!(log.try_get_log_entries(..).await.unwrap().is_empty());

        // Vote and committed id.
        assert_eq!(log.read_vote().await.unwrap(), None);
        let vote = Vote::new_committed(3, 2);
        log.save_vote(&vote).await.unwrap();
        log.save_committed(Some(log_id(2, 8))).await.unwrap();
        let (mut log, _sm) = reopen(dir, (log, sm));
        assert_eq!(log.read_vote().await.unwrap(), Some(vote));
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(2, 8)));
    });
}

#[test]
fn applies_and_snapshots_survive_reopen() {
    rt().block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (log, mut sm) = open_stores(dir).unwrap();
        let replies = sm
            .apply(vec![
                membership(1, 1, &[1, 2, 3]),
                put(1, 2, "a", "1"),
                put(1, 3, "b", "2"),
                put(1, 4, "a", "3"),
                delete(1, 5, "b"),
                put(1, 6, "c", "4"),
            ])
            .await
            .unwrap();
        let previous: Vec<Option<Vec<u8>>> = replies.into_iter().map(|r| r.previous).collect();
        assert_eq!(previous, [None, None, None, Some(b"1".to_vec()), Some(b"2".to_vec()), None]);

        // Apply.
        let (log, mut sm) = reopen(dir, (log, sm));
        let (applied, members) = sm.applied_state().await.unwrap();
        assert_eq!(applied, Some(log_id(1, 6)));
        assert_eq!(members.log_id(), &Some(log_id(1, 1)));
        assert_eq!(members.membership().voter_ids().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(all_pairs(&sm), [("a".into(), "3".into()), ("c".into(), "4".into())]);
        assert_eq!(sm.get(b"b").unwrap(), None);
        assert_eq!(sm.scan(b"b", Some(b"c"), 10).unwrap(), []);
        assert_eq!(sm.scan(b"a", None, 1).unwrap(), [(b"a".to_vec(), b"3".to_vec())]);
        assert_eq!(sm.scan(b"a", Some(b"c"), 10).unwrap(), [(b"a".to_vec(), b"3".to_vec())]);
        assert_eq!(sm.scan(b"a", Some(b"c\0"), 10).unwrap().len(), 2);
        assert_eq!(sm.scan(b"c", Some(b"a"), 10).unwrap(), []);
        assert_eq!(sm.scan(b"a", None, 0).unwrap(), []);

        // Snapshot build.
        assert!(sm.get_current_snapshot().await.unwrap().is_none());
        let built = sm.get_snapshot_builder().await.build_snapshot().await.unwrap();
        assert_eq!(built.meta.last_log_id, Some(log_id(1, 6)));
        sm.apply(vec![put(1, 7, "d", "5")]).await.unwrap();
        let (log, mut sm) = reopen(dir, (log, sm));
        let current = sm.get_current_snapshot().await.unwrap().expect("a current snapshot");
        assert_eq!(current.meta, built.meta);
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 7)));
        assert_eq!(sm.get(b"d").unwrap(), Some(b"5".to_vec()));
        // The pointer, one database and one archive: the build left nothing else.
        let names = sm_dir_names(&dir.join("sm"));
        assert_eq!(names.len(), 3, "{names:?}");

        // Snapshot install on a second node whose own state differs.
        let tmp2 = tempfile::tempdir().unwrap();
        let (log2, mut sm2) = open_stores(tmp2.path()).unwrap();
        sm2.apply(vec![put(1, 1, "only-on-follower", "x"), put(1, 2, "a", "old")]).await.unwrap();
        let mut receiving = sm2.begin_receiving_snapshot().await.unwrap();
        let mut source = current.snapshot;
        tokio::io::copy(&mut source, &mut *receiving).await.unwrap();
        sm2.install_snapshot(&current.meta, receiving).await.unwrap();
        // The pointer, the new database and the new archive, and nothing
        // else: the old state and the received file are gone.
        assert_eq!(
            sm_dir_names(&tmp2.path().join("sm")).len(),
            3,
            "{:?}",
            sm_dir_names(&tmp2.path().join("sm"))
        );
        let (_log2, mut sm2) = reopen(tmp2.path(), (log2, sm2));
        assert_eq!(
            sm2.applied_state().await.unwrap(),
            (built.meta.last_log_id, built.meta.last_membership.clone())
        );
        assert_eq!(all_pairs(&sm2), [("a".into(), "3".into()), ("c".into(), "4".into())]);
        assert_eq!(sm2.get_current_snapshot().await.unwrap().expect("installed snapshot").meta, built.meta);
        // The installed state takes further applies, and they survive too.
        sm2.apply(vec![put(1, 7, "e", "6")]).await.unwrap();
        let (_log2, sm2) = reopen(tmp2.path(), (_log2, sm2));
        assert_eq!(sm2.get(b"e").unwrap(), Some(b"6".to_vec()));
        drop((log, sm));
    });
}

/// The last handle of a log store may be dropped by a flush callback, on
/// the sync thread itself; the store still closes (and reopens).
#[test]
fn last_handle_dropped_in_a_callback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let log = LogStore::open(&dir, std::sync::Arc::new(lsmkit_raft::StdFs::new())).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let held = log.clone();
    log.append_entries(vec![put(1, 1, "k", "v")], move |r| {
        drop(held);
        tx.send(r.is_ok()).unwrap();
    })
    .unwrap();
    drop(log);
    assert!(rx.recv().unwrap());
    // The directory lock is released once the sync thread has ended (a
    // bound on the retries, not on time: it ends right after the callback).
    let mut reopened = None;
    for _ in 0..10_000 {
        match LogStore::open(&dir, std::sync::Arc::new(lsmkit_raft::StdFs::new())) {
            Ok(log) => {
                reopened = Some(log);
                break;
            }
            Err(lsmkit_raft::Error::Busy(_)) => std::thread::sleep(std::time::Duration::from_millis(1)),
            Err(e) => panic!("reopen: {e}"),
        }
    }
    let reopened = reopened.expect("the log store never closed");
    assert_eq!(reopened.read_entries(..).unwrap(), [put(1, 1, "k", "v")]);
}
