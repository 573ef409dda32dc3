//! [`VersionSet`]: the current Version, the file-number and sequence
//! counters, and the MANIFEST that makes them durable (docs/format.md §10.2 for
//! the lifecycle, §10.3 for CURRENT, §10.4 for garbage collection).
//!
//! - [`create_new_db`](VersionSet::create_new_db) writes `MANIFEST-000001`
//!   and `CURRENT` exactly as LevelDB 1.23 does.
//! - [`recover`](VersionSet::recover) replays CURRENT's MANIFEST. Any region
//!   the log reader drops fails recovery, except the tail a writer left
//!   behind when it died mid-record, which LevelDB also ignores silently.
//!   With `paranoid_checks`, the recovered state must then also find the
//!   files it needs in the directory, or the MANIFEST is taken to have lost
//!   acknowledged records at its end (`manifest_completeness`).
//! - [`log_and_apply`](VersionSet::log_and_apply) writes an edit, syncs,
//!   and only then installs the new Version. When no MANIFEST is open (the
//!   first call after recovery) or the open one has grown past
//!   `max_manifest_file_size`, it first writes a new MANIFEST that starts
//!   with a snapshot record, and switches CURRENT to it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsmkit_base::filename::{current_file_name, manifest_file_name};
use lsmkit_base::fs::{FileSystem, WriteMode};
use lsmkit_base::key::{InternalKeyComparator, SequenceNumber, MAX_SEQUENCE_NUMBER};
use lsmkit_base::{Error, Result};
use lsmkit_wal::log_format::BLOCK_SIZE;
use lsmkit_wal::{DropReason, DroppedRegion, LogReader, LogWriter, RecoveryMode};

use crate::compact_pointers::CompactPointers;
use crate::config::VersionSetOptions;
use crate::current_file::{read_current_file, set_current_file, switch_current_file, SwitchError};
use crate::file_meta_data::FileMetaData;
use crate::live_files::{KeepRule, LiveVersions, ObsoleteFile};
use crate::manifest_completeness::{check_manifest_is_complete, ManifestEnd};
use crate::version::Version;
use crate::version_builder::VersionBuilder;
use crate::version_edit::VersionEdit;

/// File numbers at or above this are refused (at recovery and by
/// `mark_file_number_used`): no real database gets near it, and it leaves
/// room to count up without overflow.
const MAX_PLAUSIBLE_FILE_NUMBER: u64 = 1 << 62;

/// The set of Versions of one database and the MANIFEST that records them.
///
/// The engine holds it under its mutex: methods that change it take
/// `&mut self`. Versions handed out by [`current`](Self::current) are
/// shared, immutable and `Send + Sync`.
pub struct VersionSet {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    icmp: InternalKeyComparator,
    options: VersionSetOptions,
    next_file_number: u64,
    last_sequence: SequenceNumber,
    log_number: u64,
    prev_log_number: u64,
    /// The MANIFEST that CURRENT names, as far as is known durably.
    manifest_file_number: u64,
    /// The number recovery set aside for the next MANIFEST.
    reserved_manifest_number: Option<u64>,
    /// The open MANIFEST, if any.
    manifest: Option<LogWriter>,
    current: Arc<Version>,
    compact_pointers: CompactPointers,
    live: LiveVersions,
    recovered: bool,
    /// A [`PreparedEdit`] is out and not yet finished.
    apply_in_flight: bool,
}

// The engine keeps the VersionSet under its mutex and shares it between threads.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<VersionSet>();
};

impl std::fmt::Debug for VersionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionSet")
            .field("dir", &self.dir)
            .field("next_file_number", &self.next_file_number)
            .field("last_sequence", &self.last_sequence)
            .field("log_number", &self.log_number)
            .field("prev_log_number", &self.prev_log_number)
            .field("manifest_file_number", &self.manifest_file_number)
            .field("manifest", &self.manifest)
            .field("current", &self.current.level_summary())
            .finish()
    }
}

impl VersionSet {
    /// A version set for the database in `dir`, empty until
    /// [`recover`](Self::recover) reads it.
    pub fn new(
        dir: impl Into<PathBuf>,
        fs: Arc<dyn FileSystem>,
        icmp: InternalKeyComparator,
        options: VersionSetOptions,
    ) -> VersionSet {
        let current = Arc::new(Version::empty(icmp.clone()));
        let mut live = LiveVersions::default();
        live.register(&current);
        VersionSet {
            dir: dir.into(),
            fs,
            icmp,
            options,
            next_file_number: 2,
            last_sequence: 0,
            log_number: 0,
            prev_log_number: 0,
            manifest_file_number: 0,
            reserved_manifest_number: None,
            manifest: None,
            current,
            compact_pointers: CompactPointers::default(),
            live,
            recovered: false,
            apply_in_flight: false,
        }
    }

    /// Writes a new, empty database's `MANIFEST-000001` (one record:
    /// comparator, log number 0, next file 2, last sequence 0), syncs it and
    /// points `CURRENT` at it. Call [`recover`](Self::recover) next.
    ///
    /// Refuses (`InvalidArgument`) when `CURRENT` already exists: that is
    /// an existing database.
    pub fn create_new_db(&self) -> Result<()> {
        let current = current_file_name(&self.dir);
        if self.fs.exists(&current) {
            return Err(Error::InvalidArgument(format!(
                "{} exists: the database already exists",
                current.display()
            )));
        }
        let mut edit = VersionEdit::new();
        edit.set_comparator_name(self.icmp.user_comparator().name());
        edit.set_log_number(0);
        edit.set_next_file_number(2);
        edit.set_last_sequence(0);
        let path = manifest_file_name(&self.dir, 1);
        let written = (|| {
            let mut writer = LogWriter::new(self.fs.create_writable(&path, WriteMode::Buffered)?);
            writer.add_record(&edit.encode())?;
            writer.sync()?;
            writer.close()?;
            self.fs.sync_dir(&self.dir)
        })();
        if let Err(e) = written {
            // Best effort; the write error is what matters.
            let _ = self.fs.remove_file(&path);
            return Err(e);
        }
        set_current_file(self.fs.as_ref(), &self.dir, 1)
    }

    /// Reads the MANIFEST named by `CURRENT` and makes the Version and
    /// counters it describes current.
    ///
    /// Returns whether a new MANIFEST must be written — always, unless
    /// `reuse_manifest` is set and the old one can be appended to. The
    /// engine then calls [`log_and_apply`](Self::log_and_apply) with its
    /// new log number, which writes it (as LevelDB does at every open).
    ///
    /// Errors: a missing `CURRENT` or MANIFEST, a dropped region in the
    /// MANIFEST, an undecodable edit, a missing counter, or an impossible
    /// set of files are `Corruption`, naming the file (and offset where
    /// known); a comparator-name mismatch is `InvalidArgument`. With
    /// `paranoid_checks`, so is a recovered state whose WAL (log number) or
    /// live tables are missing from the directory: the MANIFEST lost
    /// acknowledged records at its end (checked before anything changes).
    pub fn recover(&mut self) -> Result<bool> {
        let (manifest_name, manifest_number) = read_current_file(self.fs.as_ref(), &self.dir)?;
        let path = self.dir.join(&manifest_name);
        let file = match self.fs.open_sequential(&path) {
            Ok(file) => file,
            Err(e) if e.is_not_found() => {
                return Err(Error::corruption(format!(
                    "CURRENT names {manifest_name}, which does not exist"
                ))
                .in_file(path));
            }
            Err(e) => return Err(e),
        };
        let file_len = self.fs.file_size(&path)?;
        let mut reader = LogReader::new(file, &path, RecoveryMode::SkipAnyCorruptedRecords);
        let empty = Arc::new(Version::empty(self.icmp.clone()));
        let mut builder = VersionBuilder::new(self.icmp.clone(), empty);
        let mut compact_pointers = CompactPointers::default();
        let mut log_number = None;
        let mut prev_log_number = None;
        let mut next_file_number = None;
        let mut last_sequence = None;
        let mut record = Vec::new();
        loop {
            let more = reader.read_record_into(&mut record)?;
            check_dropped_regions(&path, reader.dropped_regions(), file_len)?;
            if !more {
                break;
            }
            let at = reader.last_record_offset();
            let edit = VersionEdit::decode(&record).map_err(|e| e.in_file(&path).at_offset(at))?;
            if let Some(name) = &edit.comparator_name {
                let ours = self.icmp.user_comparator().name();
                if name.as_slice() != ours.as_bytes() {
                    return Err(Error::InvalidArgument(format!(
                        "{} does not match existing comparator {ours} (in {})",
                        name.escape_ascii(),
                        path.display()
                    )));
                }
            }
            builder.apply(&edit);
            compact_pointers.apply(&edit);
            log_number = edit.log_number.or(log_number);
            prev_log_number = edit.prev_log_number.or(prev_log_number);
            next_file_number = edit.next_file_number.or(next_file_number);
            last_sequence = edit.last_sequence.or(last_sequence);
        }
        let corrupt = |message: String| Error::corruption(message).in_file(&path);
        let next_file_number =
            next_file_number.ok_or_else(|| corrupt("no meta-nextfile entry in descriptor".into()))?;
        let log_number = log_number.ok_or_else(|| corrupt("no meta-lognumber entry in descriptor".into()))?;
        let last_sequence =
            last_sequence.ok_or_else(|| corrupt("no last-sequence-number entry in descriptor".into()))?;
        let prev_log_number = prev_log_number.unwrap_or(0);
        if last_sequence > MAX_SEQUENCE_NUMBER {
            return Err(corrupt(format!(
                "last sequence {last_sequence} is above the maximum {MAX_SEQUENCE_NUMBER}"
            )));
        }
        let version = builder.build().map_err(corrupt)?;
        if self.options.paranoid_checks {
            // Only a tolerated torn tail can be among the dropped regions here.
            let torn_tail = reader.dropped_regions().first().map(|region| {
                let last = reader.dropped_regions().last().unwrap_or(region);
                (region.offset, (last.offset + last.bytes).saturating_sub(region.offset))
            });
            let end = ManifestEnd { file_len, torn_tail };
            check_manifest_is_complete(self.fs.as_ref(), &self.dir, &path, end, log_number, &version)?;
        }

        // Every number in use must stay below the next file number, even if
        // the MANIFEST's counter says otherwise (LevelDB trusts the counter).
        let in_use =
            [log_number, prev_log_number, manifest_number].into_iter().chain(version.table_numbers());
        let mut next = next_file_number;
        for number in in_use {
            next = next.max(number.saturating_add(1));
        }
        if next >= MAX_PLAUSIBLE_FILE_NUMBER {
            return Err(corrupt(format!("file number {next} is implausibly large")));
        }

        self.next_file_number = next;
        self.last_sequence = last_sequence;
        self.log_number = log_number;
        self.prev_log_number = prev_log_number;
        self.manifest_file_number = manifest_number;
        self.compact_pointers = compact_pointers;
        self.live.clear();
        self.install(version);
        self.recovered = true;
        // As LevelDB: the next file number becomes the new MANIFEST's.
        let reserved = self.new_file_number();
        self.manifest = None;
        self.reserved_manifest_number = Some(reserved);

        let ends_cleanly = reader.dropped_regions().is_empty() && reader.resume_offset() == file_len;
        if self.options.reuse_manifest && ends_cleanly && file_len < self.options.max_manifest_file_size {
            // Keep appending to the old MANIFEST; if it cannot be opened for
            // appending, fall back to writing a new one.
            if let Ok(file) = self.fs.open_appendable(&path) {
                self.manifest = Some(LogWriter::new_with_offset(file, file_len));
                self.reserved_manifest_number = None;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Records `edit` durably and makes the Version it produces current.
    ///
    /// Fills in the counters as LevelDB does: the log number (if unset) and
    /// previous log number (if unset) from the set, the next file number and
    /// last sequence always. Then builds the new Version (refusing an edit
    /// that would make levels ≥ 1 overlap, repeat a file number, or not
    /// decode again: `InvalidArgument`), writes the edit — into a new
    /// MANIFEST that begins with a snapshot of the current Version if none
    /// is open or the open one is at least `max_manifest_file_size` bytes,
    /// in which case CURRENT is switched to it — syncs, and installs.
    ///
    /// On an I/O error nothing is installed, but the edit may or may not be
    /// durable: like LevelDB after a background error, the caller must not
    /// delete files the edit names or removes until a later call succeeds.
    /// The next call writes a fresh MANIFEST, so a torn record is never
    /// followed by others.
    pub fn log_and_apply(&mut self, edit: &mut VersionEdit) -> Result<()> {
        let mut prepared = self.prepare_apply(edit)?;
        let written = prepared.write();
        self.finish_apply(prepared, written)
    }

    /// The first half of [`log_and_apply`](Self::log_and_apply), run under
    /// the caller's lock: fills in the counters, builds the new Version and
    /// encodes the record. When a new MANIFEST is due (none is open, or the
    /// open one is too large) it is written here and the returned value has
    /// nothing left to write. Otherwise the open MANIFEST's writer moves into
    /// the returned [`PreparedEdit`], whose [`write`](PreparedEdit::write)
    /// appends and syncs the record without any lock; then
    /// [`finish_apply`](Self::finish_apply) installs the Version.
    ///
    /// One edit at a time: until `finish_apply` is called, another
    /// `prepare_apply` (or `log_and_apply`) is refused with `InvalidArgument`,
    /// so every edit is built on the Version the previous one installed and
    /// the MANIFEST has one writer.
    pub fn prepare_apply(&mut self, edit: &mut VersionEdit) -> Result<PreparedEdit> {
        if !self.recovered {
            return Err(Error::InvalidArgument("log_and_apply before the version set was recovered".into()));
        }
        if self.apply_in_flight {
            return Err(Error::InvalidArgument("another version edit is being written".into()));
        }
        match edit.log_number {
            Some(number) if number < self.log_number || number >= self.next_file_number => {
                return Err(Error::InvalidArgument(format!(
                    "log number {number} is outside [{}, {})",
                    self.log_number, self.next_file_number
                )));
            }
            Some(_) => {}
            None => edit.log_number = Some(self.log_number),
        }
        if edit.prev_log_number.is_none() {
            edit.prev_log_number = Some(self.prev_log_number);
        }
        if let Some(name) = &edit.comparator_name {
            if name.as_slice() != self.icmp.user_comparator().name().as_bytes() {
                return Err(Error::InvalidArgument(format!(
                    "edit names comparator {}, not {}",
                    name.escape_ascii(),
                    self.icmp.user_comparator().name()
                )));
            }
        }
        edit.validate().map_err(|m| Error::InvalidArgument(format!("invalid version edit: {m}")))?;
        let mut builder = VersionBuilder::new(self.icmp.clone(), Arc::clone(&self.current));
        builder.apply(edit);
        let version =
            builder.build().map_err(|m| Error::InvalidArgument(format!("edit cannot be applied: {m}")))?;
        let mut compact_pointers = self.compact_pointers.clone();
        compact_pointers.apply(edit);

        let open_manifest = match self.manifest.take() {
            Some(manifest) if manifest.file_len() < self.options.max_manifest_file_size => Some(manifest),
            other => {
                self.manifest = other;
                None
            }
        };
        let pending = match open_manifest {
            Some(manifest) => {
                let record = self.fill_counters(edit);
                Some((manifest, record))
            }
            None => {
                // Allocated before the counters are filled in, so the edit's
                // next file number is above the new MANIFEST's.
                let number = match self.reserved_manifest_number.take() {
                    Some(number) => number,
                    None => self.new_file_number(),
                };
                let record = self.fill_counters(edit);
                self.start_manifest(number, &compact_pointers, &record)?;
                None
            }
        };
        self.apply_in_flight = true;
        Ok(PreparedEdit {
            pending,
            version,
            compact_pointers,
            log_number: edit.log_number.unwrap_or(self.log_number),
            prev_log_number: edit.prev_log_number.unwrap_or(self.prev_log_number),
        })
    }

    /// The second half of [`log_and_apply`](Self::log_and_apply): with
    /// `written` the result of [`PreparedEdit::write`], installs the new
    /// Version (and takes the MANIFEST writer back) on success. On an error
    /// nothing is installed and the writer is dropped, so the next edit
    /// starts a fresh MANIFEST; the error is returned.
    pub fn finish_apply(&mut self, prepared: PreparedEdit, written: Result<()>) -> Result<()> {
        self.apply_in_flight = false;
        written?;
        let PreparedEdit { pending, version, compact_pointers, log_number, prev_log_number } = prepared;
        if let Some((manifest, _)) = pending {
            self.manifest = Some(manifest);
        }
        self.log_number = log_number;
        self.prev_log_number = prev_log_number;
        self.compact_pointers = compact_pointers;
        self.install(version);
        Ok(())
    }

    /// Sets the edit's next file number and last sequence; returns its encoding.
    fn fill_counters(&self, edit: &mut VersionEdit) -> Vec<u8> {
        edit.next_file_number = Some(self.next_file_number);
        edit.last_sequence = Some(self.last_sequence);
        edit.encode()
    }

    /// Writes `MANIFEST-<number>` (a snapshot of the current Version, then
    /// `record`), syncs it and its directory, and points CURRENT at it. On
    /// success it becomes the open MANIFEST.
    fn start_manifest(
        &mut self,
        number: u64,
        compact_pointers: &CompactPointers,
        record: &[u8],
    ) -> Result<()> {
        let path = manifest_file_name(&self.dir, number);
        let snapshot = self.snapshot_edit(compact_pointers).encode();
        let written = (|| {
            let mut writer = LogWriter::new(self.fs.create_writable(&path, WriteMode::Buffered)?);
            writer.add_record(&snapshot)?;
            writer.add_record(record)?;
            writer.sync()?;
            self.fs.sync_dir(&self.dir)?;
            Ok(writer)
        })();
        let mut writer = match written {
            Ok(writer) => writer,
            Err(e) => {
                // CURRENT still names the old MANIFEST: the new one is garbage.
                let _ = self.fs.remove_file(&path);
                return Err(e);
            }
        };
        match switch_current_file(self.fs.as_ref(), &self.dir, number) {
            Ok(()) => {}
            Err(SwitchError::BeforeRename(e)) => {
                let _ = writer.close();
                let _ = self.fs.remove_file(&path);
                return Err(e);
            }
            Err(SwitchError::AfterRename(e)) => {
                // CURRENT may name either MANIFEST after a crash: keep both,
                // append to neither.
                let _ = writer.close();
                if let Some(mut old) = self.manifest.take() {
                    let _ = old.close();
                }
                return Err(e);
            }
        }
        if let Some(mut old) = self.manifest.replace(writer) {
            // Everything in it was synced; closing can lose nothing.
            let _ = old.close();
        }
        self.manifest_file_number = number;
        Ok(())
    }

    /// The first record of a new MANIFEST: the comparator, every compaction
    /// pointer and every file of the current Version, level by level.
    fn snapshot_edit(&self, compact_pointers: &CompactPointers) -> VersionEdit {
        let mut edit = VersionEdit::new();
        edit.set_comparator_name(self.icmp.user_comparator().name());
        for (level, key) in compact_pointers.iter() {
            edit.set_compact_pointer(level, key);
        }
        for (level, files) in self.current.levels().iter().enumerate() {
            for file in files {
                edit.add_file(level, FileMetaData::clone(file));
            }
        }
        edit
    }

    fn install(&mut self, version: Version) {
        let version = Arc::new(version);
        self.live.register(&version);
        self.current = version;
    }

    /// The current Version.
    pub fn current(&self) -> Arc<Version> {
        Arc::clone(&self.current)
    }

    /// The internal-key comparator.
    pub fn comparator(&self) -> &InternalKeyComparator {
        &self.icmp
    }

    /// The options this set was opened with.
    pub fn options(&self) -> &VersionSetOptions {
        &self.options
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Allocates a new file number.
    pub fn new_file_number(&mut self) -> u64 {
        let number = self.next_file_number;
        self.next_file_number += 1;
        number
    }

    /// Returns `number` to the pool if it was the last one allocated (a file
    /// that was never created, e.g. an empty flush).
    pub fn reuse_file_number(&mut self, number: u64) {
        if self.next_file_number == number.saturating_add(1) {
            self.next_file_number = number;
        }
    }

    /// Makes sure `number` is never allocated (a file found on disk). A
    /// number so large that counting on from it could overflow is refused
    /// as `Corruption` (such a name cannot come from a real database).
    pub fn mark_file_number_used(&mut self, number: u64) -> Result<()> {
        if number >= MAX_PLAUSIBLE_FILE_NUMBER {
            return Err(Error::corruption(format!("file number {number} is implausibly large")));
        }
        if self.next_file_number <= number {
            self.next_file_number = number + 1;
        }
        Ok(())
    }

    /// The number the next [`new_file_number`](Self::new_file_number) returns.
    pub fn next_file_number(&self) -> u64 {
        self.next_file_number
    }

    /// The last sequence number used.
    pub fn last_sequence(&self) -> SequenceNumber {
        self.last_sequence
    }

    /// Sets the last sequence number; it never goes backwards.
    pub fn set_last_sequence(&mut self, sequence: SequenceNumber) {
        debug_assert!(sequence >= self.last_sequence, "last sequence moved back");
        self.last_sequence = self.last_sequence.max(sequence);
    }

    /// WALs numbered below this are no longer needed.
    pub fn log_number(&self) -> u64 {
        self.log_number
    }

    /// The WAL that was being compacted when the log number was set (0 if none).
    pub fn prev_log_number(&self) -> u64 {
        self.prev_log_number
    }

    /// The number of the MANIFEST that CURRENT names. After
    /// [`recover`](Self::recover) it is the MANIFEST just read until a
    /// [`log_and_apply`](Self::log_and_apply) writes a new one.
    pub fn manifest_file_number(&self) -> u64 {
        self.manifest_file_number
    }

    /// Bytes in the open MANIFEST (`None` when none is open).
    pub fn manifest_file_size(&self) -> Option<u64> {
        self.manifest.as_ref().map(LogWriter::file_len)
    }

    /// `level`'s compaction pointer: where its next size compaction starts.
    pub fn compact_pointer(&self, level: usize) -> Option<&[u8]> {
        self.compact_pointers.get(level)
    }

    /// Every level's compaction pointer.
    pub fn compact_pointers(&self) -> &CompactPointers {
        &self.compact_pointers
    }

    /// Moves `level`'s compaction pointer at once (LevelDB does this when it
    /// picks a compaction; the compaction's edit records it durably).
    pub fn set_compact_pointer(&mut self, level: usize, internal_key: &[u8]) {
        self.compact_pointers.set(level, internal_key);
    }

    /// Number of files in `level` of the current Version.
    pub fn num_level_files(&self, level: usize) -> usize {
        self.current.num_level_files(level)
    }

    /// Total bytes in `level` of the current Version.
    pub fn num_level_bytes(&self, level: usize) -> u64 {
        self.current.num_level_bytes(level)
    }

    /// `files[ n0 … n6 ]` for the current Version.
    pub fn level_summary(&self) -> String {
        self.current.level_summary()
    }

    /// True when the current Version wants a size or seek compaction.
    pub fn needs_compaction(&self) -> bool {
        self.current.needs_compaction()
    }

    /// The numbers of every table used by the current Version or by any
    /// older Version still held somewhere (an iterator, a compaction).
    pub fn live_files(&self) -> BTreeSet<u64> {
        let mut live = self.live.table_numbers();
        live.extend(self.current.table_numbers());
        live
    }

    /// Of the directory entries `names`, those that may be deleted
    /// (docs/format.md §10.4): logs older than the log number (other than the
    /// previous log number), MANIFESTs older than the live one, and tables
    /// and temp files that no live Version uses and that are not in
    /// `pending_outputs` (files being written right now).
    pub fn obsolete_files(&self, names: &[String], pending_outputs: &BTreeSet<u64>) -> Vec<ObsoleteFile> {
        let mut needed = self.live_files();
        needed.extend(pending_outputs);
        let rule = KeepRule {
            needed: &needed,
            log_number: self.log_number,
            prev_log_number: self.prev_log_number,
            manifest_file_number: self.manifest_file_number,
        };
        rule.obsolete(names)
    }
}

/// A version edit between [`VersionSet::prepare_apply`] and
/// [`VersionSet::finish_apply`]: the new Version, and the MANIFEST record
/// still to be appended and synced.
pub struct PreparedEdit {
    /// The open MANIFEST's writer and the record to append to it, or `None`
    /// when `prepare_apply` already wrote the record into a new MANIFEST.
    pending: Option<(LogWriter, Vec<u8>)>,
    version: Version,
    compact_pointers: CompactPointers,
    log_number: u64,
    prev_log_number: u64,
}

impl PreparedEdit {
    /// Appends the record to the MANIFEST and syncs it. Needs no lock: the
    /// writer belongs to this value until `finish_apply`. Calling it again
    /// after it succeeded does nothing.
    pub fn write(&mut self) -> Result<()> {
        if let Some((manifest, record)) = self.pending.as_mut() {
            if !record.is_empty() {
                // On error the writer is dropped by `finish_apply`: the file
                // may end in a torn record, so it is never appended to again.
                manifest.add_record(record).and_then(|()| manifest.sync())?;
                record.clear();
            }
        }
        Ok(())
    }

    /// The Version this edit installs.
    pub fn version(&self) -> &Version {
        &self.version
    }
}

impl std::fmt::Debug for PreparedEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedEdit")
            .field("pending_bytes", &self.pending.as_ref().map(|(_, r)| r.len()))
            .field("version", &self.version.level_summary())
            .finish()
    }
}

/// Recovery fails on any dropped region of the MANIFEST except an
/// incomplete record at its very end, which LevelDB's reader ignores
/// silently: a torn tail, or a header whose length runs past the end of the
/// file's last, partial block.
fn check_dropped_regions(path: &Path, regions: &[DroppedRegion], file_len: u64) -> Result<()> {
    for region in regions {
        let at_partial_end = region.offset + region.bytes == file_len && file_len % BLOCK_SIZE as u64 != 0;
        let tolerated = match region.reason {
            DropReason::TruncatedRecordAtEnd => true,
            DropReason::BadRecordLength => at_partial_end,
            _ => false,
        };
        if !tolerated {
            return Err(Error::corruption_at(
                path,
                region.offset,
                format!("MANIFEST damaged: {} ({} bytes dropped)", region.reason, region.bytes),
            ));
        }
    }
    Ok(())
}
