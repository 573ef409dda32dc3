//! [`Db`]: an open database — the public face of the engine.

use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use lsmkit_base::key::{make_internal_key, SequenceNumber, ValueKind};
use lsmkit_base::Result;
use lsmkit_compaction::ManualCompaction;
use lsmkit_version::NUM_LEVELS;
use lsmkit_wal::WriteBatch;

use crate::open::start_background_threads;
use crate::options::{FlushOptions, Options, WriteOptions};
use crate::recovery::lock_and_prepare;
use crate::state::{DbShared, ManualRequest};

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

impl Db {
    /// Opens (or, with `create_if_missing`, creates) the database in `path`.
    ///
    /// The directory is locked for the life of the database; a second open,
    /// in this process or another (LevelDB included), gets `Error::Busy`.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        if options.enable_ttl && options.merge_operator.is_some() {
            return Err(lsmkit_base::Error::InvalidArgument(
                "Options::enable_ttl and Options::merge_operator cannot be combined".into(),
            ));
        }
        let shared = Arc::new(DbShared::new(path.as_ref().to_path_buf(), options.sanitized()));
        let lock = lock_and_prepare(&shared)?;
        *shared._lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(lock);
        let recovered = shared.recover()?;
        shared.install_recovered(recovered);
        let mut threads = Vec::new();
        if let Err(e) = start_background_threads(&shared, &mut threads) {
            // Stop the threads already started before reporting.
            drop(Db { owner: Arc::new(DbOwner { shared, threads: Mutex::new(threads) }) });
            return Err(e);
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
    pub fn write(&self, options: WriteOptions, mut batch: WriteBatch) -> Result<()> {
        if batch.count() == 0 {
            return Ok(());
        }
        self.shared().value_format.prepare_batch(&mut batch)?;
        self.shared().write(options, Arc::new(batch))
    }

    /// Writes the one-operation batch `fill` builds. The batch buffer is the
    /// calling thread's, reused from one `put`/`delete` to the next (LevelDB
    /// builds such a batch on the stack): a single write allocates nothing
    /// of its own.
    fn write_one(&self, options: WriteOptions, fill: impl FnOnce(&mut WriteBatch)) -> Result<()> {
        let shared = self.shared();
        let mut batch = SINGLE_WRITE_BATCH.with(Cell::take).unwrap_or_default();
        // The queue drops its handle before a write returns, so this is the
        // only one and `make_mut` copies nothing.
        let own = Arc::make_mut(&mut batch);
        own.clear();
        fill(own);
        shared.value_format.prepare_batch(own)?;
        let result = shared.write_well_formed(options, Arc::clone(&batch));
        if batch.data().len() <= MAX_REUSED_BATCH_BYTES {
            SINGLE_WRITE_BATCH.with(|cell| cell.set(Some(batch)));
        }
        result
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
