//! [`Db`]: an open database — the public face of the engine.

use std::cell::Cell;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use bytes::Bytes;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    make_internal_key, parse_internal_key, InternalKeyComparator, SequenceNumber, ValueKind,
};
use lsmkit_base::merging_iterator::MergingIterator;
use lsmkit_base::Result;
use lsmkit_compaction::{new_picker_with, BusyFiles, LevelIterator, ManualCompaction, PickerOptions};
use lsmkit_memtable::{Memtable, MemtableGet};
use lsmkit_sstable::{BlockCache, TableCache, TableOptions};
use lsmkit_version::{GetStats, VersionSet, VersionSetOptions, NUM_LEVELS};
use lsmkit_wal::WriteBatch;

use crate::db_iterator::DbIterator;
use crate::options::{FlushOptions, Options, ReadOptions, WriteOptions};
use crate::range_iter::DbRange;
use crate::recovery::lock_and_prepare;
use crate::snapshot::{Snapshot, SnapshotList};
use crate::state::{DbShared, DbState, DbStats, ManualRequest};
use crate::super_version::SuperVersion;

/// An open database. Cheap to clone (all clones share one database); `Send + Sync`.
/// The database closes when the last clone is dropped: background work
/// stops, the WAL is flushed to the OS and the directory lock is released.
#[derive(Clone)]
pub struct Db {
    owner: Arc<DbOwner>,
}

/// A single `put`/`delete` batch up to this size stays with its thread for
/// the next one; a larger one is freed.
const MAX_REUSED_BATCH_BYTES: usize = 64 << 10;

thread_local! {
    /// The calling thread's batch for single writes (`Db::write_one`).
    static SINGLE_WRITE_BATCH: Cell<Option<Arc<WriteBatch>>> = const { Cell::new(None) };
}

/// Owns the background threads; its drop shuts the database down.
struct DbOwner {
    shared: Arc<DbShared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// What a read sees: the memtables and the Version at one moment, and the
/// sequence number it reads at.
struct ReadView {
    view: Arc<SuperVersion>,
    sequence: SequenceNumber,
}

impl Db {
    /// Opens (or, with `create_if_missing`, creates) the database in `path`.
    ///
    /// The directory is locked for the life of the database; a second open,
    /// in this process or another (LevelDB included), gets `Error::Busy`.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        let options = options.sanitized();
        let dir = path.as_ref().to_path_buf();
        let fs = options.fs.clone();
        let icmp = InternalKeyComparator::new(options.comparator.clone());
        let mut table_options =
            TableOptions::for_internal_keys(options.comparator.clone(), options.filter_policy.clone());
        table_options.block_size = options.block_size;
        table_options.restart_interval = options.block_restart_interval;
        table_options.compression = options.compression;
        table_options.paranoid_checks = options.paranoid_checks;
        table_options.read_mode = options.table_read_mode;
        table_options.block_cache = Some(Arc::new(BlockCache::new(options.block_cache_capacity)));
        let table_cache = Arc::new(TableCache::new(
            fs.clone(),
            &dir,
            table_options.clone(),
            crate::fd_limit::table_cache_capacity(options.max_open_files - 10),
        ));
        let versions = VersionSet::new(
            &dir,
            fs.clone(),
            icmp.clone(),
            VersionSetOptions {
                max_file_size: options.max_file_size,
                max_manifest_file_size: options.max_manifest_file_size,
                reuse_manifest: false,
                paranoid_checks: options.paranoid_checks,
            },
        );
        let picker = new_picker_with(
            &options.compaction_style,
            &PickerOptions {
                max_file_size: options.max_file_size,
                l0_compaction_trigger: options.l0_compaction_trigger,
            },
        );
        let empty_view =
            SuperVersion { mem: Memtable::new(icmp.clone()), imms: Vec::new(), version: versions.current() };
        let state = DbState {
            mem: Memtable::new(icmp.clone()),
            mem_log_number: 0,
            wal: None,
            unsynced_wals: Vec::new(),
            wal_dir_synced: true,
            imms: Default::default(),
            versions,
            bg_error: None,
            pending_outputs: Default::default(),
            running_compactions: Vec::new(),
            busy: BusyFiles::new(),
            next_compaction_id: 1,
            manifest_writing: false,
            writers: Default::default(),
            group_record: None,
            flush_cleanups: 0,
            manual: None,
            next_manual_id: 1,
            finished_manuals: Default::default(),
            stats: DbStats::default(),
            wal_archive: Default::default(),
        };
        let shared = Arc::new(DbShared {
            dir,
            options,
            fs,
            icmp,
            table_options,
            table_cache,
            picker,
            snapshots: Arc::new(SnapshotList::default()),
            state: Mutex::new(state),
            super_version: ArcSwap::from_pointee(empty_view),
            last_sequence: AtomicU64::new(0),
            manifest_cv: Condvar::new(),
            work_cv: Condvar::new(),
            progress_cv: Condvar::new(),
            shutting_down: AtomicBool::new(false),
            _lock: Mutex::new(None),
        });
        let lock = lock_and_prepare(&shared)?;
        *shared._lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(lock);
        let recovered = shared.recover()?;
        {
            let mut state = shared.lock();
            state.mem = recovered.mem;
            state.mem_log_number = recovered.log_number;
            state.wal = Some(recovered.wal);
            let last = state.versions.last_sequence();
            shared.last_sequence.store(last, Ordering::Release);
            shared.publish_super_version(&state);
        }
        let mut threads = Vec::new();
        let flusher = Arc::clone(&shared);
        threads.push(
            std::thread::Builder::new()
                .name("lsmkit-flush".into())
                .spawn(move || flusher.flush_thread())
                .map_err(|e| lsmkit_base::Error::io("spawn", "lsmkit-flush", e))?,
        );
        // One thread flushes; every other background job compacts.
        for i in 0..shared.options.max_background_jobs - 1 {
            let compactor = Arc::clone(&shared);
            let compaction_filter = shared.ttl_compaction_filter();
            let name = format!("lsmkit-compaction-{i}");
            let spawned = std::thread::Builder::new().name(name.clone()).spawn(move || {
                crate::thread_priority::lower_current_thread_priority(
                    compactor.options.compaction_thread_nice,
                );
                compactor.compaction_thread(compaction_filter)
            });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    // Stop the threads already started before reporting.
                    drop(Db { owner: Arc::new(DbOwner { shared, threads: Mutex::new(threads) }) });
                    return Err(lsmkit_base::Error::io("spawn", name, e));
                }
            }
        }
        shared.work_cv.notify_all();
        Ok(Db { owner: Arc::new(DbOwner { shared, threads: Mutex::new(threads) }) })
    }

    /// The shared state (for the `impl Db` blocks in other modules).
    pub(crate) fn shared(&self) -> &Arc<DbShared> {
        &self.owner.shared
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.shared().dir
    }

    // ----- writes -------------------------------------------------------------

    /// Sets `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_opt(WriteOptions::default(), key, value)
    }

    /// Sets `key` to `value` with write options.
    pub fn put_opt(&self, options: WriteOptions, key: &[u8], value: &[u8]) -> Result<()> {
        self.write_one(options, |batch| batch.put(key, value))
    }

    /// Deletes `key` (deleting a missing key is not an error).
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        self.delete_opt(WriteOptions::default(), key)
    }

    /// Deletes `key` with write options.
    pub fn delete_opt(&self, options: WriteOptions, key: &[u8]) -> Result<()> {
        self.write_one(options, |batch| batch.delete(key))
    }

    /// Applies `batch` atomically. Its writes get consecutive sequence
    /// numbers; with `options.sync` the WAL is synced before this returns.
    /// A malformed batch (made with `WriteBatch::from_data`) is rejected
    /// with `Error::Corruption` before anything is written; one whose header
    /// declares no operations is ignored.
    pub fn write(&self, options: WriteOptions, batch: WriteBatch) -> Result<()> {
        if batch.count() == 0 {
            return Ok(());
        }
        let batch = self.shared().batch_for_ttl(batch)?;
        self.shared().write(options, Arc::new(batch))
    }

    /// Writes the one-operation batch `fill` builds. The batch buffer is the
    /// calling thread's, reused from one `put`/`delete` to the next (LevelDB
    /// builds such a batch on the stack): a single write allocates nothing
    /// of its own.
    fn write_one(&self, options: WriteOptions, fill: impl FnOnce(&mut WriteBatch)) -> Result<()> {
        let shared = self.shared();
        let mut batch = SINGLE_WRITE_BATCH.with(Cell::take).unwrap_or_default();
        if Arc::get_mut(&mut batch).is_none() {
            // Still shared (not after a write returned; cheap to allow).
            batch = Arc::default();
        }
        if let Some(own) = Arc::get_mut(&mut batch) {
            own.clear();
            fill(own);
            if shared.options.enable_ttl {
                own.frame_for_ttl();
            }
        }
        let result = shared.write_well_formed(options, Arc::clone(&batch));
        if batch.data().len() <= MAX_REUSED_BATCH_BYTES {
            SINGLE_WRITE_BATCH.with(|cell| cell.set(Some(batch)));
        }
        result
    }

    // ----- reads --------------------------------------------------------------

    /// The read view, loaded without the database mutex. The sequence is
    /// read first: every write at or below it was inserted into a memtable
    /// that the read view published afterwards still holds, or whose table
    /// it holds.
    fn read_view(&self, snapshot: Option<&Snapshot>) -> ReadView {
        let sequence = self.read_sequence(snapshot);
        ReadView { view: self.shared().super_version.load_full(), sequence }
    }

    /// The sequence a read sees: the snapshot's, or the last published one.
    /// Read before the read view is loaded (see [`read_view`](Self::read_view)).
    fn read_sequence(&self, snapshot: Option<&Snapshot>) -> SequenceNumber {
        match snapshot {
            Some(s) => s.sequence(),
            None => self.shared().last_sequence.load(Ordering::Acquire),
        }
    }

    /// The value of `key`, or `None` if it is absent or deleted.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.get_opt(&ReadOptions::new(), key)
    }

    /// The value of `key` as of `options.snapshot` (or now).
    pub fn get_opt(&self, options: &ReadOptions, key: &[u8]) -> Result<Option<Bytes>> {
        let stored = self.get_stored(options, key)?;
        self.shared().user_value(key, stored)
    }

    /// The value of `key` as stored (in its TTL frame, for a database with
    /// entry expiry) as of `options.snapshot` (or now).
    fn get_stored(&self, options: &ReadOptions, key: &[u8]) -> Result<Option<Bytes>> {
        let shared = self.shared();
        let sequence = self.read_sequence(options.snapshot.as_ref());
        // A guard, not a reference count: gets from many threads do not
        // contend on one counter.
        let view = shared.super_version.load();
        for mem in view.memtables() {
            match mem.get(key, sequence) {
                MemtableGet::Found(value) => return Ok(Some(value)),
                MemtableGet::Deleted => return Ok(None),
                MemtableGet::NotFound => {}
            }
        }
        let lookup = make_internal_key(key, sequence, lsmkit_base::key::VALUE_KIND_FOR_SEEK);
        let table_read = lsmkit_sstable::ReadOptions {
            verify_checksums: options.verify_checksums || shared.options.paranoid_checks,
            fill_cache: options.fill_cache,
        };
        let mut stats = GetStats::new();
        let mut answer = None;
        for (level, file) in view.version.files_for_get(&lookup) {
            stats.note_file_read(level, &file);
            let found = shared.table_cache.get(&table_read, file.number, file.file_size, &lookup)?;
            if let Some((found_key, value)) = found {
                let parsed =
                    parse_internal_key(&found_key).map_err(|e| e.in_file(shared.table_path(file.number)))?;
                if shared.icmp.compare_user_keys(parsed.user_key, key) == std::cmp::Ordering::Equal {
                    answer = match parsed.kind {
                        ValueKind::Value => Some(value),
                        ValueKind::Deletion => None,
                    };
                    break;
                }
            }
        }
        if view.version.update_stats(&stats) {
            shared.work_cv.notify_all();
        }
        Ok(answer)
    }

    /// A snapshot of the current state; reads given it see exactly the
    /// writes made before it, and compaction keeps what it sees.
    pub fn snapshot(&self) -> Snapshot {
        // No lock: the sequence only grows, and a compaction that started
        // before this snapshot only holds entries at or below it.
        let shared = self.shared();
        shared.snapshots.acquire(shared.last_sequence.load(Ordering::Acquire))
    }

    /// The merged internal iterator over a read view.
    fn internal_iterator(&self, view: &ReadView, options: &ReadOptions) -> Box<dyn InternalIterator> {
        let shared = self.shared();
        let table_read = lsmkit_sstable::ReadOptions {
            verify_checksums: options.verify_checksums || shared.options.paranoid_checks,
            fill_cache: options.fill_cache,
        };
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        for mem in view.view.memtables() {
            children.push(Box::new(mem.iter()));
        }
        let version = &view.view.version;
        let mut level0: Vec<_> = version.files(0).to_vec();
        level0.sort_by_key(|f| std::cmp::Reverse(f.number));
        for file in level0 {
            match shared.table_cache.iter(table_read, file.number, file.file_size) {
                Ok(it) => children.push(Box::new(it)),
                Err(e) => children.push(Box::new(lsmkit_base::iterator::EmptyIterator::with_error(e))),
            }
        }
        for level in 1..NUM_LEVELS {
            let files = version.files(level);
            if !files.is_empty() {
                children.push(Box::new(LevelIterator::new(
                    Arc::clone(&shared.table_cache),
                    shared.icmp.clone(),
                    table_read,
                    files.to_vec(),
                )));
            }
        }
        Box::new(MergingIterator::new(Arc::new(shared.icmp.clone()), children))
    }

    /// An iterator over the user view (as of `options.snapshot`, or now),
    /// unpositioned: call `seek_to_first`, `seek_to_last` or `seek` first.
    pub fn iter(&self, options: ReadOptions) -> DbIterator {
        let view = self.read_view(options.snapshot.as_ref());
        let internal = self.internal_iterator(&view, &options);
        let sequence = view.sequence;
        // Read sampling (LevelDB's): a key that several files may hold
        // charges a seek to the first, so a range read over and over gets
        // its overlapping files compacted, as repeated gets would.
        let version = Arc::clone(&view.view.version);
        let shared = Arc::clone(self.shared());
        let sampler = Box::new(move |internal_key: &[u8], _bytes: usize| {
            if version.record_read_sample(internal_key) {
                shared.work_cv.notify_all();
            }
        });
        let pins: Box<dyn std::any::Any + Send> = Box::new((view.view, options.snapshot));
        let iterator = DbIterator::new(internal, self.shared().options.comparator.clone(), sequence, pins)
            .with_read_sampler(sampler);
        self.shared().with_ttl(iterator)
    }

    /// The entries with keys in `range`, in order; also iterable from the back.
    pub fn range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> DbRange {
        let snapshot = self.snapshot();
        let options = ReadOptions { snapshot: Some(snapshot), ..ReadOptions::new() };
        let front = self.iter(options.clone());
        let back = self.iter(options);
        let start = owned_bound(range.start_bound());
        let end = owned_bound(range.end_bound());
        DbRange::new(front, back, (start, end))
    }

    /// The entries whose keys start with `prefix`, in order; also iterable from the back.
    pub fn prefix(&self, prefix: &[u8]) -> DbRange {
        let snapshot = self.snapshot();
        let options = ReadOptions { snapshot: Some(snapshot), ..ReadOptions::new() };
        let front = self.iter(options.clone());
        let back = self.iter(options);
        DbRange::prefix(front, back, prefix)
    }

    // ----- maintenance --------------------------------------------------------

    /// Writes the memtable to a table now (Kvrocks' FLUSHMEMTABLE). With
    /// `wait`, returns once it is installed: every write made before the
    /// call, including those made with `disable_wal`, is then durable.
    pub fn flush(&self, options: FlushOptions) -> Result<()> {
        let shared = self.shared();
        shared.switch_memtable()?;
        if options.wait {
            let mut state = shared.lock();
            // Until the flushes are installed and the logs they made obsolete
            // are deleted (or archived).
            while !state.imms.is_empty() || state.flush_cleanups > 0 {
                if let Some(e) = &state.bg_error {
                    return Err(e.clone());
                }
                shared.work_cv.notify_all();
                state = shared.wait(&shared.progress_cv, state);
            }
            if let Some(e) = &state.bg_error {
                return Err(e.clone());
            }
        }
        Ok(())
    }

    /// Compacts the user keys in `[begin, end]` (`None` = unbounded) down
    /// through every level that holds them, after flushing the memtable.
    pub fn compact_range(&self, begin: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.flush(FlushOptions { wait: true })?;
        let shared = self.shared();
        let mut state = shared.lock();
        // Levels that overlap the range, down to the deepest one holding data.
        let deepest = {
            // Not kept: a held Version would pin the compaction's input tables.
            let version = state.versions.current();
            (1..NUM_LEVELS).rev().find(|&l| version.overlap_in_level(l, begin, end)).unwrap_or(0).max(1)
        };
        let mut levels: Vec<usize> = (0..deepest).collect();
        let first = levels.remove(0);
        // Wait for any other manual compaction.
        while state.manual.is_some() {
            state = shared.wait(&shared.progress_cv, state);
        }
        let id = state.next_manual_id;
        state.next_manual_id += 1;
        state.manual = Some(ManualRequest {
            id,
            compaction: ManualCompaction::new(first, begin, end),
            remaining_levels: levels,
            begin: begin.map(<[u8]>::to_vec),
            end: end.map(<[u8]>::to_vec),
            result: None,
        });
        shared.work_cv.notify_all();
        loop {
            if let Some(result) = state.finished_manuals.remove(&id) {
                return result;
            }
            state = shared.wait(&shared.progress_cv, state);
        }
    }

    /// Syncs the WAL: every write acknowledged so far becomes durable.
    /// Takes its turn in the writer queue, so a write group in flight is
    /// synced too.
    pub fn sync_wal(&self) -> Result<()> {
        self.shared().sync_wal()
    }

    /// The sequence number of the last write applied.
    pub fn latest_sequence(&self) -> SequenceNumber {
        self.shared().last_sequence.load(Ordering::Acquire)
    }

    /// The first background error, if one stopped writes.
    pub fn background_error(&self) -> Option<lsmkit_base::Error> {
        self.shared().lock().bg_error.clone()
    }

    /// Approximate bytes on disk used by each user-key range `[start, end)`.
    pub fn approximate_sizes(&self, ranges: &[(&[u8], &[u8])]) -> Vec<u64> {
        let shared = self.shared();
        let version = Arc::clone(&shared.super_version.load().version);
        ranges
            .iter()
            .map(|(start, end)| {
                let start_key =
                    make_internal_key(start, lsmkit_base::key::MAX_SEQUENCE_NUMBER, ValueKind::Value);
                let end_key = make_internal_key(end, lsmkit_base::key::MAX_SEQUENCE_NUMBER, ValueKind::Value);
                let offset = |key: &[u8]| -> u64 {
                    // Sizes come from the MANIFEST: saturate rather than overflow.
                    let mut total: u64 = 0;
                    for level in 0..NUM_LEVELS {
                        for file in version.files(level) {
                            if shared.icmp.compare_internal_keys(&file.largest, key)
                                != std::cmp::Ordering::Greater
                            {
                                total = total.saturating_add(file.file_size);
                            } else if shared.icmp.compare_internal_keys(&file.smallest, key)
                                == std::cmp::Ordering::Greater
                            {
                                if level > 0 {
                                    break;
                                }
                            } else if let Ok(table) =
                                shared.table_cache.find_table(file.number, file.file_size)
                            {
                                total = total.saturating_add(table.approximate_offset_of(key));
                            }
                        }
                    }
                    total
                };
                offset(&end_key).saturating_sub(offset(&start_key))
            })
            .collect()
    }

    /// A LevelDB-style property (`lsmkit.num-files-at-level<N>`,
    /// `lsmkit.stats`, `lsmkit.sstables`, `lsmkit.approximate-memory-usage`,
    /// `lsmkit.compaction-pending`, `lsmkit.num-running-compactions`;
    /// the `leveldb.` prefix is accepted too), or `None` for an unknown name.
    pub fn property(&self, name: &str) -> Option<String> {
        crate::properties::property(self.shared(), name)
    }
}

/// An empty batch with room for `ops_len` bytes of operations (one record
/// byte is added here for the tag), so filling it does not reallocate.
fn owned_bound<K: AsRef<[u8]>>(bound: Bound<&K>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl DbShared {
    pub(crate) fn table_path(&self, number: u64) -> std::path::PathBuf {
        lsmkit_base::filename::table_file_name(&self.dir, number)
    }
}

impl Drop for DbOwner {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.shutting_down.store(true, Ordering::Release);
        {
            let _state = shared.lock();
            shared.work_cv.notify_all();
            shared.progress_cv.notify_all();
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
        let mut state = shared.lock();
        if let Some(mut wal) = state.wal.take() {
            let _ = wal.close();
        }
        for (_, mut old) in std::mem::take(&mut state.unsynced_wals) {
            let _ = old.close();
        }
        drop(state);
        shared._lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn db_is_send_and_sync() {
        assert_send_sync::<Db>();
    }
}
