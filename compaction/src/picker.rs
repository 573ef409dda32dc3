//! The [`Picker`] trait: what to compact next, chosen from a Version.
//! Two implementations: [`LeveledPicker`] (LevelDB 1.23's rules, FORMAT.md
//! §11) and [`TieredPicker`] (size-tiered, for write-heavy use); the option
//! [`CompactionStyle`] chooses one. [`ManualCompaction`] drives a manual
//! range compaction piece by piece.

use std::sync::Arc;

use lsmkit_base::key::extract_user_key;
use lsmkit_version::{CompactPointers, Version};

use crate::compaction::Compaction;
use crate::key_ranges::key_range;
use crate::leveled_picker::LeveledPicker;
use crate::tiered_picker::{TieredOptions, TieredPicker};

/// Chooses compactions. The engine calls it under its mutex, with the
/// current Version; one compaction runs at a time (as in LevelDB), so a
/// picker never has to avoid files another compaction is using.
pub trait Picker: Send + Sync {
    /// The compaction the Version needs most, if any. `compact_pointers` are
    /// the version set's (FORMAT.md §10.1, tag 5); when the result has a
    /// [`compact_pointer`](Compaction::compact_pointer), the engine should
    /// record it in the version set right away, as LevelDB does, and the job
    /// also puts it in its edit.
    fn pick(&self, version: &Arc<Version>, compact_pointers: &CompactPointers) -> Option<Compaction>;

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
    /// `[smallest_user_key, largest_user_key]`, should be added to.
    fn level_for_flush(&self, version: &Version, smallest_user_key: &[u8], largest_user_key: &[u8]) -> usize;
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
/// (LevelDB's `max_file_size` option).
pub fn new_picker(style: &CompactionStyle, max_file_size: u64) -> Box<dyn Picker> {
    match style {
        CompactionStyle::Leveled => Box::new(LeveledPicker::new(max_file_size)),
        CompactionStyle::Tiered(options) => Box::new(TieredPicker::new(max_file_size, options.clone())),
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
