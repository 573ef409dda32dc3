//! [`LeveledPicker`]: LevelDB 1.23's compaction choices (docs/format.md §11,
//! `VersionSet::PickCompaction`, `CompactRange` and `SetupOtherInputs`).
//!
//! - A size compaction (score ≥ 1) takes priority over a seek compaction.
//! - A size compaction of level L starts at the first file whose largest key
//!   is after L's compaction pointer, wrapping around to the first file
//!   ([`CompactionPriority::RoundRobin`], the default). With
//!   [`CompactionPriority::MinOverlappingRatio`] the files of a level ≥ 1
//!   are tried by their overlap with level L+1 relative to their size,
//!   smallest first (RocksDB's `kMinOverlappingRatio`), ties in the
//!   round-robin order.
//! - A seek compaction takes the file whose seek budget ran out.
//! - At level 0 the chosen file grows into every level-0 file it overlaps,
//!   transitively.
//! - Boundary files (neighbours sharing a user key) are added at L and L+1;
//!   the L+1 inputs are the files overlapping the L inputs' user-key range.
//! - The L inputs are then grown to everything the whole range covers in L,
//!   if that adds files, keeps L+1 unchanged, and stays under 25 ×
//!   `max_file_size` in total.
//! - The grandparents are the level L+2 files overlapping the whole range.
//! - The compaction pointer of L becomes the largest L input key.
//! - A manual compaction at level ≥ 1 takes input files only until they
//!   reach `max_file_size` bytes; the rest is left for the next piece.
//!
//! Beside running compactions ([`Picker::pick_avoiding`]): the scores leave
//! out busy files; the levels with a score ≥ 1 are tried best first, and
//! within a level the files from the compaction pointer on (wrapping), until
//! a compaction takes no busy file and writes into no busy range; then the
//! seek candidate is tried the same way. With nothing busy the first try
//! always succeeds, which is LevelDB's choice. The level-0 trigger is
//! [`PickerOptions::l0_compaction_trigger`] (LevelDB: 4).

use std::sync::Arc;

use lsmkit_version::config::expanded_compaction_byte_size_limit;
use lsmkit_version::version::total_file_size;
use lsmkit_version::{CompactPointers, FileMetaData, Version, NUM_LEVELS};

use crate::compaction::{Compaction, CompactionInputs, CompactionReason};
use crate::key_ranges::{add_boundary_inputs, key_range, user_keys};
use crate::picker::{BusyFiles, CompactionPriority, Picker, PickerOptions};
use lsmkit_base::key::InternalKeyComparator;
use std::cmp::Ordering;

/// LevelDB's leveled compaction.
#[derive(Debug, Clone)]
pub struct LeveledPicker {
    max_file_size: u64,
    l0_compaction_trigger: usize,
    priority: CompactionPriority,
    aligned_output_cuts: bool,
}

impl LeveledPicker {
    /// A picker whose compactions write outputs of about `max_file_size`
    /// bytes (LevelDB's `max_file_size`, default 2 MiB), compacting level 0
    /// at four files as LevelDB does.
    pub fn new(max_file_size: u64) -> LeveledPicker {
        LeveledPicker::with_options(PickerOptions { max_file_size, ..PickerOptions::default() })
    }

    /// A picker tuned by `options` (a level-0 trigger of 0 counts as 1).
    pub fn with_options(options: PickerOptions) -> LeveledPicker {
        LeveledPicker {
            max_file_size: options.max_file_size,
            l0_compaction_trigger: options.l0_compaction_trigger.max(1),
            priority: options.priority,
            aligned_output_cuts: options.aligned_output_cuts,
        }
    }

    /// Whether compactions cut outputs at grandparent boundaries too.
    pub fn aligned_output_cuts(&self) -> bool {
        self.aligned_output_cuts
    }

    /// Which file of a level ≥ 1 a size compaction starts from.
    pub fn priority(&self) -> CompactionPriority {
        self.priority
    }

    /// The target output size.
    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    /// The number of level-0 files at which level 0 is compacted.
    pub fn l0_compaction_trigger(&self) -> usize {
        self.l0_compaction_trigger
    }

    /// The levels whose size score (busy files left out) is at least 1,
    /// best first; on a tie the shallower level first, as LevelDB's
    /// `Finalize` prefers it.
    fn size_candidates(&self, version: &Version, busy: &BusyFiles) -> Vec<(usize, f64)> {
        let mut levels: Vec<(usize, f64)> = (0..NUM_LEVELS - 1)
            .map(|level| {
                (
                    level,
                    version.level_score(level, self.l0_compaction_trigger, |f| !busy.contains_file(f.number)),
                )
            })
            .filter(|&(_, score)| score >= 1.0)
            .collect();
        // A stable sort keeps equal scores in level order.
        levels.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal));
        levels
    }

    /// The order in which a size compaction of `level` tries its files
    /// (indexes into `version.files(level)`): round robin from the first
    /// file after the compaction pointer, then, for
    /// [`CompactionPriority::MinOverlappingRatio`] at a level ≥ 1, stably
    /// sorted by overlap ratio so that ties keep the round-robin order.
    fn size_compaction_order(
        &self,
        version: &Version,
        level: usize,
        compact_pointers: &CompactPointers,
    ) -> Vec<usize> {
        let icmp = version.comparator();
        let files = version.files(level);
        let start = compact_pointers
            .get(level)
            .and_then(|pointer| {
                files
                    .iter()
                    .position(|f| icmp.compare_internal_keys(&f.largest, pointer) == Ordering::Greater)
            })
            .unwrap_or(0);
        let mut order: Vec<usize> = (0..files.len()).map(|i| (start + i) % files.len()).collect();
        if level > 0 && self.priority == CompactionPriority::MinOverlappingRatio {
            let ratios = overlap_ratios(version, level);
            order.sort_by_key(|&i| ratios[i]);
        }
        order
    }

    /// A compaction of `level` starting with `first` (grown to the
    /// overlapping level-0 files at level 0), or `None` when it would clash
    /// with `busy`.
    fn compaction_from(
        &self,
        version: &Arc<Version>,
        level: usize,
        first: &Arc<FileMetaData>,
        reason: CompactionReason,
        busy: &BusyFiles,
    ) -> Option<Compaction> {
        if level + 1 >= NUM_LEVELS || busy.contains_file(first.number) {
            return None;
        }
        let mut inputs0 = vec![Arc::clone(first)];
        if level == 0 {
            // Level-0 files overlap: take every file the picked one overlaps.
            let range = key_range(version.comparator(), &inputs0)?;
            let (begin, end) = user_keys(&range);
            inputs0 = version.overlapping_inputs(0, Some(begin), Some(end));
        }
        let compaction = self.setup_other_inputs(version, level, inputs0, reason)?;
        if busy.conflicts_with(&compaction) {
            return None;
        }
        Some(compaction)
    }

    /// LevelDB's `SetupOtherInputs`: completes a compaction of `inputs0` at `level`.
    fn setup_other_inputs(
        &self,
        version: &Arc<Version>,
        level: usize,
        mut inputs0: Vec<Arc<FileMetaData>>,
        reason: CompactionReason,
    ) -> Option<Compaction> {
        let icmp = version.comparator();
        let parent = level + 1;
        add_boundary_inputs(icmp, version.files(level), &mut inputs0);
        let mut range0 = key_range(icmp, &inputs0)?;
        let mut inputs1 = overlapping_with_boundaries(version, parent, &range0);
        let mut all_range = key_range(icmp, inputs0.iter().chain(&inputs1))?;

        // Grow the level-L inputs if that does not change the L+1 inputs.
        if !inputs1.is_empty() {
            let expanded0 = overlapping_with_boundaries(version, level, &all_range);
            let inputs1_size = total_file_size(&inputs1);
            let expanded0_size = total_file_size(&expanded0);
            if expanded0.len() > inputs0.len()
                && inputs1_size.saturating_add(expanded0_size)
                    < expanded_compaction_byte_size_limit(self.max_file_size)
            {
                if let Some(new_range0) = key_range(icmp, &expanded0) {
                    let expanded1 = overlapping_with_boundaries(version, parent, &new_range0);
                    if expanded1.len() == inputs1.len() {
                        range0 = new_range0;
                        inputs0 = expanded0;
                        inputs1 = expanded1;
                        all_range = key_range(icmp, inputs0.iter().chain(&inputs1))?;
                    }
                }
            }
        }

        let grandparents = if level + 2 < NUM_LEVELS {
            let (begin, end) = user_keys(&all_range);
            version.overlapping_inputs(level + 2, Some(begin), Some(end))
        } else {
            Vec::new()
        };
        if level > 0 {
            sort_by_smallest(icmp, &mut inputs0);
        }
        sort_by_smallest(icmp, &mut inputs1);
        let (_, largest0) = range0;
        Some(
            Compaction::new(
                Arc::clone(version),
                reason,
                vec![
                    CompactionInputs { level, files: inputs0 },
                    CompactionInputs { level: parent, files: inputs1 },
                ],
                parent,
                grandparents,
                self.max_file_size,
                Some((level, largest0)),
            )
            .with_aligned_cuts(self.aligned_output_cuts),
        )
    }
}

/// The files of `level` overlapping the user keys of `range`, plus boundary files.
fn overlapping_with_boundaries(
    version: &Version,
    level: usize,
    range: &(Vec<u8>, Vec<u8>),
) -> Vec<Arc<FileMetaData>> {
    let (begin, end) = user_keys(range);
    let mut files = version.overlapping_inputs(level, Some(begin), Some(end));
    add_boundary_inputs(version.comparator(), version.files(level), &mut files);
    files
}

/// For each file of `level` (≥ 1, below the last level), the bytes of the
/// level `level + 1` files its user-key range overlaps, times 1024, divided
/// by its own size (RocksDB's overlap ratio, without its deletion
/// compensation). Both levels are sorted and disjoint, so one sweep finds
/// every overlap.
fn overlap_ratios(version: &Version, level: usize) -> Vec<u64> {
    let icmp = version.comparator();
    let next = version.files(level + 1);
    let mut first_overlap = 0;
    version
        .files(level)
        .iter()
        .map(|file| {
            // Next-level files ending before this file starts overlap
            // neither it nor any later file of the level.
            while first_overlap < next.len()
                && icmp.compare_user_keys(next[first_overlap].largest_user_key(), file.smallest_user_key())
                    == Ordering::Less
            {
                first_overlap += 1;
            }
            let overlapping: u64 = next[first_overlap..]
                .iter()
                .take_while(|n| {
                    icmp.compare_user_keys(n.smallest_user_key(), file.largest_user_key())
                        != Ordering::Greater
                })
                .map(|n| n.file_size)
                .sum();
            let ratio = u128::from(overlapping) * 1024 / u128::from(file.file_size.max(1));
            u64::try_from(ratio).unwrap_or(u64::MAX)
        })
        .collect()
}

/// Orders files of a level ≥ 1 by smallest key, as the level itself is.
fn sort_by_smallest(icmp: &InternalKeyComparator, files: &mut [Arc<FileMetaData>]) {
    files.sort_by(|a, b| icmp.compare_internal_keys(&a.smallest, &b.smallest).then(a.number.cmp(&b.number)));
}

impl Picker for LeveledPicker {
    fn pick_avoiding(
        &self,
        version: &Arc<Version>,
        compact_pointers: &CompactPointers,
        busy: &BusyFiles,
    ) -> Option<Compaction> {
        for (level, _) in self.size_candidates(version, busy) {
            let files = version.files(level);
            let picked = self
                .size_compaction_order(version, level, compact_pointers)
                .into_iter()
                .find_map(|i| self.compaction_from(version, level, &files[i], CompactionReason::Size, busy));
            if picked.is_some() {
                return picked;
            }
        }
        let (level, file) = version.file_to_compact()?;
        self.compaction_from(version, level, &file, CompactionReason::Seek, busy)
    }

    fn pick_range(
        &self,
        version: &Arc<Version>,
        level: usize,
        begin: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Option<Compaction> {
        if level + 1 >= NUM_LEVELS {
            return None;
        }
        let mut inputs = version.overlapping_inputs(level, begin, end);
        if inputs.is_empty() {
            return None;
        }
        // Level-0 files may overlap each other, so none may be left behind.
        if level > 0 {
            let mut total = 0u64;
            if let Some(cut) = inputs.iter().position(|f| {
                total = total.saturating_add(f.file_size);
                total >= self.max_file_size
            }) {
                inputs.truncate(cut + 1);
            }
        }
        self.setup_other_inputs(version, level, inputs, CompactionReason::Manual)
    }

    fn needs_compaction(&self, version: &Version) -> bool {
        let nothing_busy = BusyFiles::new();
        !self.size_candidates(version, &nothing_busy).is_empty() || version.file_to_compact().is_some()
    }

    fn level_for_flush_avoiding(
        &self,
        version: &Version,
        smallest_user_key: &[u8],
        largest_user_key: &[u8],
        busy: &BusyFiles,
    ) -> usize {
        let icmp = version.comparator();
        version.pick_level_for_memtable_output_unless(
            smallest_user_key,
            largest_user_key,
            self.max_file_size,
            |level| busy.writes_into(icmp, level, smallest_user_key, largest_user_key),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_versions::{file, file_at, numbers, sized_file, version};
    use lsmkit_base::key::{make_internal_key, ValueKind};
    use lsmkit_version::GetStats;

    const MB: u64 = 1 << 20;

    fn picker() -> LeveledPicker {
        LeveledPicker::new(2 * MB)
    }

    fn inputs(c: &Compaction) -> (Vec<u64>, Vec<u64>) {
        (numbers(c.input_files(0)), numbers(c.input_files(1)))
    }

    fn pointers(level: usize, key: &str) -> CompactPointers {
        let mut p = CompactPointers::default();
        p.set(level, &make_internal_key(key.as_bytes(), 100, ValueKind::Value));
        p
    }

    #[test]
    fn nothing_to_do() {
        let v = version(vec![(0, vec![file(1, "a", "b")]), (1, vec![file(2, "a", "b")])]);
        assert!(picker().pick(&v, &CompactPointers::default()).is_none());
        assert!(!picker().needs_compaction(&v));
    }

    #[test]
    fn level0_size_trigger_takes_overlapping_files() {
        // Four level-0 files: score 1. The first (by smallest key) is "a".."c";
        // it overlaps "b".."e", which overlaps "e".."f"; "x".."z" is apart.
        let v = version(vec![
            (0, vec![file(1, "a", "c"), file(2, "b", "e"), file(3, "e", "f"), file(4, "x", "z")]),
            (1, vec![file(5, "a", "a"), file(6, "d", "d"), file(7, "g", "h")]),
            (2, vec![file(8, "a", "b"), file(9, "f", "m")]),
        ]);
        assert!(picker().needs_compaction(&v));
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(c.reason(), CompactionReason::Size);
        assert_eq!((c.level(), c.output_level()), (0, 1));
        assert_eq!(inputs(&c), (vec![1, 2, 3], vec![5, 6]));
        assert_eq!(numbers(c.grandparents()), [8, 9]);
        assert_eq!(
            c.compact_pointer().map(|(l, k)| (l, k.to_vec())),
            Some((0, v.files(0)[2].largest.clone()))
        );
        assert!(!c.is_trivial_move());
    }

    #[test]
    fn compact_pointer_round_robin_and_wrap() {
        // Level 1 over its 10 MiB limit.
        let l1 = vec![
            sized_file(1, "a", "b", 4 * MB),
            sized_file(2, "c", "d", 4 * MB),
            sized_file(3, "e", "f", 4 * MB),
        ];
        let v = version(vec![(1, l1)]);
        let pick = |p: &CompactPointers| numbers(picker().pick(&v, p).unwrap().input_files(0));
        assert_eq!(pick(&CompactPointers::default()), [1]);
        assert_eq!(pick(&pointers(1, "b")), [2]);
        assert_eq!(pick(&pointers(1, "c")), [2]);
        assert_eq!(pick(&pointers(1, "d")), [3]);
        // Past the last file: wrap around.
        assert_eq!(pick(&pointers(1, "f")), [1]);
        assert_eq!(pick(&pointers(1, "zzz")), [1]);
        // Another level's pointer does not matter.
        assert_eq!(pick(&pointers(2, "b")), [1]);
        // Nothing below: a trivial move to level 2.
        let c = picker().pick(&v, &pointers(1, "b")).unwrap();
        assert!(c.is_trivial_move());
        let edit = c.trivial_move_edit().unwrap();
        assert_eq!(edit.new_files[0].0, 2);
        assert_eq!(edit.new_files[0].1.number, 2);
    }

    #[test]
    fn highest_score_level_is_compacted() {
        // Level 1: 12 MiB / 10 MiB = 1.2; level 2: 150 MiB / 100 MiB = 1.5.
        let v = version(vec![
            (0, vec![file(1, "a", "b")]),
            (1, vec![sized_file(2, "a", "b", 12 * MB)]),
            (2, vec![sized_file(3, "a", "b", 75 * MB), sized_file(4, "c", "d", 75 * MB)]),
            (3, vec![file(5, "a", "a"), file(6, "d", "z")]),
        ]);
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!((c.level(), c.output_level()), (2, 3));
        assert_eq!(inputs(&c), (vec![3], vec![5]));
        assert_eq!(c.max_output_file_size(), 2 * MB);
    }

    #[test]
    fn seek_compaction_when_no_size_compaction() {
        let l1 = vec![file(1, "a", "c"), file(2, "d", "f")];
        let l2 = vec![file(3, "b", "b"), file(4, "e", "e")];
        let v = version(vec![(1, l1.clone()), (2, l2)]);
        assert!(picker().pick(&v, &CompactPointers::default()).is_none());
        let target = v.files(1)[1].clone();
        let mut stats = GetStats::new();
        stats.note_file_read(1, &target);
        stats.note_file_read(2, &v.files(2)[1]);
        while !v.update_stats(&stats) {}
        assert!(picker().needs_compaction(&v));
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(c.reason(), CompactionReason::Seek);
        assert_eq!(inputs(&c), (vec![2], vec![4]));
        // A size compaction wins over the seek compaction.
        let v2 = version(vec![(1, vec![sized_file(1, "a", "c", 11 * MB)]), (2, vec![file(3, "b", "b")])]);
        let target = v2.files(1)[0].clone();
        let mut stats = GetStats::new();
        stats.note_file_read(1, &target);
        stats.note_file_read(2, &v2.files(2)[0]);
        while !v2.update_stats(&stats) {}
        assert_eq!(picker().pick(&v2, &CompactPointers::default()).unwrap().reason(), CompactionReason::Size);
    }

    #[test]
    fn inputs_expand_within_the_limit_without_changing_the_parent_level() {
        // Level 1 (over its limit) starts at file 1 "b".."c"; level 2 file 10
        // "a".."h" overlaps, so the whole range a..h takes files 1, 2, 3 of
        // level 1 while level 2 stays {10}.
        let l1 = vec![
            sized_file(1, "b", "c", 4 * MB),
            sized_file(2, "d", "e", 4 * MB),
            sized_file(3, "f", "h", 4 * MB),
            sized_file(4, "i", "j", 4 * MB),
        ];
        let l2 = vec![sized_file(10, "a", "h", 4 * MB), sized_file(11, "j", "k", 4 * MB)];
        let v = version(vec![(1, l1), (2, l2)]);
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(inputs(&c), (vec![1, 2, 3], vec![10]));
        assert_eq!(c.compact_pointer().map(|(_, k)| k.to_vec()), Some(v.files(1)[2].largest.clone()));

        // Growing would also pull in level-2 file 11: no growth.
        let l1 = vec![sized_file(1, "b", "c", 4 * MB), sized_file(2, "d", "j", 8 * MB)];
        let l2 = vec![sized_file(10, "a", "e", 4 * MB), sized_file(11, "i", "k", 4 * MB)];
        let v = version(vec![(1, l1), (2, l2)]);
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(inputs(&c), (vec![1], vec![10]));

        // Growing within level 1 but past 25 × 2 MiB = 50 MiB in total: no growth.
        let l1 = vec![
            sized_file(1, "b", "c", 20 * MB),
            sized_file(2, "d", "e", 20 * MB),
            sized_file(3, "f", "g", 20 * MB),
        ];
        let l2 = vec![sized_file(10, "a", "g", 10 * MB)];
        let v = version(vec![(1, l1), (2, l2)]);
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(inputs(&c), (vec![1], vec![10]));
        // Just under the limit: 3 × 13 + 10 = 49 MiB.
        let l1 = vec![
            sized_file(1, "b", "c", 13 * MB),
            sized_file(2, "d", "e", 13 * MB),
            sized_file(3, "f", "g", 13 * MB),
        ];
        let l2 = vec![sized_file(10, "a", "g", 10 * MB)];
        let v = version(vec![(1, l1), (2, l2)]);
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(inputs(&c), (vec![1, 2, 3], vec![10]));
    }

    #[test]
    fn boundary_files_are_added_at_both_levels() {
        // Level 1: user key "k" is split between files 1 and 2.
        let l1 = vec![
            file_at(1, ("a", 50), ("k", 40), 6 * MB),
            file_at(2, ("k", 30), ("m", 20), 6 * MB),
            file_at(3, ("s", 50), ("t", 50), 6 * MB),
        ];
        // Level 2: file 5 holds "m" (in range) and ends with "o", which
        // continues in file 6 (out of range, but a boundary file).
        let l2 = vec![
            file_at(4, ("b", 9), ("c", 8), MB),
            file_at(5, ("m", 9), ("o", 5), MB),
            file_at(6, ("o", 4), ("p", 1), MB),
            file_at(7, ("q", 9), ("r", 9), MB),
        ];
        let v = version(vec![(1, l1), (2, l2)]);
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(inputs(&c), (vec![1, 2], vec![4, 5, 6]));
        // The pointer is the end of the boundary file.
        assert_eq!(c.compact_pointer().map(|(_, k)| k.to_vec()), Some(v.files(1)[1].largest.clone()));
    }

    #[test]
    fn grandparents_and_last_levels() {
        let v = version(vec![
            (5, vec![sized_file(1, "a", "c", 2000 * 1000 * MB)]),
            (6, vec![file(2, "b", "b"), file(3, "x", "y")]),
        ]);
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!((c.level(), c.output_level()), (5, 6));
        assert_eq!(inputs(&c), (vec![1], vec![2]));
        assert!(c.grandparents().is_empty());
        // Level 6 cannot be compacted further.
        assert!(picker().pick_range(&v, 6, None, None).is_none());
        // Grandparents of a level-1 compaction are in level 3.
        let v = version(vec![
            (1, vec![sized_file(1, "c", "f", 11 * MB)]),
            (2, vec![file(2, "a", "d")]),
            (3, vec![file(3, "a", "a"), file(4, "e", "e"), file(5, "g", "g")]),
        ]);
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        // The whole range is a..f.
        assert_eq!(numbers(c.grandparents()), [3, 4]);
    }

    #[test]
    fn trivial_move_limited_by_grandparent_overlap() {
        let v = version(vec![
            (1, vec![sized_file(1, "a", "m", 11 * MB)]),
            (3, vec![sized_file(2, "a", "c", 15 * MB), sized_file(3, "d", "f", 6 * MB)]),
        ]);
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(inputs(&c), (vec![1], vec![]));
        // 21 MiB > 20 MiB of grandparent overlap.
        assert!(!c.is_trivial_move());
        let v = version(vec![
            (1, vec![sized_file(1, "a", "m", 11 * MB)]),
            (3, vec![sized_file(2, "a", "c", 14 * MB), sized_file(3, "d", "f", 6 * MB)]),
        ]);
        assert!(picker().pick(&v, &CompactPointers::default()).unwrap().is_trivial_move());
    }

    #[test]
    fn manual_range_is_split_into_pieces_at_levels_above_zero() {
        let l1: Vec<_> = (0..6u64)
            .map(|i| {
                let k = format!("k{i}");
                sized_file(i + 1, &k, &k, MB)
            })
            .collect();
        let l2 = vec![file(20, "k1", "k1"), file(21, "k4", "k5")];
        let v = version(vec![(1, l1), (2, l2)]);
        // 2 MiB of input per piece: two 1 MiB files.
        let c = picker().pick_range(&v, 1, Some(b"k1"), Some(b"k4")).unwrap();
        assert_eq!(c.reason(), CompactionReason::Manual);
        assert_eq!(inputs(&c), (vec![2, 3], vec![20]));
        assert!(!c.is_trivial_move());
        let c = picker().pick_range(&v, 1, None, None).unwrap();
        assert_eq!(inputs(&c), (vec![1, 2], vec![20]));
        assert!(picker().pick_range(&v, 1, Some(b"x"), None).is_none());
        assert!(picker().pick_range(&v, 3, None, None).is_none());

        // Level 0 is never split.
        let l0: Vec<_> = (0..6u64).map(|i| sized_file(i + 1, "a", "b", MB)).collect();
        let v = version(vec![(0, l0)]);
        let c = picker().pick_range(&v, 0, None, None).unwrap();
        assert_eq!(c.num_input_files(0), 6);
        assert_eq!(c.output_level(), 1);
    }

    #[test]
    fn flush_placement_is_leveldb_s() {
        let v = version(vec![(2, vec![file(1, "m", "n")])]);
        assert_eq!(picker().level_for_flush(&v, b"a", b"b"), 2);
        assert_eq!(picker().level_for_flush(&v, b"a", b"m"), 1);
    }

    /// A busy set holding `compaction` (as the engine would register it).
    fn busy_with(compaction: &Compaction) -> BusyFiles {
        let mut busy = BusyFiles::new();
        busy.add(compaction);
        busy
    }

    fn with_trigger(trigger: usize) -> LeveledPicker {
        LeveledPicker::with_options(PickerOptions {
            max_file_size: 2 * MB,
            l0_compaction_trigger: trigger,
            ..PickerOptions::default()
        })
    }

    #[test]
    fn nothing_busy_is_leveldb_s_pick() {
        let v = version(vec![
            (0, vec![file(1, "a", "c"), file(2, "b", "e"), file(3, "e", "f"), file(4, "x", "z")]),
            (1, vec![sized_file(5, "a", "a", 6 * MB), sized_file(6, "d", "d", 6 * MB)]),
            (2, vec![file(8, "a", "b"), file(9, "f", "m")]),
        ]);
        let plain = picker().pick(&v, &pointers(1, "a")).unwrap();
        let avoiding = picker().pick_avoiding(&v, &pointers(1, "a"), &BusyFiles::new()).unwrap();
        assert_eq!(format!("{plain:?}"), format!("{avoiding:?}"));
        // After the pointer "a": file 6, with nothing under it at level 2.
        assert_eq!((plain.level(), inputs(&plain)), (1, (vec![6], vec![])));
    }

    #[test]
    fn busy_files_are_skipped_round_robin() {
        let l1 = vec![
            sized_file(1, "a", "b", 4 * MB),
            sized_file(2, "c", "d", 4 * MB),
            sized_file(3, "e", "f", 4 * MB),
            sized_file(4, "g", "h", 4 * MB),
            sized_file(5, "i", "j", 4 * MB),
        ];
        let v = version(vec![(1, l1), (2, vec![file(10, "b", "c"), file(11, "g", "g")])]);
        let first = picker().pick(&v, &CompactPointers::default()).unwrap();
        // File 1, its level-2 partner 10, and file 2, which 10 also overlaps.
        assert_eq!(inputs(&first), (vec![1, 2], vec![10]));
        let busy = busy_with(&first);
        assert!(busy.contains_file(1) && busy.contains_file(2) && busy.contains_file(10));
        // 20 MiB at level 1, 8 MiB of it busy: still 1.2 ≥ 1. Files 1 and 2
        // are busy; file 3 is free.
        let second = picker().pick_avoiding(&v, &CompactPointers::default(), &busy).unwrap();
        assert_eq!(inputs(&second), (vec![3], vec![]));
        // The pointer still decides where the search starts.
        let third = picker().pick_avoiding(&v, &pointers(1, "f"), &busy).unwrap();
        assert_eq!(inputs(&third), (vec![4], vec![11]));
        // With every level-1 file busy nothing is left to pick.
        let mut all = busy.clone();
        for f in v.files(1) {
            all.add_file(f.number);
        }
        assert!(picker().pick_avoiding(&v, &CompactPointers::default(), &all).is_none());
        // Removing the first compaction frees its files again.
        let mut busy = busy;
        busy.remove(&first);
        assert!(busy.is_empty());
    }

    #[test]
    fn busy_files_do_not_count_towards_scores() {
        // 12 MiB at level 1 (score 1.2); 4 MiB busy leaves 0.8.
        let l1 = vec![sized_file(1, "a", "b", 4 * MB), sized_file(2, "c", "d", 8 * MB)];
        let v = version(vec![(1, l1)]);
        let mut busy = BusyFiles::new();
        busy.add_file(1);
        assert!(picker().pick_avoiding(&v, &CompactPointers::default(), &busy).is_none());
        // Five level-0 files, four of them busy: 1 / 4 < 1.
        let v = version(vec![(0, (1..=5).map(|n| file(n, &format!("k{n}"), &format!("k{n}"))).collect())]);
        let mut busy = BusyFiles::new();
        for n in 1..=4 {
            busy.add_file(n);
        }
        assert!(picker().pick_avoiding(&v, &CompactPointers::default(), &busy).is_none());
        assert!(picker().pick(&v, &CompactPointers::default()).is_some());
    }

    #[test]
    fn level0_compaction_runs_beside_a_deeper_one() {
        // Level 2 scores 1.5 (compacted first), level 0 scores 1.
        let v = version(vec![
            (0, (1..=4).map(|n| file(n, "m", "p")).collect()),
            (1, vec![file(5, "m", "n")]),
            (2, vec![sized_file(6, "a", "c", 75 * MB), sized_file(7, "d", "f", 75 * MB)]),
            (3, vec![file(8, "a", "b")]),
        ]);
        let deep = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!((deep.level(), inputs(&deep)), (2, (vec![6], vec![8])));
        let busy = busy_with(&deep);
        // Next best free level: level 2's other file (score 1.5 − 0.75 < 1
        // once file 6 is left out), so level 0.
        let l0 = picker().pick_avoiding(&v, &CompactPointers::default(), &busy).unwrap();
        assert_eq!((l0.level(), l0.output_level()), (0, 1));
        assert_eq!(inputs(&l0), (vec![1, 2, 3, 4], vec![5]));
        assert!(!busy.conflicts_with(&l0));
        // With both running, nothing else is due.
        let mut both = busy.clone();
        both.add(&l0);
        assert!(picker().pick_avoiding(&v, &CompactPointers::default(), &both).is_none());
    }

    #[test]
    fn a_pick_never_writes_into_a_busy_range() {
        // A level-0 compaction writing "a".."m" into level 1 is running; its
        // level-0 inputs are gone from this view, so four new level-0 files
        // are all that is left.
        let new_l0 = vec![file(11, "c", "d"), file(12, "c", "e"), file(13, "x", "y"), file(14, "x", "z")];
        let v = version(vec![(0, new_l0), (1, vec![file(20, "q", "r")])]);
        let mut busy = BusyFiles::new();
        busy.add_output_range(1, b"a", b"m");
        assert!(busy.writes_into(v.comparator(), 1, b"m", b"z"));
        assert!(!busy.writes_into(v.comparator(), 1, b"n", b"z"));
        assert!(!busy.writes_into(v.comparator(), 2, b"a", b"z"));
        // "c".."e" would write into "a".."m" at level 1: "x".."z" is taken instead.
        let c = picker().pick_avoiding(&v, &CompactPointers::default(), &busy).unwrap();
        assert_eq!(inputs(&c), (vec![13, 14], vec![]));
        assert!(!busy.conflicts_with(&c));
        // Without the busy range, the pick starts at the first file.
        let c = picker().pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(inputs(&c), (vec![11, 12], vec![]));
        // A level-0 pick must take every older overlapping level-0 file: when
        // one of them is busy the pick is refused.
        let mut l0 = v.files(0).to_vec();
        l0.push(file(15, "k", "k"));
        let v = version(vec![(0, l0)]);
        let mut busy = BusyFiles::new();
        busy.add_file(12);
        // Four free files (score 1); file 11 overlaps the busy file 12.
        let c = picker().pick_avoiding(&v, &CompactPointers::default(), &busy).unwrap();
        assert_eq!(inputs(&c), (vec![15], vec![]));
        busy.add_file(15);
        assert!(picker().pick_avoiding(&v, &CompactPointers::default(), &busy).is_none());
    }

    #[test]
    fn seek_compaction_avoids_busy_files() {
        let v = version(vec![(1, vec![file(1, "a", "c"), file(2, "d", "f")]), (2, vec![file(4, "e", "e")])]);
        let target = v.files(1)[1].clone();
        let mut stats = GetStats::new();
        stats.note_file_read(1, &target);
        stats.note_file_read(2, &v.files(2)[0]);
        while !v.update_stats(&stats) {}
        let mut busy = BusyFiles::new();
        busy.add_file(4);
        assert!(picker().pick_avoiding(&v, &CompactPointers::default(), &busy).is_none());
        let mut busy = BusyFiles::new();
        busy.add_output_range(2, b"f", b"g");
        assert!(picker().pick_avoiding(&v, &CompactPointers::default(), &busy).is_none());
        let c = picker().pick_avoiding(&v, &CompactPointers::default(), &BusyFiles::new()).unwrap();
        assert_eq!((c.reason(), inputs(&c)), (CompactionReason::Seek, (vec![2], vec![4])));
    }

    #[test]
    fn level0_trigger_is_configurable() {
        let with_files = |n: u64| version(vec![(0, (1..=n).map(|i| file(i, "a", "b")).collect())]);
        for (trigger, due_at) in [(2u64, 2u64), (4, 4), (8, 8)] {
            let p = with_trigger(trigger as usize);
            assert_eq!(p.l0_compaction_trigger(), trigger as usize);
            for n in 1..=9u64 {
                let v = with_files(n);
                let due = n >= due_at;
                assert_eq!(p.needs_compaction(&v), due, "trigger {trigger}, {n} files");
                let c = p.pick(&v, &CompactPointers::default());
                assert_eq!(c.is_some(), due, "trigger {trigger}, {n} files");
                if let Some(c) = c {
                    assert_eq!((c.level(), c.num_input_files(0)), (0, n as usize));
                }
            }
        }
        // Level 0 at trigger 2 outscores level 1 at 1.2; at trigger 8 it does not.
        let v = version(vec![
            (0, (1..=3).map(|i| file(i, "a", "b")).collect()),
            (1, vec![sized_file(9, "x", "y", 12 * MB)]),
        ]);
        assert_eq!(with_trigger(2).pick(&v, &CompactPointers::default()).unwrap().level(), 0);
        assert_eq!(with_trigger(8).pick(&v, &CompactPointers::default()).unwrap().level(), 1);
        // A trigger of 0 acts as 1; the default is LevelDB's 4.
        assert_eq!(with_trigger(0).l0_compaction_trigger(), 1);
        assert_eq!(picker().l0_compaction_trigger(), 4);
        let boxed = crate::new_picker_with(
            &crate::CompactionStyle::Leveled,
            &PickerOptions { max_file_size: 2 * MB, l0_compaction_trigger: 2, ..PickerOptions::default() },
        );
        assert!(boxed.needs_compaction(&with_files(2)));
        assert!(!crate::new_picker(&crate::CompactionStyle::Leveled, 2 * MB).needs_compaction(&with_files(2)));
    }

    #[test]
    fn flush_placement_avoids_ranges_being_written() {
        // Nothing overlaps "a".."b" at levels 0..2: LevelDB's level 2.
        let v = version(vec![(2, vec![file(1, "m", "n")]), (3, vec![file(2, "a", "z")])]);
        let at = |busy: &BusyFiles| picker().level_for_flush_avoiding(&v, b"a", b"b", busy);
        assert_eq!(at(&BusyFiles::new()), 2);
        assert_eq!(picker().level_for_flush(&v, b"a", b"b"), 2);
        // A compaction writing "b".."c" into level 2 keeps the table at level 1.
        let mut busy = BusyFiles::new();
        busy.add_output_range(2, b"b", b"c");
        assert_eq!(at(&busy), 1);
        // One writing into level 1 keeps it at level 0.
        busy.add_output_range(1, b"0", b"a");
        assert_eq!(at(&busy), 0);
        // Ranges elsewhere, or at a deeper level, do not matter.
        let mut busy = BusyFiles::new();
        busy.add_output_range(1, b"c", b"d");
        busy.add_output_range(3, b"a", b"z");
        assert_eq!(at(&busy), 2);
    }
}
