//! The [`Picker`] trait: what to compact next, chosen from a Version.
//! Two implementations: [`LeveledPicker`] (LevelDB 1.23's rules, docs/format.md
//! §11) and [`TieredPicker`] (size-tiered, for write-heavy use); the option
//! [`CompactionStyle`] chooses one, [`PickerOptions`] tunes it.
//! [`ManualCompaction`] drives a manual range compaction piece by piece.
//! [`BusyFiles`] describes the compactions already running, so that several
//! can run at once without touching the same files or key ranges.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use lsmkit_base::key::{extract_user_key, InternalKeyComparator};
use lsmkit_version::config::{DEFAULT_MAX_FILE_SIZE, L0_COMPACTION_TRIGGER};
use lsmkit_version::{CompactPointers, Version, NUM_LEVELS};

use crate::compaction::Compaction;
use crate::key_ranges::key_range;
use crate::leveled_picker::LeveledPicker;
use crate::tiered_picker::{TieredOptions, TieredPicker};

/// What the running compactions hold: the numbers of their input files, and
/// per level the user-key ranges their outputs are being written into (the
/// range of all of a compaction's inputs, at its output level).
///
/// The engine [`add`](Self::add)s a compaction when it starts it and
/// [`remove`](Self::remove)s it when its edit is installed (or it failed).
/// A pick given a `BusyFiles` never takes a busy file and never writes into
/// a level range a running compaction writes into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusyFiles {
    /// Input file number → how many running compactions hold it (one, unless misused).
    files: HashMap<u64, usize>,
    /// Per level, the inclusive user-key ranges being written there.
    outputs: [Vec<(Vec<u8>, Vec<u8>)>; NUM_LEVELS],
}

impl BusyFiles {
    /// No compaction running.
    pub fn new() -> BusyFiles {
        BusyFiles::default()
    }

    /// True when nothing is busy.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.outputs.iter().all(Vec::is_empty)
    }

    /// Marks `compaction`'s inputs busy and its output range (the user keys
    /// of all its inputs) as being written at its output level.
    pub fn add(&mut self, compaction: &Compaction) {
        for (_, f) in compaction.all_input_files() {
            self.add_file(f.number);
        }
        if let Some((smallest, largest)) = compaction.user_key_range() {
            self.add_output_range(compaction.output_level(), smallest, largest);
        }
    }

    /// Undoes [`add`](Self::add) for the same compaction.
    pub fn remove(&mut self, compaction: &Compaction) {
        for (_, f) in compaction.all_input_files() {
            self.remove_file(f.number);
        }
        if let Some((smallest, largest)) = compaction.user_key_range() {
            self.remove_output_range(compaction.output_level(), smallest, largest);
        }
    }

    /// Marks table `number` as an input of a running compaction.
    pub fn add_file(&mut self, number: u64) {
        *self.files.entry(number).or_insert(0) += 1;
    }

    /// Undoes one [`add_file`](Self::add_file) of `number`.
    pub fn remove_file(&mut self, number: u64) {
        if let Some(count) = self.files.get_mut(&number) {
            *count -= 1;
            if *count == 0 {
                self.files.remove(&number);
            }
        }
    }

    /// Records that a running compaction writes user keys
    /// `[smallest, largest]` into `level` (levels ≥ [`NUM_LEVELS`] are ignored).
    pub fn add_output_range(&mut self, level: usize, smallest: &[u8], largest: &[u8]) {
        if let Some(ranges) = self.outputs.get_mut(level) {
            ranges.push((smallest.to_vec(), largest.to_vec()));
        }
    }

    /// Undoes one [`add_output_range`](Self::add_output_range) with the same arguments.
    pub fn remove_output_range(&mut self, level: usize, smallest: &[u8], largest: &[u8]) {
        if let Some(ranges) = self.outputs.get_mut(level) {
            if let Some(i) = ranges.iter().position(|(s, l)| s == smallest && l == largest) {
                ranges.swap_remove(i);
            }
        }
    }

    /// True when table `number` is an input of a running compaction.
    pub fn contains_file(&self, number: u64) -> bool {
        self.files.contains_key(&number)
    }

    /// The number of busy input files.
    pub fn num_files(&self) -> usize {
        self.files.len()
    }

    /// True when a running compaction writes into `level` somewhere in user
    /// keys `[smallest, largest]`.
    pub fn writes_into(
        &self,
        icmp: &InternalKeyComparator,
        level: usize,
        smallest: &[u8],
        largest: &[u8],
    ) -> bool {
        self.outputs.get(level).is_some_and(|ranges| {
            ranges.iter().any(|(s, l)| {
                icmp.compare_user_keys(smallest, l) != Ordering::Greater
                    && icmp.compare_user_keys(s, largest) != Ordering::Greater
            })
        })
    }

    /// True when `compaction` would take a busy file or write into a range
    /// a running compaction writes into at the same level.
    pub fn conflicts_with(&self, compaction: &Compaction) -> bool {
        if compaction.all_input_files().any(|(_, f)| self.contains_file(f.number)) {
            return true;
        }
        let icmp = compaction.input_version().comparator();
        compaction.user_key_range().is_some_and(|(smallest, largest)| {
            self.writes_into(icmp, compaction.output_level(), smallest, largest)
        })
    }
}

/// How a picker is tuned (the engine's options of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickerOptions {
    /// LevelDB's `max_file_size`: compaction outputs are cut at about this
    /// many bytes, and it scales the grandparent and expansion limits.
    pub max_file_size: u64,
    /// A leveled compaction of level 0 is wanted once level 0 holds this
    /// many files (its score is files / this; LevelDB's constant is 4; at
    /// least 1). The tiered picker has its own trigger
    /// ([`TieredOptions::run_count_trigger`]).
    pub l0_compaction_trigger: usize,
    /// Which file of a level ≥ 1 a leveled size compaction starts from
    /// (default [`CompactionPriority::RoundRobin`], LevelDB's rule).
    pub priority: CompactionPriority,
    /// Whether leveled compactions also cut outputs at the boundaries of
    /// the files below the output level (see
    /// [`Compaction::should_stop_before`]; default false, LevelDB's cuts).
    pub aligned_output_cuts: bool,
}

impl Default for PickerOptions {
    fn default() -> PickerOptions {
        PickerOptions {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            l0_compaction_trigger: L0_COMPACTION_TRIGGER,
            priority: CompactionPriority::default(),
            aligned_output_cuts: false,
        }
    }
}

/// Which file of a level ≥ 1 a leveled size compaction starts from, when
/// the level is over its size target (RocksDB's `compaction_pri`). The
/// on-disk format is the same either way: both record the level's
/// compaction pointer in the MANIFEST, as LevelDB does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompactionPriority {
    /// LevelDB 1.23's rule: the first file after the level's compaction
    /// pointer, wrapping around, so that the level is compacted in key
    /// order, round robin.
    #[default]
    RoundRobin,
    /// RocksDB's `kMinOverlappingRatio`: the file whose overlap with the
    /// next level (bytes of the next level's files its key range touches)
    /// is smallest relative to its own size, so each compaction moves the
    /// most data down per byte it rewrites. Ties go in round-robin order.
    MinOverlappingRatio,
}

/// Chooses compactions. The engine calls it under its mutex, with the
/// current Version. Several compactions may run at once: the `busy`
/// variants ([`pick_avoiding`](Self::pick_avoiding),
/// [`level_for_flush_avoiding`](Self::level_for_flush_avoiding)) take a
/// [`BusyFiles`] describing the running ones and keep clear of them; the
/// plain variants assume nothing else runs.
pub trait Picker: Send + Sync {
    /// The compaction the Version needs most, if any, assuming no other
    /// compaction is running (`pick_avoiding` with nothing busy).
    /// `compact_pointers` are the version set's (docs/format.md §10.1, tag 5);
    /// when the result has a [`compact_pointer`](Compaction::compact_pointer),
    /// the engine should record it in the version set right away, as LevelDB
    /// does, and the job also puts it in its edit.
    fn pick(&self, version: &Arc<Version>, compact_pointers: &CompactPointers) -> Option<Compaction> {
        self.pick_avoiding(version, compact_pointers, &BusyFiles::new())
    }

    /// The compaction the Version needs most that can run beside the
    /// compactions described by `busy`: it takes no busy file and writes into
    /// no range a running compaction writes into at the same level. Among the
    /// levels that need a compaction, the best-scoring one that has such a
    /// compaction is chosen (busy files do not count towards the scores).
    /// With nothing busy this is exactly LevelDB's choice.
    fn pick_avoiding(
        &self,
        version: &Arc<Version>,
        compact_pointers: &CompactPointers,
        busy: &BusyFiles,
    ) -> Option<Compaction>;

    /// One piece of a manual compaction of the user-key range `[begin, end]`
    /// (`None` = unbounded) starting at `level`, or `None` when nothing there
    /// is left to compact. A piece may cover only part of the range; see
    /// [`ManualCompaction`] for the loop that compacts all of it.
    fn pick_range(
        &self,
        version: &Arc<Version>,
        level: usize,
        begin: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Option<Compaction>;

    /// True when [`pick`](Self::pick) would return a compaction.
    fn needs_compaction(&self, version: &Version) -> bool;

    /// The level a table flushed from the memtable, holding user keys
    /// `[smallest_user_key, largest_user_key]`, should be added to, when no
    /// compaction is running.
    fn level_for_flush(&self, version: &Version, smallest_user_key: &[u8], largest_user_key: &[u8]) -> usize {
        self.level_for_flush_avoiding(version, smallest_user_key, largest_user_key, &BusyFiles::new())
    }

    /// The level for a flushed table while the compactions in `busy` run:
    /// as deep as [`level_for_flush`](Self::level_for_flush) would place it,
    /// but never at a level where a running compaction writes user keys
    /// overlapping the table's (the running compactions' inputs are still in
    /// `version`, so overlaps with them are seen there).
    fn level_for_flush_avoiding(
        &self,
        version: &Version,
        smallest_user_key: &[u8],
        largest_user_key: &[u8],
        busy: &BusyFiles,
    ) -> usize;
}

/// Which picker a database uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CompactionStyle {
    /// LevelDB's leveled compaction (the default; what LevelDB itself does).
    #[default]
    Leveled,
    /// Size-tiered compaction: fewer rewrites, more space.
    Tiered(TieredOptions),
}

/// The picker for `style`; outputs target `max_file_size` bytes
/// (LevelDB's `max_file_size` option), and level 0 is compacted at
/// LevelDB's trigger of four files. See [`new_picker_with`] to choose the trigger.
pub fn new_picker(style: &CompactionStyle, max_file_size: u64) -> Box<dyn Picker> {
    new_picker_with(style, &PickerOptions { max_file_size, ..PickerOptions::default() })
}

/// The picker for `style`, tuned by `options`.
pub fn new_picker_with(style: &CompactionStyle, options: &PickerOptions) -> Box<dyn Picker> {
    match style {
        CompactionStyle::Leveled => Box::new(LeveledPicker::with_options(options.clone())),
        CompactionStyle::Tiered(tiered) => Box::new(TieredPicker::new(options.max_file_size, tiered.clone())),
    }
}

/// A manual compaction of a key range at one level, done in pieces
/// (LevelDB's `ManualCompaction`): each piece is a [`Picker::pick_range`];
/// the next piece starts at the largest user key the previous piece took
/// from `level`, until a pick finds nothing.
///
/// ```text
/// let mut manual = ManualCompaction::new(level, begin, end);
/// while let Some(mut c) = manual.next_piece(picker, &versions.current()) {
///     // run the job, log_and_apply its edit; on error: manual.fail()
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualCompaction {
    level: usize,
    begin: Option<Vec<u8>>,
    end: Option<Vec<u8>>,
    done: bool,
}

impl ManualCompaction {
    /// A manual compaction of user keys `[begin, end]` (`None` = unbounded) at `level`.
    pub fn new(level: usize, begin: Option<&[u8]>, end: Option<&[u8]>) -> ManualCompaction {
        ManualCompaction {
            level,
            begin: begin.map(<[u8]>::to_vec),
            end: end.map(<[u8]>::to_vec),
            done: false,
        }
    }

    /// The next piece, or `None` when the range is done. Call it only after
    /// the previous piece's edit was installed in `version`.
    pub fn next_piece(&mut self, picker: &dyn Picker, version: &Arc<Version>) -> Option<Compaction> {
        if self.done {
            return None;
        }
        let piece = picker.pick_range(version, self.level, self.begin.as_deref(), self.end.as_deref());
        match &piece {
            None => self.done = true,
            Some(c) => {
                // Resume at the largest key taken from `level` (LevelDB uses
                // the last level-L input, which is the largest at levels ≥ 1).
                match key_range(version.comparator(), c.input_files(0)) {
                    Some((_, largest)) => self.begin = Some(extract_user_key(&largest).to_vec()),
                    None => self.done = true,
                }
            }
        }
        piece
    }

    /// Stops the manual compaction (a piece failed).
    pub fn fail(&mut self) {
        self.done = true;
    }

    /// True once no piece is left.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Where the next piece starts (`None` = at the beginning).
    pub fn begin(&self) -> Option<&[u8]> {
        self.begin.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compaction::{CompactionInputs, CompactionReason};
    use crate::test_versions::{file, version};

    #[test]
    fn busy_files_add_and_remove_compactions() {
        let v = version(vec![(1, vec![file(1, "c", "f")]), (2, vec![file(2, "a", "d"), file(3, "x", "y")])]);
        let c = Compaction::new(
            Arc::clone(&v),
            CompactionReason::Size,
            vec![
                CompactionInputs { level: 1, files: v.files(1).to_vec() },
                CompactionInputs { level: 2, files: vec![v.files(2)[0].clone()] },
            ],
            2,
            Vec::new(),
            1000,
            None,
        );
        let mut busy = BusyFiles::new();
        assert!(busy.is_empty() && !busy.conflicts_with(&c));
        busy.add(&c);
        assert_eq!(busy.num_files(), 2);
        assert!(busy.contains_file(1) && busy.contains_file(2) && !busy.contains_file(3));
        // The output range is every input's keys, "a".."f", at level 2, bounds included.
        let icmp = v.comparator();
        assert!(busy.writes_into(icmp, 2, b"f", b"g"));
        assert!(busy.writes_into(icmp, 2, b"0", b"a"));
        assert!(!busy.writes_into(icmp, 2, b"g", b"w"));
        assert!(!busy.writes_into(icmp, 1, b"a", b"z"));
        assert!(!busy.writes_into(icmp, NUM_LEVELS, b"a", b"z"));
        assert!(busy.conflicts_with(&c));
        // The same compaction twice (a misuse) needs two removals.
        busy.add(&c);
        busy.remove(&c);
        assert!(busy.contains_file(1) && busy.writes_into(icmp, 2, b"a", b"a"));
        busy.remove(&c);
        assert!(busy.is_empty());
        // Removing what was never added changes nothing.
        busy.remove_file(7);
        busy.remove_output_range(3, b"a", b"b");
        assert_eq!(busy, BusyFiles::new());
        assert_eq!(
            PickerOptions::default(),
            PickerOptions {
                max_file_size: 2 << 20,
                l0_compaction_trigger: 4,
                priority: CompactionPriority::RoundRobin,
                aligned_output_cuts: false,
            }
        );
    }
}
