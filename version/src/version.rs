//! [`Version`]: an immutable list of the table files in each level, and the
//! queries reads, flushes and compactions ask of it (docs/format.md §10.1 for the
//! ordering, §11 for placement, scores and seek budgets).
//!
//! Each level is sorted by smallest internal key (ties by file number), as
//! LevelDB keeps it. Files in levels ≥ 1 do not overlap, so those levels are
//! binary-searched; level-0 files may overlap and are scanned.

use std::cmp::Ordering;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use lsmkit_base::key::{extract_user_key, make_internal_key, parse_internal_key, InternalKeyComparator};
use lsmkit_base::key::{MAX_SEQUENCE_NUMBER, VALUE_KIND_FOR_SEEK};

use crate::config::{
    max_bytes_for_level, max_grandparent_overlap_bytes, L0_COMPACTION_TRIGGER, MAX_MEM_COMPACT_LEVEL,
    NUM_LEVELS,
};
use crate::file_meta_data::{DebugKey, FileMetaData};

/// The files of every level.
pub type LevelFiles = [Vec<Arc<FileMetaData>>; NUM_LEVELS];

/// One consistent state of the database's table files. Shared through
/// `Arc`; never changes once built, except for the seek accounting that
/// proposes a seek compaction.
pub struct Version {
    icmp: InternalKeyComparator,
    files: LevelFiles,
    /// The best compaction score over levels 0..5 (≥ 1 means a compaction is wanted).
    compaction_score: f64,
    /// The level that score belongs to.
    compaction_level: usize,
    /// A file whose seek budget ran out, with its level (set at most once).
    file_to_compact: Mutex<Option<(usize, Arc<FileMetaData>)>>,
}

/// What a point lookup observed, for seek accounting: the first file it read
/// when it had to read more than one.
#[derive(Debug, Clone, Default)]
pub struct GetStats {
    /// The file (and its level) that was consulted without answering the lookup.
    pub seek_file: Option<(usize, Arc<FileMetaData>)>,
    last_file_read: Option<(usize, Arc<FileMetaData>)>,
}

impl GetStats {
    /// Fresh statistics for one lookup.
    pub fn new() -> GetStats {
        GetStats::default()
    }

    /// Notes that the lookup is about to read `file` at `level`. When a file
    /// was already read, that earlier file becomes the [`seek_file`](Self::seek_file)
    /// (LevelDB charges the first file of a lookup that needed two or more).
    pub fn note_file_read(&mut self, level: usize, file: &Arc<FileMetaData>) {
        if self.seek_file.is_none() {
            self.seek_file = self.last_file_read.take();
        }
        self.last_file_read = Some((level, Arc::clone(file)));
    }
}

/// The index of the first file in `files` whose largest key is ≥
/// `internal_key` (`files.len()` if there is none). `files` must be sorted
/// and disjoint, as in levels ≥ 1.
pub fn find_file(icmp: &InternalKeyComparator, files: &[Arc<FileMetaData>], internal_key: &[u8]) -> usize {
    files.partition_point(|f| icmp.compare_internal_keys(&f.largest, internal_key) == Ordering::Less)
}

/// True when `user_key` is after every key of `file` (`None` means "before everything").
fn after_file(icmp: &InternalKeyComparator, user_key: Option<&[u8]>, file: &FileMetaData) -> bool {
    user_key.is_some_and(|k| icmp.compare_user_keys(k, file.largest_user_key()) == Ordering::Greater)
}

/// True when `user_key` is before every key of `file` (`None` means "after everything").
fn before_file(icmp: &InternalKeyComparator, user_key: Option<&[u8]>, file: &FileMetaData) -> bool {
    user_key.is_some_and(|k| icmp.compare_user_keys(k, file.smallest_user_key()) == Ordering::Less)
}

/// Sum of the file sizes.
pub fn total_file_size(files: &[Arc<FileMetaData>]) -> u64 {
    files.iter().map(|f| f.file_size).fold(0u64, u64::saturating_add)
}

impl Version {
    /// A Version over `files` (each level already sorted and checked), with
    /// its compaction score computed as LevelDB's `VersionSet::Finalize` does.
    pub(crate) fn new(icmp: InternalKeyComparator, files: LevelFiles) -> Version {
        let mut version = Version {
            icmp,
            files,
            compaction_score: -1.0,
            compaction_level: 0,
            file_to_compact: Mutex::new(None),
        };
        (version.compaction_level, version.compaction_score) = version.finalize();
        version
    }

    /// LevelDB's `VersionSet::Finalize`: the level most in need of a size
    /// compaction and its score, over levels 0..NUM_LEVELS-1 (the first
    /// such level on a tie).
    fn finalize(&self) -> (usize, f64) {
        let mut best_level = 0;
        let mut best_score = -1.0;
        for level in 0..NUM_LEVELS - 1 {
            let score = self.level_score(level, L0_COMPACTION_TRIGGER, |_| true);
            if score > best_score {
                best_level = level;
                best_score = score;
            }
        }
        (best_level, best_score)
    }

    /// A Version with no files.
    pub fn empty(icmp: InternalKeyComparator) -> Version {
        Version::new(icmp, Default::default())
    }

    /// The internal-key comparator the levels are sorted by.
    pub fn comparator(&self) -> &InternalKeyComparator {
        &self.icmp
    }

    /// The files of `level`, sorted by smallest key. Panics if `level ≥ NUM_LEVELS`.
    pub fn files(&self, level: usize) -> &[Arc<FileMetaData>] {
        &self.files[level]
    }

    /// The files of every level.
    pub fn levels(&self) -> &LevelFiles {
        &self.files
    }

    /// Number of files in `level`.
    pub fn num_level_files(&self, level: usize) -> usize {
        self.files[level].len()
    }

    /// Total bytes of the files in `level`.
    pub fn num_level_bytes(&self, level: usize) -> u64 {
        total_file_size(&self.files[level])
    }

    /// The numbers of every table this Version uses.
    pub fn table_numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.files.iter().flatten().map(|f| f.number)
    }

    /// The size-compaction score of `level` (< `NUM_LEVELS - 1`; the last
    /// level is never scored and gets 0), counting only the files `counted`
    /// accepts: at level 0 their number / `l0_compaction_trigger` (at least
    /// 1), elsewhere their bytes / the level's limit. A score ≥ 1 asks for a
    /// compaction. Pickers use it with their own trigger, leaving out files
    /// that running compactions already took.
    pub fn level_score(
        &self,
        level: usize,
        l0_compaction_trigger: usize,
        counted: impl Fn(&FileMetaData) -> bool,
    ) -> f64 {
        if level + 1 >= NUM_LEVELS {
            return 0.0;
        }
        let files = self.files[level].iter().filter(|f| counted(f));
        if level == 0 {
            // Counted in files: with small write buffers, many small L0
            // files would otherwise slow every read.
            files.count() as f64 / l0_compaction_trigger.max(1) as f64
        } else {
            files.map(|f| f.file_size).fold(0u64, u64::saturating_add) as f64 / max_bytes_for_level(level)
        }
    }

    /// The best size-compaction score with LevelDB's level-0 trigger of 4
    /// (level 0: files / 4; others: bytes / the level's limit). A score ≥ 1
    /// asks for a compaction. See [`level_score`](Self::level_score) for
    /// other triggers.
    pub fn compaction_score(&self) -> f64 {
        self.compaction_score
    }

    /// The level [`compaction_score`](Self::compaction_score) belongs to.
    pub fn compaction_level(&self) -> usize {
        self.compaction_level
    }

    /// The file whose seek budget ran out, if any, with its level.
    pub fn file_to_compact(&self) -> Option<(usize, Arc<FileMetaData>)> {
        self.file_to_compact.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// True when a size compaction (score ≥ 1) or a seek compaction is due.
    pub fn needs_compaction(&self) -> bool {
        self.compaction_score >= 1.0 || self.file_to_compact().is_some()
    }

    /// The files of `level` whose user-key range overlaps `[begin, end]`
    /// (`None` = unbounded). At level 0 the range grows to cover every file
    /// that overlaps it, transitively, as LevelDB's `GetOverlappingInputs`.
    pub fn overlapping_inputs(
        &self,
        level: usize,
        begin: Option<&[u8]>,
        end: Option<&[u8]>,
    ) -> Vec<Arc<FileMetaData>> {
        let mut inputs = Vec::new();
        let mut user_begin = begin.map(<[u8]>::to_vec);
        let mut user_end = end.map(<[u8]>::to_vec);
        let files = &self.files[level];
        let mut i = 0;
        while i < files.len() {
            let f = &files[i];
            i += 1;
            let file_start = f.smallest_user_key();
            let file_limit = f.largest_user_key();
            if after_file(&self.icmp, user_begin.as_deref(), f)
                || before_file(&self.icmp, user_end.as_deref(), f)
            {
                continue; // Entirely outside the range.
            }
            inputs.push(Arc::clone(f));
            if level == 0 {
                // Level-0 files may overlap each other: if this one widens
                // the range, start over with the wider range.
                if user_begin
                    .as_deref()
                    .is_some_and(|b| self.icmp.compare_user_keys(file_start, b) == Ordering::Less)
                {
                    user_begin = Some(file_start.to_vec());
                    inputs.clear();
                    i = 0;
                } else if user_end
                    .as_deref()
                    .is_some_and(|e| self.icmp.compare_user_keys(file_limit, e) == Ordering::Greater)
                {
                    user_end = Some(file_limit.to_vec());
                    inputs.clear();
                    i = 0;
                }
            }
        }
        inputs
    }

    /// True when some file of `level` overlaps the user-key range
    /// `[smallest_user_key, largest_user_key]` (`None` = unbounded).
    pub fn overlap_in_level(
        &self,
        level: usize,
        smallest_user_key: Option<&[u8]>,
        largest_user_key: Option<&[u8]>,
    ) -> bool {
        let files = &self.files[level];
        if level == 0 {
            return files.iter().any(|f| {
                !after_file(&self.icmp, smallest_user_key, f) && !before_file(&self.icmp, largest_user_key, f)
            });
        }
        let index = match smallest_user_key {
            Some(user_key) => find_file(
                &self.icmp,
                files,
                &make_internal_key(user_key, MAX_SEQUENCE_NUMBER, VALUE_KIND_FOR_SEEK),
            ),
            None => 0,
        };
        match files.get(index) {
            Some(f) => !before_file(&self.icmp, largest_user_key, f),
            None => false,
        }
    }

    /// The files a point lookup of `internal_key` (a lookup key's internal
    /// key, `user_key ++ (snapshot << 8 | 1)`) must consult, in LevelDB's
    /// order: the level-0 files whose range holds the user key, newest
    /// (highest number) first, then at most one file per deeper level, found
    /// by binary search. The search stops being done as soon as the caller
    /// stops iterating.
    pub fn files_for_get<'a>(&'a self, internal_key: &'a [u8]) -> FilesForGet<'a> {
        let user_key = extract_user_key(internal_key);
        let mut level0: Vec<Arc<FileMetaData>> = self.files[0]
            .iter()
            .filter(|f| {
                self.icmp.compare_user_keys(user_key, f.smallest_user_key()) != Ordering::Less
                    && self.icmp.compare_user_keys(user_key, f.largest_user_key()) != Ordering::Greater
            })
            .cloned()
            .collect();
        level0.sort_by_key(|f| std::cmp::Reverse(f.number));
        FilesForGet { version: self, internal_key, level0: level0.into_iter(), next_level: 1 }
    }

    /// Seek accounting for one lookup: charges a seek to `stats.seek_file`;
    /// when its budget runs out and no file is scheduled yet, schedules it
    /// for a seek compaction and returns true (the caller should then
    /// trigger a compaction).
    pub fn update_stats(&self, stats: &GetStats) -> bool {
        let Some((level, file)) = &stats.seek_file else {
            return false;
        };
        if file.charge_seek() > 0 {
            return false;
        }
        let mut slot = self.file_to_compact.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() {
            return false;
        }
        *slot = Some((*level, Arc::clone(file)));
        true
    }

    /// Read sampling by iterators (docs/format.md §11, "read sampling period"):
    /// when two or more files may hold `internal_key`, charges a seek to the
    /// first of them; returns what [`update_stats`](Self::update_stats) returns.
    pub fn record_read_sample(&self, internal_key: &[u8]) -> bool {
        if parse_internal_key(internal_key).is_err() {
            return false;
        }
        let mut matches = self.files_for_get(internal_key);
        let Some(first) = matches.next() else {
            return false;
        };
        if matches.next().is_none() {
            return false;
        }
        let stats = GetStats { seek_file: Some(first), last_file_read: None };
        self.update_stats(&stats)
    }

    /// The level a table flushed from the memtable, holding user keys
    /// `[smallest_user_key, largest_user_key]`, should be written to
    /// (docs/format.md §11, `kMaxMemCompactLevel`): 0 if it overlaps level 0;
    /// otherwise pushed down while the next level has no overlap and the
    /// level after that overlaps by at most 10 × `max_file_size` bytes, to
    /// level 2 at most.
    pub fn pick_level_for_memtable_output(
        &self,
        smallest_user_key: &[u8],
        largest_user_key: &[u8],
        max_file_size: u64,
    ) -> usize {
        self.pick_level_for_memtable_output_unless(smallest_user_key, largest_user_key, max_file_size, |_| {
            false
        })
    }

    /// [`pick_level_for_memtable_output`](Self::pick_level_for_memtable_output),
    /// treating every level for which `blocked` returns true as if it held a
    /// file overlapping the table (the table then stays above it). The
    /// engine blocks the levels where a running compaction writes keys in
    /// the table's range: those outputs are not in this Version yet.
    pub fn pick_level_for_memtable_output_unless(
        &self,
        smallest_user_key: &[u8],
        largest_user_key: &[u8],
        max_file_size: u64,
        blocked: impl Fn(usize) -> bool,
    ) -> usize {
        let mut level = 0;
        if self.overlap_in_level(0, Some(smallest_user_key), Some(largest_user_key)) {
            return level;
        }
        while level < MAX_MEM_COMPACT_LEVEL {
            if blocked(level + 1)
                || self.overlap_in_level(level + 1, Some(smallest_user_key), Some(largest_user_key))
            {
                break;
            }
            if level + 2 < NUM_LEVELS {
                let overlaps =
                    self.overlapping_inputs(level + 2, Some(smallest_user_key), Some(largest_user_key));
                if total_file_size(&overlaps) > max_grandparent_overlap_bytes(max_file_size) {
                    break;
                }
            }
            level += 1;
        }
        level
    }

    /// `files[ n0 n1 … n6 ]`: the number of files per level.
    pub fn level_summary(&self) -> String {
        let counts: Vec<String> = self.files.iter().map(|f| f.len().to_string()).collect();
        format!("files[ {} ]", counts.join(" "))
    }
}

/// The iterator returned by [`Version::files_for_get`]: `(level, file)` pairs.
pub struct FilesForGet<'a> {
    version: &'a Version,
    internal_key: &'a [u8],
    level0: std::vec::IntoIter<Arc<FileMetaData>>,
    next_level: usize,
}

impl Iterator for FilesForGet<'_> {
    type Item = (usize, Arc<FileMetaData>);

    fn next(&mut self) -> Option<(usize, Arc<FileMetaData>)> {
        if let Some(f) = self.level0.next() {
            return Some((0, f));
        }
        let icmp = &self.version.icmp;
        let user_key = extract_user_key(self.internal_key);
        while self.next_level < NUM_LEVELS {
            let level = self.next_level;
            self.next_level += 1;
            let files = &self.version.files[level];
            let index = find_file(icmp, files, self.internal_key);
            if let Some(f) = files.get(index) {
                if icmp.compare_user_keys(user_key, f.smallest_user_key()) != Ordering::Less {
                    return Some((level, Arc::clone(f)));
                }
            }
        }
        None
    }
}

/// Two Versions are equal when they hold the same files (number, size and
/// keys) in the same levels.
impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.files == other.files
    }
}

impl fmt::Debug for Version {
    /// LevelDB's `DebugString`: each level, then `number:size[smallest .. largest]` per file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (level, files) in self.files.iter().enumerate() {
            writeln!(f, "--- level {level} ---")?;
            for file in files {
                writeln!(
                    f,
                    " {}:{}[{:?} .. {:?}]",
                    file.number,
                    file.file_size,
                    DebugKey(&file.smallest),
                    DebugKey(&file.largest)
                )?;
            }
        }
        Ok(())
    }
}

// A Version is shared by readers on many threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Version>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::comparator::BytewiseComparator;
    use lsmkit_base::key::{LookupKey, ValueKind};

    fn icmp() -> InternalKeyComparator {
        InternalKeyComparator::new(BytewiseComparator::shared())
    }

    fn file(number: u64, smallest: &str, largest: &str) -> Arc<FileMetaData> {
        sized_file(number, smallest, largest, 1000)
    }

    fn sized_file(number: u64, smallest: &str, largest: &str, size: u64) -> Arc<FileMetaData> {
        Arc::new(FileMetaData::new(
            number,
            size,
            make_internal_key(smallest.as_bytes(), 100, ValueKind::Value),
            make_internal_key(largest.as_bytes(), 100, ValueKind::Value),
        ))
    }

    fn version(levels: Vec<(usize, Vec<Arc<FileMetaData>>)>) -> Version {
        let mut files: LevelFiles = Default::default();
        for (level, level_files) in levels {
            files[level] = level_files;
        }
        Version::new(icmp(), files)
    }

    fn numbers(files: &[Arc<FileMetaData>]) -> Vec<u64> {
        files.iter().map(|f| f.number).collect()
    }

    #[test]
    fn find_file_binary_search() {
        let files =
            vec![file(1, "150", "200"), file(2, "200", "250"), file(3, "300", "350"), file(4, "400", "450")];
        let seek =
            |k: &str| find_file(&icmp(), &files, &make_internal_key(k.as_bytes(), 100, ValueKind::Value));
        assert_eq!(seek("100"), 0);
        assert_eq!(seek("150"), 0);
        assert_eq!(seek("201"), 1);
        assert_eq!(seek("251"), 2);
        assert_eq!(seek("350"), 2);
        assert_eq!(seek("451"), 4);
        assert_eq!(find_file(&icmp(), &[], b"anything"), 0);
    }

    #[test]
    fn overlap_in_sorted_level() {
        let v = version(vec![(1, vec![file(1, "150", "200"), file(2, "200", "250"), file(3, "300", "350")])]);
        let o = |a: Option<&str>, b: Option<&str>| {
            v.overlap_in_level(1, a.map(str::as_bytes), b.map(str::as_bytes))
        };
        assert!(!o(Some("100"), Some("149")));
        assert!(!o(Some("251"), Some("299")));
        assert!(!o(Some("351"), Some("500")));
        assert!(o(Some("100"), Some("150")));
        assert!(o(Some("200"), Some("200")));
        assert!(o(Some("260"), Some("300")));
        assert!(o(None, Some("150")));
        assert!(!o(None, Some("149")));
        assert!(o(Some("350"), None));
        assert!(!o(Some("351"), None));
        assert!(o(None, None));
        assert!(!v.overlap_in_level(2, None, None));
    }

    #[test]
    fn overlap_in_level0_scans_every_file() {
        let v = version(vec![(0, vec![file(1, "150", "600"), file(2, "400", "500")])]);
        let o = |a: &str, b: &str| v.overlap_in_level(0, Some(a.as_bytes()), Some(b.as_bytes()));
        assert!(o("100", "150"));
        assert!(o("550", "700"));
        assert!(!o("100", "149"));
        assert!(!o("601", "700"));
    }

    #[test]
    fn overlapping_inputs_grow_at_level0_only() {
        let l0 = vec![file(1, "a", "c"), file(2, "b", "f"), file(3, "e", "g"), file(4, "x", "z")];
        let l1 = vec![file(5, "a", "c"), file(6, "d", "f"), file(7, "g", "h")];
        let v = version(vec![(0, l0), (1, l1)]);
        let b = |s: &'static str| Some(s.as_bytes());
        // "c".."d" touches files 1 and 2; 2 widens to f, which pulls in 3, which widens to g.
        assert_eq!(numbers(&v.overlapping_inputs(0, b("c"), b("d"))), [1, 2, 3]);
        assert_eq!(numbers(&v.overlapping_inputs(1, b("c"), b("d"))), [5, 6]);
        assert_eq!(numbers(&v.overlapping_inputs(0, b("y"), None)), [4]);
        assert_eq!(numbers(&v.overlapping_inputs(0, None, None)), [1, 2, 3, 4]);
        assert_eq!(numbers(&v.overlapping_inputs(1, None, b("c"))), [5]);
        assert!(v.overlapping_inputs(0, b("h"), b("w")).is_empty());
    }

    #[test]
    fn files_for_get_order() {
        let l0 = vec![file(3, "a", "m"), file(9, "c", "z"), file(5, "k", "k")];
        let l1 = vec![file(4, "a", "d"), file(6, "e", "m")];
        let l2 = vec![file(7, "l", "q")];
        let v = version(vec![(0, l0), (1, l1), (2, l2)]);
        let lookup = |k: &str| {
            let lk = LookupKey::new(k.as_bytes(), 200);
            v.files_for_get(lk.internal_key()).map(|(level, f)| (level, f.number)).collect::<Vec<_>>()
        };
        assert_eq!(lookup("k"), [(0, 9), (0, 5), (0, 3), (1, 6)]);
        assert_eq!(lookup("m"), [(0, 9), (0, 3), (1, 6), (2, 7)]);
        assert_eq!(lookup("b"), [(0, 3), (1, 4)]);
        assert_eq!(lookup("zz"), []);
        // The lookup stops searching as soon as the caller stops.
        let lk = LookupKey::new(b"k", 200);
        assert_eq!(v.files_for_get(lk.internal_key()).next().map(|(_, f)| f.number), Some(9));
    }

    #[test]
    fn files_for_get_respects_sequence_at_file_boundaries() {
        // One user key split over two level-1 files: seq 100..50 in file 1, 49.. in file 2.
        let f1 = Arc::new(FileMetaData::new(
            1,
            10,
            make_internal_key(b"a", 100, ValueKind::Value),
            make_internal_key(b"k", 50, ValueKind::Value),
        ));
        let f2 = Arc::new(FileMetaData::new(
            2,
            10,
            make_internal_key(b"k", 49, ValueKind::Value),
            make_internal_key(b"z", 1, ValueKind::Value),
        ));
        let v = version(vec![(1, vec![f1, f2])]);
        let at = |seq| {
            let lk = LookupKey::new(b"k", seq);
            v.files_for_get(lk.internal_key()).map(|(_, f)| f.number).collect::<Vec<_>>()
        };
        assert_eq!(at(60), [1]);
        assert_eq!(at(40), [2]);
    }

    #[test]
    fn memtable_output_placement() {
        let max_file_size = 2 << 20;
        let empty = version(vec![]);
        assert_eq!(empty.pick_level_for_memtable_output(b"a", b"z", max_file_size), MAX_MEM_COMPACT_LEVEL);
        let l0 = version(vec![(0, vec![file(1, "m", "n")])]);
        assert_eq!(l0.pick_level_for_memtable_output(b"a", b"m", max_file_size), 0);
        assert_eq!(l0.pick_level_for_memtable_output(b"a", b"b", max_file_size), 2);
        let l1 = version(vec![(1, vec![file(1, "m", "n")])]);
        assert_eq!(l1.pick_level_for_memtable_output(b"a", b"m", max_file_size), 0);
        let l2 = version(vec![(2, vec![file(1, "m", "n")])]);
        assert_eq!(l2.pick_level_for_memtable_output(b"a", b"m", max_file_size), 1);
        // A grandparent overlap over 10 × max_file_size keeps the table at level 0.
        let big =
            version(vec![(2, vec![sized_file(1, "a", "c", 15 << 20), sized_file(2, "d", "f", 15 << 20)])]);
        assert_eq!(big.pick_level_for_memtable_output(b"b", b"e", max_file_size), 0);
        assert_eq!(big.pick_level_for_memtable_output(b"b", b"b", max_file_size), 1);
        let deep = version(vec![(3, vec![sized_file(1, "a", "c", 30 << 20)])]);
        assert_eq!(deep.pick_level_for_memtable_output(b"b", b"b", max_file_size), 1);
    }

    #[test]
    fn compaction_scores() {
        let v = version(vec![(0, vec![file(1, "a", "b"), file(2, "a", "b")])]);
        assert_eq!((v.compaction_level(), v.compaction_score()), (0, 0.5));
        assert!(!v.needs_compaction());
        let v = version(vec![
            (0, (1..=4).map(|n| file(n, "a", "b")).collect()),
            (2, vec![sized_file(9, "a", "b", 200 << 20)]),
        ]);
        assert_eq!((v.compaction_level(), v.compaction_score()), (2, 2.0));
        assert!(v.needs_compaction());
        // Level 6 is never scored.
        let v = version(vec![(6, vec![sized_file(9, "a", "b", u64::MAX)])]);
        assert_eq!(v.compaction_level(), 0);
        assert_eq!(v.compaction_score(), 0.0);
        assert_eq!(v.level_summary(), "files[ 0 0 0 0 0 0 1 ]");
        assert_eq!(v.num_level_bytes(6), u64::MAX);
    }

    #[test]
    fn level_scores_with_other_triggers_and_left_out_files() {
        let v = version(vec![
            (0, (1..=4).map(|n| file(n, "a", "b")).collect()),
            (1, vec![sized_file(5, "a", "b", 5 << 20), sized_file(6, "c", "d", 10 << 20)]),
            (6, vec![sized_file(7, "a", "b", 1 << 40)]),
        ]);
        let all = |_: &FileMetaData| true;
        assert_eq!(v.level_score(0, 4, all), 1.0);
        assert_eq!(v.level_score(0, 2, all), 2.0);
        assert_eq!(v.level_score(0, 8, all), 0.5);
        assert_eq!(v.level_score(0, 0, all), 4.0);
        assert_eq!(v.level_score(1, 4, all), 1.5);
        assert_eq!(v.level_score(0, 4, |f| f.number != 1), 0.75);
        assert_eq!(v.level_score(1, 4, |f| f.number != 6), 0.5);
        assert_eq!(v.level_score(2, 4, all), 0.0);
        assert_eq!(v.level_score(6, 4, all), 0.0);
        // The Version's own score uses LevelDB's trigger of 4.
        assert_eq!((v.compaction_level(), v.compaction_score()), (1, 1.5));
    }

    #[test]
    fn memtable_output_placement_skips_blocked_levels() {
        let max_file_size = 2 << 20;
        let empty = version(vec![]);
        let place = |blocked: &[usize]| {
            empty.pick_level_for_memtable_output_unless(b"a", b"z", max_file_size, |l| blocked.contains(&l))
        };
        assert_eq!(place(&[]), 2);
        assert_eq!(place(&[2]), 1);
        assert_eq!(place(&[1]), 0);
        assert_eq!(place(&[0, 3]), 2);
    }

    #[test]
    fn seek_accounting_schedules_one_file() {
        let f1 = file(1, "a", "m");
        let f2 = file(2, "a", "m");
        let v = version(vec![(0, vec![f2.clone(), f1.clone()])]);
        let mut stats = GetStats::new();
        stats.note_file_read(0, &f2);
        assert!(stats.seek_file.is_none());
        stats.note_file_read(0, &f1);
        assert_eq!(stats.seek_file.as_ref().map(|(l, f)| (*l, f.number)), Some((0, 2)));
        for _ in 0..99 {
            assert!(!v.update_stats(&stats));
        }
        assert!(v.file_to_compact().is_none());
        assert!(v.update_stats(&stats));
        assert_eq!(v.file_to_compact().map(|(l, f)| (l, f.number)), Some((0, 2)));
        assert!(v.needs_compaction());
        // Once a file is scheduled, no other is.
        let other = GetStats { seek_file: Some((0, f1.clone())), last_file_read: None };
        for _ in 0..200 {
            assert!(!v.update_stats(&other));
        }
        assert_eq!(v.file_to_compact().map(|(_, f)| f.number), Some(2));
        assert!(!v.update_stats(&GetStats::new()));
    }

    #[test]
    fn read_sampling_needs_two_candidates() {
        let v = version(vec![(0, vec![file(1, "a", "m"), file(2, "k", "z")])]);
        let key = |k: &str| make_internal_key(k.as_bytes(), 5, ValueKind::Value);
        for _ in 0..500 {
            assert!(!v.record_read_sample(&key("b")));
        }
        assert_eq!(v.files(0)[0].allowed_seeks(), 100);
        for _ in 0..99 {
            assert!(!v.record_read_sample(&key("l")));
        }
        assert!(v.record_read_sample(&key("l")));
        // Newest of the two (file 2) was charged.
        assert_eq!(v.file_to_compact().map(|(_, f)| f.number), Some(2));
        assert!(!v.record_read_sample(b"short"));
    }

    #[test]
    fn debug_string_lists_files() {
        let v = version(vec![(1, vec![file(5, "a", "b")])]);
        let text = format!("{v:?}");
        assert!(text.contains("--- level 1 ---\n 5:1000['a' @ 100 : 1 .. 'b' @ 100 : 1]\n"), "{text}");
    }
}
