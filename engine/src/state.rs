//! The shared state of an open database: what every `Db` handle, writer and
//! background thread sees, and the part of it guarded by the one mutex.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use lsmkit_base::fs::{FileLock, FileSystem};
use lsmkit_base::key::{InternalKeyComparator, SequenceNumber};
use lsmkit_base::{Error, Result};
use lsmkit_compaction::{BusyFiles, ManualCompaction, Picker};
use lsmkit_memtable::Memtable;
use lsmkit_sstable::{TableCache, TableOptions};
use lsmkit_version::{VersionSet, NUM_LEVELS};
use lsmkit_wal::{WalWriter, WriteBatch};

use arc_swap::ArcSwap;

use crate::options::Options;
use crate::snapshot::SnapshotList;
use crate::super_version::SuperVersion;
use crate::value_format::ValueFormat;
use crate::write_queue::WriteQueue;

/// A full memtable waiting to be flushed, with the WAL that holds its writes.
#[derive(Clone)]
pub(crate) struct ImmutableMemtable {
    pub(crate) mem: Memtable,
    pub(crate) log_number: u64,
}

/// Counters reported by the `lsmkit.stats` property.
#[derive(Debug, Default, Clone)]
pub(crate) struct DbStats {
    /// Per level: compactions (and flushes, at their output level) run.
    pub(crate) level_compactions: [u64; NUM_LEVELS],
    /// Per level: bytes read by compactions whose inputs start at that level... kept per output level.
    pub(crate) level_bytes_read: [u64; NUM_LEVELS],
    /// Per level: bytes written to that level by flushes and compactions.
    pub(crate) level_bytes_written: [u64; NUM_LEVELS],
    /// Bytes of user keys and values written through the API.
    pub(crate) user_bytes_written: u64,
    /// Bytes written to the WAL.
    pub(crate) wal_bytes_written: u64,
    /// Bytes written by memtable flushes.
    pub(crate) flush_bytes_written: u64,
    /// Writes delayed 1 ms because of level 0 (slowdown).
    pub(crate) slowdowns: u64,
    /// Times a writer waited for a flush or compaction (stop).
    pub(crate) stops: u64,
    /// Total microseconds writers spent slowed down or stopped.
    pub(crate) stall_micros: u64,
    /// Flushes completed.
    pub(crate) flushes: u64,
    /// Trivial moves done.
    pub(crate) trivial_moves: u64,
}

/// A requested manual compaction and its progress.
pub(crate) struct ManualRequest {
    pub(crate) id: u64,
    pub(crate) compaction: ManualCompaction,
    /// Levels still to do after the current one (deepest last).
    pub(crate) remaining_levels: Vec<usize>,
    pub(crate) begin: Option<Vec<u8>>,
    pub(crate) end: Option<Vec<u8>>,
    pub(crate) result: Option<Result<()>>,
}

/// A compaction in progress, as other background work must see it.
#[derive(Debug, Clone)]
pub(crate) struct RunningCompaction {
    pub(crate) id: u64,
    /// The shallowest level it reads.
    pub(crate) first_level: usize,
    /// Its inputs' user-key range (its outputs lie within it).
    pub(crate) smallest_user_key: Vec<u8>,
    pub(crate) largest_user_key: Vec<u8>,
}

/// Everything guarded by the database mutex.
pub(crate) struct DbState {
    /// The memtable receiving writes, and the WAL that logs them.
    pub(crate) mem: Memtable,
    pub(crate) mem_log_number: u64,
    pub(crate) wal: Option<WalWriter>,
    /// Earlier WALs, switched out with an unsynced tail while their
    /// memtables wait to be flushed (log number, writer). The next sync of
    /// the WAL syncs them first, so a synced write never survives a crash
    /// that loses an earlier write; a flush that makes one obsolete closes it.
    pub(crate) unsynced_wals: Vec<(u64, WalWriter)>,
    /// The current WAL's directory entry has been synced.
    pub(crate) wal_dir_synced: bool,
    /// Full memtables, oldest first.
    pub(crate) imms: VecDeque<ImmutableMemtable>,
    pub(crate) versions: VersionSet,
    /// The first background error; writes fail with it from then on.
    pub(crate) bg_error: Option<Error>,
    /// Table numbers being written (not yet in any Version).
    pub(crate) pending_outputs: BTreeSet<u64>,
    /// Compactions running now (their inputs and the levels and key ranges
    /// they read and write); others and flushes keep out of their way.
    pub(crate) running_compactions: Vec<RunningCompaction>,
    /// The same compactions as the picker sees them: busy input files and
    /// the level ranges being written.
    pub(crate) busy: BusyFiles,
    pub(crate) next_compaction_id: u64,
    /// A version edit is being written to the MANIFEST (without the mutex);
    /// the next one waits on `manifest_cv`.
    pub(crate) manifest_writing: bool,
    /// Writers in arrival order; the front one leads the next group.
    pub(crate) writers: WriteQueue,
    /// Flushes installed whose obsolete files are being deleted (without
    /// the mutex); `Db::flush` with `wait` waits for them too.
    pub(crate) flush_cleanups: usize,
    /// The buffer write groups build their WAL record in, between groups
    /// (taken by the leader while it logs).
    pub(crate) group_record: Option<WriteBatch>,
    pub(crate) manual: Option<ManualRequest>,
    pub(crate) next_manual_id: u64,
    pub(crate) finished_manuals: HashMap<u64, Result<()>>,
    pub(crate) stats: DbStats,
    /// Archived logs and when they were archived (WAL retention).
    pub(crate) wal_archive: crate::wal_retention::WalArchive,
}

/// The state shared by every handle and thread of one open database.
pub(crate) struct DbShared {
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) icmp: InternalKeyComparator,
    pub(crate) table_options: TableOptions,
    pub(crate) table_cache: Arc<TableCache>,
    pub(crate) picker: Box<dyn Picker>,
    pub(crate) snapshots: Arc<SnapshotList>,
    pub(crate) state: Mutex<DbState>,
    /// The read view, loaded by readers without the mutex; replaced (under
    /// the mutex) whenever the memtables or the current Version change.
    pub(crate) super_version: ArcSwap<SuperVersion>,
    /// The last sequence number whose write is fully applied: what a read
    /// without a snapshot, and a new snapshot, see. Published after the
    /// memtable inserts of a write group (the version set keeps the same
    /// number for the MANIFEST).
    pub(crate) last_sequence: AtomicU64,
    /// Waiters for the MANIFEST writer slot (`DbState::manifest_writing`).
    pub(crate) manifest_cv: Condvar,
    /// Background threads wait here for work.
    pub(crate) work_cv: Condvar,
    /// Writers, flush and compaction waiters wait here for progress.
    pub(crate) progress_cv: Condvar,
    pub(crate) shutting_down: AtomicBool,
    /// How values are stored (plain, or in the TTL frame), fixed at open.
    pub(crate) value_format: ValueFormat,
    /// Which tables hold range tombstones, read once per table.
    pub(crate) table_tombstones: crate::range_del::TableTombstoneRegistry,
    pub(crate) _lock: Mutex<Option<Box<dyn FileLock>>>,
}

impl DbShared {
    /// Locks the state. A panic in another thread while it held the lock
    /// does not make the database unusable: the state is still consistent
    /// at every point where the lock is released.
    pub(crate) fn lock(&self) -> MutexGuard<'_, DbState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the background threads for work a reader found (a file whose
    /// seek budget ran out). The mutex is taken for the notification: a
    /// background thread checks for work and starts waiting under it, so a
    /// notification sent without it can fall between the two and be lost,
    /// and the file would then wait for the next write to be compacted. This
    /// runs once per exhausted seek budget, not per read.
    pub(crate) fn wake_background_for_reader(&self) {
        let _state = self.lock();
        self.work_cv.notify_all();
    }

    pub(crate) fn wait<'a>(&self, cv: &Condvar, guard: MutexGuard<'a, DbState>) -> MutexGuard<'a, DbState> {
        cv.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Publishes a new read view built from the state (call after any
    /// change to the memtables or the current Version, before unlocking).
    pub(crate) fn publish_super_version(&self, state: &DbState) {
        self.super_version.store(Arc::new(SuperVersion::new(
            state.mem.clone(),
            state.imms.iter().rev().map(|m| m.mem.clone()).collect(),
            state.versions.current(),
        )));
    }

    /// Sets the last sequence number in the version set and publishes it to readers.
    pub(crate) fn set_last_sequence(&self, state: &mut DbState, sequence: SequenceNumber) {
        state.versions.set_last_sequence(sequence);
        self.last_sequence.store(state.versions.last_sequence(), Ordering::Release);
    }

    /// Records the first background error (later ones are dropped) and
    /// wakes everyone who waits for background progress.
    pub(crate) fn record_background_error(&self, state: &mut DbState, error: Error) {
        if state.bg_error.is_none() {
            state.bg_error = Some(error);
        }
        self.progress_cv.notify_all();
    }
}
