//! Key ranges of sets of files, and LevelDB's boundary-input rule, used by
//! the pickers to grow a compaction's inputs (docs/format.md §11).
//!
//! A compaction output may be cut between two entries of one user key, so
//! two neighbouring files of a level ≥ 1 can share a user key (`k@5` ends
//! one file, `k@3` starts the next). Compacting the first without the second
//! would move the newer `k@5` below the older `k@3`, and reads would find
//! the stale version. [`add_boundary_inputs`] adds such neighbours.

use std::cmp::Ordering;
use std::sync::Arc;

use lsmkit_base::key::{extract_user_key, InternalKeyComparator};
use lsmkit_version::FileMetaData;

/// The smallest and largest internal keys over `files` (LevelDB's
/// `GetRange`); `None` when there are no files.
pub fn key_range<'a>(
    icmp: &InternalKeyComparator,
    files: impl IntoIterator<Item = &'a Arc<FileMetaData>>,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut range: Option<(&[u8], &[u8])> = None;
    for f in files {
        range = Some(match range {
            None => (&f.smallest, &f.largest),
            Some((smallest, largest)) => (
                if icmp.compare_internal_keys(&f.smallest, smallest) == Ordering::Less {
                    &f.smallest
                } else {
                    smallest
                },
                if icmp.compare_internal_keys(&f.largest, largest) == Ordering::Greater {
                    &f.largest
                } else {
                    largest
                },
            ),
        });
    }
    range.map(|(smallest, largest)| (smallest.to_vec(), largest.to_vec()))
}

/// The user-key parts of a range from [`key_range`].
pub fn user_keys(range: &(Vec<u8>, Vec<u8>)) -> (&[u8], &[u8]) {
    (extract_user_key(&range.0), extract_user_key(&range.1))
}

/// Adds to `compaction_files` every file of `level_files` that continues the
/// user key the selection ends with, repeatedly (LevelDB's
/// `AddBoundaryInputs`): while some file starts after the selection's
/// largest internal key but with the same user key, the one with the
/// smallest such start is added and becomes the new end.
pub fn add_boundary_inputs(
    icmp: &InternalKeyComparator,
    level_files: &[Arc<FileMetaData>],
    compaction_files: &mut Vec<Arc<FileMetaData>>,
) {
    let Some((_, mut largest)) = key_range(icmp, compaction_files.iter()) else {
        return;
    };
    while let Some(boundary) = smallest_boundary_file(icmp, level_files, &largest) {
        largest = boundary.largest.clone();
        compaction_files.push(boundary);
    }
}

/// The file of `level_files` with the smallest start among those starting
/// after `largest_key` with the same user key.
fn smallest_boundary_file(
    icmp: &InternalKeyComparator,
    level_files: &[Arc<FileMetaData>],
    largest_key: &[u8],
) -> Option<Arc<FileMetaData>> {
    let user_key = extract_user_key(largest_key);
    let mut best: Option<&Arc<FileMetaData>> = None;
    for f in level_files {
        if icmp.compare_internal_keys(&f.smallest, largest_key) == Ordering::Greater
            && icmp.compare_user_keys(f.smallest_user_key(), user_key) == Ordering::Equal
            && best.is_none_or(|b| icmp.compare_internal_keys(&f.smallest, &b.smallest) == Ordering::Less)
        {
            best = Some(f);
        }
    }
    best.cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsmkit_base::comparator::BytewiseComparator;
    use lsmkit_base::key::{make_internal_key, ValueKind};

    fn icmp() -> InternalKeyComparator {
        InternalKeyComparator::new(BytewiseComparator::shared())
    }

    fn f(number: u64, smallest: (&str, u64), largest: (&str, u64)) -> Arc<FileMetaData> {
        Arc::new(FileMetaData::new(
            number,
            100,
            make_internal_key(smallest.0.as_bytes(), smallest.1, ValueKind::Value),
            make_internal_key(largest.0.as_bytes(), largest.1, ValueKind::Value),
        ))
    }

    fn numbers(files: &[Arc<FileMetaData>]) -> Vec<u64> {
        files.iter().map(|f| f.number).collect()
    }

    #[test]
    fn ranges() {
        let files = [f(1, ("c", 5), ("e", 5)), f(2, ("a", 1), ("c", 9)), f(3, ("d", 2), ("e", 6))];
        let range = key_range(&icmp(), files.iter()).unwrap();
        assert_eq!(range.0, make_internal_key(b"a", 1, ValueKind::Value));
        // e@6 sorts before e@5.
        assert_eq!(range.1, make_internal_key(b"e", 5, ValueKind::Value));
        assert_eq!(user_keys(&range), (&b"a"[..], &b"e"[..]));
        assert!(key_range(&icmp(), [].iter()).is_none());
    }

    #[test]
    fn boundary_files_are_chained() {
        // k is split over files 2, 3 and 4; file 5 starts with another key.
        let level = vec![
            f(1, ("a", 9), ("b", 9)),
            f(2, ("c", 9), ("k", 9)),
            f(3, ("k", 8), ("k", 7)),
            f(4, ("k", 6), ("m", 1)),
            f(5, ("n", 9), ("p", 9)),
        ];
        let mut selected = vec![level[1].clone()];
        add_boundary_inputs(&icmp(), &level, &mut selected);
        assert_eq!(numbers(&selected), [2, 3, 4]);
        // Nothing continues "b".
        let mut selected = vec![level[0].clone()];
        add_boundary_inputs(&icmp(), &level, &mut selected);
        assert_eq!(numbers(&selected), [1]);
        // The smallest start wins when several could continue.
        let unordered = vec![level[3].clone(), level[2].clone(), level[1].clone()];
        let mut selected = vec![level[1].clone()];
        add_boundary_inputs(&icmp(), &unordered, &mut selected);
        assert_eq!(numbers(&selected), [2, 3, 4]);
        let mut empty = Vec::new();
        add_boundary_inputs(&icmp(), &level, &mut empty);
        assert!(empty.is_empty());
    }
}
