//! [`LogStore`]: openraft's `RaftLogStorage` and `RaftLogReader` on one
//! lsmkit database, with group-synced appends (docs/raft.md, "The log").
//!
//! An append is written to the database at once, without a sync, so the
//! entries are readable when `append` returns; its callback then goes to
//! the sync thread. That thread takes every callback queued so far, syncs
//! the WAL once and reports to all of them: each callback was queued after
//! its entries were written, so the one sync covers them all, and appends
//! that arrive while a sync runs share the next one. The vote, truncations
//! and purges are synced writes of their own.

use std::fmt;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use lsmkit::{Db, Options, WriteBatch, WriteOptions};
use lsmkit_base::fs::FileSystem;
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AnyError, LogId, OptionalSend, RaftLogId, StorageError, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::entry_codec;
use crate::keys::{entry_index, entry_key, COMMITTED_KEY, ENTRY_PREFIX, PURGED_KEY, VOTE_KEY};
use crate::{Error, LogEntry, NodeId, Result, TypeConfig};

/// The Raft log: entries, vote, and the purged and committed markers in one
/// lsmkit database. Cheap to clone; clones share the database (a clone is
/// also the log reader openraft's replication tasks use). The database
/// closes when the last clone is dropped, after every queued sync callback
/// has been called.
///
/// ```
/// use lsmkit_raft::{LogStore, StdFs};
/// use openraft::entry::RaftEntry;
/// use openraft::storage::{RaftLogReader, RaftLogStorage};
/// use openraft::{CommittedLeaderId, Entry, LogId};
/// use std::sync::Arc;
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let dir = tempfile::tempdir()?;
/// let mut log = LogStore::open(dir.path().join("log"), Arc::new(StdFs::new()))?;
/// let (tx, rx) = std::sync::mpsc::channel();
/// let entries = (1..=3).map(|i| Entry::new_blank(LogId::new(CommittedLeaderId::new(1, 7), i)));
/// log.append_entries(entries.collect(), move |synced| tx.send(synced.is_ok()).unwrap())?;
/// assert!(rx.recv()?); // durable now
/// assert_eq!(log.try_get_log_entries(2..).await?.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<LogInner>,
}

/// A callback waiting for the next WAL sync.
type SyncCallback = Box<dyn FnOnce(io::Result<()>) + Send>;

struct LogInner {
    db: Db,
    /// Feeds the sync thread; taken (closing the channel) on drop.
    sync_tx: Mutex<Option<mpsc::Sender<SyncCallback>>>,
    sync_thread: Mutex<Option<JoinHandle<()>>>,
    /// WAL syncs the sync thread has made (for tests and metrics).
    syncs: Arc<AtomicU64>,
    /// The last purged log id (also stored under `PURGED_KEY`).
    purged: Mutex<Option<LogId<NodeId>>>,
}

impl Drop for LogInner {
    fn drop(&mut self) {
        // Closing the channel ends the sync thread once it has served what
        // is queued; joining it means its database handle is gone too, so
        // the directory is unlocked when the last LogStore is dropped.
        drop(self.sync_tx.get_mut().unwrap_or_else(PoisonError::into_inner).take());
        if let Some(thread) = self.sync_thread.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
            // The last handle may go with a callback, on the sync thread
            // itself: that thread ends on its own once the channel is closed.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl fmt::Debug for LogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogStore").field("dir", &self.inner.db.path()).finish_non_exhaustive()
    }
}

/// Serves sync callbacks: one `sync` (of the database's WAL) for everything
/// queued so far, until the channel closes. Every callback taken was queued
/// after its entries were written, so the sync made after taking it covers
/// them.
fn sync_loop(
    mut sync: impl FnMut() -> lsmkit::Result<()>,
    rx: mpsc::Receiver<SyncCallback>,
    syncs: Arc<AtomicU64>,
) {
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        waiting.extend(rx.try_iter());
        let result = sync();
        syncs.fetch_add(1, Ordering::Relaxed);
        for callback in waiting {
            callback(result.as_ref().map(|_| ()).map_err(|e| io::Error::other(e.to_string())));
        }
    }
}

/// JSON of `value` (types whose serialization cannot fail).
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::InvalidArgument(format!("cannot serialize: {e}")))
}

/// Parses a stored JSON value; malformed bytes are a corruption naming the
/// database and key.
pub(crate) fn from_json<T: DeserializeOwned>(db: &Path, key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corruption {
        message: format!("malformed value of key {:?}: {e}", String::from_utf8_lossy(key)),
        file: Some(db.to_path_buf()),
        offset: None,
    })
}

/// Runs `work` (synced writes, long scans) on tokio's blocking threads, so
/// the runtime's workers are not held for a sync.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::io("join blocking task", Path::new(""), io::Error::other(e.to_string())))?
}

fn synced() -> WriteOptions {
    WriteOptions { sync: true, ..WriteOptions::default() }
}

impl LogStore {
    /// Opens (creating if missing) the log database in `dir` through `fs`.
    pub fn open(dir: impl Into<PathBuf>, fs: Arc<dyn FileSystem>) -> Result<LogStore> {
        let dir = dir.into();
        let db = Db::open(&dir, Options { create_if_missing: true, fs, ..Options::default() })?;
        let purged = match db.get(PURGED_KEY)? {
            Some(bytes) => Some(from_json(&dir, PURGED_KEY, &bytes)?),
            None => None,
        };
        let (tx, rx) = mpsc::channel();
        let syncs = Arc::new(AtomicU64::new(0));
        let thread_db = db.clone();
        let thread_syncs = Arc::clone(&syncs);
        let thread = std::thread::Builder::new()
            .name("lsmkit-raft-log-sync".into())
            .spawn(move || sync_loop(|| thread_db.sync_wal(), rx, thread_syncs))
            .map_err(|e| Error::io("spawn sync thread", &dir, e))?;
        Ok(LogStore {
            inner: Arc::new(LogInner {
                db,
                sync_tx: Mutex::new(Some(tx)),
                sync_thread: Mutex::new(Some(thread)),
                syncs,
                purged: Mutex::new(purged),
            }),
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        self.inner.db.path()
    }

    /// How many WAL syncs have served append callbacks so far: at most one
    /// per append, fewer when appends share a sync.
    pub fn sync_count(&self) -> u64 {
        self.inner.syncs.load(Ordering::Relaxed)
    }

    /// Appends `entries` (written at once and readable when this returns)
    /// and calls `on_synced` once they are durable, after the WAL sync that
    /// covers them (appends queued together share one sync), or with the
    /// error if that sync failed. `on_synced` runs on the sync thread.
    /// This is `RaftLogStorage::append` with a plain closure in place of
    /// openraft's callback type.
    ///
    /// Entries must continue the log without a hole, as openraft's appends
    /// do; an entry at an index already present replaces it.
    pub fn append_entries(
        &self,
        entries: Vec<LogEntry>,
        on_synced: impl FnOnce(io::Result<()>) + Send + 'static,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        for entry in &entries {
            batch.put(&entry_key(entry.get_log_id().index), &entry_codec::encode(entry)?);
        }
        self.inner.db.write(WriteOptions::default(), batch)?;
        let sender = self.inner.sync_tx.lock().unwrap_or_else(PoisonError::into_inner);
        match sender.as_ref() {
            Some(tx) => tx.send(Box::new(on_synced)).map_err(|_| Error::Closed),
            None => Err(Error::Closed),
        }
    }

    /// The entries with indexes in `range`, in order (missing ones are
    /// skipped).
    pub fn read_entries(&self, range: impl RangeBounds<u64>) -> Result<Vec<LogEntry>> {
        let start = match range.start_bound() {
            Bound::Included(&i) => Bound::Included(entry_key(i).to_vec()),
            Bound::Excluded(&i) => Bound::Excluded(entry_key(i).to_vec()),
            Bound::Unbounded => Bound::Included(vec![ENTRY_PREFIX]),
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => Bound::Included(entry_key(i).to_vec()),
            Bound::Excluded(&i) => Bound::Excluded(entry_key(i).to_vec()),
            Bound::Unbounded => Bound::Excluded(vec![ENTRY_PREFIX + 1]),
        };
        let mut out = Vec::new();
        for item in self.inner.db.range((start, end)) {
            let (key, value) = item?;
            out.push(self.decode_entry(&key, &value)?);
        }
        Ok(out)
    }

    /// Decodes an entry and checks that it sits under its own index.
    fn decode_entry(&self, key: &[u8], value: &[u8]) -> Result<LogEntry> {
        let entry = entry_codec::decode(self.path(), value)?;
        if entry_index(key) != Some(entry.get_log_id().index) {
            return Err(Error::Corruption {
                message: format!("log entry {} stored under key {key:?}", entry.get_log_id()),
                file: Some(self.path().to_path_buf()),
                offset: None,
            });
        }
        Ok(entry)
    }

    /// The last entry's log id, if there is any entry.
    fn last_entry_id(&self) -> Result<Option<LogId<NodeId>>> {
        match self.inner.db.prefix(&[ENTRY_PREFIX]).next_back() {
            Some(item) => {
                let (key, value) = item?;
                Ok(Some(*self.decode_entry(&key, &value)?.get_log_id()))
            }
            None => Ok(None),
        }
    }

    /// A batch deleting every entry key in `[start, end)`.
    fn delete_entries(&self, batch: &mut WriteBatch, start: u64, end: Bound<u64>) -> Result<()> {
        let end = match end {
            Bound::Included(i) => Bound::Included(entry_key(i).to_vec()),
            Bound::Excluded(i) => Bound::Excluded(entry_key(i).to_vec()),
            Bound::Unbounded => Bound::Excluded(vec![ENTRY_PREFIX + 1]),
        };
        for item in self.inner.db.range((Bound::Included(entry_key(start).to_vec()), end)) {
            let (key, _) = item?;
            batch.delete(&key);
        }
        Ok(())
    }

    fn read_json<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.inner.db.get(key)? {
            Some(bytes) => Ok(Some(from_json(self.path(), key, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The last purged log id and the last log id (openraft's `LogState`).
    pub fn log_state(&self) -> Result<LogState<TypeConfig>> {
        let purged = *self.inner.purged.lock().unwrap_or_else(PoisonError::into_inner);
        let last = self.last_entry_id()?.or(purged);
        Ok(LogState { last_purged_log_id: purged, last_log_id: last })
    }

    /// Saves the vote with a synced write.
    pub fn write_vote(&self, vote: &Vote<NodeId>) -> Result<()> {
        self.inner.db.put_opt(synced(), VOTE_KEY, &to_json(vote)?)
    }

    /// The last saved vote.
    pub fn vote(&self) -> Result<Option<Vote<NodeId>>> {
        self.read_json(VOTE_KEY)
    }

    /// Removes the entries from `log_id.index` on, in one synced batch.
    pub fn truncate_from(&self, log_id: LogId<NodeId>) -> Result<()> {
        let mut batch = WriteBatch::new();
        self.delete_entries(&mut batch, log_id.index, Bound::Unbounded)?;
        self.inner.db.write(synced(), batch)
    }

    /// Removes the entries up to `log_id.index` and records `log_id` as
    /// purged, in one synced batch.
    pub fn purge_upto(&self, log_id: LogId<NodeId>) -> Result<()> {
        let mut purged = self.inner.purged.lock().unwrap_or_else(PoisonError::into_inner);
        if purged.is_some_and(|p| p.index >= log_id.index) {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        self.delete_entries(&mut batch, 0, Bound::Included(log_id.index))?;
        batch.put(PURGED_KEY, &to_json(&log_id)?);
        self.inner.db.write(synced(), batch)?;
        *purged = Some(log_id);
        Ok(())
    }
}

fn read_err(e: Error) -> StorageError<NodeId> {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

fn write_err(e: Error) -> StorageError<NodeId> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<LogEntry>, StorageError<NodeId>> {
        self.read_entries(range).map_err(read_err)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> std::result::Result<LogState<TypeConfig>, StorageError<NodeId>> {
        self.log_state().map_err(read_err)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> std::result::Result<(), StorageError<NodeId>> {
        let (log, vote) = (self.clone(), *vote);
        blocking(move || log.write_vote(&vote))
            .await
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        self.vote().map_err(|e| StorageIOError::read_vote(AnyError::new(&e)).into())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> std::result::Result<(), StorageError<NodeId>> {
        // Not synced: a committed id that goes back after a crash only
        // means entries are applied again from an earlier point.
        let result = match committed {
            Some(id) => to_json(&id).and_then(|v| self.inner.db.put(COMMITTED_KEY, &v)),
            None => self.inner.db.delete(COMMITTED_KEY),
        };
        result.map_err(write_err)
    }

    async fn read_committed(&mut self) -> std::result::Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        self.read_json(COMMITTED_KEY).map_err(read_err)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> std::result::Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = LogEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<LogEntry> = entries.into_iter().collect();
        self.append_entries(entries, move |result| callback.log_io_completed(result)).map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> std::result::Result<(), StorageError<NodeId>> {
        let log = self.clone();
        blocking(move || log.truncate_from(log_id)).await.map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> std::result::Result<(), StorageError<NodeId>> {
        let log = self.clone();
        blocking(move || log.purge_upto(log_id)).await.map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Callbacks queued while a sync runs share the next sync: eleven
    /// appends' callbacks, the last ten queued while the first one's sync is
    /// held back, are served by two syncs, and none of the ten is called
    /// before the second sync has started.
    #[test]
    fn callbacks_queued_during_a_sync_share_the_next_one() {
        let (tx, rx) = mpsc::channel::<SyncCallback>();
        let (entered_tx, entered_rx) = mpsc::channel::<u64>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let syncs = Arc::new(AtomicU64::new(0));
        let started = Arc::new(AtomicU64::new(0));
        let thread = {
            let (syncs, started) = (Arc::clone(&syncs), Arc::clone(&started));
            std::thread::spawn(move || {
                let sync = move || {
                    let n = started.fetch_add(1, Ordering::SeqCst) + 1;
                    entered_tx.send(n).unwrap();
                    if n == 1 {
                        release_rx.recv().unwrap();
                    }
                    Ok(())
                };
                sync_loop(sync, rx, syncs)
            })
        };
        let (done_tx, done_rx) = mpsc::channel::<(usize, u64, bool)>();
        let queue = |i: usize, started: &Arc<AtomicU64>| {
            let (done_tx, started) = (done_tx.clone(), Arc::clone(started));
            let callback: SyncCallback =
                Box::new(move |r| done_tx.send((i, started.load(Ordering::SeqCst), r.is_ok())).unwrap());
            tx.send(callback).unwrap();
        };
        queue(0, &started);
        assert_eq!(entered_rx.recv_timeout(Duration::from_secs(10)).unwrap(), 1, "first sync started");
        for i in 1..=10 {
            queue(i, &started);
        }
        assert!(done_rx.try_recv().is_err(), "no callback before its sync finished");
        release_tx.send(()).unwrap();
        let mut done: Vec<(usize, u64, bool)> =
            (0..11).map(|_| done_rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        done.sort();
        assert_eq!(done[0], (0, 1, true), "the first append is served by the first sync");
        for (i, syncs_started, ok) in &done[1..] {
            assert!(ok, "append {i}");
            assert_eq!(*syncs_started, 2, "append {i} is served by the second sync, not before it");
        }
        drop(tx);
        thread.join().unwrap();
        assert_eq!(syncs.load(Ordering::SeqCst), 2, "eleven callbacks, two syncs");
        assert_eq!(entered_rx.try_iter().collect::<Vec<_>>(), vec![2]);
    }
}
