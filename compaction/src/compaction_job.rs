//! [`CompactionJob`]: runs a [`Compaction`] — merges the input tables into
//! new tables at the output level and describes the result as a
//! [`VersionEdit`] (LevelDB's `DBImpl::DoCompactionWork`, docs/format.md §6 for
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
//! Merge operands (an lsmkit extension, `lsmkit_base::merge_operator`):
//! when the newest surviving entry of a key in a snapshot stripe is an
//! operand, the job gathers the older entries of the key in the same
//! stripe. Reaching a value or a deletion, or the key's last entry when no
//! level below the output holds the key, it writes the operator's full
//! merge as a value; otherwise it writes the operands' partial merge as one
//! operand, or the operands unchanged when the operator cannot combine
//! them. Entries of different stripes are never combined, so every live
//! snapshot reads what it read before. A merge the operator refuses keeps
//! the entries unchanged (reads then report the corruption).
//! The chain logic lives in [`crate::merge_chain`], which memtable flushes
//! share ([`crate::FlushCombiner`]).
//!
//! Range tombstones (an lsmkit extension, docs/format-extensions.md, "Range
//! deletions"): the inputs' tombstones are gathered, fragmented, and cut to
//! the compaction's (or subcompaction's) key range. A point entry covered
//! by a tombstone of the same snapshot stripe is dropped; a merge chain
//! ends at such an entry as at a deletion. Of the tombstones of one
//! fragment only the newest of each stripe is kept, and the bottom
//! stripe's is dropped when no level below the output holds a key of the
//! fragment. The kept tombstones go to the outputs, each output taking
//! those in [its cut point, the next output's cut point), so that outputs
//! of one level never overlap; with tombstones, an output is only cut
//! between two user keys.
//!
//! Subcompactions (RocksDB's `max_subcompactions`): with
//! [`max_subcompactions`](CompactionJob::max_subcompactions) above 1, a
//! large compaction's user-key range is split at input-file boundaries into
//! disjoint ranges, each merged on its own thread with its own outputs and
//! its own grandparent-cut state; all versions of one user key always fall
//! in the same range, so every range applies the same retention rules the
//! single merge would. The outputs of all ranges, in key order, form one
//! edit.
//!
//! The job is deterministic: the same inputs, options, snapshots, filter
//! and file numbers give byte-identical outputs. With several
//! subcompactions the entries written and the cut points are still the
//! same from run to run, but which range gets which file number depends on
//! thread timing.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError};

use lsmkit_base::filename::table_file_name;
use lsmkit_base::fs::{FileSystem, WriteMode};
use lsmkit_base::iterator::InternalIterator;
use lsmkit_base::key::{
    append_internal_key, parse_internal_key, InternalKeyComparator, SequenceNumber, ValueKind,
    MAX_SEQUENCE_NUMBER, VALUE_KIND_FOR_SEEK,
};
use lsmkit_base::merge_operator::MergeOperator;
use lsmkit_base::merging_iterator::MergingIterator;
use lsmkit_base::range_tombstone::{table_bounds, FragmentedRangeTombstones, RangeTombstone};
use lsmkit_base::{Error, Result};
use lsmkit_sstable::{ReadOptions, TableBuilder, TableCache};
use lsmkit_version::{FileMetaData, VersionEdit};

use crate::compaction::Compaction;
use crate::compaction_filter::{CompactionFilter, FilterDecision};
use crate::level_iterator::LevelIterator;
use crate::merge_chain::{check_order, collapse, ChainContext, RangeDeletedPredicate};
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
    /// Entries combined into another by the merge operator (operands, and
    /// the values or deletion markers a full merge consumed).
    pub merged_entries: u64,
    /// Entries dropped because a range tombstone of their snapshot stripe
    /// covers them.
    pub range_deleted_entries: u64,
    /// Range tombstone entries written to the outputs.
    pub output_range_tombstones: u64,
}

impl CompactionStats {
    /// Entries read but not written: `input_entries − output_entries`.
    pub fn dropped_entries(&self) -> u64 {
        self.shadowed_entries + self.obsolete_deletions + self.merged_entries + self.range_deleted_entries
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
    merge_operator: Option<&'a dyn MergeOperator>,
    interrupt: Option<&'a (dyn Fn() -> Result<()> + Sync)>,
    verify_checksums: bool,
    write_mode: WriteMode,
    max_subcompactions: usize,
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
            merge_operator: None,
            interrupt: None,
            verify_checksums: false,
            write_mode: WriteMode::Buffered,
            max_subcompactions: 1,
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

    /// The merge operator that combines merge operands (see the module
    /// documentation). Without one, a merge operand in the inputs is
    /// `Corruption`.
    pub fn merge_operator(mut self, operator: Option<&'a dyn MergeOperator>) -> CompactionJob<'a> {
        self.merge_operator = operator;
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

    /// Up to `n` threads for one compaction (default 1; 0 counts as 1).
    /// A compaction is split only when its inputs are more than twice the
    /// output file size and span several files; each range then gets at
    /// least about one output file's worth of input. The interrupt hook and
    /// the filter are called from every thread.
    pub fn max_subcompactions(mut self, n: usize) -> CompactionJob<'a> {
        self.max_subcompactions = n.max(1);
        self
    }

    /// Merges the inputs of `compaction` into new tables numbered by
    /// `new_file_number`, syncs them (and the directory), and returns the
    /// edit to install. On error, every table it wrote is deleted.
    ///
    /// With subcompactions (see
    /// [`max_subcompactions`](Self::max_subcompactions)) the job's threads
    /// take file numbers from `new_file_number` one at a time, behind a lock.
    ///
    /// A malformed internal key or keys out of order in the inputs are
    /// `Corruption`; so is any error reading an input table.
    pub fn run(
        &self,
        compaction: &mut Compaction,
        new_file_number: &mut (dyn FnMut() -> u64 + Send),
    ) -> Result<CompactionOutcome> {
        let numbers = Mutex::new(new_file_number);
        let next_number = || {
            let mut allocate = numbers.lock().unwrap_or_else(PoisonError::into_inner);
            (*allocate)()
        };
        let created = Mutex::new(Vec::new());
        let ranges = self.split_ranges(compaction);
        let merged = if ranges.len() <= 1 {
            let mut writer = OutputWriter::new(self, &next_number, &created);
            let result = self.merge(compaction, &KeyRange::default(), &mut writer, &AtomicBool::new(false));
            writer.abandon_current();
            result.map(|stats| (stats, writer.finished))
        } else {
            self.run_subcompactions(compaction, &ranges, &next_number, &created)
        };
        let result = merged.and_then(|(merged_stats, outputs)| {
            if !outputs.is_empty() {
                self.fs.sync_dir(self.dir)?;
            }
            Ok((merged_stats, outputs))
        });
        match result {
            Ok((merged_stats, outputs)) => {
                let stats = CompactionStats {
                    input_files: compaction.all_input_files().count(),
                    input_bytes: compaction.input_bytes(),
                    ..merged_stats
                };
                let mut edit = VersionEdit::new();
                compaction.add_input_deletions(&mut edit);
                compaction.add_compact_pointer(&mut edit);
                for output in &outputs {
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
                Ok(CompactionOutcome { edit, outputs, stats })
            }
            Err(e) => {
                self.discard(&created.into_inner().unwrap_or_else(PoisonError::into_inner));
                Err(e)
            }
        }
    }

    /// Merges each of `ranges` (in key order, disjoint) on its own thread,
    /// each with a fresh copy of `compaction`'s output-cutting state, and
    /// returns the summed counts and every output in key order. The first
    /// range to fail stops the others and its error is returned; a panic
    /// in a range is resumed here once every thread has ended and every
    /// table in `created` is deleted.
    fn run_subcompactions(
        &self,
        compaction: &Compaction,
        ranges: &[KeyRange],
        next_number: &(dyn Fn() -> u64 + Sync),
        created: &Mutex<Vec<u64>>,
    ) -> Result<(CompactionStats, Vec<CompactionOutput>)> {
        let stop = AtomicBool::new(false);
        let joined: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|range| {
                    let mut piece = compaction.fork();
                    let stop = &stop;
                    scope.spawn(move || {
                        let mut writer = OutputWriter::new(self, next_number, created);
                        let result = self.merge(&mut piece, range, &mut writer, stop);
                        writer.abandon_current();
                        // Only the first failure is reported; the others
                        // may just be reactions to the stop flag.
                        let first_failure = result.is_err() && !stop.swap(true, AtomicOrdering::Relaxed);
                        (result, first_failure, writer.finished)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        let mut total = CompactionStats::default();
        let mut outputs = Vec::new();
        let mut error = None;
        let mut panic = None;
        for piece in joined {
            match piece {
                Ok((Ok(stats), _, finished)) => {
                    total.merge(&stats);
                    outputs.extend(finished);
                }
                Ok((Err(e), first_failure, _)) => {
                    if first_failure || error.is_none() {
                        error = Some(e);
                    }
                }
                Err(payload) => panic = Some(payload),
            }
        }
        if let Some(payload) = panic {
            self.discard(&created.lock().unwrap_or_else(PoisonError::into_inner));
            std::panic::resume_unwind(payload);
        }
        match error {
            Some(e) => Err(e),
            None => Ok((total, outputs)),
        }
    }

    /// Deletes the tables numbered `created` (a failed job's outputs).
    fn discard(&self, created: &[u64]) {
        for &number in created {
            self.table_cache.evict(number);
            let _ = self.fs.remove_file(&table_file_name(self.dir, number));
        }
    }

    /// The key ranges to merge separately: the whole range unless
    /// subcompactions are allowed and the compaction is big enough.
    /// Boundaries are the smallest and largest user keys of the input
    /// files; each file's bytes are spread evenly over the gaps between
    /// the boundaries it spans, and the ranges get about equal shares.
    /// With [aligned cuts](Compaction::with_aligned_cuts) each boundary
    /// chosen moves to the start of a grandparent file (the next one, or
    /// the previous one when no later one starts before the last input
    /// key), so that no grandparent straddles the cut between two ranges.
    fn split_ranges(&self, compaction: &Compaction) -> Vec<KeyRange> {
        let whole = vec![KeyRange::default()];
        let max_output = compaction.max_output_file_size().max(1);
        let total = compaction.input_bytes();
        if self.max_subcompactions <= 1 || total <= max_output.saturating_mul(2) {
            return whole;
        }
        let icmp = compaction.input_version().comparator();
        let files: Vec<&Arc<FileMetaData>> = compaction.all_input_files().map(|(_, f)| f).collect();
        if files.len() < 2 {
            return whole;
        }
        let mut points: Vec<&[u8]> =
            files.iter().flat_map(|f| [f.smallest_user_key(), f.largest_user_key()]).collect();
        points.sort_by(|a, b| icmp.compare_user_keys(a, b));
        points.dedup_by(|a, b| icmp.compare_user_keys(a, b) == Ordering::Equal);
        let gaps = points.len().saturating_sub(1);
        // Each range should get at least about one output file of input.
        let wanted = (self.max_subcompactions as u64).min(total / max_output) as usize;
        let count = wanted.min(gaps);
        if count < 2 {
            return whole;
        }
        let position =
            |key: &[u8]| points.partition_point(|p| icmp.compare_user_keys(p, key) == Ordering::Less);
        let mut weight = vec![0f64; gaps];
        for f in &files {
            let (first, last) = (position(f.smallest_user_key()), position(f.largest_user_key()));
            if last > first {
                let share = f.file_size as f64 / (last - first) as f64;
                weight[first..last].iter_mut().for_each(|w| *w += share);
            } else {
                weight[first.min(gaps - 1)] += f.file_size as f64;
            }
        }
        let total_weight: f64 = weight.iter().sum();
        let grandparents = if compaction.aligned_cuts() { compaction.grandparents() } else { &[] };
        let (first_point, last_point) = (points[0], points[gaps]);
        // The first grandparent start at or after `key` if it is before the
        // last input key, else the last one before `key` if it is after the
        // first input key: a cut there leaves input keys on both sides.
        let aligned = |key: &[u8]| -> Option<&[u8]> {
            let index = grandparents
                .partition_point(|g| icmp.compare_user_keys(g.smallest_user_key(), key) == Ordering::Less);
            let forward = grandparents
                .get(index)
                .map(|g| g.smallest_user_key())
                .filter(|start| icmp.compare_user_keys(start, last_point) == Ordering::Less);
            let backward = || {
                index
                    .checked_sub(1)
                    .map(|i| grandparents[i].smallest_user_key())
                    .filter(|start| icmp.compare_user_keys(start, first_point) == Ordering::Greater)
            };
            forward.or_else(backward)
        };
        let mut ranges = Vec::with_capacity(count);
        let mut start: Option<Vec<u8>> = None;
        let mut accumulated = 0.0;
        // A cut at points[i + 1] (i + 1 < gaps) leaves at least one
        // boundary key, so some input entry, on each side. Moved to a
        // grandparent start it keeps the first point on its left and the
        // last on its right, but a range between two moved cuts may hold no
        // entry; it then merges to nothing.
        for (i, w) in weight.iter().enumerate().take(gaps - 1) {
            accumulated += w;
            let target = total_weight * (ranges.len() + 1) as f64 / count as f64;
            if ranges.len() + 1 < count && accumulated >= target {
                let cut = aligned(points[i + 1]).unwrap_or(points[i + 1]).to_vec();
                if start.as_deref().is_some_and(|s| icmp.compare_user_keys(&cut, s) != Ordering::Greater) {
                    continue; // Moved onto the previous cut: one range fewer.
                }
                ranges.push(KeyRange { start: start.take(), end: Some(cut.clone()) });
                start = Some(cut);
            }
        }
        ranges.push(KeyRange { start, end: None });
        ranges
    }

    /// The merge loop over the user keys of `range`; the outputs are left
    /// in `writer`. Returns the counts of this range (without the input
    /// file totals).
    fn merge(
        &self,
        compaction: &mut Compaction,
        range: &KeyRange,
        writer: &mut OutputWriter<'_>,
        stop: &AtomicBool,
    ) -> Result<CompactionStats> {
        let icmp = compaction.input_version().comparator().clone();
        let mut stats = CompactionStats::default();
        let mut input = self.input_iterator(compaction, range, &icmp)?;
        let mut retention = Retention::new(self.snapshots);
        let tombstones = self.input_tombstones(compaction, range, &icmp)?;
        if let Some(tombstones) = &tombstones {
            writer.start_range_tombstones(
                &icmp,
                self.output_tombstones(compaction, tombstones, &retention),
                range,
            );
        }
        let tombstones = tombstones.as_ref();
        match &range.start {
            Some(start) => {
                let mut target = Vec::with_capacity(start.len() + 8);
                append_internal_key(&mut target, start, MAX_SEQUENCE_NUMBER, VALUE_KIND_FOR_SEEK);
                input.seek(&target);
            }
            None => input.seek_to_first(),
        }
        let output_level = compaction.output_level();
        let max_output_file_size = compaction.max_output_file_size();
        let mut previous_key: Option<Vec<u8>> = None;
        let mut deletion_key = Vec::new();

        while input.valid() {
            if stop.load(AtomicOrdering::Relaxed) {
                return Err(Error::InvalidArgument("subcompaction stopped: another one failed".into()));
            }
            if let Some(interrupt) = self.interrupt {
                interrupt()?;
            }
            let key = input.key();
            let entry = parse_internal_key(key).map_err(|e| {
                Error::corruption(format!("compaction input holds a malformed internal key: {e}"))
            })?;
            if !range.holds_below_end(&icmp, entry.user_key) {
                break;
            }
            check_order(&icmp, &mut previous_key, key)?;
            stats.input_entries += 1;

            if compaction.should_stop_before(key, writer.current_size()) && writer.current.is_some() {
                writer.cut_before(entry.user_key)?;
            }
            match retention.decide(&icmp, &entry, |user_key| compaction.is_base_level_for_key(user_key)) {
                EntryFate::Keep
                    if tombstones.is_some_and(|t| {
                        covered_in_stripe(t, &retention, entry.user_key, entry.sequence, None)
                    }) =>
                {
                    stats.range_deleted_entries += 1;
                    input.next();
                    continue;
                }
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

            if entry.kind == ValueKind::Merge {
                let Some(operator) = self.merge_operator else {
                    return Err(Error::corruption(format!(
                        "compaction input holds a merge operand for key '{}' but the job has no merge operator",
                        entry.user_key.escape_ascii()
                    )));
                };
                let key = key.to_vec();
                let nothing_older = |user_key: &[u8]| compaction.is_base_level_for_key(user_key);
                let range_deleted = |user_key: &[u8], entry_sequence, chain_sequence| {
                    tombstones.is_some_and(|t| {
                        covered_in_stripe(t, &retention, user_key, entry_sequence, Some(chain_sequence))
                    })
                };
                let cx = ChainContext {
                    operator,
                    icmp: &icmp,
                    retention: &retention,
                    nothing_older: &nothing_older,
                    range_deleted: tombstones
                        .is_some()
                        .then_some(&range_deleted as &RangeDeletedPredicate<'_>),
                };
                let mut write = |k: &[u8], v: &[u8]| writer.add(k, v);
                collapse(&cx, &mut input, key, &mut previous_key, &mut stats, &mut write)?;
                if writer.current_size() >= max_output_file_size {
                    writer.cut_when_full()?;
                }
                continue;
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
                writer.cut_when_full()?;
            }
            input.next();
        }
        input.status()?;
        writer.finish_range()?;
        for output in &writer.finished {
            stats.add_output(output.file_size);
        }
        stats.output_range_tombstones = writer.range_tombstones_written;
        Ok(stats)
    }

    /// The range tombstones of the input files that overlap `range`,
    /// fragmented and cut to it (`None` when there are none).
    fn input_tombstones(
        &self,
        compaction: &Compaction,
        range: &KeyRange,
        icmp: &InternalKeyComparator,
    ) -> Result<Option<FragmentedRangeTombstones>> {
        let mut all: Vec<RangeTombstone> = Vec::new();
        for (_, f) in compaction.all_input_files() {
            if !range.overlaps(icmp, f) {
                continue;
            }
            if let Some(t) = self.table_cache.range_tombstones(f.number, f.file_size)? {
                all.extend(t.tombstones());
            }
        }
        if all.is_empty() {
            return Ok(None);
        }
        let list = FragmentedRangeTombstones::new(all, Arc::clone(icmp.user_comparator()))
            .truncated(range.start.as_deref(), range.end.as_deref());
        Ok((!list.is_empty()).then_some(list))
    }

    /// The tombstones the outputs keep: per fragment, the newest of each
    /// snapshot stripe, except the bottom stripe's when nothing below the
    /// output level can hold a key of the fragment.
    fn output_tombstones(
        &self,
        compaction: &Compaction,
        tombstones: &FragmentedRangeTombstones,
        retention: &Retention,
    ) -> FragmentedRangeTombstones {
        tombstones.map_sequences(|f| {
            let mut kept: Vec<SequenceNumber> = Vec::new();
            for &s in &f.sequences {
                // Descending: the first of each stripe is its newest.
                if kept.last().is_some_and(|&k| retention.same_stripe(k, s)) {
                    continue;
                }
                kept.push(s);
            }
            if kept.last().is_some_and(|&s| retention.in_bottom_stripe(s))
                && compaction.is_base_level_for_range(&f.start, &f.end)
            {
                kept.pop();
            }
            kept
        })
    }

    /// One iterator over the inputs that overlap `range`: a table iterator
    /// per level-0 file, a [`LevelIterator`] per deeper level.
    fn input_iterator(
        &self,
        compaction: &Compaction,
        range: &KeyRange,
        icmp: &InternalKeyComparator,
    ) -> Result<MergingIterator> {
        let read_options = ReadOptions { verify_checksums: self.verify_checksums, fill_cache: false };
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        for inputs in compaction.inputs() {
            let mut files: Vec<Arc<FileMetaData>> =
                inputs.files.iter().filter(|f| range.overlaps(icmp, f)).cloned().collect();
            if files.is_empty() {
                continue;
            }
            if inputs.level == 0 {
                for f in &files {
                    children.push(Box::new(self.table_cache.iter(read_options, f.number, f.file_size)?));
                }
            } else {
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

/// A range of user keys, `start` included, `end` excluded; `None` is
/// unbounded. The default is every key.
#[derive(Debug, Clone, Default)]
struct KeyRange {
    start: Option<Vec<u8>>,
    end: Option<Vec<u8>>,
}

impl KeyRange {
    /// True when `file`'s user-key range meets this one.
    fn overlaps(&self, icmp: &InternalKeyComparator, file: &FileMetaData) -> bool {
        self.start
            .as_deref()
            .is_none_or(|start| icmp.compare_user_keys(file.largest_user_key(), start) != Ordering::Less)
            && self.holds_below_end(icmp, file.smallest_user_key())
    }

    /// True when `user_key` is below `end`.
    fn holds_below_end(&self, icmp: &InternalKeyComparator, user_key: &[u8]) -> bool {
        self.end.as_deref().is_none_or(|end| icmp.compare_user_keys(user_key, end) == Ordering::Less)
    }
}

impl CompactionStats {
    fn add_output(&mut self, file_size: u64) {
        self.output_files += 1;
        self.output_bytes += file_size;
    }

    /// Adds the per-range counts of `other` (not the input-file totals).
    fn merge(&mut self, other: &CompactionStats) {
        self.input_entries += other.input_entries;
        self.output_files += other.output_files;
        self.output_bytes += other.output_bytes;
        self.output_entries += other.output_entries;
        self.shadowed_entries += other.shadowed_entries;
        self.obsolete_deletions += other.obsolete_deletions;
        self.filter_removed += other.filter_removed;
        self.filter_changed += other.filter_changed;
        self.merged_entries += other.merged_entries;
        self.range_deleted_entries += other.range_deleted_entries;
        self.output_range_tombstones += other.output_range_tombstones;
    }
}

/// True when a tombstone of `tombstones` covering `user_key` has a sequence
/// above `sequence` in the same snapshot stripe (and below `below`, when
/// given): every reader that could see the entry sees the tombstone.
fn covered_in_stripe(
    tombstones: &FragmentedRangeTombstones,
    retention: &Retention,
    user_key: &[u8],
    sequence: SequenceNumber,
    below: Option<SequenceNumber>,
) -> bool {
    tombstones.covering(user_key).is_some_and(|f| {
        f.sequences
            .iter()
            .any(|&t| t > sequence && below.is_none_or(|b| t < b) && retention.same_stripe(t, sequence))
    })
}

/// The output tables of one merge (the whole compaction or one
/// subcompaction): the one being written and those finished.
struct OutputWriter<'j> {
    job: &'j CompactionJob<'j>,
    new_file_number: &'j (dyn Fn() -> u64 + Sync),
    /// Every file number a table was created under, over all ranges of the
    /// job (for cleanup).
    created: &'j Mutex<Vec<u64>>,
    current: Option<(u64, TableBuilder)>,
    finished: Vec<CompactionOutput>,
    /// With range tombstones: where and what the outputs take.
    tombstones: Option<OutputTombstones>,
    /// Range tombstone entries written.
    range_tombstones_written: u64,
}

/// The range tombstones the outputs of one range share out.
struct OutputTombstones {
    icmp: InternalKeyComparator,
    list: FragmentedRangeTombstones,
    /// The cut point the current (or next) output starts at.
    lower: Option<Vec<u8>>,
    /// The end of the range (exclusive).
    range_end: Option<Vec<u8>>,
    /// The current output is full: close it before the next user key.
    cut_pending: bool,
    /// The user key of the last entry added.
    last_user_key: Vec<u8>,
}

impl<'j> OutputWriter<'j> {
    fn new(
        job: &'j CompactionJob<'j>,
        new_file_number: &'j (dyn Fn() -> u64 + Sync),
        created: &'j Mutex<Vec<u64>>,
    ) -> OutputWriter<'j> {
        OutputWriter {
            job,
            new_file_number,
            created,
            current: None,
            finished: Vec::new(),
            tombstones: None,
            range_tombstones_written: 0,
        }
    }

    /// Shares `list` (already cut to `range`) out over the outputs.
    fn start_range_tombstones(
        &mut self,
        icmp: &InternalKeyComparator,
        list: FragmentedRangeTombstones,
        range: &KeyRange,
    ) {
        self.tombstones = Some(OutputTombstones {
            icmp: icmp.clone(),
            list,
            lower: range.start.clone(),
            range_end: range.end.clone(),
            cut_pending: false,
            last_user_key: Vec::new(),
        });
    }

    /// The open output passed the size limit: close it now, or, with range
    /// tombstones, before the next user key.
    fn cut_when_full(&mut self) -> Result<()> {
        match &mut self.tombstones {
            Some(t) => {
                t.cut_pending = true;
                Ok(())
            }
            None => self.finish_current(None),
        }
    }

    /// The grandparent rule asks to close the open output before an entry
    /// of `user_key`; with range tombstones only between user keys.
    fn cut_before(&mut self, user_key: &[u8]) -> Result<()> {
        match &self.tombstones {
            Some(t) if t.last_user_key == user_key => Ok(()),
            Some(_) => self.finish_current(Some(user_key)),
            None => self.finish_current(None),
        }
    }

    /// Closes the last output of the range; writes one holding only range
    /// tombstones if some are left for no output.
    fn finish_range(&mut self) -> Result<()> {
        let end = self.tombstones.as_ref().and_then(|t| t.range_end.clone());
        if self.current.is_some() {
            return self.finish_current(end.as_deref());
        }
        let Some(t) = &self.tombstones else { return Ok(()) };
        if t.list.truncated(t.lower.as_deref(), end.as_deref()).is_empty() {
            return Ok(());
        }
        self.open()?;
        self.finish_current(end.as_deref())
    }

    /// Opens a new output table.
    fn open(&mut self) -> Result<()> {
        let number = (self.new_file_number)();
        let path = table_file_name(self.job.dir, number);
        self.created.lock().unwrap_or_else(PoisonError::into_inner).push(number);
        let file = self.job.fs.create_writable(&path, self.job.write_mode)?;
        let options = self.job.table_cache.options().clone();
        self.current = Some((number, TableBuilder::new(options, file)));
        Ok(())
    }

    /// Adds an entry, opening a new table first if none is open.
    #[inline(always)]
    fn add(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if let Some(t) = &mut self.tombstones {
            let user_key = lsmkit_base::key::extract_user_key(key);
            if t.cut_pending && self.current.is_some() && t.last_user_key != user_key {
                t.cut_pending = false;
                let user_key = user_key.to_vec();
                self.finish_current(Some(&user_key))?;
            }
            let t = self.tombstones.as_mut().expect("tombstones");
            t.last_user_key.clear();
            t.last_user_key.extend_from_slice(user_key);
        }
        let builder = match &mut self.current {
            Some((_, builder)) => builder,
            None => {
                self.open()?;
                &mut self.current.as_mut().expect("just opened").1
            }
        };
        builder.add(key, value)
    }

    /// Bytes written to the open table (0 if none).
    fn current_size(&self) -> u64 {
        self.current.as_ref().map_or(0, |(_, builder)| builder.file_size())
    }

    /// Finishes and syncs the open table, checks that it opens, and adds
    /// it to `finished`. With range tombstones it takes those from the
    /// last cut point up to `upper` (the next output's first user key, or
    /// the range's end), and its bounds cover them.
    fn finish_current(&mut self, upper: Option<&[u8]>) -> Result<()> {
        let Some((number, mut builder)) = self.current.take() else {
            return Err(Error::InvalidArgument("no compaction output is open".into()));
        };
        let mut own_tombstones = None;
        if let Some(t) = &mut self.tombstones {
            let list = t.list.truncated(t.lower.as_deref(), upper);
            t.lower = upper.map(<[u8]>::to_vec);
            t.cut_pending = false;
            builder.set_range_tombstones(&list);
            own_tombstones = Some(list);
        }
        let summary = builder.finish(true)?;
        // LevelDB's check that the new table is usable; it also puts it in the cache.
        self.job.table_cache.find_table(number, summary.file_size)?;
        self.range_tombstones_written += summary.range_tombstones;
        let points = (summary.entries > 0).then_some((summary.smallest_key, summary.largest_key));
        let bounds = match (&self.tombstones, &own_tombstones) {
            (Some(t), Some(list)) => table_bounds(&t.icmp, points, list),
            _ => points,
        };
        let (smallest, largest) = bounds.unwrap_or_default();
        self.finished.push(CompactionOutput {
            number,
            file_size: summary.file_size,
            smallest,
            largest,
            entries: summary.entries,
        });
        Ok(())
    }

    /// Closes the open table, if any, without finishing it (after an
    /// error; the job then deletes every table it created).
    fn abandon_current(&mut self) {
        if let Some((_, builder)) = self.current.take() {
            let _ = builder.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compaction::{CompactionInputs, CompactionReason};
    use crate::test_versions::{sized_file, version};
    use lsmkit_base::comparator::BytewiseComparator;
    use lsmkit_base::fs::MemFs;
    use lsmkit_sstable::TableOptions;

    /// The ranges `threads` subcompactions get for a compaction of level 0
    /// and level 1 of `levels` into level 1, outputs of 1000 bytes.
    fn ranges(levels: Vec<(usize, Vec<Arc<FileMetaData>>)>, threads: usize) -> Vec<KeyRange> {
        let v = version(levels);
        let compaction = Compaction::new(
            Arc::clone(&v),
            CompactionReason::Size,
            vec![
                CompactionInputs { level: 0, files: v.files(0).to_vec() },
                CompactionInputs { level: 1, files: v.files(1).to_vec() },
            ],
            1,
            Vec::new(),
            1000,
            None,
        );
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        let options = TableOptions::for_internal_keys(BytewiseComparator::shared(), None);
        let cache = Arc::new(TableCache::new(Arc::clone(&fs), Path::new("/db"), options, 10));
        CompactionJob::new(fs.as_ref(), Path::new("/db"), &cache)
            .max_subcompactions(threads)
            .split_ranges(&compaction)
    }

    fn text(key: &Option<Vec<u8>>) -> Option<&str> {
        key.as_deref().map(|k| std::str::from_utf8(k).unwrap())
    }

    fn bounds(ranges: &[KeyRange]) -> Vec<(Option<&str>, Option<&str>)> {
        ranges.iter().map(|r| (text(&r.start), text(&r.end))).collect()
    }

    #[test]
    fn large_compactions_split_at_file_boundaries_by_bytes() {
        let levels = || {
            vec![
                (0, vec![sized_file(1, "a", "z", 4000)]),
                (
                    1,
                    vec![
                        sized_file(2, "a", "c", 5000),
                        sized_file(3, "d", "f", 5000),
                        sized_file(4, "g", "i", 5000),
                        sized_file(5, "j", "l", 5000),
                    ],
                ),
            ]
        };
        assert_eq!(bounds(&ranges(levels(), 1)), [(None, None)]);
        let four = ranges(levels(), 4);
        assert_eq!(
            bounds(&four),
            [(None, Some("d")), (Some("d"), Some("g")), (Some("g"), Some("j")), (Some("j"), None)]
        );
        // Two threads: the middle by bytes.
        assert_eq!(bounds(&ranges(levels(), 2)), [(None, Some("g")), (Some("g"), None)]);
        // More threads than boundaries: one range per gap at most.
        assert!(ranges(levels(), 64).len() <= 9);
    }

    #[test]
    fn small_or_unsplittable_compactions_stay_whole() {
        // Input not above twice the output size.
        let small = vec![(0, vec![sized_file(1, "a", "m", 1000)]), (1, vec![sized_file(2, "n", "z", 1000)])];
        assert_eq!(bounds(&ranges(small, 4)), [(None, None)]);
        // One user key only: nothing to split at.
        let one_key = vec![(0, vec![sized_file(1, "k", "k", 5000), sized_file(2, "k", "k", 5000)])];
        assert_eq!(bounds(&ranges(one_key, 4)), [(None, None)]);
        // Each range gets at least one output file's worth: 2500 bytes → 2.
        let two = vec![(0, vec![sized_file(1, "a", "m", 1250)]), (1, vec![sized_file(2, "n", "z", 1250)])];
        assert_eq!(ranges(two, 4).len(), 2);
    }
}
