//! Background work: one thread flushes full memtables to tables, the others
//! (`max_background_jobs - 1`) run compactions, several at once when their
//! inputs, levels and key ranges keep clear of each other. Version edits are
//! written to the MANIFEST one at a time and without the database mutex;
//! obsolete files are deleted without it too, once no Version uses them. The
//! first error a background job meets is recorded and makes later writes
//! fail with it.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::{Arc, MutexGuard};

use lsmkit_base::filename::{parse_file_name, table_file_name, FileType};
use lsmkit_base::fs::WriteMode;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{extract_user_key, SequenceNumber};
use lsmkit_base::{Error, Result};
use lsmkit_compaction::{Compaction, CompactionFilter, CompactionJob, FlushCombiner};
use lsmkit_memtable::Memtable;
use lsmkit_sstable::TableBuilder;
use lsmkit_version::{FileMetaData, Version, VersionEdit, NUM_LEVELS};

use crate::state::{DbShared, DbState, RunningCompaction};

/// A table written from a memtable.
pub(crate) struct FlushedTable {
    pub(crate) meta: FileMetaData,
}

impl DbShared {
    /// Writes every entry of `mem` into table `number`, synced, combining
    /// the merge operands of each key the way a compaction does
    /// ([`FlushCombiner`]; docs/format-extensions.md, "Merge operator"):
    /// never across one of `snapshots` (every live snapshot), and merged
    /// fully down to no base only for a key of which `nothing_older` says
    /// no table holds it (see [`no_table_holds`]). Returns `None` (and
    /// leaves no file) when the memtable is empty.
    pub(crate) fn write_table_from_memtable(
        &self,
        mem: &Memtable,
        number: u64,
        snapshots: &[SequenceNumber],
        nothing_older: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Option<FlushedTable>> {
        let mut iter = mem.iter();
        iter.seek_to_first();
        let tombstones = mem.range_tombstones().filter(|t| !t.is_empty());
        if !iter.valid() && tombstones.is_none() {
            return Ok(None);
        }
        let path = table_file_name(&self.dir, number);
        let file = self.fs.create_writable(&path, WriteMode::Buffered)?;
        let mut builder = TableBuilder::new(self.table_options.clone(), file);
        if let Some(tombstones) = &tombstones {
            builder.set_range_tombstones(tombstones);
        }
        // An entry a tombstone of this memtable deletes ends a merge chain
        // (the chain's entries are of one snapshot stripe, so a tombstone
        // between two of them is too).
        let range_deleted = |user_key: &[u8], entry_sequence, chain_sequence| {
            tombstones.as_ref().is_some_and(|t| {
                t.covering(user_key)
                    .is_some_and(|f| f.sequences.iter().any(|&s| s > entry_sequence && s < chain_sequence))
            })
        };
        let mut combiner = FlushCombiner::new(&self.icmp)
            .snapshots(snapshots)
            .merge_operator(self.options.merge_operator.as_deref())
            .nothing_older(nothing_older);
        if tombstones.is_some() {
            combiner = combiner.range_deleted(&range_deleted);
        }
        let built = combiner.run(&mut iter, &mut |key, value| builder.add(key, value));
        if let Err(e) = built {
            let _ = builder.abandon();
            let _ = self.fs.remove_file(&path);
            return Err(e);
        }
        match builder.finish(true) {
            Ok(summary) => {
                let points = (summary.entries > 0).then_some((summary.smallest_key, summary.largest_key));
                let (smallest, largest) = match &tombstones {
                    Some(t) => lsmkit_base::range_tombstone::table_bounds(&self.icmp, points, t),
                    None => points,
                }
                .expect("a table with entries or tombstones");
                let meta = FileMetaData::new(number, summary.file_size, smallest, largest);
                Ok(Some(FlushedTable { meta }))
            }
            Err(e) => {
                let _ = self.fs.remove_file(&path);
                Err(e)
            }
        }
    }

    /// Waits for the MANIFEST writer slot, builds a version edit with
    /// `build` (under the mutex, against the Version current at that
    /// moment), then appends and syncs it to the MANIFEST without the mutex
    /// and installs the new Version (LevelDB's LogAndApply, which unlocks
    /// for the write). Readers never wait for it; writers only when they
    /// need the mutex. The caller publishes the new read view.
    pub(crate) fn apply_edit<'a, T>(
        &'a self,
        mut state: MutexGuard<'a, DbState>,
        build: impl FnOnce(&mut DbState) -> Result<(VersionEdit, T)>,
    ) -> (Result<T>, MutexGuard<'a, DbState>) {
        while state.manifest_writing {
            state = self.wait(&self.manifest_cv, state);
        }
        let (mut edit, extra) = match build(&mut state) {
            Ok(built) => built,
            Err(e) => return (Err(e), state),
        };
        let mut prepared = match state.versions.prepare_apply(&mut edit) {
            Ok(prepared) => prepared,
            Err(e) => return (Err(e), state),
        };
        state.manifest_writing = true;
        drop(state);
        let written = prepared.write();
        let mut state = self.lock();
        let result = state.versions.finish_apply(prepared, written);
        state.manifest_writing = false;
        self.manifest_cv.notify_all();
        (result.map(|()| extra), state)
    }

    /// Deletes the files no Version, pending output or live log needs
    /// (docs/format.md §10.4 garbage collection), with the mutex held throughout
    /// (used at open, before any other thread runs). Errors are ignored: a
    /// file left behind is deleted next time.
    pub(crate) fn delete_obsolete_files(&self, state: &mut DbState) {
        if state.bg_error.is_some() {
            // The state on disk is uncertain: keep everything.
            return;
        }
        let Ok(names) = self.fs.list_dir(&self.dir) else { return };
        for path in self.take_obsolete_files(state, &names) {
            let _ = self.fs.remove_file(&path);
        }
        self.purge_wal_archive(state);
    }

    /// [`delete_obsolete_files`](Self::delete_obsolete_files) for background
    /// threads: the directory is listed and the files are removed without
    /// the mutex; only the choice of what is obsolete is made under it. A
    /// file chosen stays obsolete: table and log numbers are never reused,
    /// and a table being written is a pending output before it exists.
    pub(crate) fn delete_obsolete_files_unlocked<'a>(
        &'a self,
        state: MutexGuard<'a, DbState>,
    ) -> MutexGuard<'a, DbState> {
        if state.bg_error.is_some() {
            return state;
        }
        drop(state);
        let listed = self.fs.list_dir(&self.dir);
        let mut state = self.lock();
        let Ok(names) = listed else { return state };
        let obsolete = self.take_obsolete_files(&mut state, &names);
        self.purge_wal_archive(&mut state);
        if obsolete.is_empty() {
            return state;
        }
        drop(state);
        for path in obsolete {
            let _ = self.fs.remove_file(&path);
        }
        self.lock()
    }

    /// Of the directory entries `names`, the paths to delete now: obsolete
    /// tables (evicted from the table cache here) and logs that WAL
    /// retention does not move into the archive. Nothing after a background
    /// error: the state on disk is then uncertain.
    fn take_obsolete_files(&self, state: &mut DbState, names: &[String]) -> Vec<std::path::PathBuf> {
        if state.bg_error.is_some() {
            return Vec::new();
        }
        let mut paths = Vec::new();
        for obsolete in state.versions.obsolete_files(names, &state.pending_outputs) {
            if let Some((number, FileType::Table)) = parse_file_name(&obsolete.name) {
                self.table_cache.evict(number);
            }
            if self.archive_obsolete_log(state, &obsolete.name) {
                continue; // kept in the archive (WAL retention)
            }
            paths.push(self.dir.join(&obsolete.name));
        }
        paths
    }

    /// The flush thread: writes the oldest full memtable to a table, installs
    /// it, and repeats; exits at shutdown once nothing is left to flush.
    /// It never waits for a compaction, only (briefly) for a MANIFEST write.
    pub(crate) fn flush_thread(self: Arc<Self>) {
        let mut state = self.lock();
        loop {
            if state.bg_error.is_none() && !state.imms.is_empty() {
                state = self.flush_oldest(state);
                continue;
            }
            if self.is_shutting_down() {
                return;
            }
            state = self.wait(&self.work_cv, state);
        }
    }

    /// The level a flushed table of `meta` goes to: the picker's choice for
    /// the current Version (LevelDB's PickLevelForMemTableOutput) avoiding
    /// the level ranges running compactions write into, and in any case
    /// above every running compaction whose key range it overlaps. Such a
    /// compaction reads from its first level down and writes below that; a
    /// table at or below its first level could end up beside or under its
    /// outputs, which hold older data.
    fn level_for_flush(&self, state: &DbState, meta: &FileMetaData) -> usize {
        let smallest = extract_user_key(&meta.smallest);
        let largest = extract_user_key(&meta.largest);
        let current = state.versions.current();
        let mut level = self.picker.level_for_flush_avoiding(&current, smallest, largest, &state.busy);
        let icmp = &self.icmp;
        for running in &state.running_compactions {
            let disjoint = icmp.compare_user_keys(largest, &running.smallest_user_key) == Ordering::Less
                || icmp.compare_user_keys(smallest, &running.largest_user_key) == Ordering::Greater;
            if !disjoint {
                level = level.min(running.first_level.saturating_sub(1));
            }
        }
        level
    }

    fn flush_oldest<'a>(&'a self, mut state: MutexGuard<'a, DbState>) -> MutexGuard<'a, DbState> {
        let Some(imm) = state.imms.front().cloned() else { return state };
        let number = state.versions.new_file_number();
        state.pending_outputs.insert(number);

        // Every live snapshot (one taken later sees all of the memtable)
        // and the tables older than the memtable: earlier memtables are
        // flushed already, one at a time, oldest first.
        let snapshots = self.snapshots.all();
        let tables = state.versions.current();
        drop(state);

        let nothing_older = |user_key: &[u8]| no_table_holds(&tables, &[], user_key);
        let written =
            self.write_table_from_memtable(&imm.mem, number, &snapshots, &nothing_older).and_then(|t| {
                // The table's directory entry must be durable before the MANIFEST names it.
                self.fs.sync_dir(&self.dir)?;
                Ok(t)
            });

        let state = self.lock();
        let (result, mut state) = match written {
            Err(e) => (Err(e), state),
            Ok(table) => self.apply_edit(state, |state| {
                let mut edit = VersionEdit::new();
                let mut placed = None;
                if let Some(t) = &table {
                    let level = self.level_for_flush(state, &t.meta);
                    edit.add_file(level, t.meta.clone());
                    placed = Some((level, t.meta.file_size));
                }
                // Logs older than the next memtable's are no longer needed.
                let next_log = state.imms.get(1).map_or(state.mem_log_number, |m| m.log_number);
                edit.set_log_number(next_log);
                edit.set_prev_log_number(0);
                Ok((edit, placed))
            }),
        };
        // Only now: until the edit is installed, the table is in no Version.
        state.pending_outputs.remove(&number);
        match result {
            Ok(placed) => {
                if let Some((level, size)) = placed {
                    state.stats.level_bytes_written[level] += size;
                    state.stats.flush_bytes_written += size;
                }
                state.imms.pop_front();
                state.stats.flushes += 1;
                // WALs older than the log number are obsolete: their writes
                // are in synced tables now, so they need no sync.
                let log_number = state.versions.log_number();
                let mut kept = Vec::new();
                for (number, mut old) in std::mem::take(&mut state.unsynced_wals) {
                    if number < log_number {
                        let _ = old.close();
                    } else {
                        kept.push((number, old));
                    }
                }
                state.unsynced_wals = kept;
                self.publish_super_version(&state);
                state.flush_cleanups += 1;
                self.progress_cv.notify_all();
                self.work_cv.notify_all();
                state = self.delete_obsolete_files_unlocked(state);
                state.flush_cleanups -= 1;
            }
            Err(e) => {
                // The table is kept: a MANIFEST write that failed (say, at its
                // sync) may still have put the edit naming it in the file, and
                // the next open would then find the table missing. A table no
                // MANIFEST names is deleted as obsolete at the next open (as in
                // LevelDB, nothing is deleted after a background error).
                // `write_table_from_memtable` removes a table it failed to write.
                self.record_background_error(&mut state, e);
            }
        }
        self.progress_cv.notify_all();
        self.work_cv.notify_all();
        state
    }

    /// A compaction thread (`max_background_jobs - 1` of them): runs manual
    /// compactions when asked, otherwise whatever the picker says the
    /// current Version needs, beside other compactions on disjoint inputs.
    pub(crate) fn compaction_thread(self: Arc<Self>, filter: Option<Arc<dyn CompactionFilter>>) {
        let mut state = self.lock();
        loop {
            if self.is_shutting_down() {
                if let Some(manual) = state.manual.as_mut() {
                    manual.result = Some(Err(Error::Closed));
                    self.finish_manual(&mut state);
                }
                return;
            }
            if state.bg_error.is_some() {
                if state.manual.is_some() {
                    let e = state.bg_error.clone().unwrap_or_else(|| Error::corruption("background error"));
                    if let Some(m) = state.manual.as_mut() {
                        m.result = Some(Err(e));
                    }
                    self.finish_manual(&mut state);
                }
                state = self.wait(&self.work_cv, state);
                continue;
            }
            if state.manifest_writing {
                // Pick from the Version the edit in flight installs.
                state = self.wait(&self.manifest_cv, state);
                continue;
            }
            match self.pick_compaction(&mut state) {
                Pick::Run(compaction, running) => {
                    state = self.run_compaction(state, *compaction, running, filter.as_deref());
                }
                Pick::Again => {}
                Pick::Wait => state = self.wait(&self.work_cv, state),
            }
        }
    }

    fn finish_manual(&self, state: &mut DbState) {
        if let Some(manual) = state.manual.take() {
            state.finished_manuals.insert(manual.id, manual.result.unwrap_or(Ok(())));
        }
        self.progress_cv.notify_all();
    }

    /// The next compaction to run: a piece of the manual compaction if one
    /// is requested (once no other compaction runs), else the picker's
    /// choice if it keeps clear of every running compaction. A compaction
    /// returned is registered as running.
    fn pick_compaction(&self, state: &mut DbState) -> Pick {
        let current = state.versions.current();
        let compaction = if state.manual.is_some() {
            if !state.running_compactions.is_empty() {
                return Pick::Wait;
            }
            loop {
                let Some(manual) = state.manual.as_mut() else { return Pick::Again };
                if let Some(Err(_)) = manual.result {
                    self.finish_manual(state);
                    return Pick::Again;
                }
                if let Some(c) = manual.compaction.next_piece(&*self.picker, &current) {
                    break c;
                }
                match manual.remaining_levels.first().copied() {
                    Some(level) => {
                        manual.remaining_levels.remove(0);
                        manual.compaction = lsmkit_compaction::ManualCompaction::new(
                            level,
                            manual.begin.as_deref(),
                            manual.end.as_deref(),
                        );
                    }
                    None => {
                        self.finish_manual(state);
                        return Pick::Again;
                    }
                }
            }
        } else {
            // The picker keeps clear of the running compactions (`busy`).
            let picked = self.picker.pick_avoiding(&current, state.versions.compact_pointers(), &state.busy);
            let Some(compaction) = picked else { return Pick::Wait };
            if let Some((level, key)) = compaction.compact_pointer() {
                let key = key.to_vec();
                state.versions.set_compact_pointer(level, &key);
            }
            compaction
        };
        let running = self.describe_running(state, &compaction);
        state.running_compactions.push(running.clone());
        state.busy.add(&compaction);
        Pick::Run(Box::new(compaction), running)
    }

    /// What other background work must know of `compaction` while it runs.
    fn describe_running(&self, state: &mut DbState, compaction: &Compaction) -> RunningCompaction {
        let id = state.next_compaction_id;
        state.next_compaction_id += 1;
        let (smallest, largest) = compaction.user_key_range().unwrap_or((&[], &[]));
        let first_level =
            compaction.all_input_files().map(|(level, _)| level).min().unwrap_or(compaction.level());
        RunningCompaction {
            id,
            first_level,
            smallest_user_key: smallest.to_vec(),
            largest_user_key: largest.to_vec(),
        }
    }

    fn run_compaction<'a>(
        &'a self,
        state: MutexGuard<'a, DbState>,
        mut compaction: Compaction,
        running: RunningCompaction,
        filter: Option<&dyn CompactionFilter>,
    ) -> MutexGuard<'a, DbState> {
        let is_manual = state.manual.is_some();
        let mut allocated: BTreeSet<u64> = BTreeSet::new();
        let (result, mut state) = if compaction.is_trivial_move() && !is_manual {
            match compaction.trivial_move_edit() {
                // The MANIFEST slot is free (checked before the pick, with
                // the mutex held since), so this does not wait.
                Some(edit) => {
                    let (result, mut state) = self.apply_edit(state, |_| Ok((edit, ())));
                    if result.is_ok() {
                        state.stats.trivial_moves += 1;
                    }
                    (result, state)
                }
                None => (Ok(()), state),
            }
        } else {
            // Every live snapshot: the job keeps one version of a key per gap
            // between them, and asks the filter only about entries newer than all.
            let snapshots = self.snapshots.all();
            let output_level = compaction.output_level();
            let input_bytes = compaction.input_bytes();
            drop(state);
            let interrupt = || -> Result<()> {
                if self.is_shutting_down() {
                    Err(Error::Closed)
                } else {
                    Ok(())
                }
            };
            let outcome = {
                let mut new_file_number = || {
                    let mut s = self.lock();
                    let n = s.versions.new_file_number();
                    s.pending_outputs.insert(n);
                    allocated.insert(n);
                    n
                };
                CompactionJob::new(&*self.fs, &self.dir, &self.table_cache)
                    .snapshots(&snapshots)
                    .filter(filter)
                    .merge_operator(self.options.merge_operator.as_deref())
                    .interrupt(&interrupt)
                    .verify_checksums(self.options.paranoid_checks)
                    .max_subcompactions(self.options.max_subcompactions)
                    .run(&mut compaction, &mut new_file_number)
            };
            let state = self.lock();
            match outcome {
                Err(e) => (Err(e), state),
                Ok(outcome) => {
                    let output_bytes = outcome.stats.output_bytes;
                    let (result, mut state) = self.apply_edit(state, |_| Ok((outcome.edit, ())));
                    if result.is_ok() {
                        state.stats.level_compactions[output_level] += 1;
                        state.stats.level_bytes_read[output_level] += input_bytes;
                        state.stats.level_bytes_written[output_level] += output_bytes;
                    }
                    (result, state)
                }
            }
        };
        // Outputs are in the installed Version now (or obsolete after an error).
        for n in &allocated {
            state.pending_outputs.remove(n);
        }
        state.running_compactions.retain(|r| r.id != running.id);
        state.busy.remove(&compaction);
        // The compaction holds its input Version; release it so the inputs
        // it replaced can be deleted now rather than at the next job.
        drop(compaction);
        match result {
            Ok(()) => {
                self.publish_super_version(&state);
                self.progress_cv.notify_all();
                self.work_cv.notify_all();
                state = self.delete_obsolete_files_unlocked(state);
            }
            Err(e) => {
                if is_manual {
                    if let Some(m) = state.manual.as_mut() {
                        m.result = Some(Err(e.clone()));
                        m.compaction.fail();
                    }
                }
                if !self.is_shutting_down() {
                    self.record_background_error(&mut state, e);
                }
            }
        }
        self.progress_cv.notify_all();
        self.work_cv.notify_all();
        state
    }
}

/// True when no table of `version` and none of `added` (tables written
/// but not yet installed, as during recovery) can hold `user_key`: a flush
/// may then merge a chain of operands fully (there is nothing older of the
/// key for it to sit on).
pub(crate) fn no_table_holds(version: &Version, added: &[(usize, FileMetaData)], user_key: &[u8]) -> bool {
    let icmp = version.comparator();
    let in_file = |f: &FileMetaData| {
        icmp.compare_user_keys(user_key, f.smallest_user_key()) != Ordering::Less
            && icmp.compare_user_keys(user_key, f.largest_user_key()) != Ordering::Greater
    };
    (0..NUM_LEVELS).all(|level| !version.overlap_in_level(level, Some(user_key), Some(user_key)))
        && !added.iter().any(|(_, f)| in_file(f))
}

/// What [`DbShared::pick_compaction`] found.
enum Pick {
    /// Run this compaction (registered as running).
    Run(Box<Compaction>, RunningCompaction),
    /// The state changed (a manual compaction ended): pick again.
    Again,
    /// Nothing to run now: wait for work or for a running compaction to end.
    Wait,
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use lsmkit_base::fs::MemFs;
    use lsmkit_base::Error;

    use crate::{Db, FlushOptions, Options};

    /// Once the database is closing (the first thing the last handle's drop
    /// marks), writes, flushes and manual compactions are refused with
    /// `Error::Closed`; reads still answer.
    #[test]
    fn work_asked_of_a_closing_database_is_refused_as_closed() {
        let options = Options { create_if_missing: true, fs: Arc::new(MemFs::new()), ..Options::default() };
        let db = Db::open("/db", options).unwrap();
        db.put(b"key", b"before").unwrap();
        db.shared().shutting_down.store(true, Ordering::Release);
        assert!(matches!(db.put(b"key", b"after"), Err(Error::Closed)));
        assert!(matches!(db.flush(FlushOptions::default()), Err(Error::Closed)));
        assert!(matches!(db.compact_range(None, None), Err(Error::Closed)));
        assert_eq!(db.get(b"key").unwrap().as_deref(), Some(&b"before"[..]));
        assert!(db.background_error().is_none(), "closing is not a background error");
    }
}
