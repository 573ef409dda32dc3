//! Background work: one thread flushes full memtables to tables, another
//! runs compactions (one at a time, as in LevelDB); obsolete files are
//! deleted once no Version uses them. The first error a background job meets
//! is recorded and makes later writes fail with it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use lsmkit_base::filename::{parse_file_name, table_file_name, FileType};
use lsmkit_base::fs::WriteMode;
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::extract_user_key;
use lsmkit_base::{Error, Result};
use lsmkit_compaction::{CompactionFilter, CompactionJob};
use lsmkit_memtable::Memtable;
use lsmkit_sstable::TableBuilder;
use lsmkit_version::{FileMetaData, VersionEdit};

use crate::state::{DbShared, DbState};

/// A table written from a memtable.
pub(crate) struct FlushedTable {
    pub(crate) meta: FileMetaData,
}

impl DbShared {
    /// Writes every entry of `mem` into table `number`, synced. Returns
    /// `None` (and leaves no file) when the memtable is empty.
    pub(crate) fn write_table_from_memtable(
        &self,
        mem: &Memtable,
        number: u64,
    ) -> Result<Option<FlushedTable>> {
        let mut iter = mem.iter();
        iter.seek_to_first();
        if !iter.valid() {
            return Ok(None);
        }
        let path = table_file_name(&self.dir, number);
        let file = self.fs.create_writable(&path, WriteMode::Buffered)?;
        let mut builder = TableBuilder::new(self.table_options.clone(), file);
        let built = (|| {
            while iter.valid() {
                builder.add(iter.key(), iter.value())?;
                iter.next();
            }
            iter.status()
        })();
        if let Err(e) = built {
            let _ = builder.abandon();
            let _ = self.fs.remove_file(&path);
            return Err(e);
        }
        match builder.finish(true) {
            Ok(summary) => {
                let meta =
                    FileMetaData::new(number, summary.file_size, summary.smallest_key, summary.largest_key);
                Ok(Some(FlushedTable { meta }))
            }
            Err(e) => {
                let _ = self.fs.remove_file(&path);
                Err(e)
            }
        }
    }

    /// Deletes the files no Version, pending output or live log needs
    /// (FORMAT.md §10.4 garbage collection). Errors are ignored: a file left
    /// behind is deleted next time.
    pub(crate) fn delete_obsolete_files(&self, state: &mut DbState) {
        if state.bg_error.is_some() {
            // The state on disk is uncertain: keep everything.
            return;
        }
        let Ok(names) = self.fs.list_dir(&self.dir) else { return };
        for obsolete in state.versions.obsolete_files(&names, &state.pending_outputs) {
            let path = self.dir.join(&obsolete.name);
            if let Some((number, FileType::Table)) = parse_file_name(&obsolete.name) {
                self.table_cache.evict(number);
            }
            if self.archive_obsolete_log(state, &obsolete.name) {
                continue; // kept in the archive (WAL retention)
            }
            let _ = self.fs.remove_file(&path);
        }
        self.purge_wal_archive(state);
    }

    /// The flush thread: writes the oldest full memtable to a table, installs
    /// it, and repeats; exits at shutdown once nothing is left to flush.
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

    fn flush_oldest<'a>(
        &'a self,
        mut state: std::sync::MutexGuard<'a, DbState>,
    ) -> std::sync::MutexGuard<'a, DbState> {
        let Some(imm) = state.imms.front().cloned() else { return state };
        state.flush_running = true;
        let number = state.versions.new_file_number();
        state.pending_outputs.insert(number);
        drop(state);

        let started = Instant::now();
        let written = self.write_table_from_memtable(&imm.mem, number).and_then(|t| {
            // The table's directory entry must be durable before the MANIFEST names it.
            self.fs.sync_dir(&self.dir)?;
            Ok(t)
        });

        let mut state = self.lock();
        state.pending_outputs.remove(&number);
        let result = written.and_then(|table| {
            let mut edit = VersionEdit::new();
            let mut level = 0;
            if let Some(t) = &table {
                if !state.compaction_running {
                    let current = state.versions.current();
                    level = self.picker.level_for_flush(
                        &current,
                        extract_user_key(&t.meta.smallest),
                        extract_user_key(&t.meta.largest),
                    );
                }
                edit.add_file(level, t.meta.clone());
            }
            // Logs older than the next memtable's are no longer needed.
            let next_log = state.imms.get(1).map_or(state.mem_log_number, |m| m.log_number);
            edit.set_log_number(next_log);
            edit.set_prev_log_number(0);
            state.versions.log_and_apply(&mut edit)?;
            if let Some(t) = &table {
                state.stats.level_bytes_written[level] += t.meta.file_size;
                state.stats.flush_bytes_written += t.meta.file_size;
            }
            Ok(())
        });
        let _ = started;
        match result {
            Ok(()) => {
                state.imms.pop_front();
                state.stats.flushes += 1;
                self.delete_obsolete_files(&mut state);
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
        state.flush_running = false;
        self.progress_cv.notify_all();
        self.work_cv.notify_all();
        state
    }

    /// The compaction thread: runs manual compactions when asked, otherwise
    /// whatever the picker says the current Version needs.
    pub(crate) fn compaction_thread(self: Arc<Self>, filter: Option<Arc<dyn CompactionFilter>>) {
        let mut state = self.lock();
        loop {
            if self.is_shutting_down() {
                if let Some(manual) = state.manual.as_mut() {
                    manual.result = Some(Err(Error::InvalidArgument("the database is closing".into())));
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
            let picked = self.pick_compaction(&mut state);
            match picked {
                Some(compaction) => {
                    state = self.run_compaction(state, compaction, filter.as_deref());
                }
                None => {
                    if state.manual.is_some() {
                        continue;
                    }
                    state = self.wait(&self.work_cv, state);
                }
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
    /// is requested, else the picker's choice.
    fn pick_compaction(&self, state: &mut DbState) -> Option<lsmkit_compaction::Compaction> {
        let current = state.versions.current();
        if state.manual.is_some() {
            loop {
                let manual = state.manual.as_mut()?;
                if let Some(Err(_)) = manual.result {
                    self.finish_manual(state);
                    return None;
                }
                if let Some(c) = manual.compaction.next_piece(&*self.picker, &current) {
                    return Some(c);
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
                        return None;
                    }
                }
            }
        }
        let compaction = self.picker.pick(&current, state.versions.compact_pointers())?;
        if let Some((level, key)) = compaction.compact_pointer() {
            let key = key.to_vec();
            state.versions.set_compact_pointer(level, &key);
        }
        Some(compaction)
    }

    fn run_compaction<'a>(
        &'a self,
        mut state: std::sync::MutexGuard<'a, DbState>,
        mut compaction: lsmkit_compaction::Compaction,
        filter: Option<&dyn CompactionFilter>,
    ) -> std::sync::MutexGuard<'a, DbState> {
        state.compaction_running = true;
        let is_manual = state.manual.is_some();
        let result: Result<()> = if compaction.is_trivial_move() && !is_manual {
            match compaction.trivial_move_edit() {
                Some(mut edit) => state.versions.log_and_apply(&mut edit).map(|()| {
                    state.stats.trivial_moves += 1;
                }),
                None => Ok(()),
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
                    Err(Error::InvalidArgument("the database is closing".into()))
                } else {
                    Ok(())
                }
            };
            let mut allocated: BTreeSet<u64> = BTreeSet::new();
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
                    .interrupt(&interrupt)
                    .verify_checksums(self.options.paranoid_checks)
                    .run(&mut compaction, &mut new_file_number)
            };
            state = self.lock();
            let result = outcome.and_then(|mut outcome| {
                state.versions.log_and_apply(&mut outcome.edit)?;
                state.stats.level_compactions[output_level] += 1;
                state.stats.level_bytes_read[output_level] += input_bytes;
                state.stats.level_bytes_written[output_level] += outcome.stats.output_bytes;
                Ok(())
            });
            for n in &allocated {
                state.pending_outputs.remove(n);
            }
            result
        };
        // The compaction holds its input Version; release it so the inputs
        // it replaced can be deleted now rather than at the next job.
        drop(compaction);
        match result {
            Ok(()) => self.delete_obsolete_files(&mut state),
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
        state.compaction_running = false;
        self.progress_cv.notify_all();
        self.work_cv.notify_all();
        state
    }
}
