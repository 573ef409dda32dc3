//! [`VersionBuilder`]: applies a series of [`VersionEdit`]s to a base
//! [`Version`] without building the Versions in between (docs/format.md §10.1,
//! "Applying an edit").
//!
//! Per level, an edit's deletions are applied before its additions, so a
//! number both deleted and added at one level in one edit stays present; a
//! later edit's deletion removes a file an earlier edit added. Adding a
//! number the level already holds replaces that file.
//!
//! The result is checked before it becomes a Version, because a MANIFEST is
//! untrusted input: a file whose smallest key is above its largest, two
//! overlapping files in a level ≥ 1, or one number in two places are errors
//! (LevelDB only asserts the overlap rule in debug builds).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use lsmkit_base::key::InternalKeyComparator;

use crate::config::NUM_LEVELS;
use crate::file_meta_data::{DebugKey, FileMetaData};
use crate::version::{LevelFiles, Version};
use crate::version_edit::VersionEdit;

/// The pending changes to one level.
#[derive(Default)]
struct LevelChanges {
    /// Numbers removed from the base (never also in `added`).
    deleted: BTreeSet<u64>,
    /// Files added, by number.
    added: BTreeMap<u64, Arc<FileMetaData>>,
}

/// Accumulates edits over a base Version.
pub struct VersionBuilder {
    icmp: InternalKeyComparator,
    base: Arc<Version>,
    levels: [LevelChanges; NUM_LEVELS],
}

impl VersionBuilder {
    /// A builder starting from `base`.
    pub fn new(icmp: InternalKeyComparator, base: Arc<Version>) -> VersionBuilder {
        VersionBuilder { icmp, base, levels: Default::default() }
    }

    /// Applies the file changes of `edit` (deletions, then additions). The
    /// counters and compaction pointers are the caller's business.
    pub fn apply(&mut self, edit: &VersionEdit) {
        for &(level, number) in &edit.deleted_files {
            let changes = &mut self.levels[level];
            changes.added.remove(&number);
            changes.deleted.insert(number);
        }
        for (level, file) in &edit.new_files {
            let changes = &mut self.levels[*level];
            changes.deleted.remove(&file.number);
            // A fresh seek budget, as LevelDB gives every added file.
            let fresh =
                FileMetaData::new(file.number, file.file_size, file.smallest.clone(), file.largest.clone());
            changes.added.insert(file.number, Arc::new(fresh));
        }
    }

    /// The Version the base plus every applied edit describes, or a
    /// description of why that set of files is impossible.
    pub fn build(&self) -> Result<Version, String> {
        let mut files: LevelFiles = Default::default();
        for (level, changes) in self.levels.iter().enumerate() {
            let mut added: Vec<&Arc<FileMetaData>> = changes.added.values().collect();
            for f in &added {
                if self.icmp.compare_internal_keys(&f.smallest, &f.largest) == Ordering::Greater {
                    return Err(format!(
                        "file {} at level {level} has smallest key {:?} above largest key {:?}",
                        f.number,
                        DebugKey(&f.smallest),
                        DebugKey(&f.largest)
                    ));
                }
            }
            added.sort_by(|a, b| self.by_smallest_key(a, b));
            let kept =
                self.base.files(level).iter().filter(|f| {
                    !changes.deleted.contains(&f.number) && !changes.added.contains_key(&f.number)
                });
            files[level] = self.merge(kept, added.into_iter());
            if level > 0 {
                self.check_disjoint(level, &files[level])?;
            }
        }
        check_unique_numbers(&files)?;
        Ok(Version::new(self.icmp.clone(), files))
    }

    /// LevelDB's `BySmallestKey`: smallest internal key, then file number.
    fn by_smallest_key(&self, a: &FileMetaData, b: &FileMetaData) -> Ordering {
        self.icmp.compare_internal_keys(&a.smallest, &b.smallest).then(a.number.cmp(&b.number))
    }

    /// Merges two sequences that are each sorted by smallest key.
    fn merge<'a>(
        &self,
        base: impl Iterator<Item = &'a Arc<FileMetaData>>,
        added: impl Iterator<Item = &'a Arc<FileMetaData>>,
    ) -> Vec<Arc<FileMetaData>> {
        let mut out = Vec::new();
        let mut base = base.peekable();
        let mut added = added.peekable();
        loop {
            let take_base = match (base.peek(), added.peek()) {
                (Some(b), Some(a)) => self.by_smallest_key(b, a) != Ordering::Greater,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return out,
            };
            let next = if take_base { base.next() } else { added.next() };
            out.extend(next.cloned());
        }
    }

    /// Levels ≥ 1 must be strictly increasing: each file's largest key below
    /// the next file's smallest.
    fn check_disjoint(&self, level: usize, files: &[Arc<FileMetaData>]) -> Result<(), String> {
        for pair in files.windows(2) {
            if self.icmp.compare_internal_keys(&pair[0].largest, &pair[1].smallest) != Ordering::Less {
                return Err(format!(
                    "overlapping ranges in level {level}: file {} ends at {:?}, file {} starts at {:?}",
                    pair[0].number,
                    DebugKey(&pair[0].largest),
                    pair[1].number,
                    DebugKey(&pair[1].smallest)
                ));
            }
        }
        Ok(())
    }
}

/// No file number may appear twice in a Version.
fn check_unique_numbers(files: &LevelFiles) -> Result<(), String> {
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (level, level_files) in files.iter().enumerate() {
        for f in level_files {
            if let Some(first) = seen.insert(f.number, level) {
                return Err(format!("file {} appears twice (levels {first} and {level})", f.number));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::comparator::BytewiseComparator;
    use lsmkit_base::key::{make_internal_key, ValueKind};

    fn icmp() -> InternalKeyComparator {
        InternalKeyComparator::new(BytewiseComparator::shared())
    }

    fn meta(number: u64, smallest: &str, largest: &str) -> FileMetaData {
        FileMetaData::new(
            number,
            number * 10,
            make_internal_key(smallest.as_bytes(), number, ValueKind::Value),
            make_internal_key(largest.as_bytes(), number, ValueKind::Value),
        )
    }

    fn build(base: Arc<Version>, edits: &[VersionEdit]) -> Result<Version, String> {
        let mut builder = VersionBuilder::new(icmp(), base);
        for edit in edits {
            builder.apply(edit);
        }
        builder.build()
    }

    fn numbers(v: &Version, level: usize) -> Vec<u64> {
        v.files(level).iter().map(|f| f.number).collect()
    }

    #[test]
    fn levels_are_sorted_by_smallest_key_then_number() {
        let mut edit = VersionEdit::new();
        edit.add_file(0, meta(7, "c", "d"));
        edit.add_file(0, meta(3, "a", "z"));
        edit.add_file(1, meta(9, "m", "n"));
        edit.add_file(1, meta(4, "a", "b"));
        let v = build(Arc::new(Version::empty(icmp())), &[edit]).unwrap();
        assert_eq!(numbers(&v, 0), [3, 7]);
        assert_eq!(numbers(&v, 1), [4, 9]);
        // Same smallest user key at level 0: the newer sequence sorts first.
        let mut edit = VersionEdit::new();
        edit.add_file(0, meta(2, "a", "b"));
        edit.add_file(0, meta(8, "a", "b"));
        let v = build(Arc::new(v), &[edit]).unwrap();
        assert_eq!(numbers(&v, 0), [8, 3, 2, 7]);
    }

    #[test]
    fn deletions_before_additions_within_an_edit() {
        let mut first = VersionEdit::new();
        first.add_file(1, meta(5, "a", "b"));
        let base = Arc::new(build(Arc::new(Version::empty(icmp())), &[first]).unwrap());
        // A trivial move: delete at 1, add at 2.
        let mut moved = VersionEdit::new();
        moved.remove_file(1, 5);
        moved.add_file(2, meta(5, "a", "b"));
        let v = build(base.clone(), &[moved]).unwrap();
        assert_eq!((numbers(&v, 1), numbers(&v, 2)), (vec![], vec![5]));
        // Deleted and added at the same level in one edit: present.
        let mut both = VersionEdit::new();
        both.remove_file(1, 5);
        both.add_file(1, meta(5, "a", "b"));
        assert_eq!(numbers(&build(base.clone(), &[both]).unwrap(), 1), [5]);
        // Added by one edit and deleted by a later one: gone.
        let mut add = VersionEdit::new();
        add.add_file(0, meta(6, "c", "d"));
        let mut delete = VersionEdit::new();
        delete.remove_file(0, 6);
        assert!(numbers(&build(base.clone(), &[add.clone(), delete.clone()]).unwrap(), 0).is_empty());
        // ... and re-added by a third.
        assert_eq!(numbers(&build(base.clone(), &[add.clone(), delete, add]).unwrap(), 0), [6]);
        // Deleting a file that does not exist is harmless.
        let mut ghost = VersionEdit::new();
        ghost.remove_file(3, 99);
        assert_eq!(build(base.clone(), &[ghost]).unwrap(), *base);
    }

    #[test]
    fn re_adding_a_number_replaces_the_file() {
        let mut first = VersionEdit::new();
        first.add_file(0, meta(5, "a", "b"));
        let base = Arc::new(build(Arc::new(Version::empty(icmp())), &[first]).unwrap());
        let mut again = VersionEdit::new();
        again.add_file(0, FileMetaData::new(5, 1, meta(5, "a", "b").smallest, meta(5, "c", "c").largest));
        let v = build(base, &[again]).unwrap();
        assert_eq!(v.files(0).len(), 1);
        assert_eq!(v.files(0)[0].file_size, 1);
    }

    #[test]
    fn impossible_versions_are_rejected() {
        let empty = Arc::new(Version::empty(icmp()));
        let mut overlap = VersionEdit::new();
        overlap.add_file(1, meta(1, "a", "m"));
        overlap.add_file(1, meta(2, "k", "z"));
        assert!(build(empty.clone(), &[overlap]).unwrap_err().contains("overlapping ranges in level 1"));
        let mut level0_overlap = VersionEdit::new();
        level0_overlap.add_file(0, meta(1, "a", "m"));
        level0_overlap.add_file(0, meta(2, "k", "z"));
        assert!(build(empty.clone(), &[level0_overlap]).is_ok());
        let mut twice = VersionEdit::new();
        twice.add_file(0, meta(1, "a", "m"));
        twice.add_file(3, meta(1, "a", "m"));
        assert!(build(empty.clone(), &[twice]).unwrap_err().contains("file 1 appears twice"));
        let mut inverted = VersionEdit::new();
        inverted.add_file(0, meta(1, "z", "a"));
        assert!(build(empty, &[inverted]).unwrap_err().contains("above largest key"));
    }

    #[test]
    fn seek_budgets_are_fresh_for_added_files() {
        let mut edit = VersionEdit::new();
        let f = meta(1, "a", "b");
        f.charge_seek();
        edit.add_file(0, f);
        let v = build(Arc::new(Version::empty(icmp())), &[edit]).unwrap();
        assert_eq!(v.files(0)[0].allowed_seeks(), 100);
    }
}
