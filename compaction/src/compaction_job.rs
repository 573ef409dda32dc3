//! [`CompactionJob`]: runs a [`Compaction`] — merges the input tables into
//! new tables at the output level and describes the result as a
//! [`VersionEdit`] (LevelDB's `DBImpl::DoCompactionWork`, FORMAT.md §6 for
//! the tables written, §10.1 for the edit, §11 for the size limits).
//!
//! The inputs are read through a [`MergingIterator`]: one table iterator per
//! level-0 file, one [`LevelIterator`] per deeper level. Each entry goes
//! through the retention rules (shadowed versions and obsolete
//! deletion markers are dropped, every live snapshot keeps what it sees),
//! then the compaction filter. Survivors are written with a
//! [`TableBuilder`]; an output is closed when it reaches the compaction's
//! `max_output_file_size`, or before an entry that would make it overlap
//! too many grandparent bytes. Outputs are synced, checked to open, and
//! deleted again if the job fails.
//!
//! The job is deterministic: the same inputs, options, snapshots, filter
//! and file numbers give byte-identical outputs.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use lsmkit_base::filename::table_file_name;
use lsmkit_base::fs::{FileSystem, WriteMode};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    append_internal_key, parse_internal_key, InternalKeyComparator, SequenceNumber, ValueKind,
};
use lsmkit_base::merging_iterator::MergingIterator;
use lsmkit_base::{Error, Result};
use lsmkit_sstable::{ReadOptions, TableBuilder, TableCache};
use lsmkit_version::{FileMetaData, VersionEdit};

use crate::compaction::Compaction;
use crate::compaction_filter::{CompactionFilter, FilterDecision};
use crate::level_iterator::LevelIterator;
use crate::retention::{EntryFate, Retention};

/// What a finished compaction wrote and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Input tables read.
    pub input_files: usize,
    /// Bytes of the input tables.
    pub input_bytes: u64,
    /// Entries read from the inputs.
    pub input_entries: u64,
    /// Tables written.
    pub output_files: usize,
    /// Bytes of the tables written.
    pub output_bytes: u64,
    /// Entries written.
    pub output_entries: u64,
    /// Entries dropped because a newer version of their key is seen by
    /// every reader that could see them.
    pub shadowed_entries: u64,
    /// Deletion markers dropped because nothing older is left for them to
    /// hide (including values the filter removed that needed no marker).
    pub obsolete_deletions: u64,
    /// Values the compaction filter removed.
    pub filter_removed: u64,
    /// Values the compaction filter replaced.
    pub filter_changed: u64,
}

impl CompactionStats {
    /// Entries read but not written: `input_entries − output_entries`.
    pub fn dropped_entries(&self) -> u64 {
        self.shadowed_entries + self.obsolete_deletions
    }
}

/// One table a compaction wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionOutput {
    /// Its file number.
    pub number: u64,
    /// Its length in bytes.
    pub file_size: u64,
    /// Its first internal key.
    pub smallest: Vec<u8>,
    /// Its last internal key.
    pub largest: Vec<u8>,
    /// Its number of entries.
    pub entries: u64,
}

/// The result of a successful compaction.
#[derive(Debug, Clone)]
pub struct CompactionOutcome {
    /// The change to install with `VersionSet::log_and_apply`: every input
    /// removed, every output added at the output level, the compaction
    /// pointer (if the compaction set one).
    pub edit: VersionEdit,
    /// The tables written, in key order.
    pub outputs: Vec<CompactionOutput>,
    /// Counts and bytes.
    pub stats: CompactionStats,
}

/// Runs compactions of one database. Cheap to build; holds borrowed handles.
///
/// The engine picks a [`Compaction`] under its mutex, then calls
/// [`run`](Self::run) without it, then installs the returned edit. Output
/// tables are written with the table cache's options.
pub struct CompactionJob<'a> {
    fs: &'a dyn FileSystem,
    dir: &'a Path,
    table_cache: &'a Arc<TableCache>,
    snapshots: &'a [SequenceNumber],
    filter: Option<&'a dyn CompactionFilter>,
    interrupt: Option<&'a (dyn Fn() -> Result<()> + Sync)>,
    verify_checksums: bool,
    write_mode: WriteMode,
}

impl<'a> CompactionJob<'a> {
    /// A job writing tables into `dir` through `fs` and reading the inputs
    /// through `table_cache` (whose options are also used for the outputs),
    /// with no live snapshot, no filter, checksums not verified (LevelDB
    /// verifies them only with `paranoid_checks`) and buffered writes.
    pub fn new(fs: &'a dyn FileSystem, dir: &'a Path, table_cache: &'a Arc<TableCache>) -> CompactionJob<'a> {
        CompactionJob {
            fs,
            dir,
            table_cache,
            snapshots: &[],
            filter: None,
            interrupt: None,
            verify_checksums: false,
            write_mode: WriteMode::Buffered,
        }
    }

    /// The sequence numbers of **every** live snapshot, in any order. Each
    /// keeps seeing what it saw. (Passing only the oldest, as LevelDB's rule
    /// would suggest, is not enough: versions only a newer snapshot sees
    /// could be dropped.)
    pub fn snapshots(mut self, snapshots: &'a [SequenceNumber]) -> CompactionJob<'a> {
        self.snapshots = snapshots;
        self
    }

    /// The compaction filter to consult (see [`crate::compaction_filter`]).
    pub fn filter(mut self, filter: Option<&'a dyn CompactionFilter>) -> CompactionJob<'a> {
        self.filter = filter;
        self
    }

    /// A check made before every input entry; an error stops the job (its
    /// outputs are deleted) and is returned. For shutdown, or to let the
    /// engine flush a full memtable first. Must be cheap (read an atomic).
    pub fn interrupt(mut self, interrupt: &'a (dyn Fn() -> Result<()> + Sync)) -> CompactionJob<'a> {
        self.interrupt = Some(interrupt);
        self
    }

    /// Verify the checksum of every input block read.
    pub fn verify_checksums(mut self, verify: bool) -> CompactionJob<'a> {
        self.verify_checksums = verify;
        self
    }

    /// How the output files are written.
    pub fn write_mode(mut self, mode: WriteMode) -> CompactionJob<'a> {
        self.write_mode = mode;
        self
    }

    /// Merges the inputs of `compaction` into new tables numbered by
    /// `new_file_number`, syncs them (and the directory), and returns the
    /// edit to install. On error, every table it wrote is deleted.
    ///
    /// A malformed internal key or keys out of order in the inputs are
    /// `Corruption`; so is any error reading an input table.
    pub fn run(
        &self,
        compaction: &mut Compaction,
        new_file_number: &mut dyn FnMut() -> u64,
    ) -> Result<CompactionOutcome> {
        let mut writer = OutputWriter {
            job: self,
            new_file_number,
            current: None,
            finished: Vec::new(),
            created: Vec::new(),
        };
        match self.merge(compaction, &mut writer) {
            Ok(stats) => {
                let mut edit = VersionEdit::new();
                compaction.add_input_deletions(&mut edit);
                compaction.add_compact_pointer(&mut edit);
                for output in &writer.finished {
                    edit.add_file(
                        compaction.output_level(),
                        FileMetaData::new(
                            output.number,
                            output.file_size,
                            output.smallest.clone(),
                            output.largest.clone(),
                        ),
                    );
                }
                Ok(CompactionOutcome { edit, outputs: writer.finished, stats })
            }
            Err(e) => {
                writer.discard();
                Err(e)
            }
        }
    }

    /// The merge loop; the outputs are left in `writer`.
    fn merge(
        &self,
        compaction: &mut Compaction,
        writer: &mut OutputWriter<'_, '_>,
    ) -> Result<CompactionStats> {
        let icmp = compaction.input_version().comparator().clone();
        let mut stats = CompactionStats {
            input_files: compaction.all_input_files().count(),
            input_bytes: compaction.input_bytes(),
            ..CompactionStats::default()
        };
        let mut input = self.input_iterator(compaction, &icmp)?;
        input.seek_to_first();
        let mut retention = Retention::new(self.snapshots);
        let output_level = compaction.output_level();
        let max_output_file_size = compaction.max_output_file_size();
        let mut previous_key: Option<Vec<u8>> = None;
        let mut deletion_key = Vec::new();

        while input.valid() {
            if let Some(interrupt) = self.interrupt {
                interrupt()?;
            }
            let key = input.key();
            let entry = parse_internal_key(key).map_err(|e| {
                Error::corruption(format!("compaction input holds a malformed internal key: {e}"))
            })?;
            check_order(&icmp, &mut previous_key, key)?;
            stats.input_entries += 1;

            if compaction.should_stop_before(key) && writer.current.is_some() {
                stats.add_output(writer.finish_current()?);
            }
            match retention.decide(&icmp, &entry, |user_key| compaction.is_base_level_for_key(user_key)) {
                EntryFate::Keep => {}
                EntryFate::Shadowed => {
                    stats.shadowed_entries += 1;
                    input.next();
                    continue;
                }
                EntryFate::ObsoleteDeletion => {
                    stats.obsolete_deletions += 1;
                    input.next();
                    continue;
                }
            }

            let mut out_key = key;
            let mut out_value = input.value();
            let changed_value;
            // Only values no snapshot can see are offered to the filter.
            let filter = match self.filter {
                Some(f)
                    if entry.kind == ValueKind::Value && retention.above_every_snapshot(entry.sequence) =>
                {
                    Some(f)
                }
                _ => None,
            };
            if let Some(filter) = filter {
                match filter.filter(output_level, entry.user_key, out_value) {
                    FilterDecision::Keep => {}
                    FilterDecision::ChangeValue(value) => {
                        stats.filter_changed += 1;
                        changed_value = value;
                        out_value = &changed_value;
                    }
                    FilterDecision::Remove => {
                        stats.filter_removed += 1;
                        if retention.in_bottom_stripe(entry.sequence)
                            && compaction.is_base_level_for_key(entry.user_key)
                        {
                            stats.obsolete_deletions += 1;
                            input.next();
                            continue;
                        }
                        deletion_key.clear();
                        append_internal_key(
                            &mut deletion_key,
                            entry.user_key,
                            entry.sequence,
                            ValueKind::Deletion,
                        );
                        out_key = &deletion_key;
                        out_value = &[];
                    }
                }
            }

            writer.add(out_key, out_value)?;
            stats.output_entries += 1;
            if writer.current_size() >= max_output_file_size {
                stats.add_output(writer.finish_current()?);
            }
            input.next();
        }
        input.status()?;
        if writer.current.is_some() {
            stats.add_output(writer.finish_current()?);
        }
        if !writer.finished.is_empty() {
            self.fs.sync_dir(self.dir)?;
        }
        Ok(stats)
    }

    /// One iterator over every input: a table iterator per level-0 file,
    /// a [`LevelIterator`] per deeper level.
    fn input_iterator(
        &self,
        compaction: &Compaction,
        icmp: &InternalKeyComparator,
    ) -> Result<MergingIterator> {
        let read_options = ReadOptions { verify_checksums: self.verify_checksums, fill_cache: false };
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        for inputs in compaction.inputs() {
            if inputs.files.is_empty() {
                continue;
            }
            if inputs.level == 0 {
                for f in &inputs.files {
                    children.push(Box::new(self.table_cache.iter(read_options, f.number, f.file_size)?));
                }
            } else {
                let mut files = inputs.files.clone();
                files.sort_by(|a, b| icmp.compare_internal_keys(&a.smallest, &b.smallest));
                children.push(Box::new(LevelIterator::new(
                    Arc::clone(self.table_cache),
                    icmp.clone(),
                    read_options,
                    files,
                )));
            }
        }
        Ok(MergingIterator::new(Arc::new(icmp.clone()), children))
    }
}

impl CompactionStats {
    fn add_output(&mut self, file_size: u64) {
        self.output_files += 1;
        self.output_bytes += file_size;
    }
}

/// Input keys must be strictly increasing; anything else is damage.
fn check_order(icmp: &InternalKeyComparator, previous: &mut Option<Vec<u8>>, key: &[u8]) -> Result<()> {
    if let Some(previous) = previous.as_mut() {
        if icmp.compare_internal_keys(previous, key) != Ordering::Less {
            return Err(Error::corruption(format!(
                "compaction input keys out of order: '{}' after '{}'",
                key.escape_ascii(),
                previous.escape_ascii()
            )));
        }
        previous.clear();
        previous.extend_from_slice(key);
    } else {
        *previous = Some(key.to_vec());
    }
    Ok(())
}

/// The output tables of one run: the one being written and those finished.
struct OutputWriter<'j, 'n> {
    job: &'j CompactionJob<'j>,
    new_file_number: &'n mut dyn FnMut() -> u64,
    current: Option<(u64, TableBuilder)>,
    finished: Vec<CompactionOutput>,
    /// Every file number a table was created under (for cleanup).
    created: Vec<u64>,
}

impl OutputWriter<'_, '_> {
    /// Adds an entry, opening a new table first if none is open.
    fn add(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let builder = match &mut self.current {
            Some((_, builder)) => builder,
            None => {
                let number = (self.new_file_number)();
                let path = table_file_name(self.job.dir, number);
                self.created.push(number);
                let file = self.job.fs.create_writable(&path, self.job.write_mode)?;
                let options = self.job.table_cache.options().clone();
                &mut self.current.insert((number, TableBuilder::new(options, file))).1
            }
        };
        builder.add(key, value)
    }

    /// Bytes written to the open table (0 if none).
    fn current_size(&self) -> u64 {
        self.current.as_ref().map_or(0, |(_, builder)| builder.file_size())
    }

    /// Finishes and syncs the open table, checks that it opens, and
    /// returns its size.
    fn finish_current(&mut self) -> Result<u64> {
        let Some((number, builder)) = self.current.take() else {
            return Err(Error::InvalidArgument("no compaction output is open".into()));
        };
        let summary = builder.finish(true)?;
        // LevelDB's check that the new table is usable; it also puts it in the cache.
        self.job.table_cache.find_table(number, summary.file_size)?;
        self.finished.push(CompactionOutput {
            number,
            file_size: summary.file_size,
            smallest: summary.smallest_key,
            largest: summary.largest_key,
            entries: summary.entries,
        });
        Ok(summary.file_size)
    }

    /// Abandons the open table and deletes every table written.
    fn discard(&mut self) {
        if let Some((_, builder)) = self.current.take() {
            let _ = builder.abandon();
        }
        for &number in &self.created {
            self.job.table_cache.evict(number);
            let _ = self.job.fs.remove_file(&table_file_name(self.job.dir, number));
        }
        self.finished.clear();
    }
}
