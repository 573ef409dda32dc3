//! [`Compaction`]: the description of one compaction — which files of which
//! levels are merged, where the output goes, and the per-compaction rules of
//! docs/format.md §11 (trivial moves, the grandparent-overlap cut, the base-level
//! test for deletion markers, the compaction pointer of §10.1 tag 5).
//!
//! A picker ([`crate::Picker`]) builds it under the engine's mutex; the
//! [`CompactionJob`](crate::CompactionJob) then runs it without the mutex.

use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use lsmkit_base::key::extract_user_key;
use lsmkit_version::config::max_grandparent_overlap_bytes;
use lsmkit_version::version::total_file_size;
use lsmkit_version::{FileMetaData, Version, VersionEdit, NUM_LEVELS};

/// Why a compaction was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionReason {
    /// Leveled: a level's size score reached 1 (level 0: four files).
    Size,
    /// Leveled: a file used up its seek budget.
    Seek,
    /// A manual compaction of a key range.
    Manual,
    /// Size-tiered: the space-amplification cap was exceeded; every sorted run is merged.
    SpaceAmplification,
    /// Size-tiered: a run of sorted runs of similar size.
    SizeRatio,
    /// Size-tiered: too many sorted runs; the newest are merged to bring the count down.
    RunCount,
}

/// The files one level contributes to a compaction.
#[derive(Clone)]
pub struct CompactionInputs {
    /// The level the files are in (and are deleted from).
    pub level: usize,
    /// The files. At levels ≥ 1 they are in key order.
    pub files: Vec<Arc<FileMetaData>>,
}

impl fmt::Debug for CompactionInputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let numbers: Vec<u64> = self.files.iter().map(|file| file.number).collect();
        write!(f, "L{}{:?}", self.level, numbers)
    }
}

/// One compaction: the input files (grouped by level, shallowest first), the
/// level the merged output is written to, and the state the output cutting
/// keeps while the job runs.
///
/// Invariant (kept by both pickers): for every entry of an input file at
/// level L, each file holding its user key at levels L+1 ..= output level
/// (and, when L is 0, each older level-0 file holding it) is an input too.
/// So outputs never overlap what stays at the output level, and the only
/// data older than an input entry that is not merged lies in levels deeper
/// than the output level.
pub struct Compaction {
    input_version: Arc<Version>,
    reason: CompactionReason,
    inputs: Vec<CompactionInputs>,
    output_level: usize,
    grandparents: Vec<Arc<FileMetaData>>,
    max_output_file_size: u64,
    compact_pointer: Option<(usize, Vec<u8>)>,
    /// [`should_stop_before`](Self::should_stop_before) state: the first
    /// grandparent whose largest key is not yet below the current key.
    grandparent_index: usize,
    /// Whether `should_stop_before` has seen a key yet.
    seen_key: bool,
    /// Grandparent bytes overlapped by the current output so far.
    overlapped_bytes: u64,
    /// Whether outputs are also cut at grandparent boundaries
    /// ([`with_aligned_cuts`](Self::with_aligned_cuts)).
    aligned_cuts: bool,
    /// Whether the last key seen lies inside the grandparent at
    /// `grandparent_index` (not in the gap before it).
    inside_grandparent: bool,
    /// Grandparent boundaries the current output has crossed.
    boundaries_in_output: u64,
    /// [`is_base_level_for_key`](Self::is_base_level_for_key) state: per
    /// level, the first file whose largest user key is not below the key
    /// asked about last (LevelDB's `level_ptrs_`).
    level_positions: Cell<[usize; NUM_LEVELS]>,
}

impl Compaction {
    /// A compaction of `inputs` (sorted by level; a level may have no files)
    /// into `output_level`, read from `input_version`.
    ///
    /// `grandparents` are the files of the level below the output that
    /// overlap the compaction's key range (outputs are cut so none overlaps
    /// more than 10 × `max_output_file_size` of them), and `compact_pointer`
    /// is the `(level, internal key)` to record for the next compaction.
    pub fn new(
        input_version: Arc<Version>,
        reason: CompactionReason,
        inputs: Vec<CompactionInputs>,
        output_level: usize,
        grandparents: Vec<Arc<FileMetaData>>,
        max_output_file_size: u64,
        compact_pointer: Option<(usize, Vec<u8>)>,
    ) -> Compaction {
        debug_assert!(!inputs.is_empty());
        debug_assert!(inputs.windows(2).all(|w| w[0].level < w[1].level));
        debug_assert!(output_level < NUM_LEVELS);
        Compaction {
            input_version,
            reason,
            inputs,
            output_level,
            grandparents,
            max_output_file_size,
            compact_pointer,
            grandparent_index: 0,
            seen_key: false,
            overlapped_bytes: 0,
            aligned_cuts: false,
            inside_grandparent: false,
            boundaries_in_output: 0,
            level_positions: Cell::new([0; NUM_LEVELS]),
        }
    }

    /// The same compaction, cutting its outputs at grandparent boundaries
    /// too when `aligned` (RocksDB's `level_compaction_dynamic_file_size`):
    /// see [`should_stop_before`](Self::should_stop_before).
    pub fn with_aligned_cuts(mut self, aligned: bool) -> Compaction {
        self.aligned_cuts = aligned;
        self
    }

    /// Whether outputs are cut at grandparent boundaries too.
    pub fn aligned_cuts(&self) -> bool {
        self.aligned_cuts
    }

    /// The same compaction with fresh output-cutting state: one
    /// subcompaction (a key range merged on its own thread) cuts its
    /// outputs by [`should_stop_before`](Self::should_stop_before) as if its
    /// range were the whole compaction.
    pub fn fork(&self) -> Compaction {
        Compaction::new(
            Arc::clone(&self.input_version),
            self.reason,
            self.inputs.clone(),
            self.output_level,
            self.grandparents.clone(),
            self.max_output_file_size,
            self.compact_pointer.clone(),
        )
        .with_aligned_cuts(self.aligned_cuts)
    }

    /// The Version the inputs were picked from. Holding it keeps the input
    /// files alive (the version set does not delete them) until the
    /// compaction is dropped.
    pub fn input_version(&self) -> &Arc<Version> {
        &self.input_version
    }

    /// Why this compaction was picked.
    pub fn reason(&self) -> CompactionReason {
        self.reason
    }

    /// The shallowest input level (LevelDB's `level()`: the level being compacted).
    pub fn level(&self) -> usize {
        self.inputs.first().map_or(0, |i| i.level)
    }

    /// The level the outputs are added to.
    pub fn output_level(&self) -> usize {
        self.output_level
    }

    /// The inputs per level, shallowest first. For a leveled compaction there
    /// are exactly two: level L (`inputs()[0]`) and level L+1 (`inputs()[1]`,
    /// possibly without files).
    pub fn inputs(&self) -> &[CompactionInputs] {
        &self.inputs
    }

    /// The files of `inputs()[which]` (empty when there is no such entry).
    pub fn input_files(&self, which: usize) -> &[Arc<FileMetaData>] {
        self.inputs.get(which).map_or(&[], |i| &i.files)
    }

    /// Number of files in `inputs()[which]`.
    pub fn num_input_files(&self, which: usize) -> usize {
        self.input_files(which).len()
    }

    /// Every input file with its level.
    pub fn all_input_files(&self) -> impl Iterator<Item = (usize, &Arc<FileMetaData>)> + '_ {
        self.inputs.iter().flat_map(|i| i.files.iter().map(move |f| (i.level, f)))
    }

    /// Total bytes of every input file.
    pub fn input_bytes(&self) -> u64 {
        self.inputs.iter().map(|i| total_file_size(&i.files)).fold(0, u64::saturating_add)
    }

    /// The files of the level below the output that overlap the compaction.
    pub fn grandparents(&self) -> &[Arc<FileMetaData>] {
        &self.grandparents
    }

    /// An output table is closed once it reaches this many bytes.
    pub fn max_output_file_size(&self) -> u64 {
        self.max_output_file_size
    }

    /// The compaction pointer this compaction sets: `(level, largest input
    /// key of that level)`. LevelDB records it in the VersionSet as soon as
    /// the compaction is picked (so a failing compaction does not retry the
    /// same range forever) and in the compaction's edit.
    pub fn compact_pointer(&self) -> Option<(usize, &[u8])> {
        self.compact_pointer.as_ref().map(|(level, key)| (*level, key.as_slice()))
    }

    /// True when the compaction can be done by moving its one input file to
    /// the output level without rewriting it (LevelDB's `IsTrivialMove`):
    /// exactly one input file, nothing to merge it with at the output level,
    /// and at most 10 × `max_output_file_size` bytes of grandparent overlap
    /// (a larger overlap would make a later merge of the moved file very
    /// expensive). Manual compactions are never trivial moves, as in LevelDB.
    pub fn is_trivial_move(&self) -> bool {
        let mut files = self.all_input_files();
        let (Some((level, _)), None) = (files.next(), files.next()) else {
            return false;
        };
        self.reason != CompactionReason::Manual
            && level < self.output_level
            && total_file_size(&self.grandparents) <= max_grandparent_overlap_bytes(self.max_output_file_size)
    }

    /// The edit of a trivial move (the file deleted from its level and added
    /// unchanged to the output level, plus the compaction pointer), or
    /// `None` when [`is_trivial_move`](Self::is_trivial_move) is false.
    pub fn trivial_move_edit(&self) -> Option<VersionEdit> {
        if !self.is_trivial_move() {
            return None;
        }
        let (level, file) = self.all_input_files().next()?;
        let mut edit = VersionEdit::new();
        self.add_compact_pointer(&mut edit);
        edit.remove_file(level, file.number);
        edit.add_file(self.output_level, FileMetaData::clone(file));
        Some(edit)
    }

    /// Adds a deletion of every input file to `edit`.
    pub fn add_input_deletions(&self, edit: &mut VersionEdit) {
        for (level, file) in self.all_input_files() {
            edit.remove_file(level, file.number);
        }
    }

    /// Adds the compaction pointer, if any, to `edit`.
    pub fn add_compact_pointer(&self, edit: &mut VersionEdit) {
        if let Some((level, key)) = self.compact_pointer() {
            edit.set_compact_pointer(level, key);
        }
    }

    /// True when no level below the output level has a file whose range
    /// holds `user_key`: then nothing older than the compaction's own
    /// entries can exist for the key, and a deletion marker for it that no
    /// snapshot needs may be dropped (LevelDB's `IsBaseLevelForKey`).
    ///
    /// As in LevelDB, each level's position is kept from one call to the
    /// next, so keys asked about in order (as a compaction does) cost about
    /// one comparison per level instead of a binary search; a key smaller
    /// than the previous one is found by a binary search, so the answer
    /// never depends on the order of the calls.
    pub fn is_base_level_for_key(&self, user_key: &[u8]) -> bool {
        let icmp = self.input_version.comparator();
        let below_key =
            |f: &Arc<FileMetaData>| icmp.compare_user_keys(f.largest_user_key(), user_key) == Ordering::Less;
        let mut positions = self.level_positions.get();
        let mut base = true;
        for (level, position) in positions.iter_mut().enumerate().skip(self.output_level + 1) {
            let files = self.input_version.files(level);
            let mut index = (*position).min(files.len());
            if index > 0 && !below_key(&files[index - 1]) {
                // The key is before the last one asked about.
                index = files.partition_point(below_key);
            } else {
                while index < files.len() && below_key(&files[index]) {
                    index += 1;
                }
            }
            *position = index;
            if files
                .get(index)
                .is_some_and(|f| icmp.compare_user_keys(user_key, f.smallest_user_key()) != Ordering::Less)
            {
                base = false;
                break;
            }
        }
        self.level_positions.set(positions);
        base
    }

    /// True when no level below the output level has a file whose user-key
    /// range meets [`start`, `end`): a range tombstone over it that no
    /// snapshot needs may be dropped (the rule of
    /// [`is_base_level_for_key`](Self::is_base_level_for_key) for a range).
    pub fn is_base_level_for_range(&self, start: &[u8], end: &[u8]) -> bool {
        let icmp = self.input_version.comparator();
        for level in self.output_level + 1..NUM_LEVELS {
            let files = self.input_version.files(level);
            let index = files
                .partition_point(|f| icmp.compare_user_keys(f.largest_user_key(), start) == Ordering::Less);
            if let Some(f) = files.get(index) {
                if icmp.compare_user_keys(f.smallest_user_key(), end) == Ordering::Less {
                    return false;
                }
            }
        }
        true
    }

    /// Called with every input key in order, with the size of the output
    /// being written (0 when none is open): true when that output should be
    /// closed before `internal_key` is added. Keeps state; a compaction is
    /// run once.
    ///
    /// - LevelDB's rule (`ShouldStopBefore`), always: the output already
    ///   overlaps more than 10 × `max_output_file_size` bytes of grandparent
    ///   files.
    /// - With [`with_aligned_cuts`](Self::with_aligned_cuts), when the key
    ///   is past the end of one or more grandparents the open output
    ///   overlaps: the key skipped whole grandparents holding more than
    ///   `max_output_file_size / 8` bytes (the output would span them for
    ///   nothing), or the output holds at least 50 % of
    ///   `max_output_file_size`, plus 5 % per grandparent boundary it
    ///   already crossed (at most 90 %). Outputs then end where the files
    ///   of the level below end, so a later compaction of one rewrites
    ///   fewer partly overlapped grandparents.
    pub fn should_stop_before(&mut self, internal_key: &[u8], current_output_bytes: u64) -> bool {
        let icmp = self.input_version.comparator();
        let mut crossed = 0u64;
        let mut skipped_bytes = 0u64;
        while let Some(f) = self.grandparents.get(self.grandparent_index) {
            if icmp.compare_internal_keys(internal_key, &f.largest) != Ordering::Greater {
                break;
            }
            if self.seen_key {
                self.overlapped_bytes = self.overlapped_bytes.saturating_add(f.file_size);
                crossed += 1;
                if !self.inside_grandparent {
                    skipped_bytes = skipped_bytes.saturating_add(f.file_size);
                }
            }
            // Every later grandparent passed here starts after the last key.
            self.inside_grandparent = false;
            self.grandparent_index += 1;
        }
        if !self.inside_grandparent {
            self.inside_grandparent = self
                .grandparents
                .get(self.grandparent_index)
                .is_some_and(|f| icmp.compare_internal_keys(internal_key, &f.smallest) != Ordering::Less);
        }
        self.seen_key = true;
        if self.overlapped_bytes > max_grandparent_overlap_bytes(self.max_output_file_size) {
            self.overlapped_bytes = 0;
            self.boundaries_in_output = 0;
            return true;
        }
        if current_output_bytes == 0 {
            // A new output starts with this key.
            self.boundaries_in_output = 0;
            return false;
        }
        if !self.aligned_cuts || crossed == 0 {
            return false;
        }
        let percent = 50 + 5 * self.boundaries_in_output.min(8);
        let full_enough = current_output_bytes >= self.max_output_file_size / 100 * percent;
        if full_enough || skipped_bytes > self.max_output_file_size / 8 {
            self.overlapped_bytes = 0;
            self.boundaries_in_output = 0;
            return true;
        }
        self.boundaries_in_output += crossed;
        false
    }

    /// The smallest and largest user keys over every input file.
    pub fn user_key_range(&self) -> Option<(&[u8], &[u8])> {
        let icmp = self.input_version.comparator();
        let mut range: Option<(&[u8], &[u8])> = None;
        for (_, f) in self.all_input_files() {
            let (smallest, largest) = (extract_user_key(&f.smallest), extract_user_key(&f.largest));
            range = Some(match range {
                None => (smallest, largest),
                Some((s, l)) => (
                    if icmp.compare_user_keys(smallest, s) == Ordering::Less { smallest } else { s },
                    if icmp.compare_user_keys(largest, l) == Ordering::Greater { largest } else { l },
                ),
            });
        }
        range
    }
}

impl fmt::Debug for Compaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compaction")
            .field("reason", &self.reason)
            .field("inputs", &self.inputs)
            .field("output_level", &self.output_level)
            .field("grandparents", &self.grandparents.iter().map(|g| g.number).collect::<Vec<_>>())
            .field("max_output_file_size", &self.max_output_file_size)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_versions::{file, sized_file, version};
    use lsmkit_base::key::{make_internal_key, ValueKind};

    fn compaction(v: &Arc<Version>, inputs: Vec<CompactionInputs>, output_level: usize) -> Compaction {
        Compaction::new(v.clone(), CompactionReason::Size, inputs, output_level, Vec::new(), 1000, None)
    }

    #[test]
    fn base_level_looks_below_the_output_only() {
        let v = version(vec![
            (1, vec![file(1, "a", "c")]),
            (2, vec![file(2, "a", "b")]),
            (3, vec![file(3, "d", "f"), file(4, "h", "h")]),
        ]);
        let c = compaction(&v, vec![CompactionInputs { level: 1, files: vec![v.files(1)[0].clone()] }], 2);
        // Level 2 is the output level itself; only levels 3.. count.
        // Asked out of order, the answers are the same.
        for key in [b"z", b"e", b"a", b"h", b"d", b"g"] {
            let fresh =
                compaction(&v, vec![CompactionInputs { level: 1, files: vec![v.files(1)[0].clone()] }], 2);
            assert_eq!(c.is_base_level_for_key(key), fresh.is_base_level_for_key(key), "{key:?}");
        }
        assert!(c.is_base_level_for_key(b"a"));
        assert!(c.is_base_level_for_key(b"c"));
        assert!(!c.is_base_level_for_key(b"d"));
        assert!(!c.is_base_level_for_key(b"e"));
        assert!(!c.is_base_level_for_key(b"f"));
        assert!(c.is_base_level_for_key(b"g"));
        assert!(!c.is_base_level_for_key(b"h"));
        assert!(c.is_base_level_for_key(b"z"));
        let deepest = compaction(&v, vec![CompactionInputs { level: 3, files: vec![] }], 6);
        assert!(deepest.is_base_level_for_key(b"d"));
    }

    #[test]
    fn trivial_move_rules() {
        let big = 10 * 1000;
        let v = version(vec![
            (1, vec![file(1, "a", "c"), file(2, "d", "e")]),
            (3, vec![sized_file(3, "a", "b", big), sized_file(4, "c", "c", 1)]),
        ]);
        let one = |files: Vec<Arc<FileMetaData>>, grandparents: Vec<Arc<FileMetaData>>, reason| {
            Compaction::new(
                v.clone(),
                reason,
                vec![CompactionInputs { level: 1, files }, CompactionInputs { level: 2, files: vec![] }],
                2,
                grandparents,
                1000,
                Some((1, v.files(1)[0].largest.clone())),
            )
        };
        let f1 = v.files(1)[0].clone();
        let c = one(vec![f1.clone()], vec![v.files(3)[0].clone()], CompactionReason::Size);
        assert!(c.is_trivial_move());
        let edit = c.trivial_move_edit().unwrap();
        assert_eq!(edit.deleted_files.iter().copied().collect::<Vec<_>>(), [(1, 1)]);
        assert_eq!(edit.new_files, [(2, FileMetaData::clone(&f1))]);
        assert_eq!(edit.compact_pointers, [(1, f1.largest.clone())]);
        // Grandparent overlap above 10 × max file size.
        let c = one(vec![f1.clone()], v.files(3).to_vec(), CompactionReason::Size);
        assert!(!c.is_trivial_move());
        assert!(c.trivial_move_edit().is_none());
        // Two files, or a manual compaction.
        assert!(!one(v.files(1).to_vec(), vec![], CompactionReason::Size).is_trivial_move());
        assert!(!one(vec![f1.clone()], vec![], CompactionReason::Manual).is_trivial_move());
        assert!(one(vec![f1], vec![], CompactionReason::Seek).is_trivial_move());
        // An input at the output level is never a move.
        let same = compaction(&v, vec![CompactionInputs { level: 1, files: vec![v.files(1)[1].clone()] }], 1);
        assert!(!same.is_trivial_move());
    }

    #[test]
    fn grandparent_overlap_cuts_outputs() {
        // Grandparents of 6000 bytes each; the limit is 10 × 1000 = 10 000.
        let gp: Vec<Arc<FileMetaData>> = ["b", "d", "f", "h", "j"]
            .iter()
            .enumerate()
            .map(|(i, k)| sized_file(10 + i as u64, k, k, 6000))
            .collect();
        let v = version(vec![(3, gp.clone())]);
        let mut c = Compaction::new(
            v.clone(),
            CompactionReason::Size,
            vec![CompactionInputs { level: 1, files: vec![] }],
            2,
            gp,
            1000,
            None,
        );
        let key = |k: &str| make_internal_key(k.as_bytes(), 5, ValueKind::Value);
        // The first key skips "b" without counting it (nothing was output yet).
        assert!(!c.should_stop_before(&key("c"), 0));
        assert!(!c.should_stop_before(&key("e"), 900)); // passes d: 6000
        assert!(c.should_stop_before(&key("g"), 900)); // passes f: 12000 > 10000 → cut
        assert!(!c.should_stop_before(&key("g"), 0));
        assert!(!c.should_stop_before(&key("i"), 900)); // passes h: 6000
        assert!(c.should_stop_before(&key("z"), 900)); // passes j: 12000
    }

    #[test]
    fn aligned_cuts_end_outputs_where_grandparents_end() {
        // Grandparents of 1000 bytes; outputs target 10 000 bytes, so
        // LevelDB's rule (100 000 bytes of overlap) never fires here.
        let gp: Vec<Arc<FileMetaData>> =
            [("b", "c"), ("e", "f"), ("h", "i"), ("k", "l"), ("n", "o"), ("q", "r")]
                .iter()
                .enumerate()
                .map(|(i, (smallest, largest))| sized_file(10 + i as u64, smallest, largest, 1000))
                .collect();
        let v = version(vec![(3, gp.clone())]);
        let key = |k: &str| make_internal_key(k.as_bytes(), 5, ValueKind::Value);
        // (key, size of the open output, cut with aligned cuts?)
        let steps = [
            ("bb", 0, false),
            ("bc", 3000, false),
            ("d", 4000, false), // past b..c, but 4000 < 50 % of 10 000
            ("ee", 5400, false),
            ("g", 5400, false), // past e..f, 5400 < 55 % (one boundary crossed)
            ("hh", 6000, false),
            ("j", 6000, true), // past h..i, 6000 ≥ 60 % (two crossed): cut
            ("j", 0, false),   // the new output starts
            ("kk", 100, false),
            ("m", 200, false), // past k..l, which the output overlaps: small, no cut
            ("s", 300, true),  // jumps over n..o and q..r whole: 2000 > 10 000 / 8
        ];
        for aligned in [false, true] {
            let mut c = Compaction::new(
                v.clone(),
                CompactionReason::Size,
                vec![CompactionInputs { level: 1, files: vec![] }],
                2,
                gp.clone(),
                10_000,
                None,
            )
            .with_aligned_cuts(aligned);
            assert_eq!(c.aligned_cuts(), aligned);
            for (k, size, cut_when_aligned) in steps {
                assert_eq!(c.should_stop_before(&key(k), size), aligned && cut_when_aligned, "{k} {aligned}");
            }
            // A subcompaction keeps the setting.
            assert_eq!(c.fork().aligned_cuts(), aligned);
        }
    }

    #[test]
    fn accessors_and_deletions() {
        let v = version(vec![(0, vec![file(7, "a", "m")]), (1, vec![file(8, "k", "z")])]);
        let c = Compaction::new(
            v.clone(),
            CompactionReason::Size,
            vec![
                CompactionInputs { level: 0, files: v.files(0).to_vec() },
                CompactionInputs { level: 1, files: v.files(1).to_vec() },
            ],
            1,
            vec![],
            1000,
            Some((0, v.files(0)[0].largest.clone())),
        );
        assert_eq!((c.level(), c.output_level(), c.num_input_files(0), c.num_input_files(1)), (0, 1, 1, 1));
        assert_eq!(c.num_input_files(5), 0);
        assert_eq!(c.input_bytes(), 2000);
        assert_eq!(c.user_key_range(), Some((&b"a"[..], &b"z"[..])));
        let mut edit = VersionEdit::new();
        c.add_input_deletions(&mut edit);
        c.add_compact_pointer(&mut edit);
        assert_eq!(edit.deleted_files.iter().copied().collect::<Vec<_>>(), [(0, 7), (1, 8)]);
        assert_eq!(edit.compact_pointers.len(), 1);
        assert!(format!("{c:?}").contains("L0[7]"));
    }
}
