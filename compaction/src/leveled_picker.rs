//! [`LeveledPicker`]: LevelDB 1.23's compaction choices (FORMAT.md §11,
//! `VersionSet::PickCompaction`, `CompactRange` and `SetupOtherInputs`).
//!
//! - A size compaction (score ≥ 1) takes priority over a seek compaction.
//! - A size compaction of level L starts at the first file whose largest key
//!   is after L's compaction pointer, wrapping around to the first file.
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

use std::sync::Arc;

use lsmkit_version::config::expanded_compaction_byte_size_limit;
use lsmkit_version::version::total_file_size;
use lsmkit_version::{CompactPointers, FileMetaData, Version, NUM_LEVELS};

use crate::compaction::{Compaction, CompactionInputs, CompactionReason};
use crate::key_ranges::{add_boundary_inputs, key_range, user_keys};
use crate::picker::Picker;
use lsmkit_base::key::InternalKeyComparator;
use std::cmp::Ordering;

/// LevelDB's leveled compaction.
#[derive(Debug, Clone)]
pub struct LeveledPicker {
    max_file_size: u64,
}

impl LeveledPicker {
    /// A picker whose compactions write outputs of about `max_file_size`
    /// bytes (LevelDB's `max_file_size`, default 2 MiB).
    pub fn new(max_file_size: u64) -> LeveledPicker {
        LeveledPicker { max_file_size }
    }

    /// The target output size.
    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
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
        Some(Compaction::new(
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
        ))
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

/// Orders files of a level ≥ 1 by smallest key, as the level itself is.
fn sort_by_smallest(icmp: &InternalKeyComparator, files: &mut [Arc<FileMetaData>]) {
    files.sort_by(|a, b| icmp.compare_internal_keys(&a.smallest, &b.smallest).then(a.number.cmp(&b.number)));
}

impl Picker for LeveledPicker {
    fn pick(&self, version: &Arc<Version>, compact_pointers: &CompactPointers) -> Option<Compaction> {
        let icmp = version.comparator();
        let (level, mut inputs0, reason) = if version.compaction_score() >= 1.0 {
            let level = version.compaction_level();
            let files = version.files(level);
            // The first file after the pointer, wrapping around to the first file.
            let after_pointer = compact_pointers.get(level).and_then(|pointer| {
                files.iter().find(|f| icmp.compare_internal_keys(&f.largest, pointer) == Ordering::Greater)
            });
            let first = after_pointer.or(files.first())?;
            (level, vec![Arc::clone(first)], CompactionReason::Size)
        } else if let Some((level, file)) = version.file_to_compact() {
            (level, vec![file], CompactionReason::Seek)
        } else {
            return None;
        };
        if level + 1 >= NUM_LEVELS {
            return None;
        }
        if level == 0 {
            // Level-0 files overlap: take every file the picked one overlaps.
            let range = key_range(icmp, &inputs0)?;
            let (begin, end) = user_keys(&range);
            inputs0 = version.overlapping_inputs(0, Some(begin), Some(end));
        }
        self.setup_other_inputs(version, level, inputs0, reason)
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
        version.needs_compaction()
    }

    fn level_for_flush(&self, version: &Version, smallest_user_key: &[u8], largest_user_key: &[u8]) -> usize {
        version.pick_level_for_memtable_output(smallest_user_key, largest_user_key, self.max_file_size)
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
}
