//! [`TieredPicker`]: size-tiered compaction in the style of RocksDB's
//! "universal" compaction, laid out on LevelDB's seven levels so that reads
//! (docs/format.md §10.1 ordering) need no change.
//!
//! The model:
//! - A *sorted run* is either one level-0 file or one whole non-empty level
//!   ≥ 1. Runs are ordered newest first: level-0 files by descending file
//!   number, then levels 1, 2, … 6. For every user key, a run's entries are
//!   newer than those of every later run — the same rule reads rely on.
//! - Flushes always go to level 0 ([`Picker::level_for_flush`] returns 0).
//! - A compaction merges a window of consecutive runs into one new run,
//!   written to the level just above the next older run, or to level 6 when
//!   the window reaches the oldest run. Newer runs left out stay above it.
//!   A window never ends inside level 0 (a merged run cannot go back to
//!   level 0, where file numbers order reads) nor directly above a level-1
//!   run: then it grows by the next run until a level is free.
//! - The window (RocksDB's rules, in this order, once there are at least
//!   `run_count_trigger` runs):
//!   1. space amplification — when all runs but the oldest hold more than
//!      `max_space_amplification_percent` % of the oldest run's bytes,
//!      every run is merged;
//!   2. size ratio — from the newest run on, the first window of at least
//!      `min_merge_width` runs in which each next run is at most
//!      `size_ratio_percent` % larger than everything taken before it, and
//!      which has a level to go to without taking in more runs;
//!   3. run count — with more than `run_count_trigger` runs, the cheapest
//!      merge of two neighbouring runs (the newest such pair on a tie),
//!      grown if needed to find a level.
//!
//!   Unlike RocksDB, which can write a merged run back to level 0, the
//!   run-count rule picks the cheapest pair rather than the newest runs:
//!   with the levels as the only slots, merging the newest runs would
//!   rewrite the newest level run on every flush once the slots fill.
//! - Outputs are cut only at `max_file_size`: whole runs are merged, so the
//!   grandparent limit does not apply, and there are no seek compactions.
//! - A manual compaction merges every file overlapping the range, from the
//!   given level down, into level 6.

use std::sync::Arc;

use lsmkit_version::version::total_file_size;
use lsmkit_version::{CompactPointers, FileMetaData, Version, NUM_LEVELS};

use crate::compaction::{Compaction, CompactionInputs, CompactionReason};
use crate::key_ranges::{key_range, user_keys};
use crate::picker::{BusyFiles, Picker};

/// The tunables of [`TieredPicker`] (RocksDB's names in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TieredOptions {
    /// Compact once there are at least this many sorted runs
    /// (`level0_file_num_compaction_trigger`; at least 2). Default 7:
    /// levels 1–6 can hold up to six runs, so a trigger much below that
    /// makes nearly every flush merge into the newest level run (the
    /// simulation measures write amplification above 20 with 4), and 7
    /// keeps level 0 under the engine's 8-file slowdown.
    pub run_count_trigger: usize,
    /// A run joins the window when its size is at most this many percent
    /// above the window's total (`size_ratio`). Default 1.
    pub size_ratio_percent: u64,
    /// The fewest runs a size-ratio merge takes (`min_merge_width`; at least 2). Default 2.
    pub min_merge_width: usize,
    /// The most runs a size-ratio merge takes (`max_merge_width`). Default unlimited.
    pub max_merge_width: usize,
    /// Merge everything when the newer runs hold more than this many percent
    /// of the oldest run's bytes (`max_size_amplification_percent`). Default 200.
    pub max_space_amplification_percent: u64,
}

impl Default for TieredOptions {
    fn default() -> TieredOptions {
        TieredOptions {
            run_count_trigger: 7,
            size_ratio_percent: 1,
            min_merge_width: 2,
            max_merge_width: usize::MAX,
            max_space_amplification_percent: 200,
        }
    }
}

/// One sorted run: a level-0 file or a whole level ≥ 1.
#[derive(Debug, Clone)]
pub struct SortedRun {
    /// The level the run is in.
    pub level: usize,
    /// Its files (one at level 0).
    pub files: Vec<Arc<FileMetaData>>,
    /// Its total bytes.
    pub bytes: u64,
}

/// The sorted runs of `version`, newest first.
pub fn sorted_runs(version: &Version) -> Vec<SortedRun> {
    let mut level0: Vec<Arc<FileMetaData>> = version.files(0).to_vec();
    level0.sort_by_key(|f| std::cmp::Reverse(f.number));
    let mut runs: Vec<SortedRun> =
        level0.into_iter().map(|f| SortedRun { level: 0, bytes: f.file_size, files: vec![f] }).collect();
    for level in 1..NUM_LEVELS {
        let files = version.files(level);
        if !files.is_empty() {
            runs.push(SortedRun { level, files: files.to_vec(), bytes: total_file_size(files) });
        }
    }
    runs
}

/// A chosen window of runs: `runs[start..end]` merged into `output_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    start: usize,
    end: usize,
    output_level: usize,
    reason: CompactionReason,
}

impl Window {
    /// The window `start..end`, grown until its output has a level: just
    /// above the next older run, at level ≥ 1 and at or below the window's
    /// deepest run; level 6 when the window reaches the oldest run.
    fn fitted(runs: &[SortedRun], start: usize, mut end: usize, reason: CompactionReason) -> Window {
        loop {
            let Some(next_older) = runs.get(end) else {
                return Window { start, end, output_level: NUM_LEVELS - 1, reason };
            };
            let last = &runs[end - 1];
            if next_older.level > last.level.max(1) {
                return Window { start, end, output_level: next_older.level - 1, reason };
            }
            end += 1;
        }
    }

    /// Total bytes of the window's runs.
    fn bytes(&self, runs: &[SortedRun]) -> u64 {
        runs[self.start..self.end].iter().map(|r| r.bytes).fold(0, u64::saturating_add)
    }
}

/// Size-tiered compaction (see the module documentation for the model).
#[derive(Debug, Clone)]
pub struct TieredPicker {
    max_file_size: u64,
    options: TieredOptions,
}

impl TieredPicker {
    /// A picker writing outputs of about `max_file_size` bytes.
    pub fn new(max_file_size: u64, options: TieredOptions) -> TieredPicker {
        TieredPicker { max_file_size, options }
    }

    /// The options, as given.
    pub fn options(&self) -> &TieredOptions {
        &self.options
    }

    fn trigger(&self) -> usize {
        self.options.run_count_trigger.max(2)
    }

    /// The runs to merge, `start..end` (newest first), their output level
    /// and why; `None` when no rule asks for a merge.
    fn choose_window(&self, runs: &[SortedRun]) -> Option<Window> {
        let count = runs.len();
        if count < self.trigger() {
            return None;
        }
        // 1. Space amplification.
        let oldest = runs.last()?.bytes;
        let newer: u64 = runs[..count - 1].iter().map(|r| r.bytes).fold(0, u64::saturating_add);
        if u128::from(newer) * 100
            > u128::from(oldest) * u128::from(self.options.max_space_amplification_percent)
        {
            return Some(Window::fitted(runs, 0, count, CompactionReason::SpaceAmplification));
        }
        // 2. Size ratio: the first window, from the newest start on, of at
        //    least `min_merge_width` runs of similar size that fits the
        //    levels as it is (a window that would have to take in the next,
        //    larger run to find a level is not a window of similar runs).
        let max_width = self.options.max_merge_width.max(2);
        let min_width = self.options.min_merge_width.max(2);
        for start in 0..count {
            let mut end = start + 1;
            let mut window_bytes = u128::from(runs[start].bytes);
            while end < count && end - start < max_width {
                let next = u128::from(runs[end].bytes);
                if next * 100 > window_bytes * u128::from(100 + self.options.size_ratio_percent) {
                    break;
                }
                window_bytes += next;
                end += 1;
            }
            if end - start >= min_width {
                let window = Window::fitted(runs, start, end, CompactionReason::SizeRatio);
                if window.end == end {
                    return Some(window);
                }
            }
        }
        // 3. More runs than the trigger: the cheapest merge of two
        //    neighbouring runs (newest on a tie), grown to fit the levels.
        if count > self.trigger() {
            return (0..count - 1)
                .map(|start| Window::fitted(runs, start, start + 2, CompactionReason::RunCount))
                .min_by_key(|w| w.bytes(runs));
        }
        None
    }

    fn compaction(
        &self,
        version: &Arc<Version>,
        reason: CompactionReason,
        files_by_level: Vec<(usize, Vec<Arc<FileMetaData>>)>,
        output_level: usize,
    ) -> Compaction {
        let mut inputs: Vec<CompactionInputs> = Vec::new();
        for (level, files) in files_by_level {
            match inputs.last_mut() {
                Some(last) if last.level == level => last.files.extend(files),
                _ => inputs.push(CompactionInputs { level, files }),
            }
        }
        Compaction::new(
            Arc::clone(version),
            reason,
            inputs,
            output_level,
            Vec::new(),
            self.max_file_size,
            None,
        )
    }
}

impl Picker for TieredPicker {
    /// The window the rules choose over all runs; `None` when it would take
    /// a busy file or write into a busy range (whole runs are merged, so a
    /// running merge of a run leaves nothing else to choose safely).
    fn pick_avoiding(
        &self,
        version: &Arc<Version>,
        _compact_pointers: &CompactPointers,
        busy: &BusyFiles,
    ) -> Option<Compaction> {
        let runs = sorted_runs(version);
        let window = self.choose_window(&runs)?;
        let files = runs[window.start..window.end].iter().map(|r| (r.level, r.files.clone())).collect();
        let compaction = self.compaction(version, window.reason, files, window.output_level);
        if busy.conflicts_with(&compaction) {
            return None;
        }
        Some(compaction)
    }

    fn pick_range(
        &self,
        version: &Arc<Version>,
        level: usize,
        begin: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Option<Compaction> {
        // Walk down from `level`, widening the range by every file taken, so
        // that every file holding a key of an input is an input too. Within
        // a level the query is repeated until the range stops growing: a
        // user key may span two neighbouring files of one level, and moving
        // only the file with its newer versions to the last level would put
        // them below the older ones left behind.
        let icmp = version.comparator();
        let mut range: (Option<Vec<u8>>, Option<Vec<u8>>) =
            (begin.map(<[u8]>::to_vec), end.map(<[u8]>::to_vec));
        let mut files_by_level = Vec::new();
        for lvl in level..NUM_LEVELS {
            let mut files;
            loop {
                files = version.overlapping_inputs(lvl, range.0.as_deref(), range.1.as_deref());
                let Some(file_range) = key_range(icmp, &files) else {
                    break;
                };
                let (smallest, largest) = user_keys(&file_range);
                let mut widened = false;
                if range.0.as_deref().is_some_and(|b| icmp.compare_user_keys(smallest, b).is_lt()) {
                    range.0 = Some(smallest.to_vec());
                    widened = true;
                }
                if range.1.as_deref().is_some_and(|e| icmp.compare_user_keys(largest, e).is_gt()) {
                    range.1 = Some(largest.to_vec());
                    widened = true;
                }
                if !widened {
                    break;
                }
            }
            if !files.is_empty() {
                files_by_level.push((lvl, files));
            }
        }
        // Nothing above the last level: nothing to do.
        if files_by_level.iter().all(|(lvl, _)| *lvl == NUM_LEVELS - 1) {
            return None;
        }
        Some(self.compaction(version, CompactionReason::Manual, files_by_level, NUM_LEVELS - 1))
    }

    fn needs_compaction(&self, version: &Version) -> bool {
        self.choose_window(&sorted_runs(version)).is_some()
    }

    fn level_for_flush_avoiding(
        &self,
        _version: &Version,
        _smallest_user_key: &[u8],
        _largest_user_key: &[u8],
        _busy: &BusyFiles,
    ) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_versions::{numbers, sized_file, version};

    const MB: u64 = 1 << 20;

    /// The options the tests are written for: RocksDB's trigger of 4.
    fn options() -> TieredOptions {
        TieredOptions { run_count_trigger: 4, ..TieredOptions::default() }
    }

    fn picker() -> TieredPicker {
        TieredPicker::new(2 * MB, options())
    }

    fn pick(v: &Arc<Version>) -> Option<Compaction> {
        picker().pick(v, &CompactPointers::default())
    }

    /// (level, file numbers) per input level, and the output level.
    fn shape(c: &Compaction) -> (Vec<(usize, Vec<u64>)>, usize) {
        (c.inputs().iter().map(|i| (i.level, numbers(&i.files))).collect(), c.output_level())
    }

    fn l0(numbers: &[u64], size: u64) -> (usize, Vec<Arc<FileMetaData>>) {
        (0, numbers.iter().map(|&n| sized_file(n, "a", "z", size)).collect())
    }

    fn run(level: usize, first_number: u64, size: u64) -> (usize, Vec<Arc<FileMetaData>>) {
        (
            level,
            vec![
                sized_file(first_number, "a", "m", size / 2),
                sized_file(first_number + 1, "n", "z", size / 2),
            ],
        )
    }

    #[test]
    fn runs_are_level0_files_newest_first_then_levels() {
        let v = version(vec![l0(&[3, 9, 5], MB), run(2, 20, 8 * MB), run(6, 30, 40 * MB)]);
        let runs = sorted_runs(&v);
        let summary: Vec<(usize, Vec<u64>, u64)> =
            runs.iter().map(|r| (r.level, numbers(&r.files), r.bytes)).collect();
        assert_eq!(
            summary,
            [
                (0, vec![9], MB),
                (0, vec![5], MB),
                (0, vec![3], MB),
                (2, vec![20, 21], 8 * MB),
                (6, vec![30, 31], 40 * MB)
            ]
        );
    }

    #[test]
    fn below_the_trigger_nothing_happens() {
        let v = version(vec![l0(&[1, 2, 3], MB)]);
        assert!(pick(&v).is_none());
        assert!(!picker().needs_compaction(&v));
        assert_eq!(picker().level_for_flush(&v, b"a", b"b"), 0);
    }

    #[test]
    fn a_window_clashing_with_a_running_merge_is_not_picked() {
        let v = version(vec![l0(&[1, 2, 3, 4], MB)]);
        let c = pick(&v).unwrap();
        let mut busy = BusyFiles::new();
        busy.add(&c);
        assert!(picker().pick_avoiding(&v, &CompactPointers::default(), &busy).is_none());
        // A running merge writing into level 6 elsewhere in the key space is no clash.
        let mut elsewhere = BusyFiles::new();
        elsewhere.add_output_range(6, b"zz", b"zzz");
        assert!(picker().pick_avoiding(&v, &CompactPointers::default(), &elsewhere).is_some());
        elsewhere.add_output_range(6, b"m", b"n");
        assert!(picker().pick_avoiding(&v, &CompactPointers::default(), &elsewhere).is_none());
        // Flushes always go to level 0.
        assert_eq!(picker().level_for_flush_avoiding(&v, b"a", b"b", &busy), 0);
    }

    #[test]
    fn first_merge_of_four_flushes_goes_to_the_last_level() {
        let v = version(vec![l0(&[1, 2, 3, 4], MB)]);
        assert!(picker().needs_compaction(&v));
        let c = pick(&v).unwrap();
        // Four equal runs: the space-amplification rule (3 MiB > 200% of 1 MiB).
        assert_eq!(c.reason(), CompactionReason::SpaceAmplification);
        assert_eq!(shape(&c), (vec![(0, vec![4, 3, 2, 1])], 6));
        assert!(c.compact_pointer().is_none());
        assert!(c.grandparents().is_empty());
        assert!(!c.is_trivial_move());
    }

    #[test]
    fn size_ratio_window_stops_at_a_much_larger_run() {
        // 4 × 1 MiB flushes over a 100 MiB run: space amp 4% is fine; the
        // ratio rule takes the four flushes (1 ≤ 1.01, 1 ≤ 2.02, 1 ≤ 3.03)
        // but not the 100 MiB run, and writes them just above it.
        let v = version(vec![l0(&[11, 12, 13, 14], MB), run(6, 1, 100 * MB)]);
        let c = pick(&v).unwrap();
        assert_eq!(c.reason(), CompactionReason::SizeRatio);
        assert_eq!(shape(&c), (vec![(0, vec![14, 13, 12, 11])], 5));
        // 4 MiB of flushes next to a 4 MiB run at level 5, over 100 MiB:
        // the 4 MiB run joins (4 ≤ 4.04), the 100 MiB one does not.
        let v = version(vec![l0(&[11, 12, 13, 14], MB), run(5, 1, 4 * MB), run(6, 3, 100 * MB)]);
        let c = pick(&v).unwrap();
        assert_eq!(c.reason(), CompactionReason::SizeRatio);
        assert_eq!(shape(&c), (vec![(0, vec![14, 13, 12, 11]), (5, vec![1, 2])], 5));
        // A 5 MiB run at level 5 is too big for the window: it stops at L0.
        let v = version(vec![l0(&[11, 12, 13, 14], MB), run(5, 1, 5 * MB), run(6, 3, 100 * MB)]);
        assert_eq!(shape(&pick(&v).unwrap()), (vec![(0, vec![14, 13, 12, 11])], 4));
    }

    #[test]
    fn space_amplification_merges_everything() {
        // 7 MiB in level 0 + 16 MiB at level 3 over 10 MiB: 230% > 200%.
        let v = version(vec![l0(&[20], 5 * MB), run(3, 1, 16 * MB), run(6, 3, 10 * MB), l0(&[21, 22], MB)]);
        let c = pick(&v).unwrap();
        assert_eq!(c.reason(), CompactionReason::SpaceAmplification);
        assert_eq!(shape(&c), (vec![(0, vec![22, 21, 20]), (3, vec![1, 2]), (6, vec![3, 4])], 6));
        // 200% exactly is allowed.
        let v = version(vec![l0(&[20, 21], 4 * MB), run(3, 1, 12 * MB), run(6, 3, 10 * MB)]);
        assert_ne!(pick(&v).unwrap().reason(), CompactionReason::SpaceAmplification);
        let cap = TieredOptions { max_space_amplification_percent: 150, ..options() };
        let c = TieredPicker::new(MB, cap).pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(c.reason(), CompactionReason::SpaceAmplification);
    }

    #[test]
    fn run_count_rule_when_sizes_differ() {
        // Runs of 1, 8, 30, 70 (MiB), 100 MiB last: no ratio window; space amp 109%.
        // Five runs, trigger 4: merge the newest 5 − 4 + 1 = 2.
        let v = version(vec![
            l0(&[40], MB),
            run(2, 1, 8 * MB),
            run(3, 3, 30 * MB),
            run(4, 5, 70 * MB),
            run(6, 7, 100 * MB),
        ]);
        let c = pick(&v).unwrap();
        assert_eq!(c.reason(), CompactionReason::RunCount);
        assert_eq!(shape(&c), (vec![(0, vec![40]), (2, vec![1, 2])], 2));
    }

    #[test]
    fn window_grows_when_no_level_is_free_above_the_next_run() {
        // No ratio window (1, 8, 30, 70, 100); five runs: the run-count rule
        // takes the newest two, L0 and level 1. The output goes to level 1
        // (level 2 holds the next run).
        let v = version(vec![
            l0(&[40], MB),
            run(1, 1, 8 * MB),
            run(2, 3, 30 * MB),
            run(4, 5, 70 * MB),
            run(6, 7, 100 * MB),
        ]);
        let c = pick(&v).unwrap();
        assert_eq!(c.reason(), CompactionReason::RunCount);
        assert_eq!(shape(&c), (vec![(0, vec![40]), (1, vec![1, 2])], 1));
        // Two level-0 files directly above level 1: as a ratio window they
        // would have to take in the 30 MiB run, so they are no ratio window.
        // With four runs over a trigger of 3, the cheapest pair is merged:
        // the older level-0 file and level 1; the newest file stays.
        let opts = TieredOptions { run_count_trigger: 3, ..options() };
        let v = version(vec![l0(&[40, 41], MB), run(1, 1, 30 * MB), run(6, 7, 100 * MB)]);
        let c = TieredPicker::new(MB, opts).pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(c.reason(), CompactionReason::RunCount);
        assert_eq!(shape(&c), (vec![(0, vec![40]), (1, vec![1, 2])], 5));
        // Every level full: seven runs; the cheapest pair is L0 + level 1,
        // written to level 1 (level 2 holds the next run).
        let v = version(vec![
            l0(&[40], MB),
            run(1, 1, 50 * MB),
            run(2, 3, 60 * MB),
            run(3, 5, 70 * MB),
            run(4, 7, 80 * MB),
            run(5, 9, 90 * MB),
            run(6, 11, 1000 * MB),
        ]);
        let c = pick(&v).unwrap();
        assert_eq!(c.reason(), CompactionReason::RunCount);
        assert_eq!(shape(&c), (vec![(0, vec![40]), (1, vec![1, 2])], 1));
    }

    #[test]
    fn exactly_trigger_runs_of_different_sizes_wait() {
        let v = version(vec![l0(&[40], MB), run(1, 1, 8 * MB), run(2, 3, 30 * MB), run(6, 7, 100 * MB)]);
        assert!(pick(&v).is_none());
        assert!(!picker().needs_compaction(&v));
    }

    #[test]
    fn size_ratio_windows_may_start_below_the_newest_run() {
        // A small flush above a 256 MiB run that is newer than similar-sized
        // older runs: the window is those three, the flush stays in level 0.
        let v =
            version(vec![l0(&[40], 4 * MB), run(4, 1, 256 * MB), run(5, 3, 12 * MB), run(6, 5, 236 * MB)]);
        let c = pick(&v).unwrap();
        assert_eq!(c.reason(), CompactionReason::SizeRatio);
        assert_eq!(shape(&c), (vec![(4, vec![1, 2]), (5, vec![3, 4]), (6, vec![5, 6])], 6));
        // The window may start at an older level-0 file; newer ones stay.
        let v = version(vec![l0(&[5], MB), l0(&[3, 4], 8 * MB), run(6, 1, 100 * MB)]);
        let c = pick(&v).unwrap();
        assert_eq!(shape(&c), (vec![(0, vec![4, 3])], 5));
    }

    #[test]
    fn a_window_never_ends_inside_level0() {
        // Merge width capped at 2: the two newest level-0 files would leave
        // older level-0 files below them, so that window (and the next) are
        // skipped; the two oldest files are merged and the newer ones stay.
        let opts = TieredOptions { max_merge_width: 2, ..options() };
        let v = version(vec![l0(&[1, 2, 3, 4], MB), run(6, 10, 1000 * MB)]);
        let c = TieredPicker::new(MB, opts).pick(&v, &CompactPointers::default()).unwrap();
        assert_eq!(c.reason(), CompactionReason::SizeRatio);
        assert_eq!(shape(&c), (vec![(0, vec![2, 1])], 5));
    }

    #[test]
    fn manual_range_takes_every_file_of_a_level_holding_a_user_key_it_takes() {
        use crate::test_versions::file_at;
        // "k" spans files 20 (its newer versions) and 21 (older ones) of
        // level 2. Moving 20 alone to level 6 would hide k@148 below k@135.
        let v = version(vec![
            (2, vec![file_at(20, ("a", 90), ("k", 148), MB), file_at(21, ("k", 135), ("m", 40), MB)]),
            (4, vec![sized_file(10, "l", "n", MB)]),
        ]);
        let c = picker().pick_range(&v, 0, Some(b"b"), Some(b"c")).unwrap();
        assert_eq!(shape(&c), (vec![(2, vec![20, 21]), (4, vec![10])], 6));
    }

    #[test]
    fn manual_range_merges_downwards_into_the_last_level() {
        let v = version(vec![
            (0, vec![sized_file(50, "c", "d", MB), sized_file(51, "x", "y", MB)]),
            (
                2,
                vec![
                    sized_file(20, "a", "c", MB),
                    sized_file(21, "e", "f", MB),
                    sized_file(22, "g", "k", MB),
                ],
            ),
            (
                4,
                vec![
                    sized_file(10, "f", "h", MB),
                    sized_file(11, "i", "i", MB),
                    sized_file(12, "l", "m", MB),
                ],
            ),
            (6, vec![sized_file(1, "a", "b", MB), sized_file(2, "j", "j", MB), sized_file(3, "n", "o", MB)]),
        ]);
        // d..e: L0 50 (c..d) widens to c, L2 20 (a..c) and 21 (e..f) widen to a..f,
        // L4 10 (f..h) widens to h, L6 1 (a..b); 22 (g..k) at L2 is newer and stays.
        let c = picker().pick_range(&v, 0, Some(b"d"), Some(b"e")).unwrap();
        assert_eq!(c.reason(), CompactionReason::Manual);
        assert_eq!(shape(&c), (vec![(0, vec![50]), (2, vec![20, 21]), (4, vec![10]), (6, vec![1])], 6));
        // Starting at level 4.
        let c = picker().pick_range(&v, 4, Some(b"i"), None).unwrap();
        assert_eq!(shape(&c), (vec![(4, vec![11, 12]), (6, vec![2, 3])], 6));
        // Only last-level files: nothing to do.
        assert!(picker().pick_range(&v, 6, None, None).is_none());
        assert!(picker().pick_range(&v, 0, Some(b"n"), Some(b"o")).is_none());
        assert!(picker().pick_range(&v, 0, Some(b"zz"), None).is_none());
    }
}
