//! Opening a database: lock it, create or recover CURRENT and the MANIFEST,
//! replay the live WALs in order into memtables (writing a level-0 table
//! whenever one fills, and for what is left at the end, as LevelDB 1.23
//! does), then start a new WAL and a new MANIFEST (docs/format.md §10.2, §10.4).

use std::collections::BTreeSet;

use lsmkit_base::filename::{current_file_name, lock_file_name, log_file_name, parse_file_name, FileType};
use lsmkit_base::fs::FileLock;
use lsmkit_base::{Error, Result};
use lsmkit_memtable::Memtable;
use lsmkit_version::VersionEdit;
use lsmkit_wal::{LogReader, RecoveryMode, WalOptions, WalWriter, WriteBatch};

use crate::background::no_table_holds;
use crate::state::DbShared;
use crate::write::insert_batch;

/// What recovery found, for the open that follows.
pub(crate) struct Recovered {
    pub(crate) mem: Memtable,
    pub(crate) log_number: u64,
    pub(crate) wal: WalWriter,
}

/// Locks the database directory and makes sure a database exists there.
pub(crate) fn lock_and_prepare(shared: &DbShared) -> Result<Box<dyn FileLock>> {
    let options = &shared.options;
    if options.create_if_missing {
        shared.fs.create_dir_all(&shared.dir)?;
    } else if !shared.fs.exists(&shared.dir) {
        return Err(Error::InvalidArgument(format!(
            "{}: does not exist (create_if_missing is false)",
            shared.dir.display()
        )));
    }
    let lock = shared.fs.lock_file(&lock_file_name(&shared.dir))?;
    let current = current_file_name(&shared.dir);
    if !shared.fs.exists(&current) {
        if !options.create_if_missing {
            return Err(Error::InvalidArgument(format!(
                "{}: does not exist (create_if_missing is false)",
                shared.dir.display()
            )));
        }
        let state = shared.lock();
        state.versions.create_new_db()?;
    } else if options.error_if_exists {
        return Err(Error::InvalidArgument(format!(
            "{}: exists (error_if_exists is true)",
            shared.dir.display()
        )));
    }
    Ok(lock)
}

impl DbShared {
    /// Recovers the MANIFEST and replays the WALs. Called once, at open,
    /// before any other thread runs.
    pub(crate) fn recover(&self) -> Result<Recovered> {
        let mut state = self.lock();
        state.versions.recover()?;

        // Every table the MANIFEST lists must be there (.ldb or legacy .sst).
        let names = self.fs.list_dir(&self.dir)?;
        let mut present_tables = BTreeSet::new();
        let mut logs = Vec::new();
        for name in &names {
            match parse_file_name(name) {
                Some((number, FileType::Table)) => {
                    present_tables.insert(number);
                }
                Some((number, FileType::Log)) => logs.push(number),
                _ => {}
            }
        }
        let missing: Vec<u64> =
            state.versions.current().table_numbers().filter(|n| !present_tables.contains(n)).collect();
        if let Some(first) = missing.first() {
            // The MANIFEST names tables that are not there: report it as the damaged file.
            let manifest =
                lsmkit_base::filename::manifest_file_name(&self.dir, state.versions.manifest_file_number());
            return Err(Error::corruption(format!(
                "{} missing files; e.g.: {}",
                missing.len(),
                lsmkit_base::filename::table_file_name(&self.dir, *first).display()
            ))
            .in_file(manifest));
        }

        // Replay the live logs, oldest first.
        let min_log = state.versions.log_number();
        let prev_log = state.versions.prev_log_number();
        logs.retain(|&n| n >= min_log || n == prev_log);
        logs.sort_unstable();
        let mut edit = VersionEdit::new();
        let mut max_sequence = state.versions.last_sequence();
        let mut mem = Memtable::new(self.icmp.clone());
        let mode = if self.options.paranoid_checks {
            RecoveryMode::TolerateCorruptedTailRecords
        } else {
            self.options.wal_recovery_mode
        };
        for &log_number in &logs {
            state.versions.mark_file_number_used(log_number)?;
            let path = log_file_name(&self.dir, log_number);
            let file = self.fs.open_sequential(&path)?;
            let mut reader = LogReader::new(file, &path, mode);
            while let Some(record) = reader.read_record()? {
                let offset = reader.last_record_offset();
                // Checked in full before anything reaches the memtable: a
                // malformed batch is damage for the recovery mode to handle.
                let batch = match WriteBatch::from_log_record(record, &path, offset) {
                    Ok(batch) => batch,
                    Err(e) => {
                        reader.reject_record(&e)?;
                        continue;
                    }
                };
                let sequence = batch.sequence();
                insert_batch(&mem, &batch, sequence).map_err(|e| e.in_file(&path).at_offset(offset))?;
                // Validated: the batch's last sequence is at most 2^56 - 1.
                if batch.count() > 0 {
                    max_sequence = max_sequence.max(sequence + u64::from(batch.count() - 1));
                }
                if mem.write_buffer_charge() > self.options.write_buffer_size {
                    let full = std::mem::replace(&mut mem, Memtable::new(self.icmp.clone()));
                    self.flush_recovered_memtable(&mut state, &full, &mut edit)?;
                }
            }
            let stopped_at_damage = !reader.dropped_regions().is_empty();
            if stopped_at_damage && mode == RecoveryMode::PointInTimeRecovery {
                // Later logs would leave a hole in the history: stop here.
                break;
            }
        }
        if !mem.is_empty() {
            let full = std::mem::replace(&mut mem, Memtable::new(self.icmp.clone()));
            self.flush_recovered_memtable(&mut state, &full, &mut edit)?;
        }
        if max_sequence > state.versions.last_sequence() {
            state.versions.set_last_sequence(max_sequence);
        }

        // A new WAL, and the edit that makes the replayed logs obsolete.
        let log_number = state.versions.new_file_number();
        let wal_options =
            WalOptions { sync_policy: self.options.wal_sync_policy, io_mode: self.options.wal_io_mode };
        let wal = WalWriter::create(&*self.fs, &log_file_name(&self.dir, log_number), wal_options)?;
        // The new log must be durable as a name before the MANIFEST points past the old ones.
        self.fs.sync_dir(&self.dir)?;
        edit.set_log_number(log_number);
        edit.set_prev_log_number(0);
        state.versions.log_and_apply(&mut edit)?;
        state.pending_outputs.clear();
        self.delete_obsolete_files(&mut state);
        Ok(Recovered { mem, log_number, wal })
    }

    fn flush_recovered_memtable(
        &self,
        state: &mut crate::state::DbState,
        mem: &Memtable,
        edit: &mut VersionEdit,
    ) -> Result<()> {
        let number = state.versions.new_file_number();
        state.pending_outputs.insert(number);
        // No snapshot exists yet; the older tables are those of the
        // Version and those this recovery wrote before (still in `edit`).
        let tables = state.versions.current();
        let nothing_older = |user_key: &[u8]| no_table_holds(&tables, &edit.new_files, user_key);
        let table = self.write_table_from_memtable(mem, number, &[], &nothing_older)?;
        if let Some(table) = table {
            state.stats.level_bytes_written[0] += table.meta.file_size;
            state.stats.flush_bytes_written += table.meta.file_size;
            edit.add_file(0, table.meta);
        }
        self.fs.sync_dir(&self.dir)?;
        Ok(())
    }
}
